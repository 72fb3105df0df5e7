//! Sigma correlation rules through the deployment's path: the counted rule
//! matched on the raw event (carrying the fields the correlation needs), the
//! match stored on the record, the hourly detector sliding the timespan over
//! the matches, the finding rendered as OCSF with the correlation's metadata.

use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::memory::MemoryStore;
use okta_itdr_core::replay::Replay;
use okta_itdr_core::sigma::RuleSet;
use okta_itdr_testkit::Typed;
use okta_itdr_testkit::{normalizer, replay_with_rules, Ev};
use serde_json::Value;

const BURST: &str = "0c0c0c0c-0000-4000-8000-000000000001";
const SPREAD: &str = "0c0c0c0c-0000-4000-8000-000000000002";
const UPDATE: &str = "0c0c0c0c-0000-4000-8000-000000000003";

/// A rule and two correlations counting it, in one file as Sigma writes them.
fn file(generate: bool) -> String {
    format!(
        r#"
title: Okta profile update
id: {UPDATE}
name: okta_profile_update
logsource:
    product: okta
detection:
    selection:
        eventType: user.account.update_profile
    condition: selection
level: low
---
title: Many profile updates by one actor
id: {BURST}
correlation:
    type: event_count
    rules:
        - okta_profile_update
    group-by:
        - actor.alternateId
    timespan: 10m
    condition:
        gte: 5
    generate: {generate}
level: high
tags:
    - attack.persistence
    - attack.t1098
---
title: Profiles of many users updated by one actor
id: {SPREAD}
correlation:
    type: value_count
    rules:
        - {UPDATE}
    group-by:
        - actor.alternateId
    timespan: 30m
    condition:
        field: target.alternateId
        gte: 3
level: medium
"#
    )
}

fn update(actor: &str, target: &str, at: &str) -> Ev {
    Ev::new("user.account.update_profile")
        .user(&format!("00u{actor}"), &format!("{actor}@acme.com"))
        .target(
            "User",
            &format!("00u{target}"),
            &format!("{target}@acme.com"),
            target,
        )
        .at(at)
}

/// The OCSF bodies of every published alert and of every finding listed in
/// one, by analytic uid.
async fn replay(generate: bool, events: &[Ev]) -> Vec<Value> {
    let rules = RuleSet::parse([("profile-updates.yml", file(generate).as_str())])
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((rules.len(), rules.correlations().len()), (1, 2));
    replay_with_rules(&rules, events).await
}

fn of(found: &[Value], uid: &str) -> Vec<Value> {
    found
        .iter()
        .filter(|b| b["finding_info"]["analytic"]["uid"] == uid)
        .cloned()
        .collect()
}

#[tokio::test]
async fn five_events_within_the_timespan_make_one_finding_four_do_not() {
    let minutes = ["10:01", "10:02", "10:04", "10:07", "10:09"];
    let events: Vec<Ev> = minutes
        .iter()
        .map(|m| update("frank", "alice", &format!("2026-11-10T{m}:00Z")))
        .collect();
    let found = replay(false, &events).await;
    let burst = of(&found, BURST);
    assert_eq!(burst.len(), 1, "{found:#?}");
    let f = &burst[0];
    assert_eq!(
        f["finding_info"]["analytic"]["name"],
        "Many profile updates by one actor"
    );
    assert_eq!(f["finding_info"]["analytic"]["type"], "Rule");
    assert_eq!(f["severity"], "High");
    assert_eq!(f["finding_info"]["attacks"][0]["technique"]["uid"], "T1098");
    assert_eq!(f["unmapped"]["count"], 5);
    assert_eq!(f["unmapped"]["correlation"], "event_count");
    assert_eq!(
        f["unmapped"]["group_by"]["actor.alternateid"],
        "frank@acme.com"
    );
    assert_eq!(f["unmapped"]["rule_file"], "profile-updates.yml");
    assert_eq!(f["finding_info"]["related_events_count"], 5);
    // The counted rule does not report alone, and one target is no spread.
    assert!(of(&found, UPDATE).is_empty(), "{found:#?}");
    assert!(of(&found, SPREAD).is_empty(), "{found:#?}");

    let four = replay(false, &events[..4]).await;
    assert!(of(&four, BURST).is_empty(), "{four:#?}");
}

#[tokio::test]
async fn events_further_apart_than_the_timespan_or_by_other_actors_do_not_count_together() {
    // Five updates, but never five within ten minutes.
    let spread: Vec<Ev> = ["10:00", "10:08", "10:16", "10:24", "10:32"]
        .iter()
        .map(|m| update("frank", "alice", &format!("2026-11-10T{m}:00Z")))
        .collect();
    assert!(of(&replay(false, &spread).await, BURST).is_empty());
    // Six within ten minutes, three by each of two actors.
    let shared: Vec<Ev> = (0..6)
        .map(|i| {
            let actor = if i % 2 == 0 { "frank" } else { "erin" };
            update(actor, "alice", &format!("2026-11-10T10:0{i}:00Z"))
        })
        .collect();
    assert!(of(&replay(false, &shared).await, BURST).is_empty());
}

#[tokio::test]
async fn a_window_spanning_the_hour_boundary_counts_both_hours() {
    let events: Vec<Ev> = ["09:56", "09:57", "09:58", "10:01", "10:02"]
        .iter()
        .map(|m| update("frank", "alice", &format!("2026-11-10T{m}:00Z")))
        .collect();
    let found = replay(false, &events).await;
    let burst = of(&found, BURST);
    assert_eq!(burst.len(), 1, "{found:#?}");
    // Anchored at the window's first event, in the earlier hour.
    assert_eq!(
        burst[0]["finding_info"]["first_seen_time"],
        okta_itdr_testkit::at("2026-11-10T09:56:00Z")
    );
}

#[tokio::test]
async fn value_count_counts_distinct_values_not_events() {
    let same: Vec<Ev> = (0..4)
        .map(|i| update("frank", "alice", &format!("2026-11-10T10:1{i}:00Z")))
        .collect();
    assert!(of(&replay(false, &same).await, SPREAD).is_empty());
    let many: Vec<Ev> = ["alice", "bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, t)| update("frank", t, &format!("2026-11-10T10:1{i}:00Z")))
        .collect();
    let found = replay(false, &many).await;
    let spread = of(&found, SPREAD);
    assert_eq!(spread.len(), 1, "{found:#?}");
    assert_eq!(spread[0]["unmapped"]["count"], 3);
    assert_eq!(spread[0]["unmapped"]["correlation"], "value_count");
    assert_eq!(spread[0]["severity"], "Medium");
}

#[tokio::test]
async fn generate_true_reports_the_counted_rule_alone_too() {
    let events = [update("frank", "alice", "2026-11-10T10:01:00Z")];
    let quiet = replay(false, &events).await;
    assert!(of(&quiet, UPDATE).is_empty());
    let loud = replay(true, &events).await;
    assert_eq!(of(&loud, UPDATE).len(), 1, "{loud:#?}");
}

#[tokio::test]
async fn a_password_typed_as_a_username_is_grouped_by_its_hash_never_stored() {
    let rules = RuleSet::parse([(
        "typed.yml",
        "title: Failed sign-in\nid: f1\nname: failed\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventType: user.session.start\n    outcome.result: FAILURE\n  condition: sel\n---\ntitle: Repeated failures for one username\nid: f2\ncorrelation:\n  type: event_count\n  rules: [failed]\n  group-by: [actor.alternateId]\n  timespan: 10m\n  condition:\n    gte: 3\n",
    )])
    .unwrap();
    let config = DetectConfig {
        correlations: rules.correlations(),
        ..DetectConfig::default()
    };
    let typed = "Hunter2!Summer2026";
    let mut replay = Replay::new(normalizer(), config, MemoryStore::new());
    let mut bodies = Vec::new();
    for minute in 1..=3 {
        let ev = Ev::new("user.session.start")
            .unknown_user(typed)
            .failure("INVALID_CREDENTIALS")
            .at(&format!("2026-11-10T10:0{minute}:00Z"));
        let mut event = ev.event();
        event.rule_matches = rules.evaluate(&ev.json);
        // What ingest stores: the typed text replaced by its hash.
        for r in normalizer().normalize(&event) {
            let stored = serde_json::to_string(&r).unwrap();
            assert!(!stored.contains(typed), "{stored}");
            assert!(stored.contains("hmac:"), "{stored}");
        }
        bodies.extend(replay.push(&event).await.unwrap());
    }
    bodies.extend(replay.finish().await.unwrap());
    let text: Vec<String> = bodies.into_iter().map(|a| a.body).collect();
    let burst: Vec<&String> = text.iter().filter(|b| b.contains("\"f2\"")).collect();
    assert_eq!(
        burst.len(),
        1,
        "the three failures still group together: {text:#?}"
    );
    assert!(!burst[0].contains(typed), "{}", burst[0]);
}
