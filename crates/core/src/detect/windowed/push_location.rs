//! An Okta Verify push approved from somewhere else than the sign-in that
//! requested it. In real-time phishing the attacker's proxy signs in and the
//! victim, at home, approves the push it triggers: the request and the
//! response come from different countries, or the request from an anonymising
//! network. A user's own phone on a mobile network in the same country as
//! their laptop is the everyday case and is left alone.
//!
//! Both events carry the sign-in's session id (Okta's `externalSessionId`):
//! the push sent (`system.push.send_factor_verify_push`) and the push verified
//! (`user.authentication.auth_via_mfa` with an Okta Verify push factor).

use std::collections::HashMap;

use super::super::{Analysis, FindingPrincipal};
use super::window::{self, Hit};
use super::PUSH_REQUEST_LOCATION_MISMATCH;
use crate::record::{ActivityRecord, Role};

fn is_push_sent(r: &ActivityRecord) -> bool {
    r.event.event_type == "system.push.send_factor_verify_push" && !r.event.outcome.is_failure()
}

fn is_push_approved(r: &ActivityRecord) -> bool {
    r.event.event_type == "user.authentication.auth_via_mfa"
        && r.event.outcome.is_success()
        && r.details.factor.as_deref().is_some_and(|f| {
            let f = f.to_ascii_uppercase();
            f.contains("PUSH") || f == "OKTA_VERIFY"
        })
}

pub(super) fn counts(r: &ActivityRecord) -> bool {
    r.client.session_id.is_some() && (is_push_sent(r) || is_push_approved(r))
}

/// Why the approval does not look like the requester's own device, if it does not.
fn mismatch(sent: &ActivityRecord, approved: &ActivityRecord) -> Option<String> {
    let (s, p) = (&sent.network, &approved.network);
    if let (Some(a), Some(b)) = (s.country.as_deref(), p.country.as_deref()) {
        if !a.eq_ignore_ascii_case(b) {
            return Some(format!("requested from {a}, approved from {b}"));
        }
    }
    (s.proxy && !p.proxy).then(|| "requested through an anonymising proxy".to_owned())
}

pub(super) fn evaluate(a: &Analysis<'_>, hits: &mut Vec<Hit>) {
    if !a.config.enabled(PUSH_REQUEST_LOCATION_MISMATCH) {
        return;
    }
    let width =
        window::minutes_threshold(a.config, PUSH_REQUEST_LOCATION_MISMATCH, "window_minutes");
    // The latest push sent in each session, as the records go by in time order.
    let mut last_sent: HashMap<&str, &ActivityRecord> = HashMap::new();
    for r in a
        .records
        .iter()
        .filter(|r| r.role == Role::Actor && counts(r))
    {
        let Some(session) = r.client.session_id.as_deref() else {
            continue;
        };
        if is_push_sent(r) {
            last_sent.insert(session, r);
            continue;
        }
        if !a.in_hour_time(r.published) {
            continue;
        }
        let Some(sent) = last_sent.get(session).copied() else {
            continue;
        };
        if r.published - sent.published > width {
            continue;
        }
        let Some(why) = mismatch(sent, r) else {
            continue;
        };
        let principal = FindingPrincipal::of_record(r);
        let summary = format!(
            "An Okta Verify push for {} was approved from {} while the sign-in that requested it came from {}: {why}",
            principal.label(),
            window::place(r),
            window::place(sent)
        );
        let f = window::finding(
            PUSH_REQUEST_LOCATION_MISMATCH,
            principal,
            r.published,
            summary,
            [sent, r],
        )
        .fact("requested_from", window::place(sent))
        .fact("approved_from", window::place(r))
        .fact("reason", why);
        hits.push(Hit {
            trigger: r.published,
            finding: f,
        });
    }
}
