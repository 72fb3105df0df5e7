//! Privileges and credentials.

use super::*;

// --- admin_role_granted ---------------------------------------------------------

#[test]
fn admin_role_granted_is_critical_for_super_administrator() {
    let ev = frank()
        .target("User", "00uerin", "erin@acme.com", "Erin Example")
        .debug("privilegeGranted", json!("Super administrator"));
    let f = finding("admin_role_granted", &ev);
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.title, "Super administrator role granted");
    assert_eq!(f.summary, "frank@acme.com granted Super administrator to erin@acme.com from 203.0.113.7 (United States)");
    assert_eq!(f.principal.identity, "00uerin");
    assert_eq!(f.principal.login.as_deref(), Some("erin@acme.com"));
    assert_eq!(f.facts["granted_by"], json!("frank@acme.com"));

    let several = frank()
        .target("User", "00uerin", "erin@acme.com", "Erin")
        .debug("privilegeGranted", json!("Read only admin, Super Admin"));
    assert_eq!(
        finding("admin_role_granted", &several).severity,
        Severity::Critical
    );
}

#[test]
fn admin_role_granted_is_high_for_other_roles_and_covers_groups_and_resource_sets() {
    let org_admin = frank()
        .target("User", "00uerin", "erin@acme.com", "Erin")
        .debug(
            "privilegeGranted",
            json!("Organization administrator, Application administrator (all)"),
        );
    let f = finding("admin_role_granted", &org_admin);
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::High, "Admin role granted")
    );

    let group = Ev::new("group.privilege.grant")
        .user("00ufrank", "frank@acme.com")
        .target("UserGroup", "00ghelp", "Helpdesk", "Helpdesk")
        .debug("privilegeGranted", json!("Help Desk administrator"));
    let f = finding("admin_role_granted", &group);
    assert_eq!(
        f.principal.identity, "00ufrank",
        "no user target: the finding is about the granter"
    );
    assert!(
        f.summary
            .contains("granted Help Desk administrator to group Helpdesk"),
        "{}",
        f.summary
    );

    let binding =
        Ev::new("iam.resourceset.bindings.add").target("User", "00uerin", "erin@acme.com", "Erin");
    assert!(fires("admin_role_granted", &binding));
}

#[test]
fn admin_role_revoked_or_refused_is_not_granted() {
    let revoke = Ev::new("user.account.privilege.revoke")
        .target("User", "00uerin", "erin@acme.com", "Erin")
        .debug("privilegeGranted", json!("Super administrator"));
    assert!(!fires("admin_role_granted", &revoke));
    let refused = frank()
        .target("User", "00uerin", "erin@acme.com", "Erin")
        .failure("INSUFFICIENT_PERMISSIONS");
    assert!(!fires("admin_role_granted", &refused));
}

// --- admin_role_grant_refused --------------------------------------------------

#[test]
fn a_refused_admin_role_grant_fires_on_its_actor() {
    let ev = frank()
        .target("User", "00uerin", "erin@acme.com", "Erin")
        .debug("privilegeGranted", json!("Organization administrator"))
        .failure("INSUFFICIENT_PERMISSIONS");
    let f = finding("admin_role_grant_refused", &ev);
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.principal.identity, "00ufrank");
    assert_eq!(f.summary, "Okta refused frank@acme.com's attempt to grant Organization administrator to erin@acme.com from 203.0.113.7 (United States) (outcome FAILURE: INSUFFICIENT_PERMISSIONS)");
    assert_eq!(f.facts["attempted_for"], json!("erin@acme.com"));
    assert!(!fires("admin_role_granted", &ev));

    let group = Ev::new("group.privilege.grant")
        .target("UserGroup", "00gops", "Ops", "Ops")
        .debug("privilegeGranted", json!("Super administrator"))
        .outcome("DENY", None);
    let f = finding("admin_role_grant_refused", &group);
    assert_eq!(f.severity, Severity::High);
    assert!(f.summary.contains("to group Ops"), "{}", f.summary);
}

#[test]
fn a_grant_that_took_effect_or_a_refused_revoke_is_not_a_refused_grant() {
    let granted = frank().target("User", "00uerin", "erin@acme.com", "Erin");
    assert!(!fires("admin_role_grant_refused", &granted));
    assert!(fires("admin_role_granted", &granted));
    let revoke = Ev::new("user.account.privilege.revoke").failure("INSUFFICIENT_PERMISSIONS");
    assert!(!fires("admin_role_grant_refused", &revoke));
    // Panther's non-matching case: a refused token reuse is no grant at all.
    assert!(!fires(
        "admin_role_grant_refused",
        &Ev::new("app.token.reuse").failure("INVALID")
    ));
}

// --- api_token_created ----------------------------------------------------------

#[test]
fn api_token_revoked_or_failed_is_not_created() {
    let created = Ev::new("system.api_token.create").target("Token", "00Tabc", "unknown", "ci");
    assert!(fires("api_token_created", &created));
    assert!(!fires(
        "api_token_created",
        &Ev::new("system.api_token.revoke").target("Token", "00Tabc", "unknown", "ci")
    ));
    assert!(!fires(
        "api_token_created",
        &created.clone().failure("E0000006")
    ));
}

// --- mfa_factor_reset -----------------------------------------------------------

#[test]
fn mfa_factor_reset_is_about_the_user_whose_factors_went() {
    let ev = Ev::new("user.mfa.factor.reset_all")
        .user("00uhelp", "helpdesk@acme.com")
        .target("User", "00ubob", "bob@acme.com", "Bob");
    let f = finding("mfa_factor_reset", &ev);
    assert_eq!(f.principal.identity, "00ubob");
    assert_eq!(
        f.summary,
        "helpdesk@acme.com reset all of bob@acme.com's MFA factors from 73.92.10.5 (United States)"
    );
    assert_eq!(f.facts["by_self"], json!(false));

    let own = Ev::new("user.mfa.factor.deactivate")
        .user("00ubob", "bob@acme.com")
        .target("User", "00ubob", "bob@acme.com", "Bob")
        .outcome("SUCCESS", Some("User reset FIDO_WEBAUTHN factor"))
        .debug("factor", json!("FIDO_WEBAUTHN"));
    let f = finding("mfa_factor_reset", &own);
    assert_eq!(f.facts["by_self"], json!(true));
    assert!(
        f.summary
            .starts_with("bob@acme.com deactivated their own MFA factor FIDO_WEBAUTHN"),
        "{}",
        f.summary
    );

    assert!(fires(
        "mfa_factor_reset",
        &Ev::new("user.mfa.factor.suspend").target("User", "00ubob", "bob@acme.com", "Bob")
    ));
}

#[test]
fn mfa_factor_enrolment_and_org_wide_changes_are_not_user_resets() {
    for benign in [
        "user.mfa.factor.activate",
        "user.mfa.factor.update",
        "system.mfa.factor.deactivate",
    ] {
        assert!(
            !fires(
                "mfa_factor_reset",
                &Ev::new(benign).target("User", "00ubob", "bob@acme.com", "Bob")
            ),
            "{benign}"
        );
    }
    let failed = Ev::new("user.mfa.factor.reset_all")
        .target("User", "00ubob", "bob@acme.com", "Bob")
        .failure("E0000001");
    assert!(!fires("mfa_factor_reset", &failed));
}

// --- support_impersonation ------------------------------------------------------

#[test]
fn support_impersonation_grant_and_start_fire() {
    let f = finding(
        "support_impersonation",
        &Ev::new("user.session.impersonation.grant").user("00uadmin", "admin@acme.com"),
    );
    assert!(
        f.summary
            .starts_with("admin@acme.com granted Okta support access"),
        "{}",
        f.summary
    );
    assert!(fires(
        "support_impersonation",
        &Ev::new("user.session.impersonation.initiate")
    ));
    assert!(!fires(
        "support_impersonation",
        &Ev::new("user.session.impersonation.end")
    ));
    assert!(!fires(
        "support_impersonation",
        &Ev::new("user.session.start")
    ));
}

// --- app_password_revealed ------------------------------------------------------

fn show_password(owner_id: &str, owner_login: &str) -> Ev {
    Ev::new("application.user_membership.show_password")
        .user("00ualice", "alice@acme.com")
        .target("AppUser", owner_id, owner_login, owner_login)
        .target("AppInstance", "0oabank", "Bank portal", "Bank portal")
        .target("User", owner_id, owner_login, owner_login)
}

#[test]
fn revealing_another_users_app_password_fires_about_the_owner() {
    let f = finding(
        "app_password_revealed",
        &show_password("00ubob", "bob@acme.com"),
    );
    assert_eq!(f.principal.identity, "00ubob");
    assert_eq!(f.summary, "alice@acme.com revealed bob@acme.com's password for Bank portal from 73.92.10.5 (United States)");
}

#[test]
fn viewing_ones_own_app_password_does_not() {
    assert!(!fires(
        "app_password_revealed",
        &show_password("00ualice", "alice@acme.com")
    ));
    assert!(!fires(
        "app_password_revealed",
        &show_password("00ualice", "ALICE@acme.com")
    ));
    // Only an app user, named by the app's own username: the id tells.
    let app_user_only = Ev::new("application.user_membership.show_password")
        .user("00ualice", "alice@acme.com")
        .target("AppUser", "00ualice", "asmith", "Alice Smith");
    assert!(!fires("app_password_revealed", &app_user_only));
    let someone_elses = Ev::new("application.user_membership.show_password")
        .user("00ualice", "alice@acme.com")
        .target("AppUser", "00ubob", "bsmith", "Bob Smith");
    assert!(fires("app_password_revealed", &someone_elses));
}

// --- okta_support_reset ---------------------------------------------------------

fn by_support(event_type: &str) -> Ev {
    Ev::new(event_type)
        .user("00usupport", "system@okta.com")
        .no_user_agent()
        .target("User", "00ubob", "bob@acme.com", "Bob")
}

#[test]
fn a_reset_by_okta_support_fires_about_the_user() {
    let f = finding(
        "okta_support_reset",
        &by_support("user.account.reset_password"),
    );
    assert_eq!(f.principal.identity, "00ubob");
    assert!(
        f.summary
            .starts_with("Okta support (system@okta.com) reset bob@acme.com's password"),
        "{}",
        f.summary
    );
    for t in [
        "user.mfa.factor.reset_all",
        "user.mfa.factor.deactivate",
        "user.account.update_password",
    ] {
        assert!(fires("okta_support_reset", &by_support(t)), "{t}");
    }
}

#[test]
fn resets_by_admins_or_from_a_browser_are_not_okta_support() {
    let by_admin = Ev::new("user.account.reset_password")
        .user("00umarge", "marge@acme.com")
        .no_user_agent()
        .target("User", "00ubob", "bob@acme.com", "Bob");
    assert!(!fires("okta_support_reset", &by_admin));
    let with_browser = Ev::new("user.account.reset_password")
        .user("00usupport", "system@okta.com")
        .target("User", "00ubob", "bob@acme.com", "Bob");
    assert!(!fires("okta_support_reset", &with_browser));
    assert!(!fires(
        "okta_support_reset",
        &by_support("user.session.start")
    ));
}

// --- service_app_admin_scope_grant ----------------------------------------------

fn token_grant(grant_type: &str, scopes: &str) -> Ev {
    Ev::new("app.oauth2.as.token.grant.access_token")
        .actor(json!({"id": "0oasync", "type": "PublicClientApp", "alternateId": "0oasync", "displayName": "Directory sync"}))
        .debug("grantType", json!(grant_type))
        .debug("grantedScopes", json!(scopes))
        .debug("clientId", json!("0oasync"))
}

#[test]
fn a_client_credentials_token_with_manage_scopes_fires() {
    let f = finding(
        "service_app_admin_scope_grant",
        &token_grant(
            "client_credentials",
            "okta.users.read, okta.users.manage, okta.groups.manage",
        ),
    );
    assert_eq!(
        f.facts["admin_scopes"],
        json!("okta.users.manage, okta.groups.manage")
    );
    assert_eq!(
        f.principal.kind,
        PrincipalKind::Identity(IdentityKind::ServiceApp)
    );
    assert!(
        f.summary.starts_with("Service app Directory sync obtained"),
        "{}",
        f.summary
    );
    assert!(fires(
        "service_app_admin_scope_grant",
        &token_grant("client_credentials", "okta.apps.manage")
    ));
}

#[test]
fn user_tokens_and_read_scopes_are_not_service_app_admin_grants() {
    assert!(!fires(
        "service_app_admin_scope_grant",
        &token_grant("authorization_code", "okta.users.manage")
    ));
    assert!(!fires(
        "service_app_admin_scope_grant",
        &token_grant("client_credentials", "okta.users.read okta.groups.read")
    ));
    assert!(!fires(
        "service_app_admin_scope_grant",
        &token_grant("client_credentials", "okta.users.manage").failure("invalid_client")
    ));
}
