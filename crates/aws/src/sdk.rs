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
use okta_itdr_core::ports::StoreError;

pub(crate) type Item = HashMap<String, AttributeValue>;

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

/// Exponential backoff with jitter before retry `attempt` (1-based): 50 ms
/// doubling, capped at 3 s.
pub(crate) async fn backoff(attempt: u32) {
    let base = 50u64.saturating_mul(1 << attempt.min(6)).min(3_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from(nanos) % (base / 2 + 1);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
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
