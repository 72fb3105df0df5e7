//! The functions' metric lines reach CloudWatch at every application log level:
//! the real binaries run under the Runtime API emulator with Lambda's reserved
//! environment (`AWS_LAMBDA_LOG_FORMAT=JSON`, `AWS_LAMBDA_LOG_LEVEL`), and what
//! they print goes through Lambda's documented log-level filter
//! (`okta_itdr_e2e::lambda_logs`) before the EMF documents are read.

use std::time::Duration;

use okta_itdr_e2e::lambda_logs::{self, LEVELS};
use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{function_binary, sample_event, scheduled_event, FunctionProcess, TestEnv};
use serde_json::Value;

const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// `RUST_LOG` as the template sets it (`LogLevel`, trace..error) for a Lambda
/// level; FATAL is not a `LogLevel`: a deployment at `error` whose Lambda level
/// was lowered by hand.
fn rust_log(level: &str) -> String {
    match level {
        "FATAL" => "error".into(),
        l => l.to_ascii_lowercase(),
    }
}

fn vars(env: &TestEnv, names: &[&'static str], level: &str) -> Vec<(&'static str, String)> {
    let mut v = env.env_vars(names);
    v.push(("RUST_LOG", rust_log(level)));
    v.push(("AWS_LAMBDA_LOG_LEVEL", level.to_owned()));
    v
}

/// Runs `binary` once with `payload` at `level`; everything it printed.
async fn run_once(
    binary: &std::path::Path,
    name: &str,
    vars: &[(&'static str, String)],
    payload: &Value,
) -> Vec<String> {
    let api = RuntimeApi::start().await;
    let mut process = FunctionProcess::spawn(binary, &api.address(), name, vars);
    let outcome = api
        .invoke(payload, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    outcome.response();
    // The EMF line is printed before the response is posted; give the pipe a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline
        && lambda_logs::emf_documents(&process.output()).is_empty()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    process.kill().await;
    process.output()
}

/// The metric line Lambda sends at `level`, with `metric` = `want`; and proof
/// that the same line without its level would have been dropped above INFO.
fn assert_metric_survives(output: &[String], level: &str, metric: &str, want: i64) {
    let sent = lambda_logs::filter(output, Some("JSON"), Some(level));
    let emf = lambda_logs::emf_documents(&sent);
    assert_eq!(emf.len(), 1, "{level}: {sent:#?}\nprinted: {output:#?}");
    assert_eq!(emf[0][metric], want, "{level}: {}", emf[0]);
    // Everything is sent in the text format.
    assert_eq!(
        lambda_logs::filter(output, Some("Text"), Some(level)).len(),
        output.len()
    );
    let mut unlevelled = emf[0].clone();
    unlevelled.as_object_mut().expect("object").remove("level");
    let dropped = !lambda_logs::sent(&unlevelled.to_string(), Some("JSON"), Some(level));
    let above_info = LEVELS.iter().position(|l| *l == level) > Some(2);
    assert_eq!(
        dropped, above_info,
        "{level}: without a level the line is INFO"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_lines_survive_every_lambda_log_level() {
    let (ingest, detect) =
        tokio::task::spawn_blocking(|| (function_binary("ingest"), function_binary("detect")))
            .await
            .expect("build");
    let env = TestEnv::new("loglevels").await;
    let (topic, _queue) = env.topic_with_queue(false).await;
    let signin = sample_event("signin-success.json");
    for (i, level) in LEVELS.iter().enumerate() {
        let ingest_vars = vars(
            &env,
            &[
                "ACTIVITY_TABLE",
                "HOUR_SHARDS",
                "RETENTION_DAYS",
                "USERNAME_HASH_KEY_SECRET",
            ],
            level,
        );
        let mut event = signin.clone();
        // A new event each time, so each is stored rather than found already stored.
        event["detail"]["uuid"] = Value::String(format!("c0ffee00-0000-4000-8000-00000000000{i}"));
        let printed = run_once(&ingest, "okta-itdr-ingest", &ingest_vars, &event).await;
        assert_metric_survives(&printed, level, "EventsStored", 1);

        let mut detect_vars = vars(
            &env,
            &[
                "ACTIVITY_TABLE",
                "STATE_TABLE",
                "HOUR_SHARDS",
                "RETENTION_DAYS",
                "BASELINE_DAYS",
            ],
            level,
        );
        detect_vars.push(("ALERT_TOPIC_ARN", topic.clone()));
        detect_vars.push(("DETECTIONS_CONFIG", r#"{"first_run_hours": 2}"#.into()));
        let printed = run_once(
            &detect,
            "okta-itdr-detect",
            &detect_vars,
            &scheduled_event(&format!("2026-11-10T1{i}:05:00Z")),
        )
        .await;
        assert_metric_survives(&printed, level, "RunsSucceeded", 1);
    }
}

#[test]
fn every_level_the_template_can_set_is_drilled() {
    let template = okta_itdr_e2e::template();
    let allowed = template["Parameters"]["LogLevel"]["AllowedValues"]
        .as_sequence()
        .expect("LogLevel values");
    assert!(!allowed.is_empty());
    for value in allowed {
        let name = value.as_str().expect("a string");
        let application = template["Mappings"]["LogLevels"][name]["Application"]
            .as_str()
            .unwrap_or_else(|| panic!("no Lambda level for {name}"));
        assert!(LEVELS.contains(&application), "{name} -> {application}");
        assert_eq!(
            rust_log(application),
            name,
            "RUST_LOG as the template sets it"
        );
    }
}
