//! Every alarm of the template is raised by a drill, evaluated as CloudWatch
//! does (`okta_itdr_e2e::alarms`), and no other alarm fires in that drill.
//!
//! The functions' own metrics come from their handlers (on moto) or the
//! builders they print with, through Lambda's log-level filter at the
//! strictest `LogLevel`; AWS's metrics (Lambda errors and throttles, SQS queue
//! age, EventBridge and destination delivery failures) are what the drill's
//! fault makes AWS publish. Drills in other files (the DynamoDB outage, SNS
//! refusing a finding) evaluate their own timelines the same way.

use std::collections::BTreeSet;

use okta_itdr_aws::metrics::{Metrics, Unit};
use okta_itdr_aws::DetectHandler;
use okta_itdr_core::time::format_rfc3339_ms;
use okta_itdr_e2e::alarms::{
    lambda, sqs, template_alarms, Deployment, Drill, DRILLS, DRILL_LOG_LEVEL, MINUTE_MS,
};
use okta_itdr_e2e::{at, recovery_kit, scheduled_event, Ev, LogCapture, TestEnv};
use serde_json::json;

const HOUR: i64 = 60 * MINUTE_MS;

/// Six hours of a deployment, with a day of healthy history before.
fn six_hours(deployment: Deployment) -> Drill {
    Drill::new(
        deployment,
        at("2026-11-20T06:00:00Z"),
        at("2026-11-20T12:00:00Z"),
    )
}

/// Every `step` in [from, to).
fn every(from: i64, to: i64, step: i64) -> impl Iterator<Item = i64> {
    (0..)
        .map(move |i| from + i * step)
        .take_while(move |t| *t < to)
}

/// A poll run's EMF line, as the poll function prints it.
fn poll_line(t: i64, f: impl FnOnce(&mut Metrics)) -> String {
    let mut m = Metrics::for_function("poll");
    f(&mut m);
    m.to_line(t, Some(DRILL_LOG_LEVEL))
}

#[test]
fn every_alarm_is_raised_by_a_drill() {
    let registered: BTreeSet<&str> = DRILLS
        .iter()
        .flat_map(|(_, alarms)| alarms.iter().copied())
        .collect();
    let alarms = template_alarms();
    assert!(alarms.len() >= 20, "{}", alarms.len());
    for a in &alarms {
        assert!(
            registered.contains(a.id.as_str()),
            "no drill raises {}",
            a.id
        );
    }
    for id in &registered {
        assert!(
            alarms.iter().any(|a| a.id == *id),
            "{id} is not in the template"
        );
    }
    // Every drill named is a test that exists.
    let dir = okta_itdr_e2e::repo_root().join("tests/tests/e2e");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&dir).expect("tests dir").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    for (drill, _) in DRILLS {
        let start = sources
            .find(&format!("fn {drill}()"))
            .unwrap_or_else(|| panic!("no test named {drill}"));
        let body = &sources[start..];
        let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
        assert!(
            body.contains("assert_fires_as_registered(") && body.contains(&format!("\"{drill}\"")),
            "{drill} does not evaluate the alarms"
        );
    }
}

#[test]
fn a_healthy_day_raises_no_alarm() {
    for deployment in [Deployment::STREAMING, Deployment::WITH_POLL] {
        let mut drill = six_hours(deployment);
        drill.healthy_detect_runs(drill.from, drill.to);
        if deployment.okta_api {
            let lines: Vec<String> = every(drill.from, drill.to, 5 * MINUTE_MS)
                .map(|t| {
                    poll_line(t, |m| {
                        m.count("StreamMissed", 0)
                            .set("BacklogMinutes", Unit::None, 6.0);
                    })
                })
                .collect();
            assert_eq!(drill.function_lines(&lines), 2 * lines.len());
        }
        drill.assert_fires_as_registered("a_healthy_day_raises_no_alarm");
    }
}

#[tokio::test]
async fn a_ten_day_late_redrive_raises_the_late_horizon_alarm() {
    let (logs, _guard) = LogCapture::start();
    let env = TestEnv::new("alarm-late").await;
    let (topic, _queue) = env.topic_with_queue(false).await;
    let detect = env.detect_handler(&topic, r#"{"first_run_hours": 2}"#);
    let ingest = env.ingest_handler();
    let mut drill = six_hours(Deployment::STREAMING);
    // Redriven at 08:50, stored now; it happened ten days ago.
    let redriven = at("2026-11-20T08:50:00Z");
    let happened = at("2026-11-10T09:30:00Z");
    let mut reports = Vec::new();
    for t in every(drill.from + 5 * MINUTE_MS, drill.to, HOUR) {
        if t > redriven && t - HOUR <= redriven {
            let ev = Ev::new("user.session.start")
                .user("00ulate", "late@acme.com")
                .at_ms(happened);
            let mut m = Metrics::for_function("ingest");
            ingest
                .invoke_counted(ev.envelope(), redriven, &mut m)
                .await
                .expect("stored");
            assert_eq!(m.get("EventsStored"), Some(1.0));
            drill.function_lines(&[m.to_line(redriven, Some(DRILL_LOG_LEVEL))]);
        }
        let result = detect
            .handle_payload(&scheduled_event(&format_rfc3339_ms(t)), 0)
            .await;
        drill.detect_run(t, &result);
        reports.push(result.expect("run"));
    }
    let skipped: Vec<&Vec<String>> = reports.iter().map(|r| &r.late_beyond_horizon).collect();
    let hour = vec!["2026-11-10T09".to_owned()];
    assert_eq!(
        skipped,
        [&vec![], &vec![], &vec![], &hour, &vec![], &vec![]],
        "reported once, by the run after the redrive"
    );
    assert!(
        reports.iter().all(|r| r.late_hours.is_empty()),
        "never analysed"
    );
    let warned = logs
        .ours()
        .into_iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("beyond the late horizon"))
        })
        .unwrap_or_else(|| panic!("no warning: {}", logs.text()));
    assert_eq!(warned["level"], "WARN");
    assert_eq!(warned["hours"], "2026-11-10T09");
    drill.assert_fires_as_registered("a_ten_day_late_redrive_raises_the_late_horizon_alarm");
}

#[test]
fn okta_going_silent_raises_the_heartbeat_alarm() {
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    drill.okta_silent(drill.from + 2 * HOUR, drill.to);
    drill.assert_fires_as_registered("okta_going_silent_raises_the_heartbeat_alarm");
}

#[tokio::test]
async fn a_detect_function_that_keeps_failing_raises_its_alarms() {
    let env = TestEnv::new("alarm-detect-fails").await;
    let (topic, _queue) = env.topic_with_queue(false).await;
    // Its state table is gone (deleted, or a wrong name deployed).
    let mut settings = env.detect_settings(&topic, r#"{"first_run_hours": 2}"#);
    settings.state_table = okta_itdr_e2e::unique("no-such-table");
    let detect = DetectHandler::from_settings(&settings, env.dynamodb.clone(), env.sns.clone());
    let mut drill = six_hours(Deployment::STREAMING);
    for t in every(drill.from + 5 * MINUTE_MS, drill.to, HOUR) {
        let result = detect
            .handle_payload(&scheduled_event(&format_rfc3339_ms(t)), 0)
            .await;
        assert!(result.is_err(), "{result:?}");
        drill.detect_run(t, &result);
    }
    // Failed runs report zero successes: two failed hours are two breaching
    // datapoints, so the alarm fires at 08:00, not once the range runs dry.
    let alarm = template_alarms()
        .into_iter()
        .find(|a| a.id == "DetectNotSucceedingAlarm")
        .expect("alarm");
    let first = alarm
        .run(&drill.tl, drill.from, drill.to)
        .into_iter()
        .find(|(_, s)| *s == okta_itdr_e2e::alarms::State::Alarm)
        .map(|(t, _)| t);
    assert_eq!(
        first.map(format_rfc3339_ms).as_deref(),
        Some("2026-11-20T08:00:00.000Z")
    );
    drill.assert_fires_as_registered("a_detect_function_that_keeps_failing_raises_its_alarms");
}

#[test]
fn a_disabled_detect_schedule_raises_the_not_succeeding_alarm() {
    // No run after 06:00: no error, no metric line, nothing but missing data.
    let drill = six_hours(Deployment::STREAMING);
    let alarm = template_alarms()
        .into_iter()
        .find(|a| a.id == "DetectNotSucceedingAlarm")
        .expect("alarm");
    let first = alarm
        .run(&drill.tl, drill.from, drill.to)
        .into_iter()
        .find(|(_, s)| *s == okta_itdr_e2e::alarms::State::Alarm)
        .map(|(t, _)| t)
        .expect("it fires");
    // The last run was at 05:05; CloudWatch still sees it until its hour leaves
    // the evaluation range (two periods more than the two evaluated).
    assert_eq!(format_rfc3339_ms(first), "2026-11-20T10:00:00.000Z");
    drill.assert_fires_as_registered("a_disabled_detect_schedule_raises_the_not_succeeding_alarm");
}

#[tokio::test]
async fn a_detector_falling_behind_raises_the_lag_alarm() {
    let env = TestEnv::new("alarm-lag").await;
    let (topic, _queue) = env.topic_with_queue(false).await;
    // Twelve hours to catch up, one a run: as if each run stopped at its deadline.
    let detect = env.detect_handler(&topic, r#"{"first_run_hours": 12, "max_hours_per_run": 1}"#);
    let mut drill = six_hours(Deployment::STREAMING);
    for t in every(drill.from + 5 * MINUTE_MS, drill.to, HOUR) {
        let result = detect
            .handle_payload(&scheduled_event(&format_rfc3339_ms(t)), 0)
            .await;
        let report = result.as_ref().expect("run");
        assert_eq!(report.hours.len(), 1, "{report:?}");
        assert!(report.lag_hours > 2, "{report:?}");
        drill.detect_run(t, &result);
    }
    drill.assert_fires_as_registered("a_detector_falling_behind_raises_the_lag_alarm");
}

#[test]
fn a_run_near_its_timeout_raises_the_duration_alarm() {
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    // One run took 13.5 of its 15 minutes.
    lambda(
        &mut drill.tl,
        "DetectFunction",
        "Duration",
        drill.from + 2 * HOUR + 5 * MINUTE_MS,
        810_000.0,
    );
    drill.assert_fires_as_registered("a_run_near_its_timeout_raises_the_duration_alarm");
}

#[tokio::test]
async fn an_invalid_event_in_the_final_queue_raises_its_alarm() {
    let env = TestEnv::new("alarm-final").await;
    let q = recovery_kit::queues(&env).await;
    let ingest = recovery_kit::handler(&env, &q, env.dynamodb.clone());
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    let t = drill.from + HOUR;
    let mut refused = Ev::new("user.session.start").envelope();
    refused["detail-type"] = json!("Not SystemLog");
    let mut m = Metrics::for_function("ingest");
    let outcome = ingest
        .invoke_counted(refused, t, &mut m)
        .await
        .expect("handled");
    assert_eq!(outcome["outcome"], "dead_lettered", "{outcome}");
    drill.function_lines(&[m.to_line(t, Some(DRILL_LOG_LEVEL))]);
    // SQS publishes the queue's depth every five minutes while it is active.
    let visible: f64 = env
        .sqs
        .get_queue_attributes()
        .queue_url(&q.final_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert_eq!(visible, 1.0);
    for at_t in every(t, drill.to, 5 * MINUTE_MS) {
        sqs(
            &mut drill.tl,
            "FinalDeadLetterQueue",
            "ApproximateNumberOfMessagesVisible",
            at_t,
            visible,
        );
    }
    drill.assert_fires_as_registered("an_invalid_event_in_the_final_queue_raises_its_alarm");
}

#[test]
fn ingest_throttled_with_its_rule_dead_letter_queue_unwritable() {
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    // Lambda throttles ingest; after EventBridge's retries the dead-letter queue
    // refuses the events (its key policy changed).
    for t in every(drill.from + HOUR, drill.from + 2 * HOUR, MINUTE_MS) {
        lambda(&mut drill.tl, "IngestFunction", "Throttles", t, 3.0);
    }
    drill.tl.put(
        "AWS/Events",
        "InvocationsFailedToBeSentToDlq",
        &[
            ("EventBusName", "OktaEventBusName"),
            ("RuleName", "okta-itdr-okta-events"),
        ],
        drill.from + 3 * HOUR,
        3.0,
    );
    drill.assert_fires_as_registered("ingest_throttled_with_its_rule_dead_letter_queue_unwritable");
}

#[test]
fn ingest_failing_with_its_destination_unwritable() {
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    for t in every(
        drill.from + HOUR,
        drill.from + HOUR + 10 * MINUTE_MS,
        MINUTE_MS,
    ) {
        lambda(&mut drill.tl, "IngestFunction", "Errors", t, 1.0);
        lambda(
            &mut drill.tl,
            "IngestFunction",
            "DestinationDeliveryFailures",
            t + 3 * MINUTE_MS,
            1.0,
        );
    }
    drill.assert_fires_as_registered("ingest_failing_with_its_destination_unwritable");
}

/// The recovery queue's oldest message, aged from `since`, every five minutes in [from, to).
fn recovery_backlog(drill: &mut Drill, since: i64, from: i64, to: i64) {
    for t in every(from, to, 5 * MINUTE_MS) {
        sqs(
            &mut drill.tl,
            "RecoveryQueue",
            "ApproximateAgeOfOldestMessage",
            t,
            ((t - since) / 1000) as f64,
        );
    }
}

#[test]
fn a_four_hour_outage_raises_the_recovery_alarms() {
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    let (start, end) = (drill.from + HOUR, drill.from + 5 * HOUR);
    for t in every(start, end, MINUTE_MS) {
        lambda(&mut drill.tl, "IngestFunction", "Errors", t, 2.0);
    }
    // Recovery receives the failed events and defers them, hour after hour.
    for t in every(start + 5 * MINUTE_MS, end, 20 * MINUTE_MS) {
        drill.tl.put(
            "AWS/Lambda",
            "FailedInvokeEventCount",
            &[("EventSourceMappingUUID", "IngestFunctionRecovery")],
            t,
            10.0,
        );
    }
    recovery_backlog(&mut drill, start, start, end + 10 * MINUTE_MS);
    drill.assert_fires_as_registered("a_four_hour_outage_raises_the_recovery_alarms");
}

#[test]
fn a_recovery_queue_nobody_consumes_raises_the_stalled_alarm() {
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    // Its event source mapping disabled: nothing fails, the queue just ages.
    let (since, to) = (drill.from + 30 * MINUTE_MS, drill.to);
    recovery_backlog(&mut drill, since, since, to);
    drill.assert_fires_as_registered("a_recovery_queue_nobody_consumes_raises_the_stalled_alarm");
}

#[test]
fn dynamodb_throttling_raises_the_table_alarms() {
    let mut drill = six_hours(Deployment::STREAMING);
    drill.healthy_detect_runs(drill.from, drill.to);
    let t = drill.from + 2 * HOUR;
    drill.tl.put(
        "AWS/DynamoDB",
        "WriteThrottleEvents",
        &[
            ("TableName", "ActivityTable"),
            (
                "GlobalSecondaryIndexName",
                okta_itdr_aws::activity::BY_HOUR_INDEX,
            ),
        ],
        t,
        4.0,
    );
    drill.tl.put(
        "AWS/DynamoDB",
        "ReadThrottleEvents",
        &[("TableName", "StateTable")],
        t + HOUR,
        2.0,
    );
    drill.assert_fires_as_registered("dynamodb_throttling_raises_the_table_alarms");
}

#[test]
fn a_failing_poller_raises_its_errors_alarm() {
    let mut drill = six_hours(Deployment::WITH_POLL);
    drill.healthy_detect_runs(drill.from, drill.to);
    // Its credentials rejected for half an hour: every run fails.
    let lines: Vec<String> = every(
        drill.from + HOUR,
        drill.from + 90 * MINUTE_MS,
        5 * MINUTE_MS,
    )
    .map(|t| {
        lambda(&mut drill.tl, "PollFunction", "Errors", t, 1.0);
        poll_line(t, |m| {
            m.count("PollErrors", 1);
        })
    })
    .collect();
    assert_eq!(drill.function_lines(&lines), lines.len());
    drill.assert_fires_as_registered("a_failing_poller_raises_its_errors_alarm");
}

#[test]
fn a_stream_dropping_events_raises_the_missed_alarm() {
    let mut drill = six_hours(Deployment::WITH_POLL);
    drill.healthy_detect_runs(drill.from, drill.to);
    let t = drill.from + 2 * HOUR;
    let line = poll_line(t, |m| {
        m.count("StreamMissed", 14)
            .set("BacklogMinutes", Unit::None, 6.0);
    });
    assert_eq!(drill.function_lines(&[line]), 2);
    drill.assert_fires_as_registered("a_stream_dropping_events_raises_the_missed_alarm");
}

#[test]
fn a_poller_far_behind_raises_the_backlog_alarm() {
    let mut drill = six_hours(Deployment::WITH_POLL);
    drill.healthy_detect_runs(drill.from, drill.to);
    // A new deployment catching up three days, within its rate share.
    let lines: Vec<String> = every(drill.from, drill.to, 5 * MINUTE_MS)
        .map(|t| {
            let behind = 3.0 * 1440.0 - ((t - drill.from) / MINUTE_MS) as f64 * 5.0;
            poll_line(t, |m| {
                m.set("BacklogMinutes", Unit::None, behind.max(3.0));
            })
        })
        .collect();
    drill.function_lines(&lines);
    drill.assert_fires_as_registered("a_poller_far_behind_raises_the_backlog_alarm");
}

#[test]
fn a_disabled_poll_schedule_raises_the_not_invoked_alarm() {
    let mut drill = six_hours(Deployment::WITH_POLL);
    drill.healthy_detect_runs(drill.from, drill.to);
    // The schedule is disabled at 08:00: no invocation, so no metric at all.
    drill.tl.remove(
        &okta_itdr_e2e::alarms::MetricKey::new(
            "AWS/Lambda",
            "Invocations",
            &[("FunctionName", "PollFunction")],
        ),
        drill.from + 2 * HOUR,
        drill.to + HOUR,
    );
    drill.assert_fires_as_registered("a_disabled_poll_schedule_raises_the_not_invoked_alarm");
}

#[test]
fn a_failing_inventory_refresh_raises_its_errors_alarm() {
    let mut drill = six_hours(Deployment::WITH_POLL);
    drill.healthy_detect_runs(drill.from, drill.to);
    // The daily refresh at 08:00 meets refused credentials: the run fails,
    // with its EMF line as the function prints it.
    let t = drill.from + 2 * HOUR;
    lambda(&mut drill.tl, "InventoryFunction", "Invocations", t, 1.0);
    lambda(&mut drill.tl, "InventoryFunction", "Errors", t, 1.0);
    let mut m = Metrics::for_function("inventory");
    m.count("ApiRequests", 1).count("InventoryErrors", 1);
    assert_eq!(
        drill.function_lines(&[m.to_line(t, Some(DRILL_LOG_LEVEL))]),
        2
    );
    drill.assert_fires_as_registered("a_failing_inventory_refresh_raises_its_errors_alarm");
}
