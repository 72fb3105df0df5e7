//! Ingest to alert, through the Lambda handlers and real wire APIs: events go in
//! through the ingest handler, hourly runs of the detect handler analyse them,
//! and alerts come out of an SQS queue subscribed to the SNS topic.

use okta_itdr_testkit::Typed;
use std::collections::BTreeSet;
use std::time::Duration;

use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use okta_itdr_aws::handlers::LambdaDetector;
use okta_itdr_aws::{DetectHandler, IngestHandler};
use okta_itdr_core::detect::run::RunReport;
use okta_itdr_core::ports::StateStore;
use okta_itdr_core::time::{Millis, MINUTE, SECOND};
use okta_itdr_e2e::{at, scheduled_event, Ev, Notification, TestEnv};
use serde_json::json;

/// The first run looks back two hours, not a day, to keep runs small.
const DETECTIONS: &str = r#"{"first_run_hours": 2}"#;
const QUIET: Duration = Duration::from_millis(700);
const MAX_WAIT: Duration = Duration::from_secs(15);

fn user(ev: Ev, id: &str, login: &str, ip: &str) -> Ev {
    let name = login.split('@').next().unwrap_or(login);
    ev.user(id, login)
        .ip(ip)
        .session(&format!("102{name}"), &format!("idx{name}"))
        .debug("dtHash", json!(format!("dt-{name}")))
}

/// Six denied pushes for bob in six minutes, then an approval from the same IP.
fn push_bombing(start: &str) -> Vec<Ev> {
    let t0 = at(start);
    let mut events: Vec<Ev> = (0..6)
        .map(|i| {
            user(
                Ev::new("user.mfa.okta_verify.deny_push"),
                "00ubob",
                "bob@acme.com",
                "185.220.101.47",
            )
            .outcome("FAILURE", Some("User rejected Okta push verify"))
            .debug("factor", json!("OKTA_VERIFY_PUSH"))
            .at_ms(t0 + i * MINUTE)
        })
        .collect();
    events.push(
        user(
            Ev::new("user.authentication.auth_via_mfa"),
            "00ubob",
            "bob@acme.com",
            "185.220.101.47",
        )
        .debug("factor", json!("OKTA_VERIFY_PUSH"))
        .at_ms(t0 + 7 * MINUTE),
    );
    events
}

/// Twelve failed sign-ins for one user from one address.
fn brute_force(id: &str, login: &str, ip: &str, start: &str) -> Vec<Ev> {
    let t0 = at(start);
    (0..12)
        .map(|i| {
            user(Ev::new("user.session.start"), id, login, ip)
                .failure("INVALID_CREDENTIALS")
                .at_ms(t0 + i * 100 * SECOND)
        })
        .collect()
}

fn benign(start: &str) -> Vec<Ev> {
    let t0 = at(start);
    (0..3)
        .map(|i| {
            user(
                Ev::new("user.session.start"),
                "00ucarol",
                "carol@acme.com",
                "73.92.10.5",
            )
            .at_ms(t0 + i * 15 * MINUTE)
        })
        .collect()
}

async fn ingest_all(
    handler: &IngestHandler<okta_itdr_aws::DynamoActivityStore>,
    events: &[Ev],
    arrived: impl Fn(Millis) -> Millis,
) -> usize {
    let mut late = 0;
    for ev in events {
        let t = arrived(ev.event().published);
        let r = handler
            .handle(LambdaEvent::new(ev.envelope(), Context::default()), t)
            .await
            .expect("ingest");
        assert_eq!(r.outcome, "stored");
        late += usize::from(r.late);
    }
    late
}

async fn run(detect: &LambdaDetector, time: &str) -> RunReport {
    let event = LambdaEvent::new(scheduled_event(time), Context::default());
    detect
        .handle(event, 0)
        .await
        .unwrap_or_else(|e| panic!("run at {time}: {e}"))
}

fn keys(alerts: &[Notification]) -> BTreeSet<(String, String)> {
    alerts
        .iter()
        .map(|n| {
            (
                n.attribute("detection").to_owned(),
                n.attribute("principal").to_owned(),
            )
        })
        .collect()
}

fn pair(d: &str, p: &str) -> (String, String) {
    (d.to_owned(), p.to_owned())
}

#[tokio::test]
async fn hourly_runs_alert_once_per_attack_including_late_events() {
    let env = TestEnv::new("detect").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let ingest = env.ingest_handler();
    let detect = env.detect_handler(&topic, DETECTIONS);
    let on_time = |t: Millis| t + 20 * SECOND;

    // Hour 10: bob is push-bombed and gives in; carol works normally.
    ingest_all(&ingest, &push_bombing("2026-11-10T10:10:00Z"), on_time).await;
    ingest_all(&ingest, &benign("2026-11-10T10:05:00Z"), on_time).await;

    let r1 = run(&detect, "2026-11-10T11:05:00Z").await;
    assert_eq!(r1.hours, ["2026-11-10T09", "2026-11-10T10"]);
    assert_eq!(
        (r1.published, r1.next_hour.as_str(), r1.caught_up),
        (1, "2026-11-10T11", true),
        "{r1:?}"
    );
    let first = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(
        keys(&first),
        BTreeSet::from([pair("mfa_push_bombing", "bob@acme.com")])
    );
    let bob = &first[0];
    assert_eq!(
        bob.attribute("severity"),
        "CRITICAL",
        "an approval after the bombing is critical"
    );
    assert!(
        bob.subject
            .as_deref()
            .is_some_and(|s| s.starts_with("[CRITICAL]") && s.contains("bob@acme.com")),
        "{:?}",
        bob.subject
    );
    let finding = bob.finding();
    assert_eq!(finding["class_uid"], 2004);
    assert_eq!(
        finding["finding_info"]["analytic"]["uid"],
        "mfa_push_bombing"
    );

    // Hour 11: dave is brute-forced, on time.
    ingest_all(
        &ingest,
        &brute_force(
            "00udave",
            "dave@acme.com",
            "188.166.104.27",
            "2026-11-10T11:00:00Z",
        ),
        on_time,
    )
    .await;
    ingest_all(&ingest, &benign("2026-11-10T11:30:00Z")[..1], on_time).await;
    let r2 = run(&detect, "2026-11-10T12:05:00Z").await;
    assert_eq!(
        (r2.hours.as_slice(), r2.published),
        (&["2026-11-10T11".to_owned()][..], 1),
        "{r2:?}"
    );
    let second = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(
        keys(&second),
        BTreeSet::from([pair("brute_force_user", "dave@acme.com")])
    );

    // frank's brute force in hour 10 only reaches us at 12:20, long after hour 10 was analysed.
    let late = ingest_all(
        &ingest,
        &brute_force(
            "00ufrank",
            "frank@acme.com",
            "203.0.113.77",
            "2026-11-10T10:30:00Z",
        ),
        |_| at("2026-11-10T12:20:00Z"),
    )
    .await;
    assert_eq!(late, 12, "every one of frank's events arrived late");
    let r3 = run(&detect, "2026-11-10T13:05:00Z").await;
    assert_eq!(r3.hours, ["2026-11-10T12"], "{r3:?}");
    assert_eq!(
        r3.late_hours,
        ["2026-11-10T10"],
        "the late hour is re-checked: {r3:?}"
    );
    assert_eq!(r3.published, 1, "{r3:?}");
    assert!(
        r3.already_known >= 1,
        "bob's finding is found again and recognised: {r3:?}"
    );
    let third = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(
        keys(&third),
        BTreeSet::from([pair("brute_force_user", "frank@acme.com")])
    );

    // Running again (a retried or duplicated schedule) publishes nothing.
    for time in [
        "2026-11-10T13:05:00Z",
        "2026-11-10T13:20:00Z",
        "2026-11-10T12:05:00Z",
    ] {
        let again = run(&detect, time).await;
        assert_eq!(
            (again.published, again.retried),
            (0, 0),
            "{time}: {again:?}"
        );
    }
    assert!(
        env.notifications(&queue, QUIET, MAX_WAIT).await.is_empty(),
        "no alert twice"
    );
    assert!(env
        .state_store()
        .pending_findings()
        .await
        .expect("pending")
        .is_empty());
    let benign_alerts: Vec<_> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .filter(|n| n.attribute("principal").contains("carol"))
        .collect();
    assert!(
        benign_alerts.is_empty(),
        "the benign user raised {benign_alerts:?}"
    );
}

#[tokio::test]
async fn an_alert_that_failed_to_publish_is_delivered_by_the_next_run() {
    let env = TestEnv::new("detect-retry").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let ingest = env.ingest_handler();
    ingest_all(&ingest, &push_bombing("2026-11-10T10:10:00Z"), |t| {
        t + SECOND
    })
    .await;

    // The same tables, with an SNS that answers 500.
    let failing = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let broken_sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&env.sdk)
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::MatchAny)
                    .with_rule(&failing),
            )
            .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
            .build(),
    );
    let settings = env.detect_settings(&topic, DETECTIONS);
    let broken = DetectHandler::from_settings(&settings, env.dynamodb.clone(), broken_sns);
    let report = broken
        .handle(
            LambdaEvent::new(scheduled_event("2026-11-10T11:05:00Z"), Context::default()),
            0,
        )
        .await
        .expect("a refused publish does not fail the run");
    assert_eq!((report.failed, report.pending), (1, 1), "{report:?}");
    assert_eq!(
        env.state_store()
            .pending_findings()
            .await
            .expect("pending")
            .len(),
        1,
        "the finding waits, claimed"
    );
    assert_eq!(
        env.state_store()
            .load_watermark()
            .await
            .expect("watermark")
            .map(|w| w.next_hour.label()),
        Some(report.next_hour.clone()),
        "the watermark moved on"
    );

    // Retried by the next hourly run, once its delay has passed.
    let healthy = env.detect_handler(&topic, DETECTIONS);
    let report = run(&healthy, "2026-11-10T12:05:00Z").await;
    assert_eq!((report.retried, report.published), (1, 0), "{report:?}");
    let alerts = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(
        keys(&alerts),
        BTreeSet::from([pair("mfa_push_bombing", "bob@acme.com")])
    );
    assert_eq!(alerts.len(), 1, "delivered once");
    assert!(env
        .state_store()
        .pending_findings()
        .await
        .expect("pending")
        .is_empty());
}
