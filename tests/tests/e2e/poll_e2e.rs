//! The poll function's handler end to end: DynamoDB, SNS, SQS and Secrets
//! Manager on moto, the Okta System Log API faked on loopback.
//!
//! - gap-fill: the stream delivers 85% of a day and a half (random drops, duplicates,
//!   out of order); the poller, an hour behind, fills the rest. Stored set ==
//!   full set, each once; the hourly detector's findings == a lossless run's;
//!   the StreamMissed metric == the number dropped.
//! - primary: from an empty state over 3 days with a low rate limit; the share
//!   is never exceeded, a crash mid-catch-up resumes without loss and re-reads
//!   at most one page, and a run stops at its deadline.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use okta_itdr_aws::poll::{load_credentials, DynamoCursorStore, PollDeadLetters, PollHandler};
use okta_itdr_aws::recovery::Queues;
use okta_itdr_aws::DynamoActivityStore;
use okta_itdr_core::detect::run::Detector;
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ingest::{IngestSettings, Ingestor};
use okta_itdr_core::poll::{poll, Mode, PollSettings};
use okta_itdr_core::ports::{ActivityStore, PutOutcome, Scope, StateStore, StoreError, Watermark};
use okta_itdr_core::record::ActivityRecord;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Hour, Millis, HOUR, MINUTE};
use okta_itdr_e2e::alarms::{Deployment, Drill, DRILL_LOG_LEVEL};
use okta_itdr_e2e::fake_okta::{sample_log_events, FakeOkta, FakeOktaConfig};
use okta_itdr_e2e::{scheduled_event, Ev, TestEnv};
use okta_itdr_okta::{ClientConfig, Credentials, OktaClient, OrgUrl, Secret};
use okta_itdr_testkit::Rng;
use serde_json::Value;

const TOKEN: &str = "00fake-api-token-value";

fn client(okta: &FakeOkta, page_size: u32) -> OktaClient {
    OktaClient::new(
        OrgUrl::parse(okta.url()).unwrap(),
        Credentials::ApiToken(Secret::new(TOKEN)),
        ClientConfig {
            page_size,
            backoff: Duration::from_millis(20),
            timeout: Duration::from_secs(5),
            ..ClientConfig::default()
        },
    )
    .unwrap()
}

fn ingestor<A: ActivityStore>(env: &TestEnv, store: A) -> Ingestor<A> {
    Ingestor::new(
        env.ingest_settings().normalizer().unwrap(),
        store,
        IngestSettings { retention_days: 90 },
    )
}

fn published(e: &Value) -> Millis {
    parse_rfc3339_ms(e["published"].as_str().unwrap()).unwrap()
}

/// Every stored event's uuid over `hours` (actor records: one per event).
async fn stored_uuids(
    store: &DynamoActivityStore,
    hours: impl Iterator<Item = Hour>,
) -> Vec<String> {
    let mut out = Vec::new();
    for h in hours {
        let mut records: Vec<ActivityRecord> = Vec::new();
        store.read_hour(h, Scope::All, &mut records).await.unwrap();
        out.extend(records.iter().map(|r| r.uuid.to_string()));
    }
    out
}

fn at(text: &str) -> Millis {
    parse_rfc3339_ms(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_fill_restores_what_the_stream_dropped_and_the_findings_of_a_lossless_run() {
    let (start, end) = (at("2026-11-09T12:00:00Z"), at("2026-11-11T00:00:00Z"));
    let mut events: Vec<Value> = sample_log_events()
        .into_iter()
        .filter(|e| (start..end).contains(&published(e)))
        .collect();
    events.sort_by_key(published);
    assert!(events.len() > 100, "{}", events.len());
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    okta.add_events(&events);

    // The stream: 85% delivered, some twice, shuffled within their hour.
    let mut rng = Rng(0x5eed_0001);
    let mut order: Vec<usize> = (0..events.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let dropped: HashSet<usize> = order[..events.len() * 15 / 100].iter().copied().collect();
    let mut by_hour: HashMap<Hour, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        by_hour.entry(Hour::of(published(e))).or_default().push(i);
    }

    let lossless = TestEnv::new("gapfill-lossless").await;
    let gapped = TestEnv::new("gapfill-gapped").await;
    let mut queues = Vec::new();
    let mut detectors = Vec::new();
    for env in [&lossless, &gapped] {
        let (topic, queue) = env.topic_with_queue(false).await;
        queues.push(queue);
        let detector = Detector::new(
            env.activity_store(),
            env.state_store(),
            env.sink(&topic),
            DetectConfig::default(),
        );
        let first = Hour::of(start);
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
            .unwrap();
        detectors.push(okta_itdr_aws::DetectHandler::new(detector));
    }
    let poller = PollHandler::new(
        client(&okta, 1000),
        ingestor(&gapped, gapped.activity_store()),
        DynamoCursorStore::new(gapped.dynamodb.clone(), gapped.state_table.clone()),
        PollSettings {
            mode: Mode::GapFill,
            settle: 15 * MINUTE,
            lookback: 80 * MINUTE,
            max_hours_per_run: 48,
            backfill: 0,
        },
    );
    let stream = |env: &TestEnv| ingestor(env, env.activity_store());
    let (lossless_in, gapped_in) = (stream(&lossless), stream(&gapped));

    let mut missed = 0u64;
    let mut missed_metric = 0.0;
    let mut hour = Hour::of(start);
    while hour.start() < end + HOUR {
        let mut idx = by_hour.get(&hour).cloned().unwrap_or_default();
        for i in (1..idx.len()).rev() {
            idx.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for &i in &idx {
            let event = okta_itdr_core::event::LogEvent::from_value(events[i].clone()).unwrap();
            let arrived = published(&events[i]) + 2_000;
            lossless_in.ingest(&event, arrived).await.unwrap();
            if !dropped.contains(&i) {
                gapped_in.ingest(&event, arrived).await.unwrap();
                if rng.chance(0.05) {
                    let again = gapped_in.ingest(&event, arrived + 60_000).await.unwrap();
                    assert_eq!(again.outcome, PutOutcome::Duplicate);
                }
            }
        }
        // The poller at twenty past, once the hour has settled; the hourly
        // detector after it. (A detector that analyses an hour before its fill
        // raises what it sees then, and a finding from partial data is not
        // withdrawn; the README's gap-fill section says so.)
        let poll_at = hour.end() + 20 * MINUTE;
        let report = poller
            .handle_payload(
                &scheduled_event(&format_rfc3339_ms(poll_at)),
                poll_at,
                i64::MAX,
                || poll_at,
            )
            .await
            .unwrap();
        let detect_at = format_rfc3339_ms(hour.end() + 25 * MINUTE);
        for d in &detectors {
            d.handle_payload(&scheduled_event(&detect_at), 0)
                .await
                .unwrap();
        }
        missed += report["missed"].as_u64().unwrap();
        let r = okta_itdr_core::poll::PollReport {
            missed: report["missed"].as_u64().unwrap(),
            ..Default::default()
        };
        missed_metric += poller.metrics(&r, poll_at).get("StreamMissed").unwrap();
        hour = hour.next();
    }

    let all: BTreeSet<String> = events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    let hours = || (Hour::of(start).0..Hour::of(end).0).map(Hour);
    let stored = stored_uuids(&gapped.activity_store(), hours()).await;
    assert_eq!(stored.len(), all.len(), "each event once");
    assert_eq!(
        stored.into_iter().collect::<BTreeSet<_>>(),
        all,
        "the stored set is the full set"
    );
    assert_eq!(missed, dropped.len() as u64, "missed == dropped");
    assert_eq!(
        missed_metric,
        dropped.len() as f64,
        "the StreamMissed metric"
    );

    let mut findings = Vec::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for (env, queue) in [&lossless, &gapped].into_iter().zip(&queues) {
        let notes = env
            .notifications(queue, Duration::from_secs(2), Duration::from_secs(60))
            .await;
        let keys: BTreeSet<(String, String, String)> = notes
            .iter()
            .map(|n| {
                let f = n.finding();
                let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    s(&f["finding_info"]["uid"]),
                    s(&f["finding_info"]["analytic"]["uid"]),
                    s(&f["severity"]),
                )
            })
            .collect();
        if findings.is_empty() {
            for n in &notes {
                for r in n.finding()["finding_info"]["related_analytics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    listed.insert(r["uid"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
        findings.push(keys);
    }
    assert!(
        findings[0].len() >= 10,
        "the attack day's findings: {:?}",
        findings[0]
    );
    // Everything the lossless run published is published after gap-fill.
    // Events filled in late re-open hours whose alerts were already sent: a
    // finding that pages on its own and would have been listed in one of them
    // is published itself rather than swallowed by a delivered alert. Nothing
    // else is added.
    let missing: Vec<_> = findings[0].difference(&findings[1]).collect();
    assert!(missing.is_empty(), "lost after gap-fill: {missing:?}");
    for (uid, detection, _) in findings[1].difference(&findings[0]) {
        assert!(
            listed.contains(detection),
            "{detection} ({uid}) was published after gap-fill and is in no lossless alert"
        );
    }
}

/// An activity store that fails one write once its countdown reaches zero: a
/// crash mid-page.
struct FailingOnce {
    inner: DynamoActivityStore,
    countdown: AtomicI64,
}

impl ActivityStore for FailingOnce {
    async fn put_event(
        &self,
        records: &[ActivityRecord],
        expires_at: i64,
    ) -> Result<PutOutcome, StoreError> {
        if self.countdown.fetch_sub(1, Ordering::SeqCst) == 0 {
            return Err(StoreError::new("PutItem", "injected crash", true));
        }
        self.inner.put_event(records, expires_at).await
    }
    async fn mark_late(
        &self,
        hour: Hour,
        uuid: &str,
        arrived: Millis,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.inner.mark_late(hour, uuid, arrived, expires_at).await
    }
    async fn late_hours(&self, from: Millis, to: Millis) -> Result<Vec<Hour>, StoreError> {
        self.inner.late_hours(from, to).await
    }
    async fn read_hour(
        &self,
        hour: Hour,
        scope: Scope,
        out: &mut Vec<ActivityRecord>,
    ) -> Result<(), StoreError> {
        self.inner.read_hour(hour, scope, out).await
    }
    async fn identity_activity(
        &self,
        identity: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        self.inner.identity_activity(identity, from, to).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_catches_up_three_days_within_the_rate_share_through_a_crash_and_a_deadline() {
    let start = at("2026-11-20T00:00:00Z");
    let mut rng = Rng(0x5eed_0002);
    let events: Vec<Value> = (0..450)
        .map(|_| {
            Ev::new("user.session.start")
                .uuid(&rng.uuid())
                .at_ms(start + rng.range(0, 3 * 24 * HOUR - 1))
                .json
        })
        .collect();
    let okta = FakeOkta::start(FakeOktaConfig {
        rate_limit: 6,
        ..FakeOktaConfig::default()
    })
    .await;
    okta.add_events(&events);
    let env = TestEnv::new("poll-primary").await;
    let settings = PollSettings {
        mode: Mode::Primary,
        settle: 5 * MINUTE,
        lookback: 3 * 24 * HOUR + 10 * MINUTE,
        max_hours_per_run: 48,
        backfill: 0,
    };
    let now = start + 3 * 24 * HOUR + 10 * MINUTE;
    let cursors = || DynamoCursorStore::new(env.dynamodb.clone(), env.state_table.clone());
    let pages_needed = events.len().div_ceil(25) as u64;

    // Run 1 crashes on the 100th write (the 4th page).
    let crashing = PollHandler::new(
        client(&okta, 25),
        ingestor(
            &env,
            FailingOnce {
                inner: env.activity_store(),
                countdown: AtomicI64::new(99),
            },
        ),
        cursors(),
        settings,
    );
    let err = crashing
        .handle_payload(
            &scheduled_event(&format_rfc3339_ms(now)),
            now,
            i64::MAX,
            || now,
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("injected crash"), "{err}");

    // Run 2 stops at its deadline after three pages.
    let c = client(&okta, 25);
    let pages = AtomicI64::new(0);
    let report = poll(
        &c,
        &ingestor(&env, env.activity_store()),
        &cursors(),
        &PollDeadLetters::default(),
        &settings,
        now,
        || now,
        || pages.fetch_add(1, Ordering::SeqCst) < 3,
    )
    .await
    .unwrap();
    assert!(report.deadline_hit && report.pages == 3, "{report:?}");

    // Run 3 finishes the catch-up.
    let last = PollHandler::new(
        client(&okta, 25),
        ingestor(&env, env.activity_store()),
        cursors(),
        settings,
    );
    let report = last
        .handle_payload(
            &scheduled_event(&format_rfc3339_ms(now)),
            now,
            i64::MAX,
            || now,
        )
        .await
        .unwrap();
    assert_eq!(report["deadlineHit"], false);

    let all: BTreeSet<String> = events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    let hours = (Hour::of(start).0..=Hour::of(now).0).map(Hour);
    let stored = stored_uuids(&env.activity_store(), hours).await;
    assert_eq!(stored.len(), all.len(), "each event once");
    assert_eq!(
        stored.into_iter().collect::<BTreeSet<_>>(),
        all,
        "nothing lost"
    );

    let served: Vec<_> = okta
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert!(
        served.len() as u64 <= pages_needed + 1,
        "the crash re-read at most one page: {} requests for {pages_needed} pages",
        served.len()
    );
    // Half of 6 per window. A run started after the crash cannot know what
    // the crashed run used of the current window: its first request is sent
    // before any reading, and the reading then holds it to the share, so a
    // window the two runs share holds at most one request more.
    assert!(
        okta.max_requests_per_window() <= 3 + 1,
        "half of 6 per window, and the restarted run's first request: {}",
        okta.max_requests_per_window()
    );
    assert!(okta.requests().iter().all(|r| r.status != 429));

    // A fourth run later has nothing but the new settled minutes to read, and
    // the re-read of the last hour, which the first read reached before it
    // had settled (nothing new in it).
    let later = now + 30 * MINUTE;
    let report = last
        .handle_payload(
            &scheduled_event(&format_rfc3339_ms(later)),
            later,
            i64::MAX,
            || later,
        )
        .await
        .unwrap();
    let last_hour = events
        .iter()
        .filter(|e| Hour::of(published(e)) == Hour::of(now - 15 * MINUTE))
        .count() as u64;
    assert_eq!(
        (report["fetched"].as_u64(), report["pages"].as_u64()),
        (Some(last_hour), Some(1 + last_hour.div_ceil(25).max(1)))
    );
    assert_eq!(
        (&report["stored"], &report["foundLate"]),
        (&0.into(), &0.into())
    );
}

/// A page holding one event the ingest refuses (a uuid over the key limit)
/// and one that is not a LogEvent, in both modes: the run succeeds, the good
/// events are stored, both bad ones are in the final dead-letter queue with
/// their reasons, the metric counts them, and the cursor has moved past them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_unparsable_polled_events_are_dead_lettered_and_the_cursor_moves_on() {
    let hour = at("2026-11-20T10:00:00Z");
    let long_uuid = "x".repeat(600);
    let good: Vec<Value> = (0..5)
        .map(|i| {
            Ev::new("user.session.start")
                .uuid(&format!("good-{i}"))
                .at_ms(hour + (5 + 10 * i) * MINUTE)
                .json
        })
        .collect();
    let refused = Ev::new("user.session.start")
        .uuid(&long_uuid)
        .at_ms(hour + 16 * MINUTE)
        .json;
    let unparsable = serde_json::json!({
        "uuid": "not-a-log-event", "published": format_rfc3339_ms(hour + 17 * MINUTE),
        "eventType": 42, "actor": "Winter2026!Pass"
    });
    for mode in [Mode::GapFill, Mode::Primary] {
        let env = TestEnv::new(&format!("poll-refused-{}", mode.as_str())).await;
        let final_url = env.queue("poll-final").await;
        let okta = FakeOkta::start(FakeOktaConfig::default()).await;
        okta.add_events(good.iter().chain([&refused, &unparsable]));
        let poller = PollHandler::new(
            // Three to a page: the bad events share one with good ones.
            client(&okta, 3),
            ingestor(&env, env.activity_store()),
            DynamoCursorStore::new(env.dynamodb.clone(), env.state_table.clone()),
            PollSettings {
                mode,
                settle: 15 * MINUTE,
                lookback: 2 * HOUR,
                max_hours_per_run: 48,
                backfill: 0,
            },
        )
        .with_dead_letters(Queues::new(env.sqs.clone(), None, final_url.clone()));
        let now = hour + 80 * MINUTE;
        let run = || async {
            poller
                .handle_payload(
                    &scheduled_event(&format_rfc3339_ms(now)),
                    now,
                    i64::MAX,
                    || now,
                )
                .await
        };
        let report = run().await.expect("the run succeeds");
        assert_eq!(
            (report["refused"].as_u64(), report["invalid"].as_u64()),
            (Some(1), Some(1)),
            "{mode:?}: {report}"
        );
        let r = okta_itdr_core::poll::PollReport {
            refused: 1,
            invalid: 1,
            fetched: report["fetched"].as_u64().expect("fetched"),
            // The run read its whole window: caught up to the settle delay.
            position: now - 6 * MINUTE,
            ..Default::default()
        };
        assert_eq!(poller.metrics(&r, now).get("EventsDeadLettered"), Some(2.0));
        // The run's own metrics, amid an otherwise healthy poll schedule,
        // raise the dead-letter alarm and no other.
        let mut drill = Drill::new(Deployment::WITH_POLL, now - 3 * HOUR, now + 3 * HOUR);
        drill.healthy_detect_runs(drill.from, drill.to);
        let mut lines: Vec<String> = (0..72)
            .map(|k| drill.from + k * 5 * MINUTE)
            .filter(|t| *t != now)
            .map(|t| {
                let healthy = okta_itdr_core::poll::PollReport {
                    position: t - 6 * MINUTE,
                    ..Default::default()
                };
                poller
                    .metrics(&healthy, t)
                    .to_line(t, Some(DRILL_LOG_LEVEL))
            })
            .collect();
        lines.push(poller.metrics(&r, now).to_line(now, Some(DRILL_LOG_LEVEL)));
        drill.function_lines(&lines);
        drill.assert_fires_as_registered(
            "refused_and_unparsable_polled_events_are_dead_lettered_and_the_cursor_moves_on",
        );

        let stored: BTreeSet<String> =
            stored_uuids(&env.activity_store(), [Hour::of(hour)].into_iter())
                .await
                .into_iter()
                .collect();
        let want: BTreeSet<String> = good
            .iter()
            .map(|e| e["uuid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(stored, want, "{mode:?}: the good events are stored");

        let dead = env.drain(&final_url, 30).await;
        let attr = |m: &aws_sdk_sqs::types::Message, name: &str| {
            m.message_attributes()
                .and_then(|a| a.get(name))
                .and_then(|v| v.string_value())
                .unwrap_or_default()
                .to_owned()
        };
        let mut codes: Vec<String> = dead.iter().map(|m| attr(m, "reason_code")).collect();
        codes.sort();
        assert_eq!(codes, ["key_too_long", "not_log_event"], "{mode:?}");
        for m in &dead {
            let reason = attr(m, "reason");
            assert!(reason.starts_with("polled event refused"), "{reason}");
            assert!(!reason.contains("Winter2026"), "{reason}");
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            // The EventBridge event a redrive hands to the ingest function.
            assert_eq!(body["detail-type"], "SystemLog");
            assert!(body["source"]
                .as_str()
                .unwrap()
                .starts_with("aws.partner/okta.com/"));
            let uuid = body["detail"]["uuid"].as_str().unwrap();
            assert!(uuid == long_uuid || uuid == "not-a-log-event");
        }

        // The cursor moved past them: the next run reads nothing again and
        // sends nothing more to the final queue.
        let again = run().await.expect("the next run succeeds");
        assert_eq!(again["fetched"], 0, "{mode:?}: {again}");
        env.sqs
            .change_message_visibility_batch()
            .queue_url(&final_url)
            .set_entries(Some(
                dead.iter()
                    .enumerate()
                    .map(|(i, m)| {
                        aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap())
                            .visibility_timeout(0)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(env.drain(&final_url, 30).await.len(), 2, "{mode:?}");
    }
}

/// Primary mode: an event Okta persists 20 minutes after its `published`
/// time is not there when the main read passes it; the re-read of its hour,
/// once settled, stores it and counts it as found late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_rereads_a_settled_hour_and_stores_what_okta_persisted_late() {
    let hour = at("2026-11-20T10:00:00Z");
    let on_time = Ev::new("user.session.start")
        .uuid("on-time")
        .at_ms(hour + 20 * MINUTE)
        .json;
    let late = Ev::new("user.session.start")
        .uuid("persisted-late")
        .at_ms(hour + 30 * MINUTE)
        .json;
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    okta.add_events([&on_time]);
    okta.add_event_visible_from(&late, hour + 50 * MINUTE);
    let env = TestEnv::new("poll-primary-late").await;
    let poller = PollHandler::new(
        client(&okta, 100),
        ingestor(&env, env.activity_store()),
        DynamoCursorStore::new(env.dynamodb.clone(), env.state_table.clone()),
        PollSettings {
            mode: Mode::Primary,
            settle: 5 * MINUTE,
            lookback: HOUR,
            max_hours_per_run: 48,
            backfill: 0,
        },
    );
    let mut found_late = 0;
    // Every five minutes from 10:40 to 11:30.
    for minute in (40..=90).step_by(5) {
        let now = hour + minute * MINUTE;
        okta.set_clock(now);
        let report = poller
            .handle_payload(
                &scheduled_event(&format_rfc3339_ms(now)),
                now,
                i64::MAX,
                || now,
            )
            .await
            .unwrap();
        found_late += report["foundLate"].as_u64().unwrap();
    }
    let stored = stored_uuids(&env.activity_store(), [Hour::of(hour)].into_iter()).await;
    assert_eq!(
        stored.into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from(["on-time".to_owned(), "persisted-late".to_owned()])
    );
    assert_eq!(found_late, 1);
}

#[tokio::test]
async fn credentials_come_from_one_secret_and_errors_never_show_it() {
    let sdk = okta_itdr_e2e::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let good = okta_itdr_e2e::unique("okta-api-good");
    secrets
        .create_secret()
        .name(&good)
        .secret_string(r#"{"apiToken": "00SECRET-from-secrets-manager"}"#)
        .send()
        .await
        .unwrap();
    let creds = load_credentials(&secrets, &good).await.unwrap();
    assert!(
        matches!(&creds, Credentials::ApiToken(t) if t.expose() == "00SECRET-from-secrets-manager")
    );
    assert!(!format!("{creds:?}").contains("SECRET"));

    let bad = okta_itdr_e2e::unique("okta-api-bad");
    secrets
        .create_secret()
        .name(&bad)
        .secret_string("00SECRET-bare-token-not-json")
        .send()
        .await
        .unwrap();
    let err = load_credentials(&secrets, &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&bad) && !err.contains("SECRET-bare"), "{err}");
    let err = load_credentials(&secrets, "no-such-secret")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-secret"), "{err}");
}

/// A first start on DynamoDB: the poller reads a week of history before its
/// first read, the detector waits for it, learns it without publishing and
/// publishes only what follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_backfills_history_the_detector_learns_before_alerting() {
    let env = TestEnv::new("poll-backfill").await;
    let (topic, queue) = env.topic_with_queue(true).await;
    let now = Hour::of(okta_itdr_e2e::at("2026-11-20T12:00:00Z")).start() + 2 * MINUTE;
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    // An API token created every day of the week (each pages when published)
    // and one in the first read's lookback.
    let token = |n: i64, t: Millis| {
        Ev::new("system.api_token.create")
            .user(&format!("00u{n}"), &format!("user{n}@acme.com"))
            .target("Token", &format!("00T{n}"), "ci-token", "ci-token")
            .at_ms(t)
            .json
    };
    let mut events: Vec<Value> = (1..=6).map(|d| token(d, now - d * 24 * HOUR)).collect();
    events.push(token(99, now - 30 * MINUTE));
    okta.add_events(&events);
    let poller = PollHandler::new(
        client(&okta, 2),
        ingestor(&env, env.activity_store()),
        DynamoCursorStore::new(env.dynamodb.clone(), env.state_table.clone()),
        PollSettings {
            mode: Mode::Primary,
            settle: 5 * MINUTE,
            lookback: 2 * HOUR,
            max_hours_per_run: 48,
            backfill: 7 * 24 * HOUR,
        },
    );
    let detector = okta_itdr_aws::DetectHandler::new(Detector::new(
        env.activity_store(),
        env.state_store(),
        env.sink(&topic),
        DetectConfig::default(),
    ));
    let poll_at = |t: Millis, deadline: Millis| {
        let poller = &poller;
        async move {
            poller
                .handle_payload(&scheduled_event(&format_rfc3339_ms(t)), t, deadline, || t)
                .await
                .unwrap()
        }
    };

    // The first run's deadline is upon it: it only sets the history up.
    let first = poll_at(now, now).await;
    assert_eq!(first["backfilling"], true, "{first}");
    let wm = env.state_store().load_watermark().await.unwrap().unwrap();
    assert!(wm.history_pending && wm.learn_until == Some(Hour::of(now - 2 * HOUR)));
    let waiting = detector
        .handle_payload(&scheduled_event(&format_rfc3339_ms(now + 3 * MINUTE)), 0)
        .await
        .unwrap();
    assert!(waiting.waiting_for_history, "{waiting:?}");

    let second = poll_at(now + 5 * MINUTE, i64::MAX).await;
    assert_eq!(second["backfilling"], false, "{second}");
    assert_eq!(second["stored"], 7, "{second}");
    assert!(
        !env.state_store()
            .load_watermark()
            .await
            .unwrap()
            .unwrap()
            .history_pending
    );

    let mut learned = 0;
    for k in 0..5 {
        let at = format_rfc3339_ms(now + 65 * MINUTE + k);
        let report = detector
            .handle_payload(&scheduled_event(&at), 0)
            .await
            .unwrap();
        learned += report.learned.len();
        if report.caught_up {
            break;
        }
    }
    assert_eq!(
        learned,
        7 * 24 - 2,
        "the week before the first read's lookback"
    );
    let alerts: Vec<Value> = env
        .drain(&queue, 30)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    let principals: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a["evidences"][0]["actor"]["user"]["email_addr"].as_str())
        .collect();
    assert_eq!(principals, ["user99@acme.com"], "the history pages no one");
}
