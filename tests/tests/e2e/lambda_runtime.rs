//! The real function binaries, run as Lambda runs them: polling a Runtime API
//! (an emulator here) with the Lambda environment, storing into DynamoDB and
//! publishing to SNS (moto).

use std::time::Duration;

use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{function_binary, sample_event, Ev, FunctionProcess, TestEnv};
use serde_json::{json, Value};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

fn function_env(env: &TestEnv, names: &[&'static str]) -> Vec<(&'static str, String)> {
    let mut vars = env.env_vars(names);
    vars.push(("RUST_LOG", "info".into()));
    vars
}

/// Every line the process printed is one JSON object.
fn assert_json_lines(output: &[String]) {
    for line in output {
        assert!(
            serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()),
            "not a JSON log line: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_binary_serves_invocations() {
    let binary = tokio::task::spawn_blocking(|| function_binary("ingest"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-ingest").await;
    let api = RuntimeApi::start().await;
    let vars = function_env(
        &env,
        &[
            "ACTIVITY_TABLE",
            "HOUR_SHARDS",
            "RETENTION_DAYS",
            "USERNAME_HASH_KEY_SECRET",
        ],
    );
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-ingest", &vars);

    let signin = sample_event("signin-success.json");
    let outcome = api
        .invoke(&signin, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    let response = outcome.response();
    assert_eq!(response["outcome"], "stored", "{response}");
    assert_eq!(response["uuid"], signin["detail"]["uuid"]);
    let actor = signin["detail"]["actor"]["id"].as_str().expect("actor id");
    assert_eq!(
        env.partition(&env.activity_table, &format!("U#{actor}"))
            .await
            .len(),
        1,
        "the record is in DynamoDB"
    );

    let again = api
        .invoke(&signin, INVOKE_TIMEOUT)
        .await
        .expect("redelivery");
    assert_eq!(again.response()["outcome"], "duplicate");

    let unknown = sample_event("signin-failure-unknown-user.json");
    let typed = unknown["detail"]["actor"]["alternateId"]
        .as_str()
        .expect("typed")
        .to_owned();
    assert_eq!(
        api.invoke(&unknown, INVOKE_TIMEOUT)
            .await
            .expect("unknown user")
            .response()["outcome"],
        "stored"
    );

    let items = env.count(&env.activity_table).await;
    let refused = api
        .invoke(&sample_event("non-okta-event.json"), INVOKE_TIMEOUT)
        .await
        .expect("non-Okta event");
    let (_, body) = refused.error();
    assert_eq!(body["errorType"], "Rejected", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("aws.ec2")),
        "{body}"
    );

    let garbage = api
        .invoke(&json!("not an event"), INVOKE_TIMEOUT)
        .await
        .expect("garbage");
    assert_eq!(garbage.error().1["errorType"], "InvalidEvent");
    assert_eq!(
        env.count(&env.activity_table).await,
        items,
        "refused events write nothing"
    );

    // Still serving after failed invocations.
    let late = Ev::new("user.session.start").at("2020-01-01T00:00:00Z");
    let r = api
        .invoke(&late.envelope(), INVOKE_TIMEOUT)
        .await
        .expect("late event");
    assert_eq!(r.response()["late"], true);
    assert!(process.running(), "the runtime keeps polling");
    process.kill().await;

    let output = process.output();
    assert_json_lines(&output);
    let text = output.join("\n");
    assert!(
        !text.contains(&typed),
        "the typed password reached the logs"
    );
    assert!(!text.contains("alice@acme.com"), "a login reached the logs");
    let outcomes: Vec<String> = output
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("okta_itdr"))
        })
        .filter_map(|v| v["outcome"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        outcomes,
        [
            "stored",
            "duplicate",
            "stored",
            "rejected",
            "rejected",
            "stored"
        ],
        "{text}"
    );
    assert_eq!(api.served(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_binary_runs_on_schedule() {
    let binary = tokio::task::spawn_blocking(|| function_binary("detect"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-detect").await;
    let (topic, _queue) = env.topic_with_queue(false).await;
    let api = RuntimeApi::start().await;
    let mut vars = function_env(
        &env,
        &[
            "ACTIVITY_TABLE",
            "STATE_TABLE",
            "HOUR_SHARDS",
            "RETENTION_DAYS",
            "BASELINE_DAYS",
        ],
    );
    vars.push(("ALERT_TOPIC_ARN", topic));
    vars.push(("DETECTIONS_CONFIG", r#"{"first_run_hours": 2}"#.into()));
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-detect", &vars);

    let scheduled = json!({
        "version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-10T11:05:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/okta-itdr-hourly"], "detail": {}
    });
    let outcome = api
        .invoke(&scheduled, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    let report = outcome.response();
    assert_eq!(
        report["hours"],
        json!(["2026-11-10T09", "2026-11-10T10"]),
        "{report}"
    );
    assert_eq!(report["next_hour"], "2026-11-10T11");
    assert_eq!(report["caught_up"], true);

    let bad = api
        .invoke(&json!({"time": "half past ten"}), INVOKE_TIMEOUT)
        .await
        .expect("bad time");
    assert_eq!(bad.error().1["errorType"], "InvalidEvent");

    let repeat = api
        .invoke(&scheduled, INVOKE_TIMEOUT)
        .await
        .expect("repeat");
    assert_eq!(
        repeat.response()["hours"],
        json!([]),
        "the watermark moved on"
    );
    process.kill().await;
    assert_json_lines(&process.output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_reported_as_an_init_error() {
    let binary = tokio::task::spawn_blocking(|| function_binary("ingest"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-badkey").await;
    let secret = okta_itdr_e2e::unique("short-key");
    env.put_secret(&secret, "too-short").await;
    let api = RuntimeApi::start().await;
    let vars = vec![
        ("ACTIVITY_TABLE", "unused".to_owned()),
        ("USERNAME_HASH_KEY_SECRET", secret),
    ];
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-ingest", &vars);
    let status = process
        .exit_status(Duration::from_secs(30))
        .await
        .expect("the process exits");
    assert!(!status.success());
    let report = api.init_error().expect("an /init/error report");
    assert_eq!(
        report["errorType"], "Runtime.InvalidConfiguration",
        "{report}"
    );
    assert!(
        report["body"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("USERNAME_HASH_KEY")),
        "{report}"
    );
    let text = process.output().join("\n");
    assert!(
        !text.contains("too-short"),
        "the key reached the logs: {text}"
    );
    assert_eq!(api.served(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_level_prints_event_bodies_or_the_key() {
    let binary = tokio::task::spawn_blocking(|| function_binary("ingest"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-trace").await;
    let q = okta_itdr_e2e::recovery_kit::queues(&env).await;
    let api = RuntimeApi::start().await;
    let mut vars = function_env(
        &env,
        &[
            "ACTIVITY_TABLE",
            "HOUR_SHARDS",
            "RETENTION_DAYS",
            "USERNAME_HASH_KEY_SECRET",
        ],
    );
    vars.retain(|(k, _)| *k != "RUST_LOG");
    vars.push(("RUST_LOG", "trace".into()));
    vars.push(("AWS_LAMBDA_LOG_LEVEL", "TRACE".into()));
    vars.push(("RECOVERY_QUEUE_URL", q.recovery_url.clone()));
    vars.push(("FINAL_DLQ_URL", q.final_url.clone()));
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-ingest", &vars);

    let typed = "Hunter2-Winter2026!Pass";
    let stored = Ev::new("user.session.start")
        .unknown_user(typed)
        .failure("INVALID_CREDENTIALS");
    let outcome = api
        .invoke(&stored.envelope(), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert_eq!(outcome.response()["outcome"], "stored");
    // Refused, so its whole body goes to the final queue through the SDK.
    let mut refused = Ev::new("user.session.start").unknown_user(typed).envelope();
    refused["detail-type"] = json!("Not SystemLog");
    let outcome = api.invoke(&refused, INVOKE_TIMEOUT).await.expect("refused");
    assert_eq!(outcome.response()["outcome"], "dead_lettered");
    // And through the recovery path, wrapped as Lambda's destination record.
    env.sqs
        .send_message()
        .queue_url(&q.recovery_url)
        .message_body(
            okta_itdr_e2e::recovery_kit::destination_record(
                &Ev::new("user.session.start").unknown_user(typed).envelope(),
            )
            .to_string(),
        )
        .send()
        .await
        .expect("send");
    let messages = okta_itdr_e2e::recovery_kit::receive(&env, &q.recovery_url, 20).await;
    let batch = okta_itdr_e2e::recovery_kit::sqs_event(&messages, &q.recovery_arn, None);
    let outcome = api.invoke(&batch, INVOKE_TIMEOUT).await.expect("batch");
    assert_eq!(outcome.response()["batchItemFailures"], json!([]));
    process.kill().await;

    let output = process.output();
    assert_json_lines(&output);
    let text = output.join("\n");
    assert!(!text.contains(typed), "a typed password reached the logs");
    assert!(!text.contains("Hunter2"), "part of it reached the logs");
    assert!(
        !text.contains(okta_itdr_e2e::HASH_KEY),
        "the hash key reached the logs"
    );
    // One EMF line per invocation, with the right counts.
    let emf: Vec<Value> = output
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 3, "{text}");
    assert_eq!(emf[0]["EventsStored"], 1);
    assert_eq!(emf[1]["EventsDeadLettered"], 1);
    assert_eq!(emf[1]["EventsRejected"], 1);
    assert_eq!(emf[2]["EventsRecovered"], 1);
    assert_eq!(emf[2]["Function"], "ingest");
}
