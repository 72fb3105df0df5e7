//! The functions' settings, read from their environment once per cold start.
//!
//! Every variable is validated up front so a misconfigured deployment fails at
//! initialisation with a message naming the variable, never mid-invocation.

use okta_itdr_core::detect::config::ConfigError as DetectionsError;
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::normalize::{Normalizer, UsernameHasher};

use crate::rules::RulesLocation;

pub const ACTIVITY_TABLE: &str = "ACTIVITY_TABLE";
pub const STATE_TABLE: &str = "STATE_TABLE";
pub const ALERT_TOPIC_ARN: &str = "ALERT_TOPIC_ARN";
pub const HOUR_SHARDS: &str = "HOUR_SHARDS";
pub const RETENTION_DAYS: &str = "RETENTION_DAYS";
pub const BASELINE_DAYS: &str = "BASELINE_DAYS";
/// The name (or ARN) of the Secrets Manager secret holding the username HMAC key.
/// The key itself is never in the environment.
pub const USERNAME_HASH_KEY_SECRET: &str = "USERNAME_HASH_KEY_SECRET";
/// The queue the ingest function's failures and the rule's dead letters land in.
pub const RECOVERY_QUEUE_URL: &str = "RECOVERY_QUEUE_URL";
/// The final dead-letter queue: events recovery gave up on, with their reason.
pub const FINAL_DLQ_URL: &str = "FINAL_DLQ_URL";
pub const DETECTIONS_CONFIG: &str = "DETECTIONS_CONFIG";
/// The account the rules bucket must belong to (the stack's): every S3 call
/// passes it as `ExpectedBucketOwner`, so a bucket of the same name in
/// another account is never read.
pub const CUSTOM_RULES_BUCKET_OWNER: &str = "CUSTOM_RULES_BUCKET_OWNER";
/// `s3://bucket/prefix/` of the custom Sigma rules, when the deployment has any.
pub const CUSTOM_RULES_URI: &str = "CUSTOM_RULES_URI";

pub const DEFAULT_HOUR_SHARDS: u16 = 16;
pub const MAX_HOUR_SHARDS: u16 = 256;
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
pub const MAX_DAYS: u32 = 3650;
/// The deployment template requires at least this many characters.
pub const MIN_HASH_KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("the username hash key (secret named by {USERNAME_HASH_KEY_SECRET}) must be at least {min} characters long, got {got}")]
    WeakHashKey { min: usize, got: usize },
    #[error("reading the username hash key from secret {secret}: {reason}")]
    SecretUnavailable { secret: String, reason: String },
    #[error("{what}: late_horizon_hours {hours} is more than the {days}-day retention ({RETENTION_DAYS}); late events would be gone before they are analysed")]
    LateHorizonBeyondRetention {
        what: &'static str,
        hours: u32,
        days: u32,
    },
    #[error("environment variable {DETECTIONS_CONFIG}: {0}")]
    Detections(#[from] DetectionsError),
}

/// Secrets in the settings: the one secret type, zeroed on drop and redacted
/// when formatted.
pub use okta_itdr_okta::Secret;

/// The ingest function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSettings {
    pub activity_table: String,
    pub hour_shards: u16,
    pub retention_days: u32,
    /// Read from Secrets Manager at initialisation ([`crate::secrets`]).
    pub username_hash_key: Secret,
    /// Where recovered events come from; backoff changes their visibility there.
    pub recovery_queue_url: Option<String>,
    /// Where events that can never be stored go, with their reason.
    pub final_dlq_url: Option<String>,
    /// Where the custom rules are read from at initialisation ([`crate::rules`]).
    pub custom_rules: Option<RulesLocation>,
    /// The fast path's state table, alerts topic and detector configuration
    /// (the detect function's own): set when the environment names an
    /// `ALERT_TOPIC_ARN`.
    pub fast_path: Option<DetectSettings>,
}

/// The detect function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSettings {
    pub activity_table: String,
    pub state_table: String,
    pub alert_topic_arn: String,
    pub hour_shards: u16,
    /// How long findings and their delivery records are kept.
    pub retention_days: u32,
    /// `DETECTIONS_CONFIG` (or the defaults), with `BASELINE_DAYS` applied.
    pub detect: DetectConfig,
    /// Where the custom rules are: the detector runs their correlations.
    pub custom_rules: Option<RulesLocation>,
}

impl IngestSettings {
    /// The name of the secret holding the username hash key, from the environment.
    pub fn hash_key_secret_from_env() -> Result<String, ConfigError> {
        Self::hash_key_secret(|name| std::env::var(name).ok())
    }

    pub fn hash_key_secret(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
        required(&lookup, USERNAME_HASH_KEY_SECRET)
    }

    /// The settings from the environment, with the key read from its secret.
    pub fn from_env(key: Secret) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), key)
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests);
    /// `key` is the username hash key, fetched from its secret.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        key: Secret,
    ) -> Result<Self, ConfigError> {
        let got = key.expose().chars().count();
        if got < MIN_HASH_KEY_LEN {
            return Err(ConfigError::WeakHashKey {
                min: MIN_HASH_KEY_LEN,
                got,
            });
        }
        Ok(IngestSettings {
            activity_table: required(&lookup, ACTIVITY_TABLE)?,
            hour_shards: hour_shards(&lookup)?,
            retention_days: days(&lookup, RETENTION_DAYS, DEFAULT_RETENTION_DAYS)?,
            username_hash_key: key,
            recovery_queue_url: optional(&lookup, RECOVERY_QUEUE_URL),
            final_dlq_url: optional(&lookup, FINAL_DLQ_URL),
            custom_rules: rules_location(&lookup)?,
            fast_path: match optional(&lookup, ALERT_TOPIC_ARN) {
                Some(_) => Some(DetectSettings::from_lookup(&lookup)?),
                None => None,
            },
        })
    }

    pub fn normalizer(&self) -> Result<Normalizer, ConfigError> {
        let hasher =
            UsernameHasher::new(self.username_hash_key.expose().as_bytes()).map_err(|e| {
                ConfigError::WeakHashKey {
                    min: e.min.max(MIN_HASH_KEY_LEN),
                    got: e.got,
                }
            })?;
        Ok(Normalizer::new(hasher))
    }
}

impl DetectSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut detect = match lookup(DETECTIONS_CONFIG).filter(|t| !t.trim().is_empty()) {
            Some(text) => DetectConfig::from_json(&text)?,
            None => DetectConfig::default(),
        };
        if lookup(BASELINE_DAYS).is_some() {
            detect.baseline_days = days(&lookup, BASELINE_DAYS, detect.baseline_days)?;
        }
        let retention_days = days(&lookup, RETENTION_DAYS, DEFAULT_RETENTION_DAYS)?;
        if u64::from(detect.late_horizon_hours) > u64::from(retention_days) * 24 {
            return Err(ConfigError::LateHorizonBeyondRetention {
                what: DETECTIONS_CONFIG,
                hours: detect.late_horizon_hours,
                days: retention_days,
            });
        }
        Ok(DetectSettings {
            activity_table: required(&lookup, ACTIVITY_TABLE)?,
            state_table: required(&lookup, STATE_TABLE)?,
            alert_topic_arn: required(&lookup, ALERT_TOPIC_ARN)?,
            hour_shards: hour_shards(&lookup)?,
            retention_days,
            detect,
            custom_rules: rules_location(&lookup)?,
        })
    }
}

fn rules_location(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<RulesLocation>, ConfigError> {
    let owner = optional(lookup, CUSTOM_RULES_BUCKET_OWNER);
    optional(lookup, CUSTOM_RULES_URI)
        .map(|uri| RulesLocation::parse(&uri))
        .transpose()
        .map(|at| at.map(|at| at.owned_by(owner)))
        .map_err(|reason| ConfigError::Invalid {
            name: CUSTOM_RULES_URI,
            reason,
        })
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    let value = lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    value.ok_or(ConfigError::Missing(name))
}

fn optional(lookup: &impl Fn(&str) -> Option<String>, name: &'static str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    let Some(text) = lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    else {
        return Ok(default);
    };
    let invalid = || ConfigError::Invalid {
        name,
        reason: format!("expected a whole number from 1 to {max}, got {text:?}"),
    };
    let n: u32 = text.parse().map_err(|_| invalid())?;
    if n == 0 || n > max {
        return Err(invalid());
    }
    Ok(n)
}

fn hour_shards(lookup: &impl Fn(&str) -> Option<String>) -> Result<u16, ConfigError> {
    let n = number(
        lookup,
        HOUR_SHARDS,
        u32::from(DEFAULT_HOUR_SHARDS),
        u32::from(MAX_HOUR_SHARDS),
    )?;
    // `number` bounds it by MAX_HOUR_SHARDS, which fits.
    Ok(u16::try_from(n).unwrap_or(MAX_HOUR_SHARDS))
}

fn days(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    number(lookup, name, default, MAX_DAYS)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn key() -> Secret {
        Secret::new(KEY)
    }

    #[test]
    fn ingest_settings_with_defaults() {
        let s = IngestSettings::from_lookup(env(&[(ACTIVITY_TABLE, "act")]), key()).unwrap();
        assert_eq!(s.activity_table, "act");
        assert_eq!(s.hour_shards, 16);
        assert_eq!(s.retention_days, 90);
        assert!(s.normalizer().is_ok());
        assert!(
            !format!("{s:?}").contains(KEY),
            "the key must not show in debug output"
        );
    }

    #[test]
    fn hash_key_secret_is_required_and_the_key_long() {
        assert_eq!(
            IngestSettings::hash_key_secret(env(&[(ACTIVITY_TABLE, "act")])),
            Err(ConfigError::Missing(USERNAME_HASH_KEY_SECRET))
        );
        assert_eq!(
            IngestSettings::hash_key_secret(env(&[(USERNAME_HASH_KEY_SECRET, "okta-itdr/key")])),
            Ok("okta-itdr/key".to_owned())
        );
        let short =
            IngestSettings::from_lookup(env(&[(ACTIVITY_TABLE, "act")]), Secret::new("short-key"))
                .unwrap_err();
        assert_eq!(short, ConfigError::WeakHashKey { min: 32, got: 9 });
        assert!(!short.to_string().contains("short-key"));
    }

    #[test]
    fn numbers_are_validated() {
        for bad in ["0", "-1", "x", "257"] {
            let err = IngestSettings::from_lookup(
                env(&[(ACTIVITY_TABLE, "a"), (HOUR_SHARDS, bad)]),
                key(),
            )
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: HOUR_SHARDS,
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        let err = IngestSettings::from_lookup(
            env(&[(ACTIVITY_TABLE, "a"), (RETENTION_DAYS, "ninety")]),
            key(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(RETENTION_DAYS));
    }

    #[test]
    fn detect_settings() {
        let base = [
            (ACTIVITY_TABLE, "act"),
            (STATE_TABLE, "state"),
            (ALERT_TOPIC_ARN, "arn:aws:sns:us-east-1:1:t"),
        ];
        let s = DetectSettings::from_lookup(env(&base)).unwrap();
        assert_eq!(s.detect, DetectConfig::default());

        let mut with = base.to_vec();
        with.push((BASELINE_DAYS, "45"));
        with.push((DETECTIONS_CONFIG, r#"{"disabled":["account_locked"]}"#));
        let s = DetectSettings::from_lookup(env(&with)).unwrap();
        assert_eq!(s.detect.baseline_days, 45);
        assert!(!s.detect.enabled("account_locked"));

        let mut bad = base.to_vec();
        bad.push((DETECTIONS_CONFIG, r#"{"disabled":["nope"]}"#));
        assert!(matches!(
            DetectSettings::from_lookup(env(&bad)),
            Err(ConfigError::Detections(_))
        ));
        assert_eq!(
            DetectSettings::from_lookup(env(&base[..2])),
            Err(ConfigError::Missing(ALERT_TOPIC_ARN))
        );
    }

    #[test]
    fn late_horizon_is_a_week_and_within_retention() {
        let base = [
            (ACTIVITY_TABLE, "act"),
            (STATE_TABLE, "state"),
            (ALERT_TOPIC_ARN, "arn:aws:sns:us-east-1:1:t"),
        ];
        let s = DetectSettings::from_lookup(env(&base)).unwrap();
        assert_eq!(s.detect.late_horizon_hours, 168);
        let mut short = base.to_vec();
        short.push((RETENTION_DAYS, "5"));
        assert!(matches!(
            DetectSettings::from_lookup(env(&short)),
            Err(ConfigError::LateHorizonBeyondRetention {
                hours: 168,
                days: 5,
                ..
            })
        ));
        short.push((DETECTIONS_CONFIG, r#"{"late_horizon_hours": 120}"#));
        assert!(DetectSettings::from_lookup(env(&short)).is_ok());
    }
}
