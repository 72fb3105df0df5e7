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

use super::{catalog, Analysis, DetectConfig, DetectionMeta, Finding, Kind};
use crate::record::{ActivityRecord, Role};

/// One single-event detection. `finding` is only called on records `fires`
/// accepted.
struct Rule {
    id: &'static str,
    fires: fn(&ActivityRecord) -> bool,
    finding: fn(&DetectionMeta, &ActivityRecord) -> Finding,
}

macro_rules! rule {
    ($module:ident :: $id:ident, $finding:ident) => {
        Rule {
            id: stringify!($id),
            fires: $module::$id,
            finding: $module::$finding,
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
    let mut findings = Vec::new();
    // The hour index holds actor records only; a target or owner record repeats
    // its event, and would report it twice.
    for r in a.in_hour().filter(|r| r.role == Role::Actor) {
        for (rule, meta) in &enabled {
            if (rule.fires)(r) {
                findings.push((rule.finding)(meta, r));
            }
        }
    }
    findings
}

/// Whether a single-event detection fires on this record: false for a disabled
/// detection, a windowed one or an unknown id.
pub fn matches(config: &DetectConfig, detection: &str, r: &ActivityRecord) -> bool {
    config.enabled(detection) && rule(detection).is_some_and(|rule| (rule.fires)(r))
}
