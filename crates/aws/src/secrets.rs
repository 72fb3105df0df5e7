//! The username HMAC key, read once at initialisation from AWS Secrets Manager.
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
