//! `okta-itdr fetch` and `replay --okta` against the fake Okta API, as a user
//! runs them: the binary, credentials from the environment or files, output on
//! stdout/stderr and in files.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::process::Output;

use okta_itdr_e2e::fake_okta::{rsa_key_pair, sample_log_events, FakeOkta, FakeOktaConfig};
use okta_itdr_e2e::HASH_KEY;
use serde_json::Value;

const TOKEN: &str = "00fake-api-token-value";
const SINCE: &str = "2026-11-01T00:00:00Z";
const UNTIL: &str = "2026-11-12T00:00:00Z";

/// Runs the CLI with the hash key a user would set.
pub(crate) async fn cli(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    let mut env = env;
    env.push(("OKTA_ITDR_HASH_KEY", HASH_KEY.into()));
    okta_itdr_e2e::run_cli(args, env).await
}

pub(crate) fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn token_env() -> Vec<(&'static str, String)> {
    vec![("OKTA_API_TOKEN", TOKEN.to_owned())]
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let mut text = String::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = String::from_utf8(bytes).unwrap();
    }
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn org_with_samples(config: FakeOktaConfig) -> (FakeOkta, Vec<Value>) {
    let okta = FakeOkta::start(config).await;
    let events = sample_log_events();
    okta.add_events(&events);
    (okta, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_then_replay_of_the_file_equals_replay_okta() {
    let (okta, events) = org_with_samples(FakeOktaConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl.gz");
    let file_arg = file.to_string_lossy().to_string();

    let fetched = cli(
        args(&[
            "fetch",
            "--org",
            okta.url(),
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--page-size",
            "100",
            "-o",
            &file_arg,
        ]),
        token_env(),
    )
    .await;
    let err = text(&fetched.stderr);
    assert!(fetched.status.success(), "{err}");
    assert!(
        err.contains("pages") && err.contains("rate-limit waits"),
        "progress on stderr: {err}"
    );
    let in_file = read_jsonl(&file);
    assert_eq!(in_file.len(), events.len(), "every event once");

    let from_file = cli(args(&["replay", "--format", "json", &file_arg]), vec![]).await;
    assert!(from_file.status.success(), "{}", text(&from_file.stderr));
    let streamed = cli(
        args(&[
            "replay",
            "--format",
            "json",
            "--okta",
            okta.url(),
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--page-size",
            "100",
        ]),
        token_env(),
    )
    .await;
    assert!(streamed.status.success(), "{}", text(&streamed.stderr));
    let findings = text(&from_file.stdout);
    assert!(
        findings.lines().count() >= 10,
        "the scenarios' findings: {findings}"
    );
    assert_eq!(
        text(&streamed.stdout),
        findings,
        "replay --okta == fetch + replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_fetch_resumes_into_the_same_file_with_each_event_once() {
    for name in ["events.jsonl", "events.jsonl.gz"] {
        // A tight rate limit stops the first run after two pages.
        let (tight, events) = org_with_samples(FakeOktaConfig {
            rate_limit: 4,
            window_secs: 60,
            ..FakeOktaConfig::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        let file_arg = file.to_string_lossy().to_string();
        let common = [
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--page-size",
            "50",
            "-o",
            &file_arg,
        ];
        let mut first = args(&["fetch", "--org", tight.url(), "--max-rate-wait", "1"]);
        first.extend(args(&common));
        let out = cli(first, token_env()).await;
        assert!(!out.status.success());
        let err = text(&out.stderr);
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("okta-itdr: okta:") && last.contains("rate limit"),
            "{err}"
        );
        let partial = read_jsonl(&file).len();
        assert_eq!(partial, 100, "two pages kept: {err}");

        // An interrupted write leaves a cut-off tail; the resume drops it.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"\x1f\x8b\x08\x00{\"uuid\":\"cut"))
            .unwrap();

        let (open, _) = org_with_samples(FakeOktaConfig::default()).await;
        let mut second = args(&["fetch", "--org", open.url()]);
        second.extend(args(&common));
        let out = cli(second, token_env()).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("resuming: 100 events"),
            "{}",
            text(&out.stderr)
        );
        let all = read_jsonl(&file);
        let uuids: Vec<&str> = all.iter().map(|e| e["uuid"].as_str().unwrap()).collect();
        let unique: HashSet<&str> = uuids.iter().copied().collect();
        let expected: HashSet<&str> = events.iter().map(|e| e["uuid"].as_str().unwrap()).collect();
        assert_eq!(uuids.len(), unique.len(), "{name}: no duplicates");
        assert_eq!(unique, expected, "{name}: nothing lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_and_no_credential_appears_in_any_output() {
    let (private, public) = rsa_key_pair();
    let (okta, _) = org_with_samples(FakeOktaConfig {
        service_app: Some(("0oaCliServiceApp".into(), public.clone())),
        ..FakeOktaConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("okta.pem");
    std::fs::write(&key_file, &private).unwrap();
    let key_body: String = private.lines().nth(3).unwrap().to_owned();
    let secrets = |out: &Output| -> Vec<String> {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        [
            "00WRONG-SECRET-token",
            TOKEN,
            &key_body,
            "fake-access-",
            "eyJ",
        ]
        .iter()
        .filter(|s| all.contains(*s))
        .map(|s| s.to_string())
        .collect()
    };
    let fetch = |org: &str| args(&["fetch", "--org", org, "--since", SINCE, "--until", UNTIL]);
    let error_line = |out: &Output| -> String {
        assert!(!out.status.success());
        let err = text(&out.stderr);
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("okta-itdr:"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line: {err}");
        errors[0].to_owned()
    };

    // A service app works and shows neither key nor token nor assertion.
    let out = cli(
        fetch(okta.url()),
        vec![
            ("OKTA_CLIENT_ID", "0oaCliServiceApp".into()),
            ("OKTA_PRIVATE_KEY_FILE", key_file.to_string_lossy().into()),
            ("OKTA_KEY_ID", "kid-1".into()),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).lines().count() > 400);
    assert_eq!(secrets(&out), Vec::<String>::new());

    let out = cli(
        fetch(okta.url()),
        vec![("OKTA_API_TOKEN", "00WRONG-SECRET-token".into())],
    )
    .await;
    assert!(error_line(&out).contains("credentials were refused"));
    assert_eq!(secrets(&out), Vec::<String>::new());

    let no_scope = FakeOkta::start(FakeOktaConfig {
        service_app: Some(("0oaCliServiceApp".into(), public)),
        grants_logs_read: false,
        ..FakeOktaConfig::default()
    })
    .await;
    let creds = dir.path().join("creds.json");
    std::fs::write(
        &creds,
        serde_json::json!({"clientId": "0oaCliServiceApp", "privateKeyPem": private, "keyId": "kid-1"}).to_string(),
    )
    .unwrap();
    let mut with_file = fetch(no_scope.url());
    with_file.extend(args(&["--credentials", &creds.to_string_lossy()]));
    let out = cli(with_file, vec![]).await;
    assert!(error_line(&out).contains("okta.logs.read"));
    assert_eq!(secrets(&out), Vec::<String>::new());

    let not_okta = FakeOkta::start(FakeOktaConfig {
        serves_logs: false,
        ..FakeOktaConfig::default()
    })
    .await;
    let out = cli(fetch(not_okta.url()), token_env()).await;
    assert!(error_line(&out).contains("org URL"));

    let out = cli(fetch("http://acme.okta.com"), token_env()).await;
    assert!(error_line(&out).contains("https://"));
    let out = cli(fetch(okta.url()), vec![]).await;
    assert!(error_line(&out).contains("OKTA_API_TOKEN"));
}
