//! The ingest fast path through the real ingest binary under the Runtime API
//! emulator, on moto: an event that pages alone is on the alerts topic when
//! its invocation returns; the hourly run never publishes it again; an SNS
//! outage on the fast path loses nothing (the next hourly run delivers it,
//! once). Also measures the time from invocation to publish (p50, p99).

use std::time::{Duration, Instant};

use okta_itdr_core::time::{format_rfc3339_ms, Hour, Millis, MINUTE};
use okta_itdr_e2e::fault_proxy::{Action, FaultProxy};
use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{
    endpoint, function_binary, sample_event, scheduled_event, FunctionProcess, TestEnv,
};
use serde_json::{json, Value};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
const QUIET: Duration = Duration::from_millis(700);
const MAX_WAIT: Duration = Duration::from_secs(15);
/// The budget the fast path is held to: publish within 2 s of the invocation.
const P99_BUDGET: Duration = Duration::from_secs(2);

fn wall() -> Millis {
    okta_itdr_aws::clock::wall_clock()
}

/// The ingest function's environment, with the fast path's state table and
/// topic: what the template gives it.
fn ingest_env(env: &TestEnv, topic: &str) -> Vec<(&'static str, String)> {
    let mut vars = env.env_vars(&[
        "ACTIVITY_TABLE",
        "STATE_TABLE",
        "HOUR_SHARDS",
        "RETENTION_DAYS",
        "BASELINE_DAYS",
        "USERNAME_HASH_KEY_SECRET",
    ]);
    vars.push(("ALERT_TOPIC_ARN", topic.to_owned()));
    vars.push(("RUST_LOG", "info".into()));
    vars
}

/// `admin-privilege-granted.json` (Super administrator) for user `n`, at `t`.
fn grant(n: usize, t: Millis) -> Value {
    let mut ev = sample_event("admin-privilege-granted.json");
    let d = &mut ev["detail"];
    d["uuid"] = json!(format!("fa57{n:04}-0000-4000-8000-000000000000"));
    d["published"] = json!(format_rfc3339_ms(t));
    d["target"][0]["id"] = json!(format!("00ufast{n:04}"));
    d["target"][0]["alternateId"] = json!(format!("user{n}@acme.com"));
    ev["id"] = json!(format!("eb-fast-{n}"));
    ev
}

/// The hourly run after `t`'s hour, as the schedule starts it.
fn next_run(t: Millis) -> String {
    format_rfc3339_ms(Hour::of(t).end() + 5 * MINUTE)
}

/// SNS (moto behind a fault proxy) answering every Publish with a 500: an
/// outage. Every other call goes through.
async fn sns_refusing_publish() -> FaultProxy {
    FaultProxy::start(&endpoint(), |_, body| {
        if String::from_utf8_lossy(body).contains("Action=Publish") {
            Action::Respond {
                status: 500,
                content_type: "text/xml",
                body: "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>outage</Message></Error></ErrorResponse>".into(),
            }
        } else {
            Action::Forward
        }
    })
    .await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_path_event_is_published_when_its_invocation_returns_and_never_again() {
    let binary = tokio::task::spawn_blocking(|| function_binary("ingest"))
        .await
        .expect("build");
    let env = TestEnv::new("fast-path").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(
        &binary,
        &api.address(),
        "okta-itdr-ingest",
        &ingest_env(&env, &topic),
    );

    // A sign-in matches nothing: stored, no fast path, nothing published.
    let signin = sample_event("signin-success.json");
    let plain = api
        .invoke(&signin, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert!(
        plain.response().get("fastPath").is_none(),
        "{}",
        plain.response()
    );

    let samples = 40;
    let t0 = wall() - MINUTE;
    let mut latencies = Vec::new();
    for n in 0..samples {
        let started = Instant::now();
        let outcome = api
            .invoke(&grant(n, t0 + n as Millis), INVOKE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
        // The publish happened inside the invocation: its response is later.
        latencies.push(started.elapsed());
        let fast = &outcome.response()["fastPath"];
        assert_eq!(fast["published"], 1, "{}", outcome.response());
    }
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    println!("fast path, invocation to publish over {samples} events: p50 {p50:?}, p99 {p99:?}");
    assert!(p99 < P99_BUDGET, "p50 {p50:?}, p99 {p99:?}");

    let alerts = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(alerts.len(), samples, "one alert per grant");
    assert!(alerts.iter().all(|a| a.attribute("severity") == "CRITICAL"
        && a.attribute("detection") == "admin_role_granted"));

    // The hourly run finds every one known and publishes none of them again.
    let detect = env.detect_handler(&topic, r#"{"first_run_hours": 2}"#);
    let report = detect
        .handle_payload(&scheduled_event(&next_run(t0)), wall())
        .await
        .expect("run");
    assert_eq!(report.published, 0, "{report:?}");
    assert!(report.already_known >= samples, "{report:?}");
    assert!(env.notifications(&queue, QUIET, MAX_WAIT).await.is_empty());
    assert_fast_path_logged_without_the_key(process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_outage_on_the_fast_path_loses_nothing() {
    let binary = tokio::task::spawn_blocking(|| function_binary("ingest"))
        .await
        .expect("build");
    let env = TestEnv::new("fast-outage").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    // SNS answers every Publish with a 500: the outage. DynamoDB is fine.
    let sns = sns_refusing_publish().await;
    let api = RuntimeApi::start().await;
    let mut vars = ingest_env(&env, &topic);
    vars.push(("AWS_ENDPOINT_URL_SNS", sns.url().to_owned()));
    let process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-ingest", &vars);

    let t = wall() - MINUTE;
    let started = Instant::now();
    let outcome = api
        .invoke(&grant(1, t), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    let response = outcome.response();
    // The event is stored and the invocation succeeds: the outage costs the
    // fast path, never the event.
    assert_eq!(response["outcome"], "stored", "{response}");
    assert_eq!(
        (
            &response["fastPath"]["published"],
            &response["fastPath"]["failed"]
        ),
        (&json!(0), &json!(1)),
        "{response}"
    );
    assert!(sns.refused() >= 1);
    // The fast path's own short timeouts: the outage holds ingest for seconds.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let deferred = process
        .output()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("FastPathDeferred").and_then(Value::as_f64));
    assert_eq!(deferred, Some(1.0), "the metrics line counts the deferral");
    assert!(env.notifications(&queue, QUIET, MAX_WAIT).await.is_empty());

    // The next hourly run, SNS back: delivered once.
    let detect = env.detect_handler(&topic, r#"{"first_run_hours": 2}"#);
    let report = detect
        .handle_payload(&scheduled_event(&next_run(t)), wall())
        .await
        .expect("run");
    assert_eq!((report.retried, report.published), (1, 0), "{report:?}");
    let alerts = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].attribute("detection"), "admin_role_granted");
    let again = detect
        .handle_payload(&scheduled_event(&next_run(t + 60 * MINUTE)), wall())
        .await
        .expect("run");
    assert_eq!((again.retried, again.published), (0, 0), "{again:?}");
    assert!(env.notifications(&queue, QUIET, MAX_WAIT).await.is_empty());
    assert_fast_path_logged_without_the_key(process).await;
}

/// Drill: SNS refuses the fast path's publish of a Super administrator grant
/// at 08:20. The event is stored; `FastPathDeferred` raises its alarm (and no
/// other); the 09:05 run delivers the alert, once. Evaluated as CloudWatch
/// does, over the ingest function's metrics line through Lambda's log filter.
#[tokio::test]
async fn a_fast_path_publish_failing_raises_its_alarm_and_the_hour_delivers() {
    use okta_itdr_aws::metrics::Metrics;
    use okta_itdr_core::detect::fast::FastPath;
    use okta_itdr_core::detect::DetectConfig;
    use okta_itdr_e2e::alarms::{Deployment, Drill, DRILL_LOG_LEVEL};
    use okta_itdr_e2e::at;

    let env = TestEnv::new("fast-alarm").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let refusing = sns_refusing_publish().await;
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&okta_itdr_e2e::sdk_config().await)
            .endpoint_url(refusing.url())
            .build(),
    );
    let ingest = env.ingest_handler().with_fast_path(FastPath::new(
        env.state_store(),
        okta_itdr_aws::SnsAlertSink::new(sns, topic.clone()),
        DetectConfig::default(),
    ));
    let detect = env.detect_handler(&topic, r#"{"first_run_hours": 2}"#);
    let mut drill = Drill::new(
        Deployment::STREAMING,
        at("2026-11-20T06:00:00Z"),
        at("2026-11-20T12:00:00Z"),
    );

    let happened = at("2026-11-20T08:20:00Z");
    let arrived = happened + 2_000;
    let mut m = Metrics::for_function("ingest");
    let response = ingest
        .invoke_counted(grant(7, happened), arrived, &mut m)
        .await
        .expect("stored");
    assert_eq!(response["outcome"], "stored", "{response}");
    assert_eq!(m.get("FastPathDeferred"), Some(1.0));
    assert_eq!(m.get("FastPathPublished"), Some(0.0));
    drill.function_lines(&[m.to_line(arrived, Some(DRILL_LOG_LEVEL))]);

    // The schedule runs on; the 09:05 run delivers the deferred alert.
    let mut retried = 0;
    for t in (0..6).map(|i| at("2026-11-20T06:05:00Z") + i * 60 * MINUTE) {
        let result = detect
            .handle_payload(&scheduled_event(&format_rfc3339_ms(t)), 0)
            .await;
        retried += result.as_ref().map_or(0, |r| r.retried);
        drill.detect_run(t, &result);
    }
    assert_eq!(retried, 1);
    let alerts = env.notifications(&queue, QUIET, MAX_WAIT).await;
    assert_eq!(alerts.len(), 1, "delivered once");
    assert_eq!(alerts[0].attribute("detection"), "admin_role_granted");
    drill.assert_fires_as_registered(
        "a_fast_path_publish_failing_raises_its_alarm_and_the_hour_delivers",
    );
}

/// Stops the ingest process and checks what it logged: the fast path's lines
/// are there, and they and its errors name uids and outcomes, never the hash
/// key or the event's content.
async fn assert_fast_path_logged_without_the_key(mut process: FunctionProcess) {
    process.kill().await;
    let logged = process.output().join("\n");
    assert!(
        !logged.contains(okta_itdr_e2e::HASH_KEY),
        "the hash key was logged"
    );
    assert!(logged.contains("\"fast path\""), "{logged}");
}
