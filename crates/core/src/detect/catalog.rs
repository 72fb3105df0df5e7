//! The detection catalog: identity, wording, severity, MITRE ATT&CK mapping and
//! default thresholds of every detection. Behaviour lives in [`super::single`]
//! and [`super::windowed`]; this table is what operators read and configure.

use super::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Fires on one event.
    Single,
    /// Fires on a pattern over a time window or against a baseline.
    Windowed,
}

#[derive(Debug, Clone, Copy)]
pub struct DetectionMeta {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub severity: Severity,
    pub mitre: &'static [&'static str],
    pub kind: Kind,
    /// Named thresholds and their defaults (counts, minutes, km/h…).
    pub thresholds: &'static [(&'static str, f64)],
    /// Whether a finding pages on its own or adds risk to its principal.
    pub risk: Risk,
}

/// How a detection's finding reaches a person (see [`super::alerting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// A high-confidence signal: published as an alert on its own, unless the
    /// learned context explains it (then it contributes [`DEMOTED_WEIGHT`]).
    Alerts,
    /// A low-signal finding: kept, and adds this weight to its principal's risk;
    /// an alert is published when the weights of one incident reach the threshold.
    Contributes(u32),
}

/// What a detection that normally alerts contributes when context explains it.
pub const DEMOTED_WEIGHT: u32 = 40;

use Kind::*;
use Severity::*;

// An entry alerts on its own unless it ends with `risk N`: then its findings
// contribute weight N to their principal's risk instead.
macro_rules! d {
    ($id:literal, $kind:expr, $sev:expr, $title:literal, $desc:literal, [$($m:literal),*], [$(($k:literal, $v:expr)),*]) => {
        DetectionMeta { id: $id, title: $title, description: $desc, severity: $sev, mitre: &[$($m),*], kind: $kind, thresholds: &[$(($k, $v as f64)),*], risk: Risk::Alerts }
    };
    ($id:literal, $kind:expr, $sev:expr, $title:literal, $desc:literal, [$($m:literal),*], [$(($k:literal, $v:expr)),*], risk $w:literal) => {
        DetectionMeta { id: $id, title: $title, description: $desc, severity: $sev, mitre: &[$($m),*], kind: $kind, thresholds: &[$(($k, $v as f64)),*], risk: Risk::Contributes($w) }
    };
}

pub const CATALOG: &[DetectionMeta] = &[
    d!("admin_role_granted", Single, High, "Admin role granted", "An administrator role was granted to a user or group. Critical when the role is Super administrator.", ["T1098.003"], []),
    d!("api_token_created", Single, Medium, "API token created", "A new Okta API token was created; tokens carry their creator's admin rights and bypass MFA.", ["T1098.001", "T1528"], []),
    d!("idp_created_or_modified", Single, High, "Identity provider created or modified", "An inbound identity provider was created, updated or activated: the set-up for cross-tenant impersonation.", ["T1484.002"], []),
    d!("mfa_factor_reset", Single, Medium, "MFA factor reset", "A user's MFA factors were reset, deactivated or suspended.", ["T1556.006"], [], risk 30),
    d!("mfa_disabled_org_wide", Single, High, "MFA factor disabled org-wide", "An MFA factor type was deactivated for the whole organisation.", ["T1556.006"], []),
    d!("fastpass_phishing_blocked", Single, High, "FastPass blocked a phishing attempt", "Okta FastPass declined to authenticate to a phishing site: the user was lured to an adversary-in-the-middle page.", ["T1566", "T1557"], []),
    d!("threatinsight_threat", Single, Medium, "ThreatInsight detected a threat", "Okta ThreatInsight flagged requests from a known malicious source.", ["T1110"], []),
    d!("user_reported_suspicious_activity", Single, High, "User reported suspicious activity", "A user reported an account activity notification as not theirs.", ["T1078.004"], []),
    d!("support_impersonation", Single, High, "Okta support impersonation", "Okta support was granted, or used, access to impersonate users in the org.", ["T1078.004", "T1199"], []),
    d!("proxy_sign_in", Single, High, "Sign-in through an anonymising proxy", "A successful sign-in came through Tor or an anonymising proxy.", ["T1090.003", "T1078.004"], []),
    d!("admin_console_new_device_and_ip", Single, High, "Admin Console from a new device and IP", "Okta judged both the device and the IP new for a user reaching the Admin Console.", ["T1078.004"], []),
    d!("log_stream_tampering", Single, Critical, "Log stream modified or disabled", "An Okta log stream was deactivated, deleted or changed: the feed this system depends on.", ["T1562.008"], []),
    d!("security_policy_weakened", Single, Medium, "Security policy weakened", "A sign-on, MFA or app policy, a policy rule or a network zone was changed, deactivated or deleted. High when MFA was removed.", ["T1556", "T1562.001"], []),
    d!("password_in_username", Single, Medium, "Password typed as a username", "A failed sign-in used a username that looks like a password: the user's password is probably in the logs of every system that stores raw Okta events.", ["T1552"], []),
    d!("refresh_token_reuse", Single, High, "OAuth refresh token reused", "A rotated refresh token was presented again: the token was probably stolen.", ["T1550.001", "T1528"], []),
    d!("app_password_revealed", Single, Medium, "Another user's app password revealed", "Someone viewed the stored application password of another user.", ["T1555"], []),
    d!("org2org_app_change", Single, High, "Org2Org application created or modified", "An Org2Org app was created or changed: it can sign users into another Okta tenant.", ["T1484.002", "T1199"], []),
    d!("scim_password_push_enabled", Single, Medium, "App set to push user passwords", "An application was set to push Okta passwords to a downstream system.", ["T1556"], []),
    d!("okta_support_reset", Single, High, "Credential reset by Okta support", "A password or factor of a user was reset by Okta support (system@okta.com).", ["T1098", "T1199"], []),
    d!("service_app_admin_scope_grant", Single, High, "Service app granted admin scopes", "An OAuth client_credentials token was issued with okta.*.manage scopes: a non-human identity with admin reach.", ["T1098.001", "T1550.001"], []),
    d!("user_risk_high", Single, High, "Okta rated a user HIGH risk", "Okta Identity Threat Protection raised a user's risk to HIGH.", ["T1078.004"], []),
    d!("account_locked", Single, Low, "Account locked", "A user account was locked out after failed sign-ins.", ["T1110"], [], risk 20),
    d!("rate_limit_violation", Single, Low, "Rate limit violation", "An org, operation or client exceeded an Okta rate limit.", ["T1499"], []),
    d!("brute_force_user", Windowed, Medium, "Brute force against a user", "Many failed sign-ins for one user.", ["T1110.001"], [("failures", 10), ("window_minutes", 60)]),
    d!("brute_force_ip", Windowed, Medium, "Brute force from an IP", "Many failed sign-ins from one IP address.", ["T1110"], [("failures", 20), ("window_minutes", 60)]),
    d!("password_spray", Windowed, High, "Password spray", "One IP or device failing sign-ins for many usernames, a few tries each.", ["T1110.003"], [("distinct_users", 5), ("max_tries_per_user", 3), ("window_minutes", 60)]),
    d!("credential_attack_then_success", Windowed, Critical, "Successful sign-in after a credential attack", "A user, or an IP, that was the subject of brute force or spray signed in successfully.", ["T1110", "T1078.004"], [("lookback_minutes", 180)]),
    d!("mfa_push_bombing", Windowed, High, "MFA push bombing", "Many push denials for one user in a short time. Critical when a push is then approved.", ["T1621"], [("denials", 5), ("window_minutes", 10), ("approval_minutes", 60)]),
    d!("session_hijack", Windowed, High, "Session used from two networks and clients", "One Okta session or device token used from IPs in different networks with a different OS or browser.", ["T1539", "T1550.004"], [("window_minutes", 60)]),
    d!("impossible_travel", Windowed, High, "Impossible travel", "Consecutive successful sign-ins of a user imply travel faster than an airliner.", ["T1078.004"], [("speed_kmh", 900), ("min_distance_km", 500)]),
    d!("new_country", Windowed, Medium, "Sign-in from a new country", "A successful sign-in from a country absent from the identity's history.", ["T1078.004"], [], risk 50),
    d!("mass_lockout", Windowed, High, "Mass account lockout", "Many distinct users locked out in a short time across the org.", ["T1110", "T1531"], [("distinct_users", 5), ("window_minutes", 15)]),
    d!("mfa_reset_then_admin_access", Windowed, Critical, "MFA reset then admin access", "A user's factors were reset and the user then reached the Admin Console or gained an admin role: the help-desk social-engineering pattern.", ["T1556.006", "T1098.003"], [("window_hours", 12)]),
    d!("rapid_app_access", Windowed, Medium, "Rapid access to many apps", "One user signed in to many distinct apps through SSO in minutes.", ["T1078.004", "T1530"], [("distinct_apps", 10), ("window_minutes", 5)]),
    d!("unauthorized_app_access_burst", Windowed, Medium, "Repeated unauthorised app access attempts", "One user repeatedly tried to open apps not assigned to them.", ["T1078"], [("attempts", 5), ("window_minutes", 60)]),
    d!("api_token_new_network", Windowed, High, "API token used from a new network", "An API token was used from an autonomous system never seen for that token.", ["T1528", "T1550.001"], []),
    d!("mfa_bypass_attempt", Single, High, "MFA bypass attempt", "Okta logged an attempt to bypass multi-factor authentication (user.mfa.attempt_bypass).", ["T1111", "T1556.006"], []),
    d!("okta_itp_detection", Single, Medium, "Okta Identity Threat Protection detection", "Okta's Identity Threat Protection or session protection raised a signal (user risk detected below HIGH or raised to MEDIUM, session roaming, a failed re-evaluation of a session, an entity risk policy action); the finding names Okta's detection.", ["T1078.004", "T1539"], []),
    d!("admin_activity_via_proxy", Single, High, "Admin activity through an anonymising proxy", "The Admin Console was reached, or an administrative change made, through Tor or an anonymising proxy.", ["T1090.003", "T1078.004"], []),
    d!("oauth_client_secret_read", Single, Medium, "OAuth client secret read", "The secret of an OAuth client application was read: whoever holds it can act as the application.", ["T1552", "T1528"], []),
    d!("ad_agent_change", Single, High, "Active Directory agent added or changed", "An Active Directory agent was created, reactivated or its configuration changed: the first step of a skeleton-key style authentication bypass.", ["T1556", "T1484"], []),
    d!("custom_admin_role_change", Single, High, "Custom admin role or resource set changed", "A custom admin role or resource set was created or extended, or a role bound to a principal through one.", ["T1098.003"], []),
    d!("protected_action_settings_changed", Single, High, "Protected-action settings changed", "The protected-actions (step-up authentication for sensitive admin actions) settings were changed.", ["T1556", "T1562.001"], []),
    d!("push_request_location_mismatch", Windowed, High, "Push approved from elsewhere than its sign-in", "An Okta Verify push was approved while the sign-in that requested it came from another country, or through an anonymising proxy the approving device did not use: the real-time phishing tell.", ["T1557", "T1111"], [("window_minutes", 5)]),
    d!("shared_device_token", Windowed, High, "One device token used by many users", "One Okta device token (dtHash) signed in many distinct users within a short window: attack infrastructure or an adversary-in-the-middle proxy.", ["T1557", "T1078.004"], [("distinct_users", 5), ("window_minutes", 60)]),
    d!("new_user_granted_admin", Windowed, High, "New account granted an admin role", "An account was created or activated and granted an administrator role within a few hours.", ["T1136.003", "T1098.003"], [("window_hours", 6)]),
    d!("mass_account_deactivation", Windowed, High, "Mass account deactivation", "One actor deactivated, suspended or deleted many users in a short window.", ["T1531"], [("distinct_users", 10), ("window_minutes", 30)]),
    d!("mass_credential_reset", Windowed, High, "Mass credential reset", "One actor reset the passwords or MFA factors of many other users in a short window.", ["T1098", "T1531"], [("distinct_users", 5), ("window_minutes", 30)]),
    d!("verification_message_flood", Windowed, Medium, "Verification message flood", "Many password-reset, unlock or verification emails, SMS or calls for one user in a short window.", ["T1621", "T1499"], [("messages", 5), ("window_minutes", 15)]),
    d!("factor_enrolled_after_reset_new_network", Windowed, High, "Factor enrolled after a reset, from a new network", "A user enrolled a new MFA factor shortly after someone else reset their factors, from a network absent from the user's baseline: the help-desk social-engineering pattern.", ["T1556.006", "T1098.005"], [("window_hours", 12)], risk 50),
    d!("dormant_account_sign_in", Windowed, Medium, "Dormant account sign-in", "A successful sign-in by an identity with no successful activity for a long time.", ["T1078.004"], [("days", 30)]),
    d!("sign_in_from_restricted_country", Single, High, "Sign-in from a restricted country", "A user signed in successfully, to Okta or through an inbound identity provider, from a country on the org's restricted_countries list. The list is empty by default: the detection is off until the org names its countries.", ["T1078.004"], []),
    d!("admin_role_grant_refused", Single, Medium, "Admin role grant refused", "Okta refused to grant an administrator role to a user or group (outcome FAILURE or DENY): someone tried to hand out more power than they hold. High when the role was Super administrator.", ["T1098.003"], []),
    d!("proxy_sign_in_failed", Single, Low, "Failed sign-in through an anonymising proxy", "A sign-in attempt through Tor or an anonymising proxy failed; an hour's attempts for one principal make one finding.", ["T1090.003", "T1110"], [], risk 20),
];

pub fn find(id: &str) -> Option<&'static DetectionMeta> {
    CATALOG.iter().find(|d| d.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_described() {
        let mut ids: Vec<_> = CATALOG.iter().map(|d| d.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for d in CATALOG {
            assert!(
                d.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                d.id
            );
            assert!(
                !d.mitre.is_empty() && d.mitre.iter().all(|m| m.starts_with('T')),
                "{}",
                d.id
            );
            assert!(d.title.len() <= 60 && !d.description.is_empty(), "{}", d.id);
        }
        assert_eq!(
            CATALOG.iter().filter(|d| d.kind == Kind::Single).count(),
            33
        );
        assert_eq!(
            CATALOG.iter().filter(|d| d.kind == Kind::Windowed).count(),
            21
        );
    }
}
