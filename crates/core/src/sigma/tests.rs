//! Each semantic the rules rely on, on crafted events.

use serde_json::{json, Value};

use super::*;

fn rule(detection: &str) -> String {
    format!(
        "title: Test rule\nid: 11111111-2222-3333-4444-555555555555\nstatus: test\nlogsource:\n  product: okta\n  service: okta\ndetection:\n{detection}\nlevel: high\ntags:\n  - attack.initial-access\n  - attack.t1078.004\n"
    )
}

fn set(detection: &str) -> RuleSet {
    RuleSet::parse([("test.yml", rule(detection).as_str())]).unwrap_or_else(|e| panic!("{e:?}"))
}

fn fires(detection: &str, event: &Value) -> bool {
    !set(detection).evaluate(event).is_empty()
}

fn refused(file: &str, text: &str) -> String {
    RuleSet::parse([(file, text)]).unwrap_err()[0].to_string()
}

fn ev() -> Value {
    json!({
        "uuid": "e1", "published": "2026-11-10T10:00:00Z",
        "eventType": "user.session.start",
        "displayMessage": "User login to Okta",
        "actor": {"alternateId": "Bob@Acme.com", "type": "User"},
        "client": {"ipAddress": "185.220.101.47"},
        "securityContext": {"isProxy": true, "asNumber": 60729},
        "outcome": {"result": "SUCCESS"},
        "debugContext": {"debugData": {"behaviors": "{New Geo-Location=POSITIVE, New Device=NEGATIVE}", "threatSuspected": "false"}},
        "target": [
            {"type": "AppInstance", "displayName": "Okta Admin Console"},
            {"type": "User", "alternateId": "carol@acme.com"}
        ]
    })
}

#[test]
fn metadata_is_carried_on_a_match() {
    let m = set("  sel:\n    eventType: user.session.start\n  condition: sel").evaluate(&ev());
    assert_eq!(
        m,
        vec![std::sync::Arc::new(RuleMatch {
            id: "11111111-2222-3333-4444-555555555555".into(),
            title: "Test rule".into(),
            level: "high".into(),
            mitre: vec!["T1078.004".into()],
            file: "test.yml".into(),
            fields: Default::default(),
            alone: true,
        })]
    );
}

#[test]
fn field_paths_and_values_ignore_letter_case() {
    assert!(fires(
        "  sel:\n    eventtype: USER.SESSION.START\n  condition: sel",
        &ev()
    ));
    assert!(fires(
        "  sel:\n    actor.alternateid: bob@acme.com\n  condition: sel",
        &ev()
    ));
    assert!(!fires(
        "  sel:\n    actor.alternateid: alice@acme.com\n  condition: sel",
        &ev()
    ));
}

#[test]
fn modifiers() {
    let e = ev();
    assert!(fires(
        "  sel:\n    displayMessage|contains: LOGIN TO\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    eventType|startswith: user.session.\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    eventType|endswith: .start\n  condition: sel",
        &e
    ));
    assert!(!fires(
        "  sel:\n    eventType|endswith: .end\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    actor.alternateId|re: '^Bob@.*\\.com$'\n  condition: sel",
        &e
    ));
    assert!(
        !fires(
            "  sel:\n    actor.alternateId|re: '^bob@'\n  condition: sel",
            &e
        ),
        "re is case-sensitive"
    );
    assert!(fires(
        "  sel:\n    client.ipAddress|cidr: 185.220.100.0/22\n  condition: sel",
        &e
    ));
    assert!(!fires(
        "  sel:\n    client.ipAddress|cidr: 10.0.0.0/8\n  condition: sel",
        &e
    ));
    assert!(fires("  sel:\n    debugContext.debugData.behaviors|contains|all:\n      - New Geo-Location=POSITIVE\n      - New Device=NEGATIVE\n  condition: sel", &e));
    assert!(!fires("  sel:\n    debugContext.debugData.behaviors|contains|all:\n      - New Geo-Location=POSITIVE\n      - New Device=POSITIVE\n  condition: sel", &e));
    assert!(fires(
        "  sel:\n    securityContext.isProxy|exists: true\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    securityContext.isp|exists: false\n  condition: sel",
        &e
    ));
    assert!(
        fires(
            "  sel:\n    displayMessage: 'User login*'\n  condition: sel",
            &e
        ),
        "wildcards"
    );
    assert!(!fires(
        "  sel:\n    displayMessage: 'login*'\n  condition: sel",
        &e
    ));
}

#[test]
fn lists_are_or_arrays_match_any_element_true_matches_boolean_and_text() {
    let e = ev();
    assert!(fires("  sel:\n    eventType:\n      - user.session.end\n      - user.session.start\n  condition: sel", &e));
    assert!(fires(
        "  sel:\n    target.displayName: Okta Admin Console\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    target.alternateId: carol@acme.com\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    securityContext.isProxy: 'true'\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    securityContext.isProxy: true\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    debugContext.debugData.threatSuspected: false\n  condition: sel",
        &e
    ));
    assert!(fires(
        "  sel:\n    securityContext.asNumber: 60729\n  condition: sel",
        &e
    ));
    assert!(
        fires(
            "  sel:\n    - eventType: nothing\n    - outcome.result: SUCCESS\n  condition: sel",
            &e
        ),
        "a list of maps is an OR"
    );
    assert!(!fires("  sel:\n    eventType: user.session.start\n    outcome.result: FAILURE\n  condition: sel", &e), "a map is an AND");
    assert!(fires(
        "  keywords:\n    - 'admin console'\n  condition: keywords",
        &e
    ));
}

#[test]
fn conditions() {
    let e = ev();
    let sels = "  sel_type:\n    eventType: user.session.start\n  sel_proxy:\n    securityContext.isProxy: 'true'\n  filter:\n    outcome.result: FAILURE\n";
    for (cond, want) in [
        ("sel_type and sel_proxy", true),
        ("sel_type and filter", false),
        ("sel_type or filter", true),
        ("sel_type and not filter", true),
        ("not (sel_type or filter)", false),
        ("1 of sel_*", true),
        ("all of sel_*", true),
        ("all of sel_* and not filter", true),
        ("all of them", false),
        ("1 of them", true),
    ] {
        assert_eq!(
            fires(&format!("{sels}  condition: {cond}"), &e),
            want,
            "{cond}"
        );
    }
}

#[test]
fn invalid_rules_are_refused_with_file_and_reason() {
    let bad = rule("  sel:\n    eventType: x\n  condition: sel and missing");
    assert_eq!(
        refused("bad.yml", &bad),
        "bad.yml: condition \"sel and missing\": no selection named \"missing\""
    );
    let windows = rule("  sel:\n    eventType: x\n  condition: sel")
        .replace("product: okta", "product: windows");
    assert_eq!(
        refused("win.yml", &windows),
        "win.yml: logsource.product is \"windows\", not okta"
    );
    assert!(refused(
        "m.yml",
        &rule("  sel:\n    eventType|base64: x\n  condition: sel")
    )
    .contains("modifier \"base64\" is not supported"));
    assert!(refused("n.yml", "title: x\n").starts_with("n.yml: no id"));
    assert!(refused("y.yml", ": : :").starts_with("y.yml: not YAML"));
    let unclosed = refused("y.yml", "title: t\ndetection: {sel: [a\n");
    assert!(
        unclosed.starts_with("y.yml: not YAML") && !unclosed.contains('\n'),
        "{unclosed}"
    );
    // A correlation over a rule the set does not have.
    let corr = "title: c\nid: c1\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 5m\n  condition:\n    gte: 10\n";
    assert_eq!(
        refused("c.yml", corr),
        "c.yml: correlation c1 counts rule \"a\", which is not a detection rule of the set (by id or name)"
    );
    assert!(refused(
        "a.yml",
        &rule("  sel:\n    eventType: x\n  condition: sel | count() > 5")
    )
    .contains("aggregations"));
    let twice = RuleSet::parse([
        (
            "a.yml",
            rule("  s:\n    eventType: x\n  condition: s").as_str(),
        ),
        (
            "b.yml",
            rule("  s:\n    eventType: y\n  condition: s").as_str(),
        ),
    ])
    .unwrap_err();
    assert!(
        twice[0].to_string().starts_with("b.yml: id 11111111"),
        "{twice:?}"
    );
}

#[test]
fn pathological_rules_are_bounded_or_refused() {
    // A catastrophic-backtracking pattern in backtracking engines is accepted:
    // the regex crate matches it in linear time (this returns at once).
    let set = set("  sel:\n    displayMessage|re: '(a+)+$'\n  condition: sel");
    let long = json!({"displayMessage": format!("{}!", "a".repeat(50_000))});
    assert!(set.evaluate(&long).is_empty());
    // A pattern whose compiled form is huge is refused.
    let huge = rule("  sel:\n    displayMessage|re: '(\\w{100}){100}'\n  condition: sel");
    assert!(
        refused("huge.yml", &huge).contains("regular expression refused"),
        "{}",
        refused("huge.yml", &huge)
    );
    // So are oversized values and files.
    let long_value = rule(&format!(
        "  sel:\n    displayMessage: '{}'\n  condition: sel",
        "x".repeat(2000)
    ));
    assert!(refused("long.yml", &long_value).contains("longer than 1024"));
    let big = format!(
        "{}\n# {}",
        rule("  s:\n    eventType: x\n  condition: s"),
        "x".repeat(MAX_RULE_BYTES)
    );
    assert!(refused("big.yml", &big).contains("more than the 65536"));
}

#[test]
fn the_event_type_index_finds_what_trying_every_rule_finds() {
    let texts: Vec<(String, String)> = [
        "  sel:\n    eventType: USER.SESSION.START\n  condition: sel",
        "  sel:\n    eventType: user.session.end\n  condition: not sel",
        "  sel:\n    eventType: user.session.end\n  other:\n    outcome.result: SUCCESS\n  condition: sel or other",
        "  sel:\n    eventType: 'user.session.*'\n  condition: sel",
        "  sel:\n    - eventType: user.session.start\n    - eventType: policy.rule.update\n  condition: sel and not filter\n  filter:\n    outcome.result: FAILURE",
        "  sel:\n    eventType: user.session.end\n  condition: sel",
        "  sel:\n    eventType|startswith: USER.SESS\n  condition: sel",
        "  sel:\n    eventType|startswith: policy.\n  condition: sel",
    ]
    .iter()
    .enumerate()
    .map(|(i, d)| (format!("r{i}.yml"), rule(d).replace("11111111-2222-3333-4444-555555555555", &format!("r{i}"))))
    .collect();
    let set = RuleSet::parse(texts.iter().map(|(f, t)| (f.as_str(), t.as_str()))).unwrap();
    let e = ev();
    let indexed: Vec<String> = set.evaluate(&e).into_iter().map(|m| m.id.clone()).collect();
    let every: Vec<String> = set
        .rules()
        .iter()
        .filter(|r| r.matches(&e))
        .map(|r| r.meta.id.clone())
        .collect();
    assert_eq!(indexed, every);
    assert_eq!(indexed, ["r0", "r1", "r2", "r3", "r4", "r6"]);
}

// --- correlations ------------------------------------------------------------

fn with_correlation(correlation: &str) -> Result<RuleSet, Vec<RuleError>> {
    let base = "title: Sign-in\nid: base-1\nname: sign_in\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventType: user.session.start\n  condition: sel\n";
    let text = format!("{base}---\ntitle: Burst\nid: corr-1\ncorrelation:\n{correlation}");
    RuleSet::parse([("c.yml", text.as_str())])
}

#[test]
fn a_correlation_names_its_rules_by_name_or_id_and_their_matches_carry_its_fields() {
    for by in ["sign_in", "base-1"] {
        let set = with_correlation(&format!(
            "  type: value_count\n  rules: [{by}]\n  group-by: [client.ipAddress]\n  timespan: 15m\n  condition:\n    field: actor.alternateId\n    gte: 3\n"
        ))
        .unwrap_or_else(|e| panic!("{e:?}"));
        let c = &set.correlations()[0];
        assert_eq!(c.rules, ["base-1"]);
        assert_eq!(c.count, Count::Values("actor.alternateid".into()));
        assert_eq!(c.group_by, ["client.ipaddress"]);
        assert_eq!(c.timespan, 15 * 60_000);
        assert!(c.holds(3) && !c.holds(2));
        let m = set.evaluate(&ev());
        assert_eq!(m.len(), 1);
        // The raw event's values, as written there; found whatever the case of the path.
        assert_eq!(m[0].fields["client.ipaddress"], "185.220.101.47");
        assert_eq!(m[0].fields["actor.alternateid"], "Bob@Acme.com");
        assert!(!m[0].alone, "counted, not reported alone");
    }
    // An event missing a field carries none for it.
    let set = with_correlation("  type: event_count\n  rules: [sign_in]\n  group-by: [client.device]\n  timespan: 1h\n  condition:\n    gte: 2\n    lt: 5\n").unwrap();
    let m = set.evaluate(&ev());
    assert!(m[0].fields.is_empty());
    let c = &set.correlations()[0];
    assert!(c.holds(2) && c.holds(4) && !c.holds(5) && !c.holds(1));
    assert_eq!(c.condition_text(), ">= 2 and < 5");
}

#[test]
fn generate_keeps_the_counted_rule_reporting_alone() {
    let counted = with_correlation("  type: event_count\n  rules: [sign_in]\n  timespan: 5m\n  condition:\n    gte: 2\n  generate: true\n").unwrap();
    assert!(counted.evaluate(&ev())[0].alone);
    // A rule no correlation counts shares its metadata, fields and all.
    let plain = set("  sel:\n    eventType: user.session.start\n  condition: sel");
    let a = plain.evaluate(&ev());
    let b = plain.evaluate(&ev());
    assert!(std::sync::Arc::ptr_eq(&a[0], &b[0]));
}

#[test]
fn correlations_the_detector_cannot_run_are_refused_with_the_reason() {
    for (body, says) in [
        ("  type: temporal\n  rules: [sign_in]\n  timespan: 5m\n  condition:\n    gte: 2\n", "temporal is not supported"),
        ("  type: event_count\n  rules: [sign_in]\n  timespan: 2h\n  condition:\n    gte: 2\n", "longer than 1h"),
        ("  type: event_count\n  rules: [sign_in]\n  timespan: 5x\n  condition:\n    gte: 2\n", "not a number and a unit"),
        ("  type: value_count\n  rules: [sign_in]\n  timespan: 5m\n  condition:\n    gte: 2\n", "value_count needs condition.field"),
        ("  type: event_count\n  rules: [sign_in]\n  timespan: 5m\n  condition:\n    field: x\n    gte: 2\n", "event_count takes no condition.field"),
        ("  type: event_count\n  rules: [sign_in]\n  timespan: 5m\n  condition:\n    gte: many\n", "must be a whole number"),
        ("  type: event_count\n  rules: [sign_in]\n  timespan: 5m\n  condition:\n    near: 2\n", "condition.near is not supported"),
        ("  type: event_count\n  rules: []\n  timespan: 5m\n  condition:\n    gte: 2\n", "names no rule"),
        ("  type: event_count\n  rules: [corr-1]\n  timespan: 5m\n  condition:\n    gte: 2\n", "not a detection rule of the set"),
    ] {
        let err = with_correlation(body).unwrap_err();
        assert!(
            err.iter().any(|e| e.file == "c.yml" && e.reason.contains(says)),
            "{body}: {err:?}"
        );
    }
}

#[test]
fn ids_of_built_in_detections_and_overlong_ids_are_refused() {
    let with_id = |id: &str| {
        rule("  sel:\n    eventType: x\n  condition: sel").replace(
            "id: 11111111-2222-3333-4444-555555555555",
            &format!("id: {id}"),
        )
    };
    let builtin = crate::detect::catalog::CATALOG[0].id;
    let e = refused("shadow.yml", &with_id(builtin));
    assert!(
        e.starts_with("shadow.yml: ") && e.contains("built-in detection"),
        "{e}"
    );
    let e = refused("long.yml", &with_id(&"a".repeat(MAX_RULE_ID_CHARS + 1)));
    assert!(e.contains("longer than 128 characters"), "{e}");
    assert!(RuleSet::parse([("ok.yml", with_id(&"a".repeat(MAX_RULE_ID_CHARS)).as_str())]).is_ok());
}

#[test]
fn the_rule_sets_regular_expressions_have_a_budget() {
    // One rule of 100 wildcard values: 100 expressions.
    let values: String = (0..100)
        .map(|i| format!("      - 'evil{i}.+x'\n"))
        .collect();
    let text = |n: usize| {
        rule(&format!(
            "  sel:\n    displayMessage|re:\n{values}  condition: sel"
        ))
        .replace("11111111-2222-3333-4444-555555555555", &format!("rule-{n}"))
    };
    let files: Vec<(String, String)> = (0..MAX_REGEXES / 100)
        .map(|n| (format!("r{n}.yml"), text(n)))
        .collect();
    let parse = |files: &[(String, String)]| {
        RuleSet::parse(files.iter().map(|(f, t)| (f.as_str(), t.as_str())))
    };
    if let Err(e) = parse(&files) {
        panic!("exactly the budget is accepted: {e:?}");
    }
    let mut over = files.clone();
    over.push(("one-more.yml".into(), text(99)));
    let errors = parse(&over).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].to_string();
    assert!(
        e.contains("1100 regular expressions") && e.contains("over the budget"),
        "{e}"
    );
}
