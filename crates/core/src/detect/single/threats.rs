//! Okta's own threat signals beyond ThreatInsight, and administration done
//! through anonymising networks: an MFA bypass attempt, Identity Threat
//! Protection detections, admin work behind Tor or a proxy.

use super::access::{risk_is_high, targets_admin_console};
use super::describe::{actor_label, is_one_of, known, person, took_effect, type_starts_with};
use crate::detect::{DetectionMeta, Finding, FindingPrincipal};
use crate::record::{ActivityRecord, Category, IdentityKind};

// --- mfa_bypass_attempt ---------------------------------------------------------

pub(super) fn mfa_bypass_attempt(r: &ActivityRecord) -> bool {
    is_one_of(r, &["user.mfa.attempt_bypass"])
}

pub(super) fn mfa_bypass_attempt_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let principal = person(r);
    let summary = format!(
        "Okta logged an attempt to bypass MFA for {}{} (outcome {})",
        principal.label(),
        super::describe::origin(r),
        r.event.outcome.as_str()
    );
    Finding::from_record(meta, principal, r, summary).fact("outcome", r.event.outcome.as_str())
}

// --- okta_itp_detection ---------------------------------------------------------

/// Identity Threat Protection and session protection event types. A HIGH user
/// risk is `user_risk_high`'s, so it is not reported twice; a risk change is
/// reported when it rises to MEDIUM, not when it falls back to LOW.
const ITP_EVENTS: &[&str] = &[
    "user.risk.detect",
    "user.risk.change",
    "security.session.detect_client_roaming",
    "policy.auth_reevaluate.fail",
    "policy.entity_risk.action",
];

fn risk_level_is(level: Option<&str>, wanted: &str) -> bool {
    level
        .and_then(|l| l.split([',', ' ', '}']).find(|s| !s.is_empty()))
        .is_some_and(|l| l.eq_ignore_ascii_case(wanted))
}

pub(super) fn okta_itp_detection(r: &ActivityRecord) -> bool {
    let level = r.risk.risk_level.as_deref();
    is_one_of(r, ITP_EVENTS)
        && !(is_one_of(r, &["user.risk.detect", "user.risk.change"]) && risk_is_high(level))
        && (!is_one_of(r, &["user.risk.change"]) || risk_level_is(level, "MEDIUM"))
}

/// What Okta called the detection: its `detectionName`, else what the event type says.
fn detection_name(r: &ActivityRecord) -> &str {
    if let Some(name) = known(r.risk.risk_detection.as_deref()) {
        return name;
    }
    match r.event.event_type.to_ascii_lowercase().as_str() {
        "security.session.detect_client_roaming" => "Session roaming",
        "policy.auth_reevaluate.fail" => "Continuous access evaluation failed",
        "user.risk.detect" => "User risk detected",
        "user.risk.change" => "User risk changed",
        _ => "Entity risk policy",
    }
}

pub(super) fn okta_itp_detection_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let principal = person(r);
    let name = detection_name(r);
    let level = known(r.risk.risk_level.as_deref())
        .and_then(|l| l.split([',', ' ', '}']).find(|s| !s.is_empty()));
    let at_level = level.map(|l| format!(", risk {l}")).unwrap_or_default();
    let summary = format!(
        "Okta Identity Threat Protection: {name} for {}{at_level}{}",
        principal.label(),
        super::describe::origin(r)
    );
    let mut f = Finding::from_record(meta, principal, r, summary)
        .fact("okta_detection", name)
        .fact("event_type", r.event.event_type.as_str());
    if let Some(level) = level {
        f = f.fact("risk_level", level);
    }
    if let Some(reasons) = known(r.risk.risk_reasons.as_deref()) {
        f = f.fact("risk_reasons", reasons);
    }
    f
}

// --- admin_activity_via_proxy ---------------------------------------------------

/// Event type prefixes of administrative changes outside the `Admin` category.
const ADMIN_CHANGE_PREFIXES: &[&str] = &[
    "policy.lifecycle.",
    "policy.rule.",
    "zone.",
    "system.mfa.",
    "system.agent.",
    "application.lifecycle.",
    "app.oauth2.client.",
];

fn admin_reach(r: &ActivityRecord) -> Option<&'static str> {
    if is_one_of(r, &["user.session.access_admin_app"])
        || (is_one_of(r, &["policy.evaluate_sign_on", "user.authentication.sso"])
            && targets_admin_console(r))
    {
        return Some("reached the Okta Admin Console");
    }
    let change = r.category == Category::Admin
        || ADMIN_CHANGE_PREFIXES.iter().any(|p| type_starts_with(r, p));
    change.then_some("made an administrative change")
}

pub(super) fn admin_activity_via_proxy(r: &ActivityRecord) -> bool {
    r.network.proxy
        && r.event.outcome.is_success()
        && took_effect(r)
        && r.identity_kind != IdentityKind::System
        && r.identity_kind != IdentityKind::UnknownUser
        && admin_reach(r).is_some()
}

pub(super) fn admin_activity_via_proxy_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let what = admin_reach(r).unwrap_or("made an administrative change");
    let network = known(r.network.as_org.as_deref())
        .map(|o| format!(", network {o}"))
        .unwrap_or_default();
    let summary = format!(
        "{} {what} ({}) through an anonymising proxy{}{network}",
        actor_label(r),
        r.event.event_type,
        super::describe::origin(r)
    );
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("event_type", r.event.event_type.as_str())
        .fact("proxy", true)
}
