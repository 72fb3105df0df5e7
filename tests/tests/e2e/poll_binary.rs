//! The real `poll` binary under the Runtime API emulator: credentials from a
//! Secrets Manager secret (moto), a service app against the fake Okta API,
//! events into DynamoDB (moto) with the custom rules of an S3 folder (moto)
//! evaluated on them, and the deadline the Runtime API hands out.

use std::time::Duration;

use okta_itdr_core::ports::ActivityStore;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Hour, MINUTE};
use okta_itdr_e2e::fake_okta::{rsa_key_pair, FakeOkta, FakeOktaConfig};
use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{function_binary, scheduled_event, unique, Ev, FunctionProcess, TestEnv};
use serde_json::{json, Value};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The poll function's service app, its credentials secret (moto) and the
/// fake Okta org that trusts it.
struct PollSetUp {
    okta: FakeOkta,
    private_key: String,
    secret: String,
}

impl PollSetUp {
    async fn new(env: &TestEnv) -> Self {
        let (private_key, public) = rsa_key_pair();
        let okta = FakeOkta::start(FakeOktaConfig {
            api_token: None,
            service_app: Some(("0oaPollFunction".into(), public)),
            ..FakeOktaConfig::default()
        })
        .await;
        let secret = unique("okta-itdr-okta-api");
        let set_up = PollSetUp {
            okta,
            private_key,
            secret,
        };
        aws_sdk_secretsmanager::Client::new(&env.sdk)
            .create_secret()
            .name(&set_up.secret)
            .secret_string(set_up.credentials())
            .send()
            .await
            .expect("create_secret");
        set_up
    }

    /// The secret's valid value.
    fn credentials(&self) -> String {
        json!({"clientId": "0oaPollFunction", "privateKeyPem": self.private_key, "keyId": "kid-1"})
            .to_string()
    }

    /// The function's environment as the template sets it, in `primary` mode.
    fn vars<'a>(&self, env: &TestEnv, extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
        let mut vars = env.env_vars(&[
            "ACTIVITY_TABLE",
            "STATE_TABLE",
            "HOUR_SHARDS",
            "RETENTION_DAYS",
            "USERNAME_HASH_KEY_SECRET",
        ]);
        vars.extend([
            ("OKTA_ORG_URL", self.okta.url().to_owned()),
            ("OKTA_API_MODE", "primary".to_owned()),
            ("OKTA_API_CREDENTIALS_SECRET", self.secret.clone()),
            ("POLL_LOOKBACK_HOURS", "2".to_owned()),
        ]);
        vars.extend(extra.iter().cloned());
        vars
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_binary_reads_its_secret_polls_and_respects_the_deadline() {
    let binary = tokio::task::spawn_blocking(|| function_binary("poll"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-poll").await;
    let set_up = PollSetUp::new(&env).await;
    let (okta, private) = (&set_up.okta, &set_up.private_key);
    let now = parse_rfc3339_ms("2026-11-20T12:00:00Z").unwrap();
    let events: Vec<Value> = (0..30)
        .map(|i| {
            Ev::new("user.session.start")
                .at_ms(now - 90 * MINUTE + i * MINUTE)
                .json
        })
        .collect();
    okta.add_events(&events);

    // A custom rule in S3: polled events meet the rules streamed ones do.
    let rule = "title: Polled sign-ins\nid: polled-sign-ins\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventtype: user.session.start\n  condition: sel\nlevel: low\n";
    let bucket = env
        .bucket(
            "poll-rules",
            &[("okta-rules/sign-ins.yml".into(), rule.into())],
        )
        .await;

    let api = RuntimeApi::start().await;
    let vars = set_up.vars(
        &env,
        &[
            ("CUSTOM_RULES_URI", format!("s3://{bucket}/okta-rules/")),
            // The emulator gives each invocation 30 s.
            ("POLL_DEADLINE_MARGIN_SECONDS", "5".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ],
    );
    let process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-poll", &vars);

    let outcome = api
        .invoke(&scheduled_event(&format_rfc3339_ms(now)), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    let report = outcome.response().clone();
    assert_eq!(report["fetched"], 30, "{report}");
    assert_eq!(report["stored"], 30, "{report}");
    assert_eq!(report["deadlineHit"], false);
    let mut stored = Vec::new();
    for h in [Hour::of(now - 2 * 60 * MINUTE), Hour::of(now - 60 * MINUTE)] {
        stored.extend(env.activity_store().hour_activity(h).await.unwrap());
    }
    assert_eq!(stored.len(), 30, "the events are in DynamoDB");
    for record in &stored {
        let ids: Vec<&str> = record.details.rules.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["polled-sign-ins"], "{}", record.uuid);
    }

    // With more margin than the invocation has, no page is started.
    drop(process);
    let api = RuntimeApi::start().await;
    let mut tight = vars.clone();
    for v in tight.iter_mut() {
        if v.0 == "POLL_DEADLINE_MARGIN_SECONDS" {
            v.1 = "100".into();
        }
    }
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-poll", &tight);
    let later = now + 30 * MINUTE;
    let outcome = api
        .invoke(&scheduled_event(&format_rfc3339_ms(later)), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert_eq!(outcome.response()["deadlineHit"], true);
    assert_eq!(outcome.response()["pages"], 0);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = process.output().join("\n");
    assert!(output.contains("\"StreamMissed\""), "EMF metrics: {output}");
    let key_line = private.lines().nth(3).unwrap();
    for leak in [key_line, "fake-access-", "eyJ", "Bearer "] {
        assert!(!output.contains(leak), "{leak:?} in the function's output");
    }
    process.kill().await;
}

/// The poll function's EMF lines among what it printed, re-timed to `t`: what
/// CloudWatch would extract had it printed them then.
fn metric_lines_at(output: &[String], t: i64) -> Vec<String> {
    output
        .iter()
        .map(|l| l.strip_prefix("stderr: ").unwrap_or(l))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .map(|mut v| {
            v["_aws"]["Timestamp"] = json!(t);
            v.to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_function_that_cannot_start_alarms_in_five_minutes_and_loses_nothing() {
    use okta_itdr_core::time::DAY;
    use okta_itdr_e2e::alarms::{
        lambda, template_alarms, Deployment, Drill, State, DRILL_LOG_LEVEL,
    };

    let binary = tokio::task::spawn_blocking(|| function_binary("poll"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-poll-init").await;
    let set_up = PollSetUp::new(&env).await;
    let (okta, private) = (&set_up.okta, &set_up.private_key);
    let t0 = parse_rfc3339_ms("2026-11-20T12:00:00Z").unwrap();
    let broken_at = t0 + 5 * MINUTE;
    let fixed_at = broken_at + 3 * DAY;
    let before: Vec<Value> = (0..10)
        .map(|i| {
            Ev::new("user.session.start")
                .at_ms(t0 - 60 * MINUTE + i * MINUTE)
                .json
        })
        .collect();
    // An event every hour while the function cannot start.
    let during: Vec<Value> = (0..72)
        .map(|h| {
            Ev::new("user.session.start")
                .at_ms(broken_at + h * 60 * MINUTE + 7 * MINUTE)
                .json
        })
        .collect();
    okta.add_events(&before);
    okta.add_events(&during);

    let secrets = aws_sdk_secretsmanager::Client::new(&env.sdk);
    let secret = set_up.secret.clone();
    let valid = set_up.credentials();
    let vars = set_up.vars(
        &env,
        &[
            ("POLL_DEADLINE_MARGIN_SECONDS", "5".to_owned()),
            // As deployed with the strictest `LogLevel`, which the drill's log
            // filter applies.
            ("AWS_LAMBDA_LOG_LEVEL", DRILL_LOG_LEVEL.to_owned()),
        ],
    );
    let invoke_at = |t: i64| scheduled_event(&format_rfc3339_ms(t));

    // Healthy: the cursor reaches t0.
    let api = RuntimeApi::start().await;
    let process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-poll", &vars);
    let outcome = api
        .invoke(&invoke_at(t0), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert_eq!(outcome.response()["stored"], 10, "{}", outcome.response());
    drop(process);

    // Someone replaces the credentials with a value missing its key: every
    // start fails, reported to the Runtime API, with the metric printed.
    let broken = json!({"clientId": "0oaPollFunction", "keyId": "kid-1"}).to_string();
    secrets
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(&broken)
        .send()
        .await
        .expect("put_secret_value");
    let api = RuntimeApi::start().await;
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-poll", &vars);
    let report = api
        .wait_init_error(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no /init/error report; output: {:#?}", process.output()));
    assert_eq!(
        report["errorType"], "Runtime.InvalidCredentials",
        "{report}"
    );
    let status = process
        .exit_status(Duration::from_secs(30))
        .await
        .expect("the process exits");
    assert!(!status.success());
    assert_eq!(api.served(), 0, "no poll without its credentials");
    let failed_start = process.output();
    assert!(
        !metric_lines_at(&failed_start, 0).is_empty(),
        "the failed start prints its metric: {failed_start:#?}"
    );
    for leak in [private.lines().nth(3).unwrap(), "BEGIN"] {
        assert!(
            !failed_start.iter().any(|l| l.contains(leak)),
            "{leak:?} in the function's output"
        );
    }

    // Three days of that, one failed start every 5 minutes, as CloudWatch
    // would see it: the function's own lines through Lambda's log-level filter,
    // and Lambda's Errors.
    let mut drill = Drill::new(Deployment::WITH_POLL, t0, fixed_at + 30 * MINUTE);
    drill.healthy_detect_runs(drill.from, drill.to);
    let mut t = broken_at;
    while t < fixed_at {
        lambda(&mut drill.tl, "PollFunction", "Errors", t, 1.0);
        assert_eq!(drill.function_lines(&metric_lines_at(&failed_start, t)), 1);
        t += 5 * MINUTE;
    }

    // Fixed: the next run resumes from the cursor and stores the three days.
    secrets
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(&valid)
        .send()
        .await
        .expect("put_secret_value");
    let api = RuntimeApi::start().await;
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-poll", &vars);
    let outcome = api
        .invoke(&invoke_at(fixed_at), INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert_eq!(
        outcome.response()["stored"],
        during.len(),
        "{}",
        outcome.response()
    );
    let mut stored = 0;
    let mut hour = Hour::of(t0 - 60 * MINUTE);
    while hour <= Hour::of(fixed_at) {
        stored += env
            .activity_store()
            .hour_activity(hour)
            .await
            .unwrap()
            .len();
        hour = hour.next();
    }
    assert_eq!(stored, before.len() + during.len(), "nothing lost");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let healthy = metric_lines_at(&process.output(), fixed_at);
    assert!(!healthy.is_empty());
    process.kill().await;
    let mut t = fixed_at;
    while t <= drill.to {
        drill.function_lines(&metric_lines_at(&healthy, t));
        t += 5 * MINUTE;
    }

    drill.assert_fires_as_registered(
        "a_poll_function_that_cannot_start_alarms_in_five_minutes_and_loses_nothing",
    );
    let alarm = template_alarms()
        .into_iter()
        .find(|a| a.id == "PollCannotStartAlarm")
        .expect("the alarm");
    let states = alarm.run(&drill.tl, drill.from, drill.to);
    let first = states
        .iter()
        .find(|(_, s)| *s == State::Alarm)
        .map(|(t, _)| *t)
        .expect("it fires");
    assert!(
        first - broken_at <= 5 * MINUTE,
        "fired {} min after the first failed start",
        (first - broken_at) / MINUTE
    );
    let last = states.last().expect("states").1;
    assert_eq!(last, State::Ok, "and clears once the function starts");
}
