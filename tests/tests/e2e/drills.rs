//! Fault drills, end to end on moto with a fault proxy where moto cannot fail.
//! Time is simulated: the handlers take their clock as a parameter, Lambda's
//! retries and the event source mapping are played by the test minute by
//! minute, and a message's backoff "elapses" when the simulated clock passes it.

use okta_itdr_testkit::Typed;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use okta_itdr_aws::handlers::counters;
use okta_itdr_aws::metrics::Metrics;
use okta_itdr_aws::recovery::BACKOFF;
use okta_itdr_aws::{DynamoActivityStore, IngestHandler};
use okta_itdr_core::time::{format_rfc3339_ms, Millis, MINUTE};
use okta_itdr_e2e::alarms::{lambda, sqs, Deployment, Drill, DRILL_LOG_LEVEL};
use okta_itdr_e2e::outage_proxy::OutageProxy;
use okta_itdr_e2e::recovery_kit::{
    destination_record, dynamodb_at, handler, poll, queues, send, send_all,
};
use okta_itdr_e2e::{at, endpoint, scheduled_event, Ev, Item, TestEnv};
use serde_json::Value;

const DETECTIONS: &str = r#"{"first_run_hours": 2}"#;

fn sign_in(name: &str, t: Millis) -> Ev {
    Ev::new("user.session.start")
        .user(&format!("00u{name}"), &format!("{name}@acme.com"))
        .at_ms(t)
}

fn failed_sign_in(name: &str, t: Millis) -> Ev {
    sign_in(name, t).failure("INVALID_CREDENTIALS").from(
        "185.220.101.47",
        "Berlin",
        "Germany",
        52.52,
        13.40,
        208294,
        "tor exit",
    )
}

fn denied_push(name: &str, t: Millis) -> Ev {
    Ev::new("user.mfa.okta_verify.deny_push")
        .user(&format!("00u{name}"), &format!("{name}@acme.com"))
        .outcome("FAILURE", Some("User rejected Okta push verify"))
        .debug("factor", serde_json::json!("OKTA_VERIFY_PUSH"))
        .at_ms(t)
}

/// Three hours of an org: sign-ins every ten minutes, push bombing before the
/// outage, a brute force inside it, another across its end.
fn scenario() -> Vec<Ev> {
    let mut events = Vec::new();
    let start = at("2026-11-10T10:00:00Z");
    for i in 0..18 {
        for (n, name) in ["alice", "carol", "frank", "grace", "heidi", "ivan"]
            .iter()
            .enumerate()
        {
            events.push(sign_in(name, start + i * 10 * MINUTE + n as i64 * 7_000));
        }
    }
    for i in 0..6 {
        events.push(denied_push("bob", at("2026-11-10T10:20:00Z") + i * MINUTE));
    }
    for i in 0..12 {
        events.push(failed_sign_in(
            "dave",
            at("2026-11-10T11:42:00Z") + i * MINUTE,
        ));
    }
    for i in 0..11 {
        events.push(failed_sign_in(
            "erin",
            at("2026-11-10T12:00:30Z") + i * 50_000,
        ));
    }
    events.sort_by_key(|e| e.event().published);
    events
}

fn published(ev: &Ev) -> Millis {
    ev.event().published
}

/// Everything stored: the set of (pk, sk) of identity records.
async fn stored_keys(env: &TestEnv) -> BTreeSet<(String, String)> {
    let s = |i: &Item, k: &str| {
        i.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    env.scan(&env.activity_table)
        .await
        .iter()
        .filter(|i| s(i, "pk").starts_with("U#"))
        .map(|i| (s(i, "pk"), s(i, "sk")))
        .collect()
}

/// The detections delivered, as (detection, uid of the alert that names it):
/// an alert names its own detection and those grouped into it.
async fn findings(env: &TestEnv, queue: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for n in env
        .notifications(queue, Duration::from_millis(800), Duration::from_secs(20))
        .await
    {
        let f = n.finding();
        let uid = f["finding_info"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        out.insert((n.attribute("detection").to_owned(), uid.clone()));
        for r in f["finding_info"]["related_analytics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(id) = r["uid"].as_str() {
                out.insert((id.to_owned(), uid.clone()));
            }
        }
    }
    out
}

struct Outcome {
    keys: BTreeSet<(String, String)>,
    findings: BTreeSet<(String, String)>,
    late_hours: Vec<String>,
    metrics: Metrics,
    to_recovery: usize,
    refused: u64,
    final_queue: usize,
    /// The timeline of what the functions printed and AWS published.
    drill: Drill,
}

/// Plays the scenario from 10:00 to 14:10 with DynamoDB refusing the activity
/// table's writes during `outage` (simulated time).
async fn play(name: &str, events: &[Ev], outage: Option<(Millis, Millis)>) -> Outcome {
    let env = TestEnv::new(name).await;
    let q = queues(&env).await;
    let (topic, alerts) = env.topic_with_queue(false).await;
    let proxy = OutageProxy::start(&endpoint()).await;
    let ingest: IngestHandler<DynamoActivityStore> =
        handler(&env, &q, dynamodb_at(proxy.endpoint()));
    // The detector reads and writes its state directly: the outage is the activity table's writes.
    let detect = env.detect_handler(&topic, DETECTIONS);

    let mut next = 0;
    let mut metrics = Metrics::for_function("ingest");
    // (due, payload, attempt) of Lambda's own retries of failed async invocations.
    let mut lambda_retries: Vec<(Millis, Value, u32)> = Vec::new();
    // (visible again at, receipt handle) of messages deferred by the backoff.
    let mut deferred: Vec<(Millis, String)> = Vec::new();
    let mut to_recovery = 0;
    let mut late_hours = Vec::new();
    let mut drill = Drill::new(
        Deployment::STREAMING,
        at("2026-11-10T10:00:00Z"),
        at("2026-11-10T14:10:00Z"),
    );
    // When the recovery queue last went from empty to holding messages.
    let mut backlog_since: Option<Millis> = None;

    let mut now = at("2026-11-10T10:00:00Z");
    while now <= at("2026-11-10T14:10:00Z") {
        // This minute's invocations' metrics, printed as their EMF lines.
        let mut minute = Metrics::for_function("ingest");
        proxy.set_outage(outage.is_some_and(|(from, to)| now >= from && now < to));
        let mut attempts: Vec<(Value, u32)> = Vec::new();
        while next < events.len() && published(&events[next]) < now + MINUTE {
            attempts.push((events[next].envelope(), 0));
            next += 1;
        }
        lambda_retries.retain(|(due, payload, attempt)| {
            let ready = *due <= now;
            if ready {
                attempts.push((payload.clone(), *attempt));
            }
            !ready
        });
        for (payload, attempt) in attempts {
            match ingest
                .invoke_counted(payload.clone(), now, &mut minute)
                .await
            {
                Ok(_) => {}
                Err(e) => {
                    assert!(e.retryable(), "{e}");
                    lambda(&mut drill.tl, "IngestFunction", "Errors", now, 1.0);
                    if attempt < 2 {
                        // Lambda retries an async invocation about 1 and 2 minutes apart.
                        lambda_retries.push((
                            now + (attempt as i64 + 1) * MINUTE,
                            payload,
                            attempt + 1,
                        ));
                    } else {
                        send(
                            &env,
                            &q.recovery_url,
                            &destination_record(&payload).to_string(),
                        )
                        .await;
                        to_recovery += 1;
                    }
                }
            }
        }
        // The backoff of deferred messages elapses.
        let mut still = Vec::new();
        for (visible_at, receipt) in deferred.drain(..) {
            if visible_at <= now {
                env.sqs
                    .change_message_visibility()
                    .queue_url(&q.recovery_url)
                    .receipt_handle(&receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .expect("backoff elapsed");
            } else {
                still.push((visible_at, receipt));
            }
        }
        deferred = still;
        // The event source mapping polls the recovery queue.
        loop {
            let (seen, failed) = poll(&env, &q, &ingest, now, &mut minute).await;
            if !failed.is_empty() {
                drill.tl.put(
                    "AWS/Lambda",
                    "FailedInvokeEventCount",
                    &[("EventSourceMappingUUID", "IngestFunctionRecovery")],
                    now,
                    failed.len() as f64,
                );
            }
            for m in failed {
                let count: u32 = m
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                let delay = BACKOFF.delay(count).as_millis() as i64;
                deferred.push((now + delay, m.receipt_handle().expect("receipt").to_owned()));
            }
            if seen == 0 {
                break;
            }
        }
        metrics.merge(&minute);
        drill.function_lines(&[minute.to_line(now, Some(DRILL_LOG_LEVEL))]);
        // SQS's age of the oldest message, at most the time since the queue
        // last became non-empty (an upper bound: the alarm fires no later).
        let held = queued(&env, &q.recovery_url).await;
        backlog_since = match (held, backlog_since) {
            (0, _) => None,
            (_, None) => Some(now),
            (_, since) => since,
        };
        if let Some(since) = backlog_since {
            sqs(
                &mut drill.tl,
                "RecoveryQueue",
                "ApproximateAgeOfOldestMessage",
                now,
                ((now - since) / 1000) as f64,
            );
        }
        // The hourly schedule, at five past.
        if now % (60 * MINUTE) == 5 * MINUTE && now > at("2026-11-10T10:30:00Z") {
            let result = detect
                .handle_payload(&scheduled_event(&format_rfc3339_ms(now)), 0)
                .await;
            drill.detect_run(now, &result);
            late_hours.extend(result.expect("detector run").late_hours);
        }
        now += MINUTE;
    }
    assert!(
        lambda_retries.is_empty() && deferred.is_empty(),
        "all retries done"
    );
    Outcome {
        keys: stored_keys(&env).await,
        findings: findings(&env, &alerts).await,
        late_hours,
        metrics,
        to_recovery,
        refused: proxy.refused(),
        final_queue: env.drain(&q.final_url, 30).await.len(),
        drill,
    }
}

/// Messages in `queue`, visible or in flight.
async fn queued(env: &TestEnv, queue: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = env
        .sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let attrs = out.attributes();
    [
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|k| attrs.and_then(|a| a.get(k)))
    .filter_map(|n| n.parse::<u64>().ok())
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_minute_dynamodb_outage_loses_nothing_and_changes_no_finding() {
    let outage = (at("2026-11-10T11:40:00Z"), at("2026-11-10T12:10:00Z"));
    let scenario = scenario();
    let (clean, faulty) = tokio::join!(
        play("drill-clean", &scenario, None),
        play("drill-outage", &scenario, Some(outage))
    );

    let events = scenario.len();
    assert!(faulty.refused > 0, "the outage refused writes");
    assert!(
        faulty.to_recovery >= 20,
        "events outlived Lambda's retries: {}",
        faulty.to_recovery
    );
    assert_eq!(
        faulty.metrics.get(counters::RECOVERED),
        Some(faulty.to_recovery as f64)
    );
    assert_eq!(faulty.final_queue, 0, "nothing given up on");
    assert_eq!(clean.metrics.get(counters::STORED), Some(events as f64));
    assert_eq!(
        faulty.metrics.get(counters::STORED),
        Some(events as f64),
        "every event stored once: no duplicate counted as stored"
    );
    assert_eq!(clean.keys.len(), events);
    assert!(
        faulty.keys == clean.keys,
        "the same records, each once: {} vs {}",
        faulty.keys.len(),
        clean.keys.len()
    );
    assert!(
        faulty.late_hours.contains(&"2026-11-10T11".to_owned()),
        "the hour analysed during the outage was analysed again: {:?}",
        faulty.late_hours
    );
    let detections: BTreeSet<&str> = clean.findings.iter().map(|(d, _)| d.as_str()).collect();
    assert!(
        detections.contains("brute_force_user") && detections.contains("mfa_push_bombing"),
        "{:?}",
        clean.findings
    );
    assert_eq!(
        clean
            .findings
            .iter()
            .filter(|(d, _)| d == "brute_force_user")
            .count(),
        2,
        "dave inside the outage, erin across its end: {:?}",
        clean.findings
    );
    assert_eq!(
        faulty.findings, clean.findings,
        "the outage changed no finding"
    );
    // Evaluated as CloudWatch would: the outage raises the ingest errors alarm
    // and nothing else; without it, nothing fires.
    assert_eq!(clean.drill.fired(), BTreeSet::new(), "the clean run");
    faulty.drill.assert_fires_as_registered(
        "a_thirty_minute_dynamodb_outage_loses_nothing_and_changes_no_finding",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_five_thousand_late_events_spreads_its_writes_and_is_analysed() {
    const EVENTS: usize = 5_000;
    const INSTANCES: usize = 8;
    let env = TestEnv::new("drill-burst").await;
    let (topic, alerts) = env.topic_with_queue(false).await;
    let proxy = OutageProxy::start(&endpoint()).await;
    let detect = env.detect_handler(&topic, DETECTIONS);
    // The detector has analysed up to 13:00 when a stream's backlog arrives.
    let first = detect
        .handle_payload(&scheduled_event("2026-11-10T13:05:00Z"), 0)
        .await;
    first.as_ref().expect("first run");

    // 5,000 events of 10:00-10:59 arriving within one second at 13:30 (a stream's
    // backlog), spread over eight function instances, each with its own store as
    // Lambda runs them.
    let hour = at("2026-11-10T10:00:00Z");
    let mut events: Vec<Ev> = (0..EVENTS - 12)
        .map(|i| {
            sign_in(
                &format!("u{}", i % 40),
                hour + (i as i64 * 3_600_000) / EVENTS as i64,
            )
        })
        .collect();
    events.extend((0..12).map(|i| failed_sign_in("dave", hour + 30 * MINUTE + i * MINUTE)));
    let arrival = at("2026-11-10T13:30:00Z");
    let instances: Vec<IngestHandler<DynamoActivityStore>> = (0..INSTANCES)
        .map(|_| {
            IngestHandler::from_settings(&env.ingest_settings(), dynamodb_at(proxy.endpoint()))
                .expect("handler")
        })
        .collect();
    let started = std::time::Instant::now();
    let per_instance = events.len().div_ceil(INSTANCES);
    let results = futures::future::join_all(instances.iter().zip(events.chunks(per_instance)).map(
        |(h, chunk)| async move {
            let mut metrics = Metrics::for_function("ingest");
            for (i, ev) in chunk.iter().enumerate() {
                let t = arrival + (i * 1000 / chunk.len()) as i64;
                h.invoke_counted(ev.envelope(), t, &mut metrics)
                    .await
                    .expect("stored");
            }
            metrics
        },
    ))
    .await;
    let elapsed = started.elapsed();
    let mut metrics = Metrics::for_function("ingest");
    for m in &results {
        metrics.merge(m);
    }
    assert_eq!(metrics.get(counters::STORED), Some(EVENTS as f64));
    assert_eq!(metrics.get(counters::LATE), Some(EVENTS as f64));

    let puts = proxy.puts_per_key();
    let markers: BTreeMap<&(String, String), &u64> = puts
        .iter()
        .filter(|((pk, _), _)| pk.starts_with("LATE#"))
        .collect();
    let hottest = puts.values().max().copied().unwrap_or(0);
    let marker_writes: u64 = markers.values().copied().sum();
    eprintln!(
        "burst: {EVENTS} late events stored in {elapsed:.1?} against moto ({:.0} events/s); {} marker keys, {marker_writes} marker writes, at most {hottest} writes to one key",
        EVENTS as f64 / elapsed.as_secs_f64(),
        markers.len()
    );
    assert!(markers.len() > 1, "markers are spread over several keys");
    assert!(
        hottest <= INSTANCES as u64,
        "at most one write per key per instance in the burst, got {hottest}"
    );
    let shards = usize::from(okta_itdr_aws::activity::LATE_SHARDS);
    assert!(markers.len() <= shards);
    assert!(
        marker_writes <= (shards * INSTANCES) as u64,
        "{marker_writes}"
    );

    let second = detect
        .handle_payload(&scheduled_event("2026-11-10T14:05:00Z"), 0)
        .await;
    // A burst within the late horizon is ordinary work: no alarm fires.
    let mut drill = Drill::new(
        Deployment::STREAMING,
        at("2026-11-10T13:00:00Z"),
        at("2026-11-10T15:00:00Z"),
    );
    drill.detect_run(at("2026-11-10T13:05:00Z"), &first);
    assert!(drill.function_lines(&[metrics.to_line(arrival, Some(DRILL_LOG_LEVEL))]) > 0);
    drill.detect_run(at("2026-11-10T14:05:00Z"), &second);
    assert_eq!(drill.fired(), BTreeSet::new());
    let report = second.expect("second run");
    assert_eq!(
        report.late_hours,
        vec!["2026-11-10T10".to_owned()],
        "{report:?}"
    );
    assert_eq!(
        report.records, EVENTS,
        "every event stored and analysed: {report:?}"
    );
    let found = findings(&env, &alerts).await;
    assert!(
        found.iter().any(|(d, _)| d == "brute_force_user"),
        "{found:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_backlog_drains_through_the_queue() {
    const EVENTS: usize = 400;
    const POLLERS: usize = 4;
    let env = TestEnv::new("drill-backlog").await;
    let q = queues(&env).await;
    let hour = at("2026-11-10T10:00:00Z");
    let events: Vec<Ev> = (0..EVENTS)
        .map(|i| sign_in(&format!("u{}", i % 40), hour + i as i64 * 9_000))
        .collect();
    let bodies: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if i % 2 == 0 {
                destination_record(&e.envelope()).to_string()
            } else {
                e.envelope().to_string()
            }
        })
        .collect();
    send_all(&env, &q.recovery_url, &bodies).await;
    let pollers: Vec<IngestHandler<DynamoActivityStore>> = (0..POLLERS)
        .map(|_| handler(&env, &q, env.dynamodb.clone()))
        .collect();
    let now = at("2026-11-10T13:30:00Z");
    let started = std::time::Instant::now();
    let results = futures::future::join_all(pollers.iter().map(|h| {
        let (env, q) = (&env, &q);
        async move {
            let mut metrics = Metrics::for_function("ingest");
            for _ in 0..EVENTS {
                let (seen, failed) = poll(env, q, h, now, &mut metrics).await;
                assert!(failed.is_empty(), "{failed:?}");
                if seen == 0 {
                    break;
                }
            }
            metrics
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let mut metrics = Metrics::for_function("ingest");
    for m in &results {
        metrics.merge(m);
    }
    eprintln!(
        "backlog: {EVENTS} events recovered in {elapsed:.1?} against moto ({:.0} events/s)",
        EVENTS as f64 / elapsed.as_secs_f64()
    );
    // SQS delivers at least once: a batch slower than its visibility timeout comes
    // back, and its events are found already stored.
    assert_eq!(metrics.get(counters::STORED), Some(EVENTS as f64));
    assert_eq!(
        metrics.get(counters::RECOVERED),
        Some(EVENTS as f64 + metrics.get(counters::DUPLICATE).unwrap_or(0.0))
    );
}
