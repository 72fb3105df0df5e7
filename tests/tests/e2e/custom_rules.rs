//! Custom Sigma rules in the deployment: uploaded to S3 (moto), read by the
//! real ingest binary at start-up under the Runtime API emulator, evaluated on
//! every event it stores. The rules fire on exactly the events the CLI's
//! `rules check` names for the same files; a broken rule refuses start-up,
//! naming its object; objects outside the configured folder are never read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use okta_itdr_core::ports::ActivityStore;
use okta_itdr_core::time::{parse_rfc3339_ms, Hour};
use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{function_binary, repo_root, FunctionProcess, TestEnv, HASH_KEY};
use serde_json::Value;

const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
const FOLDER: &str = "okta-rules/";

/// The same broken rule the CLI tests refuse.
const BROKEN: &str = "title: Broken\nid: b1\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventType|base64offset: x\n  condition: sel\n";

fn rule_files() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/rules/okta");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/rules/okta")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "the test rules are all there");
    files
}

/// The test rules in the folder, with a README beside them, and broken rules
/// where the functions must not look: a deeper folder and another folder.
fn folder_objects(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut objects: Vec<(String, String)> = rule_files()
        .iter()
        .map(|p| {
            (
                format!("{FOLDER}{}", p.file_name().unwrap().to_str().unwrap()),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    objects.push((format!("{FOLDER}README.md"), "# Our Okta rules\n".into()));
    objects.push((format!("{FOLDER}archive/old.yml"), BROKEN.into()));
    objects.push(("okta-rules-old/broken.yml".into(), BROKEN.into()));
    objects.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    objects
}

/// Every sample event (EventBridge envelopes) under `events/`.
fn sample_envelopes() -> Vec<Value> {
    fn walk(dir: &Path, out: &mut Vec<Value>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            match p.extension().and_then(|x| x.to_str()) {
                Some("json") => out.push(serde_json::from_str(&text).unwrap()),
                Some("jsonl") => out.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| serde_json::from_str::<Value>(l).unwrap()),
                ),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo_root().join("events"), &mut out);
    out
}

/// `okta-itdr rules check ARGS…`: whether it succeeded, and what it printed.
fn rules_check(args: &[&Path]) -> (bool, String) {
    let mut cmd = std::process::Command::new(okta_itdr_e2e::cli_binary());
    cmd.args(["rules", "check"]);
    let out = cmd
        .args(args)
        .env("OKTA_ITDR_HASH_KEY", HASH_KEY)
        .output()
        .expect("running okta-itdr");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// `okta-itdr rules check DIR events/`: (rule id, event uuid) for every match.
fn cli_matches() -> BTreeSet<(String, String)> {
    let rules = repo_root().join("tests/rules/okta");
    let (ok, out) = rules_check(&[&rules, &repo_root().join("events")]);
    assert!(ok, "rules check failed: {out}");
    out.lines()
        .filter(|l| l.contains(") on "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[1].to_owned(), words[words.len() - 1].to_owned())
        })
        .collect()
}

fn ingest_env(env: &TestEnv, rules_uri: &str) -> Vec<(&'static str, String)> {
    let mut vars = env.env_vars(&[
        "ACTIVITY_TABLE",
        "HOUR_SHARDS",
        "RETENTION_DAYS",
        "USERNAME_HASH_KEY_SECRET",
    ]);
    vars.push(("CUSTOM_RULES_URI", rules_uri.to_owned()));
    vars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_function_reads_its_rules_from_s3_and_they_fire_as_in_the_cli() {
    let (binary, want) = tokio::task::spawn_blocking(|| (function_binary("ingest"), cli_matches()))
        .await
        .expect("build");
    assert_eq!(want.len(), 5, "the CLI's matches: {want:?}");

    let env = TestEnv::new("rules-s3").await;
    let bucket = env.bucket("rules", &folder_objects(&[])).await;
    let api = RuntimeApi::start().await;
    let vars = ingest_env(&env, &format!("s3://{bucket}/{FOLDER}"));
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-ingest", &vars);

    let envelopes = sample_envelopes();
    assert!(envelopes.len() > 400, "{}", envelopes.len());
    let mut hours = BTreeSet::new();
    for envelope in &envelopes {
        let outcome = api
            .invoke(envelope, INVOKE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
        // The one sample that is not an Okta event is refused, as always.
        if envelope["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("aws.partner/okta.com/"))
        {
            outcome.response();
            let published = envelope["detail"]["published"].as_str().unwrap();
            hours.insert(Hour::of(parse_rfc3339_ms(published).unwrap()));
        }
    }

    let store = env.activity_store();
    let mut got = BTreeSet::new();
    let mut carried = Vec::new();
    for hour in hours {
        for record in store.hour_activity(hour).await.unwrap() {
            for m in &record.details.rules {
                got.insert((m.id.clone(), record.uuid.to_string()));
                carried.push(m.clone());
            }
        }
    }
    assert_eq!(got, want, "the function's matches differ from the CLI's");
    // What the detector renders the finding from rides on the record.
    let proxy = carried
        .iter()
        .find(|m| m.id == "0b3c5a2e-8f4d-4a6e-9c1b-7d2e3f4a5b6c")
        .expect("the proxy rule's match");
    assert_eq!(proxy.level, "high");
    assert_eq!(proxy.mitre, ["T1090.003"]);
    assert_eq!(proxy.file, "okta_authentication_through_proxy.yml");

    let output = process.output().join("\n");
    assert!(
        output.contains("custom rules loaded") && output.contains("\"rules\":3"),
        "{output}"
    );
    process.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_in_the_folder_refuses_start_up_naming_its_object() {
    let (ingest, detect) =
        tokio::task::spawn_blocking(|| (function_binary("ingest"), function_binary("detect")))
            .await
            .expect("build");
    let env = TestEnv::new("rules-broken").await;
    let broken = format!("{FOLDER}zz-broken.yml");
    let bucket = env
        .bucket("rules", &folder_objects(&[(&broken, BROKEN)]))
        .await;
    let cases = [
        (
            format!("s3://{bucket}/{FOLDER}"),
            format!("s3://{bucket}/{FOLDER}zz-broken.yml: selection sel: modifier \"base64offset\" is not supported"),
        ),
        // A folder that does not exist holds no rules: that is not an error...
        // but a bucket that does not exist is.
        (
            "s3://okta-itdr-no-such-bucket/okta-rules/".to_owned(),
            "reading custom rules from s3://okta-itdr-no-such-bucket/okta-rules/".to_owned(),
        ),
    ];
    // The detect function reads the same folder for its correlations.
    let detect_env = |uri: &str| -> Vec<(&'static str, String)> {
        let mut vars = env.env_vars(&["ACTIVITY_TABLE", "STATE_TABLE", "HOUR_SHARDS"]);
        vars.push((
            "ALERT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:unused".into(),
        ));
        vars.push(("CUSTOM_RULES_URI", uri.to_owned()));
        vars
    };
    let runs = cases.iter().flat_map(|(uri, says)| {
        [
            (
                &ingest,
                "okta-itdr-ingest",
                ingest_env(&env, uri),
                uri,
                says,
            ),
            (&detect, "okta-itdr-detect", detect_env(uri), uri, says),
        ]
    });
    for (binary, name, vars, uri, says) in runs {
        let api = RuntimeApi::start().await;
        let mut process = FunctionProcess::spawn(binary, &api.address(), name, &vars);
        let status = process
            .exit_status(Duration::from_secs(30))
            .await
            .expect("the process exits");
        assert!(!status.success(), "{name} {uri}");
        let report = api.init_error().expect("an /init/error report");
        assert_eq!(
            report["errorType"], "Runtime.InvalidCustomRules",
            "{report}"
        );
        let message = report["body"]["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(says.as_str()), "{name} {uri}: {message}");
        // The deeper folder's and the sibling folder's broken rules are not read.
        assert!(!message.contains("archive/old.yml"), "{message}");
        assert!(!message.contains("okta-rules-old"), "{message}");
        assert_eq!(api.served(), 0, "no event is taken without its rules");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_rules_folder_starts_with_no_rules() {
    let binary = tokio::task::spawn_blocking(|| function_binary("ingest"))
        .await
        .expect("build");
    let env = TestEnv::new("rules-empty").await;
    let bucket = env
        .bucket("rules", &[("elsewhere/rule.yml".into(), BROKEN.into())])
        .await;
    let api = RuntimeApi::start().await;
    let vars = ingest_env(&env, &format!("s3://{bucket}/{FOLDER}"));
    let mut process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-ingest", &vars);
    let event = okta_itdr_e2e::sample_event("policy-change-via-api-token.json");
    let outcome = api
        .invoke(&event, INVOKE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert_eq!(outcome.response()["outcome"], "stored", "{:?}", outcome);
    let published = parse_rfc3339_ms(event["detail"]["published"].as_str().unwrap()).unwrap();
    let records = env
        .activity_store()
        .hour_activity(Hour::of(published))
        .await
        .unwrap();
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r.details.rules.is_empty()));
    assert!(
        process.output().join("\n").contains("\"rules\":0"),
        "{:#?}",
        process.output()
    );
    process.kill().await;
}

#[test]
fn the_cli_and_the_deployment_read_the_same_files() {
    // `replay --rules DIR` reads DIR's own *.yml/*.yaml, not subdirectories,
    // as the functions read their folder's own objects.
    let dir = tempfile::tempdir().unwrap();
    for p in rule_files() {
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    std::fs::create_dir(dir.path().join("archive")).unwrap();
    std::fs::write(dir.path().join("archive/old.yml"), BROKEN).unwrap();
    std::fs::write(dir.path().join("README.md"), "# rules").unwrap();
    let (ok, text) = rules_check(&[dir.path()]);
    assert!(ok, "{text}");
    assert!(text.contains("3 rule(s) valid"), "{text}");
}

/// Every read of the rules names the stack's account as the bucket's expected
/// owner. S3 refuses a request whose expected owner is not the bucket's (403
/// AccessDenied); moto does not check, so a proxy in front of it does, for a
/// bucket owned by one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_read_only_from_a_bucket_the_stacks_account_owns() {
    use okta_itdr_aws::rules::{load, RulesError, RulesLocation};
    use okta_itdr_e2e::fault_proxy::{Action, FaultProxy};

    const OWNER: &str = "123456789012";
    let env = TestEnv::new("rules-owner").await;
    let rule = "title: Sign-ins\nid: owned-sign-ins\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventtype: user.session.start\n  condition: sel\nlevel: low\n";
    let bucket = env
        .bucket("rules-owner", &[("rules/a.yml".into(), rule.into())])
        .await;
    let proxy = FaultProxy::start(&okta_itdr_e2e::endpoint(), |head, _| {
        let owner = head
            .lines()
            .find_map(|l| l.strip_prefix("x-amz-expected-bucket-owner:"))
            .map(str::trim);
        if owner == Some(OWNER) {
            Action::Forward
        } else {
            Action::Respond {
                status: 403,
                content_type: "application/xml",
                body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                    .into(),
            }
        }
    })
    .await;
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(env.sdk.region().cloned())
        .credentials_provider(env.sdk.credentials_provider().expect("credentials"))
        .endpoint_url(proxy.url())
        .build();
    let s3 = okta_itdr_aws::rules::client(&sdk);
    let at = RulesLocation::parse(&format!("s3://{bucket}/rules/")).unwrap();

    let rules = load(&s3, &at.clone().owned_by(Some(OWNER.into())))
        .await
        .expect("the stack's own bucket is read");
    assert_eq!(rules.len(), 1);
    let err = load(&s3, &at.owned_by(Some("999999999999".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, RulesError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
}
