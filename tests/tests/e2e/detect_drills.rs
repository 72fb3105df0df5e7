//! Fault drills of the detect function, end to end on moto: SNS refusing one
//! finding forever, a run killed after each store call in turn, a run short of
//! time with a backlog, two runs at once, and the EMF metrics line of a real
//! run of the binary. Faults moto cannot produce come from an HTTP fault proxy
//! in front of it, or a store wrapper that fails every call after the k-th.

use okta_itdr_testkit::Typed;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lambda_runtime::{Context, LambdaEvent};
use okta_itdr_aws::handlers::{detect_metrics, LambdaDetector};
use okta_itdr_aws::{DetectHandler, DynamoActivityStore, DynamoStateStore, SnsAlertSink};
use okta_itdr_core::alert::{Alert, StoredFinding};
use okta_itdr_core::detect::alerting::context::OrgLearned;
use okta_itdr_core::detect::alerting::Ledger;
use okta_itdr_core::detect::baseline::Baseline;
use okta_itdr_core::detect::run::{Detector, RunReport};
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ports::{
    ActivityStore, AlertSink, Claim, Delivery, Scope, SinkError, StateStore, StoreError, Watermark,
};
use okta_itdr_core::record::ActivityRecord;
use okta_itdr_core::time::{Hour, Millis, HOUR, MINUTE, SECOND};
use okta_itdr_e2e::alarms::{Deployment, Drill};
use okta_itdr_e2e::fault_proxy::{Action, FaultProxy};
use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{
    at, create_table, endpoint, function_binary, scheduled_event, table_spec, unique, Ev,
    FunctionProcess, TestEnv,
};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(500);
const MAX_WAIT: Duration = Duration::from_secs(15);

/// A single-event finding (api_token_created) for `admin` at `when`.
fn token(admin: &str, when: Millis) -> Ev {
    Ev::new("system.api_token.create")
        .user(&format!("00u{admin}"), &format!("{admin}@acme.com"))
        .target("Token", &format!("00T{admin}{when}"), "ci", "ci")
        .at_ms(when)
}

async fn ingest(env: &TestEnv, events: &[Ev]) {
    let handler = env.ingest_handler();
    for ev in events {
        let arrived = ev.event().published + SECOND;
        handler
            .handle_payload(ev.envelope(), arrived)
            .await
            .expect("ingest");
    }
}

fn sns_via(env: &TestEnv, url: &str) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&env.sdk)
            .endpoint_url(url)
            .build(),
    )
}

fn dynamodb_via(env: &TestEnv, url: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&env.sdk)
            .endpoint_url(url)
            .build(),
    )
}

async fn set_watermark(env: &TestEnv, hour: Hour) {
    env.state_store()
        .save_watermark(
            &Watermark {
                next_hour: hour,
                late_checked_until: hour.start(),
                learn_until: None,
                history_pending: false,
            },
            None,
        )
        .await
        .expect("watermark");
}

async fn stored_findings(env: &TestEnv) -> Vec<Value> {
    env.scan(&env.state_table)
        .await
        .into_iter()
        .filter(|i| {
            i.get("sk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s == "finding")
        })
        .map(|i| {
            json!({
                "status": i.get("status").and_then(|v| v.as_s().ok()).cloned(),
                "attempts": i.get("attempts").and_then(|v| v.as_n().ok()).cloned(),
            })
        })
        .collect()
}

// ------------------------------------------------------------ drill: SNS refuses

#[tokio::test]
async fn sns_refusing_one_finding_forever_quarantines_it_and_delivers_the_rest() {
    let env = TestEnv::new("drill-refuse").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    // SNS refuses every publish for bad@acme.com (query or JSON protocol).
    let proxy = FaultProxy::start(&endpoint(), |_, body| {
        let text = String::from_utf8_lossy(body);
        if text.contains("bad%40acme.com") || text.contains("bad@acme.com") {
            Action::Respond {
                status: 400,
                content_type: "text/xml",
                body: "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code>\
                       <Message>Invalid parameter: refused by the drill</Message></Error>\
                       <RequestId>drill</RequestId></ErrorResponse>"
                    .into(),
            }
        } else {
            Action::Forward
        }
    })
    .await;
    let t8 = at("2026-11-10T08:00:00Z");
    let mut events = vec![token("bad", t8 + 10 * MINUTE)];
    for h in 0..4 {
        events.push(token(&format!("good{h}"), t8 + h * HOUR + 20 * MINUTE));
    }
    ingest(&env, &events).await;
    set_watermark(&env, Hour::of(t8)).await;

    let settings = env.detect_settings(&topic, r#"{"max_delivery_attempts": 3}"#);
    let detect =
        DetectHandler::from_settings(&settings, env.dynamodb.clone(), sns_via(&env, proxy.url()));
    let mut reports = Vec::new();
    for h in 9..=12 {
        let time = format!("2026-11-10T{h:02}:05:00Z");
        let report = detect
            .handle(
                LambdaEvent::new(scheduled_event(&time), Context::default()),
                0,
            )
            .await
            .unwrap_or_else(|e| panic!("run at {time}: {e}"));
        // The refused finding never holds the watermark.
        assert_eq!(report.next_hour, format!("2026-11-10T{h:02}"), "{report:?}");
        reports.push(report);
    }
    // Tried at 09:05 and 10:05, not due at 11:05 (the delay doubled), the third
    // and last try at 12:05 quarantines it.
    let failed: Vec<usize> = reports.iter().map(|r| r.failed).collect();
    assert_eq!(failed, [1, 1, 0, 1]);
    let quarantined: Vec<usize> = reports.iter().map(|r| r.quarantined.len()).collect();
    assert_eq!(quarantined, [0, 0, 0, 1]);
    assert_eq!(proxy.refused(), 3, "one refused publish per try");

    let alerts = env.notifications(&queue, QUIET, MAX_WAIT).await;
    let principals: BTreeSet<&str> = alerts.iter().map(|n| n.attribute("principal")).collect();
    assert_eq!(
        principals,
        (0..4)
            .map(|h| format!("good{h}@acme.com"))
            .collect::<BTreeSet<_>>()
            .iter()
            .map(String::as_str)
            .collect()
    );
    assert_eq!(alerts.len(), 4, "each delivered once");

    let findings = stored_findings(&env).await;
    let bad: Vec<&Value> = findings
        .iter()
        .filter(|f| f["status"] == "quarantined")
        .collect();
    assert_eq!(bad.len(), 1, "{findings:?}");
    assert_eq!(bad[0]["attempts"], "3");
    assert!(env
        .state_store()
        .pending_findings()
        .await
        .unwrap()
        .is_empty());

    // Evaluated as CloudWatch would over the runs' metric lines: the quarantine
    // raises its alarm, and nothing else does.
    let mut drill = Drill::new(
        Deployment::STREAMING,
        at("2026-11-10T09:00:00Z"),
        at("2026-11-10T14:00:00Z"),
    );
    for (h, report) in (9..=12).zip(&reports) {
        drill.detect_run(
            at(&format!("2026-11-10T{h:02}:05:00Z")),
            &Ok(report.clone()),
        );
    }
    drill.healthy_detect_runs(at("2026-11-10T13:00:00Z"), drill.to);
    drill.assert_fires_as_registered(
        "sns_refusing_one_finding_forever_quarantines_it_and_delivers_the_rest",
    );

    // The run's metrics line carries the quarantine, which the alarm watches.
    let last = Ok(reports.pop().unwrap());
    let metrics = detect_metrics(&last, 10.0);
    assert_eq!(metrics.get("FindingsQuarantined"), Some(1.0));
    assert_eq!(metrics.get("FindingsFailed"), Some(1.0));
    let alarm = &okta_itdr_e2e::template()["Resources"]["FindingsQuarantinedAlarm"]["Properties"];
    assert!(metrics.get("FindingsQuarantined").unwrap() >= alarm["Threshold"].as_f64().unwrap());
}

// ------------------------------------------------------------ drill: crashes

/// Fails every store call after the first `limit`, as if the process died
/// there; counts the calls made.
#[derive(Clone)]
struct Crashing<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
    limit: usize,
}

impl<S> Crashing<S> {
    fn step(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.limit {
            Err(StoreError::new(operation, "the process died", true))
        } else {
            Ok(())
        }
    }
}

impl<S: ActivityStore> ActivityStore for Crashing<S> {
    async fn put_event(
        &self,
        records: &[ActivityRecord],
        expires_at: i64,
    ) -> Result<okta_itdr_core::ports::PutOutcome, StoreError> {
        self.step("put_event")?;
        self.inner.put_event(records, expires_at).await
    }
    async fn mark_late(
        &self,
        h: Hour,
        uuid: &str,
        arrived: Millis,
        exp: i64,
    ) -> Result<(), StoreError> {
        self.step("mark_late")?;
        self.inner.mark_late(h, uuid, arrived, exp).await
    }
    async fn late_hours(&self, from: Millis, to: Millis) -> Result<Vec<Hour>, StoreError> {
        self.step("late_hours")?;
        self.inner.late_hours(from, to).await
    }
    async fn read_hour(
        &self,
        hour: Hour,
        scope: Scope,
        out: &mut Vec<ActivityRecord>,
    ) -> Result<(), StoreError> {
        self.step("read_hour")?;
        self.inner.read_hour(hour, scope, out).await
    }
    async fn identity_activity(
        &self,
        identity: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        self.step("identity_activity")?;
        self.inner.identity_activity(identity, from, to).await
    }
}

impl<S: StateStore> StateStore for Crashing<S> {
    async fn load_watermark(&self) -> Result<Option<Watermark>, StoreError> {
        self.step("load_watermark")?;
        self.inner.load_watermark().await
    }
    async fn save_watermark(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
    ) -> Result<(), StoreError> {
        self.step("save_watermark")?;
        self.inner.save_watermark(next, expected).await
    }
    async fn load_baselines(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, Baseline>, StoreError> {
        self.step("load_baselines")?;
        self.inner.load_baselines(ids).await
    }
    async fn save_baselines(&self, b: &[Baseline]) -> Result<(), StoreError> {
        self.step("save_baselines")?;
        self.inner.save_baselines(b).await
    }
    async fn load_org_context(&self) -> Result<Option<OrgLearned>, StoreError> {
        self.step("load_org_context")?;
        self.inner.load_org_context().await
    }
    async fn save_org_context(&self, org: &OrgLearned) -> Result<(), StoreError> {
        self.step("save_org_context")?;
        self.inner.save_org_context(org).await
    }
    async fn load_ledgers(
        &self,
        principals: &[String],
    ) -> Result<std::collections::HashMap<String, Ledger>, StoreError> {
        self.step("load_ledgers")?;
        self.inner.load_ledgers(principals).await
    }
    async fn save_ledgers(&self, ledgers: &[Ledger]) -> Result<(), StoreError> {
        self.step("save_ledgers")?;
        self.inner.save_ledgers(ledgers).await
    }
    async fn claim_finding(&self, f: &StoredFinding) -> Result<Claim, StoreError> {
        self.step("claim_finding")?;
        self.inner.claim_finding(f).await
    }
    async fn update_finding(&self, f: &StoredFinding) -> Result<(), StoreError> {
        self.step("update_finding")?;
        self.inner.update_finding(f).await
    }
    async fn pending_findings(&self) -> Result<Vec<StoredFinding>, StoreError> {
        self.step("pending_findings")?;
        self.inner.pending_findings().await
    }
    async fn claim_delivery(
        &self,
        finding: &StoredFinding,
        run: &str,
        now: Millis,
    ) -> Result<Delivery, StoreError> {
        self.step("claim_delivery")?;
        self.inner.claim_delivery(finding, run, now).await
    }
    async fn last_delivered(
        &self,
        detection: &str,
        principal: &str,
    ) -> Result<Option<StoredFinding>, StoreError> {
        self.step("last_delivered")?;
        self.inner.last_delivered(detection, principal).await
    }
}

/// The real SNS sink, remembering the uid of every alert SNS accepted.
#[derive(Clone)]
struct Recording {
    inner: SnsAlertSink,
    sent: Arc<Mutex<Vec<String>>>,
}

impl AlertSink for Recording {
    async fn publish(&self, alert: &Alert) -> Result<(), SinkError> {
        self.inner.publish(alert).await?;
        self.sent.lock().unwrap().push(alert.uid.clone());
        Ok(())
    }
}

type CrashDetector = Detector<Crashing<DynamoActivityStore>, Crashing<DynamoStateStore>, Recording>;

fn crash_detector(
    env: &TestEnv,
    state_table: &str,
    sink: &Recording,
    limit: usize,
) -> (CrashDetector, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let activity = Crashing {
        inner: env.activity_store(),
        calls: calls.clone(),
        limit,
    };
    let state = Crashing {
        inner: DynamoStateStore::new(env.dynamodb.clone(), state_table, 30, 90),
        calls: calls.clone(),
        limit,
    };
    let config = DetectConfig {
        first_run_hours: 2,
        ..DetectConfig::default()
    };
    (Detector::new(activity, state, sink.clone(), config), calls)
}

#[tokio::test]
async fn a_run_killed_after_any_store_call_then_rerun_delivers_exactly_the_clean_findings_once() {
    let mut env = TestEnv::new("drill-crash").await;
    // Fewer index shards: fewer queries per hour read, same store calls.
    env.hour_shards = 2;
    let (topic, _queue) = env.topic_with_queue(true).await;
    let t8 = at("2026-11-10T08:00:00Z");
    // Two hours with findings, one a repeat that is suppressed.
    ingest(
        &env,
        &[
            token("a1", t8 + 10 * MINUTE),
            token("a2", t8 + HOUR + 10 * MINUTE),
            token("a1", t8 + HOUR + 30 * MINUTE),
        ],
    )
    .await;
    let now = at("2026-11-10T10:05:00Z");
    let spec = table_spec("StateTable");
    let new_sink = || Recording {
        inner: env.sink(&topic),
        sent: Arc::new(Mutex::new(Vec::new())),
    };

    // The clean run: what must be delivered, and how many store calls it makes.
    let clean_table = unique("drill-crash-clean");
    create_table(&env.dynamodb, &clean_table, &spec).await;
    let sink = new_sink();
    let (clean, calls) = crash_detector(&env, &clean_table, &sink, usize::MAX);
    let report = clean.run(now).await.expect("clean run");
    assert_eq!((report.published, report.suppressed), (2, 1), "{report:?}");
    let total = calls.load(Ordering::SeqCst);
    let mut expected = sink.sent.lock().unwrap().clone();
    expected.sort();

    // Each k on its own state table, a few at a time.
    let check = |k: usize| {
        let (env, spec, expected) = (&env, &spec, &expected);
        let sink = new_sink();
        async move {
            let table = unique("drill-crash");
            create_table(&env.dynamodb, &table, spec).await;
            let (crashing, _) = crash_detector(env, &table, &sink, k);
            let crashed = crashing.run(now).await;
            assert!(crashed.is_err(), "k={k}: the run should have died");
            // Re-run at once, then an hour later, with nothing failing.
            let (healthy, _) = crash_detector(env, &table, &sink, usize::MAX);
            healthy
                .run(now)
                .await
                .unwrap_or_else(|e| panic!("k={k}: {e}"));
            let later = healthy
                .run(now + HOUR)
                .await
                .unwrap_or_else(|e| panic!("k={k}: {e}"));
            let mut sent = sink.sent.lock().unwrap().clone();
            sent.sort();
            assert_eq!(&sent, expected, "k={k}: delivered exactly once each");
            let state = DynamoStateStore::new(env.dynamodb.clone(), table.as_str(), 30, 90);
            assert_eq!(
                state.load_watermark().await.unwrap().map(|w| w.next_hour),
                Some(Hour::of(now + HOUR)),
                "k={k}"
            );
            // A delivery whose confirmation was lost is never resent; an hour
            // on, it is quarantined for an operator to check (it was sent).
            assert!(later.quarantined.len() <= 1, "k={k}: {later:?}");
            assert!(state.pending_findings().await.unwrap().is_empty(), "k={k}");
        }
    };
    futures::stream::iter(0..total)
        .map(check)
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

// ------------------------------------------------------------ drill: deadline

#[tokio::test]
async fn a_run_short_of_time_stops_between_hours_and_later_runs_finish_the_backlog() {
    let mut env = TestEnv::new("drill-deadline").await;
    env.hour_shards = 2;
    let (topic, queue) = env.topic_with_queue(false).await;
    let t0 = at("2026-11-10T00:00:00Z");
    let events: Vec<Ev> = (0..12)
        .map(|h| token(&format!("u{h}"), t0 + h * HOUR + 30 * MINUTE))
        .collect();
    ingest(&env, &events).await;
    set_watermark(&env, Hour::of(t0)).await;
    // A slow DynamoDB: every call takes 40 ms more.
    let proxy =
        FaultProxy::start(&endpoint(), |_, _| Action::Delay(Duration::from_millis(40))).await;
    let settings = env.detect_settings(&topic, "{}");
    let detect: LambdaDetector =
        DetectHandler::from_settings(&settings, dynamodb_via(&env, proxy.url()), env.sns.clone());

    let mut hours = Vec::new();
    let mut reports: Vec<RunReport> = Vec::new();
    for attempt in 0..24 {
        let mut context = Context::default();
        context.request_id = format!("drill-{attempt}");
        let wall = okta_itdr_aws::clock::wall_clock();
        context.deadline = u64::try_from(wall).unwrap() + 1_500;
        let report = detect
            .handle(
                LambdaEvent::new(scheduled_event("2026-11-10T12:05:00Z"), context),
                wall,
            )
            .await
            .expect("a run short of time still succeeds");
        hours.extend(report.hours.clone());
        let done = report.caught_up;
        reports.push(report);
        if done {
            break;
        }
    }
    assert!(reports[0].stopped_early, "{:?}", reports[0]);
    assert!(!reports[0].hours.is_empty(), "every run makes progress");
    assert!(reports.len() > 1);
    assert!(reports.last().unwrap().caught_up);
    let want: Vec<String> = (0..12).map(|h| Hour(Hour::of(t0).0 + h).label()).collect();
    assert_eq!(hours, want, "every hour once, in order");
    let alerts = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(alerts.len(), 12);
}

// ------------------------------------------------------------ drill: overlap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_deliver_each_finding_once() {
    let env = TestEnv::new("drill-overlap").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let t0 = at("2026-11-10T06:00:00Z");
    let events: Vec<Ev> = (0..4)
        .flat_map(|h| {
            (0..3).map(move |i| token(&format!("u{h}x{i}"), t0 + h * HOUR + (10 + i) * MINUTE))
        })
        .collect();
    ingest(&env, &events).await;
    set_watermark(&env, Hour::of(t0)).await;
    // Both runs reach DynamoDB through a proxy that applies one request at a
    // time, as DynamoDB applies conditional writes (moto does not).
    let proxy = FaultProxy::one_at_a_time(&endpoint()).await;
    let settings = env.detect_settings(&topic, "{}");
    let handler = || {
        DetectHandler::from_settings(&settings, dynamodb_via(&env, proxy.url()), env.sns.clone())
    };
    let (a, b) = (handler(), handler());
    let event = scheduled_event("2026-11-10T10:05:00Z");
    let (ra, rb) = tokio::join!(a.handle_payload(&event, 1), b.handle_payload(&event, 2));
    let (ra, rb) = (ra.expect("run a"), rb.expect("run b"));
    assert_eq!(
        ra.published + ra.retried + rb.published + rb.retried,
        12,
        "{ra:?} {rb:?}"
    );
    let alerts = env.notifications(&queue, QUIET, MAX_WAIT).await;
    let uids: BTreeSet<String> = alerts
        .iter()
        .map(|n| {
            n.finding()["finding_info"]["uid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(uids.len(), 12);
    assert_eq!(alerts.len(), 12, "no finding delivered twice");
    let findings = stored_findings(&env).await;
    assert!(
        findings.iter().all(|f| f["status"] == "delivered"),
        "{findings:?}"
    );
}

// ------------------------------------------------------------ drill: EMF

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detect_binary_prints_valid_emf_with_the_runs_counts() {
    let binary = tokio::task::spawn_blocking(|| function_binary("detect"))
        .await
        .expect("build");
    let env = TestEnv::new("drill-emf").await;
    let (topic, _queue) = env.topic_with_queue(false).await;
    let t8 = at("2026-11-10T08:00:00Z");
    ingest(
        &env,
        &[
            token("a", t8 + 10 * MINUTE),
            token("a", t8 + 40 * MINUTE),
            token("b", t8 + HOUR + 5 * MINUTE),
        ],
    )
    .await;
    let api = RuntimeApi::start().await;
    let mut vars = env.env_vars(&[
        "ACTIVITY_TABLE",
        "STATE_TABLE",
        "HOUR_SHARDS",
        "RETENTION_DAYS",
        "BASELINE_DAYS",
    ]);
    vars.push(("ALERT_TOPIC_ARN", topic));
    vars.push(("DETECTIONS_CONFIG", r#"{"first_run_hours": 3}"#.into()));
    vars.push(("RUST_LOG", "info".into()));
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-detect", &vars);
    let outcome = api
        .invoke(
            &scheduled_event("2026-11-10T10:05:00Z"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    let report = outcome.response().clone();
    process.kill().await;

    let emf: Vec<Value> = process
        .output()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 1, "one metrics line per run: {emf:?}");
    let doc = &emf[0];
    // The EMF specification: a timestamp, one directive with a namespace,
    // dimension sets naming top-level strings, metrics naming top-level numbers.
    assert!(doc["_aws"]["Timestamp"]
        .as_i64()
        .is_some_and(|t| t > 1_600_000_000_000));
    let directives = doc["_aws"]["CloudWatchMetrics"]
        .as_array()
        .expect("directives");
    assert_eq!(directives.len(), 1);
    let d = &directives[0];
    assert_eq!(d["Namespace"], "okta-itdr");
    for set in d["Dimensions"].as_array().expect("dimension sets") {
        for name in set.as_array().expect("dimension set") {
            assert!(doc[name.as_str().unwrap()].is_string(), "{name}");
        }
    }
    assert_eq!(doc["Function"], "detect");
    let names: BTreeSet<&str> = d["Metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().expect("name");
            assert!(doc[name].is_number(), "{name} has no value");
            assert!(
                ["Count", "Milliseconds"].contains(&m["Unit"].as_str().unwrap()),
                "{m}"
            );
            name
        })
        .collect();
    for name in [
        "RunsSucceeded",
        "HoursAnalysed",
        "WatermarkLagHours",
        "RecordsRead",
        "FindingsPublished",
        "FindingsSuppressed",
        "FindingsGrouped",
        "FindingsRiskOnly",
        "FindingsFailed",
        "FindingsPending",
        "FindingsQuarantined",
        "RunDuration",
    ] {
        assert!(names.contains(name), "missing {name}");
    }
    // The counts are the run's.
    assert_eq!(report["hours"].as_array().unwrap().len(), 3);
    assert_eq!(doc["HoursAnalysed"], 3);
    assert_eq!(doc["RecordsRead"], 3);
    assert_eq!(doc["FindingsPublished"], 2);
    // Token a's second creation, in the same hour as its first, is grouped into
    // that alert (kept without paging), not suppressed as a later repeat.
    assert_eq!(doc["FindingsSuppressed"], 0);
    assert_eq!(doc["FindingsGrouped"], 1);
    assert_eq!(doc["FindingsRiskOnly"], 0);
    assert_eq!(doc["FindingsFailed"], 0);
    assert_eq!(doc["FindingsQuarantined"], 0);
    assert_eq!(doc["WatermarkLagHours"], 0);
    assert_eq!(doc["RunsSucceeded"], 1);
    assert!(doc["RunDuration"].as_f64().is_some_and(|ms| ms > 0.0));
}

#[tokio::test]
async fn a_delivery_is_claimed_once_on_dynamodb() {
    let env = TestEnv::new("drill-claim").await;
    let state = env.state_store();
    let t = at("2026-11-10T08:00:00Z");
    let record = token("a", t).record();
    let f = okta_itdr_core::detect::Finding::from_record(
        okta_itdr_core::detect::catalog::find("api_token_created").unwrap(),
        okta_itdr_core::detect::FindingPrincipal::of_record(&record),
        &record,
        "a token".into(),
    );
    let stored = StoredFinding::pending(&f, okta_itdr_core::alert::Renderer::default().render(&f));
    assert_eq!(state.claim_finding(&stored).await.unwrap(), Claim::New);
    assert_eq!(
        state.claim_delivery(&stored, "one", t).await.unwrap(),
        Delivery::Claimed { attempts: 1 }
    );
    assert_eq!(
        state.claim_delivery(&stored, "two", t).await.unwrap(),
        Delivery::Refused
    );
    let pending = state.pending_findings().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, okta_itdr_core::alert::Status::Delivering);
    assert_eq!(pending[0].claimed_by.as_deref(), Some("one"));
    assert_eq!(pending[0].attempts, 1);
}
