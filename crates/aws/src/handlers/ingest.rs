//! The ingest function: one EventBridge event stored (and its fast path), or
//! a batch of the recovery queue re-ingested.

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use okta_itdr_core::detect::fast::FastReport;
use okta_itdr_core::ingest::{
    IngestError, IngestSettings as CoreIngestSettings, Ingested, Ingestor,
};
use okta_itdr_core::ports::{ActivityStore, PutOutcome, StoreError};
use okta_itdr_core::record::ActivityRecord;
use okta_itdr_core::sigma::RuleSet;
use okta_itdr_core::time::Millis;
use serde::Serialize;
use serde_json::Value;

use super::{safe_token, HandlerError, SafeIds};
use crate::activity::DynamoActivityStore;
use crate::config::{ConfigError, IngestSettings};
use crate::fast_path::{self, LambdaFastPath};
use crate::metrics::Metrics;
use crate::recovery::{unwrap_message, DeadLetterReason, Format, Queues, BACKOFF};

/// What the ingest function returns for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestResponse {
    pub uuid: String,
    pub event_type: String,
    /// `stored` or `duplicate`.
    pub outcome: &'static str,
    pub records: usize,
    pub late: bool,
    /// What the fast path did, when the event matched a fast-path detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fast_path: Option<FastReport>,
}

impl From<&Ingested> for IngestResponse {
    fn from(i: &Ingested) -> Self {
        IngestResponse {
            uuid: i.uuid.clone(),
            event_type: i.event_type.clone(),
            outcome: match i.outcome {
                PutOutcome::Stored => "stored",
                PutOutcome::Duplicate => "duplicate",
            },
            records: i.records,
            late: i.late,
            fast_path: None,
        }
    }
}

pub struct IngestHandler<S> {
    ingestor: Ingestor<S>,
    /// The recovery and final dead-letter queues, when deployed with them.
    queues: Option<Queues>,
    /// Publishes what pages alone as soon as its event is stored.
    fast: Option<LambdaFastPath>,
}

/// EMF counters of the ingest function, one line per invocation.
pub mod counters {
    pub const STORED: &str = "EventsStored";
    pub const DUPLICATE: &str = "EventsDuplicate";
    pub const REJECTED: &str = "EventsRejected";
    pub const LATE: &str = "EventsLate";
    /// Stored (or found already stored) from the recovery queue.
    pub const RECOVERED: &str = "EventsRecovered";
    /// Sent to the final dead-letter queue.
    pub const DEAD_LETTERED: &str = "EventsDeadLettered";
    /// Failed for a reason that may pass; retried later.
    pub const FAILED: &str = "EventsFailed";
}

impl IngestHandler<DynamoActivityStore> {
    pub fn from_settings(
        settings: &IngestSettings,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Result<Self, ConfigError> {
        let store = DynamoActivityStore::new(
            dynamodb,
            settings.activity_table.clone(),
            settings.hour_shards,
        );
        let core = CoreIngestSettings {
            retention_days: settings.retention_days,
        };
        Ok(IngestHandler::new(Ingestor::new(
            settings.normalizer()?,
            store,
            core,
        )))
    }

    /// The handler the function runs: with the recovery and final queues when
    /// the environment names them.
    pub fn from_sdk_config(
        settings: &IngestSettings,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let mut handler = Self::from_settings(settings, aws_sdk_dynamodb::Client::new(sdk))?;
        if let Some(detect) = &settings.fast_path {
            handler.fast = Some(fast_path::build(detect, sdk));
        }
        Ok(match &settings.final_dlq_url {
            Some(url) => handler.with_queues(Queues::new(
                aws_sdk_sqs::Client::new(sdk),
                settings.recovery_queue_url.clone(),
                url.clone(),
            )),
            None => handler,
        })
    }
}

impl<S: ActivityStore> IngestHandler<S> {
    pub fn new(ingestor: Ingestor<S>) -> Self {
        IngestHandler {
            ingestor,
            queues: None,
            fast: None,
        }
    }

    /// Publishes what pages alone as soon as its event is stored.
    pub fn with_fast_path(mut self, fast: LambdaFastPath) -> Self {
        self.fast = Some(fast);
        self
    }

    pub fn with_queues(mut self, queues: Queues) -> Self {
        self.queues = Some(queues);
        self
    }

    /// Evaluates these custom rules on every event it stores.
    pub fn with_rules(mut self, rules: Option<Arc<RuleSet>>) -> Self {
        if let Some(rules) = rules {
            self.ingestor = self.ingestor.with_rules(rules);
        }
        self
    }

    /// The function's entry point: an EventBridge event, or a batch of the
    /// recovery queue. Prints the invocation's metrics as one EMF line.
    pub async fn invoke(&self, payload: Value, now: Millis) -> Result<Value, HandlerError> {
        let mut metrics = Metrics::for_function("ingest");
        let result = self.invoke_counted(payload, now, &mut metrics).await;
        metrics.emit(now);
        result
    }

    /// [`IngestHandler::invoke`], counting into `metrics` instead of printing.
    pub async fn invoke_counted(
        &self,
        payload: Value,
        now: Millis,
        metrics: &mut Metrics,
    ) -> Result<Value, HandlerError> {
        for name in [
            counters::STORED,
            counters::DUPLICATE,
            counters::REJECTED,
            counters::LATE,
            counters::RECOVERED,
            counters::DEAD_LETTERED,
            counters::FAILED,
        ] {
            metrics.count(name, 0);
        }
        if self.fast.is_some() {
            metrics.count(fast_path::counters::PUBLISHED, 0);
            metrics.count(fast_path::counters::DEFERRED, 0);
        }
        if is_sqs_batch(&payload) {
            return self.recover_batch(payload, now, metrics).await;
        }
        let original = self.queues.is_some().then(|| payload.clone());
        match self.ingest_counted(payload, now, metrics).await {
            Ok(response) => Ok(serde_json::to_value(response).unwrap_or(Value::Null)),
            // Retrying cannot help: straight to the final queue, with the reason.
            Err(e) if !e.retryable() => match (&self.queues, original) {
                (Some(queues), Some(event)) => {
                    let ids = SafeIds::of(event.get("detail").unwrap_or(&Value::Null));
                    let reason = DeadLetterReason {
                        code: e.error_type().to_owned(),
                        text: e.to_string(),
                    };
                    queues
                        .dead_letter(
                            &event.to_string(),
                            Some(Format::EventBridge),
                            (ids.uuid.as_deref(), ids.event_type.as_deref()),
                            &reason,
                            now,
                        )
                        .await
                        .map_err(|why| {
                            tracing::error!(outcome = "failed", error = %why, "could not dead-letter a refused event");
                            HandlerError::Store(StoreError::new("SendMessage", why, true))
                        })?;
                    metrics.count(counters::DEAD_LETTERED, 1);
                    Ok(serde_json::json!({"outcome": "dead_lettered", "reason": reason.code}))
                }
                _ => Err(e),
            },
            // Lambda retries twice, then the on-failure destination takes it to recovery.
            Err(e) => Err(e),
        }
    }

    /// One EventBridge event, counted.
    async fn ingest_counted(
        &self,
        payload: Value,
        now: Millis,
        metrics: &mut Metrics,
    ) -> Result<IngestResponse, HandlerError> {
        let result = self.handle_fast(payload, now, metrics).await;
        match &result {
            Ok(r) => {
                let name = if r.outcome == "stored" {
                    counters::STORED
                } else {
                    counters::DUPLICATE
                };
                metrics.count(name, 1);
                if r.late {
                    metrics.count(counters::LATE, 1);
                }
            }
            Err(e) if !e.retryable() => {
                metrics.count(counters::REJECTED, 1);
            }
            Err(_) => {
                metrics.count(counters::FAILED, 1);
            }
        }
        result
    }

    /// A batch of the recovery queue. Messages are independent: each is stored,
    /// deferred or dead-lettered on its own, and only those to retry are
    /// reported as batch item failures (`ReportBatchItemFailures`).
    async fn recover_batch(
        &self,
        payload: Value,
        now: Millis,
        metrics: &mut Metrics,
    ) -> Result<Value, HandlerError> {
        let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(payload)
            .map_err(|_| HandlerError::InvalidEvent("not an SQS event".into()))?;
        let outcomes = futures::future::join_all(
            event
                .records
                .iter()
                .map(|message| self.recover_one(message, now)),
        )
        .await;
        let mut failures = Vec::new();
        for (message, (outcome, counted)) in event.records.iter().zip(outcomes) {
            metrics.merge(&counted);
            if outcome == Recovery::Retry {
                failures.push(serde_json::json!({
                    "itemIdentifier": message.message_id.clone().unwrap_or_default()
                }));
            }
        }
        Ok(serde_json::json!({ "batchItemFailures": failures }))
    }

    async fn recover_one(
        &self,
        message: &aws_lambda_events::sqs::SqsMessage,
        now: Millis,
    ) -> (Recovery, Metrics) {
        let mut metrics = Metrics::for_function("ingest");
        let body = message.body.as_deref().unwrap_or_default();
        let attempt: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let message_id = message
            .message_id
            .as_deref()
            .and_then(|t| safe_token(t, 64));
        let (format, event) = match unwrap_message(body) {
            Ok(found) => found,
            Err(why) => {
                metrics.count(counters::REJECTED, 1);
                let reason = DeadLetterReason {
                    code: "unrecognised_message".into(),
                    text: why,
                };
                let outcome = self
                    .give_up(body, None, (None, None), &reason, now, &mut metrics)
                    .await;
                tracing::warn!(message_id, outcome = ?outcome, reason = %reason.text, "recovery message not understood");
                return (outcome, metrics);
            }
        };
        let ids = SafeIds::of(event.get("detail").unwrap_or(&Value::Null));
        let ids = (ids.uuid, ids.event_type);
        let original = event.to_string();
        match self.ingest_counted(event, now, &mut metrics).await {
            Ok(_) => {
                metrics.count(counters::RECOVERED, 1);
                (Recovery::Done, metrics)
            }
            Err(e) if !e.retryable() || attempt >= BACKOFF.attempts => {
                let reason = if e.retryable() {
                    DeadLetterReason {
                        code: "retries_exhausted".into(),
                        text: format!("still failing after {attempt} attempts: {e}"),
                    }
                } else {
                    DeadLetterReason {
                        code: e.error_type().to_owned(),
                        text: e.to_string(),
                    }
                };
                let outcome = self
                    .give_up(
                        &original,
                        Some(format),
                        (ids.0.as_deref(), ids.1.as_deref()),
                        &reason,
                        now,
                        &mut metrics,
                    )
                    .await;
                (outcome, metrics)
            }
            Err(e) => {
                let delay = BACKOFF.delay(attempt);
                let deferred = match (&self.queues, message.receipt_handle.as_deref()) {
                    (Some(q), Some(receipt)) => q.defer(receipt, delay).await,
                    _ => Err("no recovery queue to defer on".into()),
                };
                tracing::warn!(
                    message_id,
                    uuid = ids.0.as_deref(),
                    attempt,
                    retry_in_s = delay.as_secs(),
                    deferred = deferred.is_ok(),
                    error = %e,
                    "recovery attempt failed; retrying later"
                );
                (Recovery::Retry, metrics)
            }
        }
    }

    /// Sends an event to the final queue; if that fails, the message is retried.
    async fn give_up(
        &self,
        body: &str,
        format: Option<Format>,
        ids: (Option<&str>, Option<&str>),
        reason: &DeadLetterReason,
        now: Millis,
        metrics: &mut Metrics,
    ) -> Recovery {
        let Some(queues) = &self.queues else {
            return Recovery::Retry;
        };
        match queues.dead_letter(body, format, ids, reason, now).await {
            Ok(()) => {
                metrics.count(counters::DEAD_LETTERED, 1);
                tracing::warn!(
                    uuid = ids.0,
                    outcome = "dead_lettered",
                    reason = %reason.code,
                    "event sent to the final dead-letter queue"
                );
                Recovery::Done
            }
            Err(why) => {
                tracing::error!(uuid = ids.0, error = %why, "could not reach the final dead-letter queue; retrying later");
                Recovery::Retry
            }
        }
    }

    pub fn ingestor(&self) -> &Ingestor<S> {
        &self.ingestor
    }

    /// Ingests one EventBridge event that arrived at `now`.
    pub async fn handle(
        &self,
        event: LambdaEvent<Value>,
        now: Millis,
    ) -> Result<IngestResponse, HandlerError> {
        self.handle_payload(event.payload, now).await
    }

    /// Ingests one EventBridge event, then runs the fast path on it.
    pub async fn handle_payload(
        &self,
        payload: Value,
        now: Millis,
    ) -> Result<IngestResponse, HandlerError> {
        let mut metrics = Metrics::for_function("ingest");
        self.handle_fast(payload, now, &mut metrics).await
    }

    /// Stores one event and, when it matches a fast-path detection,
    /// publishes what pages alone.
    async fn handle_fast(
        &self,
        payload: Value,
        now: Millis,
        metrics: &mut Metrics,
    ) -> Result<IngestResponse, HandlerError> {
        let started = std::time::Instant::now();
        let (mut response, stored) = self.handle_stored(payload, now).await?;
        if let Some(fast) = &self.fast {
            let claimer = format!("ingest:{}", response.uuid);
            response.fast_path =
                fast_path::run(fast, &stored, now, &claimer, started, metrics).await;
        }
        Ok(response)
    }

    /// Ingests one EventBridge event; the response and the records stored.
    async fn handle_stored(
        &self,
        payload: Value,
        now: Millis,
    ) -> Result<(IngestResponse, Vec<ActivityRecord>), HandlerError> {
        let envelope = match parse_envelope(payload) {
            Ok(e) => e,
            Err(error) => {
                tracing::warn!(outcome = "rejected", reason = "not_eventbridge", "{error}");
                return Err(error);
            }
        };
        let ids = SafeIds::of(&envelope.detail);
        let eb_id = envelope.id.as_deref().and_then(|t| safe_token(t, 64));
        let result = self
            .ingestor
            .ingest_envelope(
                Some(&envelope.source),
                Some(&envelope.detail_type),
                envelope.detail,
                now,
            )
            .await;
        match result {
            Ok(ingested) => {
                let response = IngestResponse::from(&ingested);
                tracing::info!(
                    uuid = %response.uuid,
                    eventType = %response.event_type,
                    outcome = response.outcome,
                    records = response.records,
                    late = response.late,
                    eventbridge_id = eb_id,
                    "event ingested"
                );
                Ok((response, ingested.stored))
            }
            Err(IngestError::Rejected(r)) => {
                tracing::warn!(
                    uuid = ids.uuid.as_deref(),
                    eventType = ids.event_type.as_deref(),
                    outcome = "rejected",
                    reason = r.code(),
                    source = safe_token(&envelope.source, 128),
                    detail_type = safe_token(&envelope.detail_type, 128),
                    eventbridge_id = eb_id,
                    "event rejected"
                );
                Err(HandlerError::Rejected(r))
            }
            Err(IngestError::Store(e)) => {
                tracing::error!(
                    uuid = ids.uuid.as_deref(),
                    eventType = ids.event_type.as_deref(),
                    outcome = "failed",
                    retryable = e.retryable(),
                    error = %e,
                    eventbridge_id = eb_id,
                    "event not stored"
                );
                Err(HandlerError::Store(e))
            }
        }
    }
}

/// What became of one recovery message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// Stored, already stored, or handed to the final queue: delete it.
    Done,
    /// Report it as a batch item failure; it comes back after its backoff.
    Retry,
}

/// An SQS event source mapping's batch: `Records` from `aws:sqs`.
fn is_sqs_batch(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// Reads the EventBridge envelope, saying which field is wrong without quoting
/// any value.
pub(super) fn parse_envelope(payload: Value) -> Result<EventBridgeEvent<Value>, HandlerError> {
    let invalid =
        |why: String| HandlerError::InvalidEvent(format!("not an EventBridge event: {why}"));
    let Some(fields) = payload.as_object() else {
        return Err(invalid(format!(
            "expected a JSON object, got {}",
            json_type(&payload)
        )));
    };
    for (name, must_be_text) in [("source", true), ("detail-type", true), ("detail", false)] {
        match fields.get(name) {
            None => return Err(invalid(format!("missing field {name}"))),
            Some(v) if must_be_text && !v.is_string() => {
                return Err(invalid(format!(
                    "field {name} is {}, not a string",
                    json_type(v)
                )))
            }
            Some(_) => {}
        }
    }
    let bad_optional = ["version", "id", "account", "region", "time", "resources"]
        .into_iter()
        .find(|f| match fields.get(*f) {
            None | Some(Value::Null) | Some(Value::String(_)) if *f != "resources" => false,
            Some(Value::Array(items)) if *f == "resources" => !items.iter().all(Value::is_string),
            None | Some(Value::Null) => false,
            Some(_) => true,
        });
    if let Some(field) = bad_optional {
        return Err(invalid(format!("field {field} has the wrong type")));
    }
    // What is left to fail is the content of `time`.
    serde_json::from_value(payload)
        .map_err(|_| invalid("field time is not an RFC 3339 timestamp".into()))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
