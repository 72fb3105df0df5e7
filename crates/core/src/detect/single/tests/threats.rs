//! Okta's threat signals, administration through proxies, and rare changes to
//! how Okta authenticates and who administers it.

use super::*;

// --- mfa_bypass_attempt ---------------------------------------------------------

#[test]
fn an_mfa_bypass_attempt_fires_and_an_mfa_verification_does_not() {
    let ev = Ev::new("user.mfa.attempt_bypass").outcome("FAILURE", None);
    let f = finding("mfa_bypass_attempt", &ev);
    assert_eq!(f.severity, Severity::High);
    assert!(
        f.summary
            .contains("attempt to bypass MFA for alice@acme.com"),
        "{}",
        f.summary
    );
    // The look-alike: an ordinary MFA verification, even a failed one.
    assert!(!fires(
        "mfa_bypass_attempt",
        &Ev::new("user.authentication.auth_via_mfa").failure("INVALID_CREDENTIALS")
    ));
}

// --- okta_itp_detection ---------------------------------------------------------

#[test]
fn itp_signals_fire_at_any_level_with_okta_s_detection_name() {
    let ev = Ev::new("user.risk.detect")
        .debug("risk", json!("{previousLevel=LOW, level=MEDIUM, detectionName=Session Influenced User Risk, reasons=idxGuv, issuer=OKTA}"))
        .target("User", "00ubob", "bob@acme.com", "Bob");
    let f = finding("okta_itp_detection", &ev);
    assert_eq!(f.facts["okta_detection"], "Session Influenced User Risk");
    assert_eq!(f.facts["risk_level"], "MEDIUM");
    assert!(
        f.summary.contains("Session Influenced User Risk"),
        "{}",
        f.summary
    );
    for t in [
        "security.session.detect_client_roaming",
        "policy.auth_reevaluate.fail",
    ] {
        let f = finding("okta_itp_detection", &Ev::new(t));
        assert!(!f.facts["okta_detection"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_high_user_risk_is_user_risk_high_s_and_other_security_events_are_not_itp() {
    let high = Ev::new("user.risk.change").debug(
        "risk",
        json!("{previousLevel=MEDIUM, level=HIGH, detectionName=Entity Risk, reasons=x}"),
    );
    assert!(!fires("okta_itp_detection", &high));
    assert!(fires("user_risk_high", &high));
    assert!(!fires(
        "okta_itp_detection",
        &Ev::new("security.threat.detected")
    ));
    // A risk falling back to LOW is not a detection; one rising to MEDIUM is.
    let lowered = Ev::new("user.risk.change").debug(
        "risk",
        json!("{previousLevel=MEDIUM, level=LOW, detectionName=Entity Risk, reasons=x}"),
    );
    assert!(!fires("okta_itp_detection", &lowered));
    let raised = Ev::new("user.risk.change").debug(
        "risk",
        json!("{previousLevel=LOW, level=MEDIUM, detectionName=Entity Risk, reasons=x}"),
    );
    assert!(fires("okta_itp_detection", &raised));
    assert!(!fires(
        "okta_itp_detection",
        &Ev::new("policy.evaluate_sign_on")
    ));
}

// --- admin_activity_via_proxy ---------------------------------------------------

fn console_sign_in() -> Ev {
    Ev::new("user.session.access_admin_app").user("00ufrank", "frank@acme.com")
}

#[test]
fn admin_console_access_and_admin_changes_through_a_proxy_fire() {
    let f = finding("admin_activity_via_proxy", &console_sign_in().proxy(true));
    assert!(
        f.summary.contains("reached the Okta Admin Console"),
        "{}",
        f.summary
    );
    let change = Ev::new("policy.rule.update")
        .user("00ufrank", "frank@acme.com")
        .proxy(true);
    let f = finding("admin_activity_via_proxy", &change);
    assert!(
        f.summary.contains("made an administrative change"),
        "{}",
        f.summary
    );
    assert!(fires("admin_activity_via_proxy", &frank().proxy(true)));
}

#[test]
fn the_same_without_a_proxy_or_a_user_s_own_sign_in_through_one_is_not_admin_activity() {
    assert!(!fires("admin_activity_via_proxy", &console_sign_in()));
    assert!(!fires("admin_activity_via_proxy", &frank()));
    // An ordinary sign-in through a proxy is proxy_sign_in's.
    let sign_in = Ev::new("user.session.start").proxy(true);
    assert!(!fires("admin_activity_via_proxy", &sign_in));
    assert!(fires("proxy_sign_in", &sign_in));
    // A refused change through a proxy changed nothing.
    assert!(!fires(
        "admin_activity_via_proxy",
        &Ev::new("policy.rule.update")
            .proxy(true)
            .failure("NOT_AUTHORIZED")
    ));
}

// --- oauth_client_secret_read ---------------------------------------------------

#[test]
fn reading_a_client_secret_fires_and_reading_the_client_does_not() {
    let ev = Ev::new("app.oauth2.client.read_client_secret").target(
        "AppInstance",
        "0oasvc",
        "terraform",
        "Terraform service app",
    );
    let f = finding("oauth_client_secret_read", &ev);
    assert!(
        f.summary
            .contains("read the OAuth client secret of Terraform service app"),
        "{}",
        f.summary
    );
    assert!(!fires(
        "oauth_client_secret_read",
        &Ev::new("app.oauth2.client.lifecycle.update")
    ));
}

// --- ad_agent_change ------------------------------------------------------------

#[test]
fn ad_agent_creation_and_configuration_changes_fire_routine_agent_work_does_not() {
    for t in [
        "system.agent.ad.create",
        "system.agent.ad.update",
        "system.agent.ad.reactivate",
        "system.agent.ad.config_change_detected",
    ] {
        assert!(fires("ad_agent_change", &Ev::new(t)), "{t}");
    }
    let f = finding("ad_agent_change", &Ev::new("system.agent.ad.create"));
    assert!(
        f.summary.contains("added an Active Directory agent"),
        "{}",
        f.summary
    );
    for routine in [
        "system.agent.ad.start",
        "system.agent.ad.import_user",
        "system.agent.ad.read_ldap",
        "user.authentication.auth_via_AD_agent",
    ] {
        assert!(!fires("ad_agent_change", &Ev::new(routine)), "{routine}");
    }
}

// --- custom_admin_role_change ---------------------------------------------------

#[test]
fn custom_roles_resource_sets_and_their_bindings_fire() {
    for t in [
        "iam.role.create",
        "iam.role.permissions.add",
        "iam.resourceset.create",
        "iam.resourceset.resources.add",
        "iam.resourceset.bindings.add",
    ] {
        assert!(fires("custom_admin_role_change", &Ev::new(t)), "{t}");
    }
    let f = finding(
        "custom_admin_role_change",
        &Ev::new("iam.role.permissions.add").target("CUSTOM_ROLE", "cr0x", "Helpers", "Helpers"),
    );
    assert!(
        f.summary
            .contains("added permissions to a custom admin role Helpers"),
        "{}",
        f.summary
    );
}

#[test]
fn removing_from_custom_roles_is_not_a_custom_role_change() {
    for t in [
        "iam.role.delete",
        "iam.role.permissions.delete",
        "iam.resourceset.bindings.delete",
        "user.account.privilege.grant",
    ] {
        assert!(!fires("custom_admin_role_change", &Ev::new(t)), "{t}");
    }
}

// --- protected_action_settings_changed ------------------------------------------

#[test]
fn protected_action_setting_changes_fire_and_protected_action_use_does_not() {
    let f = finding(
        "protected_action_settings_changed",
        &Ev::new("security.protected_action.settings.update"),
    );
    assert!(
        f.summary.contains("changed the protected-actions settings"),
        "{}",
        f.summary
    );
    // An admin performing a protected action, challenged or not, is the
    // feature at work.
    for result in ["SUCCESS", "CHALLENGE"] {
        assert!(!fires(
            "protected_action_settings_changed",
            &Ev::new("security.protected_action.attempt").outcome(result, None)
        ));
    }
    assert!(!fires(
        "protected_action_settings_changed",
        &Ev::new("security.protected_action.settings.update").failure("NOT_AUTHORIZED")
    ));
}
