//! `okta-itdr replay` publishes exactly what the deployed functions publish.
//!
//! The scenario events go through the ingest handler into DynamoDB (moto), each
//! arriving when it was published, with the detect handler invoked on the hourly
//! schedule (five past each hour) and its findings published to SNS (moto) and
//! read back from a subscribed SQS queue. The same files go through the CLI
//! binary. Both must publish the same findings: same uid, detection, severity,
//! and the same OCSF body. Both run the custom rules and correlations of
//! `tests/rules/`: the CLI from a directory, the functions from the rules
//! uploaded to S3 (moto).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use okta_itdr_aws::rules::RulesLocation;
use okta_itdr_aws::DetectHandler;
use okta_itdr_core::detect::fast::FastPath;
use okta_itdr_core::detect::run::Detector;
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ports::{StateStore, Watermark};
use okta_itdr_core::replay::SCHEDULE_OFFSET;
use okta_itdr_core::sigma::RuleSet;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Hour, Millis};
use okta_itdr_e2e::{repo_root, TestEnv, HASH_KEY};
use serde_json::{json, Value};

fn scenario_files() -> Vec<PathBuf> {
    let dir = repo_root().join("events/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("events/scenarios")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Every scenario event (EventBridge envelopes), in (published, uuid) order.
fn scenario_events(files: &[PathBuf]) -> Vec<(Millis, String, Value)> {
    let mut events: Vec<(Millis, String, Value)> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(&l).expect("scenario line is JSON");
            let published = parse_rfc3339_ms(v["detail"]["published"].as_str().expect("published"))
                .expect("RFC 3339");
            (
                published,
                v["detail"]["uuid"].as_str().expect("uuid").to_owned(),
                v,
            )
        })
        .collect();
    events.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    events
}

/// Uploads a directory's rules to a fresh bucket (moto) and reads them back as
/// the functions do at start-up.
async fn custom_rules_in_s3(env: &TestEnv, dir: &Path) -> RuleSet {
    let objects: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("rules directory")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("name");
            (
                format!("okta-rules/{name}"),
                std::fs::read_to_string(&p).expect("rule"),
            )
        })
        .collect();
    let bucket = env.bucket("cli-vs-lambda-rules", &objects).await;
    let at = RulesLocation::parse(&format!("s3://{bucket}/okta-rules/")).expect("location");
    okta_itdr_aws::rules::load(&okta_itdr_aws::rules::client(&env.sdk), &at)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What is compared: finding uid, detection, severity.
fn key(finding: &Value) -> (String, String, String) {
    let text = |v: &Value| {
        v.as_str()
            .unwrap_or_else(|| panic!("not a string in finding: {finding}"))
            .to_owned()
    };
    (
        text(&finding["finding_info"]["uid"]),
        text(&finding["finding_info"]["analytic"]["uid"]),
        text(&finding["severity"]),
    )
}

#[tokio::test]
async fn the_cli_replay_publishes_what_the_functions_publish() {
    let files = scenario_files();
    let events = scenario_events(&files);
    assert!(events.len() > 400, "the scenarios are all there");

    // The CLI.
    // The example rules and the example correlations, in one folder.
    let rules_tmp = tempfile::tempdir().expect("temp dir");
    for dir in ["tests/rules/okta", "tests/rules/okta-correlations"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).expect("rules directory") {
            let path = entry.expect("entry").path();
            std::fs::copy(
                &path,
                rules_tmp.path().join(path.file_name().expect("name")),
            )
            .expect("copy rule");
        }
    }
    let rules_dir = rules_tmp.path().to_path_buf();
    let out = Command::new(okta_itdr_e2e::cli_binary())
        .args(["replay", "--format", "json", "--rules"])
        .arg(&rules_dir)
        .args(&files)
        .env("OKTA_ITDR_HASH_KEY", HASH_KEY)
        .output()
        .expect("running okta-itdr");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "okta-itdr replay failed:\n{stderr}");
    let cli_bodies: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect();
    let cli: Vec<Value> = cli_bodies
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("CLI line is not JSON ({e}): {l}"))
        })
        .collect();

    // The functions, on the deployed schedule.
    let env = TestEnv::new("cli-vs-lambda").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    // The same rules, from the deployment's S3 folder.
    let rules = custom_rules_in_s3(&env, &rules_dir).await;
    assert_eq!((rules.len(), rules.correlations().len()), (5, 2));
    // The detect function runs the correlations, as its start-up loads them.
    let config = DetectConfig {
        correlations: rules.correlations(),
        ..DetectConfig::default()
    };
    // Ingest runs the fast path, as deployed: what pages alone is published
    // from it, as the CLI's replay does.
    let ingest = env
        .ingest_handler()
        .with_rules(Some(Arc::new(rules)))
        .with_fast_path(FastPath::new(
            env.state_store(),
            env.sink(&topic),
            config.clone(),
        ));
    let detect = DetectHandler::new(Detector::new(
        env.activity_store(),
        env.state_store(),
        env.sink(&topic),
        config,
    ));
    let first = Hour::of(events[0].0);
    let last = Hour::of(events[events.len() - 1].0);
    // As the CLI does: analyse from the first event's hour, not the first-run default.
    env.state_store()
        .save_watermark(
            &Watermark {
                next_hour: first,
                late_checked_until: first.start(),
                learn_until: None,
                history_pending: false,
            },
            None,
        )
        .await
        .expect("watermark");
    let mut next_run = first.next();
    let mut runs = 0;
    let run_at = |hour: Hour| json!({"version": "0", "id": format!("schedule-{}", hour.label()), "detail-type": "Scheduled Event", "source": "aws.events", "time": format_rfc3339_ms(hour.start() + SCHEDULE_OFFSET), "detail": {}});
    for (published, uuid, envelope) in &events {
        while next_run.start() + SCHEDULE_OFFSET <= *published {
            detect
                .handle_payload(&run_at(next_run), 0)
                .await
                .unwrap_or_else(|e| panic!("detect run for {next_run}: {e}"));
            next_run = next_run.next();
            runs += 1;
        }
        let response = ingest
            .handle_payload(envelope.clone(), *published)
            .await
            .unwrap_or_else(|e| panic!("ingesting {uuid}: {e}"));
        assert!(!response.late, "{uuid} arrived when it was published");
    }
    while next_run <= last.next() {
        detect
            .handle_payload(&run_at(next_run), 0)
            .await
            .unwrap_or_else(|e| panic!("detect run for {next_run}: {e}"));
        next_run = next_run.next();
        runs += 1;
    }
    assert_eq!(
        runs as i64,
        last.next().0 - first.0,
        "one run per hour, as scheduled"
    );
    let notifications = env
        .notifications(&queue, Duration::from_secs(2), Duration::from_secs(60))
        .await;
    let lambda_bodies: Vec<String> = notifications.iter().map(|n| n.message.clone()).collect();
    let lambda: Vec<Value> = notifications.iter().map(|n| n.finding()).collect();

    let cli_keys: BTreeSet<_> = cli.iter().map(key).collect();
    let lambda_keys: BTreeSet<_> = lambda.iter().map(key).collect();
    // Single-event and windowed detections, including one whose window spans
    // an hour boundary and ones that judge against the baseline, are compared,
    // as alerts or as contributors listed in one (OCSF related_analytics).
    let detections: BTreeSet<&str> = cli
        .iter()
        .flat_map(|f| {
            let related = f["finding_info"]["related_analytics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["uid"].as_str());
            f["finding_info"]["analytic"]["uid"]
                .as_str()
                .into_iter()
                .chain(related)
        })
        .collect();
    for id in [
        "log_stream_tampering",
        "brute_force_user",
        "mfa_push_bombing",
        "new_country",
        // The custom rules' ids.
        "0b3c5a2e-8f4d-4a6e-9c1b-7d2e3f4a5b6c",
        "50e068d7-1e6b-4054-87e5-0a592c40c7e0",
        "1667a172-ed4c-463c-9969-efd92195319a",
        // The correlations' ids.
        "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b",
        "5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c",
    ] {
        assert!(
            detections.contains(id),
            "{id} is not among the CLI's findings {detections:?}:\n{stderr}"
        );
    }
    assert_eq!(cli_keys.len(), cli.len(), "the CLI printed a finding twice");
    assert_eq!(
        lambda_keys.len(),
        lambda.len(),
        "SNS received a finding twice"
    );
    let only_cli: Vec<_> = cli_keys.difference(&lambda_keys).collect();
    let only_lambda: Vec<_> = lambda_keys.difference(&cli_keys).collect();
    assert!(only_cli.is_empty() && only_lambda.is_empty(), "findings differ\nonly from the CLI: {only_cli:#?}\nonly from the functions: {only_lambda:#?}");
    // Byte for byte the same messages.
    let cli_set: BTreeSet<&String> = cli_bodies.iter().collect();
    let lambda_set: BTreeSet<&String> = lambda_bodies.iter().collect();
    assert_eq!(cli_set, lambda_set, "same findings, different OCSF bodies");
}
