//! The inventory function: on its schedule (daily by default), reads the org's
//! identity inventory from the Okta Management API (read-only, within the
//! API rate share), stores what alert enrichment needs (one item per user, see
//! [`crate::identities`]), runs the posture checks and publishes a check's
//! OCSF Compliance Finding to the alert topic when it starts failing, when its
//! failing subjects change, and once when it passes again
//! ([`okta_itdr_core::posture::publish`]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use okta_itdr_core::alert::Alert;
use okta_itdr_core::detect::Severity;
use okta_itdr_core::ports::{AlertSink, IdentityStore, StoreError};
use okta_itdr_core::posture::identity::{identities, keep_known_roles};
use okta_itdr_core::posture::publish::decide;
use okta_itdr_core::posture::{self, checks, CheckResult, PostureConfig, Verdict};
use okta_itdr_core::source::SourceError;
use okta_itdr_core::time::{Millis, DAY};
use okta_itdr_okta::{ClientConfig, Credentials, InventoryOptions, OktaClient, OrgUrl};
use serde_json::{json, Value};

use super::run_clock;
use crate::clock::wall_clock;
use crate::config::{ConfigError, Secret};
use crate::metrics::Metrics;
use crate::poll::{
    parse_credentials, BuildError, OKTA_API_CREDENTIALS_SECRET, OKTA_API_RATE_SHARE, OKTA_ORG_URL,
    STATE_TABLE,
};
use crate::sns::SnsAlertSink;
use crate::state::DynamoStateStore;

pub const ALERT_TOPIC_ARN: &str = "ALERT_TOPIC_ARN";
/// The checks' thresholds as [`PostureConfig`] JSON; absent: the defaults.
pub const POSTURE_CONFIG: &str = "POSTURE_CONFIG";
/// A user's item outlives its refresh by this: a week of failed refreshes
/// still enriches; a user deleted from Okta ages out.
pub const IDENTITY_KEPT: Millis = 8 * DAY;
/// SNS subjects are at most 100 characters.
const MAX_SUBJECT: usize = 100;

/// The inventory function's settings.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    pub state_table: String,
    pub alert_topic_arn: String,
    pub org: OrgUrl,
    pub credentials_secret: String,
    pub rate_share: f64,
    pub posture: PostureConfig,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

impl InventoryConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let org_text = get(OKTA_ORG_URL).ok_or(ConfigError::Missing(OKTA_ORG_URL))?;
        let org = OrgUrl::parse(&org_text).map_err(|e| invalid(OKTA_ORG_URL, e.to_string()))?;
        let rate_share = crate::poll::rate_share(get(OKTA_API_RATE_SHARE))?;
        let posture = match get(POSTURE_CONFIG) {
            None => PostureConfig::default(),
            Some(text) => {
                PostureConfig::from_json(&text).map_err(|e| invalid(POSTURE_CONFIG, e))?
            }
        };
        Ok(InventoryConfig {
            state_table: get(STATE_TABLE).ok_or(ConfigError::Missing(STATE_TABLE))?,
            alert_topic_arn: get(ALERT_TOPIC_ARN).ok_or(ConfigError::Missing(ALERT_TOPIC_ARN))?,
            org,
            credentials_secret: get(OKTA_API_CREDENTIALS_SECRET)
                .ok_or(ConfigError::Missing(OKTA_API_CREDENTIALS_SECRET))?,
            rate_share,
            posture,
        })
    }

    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            rate_share: self.rate_share,
            max_rate_wait: Duration::from_secs(60),
            ..ClientConfig::default()
        }
    }
}

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryReport {
    pub users: usize,
    pub unknown_parts: Vec<String>,
    pub failing: usize,
    pub unknown: usize,
    pub published: usize,
    pub publish_failed: usize,
}

/// A failed refresh, as Lambda reports it.
pub type InventoryFailure = super::RunFailure;

fn store_failure(e: StoreError) -> InventoryFailure {
    InventoryFailure {
        error_type: "StoreError",
        message: e.to_string(),
    }
}

fn source_failure(e: SourceError) -> InventoryFailure {
    InventoryFailure {
        error_type: if e.transient() {
            "OktaApiUnavailable"
        } else {
            "OktaApiRefused"
        },
        message: format!("reading the inventory: {e}"),
    }
}

pub struct InventoryHandler<I, K> {
    client: OktaClient,
    store: I,
    sink: K,
    posture: PostureConfig,
}

pub type LambdaInventory = InventoryHandler<DynamoStateStore, SnsAlertSink>;

impl InventoryHandler<DynamoStateStore, SnsAlertSink> {
    pub fn from_config(
        config: &InventoryConfig,
        credentials: Credentials,
        dynamodb: aws_sdk_dynamodb::Client,
        sns: aws_sdk_sns::Client,
    ) -> Result<Self, ConfigError> {
        let client = OktaClient::new(config.org.clone(), credentials, config.client_config())
            .map_err(|e| invalid(OKTA_ORG_URL, e.to_string()))?;
        // Only the state table's identity, meta and posture items are written;
        // the retention settings of the detector's items do not apply.
        let store = DynamoStateStore::new(dynamodb, config.state_table.clone(), 0, 0);
        let sink = SnsAlertSink::new(sns, config.alert_topic_arn.clone());
        Ok(InventoryHandler::new(
            client,
            store,
            sink,
            config.posture.clone(),
        ))
    }
}

/// The inventory handler of the credentials secret's text, with the rest of
/// the configuration from the environment (`lookup`).
pub fn handler_from_secret(
    lookup: impl Fn(&str) -> Option<String>,
    credentials: &Secret,
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
) -> Result<LambdaInventory, BuildError> {
    let config = InventoryConfig::from_lookup(lookup)?;
    let credentials = parse_credentials(&config.credentials_secret, credentials)?;
    Ok(InventoryHandler::from_config(
        &config,
        credentials,
        dynamodb,
        sns,
    )?)
}

impl<I: IdentityStore, K: AlertSink> InventoryHandler<I, K> {
    pub fn new(client: OktaClient, store: I, sink: K, posture: PostureConfig) -> Self {
        InventoryHandler {
            client,
            store,
            sink,
            posture,
        }
    }

    pub fn client(&self) -> &OktaClient {
        &self.client
    }

    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, InventoryFailure> {
        let wall = wall_clock();
        let deadline = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
        let left = Duration::from_millis(u64::try_from(deadline - wall).unwrap_or(0));
        self.handle_payload_within(&event.payload, wall, Some(factors_budget(left)))
            .await
    }

    /// One refresh. Its clock is the scheduled event's `time` (else `wall`):
    /// the inventory's `fetched_at`, from which enrichment applies events.
    /// Prints the run's metrics (EMF) whatever the outcome.
    pub async fn handle_payload(
        &self,
        payload: &Value,
        wall: Millis,
    ) -> Result<Value, InventoryFailure> {
        self.handle_payload_within(payload, wall, None).await
    }

    /// [`Self::handle_payload`], reading other users' factors for at most
    /// `factors_budget` (none: all of them).
    pub async fn handle_payload_within(
        &self,
        payload: &Value,
        wall: Millis,
        factors_budget: Option<Duration>,
    ) -> Result<Value, InventoryFailure> {
        let factors_until = factors_budget.map(|b| std::time::Instant::now() + b);
        // The client's counters live as long as a warm container: this run's
        // share is the difference.
        let before = ApiUse::of(&self.client);
        let result = match run_clock(payload, wall) {
            Ok(now) => self.refresh(now, factors_until).await,
            Err(e) => Err(InventoryFailure {
                error_type: e.error_type(),
                message: e.to_string(),
            }),
        };
        let used = ApiUse::of(&self.client).since(before);
        self.metrics(&result, used).emit(wall_clock());
        match result {
            Ok(report) => {
                tracing::info!(
                    outcome = "completed",
                    users = report.users,
                    unknown_parts = %report.unknown_parts.join(","),
                    requests = used.requests,
                    rate_limit_waits = used.rate_waits,
                    failing = report.failing,
                    unknown = report.unknown,
                    published = report.published,
                    publish_failed = report.publish_failed,
                    "inventory refresh"
                );
                if report.publish_failed > 0 {
                    // The unpublished checks keep their old state: the next
                    // refresh publishes them. This run fails for the alarm.
                    return Err(InventoryFailure {
                        error_type: "PublishFailed",
                        message: format!(
                            "{} posture findings could not be published",
                            report.publish_failed
                        ),
                    });
                }
                Ok(json!({
                    "users": report.users, "unknownParts": report.unknown_parts,
                    "failing": report.failing, "unknown": report.unknown,
                    "published": report.published,
                }))
            }
            Err(e) => {
                tracing::error!(outcome = "failed", error_type = e.error_type, error = %e.message, "inventory refresh failed");
                Err(e)
            }
        }
    }

    async fn refresh(
        &self,
        now: Millis,
        factors_until: Option<std::time::Instant>,
    ) -> Result<InventoryReport, InventoryFailure> {
        let options = InventoryOptions {
            now,
            mfa_grace_days: self.posture.mfa_grace_days,
            factors_until,
        };
        let inv = self
            .client
            .inventory(&options)
            .await
            .map_err(source_failure)?;
        let (meta, mut users) = identities(&inv);
        if inv.admins.known().is_none() {
            let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
            let previous = self
                .store
                .load_identities(&ids)
                .await
                .map_err(store_failure)?;
            keep_known_roles(&mut users, &previous);
        }
        let expires_at = (inv.fetched_at + IDENTITY_KEPT) / 1000;
        self.store
            .save_identities(&users, expires_at)
            .await
            .map_err(store_failure)?;
        // The meta last: it says a refresh completed.
        self.store
            .save_inventory_meta(&meta)
            .await
            .map_err(store_failure)?;

        let results = posture::evaluate(&inv, &self.posture);
        let mut states = self
            .store
            .load_check_states()
            .await
            .map_err(store_failure)?;
        let mut report = InventoryReport {
            users: meta.users,
            unknown_parts: meta.unknown.clone(),
            ..InventoryReport::default()
        };
        for r in &results {
            match r.verdict {
                Verdict::Fail => report.failing += 1,
                Verdict::Unknown => report.unknown += 1,
                Verdict::Pass => {}
            }
            let decision = decide(states.get(r.id), r, now);
            if decision.publish {
                let alert = finding_alert(r, &inv.org, inv.fetched_at);
                if let Err(e) = self.sink.publish(&alert).await {
                    tracing::error!(outcome = "failed", check = r.id, error = %e, "posture finding not published");
                    report.publish_failed += 1;
                    continue;
                }
                report.published += 1;
            }
            if let Some(next) = decision.next {
                states.insert(r.id.to_owned(), next);
                // Saved after each publish: a run that stops half-way does
                // not publish the same findings again.
                save_states(&self.store, &states).await?;
            }
        }
        Ok(report)
    }

    /// The run's EMF metrics.
    pub fn metrics(
        &self,
        result: &Result<InventoryReport, InventoryFailure>,
        used: ApiUse,
    ) -> Metrics {
        let mut m = Metrics::for_function("inventory");
        m.count("ApiRequests", used.requests)
            .count("RateLimitWaits", used.rate_waits);
        match result {
            Ok(r) => {
                m.count("UsersRead", r.users as u64)
                    .count("ChecksFailing", r.failing as u64)
                    .count("ChecksUnknown", r.unknown as u64)
                    .count("FindingsPublished", r.published as u64)
                    .count("PublishFailures", r.publish_failed as u64);
            }
            Err(_) => {
                m.count("InventoryErrors", 1);
            }
        }
        m
    }
}

/// Management API requests and rate-limit waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiUse {
    pub requests: u64,
    pub rate_waits: u64,
}

impl ApiUse {
    fn of(client: &OktaClient) -> Self {
        let stats = client.stats();
        ApiUse {
            requests: stats.requests.load(Relaxed),
            rate_waits: stats.rate_waits.load(Relaxed),
        }
    }

    fn since(self, before: ApiUse) -> Self {
        ApiUse {
            requests: self.requests.saturating_sub(before.requests),
            rate_waits: self.rate_waits.saturating_sub(before.rate_waits),
        }
    }
}

async fn save_states<I: IdentityStore>(
    store: &I,
    states: &BTreeMap<String, okta_itdr_core::posture::publish::CheckState>,
) -> Result<(), InventoryFailure> {
    store.save_check_states(states).await.map_err(store_failure)
}

/// A check's finding as an alert: the OCSF Compliance Finding, a subject, and
/// the attributes subscriptions filter on (`detection` `posture:<check>`).
pub fn finding_alert(r: &CheckResult, org: &str, fetched_at: Millis) -> Alert {
    let mut finding =
        posture::ocsf::compliance_finding(r, org, fetched_at, env!("CARGO_PKG_VERSION"));
    let meta = checks::meta(r.id);
    let title = meta.map_or(r.id, |m| m.title);
    let severity = match r.verdict {
        Verdict::Fail => meta.map_or(Severity::Medium, |m| m.severity),
        Verdict::Pass => Severity::Informational,
        // Published only when a check that could be read no longer can: the
        // credentials lost a scope or role, which may hide what comes next.
        Verdict::Unknown => Severity::Medium,
    };
    finding["severity_id"] = serde_json::json!(severity.ocsf_id());
    finding["severity"] = serde_json::json!(severity.label());
    let state = match r.verdict {
        Verdict::Fail => format!("{} failing", r.subjects.len()),
        Verdict::Pass => "passes again".to_owned(),
        Verdict::Unknown => "no longer readable".to_owned(),
    };
    let subject: String = format!("[{}] Posture: {title} ({state})", severity.upper())
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_SUBJECT)
        .collect();
    Alert {
        uid: finding["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        subject,
        body: finding.to_string(),
        severity,
        detection: format!("posture:{}", r.id),
        principal: org.to_owned(),
        time: fetched_at,
    }
}

/// How long of the invocation's `left` time the other users' factors may
/// take: 60 %, so the rest of the inventory, the identity items and the
/// findings still fit in what remains.
pub fn factors_budget(left: Duration) -> Duration {
    left.mul_f64(0.6)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &[(&str, &str)] = &[
        ("STATE_TABLE", "s"),
        (
            "ALERT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:alerts",
        ),
        ("OKTA_ORG_URL", "https://acme.okta.com"),
        ("OKTA_API_CREDENTIALS_SECRET", "okta-itdr/okta-api"),
    ];

    fn with(over: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            over.iter()
                .chain(BASE.iter())
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn settings_default_to_half_the_rate_and_the_default_thresholds() {
        let c = InventoryConfig::from_lookup(with(&[])).unwrap();
        assert_eq!(c.rate_share, 0.5);
        assert_eq!(c.posture, PostureConfig::default());
        let c =
            InventoryConfig::from_lookup(with(&[("POSTURE_CONFIG", r#"{"max_super_admins": 2}"#)]))
                .unwrap();
        assert_eq!(c.posture.max_super_admins, 2);
    }

    #[test]
    fn bad_settings_name_the_variable() {
        for (over, name) in [
            (
                &[("POSTURE_CONFIG", r#"{"max_super_admin": 2}"#)][..],
                POSTURE_CONFIG,
            ),
            (&[("OKTA_API_RATE_SHARE", "0")][..], OKTA_API_RATE_SHARE),
            (&[("ALERT_TOPIC_ARN", " ")][..], ALERT_TOPIC_ARN),
        ] {
            let over: &'static [(&'static str, &'static str)] =
                Box::leak(over.to_vec().into_boxed_slice());
            let err = InventoryConfig::from_lookup(with(over)).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn a_finding_alert_has_an_ascii_subject_within_the_sns_limit() {
        let r = CheckResult {
            id: "admin_mfa_not_phishing_resistant",
            verdict: Verdict::Fail,
            evaluated: 3,
            subjects: Vec::new(),
            note: String::new(),
        };
        let a = finding_alert(&r, "https://acme.okta.com", 0);
        assert!(
            a.subject.len() <= 100 && a.subject.is_ascii(),
            "{}",
            a.subject
        );
        assert!(a.subject.starts_with("[HIGH] Posture: "), "{}", a.subject);
        assert_eq!(a.detection, "posture:admin_mfa_not_phishing_resistant");
        let body: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(body["class_uid"], 2003);
    }
}
