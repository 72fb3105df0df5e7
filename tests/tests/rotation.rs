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
