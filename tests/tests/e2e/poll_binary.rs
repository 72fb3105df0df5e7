//! The real `poll` binary under the Runtime API emulator: credentials from a
//! Secrets Manager secret (moto), a service app against the fake Okta API,
//! events into DynamoDB (moto) with the custom rules of an S3 folder (moto)
//! evaluated on them, and the deadline the Runtime API hands out.

use std::time::Duration;

use okta_itdr_core::ports::ActivityStore;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Hour, MINUTE};
use okta_itdr_e2e::fake_okta::{rsa_key_pair, FakeOkta, FakeOktaConfig};
use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{function_binary, scheduled_event, unique, Ev, FunctionProcess, TestEnv};
use serde_json::{json, Value};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_binary_reads_its_secret_polls_and_respects_the_deadline() {
    let binary = tokio::task::spawn_blocking(|| function_binary("poll"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-poll").await;
    let (private, public) = rsa_key_pair();
    let okta = FakeOkta::start(FakeOktaConfig {
        api_token: None,
        service_app: Some(("0oaPollFunction".into(), public)),
        ..FakeOktaConfig::default()
    })
    .await;
    let now = parse_rfc3339_ms("2026-11-20T12:00:00Z").unwrap();
    let events: Vec<Value> = (0..30)
        .map(|i| {
            Ev::new("user.session.start")
                .at_ms(now - 90 * MINUTE + i * MINUTE)
                .json
        })
        .collect();
    okta.add_events(&events);

    let secrets = aws_sdk_secretsmanager::Client::new(&env.sdk);
    let secret = unique("okta-itdr-okta-api");
    secrets
        .create_secret()
        .name(&secret)
        .secret_string(
            json!({"clientId": "0oaPollFunction", "privateKeyPem": private, "keyId": "kid-1"})
                .to_string(),
        )
        .send()
        .await
        .expect("create_secret");

    // A custom rule in S3: polled events meet the rules streamed ones do.
    let rule = "title: Polled sign-ins\nid: polled-sign-ins\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventtype: user.session.start\n  condition: sel\nlevel: low\n";
    let bucket = env
        .bucket(
            "poll-rules",
            &[("okta-rules/sign-ins.yml".into(), rule.into())],
        )
        .await;

    let api = RuntimeApi::start().await;
    let mut vars: Vec<(&str, String)> = [
        "ACTIVITY_TABLE",
        "STATE_TABLE",
        "HOUR_SHARDS",
        "RETENTION_DAYS",
        "USERNAME_HASH_KEY_SECRET",
    ]
    .iter()
    .map(|n| (*n, env.env_var(n).expect("value")))
    .collect();
    vars.extend([
        ("OKTA_ORG_URL", okta.url().to_owned()),
        ("OKTA_API_MODE", "primary".to_owned()),
        ("OKTA_API_CREDENTIALS_SECRET", secret.clone()),
        ("POLL_LOOKBACK_HOURS", "2".to_owned()),
        ("CUSTOM_RULES_URI", format!("s3://{bucket}/okta-rules/")),
        // The emulator gives each invocation 30 s.
        ("POLL_DEADLINE_MARGIN_SECONDS", "5".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
    ]);
    let process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-poll", &vars);

    let outcome = api
        .invoke(&scheduled_event(&format_rfc3339_ms(now)), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    let report = outcome.response().clone();
    assert_eq!(report["fetched"], 30, "{report}");
    assert_eq!(report["stored"], 30, "{report}");
    assert_eq!(report["deadlineHit"], false);
    let mut stored = Vec::new();
    for h in [Hour::of(now - 2 * 60 * MINUTE), Hour::of(now - 60 * MINUTE)] {
        stored.extend(env.activity_store().hour_activity(h).await.unwrap());
    }
    assert_eq!(stored.len(), 30, "the events are in DynamoDB");
    for record in &stored {
        let ids: Vec<&str> = record.details.rules.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["polled-sign-ins"], "{}", record.uuid);
    }

    // With more margin than the invocation has, no page is started.
    drop(process);
    let api = RuntimeApi::start().await;
    let mut tight = vars.clone();
    for v in tight.iter_mut() {
        if v.0 == "POLL_DEADLINE_MARGIN_SECONDS" {
            v.1 = "100".into();
        }
    }
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-poll", &tight);
    let later = now + 30 * MINUTE;
    let outcome = api
        .invoke(&scheduled_event(&format_rfc3339_ms(later)), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert_eq!(outcome.response()["deadlineHit"], true);
    assert_eq!(outcome.response()["pages"], 0);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = process.output().join("\n");
    assert!(output.contains("\"StreamMissed\""), "EMF metrics: {output}");
    let key_line = private.lines().nth(3).unwrap();
    for leak in [key_line, "fake-access-", "eyJ", "Bearer "] {
        assert!(!output.contains(leak), "{leak:?} in the function's output");
    }
    process.kill().await;
}
