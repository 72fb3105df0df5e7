//! The deployment template and the code agree: table keys and index, the
//! functions' environment, parameter bounds, and IAM permissions for every
//! DynamoDB and SNS call the functions make. No AWS needed.

use okta_itdr_aws::activity::BY_HOUR_INDEX;
use okta_itdr_aws::config::{self, DetectSettings, IngestSettings};
use okta_itdr_e2e::{table_spec, template};
use serde_yaml::Value as Yaml;

#[path = "template/alarms.rs"]
mod alarms;
#[path = "template/custom_rules.rs"]
mod custom_rules;

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
            config::HOUR_SHARDS => Some("16".into()),
            config::RETENTION_DAYS | config::BASELINE_DAYS => Some("90".into()),
            config::CUSTOM_RULES_URI => Some("s3://acme-security/okta-rules/".into()),
            _ => Some(format!("value-of-{name}")),
        }
    };
    let from_env = |n: &str| ingest.iter().any(|v| v == n).then(|| values(n)).flatten();
    IngestSettings::hash_key_secret(from_env)
        .expect("the hash key's secret name in the ingest environment");
    let settings = IngestSettings::from_lookup(from_env, config::Secret::new("k".repeat(32)))
        .expect("ingest settings from the template's environment");
    assert!(
        settings.recovery_queue_url.is_some() && settings.final_dlq_url.is_some(),
        "the ingest function knows its recovery and final queues"
    );
    assert!(settings.custom_rules.is_some(), "and its custom rules");
    let detect = env_names("DetectFunction");
    DetectSettings::from_lookup(|n| detect.iter().any(|v| v == n).then(|| values(n)).flatten())
        .expect("detect settings from the template's environment");
    assert!(
        !detect.iter().any(|v| v == config::USERNAME_HASH_KEY_SECRET),
        "the detector has no use for the hash key"
    );
}

/// The whole template as YAML text, for checks on what must never appear.
fn template_text() -> String {
    serde_yaml::to_string(template()).expect("template as text")
}

fn tagged<'a>(v: &'a Yaml, tag: &str) -> Option<&'a Yaml> {
    match v {
        Yaml::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

/// `!Ref X`, `!GetAtt X.Arn` → X.
fn referenced(v: &Yaml) -> Option<String> {
    tagged(v, "!Ref")
        .or_else(|| tagged(v, "!GetAtt"))
        .and_then(|x| x.as_str())
        .map(|x| x.split('.').next().unwrap_or(x).to_owned())
}

/// The Allow statements of a function's inline policies.
fn statements(function: &str) -> Vec<&'static Yaml> {
    resource(function)["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect()
}

fn statement_actions(statement: &Yaml) -> Vec<String> {
    match &statement["Action"] {
        Yaml::String(a) => vec![a.clone()],
        Yaml::Sequence(list) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_hash_key_comes_from_one_secret_never_from_the_template() {
    let params = &template()["Parameters"];
    assert!(
        params["UsernameHashKey"].is_null(),
        "no parameter takes the key's value"
    );
    let p = &params["UsernameHashKeySecret"];
    assert_eq!(p["Type"].as_str(), Some("String"));
    assert!(p["AllowedPattern"].as_str().is_some());
    let env = &resource("IngestFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        referenced(&env[config::USERNAME_HASH_KEY_SECRET]).as_deref(),
        Some("UsernameHashKeySecret")
    );
    let reads: Vec<&Yaml> = statements("IngestFunction")
        .into_iter()
        .filter(|s| {
            statement_actions(s)
                .iter()
                .any(|a| a.starts_with("secretsmanager:"))
        })
        .collect();
    assert_eq!(reads.len(), 1, "one statement reads secrets");
    assert_eq!(
        statement_actions(reads[0]),
        ["secretsmanager:GetSecretValue"]
    );
    let arn = tagged(&reads[0]["Resource"], "!Sub")
        .and_then(|v| v.as_str())
        .expect("the secret's ARN");
    assert!(
        arn.ends_with(":secret:${UsernameHashKeySecret}-??????"),
        "scoped to the one secret: {arn}"
    );
    for function in ["IngestFunction", "DetectFunction"] {
        for s in statements(function) {
            assert!(
                !statement_actions(s)
                    .iter()
                    .any(|a| a.starts_with("ssm:") || a == "secretsmanager:*"),
                "{function}: {s:?}"
            );
        }
    }
    assert!(
        !statements("DetectFunction")
            .iter()
            .any(|s| statement_actions(s)
                .iter()
                .any(|a| a.starts_with("secretsmanager:"))),
        "the detector reads no secret"
    );
}

#[test]
fn raw_event_queues_are_encrypted_with_a_narrow_customer_managed_key() {
    let key = &resource("RawEventsKey");
    assert_eq!(key["Type"].as_str(), Some("AWS::KMS::Key"));
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    for statement in key["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .expect("key policy")
    {
        let actions = statement_actions(statement);
        assert!(!actions.iter().any(|a| a == "kms:*"), "{statement:?}");
        let decrypts = actions.iter().any(|a| a == "kms:Decrypt");
        if decrypts {
            assert!(
                !statement["Condition"].is_null(),
                "every Decrypt grant is conditional: {statement:?}"
            );
        }
        if statement["Principal"]["AWS"].is_null() {
            continue;
        }
        if decrypts {
            let via = &statement["Condition"]["StringEquals"]["kms:ViaService"];
            assert!(
                tagged(via, "!Sub").and_then(|v| v.as_str())
                    == Some("sqs.${AWS::Region}.amazonaws.com"),
                "account principals decrypt only through SQS: {statement:?}"
            );
        }
    }
    for (queue, max_retention) in [
        ("RecoveryQueue", 5 * 86_400),
        ("FinalDeadLetterQueue", 14 * 86_400),
    ] {
        let props = &resource(queue)["Properties"];
        assert_eq!(
            referenced(&props["KmsMasterKeyId"]).as_deref(),
            Some("RawEventsKey"),
            "{queue} uses the customer-managed key"
        );
        assert!(props["SqsManagedSseEnabled"].is_null(), "{queue}");
        assert_eq!(
            props["MessageRetentionPeriod"].as_i64(),
            Some(max_retention),
            "{queue}"
        );
    }
    assert!(
        template()["Resources"]["DeadLetterQueue"].is_null(),
        "no queue holds raw events under an SQS-managed key"
    );
}

#[test]
fn recovery_retries_for_four_days_and_gives_up_before_the_queue_forgets() {
    use okta_itdr_aws::recovery::BACKOFF;
    let props = &resource("RecoveryQueue")["Properties"];
    let retention = props["MessageRetentionPeriod"].as_i64().expect("retention");
    let window = BACKOFF.window().as_secs() as i64;
    assert!(window >= 4 * 86_400, "{window}");
    assert!(
        window + 3600 < retention,
        "the last attempt comes before expiry"
    );
    let redrive = &props["RedrivePolicy"];
    assert_eq!(
        referenced(&redrive["deadLetterTargetArn"]).as_deref(),
        Some("FinalDeadLetterQueue")
    );
    assert!(
        redrive["maxReceiveCount"]
            .as_i64()
            .expect("maxReceiveCount")
            > i64::from(BACKOFF.attempts),
        "the redrive policy is only a backstop behind the function's own attempts"
    );
    let timeout = resource("IngestFunction")["Properties"]["Timeout"]
        .as_i64()
        .expect("timeout");
    let visibility = props["VisibilityTimeout"].as_i64().expect("visibility");
    assert!(visibility >= 6 * timeout);
    // A function that cannot start fails every batch before its own backoff
    // runs: each receive hides the message for the visibility timeout. The
    // receive budget then lasts over 3 days and ends in the final queue
    // before the recovery queue could let the message expire.
    let receives = redrive["maxReceiveCount"]
        .as_i64()
        .expect("maxReceiveCount");
    let budget = receives * visibility;
    assert!(budget >= 4 * 86_400, "{budget} s of init failures");
    assert!(budget + 3600 < retention, "{budget} s within {retention} s");

    let ingest = &resource("IngestFunction")["Properties"];
    assert_eq!(
        referenced(&ingest["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"])
            .as_deref(),
        Some("RecoveryQueue")
    );
    let rule = &ingest["Events"]["OktaEvents"]["Properties"];
    assert_eq!(
        referenced(&rule["DeadLetterConfig"]["Arn"]).as_deref(),
        Some("RecoveryQueue")
    );
    let source = &ingest["Events"]["Recovery"];
    assert_eq!(source["Type"].as_str(), Some("SQS"));
    assert_eq!(
        referenced(&source["Properties"]["Queue"]).as_deref(),
        Some("RecoveryQueue")
    );
    assert_eq!(
        source["Properties"]["FunctionResponseTypes"],
        serde_yaml::from_str::<Yaml>("[ReportBatchItemFailures]").unwrap()
    );
    let env = &ingest["Environment"]["Variables"];
    assert_eq!(
        referenced(&env[config::RECOVERY_QUEUE_URL]).as_deref(),
        Some("RecoveryQueue")
    );
    assert_eq!(
        referenced(&env[config::FINAL_DLQ_URL]).as_deref(),
        Some("FinalDeadLetterQueue")
    );
}

#[test]
fn the_ingest_function_may_use_exactly_its_queues() {
    let mut granted: Vec<(String, String)> = Vec::new();
    for s in statements("IngestFunction") {
        let target = referenced(&s["Resource"]).unwrap_or_default();
        for a in statement_actions(s) {
            granted.push((a, target.clone()));
        }
    }
    let has = |action: &str, target: &str| granted.iter().any(|(a, t)| a == action && t == target);
    for action in [
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    ] {
        assert!(
            has(action, "RecoveryQueue"),
            "{action} on RecoveryQueue: {granted:?}"
        );
    }
    assert!(
        has("sqs:SendMessage", "FinalDeadLetterQueue"),
        "{granted:?}"
    );
    assert!(
        !has("sqs:ReceiveMessage", "FinalDeadLetterQueue"),
        "only an operator reads the final queue"
    );
    assert!(has("kms:Decrypt", "RawEventsKey") && has("kms:GenerateDataKey*", "RawEventsKey"));
    for (action, target) in &granted {
        assert!(
            !target.is_empty() || action.starts_with("secretsmanager:"),
            "{action} is not scoped to a named resource"
        );
        assert!(!action.ends_with(":*"), "{action}");
    }
}

#[test]
fn ingest_alarms_reach_the_operations_topic() {
    let alarm = |id: &str| {
        let props = &resource(id)["Properties"];
        let actions: Vec<String> = props["AlarmActions"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(referenced)
            .collect();
        assert_eq!(actions, ["OperationsTopic"], "{id}");
        props
    };
    let dlq = alarm("FinalDeadLetterAlarm");
    assert_eq!(
        dlq["MetricName"].as_str(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    assert_eq!(
        referenced(&dlq["Dimensions"][0]["Value"]).as_deref(),
        Some("FinalDeadLetterQueue")
    );
    assert_eq!(dlq["Threshold"].as_i64(), Some(1));
    for (id, metric) in [
        ("IngestErrorsAlarm", "Errors"),
        ("IngestThrottlesAlarm", "Throttles"),
    ] {
        let props = alarm(id);
        assert_eq!(props["Namespace"].as_str(), Some("AWS/Lambda"), "{id}");
        assert_eq!(props["MetricName"].as_str(), Some(metric), "{id}");
        assert_eq!(
            referenced(&props["Dimensions"][0]["Value"]).as_deref(),
            Some("IngestFunction")
        );
    }
}

#[test]
fn no_secret_value_is_in_the_template() {
    let text = template_text();
    assert!(
        !text.contains("USERNAME_HASH_KEY:"),
        "no key in any environment"
    );
    assert!(
        !text.contains("NoEcho"),
        "no secret is passed as a parameter"
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
            config::HOUR_SHARDS => Some("16".into()),
            config::RETENTION_DAYS => Some("90".into()),
            poll::OKTA_ORG_URL => Some("https://acme.okta.com".into()),
            poll::OKTA_API_MODE => Some("primary".into()),
            poll::OKTA_API_RATE_SHARE => Some("0.5".into()),
            poll::POLL_BACKFILL_DAYS => Some("30".into()),
            config::CUSTOM_RULES_URI => Some("s3://acme-security/okta-rules/".into()),
            _ => Some(format!("value-of-{name}")),
        }
    };
    let config = PollConfig::from_lookup(
        |n| env.iter().any(|v| v == n).then(|| value(n)).flatten(),
        okta_itdr_aws::config::Secret::new("k".repeat(32)),
    )
    .expect("poll settings from the template's environment");
    assert_eq!(config.poll.mode, okta_itdr_core::poll::Mode::Primary);
    assert!(env.iter().any(|v| v == poll::POLL_BACKFILL_DAYS));
    assert_eq!(config.poll.backfill, 30 * okta_itdr_core::time::DAY);
    assert!(
        config.ingest.custom_rules.is_some(),
        "polled events meet the custom rules"
    );
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
    // The detector's watermark, for a first start's history: that item only.
    let watermark = find("DetectorWatermark");
    let leading = &watermark["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"];
    assert_eq!(leading.as_sequence().map(|s| s.len()), Some(1));
    assert_eq!(leading[0].as_str(), Some("WATERMARK"));
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
    // The username hash key, like ingest's: read from its one secret, never the environment.
    let key = find("UsernameHashKey");
    assert_eq!(
        key["Action"].as_str(),
        Some("secretsmanager:GetSecretValue")
    );
    assert!(serde_yaml::to_string(&key["Resource"])
        .unwrap()
        .contains("${UsernameHashKeySecret}"));
    // Events it can never store: to the final dead-letter queue, encrypted.
    let dead = find("DeadLetterRefusedEvents");
    assert_eq!(dead["Action"].as_str(), Some("sqs:SendMessage"));
    assert_eq!(
        referenced(&dead["Resource"]).as_deref(),
        Some("FinalDeadLetterQueue")
    );
    assert_eq!(
        referenced(&find("RawEventsEncryption")["Resource"]).as_deref(),
        Some("RawEventsKey")
    );
    assert!(env_names("PollFunction").contains(&"FINAL_DLQ_URL".to_owned()));
    assert_eq!(actions("PollFunction").len(), 11);
}

#[test]
fn the_inventory_function_may_do_what_it_does_and_no_more() {
    use okta_itdr_aws::handlers::inventory::{self, InventoryConfig};
    use okta_itdr_aws::identities;
    for id in [
        "InventoryFunction",
        "InventoryLogGroup",
        "InventoryErrorsAlarm",
    ] {
        assert_eq!(
            resource(id)["Condition"].as_str(),
            Some("HasOktaApi"),
            "{id} is off without OktaOrgUrl"
        );
    }
    let env = env_names("InventoryFunction");
    let value = |name: &str| -> Option<String> {
        match name {
            okta_itdr_aws::poll::OKTA_ORG_URL => Some("https://acme.okta.com".into()),
            okta_itdr_aws::poll::OKTA_API_RATE_SHARE => Some("0.5".into()),
            inventory::POSTURE_CONFIG => Some(r#"{"max_super_admins": 3}"#.into()),
            _ => Some(format!("value-of-{name}")),
        }
    };
    let config =
        InventoryConfig::from_lookup(|n| env.iter().any(|v| v == n).then(|| value(n)).flatten())
            .expect("inventory settings from the template's environment");
    assert_eq!(
        config.posture.max_super_admins, 3,
        "thresholds from PostureConfig"
    );
    assert_eq!(
        template()["Parameters"]["PostureConfig"]["Default"].as_str(),
        Some(""),
        "no configuration: the defaults"
    );
    assert!(
        !env.iter()
            .any(|v| v == config::USERNAME_HASH_KEY_SECRET || v == "ACTIVITY_TABLE"),
        "the inventory hashes no username and reads no activity: {env:?}"
    );
    // Daily by default, from its parameter.
    let schedule = &resource("InventoryFunction")["Properties"]["Events"]["Refresh"]["Properties"];
    assert_eq!(
        referenced(&schedule["Schedule"]).as_deref(),
        Some("InventoryRefreshSchedule")
    );
    assert_eq!(
        template()["Parameters"]["InventoryRefreshSchedule"]["Default"].as_str(),
        Some("rate(1 day)")
    );

    let statements = statements("InventoryFunction");
    let find = |sid: &str| {
        *statements
            .iter()
            .find(|s| s["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    // The state table: its own items only, read whole and written in batches.
    let items = find("InventoryItems");
    assert_eq!(
        statement_actions(items),
        [
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem"
        ]
    );
    assert_eq!(
        referenced(&items["Resource"]).as_deref(),
        Some("StateTable")
    );
    let leading: Vec<&str> = items["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        .as_sequence()
        .expect("leading keys")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(
        leading,
        [
            format!("{}*", identities::IDENTITY_PREFIX).as_str(),
            identities::INVENTORY_PK,
            identities::POSTURE_PK
        ]
    );
    let publish = find("PublishFindings");
    assert_eq!(publish["Action"].as_str(), Some("sns:Publish"));
    assert_eq!(
        referenced(&publish["Resource"]).as_deref(),
        Some("AlertTopic")
    );
    assert_eq!(
        referenced(&find("EncryptFindings")["Resource"]).as_deref(),
        Some("AlertKey")
    );
    let secret = find("OktaApiCredentials");
    assert_eq!(
        secret["Action"].as_str(),
        Some("secretsmanager:GetSecretValue")
    );
    assert!(serde_yaml::to_string(&secret["Resource"])
        .unwrap()
        .contains("OktaApiCredentialsSecret"));
    for s in &statements {
        let resource = serde_yaml::to_string(&s["Resource"]).unwrap();
        assert!(resource.trim() != "'*'", "{resource}");
        let actions = serde_yaml::to_string(&s["Action"]).unwrap();
        assert!(
            !actions.contains('*') || actions.contains("kms:GenerateDataKey*"),
            "{actions}"
        );
    }
    // Nothing else: no hash key, no activity table, no queue.
    assert_eq!(statements.len(), 4);
    assert_eq!(actions("InventoryFunction").len(), 7);
    // The detector reads the identity items with what it has (BatchGetItem on
    // the state table, Query on the activity table).
    let detect = actions("DetectFunction");
    assert!(detect.iter().any(|a| a == "dynamodb:BatchGetItem"));
}

#[test]
fn polled_events_sent_to_the_final_queue_raise_an_operations_alarm() {
    let alarm = &resource("PollDeadLetteredAlarm")["Properties"];
    assert_eq!(
        alarm["Namespace"].as_str(),
        Some(okta_itdr_aws::metrics::NAMESPACE)
    );
    assert_eq!(alarm["MetricName"].as_str(), Some("EventsDeadLettered"));
    assert_eq!(alarm["Dimensions"][0]["Value"].as_str(), Some("poll"));
    assert_eq!(alarm["Period"].as_i64(), Some(300));
    assert_eq!(alarm["Threshold"].as_i64(), Some(0));
    let actions = serde_yaml::to_string(&alarm["AlarmActions"]).unwrap();
    assert!(actions.contains("OperationsTopic"), "{actions}");
    let report = okta_itdr_core::poll::PollReport {
        invalid: 1,
        refused: 2,
        ..Default::default()
    };
    assert_eq!(metrics_of(&report)["EventsDeadLettered"], 3);
}

#[test]
fn a_function_that_cannot_start_alarms_within_five_minutes() {
    // Initialisation failures count in AWS/Lambda Errors.
    let alarm = &resource("IngestErrorsAlarm")["Properties"];
    assert_eq!(alarm["Namespace"].as_str(), Some("AWS/Lambda"));
    assert_eq!(alarm["MetricName"].as_str(), Some("Errors"));
    assert_eq!(
        referenced(&alarm["Dimensions"][0]["Value"]).as_deref(),
        Some("IngestFunction")
    );
    assert!(
        alarm["Period"].as_i64().unwrap() * alarm["EvaluationPeriods"].as_i64().unwrap() <= 300
    );
    assert_eq!(alarm["Threshold"].as_i64(), Some(1));
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
        okta_itdr_testkit::normalizer(),
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
            backfill: 0,
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
