//! Every check's pass, fail and unknown on hand-built inventories.

use std::collections::BTreeMap;

use super::model::*;
use super::*;
use crate::time::{parse_rfc3339_ms, Millis, DAY};

fn now() -> Millis {
    parse_rfc3339_ms("2026-12-01T00:00:00Z").unwrap()
}

fn user(id: &str, created_days_ago: i64, last_login_days_ago: Option<i64>) -> User {
    User {
        id: id.into(),
        login: format!("{id}@example.com"),
        status: "ACTIVE".into(),
        created: Some(now() - created_days_ago * DAY),
        last_login: last_login_days_ago.map(|d| now() - d * DAY),
        ..User::default()
    }
}

fn factor(t: &str) -> Factor {
    Factor {
        factor_type: t.into(),
        provider: "OKTA".into(),
        status: "ACTIVE".into(),
    }
}

fn role(t: &str) -> RoleAssignment {
    RoleAssignment {
        role_type: t.into(),
        label: t.into(),
        assignment_type: "USER".into(),
    }
}

/// An org where every check passes.
fn healthy() -> Inventory {
    let users = vec![
        user("00uadmin", 400, Some(1)),
        user("00ualice", 300, Some(2)),
    ];
    let mut factors = BTreeMap::new();
    factors.insert("00uadmin".to_owned(), vec![factor("webauthn")]);
    factors.insert("00ualice".to_owned(), vec![factor("push")]);
    Inventory {
        org: "https://acme.okta.com".into(),
        fetched_at: now(),
        users: Part::Known(users),
        groups: Part::Known(BTreeMap::new()),
        admins: Part::Known(vec![Admin {
            user_id: "00uadmin".into(),
            roles: vec![role("SUPER_ADMIN")],
        }]),
        factors: Part::Known(factors),
        devices: Part::Known(Vec::new()),
        api_tokens: Part::Known(vec![ApiToken {
            id: "00T1".into(),
            name: "scim".into(),
            user_id: "00ualice".into(),
            network_connection: Some("ZONE".into()),
        }]),
        service_apps: Part::Known(vec![ServiceApp {
            id: "0oa1".into(),
            label: "itdr".into(),
            status: "ACTIVE".into(),
            scopes: Some(vec!["okta.logs.read".into()]),
        }]),
        log_streams: Part::Known(vec![LogStream {
            id: "0oxa".into(),
            name: "itdr".into(),
            stream_type: "aws_eventbridge".into(),
            status: "ACTIVE".into(),
        }]),
        threat_insight: Part::Known(ThreatInsight {
            action: "block".into(),
        }),
        zones: Part::Known(vec![NetworkZone {
            id: "nzo1".into(),
            name: "Block anonymizers".into(),
            zone_type: "DYNAMIC_V2".into(),
            usage: "BLOCKLIST".into(),
            status: "ACTIVE".into(),
            proxy_type: None,
            ip_service_categories: vec!["ALL_ANONYMIZERS".into()],
        }]),
        session_rules: Part::Known(vec![SessionRule {
            policy: "Default Policy".into(),
            rule: "STIG".into(),
            idle_minutes: Some(15),
            lifetime_minutes: Some(18 * 60),
        }]),
        password_policies: Part::Known(vec![PasswordPolicy {
            id: "00p1".into(),
            name: "Default".into(),
            min_length: Some(15),
            lockout_attempts: Some(3),
        }]),
        authenticator_policies: Part::Known(vec![AuthenticatorPolicy {
            id: "00pmfa".into(),
            name: "Default Policy".into(),
            required: vec!["okta_verify".into(), "webauthn".into()],
            optional: vec![],
        }]),
    }
}

fn verdicts(inv: &Inventory) -> BTreeMap<&'static str, CheckResult> {
    evaluate(inv, &PostureConfig::default())
        .into_iter()
        .map(|r| (r.id, r))
        .collect()
}

fn check(inv: &Inventory, id: &str) -> CheckResult {
    verdicts(inv).remove(id).expect("a check with this id")
}

fn failing(r: &CheckResult) -> Vec<&str> {
    r.subjects.iter().map(|s| s.uid.as_str()).collect()
}

#[test]
fn a_healthy_org_passes_every_check() {
    let all = verdicts(&healthy());
    assert_eq!(all.len(), CHECKS.len());
    for (id, r) in &all {
        assert_eq!(r.verdict, Verdict::Pass, "{id}: {r:?}");
    }
}

#[test]
fn an_unreadable_inventory_is_unknown_everywhere_never_pass() {
    let inv = Inventory::unknown("https://acme.okta.com", now(), "HTTP 403 (okta.users.read)");
    for (id, r) in verdicts(&inv) {
        assert_eq!(r.verdict, Verdict::Unknown, "{id}");
        assert!(r.note.contains("could not be read"), "{id}: {}", r.note);
    }
}

#[test]
fn an_empty_inventory_never_passes() {
    let mut inv = healthy();
    inv.users = Part::Known(Vec::new());
    inv.admins = Part::Known(Vec::new());
    inv.session_rules = Part::Known(Vec::new());
    inv.password_policies = Part::Known(Vec::new());
    inv.log_streams = Part::Known(Vec::new());
    inv.zones = Part::Known(Vec::new());
    let all = verdicts(&inv);
    for id in [
        "admin_mfa_not_phishing_resistant",
        "user_without_mfa",
        "super_admin_count_high",
        "dormant_admin",
        "admin_console_session_too_long",
        "password_policy_weak",
    ] {
        assert_eq!(all[id].verdict, Verdict::Unknown, "{id}");
    }
    assert_eq!(all["log_stream_inactive"].verdict, Verdict::Fail);
    assert_eq!(all["anonymizer_not_blocked"].verdict, Verdict::Fail);
}

#[test]
fn admin_mfa_fails_without_a_phishing_resistant_factor_and_is_unknown_without_factors() {
    let mut inv = healthy();
    if let Part::Known(f) = &mut inv.factors {
        f.insert("00uadmin".into(), vec![factor("push"), factor("sms")]);
    }
    let r = check(&inv, "admin_mfa_not_phishing_resistant");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(failing(&r), ["00uadmin"]);
    assert!(
        r.subjects[0].detail.contains("push, sms"),
        "{:?}",
        r.subjects
    );
    // FastPass counts as phishing-resistant.
    if let Part::Known(f) = &mut inv.factors {
        f.insert("00uadmin".into(), vec![factor("signed_nonce")]);
    }
    assert_eq!(
        check(&inv, "admin_mfa_not_phishing_resistant").verdict,
        Verdict::Pass
    );
    inv.factors = Part::Unknown("HTTP 403".into());
    assert_eq!(
        check(&inv, "admin_mfa_not_phishing_resistant").verdict,
        Verdict::Unknown
    );
}

#[test]
fn user_without_mfa_waits_for_the_grace_period() {
    let mut inv = healthy();
    if let Part::Known(users) = &mut inv.users {
        users.push(user("00unew", 3, None));
        users.push(user("00uold", 30, Some(1)));
    }
    if let Part::Known(f) = &mut inv.factors {
        f.insert("00uold".into(), vec![factor("question")]);
    }
    let r = check(&inv, "user_without_mfa");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        failing(&r),
        ["00uold"],
        "the 3-day-old account is in its grace period"
    );
    let cfg = PostureConfig {
        mfa_grace_days: 60,
        ..PostureConfig::default()
    };
    let r = evaluate(&inv, &cfg)
        .into_iter()
        .find(|r| r.id == "user_without_mfa")
        .unwrap();
    assert_eq!(r.verdict, Verdict::Pass, "the threshold is configuration");
    inv.users = Part::Unknown("HTTP 403".into());
    assert_eq!(check(&inv, "user_without_mfa").verdict, Verdict::Unknown);
}

#[test]
fn super_admin_count_lists_every_super_admin_above_the_threshold() {
    let mut inv = healthy();
    let (Part::Known(users), Part::Known(admins)) = (&mut inv.users, &mut inv.admins) else {
        unreachable!()
    };
    for i in 0..5 {
        let id = format!("00usuper{i}");
        users.push(user(&id, 100, Some(1)));
        admins.push(Admin {
            user_id: id,
            roles: vec![role("SUPER_ADMIN")],
        });
    }
    let r = check(&inv, "super_admin_count_high");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.subjects.len(), 6);
    inv.admins = Part::Unknown("HTTP 403".into());
    assert_eq!(
        check(&inv, "super_admin_count_high").verdict,
        Verdict::Unknown
    );
}

#[test]
fn dormant_admin_by_last_sign_in_or_never() {
    let mut inv = healthy();
    let (Part::Known(users), Part::Known(admins)) = (&mut inv.users, &mut inv.admins) else {
        unreachable!()
    };
    users.push(user("00uidle", 200, Some(36)));
    users.push(user("00unever", 200, None));
    users.push(user("00ufresh", 2, None));
    for id in ["00uidle", "00unever", "00ufresh"] {
        admins.push(Admin {
            user_id: id.into(),
            roles: vec![role("ORG_ADMIN")],
        });
    }
    let r = check(&inv, "dormant_admin");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(failing(&r), ["00uidle", "00unever"]);
}

#[test]
fn api_token_checks() {
    let mut inv = healthy();
    if let Part::Known(t) = &mut inv.api_tokens {
        t.push(ApiToken {
            id: "00T2".into(),
            name: "legacy".into(),
            user_id: "00uadmin".into(),
            network_connection: Some("ANYWHERE".into()),
        });
    }
    let r = check(&inv, "api_token_network_unrestricted");
    assert_eq!((r.verdict, failing(&r)), (Verdict::Fail, vec!["00T2"]));
    let r = check(&inv, "api_token_owned_by_super_admin");
    assert_eq!((r.verdict, failing(&r)), (Verdict::Fail, vec!["00T2"]));
    inv.api_tokens = Part::Unknown("HTTP 403".into());
    assert_eq!(
        check(&inv, "api_token_network_unrestricted").verdict,
        Verdict::Unknown
    );
    assert_eq!(
        check(&inv, "api_token_owned_by_super_admin").verdict,
        Verdict::Unknown
    );
}

#[test]
fn service_app_manage_scopes_fail_and_unread_grants_are_unknown() {
    let mut inv = healthy();
    if let Part::Known(apps) = &mut inv.service_apps {
        apps[0].scopes = Some(vec!["okta.logs.read".into(), "okta.users.manage".into()]);
    }
    let r = check(&inv, "service_app_admin_scopes");
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.subjects[0].detail.contains("okta.users.manage"));
    if let Part::Known(apps) = &mut inv.service_apps {
        apps[0].scopes = None;
    }
    assert_eq!(
        check(&inv, "service_app_admin_scopes").verdict,
        Verdict::Unknown
    );
}

#[test]
fn org_settings_checks() {
    let mut inv = healthy();
    inv.threat_insight = Part::Known(ThreatInsight {
        action: "audit".into(),
    });
    assert_eq!(
        check(&inv, "threatinsight_not_blocking").verdict,
        Verdict::Fail
    );
    inv.threat_insight = Part::Unknown("HTTP 403".into());
    assert_eq!(
        check(&inv, "threatinsight_not_blocking").verdict,
        Verdict::Unknown
    );

    if let Part::Known(s) = &mut inv.log_streams {
        s[0].status = "INACTIVE".into();
    }
    let r = check(&inv, "log_stream_inactive");
    assert_eq!((r.verdict, failing(&r)), (Verdict::Fail, vec!["0oxa"]));
    inv.log_streams = Part::Unknown("HTTP 403".into());
    assert_eq!(check(&inv, "log_stream_inactive").verdict, Verdict::Unknown);

    if let Part::Known(z) = &mut inv.zones {
        z[0].ip_service_categories = vec!["ANONYMIZER_TOR".into()];
    }
    assert_eq!(
        check(&inv, "anonymizer_not_blocked").verdict,
        Verdict::Fail,
        "Tor only"
    );
    if let Part::Known(z) = &mut inv.zones {
        z[0].zone_type = "DYNAMIC".into();
        z[0].proxy_type = Some("Any".into());
    }
    assert_eq!(check(&inv, "anonymizer_not_blocked").verdict, Verdict::Pass);
    if let Part::Known(z) = &mut inv.zones {
        z[0].usage = "POLICY".into();
    }
    assert_eq!(
        check(&inv, "anonymizer_not_blocked").verdict,
        Verdict::Fail,
        "not a blocklist"
    );
    inv.zones = Part::Unknown("HTTP 403".into());
    assert_eq!(
        check(&inv, "anonymizer_not_blocked").verdict,
        Verdict::Unknown
    );
}

#[test]
fn session_and_password_policies() {
    let mut inv = healthy();
    if let Part::Known(r) = &mut inv.session_rules {
        r.push(SessionRule {
            policy: "Default Policy".into(),
            rule: "Default Rule".into(),
            idle_minutes: Some(120),
            lifetime_minutes: Some(0),
        });
    }
    let r = check(&inv, "admin_console_session_too_long");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(failing(&r), ["Default Policy/Default Rule"]);
    assert!(
        r.subjects[0].detail.contains("unlimited"),
        "{:?}",
        r.subjects
    );
    inv.session_rules = Part::Unknown("HTTP 403".into());
    assert_eq!(
        check(&inv, "admin_console_session_too_long").verdict,
        Verdict::Unknown
    );

    if let Part::Known(p) = &mut inv.password_policies {
        p.push(PasswordPolicy {
            id: "00p2".into(),
            name: "Contractors".into(),
            min_length: Some(8),
            lockout_attempts: Some(0),
        });
    }
    let r = check(&inv, "password_policy_weak");
    assert_eq!((r.verdict, failing(&r)), (Verdict::Fail, vec!["00p2"]));
    assert!(r.subjects[0].detail.contains("no lockout"));
    inv.password_policies = Part::Unknown("HTTP 403".into());
    assert_eq!(
        check(&inv, "password_policy_weak").verdict,
        Verdict::Unknown
    );
}

#[test]
fn findings_are_compliance_findings_with_status_and_every_subject() {
    let mut inv = healthy();
    inv.threat_insight = Part::Unknown("HTTP 403".into());
    if let Part::Known(p) = &mut inv.password_policies {
        p[0].min_length = Some(8);
    }
    let results = evaluate(&inv, &PostureConfig::default());
    for r in &results {
        let f = ocsf::compliance_finding(r, &inv.org, inv.fetched_at, "0.0.0");
        assert_eq!(f["class_uid"], 2003);
        assert_eq!(f["type_uid"], 200301);
        assert_eq!(f["compliance"]["control"], r.id);
        let expected = match r.verdict {
            Verdict::Pass => 1,
            Verdict::Fail => 3,
            Verdict::Unknown => 0,
        };
        assert_eq!(f["compliance"]["status_id"], expected, "{}", r.id);
        assert_eq!(f["unmapped"]["subject_count"], r.subjects.len());
        if r.verdict == Verdict::Fail {
            assert_eq!(f["resources"].as_array().unwrap().len(), r.subjects.len());
            assert_eq!(f["severity_id"], 3, "{}", r.id);
        }
    }
}

#[test]
fn thresholds_come_from_json_and_typos_are_refused() {
    let c = PostureConfig::from_json(r#"{"max_super_admins": 2}"#).unwrap();
    assert_eq!(c.max_super_admins, 2);
    assert_eq!(c.mfa_grace_days, 14);
    assert!(PostureConfig::from_json(r#"{"max_super_admin": 2}"#).is_err());
}
