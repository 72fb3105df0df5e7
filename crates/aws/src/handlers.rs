//! The Lambda handlers. Each takes its clock as a parameter, so tests can run
//! them at any time; the binaries pass the wall clock.
//!
//! Logging rule: one line per event or run, with identifiers and outcomes only.
//! Never an actor's login, typed username or any other event content: for
//! unknown users that text is often a password.

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use okta_itdr_core::detect::run::{Budget, Detector, RunContext, RunError, RunReport};
use okta_itdr_core::ingest::{
    IngestError, IngestSettings as CoreIngestSettings, Ingested, Ingestor, Rejection,
};
use okta_itdr_core::ports::{ActivityStore, AlertSink, PutOutcome, StateStore, StoreError};
use okta_itdr_core::sigma::RuleSet;
use okta_itdr_core::time::{parse_rfc3339_ms, Millis};
use serde::Serialize;
use serde_json::Value;

use crate::activity::DynamoActivityStore;
use crate::config::{ConfigError, DetectSettings, IngestSettings};
use crate::metrics::{Metrics, Unit};
use crate::recovery::{unwrap_message, DeadLetterReason, Format, Queues, BACKOFF};
use crate::sns::SnsAlertSink;
use crate::state::DynamoStateStore;

/// Why an invocation failed. Failing makes Lambda retry the event and, for
/// ingest, finally send it to the dead-letter queue.
///
/// The text (and the `Debug` form, which the Lambda runtime logs) never quotes
/// event content: serde's messages quote offending values, so quoted text in a
/// rejection is redacted.
#[derive(thiserror::Error)]
pub enum HandlerError {
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("event rejected: {}", rejection_text(.0))]
    Rejected(Rejection),
    #[error("{0}")]
    Store(StoreError),
    #[error("{0}")]
    Run(#[from] RunError),
}

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {self}", self.error_type())
    }
}

impl HandlerError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::InvalidEvent(_) => "InvalidEvent",
            HandlerError::Rejected(_) => "Rejected",
            HandlerError::Store(_) | HandlerError::Run(RunError::Store(_)) => "StoreError",
        }
    }

    /// Whether the same invocation may succeed later.
    pub fn retryable(&self) -> bool {
        match self {
            HandlerError::InvalidEvent(_) | HandlerError::Rejected(_) => false,
            HandlerError::Store(e) | HandlerError::Run(RunError::Store(e)) => e.retryable(),
        }
    }
}

impl From<IngestError> for HandlerError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Rejected(r) => HandlerError::Rejected(r),
            IngestError::Store(s) => HandlerError::Store(s),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

pub use crate::clock::wall_clock;

// ------------------------------------------------------------------ ingest

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
        }
    }
}

pub struct IngestHandler<S> {
    ingestor: Ingestor<S>,
    /// The recovery and final dead-letter queues, when deployed with them.
    queues: Option<Queues>,
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
        let handler = Self::from_settings(settings, aws_sdk_dynamodb::Client::new(sdk))?;
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
        }
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
        let result = self.handle_payload(payload, now).await;
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

    pub async fn handle_payload(
        &self,
        payload: Value,
        now: Millis,
    ) -> Result<IngestResponse, HandlerError> {
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
                Ok(response)
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
fn parse_envelope(payload: Value) -> Result<EventBridgeEvent<Value>, HandlerError> {
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

/// A rejection as text. The routing fields (source, detail-type) are shown;
/// a `detail` that does not parse is described without its quoted values.
fn rejection_text(r: &Rejection) -> String {
    match r {
        Rejection::NotLogEvent(_) => redact_quoted(&r.to_string()),
        _ => r.to_string(),
    }
}

/// Replaces every double-quoted span with `"…"`.
pub fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    let mut escaped = false;
    for c in text.chars() {
        if inside {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => {
                    out.push_str("…\"");
                    inside = false;
                }
                _ => escaped = false,
            }
        } else {
            out.push(c);
            if c == '"' {
                inside = true;
            }
        }
    }
    if inside {
        out.push_str("…\"");
    }
    out
}

/// Identifiers of an event for logs, only when they look like identifiers.
pub(crate) struct SafeIds {
    pub(crate) uuid: Option<String>,
    pub(crate) event_type: Option<String>,
}

impl SafeIds {
    pub(crate) fn of(detail: &Value) -> Self {
        let field = |name: &str| {
            let text = detail.get(name).and_then(Value::as_str)?;
            safe_token(text, 64).map(str::to_owned)
        };
        SafeIds {
            uuid: field("uuid"),
            event_type: field("eventType"),
        }
    }
}

/// `text` if it is a short token of letters, digits, spaces and `.-_/:`.
fn safe_token(text: &str, max: usize) -> Option<&str> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':' | ' '));
    ok.then_some(text)
}

// ------------------------------------------------------------------ detect

pub struct DetectHandler<A, S, K> {
    detector: Detector<A, S, K>,
}

pub type LambdaDetector = DetectHandler<DynamoActivityStore, DynamoStateStore, SnsAlertSink>;

impl DetectHandler<DynamoActivityStore, DynamoStateStore, SnsAlertSink> {
    pub fn from_settings(
        settings: &DetectSettings,
        dynamodb: aws_sdk_dynamodb::Client,
        sns: aws_sdk_sns::Client,
    ) -> Self {
        let activity = DynamoActivityStore::new(
            dynamodb.clone(),
            settings.activity_table.clone(),
            settings.hour_shards,
        );
        let state = DynamoStateStore::new(
            dynamodb,
            settings.state_table.clone(),
            settings.detect.baseline_days,
            settings.retention_days,
        );
        let sink = SnsAlertSink::new(sns, settings.alert_topic_arn.clone());
        DetectHandler::new(Detector::new(
            activity,
            state,
            sink,
            settings.detect.clone(),
        ))
    }

    pub fn from_sdk_config(settings: &DetectSettings, sdk: &aws_config::SdkConfig) -> Self {
        Self::from_settings(
            settings,
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_sns::Client::new(sdk),
        )
    }
}

impl<A: ActivityStore, S: StateStore, K: AlertSink> DetectHandler<A, S, K> {
    pub fn new(detector: Detector<A, S, K>) -> Self {
        DetectHandler { detector }
    }

    pub fn detector(&self) -> &Detector<A, S, K> {
        &self.detector
    }

    /// One detector run. The clock is the scheduled event's `time`, so a
    /// delayed or retried invocation analyses what its schedule meant; without
    /// one (a manual invocation), `wall_clock`. The invocation's deadline
    /// bounds how many hours the run starts; its request id names the run's
    /// delivery claims. Prints the run's metrics (EMF) whatever the outcome.
    pub async fn handle(
        &self,
        event: LambdaEvent<Value>,
        wall_clock: Millis,
    ) -> Result<RunReport, HandlerError> {
        let ctx = RunContext {
            id: event.context.request_id.clone(),
            budget: budget_for(event.context.deadline, wall_clock),
        };
        let started = std::time::Instant::now();
        let result = self.handle_run(&event.payload, wall_clock, &ctx).await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        detect_metrics(&result, elapsed.round()).emit(crate::clock::wall_clock());
        result
    }

    /// A run without a deadline, named after `wall_clock`.
    pub async fn handle_payload(
        &self,
        payload: &Value,
        wall_clock: Millis,
    ) -> Result<RunReport, HandlerError> {
        let ctx = RunContext::unlimited(format!("manual@{wall_clock}"));
        self.handle_run(payload, wall_clock, &ctx).await
    }

    pub async fn handle_run(
        &self,
        payload: &Value,
        wall_clock: Millis,
        ctx: &RunContext,
    ) -> Result<RunReport, HandlerError> {
        let now = run_clock(payload, wall_clock)
            .inspect_err(|e| tracing::error!(outcome = "failed", "{e}"))?;
        match self.detector.run_with(now, ctx).await {
            Ok(report) => {
                for uid in &report.quarantined {
                    tracing::warn!(uid = %uid, "finding quarantined: see the state table for why");
                }
                if !report.late_beyond_horizon.is_empty() {
                    tracing::warn!(
                        hours = %report.late_beyond_horizon.join(","),
                        "events arrived for hours beyond the late horizon and are not analysed: redrive them sooner or raise late_horizon_hours"
                    );
                }
                tracing::info!(
                    outcome = "completed",
                    run = %ctx.id,
                    hours = report.hours.len(),
                    first_hour = report.hours.first().map(String::as_str).unwrap_or(""),
                    last_hour = report.hours.last().map(String::as_str).unwrap_or(""),
                    late_hours = report.late_hours.len(),
                    records = report.records,
                    findings = report.findings,
                    published = report.published,
                    suppressed = report.suppressed,
                    already_known = report.already_known,
                    retried = report.retried,
                    failed = report.failed,
                    pending = report.pending,
                    quarantined = report.quarantined.len(),
                    next_hour = %report.next_hour,
                    lag_hours = report.lag_hours,
                    caught_up = report.caught_up,
                    stopped_early = report.stopped_early,
                    superseded = report.superseded,
                    learned_hours = report.learned.len(),
                    waiting_for_history = report.waiting_for_history,
                    "detection run"
                );
                Ok(report)
            }
            Err(e) => {
                let error = HandlerError::from(e);
                tracing::error!(outcome = "failed", retryable = error.retryable(), error = %error, "detection run failed");
                Err(error)
            }
        }
    }
}

/// Time kept back from the invocation deadline for finishing a run (the last
/// watermark write, the metrics line): a tenth of the time, at most a minute.
const MAX_RESERVE: std::time::Duration = std::time::Duration::from_secs(60);

/// The run's budget from the invocation deadline (epoch milliseconds, as the
/// Runtime API gives it) and the wall clock now. The Runtime API always sends a
/// deadline; 0 (a context built by hand) means none.
pub fn budget_for(deadline_ms: u64, wall_clock: Millis) -> Budget {
    if deadline_ms == 0 {
        return Budget::unlimited();
    }
    let now = u64::try_from(wall_clock).unwrap_or(0);
    let remaining = std::time::Duration::from_millis(deadline_ms.saturating_sub(now));
    let reserve = (remaining / 10).min(MAX_RESERVE);
    Budget::until(std::time::Instant::now() + (remaining - reserve))
}

/// The metrics of one detect run. A successful run reports its progress and
/// findings; a failed one only that it failed (`RunsSucceeded` 0), so an alarm
/// on `RunsSucceeded` tells that detection stopped.
pub fn detect_metrics(result: &Result<RunReport, HandlerError>, duration_ms: f64) -> Metrics {
    let mut m = Metrics::for_function("detect");
    match result {
        Ok(r) => {
            let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
            m.count("RunsSucceeded", 1)
                .count("HoursAnalysed", count(r.hours.len() + r.late_hours.len()))
                .set("WatermarkLagHours", Unit::Count, r.lag_hours as f64)
                .count("RecordsRead", count(r.records))
                .count("FindingsPublished", count(r.published + r.retried))
                .count("FindingsSuppressed", count(r.suppressed))
                .count("FindingsContributed", count(r.contributed))
                .count("FindingsFailed", count(r.failed))
                .count("FindingsPending", count(r.pending))
                .count("FindingsQuarantined", count(r.quarantined.len()))
                .count("LateHoursBeyondHorizon", count(r.late_beyond_horizon.len()));
        }
        Err(_) => {
            // A zero, not nothing: DetectNotSucceedingAlarm then sees two failed
            // hours as two breaching datapoints, rather than waiting for CloudWatch's
            // evaluation range to run out of earlier successes.
            m.count("RunsSucceeded", 0).count("RunsFailed", 1);
        }
    }
    m.set("RunDuration", Unit::Milliseconds, duration_ms);
    m
}

/// The clock of a run: the event's RFC 3339 `time`, else `wall_clock`.
pub fn run_clock(payload: &Value, wall_clock: Millis) -> Result<Millis, HandlerError> {
    match payload.get("time") {
        None | Some(Value::Null) => Ok(wall_clock),
        Some(Value::String(text)) => parse_rfc3339_ms(text).ok_or_else(|| {
            let shown = safe_token(text, 40).unwrap_or("<unprintable>");
            HandlerError::InvalidEvent(format!("time {shown:?} is not an RFC 3339 timestamp"))
        }),
        Some(_) => Err(HandlerError::InvalidEvent("time is not a string".into())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn detect_metrics_count_failures_as_zero_successes_and_hours_beyond_the_horizon() {
        let failed = detect_metrics(&Err(HandlerError::InvalidEvent("x".into())), 3.0);
        assert_eq!(failed.get("RunsSucceeded"), Some(0.0));
        assert_eq!(failed.get("RunsFailed"), Some(1.0));
        let report = RunReport {
            late_beyond_horizon: vec!["2026-11-01T03".into(), "2026-11-01T04".into()],
            ..RunReport::default()
        };
        let ok = detect_metrics(&Ok(report), 3.0);
        assert_eq!(ok.get("RunsSucceeded"), Some(1.0));
        assert_eq!(ok.get("LateHoursBeyondHorizon"), Some(2.0));
        assert_eq!(ok.get("RunsFailed"), None);
    }

    #[test]
    fn run_clock_prefers_the_event_time() {
        assert_eq!(
            run_clock(&json!({"time": "2026-11-10T15:05:00Z"}), 1).unwrap(),
            parse_rfc3339_ms("2026-11-10T15:05:00Z").unwrap()
        );
        assert_eq!(run_clock(&json!({}), 42).unwrap(), 42);
        assert_eq!(run_clock(&json!(null), 42).unwrap(), 42);
        assert!(matches!(
            run_clock(&json!({"time": "yesterday"}), 1),
            Err(HandlerError::InvalidEvent(_))
        ));
        assert!(matches!(
            run_clock(&json!({"time": 5}), 1),
            Err(HandlerError::InvalidEvent(_))
        ));
    }

    #[test]
    fn the_budget_keeps_a_tenth_of_the_time_left_at_most_a_minute() {
        use std::time::Duration;
        let now: Millis = 1_800_000_000_000;
        let deadline = |ms: u64| u64::try_from(now).unwrap() + ms;
        // No deadline (a context built by hand): unbounded.
        assert!(budget_for(0, now).allows(Duration::from_secs(86_400)));
        // 900 s left: stops a minute early.
        let b = budget_for(deadline(900_000), now);
        assert!(b.allows(Duration::from_secs(835)));
        assert!(!b.allows(Duration::from_secs(842)));
        // 2 s left: keeps 0.2 s.
        let b = budget_for(deadline(2_000), now);
        assert!(b.allows(Duration::from_millis(1_700)));
        assert!(!b.allows(Duration::from_millis(1_850)));
        // Past the deadline: no hour starts.
        assert!(!budget_for(deadline(0).saturating_sub(5), now).allows(Duration::ZERO));
    }

    #[test]
    fn safe_tokens() {
        assert_eq!(
            safe_token("aws.partner/okta.com/acme/x", 128),
            Some("aws.partner/okta.com/acme/x")
        );
        assert_eq!(safe_token("Winter2026!Pass", 64), None);
        assert_eq!(safe_token("", 64), None);
    }

    #[test]
    fn envelope_problems_name_the_field_not_the_value() {
        let err = |v: Value| parse_envelope(v).unwrap_err().to_string();
        assert!(err(json!({"source": "x", "detail": {}})).contains("missing field detail-type"));
        assert!(err(json!({"source": "x", "detail-type": "y"})).contains("missing field detail"));
        let e = err(json!({"source": "hunter2secret", "detail-type": 5, "detail": {}}));
        assert!(e.contains("detail-type is a number"), "{e}");
        assert!(err(json!("hunter2secret")).contains("expected a JSON object, got a string"));
        let e =
            err(json!({"source": "x", "detail-type": "y", "detail": {}, "time": "hunter2secret"}));
        assert!(e.contains("time is not an RFC 3339 timestamp"), "{e}");
        let e = err(json!({"source": "x", "detail-type": "y", "detail": {}, "resources": "arn"}));
        assert!(e.contains("resources has the wrong type"), "{e}");
        for v in [
            json!("hunter2secret"),
            json!({"source": "hunter2secret", "detail-type": [], "detail": 1}),
        ] {
            assert!(!err(v).contains("hunter2"));
        }
    }

    #[test]
    fn rejections_do_not_quote_event_content() {
        let malformed =
            okta_itdr_core::event::LogEvent::from_value(json!("Winter2026!Pass")).unwrap_err();
        let e = HandlerError::Rejected(Rejection::NotLogEvent(malformed));
        assert!(!e.to_string().contains("Winter2026"), "{e}");
        assert!(!format!("{e:?}").contains("Winter2026"), "{e:?}");
        assert!(
            format!("{e:?}").starts_with("Rejected: event rejected"),
            "{e:?}"
        );
        let source = HandlerError::Rejected(Rejection::NotOktaSource("aws.ec2".into()));
        assert!(source.to_string().contains("\"aws.ec2\""), "{source}");
        assert_eq!(redact_quoted(r#"a "b\"c" d "e"#), r#"a "…" d "…""#);
    }
}
