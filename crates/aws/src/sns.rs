//! [`AlertSink`] on an SNS topic.
//!
//! The message is the OCSF finding JSON; the subject is the one-line summary
//! (email subscribers see it); `severity`, `detection` and `principal` are
//! message attributes so subscriptions can filter on them.

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use okta_itdr_core::alert::Alert;
use okta_itdr_core::ports::{AlertSink, SinkError};

use crate::sdk::classify;

#[derive(Debug, Clone)]
pub struct SnsAlertSink {
    client: Client,
    topic_arn: String,
}

impl SnsAlertSink {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsAlertSink {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

/// The filterable attributes of an alert. SNS refuses empty attribute values,
/// so an empty one is left out.
pub fn attributes(alert: &Alert) -> Vec<(&'static str, String)> {
    [
        ("severity", alert.severity.upper().to_owned()),
        ("detection", alert.detection.clone()),
        ("principal", alert.principal.clone()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .collect()
}

impl AlertSink for SnsAlertSink {
    async fn publish(&self, alert: &Alert) -> Result<(), SinkError> {
        let failed = |message: String| SinkError {
            uid: alert.uid.clone(),
            message,
        };
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(&alert.body)
            .subject(&alert.subject);
        for (name, value) in attributes(alert) {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| failed(e.to_string()))?;
            publish = publish.message_attributes(name, value);
        }
        let out = publish.send().await.map_err(|e| {
            let f = classify(&e);
            failed(format!("SNS Publish to {}: {}", self.topic_arn, f.message))
        })?;
        tracing::debug!(uid = %alert.uid, message_id = out.message_id().unwrap_or_default(), "alert published");
        Ok(())
    }
}
