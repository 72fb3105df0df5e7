//! Single-event detections: each fires on one event on its own.
//!
//! [`RULES`] is the one source of truth: for every single-event detection of the
//! catalog, the per-event predicate that both [`matches`] and [`evaluate`] use,
//! and the builder of its finding.

mod access;
mod admin;
mod changes;
mod describe;
mod identity;
mod tenant;
mod threats;

#[cfg(test)]
mod tests;

use std::collections::hash_map::{Entry, HashMap};

use super::{catalog, Analysis, DetectConfig, DetectionMeta, Finding, Kind};
use crate::record::{ActivityRecord, Network, Role};

/// One single-event detection. `finding` is only called on records `fires`
/// accepted.
struct Rule {
    id: &'static str,
    fires: fn(&DetectConfig, &ActivityRecord) -> bool,
    finding: fn(&DetectionMeta, &ActivityRecord) -> Finding,
    /// One finding per principal and hour, the hour's further matches added to
    /// it as evidence: for low-signal events that repeat in bursts, whose risk
    /// would otherwise add up to an alert from one person's retries.
    once_per_hour: bool,
}

// `configured` rules read the detector configuration (an org-chosen list);
// `once_per_hour` ones fold an hour's repeats for a principal into one finding.
macro_rules! rule {
    ($module:ident :: $id:ident, $finding:ident) => {
        Rule {
            id: stringify!($id),
            fires: |_, r| $module::$id(r),
            finding: $module::$finding,
            once_per_hour: false,
        }
    };
    ($module:ident :: $id:ident, $finding:ident, configured) => {
        Rule {
            id: stringify!($id),
            fires: $module::$id,
            finding: $module::$finding,
            once_per_hour: false,
        }
    };
    ($module:ident :: $id:ident, $finding:ident, once_per_hour) => {
        Rule {
            id: stringify!($id),
            fires: |_, r| $module::$id(r),
            finding: $module::$finding,
            once_per_hour: true,
        }
    };
}

const RULES: &[Rule] = &[
    rule!(identity::admin_role_granted, admin_role_granted_finding),
    rule!(identity::api_token_created, api_token_created_finding),
    rule!(
        tenant::idp_created_or_modified,
        idp_created_or_modified_finding
    ),
    rule!(identity::mfa_factor_reset, mfa_factor_reset_finding),
    rule!(tenant::mfa_disabled_org_wide, mfa_disabled_org_wide_finding),
    rule!(
        access::fastpass_phishing_blocked,
        fastpass_phishing_blocked_finding
    ),
    rule!(access::threatinsight_threat, threatinsight_threat_finding),
    rule!(
        access::user_reported_suspicious_activity,
        user_reported_suspicious_activity_finding
    ),
    rule!(
        identity::support_impersonation,
        support_impersonation_finding
    ),
    rule!(access::proxy_sign_in, proxy_sign_in_finding),
    rule!(
        access::admin_console_new_device_and_ip,
        admin_console_new_device_and_ip_finding
    ),
    rule!(tenant::log_stream_tampering, log_stream_tampering_finding),
    rule!(
        tenant::security_policy_weakened,
        security_policy_weakened_finding
    ),
    rule!(access::password_in_username, password_in_username_finding),
    rule!(access::refresh_token_reuse, refresh_token_reuse_finding),
    rule!(
        identity::app_password_revealed,
        app_password_revealed_finding
    ),
    rule!(tenant::org2org_app_change, org2org_app_change_finding),
    rule!(
        tenant::scim_password_push_enabled,
        scim_password_push_enabled_finding
    ),
    rule!(identity::okta_support_reset, okta_support_reset_finding),
    rule!(
        identity::service_app_admin_scope_grant,
        service_app_admin_scope_grant_finding
    ),
    rule!(access::user_risk_high, user_risk_high_finding),
    rule!(access::account_locked, account_locked_finding),
    rule!(access::rate_limit_violation, rate_limit_violation_finding),
    rule!(threats::mfa_bypass_attempt, mfa_bypass_attempt_finding),
    rule!(threats::okta_itp_detection, okta_itp_detection_finding),
    rule!(
        threats::admin_activity_via_proxy,
        admin_activity_via_proxy_finding
    ),
    rule!(
        admin::oauth_client_secret_read,
        oauth_client_secret_read_finding
    ),
    rule!(admin::ad_agent_change, ad_agent_change_finding),
    rule!(
        admin::custom_admin_role_change,
        custom_admin_role_change_finding
    ),
    rule!(
        admin::protected_action_settings_changed,
        protected_action_settings_changed_finding
    ),
    rule!(
        access::sign_in_from_restricted_country,
        sign_in_from_restricted_country_finding,
        configured
    ),
    rule!(
        identity::admin_role_grant_refused,
        admin_role_grant_refused_finding
    ),
    rule!(
        access::proxy_sign_in_failed,
        proxy_sign_in_failed_finding,
        once_per_hour
    ),
];

fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// The catalog entry of a rule. Every rule id is a single-event detection of the
/// catalog; a test holds the two together.
fn meta(rule: &Rule) -> Option<&'static DetectionMeta> {
    catalog::find(rule.id).filter(|m| m.kind == Kind::Single)
}

/// Findings of every enabled single-event detection on the actor records of the
/// analysed hour, in record order.
pub fn evaluate(a: &Analysis<'_>) -> Vec<Finding> {
    let enabled: Vec<(&Rule, &DetectionMeta)> = RULES
        .iter()
        .filter(|r| a.config.enabled(r.id))
        .filter_map(|r| Some((r, meta(r)?)))
        .collect();
    let mut findings: Vec<Finding> = Vec::new();
    // (rule, principal) → the finding an hour's repeats are folded into.
    let mut first: HashMap<(&str, String), usize> = HashMap::new();
    // The hour index holds actor records only; a target or owner record repeats
    // its event, and would report it twice.
    for r in a.in_hour().filter(|r| r.role == Role::Actor) {
        for (rule, meta) in &enabled {
            if !(rule.fires)(a.config, r) {
                continue;
            }
            let f = (rule.finding)(meta, r);
            if !rule.once_per_hour {
                findings.push(f);
                continue;
            }
            match first.entry((rule.id, f.principal.identity.clone())) {
                Entry::Occupied(at) => fold(&mut findings[*at.get()], r),
                Entry::Vacant(slot) => {
                    slot.insert(findings.len());
                    findings.push(f.fact("events", 1));
                }
            }
        }
    }
    findings
}

/// Evidence uuids and endpoints kept per folded finding; `events` has the count.
const MAX_FOLDED_EVIDENCE: usize = 500;

/// Adds a later match of the hour to its principal's finding: records come in
/// time order, so the first match stays the anchor and the uid.
fn fold(f: &mut Finding, r: &ActivityRecord) {
    f.last_seen = f.last_seen.max(r.published);
    if f.evidence.len() < MAX_FOLDED_EVIDENCE {
        f.evidence.push(r.uuid.to_string());
    }
    if r.network.ip.is_some()
        && f.endpoints.len() < MAX_FOLDED_EVIDENCE
        && !f.endpoints.iter().any(|n| n.ip == r.network.ip)
    {
        f.endpoints.push(Network::clone(&r.network));
    }
    let events = f.facts.get("events").and_then(|v| v.as_u64()).unwrap_or(1);
    f.facts.insert("events".into(), (events + 1).into());
}

/// Whether a single-event detection fires on this record: false for a disabled
/// detection, a windowed one or an unknown id.
pub fn matches(config: &DetectConfig, detection: &str, r: &ActivityRecord) -> bool {
    config.enabled(detection) && rule(detection).is_some_and(|rule| (rule.fires)(config, r))
}

/// The finding a single-event detection makes of one record, when it fires
/// there: what [`evaluate`] reports for it, for a detection that does not fold
/// an hour's repeats (whose finding depends on the rest of the hour).
pub(crate) fn finding_of(
    config: &DetectConfig,
    detection: &str,
    r: &ActivityRecord,
) -> Option<Finding> {
    let rule = rule(detection).filter(|rule| !rule.once_per_hour)?;
    let meta = meta(rule)?;
    (config.enabled(detection) && r.role == Role::Actor && (rule.fires)(config, r))
        .then(|| (rule.finding)(meta, r))
}

/// Whether a detection is single-event and its finding is one record's alone.
pub(crate) fn per_event(detection: &str) -> bool {
    rule(detection).is_some_and(|rule| !rule.once_per_hour && meta(rule).is_some())
}
