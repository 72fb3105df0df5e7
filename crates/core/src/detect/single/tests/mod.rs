//! Tests of the single-event detections: the table and the engine here, each
//! detection in the file of its module.

use crate::test_support::Typed;
use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use super::{evaluate, matches, RULES};
use crate::detect::{
    catalog, Analysis, DetectConfig, Finding, Kind, PrincipalKind, Severity, CATALOG,
};
use crate::record::{ActivityRecord, IdentityKind, Role};
use crate::test_support::{at, Ev};
use crate::time::Hour;

const HOUR_START: &str = "2026-11-10T10:00:00Z";

fn run(records: &[ActivityRecord], config: &DetectConfig) -> Vec<Finding> {
    let (baselines, histories) = (HashMap::new(), HashMap::new());
    let a = Analysis {
        hour: Hour::of(at(HOUR_START)),
        records,
        baselines: &baselines,
        org: None,
        histories: &histories,
        config,
    };
    evaluate(&a)
}

fn fires(id: &str, ev: &Ev) -> bool {
    matches(&DetectConfig::default(), id, &ev.record())
}

/// The one finding of `id` that evaluating the event produces; checks that the
/// predicate and the engine agree.
fn finding(id: &str, ev: &Ev) -> Finding {
    let r = ev.record();
    assert!(fires(id, ev), "{id} should fire on {}", r.event.event_type);
    let mut found: Vec<Finding> = run(&[r], &DetectConfig::default())
        .into_iter()
        .filter(|f| f.detection == id)
        .collect();
    assert_eq!(found.len(), 1, "{id}: one finding per event");
    found.remove(0)
}

fn frank() -> Ev {
    Ev::new("user.account.privilege.grant")
        .user("00ufrank", "frank@acme.com")
        .from(
            "203.0.113.7",
            "Ashburn",
            "United States",
            39.04,
            -77.49,
            14618,
            "amazon.com",
        )
}

fn detections_of(ev: &Ev) -> BTreeSet<String> {
    run(&[ev.record()], &DetectConfig::default())
        .into_iter()
        .map(|f| f.detection)
        .collect()
}

// --- the table ------------------------------------------------------------------

#[test]
fn every_single_event_detection_of_the_catalog_has_exactly_one_rule() {
    let singles: BTreeSet<&str> = CATALOG
        .iter()
        .filter(|m| m.kind == Kind::Single)
        .map(|m| m.id)
        .collect();
    let rules: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(rules.len(), RULES.len(), "a detection has two rules");
    assert_eq!(rules, singles);
    assert_eq!(rules.len(), 33);
    assert!(RULES.iter().all(|r| super::meta(r).is_some()));
}

#[test]
fn unknown_and_windowed_ids_never_match() {
    let lock = Ev::new("user.account.lock").failure("LOCKED_OUT");
    assert!(fires("account_locked", &lock));
    assert!(!fires("no_such_detection", &lock));
    let failed = Ev::new("user.session.start").failure("INVALID_CREDENTIALS");
    assert_eq!(
        catalog::find("brute_force_user").map(|m| m.kind),
        Some(Kind::Windowed)
    );
    assert!(!matches(
        &DetectConfig::default(),
        "brute_force_user",
        &failed.record()
    ));
}

// --- the engine -----------------------------------------------------------------

#[test]
fn a_disabled_detection_does_not_fire() {
    let lock = Ev::new("user.account.lock").failure("LOCKED_OUT").record();
    let proxy = Ev::new("user.session.start").proxy(true).record();
    let config = DetectConfig::from_json(r#"{"disabled":["account_locked"]}"#).unwrap();
    let found: Vec<String> = run(&[lock.clone(), proxy.clone()], &config)
        .into_iter()
        .map(|f| f.detection)
        .collect();
    assert_eq!(found, vec!["proxy_sign_in"]);
    assert!(!matches(&config, "account_locked", &lock));
    assert!(matches(&config, "proxy_sign_in", &proxy));
    let everything = run(&[lock, proxy], &DetectConfig::default());
    assert_eq!(everything.len(), 2);
}

#[test]
fn findings_only_for_records_in_the_analysed_hour() {
    let before = Ev::new("user.account.lock")
        .at("2026-11-10T09:59:59.999Z")
        .record();
    let first = Ev::new("user.account.lock")
        .at("2026-11-10T10:00:00Z")
        .record();
    let last = Ev::new("user.account.lock")
        .at("2026-11-10T10:59:59.999Z")
        .record();
    let after = Ev::new("user.account.lock")
        .at("2026-11-10T11:00:00Z")
        .record();
    let records = [before, first.clone(), last.clone(), after];
    let found = run(&records, &DetectConfig::default());
    let evidence: Vec<&str> = found.iter().map(|f| f.evidence[0].as_str()).collect();
    assert_eq!(
        evidence,
        vec![first.uuid.to_string(), last.uuid.to_string()]
    );
    assert_eq!(found[0].anchor, first.published);
    assert_eq!(
        (found[0].first_seen, found[0].last_seen),
        (first.published, first.published)
    );
}

#[test]
fn only_actor_records_are_evaluated() {
    let records = Ev::new("user.mfa.factor.reset_all")
        .user("00uadmin", "admin@acme.com")
        .target("User", "00ubob", "bob@acme.com", "Bob")
        .records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].role, Role::Target);
    assert_eq!(run(&records, &DetectConfig::default()).len(), 1);
    assert!(run(&records[1..], &DetectConfig::default()).is_empty());
}

#[test]
fn findings_carry_the_catalog_wording_and_the_event() {
    let ev = Ev::new("system.api_token.create")
        .user("00ualice", "alice@acme.com")
        .target("Token", "00Tabc", "unknown", "ci-deploy");
    let r = ev.record();
    let f = finding("api_token_created", &ev);
    let meta = catalog::find("api_token_created").unwrap();
    assert_eq!((f.severity, f.title.as_str()), (meta.severity, meta.title));
    assert_eq!(f.evidence, vec![r.uuid.to_string()]);
    assert_eq!(f.endpoints, vec![(*r.network).clone()]);
    assert_eq!(f.principal.identity, "00ualice");
    assert_eq!(
        f.summary,
        "alice@acme.com created API token ci-deploy from 73.92.10.5 (United States)"
    );
    assert_eq!(f.facts["token_name"], json!("ci-deploy"));
    assert_eq!(f.facts["token_id"], json!("00Tabc"));
}

/// `evaluate` and `matches` read the same predicates: on a mix of events, the
/// detections that produce findings are exactly those `matches` accepts.
#[test]
fn the_engine_and_the_predicate_agree() {
    let events = [
        frank()
            .target("User", "00uerin", "erin@acme.com", "Erin")
            .debug("privilegeGranted", json!("Super administrator")),
        Ev::new("user.mfa.factor.deactivate")
            .user("system@okta.com", "system@okta.com")
            .no_user_agent()
            .target("User", "00ubob", "bob@acme.com", "Bob"),
        Ev::new("user.session.start").proxy(true),
        Ev::new("user.session.start").failure("INVALID_CREDENTIALS"),
        Ev::new("system.org.rate_limit.warning"),
        Ev::new("policy.rule.update").target_with_changes(
            "PolicyRule",
            "0pr1",
            "Require MFA",
            json!({"from": {"factorMode": "2FA"}, "to": {"factorMode": "1FA"}}),
        ),
    ];
    for ev in &events {
        let r = ev.record();
        let by_predicate: BTreeSet<String> = RULES
            .iter()
            .filter(|rule| matches(&DetectConfig::default(), rule.id, &r))
            .map(|rule| rule.id.to_owned())
            .collect();
        assert_eq!(detections_of(ev), by_predicate, "{}", r.event.event_type);
    }
    let reset = detections_of(&events[1]);
    assert!(reset.contains("mfa_factor_reset") && reset.contains("okta_support_reset"));
}

mod access;
mod identity;
mod tenant;
mod threats;
