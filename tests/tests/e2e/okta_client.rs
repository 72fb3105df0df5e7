//! The System Log client against the fake Okta API: paging through opaque
//! cursors, the rate-limit share, 429, 500, hangs, late-visible events, OAuth
//! private_key_jwt with expiring tokens, and errors that name the problem
//! without echoing a credential.

use std::time::Duration;

use okta_itdr_core::source::{LogSource, SourceErrorKind};
use okta_itdr_core::time::{Millis, MINUTE};
use okta_itdr_e2e::fake_okta::{rsa_key_pair, FakeOkta, FakeOktaConfig, Fault};
use okta_itdr_e2e::{at, Ev};
use okta_itdr_okta::{ClientConfig, Credentials, OktaClient, OrgUrl, Secret};
use serde_json::Value;

const TOKEN: &str = "00fake-api-token-value";

fn events(n: usize, start: Millis) -> Vec<Value> {
    (0..n)
        .map(|i| {
            Ev::new("user.session.start")
                .at_ms(start + i as Millis * 1000)
                .json
        })
        .collect()
}

fn quick() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(400),
        backoff: Duration::from_millis(20),
        ..ClientConfig::default()
    }
}

fn client(okta: &FakeOkta, credentials: Credentials, config: ClientConfig) -> OktaClient {
    OktaClient::new(OrgUrl::parse(okta.url()).unwrap(), credentials, config).unwrap()
}

fn ssws() -> Credentials {
    Credentials::ApiToken(Secret::new(TOKEN))
}

/// Every event of `[since, until)`, page by page.
async fn fetch_all(
    c: &OktaClient,
    since: Millis,
    until: Millis,
) -> Result<Vec<String>, okta_itdr_core::source::SourceError> {
    let mut page = c.first_page(since, until).await?;
    let mut out = Vec::new();
    loop {
        out.extend(page.events);
        match page.next {
            Some(next) => page = c.next_page(&next).await?,
            None => return Ok(out),
        }
    }
}

fn uuids(events: &[String]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn pages_follow_opaque_next_links_until_the_window_is_read() {
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let start = at("2026-11-10T00:00:00Z");
    let all = events(2_500, start);
    okta.add_events(&all);
    let c = client(&okta, ssws(), quick());
    let got = fetch_all(&c, start, start + 2_000 * 1000).await.unwrap();
    let expected: Vec<String> = all[..2_000]
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        uuids(&got),
        expected,
        "each event of the window once, oldest first"
    );
    let requests = okta.requests();
    assert_eq!(requests.len(), 2, "1,000 per page: {requests:?}");
    assert_eq!(
        c.stats().pages.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn the_rate_share_is_never_exceeded_and_nothing_is_lost() {
    let okta = FakeOkta::start(FakeOktaConfig {
        rate_limit: 8,
        ..FakeOktaConfig::default()
    })
    .await;
    let start = at("2026-11-10T00:00:00Z");
    okta.add_events(&events(120, start));
    let c = client(
        &okta,
        ssws(),
        ClientConfig {
            page_size: 10,
            ..quick()
        },
    );
    let got = fetch_all(&c, start, start + 3_600_000).await.unwrap();
    assert_eq!(got.len(), 120);
    assert!(
        okta.max_requests_per_window() <= 4,
        "at most half of 8 per window: {}",
        okta.max_requests_per_window()
    );
    assert!(okta.requests().iter().all(|r| r.status == 200), "no 429");
    assert!(
        c.stats()
            .rate_waits
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
}

#[tokio::test]
async fn a_429_waits_for_the_reset_then_carries_on() {
    let okta = FakeOkta::start(FakeOktaConfig {
        rate_limit: 5,
        ..FakeOktaConfig::default()
    })
    .await;
    let start = at("2026-11-10T00:00:00Z");
    okta.add_events(&events(30, start));
    // The org's other integrations used the whole window already.
    okta.consume(5);
    let c = client(
        &okta,
        ssws(),
        ClientConfig {
            page_size: 10,
            rate_share: 1.0,
            ..quick()
        },
    );
    let got = fetch_all(&c, start, start + 3_600_000).await.unwrap();
    assert_eq!(got.len(), 30);
    let statuses: Vec<u16> = okta.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
    let windows: Vec<i64> = okta.requests().iter().map(|r| r.window).collect();
    assert!(
        windows[1] > windows[0],
        "the retry waited for the next window: {windows:?}"
    );
}

#[tokio::test]
async fn a_rate_limit_exhausted_for_long_is_a_clear_error() {
    let okta = FakeOkta::start(FakeOktaConfig {
        rate_limit: 2,
        window_secs: 30,
        ..FakeOktaConfig::default()
    })
    .await;
    okta.consume(2);
    let c = client(
        &okta,
        ssws(),
        ClientConfig {
            max_rate_wait: Duration::from_millis(200),
            ..quick()
        },
    );
    let err = c.first_page(0, 1).await.unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::RateLimited);
    assert!(err.to_string().contains("rate limit is exhausted"), "{err}");
}

#[tokio::test]
async fn a_500_and_a_hang_past_the_timeout_are_retried_without_loss() {
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let start = at("2026-11-10T00:00:00Z");
    okta.add_events(&events(25, start));
    okta.push_fault(Fault::ServerError);
    okta.push_fault(Fault::Hang(Duration::from_secs(3)));
    let c = client(
        &okta,
        ssws(),
        ClientConfig {
            page_size: 10,
            ..quick()
        },
    );
    let t = std::time::Instant::now();
    let got = fetch_all(&c, start, start + 3_600_000).await.unwrap();
    assert_eq!(got.len(), 25);
    assert_eq!(
        c.stats().retries.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the hang was cut at the timeout"
    );
    // Failing every attempt ends in a clear error.
    for _ in 0..4 {
        okta.push_fault(Fault::ServerError);
    }
    let err = c.first_page(start, start + 1).await.unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::Unavailable);
    assert!(err.to_string().contains("failed 4 times"), "{err}");
}

#[tokio::test]
async fn an_event_that_becomes_visible_later_shows_up_on_a_later_query() {
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let start = at("2026-11-10T00:00:00Z");
    okta.add_events(&events(3, start));
    let late = Ev::new("user.session.start").at_ms(start + 1500).json;
    okta.add_event_visible_from(&late, start + 5 * MINUTE);
    okta.set_clock(start + MINUTE);
    let c = client(&okta, ssws(), quick());
    assert_eq!(fetch_all(&c, start, start + 10_000).await.unwrap().len(), 3);
    okta.set_clock(start + 6 * MINUTE);
    let again = fetch_all(&c, start, start + 10_000).await.unwrap();
    assert_eq!(again.len(), 4);
    assert!(uuids(&again).contains(&late["uuid"].as_str().unwrap().to_owned()));
}

#[tokio::test]
async fn a_service_app_signs_its_assertion_caches_the_token_and_renews_it_on_401() {
    let (private, public) = rsa_key_pair();
    let okta = FakeOkta::start(FakeOktaConfig {
        api_token: None,
        service_app: Some(("0oaFakeServiceApp".into(), public)),
        ..FakeOktaConfig::default()
    })
    .await;
    let start = at("2026-11-10T00:00:00Z");
    okta.add_events(&events(30, start));
    let creds = Credentials::from_json(
        &serde_json::json!({"clientId": "0oaFakeServiceApp", "privateKeyPem": private, "keyId": "kid1"}).to_string(),
    )
    .unwrap();
    let c = client(
        &okta,
        creds,
        ClientConfig {
            page_size: 10,
            ..quick()
        },
    );
    assert_eq!(
        fetch_all(&c, start, start + 3_600_000).await.unwrap().len(),
        30
    );
    assert_eq!(okta.token_requests(), 1, "one token for three pages");
    okta.expire_tokens();
    assert_eq!(
        fetch_all(&c, start, start + 3_600_000).await.unwrap().len(),
        30
    );
    assert_eq!(okta.token_requests(), 2, "renewed once after the 401");
}

#[tokio::test]
async fn wrong_credentials_missing_scope_and_not_an_org_are_named_without_secrets() {
    let (private, public) = rsa_key_pair();
    let (other_private, _) = rsa_key_pair();
    let okta = FakeOkta::start(FakeOktaConfig {
        service_app: Some(("0oaFakeServiceApp".into(), public)),
        ..FakeOktaConfig::default()
    })
    .await;
    let wrong_token = Credentials::ApiToken(Secret::new("00WRONG-token-SECRET"));
    let err = client(&okta, wrong_token, quick())
        .first_page(0, 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::Unauthorized);
    assert!(
        err.to_string().contains("E0000011") && !err.to_string().contains("SECRET"),
        "{err}"
    );

    let wrong_key = Credentials::from_json(
        &serde_json::json!({"clientId": "0oaFakeServiceApp", "privateKeyPem": other_private})
            .to_string(),
    )
    .unwrap();
    let err = client(&okta, wrong_key, quick())
        .first_page(0, 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::Unauthorized);
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");

    let no_scope = FakeOkta::start(FakeOktaConfig {
        service_app: okta.config().service_app.clone(),
        grants_logs_read: false,
        ..FakeOktaConfig::default()
    })
    .await;
    let creds = Credentials::from_json(
        &serde_json::json!({"clientId": "0oaFakeServiceApp", "privateKeyPem": private}).to_string(),
    )
    .unwrap();
    let err = client(&no_scope, creds, quick())
        .first_page(0, 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("okta.logs.read"), "{err}");

    let not_okta = FakeOkta::start(FakeOktaConfig {
        serves_logs: false,
        ..FakeOktaConfig::default()
    })
    .await;
    let err = client(&not_okta, ssws(), quick())
        .first_page(0, 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind, SourceErrorKind::NotFound);
    assert!(err.to_string().contains("org URL"), "{err}");
}

#[tokio::test]
async fn logs_never_hold_a_key_token_or_assertion() {
    let (capture, _guard) = okta_itdr_e2e::LogCapture::start();
    let (private, public) = rsa_key_pair();
    let okta = FakeOkta::start(FakeOktaConfig {
        service_app: Some(("0oaFakeServiceApp".into(), public)),
        ..FakeOktaConfig::default()
    })
    .await;
    let start = at("2026-11-10T00:00:00Z");
    okta.add_events(&events(40, start));
    okta.push_fault(Fault::ServerError);
    let creds = Credentials::from_json(
        &serde_json::json!({"clientId": "0oaFakeServiceApp", "privateKeyPem": private, "keyId": "kid1"}).to_string(),
    )
    .unwrap();
    let c = client(
        &okta,
        creds,
        ClientConfig {
            page_size: 10,
            rate_share: 1.0,
            ..quick()
        },
    );
    assert_eq!(
        fetch_all(&c, start, start + 3_600_000).await.unwrap().len(),
        40
    );
    okta.expire_tokens();
    assert_eq!(
        fetch_all(&c, start, start + 3_600_000).await.unwrap().len(),
        40
    );
    let logs = capture.text();
    assert!(logs.contains("retrying"), "the fault was logged: {logs}");
    let key_line = private.lines().nth(3).unwrap();
    for secret in [key_line, "fake-access-", "eyJ", "Bearer ", "SSWS "] {
        assert!(!logs.contains(secret), "{secret:?} in the logs");
    }
}

#[tokio::test]
async fn the_inventory_reads_authenticator_enrolment_policies_and_a_denied_scope_leaves_them_unknown(
) {
    use okta_itdr_core::posture::Part;
    use okta_itdr_e2e::fake_inventory::FakeOrg;
    use okta_itdr_okta::InventoryOptions;

    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let now = at("2026-11-20T12:00:00Z");
    let mut org = FakeOrg::healthy(now);
    okta.set_org(org.clone());
    let c = client(
        &okta,
        Credentials::ApiToken(Secret::new("00fake-api-token-value")),
        ClientConfig::default(),
    );
    let options = InventoryOptions {
        now,
        mfa_grace_days: 14,
        factors_until: None,
    };
    let inv = c.inventory(&options).await.unwrap();
    let Part::Known(policies) = &inv.authenticator_policies else {
        panic!("{:?}", inv.authenticator_policies)
    };
    assert_eq!(policies.len(), 1, "only MFA_ENROLL policies: {policies:?}");
    assert_eq!(policies[0].required, ["okta_password", "okta_verify"]);
    assert_eq!(policies[0].optional, ["webauthn"]);

    org.denied.insert("okta.policies.read".into());
    okta.set_org(org);
    let inv = c.inventory(&options).await.unwrap();
    assert!(
        matches!(inv.authenticator_policies, Part::Unknown(_)),
        "{:?}",
        inv.authenticator_policies
    );
}
