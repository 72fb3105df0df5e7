//! The deployment template and the code agree: table keys and index, the
//! functions' environment, parameter bounds, and IAM permissions for every
//! DynamoDB and SNS call the functions make. No AWS needed.

use okta_itdr_aws::activity::BY_HOUR_INDEX;
use okta_itdr_aws::config::{self, DetectSettings, IngestSettings};
use okta_itdr_e2e::{table_spec, template};
use serde_yaml::Value as Yaml;

#[path = "template/alarms.rs"]
mod alarms;

fn resource(id: &str) -> &'static Yaml {
    let r = &template()["Resources"][id];
    assert!(!r.is_null(), "template has no resource {id}");
    r
}

fn env_names(function: &str) -> Vec<String> {
    resource(function)["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{function} has no environment"))
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect()
}

/// Every action a function's inline policies allow.
fn actions(function: &str) -> Vec<String> {
    let mut out = Vec::new();
    for policy in resource(function)["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            if statement["Effect"].as_str() != Some("Allow") {
                continue;
            }
            match &statement["Action"] {
                Yaml::String(a) => out.push(a.clone()),
                Yaml::Sequence(list) => {
                    out.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)))
                }
                _ => {}
            }
        }
    }
    out
}

fn parameter(name: &str, field: &str) -> Option<i64> {
    let v = &template()["Parameters"][name][field];
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

#[test]
fn activity_table_has_the_keys_and_sparse_hour_index_the_store_uses() {
    let spec = table_spec("ActivityTable");
    let keys: Vec<(&str, String)> = spec
        .key_schema
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str().to_owned()))
        .collect();
    assert_eq!(
        keys,
        [("pk", "HASH".to_owned()), ("sk", "RANGE".to_owned())]
    );
    let index = spec
        .indexes
        .iter()
        .find(|i| i.index_name() == BY_HOUR_INDEX)
        .expect("the by_hour index");
    let index_keys: Vec<&str> = index
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(index_keys, ["hour_pk", "hour_sk"]);
    assert_eq!(
        index
            .projection()
            .and_then(|p| p.projection_type())
            .map(|t| t.as_str()),
        Some("ALL"),
        "records are read from the index"
    );
    assert_eq!(spec.ttl_attribute.as_deref(), Some("expires_at"));
    assert_eq!(spec.billing_mode.as_str(), "PAY_PER_REQUEST");
}

#[test]
fn state_table_has_string_keys_and_ttl() {
    let spec = table_spec("StateTable");
    let keys: Vec<&str> = spec.key_schema.iter().map(|k| k.attribute_name()).collect();
    assert_eq!(keys, ["pk", "sk"]);
    assert!(spec
        .attributes
        .iter()
        .all(|a| a.attribute_type().as_str() == "S"));
    assert!(spec.indexes.is_empty());
    assert_eq!(spec.ttl_attribute.as_deref(), Some("expires_at"));
}

#[test]
fn functions_get_the_environment_their_settings_need() {
    let ingest = env_names("IngestFunction");
    let values = |name: &str| -> Option<String> {
        match name {
            config::USERNAME_HASH_KEY => Some("k".repeat(32)),
            config::HOUR_SHARDS => Some("16".into()),
            config::RETENTION_DAYS | config::BASELINE_DAYS => Some("90".into()),
            _ => Some(format!("value-of-{name}")),
        }
    };
    IngestSettings::from_lookup(|n| ingest.iter().any(|v| v == n).then(|| values(n)).flatten())
        .expect("ingest settings from the template's environment");
    let detect = env_names("DetectFunction");
    DetectSettings::from_lookup(|n| detect.iter().any(|v| v == n).then(|| values(n)).flatten())
        .expect("detect settings from the template's environment");
    assert!(
        !detect.iter().any(|v| v == config::USERNAME_HASH_KEY),
        "the detector has no use for the hash key"
    );
}

#[test]
fn parameter_bounds_match_the_settings_validation() {
    assert_eq!(parameter("HourShards", "MinValue"), Some(1));
    assert_eq!(
        parameter("HourShards", "MaxValue"),
        Some(i64::from(config::MAX_HOUR_SHARDS))
    );
    assert_eq!(
        parameter("HourShards", "Default"),
        Some(i64::from(config::DEFAULT_HOUR_SHARDS))
    );
    assert_eq!(
        parameter("RetentionDays", "MaxValue"),
        Some(i64::from(config::MAX_DAYS))
    );
    assert_eq!(
        parameter("RetentionDays", "Default"),
        Some(i64::from(config::DEFAULT_RETENTION_DAYS))
    );
    assert_eq!(
        parameter("BaselineDays", "MaxValue"),
        Some(i64::from(config::MAX_DAYS))
    );
    assert_eq!(
        parameter("UsernameHashKey", "MinLength"),
        Some(config::MIN_HASH_KEY_LEN as i64)
    );
}

#[test]
fn functions_may_make_every_call_they_make() {
    let ingest = actions("IngestFunction");
    // put_event and mark_late: conditional PutItem only.
    assert!(ingest.iter().any(|a| a == "dynamodb:PutItem"), "{ingest:?}");

    let detect = actions("DetectFunction");
    // Activity: Query (table and by_hour). State: GetItem, Query, BatchGetItem,
    // BatchWriteItem, TransactWriteItems of Put and Delete (authorised as
    // PutItem and DeleteItem), UpdateItem (delivery claims). Alerts: sns:Publish.
    for needed in [
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "sns:Publish",
    ] {
        assert!(
            detect.iter().any(|a| a == needed),
            "DetectFunction lacks {needed}: {detect:?}"
        );
    }
}
