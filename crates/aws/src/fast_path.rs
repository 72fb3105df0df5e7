//! The ingest function's fast path ([`okta_itdr_core::detect::fast`]) on
//! DynamoDB and SNS: what pages alone from one event is published as soon as
//! the event is stored.
//!
//! Never at the cost of the event: the fast path runs after the event is
//! stored, and nothing it does fails the invocation. A store error, a slow
//! or failing SNS, or an invocation already slow leaves the finding to the
//! hourly run, which delivers it (a failed publish is pending and due at once).
//! Its calls have their own short timeouts ([`Function::FastPath`]) and the
//! whole is cut off after [`FAST_PATH_CAP`], so a slow SNS or DynamoDB cannot
//! hold an ingest invocation past its 30 s.

use std::time::{Duration, Instant};

use okta_itdr_core::detect::fast::{FastPath, FastReport};
use okta_itdr_core::record::ActivityRecord;
use okta_itdr_core::time::Millis;

use crate::config::DetectSettings;
use crate::metrics::Metrics;
use crate::sdk::Function;
use crate::sns::SnsAlertSink;
use crate::state::DynamoStateStore;

/// EMF counters of the fast path, on the ingest function's line.
pub mod counters {
    /// Alerts published by the fast path.
    pub const PUBLISHED: &str = "FastPathPublished";
    /// Fast-path findings left to the hourly run: a publish or state call
    /// failed, or the invocation was already slow. Nothing is lost; the alert
    /// comes at the next hourly run instead of in seconds.
    pub const DEFERRED: &str = "FastPathDeferred";
}

/// An invocation whose store step took longer than this leaves its findings to
/// the hourly run: the fast path must fit in what remains of ingest's 30 s.
pub const SKIP_AFTER: Duration = Duration::from_secs(10);

/// The fast path is cut off after this. A slow service fails its first call
/// within one call's budget (4 s) and ends the fast path; only calls each just
/// under their timeout could add up further. Cut off between claiming a
/// delivery and confirming it, the finding is quarantined after its lease
/// (`FindingsQuarantinedAlarm`): the publish may or may not have happened.
pub const FAST_PATH_CAP: Duration = Duration::from_secs(15);

pub type LambdaFastPath = FastPath<DynamoStateStore, SnsAlertSink>;

/// The fast path of a deployment whose ingest function names the state table
/// and alerts topic, with the fast path's own timeouts.
pub fn build(settings: &DetectSettings, sdk: &aws_config::SdkConfig) -> LambdaFastPath {
    let f = Function::FastPath;
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(f.timeout_config())
        .retry_config(f.retry_config())
        .build();
    let sns = aws_sdk_sns::config::Builder::from(sdk)
        .timeout_config(f.timeout_config())
        .retry_config(f.retry_config())
        .build();
    let state = DynamoStateStore::new(
        aws_sdk_dynamodb::Client::from_conf(dynamodb),
        settings.state_table.clone(),
        settings.detect.baseline_days,
        settings.retention_days,
    );
    let sink = SnsAlertSink::new(
        aws_sdk_sns::Client::from_conf(sns),
        settings.alert_topic_arn.clone(),
    );
    FastPath::new(state, sink, settings.detect.clone())
}

/// Runs the fast path on one stored event's records. `started` is when the
/// invocation began; `claimer` names it in delivery claims.
pub async fn run<S, K>(
    fast: &FastPath<S, K>,
    records: &[ActivityRecord],
    now: Millis,
    claimer: &str,
    started: Instant,
    metrics: &mut Metrics,
) -> Option<FastReport>
where
    S: okta_itdr_core::ports::StateStore,
    K: okta_itdr_core::ports::AlertSink,
{
    let found = fast.candidates(records);
    let candidates = found.len();
    if candidates == 0 {
        return None;
    }
    if started.elapsed() > SKIP_AFTER {
        metrics.count(counters::DEFERRED, candidates as u64);
        tracing::warn!(
            outcome = "deferred",
            findings = candidates,
            "invocation already slow: fast-path findings left to the hourly run"
        );
        return None;
    }
    let outcome =
        tokio::time::timeout(FAST_PATH_CAP, fast.publish(found, records, now, claimer)).await;
    match outcome.unwrap_or_else(|_| {
        Err(okta_itdr_core::ports::StoreError::new(
            "FastPath",
            format!("cut off after {} s", FAST_PATH_CAP.as_secs()),
            true,
        ))
    }) {
        Ok(report) => {
            metrics.count(counters::PUBLISHED, report.published as u64);
            if report.failed > 0 {
                metrics.count(counters::DEFERRED, report.failed as u64);
            }
            tracing::info!(
                outcome = if report.failed > 0 { "deferred" } else { "completed" },
                matched = report.matched,
                published = report.published,
                already_known = report.already_known,
                suppressed = report.suppressed,
                failed = report.failed,
                left_to_hourly = report.left_to_hourly,
                uids = %report.uids.join(","),
                "fast path"
            );
            Some(report)
        }
        Err(e) => {
            metrics.count(counters::DEFERRED, candidates as u64);
            tracing::warn!(outcome = "deferred", error = %e, "fast path failed: its findings are left to the hourly run");
            None
        }
    }
}
