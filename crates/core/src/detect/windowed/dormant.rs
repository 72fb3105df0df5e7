//! A sign-in by an identity that had been dormant: no successful activity for
//! `days` (30 by default). Judged on the baseline's last-seen time, which the
//! state store keeps long after the baseline's values expire (see
//! [`crate::detect::baseline::LAST_SEEN_KEPT_DAYS`]). An identity the detector
//! has never seen has no baseline and is not judged: a new deployment knows
//! no one's history.

use std::collections::HashSet;

use super::super::{Analysis, FindingPrincipal};
use super::window::{self, Hit};
use super::DORMANT_ACCOUNT_SIGN_IN;
use crate::record::{ActivityRecord, IdentityKind, Role};
use crate::time::DAY;

/// A successful interactive sign-in: to Okta, or through an inbound identity provider.
pub(super) fn counts(r: &ActivityRecord) -> bool {
    r.identity_kind == IdentityKind::User
        && r.event.outcome.is_success()
        && (r.event.event_type == "user.session.start"
            || r.event
                .event_type
                .eq_ignore_ascii_case("user.authentication.auth_via_IDP"))
}

pub(super) fn evaluate(a: &Analysis<'_>, hits: &mut Vec<Hit>) {
    if !a.config.enabled(DORMANT_ACCOUNT_SIGN_IN) {
        return;
    }
    let days = a.config.threshold(DORMANT_ACCOUNT_SIGN_IN, "days");
    let quiet = (days * DAY as f64).round() as i64;
    let mut reported: HashSet<&str> = HashSet::new();
    for r in a.in_hour() {
        if r.role != Role::Actor || !counts(r) || reported.contains(r.identity.as_str()) {
            continue;
        }
        let Some(b) = a.baselines.get(r.identity.as_str()) else {
            continue;
        };
        if r.published - b.last_seen < quiet {
            continue;
        }
        reported.insert(&r.identity);
        let dormant_days = (r.published - b.last_seen) / DAY;
        let principal = FindingPrincipal::of_record(r);
        let summary = format!(
            "{} signed in from {} after {dormant_days} days without any successful activity (last seen {})",
            principal.label(),
            window::place(r),
            crate::time::format_rfc3339_ms(b.last_seen).get(..10).unwrap_or_default()
        );
        let f = window::finding(
            DORMANT_ACCOUNT_SIGN_IN,
            principal,
            r.published,
            summary,
            [r],
        )
        .fact("dormant_days", dormant_days)
        .fact("last_seen", crate::time::format_rfc3339_ms(b.last_seen));
        hits.push(Hit {
            trigger: r.published,
            finding: f,
        });
    }
}
