//! Custom Sigma rules through the same path as the deployment: matched on the
//! raw event, carried on its records, turned into findings by the hourly
//! detector and rendered as OCSF with the rule's id, title, level and tags.

use okta_itdr_core::memory::MemoryStore;
use okta_itdr_core::record::ActivityRecord;
use okta_itdr_core::sigma::RuleSet;
use okta_itdr_testkit::Typed;
use okta_itdr_testkit::{normalizer, replay_with_rules, Ev};
use serde_json::Value;

const PROXY_ADMIN: &str = r#"
title: Okta Admin Console Access Through A Proxy
id: 7d6bf3a2-1c0e-4f3e-9b1d-2c5a8e0f4a11
status: experimental
logsource:
    product: okta
    service: okta
detection:
    selection:
        eventtype: policy.evaluate_sign_on
        target.displayname: Okta Admin Console
    proxy:
        securitycontext.isproxy: 'true'
    condition: selection and proxy
level: critical
tags:
    - attack.initial-access
    - attack.t1078.004
    - attack.t1090.003
"#;

fn rules() -> RuleSet {
    RuleSet::parse([("proxy-admin.yml", PROXY_ADMIN)]).unwrap()
}

fn console(proxy: bool) -> Ev {
    Ev::new("policy.evaluate_sign_on")
        .user("00ufrank", "frank@acme.com")
        .proxy(proxy)
        .target(
            "AppInstance",
            "0oaadmin",
            "Okta Admin Console",
            "Okta Admin Console",
        )
}

async fn replay(events: &[Ev]) -> Vec<Value> {
    replay_with_rules(&rules(), events)
        .await
        .into_iter()
        .filter(|b| b["finding_info"]["analytic"]["uid"] == "7d6bf3a2-1c0e-4f3e-9b1d-2c5a8e0f4a11")
        .collect()
}

#[tokio::test]
async fn a_matching_event_becomes_an_ocsf_finding_of_the_rule() {
    let found = replay(&[console(true).at("2026-11-10T10:15:00Z")]).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(
        f["finding_info"]["analytic"]["name"],
        "Okta Admin Console Access Through A Proxy"
    );
    assert_eq!(f["finding_info"]["analytic"]["type"], "Rule");
    assert_eq!(f["severity"], "Critical");
    let techniques: Vec<&str> = f["finding_info"]["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sub_technique"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(techniques, ["T1078.004", "T1090.003"]);
    assert_eq!(f["unmapped"]["rule_file"], "proxy-admin.yml");
    assert_eq!(
        f["evidences"][0]["actor"]["user"]["email_addr"],
        "frank@acme.com"
    );
}

#[tokio::test]
async fn a_non_matching_event_raises_nothing_and_repeats_are_folded() {
    assert!(replay(&[console(false).at("2026-11-10T10:15:00Z")])
        .await
        .is_empty());
    // The same rule on the same principal within the suppression period pages once.
    let repeated = replay(&[
        console(true).at("2026-11-10T10:15:00Z"),
        console(true).at("2026-11-10T12:15:00Z"),
    ])
    .await;
    assert_eq!(repeated.len(), 1, "{repeated:#?}");
}

#[tokio::test]
async fn the_last_events_hour_is_analysed_even_in_its_first_minutes() {
    // The schedule runs at five past: after an event at 09:30 the clock is in
    // hour 09 when the last event, at 10:02, arrives. Its hour is analysed too.
    let found = replay(&[
        console(false).at("2026-11-10T09:30:00Z"),
        console(true).at("2026-11-10T10:02:00Z"),
    ])
    .await;
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn the_match_is_stored_on_the_record_and_old_records_still_decode() {
    let mut event = console(true).event();
    event.rule_matches = rules().evaluate(&console(true).json);
    let record = normalizer().normalize(&event).remove(0);
    let back = ActivityRecord::decode(&record.encode()).unwrap();
    assert_eq!(back.details.rules.len(), 1);
    assert_eq!(back.details.rules[0].file, "proxy-admin.yml");
    // A record stored before custom rules existed has no `rules`.
    let mut doc: Value = serde_json::to_value(&record).unwrap();
    doc["details"].as_object_mut().unwrap().remove("rules");
    let old: ActivityRecord = serde_json::from_value(doc).unwrap();
    assert!(old.details.rules.is_empty());
}

#[tokio::test]
async fn ingest_evaluates_rules_on_the_envelope_s_raw_detail() {
    use okta_itdr_core::ingest::{IngestSettings, Ingestor};
    use okta_itdr_core::ports::ActivityStore;
    use okta_itdr_testkit::at;
    use std::sync::Arc;

    let store = Arc::new(MemoryStore::new());
    let ingestor = Ingestor::new(normalizer(), store.clone(), IngestSettings::default())
        .with_rules(Arc::new(rules()));
    for (proxy, uuid) in [
        (true, "a0000000-0000-4000-8000-000000000001"),
        (false, "a0000000-0000-4000-8000-000000000002"),
    ] {
        let ev = console(proxy).uuid(uuid).at("2026-11-10T10:15:00Z");
        let env = ev.envelope();
        ingestor
            .ingest_envelope(
                env["source"].as_str(),
                env["detail-type"].as_str(),
                env["detail"].clone(),
                at("2026-11-10T10:16:00Z"),
            )
            .await
            .unwrap();
    }
    let timeline = store
        .identity_activity(
            "00ufrank",
            at("2026-11-10T10:00:00Z"),
            at("2026-11-10T11:00:00Z"),
        )
        .await
        .unwrap();
    let matched: Vec<(String, usize)> = timeline
        .iter()
        .map(|r| (r.uuid.to_string(), r.details.rules.len()))
        .collect();
    assert_eq!(
        matched,
        [
            ("a0000000-0000-4000-8000-000000000001".to_owned(), 1),
            ("a0000000-0000-4000-8000-000000000002".to_owned(), 0)
        ]
    );
}
