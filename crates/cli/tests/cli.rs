//! The `okta-itdr` binary, run as a process over the sample events and over
//! files written for each test.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use okta_itdr_core::normalize::UsernameHasher;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_okta-itdr");
const KEY: &str = "cli-test-username-hash-key-0123456789";
/// Typed into the username field of `events/signin-failure-unknown-user.json`.
const PASSWORD: &str = "Winter2026!Pass";

fn events() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .canonicalize()
        .expect("events/ exists")
}

fn scenario(name: &str) -> PathBuf {
    events().join("scenarios").join(name)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The value of a summary row (`  events    12 ingested, …`).
    fn summary(&self, row: &str) -> String {
        let text = if self.stderr.contains("\nSummary\n") || self.stderr.starts_with("Summary\n") {
            &self.stderr
        } else {
            &self.stdout
        };
        let prefix = format!("  {row:<9} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no summary row {row:?} in:\n{}", self.both()))
            .to_owned()
    }

    /// Findings printed in json format, each checked to be an OCSF Detection Finding.
    fn findings(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"));
                assert_eq!(v["class_uid"], 2004, "{l}");
                assert_eq!(v["type_uid"], 200401, "{l}");
                assert_eq!(v["metadata"]["uid"], v["finding_info"]["uid"], "{l}");
                assert!(v["finding_info"]["analytic"]["uid"].is_string(), "{l}");
                v
            })
            .collect()
    }
}

fn okta_itdr(args: &[&str]) -> Run {
    okta_itdr_env(args, &[("OKTA_ITDR_HASH_KEY", KEY)])
}

fn okta_itdr_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("OKTA_ITDR_HASH_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running okta-itdr");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    }
}

fn replay_json(paths: &[&Path]) -> Run {
    let mut args = vec!["replay", "--format", "json"];
    let texts: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(texts.iter().map(String::as_str));
    let run = okta_itdr(&args);
    assert_eq!(run.code, 0, "{}", run.both());
    run
}

/// The LogEvents (EventBridge `detail`) of a file of EventBridge events, one per line.
fn log_events(jsonl: &Path) -> Vec<Value> {
    std::fs::read_to_string(jsonl)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["detail"].clone())
        .collect()
}

fn lines(values: &[Value]) -> String {
    values.iter().map(|v| v.to_string() + "\n").collect()
}

fn unknown_identity(typed: &str) -> String {
    let hash = UsernameHasher::new(KEY.as_bytes()).unwrap().hash(typed);
    format!("unknown:{}", hash.trim_start_matches("hmac:"))
}

// ------------------------------------------------------------------ input forms

#[test]
fn an_eventbridge_event_file() {
    let run = replay_json(&[&events().join("signin-success.json")]);
    assert_eq!(run.summary("records"), "1 read");
    assert_eq!(run.summary("events"), "1 ingested, 0 duplicates, 0 late");
    assert_eq!(run.summary("skipped"), "0");
    assert!(
        run.stdout.is_empty(),
        "a normal sign-in raises nothing: {}",
        run.stdout
    );
}

#[test]
fn every_form_of_the_same_events_gives_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        "baseline.jsonl",
        "password-spray.jsonl",
        "brute-force.jsonl",
    ]
    .map(scenario);
    let envelopes: String = sources
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let events: Vec<Value> = sources.iter().flat_map(|p| log_events(p)).collect();
    let n = events.len();

    let eventbridge = dir.path().join("eventbridge.jsonl");
    std::fs::write(&eventbridge, &envelopes).unwrap();
    let expected = replay_json(&[&eventbridge]);
    assert_eq!(
        expected.summary("events"),
        format!("{n} ingested, 0 duplicates, 0 late")
    );

    // GET /api/v1/logs: a pretty-printed JSON array of LogEvents.
    let array = dir.path().join("logs.json");
    std::fs::write(
        &array,
        serde_json::to_string_pretty(&Value::Array(events.clone())).unwrap(),
    )
    .unwrap();
    // JSON Lines of LogEvents.
    let bare = dir.path().join("logs.ndjson");
    std::fs::write(&bare, lines(&events)).unwrap();
    // gzip, told by content whatever the name.
    let gz = dir.path().join("logs.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(lines(&events).as_bytes()).unwrap();
    enc.finish().unwrap();
    // A page per array, and a pretty-printed EventBridge event per file.
    let pages = dir.path().join("pages.json");
    let (a, b) = events.split_at(n / 2);
    std::fs::write(
        &pages,
        format!(
            "{}\n{}\n",
            Value::Array(a.to_vec()),
            Value::Array(b.to_vec())
        ),
    )
    .unwrap();

    for path in [&array, &bare, &gz, &pages] {
        let got = replay_json(&[path]);
        assert_eq!(
            got.summary("events"),
            format!("{n} ingested, 0 duplicates, 0 late"),
            "{}",
            path.display()
        );
        assert_eq!(got.summary("skipped"), "0", "{}", path.display());
        assert_eq!(
            got.stdout,
            expected.stdout,
            "{} gives other findings",
            path.display()
        );
    }
}

#[test]
fn pretty_printed_single_events_and_concatenated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let one = std::fs::read_to_string(events().join("admin-privilege-granted.json")).unwrap();
    let two = std::fs::read_to_string(events().join("api-token-created.json")).unwrap();
    let both = dir.path().join("both.json");
    std::fs::write(&both, format!("{one}\n{two}\n")).unwrap();
    let run = replay_json(&[&both]);
    assert_eq!(run.summary("events"), "2 ingested, 0 duplicates, 0 late");
}

#[test]
fn directories_are_read_recursively_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("b/deeper")).unwrap();
    std::fs::create_dir_all(d.join("c")).unwrap();
    // Files without events are reported in name order (depth first).
    std::fs::write(d.join("c/z.jsonl"), "oops\n").unwrap();
    std::fs::write(d.join("b/deeper/y.json"), "oops\n").unwrap();
    std::fs::write(d.join("b/x.json"), "oops\n").unwrap();
    std::fs::write(d.join("a.jsonl"), "oops\n").unwrap();
    std::fs::write(d.join("README.md"), "not read").unwrap();
    std::fs::copy(
        scenario("impossible-travel.jsonl"),
        d.join("c/travel.jsonl"),
    )
    .unwrap();
    std::fs::copy(
        events().join("signin-success.json"),
        d.join("b/deeper/signin.json"),
    )
    .unwrap();
    let run = replay_json(&[d]);
    let order: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(": invalid_json:"))
        .collect();
    let expected: Vec<String> = ["a.jsonl", "b/deeper/y.json", "b/x.json", "c/z.jsonl"]
        .iter()
        .map(|f| format!("{}:1: invalid_json:", d.join(f).display()))
        .collect();
    assert_eq!(order.len(), 4, "{}", run.stderr);
    for (line, want) in order.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "{line} should start with {want}"
        );
    }
    assert_eq!(
        run.summary("files"),
        "6 read, 1 ignored (not *.json, *.jsonl, *.ndjson, or .gz of them)"
    );
    assert_eq!(run.summary("events"), "5 ingested, 0 duplicates, 0 late");
    assert_eq!(run.summary("skipped"), "4 (invalid_json 4)");
}

#[test]
fn files_are_replayed_in_event_time_order_whatever_their_names() {
    // Name order puts the attack before the baseline it is judged against.
    let in_name_order = replay_json(&[
        &scenario("admin-takeover.jsonl"),
        &scenario("baseline.jsonl"),
    ]);
    let in_time_order = replay_json(&[
        &scenario("baseline.jsonl"),
        &scenario("admin-takeover.jsonl"),
    ]);
    assert_eq!(in_name_order.stdout, in_time_order.stdout);
    assert_eq!(
        in_name_order.summary("events"),
        "364 ingested, 0 duplicates, 0 late"
    );
}

#[test]
fn events_out_of_order_within_the_window_are_replayed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut events: Vec<Value> = [
        "baseline.jsonl",
        "mfa-push-bombing.jsonl",
        "brute-force.jsonl",
    ]
    .iter()
    .flat_map(|f| log_events(&scenario(f)))
    .collect();
    let sorted = dir.path().join("sorted.jsonl");
    std::fs::write(&sorted, lines(&events)).unwrap();
    // Swap neighbours: every event moves by one place, never by hours.
    for pair in events.chunks_mut(2) {
        pair.reverse();
    }
    let shuffled = dir.path().join("shuffled.jsonl");
    std::fs::write(&shuffled, lines(&events)).unwrap();
    let a = replay_json(&[&sorted]);
    let b = replay_json(&[&shuffled]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(b.summary("events"), a.summary("events"));
    assert!(b.summary("events").ends_with(", 0 late"), "{}", b.stderr);
}

// ------------------------------------------------------------------ bad input

#[test]
fn bad_records_are_reported_with_file_and_line_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let good = log_events(&scenario("brute-force.jsonl"));
    let jsonl = dir.path().join("mixed.jsonl");
    let non_okta = serde_json::from_str::<Value>(
        &std::fs::read_to_string(events().join("non-okta-event.json")).unwrap(),
    )
    .unwrap();
    let text = format!(
        "{}\n{{\"uuid\": \n{}\n\n{}\n{}\n[1, 2]\n{}\n",
        good[0], good[1], r#"{"uuid":"x","eventType":"user.session.start"}"#, non_okta, good[2]
    );
    std::fs::write(&jsonl, text).unwrap();
    let array = dir.path().join("page.json");
    std::fs::write(
        &array,
        format!("[\n{},\n\"text\",\n{}\n]\n", good[3], good[4]),
    )
    .unwrap();
    let run = replay_json(&[&jsonl, &array]);
    let j = jsonl.display();
    let a = array.display();
    for want in [
        format!("{j}:2: invalid_json: "),
        format!("{j}:5: not_log_event: the LogEvent has no published"),
        format!("{j}:6: not_okta_source: "),
        format!("{j}:7: not_log_event: not a JSON object"),
        format!("{a}:3: not_log_event: not a JSON object"),
    ] {
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&want)),
            "missing {want:?} in:\n{}",
            run.stderr
        );
    }
    assert_eq!(run.summary("records"), "10 read");
    assert_eq!(run.summary("events"), "5 ingested, 0 duplicates, 0 late");
    assert_eq!(
        run.summary("skipped"),
        "5 (invalid_json 1, not_log_event 3, not_okta_source 1)"
    );
}

#[test]
fn duplicates_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let good = log_events(&scenario("brute-force.jsonl"));
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    std::fs::write(&a, lines(&good[..4])).unwrap();
    std::fs::write(
        &b,
        lines(&[good[1].clone(), good[2].clone(), good[2].clone()]),
    )
    .unwrap();
    let run = replay_json(&[&a, &b]);
    assert_eq!(run.summary("events"), "7 ingested, 3 duplicates, 0 late");
}

#[test]
fn a_missing_path_is_an_error_that_names_it() {
    let missing = events().join("no-such-file.jsonl");
    let run = okta_itdr(&[
        "replay",
        "--format",
        "json",
        events().join("signin-success.json").to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn strict_fails_after_replaying_everything() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("with-bad-line.jsonl");
    let unknown = serde_json::from_str::<Value>(
        &std::fs::read_to_string(events().join("signin-failure-unknown-user.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(&file, format!("not json\n{unknown}\n")).unwrap();
    let path = file.to_str().unwrap();
    let lenient = okta_itdr(&["replay", "--format", "json", path]);
    assert_eq!(lenient.code, 0, "{}", lenient.both());
    let strict = okta_itdr(&["replay", "--format", "json", "--strict", path]);
    assert_eq!(strict.code, 3, "{}", strict.both());
    assert_eq!(strict.stdout, lenient.stdout, "findings are still printed");
    assert_eq!(strict.summary("events"), "1 ingested, 0 duplicates, 0 late");
    assert!(
        strict.stderr.contains(&format!("{path}:1: invalid_json")),
        "{}",
        strict.stderr
    );
    assert!(
        strict.stderr.contains("1 input record(s) skipped"),
        "{}",
        strict.stderr
    );
}

#[test]
fn a_bad_configuration_is_an_error_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("detections.json");
    std::fs::write(&cfg, r#"{"disabled":["no_such_detection"]}"#).unwrap();
    let run = okta_itdr(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        events().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&cfg.display().to_string()) && run.stderr.contains("no_such_detection"),
        "{}",
        run.stderr
    );
    let run = okta_itdr_env(
        &["replay", events().to_str().unwrap()],
        &[("OKTA_ITDR_HASH_KEY", "short")],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("OKTA_ITDR_HASH_KEY") && !run.stderr.contains("short\n"),
        "{}",
        run.stderr
    );
}

// ------------------------------------------------------------------ output

#[test]
fn json_output_is_one_ocsf_finding_per_line_matching_the_table() {
    let json = replay_json(&[&events()]);
    let findings = json.findings();
    let total: usize = json
        .summary("alerts")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(findings.len(), total);
    let uids: BTreeSet<&str> = findings
        .iter()
        .map(|f| f["finding_info"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids.len(), findings.len(), "finding uids are unique");

    let table = okta_itdr(&["replay", "--format", "table", events().to_str().unwrap()]);
    assert_eq!(table.code, 0, "{}", table.both());
    assert_eq!(table.summary("alerts"), json.summary("alerts"));
    let rows: Vec<&str> = table
        .stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    if findings.is_empty() {
        assert_eq!(table.stdout.lines().next(), Some("No alerts."));
    } else {
        assert_eq!(rows.len(), findings.len(), "{}", table.stdout);
    }
    for f in &findings {
        let detection = f["finding_info"]["analytic"]["uid"].as_str().unwrap();
        let message = f["message"].as_str().unwrap();
        let head: String = message.chars().take(40).collect();
        assert!(
            rows.iter()
                .any(|r| r.contains(detection) && r.contains(&head)),
            "no table row for {detection}: {message}\n{}",
            table.stdout
        );
    }
    // In json format the summary is on stderr, in table format on stdout.
    assert!(!json.stdout.contains("Summary") && json.stderr.contains("Summary"));
    assert!(table.stdout.contains("\nSummary\n"));
}

#[test]
fn a_password_typed_as_a_username_is_never_printed() {
    let file = events().join("signin-failure-unknown-user.json");
    let path = file.to_str().unwrap();
    let identity = unknown_identity(PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    // The password also sits in records that are skipped.
    let bad = dir.path().join("bad.jsonl");
    let raw = std::fs::read_to_string(&file).unwrap();
    let one_line = serde_json::from_str::<Value>(&raw).unwrap().to_string();
    std::fs::write(
        &bad,
        format!(
            "{}\n{}\n{PASSWORD}\n{}\n",
            &one_line[..one_line.len() / 2 + 200],
            one_line.replace("\"published\"", "\"unpublished\""),
            one_line.replace("\"actor\":{", "\"actor\":[{")
        ),
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let runs = [
        okta_itdr(&["replay", "--format", "json", path]),
        okta_itdr(&["replay", "--format", "table", path]),
        okta_itdr(&["replay", "--format", "json", "--timeline", &identity, path]),
        okta_itdr(&["replay", "--format", "table", "--timeline", &identity, path]),
        okta_itdr(&["replay", "--format", "table", "--timeline", PASSWORD, path]),
        okta_itdr(&["replay", "--format", "json", bad, path]),
        okta_itdr(&["replay", "--format", "table", bad]),
        okta_itdr_env(
            &[
                "replay",
                "--format",
                "table",
                "--timeline",
                "99.61.14.202",
                path,
            ],
            &[],
        ),
    ];
    for run in &runs {
        assert!(
            !run.both().contains(PASSWORD) && !run.both().to_lowercase().contains("winter2026"),
            "the password leaked:\n{}",
            run.both()
        );
    }
    // The event was replayed and is on the hashed identity's timeline.
    let timeline: Vec<Value> = runs[2]
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(timeline.len(), 1, "{}", runs[2].both());
    assert_eq!(timeline[0]["identity"], identity.as_str());
    assert_eq!(timeline[0]["username_secret_like"], true);
    assert!(
        runs[3].stdout.contains("user.session.start") && runs[3].stdout.contains("FAILURE"),
        "{}",
        runs[3].stdout
    );
    assert!(
        runs[5].stderr.contains(&format!("{bad}:3: invalid_json")),
        "{}",
        runs[5].stderr
    );
}

#[test]
fn a_timeline_by_login_lists_the_identity_s_events_in_order() {
    let travel = scenario("impossible-travel.jsonl");
    let brute = scenario("brute-force.jsonl");
    let run = okta_itdr(&[
        "replay",
        "--format",
        "json",
        "--timeline",
        "DAVE@acme.com",
        brute.to_str().unwrap(),
        travel.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.both());
    let records: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 16);
    assert!(records
        .iter()
        .all(|r| r["identity"] == "00uLH7GmuWFOhOMT9K9O"));
    let times: Vec<i64> = records
        .iter()
        .map(|r| r["published"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let table = okta_itdr(&[
        "replay",
        "--format",
        "table",
        "--timeline",
        "00uLH7GmuWFOhOMT9K9O",
        travel.to_str().unwrap(),
    ]);
    assert!(
        table
            .stdout
            .contains("Timeline of dave@acme.com (4 events)"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("Australia / Sydney") && table.stdout.contains("CHROME / Windows 10"),
        "{}",
        table.stdout
    );
}

#[test]
fn detections_lists_the_whole_catalog() {
    let run = okta_itdr(&["detections", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.both());
    let rows: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: BTreeSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rows.len(), 54);
    assert_eq!(ids.len(), 54);
    assert!(rows
        .iter()
        .all(|r| r["enabled"] == true && r["mitre"].as_array().is_some_and(|m| !m.is_empty())));
    assert_eq!(
        rows.iter().find(|r| r["id"] == "password_spray").unwrap()["thresholds"]["distinct_users"],
        5.0
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.json");
    std::fs::write(
        &cfg,
        r#"{"disabled":["rate_limit_violation"],"thresholds":{"password_spray.distinct_users":8}}"#,
    )
    .unwrap();
    let table = okta_itdr(&[
        "detections",
        "--format",
        "table",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(table.code, 0, "{}", table.both());
    assert_eq!(table.stdout.lines().count(), 55);
    let row = |id: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row {id}"))
            .to_owned()
    };
    assert!(
        row("password_spray").contains("distinct_users=8 max_tries_per_user=3 window_minutes=60"),
        "{}",
        row("password_spray")
    );
    assert!(row("rate_limit_violation").trim_end().ends_with("no"));
    assert!(
        row("mfa_push_bombing").contains("T1621")
            && row("mfa_push_bombing").trim_end().ends_with("yes")
    );
}

// ------------------------------------------------------------------ the samples

/// `okta-itdr replay events/`, the README's command: every attack in
/// `events/scenarios` and every single sample event raises what it should, about
/// whom it should, and nothing else fires (the baseline and the benign noise
/// stay quiet).
#[test]
fn replaying_the_sample_events_raises_the_expected_detections() {
    let run = replay_json(&[&events()]);
    assert_eq!(run.summary("skipped"), "1 (not_okta_source 1)");
    assert!(
        run.stderr
            .contains("non-okta-event.json:1: not_okta_source"),
        "{}",
        run.stderr
    );
    let who = |f: &Value| {
        let user = &f["evidences"][0]["actor"]["user"];
        let who = user["email_addr"]
            .as_str()
            .or(user["uid"].as_str())
            .unwrap_or_default();
        if who.starts_with("unknown:") {
            "unknown user".to_owned()
        } else if who.starts_with("device:") {
            "device".to_owned()
        } else {
            who.to_owned()
        }
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    // Each alert: its detection, severity, principal and the contributing
    // detections listed with it (OCSF related_analytics).
    let fired: BTreeSet<(String, String, String, String)> = run
        .findings()
        .iter()
        .map(|f| {
            let related: Vec<String> = f["finding_info"]["related_analytics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| text(&r["uid"]))
                .collect();
            (
                text(&f["finding_info"]["analytic"]["uid"]),
                text(&f["severity"]),
                who(f),
                related.join(","),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String, String)> = [
        // signin-failure-unknown-user.json (the password is never shown)
        ("password_in_username", "Medium", "unknown user", ""),
        // admin-privilege-granted.json, api-token-created.json, policy-change-via-api-token.json
        ("admin_role_granted", "Critical", "carol@acme.com", ""),
        ("api_token_created", "Medium", "frank@acme.com", ""),
        ("security_policy_weakened", "High", "frank@acme.com", ""),
        // mfa-push-bombing.jsonl: the denials, then the approval, from a Tor exit
        // abroad: one alert with the new country and the proxy
        ("mfa_push_bombing", "High", "bob@acme.com", ""),
        (
            "mfa_push_bombing",
            "Critical",
            "bob@acme.com",
            "new_country,proxy_sign_in",
        ),
        // session-hijack.jsonl
        ("session_hijack", "High", "alice@acme.com", ""),
        // impossible-travel.jsonl
        ("impossible_travel", "High", "dave@acme.com", "new_country"),
        // password-spray.jsonl: from one IP and one device, then carol signs in
        // from there: one incident
        (
            "credential_attack_then_success",
            "Critical",
            "carol@acme.com",
            // and, from the risk ledger, the Super administrator grant of the
            // day before
            "admin_role_granted,impossible_travel,new_country,password_spray",
        ),
        // brute-force.jsonl, across the hour boundary; the ledger lists dave's
        // travel alert of the afternoon
        (
            "brute_force_user",
            "Medium",
            "dave@acme.com",
            "impossible_travel,new_country",
        ),
        // admin-takeover.jsonl: the reset, the new country and the console access
        // that followed, then the grant with the console access from a new device
        (
            "mfa_reset_then_admin_access",
            "Critical",
            "erin@acme.com",
            "factor_enrolled_after_reset_new_network,mfa_factor_reset,new_country",
        ),
        // the grant pages from the fast path as it is stored, alone...
        ("admin_role_granted", "Critical", "erin@acme.com", ""),
        // ...and its hour's run follows it up: the console access of its
        // hour, and the takeover's earlier steps from the ledger
        (
            "admin_role_granted",
            "Critical",
            "erin@acme.com",
            "admin_console_new_device_and_ip,factor_enrolled_after_reset_new_network,mfa_factor_reset,mfa_reset_then_admin_access,new_country",
        ),
        // tampering.jsonl: each critical change pages from the fast path in
        // seconds, with the takeover's earlier steps from the ledger...
        (
            "idp_created_or_modified",
            "Critical",
            "erin@acme.com",
            "factor_enrolled_after_reset_new_network,mfa_factor_reset,mfa_reset_then_admin_access,new_country",
        ),
        (
            "mfa_disabled_org_wide",
            "Critical",
            "erin@acme.com",
            "factor_enrolled_after_reset_new_network,mfa_factor_reset,mfa_reset_then_admin_access,new_country",
        ),
        (
            "log_stream_tampering",
            "Critical",
            "erin@acme.com",
            "admin_console_new_device_and_ip,admin_role_granted,factor_enrolled_after_reset_new_network,mfa_factor_reset,mfa_reset_then_admin_access,new_country",
        ),
        // ...and the hour's run follows up the session's last alert with the
        // rest of the session (the token, the policy), one alert
        (
            "log_stream_tampering",
            "Critical",
            "erin@acme.com",
            "admin_console_new_device_and_ip,admin_role_granted,api_token_created,factor_enrolled_after_reset_new_network,idp_created_or_modified,mfa_disabled_org_wide,mfa_factor_reset,mfa_reset_then_admin_access,new_country,security_policy_weakened",
        ),
    ]
    .iter()
    .map(|(d, s, w, r)| {
        (
            (*d).to_owned(),
            (*s).to_owned(),
            (*w).to_owned(),
            (*r).to_owned(),
        )
    })
    .collect();
    let missing: Vec<_> = expected.difference(&fired).collect();
    let unexpected: Vec<_> = fired.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing: {missing:#?}\nunexpected: {unexpected:#?}"
    );
    assert_eq!(run.findings().len(), expected.len(), "one finding each");
    assert_eq!(run.summary("alerts"), "17 (critical 10, high 4, medium 3)");

    // Every finding is kept: --all-findings lists those that paged no one.
    let all = okta_itdr(&[
        "replay",
        "--format",
        "json",
        "--all-findings",
        events().to_str().unwrap(),
    ]);
    assert_eq!(all.code, 0, "{}", all.both());
    let kept: BTreeSet<(String, String, bool)> = all
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d.get("part_of").is_some())
        .map(|d| {
            let f = &d["finding"];
            (
                text(&f["finding_info"]["analytic"]["uid"]),
                who(f),
                d["part_of"].is_string(),
            )
        })
        .collect();
    assert_eq!(kept.len(), 13, "{kept:#?}");
    for (detection, principal, in_alert) in [
        ("mfa_factor_reset", "erin@acme.com", true),
        (
            "factor_enrolled_after_reset_new_network",
            "erin@acme.com",
            true,
        ),
        ("new_country", "erin@acme.com", true),
        ("password_spray", "device", true),
        ("proxy_sign_in", "bob@acme.com", true),
    ] {
        assert!(
            kept.contains(&(detection.to_owned(), principal.to_owned(), in_alert)),
            "{detection} {principal} not kept: {kept:#?}"
        );
    }
    assert_eq!(
        all.summary("findings"),
        "13 kept without paging (risk contributors, listed in an alert, repeats; --all-findings)"
    );
}

/// The false-positive checks in `benign-noise.jsonl` raise nothing once users
/// have their baseline.
#[test]
fn benign_noise_after_the_baseline_raises_nothing() {
    let run = replay_json(&[&scenario("baseline.jsonl"), &scenario("benign-noise.jsonl")]);
    assert!(
        run.stdout.is_empty(),
        "unexpected findings:\n{}",
        run.stdout
    );
}

// ------------------------------------------------------------------ learning history

#[test]
fn history_before_learn_until_is_learned_not_alerted_on() {
    let dir = events().display().to_string();
    let all = replay_json(&[&events()]).findings();
    let cut_text = "2026-11-10T00:00:00Z";
    let cut = okta_itdr_core::time::parse_rfc3339_ms(cut_text).unwrap();
    let run = okta_itdr(&[
        "replay",
        "--format",
        "json",
        "--learn-until",
        cut_text,
        &dir,
    ]);
    assert_eq!(run.code, 0, "{}", run.both());
    let learned = run.findings();
    let time = |f: &Value| f["time"].as_i64().unwrap();
    let before: Vec<&Value> = all.iter().filter(|f| time(f) < cut).collect();
    assert!(!before.is_empty(), "the sample pages before the cut");
    assert!(learned.iter().all(|f| time(f) >= cut), "{}", run.stdout);
    assert_eq!(
        learned.len(),
        all.len() - before.len(),
        "what follows still pages"
    );
    assert!(
        run.summary("detector").contains("hours of history learned"),
        "{}",
        run.stderr
    );
}

#[test]
fn more_history_than_okta_keeps_is_a_clear_error() {
    let run = okta_itdr(&[
        "replay",
        "--okta",
        "https://acme.okta.com",
        "--since",
        "1d",
        "--learn-days",
        "91",
    ]);
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stderr.contains("--learn-days 91") && run.stderr.contains("90"),
        "{}",
        run.stderr
    );
}
