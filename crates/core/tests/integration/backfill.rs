//! Backfilled history: hours before the watermark's `learn_until` are learned
//! (baselines, the org's context) and publish nothing; the first published
//! hour starts after them and judges against what they taught.

use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ports::{StateStore, Watermark};
use okta_itdr_core::time::{Hour, Millis, DAY, HOUR, MINUTE};
use okta_itdr_testkit::{at, Deployment, Ev};
use serde_json::json;

/// The history's first hour, and the first hour the deployment publishes.
const HISTORY: &str = "2026-11-01T00:00:00Z";
const FIRST: &str = "2026-11-09T00:00:00Z";
const OFFICE_NET: &str = "198.51.100.0/24";
const ATTACKER_NET: &str = "45.134.26.0/24";

/// A deployment whose progress starts at the history, learning it up to
/// `learn_until` (none: publishing from the first hour).
async fn deployment(learn_until: Option<&str>) -> Deployment {
    let start = Hour::of(at(HISTORY));
    let watermark = Watermark {
        learn_until: learn_until.map(|t| Hour::of(at(t))),
        ..Watermark::starting(start, start.start())
    };
    Deployment::with_watermark(DetectConfig::default(), watermark).await
}

/// Ingests events as a backfill does: all of them arriving now, long after
/// they happened.
async fn backfill(org: &Deployment, events: &[Ev], now: Millis) {
    for e in events {
        org.ingest_at(e, now).await;
    }
}

/// Runs the schedule until it has caught up with `now`: the hours learned and
/// the hours published.
async fn catch_up(org: &Deployment, now: Millis) -> (usize, usize) {
    let (mut learned, mut published_hours) = (0, 0);
    for i in 0..100 {
        let report = org.run(now + i).await;
        learned += report.learned.len();
        published_hours += report.hours.len();
        if report.caught_up {
            break;
        }
    }
    (learned, published_hours)
}

async fn org_networks(org: &Deployment) -> Vec<String> {
    let learned = org.store.load_org_context().await.unwrap();
    learned
        .map(|o| o.seen.networks.keys().cloned().collect())
        .unwrap_or_default()
}

fn user(n: usize) -> (String, String) {
    (format!("00u{n}"), format!("user{n}@acme.com"))
}

fn sign_in(n: usize, t: Millis) -> Ev {
    let (id, login) = user(n);
    Ev::new("user.session.start")
        .user(&id, &login)
        .at_ms(t)
        .from(
            &format!("198.51.100.{}", 10 + n),
            "New York",
            "United States",
            40.71,
            -74.0,
            64500,
            "acme corp",
        )
        .debug("dtHash", json!(format!("dt-{n}-laptop")))
}

/// From the attacker's network, on the attacker's machine.
fn attacker(ev: Ev, n: usize) -> Ev {
    ev.from(
        &format!("45.134.26.{}", 100 + n),
        "Saint Petersburg",
        "Russia",
        59.93,
        30.33,
        49505,
        "selectel",
    )
    .debug("dtHash", json!("dt-attacker"))
}

/// A week and a day of history: six users at the office every day, an API
/// token created, and, on five days, an attacker who brute-forces each user
/// and gets in.
fn history() -> Vec<Ev> {
    let start = at(HISTORY);
    let mut events = Vec::new();
    for day in 0..8 {
        let morning = start + day * DAY + 9 * HOUR;
        for n in 1..=6 {
            events.push(sign_in(n, morning + n as i64 * MINUTE));
        }
        if (1..=5).contains(&day) {
            let evening = start + day * DAY + 20 * HOUR;
            for n in 1..=6 {
                let t = evening + n as i64 * 5 * MINUTE;
                for k in 0..10 {
                    let fail = sign_in(n, t + k * 10_000).failure("INVALID_CREDENTIALS");
                    events.push(attacker(fail, n));
                }
                events.push(attacker(sign_in(n, t + 2 * MINUTE), n));
            }
        }
    }
    let (id, login) = user(1);
    events.push(
        Ev::new("system.api_token.create")
            .user(&id, &login)
            .target("Token", "00Tci", "ci-token", "ci-token")
            .at_ms(start + 3 * DAY + 11 * HOUR),
    );
    events
}

fn first_run() -> Millis {
    at(FIRST) + 5 * MINUTE
}

#[tokio::test]
async fn the_same_history_pages_when_it_is_not_backfill() {
    // The history is not quiet: published hour by hour, it pages.
    let org = deployment(None).await;
    backfill(&org, &history(), first_run()).await;
    catch_up(&org, first_run()).await;
    let detections: Vec<String> = org
        .sink
        .alerts()
        .iter()
        .map(|a| a.detection.clone())
        .collect();
    assert!(
        detections
            .iter()
            .any(|d| d == "credential_attack_then_success"),
        "{detections:?}"
    );
    assert!(detections.iter().any(|d| d == "api_token_created"));
}

#[tokio::test]
async fn backfilled_history_is_learned_and_publishes_nothing() {
    let org = deployment(Some(FIRST)).await;
    backfill(&org, &history(), first_run()).await;
    let (learned, published_hours) = catch_up(&org, first_run()).await;

    assert_eq!(learned, 8 * 24, "every hour of history is learned");
    assert_eq!(published_hours, 0, "and none of it is published");
    assert!(org.sink.alerts().is_empty(), "no alert");
    assert!(org.store.findings().is_empty(), "no finding claimed");
    let principals: Vec<String> = (1..=6).map(|n| user(n).0).collect();
    assert!(
        org.store
            .load_ledgers(&principals)
            .await
            .unwrap()
            .is_empty(),
        "no risk ledger"
    );
    let wm = org.store.load_watermark().await.unwrap().unwrap();
    assert_eq!(
        wm.next_hour,
        Hour::of(at(FIRST)),
        "the first run starts after"
    );

    // The users' baselines know the office and their laptops.
    let baselines = org.store.load_baselines(&principals).await.unwrap();
    let b = &baselines["00u1"];
    assert!(b.knows_asn(64500) && b.devices.contains_key("dt-1-laptop"));
    assert!(b.established(at(FIRST), DetectConfig::default().baseline_min_days));
    // The attacker's successful sign-ins were evidence of a critical finding
    // nobody saw: they teach no baseline, and not the org's context.
    assert!(!b.knows_asn(49505), "{b:?}");
    assert!(!b.devices.contains_key("dt-attacker"));
    let networks = org_networks(&org).await;
    assert!(networks.iter().any(|n| n == OFFICE_NET), "{networks:?}");
    assert!(!networks.iter().any(|n| n == ATTACKER_NET), "{networks:?}");
}

#[tokio::test]
async fn after_backfill_the_deployment_publishes_and_judges_against_history() {
    let org = deployment(Some(FIRST)).await;
    backfill(&org, &history(), first_run()).await;
    catch_up(&org, first_run()).await;

    // A late event for a learned hour re-checks nothing.
    let (id, login) = user(2);
    let late = Ev::new("system.api_token.create")
        .user(&id, &login)
        .target("Token", "00Tlate", "late-token", "late-token")
        .at_ms(at(HISTORY) + 4 * DAY + 10 * HOUR);
    // The first published hour: the attacker is back, on a user now
    // established; a token is created.
    let t = at(FIRST) + 30 * MINUTE;
    let back = attacker(sign_in(3, t), 3);
    let token = Ev::new("system.api_token.create")
        .user(&id, &login)
        .target("Token", "00Tnew", "new-token", "new-token")
        .at_ms(t + MINUTE);
    let next = at(FIRST) + HOUR + 5 * MINUTE;
    backfill(&org, &[late, back, token], next - MINUTE).await;
    let report = org.detector.run(next).await.unwrap();
    assert!(report.late_hours.is_empty(), "{report:?}");
    assert_eq!(report.hours, vec![Hour::of(at(FIRST)).label()]);

    let alerts = org.sink.alerts();
    let summaries: Vec<&str> = alerts.iter().map(|a| a.subject.as_str()).collect();
    assert_eq!(alerts.len(), 1, "{summaries:?}");
    assert_eq!(alerts[0].detection, "api_token_created");
    assert!(alerts[0].body.contains("new-token"), "{summaries:?}");
    // The attacker's return is new for the user: the learned history made
    // user3 established, and never taught it the attacker's network.
    let findings = org.store.findings();
    assert!(
        findings
            .iter()
            .any(|f| f.detection == "new_country" && f.principal == "00u3"),
        "{:?}",
        findings.iter().map(|f| &f.detection).collect::<Vec<_>>()
    );
}
