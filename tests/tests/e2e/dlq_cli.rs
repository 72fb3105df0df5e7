//! `okta-itdr dlq list|redrive` against moto's SQS: what recovery put in the
//! final queue is listed by its reason without its content, and redriven to the
//! recovery queue, from where it is stored.

use okta_itdr_aws::dead_letters::SqsDeadLetters;
use okta_itdr_aws::handlers::counters;
use okta_itdr_aws::metrics::Metrics;
use okta_itdr_core::ports::DeadLetters;
use okta_itdr_e2e::recovery_kit::{handler, poll, queues, send};
use okta_itdr_e2e::{at, sample_event, Ev, TestEnv};

/// Runs the CLI binary against this test's moto server.
async fn run_cli(args: &[&str]) -> (String, String) {
    let args: Vec<String> = args[1..].iter().map(|a| a.to_string()).collect();
    let out = okta_itdr_e2e::run_cli(args, Vec::new()).await;
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    );
    assert!(out.status.success(), "okta-itdr failed:\n{stderr}");
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_without_content_and_redriven_into_storage() {
    let env = TestEnv::new("dlq-cli").await;
    let q = queues(&env).await;
    let ingest = handler(&env, &q, env.dynamodb.clone());
    let now = at("2026-11-10T12:00:00Z");
    // A refused event (not Okta's) and one whose text is a typed password.
    let mut metrics = Metrics::for_function("ingest");
    ingest
        .invoke_counted(sample_event("non-okta-event.json"), now, &mut metrics)
        .await
        .expect("dead-lettered");
    let secret_event = Ev::new("user.session.start")
        .unknown_user("Winter2026!Pass")
        .at("2026-11-10T11:00:00Z");
    let mut refused = secret_event.envelope();
    refused["detail-type"] = serde_json::json!("Not SystemLog");
    ingest
        .invoke_counted(refused.clone(), now, &mut metrics)
        .await
        .expect("dead-lettered");
    assert_eq!(metrics.get(counters::DEAD_LETTERED), Some(2.0));

    let (out, err) = run_cli(&[
        "okta-itdr",
        "dlq",
        "list",
        "--queue-url",
        &q.final_url,
        "--format",
        "json",
    ])
    .await;
    let listed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(listed.len(), 2, "{out}");
    assert!(err.contains("2 event(s)"), "{err}");
    assert!(
        !out.contains("Winter2026"),
        "no event content is printed: {out}"
    );
    let uuid = secret_event.json["uuid"].as_str().unwrap();
    let mine = listed
        .iter()
        .find(|l| l["uuid"] == uuid)
        .expect("listed by uuid");
    assert_eq!(mine["reason_code"], "Rejected");
    assert_eq!(mine["event_type"], "user.session.start");
    assert!(
        mine["reason"].as_str().unwrap().contains("detail-type"),
        "{mine}"
    );
    // Listing leaves them in the queue.
    let adapter = SqsDeadLetters::new(env.sqs.clone(), &q.final_url, Some(q.recovery_url.clone()));
    assert_eq!(adapter.list(10).await.expect("list again").len(), 2);
    let (table, _) = run_cli(&[
        "okta-itdr",
        "dlq",
        "list",
        "--queue-url",
        &q.final_url,
        "--format",
        "table",
    ])
    .await;
    assert!(table.starts_with("FAILED AT"), "{table}");
    assert!(
        table.contains(uuid) && !table.contains("Winter2026"),
        "{table}"
    );

    // An event that failed for a cause since fixed waits there too; the operator
    // redrives everything: the valid event is stored, the refused ones come back.
    let ok = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T11:30:00Z");
    send(&env, &q.final_url, &ok.envelope().to_string()).await;
    let (out, _) = run_cli(&[
        "okta-itdr",
        "dlq",
        "redrive",
        "--queue-url",
        &q.final_url,
        "--to",
        &q.recovery_url,
    ])
    .await;
    assert!(out.contains("3 event(s) sent back"), "{out}");
    assert!(
        adapter.list(10).await.expect("list").is_empty(),
        "the final queue is empty"
    );
    let mut metrics = Metrics::for_function("ingest");
    loop {
        let (seen, _) = poll(&env, &q, &ingest, at("2026-11-10T12:30:00Z"), &mut metrics).await;
        if seen == 0 {
            break;
        }
    }
    assert_eq!(
        metrics.get(counters::RECOVERED),
        Some(1.0),
        "the valid event is stored"
    );
    assert_eq!(
        metrics.get(counters::DEAD_LETTERED),
        Some(2.0),
        "the refused ones go back to the final queue, reason and all"
    );
    assert_eq!(adapter.list(10).await.expect("list").len(), 2);
}
