//! The `poll` function: the Okta System Log API as a second, reconciling source
//! (`gap-fill`, beside Log Streaming) or the only one (`primary`). The run
//! itself is [`okta_itdr_core::poll::poll`]; this is its AWS side: settings, the
//! credentials secret (re-read every five minutes), the cursor item in the state
//! table, the final dead-letter queue for events that can never be stored, the
//! deadline, and the EMF metrics the alarms watch.
//!
//! State table item: pk `POLL`, sk the mode; `since`, `until` (ms), `next` (the
//! opaque next-page link, absent at a window's start), `version` (the
//! conditional-write guard).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::LambdaEvent;
use okta_itdr_core::ingest::{IngestSettings as CoreIngestSettings, Ingestor};
use okta_itdr_core::poll::{
    poll, Cursor, CursorStore, Mode, PollError, PollReport, PollSettings, Refused, RefusedEvents,
};
use okta_itdr_core::ports::{ActivityStore, StateStore, StoreError, Watermark};
use okta_itdr_core::source::NextPage;
use okta_itdr_core::time::{Millis, DAY, HOUR, MINUTE};
use okta_itdr_okta::{ClientConfig, Credentials, OktaClient, OrgUrl};
use serde_json::{json, Value};

use crate::activity::DynamoActivityStore;
use crate::config::{ConfigError, IngestSettings, Secret};
use crate::handlers::{redact_quoted, run_clock, wall_clock, HandlerError, SafeIds};
use crate::metrics::{Metrics, Unit};
use crate::recovery::{DeadLetterReason, Format, Queues};
use crate::sdk::{get_n, get_s, key, n, s, store_error};
use crate::state::DynamoStateStore;

pub const OKTA_ORG_URL: &str = "OKTA_ORG_URL";
pub const OKTA_API_MODE: &str = "OKTA_API_MODE";
pub const OKTA_API_CREDENTIALS_SECRET: &str = "OKTA_API_CREDENTIALS_SECRET";
pub const OKTA_API_RATE_SHARE: &str = "OKTA_API_RATE_SHARE";
pub const POLL_SETTLE_MINUTES: &str = "POLL_SETTLE_MINUTES";
pub const POLL_LOOKBACK_HOURS: &str = "POLL_LOOKBACK_HOURS";
pub const POLL_BACKFILL_DAYS: &str = "POLL_BACKFILL_DAYS";
pub const POLL_DEADLINE_MARGIN_SECONDS: &str = "POLL_DEADLINE_MARGIN_SECONDS";
pub const STATE_TABLE: &str = "STATE_TABLE";

/// Gap-fill reconciles an hour this long after it ends.
pub const DEFAULT_GAP_FILL_SETTLE_MINUTES: i64 = 15;
/// Primary mode reads up to this long before now.
pub const DEFAULT_PRIMARY_SETTLE_MINUTES: i64 = 5;
pub const DEFAULT_LOOKBACK_HOURS: i64 = 24;
/// Okta keeps 90 days of System Log.
pub const MAX_LOOKBACK_HOURS: i64 = 90 * 24;
/// Days of history a first start reads and the detector learns before alerting.
pub const DEFAULT_BACKFILL_DAYS: i64 = 30;
pub const MAX_BACKFILL_DAYS: i64 = 90;
/// No new page starts with less than this left before the deadline: one query
/// (30 s) with a retry, and a rate-limit wait of up to a minute.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(100);
const CURSOR_PK: &str = "POLL";

/// The poll function's settings.
#[derive(Debug, Clone)]
pub struct PollConfig {
    pub ingest: IngestSettings,
    pub state_table: String,
    pub org: OrgUrl,
    pub credentials_secret: String,
    pub rate_share: f64,
    pub poll: PollSettings,
    /// No page starts with less than this left before the deadline.
    pub deadline_margin: Millis,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

impl PollConfig {
    /// `key` is the username hash key, read from its secret like ingest's.
    pub fn from_env(key: Secret) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), key)
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        key: Secret,
    ) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let org_text = get(OKTA_ORG_URL).ok_or(ConfigError::Missing(OKTA_ORG_URL))?;
        let org = OrgUrl::parse(&org_text).map_err(|e| invalid(OKTA_ORG_URL, e.to_string()))?;
        let mode = match get(OKTA_API_MODE) {
            None => Mode::GapFill,
            Some(m) => Mode::parse(&m)
                .ok_or_else(|| invalid(OKTA_API_MODE, "must be gap-fill or primary"))?,
        };
        let rate_share = rate_share(get(OKTA_API_RATE_SHARE))?;
        let number = |name: &'static str, default: i64, max: i64| -> Result<i64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(t) => t
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0 && *v <= max)
                    .ok_or_else(|| {
                        invalid(name, format!("must be a whole number from 0 to {max}"))
                    }),
            }
        };
        let settle_default = match mode {
            Mode::Primary => DEFAULT_PRIMARY_SETTLE_MINUTES,
            Mode::GapFill | Mode::PrimaryRecheck | Mode::Backfill => {
                DEFAULT_GAP_FILL_SETTLE_MINUTES
            }
        };
        let settle = number(POLL_SETTLE_MINUTES, settle_default, 24 * 60)? * MINUTE;
        let lookback = number(
            POLL_LOOKBACK_HOURS,
            DEFAULT_LOOKBACK_HOURS,
            MAX_LOOKBACK_HOURS,
        )? * HOUR;
        let backfill = number(POLL_BACKFILL_DAYS, DEFAULT_BACKFILL_DAYS, MAX_BACKFILL_DAYS)? * DAY;
        let deadline_margin = number(
            POLL_DEADLINE_MARGIN_SECONDS,
            DEADLINE_MARGIN.as_secs() as i64,
            900,
        )? * 1000;
        Ok(PollConfig {
            ingest: IngestSettings::from_lookup(&lookup, key)?,
            state_table: get(STATE_TABLE).ok_or(ConfigError::Missing(STATE_TABLE))?,
            org,
            credentials_secret: get(OKTA_API_CREDENTIALS_SECRET)
                .ok_or(ConfigError::Missing(OKTA_API_CREDENTIALS_SECRET))?,
            rate_share,
            poll: PollSettings {
                mode,
                settle,
                lookback,
                max_hours_per_run: 48,
                backfill,
            },
            deadline_margin,
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

/// Why the credentials secret could not be used. Never carries its content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("reading secret {secret}: {message}")]
    Read { secret: String, message: String },
    #[error("secret {secret}: {source}")]
    Content {
        secret: String,
        source: okta_itdr_okta::CredentialsError,
    },
}

/// Reads the Okta credentials from one Secrets Manager secret (its name or ARN).
pub async fn load_credentials(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> Result<Credentials, SecretError> {
    let text = read_credentials_text(client, secret).await?;
    parse_credentials(secret, &text)
}

/// The credentials in the secret's text.
pub fn parse_credentials(secret: &str, text: &Secret) -> Result<Credentials, SecretError> {
    Credentials::from_json(text.expose()).map_err(|source| SecretError::Content {
        secret: secret.to_owned(),
        source,
    })
}

/// The credentials secret's text, unparsed (to tell a rotation).
pub async fn read_credentials_text(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> Result<Secret, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            secret: secret.to_owned(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                .to_string()
                .chars()
                .take(300)
                .collect(),
        })?;
    Ok(Secret::new(out.secret_string().unwrap_or_default()))
}

/// The poll function's secrets as one value: the hash key and the
/// credentials' text. A change of either is a rotation.
pub fn secrets_material(key: &Secret, credentials: &Secret) -> Secret {
    Secret::new(serde_json::to_string(&[key.expose(), credentials.expose()]).unwrap_or_default())
}

/// Why a poll handler could not be built from (rotated) secrets. Never holds
/// a secret's content.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Credentials(#[from] SecretError),
}

/// The poll handler of `material` ([`secrets_material`]) with the rest of the
/// configuration from `lookup`.
pub fn handler_from_secrets(
    lookup: impl Fn(&str) -> Option<String>,
    material: &Secret,
    dynamodb: aws_sdk_dynamodb::Client,
) -> Result<
    (
        PollConfig,
        PollHandler<DynamoActivityStore, DynamoCursorStore>,
    ),
    BuildError,
> {
    let [key, credentials]: [String; 2] = serde_json::from_str(material.expose())
        .map_err(|_| invalid(OKTA_API_CREDENTIALS_SECRET, "unreadable secrets"))?;
    let config = PollConfig::from_lookup(lookup, Secret::new(key))?;
    let credentials = parse_credentials(&config.credentials_secret, &Secret::new(credentials))?;
    let handler = PollHandler::from_config(&config, credentials, dynamodb)?;
    Ok((config, handler))
}

/// The cursor items in the state table, beside the detector's watermark (a
/// backfill hands it the history to learn).
pub struct DynamoCursorStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    detector: DynamoStateStore,
}

impl DynamoCursorStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        let table = table.into();
        DynamoCursorStore {
            // Only its watermark is used: the baseline and retention days are
            // the detector's business.
            detector: DynamoStateStore::new(client.clone(), table.clone(), 30, 90),
            client,
            table,
        }
    }
}

impl CursorStore for DynamoCursorStore {
    async fn load_watermark(&self) -> Result<Option<Watermark>, StoreError> {
        StateStore::load_watermark(&self.detector).await
    }

    async fn save_watermark(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
    ) -> Result<(), StoreError> {
        StateStore::save_watermark(&self.detector, next, expected).await
    }

    async fn load_cursor(&self, mode: Mode) -> Result<Option<Cursor>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(CURSOR_PK, mode.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem poll cursor", &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let field = |name: &str| {
            get_n(&item, name).ok_or_else(|| {
                StoreError::new(
                    "GetItem poll cursor",
                    format!("the cursor has no {name}"),
                    false,
                )
            })
        };
        Ok(Some(Cursor {
            since: field("since")?,
            until: field("until")?,
            next: get_s(&item, "next").map(|t| NextPage(t.to_owned())),
            version: u64::try_from(field("version")?).unwrap_or(0),
        }))
    }

    async fn save_cursor(
        &self,
        mode: Mode,
        next: &Cursor,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut item = key(CURSOR_PK, mode.as_str());
        item.insert("since".into(), n(next.since));
        item.insert("until".into(), n(next.until));
        item.insert("version".into(), n(next.version as i64));
        if let Some(link) = &next.next {
            item.insert("next".into(), s(link.0.clone()));
        }
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        put.send().await.map(|_| ()).map_err(|e| {
            let conflict = e
                .as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception());
            if conflict {
                StoreError::new(
                    "PutItem poll cursor",
                    "another poll run moved the cursor; this run stops",
                    false,
                )
            } else {
                store_error("PutItem poll cursor", &e)
            }
        })
    }
}

/// The `source` refused polled events are sent under: an Okta partner source,
/// so `okta-itdr dlq redrive` hands them to the ingest function like any other.
pub const POLLED_SOURCE: &str = "aws.partner/okta.com/okta-itdr-poll";

/// Polled events that can never be stored, into the final dead-letter queue
/// with their reason, as recovery gives events up.
#[derive(Debug, Clone, Default)]
pub struct PollDeadLetters {
    queues: Option<Queues>,
}

impl PollDeadLetters {
    pub fn new(queues: Option<Queues>) -> Self {
        PollDeadLetters { queues }
    }
}

impl RefusedEvents for PollDeadLetters {
    async fn refuse(&self, event: &Refused<'_>) -> Result<(), StoreError> {
        let Some(queues) = &self.queues else {
            return Err(StoreError::new(
                "SendMessage",
                format!(
                    "an event was refused ({}) and no final dead-letter queue is configured ({})",
                    event.code,
                    crate::config::FINAL_DLQ_URL
                ),
                false,
            ));
        };
        let now = wall_clock();
        // A JSON object travels as the EventBridge event the stream would have
        // delivered, so a redrive reaches the ingest function; anything else as
        // it came.
        let (body, format, ids) = match serde_json::from_str::<Value>(event.text) {
            Ok(detail @ Value::Object(_)) => {
                let ids = SafeIds::of(&detail);
                let envelope = json!({
                    "version": "0",
                    "id": ids.uuid.clone().unwrap_or_default(),
                    "source": POLLED_SOURCE,
                    "detail-type": okta_itdr_core::ingest::OKTA_DETAIL_TYPE,
                    "time": okta_itdr_core::time::format_rfc3339_ms(now),
                    "detail": detail,
                });
                (envelope.to_string(), Some(Format::EventBridge), ids)
            }
            _ => (
                event.text.to_owned(),
                None,
                SafeIds {
                    uuid: None,
                    event_type: None,
                },
            ),
        };
        let reason = DeadLetterReason {
            code: event.code.to_owned(),
            text: redact_quoted(&format!("polled event refused: {}", event.reason)),
        };
        queues
            .dead_letter(
                &body,
                format,
                (ids.uuid.as_deref(), ids.event_type.as_deref()),
                &reason,
                now,
            )
            .await
            .map_err(|why| StoreError::new("SendMessage", why, true))?;
        tracing::warn!(
            uuid = ids.uuid.as_deref(),
            eventType = ids.event_type.as_deref(),
            outcome = "dead_lettered",
            reason = event.code,
            "polled event sent to the final dead-letter queue"
        );
        Ok(())
    }
}

/// The poll handler: the Okta client, the same ingestor as the ingest
/// function, the cursor store, the final dead-letter queue.
pub struct PollHandler<A, C> {
    client: OktaClient,
    ingestor: Ingestor<A>,
    cursors: C,
    dead_letters: PollDeadLetters,
    settings: PollSettings,
    deadline_margin: Millis,
}

impl PollHandler<DynamoActivityStore, DynamoCursorStore> {
    pub fn from_config(
        config: &PollConfig,
        credentials: Credentials,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Result<Self, ConfigError> {
        let store = DynamoActivityStore::new(
            dynamodb.clone(),
            config.ingest.activity_table.clone(),
            config.ingest.hour_shards,
        );
        let ingestor = Ingestor::new(
            config.ingest.normalizer()?,
            store,
            CoreIngestSettings {
                retention_days: config.ingest.retention_days,
            },
        );
        let client = OktaClient::new(config.org.clone(), credentials, config.client_config())
            .map_err(|e| invalid(OKTA_ORG_URL, e.to_string()))?;
        Ok(PollHandler {
            client,
            ingestor,
            cursors: DynamoCursorStore::new(dynamodb, config.state_table.clone()),
            dead_letters: PollDeadLetters::default(),
            settings: config.poll,
            deadline_margin: config.deadline_margin,
        })
    }
}

impl<A: ActivityStore, C: CursorStore> PollHandler<A, C> {
    pub fn new(
        client: OktaClient,
        ingestor: Ingestor<A>,
        cursors: C,
        settings: PollSettings,
    ) -> Self {
        PollHandler {
            client,
            ingestor,
            cursors,
            dead_letters: PollDeadLetters::default(),
            settings,
            deadline_margin: DEADLINE_MARGIN.as_millis() as Millis,
        }
    }

    /// Sends the events that can never be stored to the final dead-letter
    /// queue. Without it such an event fails the run.
    pub fn with_dead_letters(mut self, queues: Queues) -> Self {
        self.dead_letters = PollDeadLetters::new(Some(queues));
        self
    }

    /// Evaluates these custom rules on every event it stores, as ingest does.
    pub fn with_rules(
        mut self,
        rules: Option<std::sync::Arc<okta_itdr_core::sigma::RuleSet>>,
    ) -> Self {
        if let Some(rules) = rules {
            self.ingestor = self.ingestor.with_rules(rules);
        }
        self
    }

    pub fn client(&self) -> &OktaClient {
        &self.client
    }

    /// One run. The clock of its windows is the scheduled event's `time`; new
    /// pages start only while the invocation's deadline is more than
    /// [`DEADLINE_MARGIN`] (or `POLL_DEADLINE_MARGIN_SECONDS`) away.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, PollFailure> {
        let deadline = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
        self.handle_payload(&event.payload, wall_clock(), deadline, wall_clock)
            .await
    }

    pub async fn handle_payload(
        &self,
        payload: &Value,
        wall: Millis,
        deadline: Millis,
        clock: impl Fn() -> Millis,
    ) -> Result<Value, PollFailure> {
        let now = run_clock(payload, wall)?;
        let margin = self.deadline_margin;
        let result = poll(
            &self.client,
            &self.ingestor,
            &self.cursors,
            &self.dead_letters,
            &self.settings,
            now,
            &clock,
            || clock() + margin < deadline,
        )
        .await;
        match result {
            Ok(report) => {
                let metrics = self.metrics(&report, now);
                metrics.emit(wall_clock());
                tracing::info!(
                    outcome = "completed",
                    mode = self.settings.mode.as_str(),
                    pages = report.pages,
                    fetched = report.fetched,
                    stored = report.stored,
                    missed = report.missed,
                    invalid = report.invalid,
                    refused = report.refused,
                    found_late = report.found_late,
                    deadline_hit = report.deadline_hit,
                    backfilling = report.backfilling,
                    "poll run"
                );
                Ok(report_json(&report, self.settings.mode))
            }
            Err(e) => {
                let mut metrics = Metrics::for_function("poll");
                metrics.count("PollErrors", 1);
                metrics.emit(wall_clock());
                tracing::error!(outcome = "failed", error = %e, "poll run failed");
                Err(poll_error(e))
            }
        }
    }

    /// The run's EMF metrics: `StreamMissed` (the alarm's), the backlog, and
    /// the API usage.
    pub fn metrics(&self, report: &PollReport, now: Millis) -> Metrics {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = self.client.stats();
        let mut m = Metrics::for_function("poll");
        m.count("Pages", report.pages)
            .count("EventsFetched", report.fetched)
            .count("EventsStored", report.stored)
            .count("StreamMissed", report.missed)
            .count("InvalidEvents", report.invalid)
            .count("EventsDeadLettered", report.invalid + report.refused)
            .count("EventsFoundLate", report.found_late)
            .count("ApiRequests", stats.requests.load(Relaxed))
            .count("RateLimitWaits", stats.rate_waits.load(Relaxed))
            .set(
                "BacklogMinutes",
                Unit::None,
                ((now - report.position).max(0) / MINUTE) as f64,
            );
        m
    }
}

fn report_json(r: &PollReport, mode: Mode) -> Value {
    json!({
        "mode": mode.as_str(), "pages": r.pages, "fetched": r.fetched, "stored": r.stored,
        "duplicates": r.duplicates, "missed": r.missed, "invalid": r.invalid,
        "refused": r.refused, "foundLate": r.found_late,
        "windowsDone": r.windows_done, "deadlineHit": r.deadline_hit,
        "backfilling": r.backfilling,
    })
}

/// `OKTA_API_RATE_SHARE`: the share of each Okta rate limit the functions
/// may use, in (0, 1]; half when unset.
pub fn rate_share(value: Option<String>) -> Result<f64, ConfigError> {
    match value {
        None => Ok(0.5),
        Some(t) => t
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0 && *v <= 1.0)
            .ok_or_else(|| invalid(OKTA_API_RATE_SHARE, "must be a number in (0, 1]")),
    }
}

/// A failed poll, as Lambda reports it.
pub type PollFailure = crate::handlers::RunFailure;

impl From<HandlerError> for PollFailure {
    fn from(e: HandlerError) -> Self {
        PollFailure {
            error_type: e.error_type(),
            message: e.to_string(),
        }
    }
}

fn poll_error(e: PollError) -> PollFailure {
    let error_type = match &e {
        PollError::Store(_) => "StoreError",
        PollError::Ingest(_) => "IngestError",
        PollError::Source(s) if s.transient() => "OktaApiUnavailable",
        PollError::Source(_) => "OktaApiRefused",
    };
    PollFailure {
        error_type,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn hash_key() -> Secret {
        Secret::new("0123456789abcdef0123456789abcdef")
    }

    const BASE: &[(&str, &str)] = &[
        ("ACTIVITY_TABLE", "a"),
        ("STATE_TABLE", "s"),
        ("OKTA_ORG_URL", "https://acme.okta.com"),
        ("OKTA_API_CREDENTIALS_SECRET", "okta-itdr/okta-api"),
    ];

    #[test]
    fn defaults_are_gap_fill_half_the_rate_limit_and_a_settled_quarter_hour() {
        let c = PollConfig::from_lookup(env(BASE), hash_key()).unwrap();
        assert_eq!(c.poll.mode, Mode::GapFill);
        assert_eq!(c.rate_share, 0.5);
        assert_eq!(c.poll.settle, 15 * MINUTE);
        assert_eq!(c.poll.lookback, 24 * HOUR);
        assert_eq!(c.poll.backfill, 30 * DAY, "a first start learns 30 days");
        let none = PollConfig::from_lookup(
            |k| match k {
                POLL_BACKFILL_DAYS => Some("0".into()),
                _ => env(BASE)(k),
            },
            hash_key(),
        )
        .unwrap();
        assert_eq!(none.poll.backfill, 0);
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("OKTA_ORG_URL", "http://acme.okta.com")], OKTA_ORG_URL),
            (&[("OKTA_API_MODE", "push")], OKTA_API_MODE),
            (&[("OKTA_API_RATE_SHARE", "1.5")], OKTA_API_RATE_SHARE),
            (&[("POLL_LOOKBACK_HOURS", "9999")], POLL_LOOKBACK_HOURS),
            // Okta keeps 90 days.
            (&[("POLL_BACKFILL_DAYS", "91")], POLL_BACKFILL_DAYS),
        ];
        for (over, name) in cases {
            let lookup = |k: &str| {
                over.iter()
                    .chain(BASE.iter())
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            };
            let err = PollConfig::from_lookup(lookup, hash_key()).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
