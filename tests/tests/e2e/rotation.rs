//! Secret rotation without a redeploy: the functions' secrets are re-read
//! once older than their TTL (Secrets Manager on moto, the clock injected).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use okta_itdr_aws::config::Secret;
use okta_itdr_aws::secrets::{fetch_hash_key, Refreshing, SECRET_TTL};
use okta_itdr_core::normalize::UsernameHasher;
use okta_itdr_core::time::MINUTE;
use okta_itdr_e2e::{unique, TestEnv};

const KEY_1: &str = "first-key-0123456789abcdef012345";
const KEY_2: &str = "second-key-0123456789abcdef01234";

fn hashed(hasher: &UsernameHasher) -> String {
    hasher.hash("alice@acme.com")
}

#[tokio::test]
async fn a_rotated_hash_key_is_in_use_within_the_ttl_and_a_bad_rotation_keeps_the_old() {
    assert!(SECRET_TTL <= Duration::from_secs(300));
    let env = TestEnv::new("rotation").await;
    let name = unique("rotated-key");
    env.put_secret(&name, KEY_1).await;
    let reads = AtomicU32::new(0);
    let read = |secret: String| {
        reads.fetch_add(1, Ordering::SeqCst);
        let client = env.secrets.clone();
        async move { fetch_hash_key(&client, &secret).await }
    };
    // As the ingest function builds its handler from the key.
    let build = |key: &Secret| UsernameHasher::new(key.expose().as_bytes());
    let t0 = 1_800_000_000_000;
    let first = read(name.clone()).await.unwrap();
    let cache = Refreshing::new(SECRET_TTL, build(&first).unwrap(), first, t0);
    let want = |key: &str| hashed(&UsernameHasher::new(key.as_bytes()).unwrap());

    env.secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(KEY_2)
        .send()
        .await
        .expect("rotate");
    // Within the TTL: the key read at start-up, no read.
    let h = cache
        .get(t0 + 4 * MINUTE, || read(name.clone()), build)
        .await;
    assert_eq!(hashed(&h), want(KEY_1));
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    // Past it: re-read, the rotated key.
    let h = cache
        .get(t0 + 5 * MINUTE, || read(name.clone()), build)
        .await;
    assert_eq!(hashed(&h), want(KEY_2));
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    // Unchanged: read again after the TTL, the same value kept.
    let h = cache
        .get(t0 + 11 * MINUTE, || read(name.clone()), build)
        .await;
    assert_eq!(hashed(&h), want(KEY_2));

    // A rotation to an unusable key, then a secret that cannot be read: the
    // function keeps working with the last good key.
    env.secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string("too-short")
        .send()
        .await
        .expect("rotate");
    let h = cache
        .get(t0 + 17 * MINUTE, || read(name.clone()), build)
        .await;
    assert_eq!(hashed(&h), want(KEY_2));
    let h = cache
        .get(t0 + 23 * MINUTE, || read("no-such-secret".into()), build)
        .await;
    assert_eq!(hashed(&h), want(KEY_2));
    // Fixed: in use at the next read.
    env.secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(KEY_1)
        .send()
        .await
        .expect("rotate");
    let h = cache
        .get(t0 + 29 * MINUTE, || read(name.clone()), build)
        .await;
    assert_eq!(hashed(&h), want(KEY_1));
}

/// The poll function's Okta credentials: a handler built with a revoked token
/// fails; once the secret is rotated and the TTL has passed, the rebuilt
/// handler reads the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_okta_credentials_are_in_use_after_the_ttl() {
    use okta_itdr_aws::poll::{handler_from_secrets, read_credentials_text, secrets_material};
    use okta_itdr_core::time::format_rfc3339_ms;
    use okta_itdr_e2e::fake_okta::{FakeOkta, FakeOktaConfig};

    let env = TestEnv::new("rotation-okta").await;
    let okta = FakeOkta::start(FakeOktaConfig {
        api_token: Some("00new-token".into()),
        ..FakeOktaConfig::default()
    })
    .await;
    let name = unique("okta-api");
    env.put_secret(&name, r#"{"apiToken": "00revoked-token"}"#)
        .await;
    let vars: Vec<(&str, String)> = vec![
        ("ACTIVITY_TABLE", env.activity_table.clone()),
        ("STATE_TABLE", env.state_table.clone()),
        ("HOUR_SHARDS", env.hour_shards.to_string()),
        ("OKTA_ORG_URL", okta.url().to_owned()),
        ("OKTA_API_MODE", "primary".into()),
        ("OKTA_API_CREDENTIALS_SECRET", name.clone()),
    ];
    let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let key = fetch_hash_key(&env.secrets, &env.hash_key_secret)
        .await
        .unwrap();
    let read = || async {
        let creds = read_credentials_text(&env.secrets, &name)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(secrets_material(&key, &creds))
    };
    let build = |m: &Secret| {
        handler_from_secrets(lookup, m, env.dynamodb.clone()).map(|(_, handler)| handler)
    };
    let t0 = 1_800_000_000_000;
    let first = read().await.unwrap();
    let cache = Refreshing::new(SECRET_TTL, build(&first).unwrap(), first, t0);
    let run = |h: std::sync::Arc<okta_itdr_aws::poll::PollHandler<_, _>>| async move {
        let now = okta_itdr_core::time::parse_rfc3339_ms("2026-11-20T12:00:00Z").unwrap();
        let payload = okta_itdr_e2e::scheduled_event(&format_rfc3339_ms(now));
        h.handle_payload(&payload, now, i64::MAX, || now).await
    };
    let err = run(cache.get(t0, read, build).await).await.unwrap_err();
    assert_eq!(err.error_type, "OktaApiRefused", "{err}");
    assert!(!err.message.contains("revoked-token"), "{err}");

    env.secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(r#"{"apiToken": "00new-token"}"#)
        .send()
        .await
        .expect("rotate");
    assert!(run(cache.get(t0 + MINUTE, read, build).await)
        .await
        .is_err());
    run(cache.get(t0 + 5 * MINUTE, read, build).await)
        .await
        .expect("the rotated token is in use");
}
