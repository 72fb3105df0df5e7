//! The detector's state in DynamoDB (moto): watermark, baselines, findings.

use aws_sdk_dynamodb::types::AttributeValue;
use okta_itdr_core::alert::{Alert, Status, StoredFinding};
use okta_itdr_core::detect::baseline::{Baseline, Seen, SignInPoint};
use okta_itdr_core::detect::Severity;
use okta_itdr_core::ports::{Claim, StateStore, Watermark};
use okta_itdr_core::time::{Hour, DAY, HOUR};
use okta_itdr_e2e::{at, TestEnv};

fn finding(uid: &str, detection: &str, principal: &str, t: i64) -> StoredFinding {
    StoredFinding {
        uid: uid.to_owned(),
        detection: detection.to_owned(),
        principal: principal.to_owned(),
        status: Status::Pending,
        first_seen: t,
        last_seen: t,
        repeats: 0,
        suppressed_by: None,
        grouped_into: None,
        attempts: 0,
        next_attempt: None,
        claimed_by: None,
        claimed_at: None,
        last_error: None,
        follow_up_of: None,
        alert: Alert {
            uid: uid.to_owned(),
            subject: format!("[HIGH] {detection}: {principal}"),
            body: format!(r#"{{"class_uid":2004,"finding_info":{{"uid":"{uid}"}}}}"#),
            severity: Severity::High,
            detection: detection.to_owned(),
            principal: principal.to_owned(),
            time: t,
        },
    }
}

fn baseline(i: usize) -> Baseline {
    let t = at("2026-11-01T08:00:00Z") + i as i64 * 60_000;
    let mut b = Baseline::new(&format!("00u{i:05}"), t);
    b.last_seen = t + DAY;
    b.countries = Seen::from([("United States".to_owned(), t)]);
    b.asns = Seen::from([("7922".to_owned(), t)]);
    b.devices = Seen::from([(format!("dt-{i}"), t)]);
    b.last_sign_in = Some(SignInPoint {
        at: t,
        lat: 37.77,
        lon: -122.42,
        proxy: false,
    });
    b
}

#[tokio::test]
async fn watermark_saves_are_conditional() {
    let env = TestEnv::new("state-wm").await;
    let store = env.state_store();
    assert_eq!(store.load_watermark().await.expect("load"), None);

    let first = Watermark {
        next_hour: Hour::of(at("2026-11-10T10:00:00Z")),
        late_checked_until: at("2026-11-10T11:05:00Z"),
        learn_until: None,
        history_pending: false,
    };
    let second = Watermark {
        next_hour: first.next_hour.next(),
        late_checked_until: at("2026-11-10T12:05:00Z"),
        learn_until: None,
        history_pending: false,
    };
    let third = Watermark {
        next_hour: second.next_hour.next(),
        late_checked_until: at("2026-11-10T13:05:00Z"),
        learn_until: None,
        history_pending: false,
    };

    store
        .save_watermark(&first, None)
        .await
        .expect("first save");
    let clash = store
        .save_watermark(&second, None)
        .await
        .expect_err("a second first save");
    assert!(!clash.retryable());
    store
        .save_watermark(&second, Some(&first))
        .await
        .expect("advance");
    let stale = store
        .save_watermark(&third, Some(&first))
        .await
        .expect_err("stale expectation");
    assert!(!stale.retryable(), "{stale}");
    assert!(
        stale
            .to_string()
            .contains("another detector run moved the watermark"),
        "{stale}"
    );
    assert_eq!(store.load_watermark().await.expect("load"), Some(second));
}

#[tokio::test]
async fn baselines_round_trip_in_batches() {
    let env = TestEnv::new("state-baselines").await;
    let store = env.state_store();
    let baselines: Vec<Baseline> = (0..230).map(baseline).collect();
    store.save_baselines(&baselines).await.expect("save");

    let mut wanted: Vec<String> = baselines.iter().map(|b| b.identity.clone()).collect();
    wanted.push("00unever".into());
    wanted.push(baselines[0].identity.clone()); // duplicates are fine
    let loaded = store.load_baselines(&wanted).await.expect("load");
    assert_eq!(loaded.len(), baselines.len());
    for b in &baselines {
        assert_eq!(loaded.get(&b.identity), Some(b), "{}", b.identity);
    }
    assert!(store
        .load_baselines(&[])
        .await
        .expect("load none")
        .is_empty());

    // Saving again overwrites; the last of duplicates wins.
    let mut changed = baselines[7].clone();
    changed.countries.insert("Canada", changed.last_seen);
    store
        .save_baselines(&[baselines[7].clone(), changed.clone()])
        .await
        .expect("save again");
    let loaded = store
        .load_baselines(std::slice::from_ref(&changed.identity))
        .await
        .expect("load");
    assert_eq!(loaded.get(&changed.identity), Some(&changed));

    // TTL: the baseline outlives its values (baseline days + a week) so that a
    // sign-in after months of dormancy is judged against its last-seen time.
    let item = env
        .partition(&env.state_table, &format!("B#{}", changed.identity))
        .await
        .remove(0);
    let ttl: i64 = item["expires_at"]
        .as_n()
        .expect("expires_at")
        .parse()
        .expect("number");
    assert_eq!(ttl, (changed.last_seen + 400 * DAY) / 1000);
}

#[tokio::test]
async fn findings_are_claimed_once_and_delivered() {
    let env = TestEnv::new("state-findings").await;
    let store = env.state_store();
    let t = at("2026-11-10T10:03:00Z");
    let f = finding("a1b2c3", "mfa_push_bombing", "00ubob", t);

    assert_eq!(store.claim_finding(&f).await.expect("claim"), Claim::New);
    assert_eq!(
        store.claim_finding(&f).await.expect("claim again"),
        Claim::Existing(f.clone())
    );
    assert_eq!(
        store.pending_findings().await.expect("pending"),
        vec![f.clone()]
    );
    assert_eq!(
        store
            .last_delivered("mfa_push_bombing", "00ubob")
            .await
            .expect("last"),
        None
    );

    let mut delivered = f.clone();
    delivered.status = Status::Delivered;
    store.update_finding(&delivered).await.expect("deliver");
    assert!(store.pending_findings().await.expect("pending").is_empty());
    assert_eq!(
        store
            .last_delivered("mfa_push_bombing", "00ubob")
            .await
            .expect("last"),
        Some(delivered.clone())
    );
    assert_eq!(
        store.claim_finding(&f).await.expect("claim after delivery"),
        Claim::Existing(delivered.clone())
    );

    // A repeat folded into the delivered one.
    let repeat = finding("d4e5f6", "mfa_push_bombing", "00ubob", t + 3_600_000);
    assert_eq!(
        store.claim_finding(&repeat).await.expect("claim"),
        Claim::New
    );
    let mut suppressed = repeat.clone();
    suppressed.status = Status::Suppressed;
    suppressed.suppressed_by = Some(f.uid.clone());
    store.update_finding(&suppressed).await.expect("suppress");
    let mut folded = delivered.clone();
    folded.repeats = 1;
    folded.last_seen = repeat.last_seen;
    store.update_finding(&folded).await.expect("fold");
    assert!(store.pending_findings().await.expect("pending").is_empty());
    assert_eq!(
        store
            .last_delivered("mfa_push_bombing", "00ubob")
            .await
            .expect("last"),
        Some(folded)
    );
    assert_eq!(
        store.claim_finding(&repeat).await.expect("claim"),
        Claim::Existing(suppressed)
    );
    assert_eq!(
        store
            .last_delivered("brute_force_user", "00ubob")
            .await
            .expect("last"),
        None
    );

    let item = env.partition(&env.state_table, "F#a1b2c3").await.remove(0);
    assert_eq!(item["status"].as_s().map(String::as_str), Ok("delivered"));
    assert!(item.contains_key("expires_at"));
}

#[tokio::test]
async fn many_pending_findings_are_all_returned() {
    let env = TestEnv::new("state-pending").await;
    let store = env.state_store();
    let t = at("2026-11-10T10:00:00Z");
    let findings: Vec<StoredFinding> = (0..130)
        .map(|i| {
            finding(
                &format!("uid{i:04}"),
                "brute_force_user",
                &format!("00u{i}"),
                t + i,
            )
        })
        .collect();
    for f in &findings {
        assert_eq!(store.claim_finding(f).await.expect("claim"), Claim::New);
    }
    let pending = store.pending_findings().await.expect("pending");
    assert_eq!(pending, findings, "every pending finding, oldest first");
}

#[tokio::test]
async fn findings_that_page_no_one_are_kept_with_their_ttl() {
    let env = TestEnv::new("state-contributed").await;
    let store = env.state_store();
    let t = at("2026-11-10T10:03:00Z");
    let f = finding("c0ffee", "mfa_factor_reset", "00uerin", t);
    assert_eq!(store.claim_finding(&f).await.expect("claim"), Claim::New);
    let mut kept = f.clone();
    kept.status = Status::Contributed;
    kept.grouped_into = Some("a1b2c3".into());
    store.update_finding(&kept).await.expect("keep");

    // Not pending (never published), not the last delivered, and claimed: a
    // re-run of the hour finds it known.
    assert!(store.pending_findings().await.expect("pending").is_empty());
    assert_eq!(
        store
            .last_delivered("mfa_factor_reset", "00uerin")
            .await
            .expect("last"),
        None
    );
    assert_eq!(
        store.claim_finding(&f).await.expect("claim again"),
        Claim::Existing(kept)
    );
    let item = env.partition(&env.state_table, "F#c0ffee").await.remove(0);
    assert_eq!(item["status"].as_s().map(String::as_str), Ok("contributed"));
    assert!(item.contains_key("expires_at"));
    let doc = item["doc"].as_s().expect("doc");
    assert!(
        doc.contains("\"grouped_into\":\"a1b2c3\"") && !doc.contains("suppressed_by"),
        "{doc}"
    );
}

/// Findings kept as contributors before grouping had a field of its own
/// recorded the alert listing them as `suppressed_by`: they read as grouped.
#[tokio::test]
async fn a_contributor_stored_before_grouping_had_its_field_reads_as_grouped() {
    let env = TestEnv::new("state-legacy-grouped").await;
    let store = env.state_store();
    let t = at("2026-11-10T10:03:00Z");
    let f = finding("c0ffe2", "mfa_factor_reset", "00uerin", t);
    assert_eq!(store.claim_finding(&f).await.expect("claim"), Claim::New);
    let mut kept = f.clone();
    kept.status = Status::Contributed;
    kept.grouped_into = Some("a1b2c3".into());
    store.update_finding(&kept).await.expect("keep");
    // Rewrite its document as the earlier version stored it.
    let item = env.partition(&env.state_table, "F#c0ffe2").await.remove(0);
    let legacy = item["doc"]
        .as_s()
        .expect("doc")
        .replace("\"grouped_into\"", "\"suppressed_by\"");
    let mut item = item;
    item.insert("doc".into(), AttributeValue::S(legacy));
    env.dynamodb
        .put_item()
        .table_name(&env.state_table)
        .set_item(Some(item))
        .send()
        .await
        .expect("legacy item");
    let Claim::Existing(read) = store.claim_finding(&f).await.expect("claim again") else {
        panic!("the finding is known");
    };
    assert_eq!(read.grouped_into.as_deref(), Some("a1b2c3"));
    assert_eq!(read.suppressed_by, None);
}

#[tokio::test]
async fn the_orgs_learned_context_round_trips_as_its_own_item() {
    use okta_itdr_core::detect::alerting::context::{
        OrgLearned, OrgSeen, MAX_ASNS, MAX_DAYS, MAX_NETWORKS, MAX_PROXIES, MAX_USERS_PER_NETWORK,
    };
    let env = TestEnv::new("state-org").await;
    let store = env.state_store();
    let t = at("2026-11-10T10:00:00Z");
    let mut org = OrgSeen::default();
    // A full org context, every set at its cap, with ids as long as Okta's:
    // as JSON it is over DynamoDB's 400 KB item limit, so it is stored deflated.
    let uid = |k: usize| format!("00u{k:017}");
    let days: Vec<i64> = (0..MAX_DAYS as i64).map(|d| t / DAY - d).collect();
    for n in 0..MAX_NETWORKS {
        let users: Seen = (0..MAX_USERS_PER_NETWORK)
            .map(|u| (uid(n * 100 + u), t - u as i64 * 977))
            .collect();
        let net = format!("198.{}.{}.0/24", n / 250, n % 250);
        org.network_days.insert(net.clone(), days.clone());
        org.networks.insert(net, users);
    }
    for asn in 0..MAX_PROXIES {
        let users: Seen = (0..MAX_USERS_PER_NETWORK)
            .map(|u| (uid(asn * 31 + u), t))
            .collect();
        org.proxy_days
            .insert(format!("{}", 13000 + asn), days.clone());
        org.proxies.insert(format!("{}", 13000 + asn), users);
    }
    for asn in 0..MAX_ASNS {
        let users: Seen = (0..10).map(|u| (uid(asn * 7 + u), t)).collect();
        org.phone_asns
            .insert(format!("{}", 20000 + asn), users.clone());
        org.computer_asns.insert(format!("{}", 30000 + asn), users);
    }
    for d in 0..31 {
        org.active.insert(t / DAY - d, 4000);
    }
    assert!(serde_json::to_string(&org).unwrap().len() > 400 * 1024);
    assert_eq!(store.load_org_context().await.expect("load"), None);
    let learned = OrgLearned {
        first_seen: t - 30 * DAY,
        last_seen: t,
        seen: org,
    };
    store.save_org_context(&learned).await.expect("save");
    let loaded = store.load_org_context().await.expect("load");
    assert_eq!(loaded, Some(learned));
    let item = env.partition(&env.state_table, "ORG").await.remove(0);
    assert!(item.contains_key("docz") && item.contains_key("expires_at"));
    // It is no identity's baseline.
    assert!(env
        .partition(&env.state_table, "B#org:context")
        .await
        .is_empty());
}

/// A deployment upgraded from the version that kept the org's context as the
/// baseline of a made-up identity keeps what it learned: the context is read
/// from there until it is first saved as its own item.
#[tokio::test]
async fn an_org_context_stored_as_a_baseline_by_the_earlier_version_is_read() {
    use okta_itdr_core::detect::alerting::context::{OrgLearned, LEGACY_ORG_IDENTITY};
    let env = TestEnv::new("state-org-legacy").await;
    let store = env.state_store();
    let t = at("2026-11-10T10:00:00Z");
    let doc = serde_json::json!({
        "identity": LEGACY_ORG_IDENTITY,
        "first_seen": t - 20 * DAY,
        "last_seen": t - HOUR,
        "org": {
            "networks": {"198.51.100.0/24": {"00u1": t - HOUR, "00u2": t - HOUR}},
            "network_days": {"198.51.100.0/24": [20400, 20401]},
            "active": {"20401": 40}
        }
    });
    env.dynamodb
        .put_item()
        .table_name(&env.state_table)
        .item("pk", AttributeValue::S(format!("B#{LEGACY_ORG_IDENTITY}")))
        .item("sk", AttributeValue::S("baseline".into()))
        .item("doc", AttributeValue::S(doc.to_string()))
        .send()
        .await
        .expect("legacy item");
    let learned = store
        .load_org_context()
        .await
        .expect("load")
        .expect("the earlier context");
    assert_eq!(learned.first_seen, t - 20 * DAY);
    assert_eq!(learned.last_seen, t - HOUR);
    assert_eq!(
        learned.seen.networks["198.51.100.0/24"].len(),
        2,
        "{learned:?}"
    );
    assert_eq!(
        learned.seen.network_days["198.51.100.0/24"],
        vec![20400, 20401]
    );
    // Saved once, the context is its own item and is read from there.
    let mut next: OrgLearned = learned.clone();
    next.last_seen = t;
    store.save_org_context(&next).await.expect("save");
    assert_eq!(store.load_org_context().await.expect("load"), Some(next));
}

#[tokio::test]
async fn risk_ledgers_round_trip_by_principal_and_expire_after_their_last_entry() {
    use okta_itdr_core::detect::alerting::{Ledger, LedgerEntry};
    let env = TestEnv::new("state-ledger").await;
    let store = env.state_store();
    let t = at("2026-11-10T16:00:00Z");
    let entry = |uid: &str, at: i64| LedgerEntry {
        uid: uid.to_owned(),
        detection: "mfa_factor_reset".to_owned(),
        severity: Severity::Medium,
        weight: 30,
        paged: false,
        first_seen: at,
        last_seen: at,
        summary: "the help desk reset the factors of 00u1".to_owned(),
        evidence: vec!["e1".to_owned()],
    };
    let mut one = Ledger::new("00u1");
    one.record(entry("a", t));
    one.record(entry("b", t + 3_600_000));
    let mut ip = Ledger::new("ip:203.0.113.7");
    ip.record(entry("c", t));
    store
        .save_ledgers(&[one.clone(), ip.clone()])
        .await
        .expect("save");

    let wanted = [
        "00u1".to_owned(),
        "ip:203.0.113.7".to_owned(),
        "00u2".to_owned(),
    ];
    let found = store.load_ledgers(&wanted).await.expect("load");
    assert_eq!(found.len(), 2);
    assert_eq!(found["00u1"], one);
    assert_eq!(found["ip:203.0.113.7"], ip);

    // Kept a week and a day after its newest entry: longer than any risk window.
    let item = env.partition(&env.state_table, "R#00u1").await.remove(0);
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires, (t + 3_600_000 + 8 * DAY) / 1000);
}
