//! The stored identities brought up to date from events, enrichment through
//! the stores, and publishing posture findings on change.

use crate::test_support::Typed;
use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::checks::{CheckResult, Subject, Verdict};
use super::enrich::{apply_identity, enrich};
use super::identity::{apply_events, Identity, Overlay, MAX_GROUPS};
use super::publish::{decide, subjects_digest, CheckState};
use crate::alert::Alert;
use crate::detect::Severity;
use crate::memory::MemoryStore;
use crate::ports::{ActivityStore, IdentityStore};
use crate::record::ActivityRecord;
use crate::test_support::{at, Ev};

const REFRESH: &str = "2026-11-10T06:00:00Z";

fn bob() -> Identity {
    Identity {
        id: "00ubob".into(),
        login: "bob@acme.com".into(),
        display_name: Some("Bob Brown".into()),
        status: "ACTIVE".into(),
        groups: vec!["Everyone".into()],
        group_count: 1,
        factor_types: Some(vec!["push".into()]),
        phishing_resistant: Some(false),
        fetched_at: at(REFRESH),
        ..Identity::default()
    }
}

/// An event done by alice to bob at `time`.
fn to_bob(event_type: &str, time: &str) -> Ev {
    Ev::new(event_type)
        .at(time)
        .target("User", "00ubob", "bob@acme.com", "Bob Brown")
}

fn records(evs: &[Ev]) -> Vec<ActivityRecord> {
    evs.iter().flat_map(Ev::records).collect()
}

#[test]
fn a_role_granted_after_the_refresh_makes_the_user_an_admin() {
    let mut id = bob();
    let grant = to_bob("user.account.privilege.grant", "2026-11-10T09:00:00Z").debug(
        "privilegeGranted",
        json!("Super administrator, Read only administrator"),
    );
    let overlay = apply_events(&mut id, &records(&[grant]));
    assert_eq!(id.admin_roles, ["READ_ONLY_ADMIN", "SUPER_ADMIN"]);
    assert!(overlay.held_admin);
    assert_eq!(overlay.applied, ["user.account.privilege.grant"]);
}

#[test]
fn events_before_the_refresh_failed_or_about_someone_else_change_nothing() {
    let mut id = bob();
    let before = to_bob("user.account.privilege.grant", "2026-11-10T05:00:00Z")
        .debug("privilegeGranted", json!("Super administrator"));
    let failed = to_bob("user.account.privilege.grant", "2026-11-10T07:00:00Z")
        .debug("privilegeGranted", json!("Super administrator"))
        .failure("INSUFFICIENT_PERMISSIONS");
    // Bob grants carol a role: on bob's timeline as actor, about carol.
    let by_bob = Ev::new("user.account.privilege.grant")
        .at("2026-11-10T08:00:00Z")
        .user("00ubob", "bob@acme.com")
        .target("User", "00ucarol", "carol@acme.com", "Carol")
        .debug("privilegeGranted", json!("Super administrator"));
    let overlay = apply_events(&mut id, &records(&[before, failed, by_bob]));
    assert_eq!(id, bob());
    assert_eq!(overlay, Overlay::default());
}

#[test]
fn a_revoke_after_the_activity_keeps_the_admin_treatment() {
    let mut id = bob();
    let evs = [
        to_bob("user.account.privilege.grant", "2026-11-10T09:00:00Z")
            .debug("privilegeGranted", json!("Organization administrator")),
        to_bob("user.account.privilege.revoke", "2026-11-10T10:00:00Z"),
    ];
    let overlay = apply_events(&mut id, &records(&evs));
    assert!(id.admin_roles.is_empty());
    assert!(overlay.held_admin, "an admin for an hour since the refresh");
    let mut a = alert("00ubob", Severity::Low);
    assert!(apply_identity(&mut a, &id, &overlay));
    assert_eq!(a.severity, Severity::High);
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        body["unmapped"]["okta_identity"]["admin_since_inventory"],
        true
    );
}

#[test]
fn lifecycle_factors_and_groups_follow_the_events_in_order() {
    let mut id = bob();
    let evs = [
        to_bob("user.lifecycle.suspend", "2026-11-10T07:00:00Z"),
        // Bob enrols a security key himself: no User target, he is the actor.
        Ev::new("user.mfa.factor.activate")
            .at("2026-11-10T07:30:00Z")
            .user("00ubob", "bob@acme.com")
            .target(
                "AuthenticatorEnrollment",
                "pfd1",
                "unknown",
                "Security Key or Biometric",
            ),
        to_bob("group.user_membership.add", "2026-11-10T08:00:00Z").target(
            "UserGroup",
            "00gadm",
            "unknown",
            "Domain Admins",
        ),
        to_bob("group.user_membership.remove", "2026-11-10T08:30:00Z").target(
            "UserGroup",
            "00gall",
            "unknown",
            "Everyone",
        ),
        to_bob("user.lifecycle.deactivate", "2026-11-10T09:00:00Z"),
    ];
    let overlay = apply_events(&mut id, &records(&evs));
    assert_eq!(id.status, "DEPROVISIONED");
    assert_eq!(
        id.factor_types.as_deref(),
        Some(&["push".to_owned(), "webauthn".to_owned()][..])
    );
    assert_eq!(id.phishing_resistant, Some(true));
    assert_eq!(id.groups, ["Domain Admins"]);
    assert_eq!(id.group_count, 1);
    assert_eq!(overlay.applied.len(), 5);
    assert!(!overlay.held_admin);

    let reset = to_bob("user.mfa.factor.reset_all", "2026-11-10T10:00:00Z");
    apply_events(&mut id, &records(&[reset]));
    assert_eq!(id.factor_types.as_deref(), Some(&[][..]));
    assert_eq!(id.phishing_resistant, Some(false));
}

#[test]
fn group_counts_stay_exact_past_the_kept_groups() {
    let mut id = bob();
    id.groups = (0..MAX_GROUPS).map(|i| format!("g{i:03}")).collect();
    id.group_count = MAX_GROUPS + 10;
    let add = to_bob("group.user_membership.add", "2026-11-10T08:00:00Z").target(
        "UserGroup",
        "00gx",
        "unknown",
        "zz-new",
    );
    apply_events(&mut id, &records(&[add]));
    assert_eq!(id.group_count, MAX_GROUPS + 11);
    assert_eq!(id.groups.len(), MAX_GROUPS);
}

fn alert(uid: &str, severity: Severity) -> Alert {
    Alert {
        uid: "f1".into(),
        subject: format!("[{}] Something: bob@acme.com", severity.upper()),
        body: json!({"severity_id": severity.ocsf_id(), "severity": severity.label(),
            "evidences": [{"actor": {"user": {"uid": uid, "name": "bob@acme.com", "type": "User"}}}]})
        .to_string(),
        severity,
        detection: "d".into(),
        principal: "bob@acme.com".into(),
        time: at("2026-11-10T11:00:00Z"),
    }
}

#[tokio::test]
async fn enrichment_reads_the_stored_identity_and_the_events_since() {
    let store = MemoryStore::new();
    store.save_identities(&[bob()], 0).await.unwrap();
    let now = at("2026-11-10T12:00:00Z");

    let mut plain = alert("00ubob", Severity::Medium);
    assert!(enrich(&mut plain, &store, &store, now).await.unwrap());
    assert_eq!(plain.severity, Severity::Medium);
    let body: Value = serde_json::from_str(&plain.body).unwrap();
    assert_eq!(body["evidences"][0]["actor"]["user"]["name"], "Bob Brown");
    assert_eq!(
        body["unmapped"]["okta_identity"]["factor_types"],
        json!(["push"])
    );

    let grant = to_bob("user.account.privilege.grant", "2026-11-10T09:00:00Z")
        .debug("privilegeGranted", json!("Super administrator"));
    store.put_event(&grant.records(), i64::MAX).await.unwrap();
    let mut a = alert("00ubob", Severity::Medium);
    assert!(enrich(&mut a, &store, &store, now).await.unwrap());
    assert_eq!(a.severity, Severity::High);
    assert!(a.subject.starts_with("[HIGH] "), "{}", a.subject);
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["severity_id"], 4);
    assert_eq!(body["evidences"][0]["actor"]["user"]["type"], "Admin");
    assert_eq!(
        body["unmapped"]["okta_identity"]["admin_roles"],
        json!(["SUPER_ADMIN"])
    );

    // No stored identity (no inventory, or not an Okta user): unchanged.
    let mut other = alert("00uother", Severity::Medium);
    let before = other.clone();
    assert!(!enrich(&mut other, &store, &store, now).await.unwrap());
    assert_eq!(other, before);
    let mut unparsable = alert("00ubob", Severity::Medium);
    unparsable.body = "not json".into();
    assert!(!enrich(&mut unparsable, &store, &store, now).await.unwrap());
}

fn failing(uids: &[&str]) -> CheckResult {
    CheckResult {
        id: "user_without_mfa",
        verdict: if uids.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        evaluated: 10,
        subjects: uids
            .iter()
            .map(|u| Subject {
                uid: (*u).into(),
                name: format!("{u}@acme.com"),
                kind: "user",
                detail: "no factor".into(),
            })
            .collect(),
        note: String::new(),
    }
}

/// Runs `decide` as the refresh does: stores what it says to store.
fn step(stored: &mut BTreeMap<String, CheckState>, r: &CheckResult, now: i64) -> bool {
    let d = decide(stored.get(r.id), r, now);
    if let Some(next) = d.next {
        stored.insert(r.id.to_owned(), next);
    }
    d.publish
}

#[test]
fn a_failing_check_is_published_once_and_again_when_its_subjects_change() {
    let mut stored = BTreeMap::new();
    assert!(
        step(&mut stored, &failing(&["00ua", "00ub"]), 1),
        "starts failing"
    );
    assert!(
        !step(&mut stored, &failing(&["00ub", "00ua"]), 2),
        "same set, any order"
    );
    let mut detail = failing(&["00ua", "00ub"]);
    detail.subjects[0].detail = "42 days".into();
    assert!(
        !step(&mut stored, &detail, 3),
        "details moving with time are no change"
    );
    // One fixed, a new one failing: same count, different set.
    assert!(step(&mut stored, &failing(&["00ua", "00uc"]), 4));
    assert!(
        step(&mut stored, &failing(&["00ua", "00uc", "00ud"]), 5),
        "a new subject"
    );
    assert!(step(&mut stored, &failing(&["00ua"]), 6), "fewer subjects");
    assert_eq!(stored["user_without_mfa"].subjects, 1);
}

#[test]
fn unknown_is_never_a_pass_and_a_pass_after_failing_is_published_once() {
    let mut stored = BTreeMap::new();
    assert!(
        !step(&mut stored, &failing(&[]), 1),
        "a first pass is news to no one"
    );
    assert!(step(&mut stored, &failing(&["00ua"]), 2));
    let mut unknown = failing(&[]);
    unknown.verdict = Verdict::Unknown;
    assert!(
        step(&mut stored, &unknown, 3),
        "no longer readable: said once"
    );
    assert!(!step(&mut stored, &unknown, 3), "and only once");
    assert_eq!(
        stored["user_without_mfa"].verdict, "fail",
        "unknown keeps the state"
    );
    assert!(
        !step(&mut stored, &failing(&["00ua"]), 4),
        "readable again, same weakness"
    );
    assert!(step(&mut stored, &failing(&[]), 5), "resolved");
    assert!(!step(&mut stored, &failing(&[]), 6));
    assert!(step(&mut stored, &failing(&["00ua"]), 7), "failing again");
}

#[test]
fn a_scope_taken_away_to_hide_a_weakness_is_published_and_a_scope_never_granted_is_not() {
    // The attack: an admin removes the app's read scope, then adds the
    // weakness. Losing the check is published once; readable again with the
    // new subject, the change is published too.
    let mut stored = BTreeMap::new();
    assert!(step(&mut stored, &failing(&["00ua"]), 1));
    let mut unknown = failing(&[]);
    unknown.verdict = Verdict::Unknown;
    assert!(step(&mut stored, &unknown, 2), "the check went dark");
    assert!(!step(&mut stored, &unknown, 3));
    assert!(
        step(&mut stored, &failing(&["00ua", "00uattacker"]), 4),
        "readable again with a new subject"
    );
    assert!(step(&mut stored, &unknown, 5), "dark again: said again");
    assert!(!step(&mut stored, &failing(&["00ua", "00uattacker"]), 6));
    assert_eq!(stored["user_without_mfa"].unreadable_since, None);
    // A check the credentials never could read: nothing, every refresh.
    let mut never = BTreeMap::new();
    assert!(!step(&mut never, &unknown, 1));
    assert!(!step(&mut never, &unknown, 2));
}

#[test]
fn the_digest_covers_every_subject_not_a_capped_list() {
    let many: Vec<String> = (0..2000).map(|i| format!("00u{i:05}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut swapped = refs.clone();
    swapped[1999] = "00uattacker";
    assert_ne!(
        subjects_digest(&failing(&refs)),
        subjects_digest(&failing(&swapped))
    );
    // Kinds are part of the identity of a subject.
    let mut as_token = failing(&["00ua"]);
    as_token.subjects[0].kind = "api_token";
    assert_ne!(
        subjects_digest(&failing(&["00ua"])),
        subjects_digest(&as_token)
    );
}

#[test]
fn bodies_of_any_shape_are_left_alone_without_a_panic() {
    let id = bob();
    let overlay = Overlay::default();
    for body in [
        "[]",
        "{}",
        "42",
        r#"{"evidences": 3}"#,
        r#"{"evidences": [[]]}"#,
        r#"{"evidences": [{"actor": {"user": "bob"}}]}"#,
        r#"{"evidences": [], "unmapped": 1}"#,
    ] {
        let mut a = alert("00ubob", Severity::Low);
        a.body = body.into();
        let before = a.clone();
        assert!(!apply_identity(&mut a, &id, &overlay), "{body}");
        assert_eq!(a, before);
    }
    // A user object but an `unmapped` that is not an object: replaced.
    let mut a = alert("00ubob", Severity::Low);
    a.body =
        json!({"evidences": [{"actor": {"user": {"uid": "00ubob"}}}], "unmapped": [1]}).to_string();
    assert!(apply_identity(&mut a, &id, &overlay));
}

#[test]
fn unreadable_roles_are_said_and_never_claim_a_plain_user() {
    let mut inv = super::model::Inventory::unknown("https://acme.okta.com", at(REFRESH), "403");
    inv.users = super::model::Part::Known(vec![super::model::User {
        id: "00ubob".into(),
        login: "bob@acme.com".into(),
        status: "ACTIVE".into(),
        ..Default::default()
    }]);
    let (meta, users) = super::identity::identities(&inv);
    assert!(meta.unknown.contains(&"admins".to_owned()));
    assert!(users[0].admin_roles_unknown);
    assert_eq!(
        users[0].factor_types, None,
        "factors unread: not an empty list"
    );
    let mut a = alert("00ubob", Severity::Low);
    assert!(apply_identity(&mut a, &users[0], &Overlay::default()));
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        body["evidences"][0]["actor"]["user"]["type"], "User",
        "as rendered"
    );
    assert!(body["evidences"][0]["actor"]["user"]["type_id"].is_null());
    assert_eq!(
        body["unmapped"]["okta_identity"]["admin_roles_unknown"],
        true
    );
    assert!(body["unmapped"]["okta_identity"]["factor_types"].is_null());
}

/// The detector's enricher over the in-memory stores, as the detect function
/// wires its DynamoDB ones.
struct StoreEnricher(std::sync::Arc<MemoryStore>, i64);

impl crate::detect::Enricher for StoreEnricher {
    fn enrich<'a>(
        &'a self,
        alert: &'a mut Alert,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let _ = enrich(alert, &*self.0, &*self.0, self.1).await;
        })
    }
}

#[tokio::test]
async fn the_detector_stores_the_alert_it_publishes_enriched() {
    use crate::detect::run::Detector;
    use crate::memory::CollectingSink;
    use std::sync::Arc;

    let store = Arc::new(MemoryStore::new());
    let mut admin = bob();
    admin.admin_roles = vec!["ORG_ADMIN".into()];
    store.save_identities(&[admin], 0).await.unwrap();
    let t0 = at("2026-11-10T10:05:00Z");
    for i in 0..12 {
        let ev = Ev::new("user.session.start")
            .user("00ubob", "bob@acme.com")
            .ip("185.220.101.47")
            .failure("INVALID_CREDENTIALS")
            .at_ms(t0 + i * 100_000);
        store.put_event(&ev.records(), i64::MAX).await.unwrap();
    }
    let sink = Arc::new(CollectingSink::new());
    let now = at("2026-11-10T11:05:00Z");
    let detector = Detector::new(
        store.clone(),
        store.clone(),
        sink.clone(),
        crate::detect::DetectConfig {
            first_run_hours: 2,
            ..crate::detect::DetectConfig::default()
        },
    )
    .with_enricher(Arc::new(StoreEnricher(store.clone(), now)));
    detector.run(now).await.unwrap();
    let published = sink.alerts();
    let bobs: Vec<&Alert> = published
        .iter()
        .filter(|a| a.body.contains("00ubob"))
        .collect();
    assert!(!bobs.is_empty(), "{published:?}");
    for a in bobs {
        assert!(a.severity >= Severity::High, "{}", a.subject);
        let body: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(
            body["unmapped"]["okta_identity"]["admin_roles"],
            json!(["ORG_ADMIN"])
        );
        // What suppression and escalation compare later is what was sent.
        let stored = store
            .findings()
            .into_iter()
            .find(|f| f.uid == a.uid)
            .expect("stored");
        assert_eq!(&stored.alert, a);
    }
}

#[tokio::test]
async fn a_repeat_after_a_role_grant_is_sent_not_folded_into_the_earlier_alert() {
    use crate::detect::run::Detector;
    use crate::memory::CollectingSink;
    use std::sync::Arc;

    let store = Arc::new(MemoryStore::new());
    store.save_identities(&[bob()], 0).await.unwrap();
    let attempts = |from: &str| -> Vec<Ev> {
        let t0 = at(from);
        (0..12)
            .map(|i| {
                Ev::new("user.session.start")
                    .user("00ubob", "bob@acme.com")
                    .ip("185.220.101.47")
                    .failure("INVALID_CREDENTIALS")
                    .at_ms(t0 + i * 100_000)
            })
            .collect()
    };
    for ev in attempts("2026-11-10T10:05:00Z") {
        store.put_event(&ev.records(), i64::MAX).await.unwrap();
    }
    let sink = Arc::new(CollectingSink::new());
    let config = crate::detect::DetectConfig {
        first_run_hours: 1,
        ..crate::detect::DetectConfig::default()
    };
    let detector = |now: i64| {
        Detector::new(store.clone(), store.clone(), sink.clone(), config.clone())
            .with_enricher(Arc::new(StoreEnricher(store.clone(), now)))
    };
    let t = at("2026-11-10T11:05:00Z");
    detector(t).run(t).await.unwrap();
    let first = sink.drain();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].severity < Severity::High);

    // Bob was made an admin after the refresh (an event of an hour no run
    // analyses again, so no detection of its own pages for it), and the same
    // attack goes on hours later, within the suppression period.
    let grant = to_bob("user.account.privilege.grant", "2026-11-10T09:00:00Z")
        .debug("privilegeGranted", json!("Organization administrator"));
    store.put_event(&grant.records(), i64::MAX).await.unwrap();
    for ev in attempts("2026-11-10T13:05:00Z") {
        store.put_event(&ev.records(), i64::MAX).await.unwrap();
    }
    let t = at("2026-11-10T14:05:00Z");
    let report = detector(t).run(t).await.unwrap();
    let second = sink.drain();
    let bobs: Vec<&Alert> = second
        .iter()
        .filter(|a| a.body.contains("00ubob"))
        .collect();
    assert!(
        bobs.iter().any(|a| a.severity >= Severity::High),
        "{report:?} {second:?}"
    );
}

#[test]
fn roles_that_become_unreadable_keep_their_last_known_value() {
    let mut before = bob();
    before.admin_roles = vec!["SUPER_ADMIN".into()];
    let previous = std::collections::HashMap::from([("00ubob".to_owned(), before)]);
    let mut now = bob();
    now.admin_roles_unknown = true;
    let mut readable = bob();
    super::identity::keep_known_roles(std::slice::from_mut(&mut now), &previous);
    assert_eq!(now.admin_roles, ["SUPER_ADMIN"]);
    assert!(now.admin_roles_unknown);
    // Read again: what the refresh read, even no role at all.
    super::identity::keep_known_roles(std::slice::from_mut(&mut readable), &previous);
    assert!(readable.admin_roles.is_empty());
    let mut a = alert("00ubob", Severity::Low);
    let overlay = Overlay {
        held_admin: true,
        ..Overlay::default()
    };
    assert!(apply_identity(&mut a, &now, &overlay));
    assert_eq!(a.severity, Severity::High);
}
