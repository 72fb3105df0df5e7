//! Custom Sigma rules through the binary: `rules check` and `replay --rules`
//! over the sample events, with the rules in `tests/rules/okta/` written in
//! SigmaHQ's Okta style. Each rule fires exactly on the events it should.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_okta-itdr");

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p)
        .canonicalize()
        .unwrap()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env(
            "OKTA_ITDR_HASH_KEY",
            "cli-test-username-hash-key-0123456789",
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `replay --format json --rules DIR --all-findings events/`: its output.
fn replay_all_findings(rules: &Path) -> String {
    let events = repo("events");
    let (code, out, err) = run(&[
        "replay",
        "--format",
        "json",
        "--rules",
        rules.to_str().unwrap(),
        "--all-findings",
        events.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    out
}

const MFA_RESET: &str = "50e068d7-1e6b-4054-87e5-0a592c40c7e0";
const POLICY: &str = "1667a172-ed4c-463c-9969-efd92195319a";
const PROXY: &str = "0b3c5a2e-8f4d-4a6e-9c1b-7d2e3f4a5b6c";

#[test]
fn rules_check_validates_and_lists_exactly_the_matching_events() {
    let rules = repo("tests/rules/okta");
    let (code, out, err) = run(&["rules", "check", rules.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 rule(s) valid"), "{out}");

    let events = repo("events");
    let (code, out, err) = run(&[
        "rules",
        "check",
        rules.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let mut hits: Vec<(String, String)> = out
        .lines()
        .filter(|l| l.contains(") on "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[1].to_owned(), words[words.len() - 1].to_owned())
        })
        .collect();
    hits.sort();
    // The uuids of the events each rule is about, read from the samples.
    let uuid_of = |file: &str, event_type: &str| -> String {
        let text = std::fs::read_to_string(repo(file)).unwrap();
        text.split('\n')
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .chain(serde_json::from_str::<Value>(&text).ok())
            .map(|v| v["detail"].clone())
            .find(|d| d["eventType"] == event_type)
            .map(|d| d["uuid"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let mut want = vec![
        (
            MFA_RESET.to_owned(),
            uuid_of(
                "events/scenarios/admin-takeover.jsonl",
                "user.mfa.factor.reset_all",
            ),
        ),
        (
            POLICY.to_owned(),
            uuid_of(
                "events/policy-change-via-api-token.json",
                "policy.rule.update",
            ),
        ),
        (
            POLICY.to_owned(),
            uuid_of(
                "events/scenarios/tampering.jsonl",
                "policy.lifecycle.deactivate",
            ),
        ),
        (
            PROXY.to_owned(),
            "992d9635-bc1c-4ce6-95fe-ab980d10ed06".to_owned(),
        ),
        (
            PROXY.to_owned(),
            "f0f0a012-eb5b-4cda-b440-9c9eabd0bc97".to_owned(),
        ),
    ];
    want.sort();
    assert_eq!(hits, want, "{out}");
    assert!(out.contains("5 match(es)"), "{out}");
}

fn text_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

#[test]
fn replay_with_rules_publishes_their_findings_like_built_ins() {
    let out = replay_all_findings(&repo("tests/rules/okta"));
    // Published alerts, then every finding that paged no one with the alert it
    // is part of: a rule's finding is either its own alert or listed in one.
    let mut custom: Vec<Value> = Vec::new();
    let mut repeats: Vec<String> = Vec::new();
    for line in out.lines() {
        let doc = serde_json::from_str::<Value>(line).unwrap();
        let (finding, in_alert) = match doc.get("part_of") {
            // A repeat folded into an earlier alert by suppression is not a new finding.
            Some(_) if doc["status"] == "repeat" => {
                repeats.push(text_of(&doc["finding"]["finding_info"]["analytic"]["uid"]));
                continue;
            }
            Some(part_of) => (doc["finding"].clone(), part_of.is_string()),
            None => (doc, true),
        };
        let id = finding["finding_info"]["analytic"]["uid"].as_str().unwrap();
        if [MFA_RESET, POLICY, PROXY].contains(&id) {
            assert!(
                in_alert,
                "{id} neither alerted nor listed in an alert: {out}"
            );
            custom.push(finding);
        }
    }
    let mut got: Vec<(String, String, String)> = custom
        .iter()
        .map(|f| {
            (
                f["finding_info"]["analytic"]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["evidences"][0]["actor"]["user"]["email_addr"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    got.sort();
    let want = [
        (
            "Okta Authentication Through An Anonymising Proxy",
            "High",
            "bob@acme.com",
        ),
        ("Okta MFA Reset or Deactivated", "Medium", "frank@acme.com"),
        ("Okta Policy Modified or Deleted", "Low", "erin@acme.com"),
        ("Okta Policy Modified or Deleted", "Low", "frank@acme.com"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    // bob's factor check and sign-in through Tor match twice, seconds apart:
    // a high rule, so the fast path pages the first as it is stored and folds
    // the second into it as a repeat; the push bombing's alert lists both.
    assert_eq!(got, want, "{out}");
    assert_eq!(repeats, [PROXY], "{out}");
    for f in &custom {
        assert_eq!(f["finding_info"]["analytic"]["type"], "Rule");
        assert!(f["unmapped"]["rule_file"]
            .as_str()
            .unwrap()
            .ends_with(".yml"));
    }
    let proxy = custom
        .iter()
        .find(|f| f["finding_info"]["analytic"]["uid"] == PROXY)
        .unwrap();
    assert_eq!(
        proxy["finding_info"]["attacks"][0]["sub_technique"]["uid"],
        "T1090.003"
    );
    // Without --rules, none of these.
    let (_, plain, _) = run(&[
        "replay",
        "--format",
        "json",
        repo("events").to_str().unwrap(),
    ]);
    assert!(!plain.contains(PROXY) && !plain.contains(POLICY));
}

#[test]
fn a_broken_rule_refuses_to_start_naming_its_file() {
    let dir = std::env::temp_dir().join(format!("okta-itdr-broken-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        repo("tests/rules/okta/okta_policy_modified_or_deleted.yml"),
        dir.join("good.yml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.yml"),
        "title: Broken\nid: b1\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventType|base64offset: x\n  condition: sel\n",
    )
    .unwrap();
    let events = repo("events");
    for args in [
        vec!["rules", "check", dir.to_str().unwrap()],
        vec![
            "replay",
            "--rules",
            dir.to_str().unwrap(),
            events.to_str().unwrap(),
        ],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            err.contains("broken.yml: selection sel: modifier \"base64offset\" is not supported"),
            "{err}"
        );
        assert!(out.is_empty(), "{out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

const PUSH_BURST: &str = "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b";
const SPRAY: &str = "5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c";
const PUSH_DENIED: &str = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
const FAILED_SIGN_IN: &str = "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d";

#[test]
fn correlation_rules_count_their_rules_matches_in_replay() {
    let rules = repo("tests/rules/okta-correlations");
    let (code, out, err) = run(&["rules", "check", rules.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("2 rule(s) and 2 correlation(s) valid"),
        "{out}"
    );

    let out = replay_all_findings(&rules);
    let mut found: Vec<Value> = Vec::new();
    for line in out.lines() {
        let doc = serde_json::from_str::<Value>(line).unwrap();
        let finding = doc.get("finding").cloned().unwrap_or(doc);
        let id = finding["finding_info"]["analytic"]["uid"].as_str().unwrap();
        // The counted rules feed the correlations only (no `generate`).
        assert!(![PUSH_DENIED, FAILED_SIGN_IN].contains(&id), "{line}");
        if [PUSH_BURST, SPRAY].contains(&id) {
            found.push(finding);
        }
    }
    let first = |id: &str| {
        found
            .iter()
            .find(|f| f["finding_info"]["analytic"]["uid"] == id)
            .unwrap_or_else(|| panic!("no finding of {id}: {out}"))
    };
    // bob's denied pushes: five within ten minutes, across the 10:00 boundary.
    let burst = first(PUSH_BURST);
    assert_eq!(burst["unmapped"]["count"], 5);
    assert_eq!(
        burst["unmapped"]["group_by"]["actor.alternateid"],
        "bob@acme.com"
    );
    assert_eq!(burst["severity"], "High");
    assert_eq!(
        burst["finding_info"]["attacks"][0]["technique"]["uid"],
        "T1621"
    );
    // The spray: six distinct usernames from one address within fifteen minutes.
    let spray = first(SPRAY);
    assert_eq!(spray["unmapped"]["count"], 6);
    assert_eq!(spray["unmapped"]["correlation"], "value_count");
    assert_eq!(
        spray["unmapped"]["group_by"]["client.ipaddress"],
        "45.134.26.115"
    );
    // dave's brute force (twelve failures, one username) is no spray.
    assert!(found
        .iter()
        .all(|f| f["unmapped"]["group_by"]["client.ipaddress"]
            .as_str()
            .is_none_or(|ip| ip == "45.134.26.115")));
}
