//! [`DeadLetters`] on SQS: the final dead-letter queue, listed and redriven to
//! the recovery queue. Listing reads the attributes recovery set (reason,
//! uuid, event type), never the body.

use std::collections::HashSet;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use aws_sdk_sqs::Client;
use okta_itdr_core::ports::{DeadLetter, DeadLetters, StoreError};

use crate::recovery::{ATTR_EVENT_TYPE, ATTR_FAILED_AT, ATTR_REASON, ATTR_REASON_CODE, ATTR_UUID};
use crate::sdk::store_error;

/// Seconds a listed message stays hidden while the listing goes on, so one
/// listing does not count it twice; it is made visible again at the end.
const LIST_VISIBILITY: i32 = 30;
/// Seconds a redriven message has to be sent on and deleted.
const REDRIVE_VISIBILITY: i32 = 120;

#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: Client,
    final_url: String,
    recovery_url: Option<String>,
}

impl SqsDeadLetters {
    /// `recovery_url` is needed only to redrive.
    pub fn new(client: Client, final_url: impl Into<String>, recovery_url: Option<String>) -> Self {
        SqsDeadLetters {
            client,
            final_url: final_url.into(),
            recovery_url,
        }
    }

    async fn receive(&self, max: usize, visibility: i32) -> Result<Vec<Message>, StoreError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.final_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(visibility)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| store_error("ReceiveMessage", &e))?;
        Ok(out.messages.unwrap_or_default())
    }
}

fn attribute(m: &Message, name: &str) -> Option<String> {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_owned)
}

fn describe(m: &Message) -> DeadLetter {
    DeadLetter {
        id: m.message_id().unwrap_or_default().to_owned(),
        uuid: attribute(m, ATTR_UUID),
        event_type: attribute(m, ATTR_EVENT_TYPE),
        reason_code: attribute(m, ATTR_REASON_CODE),
        reason: attribute(m, ATTR_REASON),
        failed_at: attribute(m, ATTR_FAILED_AT),
        receive_count: m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

impl DeadLetters for SqsDeadLetters {
    async fn list(&self, max: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut seen = HashSet::new();
        let mut held = Vec::new();
        let mut out = Vec::new();
        while out.len() < max {
            let batch = self.receive(max - out.len(), LIST_VISIBILITY).await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                if let Some(handle) = m.receipt_handle() {
                    held.push(handle.to_owned());
                }
                if seen.insert(m.message_id().unwrap_or_default().to_owned()) {
                    out.push(describe(&m));
                }
            }
        }
        // Back in the queue for the next listing or a redrive.
        for handle in held {
            self.client
                .change_message_visibility()
                .queue_url(&self.final_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(|e| store_error("ChangeMessageVisibility", &e))?;
        }
        Ok(out)
    }

    async fn redrive(&self, max: usize) -> Result<usize, StoreError> {
        let Some(to) = &self.recovery_url else {
            return Err(StoreError::new(
                "SendMessage",
                "no recovery queue to redrive to",
                false,
            ));
        };
        let mut moved = 0;
        while moved < max {
            let batch = self.receive(max - moved, REDRIVE_VISIBILITY).await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                self.client
                    .send_message()
                    .queue_url(to)
                    .message_body(m.body().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| store_error("SendMessage", &e))?;
                self.client
                    .delete_message()
                    .queue_url(&self.final_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| store_error("DeleteMessage", &e))?;
                moved += 1;
            }
        }
        Ok(moved)
    }
}
