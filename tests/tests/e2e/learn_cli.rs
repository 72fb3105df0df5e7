//! `okta-itdr replay --okta` learning the org's history before its window, as a
//! new deployment does before its first run: against the fake Okta API serving
//! the synthetic realistic org (`okta_itdr_testkit::realistic_org`), with the
//! suite's attack scenarios on the first day.

use std::collections::HashSet;

use okta_itdr_core::detect::Severity;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Millis, DAY};
use okta_itdr_e2e::fake_okta::{FakeOkta, FakeOktaConfig};
use okta_itdr_testkit::realistic_org::{attack_scenarios, benign_events, day_start, Scenario};
use serde_json::Value;

use super::okta_fetch_cli::{args, cli, text, token_env};

/// The first day replayed: the org has two weeks of history before it.
const FIRST: i64 = 15;

/// Whole weeks, so the org's weekdays stay weekdays.
const WEEK: Millis = 7 * DAY;

/// The synthetic org moved by whole weeks to end a day or more before now:
/// Okta keeps 90 days, and the CLI reads no further back.
fn shift() -> Millis {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as Millis;
    (now - DAY - day_start(FIRST + 1)).div_euclid(WEEK) * WEEK
}

fn moved(mut event: Value, by: Millis) -> Value {
    let t = event["published"]
        .as_str()
        .and_then(parse_rfc3339_ms)
        .unwrap();
    event["published"] = Value::from(format_rfc3339_ms(t + by));
    event
}

struct Run {
    alerts: Vec<Value>,
    stderr: String,
    requests: usize,
}

async fn replay(okta: &FakeOkta, by: Millis, learn_days: &[&str]) -> Run {
    let before = okta.requests().len();
    let since = format_rfc3339_ms(day_start(FIRST) + by);
    let until = format_rfc3339_ms(day_start(FIRST + 1) + by);
    let mut a = args(&[
        "replay",
        "--format",
        "json",
        "--no-enrich",
        "--okta",
        okta.url(),
        "--since",
        &since,
        "--until",
        &until,
    ]);
    a.extend(args(learn_days));
    let out = cli(a, token_env()).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    Run {
        alerts: text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        stderr,
        requests: okta.requests().len() - before,
    }
}

fn named(alert: &Value) -> Vec<&str> {
    let info = &alert["finding_info"];
    std::iter::once(&info["analytic"])
        .chain(info["related_analytics"].as_array().into_iter().flatten())
        .filter_map(|a| a["uid"].as_str())
        .collect()
}

fn events_of(alert: &Value) -> HashSet<&str> {
    alert["finding_info"]["related_events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["uid"].as_str())
        .collect()
}

fn severity(alert: &Value) -> Severity {
    match alert["severity_id"].as_u64() {
        Some(5) => Severity::Critical,
        Some(4) => Severity::High,
        Some(3) => Severity::Medium,
        Some(2) => Severity::Low,
        _ => Severity::Informational,
    }
}

/// Alerts about none of the attacks: what the org's own noise paged.
fn unwanted<'a>(run: &'a Run, attacks: &HashSet<String>) -> Vec<&'a str> {
    run.alerts
        .iter()
        .filter(|a| events_of(a).iter().all(|e| !attacks.contains(*e)))
        .map(|a| a["finding_info"]["analytic"]["uid"].as_str().unwrap_or("?"))
        .collect()
}

/// The scenario detections no alert names at the scenario's severity.
fn missed(run: &Run, scenarios: &[Scenario]) -> Vec<String> {
    let mut missed = Vec::new();
    for s in scenarios {
        let uuids: HashSet<&str> = s
            .events
            .iter()
            .filter_map(|e| e.json["uuid"].as_str())
            .collect();
        for d in s.detections {
            let found = run.alerts.iter().any(|a| {
                named(a).contains(d)
                    && severity(a) >= s.severity
                    && events_of(a).iter().any(|e| uuids.contains(e))
            });
            if !found {
                missed.push(format!("{}: {d}", s.name));
            }
        }
    }
    missed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_the_orgs_history_first_quiets_the_first_day_and_attacks_still_page() {
    let by = shift();
    // Read back from the API, every event is in its place: the scenarios
    // about events arriving late are not what this replays.
    let scenarios: Vec<Scenario> = attack_scenarios(FIRST)
        .into_iter()
        .filter(|s| s.late.is_empty())
        .collect();
    let mut events: Vec<Value> = benign_events()
        .into_iter()
        .filter(|e| {
            e.json["published"]
                .as_str()
                .and_then(parse_rfc3339_ms)
                .is_some_and(|t| t < day_start(FIRST + 1))
        })
        .map(|e| moved(e.json, by))
        .collect();
    let attacks: HashSet<String> = scenarios
        .iter()
        .flat_map(|s| s.events.iter())
        .filter_map(|e| e.json["uuid"].as_str().map(str::to_owned))
        .collect();
    events.extend(
        scenarios
            .iter()
            .flat_map(|s| s.events.iter())
            .map(|e| moved(e.json.clone(), by)),
    );
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    okta.add_events(&events);

    let cold = replay(&okta, by, &["--learn-days", "0"]).await;
    let learned = replay(&okta, by, &[]).await;

    let (noise_cold, noise_learned) = (unwanted(&cold, &attacks), unwanted(&learned, &attacks));
    eprintln!(
        "first day without history: {} alerts, unwanted {noise_cold:?}, {} requests; \
         with {FIRST} days learned: {} alerts, unwanted {noise_learned:?}, {} requests \
         for {} events",
        cold.alerts.len(),
        cold.requests,
        learned.alerts.len(),
        learned.requests,
        events.len()
    );
    assert!(
        learned
            .stderr
            .contains(&format!("{} hours of history learned", FIRST * 24)),
        "{}",
        learned.stderr
    );
    assert!(
        noise_learned.len() < noise_cold.len(),
        "without history {noise_cold:?}, with it {noise_learned:?}"
    );
    let missed_learned = missed(&learned, &scenarios);
    assert!(
        missed_learned.is_empty(),
        "with history, missed {missed_learned:#?}"
    );
    eprintln!(
        "without history the first day misses {:?}",
        missed(&cold, &scenarios)
    );
    // Paged 1,000 events at a time: the history costs a request per 1,000
    // events, within the rate-limit share.
    let pages = events.len().div_ceil(1000);
    assert!(
        learned.requests <= pages + 2,
        "{} requests for {} events",
        learned.requests,
        events.len()
    );
    assert!(okta.requests().iter().all(|r| r.status == 200));

    // The same in two steps: `learn` saves the history's baselines, and a
    // replay of the first day starts from them.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_string_lossy().to_string();
    let first_day = format_rfc3339_ms(day_start(FIRST) + by);
    let learnt = cli(
        args(&[
            "learn",
            "--okta",
            okta.url(),
            "--days",
            "15",
            "--until",
            &first_day,
            "--state",
            &state_arg,
        ]),
        token_env(),
    )
    .await;
    assert!(learnt.status.success(), "{}", text(&learnt.stderr));
    assert!(learnt.stdout.is_empty(), "learning publishes nothing");
    let from_state = replay(&okta, by, &["--learn-days", "0", "--state", &state_arg]).await;
    let noise = unwanted(&from_state, &attacks);
    assert!(noise.is_empty(), "from the saved state: {noise:?}");
    let missed_from_state = missed(&from_state, &scenarios);
    assert!(missed_from_state.is_empty(), "{missed_from_state:#?}");
    // A state that learned past the window's start would judge the window by
    // itself: refused, with why.
    let early = cli(
        args(&[
            "replay",
            "--no-enrich",
            "--okta",
            okta.url(),
            "--since",
            &format_rfc3339_ms(day_start(FIRST - 1) + by),
            "--state",
            &state_arg,
        ]),
        token_env(),
    )
    .await;
    assert!(!early.status.success());
    assert!(
        text(&early.stderr).contains("learned the history up to"),
        "{}",
        text(&early.stderr)
    );
    let beyond = cli(
        args(&[
            "learn",
            "--okta",
            okta.url(),
            "--days",
            "91",
            "--state",
            &state_arg,
        ]),
        token_env(),
    )
    .await;
    assert!(
        text(&beyond.stderr).contains("--days 91"),
        "{}",
        text(&beyond.stderr)
    );
}
