//! Arbitrary input never panics the parser or the normaliser: it parses, or it is
//! rejected with an error.

use okta_itdr_core::event::LogEvent;
use okta_itdr_core::ingest::check_envelope;
use okta_itdr_testkit::Typed;
use okta_itdr_testkit::{normalizer, Ev};
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
        Just(json!("null")),
        Just(json!("{New Device=POSITIVE, New IP=NEGATIVE}")),
        Just(json!("2026-11-10T10:00:00Z")),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("uuid".to_string()),
                    Just("published".to_string()),
                    Just("eventType".to_string()),
                    Just("actor".to_string()),
                    Just("client".to_string()),
                    Just("target".to_string()),
                    Just("debugContext".to_string()),
                    Just("debugData".to_string()),
                    Just("behaviors".to_string()),
                    Just("risk".to_string()),
                    Just("logOnlySecurityData".to_string()),
                    Just("securityContext".to_string()),
                    Just("geographicalContext".to_string()),
                    Just("geolocation".to_string()),
                    Just("transaction".to_string()),
                    Just("detail".to_string()),
                    Just("outcome".to_string()),
                    Just("alternateId".to_string()),
                    Just("id".to_string()),
                    Just("type".to_string()),
                    Just("changeDetails".to_string()),
                    "[a-zA-Z]{1,8}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at one path of a realistic event with arbitrary JSON.
fn mutate(mut event: Value, path: &[String], replacement: Value) -> Value {
    let mut cur = &mut event;
    for (i, k) in path.iter().enumerate() {
        if i + 1 == path.len() {
            if let Value::Object(m) = cur {
                m.insert(k.clone(), replacement);
            }
            break;
        }
        match cur.get_mut(k) {
            Some(next) if next.is_object() => cur = next,
            _ => break,
        }
    }
    event
}

fn paths() -> Vec<Vec<String>> {
    let p = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
    [
        "actor",
        "actor.id",
        "actor.alternateId",
        "client",
        "client.ipAddress",
        "client.geographicalContext",
        "client.geographicalContext.geolocation",
        "client.geographicalContext.geolocation.lat",
        "client.userAgent",
        "target",
        "debugContext",
        "debugContext.debugData",
        "debugContext.debugData.behaviors",
        "debugContext.debugData.risk",
        "debugContext.debugData.logOnlySecurityData",
        "debugContext.debugData.threatSuspected",
        "securityContext",
        "securityContext.asNumber",
        "securityContext.isProxy",
        "transaction",
        "transaction.detail",
        "outcome",
        "outcome.result",
        "authenticationContext",
        "authenticationContext.authenticationStep",
        "request",
        "published",
        "eventType",
        "uuid",
    ]
    .iter()
    .map(|s| p(s))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_parses_or_is_rejected(v in arb_json()) {
        if let Ok(event) = LogEvent::from_value(v.clone()) {
            let records = normalizer().normalize(&event);
            prop_assert!(!records.is_empty());
        }
        let _ = check_envelope(v.get("source").and_then(Value::as_str), v.get("detail-type").and_then(Value::as_str));
    }

    #[test]
    fn arbitrary_bytes_parse_or_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = LogEvent::from_slice(&bytes);
    }

    #[test]
    fn a_real_event_with_any_field_replaced_never_panics(which in 0usize..29, replacement in arb_json()) {
        let base = Ev::new("user.session.start").target("User", "00ubob", "bob@acme.com", "Bob").json;
        let path = &paths()[which];
        let mutated = mutate(base, path, replacement);
        if let Ok(event) = LogEvent::from_value(mutated.clone()) {
            let records = normalizer().normalize(&event);
            prop_assert_eq!(records[0].uuid.to_string(), event.uuid.as_str());
            // Round trip through the storage form.
            for r in &records {
                let text = serde_json::to_string(r).unwrap();
                let back: okta_itdr_core::record::ActivityRecord = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(&back, r);
            }
        }
        let bytes = serde_json::to_vec(&mutated).unwrap();
        let _ = LogEvent::from_slice(&bytes);
    }
}

#[test]
fn identifying_fields_are_required_and_reported() {
    let base = Ev::new("user.session.start").json;
    for (field, expect) in [
        ("uuid", "uuid"),
        ("published", "published"),
        ("eventType", "eventType"),
    ] {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove(field);
        let err = LogEvent::from_value(v).unwrap_err().to_string();
        assert!(err.contains(expect), "{err}");
    }
    let mut v = base.clone();
    v["published"] = json!("last tuesday");
    assert!(LogEvent::from_value(v)
        .unwrap_err()
        .to_string()
        .contains("RFC 3339"));
    assert!(LogEvent::from_value(json!("a string")).is_err());
    assert!(LogEvent::from_value(json!([1, 2])).is_err());
}

#[test]
fn wrongly_typed_leaves_are_tolerated() {
    let v = Ev::new("user.session.start")
        .set(&["securityContext", "asNumber"], json!("7922"))
        .set(&["securityContext", "isProxy"], json!("TRUE"))
        .set(
            &["client", "geographicalContext", "geolocation", "lat"],
            json!("37.5"),
        )
        .set(&["client", "zone"], json!("null"))
        .set(
            &["debugContext", "debugData", "threatSuspected"],
            json!(true),
        )
        .set(&["outcome", "result"], json!("SOMETHING_NEW"))
        .set(&["target"], Value::Null)
        .event();
    let r = normalizer().normalize(&v).remove(0);
    assert_eq!(r.network.asn, Some(7922));
    assert!(r.network.proxy);
    assert_eq!(r.network.lat, Some(37.5));
    assert_eq!(r.network.zone, None);
    assert!(r.risk.threat_suspected);
    assert_eq!(r.event.outcome.as_str(), "SOMETHING_NEW");
}
