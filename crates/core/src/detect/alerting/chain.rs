//! The severity an incident's chain of findings implies, whatever the
//! severity of its mildest step.
//!
//! An account-takeover signal followed by a privileged action is a takeover of
//! an account with power: an API token created an hour after someone reset the
//! creator's factors and they enrolled a new one from a stranger's network is
//! critical, though `api_token_created` alone is medium. Attack: spread the
//! takeover over an afternoon so each hour holds one mild step; the ledger
//! brings the steps together and this module names the chain.

use crate::detect::Severity;

/// Findings that say someone other than the owner may hold the account.
const TAKEOVER: &[&str] = &[
    "mfa_factor_reset",
    "factor_enrolled_after_reset_new_network",
    "credential_attack_then_success",
    "session_hijack",
    "mfa_push_bombing",
    "push_request_location_mismatch",
    "impossible_travel",
    "new_country",
    "proxy_sign_in",
    "refresh_token_reuse",
    "user_reported_suspicious_activity",
    "okta_support_reset",
    "user_risk_high",
    "brute_force_user",
    "dormant_account_sign_in",
];

/// Findings of an action that uses or widens administrative power.
const PRIVILEGED: &[&str] = &[
    "admin_role_granted",
    "api_token_created",
    "admin_console_new_device_and_ip",
    "mfa_reset_then_admin_access",
    "security_policy_weakened",
    "idp_created_or_modified",
    "log_stream_tampering",
    "mfa_disabled_org_wide",
    "org2org_app_change",
    "custom_admin_role_change",
    "service_app_admin_scope_grant",
    "admin_activity_via_proxy",
    "support_impersonation",
    "ad_agent_change",
    "protected_action_settings_changed",
    "oauth_client_secret_read",
    "app_password_revealed",
    "scim_password_push_enabled",
    "new_user_granted_admin",
];

/// The severity the chain implies, and why, for the detections of one incident
/// (its findings of the hour that nothing explained, and its ledger entries).
pub fn implied<'a>(detections: impl IntoIterator<Item = &'a str>) -> Option<(Severity, String)> {
    let ids: Vec<&str> = detections.into_iter().collect();
    let takeover = ids.iter().find(|d| TAKEOVER.contains(d));
    let privileged = ids.iter().find(|d| PRIVILEGED.contains(d));
    if let (Some(t), Some(p)) = (takeover, privileged) {
        return Some((
            Severity::Critical,
            format!(
                "an account-takeover signal ({t}) and a privileged action ({p}) in one incident"
            ),
        ));
    }
    let reset = ids.contains(&"mfa_factor_reset");
    let enrolled = ids.contains(&"factor_enrolled_after_reset_new_network");
    if reset && enrolled {
        return Some((
            Severity::High,
            "a factor reset followed by an enrolment from a network the user never used".into(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_takeover_signal_then_a_privileged_action_is_critical() {
        let (sev, why) = implied(["mfa_factor_reset", "api_token_created"]).unwrap();
        assert_eq!(sev, Severity::Critical);
        assert!(why.contains("api_token_created"), "{why}");
        assert_eq!(
            implied([
                "mfa_factor_reset",
                "factor_enrolled_after_reset_new_network"
            ])
            .unwrap()
            .0,
            Severity::High
        );
    }

    #[test]
    fn a_privileged_action_alone_or_a_signal_alone_implies_nothing() {
        assert_eq!(implied(["api_token_created", "admin_role_granted"]), None);
        assert_eq!(implied(["new_country", "mfa_factor_reset"]), None);
        assert_eq!(implied([]), None);
    }
}
