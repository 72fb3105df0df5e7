//! What the DynamoDB and SNS adapters share: turning SDK failures into port
//! errors, reading attribute values, and backing off between retries.
//!
//! Error text is built from the service's error code and message and the HTTP
//! status, never from request or item contents: records can hold sensitive data.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use okta_itdr_core::backoff::Backoff;
use okta_itdr_core::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

/// Which function a client serves: each has its own time budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Lambda timeout 30 s; one event (or a recovery batch, stored concurrently).
    Ingest,
    /// Lambda timeout 900 s; many paginated queries per hour analysed.
    Detect,
    /// Lambda timeout 240 s; no page starts with less than 100 s left, so a
    /// page's writes and its cursor save fit in what remains.
    Poll,
    /// Lambda timeout 900 s; a daily read of the Okta Management API within
    /// its rate share, then the identity items and a few findings.
    Inventory,
    /// The operator's CLI (`okta-itdr dlq`).
    Cli,
    /// The ingest function's fast path: after the event is stored, within
    /// what is left of ingest's 30 s; a call that cannot finish quickly
    /// leaves the alert to the hourly run.
    FastPath,
}

/// The SDK's time and retry limits for one function's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    pub connect: Duration,
    /// One HTTP attempt, including reading the response.
    pub attempt: Duration,
    /// The whole call, every retry and backoff included.
    pub operation: Duration,
    /// Attempts per call (the first included), standard retry mode.
    pub max_attempts: u32,
}

impl Function {
    /// Without explicit limits a hung call runs until the Lambda timeout kills the
    /// invocation. These keep every call well inside its function's timeout:
    /// ingest's worst case (the late marker, then the records concurrently) is two
    /// operations, 20 s, inside 30 s, and fails as a retryable error rather than
    /// a timeout, so the event goes on to the recovery queue. A DynamoDB item
    /// write answers in milliseconds; a 1 MB query page in well under a second.
    pub fn budget(self) -> CallBudget {
        match self {
            Function::Ingest => CallBudget {
                connect: Duration::from_secs(1),
                attempt: Duration::from_secs(3),
                operation: Duration::from_secs(10),
                max_attempts: 3,
            },
            Function::Detect => CallBudget {
                connect: Duration::from_secs(2),
                attempt: Duration::from_secs(10),
                operation: Duration::from_secs(40),
                max_attempts: 5,
            },
            Function::Poll | Function::Inventory => CallBudget {
                connect: Duration::from_secs(2),
                attempt: Duration::from_secs(5),
                operation: Duration::from_secs(20),
                max_attempts: 3,
            },
            Function::FastPath => CallBudget {
                connect: Duration::from_secs(1),
                attempt: Duration::from_secs(2),
                operation: Duration::from_secs(4),
                max_attempts: 2,
            },
            Function::Cli => CallBudget {
                connect: Duration::from_secs(3),
                attempt: Duration::from_secs(20),
                operation: Duration::from_secs(60),
                max_attempts: 3,
            },
        }
    }

    pub fn timeout_config(self) -> aws_config::timeout::TimeoutConfig {
        let b = self.budget();
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(b.connect)
            .operation_attempt_timeout(b.attempt)
            .operation_timeout(b.operation)
            .build()
    }

    pub fn retry_config(self) -> aws_config::retry::RetryConfig {
        aws_config::retry::RetryConfig::standard().with_max_attempts(self.budget().max_attempts)
    }

    /// The SDK configuration of this function: the default credential and region
    /// chain, with this function's timeouts and retries.
    pub async fn sdk_config(self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
            .load()
            .await
    }
}

/// Service error codes worth retrying: the same call may succeed later.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "KMSThrottlingException",
];

/// A classified SDK failure: text safe to log, and whether a retry may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retryable: bool,
}

/// Classifies any smithy SDK error (DynamoDB, SNS…).
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("Unknown");
            let text = ctx.err().message().unwrap_or("no message");
            Failure {
                message: format!("{code} (HTTP {status}): {text}"),
                retryable: status >= 500 || status == 429 || RETRYABLE_CODES.contains(&code),
            }
        }
        SdkError::TimeoutError(_) => Failure {
            message: "request timed out".into(),
            retryable: true,
        },
        SdkError::DispatchFailure(d) => Failure {
            message: format!("request could not be sent: {}", DisplayErrorContext(err))
                .replace('\n', " "),
            retryable: d.is_io() || d.is_timeout() || d.is_other(),
        },
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            Failure {
                message: format!("unreadable response (HTTP {status})"),
                retryable: status >= 500 || status == 429 || status < 300,
            }
        }
        SdkError::ConstructionFailure(_) => Failure {
            message: format!("request could not be built: {}", DisplayErrorContext(err)),
            retryable: false,
        },
        _ => Failure {
            message: format!("{}", DisplayErrorContext(err)),
            retryable: false,
        },
    }
}

/// An SDK error as a [`StoreError`] of `operation`.
pub fn store_error<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let f = classify(err);
    StoreError::new(operation, f.message, f.retryable)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|t| t.parse().ok())
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// How often a batch call's unprocessed part is resent before giving up.
pub(crate) const BATCH_ATTEMPTS: u32 = 8;

/// The wait before resending a batch call's unprocessed part: 100 ms doubling
/// to 3 s, with jitter.
const BATCH_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(3));

/// Sleeps [`BATCH_BACKOFF`] before retry `attempt` (1-based).
pub(crate) async fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    tokio::time::sleep(BATCH_BACKOFF.jittered(attempt, u64::from(nanos))).await;
}

/// [`json_problem`] for other crates' messages.
pub fn json_problem_text(e: &serde_json::Error) -> String {
    json_problem(e)
}

/// Why a stored JSON document could not be read, without echoing its content
/// (serde's messages quote the offending value).
pub(crate) fn json_problem(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// A store error that names the table it concerns.
pub fn table_error(
    table: &str,
    operation: &'static str,
    message: impl std::fmt::Display,
    retryable: bool,
) -> StoreError {
    StoreError::new(operation, format!("table {table}: {message}"), retryable)
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn every_call_fits_its_function_timeout() {
        // Lambda timeouts in template.yaml: ingest 30 s, detect 900 s, poll 240 s,
        // inventory 900 s.
        for (f, lambda_timeout) in [
            (Function::Ingest, 30),
            (Function::Detect, 900),
            (Function::Poll, 240),
            (Function::Inventory, 900),
        ] {
            let b = f.budget();
            assert!(
                b.attempt * b.max_attempts <= b.operation + b.attempt,
                "{f:?}"
            );
            assert!(
                b.operation * 2 < Duration::from_secs(lambda_timeout),
                "{f:?}"
            );
            let t = f.timeout_config();
            assert_eq!(t.operation_timeout(), Some(b.operation));
            assert_eq!(t.operation_attempt_timeout(), Some(b.attempt));
            assert_eq!(t.connect_timeout(), Some(b.connect));
            assert_eq!(f.retry_config().max_attempts(), b.max_attempts);
        }
        // The fast path runs after the event is stored (at most SKIP_AFTER
        // into the invocation) and is cut off after FAST_PATH_CAP: both within
        // ingest's 30 s, with a call's whole budget to spare.
        let fast = Function::FastPath.budget();
        assert!(fast.attempt * fast.max_attempts <= fast.operation + fast.attempt);
        assert!(
            crate::fast_path::SKIP_AFTER + crate::fast_path::FAST_PATH_CAP + fast.operation
                <= Duration::from_secs(30)
        );
    }
}
