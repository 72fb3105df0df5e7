//! Windowed and stateful detections: patterns over time windows, against an
//! identity's baseline, or across an identity's timeline.
//!
//! Every detection reports a finding only when the event that completes its
//! pattern (its trigger) lies in the analysed hour; the records before the hour
//! are context. A burst that straddles two hours is therefore reported by the
//! hour in which it completes, once. The one exception is an MFA reset followed
//! by admin access, hours apart: the hour of either event reports the pair
//! once it has seen both (see [`reset`]).
//!
//! A finding's anchor, and so its uid, is chosen to be the same whichever hour
//! reports it and however often an hour is analysed: for a burst, the first
//! event of its first complete window, carried along while consecutive windows
//! overlap, so a burst that goes on into the next hour keeps its uid; for push
//! bombing that ends in an approval, the approval (the escalation is news even
//! when an earlier hour reported the denials); for a success after a
//! credential attack, the attack's anchor;
//! for impossible travel, the previous sign-in; for an MFA reset then admin
//! access, the reset; for a new country or network, the event itself. An hour
//! reports at most one finding per detection and principal: the one whose
//! pattern completed first.
//!
//! [`counts`] is the per-event filter of each detection; [`evaluate`] selects
//! events with the same predicates.

mod apps;
mod baseline_new;
mod credential;
mod dormant;
mod enrolment;
mod index;
mod lockout;
mod mass;
mod mfa;
mod push_location;
mod reset;
mod session;
mod travel;
mod window;

#[cfg(test)]
mod tests;

use super::{Analysis, DetectConfig, Finding, HistoryRequest};
use crate::record::{ActivityRecord, Role};
use crate::time::{Hour, Millis};

use index::Index;
use window::Hit;

const BRUTE_FORCE_USER: &str = "brute_force_user";
const BRUTE_FORCE_IP: &str = "brute_force_ip";
const PASSWORD_SPRAY: &str = "password_spray";
const CREDENTIAL_ATTACK_THEN_SUCCESS: &str = "credential_attack_then_success";
const MFA_PUSH_BOMBING: &str = "mfa_push_bombing";
const SESSION_HIJACK: &str = "session_hijack";
const IMPOSSIBLE_TRAVEL: &str = "impossible_travel";
const NEW_COUNTRY: &str = "new_country";
const MASS_LOCKOUT: &str = "mass_lockout";
const MFA_RESET_THEN_ADMIN_ACCESS: &str = "mfa_reset_then_admin_access";
const RAPID_APP_ACCESS: &str = "rapid_app_access";
const UNAUTHORIZED_APP_ACCESS_BURST: &str = "unauthorized_app_access_burst";
const API_TOKEN_NEW_NETWORK: &str = "api_token_new_network";
const PUSH_REQUEST_LOCATION_MISMATCH: &str = "push_request_location_mismatch";
const SHARED_DEVICE_TOKEN: &str = "shared_device_token";
const NEW_USER_GRANTED_ADMIN: &str = "new_user_granted_admin";
const MASS_ACCOUNT_DEACTIVATION: &str = "mass_account_deactivation";
const MASS_CREDENTIAL_RESET: &str = "mass_credential_reset";
const VERIFICATION_MESSAGE_FLOOD: &str = "verification_message_flood";
const FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK: &str = "factor_enrolled_after_reset_new_network";
const DORMANT_ACCOUNT_SIGN_IN: &str = "dormant_account_sign_in";

/// Runs every enabled windowed detection over the hour.
pub fn evaluate(a: &Analysis<'_>) -> Vec<Finding> {
    let ix = Index::build(a);
    let mut hits: Vec<Hit> = Vec::new();
    credential::evaluate(a, &ix, &mut hits);
    mfa::evaluate(a, &ix, &mut hits);
    session::evaluate(a, &ix, &mut hits);
    travel::evaluate(a, &ix, &mut hits);
    baseline_new::evaluate(a, &ix, &mut hits);
    lockout::evaluate(a, &ix, &mut hits);
    reset::evaluate(a, &ix, &mut hits);
    apps::evaluate(a, &ix, &mut hits);
    // The detections below select their own events: each is rare, and a
    // single pass of its own over the hour costs less than a wider index.
    push_location::evaluate(a, &mut hits);
    mass::evaluate(a, &mut hits);
    enrolment::evaluate(a, &mut hits);
    dormant::evaluate(a, &mut hits);
    one_per_principal(hits)
}

/// Whether an event counts toward a windowed detection: the per-event
/// predicates [`evaluate`] selects events with (see [`index::classify`]). False
/// for a disabled detection, an unknown one or a single-event one.
pub fn counts(config: &DetectConfig, detection: &str, r: &ActivityRecord) -> bool {
    if !config.enabled(detection) {
        return false;
    }
    use index::*;
    let flags = classify(r);
    let any = |wanted: u16| flags & wanted != 0;
    match detection {
        BRUTE_FORCE_USER => any(FAILED_SIGN_IN),
        BRUTE_FORCE_IP => any(FAILED_SIGN_IN) && r.network.ip.is_some(),
        PASSWORD_SPRAY => {
            any(FAILED_SIGN_IN) && (r.network.ip.is_some() || r.client.dt_hash.is_some())
        }
        CREDENTIAL_ATTACK_THEN_SUCCESS => any(FAILED_SIGN_IN | SIGN_IN),
        MFA_PUSH_BOMBING => any(PUSH_DENIAL | MFA_APPROVAL),
        SESSION_HIJACK => any(SESSION_USE),
        IMPOSSIBLE_TRAVEL => any(LOCATED_SIGN_IN),
        NEW_COUNTRY => any(COUNTRY_SIGN_IN),
        MASS_LOCKOUT => any(LOCKOUT),
        MFA_RESET_THEN_ADMIN_ACCESS => any(FACTOR_RESET | ADMIN_ACCESS),
        RAPID_APP_ACCESS => any(APP_SSO),
        UNAUTHORIZED_APP_ACCESS_BURST => any(UNAUTHORIZED_APP),
        API_TOKEN_NEW_NETWORK => any(TOKEN_USE),
        PUSH_REQUEST_LOCATION_MISMATCH => push_location::counts(r),
        SHARED_DEVICE_TOKEN => mass::counts_for_device(r),
        NEW_USER_GRANTED_ADMIN => enrolment::counts_for_new_admin(r),
        MASS_ACCOUNT_DEACTIVATION => mass::counts_for_deactivation(r),
        MASS_CREDENTIAL_RESET => mass::counts_for_credential_reset(r),
        VERIFICATION_MESSAGE_FLOOD => mass::counts_for_messages(r),
        FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK => enrolment::counts_for_enrolment(r),
        DORMANT_ACCOUNT_SIGN_IN => dormant::counts(r),
        _ => false,
    }
}

/// Identity timelines needed beyond the hour's context: for an MFA reset
/// followed by admin access, the twelve hours before each admin access in the
/// hour and the twelve hours after each reset in it.
pub fn history_requests(
    config: &DetectConfig,
    hour: Hour,
    records: &[ActivityRecord],
) -> Vec<HistoryRequest> {
    let in_hour: Vec<&ActivityRecord> = records
        .iter()
        .filter(|r| {
            r.role == Role::Actor && r.published >= hour.start() && r.published < hour.end()
        })
        .collect();
    let mut spans = Spans::default();
    if config.enabled(MFA_RESET_THEN_ADMIN_ACCESS) {
        reset::want_history(config, &in_hour, &mut spans);
    }
    enrolment::want_history(config, &in_hour, &mut spans);
    spans
        .0
        .into_iter()
        .map(|(identity, (from, to))| HistoryRequest {
            identity: identity.to_owned(),
            from,
            to,
        })
        .collect()
}

/// One timeline per identity: the span covering every request for it.
#[derive(Default)]
struct Spans<'a>(std::collections::BTreeMap<&'a str, (Millis, Millis)>);

impl<'a> Spans<'a> {
    fn want(&mut self, identity: &'a str, from: Millis, to: Millis) {
        let span = self.0.entry(identity).or_insert((from, to));
        *span = (span.0.min(from), span.1.max(to));
    }
}

/// `user.session.start`: Okta's sign-in event, success or failure.
fn is_sign_in(r: &ActivityRecord) -> bool {
    r.event.event_type == "user.session.start"
}

fn failed_sign_in(r: &ActivityRecord) -> bool {
    is_sign_in(r) && r.event.outcome.is_failure()
}

fn successful_sign_in(r: &ActivityRecord) -> bool {
    is_sign_in(r) && r.event.outcome.is_success()
}

/// Keeps, per detection and principal, the finding whose pattern completed
/// first in the hour.
fn one_per_principal(mut hits: Vec<Hit>) -> Vec<Finding> {
    hits.sort_by(|x, y| {
        (
            &x.finding.detection,
            &x.finding.principal.identity,
            x.trigger,
            x.finding.anchor,
        )
            .cmp(&(
                &y.finding.detection,
                &y.finding.principal.identity,
                y.trigger,
                y.finding.anchor,
            ))
    });
    hits.dedup_by(|later, first| {
        later.finding.detection == first.finding.detection
            && later.finding.principal.identity == first.finding.principal.identity
    });
    let mut findings: Vec<Finding> = hits.into_iter().map(|h| h.finding).collect();
    super::sort_findings(&mut findings);
    findings
}
