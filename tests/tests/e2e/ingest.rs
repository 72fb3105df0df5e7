//! The ingest handler against DynamoDB (moto): what lands where, idempotence,
//! refusals, secrets, late arrivals.

use lambda_runtime::{Context, LambdaEvent};
use okta_itdr_core::ports::ActivityStore;
use okta_itdr_core::record::Role;
use okta_itdr_core::time::{parse_rfc3339_ms, Hour, MINUTE};
use okta_itdr_e2e::{at, sample_event, Ev, LogCapture, TestEnv};
use okta_itdr_testkit::Typed;
use serde_json::{json, Value};

fn invocation(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

fn published(envelope: &Value) -> i64 {
    parse_rfc3339_ms(envelope["detail"]["published"].as_str().expect("published"))
        .expect("RFC 3339")
}

const SAMPLES: &[&str] = &[
    "signin-success.json",
    "signin-failure-unknown-user.json",
    "mfa-push-denied.json",
    "admin-privilege-granted.json",
    "api-token-created.json",
    "policy-change-via-api-token.json",
];

#[tokio::test]
async fn events_are_readable_by_identity_and_by_hour() {
    let env = TestEnv::new("ingest-read").await;
    let handler = env.ingest_handler();
    let store = env.activity_store();

    let alice = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T10:05:00Z");
    let bob = Ev::new("user.session.start")
        .user("00ubob", "bob@acme.com")
        .at("2026-11-10T10:20:00Z");
    let grant = Ev::new("user.account.privilege.grant")
        .user("00uadmin", "admin@acme.com")
        .at("2026-11-10T10:40:00Z")
        .target("User", "00ualice", "alice@acme.com", "Alice Adams")
        .debug("privilegeGranted", json!("Super administrator"));
    let next_hour = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T11:01:00Z");

    for ev in [&alice, &bob, &grant, &next_hour] {
        let arrived = ev.event().published + MINUTE;
        let response = handler
            .handle(invocation(ev.envelope()), arrived)
            .await
            .expect("ingest");
        assert_eq!(response.outcome, "stored");
        assert_eq!(response.uuid, ev.event().uuid);
        assert!(!response.late);
    }

    let timeline = store
        .identity_activity(
            "00ualice",
            at("2026-11-10T10:00:00Z"),
            at("2026-11-10T12:00:00Z"),
        )
        .await
        .expect("timeline");
    let summary: Vec<(String, Role)> = timeline
        .iter()
        .map(|r| (r.uuid.to_string(), r.role))
        .collect();
    assert_eq!(
        summary,
        vec![
            (alice.event().uuid, Role::Actor),
            (grant.event().uuid, Role::Target),
            (next_hour.event().uuid, Role::Actor)
        ],
        "alice's timeline holds her sign-ins and the grant done to her, oldest first"
    );
    // [from, to) is half-open on both ends of the key range.
    let exact = store
        .identity_activity(
            "00ualice",
            at("2026-11-10T10:05:00Z"),
            at("2026-11-10T11:01:00Z"),
        )
        .await
        .expect("timeline");
    assert_eq!(
        exact.iter().map(|r| r.uuid.clone()).collect::<Vec<_>>(),
        vec![alice.event().uuid, grant.event().uuid]
    );

    let hour = Hour::of(at("2026-11-10T10:00:00Z"));
    let mut in_hour: Vec<String> = store
        .hour_activity(hour)
        .await
        .expect("hour")
        .into_iter()
        .map(|r| {
            assert_eq!(
                r.role,
                Role::Actor,
                "only actor records are indexed by hour"
            );
            r.uuid.to_string()
        })
        .collect();
    in_hour.sort();
    let mut expected = vec![alice.event().uuid, bob.event().uuid, grant.event().uuid];
    expected.sort();
    assert_eq!(in_hour, expected, "each event of the hour exactly once");
    assert!(store
        .hour_activity(hour.prev())
        .await
        .expect("hour")
        .is_empty());
}

#[tokio::test]
async fn sample_events_are_stored() {
    let env = TestEnv::new("ingest-samples").await;
    let handler = env.ingest_handler();
    let store = env.activity_store();
    for name in SAMPLES {
        let envelope = sample_event(name);
        let t = published(&envelope);
        let response = handler
            .handle(invocation(envelope.clone()), t + MINUTE)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response.outcome, "stored", "{name}");
        assert!(response.records >= 1, "{name}");
        let uuid = envelope["detail"]["uuid"].as_str().expect("uuid");
        let hour = store.hour_activity(Hour::of(t)).await.expect("hour");
        assert_eq!(
            hour.iter().filter(|r| r.uuid == uuid).count(),
            1,
            "{name} is in its hour exactly once"
        );
    }
}

#[tokio::test]
async fn redelivery_is_a_duplicate_and_writes_nothing_new() {
    let env = TestEnv::new("ingest-dup").await;
    let handler = env.ingest_handler();
    let ev = Ev::new("user.account.privilege.grant")
        .user("00uadmin", "admin@acme.com")
        .at("2026-11-10T10:40:00Z")
        .target("User", "00ucarol", "carol@acme.com", "Carol")
        .debug("privilegeGranted", json!("Org administrator"));
    let arrived = ev.event().published + MINUTE;

    let first = handler
        .handle(invocation(ev.envelope()), arrived)
        .await
        .expect("first delivery");
    assert_eq!(first.outcome, "stored");
    assert_eq!(first.records, 2, "actor and target records");
    let items = env.count(&env.activity_table).await;

    for _ in 0..2 {
        let again = handler
            .handle(invocation(ev.envelope()), arrived + MINUTE)
            .await
            .expect("redelivery");
        assert_eq!(again.outcome, "duplicate");
    }
    assert_eq!(
        env.count(&env.activity_table).await,
        items,
        "a redelivery adds no item"
    );
    assert_eq!(
        env.partition(&env.activity_table, "U#00uadmin").await.len(),
        1
    );
    assert_eq!(
        env.partition(&env.activity_table, "U#00ucarol").await.len(),
        1
    );
}

#[tokio::test]
async fn bad_input_fails_the_invocation_and_writes_nothing() {
    let env = TestEnv::new("ingest-bad").await;
    let handler = env.ingest_handler();
    let good = Ev::new("user.session.start")
        .at("2026-11-10T10:05:00Z")
        .envelope();
    let now = at("2026-11-10T10:06:00Z");

    let mut wrong_type = good.clone();
    wrong_type["detail-type"] = json!("AWS API Call via CloudTrail");
    let mut no_uuid = good.clone();
    no_uuid["detail"]
        .as_object_mut()
        .expect("detail")
        .remove("uuid");
    let mut string_detail = good.clone();
    string_detail["detail"] = json!("user.session.start by alice");
    let mut no_source = good.clone();
    no_source
        .as_object_mut()
        .expect("envelope")
        .remove("source");

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "non-Okta source",
            sample_event("non-okta-event.json"),
            "Rejected",
        ),
        ("wrong detail-type", wrong_type, "Rejected"),
        ("detail without uuid", no_uuid, "Rejected"),
        ("detail that is a string", string_detail, "Rejected"),
        ("envelope without source", no_source, "InvalidEvent"),
        ("not an object", json!(["SystemLog"]), "InvalidEvent"),
        ("empty object", json!({}), "InvalidEvent"),
    ];
    for (what, payload, error_type) in cases {
        let err = handler
            .handle(invocation(payload), now)
            .await
            .expect_err(what);
        assert_eq!(err.error_type(), error_type, "{what}: {err}");
        assert!(!err.retryable(), "{what}: a refusal is final");
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, error_type);
        assert!(!diagnostic.error_message.is_empty());
        assert_eq!(
            env.count(&env.activity_table).await,
            0,
            "{what}: nothing may be written"
        );
    }
}

#[tokio::test]
async fn typed_passwords_are_neither_stored_nor_logged() {
    let env = TestEnv::new("ingest-secret").await;
    let handler = env.ingest_handler();
    let (logs, _guard) = LogCapture::start();

    let sample = sample_event("signin-failure-unknown-user.json");
    let sample_typed = sample["detail"]["actor"]["alternateId"]
        .as_str()
        .expect("typed username")
        .to_owned();
    let typed = "Summer2027#Secret";
    let built = Ev::new("user.session.start")
        .unknown_user(typed)
        .failure("VERIFICATION_ERROR")
        .at("2026-11-10T10:07:00Z");

    let r1 = handler
        .handle(invocation(sample.clone()), published(&sample) + MINUTE)
        .await
        .expect("sample");
    let r2 = handler
        .handle(invocation(built.envelope()), at("2026-11-10T10:08:00Z"))
        .await
        .expect("built");
    assert_eq!((r1.outcome, r2.outcome), ("stored", "stored"));

    let items = env.scan(&env.activity_table).await;
    assert!(!items.is_empty());
    for item in &items {
        let dump = format!("{item:?}");
        for secret in [sample_typed.as_str(), typed] {
            assert!(
                !dump.contains(secret),
                "an item holds the typed password {secret:?}"
            );
        }
        if let Some(rec) = item.get("rec") {
            let record = okta_itdr_aws::activity::decode_record(rec).expect("rec decodes");
            let text = serde_json::to_string(&record).expect("json");
            for secret in [sample_typed.as_str(), typed] {
                assert!(
                    !text.contains(secret),
                    "a record holds the typed password {secret:?}"
                );
            }
            let rec: Value = serde_json::from_str(&text).expect("rec is JSON");
            assert!(
                rec["identity"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("unknown:")),
                "unknown actors are keyed by a hash: {}",
                rec["identity"]
            );
            assert_eq!(rec["username_secret_like"], json!(true));
        }
    }

    let text = logs.text();
    for secret in [sample_typed.as_str(), typed] {
        assert!(
            !text.contains(secret),
            "a log line holds the typed password {secret:?}"
        );
    }
    let ours = logs.ours();
    assert_eq!(ours.len(), 2, "one line per event: {text}");
    for line in &ours {
        assert_eq!(line["outcome"], "stored");
        assert!(line["uuid"].as_str().is_some_and(|u| !u.is_empty()));
        assert_eq!(line["eventType"], "user.session.start");
        assert_eq!(line["late"], false);
    }
}

#[tokio::test]
async fn log_lines_say_what_happened_without_content() {
    let env = TestEnv::new("ingest-logs").await;
    let handler = env.ingest_handler();
    let (logs, _guard) = LogCapture::start();
    let ev = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T10:05:00Z");
    let now = at("2026-11-10T10:06:00Z");
    handler
        .handle(invocation(ev.envelope()), now)
        .await
        .expect("stored");
    handler
        .handle(invocation(ev.envelope()), now)
        .await
        .expect("duplicate");
    handler
        .handle(invocation(sample_event("non-okta-event.json")), now)
        .await
        .expect_err("rejected");

    let ours = logs.ours();
    let outcomes: Vec<&str> = ours.iter().filter_map(|l| l["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["stored", "duplicate", "rejected"]);
    assert_eq!(ours[2]["reason"], "not_okta_source");
    assert!(
        !logs.text().contains("alice@acme.com"),
        "logins stay out of the logs"
    );
    assert!(!logs.text().contains("Alice Adams"));
}

#[tokio::test]
async fn late_events_mark_their_hour_for_a_recheck() {
    let env = TestEnv::new("ingest-late").await;
    let handler = env.ingest_handler();
    let store = env.activity_store();
    let on_time = Ev::new("user.session.start").at("2026-11-10T09:50:00Z");
    let late = Ev::new("user.session.start").at("2026-11-10T10:10:00Z");
    let later = Ev::new("user.session.start").at("2026-11-10T10:20:00Z");

    let r = handler
        .handle(invocation(on_time.envelope()), at("2026-11-10T09:59:59Z"))
        .await
        .expect("on time");
    assert!(!r.late);
    let r = handler
        .handle(invocation(late.envelope()), at("2026-11-10T13:30:00Z"))
        .await
        .expect("late");
    assert!(r.late, "arrived after its hour ended");
    let r = handler
        .handle(invocation(later.envelope()), at("2026-11-10T13:45:00Z"))
        .await
        .expect("late");
    assert!(r.late);

    let hour10 = Hour::of(at("2026-11-10T10:00:00Z"));
    assert_eq!(
        store
            .late_hours(at("2026-11-10T13:00:00Z"), at("2026-11-10T14:00:00Z"))
            .await
            .expect("late"),
        vec![hour10]
    );
    assert_eq!(
        store
            .late_hours(at("2026-11-10T13:40:00Z"), at("2026-11-10T14:00:00Z"))
            .await
            .expect("late"),
        vec![hour10],
        "the marker keeps the latest arrival"
    );
    assert!(store
        .late_hours(at("2026-11-10T13:46:00Z"), at("2026-11-10T15:00:00Z"))
        .await
        .expect("late")
        .is_empty());
    assert!(
        store
            .late_hours(at("2026-11-10T09:00:00Z"), at("2026-11-10T13:00:00Z"))
            .await
            .expect("late")
            .is_empty(),
        "the on-time event left no marker"
    );
    assert!(store
        .late_hours(at("2026-11-10T14:00:00Z"), at("2026-11-10T13:00:00Z"))
        .await
        .expect("late")
        .is_empty());

    // One marker per (arrival hour, shard of the event's uuid, event hour).
    let arrival = Hour::of(at("2026-11-10T13:00:00Z"));
    let mut partitions: Vec<String> = [&late, &later]
        .iter()
        .map(|ev| {
            let uuid = ev.json["uuid"].as_str().expect("uuid");
            okta_itdr_aws::activity::late_partition(
                arrival,
                okta_itdr_aws::activity::shard_of(uuid, okta_itdr_aws::activity::LATE_SHARDS),
            )
        })
        .collect();
    partitions.dedup();
    let mut markers = 0;
    for pk in &partitions {
        let items = env.partition(&env.activity_table, pk).await;
        assert_eq!(items.len(), 1, "{pk}");
        markers += items.len();
    }
    assert_eq!(markers, partitions.len());
    // The late event is in its own hour like any other.
    let hour = store.hour_activity(hour10).await.expect("hour");
    assert_eq!(hour.len(), 2);
}

#[tokio::test]
async fn the_hour_indexed_actor_record_wins_a_key_collision() {
    let env = TestEnv::new("ingest-collide").await;
    let store = env.activity_store();
    let ev = Ev::new("user.account.update_profile")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T10:05:00Z");
    let actor = ev.record();
    let mut same_key = actor.clone();
    same_key.role = Role::Target;
    let outcome = store
        .put_event(&[same_key, actor.clone()], 1_900_000_000)
        .await
        .expect("put");
    assert_eq!(outcome, okta_itdr_core::ports::PutOutcome::Stored);
    let items = env.partition(&env.activity_table, "U#00ualice").await;
    assert_eq!(items.len(), 1);
    assert!(
        items[0].contains_key("hour_pk"),
        "the stored record is the indexed actor record"
    );
    let hour = store
        .hour_activity(Hour::of(actor.published))
        .await
        .expect("hour");
    assert_eq!(hour, vec![actor]);
}

#[tokio::test]
async fn late_markers_after_a_long_pause_are_still_found() {
    let env = TestEnv::new("ingest-pause").await;
    let handler = env.ingest_handler();
    let store = env.activity_store();
    let ev = Ev::new("user.session.start").at("2026-12-20T10:10:00Z");
    let r = handler
        .handle(invocation(ev.envelope()), at("2026-12-20T12:00:00Z"))
        .await
        .expect("late");
    assert!(r.late);
    // The detector last looked two months earlier.
    let hours = store
        .late_hours(at("2026-10-20T00:00:00Z"), at("2026-12-20T13:00:00Z"))
        .await
        .expect("late hours");
    assert_eq!(hours, vec![Hour::of(at("2026-12-20T10:00:00Z"))]);
}
