//! Every finding the replay of `events/` produces is a valid OCSF Detection
//! Finding, checked by an independent implementation of the schema
//! (py-ocsf-models, via tests/ocsf/validate.py).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> String {
    std::env::var("OKTA_ITDR_PYTHON").unwrap_or_else(|_| {
        panic!(
            "OKTA_ITDR_PYTHON is not set. Run the tests with tests/run.sh, or create a venv with \
             `python3 -m venv .venv && .venv/bin/pip install py-ocsf-models==0.10.0` and \
             `export OKTA_ITDR_PYTHON=$PWD/.venv/bin/python`"
        )
    })
}

#[test]
fn replayed_findings_are_valid_ocsf_detection_findings() {
    let out = Command::new(env!("CARGO_BIN_EXE_okta-itdr"))
        .args(["replay", "--format", "json", "--rules"])
        // The custom rules' findings are rendered by the same code, and checked too.
        .arg(repo().join("tests/rules/okta"))
        .arg(repo().join("events"))
        .output()
        .expect("run okta-itdr");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(
        findings.contains("\"uid\":\"50e068d7-1e6b-4054-87e5-0a592c40c7e0\""),
        "no custom rule finding among:\n{findings}"
    );
    let count = findings.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(
        count >= 10,
        "expected the sample scenarios to produce findings, got {count}"
    );

    let mut validator = Command::new(python())
        .arg(repo().join("tests/ocsf/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the OCSF validator");
    validator
        .stdin
        .take()
        .expect("stdin")
        .write_all(findings.as_bytes())
        .expect("feed findings");
    let result = validator.wait_with_output().expect("validator finished");
    let report = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "invalid OCSF findings:\n{report}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        report.contains(&format!("{count} findings, 0 invalid")),
        "{report}"
    );
}

#[test]
fn the_validator_rejects_a_broken_finding() {
    // Guards the guard: a finding without its required fields must fail.
    let mut validator = Command::new(python())
        .arg(repo().join("tests/ocsf/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the OCSF validator");
    validator
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200401, "severity_id": 4, "severity": "High", "finding_info": {"title": "x"}}"#)
        .expect("feed");
    let result = validator.wait_with_output().expect("validator finished");
    assert!(
        !result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stdout)
    );
}
