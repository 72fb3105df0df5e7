//! The username HMAC key, read from AWS Secrets Manager at initialisation and
//! again every [`SECRET_TTL`] ([`Refreshing`]), so a rotation needs no redeploy.
//!
//! The key is never in the function's environment (anyone with
//! `lambda:GetFunctionConfiguration` could read it there, and with read access
//! to the activity table attack hashed usernames, often passwords, offline).
//! The template passes the secret's name; the function's role may read that one
//! secret. Errors name the secret and the service's error code, never the value.

use aws_sdk_secretsmanager::Client;

use crate::config::{ConfigError, Secret};
use crate::sdk::classify;

/// Reads the secret's current string value.
pub async fn fetch_hash_key(client: &Client, secret_id: &str) -> Result<Secret, ConfigError> {
    let unavailable = |reason: String| ConfigError::SecretUnavailable {
        secret: secret_id.to_owned(),
        reason,
    };
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| unavailable(classify(&e).message))?;
    match out.secret_string {
        Some(value) if !value.is_empty() => Ok(Secret::new(value)),
        _ => Err(unavailable(
            "the secret has no string value (store the key as SecretString)".into(),
        )),
    }
}

/// How long a secret read is trusted: a rotated secret is in use within this.
pub const SECRET_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// A value built from secrets (a handler with its hash key, a client with its
/// credentials), re-read once it is older than the TTL and rebuilt only when
/// the secrets changed. A failed re-read or rebuild keeps the current value
/// (and is logged): rotation must never stop a working function.
pub struct Refreshing<T> {
    ttl: okta_itdr_core::time::Millis,
    current: tokio::sync::Mutex<Current<T>>,
}

struct Current<T> {
    value: std::sync::Arc<T>,
    material: Secret,
    read_at: okta_itdr_core::time::Millis,
}

impl<T> Refreshing<T> {
    /// `value` was built at `now` from `material` (the secrets' text).
    pub fn new(
        ttl: std::time::Duration,
        value: T,
        material: Secret,
        now: okta_itdr_core::time::Millis,
    ) -> Self {
        Refreshing {
            ttl: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            current: tokio::sync::Mutex::new(Current {
                value: std::sync::Arc::new(value),
                material,
                read_at: now,
            }),
        }
    }

    /// The value to use at `now`: the current one while its secrets are
    /// fresh; else `read` the secrets again and, if they changed, `build` anew.
    pub async fn get<R, E1, E2>(
        &self,
        now: okta_itdr_core::time::Millis,
        read: impl FnOnce() -> R,
        build: impl FnOnce(&Secret) -> Result<T, E2>,
    ) -> std::sync::Arc<T>
    where
        R: std::future::Future<Output = Result<Secret, E1>>,
        E1: std::fmt::Display,
        E2: std::fmt::Display,
    {
        let mut current = self.current.lock().await;
        if now.saturating_sub(current.read_at) < self.ttl {
            return current.value.clone();
        }
        // Whatever happens, the next read is a TTL away: an outage of Secrets
        // Manager costs one failed read per TTL, not one per invocation.
        current.read_at = now;
        match read().await {
            Ok(material) if material.expose() == current.material.expose() => {}
            Ok(material) => match build(&material) {
                Ok(value) => {
                    tracing::info!(outcome = "rotated", "secrets changed; using the new ones");
                    current.value = std::sync::Arc::new(value);
                    current.material = material;
                }
                Err(e) => {
                    tracing::error!(outcome = "failed", error = %e, "rotated secrets are unusable; keeping the current ones");
                }
            },
            Err(e) => {
                tracing::warn!(outcome = "failed", error = %e, "re-reading secrets failed; keeping the current ones");
            }
        }
        current.value.clone()
    }
}
