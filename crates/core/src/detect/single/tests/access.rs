//! Sign-ins, sessions and Okta's threat signals.

use super::*;
use crate::test_support::Typed;

// --- fastpass_phishing_blocked --------------------------------------------------

#[test]
fn fastpass_declining_a_phishing_site_fires() {
    let ev =
        Ev::new("user.authentication.auth_via_mfa").failure("FastPass declined phishing attempt");
    let f = finding("fastpass_phishing_blocked", &ev);
    assert!(f.summary.contains("alice@acme.com"), "{}", f.summary);
    assert!(!fires(
        "fastpass_phishing_blocked",
        &Ev::new("user.authentication.auth_via_mfa").failure("INVALID_CREDENTIALS")
    ));
    assert!(!fires(
        "fastpass_phishing_blocked",
        &Ev::new("user.session.start").failure("FastPass declined phishing attempt")
    ));
}

// --- threatinsight_threat -------------------------------------------------------

#[test]
fn threatinsight_detection_fires_and_a_suspected_request_alone_does_not() {
    let ev = Ev::new("security.threat.detected")
        .actor(json!({"id": "198.51.100.9", "type": "IP address", "alternateId": "unknown", "displayName": "198.51.100.9"}))
        .ip("198.51.100.9")
        .outcome("DENY", Some("Password Spray, Login Failures"));
    let f = finding("threatinsight_threat", &ev);
    assert_eq!(f.principal.identity, "ip:198.51.100.9");
    assert_eq!(f.principal.kind, PrincipalKind::Ip);
    assert_eq!(f.summary, "Okta ThreatInsight flagged requests from 198.51.100.9 (United States): Password Spray, Login Failures (outcome DENY)");
    let on_user = Ev::new("security.threat.detected").user("00ubob", "bob@acme.com");
    assert_eq!(
        finding("threatinsight_threat", &on_user).principal.identity,
        "00ubob"
    );
    let suspected = Ev::new("user.session.start").debug("threatSuspected", json!("true"));
    assert!(!fires("threatinsight_threat", &suspected));
}

// --- user_reported_suspicious_activity ------------------------------------------

#[test]
fn a_user_report_fires_and_the_notification_does_not() {
    let ev = Ev::new("user.account.report_suspicious_activity_by_enduser")
        .user("00ubob", "bob@acme.com");
    assert_eq!(
        finding("user_reported_suspicious_activity", &ev)
            .principal
            .identity,
        "00ubob"
    );
    assert!(!fires(
        "user_reported_suspicious_activity",
        &Ev::new("system.email.new_device_notification.sent_message")
    ));
}

// --- proxy_sign_in --------------------------------------------------------------

#[test]
fn a_successful_sign_in_through_a_proxy_fires() {
    let ev = Ev::new("user.session.start").proxy(true).from(
        "185.220.101.4",
        "Berlin",
        "Germany",
        52.5,
        13.4,
        60729,
        "tor exit",
    );
    let f = finding("proxy_sign_in", &ev);
    assert_eq!(f.summary, "alice@acme.com signed in through an anonymising proxy from 185.220.101.4 (Germany), network tor exit");
    assert_eq!(f.facts["asn"], json!(60729));
    let tor = Ev::new("user.session.start").debug(
        "tunnels",
        json!(r#"[{"anonymous":true,"operator":"TOR","type":"TOR"}]"#),
    );
    assert!(fires("proxy_sign_in", &tor));
}

#[test]
fn direct_or_failed_sign_ins_are_not_proxy_sign_ins() {
    assert!(!fires(
        "proxy_sign_in",
        &Ev::new("user.session.start").proxy(false)
    ));
    assert!(!fires(
        "proxy_sign_in",
        &Ev::new("user.session.start")
            .proxy(true)
            .failure("INVALID_CREDENTIALS")
    ));
    assert!(!fires(
        "proxy_sign_in",
        &Ev::new("user.authentication.sso").proxy(true)
    ));
}

// --- proxy_sign_in_failed -------------------------------------------------------

fn tor_attempt(minute: u32) -> Ev {
    Ev::new("user.session.start")
        .at(&format!("2026-11-10T10:{minute:02}:00Z"))
        .proxy(true)
        .from(
            "185.220.101.4",
            "Berlin",
            "Germany",
            52.5,
            13.4,
            60729,
            "tor exit",
        )
        .failure("INVALID_CREDENTIALS")
}

#[test]
fn a_failed_sign_in_through_a_proxy_fires_once_an_hour_per_principal() {
    let f = finding("proxy_sign_in_failed", &tor_attempt(5));
    assert_eq!(f.summary, "A sign-in as alice@acme.com through an anonymising proxy failed (INVALID_CREDENTIALS) from 185.220.101.4 (Germany), network tor exit");
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.facts["events"], json!(1));
    // Retries in the hour are evidence of the first finding, not more risk.
    let attempts: Vec<ActivityRecord> = (5..9)
        .map(|m| tor_attempt(m).record())
        .chain([tor_attempt(9).ip("185.220.101.9").record()])
        .collect();
    let found: Vec<Finding> = run(&attempts, &DetectConfig::default())
        .into_iter()
        .filter(|f| f.detection == "proxy_sign_in_failed")
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.facts["events"], json!(5));
    assert_eq!(f.evidence.len(), 5);
    assert_eq!(f.endpoints.len(), 2);
    assert_eq!(
        (f.anchor, f.first_seen, f.last_seen),
        (
            attempts[0].published,
            attempts[0].published,
            attempts[4].published
        )
    );
    // Another user's attempts are theirs.
    let bob = tor_attempt(6).user("00ubob", "bob@acme.com").record();
    let both = run(&[attempts[0].clone(), bob], &DetectConfig::default());
    assert_eq!(both.len(), 2);
}

#[test]
fn a_direct_failure_or_a_successful_proxy_sign_in_is_not_a_failed_proxy_sign_in() {
    assert!(!fires("proxy_sign_in_failed", &tor_attempt(5).proxy(false)));
    let success = tor_attempt(5).outcome("SUCCESS", None);
    assert!(!fires("proxy_sign_in_failed", &success));
    assert!(fires("proxy_sign_in", &success));
    assert!(!fires(
        "proxy_sign_in_failed",
        &Ev::new("user.authentication.auth_via_mfa")
            .proxy(true)
            .failure("INVALID_CREDENTIALS")
    ));
}

#[test]
fn a_failed_proxy_sign_in_adds_risk_and_never_pages_alone() {
    let meta = catalog::find("proxy_sign_in_failed").unwrap();
    assert_eq!(
        DetectConfig::default().risk(meta),
        catalog::Risk::Contributes(20)
    );
}

// --- sign_in_from_restricted_country --------------------------------------------

fn restricting(countries: &[&str]) -> DetectConfig {
    DetectConfig {
        restricted_countries: countries.iter().map(|c| (*c).to_owned()).collect(),
        ..DetectConfig::default()
    }
}

fn from_moscow(ev: Ev) -> Ev {
    ev.from(
        "95.165.1.20",
        "Moscow",
        "Russia",
        55.75,
        37.62,
        12389,
        "rostelecom",
    )
}

#[test]
fn a_sign_in_from_a_restricted_country_fires_when_the_org_lists_it() {
    let config = restricting(&["China", "iran", " RUSSIA "]);
    let ev = from_moscow(Ev::new("user.session.start"));
    assert!(matches(
        &config,
        "sign_in_from_restricted_country",
        &ev.record()
    ));
    let found = run(&[ev.record()], &config);
    let f = found
        .iter()
        .find(|f| f.detection == "sign_in_from_restricted_country")
        .expect("a finding");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.summary,
        "alice@acme.com signed in from 95.165.1.20 in Russia, a country on the org's restricted list"
    );
    assert_eq!(f.facts["country"], json!("Russia"));
    // Through an inbound identity provider too.
    let idp = from_moscow(Ev::new("user.authentication.auth_via_IDP"));
    assert!(matches(
        &config,
        "sign_in_from_restricted_country",
        &idp.record()
    ));
}

#[test]
fn failed_unlisted_or_unconfigured_sign_ins_are_not_from_a_restricted_country() {
    let config = restricting(&["China", "Iran", "Russia"]);
    let fires_with = |config: &DetectConfig, ev: Ev| {
        matches(config, "sign_in_from_restricted_country", &ev.record())
    };
    // A failed attempt from a listed country: the list is about where people
    // get in; attempts feed the brute-force and spray windows.
    assert!(!fires_with(
        &config,
        from_moscow(Ev::new("user.session.start")).failure("INVALID_CREDENTIALS")
    ));
    // A country not on the list, and Russia's neighbour by name.
    assert!(!fires_with(&config, Ev::new("user.session.start")));
    assert!(!fires_with(
        &config,
        from_moscow(Ev::new("user.session.start")).from(
            "46.53.1.2",
            "Minsk",
            "Belarus",
            53.9,
            27.56,
            6697,
            "beltelecom"
        )
    ));
    // App access in an existing session is not a sign-in.
    assert!(!fires_with(
        &config,
        from_moscow(Ev::new("user.authentication.sso"))
    ));
    // The default list is empty: nothing is restricted until the org says so.
    assert!(!fires(
        "sign_in_from_restricted_country",
        &from_moscow(Ev::new("user.session.start"))
    ));
}

#[test]
fn restricted_countries_are_names_not_codes() {
    for bad in [r#"["RU"]"#, r#"["IRN"]"#, r#"[" "]"#] {
        let json = format!(r#"{{"restricted_countries":{bad}}}"#);
        assert!(
            matches!(
                DetectConfig::from_json(&json),
                Err(crate::detect::config::ConfigError::Invalid(_))
            ),
            "{bad}"
        );
    }
    let cfg =
        DetectConfig::from_json(r#"{"restricted_countries":["North Korea","Iran"]}"#).unwrap();
    assert!(cfg.restricted_country("north korea"));
    assert!(!cfg.restricted_country("South Korea"));
}

// --- admin_console_new_device_and_ip --------------------------------------------

fn admin_console(behaviors: &str, app: &str) -> Ev {
    Ev::new("policy.evaluate_sign_on")
        .outcome(
            "CHALLENGE",
            Some("Sign-on policy evaluation resulted in CHALLENGE"),
        )
        .target("AppInstance", "0oaadmin", app, app)
        .debug("behaviors", json!(behaviors))
}

#[test]
fn admin_console_from_a_new_device_and_ip_fires() {
    let ev = admin_console(
        "{New Geo-Location=NEGATIVE, New Device=POSITIVE, New IP=POSITIVE, Velocity=NEGATIVE}",
        "Okta Admin Console",
    );
    let f = finding("admin_console_new_device_and_ip", &ev);
    assert_eq!(f.facts["behaviors"], json!(["New Device", "New IP"]));
    assert!(f.summary.contains("Okta Admin Console"), "{}", f.summary);
}

#[test]
fn admin_console_with_a_known_device_or_ip_or_another_app_does_not() {
    let known = admin_console(
        "{New Device=NEGATIVE, New IP=NEGATIVE}",
        "Okta Admin Console",
    );
    let only_device = admin_console(
        "{New Device=POSITIVE, New IP=NEGATIVE}",
        "Okta Admin Console",
    );
    let dashboard = admin_console("{New Device=POSITIVE, New IP=POSITIVE}", "Okta Dashboard");
    for ev in [known, only_device, dashboard] {
        assert!(!fires("admin_console_new_device_and_ip", &ev));
    }
}

// --- password_in_username -------------------------------------------------------

const TYPED_SECRET: &str = "Winter2026!Pass";

#[test]
fn a_password_typed_as_username_fires_without_ever_being_repeated() {
    let ev = Ev::new("user.session.start")
        .unknown_user(TYPED_SECRET)
        .failure("VERIFICATION_ERROR");
    let records = ev.records();
    let f = finding("password_in_username", &ev);
    assert_eq!(
        f.principal.kind,
        PrincipalKind::Identity(IdentityKind::UnknownUser)
    );
    let mut texts = vec![
        f.summary.clone(),
        serde_json::to_string(&f).unwrap(),
        format!("{f:?}"),
    ];
    for r in &records {
        texts.push(serde_json::to_string(r).unwrap());
        texts.push(format!("{r:?}"));
    }
    for text in &texts {
        let lower = text.to_lowercase();
        assert!(
            !lower.contains(&TYPED_SECRET.to_lowercase()),
            "the typed text leaked: {text}"
        );
        assert!(
            !lower.contains("winter2026"),
            "part of the typed text leaked: {text}"
        );
    }
}

#[test]
fn a_login_typed_as_username_or_a_known_user_does_not() {
    assert!(!fires(
        "password_in_username",
        &Ev::new("user.session.start")
            .unknown_user("jsmith")
            .failure("VERIFICATION_ERROR")
    ));
    assert!(!fires(
        "password_in_username",
        &Ev::new("user.session.start").failure("INVALID_CREDENTIALS")
    ));
}

// --- refresh_token_reuse --------------------------------------------------------

#[test]
fn a_reused_refresh_token_fires_and_a_rotation_does_not() {
    let app = json!({"id": "0oaportal", "type": "PublicClientApp", "alternateId": "0oaportal", "displayName": "Portal"});
    for t in [
        "app.oauth2.as.token.detect_reuse",
        "app.oauth2.token.detect_reuse",
    ] {
        let ev = Ev::new(t)
            .actor(app.clone())
            .target("User", "00ubob", "bob@acme.com", "Bob");
        let f = finding("refresh_token_reuse", &ev);
        assert_eq!(f.facts["user"], json!("bob@acme.com"));
    }
    assert!(!fires(
        "refresh_token_reuse",
        &Ev::new("app.oauth2.as.token.grant.refresh_token").actor(app)
    ));
}

// --- user_risk_high -------------------------------------------------------------

#[test]
fn okta_raising_a_user_to_high_risk_fires() {
    let detect = Ev::new("user.risk.detect")
        .user("00ubob", "bob@acme.com")
        .debug("risk", json!("{level=HIGH, reasons=Anomalous Device}"));
    let f = finding("user_risk_high", &detect);
    assert_eq!(
        f.summary,
        "Okta raised bob@acme.com's risk to HIGH: Anomalous Device"
    );
    let change = Ev::new("user.risk.change").user("00ubob", "bob@acme.com").debug(
        "risk",
        json!("{previousLevel=LOW, level=HIGH, detectionName=Entity Critical Event, reasons=Session influenced}"),
    );
    assert!(fires("user_risk_high", &change));
}

#[test]
fn lower_or_falling_risk_and_risky_sign_ins_are_not_high_user_risk() {
    assert!(!fires(
        "user_risk_high",
        &Ev::new("user.risk.detect").debug("risk", json!("{level=MEDIUM}"))
    ));
    assert!(!fires(
        "user_risk_high",
        &Ev::new("user.risk.change").debug("risk", json!("{previousLevel=HIGH, level=LOW}"))
    ));
    assert!(!fires(
        "user_risk_high",
        &Ev::new("user.session.start").debug("risk", json!("{level=HIGH}"))
    ));
}

// --- account_locked -------------------------------------------------------------

#[test]
fn lockouts_fire_and_unlocks_do_not() {
    for t in ["user.account.lock", "user.account.lock.limit"] {
        let f = finding(
            "account_locked",
            &Ev::new(t)
                .user("00ubob", "bob@acme.com")
                .failure("LOCKED_OUT"),
        );
        assert_eq!(
            (f.severity, f.principal.identity.as_str()),
            (Severity::Low, "00ubob")
        );
    }
    assert!(!fires("account_locked", &Ev::new("user.account.unlock")));
    assert!(!fires(
        "account_locked",
        &Ev::new("user.account.unlock_by_admin")
    ));
}

// --- rate_limit_violation -------------------------------------------------------

#[test]
fn rate_limit_violations_fire_and_warnings_do_not() {
    for t in [
        "system.org.rate_limit.violation",
        "system.operation.rate_limit.violation",
        "system.client.rate_limit.violation",
        "system.client.concurrency_rate_limit.violation",
    ] {
        assert!(fires("rate_limit_violation", &Ev::new(t)), "{t}");
    }
    let f = finding(
        "rate_limit_violation",
        &Ev::new("system.operation.rate_limit.violation").target(
            "URL Pattern",
            "/api/v1/users",
            "unknown",
            "unknown",
        ),
    );
    assert!(
        f.summary
            .contains("exceeded an Okta operation rate limit on /api/v1/users"),
        "{}",
        f.summary
    );
    for benign in [
        "system.org.rate_limit.warning",
        "system.client.rate_limit.notification",
        "application.integration.rate_limit_exceeded",
    ] {
        assert!(!fires("rate_limit_violation", &Ev::new(benign)), "{benign}");
    }
}
