//! The health alarms: each watches the metric the code emits (or AWS's own),
//! with the intended threshold and missing-data treatment, and notifies the
//! operations topic, never the findings topic.

use okta_itdr_aws::handlers::detect_metrics;
use okta_itdr_core::detect::run::RunReport;
use serde_yaml::Value as Yaml;

use super::resource;
use okta_itdr_e2e::template;

/// `!Ref X` as `Some("X")`.
fn reference(v: &Yaml) -> Option<&str> {
    match v {
        Yaml::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        _ => None,
    }
}

fn alarm(id: &str) -> &'static Yaml {
    let r = resource(id);
    assert_eq!(r["Type"].as_str(), Some("AWS::CloudWatch::Alarm"), "{id}");
    &r["Properties"]
}

fn all_alarms() -> Vec<(String, &'static Yaml)> {
    template()["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(k, r)| (k.as_str().unwrap_or("?").to_owned(), &r["Properties"]))
        .collect()
}

fn dimensions(p: &Yaml) -> Vec<(String, Yaml)> {
    p["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["Name"].as_str().unwrap_or("").to_owned(),
                d["Value"].clone(),
            )
        })
        .collect()
}

struct Expect {
    id: &'static str,
    namespace: &'static str,
    metric: &'static str,
    statistic: &'static str,
    threshold: f64,
    comparison: &'static str,
    missing: &'static str,
}

fn check(e: &Expect) {
    let p = alarm(e.id);
    assert_eq!(p["Namespace"].as_str(), Some(e.namespace), "{}", e.id);
    assert_eq!(p["MetricName"].as_str(), Some(e.metric), "{}", e.id);
    assert_eq!(p["Statistic"].as_str(), Some(e.statistic), "{}", e.id);
    assert_eq!(p["Threshold"].as_f64(), Some(e.threshold), "{}", e.id);
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some(e.comparison),
        "{}",
        e.id
    );
    assert_eq!(p["TreatMissingData"].as_str(), Some(e.missing), "{}", e.id);
}

const DETECT_ALARMS: &[Expect] = &[
    Expect {
        id: "DetectNotSucceedingAlarm",
        namespace: "okta-itdr",
        metric: "RunsSucceeded",
        statistic: "Sum",
        threshold: 1.0,
        comparison: "LessThanThreshold",
        missing: "breaching",
    },
    Expect {
        id: "WatermarkLagAlarm",
        namespace: "okta-itdr",
        metric: "WatermarkLagHours",
        statistic: "Maximum",
        threshold: 2.0,
        comparison: "GreaterThanThreshold",
        missing: "notBreaching",
    },
    Expect {
        id: "FindingsQuarantinedAlarm",
        namespace: "okta-itdr",
        metric: "FindingsQuarantined",
        statistic: "Sum",
        threshold: 1.0,
        comparison: "GreaterThanOrEqualToThreshold",
        missing: "notBreaching",
    },
];

#[test]
fn detect_health_alarms_watch_the_metrics_the_detect_function_emits() {
    // What a successful run prints, as the handler builds it.
    let emitted = detect_metrics(&Ok(RunReport::default()), 1.0).to_document(0);
    let directive = &emitted["_aws"]["CloudWatchMetrics"][0];
    for e in DETECT_ALARMS {
        check(e);
        let p = alarm(e.id);
        assert_eq!(directive["Namespace"], e.namespace, "{}", e.id);
        assert!(
            directive["Metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .any(|m| m["Name"] == e.metric),
            "{}: the detect function emits no {}",
            e.id,
            e.metric
        );
        let dims = dimensions(p);
        assert_eq!(dims.len(), 1, "{}", e.id);
        assert_eq!(dims[0].0, "Function");
        assert_eq!(dims[0].1.as_str(), emitted["Function"].as_str(), "{}", e.id);
    }
    // Not succeeding means two empty hours in a row, whatever the schedule's minute.
    assert_eq!(
        alarm("DetectNotSucceedingAlarm")["Period"].as_i64(),
        Some(3600)
    );
    assert_eq!(
        alarm("DetectNotSucceedingAlarm")["EvaluationPeriods"].as_i64(),
        Some(2)
    );
}

#[test]
fn heartbeat_alarm_fires_after_heartbeat_minutes_without_an_okta_event() {
    check(&Expect {
        id: "OktaHeartbeatAlarm",
        namespace: "AWS/Events",
        metric: "Events",
        statistic: "Sum",
        threshold: 1.0,
        comparison: "LessThanThreshold",
        missing: "breaching",
    });
    let p = alarm("OktaHeartbeatAlarm");
    let dims = dimensions(p);
    assert_eq!(dims.len(), 1);
    assert_eq!(dims[0].0, "EventSourceName");
    assert_eq!(reference(&dims[0].1), Some("OktaEventBusName"));
    // Every one-minute period of the last HeartbeatMinutes must be empty.
    assert_eq!(p["Period"].as_i64(), Some(60));
    assert_eq!(reference(&p["EvaluationPeriods"]), Some("HeartbeatMinutes"));
    assert_eq!(reference(&p["DatapointsToAlarm"]), Some("HeartbeatMinutes"));
    let param = &template()["Parameters"]["HeartbeatMinutes"];
    assert_eq!(param["Default"].as_i64(), Some(60));
    // CloudWatch evaluates at most a day of one-minute periods.
    assert!(param["MaxValue"].as_i64().is_some_and(|m| m * 60 <= 86_400));
}

#[test]
fn detect_duration_alarm_fires_before_the_timeout() {
    check(&Expect {
        id: "DetectDurationAlarm",
        namespace: "AWS/Lambda",
        metric: "Duration",
        statistic: "Maximum",
        threshold: 720_000.0,
        comparison: "GreaterThanThreshold",
        missing: "notBreaching",
    });
    let timeout_ms = resource("DetectFunction")["Properties"]["Timeout"]
        .as_f64()
        .expect("timeout")
        * 1000.0;
    let threshold = alarm("DetectDurationAlarm")["Threshold"].as_f64().unwrap();
    assert!(threshold < timeout_ms && threshold >= 0.75 * timeout_ms);
    let dims = dimensions(alarm("DetectDurationAlarm"));
    assert_eq!(reference(&dims[0].1), Some("DetectFunction"));
}

#[test]
fn a_recovery_queue_nobody_consumes_alarms_long_before_it_forgets() {
    check(&Expect {
        id: "RecoveryStalledAlarm",
        namespace: "AWS/SQS",
        metric: "ApproximateAgeOfOldestMessage",
        statistic: "Maximum",
        threshold: 3600.0,
        comparison: "GreaterThanThreshold",
        missing: "notBreaching",
    });
    let dims = dimensions(alarm("RecoveryStalledAlarm"));
    assert_eq!(dims.len(), 1);
    assert_eq!(dims[0].0, "QueueName");
    let queue = match &dims[0].1 {
        Yaml::Tagged(t) if t.tag == "GetAtt" => t.value.as_str().unwrap_or_default().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(queue, "RecoveryQueue.QueueName");
    // Unreceived events expire with the queue's retention: the alarm leaves
    // days to act, not minutes.
    let retention = resource("RecoveryQueue")["Properties"]["MessageRetentionPeriod"]
        .as_f64()
        .expect("retention");
    let threshold = alarm("RecoveryStalledAlarm")["Threshold"].as_f64().unwrap();
    assert!(
        threshold + 4.0 * 86_400.0 <= retention,
        "{threshold} vs {retention}"
    );
}

#[test]
fn throttling_alarms_cover_both_tables_and_the_hour_index() {
    for (id, table, with_index) in [
        ("ActivityTableThrottleAlarm", "ActivityTable", true),
        ("StateTableThrottleAlarm", "StateTable", false),
    ] {
        let p = alarm(id);
        assert_eq!(p["Threshold"].as_f64(), Some(1.0), "{id}");
        assert_eq!(
            p["ComparisonOperator"].as_str(),
            Some("GreaterThanOrEqualToThreshold")
        );
        assert_eq!(p["TreatMissingData"].as_str(), Some("notBreaching"));
        let metrics = p["Metrics"].as_sequence().expect("metric math");
        let stats: Vec<&Yaml> = metrics
            .iter()
            .filter(|m| !m["MetricStat"].is_null())
            .map(|m| &m["MetricStat"]["Metric"])
            .collect();
        let mut seen = Vec::new();
        for m in &stats {
            assert_eq!(m["Namespace"].as_str(), Some("AWS/DynamoDB"), "{id}");
            let dims = dimensions(m);
            assert_eq!(reference(&dims[0].1), Some(table), "{id}");
            let index = dims.iter().find(|(n, _)| n == "GlobalSecondaryIndexName");
            seen.push((
                m["MetricName"].as_str().unwrap_or("").to_owned(),
                index.and_then(|(_, v)| v.as_str().map(str::to_owned)),
            ));
        }
        let mut want = vec![
            ("ReadThrottleEvents".to_owned(), None),
            ("WriteThrottleEvents".to_owned(), None),
        ];
        if with_index {
            let index = Some(okta_itdr_aws::activity::BY_HOUR_INDEX.to_owned());
            want.push(("ReadThrottleEvents".to_owned(), index.clone()));
            want.push(("WriteThrottleEvents".to_owned(), index));
        }
        seen.sort();
        want.sort();
        assert_eq!(seen, want, "{id}");
        // The one returned series adds them all up, a missing one as 0.
        let returned: Vec<&Yaml> = metrics
            .iter()
            .filter(|m| m["ReturnData"].as_bool() == Some(true))
            .collect();
        assert_eq!(returned.len(), 1, "{id}");
        let expr = returned[0]["Expression"].as_str().expect("expression");
        for m in metrics.iter().filter(|m| !m["MetricStat"].is_null()) {
            let id = m["Id"].as_str().unwrap();
            assert!(expr.contains(&format!("FILL({id}, 0)")), "{expr}");
        }
    }
}

#[test]
fn every_alarm_notifies_the_operations_topic_only() {
    let alarms = all_alarms();
    assert!(alarms.len() >= 8, "{}", alarms.len());
    for (id, p) in alarms {
        let actions: Vec<Option<&str>> = p["AlarmActions"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id} has no actions"))
            .iter()
            .map(reference)
            .collect();
        assert_eq!(actions, [Some("OperationsTopic")], "{id}");
        assert!(p["OKActions"].is_null() || p["OKActions"] == p["AlarmActions"]);
    }
}

/// The resource SAM generates for a function's event: `<Function><Event>`.
fn sam_event(function: &str, event: &str) -> &'static Yaml {
    let e = &resource(function)["Properties"]["Events"][event];
    assert!(!e.is_null(), "{function} has no event {event}");
    e
}

#[test]
fn delivery_failure_alarms_address_the_okta_rule_destination_and_recovery_mapping() {
    // The rule is named, and the alarm uses that name and the bus: rules on a
    // custom bus publish with both dimensions.
    let rule = &sam_event("IngestFunction", "OktaEvents")["Properties"];
    let dims = dimensions(alarm("RuleDeadLetterFailedAlarm"));
    let names: Vec<&str> = dims.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["EventBusName", "RuleName"]);
    assert_eq!(reference(&dims[0].1), reference(&rule["EventBusName"]));
    assert!(!rule["RuleName"].is_null(), "the rule has a fixed name");
    assert_eq!(dims[1].1, rule["RuleName"]);
    assert_eq!(
        alarm("RuleDeadLetterFailedAlarm")["MetricName"].as_str(),
        Some("InvocationsFailedToBeSentToDlq")
    );
    // The on-failure destination is the function's.
    let dims = dimensions(alarm("IngestDestinationFailedAlarm"));
    assert_eq!(reference(&dims[0].1), Some("IngestFunction"));
    assert!(
        !resource("IngestFunction")["Properties"]["EventInvokeConfig"]["DestinationConfig"]
            ["OnFailure"]
            .is_null()
    );
    // The mapping SAM creates for the Recovery event publishes its event counts.
    let recovery = &sam_event("IngestFunction", "Recovery")["Properties"];
    let metrics: Vec<&str> = recovery["MetricsConfig"]["Metrics"]
        .as_sequence()
        .expect("MetricsConfig")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(metrics, ["EventCount"]);
    let dims = dimensions(alarm("RecoveryMappingFailingAlarm"));
    assert_eq!(dims[0].0, "EventSourceMappingUUID");
    assert_eq!(reference(&dims[0].1), Some("IngestFunctionRecovery"));
}

#[test]
fn a_running_poll_schedule_never_breaches_the_not_invoked_alarm() {
    let p = alarm("PollNotInvokedAlarm");
    assert_eq!(p["TreatMissingData"].as_str(), Some("breaching"));
    let dims = dimensions(p);
    assert_eq!(reference(&dims[0].1), Some("PollFunction"));
    let schedule = sam_event("PollFunction", "Every5Minutes")["Properties"]["Schedule"]
        .as_str()
        .expect("schedule");
    let minutes: i64 = schedule
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(" minutes)"))
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("{schedule}"));
    let per_period = p["Period"].as_i64().unwrap() / (minutes * 60);
    assert!(
        per_period as f64 >= 2.0 * p["Threshold"].as_f64().unwrap(),
        "{per_period} invocations a period"
    );
}

#[test]
fn no_service_may_publish_to_the_findings_topic() {
    // Alarms notify the operations topic; the findings topic's policy lets no
    // service principal (CloudWatch or another) publish to it.
    let policy = &template()["Resources"]["AlertTopicPolicy"]["Properties"]["PolicyDocument"];
    let statements = policy["Statement"].as_sequence().expect("statements");
    assert!(!statements.is_empty());
    for s in statements {
        assert_ne!(s["Effect"].as_str(), Some("Allow"), "{s:?}");
    }
}
