//! The Lambda handlers, one module per function (`ingest`, `detect`, `inventory`; the
//! poll function's is [`crate::poll`]). Each takes its clock as a parameter, so tests can run
//! them at any time; the binaries pass the wall clock.
//!
//! Logging rule: one line per event or run, with identifiers and outcomes only.
//! Never an actor's login, typed username or any other event content: for
//! unknown users that text is often a password.

mod detect;
mod ingest;
pub mod inventory;

pub use detect::{budget_for, detect_metrics, run_clock, DetectHandler, LambdaDetector};
pub use ingest::{counters, IngestHandler, IngestResponse};

use lambda_runtime::Diagnostic;
use okta_itdr_core::detect::run::RunError;
use okta_itdr_core::ingest::{IngestError, Rejection};
use okta_itdr_core::ports::StoreError;
use serde_json::Value;

/// A failed scheduled run (poll, inventory), as Lambda reports it: its error
/// type and a message that never holds a credential.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunFailure {
    pub error_type: &'static str,
    pub message: String,
}

impl From<RunFailure> for Diagnostic {
    fn from(e: RunFailure) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type.to_owned(),
            error_message: e.message,
        }
    }
}

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
pub(crate) fn safe_token(text: &str, max: usize) -> Option<&str> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':' | ' '));
    ok.then_some(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ingest::parse_envelope;
    use super::*;

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
