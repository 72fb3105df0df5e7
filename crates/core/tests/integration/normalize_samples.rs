//! Normalisation of the sample EventBridge events in `events/`, as Okta emits them.

use std::path::PathBuf;

use okta_itdr_core::event::LogEvent;
use okta_itdr_core::ingest::check_envelope;
use okta_itdr_core::record::{ActivityRecord, Category, IdentityKind, Outcome, Role};
use okta_itdr_testkit::normalizer;
use serde_json::Value;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn envelope(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn records(name: &str) -> Vec<ActivityRecord> {
    let env = envelope(name);
    check_envelope(env["source"].as_str(), env["detail-type"].as_str()).unwrap();
    let event = LogEvent::from_value(env["detail"].clone()).unwrap();
    normalizer().normalize(&event)
}

/// Every Okta event in `events/`, scenarios included.
fn all_sample_events() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![events_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.display().to_string();
            match path.extension().and_then(|e| e.to_str()) {
                _ if path.is_dir() => stack.push(path),
                Some("json") => out.push((
                    name,
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap(),
                )),
                Some("jsonl") => {
                    for (i, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
                        if !line.trim().is_empty() {
                            out.push((
                                format!("{name}:{}", i + 1),
                                serde_json::from_str(line).unwrap(),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn every_okta_sample_parses_and_the_others_are_rejected() {
    let samples = all_sample_events();
    assert!(
        samples.len() > 400,
        "expected the scenario corpus, found {}",
        samples.len()
    );
    let mut rejected = Vec::new();
    for (name, env) in &samples {
        match check_envelope(env["source"].as_str(), env["detail-type"].as_str()) {
            Ok(()) => {
                let event = LogEvent::from_value(env["detail"].clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let recs = normalizer().normalize(&event);
                assert_eq!(
                    recs.iter().filter(|r| r.role == Role::Actor).count(),
                    1,
                    "{name}"
                );
                assert_eq!(recs[0].role, Role::Actor, "{name}: actor record first");
            }
            Err(e) => rejected.push((name.clone(), e.code())),
        }
    }
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0].0.ends_with("non-okta-event.json") && rejected[0].1 == "not_okta_source");
}

#[test]
fn sign_in_keeps_who_where_how_and_okta_signals() {
    let recs = records("signin-success.json");
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.identity_kind, IdentityKind::User);
    assert!(r.identity.starts_with("00u"));
    assert_eq!(r.event.event_type, "user.session.start");
    assert_eq!(r.category, Category::SignIn);
    assert_eq!(r.event.outcome, Outcome::Success);
    assert_eq!(r.actor.login.as_deref(), Some("alice@acme.com"));
    assert_eq!(r.network.city.as_deref(), Some("San Francisco"));
    assert_eq!(r.network.country.as_deref(), Some("United States"));
    assert_eq!(r.network.asn, Some(7922));
    assert!(r.network.lat.is_some() && r.network.lon.is_some());
    assert!(!r.network.proxy);
    assert_eq!(r.network.zone, None, "Okta's \"null\" zone is absent");
    assert_eq!(r.client.browser.as_deref(), Some("CHROME"));
    assert!(r.client.dt_hash.is_some() && r.client.session_id.is_some());
    assert_eq!(r.risk.risk_level.as_deref(), Some("LOW"));
    assert!(r.risk.behaviors.is_empty(), "all behaviours NEGATIVE");
}

#[test]
fn a_password_typed_as_username_is_never_stored() {
    let recs = records("signin-failure-unknown-user.json");
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.identity_kind, IdentityKind::UnknownUser);
    assert!(r.identity.starts_with("unknown:"));
    assert!(r.username_secret_like);
    assert!(r.actor.login.as_deref().unwrap().starts_with("hmac:"));
    assert_eq!(
        r.client.session_id, None,
        "\"unknown\" session ids are absent"
    );
    let stored = serde_json::to_string(r).unwrap().to_lowercase();
    assert!(!stored.contains("winter2026"), "{stored}");
}

#[test]
fn privilege_grant_is_on_the_admins_and_the_targets_timelines() {
    let recs = records("admin-privilege-granted.json");
    assert_eq!(recs.len(), 2);
    let (actor, target) = (&recs[0], &recs[1]);
    assert_eq!(actor.role, Role::Actor);
    assert_eq!(actor.actor.login.as_deref(), Some("frank@acme.com"));
    assert_eq!(target.role, Role::Target);
    assert_eq!(target.identity_label(), "carol@acme.com");
    assert_ne!(actor.identity, target.identity);
    assert_eq!(target.uuid, actor.uuid);
    assert!(actor
        .details
        .privilege_granted
        .as_deref()
        .unwrap()
        .contains("Super administrator"));
    assert_eq!(actor.category, Category::Admin);
}

#[test]
fn api_token_activity_belongs_to_the_token_and_shows_on_its_owner() {
    let recs = records("policy-change-via-api-token.json");
    let actor = &recs[0];
    assert_eq!(actor.identity_kind, IdentityKind::ApiToken);
    assert!(actor.identity.starts_with("00T"));
    assert_eq!(
        actor.details.api_token_id.as_deref(),
        Some(actor.identity.as_str())
    );
    assert_eq!(actor.category, Category::Policy);
    assert!(actor.details.changes.as_deref().unwrap().contains("1FA"));
    let owner = recs
        .iter()
        .find(|r| r.role == Role::Owner)
        .expect("owner record");
    assert_eq!(owner.identity_kind, IdentityKind::User);
    assert!(owner.identity.starts_with("00u"));
}

#[test]
fn records_of_the_samples_are_compact() {
    let mut sizes: Vec<usize> = all_sample_events()
        .into_iter()
        .filter(|(_, e)| check_envelope(e["source"].as_str(), e["detail-type"].as_str()).is_ok())
        .flat_map(|(_, e)| {
            normalizer().normalize(&LogEvent::from_value(e["detail"].clone()).unwrap())
        })
        .map(|r| {
            let stored = r.encode();
            assert_eq!(ActivityRecord::decode(&stored).unwrap(), r);
            stored.len()
        })
        .collect();
    sizes.sort_unstable();
    let p90 = sizes[sizes.len() * 9 / 10];
    let max = *sizes.last().unwrap();
    // The DynamoDB item adds ~250 bytes of keys and attribute names to the document.
    assert!(p90 + 250 < 1024, "p90 stored record {p90} bytes");
    assert!(max + 250 < 2048, "largest stored record {max} bytes");
}
