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

fn statements(function: &str) -> Vec<&'static Yaml> {
    resource(function)["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
        .collect()
}

#[test]
fn the_poller_exists_only_with_an_org_url_and_reads_its_settings_from_the_template() {
    use okta_itdr_aws::poll::{self, PollConfig};
    let conditional = [
        "PollFunction",
        "PollLogGroup",
        "PollErrorsAlarm",
        "StreamMissedAlarm",
        "PollBacklogAlarm",
    ];
    for id in conditional {
        assert_eq!(
            resource(id)["Condition"].as_str(),
            Some("HasOktaApi"),
            "{id} is off without OktaOrgUrl"
        );
    }
    assert_eq!(
        template()["Parameters"]["OktaOrgUrl"]["Default"].as_str(),
        Some("")
    );
    let modes: Vec<&str> = template()["Parameters"]["OktaApiMode"]["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(modes, ["gap-fill", "primary"]);
    for mode in &modes {
        assert!(okta_itdr_core::poll::Mode::parse(mode).is_some());
    }
    let env = env_names("PollFunction");
    let value = |name: &str| -> Option<String> {
        match name {
            config::USERNAME_HASH_KEY => Some("k".repeat(32)),
            config::HOUR_SHARDS => Some("16".into()),
            config::RETENTION_DAYS => Some("90".into()),
            poll::OKTA_ORG_URL => Some("https://acme.okta.com".into()),
            poll::OKTA_API_MODE => Some("primary".into()),
            poll::OKTA_API_RATE_SHARE => Some("0.5".into()),
            _ => Some(format!("value-of-{name}")),
        }
    };
    let config =
        PollConfig::from_lookup(|n| env.iter().any(|v| v == n).then(|| value(n)).flatten())
            .expect("poll settings from the template's environment");
    assert_eq!(config.poll.mode, okta_itdr_core::poll::Mode::Primary);
    assert!(env.iter().any(|v| v == poll::OKTA_API_CREDENTIALS_SECRET));
}

#[test]
fn the_poller_may_do_what_it_does_and_no_more() {
    let statements = statements("PollFunction");
    let find = |sid: &str| {
        *statements
            .iter()
            .find(|s| s["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    // Ingest (conditional PutItem), the stored check (Query on by_hour).
    assert_eq!(
        find("IngestActivity")["Action"].as_str(),
        Some("dynamodb:PutItem")
    );
    assert_eq!(
        find("ReadStoredHours")["Action"].as_str(),
        Some("dynamodb:Query")
    );
    // The cursor: GetItem and PutItem on the POLL partition only.
    let cursor = find("PollCursor");
    let leading = &cursor["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"];
    assert_eq!(leading.as_sequence().map(|s| s.len()), Some(1));
    assert_eq!(leading[0].as_str(), Some("POLL"));
    // One secret, read only.
    let secret = find("OktaApiCredentials");
    assert_eq!(
        secret["Action"].as_str(),
        Some("secretsmanager:GetSecretValue")
    );
    assert!(!secret["Resource"].is_null());
    for s in &statements {
        let resource = serde_yaml::to_string(&s["Resource"]).unwrap();
        assert!(
            !resource.trim().starts_with("'*'") && resource.trim() != "'*'",
            "{resource}"
        );
        let actions = serde_yaml::to_string(&s["Action"]).unwrap();
        assert!(!actions.contains('*'), "no wildcard actions: {actions}");
    }
    assert_eq!(actions("PollFunction").len(), 5);
}

#[test]
fn a_stream_that_misses_events_raises_an_operations_alarm() {
    let alarm = &resource("StreamMissedAlarm")["Properties"];
    assert_eq!(
        alarm["Namespace"].as_str(),
        Some(okta_itdr_aws::metrics::NAMESPACE)
    );
    assert_eq!(alarm["MetricName"].as_str(), Some("StreamMissed"));
    assert_eq!(alarm["Dimensions"][0]["Name"].as_str(), Some("Function"));
    assert_eq!(alarm["Dimensions"][0]["Value"].as_str(), Some("poll"));
    assert_eq!(alarm["Threshold"].as_i64(), Some(0));
    assert_eq!(
        alarm["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
    for id in ["StreamMissedAlarm", "PollErrorsAlarm", "PollBacklogAlarm"] {
        let actions = serde_yaml::to_string(&resource(id)["Properties"]["AlarmActions"]).unwrap();
        assert!(actions.contains("OperationsTopic"), "{id}: {actions}");
    }
    // The metric names the alarms watch are the ones the function emits.
    let names = ["StreamMissed", "BacklogMinutes"];
    let report = okta_itdr_core::poll::PollReport::default();
    let doc = serde_json::to_string(&metrics_of(&report)).unwrap();
    for n in names {
        assert!(doc.contains(n), "{n} not emitted: {doc}");
    }
}

fn metrics_of(report: &okta_itdr_core::poll::PollReport) -> serde_json::Value {
    // A client for an org that is never called: the metrics only read its counters.
    let client = okta_itdr_okta::OktaClient::new(
        okta_itdr_okta::OrgUrl::parse("https://acme.okta.com").unwrap(),
        okta_itdr_okta::Credentials::ApiToken(okta_itdr_okta::Secret::new("unused")),
        okta_itdr_okta::ClientConfig::default(),
    )
    .unwrap();
    let store = okta_itdr_core::memory::MemoryStore::new();
    let ingestor = okta_itdr_core::ingest::Ingestor::new(
        okta_itdr_core::testkit::normalizer(),
        store,
        okta_itdr_core::ingest::IngestSettings::default(),
    );
    let handler = okta_itdr_aws::poll::PollHandler::new(
        client,
        ingestor,
        NoCursor,
        okta_itdr_core::poll::PollSettings {
            mode: okta_itdr_core::poll::Mode::GapFill,
            settle: 0,
            lookback: 0,
            max_hours_per_run: 1,
        },
    );
    handler.metrics(report, 0).to_document(0)
}

struct NoCursor;

impl okta_itdr_core::poll::CursorStore for NoCursor {
    async fn load_cursor(
        &self,
        _: okta_itdr_core::poll::Mode,
    ) -> Result<Option<okta_itdr_core::poll::Cursor>, okta_itdr_core::ports::StoreError> {
        Ok(None)
    }
    async fn save_cursor(
        &self,
        _: okta_itdr_core::poll::Mode,
        _: &okta_itdr_core::poll::Cursor,
        _: Option<u64>,
    ) -> Result<(), okta_itdr_core::ports::StoreError> {
        Ok(())
    }
}
