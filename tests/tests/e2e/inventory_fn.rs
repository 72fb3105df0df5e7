//! The inventory function and detect-time enrichment on real wire APIs: the
//! real `inventory` binary under the Runtime API emulator, a service app's
//! credentials from Secrets Manager (moto), the fake Okta org's Management
//! API, identity items in DynamoDB (moto), posture findings on SNS (moto);
//! then the detect handler enriching its alerts from those items and the
//! events since the refresh.

use okta_itdr_testkit::Typed;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use okta_itdr_aws::identities::{IDENTITY_PREFIX, IDENTITY_SK};
use okta_itdr_core::detect::Severity;
use okta_itdr_core::ports::IdentityStore;
use okta_itdr_core::posture::identity::Identity;
use okta_itdr_core::time::{format_rfc3339_ms, Millis, DAY, SECOND};
use okta_itdr_e2e::fake_inventory::{factor_json, FakeOrg};
use okta_itdr_e2e::fake_okta::{rsa_key_pair, FakeOkta, FakeOktaConfig};
use okta_itdr_e2e::runtime_api::RuntimeApi;
use okta_itdr_e2e::{
    at, function_binary, scheduled_event, unique, Ev, FunctionProcess, LogCapture, Notification,
    TestEnv, HASH_KEY,
};
use serde_json::{json, Value};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);
const QUIET: Duration = Duration::from_millis(1500);
const MAX_WAIT: Duration = Duration::from_secs(20);
const CLIENT_ID: &str = "0oaInventoryFunction";

fn now() -> Millis {
    okta_itdr_aws::clock::wall_clock()
}

/// Posture findings by check id.
fn by_check(notes: &[Notification]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for n in notes {
        let f = n.finding();
        let id = f["compliance"]["control"].as_str().unwrap().to_owned();
        assert_eq!(n.attribute("detection"), format!("posture:{id}"));
        assert!(
            out.insert(id.clone(), f).is_none(),
            "{id} published twice in one run"
        );
    }
    out
}

fn subjects(f: &Value) -> BTreeSet<String> {
    f["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["uid"].as_str().unwrap().to_owned())
        .collect()
}

struct Deployed {
    env: TestEnv,
    okta: FakeOkta,
    api: RuntimeApi,
    process: FunctionProcess,
    queue: String,
    private_key: String,
}

impl Deployed {
    async fn start(org: FakeOrg) -> Self {
        let binary = tokio::task::spawn_blocking(|| function_binary("inventory"))
            .await
            .expect("build");
        let env = TestEnv::new("rt-inventory").await;
        let (private_key, public) = rsa_key_pair();
        let okta = FakeOkta::start(FakeOktaConfig {
            api_token: None,
            service_app: Some((CLIENT_ID.into(), public)),
            ..FakeOktaConfig::default()
        })
        .await;
        okta.set_org(org);
        let secret = unique("okta-itdr-okta-api");
        env.put_secret(
            &secret,
            &json!({"clientId": CLIENT_ID, "privateKeyPem": private_key, "keyId": "kid-1"})
                .to_string(),
        )
        .await;
        let (topic, queue) = env.topic_with_queue(false).await;
        let api = RuntimeApi::start().await;
        let vars: Vec<(&str, String)> = vec![
            ("STATE_TABLE", env.state_table.clone()),
            ("ALERT_TOPIC_ARN", topic),
            ("OKTA_ORG_URL", okta.url().to_owned()),
            ("OKTA_API_CREDENTIALS_SECRET", secret),
            ("OKTA_API_RATE_SHARE", "0.5".to_owned()),
            ("POSTURE_CONFIG", r#"{"max_super_admins": 5}"#.to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ];
        let process = FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-inventory", &vars);
        Deployed {
            env,
            okta,
            api,
            process,
            queue,
            private_key,
        }
    }

    /// One scheduled refresh: its response and the findings it published.
    async fn refresh(&self) -> (Value, Vec<Notification>) {
        let outcome = self
            .api
            .invoke(&scheduled_event(&format_rfc3339_ms(now())), INVOKE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}; output: {:#?}", self.process.output()));
        let response = outcome.response().clone();
        let notes = self.env.notifications(&self.queue, QUIET, MAX_WAIT).await;
        (response, notes)
    }

    fn update_org(&self, org: &FakeOrg) {
        self.okta.set_org(org.clone());
        // A new token carries the scopes the org grants now.
        self.okta.expire_tokens();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_function_stores_identities_and_publishes_posture_on_change() {
    let t0 = now();
    let mut org = FakeOrg::weak(t0);
    org.rate_limit = 40;
    let users = org.users.len();
    let d = Deployed::start(org.clone()).await;

    // First refresh: every weakness of the weak org is published once.
    let (report, notes) = d.refresh().await;
    assert_eq!(report["users"], users, "{report}");
    let first = by_check(&notes);
    assert_eq!(first.len(), 12, "every check fails: {:?}", first.keys());
    assert_eq!(report["published"], 12);
    for n in &notes {
        let subject = n.subject.as_deref().unwrap_or_default();
        assert!(subject.contains("Posture: "), "{subject}");
        assert!(subject.len() <= 100 && subject.is_ascii());
    }
    assert_eq!(
        subjects(&first["user_without_mfa"]),
        BTreeSet::from(["00unomfa".to_owned()])
    );
    let requests_one = d.okta.inventory_requests().len();
    let requests_run = |output: &[String]| -> Vec<u64> {
        output
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["Function"] == "inventory")
            .map(|v| v["ApiRequests"].as_u64().unwrap())
            .collect()
    };

    // What enrichment needs, one item per user.
    let store = d.env.state_store();
    let ids: Vec<String> = ["00uorgadmin", "00ualice1", "00unomfa"]
        .map(String::from)
        .to_vec();
    let stored = store.load_identities(&ids).await.unwrap();
    let admin = &stored["00uorgadmin"];
    assert_eq!(admin.login, "00uorgadmin@example.com");
    assert_eq!(admin.email.as_deref(), Some("00uorgadmin@example.com"));
    assert_eq!(admin.admin_roles, ["ORG_ADMIN"]);
    assert_eq!(
        admin.factor_types.as_deref(),
        Some(&["push".to_owned(), "sms".to_owned()][..])
    );
    assert_eq!(admin.phishing_resistant, Some(false));
    assert_eq!(stored["00ualice1"].groups, ["Everyone"]);
    assert!(stored["00ualice1"].admin_roles.is_empty());
    let items = d.env.scan(&d.env.state_table).await;
    let identity_items: Vec<_> = items
        .iter()
        .filter(|i| {
            i["pk"]
                .as_s()
                .is_ok_and(|pk| pk.starts_with(IDENTITY_PREFIX))
        })
        .collect();
    assert_eq!(identity_items.len(), users, "one item per user");
    for item in &identity_items {
        assert_eq!(item["sk"].as_s().unwrap(), IDENTITY_SK);
        assert!(item["doc"].as_s().unwrap().len() < 4096, "a small item");
        assert!(item.contains_key("expires_at"));
    }
    let meta = store.load_inventory_meta().await.unwrap().expect("meta");
    assert_eq!(meta.users, users);
    assert!(meta.unknown.is_empty(), "{:?}", meta.unknown);

    // Same weaknesses: nothing published. Each run's EMF line counts its own
    // requests, not the warm container's.
    let (report, notes) = d.refresh().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let counted = requests_run(&d.process.output());
    let all = d.okta.inventory_requests().len() as u64;
    assert_eq!(counted.len(), 2, "one EMF line a run");
    assert_eq!(counted[0] + counted[1], all);
    assert_eq!(counted[0], requests_one as u64);
    assert_eq!(report["published"], 0, "{report}");
    assert!(notes.is_empty(), "{:?}", by_check(&notes).keys());
    assert_eq!(report["failing"], 12);

    // One user fixed, another failing: the same count, a different set.
    let mut org = org;
    org.factors
        .insert("00unomfa".into(), vec![factor_json("00unomfaf0", "push")]);
    org.add_user("00unomfa2", t0, 30, Some(1), &[]);
    d.update_org(&org);
    let (report, notes) = d.refresh().await;
    let changed = by_check(&notes);
    assert_eq!(
        changed.keys().collect::<Vec<_>>(),
        ["user_without_mfa"],
        "{report}"
    );
    assert_eq!(
        subjects(&changed["user_without_mfa"]),
        BTreeSet::from(["00unomfa2".to_owned()])
    );

    // The log streams become unreadable (scope removed) while the stream is
    // reactivated: unknown, never published as a pass, but the loss of the
    // check is published once.
    org.denied.insert("okta.logStreams.read".into());
    org.log_streams[0]["status"] = json!("ACTIVE");
    d.update_org(&org);
    let (report, notes) = d.refresh().await;
    let dark = by_check(&notes);
    assert_eq!(dark.keys().collect::<Vec<_>>(), ["log_stream_inactive"]);
    assert_eq!(
        dark["log_stream_inactive"]["compliance"]["status"],
        "Unknown"
    );
    assert_eq!(dark["log_stream_inactive"]["severity"], "Medium");
    let subject = notes[0].subject.clone().unwrap_or_default();
    assert!(subject.contains("no longer readable"), "{subject}");
    assert_eq!(report["unknown"], 1, "{report}");
    let (_, notes) = d.refresh().await;
    assert!(notes.is_empty(), "said once: {:?}", by_check(&notes).keys());
    assert_eq!(report["failing"], 11);
    // Readable again and inactive again: still the failure published before.
    org.denied.clear();
    org.log_streams[0]["status"] = json!("INACTIVE");
    d.update_org(&org);
    let (report, notes) = d.refresh().await;
    assert!(notes.is_empty(), "{report} {:?}", by_check(&notes).keys());
    // Then fixed: the pass is published once.
    org.log_streams[0]["status"] = json!("ACTIVE");
    d.update_org(&org);
    let (_, notes) = d.refresh().await;
    let fixed = by_check(&notes);
    assert_eq!(fixed.keys().collect::<Vec<_>>(), ["log_stream_inactive"]);
    assert_eq!(fixed["log_stream_inactive"]["compliance"]["status"], "Pass");

    // The roles scope taken away: the admins keep their last known roles
    // (marked unknown), and each check that needs them is published once as
    // no longer readable, never as a pass.
    org.denied.insert("okta.roles.read".into());
    d.update_org(&org);
    let (report, notes) = d.refresh().await;
    let dark = by_check(&notes);
    assert!(!dark.is_empty(), "{report}");
    assert_eq!(
        dark.len() as u64,
        report["unknown"].as_u64().unwrap(),
        "{report}"
    );
    assert!(
        dark.values()
            .all(|f| f["compliance"]["status"] == "Unknown"),
        "{dark:?}"
    );
    let kept = &store.load_identities(&ids).await.unwrap()["00uorgadmin"];
    assert_eq!(kept.admin_roles, ["ORG_ADMIN"]);
    assert!(kept.admin_roles_unknown);
    org.denied.clear();

    // Within the rate share: no 429, at most half of any bucket's window.
    let requests = d.okta.inventory_requests();
    assert!(
        requests.iter().all(|r| r.status != 429),
        "no request refused for the rate"
    );
    assert!(
        d.okta.max_inventory_requests_per_window() <= 20,
        "{}",
        d.okta.max_inventory_requests_per_window()
    );
    eprintln!("inventory refresh of {users} users: {requests_one} Management API requests");

    // No credential in any log line or published message.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = d.process.output().join("\n");
    assert!(output.contains("\"UsersRead\""), "EMF metrics: {output}");
    assert!(output.contains("\"level\""), "{output}");
    let key_line = d.private_key.lines().nth(3).unwrap();
    let published: String = first.values().map(Value::to_string).collect();
    for leak in [key_line, "fake-access-", "eyJ", "Bearer ", HASH_KEY] {
        assert!(!output.contains(leak), "{leak:?} in the function's output");
        assert!(!published.contains(leak), "{leak:?} in a finding");
    }
}

/// The inventory handler in-process, with an API token, against `okta` and
/// moto's state table and `topic`.
fn in_process(
    env: &TestEnv,
    okta: &FakeOkta,
    topic: &str,
) -> okta_itdr_aws::handlers::inventory::LambdaInventory {
    let config = okta_itdr_aws::handlers::inventory::InventoryConfig::from_lookup(|n| match n {
        "STATE_TABLE" => Some(env.state_table.clone()),
        "ALERT_TOPIC_ARN" => Some(topic.to_owned()),
        "OKTA_ORG_URL" => Some(okta.url().to_owned()),
        "OKTA_API_CREDENTIALS_SECRET" => Some("unused".into()),
        _ => None,
    })
    .unwrap();
    let credentials =
        okta_itdr_okta::Credentials::from_json(r#"{"apiToken": "00fake-api-token-value"}"#)
            .unwrap();
    okta_itdr_aws::handlers::inventory::InventoryHandler::from_config(
        &config,
        credentials,
        env.dynamodb.clone(),
        env.sns.clone(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_refresh_of_n_users_costs_a_request_per_user_and_a_few_more() {
    // The handler in-process against the fake org and moto: what a refresh
    // of five hundred users costs, for the README.
    const N: usize = 500;
    let env = TestEnv::new("inventory-cost").await;
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let t = now();
    let mut org = FakeOrg::healthy(t);
    for i in 0..N {
        org.add_user(&format!("00un{i:05}"), t, 100, Some(1), &["push"]);
    }
    okta.set_org(org);
    let (topic, queue) = env.topic_with_queue(false).await;
    let handler = in_process(&env, &okta, &topic);
    let (logs, _guard) = LogCapture::start();
    let started = std::time::Instant::now();
    let report = handler
        .handle_payload(&scheduled_event(&format_rfc3339_ms(t)), t)
        .await
        .unwrap();
    assert_eq!(report["users"], N + 2);
    assert_eq!(report["published"], 0, "a healthy org: nothing to publish");
    assert!(env.notifications(&queue, QUIET, MAX_WAIT).await.is_empty());
    let requests = okta.inventory_requests().len();
    // Users in pages of 200, one role list and one per admin, one group list
    // and one per group, a factor list per user, eleven for the rest.
    assert_eq!(requests, (N + 2).div_ceil(200) + 2 + 2 + (N + 2) + 11);
    let stored = env
        .state_store()
        .load_identities(&[format!("00un{:05}", N - 1)])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    // The run's line, and no API token in any line.
    let text = logs.text();
    assert!(text.contains("inventory refresh"), "{text}");
    for leak in ["00fake-api-token-value", "SSWS "] {
        assert!(!text.contains(leak), "{leak:?} in the logs");
    }
    eprintln!(
        "inventory refresh of {} users: {requests} requests, {:.1} s",
        N + 2,
        started.elapsed().as_secs_f64()
    );
}

fn signed_in(ev: Ev, id: &str, login: &str, ip: &str) -> Ev {
    let name = login.split('@').next().unwrap_or(login);
    ev.user(id, login)
        .ip(ip)
        .session(&format!("102{name}"), &format!("idx{name}"))
        .debug("dtHash", json!(format!("dt-{name}")))
}

/// Twelve failed sign-ins for one user from one address.
fn brute_force(id: &str, login: &str, ip: &str, start: Millis) -> Vec<Ev> {
    (0..12)
        .map(|i| {
            signed_in(Ev::new("user.session.start"), id, login, ip)
                .failure("INVALID_CREDENTIALS")
                .at_ms(start + i * 100 * SECOND)
        })
        .collect()
}

fn identity(id: &str, login: &str, fetched_at: Millis) -> Identity {
    Identity {
        id: id.into(),
        login: login.into(),
        display_name: Some(format!("{login} (display)")),
        email: Some(login.into()),
        status: "ACTIVE".into(),
        groups: vec!["Everyone".into()],
        group_count: 1,
        factor_types: Some(vec!["push".into()]),
        phishing_resistant: Some(false),
        device_count: Some(1),
        fetched_at,
        ..Identity::default()
    }
}

/// The ingest function stores `events` 20 s after each happened, the 11:05
/// detect run analyses them; what it published.
async fn ingest_then_detect(
    env: &TestEnv,
    topic: &str,
    queue: &str,
    events: &[Ev],
) -> Vec<Notification> {
    let ingest = env.ingest_handler();
    let detect = env.detect_handler(topic, r#"{"first_run_hours": 2}"#);
    for ev in events {
        let arrived = ev.event().published + 20 * SECOND;
        ingest
            .handle(LambdaEvent::new(ev.envelope(), Context::default()), arrived)
            .await
            .expect("ingest");
    }
    detect
        .handle(
            LambdaEvent::new(scheduled_event("2026-11-10T11:05:00Z"), Context::default()),
            0,
        )
        .await
        .expect("detect run");
    env.notifications(queue, QUIET, MAX_WAIT).await
}

#[tokio::test]
async fn detect_enriches_alerts_and_a_role_granted_after_the_refresh_counts() {
    let env = TestEnv::new("detect-enrich").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let refresh = at("2026-11-10T06:00:00Z");
    env.state_store()
        .save_identities(
            &[
                identity("00ubob", "bob@acme.com", refresh),
                identity("00udave", "dave@acme.com", refresh),
            ],
            (refresh + 30 * DAY) / 1000,
        )
        .await
        .unwrap();

    // After the refresh (and before the hours the run analyses, so no
    // detection sees it) an admin makes bob a Super Administrator; then bob
    // and dave are brute-forced.
    let grant = Ev::new("user.account.privilege.grant")
        .at("2026-11-10T07:30:00Z")
        .target("User", "00ubob", "bob@acme.com", "Bob")
        .debug("privilegeGranted", json!("Super administrator"));
    let mut events = vec![grant];
    events.extend(brute_force(
        "00ubob",
        "bob@acme.com",
        "185.220.101.47",
        at("2026-11-10T10:05:00Z"),
    ));
    events.extend(brute_force(
        "00udave",
        "dave@acme.com",
        "185.220.101.48",
        at("2026-11-10T10:05:00Z"),
    ));
    let notes = ingest_then_detect(&env, &topic, &queue, &events).await;
    let of = |uid: &str| -> Vec<&Notification> {
        notes
            .iter()
            .filter(|n| n.finding()["evidences"][0]["actor"]["user"]["uid"] == uid)
            .collect()
    };
    let (bob, dave) = (of("00ubob"), of("00udave"));
    assert!(!bob.is_empty() && !dave.is_empty(), "{notes:#?}");

    for n in &dave {
        let f = n.finding();
        let user = &f["evidences"][0]["actor"]["user"];
        assert_eq!(user["name"], "dave@acme.com (display)");
        assert_eq!(user["email_addr"], "dave@acme.com");
        assert_eq!(user["type"], "User");
        let id = &f["unmapped"]["okta_identity"];
        assert_eq!(id["factor_types"], json!(["push"]));
        assert_eq!(id["device_count"], 1);
        assert_eq!(id["inventory_time"], "2026-11-10T06:00:00.000Z");
        // Without the grant the same detection is below High: what makes
        // bob's High is the grant.
        assert!(
            f["severity_id"].as_i64().unwrap() < Severity::High.ocsf_id() as i64,
            "{f}"
        );
    }
    for n in &bob {
        let f = n.finding();
        assert_eq!(f["evidences"][0]["actor"]["user"]["type"], "Admin");
        let id = &f["unmapped"]["okta_identity"];
        assert_eq!(id["admin_roles"], json!(["SUPER_ADMIN"]), "{f}");
        assert_eq!(
            id["changes_since_inventory"],
            json!(["user.account.privilege.grant"])
        );
        assert!(f["severity_id"].as_i64().unwrap() >= Severity::High.ocsf_id() as i64);
        assert_eq!(n.attribute("severity"), "HIGH");
        assert!(n.subject.as_deref().unwrap().starts_with("[HIGH] "));
    }
}

#[tokio::test]
async fn without_a_stored_inventory_alerts_are_as_before() {
    let env = TestEnv::new("detect-no-inventory").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let events = brute_force(
        "00udave",
        "dave@acme.com",
        "185.220.101.48",
        at("2026-11-10T10:05:00Z"),
    );
    let notes = ingest_then_detect(&env, &topic, &queue, &events).await;
    assert!(!notes.is_empty());
    for n in &notes {
        let f = n.finding();
        assert!(f["unmapped"]["okta_identity"].is_null(), "{f}");
        // As the detector renders it, without the inventory's display name.
        assert_eq!(f["evidences"][0]["actor"]["user"]["name"], "dave", "{f}");
        assert_eq!(f["severity"], "Medium");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_thresholds_or_an_unusable_secret_stop_the_start_without_printing_it() {
    let binary = tokio::task::spawn_blocking(|| function_binary("inventory"))
        .await
        .expect("build");
    let env = TestEnv::new("rt-inventory-bad").await;
    let secret = unique("okta-itdr-okta-api");
    // Not the credentials JSON: refused, and never printed.
    env.put_secret(&secret, "SSWS 00not-json-token-value").await;
    for (posture, error_type, names) in [
        (
            r#"{"max_super_admin": 2}"#,
            "Runtime.InvalidConfiguration",
            "POSTURE_CONFIG",
        ),
        ("{}", "Runtime.InvalidCredentials", secret.as_str()),
    ] {
        let api = RuntimeApi::start().await;
        let vars: Vec<(&str, String)> = vec![
            ("STATE_TABLE", env.state_table.clone()),
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:alerts".into(),
            ),
            ("OKTA_ORG_URL", "https://acme.okta.com".into()),
            ("OKTA_API_CREDENTIALS_SECRET", secret.clone()),
            ("POSTURE_CONFIG", posture.to_owned()),
        ];
        let mut process =
            FunctionProcess::spawn(&binary, &api.address(), "okta-itdr-inventory", &vars);
        let status = process
            .exit_status(Duration::from_secs(30))
            .await
            .expect("the process exits");
        assert!(!status.success());
        let report = api.init_error().expect("an /init/error report");
        assert_eq!(report["errorType"], error_type, "{report}");
        assert!(
            report["body"]["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains(names)),
            "{report}"
        );
        let text = process.output().join("\n") + &report.to_string();
        assert!(!text.contains("00not-json-token-value"), "{text}");
        assert_eq!(api.served(), 0);
    }
}

#[tokio::test]
async fn out_of_time_for_users_factors_leaves_that_check_unknown_and_still_reads_the_admins() {
    // A refresh of a large org cannot read every user's factors (a request
    // each) within the function's 15 minutes: past its budget it stops
    // reading them. Admins' factors come first, always; the users not read
    // make user_without_mfa unknown, never a pass, and nothing is published
    // for it.
    let env = TestEnv::new("inventory-budget").await;
    let okta = FakeOkta::start(FakeOktaConfig::default()).await;
    let t = now();
    let org = FakeOrg::weak(t);
    let admins: BTreeSet<String> = org.roles.keys().cloned().collect();
    okta.set_org(org);
    let (topic, queue) = env.topic_with_queue(false).await;
    let handler = in_process(&env, &okta, &topic);
    let report = handler
        .handle_payload_within(
            &scheduled_event(&format_rfc3339_ms(t)),
            t,
            Some(std::time::Duration::ZERO),
        )
        .await
        .unwrap();
    let factor_reads: BTreeSet<String> = okta
        .inventory_requests()
        .iter()
        .filter_map(|r| {
            r.path
                .strip_prefix("/api/v1/users/")?
                .strip_suffix("/factors")
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(factor_reads, admins, "the admins' factors, and only theirs");
    let published = by_check(&env.notifications(&queue, QUIET, MAX_WAIT).await);
    assert!(
        published.contains_key("admin_mfa_not_phishing_resistant"),
        "{:?}",
        published.keys()
    );
    assert!(
        !published.contains_key("user_without_mfa"),
        "a user's factors not read: unknown, not published"
    );
    assert!(report["unknown"].as_u64().unwrap_or(0) >= 1, "{report}");
}
