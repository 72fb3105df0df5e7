//! Recovery: events the ingest function could not store come back through the
//! recovery queue and are stored by the same [`Ingestor`](okta_itdr_core::ingest::Ingestor).
//!
//! Two producers feed the queue, each in its own format:
//! - the ingest function's on-failure destination, after Lambda's own two
//!   retries: an invocation record whose `requestPayload` is the EventBridge event;
//! - the EventBridge rule's dead-letter queue, for events the rule could not
//!   deliver to the function at all: the EventBridge event itself.
//!
//! A message that fails for a reason that may pass (throttling, an outage) is
//! made invisible for an exponentially growing delay ([`Backoff`]), for about
//! four days in all, then goes to the final dead-letter queue with its reason.
//! A message that can never be stored (not an Okta event, malformed) goes there
//! at once. The queue's redrive policy is only a backstop for crashes.

use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::Value;

use okta_itdr_core::backoff::Backoff;
use okta_itdr_core::time::{format_rfc3339_ms, Millis};

/// The two formats a recovery message comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Lambda asynchronous invocation record (on-failure destination).
    LambdaDestination,
    /// A raw EventBridge event (the rule's dead-letter queue, or a redrive).
    EventBridge,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::LambdaDestination => "lambda-destination",
            Format::EventBridge => "eventbridge",
        }
    }
}

/// The EventBridge event a recovery message carries, or why there is none. The
/// reason never quotes the body.
pub fn unwrap_message(body: &str) -> Result<(Format, Value), String> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        format!(
            "message body is not JSON ({})",
            crate::sdk::json_problem_text(&e)
        )
    })?;
    let Some(fields) = value.as_object() else {
        return Err("message body is not a JSON object".into());
    };
    if fields.contains_key("requestContext") || fields.contains_key("requestPayload") {
        return match fields.get("requestPayload") {
            Some(Value::Object(_)) => {
                let Value::Object(mut fields) = value else {
                    unreachable!("checked to be an object above")
                };
                let payload = fields.remove("requestPayload").unwrap_or(Value::Null);
                Ok((Format::LambdaDestination, payload))
            }
            // Lambda leaves the payload out of a record over 256 KB.
            _ => Err("Lambda invocation record without a requestPayload object".into()),
        };
    }
    if fields.contains_key("detail-type") && fields.contains_key("detail") {
        return Ok((Format::EventBridge, value));
    }
    Err("neither a Lambda invocation record nor an EventBridge event".into())
}

/// How long a failing message waits before its next attempt, and how many it
/// gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// The waits (SQS allows at most 12 hours of invisibility).
    pub backoff: Backoff,
    /// Attempts before the message goes to the final dead-letter queue.
    pub attempts: u32,
}

/// 1 minute doubling to 12 hours, 18 attempts: the last attempt comes 4.2 days
/// after the first. The recovery queue keeps messages 5 days, so a message is
/// always given up into the final queue before it could expire.
pub const BACKOFF: Recovery = Recovery {
    backoff: Backoff::new(Duration::from_secs(60), Duration::from_secs(12 * 3600)),
    attempts: 18,
};

impl Recovery {
    /// The wait after failed attempt `attempt` (1-based, SQS's receive count).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.backoff.delay(attempt)
    }

    /// From the first attempt to the last.
    pub fn window(&self) -> Duration {
        self.backoff.window(self.attempts)
    }
}

/// Why an event went to the final dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterReason {
    /// A short code: the handler's error type, `unrecognised_message` or
    /// `retries_exhausted`.
    pub code: String,
    /// Text safe to show: it never quotes event content.
    pub text: String,
}

/// Message attribute names on the final dead-letter queue.
pub const ATTR_REASON: &str = "reason";
pub const ATTR_REASON_CODE: &str = "reason_code";
pub const ATTR_FORMAT: &str = "format";
pub const ATTR_FAILED_AT: &str = "failed_at";
pub const ATTR_UUID: &str = "uuid";
pub const ATTR_EVENT_TYPE: &str = "event_type";

/// The SQS side of recovery: deferring a message on the recovery queue and
/// handing an event to the final dead-letter queue.
#[derive(Debug, Clone)]
pub struct Queues {
    client: aws_sdk_sqs::Client,
    recovery_url: Option<String>,
    final_url: String,
}

impl Queues {
    pub fn new(
        client: aws_sdk_sqs::Client,
        recovery_url: Option<String>,
        final_url: impl Into<String>,
    ) -> Self {
        Queues {
            client,
            recovery_url,
            final_url: final_url.into(),
        }
    }

    pub fn final_url(&self) -> &str {
        &self.final_url
    }

    /// Sends `body` to the final dead-letter queue with its reason.
    pub async fn dead_letter(
        &self,
        body: &str,
        format: Option<Format>,
        ids: (Option<&str>, Option<&str>),
        reason: &DeadLetterReason,
        now: Millis,
    ) -> Result<(), String> {
        let text = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| e.to_string())
        };
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.final_url)
            .message_body(body)
            .message_attributes(ATTR_REASON, text(&reason.text)?)
            .message_attributes(ATTR_REASON_CODE, text(&reason.code)?)
            .message_attributes(ATTR_FAILED_AT, text(&format_rfc3339_ms(now))?);
        if let Some(f) = format {
            send = send.message_attributes(ATTR_FORMAT, text(f.as_str())?);
        }
        if let Some(uuid) = ids.0 {
            send = send.message_attributes(ATTR_UUID, text(uuid)?);
        }
        if let Some(t) = ids.1 {
            send = send.message_attributes(ATTR_EVENT_TYPE, text(t)?);
        }
        send.send()
            .await
            .map(|_| ())
            .map_err(|e| format!("SendMessage: {}", crate::sdk::classify(&e).message))
    }

    /// Makes a recovery message invisible for `delay` before its next attempt.
    pub async fn defer(&self, receipt_handle: &str, delay: Duration) -> Result<(), String> {
        let Some(url) = &self.recovery_url else {
            return Err("no recovery queue configured".into());
        };
        let seconds = i32::try_from(delay.as_secs()).unwrap_or(i32::MAX);
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "ChangeMessageVisibility: {}",
                    crate::sdk::classify(&e).message
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn backoff_covers_four_days_within_the_queue_retention() {
        assert_eq!(BACKOFF.delay(1), Duration::from_secs(60));
        assert_eq!(BACKOFF.delay(2), Duration::from_secs(120));
        assert_eq!(BACKOFF.delay(11), Duration::from_secs(12 * 3600));
        assert_eq!(BACKOFF.delay(40), Duration::from_secs(12 * 3600));
        let window = BACKOFF.window();
        assert!(window >= Duration::from_secs(4 * 86_400), "{window:?}");
        // RecoveryQueue's MessageRetentionPeriod in template.yaml: 5 days.
        assert!(window < Duration::from_secs(5 * 86_400), "{window:?}");
    }

    #[test]
    fn both_formats_unwrap_to_the_event() {
        let event = json!({"version": "0", "id": "1", "source": "aws.partner/okta.com/a/b",
            "detail-type": "SystemLog", "detail": {"uuid": "u"}});
        let record = json!({
            "version": "1.0", "timestamp": "2026-11-10T10:00:00.000Z",
            "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:1:function:ingest:$LATEST",
                "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event.clone(),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "StoreError", "errorMessage": "PutItem: throttled"}
        });
        assert_eq!(
            unwrap_message(&record.to_string()).unwrap(),
            (Format::LambdaDestination, event.clone())
        );
        assert_eq!(
            unwrap_message(&event.to_string()).unwrap(),
            (Format::EventBridge, event)
        );
        for bad in [
            "hunter2secret",
            "[1]",
            r#"{"a": "hunter2secret"}"#,
            r#"{"requestContext": {}}"#,
        ] {
            let reason = unwrap_message(bad).unwrap_err();
            assert!(!reason.contains("hunter2"), "{reason}");
        }
    }
}
