//! The org's configuration.

use super::*;

// --- idp_created_or_modified ----------------------------------------------------

#[test]
fn idp_changes_fire_and_idp_sign_ins_do_not() {
    for action in ["create", "update", "activate"] {
        let ev = Ev::new(&format!("system.idp.lifecycle.{action}")).target(
            "IdentityProvider",
            "0oaidp",
            "Evil IdP",
            "Evil IdP",
        );
        let f = finding("idp_created_or_modified", &ev);
        assert!(
            f.summary
                .contains(&format!("{action}d identity provider Evil IdP")),
            "{}",
            f.summary
        );
    }
    assert!(!fires(
        "idp_created_or_modified",
        &Ev::new("system.idp.lifecycle.deactivate")
    ));
    assert!(!fires(
        "idp_created_or_modified",
        &Ev::new("user.authentication.auth_via_IDP")
    ));
}

// --- mfa_disabled_org_wide ------------------------------------------------------

#[test]
fn mfa_disabled_org_wide_is_the_system_factor_deactivation() {
    let ev = Ev::new("system.mfa.factor.deactivate")
        .user("00uadmin", "admin@acme.com")
        .target("Factor", "sms", "SMS", "SMS Authentication");
    let f = finding("mfa_disabled_org_wide", &ev);
    assert_eq!(f.summary, "admin@acme.com deactivated the SMS Authentication MFA factor for the whole organisation from 73.92.10.5 (United States)");
    assert!(!fires(
        "mfa_disabled_org_wide",
        &Ev::new("system.mfa.factor.activate")
    ));
    assert!(!fires(
        "mfa_disabled_org_wide",
        &Ev::new("user.mfa.factor.deactivate")
    ));
}

// --- log_stream_tampering -------------------------------------------------------

#[test]
fn log_stream_deactivation_deletion_and_change_fire() {
    for action in ["deactivate", "delete", "update"] {
        let ev = Ev::new(&format!("system.log_stream.lifecycle.{action}")).target(
            "LogStream",
            "0Ox1",
            "SIEM stream",
            "SIEM stream",
        );
        let f = finding("log_stream_tampering", &ev);
        assert_eq!(f.severity, Severity::Critical);
        assert!(
            f.summary.contains("log stream SIEM stream"),
            "{}",
            f.summary
        );
    }
    assert!(!fires(
        "log_stream_tampering",
        &Ev::new("system.log_stream.lifecycle.create")
    ));
    assert!(!fires(
        "log_stream_tampering",
        &Ev::new("system.log_stream.lifecycle.activate")
    ));
}

// --- security_policy_weakened ---------------------------------------------------

#[test]
fn a_policy_change_that_removes_mfa_is_high() {
    let ev = Ev::new("policy.rule.update").user("00uadmin", "admin@acme.com").target_with_changes(
        "PolicyRule",
        "0pr1",
        "Admins need MFA",
        json!({"from": {"actions": {"appSignOn": {"verificationMethod": {"factorMode": "2FA"}}}},
               "to": {"actions": {"appSignOn": {"verificationMethod": {"factorMode": "1FA"}}}}}),
    );
    let f = finding("security_policy_weakened", &ev);
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.title, "Security policy weakened: MFA removed");
    assert_eq!(
        f.summary,
        "admin@acme.com updated policy rule Admins need MFA from 73.92.10.5 (United States); MFA removed (factorMode 2FA → 1FA)"
    );
    assert_eq!(f.facts["mfa_removed"], json!(true));
}

#[test]
fn other_policy_and_zone_weakening_is_medium() {
    let cases = [
        ("policy.lifecycle.deactivate", "policy"),
        ("policy.lifecycle.delete", "policy"),
        ("policy.rule.delete", "policy rule"),
        ("zone.deactivate", "network zone"),
        ("zone.delete", "network zone"),
        ("application.policy.sign_on.update", "app sign-on policy"),
        (
            "application.policy.sign_on.rule.delete",
            "app sign-on policy rule",
        ),
    ];
    for (event_type, object) in cases {
        let f = finding(
            "security_policy_weakened",
            &Ev::new(event_type).target("PolicyEntity", "0p1", "Default", "Default"),
        );
        assert_eq!(
            (f.severity, f.facts["object"].clone()),
            (Severity::Medium, json!(object)),
            "{event_type}"
        );
    }
    let tightened = Ev::new("policy.rule.update").target_with_changes(
        "PolicyRule",
        "0pr1",
        "Admins",
        json!({"from": {"factorMode": "1FA"}, "to": {"factorMode": "2FA"}}),
    );
    assert_eq!(
        finding("security_policy_weakened", &tightened).severity,
        Severity::Medium
    );
}

#[test]
fn creating_activating_or_evaluating_policies_is_not_weakening() {
    for benign in [
        "policy.lifecycle.create",
        "policy.lifecycle.activate",
        "policy.rule.create",
        "policy.rule.activate",
        "policy.evaluate_sign_on",
        "zone.create",
    ] {
        assert!(
            !fires("security_policy_weakened", &Ev::new(benign)),
            "{benign}"
        );
    }
    assert!(!fires(
        "security_policy_weakened",
        &Ev::new("policy.rule.delete").failure("E0000007")
    ));
}

// --- org2org_app_change ---------------------------------------------------------

#[test]
fn org2org_app_changes_fire_and_other_apps_do_not() {
    for action in ["create", "update", "activate"] {
        let ev = Ev::new(&format!("application.lifecycle.{action}")).target(
            "AppInstance",
            "0oao2o",
            "Partner org2org",
            "Partner org2org",
        );
        assert!(finding("org2org_app_change", &ev)
            .summary
            .contains("Org2Org app Partner org2org"));
    }
    assert!(!fires(
        "org2org_app_change",
        &Ev::new("application.lifecycle.update").target(
            "AppInstance",
            "0oasf",
            "Salesforce",
            "Salesforce"
        )
    ));
    assert!(!fires(
        "org2org_app_change",
        &Ev::new("application.lifecycle.deactivate").target(
            "AppInstance",
            "0oao2o",
            "Okta Org2Org",
            "Okta Org2Org"
        )
    ));
}

// --- scim_password_push_enabled -------------------------------------------------

#[test]
fn an_app_set_to_push_passwords_fires() {
    let by_reason = Ev::new("application.lifecycle.update")
        .outcome("SUCCESS", Some("Pushing user passwords"))
        .target("AppInstance", "0oahr", "HR system", "HR system");
    assert_eq!(finding("scim_password_push_enabled", &by_reason).summary, "alice@acme.com set app HR system to push users' Okta passwords from 73.92.10.5 (United States)");
    let by_change = Ev::new("application.lifecycle.update").target_with_changes(
        "AppInstance",
        "0oahr",
        "HR system",
        json!({"from": {"pushPasswordChanges": false}, "to": {"pushPasswordChanges": true}}),
    );
    assert!(fires("scim_password_push_enabled", &by_change));
}

#[test]
fn other_app_updates_do_not_push_passwords() {
    assert!(!fires(
        "scim_password_push_enabled",
        &Ev::new("application.lifecycle.update").target("AppInstance", "0oahr", "HR", "HR")
    ));
    let disabled = Ev::new("application.lifecycle.update").target_with_changes(
        "AppInstance",
        "0oahr",
        "HR",
        json!({"from": {"pushPasswordChanges": true}, "to": {"pushPasswordChanges": false}}),
    );
    assert!(!fires("scim_password_push_enabled", &disabled));
    assert!(!fires(
        "scim_password_push_enabled",
        &Ev::new("application.lifecycle.create").outcome("SUCCESS", Some("Pushing user passwords"))
    ));
}
