//! `okta-itdr posture` against the fake Okta org, as a user runs it: the
//! binary, credentials from the environment (API token or service app), the
//! table or OCSF Compliance Findings on stdout, the inventory's cost on stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Output, Stdio};

use okta_itdr_e2e::fake_inventory::FakeOrg;
use okta_itdr_e2e::fake_okta::{rsa_key_pair, FakeOkta, FakeOktaConfig};
use okta_itdr_e2e::run_cli as cli;
use serde_json::Value;

const TOKEN: &str = "00fake-api-token-value";
const CLIENT_ID: &str = "0oaFakePostureApp";

fn posture_args(okta: &FakeOkta, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["posture".into(), "--okta".into(), okta.url().into()];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The findings by check id.
fn findings(out: &Output) -> BTreeMap<String, Value> {
    text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("one JSON finding per line"))
        .map(|f| (f["compliance"]["control"].as_str().unwrap().to_owned(), f))
        .collect()
}

fn verdict(f: &Value) -> &str {
    f["unmapped"]["verdict"].as_str().unwrap()
}

fn subjects(f: &Value) -> BTreeSet<String> {
    f["resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["uid"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn python() -> String {
    std::env::var("OKTA_ITDR_PYTHON")
        .expect("OKTA_ITDR_PYTHON (the venv with py-ocsf-models) is set; tests/run.sh sets it")
}

fn assert_valid_ocsf(stdout: &[u8]) {
    let mut v = Command::new(python())
        .arg(okta_itdr_e2e::repo_root().join("tests/ocsf/validate_compliance.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the OCSF validator");
    v.stdin.take().unwrap().write_all(stdout).unwrap();
    let out = v.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "invalid OCSF:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn assert_no_secret(out: &Output, secrets: &[&str]) {
    for s in secrets {
        for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(!text(stream).contains(s), "{name} shows a secret {s:?}");
        }
    }
}

const ALL: [&str; 12] = [
    "admin_mfa_not_phishing_resistant",
    "user_without_mfa",
    "super_admin_count_high",
    "dormant_admin",
    "api_token_network_unrestricted",
    "api_token_owned_by_super_admin",
    "service_app_admin_scopes",
    "threatinsight_not_blocking",
    "log_stream_inactive",
    "admin_console_session_too_long",
    "password_policy_weak",
    "anonymizer_not_blocked",
];

#[tokio::test]
async fn a_weak_org_fails_every_check_listing_every_subject_and_exits_zero() {
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    okta.set_org(FakeOrg::weak(now()));
    let out = cli(
        posture_args(&okta, &["--format", "json"]),
        vec![("OKTA_API_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(
        out.status.success(),
        "failing checks are not an error: {}",
        text(&out.stderr)
    );
    let f = findings(&out);
    assert_eq!(f.len(), 12, "one finding per check");
    for id in ALL {
        assert_eq!(verdict(&f[id]), "fail", "{id}: {}", f[id]);
        assert_eq!(f[id]["compliance"]["status_id"], 3, "{id}");
        assert_eq!(
            f[id]["unmapped"]["subject_count"].as_u64().unwrap() as usize,
            subjects(&f[id]).len(),
            "{id}: count and subjects agree"
        );
    }
    let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        subjects(&f["admin_mfa_not_phishing_resistant"]),
        set(&["00uorgadmin"])
    );
    assert_eq!(
        subjects(&f["user_without_mfa"]),
        set(&["00unomfa"]),
        "00unew is within its grace period"
    );
    assert_eq!(
        subjects(&f["super_admin_count_high"]),
        set(&[
            "00uadmin1",
            "00usuper2",
            "00usuper3",
            "00usuper4",
            "00usuper5",
            "00usuper6"
        ])
    );
    assert_eq!(subjects(&f["dormant_admin"]), set(&["00udormant"]));
    assert_eq!(
        subjects(&f["api_token_network_unrestricted"]),
        set(&["00Tlegacy"])
    );
    assert_eq!(
        subjects(&f["api_token_owned_by_super_admin"]),
        set(&["00Tlegacy"])
    );
    assert_eq!(subjects(&f["service_app_admin_scopes"]), set(&["0oaitdr"]));
    assert_eq!(subjects(&f["log_stream_inactive"]), set(&["0oxitdr"]));
    assert_eq!(subjects(&f["password_policy_weak"]), set(&["00ppassword"]));
    assert_eq!(f["user_without_mfa"]["severity_id"], 3);
    assert_eq!(f["admin_mfa_not_phishing_resistant"]["severity_id"], 4);
    assert_valid_ocsf(&out.stdout);
    assert_no_secret(&out, &[TOKEN]);
}

#[tokio::test]
async fn a_healthy_org_passes_every_check_with_a_service_app() {
    let (private, public) = rsa_key_pair();
    let okta = FakeOkta::start(FakeOktaConfig {
        api_token: None,
        service_app: Some((CLIENT_ID.into(), public)),
        ..FakeOktaConfig::default()
    })
    .await;
    okta.set_org(FakeOrg::healthy(now()));
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, &private).unwrap();
    let env = vec![
        ("OKTA_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OKTA_PRIVATE_KEY_FILE", key.display().to_string()),
    ];
    let out = cli(posture_args(&okta, &["--format", "json"]), env.clone()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f = findings(&out);
    for id in ALL {
        assert_eq!(verdict(&f[id]), "pass", "{id}: {}", f[id]);
        assert_eq!(f[id]["compliance"]["status_id"], 1, "{id}");
        assert!(f[id].get("resources").is_none(), "{id}");
    }
    assert_valid_ocsf(&out.stdout);
    // One token per read scope, each reused for every request of its scope.
    assert_eq!(okta.token_requests(), 11);

    // The table for people.
    let out = cli(posture_args(&okta, &["--format", "table"]), env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.starts_with("CHECK"), "{table}");
    assert_eq!(table.matches(" PASS ").count(), 12, "{table}");
    let key_body: String = private.lines().nth(1).unwrap().to_owned();
    assert_no_secret(&out, &[&key_body, "fake-access-", "BEGIN PRIVATE KEY"]);
}

#[tokio::test]
async fn a_missing_scope_makes_its_checks_unknown_never_pass() {
    // A service app that was granted neither role nor policy reads.
    let (private, public) = rsa_key_pair();
    let okta = FakeOkta::start(FakeOktaConfig {
        service_app: Some((CLIENT_ID.into(), public)),
        ..FakeOktaConfig::default()
    })
    .await;
    let mut org = FakeOrg::healthy(now());
    org.denied = [
        "okta.roles.read",
        "okta.policies.read",
        "okta.threatInsights.read",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    okta.set_org(org);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, &private).unwrap();
    let out = cli(
        posture_args(&okta, &["--format", "json"]),
        vec![
            ("OKTA_CLIENT_ID", CLIENT_ID.to_owned()),
            ("OKTA_PRIVATE_KEY_FILE", key.display().to_string()),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f = findings(&out);
    for id in [
        "admin_mfa_not_phishing_resistant",
        "super_admin_count_high",
        "dormant_admin",
        "api_token_owned_by_super_admin",
        "threatinsight_not_blocking",
        "admin_console_session_too_long",
        "password_policy_weak",
    ] {
        assert_eq!(verdict(&f[id]), "unknown", "{id}: {}", f[id]);
        assert_eq!(f[id]["compliance"]["status_id"], 0, "{id}");
    }
    assert!(
        f["dormant_admin"]["unmapped"]["note"]
            .as_str()
            .unwrap()
            .contains("okta.roles.read"),
        "the note names the missing scope: {}",
        f["dormant_admin"]
    );
    // What could be read is still judged.
    for id in [
        "user_without_mfa",
        "api_token_network_unrestricted",
        "anonymizer_not_blocked",
    ] {
        assert_eq!(verdict(&f[id]), "pass", "{id}");
    }
    assert!(
        text(&out.stderr).contains("not readable"),
        "{}",
        text(&out.stderr)
    );
    assert_valid_ocsf(&out.stdout);

    // An API token whose admin lacks a permission: HTTP 403 E0000006, the same.
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let mut org = FakeOrg::weak(now());
    org.denied = ["okta.networkZones.read", "okta.logStreams.read"]
        .into_iter()
        .map(String::from)
        .collect();
    okta.set_org(org);
    let out = cli(
        posture_args(&okta, &["--format", "json"]),
        vec![("OKTA_API_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f = findings(&out);
    assert_eq!(verdict(&f["anonymizer_not_blocked"]), "unknown");
    assert_eq!(verdict(&f["log_stream_inactive"]), "unknown");
    assert_eq!(verdict(&f["dormant_admin"]), "fail");
    assert!(okta.inventory_requests().iter().any(|r| r.status == 403));

    // Credentials that may read nothing: every check unknown, none passes.
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let mut org = FakeOrg::weak(now());
    org.denied = okta_itdr_okta::INVENTORY_SCOPES
        .iter()
        .map(|(s, _)| s.to_string())
        .collect();
    okta.set_org(org);
    let out = cli(
        posture_args(&okta, &["--format", "json"]),
        vec![("OKTA_API_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f = findings(&out);
    assert_eq!(f.len(), 12);
    for id in ALL {
        assert_eq!(verdict(&f[id]), "unknown", "{id}: {}", f[id]);
    }
    assert!(text(&out.stderr).contains("12 checks: 0 pass, 0 fail, 12 unknown"));
}

#[tokio::test]
async fn refused_credentials_are_an_error_without_the_secret() {
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    okta.set_org(FakeOrg::healthy(now()));
    let out = cli(
        posture_args(&okta, &["--format", "json"]),
        vec![("OKTA_API_TOKEN", "00WRONG-token-SECRET".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "no findings from an inventory never read"
    );
    assert!(
        text(&out.stderr).contains("E0000011"),
        "{}",
        text(&out.stderr)
    );
    assert_no_secret(&out, &["00WRONG-token-SECRET"]);
}

#[tokio::test]
async fn a_refresh_of_n_users_pages_and_stays_within_the_rate_limit_share() {
    const N: usize = 250;
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let mut org = FakeOrg::healthy(now());
    for i in 0..N {
        org.add_user(&format!("00ubulk{i:04}"), now(), 100, Some(1), &["push"]);
    }
    // 40 requests per endpoint per one-second window; half is ours.
    org.rate_limit = 40;
    okta.set_org(org);
    let started = std::time::Instant::now();
    let out = cli(
        posture_args(&okta, &["--format", "json", "--rate-share", "0.5"]),
        vec![("OKTA_API_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f = findings(&out);
    assert_eq!(verdict(&f["user_without_mfa"]), "pass");
    assert_eq!(
        f["user_without_mfa"]["unmapped"]["evaluated"].as_u64(),
        Some(N as u64 + 2),
        "every user of every page was read"
    );
    let requests = okta.inventory_requests();
    assert!(
        requests.iter().all(|r| r.status == 200),
        "no 429: the share held"
    );
    let users_pages = requests.iter().filter(|r| r.bucket == "users").count();
    assert_eq!(users_pages, 2, "252 users at 200 a page");
    // Per refresh: 2 user pages, 1 role list + 1 per admin, 1 group list + 1
    // per group, 1 factor list per user, and 11 for devices, tokens, apps, the
    // service app's grants, log streams, ThreatInsight, zones, and the session
    // policies, their rules, the password and the authenticator enrolment
    // policies.
    let admins = 1;
    let groups = 1;
    assert_eq!(
        requests.len(),
        2 + (1 + admins) + (1 + groups) + (N + 2) + 11,
        "requests for a refresh of {} users",
        N + 2
    );
    assert!(
        okta.max_inventory_requests_per_window() <= 20,
        "at most half of each endpoint's window: {}",
        okta.max_inventory_requests_per_window()
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{} requests", requests.len())),
        "{stderr}"
    );
    eprintln!(
        "refresh of {} users: {} requests in {:.1} s",
        N + 2,
        requests.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn a_429_waits_for_the_reset_and_the_refresh_completes() {
    let okta = FakeOkta::start(FakeOktaConfig {
        window_secs: 2,
        ..FakeOktaConfig::default()
    })
    .await;
    let mut org = FakeOrg::weak(now());
    org.rate_limit = 50;
    okta.set_org(org);
    // Others have used up the users endpoint's window when we start.
    okta.exhaust_inventory("users");
    let out = cli(
        posture_args(&okta, &["--format", "json"]),
        vec![("OKTA_API_TOKEN", TOKEN.into())],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = okta.inventory_requests();
    assert_eq!(
        requests[0].status, 429,
        "the first users request met the exhausted window"
    );
    assert_eq!(requests[1].bucket, "users");
    assert_eq!(requests[1].status, 200, "retried after the reset");
    assert!(
        requests[1].window > requests[0].window,
        "in the next window"
    );
    let f = findings(&out);
    assert_eq!(
        verdict(&f["user_without_mfa"]),
        "fail",
        "nothing lost: {}",
        f["user_without_mfa"]
    );
    assert!(
        text(&out.stderr).contains("1 rate-limit waits"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn replay_okta_enriches_the_principal_and_raises_an_admin_to_high() {
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    okta.add_events(&okta_itdr_e2e::fake_okta::sample_log_events());
    let mut org = FakeOrg::healthy(now());
    // Frank creates an API token (a Medium alert) and is an Org Administrator;
    // Dave is brute-forced (Medium) and holds no role.
    org.add_user("00uuxBj8lMewuvFFD2nj", now(), 400, Some(1), &["push"]);
    org.roles.insert(
        "00uuxBj8lMewuvFFD2nj".into(),
        vec![okta_itdr_e2e::fake_inventory::role_json("ORG_ADMIN")],
    );
    org.add_user("00uLH7GmuWFOhOMT9K9O", now(), 10, Some(1), &["webauthn"]);
    org.members
        .get_mut("00gall")
        .unwrap()
        .push("00uLH7GmuWFOhOMT9K9O".into());
    okta.set_org(org);
    let window = [
        "--since",
        "2026-11-01T00:00:00Z",
        "--until",
        "2026-11-12T00:00:00Z",
    ];
    let mut a = vec!["replay", "--format", "json", "--okta", okta.url()];
    a.extend(window);
    let run = |a: Vec<&str>| {
        cli(
            a.iter().map(|s| s.to_string()).collect(),
            vec![
                ("OKTA_API_TOKEN", TOKEN.into()),
                ("OKTA_ITDR_HASH_KEY", okta_itdr_e2e::HASH_KEY.into()),
            ],
        )
    };
    let out = run(a.clone()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alerts: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by = |detection: &str, uid: &str| -> Value {
        alerts
            .iter()
            .find(|f| {
                f["finding_info"]["analytic"]["uid"] == detection
                    && f["evidences"][0]["actor"]["user"]["uid"] == uid
            })
            .unwrap_or_else(|| panic!("no {detection} alert on {uid}"))
            .clone()
    };
    let frank = by("api_token_created", "00uuxBj8lMewuvFFD2nj");
    assert_eq!(
        frank["severity"], "High",
        "an admin's alert is at least High"
    );
    let user = &frank["evidences"][0]["actor"]["user"];
    assert_eq!(user["email_addr"], "00uuxBj8lMewuvFFD2nj@example.com");
    assert_eq!(user["type"], "Admin");
    let id = &frank["unmapped"]["okta_identity"];
    assert_eq!(id["admin_roles"], serde_json::json!(["ORG_ADMIN"]));
    assert_eq!(id["factor_types"], serde_json::json!(["push"]));
    assert_eq!(id["phishing_resistant"], false);
    assert_eq!(id["account_age_days"], 400);

    let dave = by("brute_force_user", "00uLH7GmuWFOhOMT9K9O");
    assert_eq!(dave["severity"], "Medium", "no role, no change");
    assert_eq!(
        dave["evidences"][0]["actor"]["user"]["groups"][0]["name"],
        "Everyone"
    );
    assert_eq!(dave["unmapped"]["okta_identity"]["account_age_days"], 10);
    assert_valid_detection_ocsf(&out.stdout);

    // --timeline on a terminal table: who Frank is, above what he did.
    let mut t = vec![
        "replay",
        "--format",
        "table",
        "--okta",
        okta.url(),
        "--timeline",
        "00uuxBj8lMewuvFFD2nj",
    ];
    t.extend(window);
    let timeline = run(t).await;
    assert!(timeline.status.success(), "{}", text(&timeline.stderr));
    let shown = text(&timeline.stdout);
    let block = &shown[shown.find("Identity (Okta inventory of").expect(&shown)..];
    let block = &block[..block.find("Timeline of").expect("the timeline follows")];
    assert!(block.contains("admin roles  ORG_ADMIN"), "{block}");
    assert!(
        block.contains("factors      push; phishing-resistant: no"),
        "{block}"
    );
    assert!(
        block.contains("00uuxBj8lMewuvFFD2nj@example.com"),
        "{block}"
    );

    // --no-enrich: the alerts as the deployed detector publishes them today.
    a.push("--no-enrich");
    let plain = run(a).await;
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(!text(&plain.stdout).contains("okta_identity"));
    assert_no_secret(&out, &[TOKEN]);
}

fn assert_valid_detection_ocsf(stdout: &[u8]) {
    let mut v = Command::new(python())
        .arg(okta_itdr_e2e::repo_root().join("tests/ocsf/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the OCSF validator");
    v.stdin.take().unwrap().write_all(stdout).unwrap();
    let out = v.wait_with_output().unwrap();
    assert!(out.status.success(), "invalid OCSF:\n{}", text(&out.stdout));
}
