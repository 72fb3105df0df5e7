//! The detect function: one hourly run of the detector.

use lambda_runtime::LambdaEvent;
use okta_itdr_core::detect::run::{Budget, Detector, RunContext, RunReport};
use okta_itdr_core::ports::{ActivityStore, AlertSink, StateStore};
use okta_itdr_core::time::{parse_rfc3339_ms, Millis};
use serde_json::Value;

use super::{safe_token, HandlerError};
use crate::activity::DynamoActivityStore;
use crate::config::DetectSettings;
use crate::enrich::IdentityEnricher;
use crate::metrics::{Metrics, Unit};
use crate::sns::SnsAlertSink;
use crate::state::DynamoStateStore;

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
        // Each paging alert carries its principal's stored identity (see
        // crate::enrich) when an inventory is stored.
        let enricher = IdentityEnricher {
            identities: state.clone(),
            activity: activity.clone(),
            clock: crate::clock::wall_clock,
        };
        let sink = SnsAlertSink::new(sns, settings.alert_topic_arn.clone());
        DetectHandler::new(
            Detector::new(activity, state, sink, settings.detect.clone())
                .with_enricher(std::sync::Arc::new(enricher)),
        )
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
                .count("FindingsGrouped", count(r.grouped))
                .count("FindingsRiskOnly", count(r.risk_only))
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
}
