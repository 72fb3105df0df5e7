//! What the recovery tests share: the recovery and final queues on moto, the
//! ingest handler wired to them, and Lambda's two message formats and its SQS
//! event source mapping, played by the test.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use okta_itdr_aws::metrics::Metrics;
use okta_itdr_aws::recovery::Queues;
use okta_itdr_aws::{DynamoActivityStore, IngestHandler};
use serde_json::{json, Value};

use crate::TestEnv;

/// A DynamoDB client through `endpoint`, retrying quickly so outages show fast.
pub fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "drill"))
        .endpoint_url(endpoint)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(2)),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

pub struct Queued {
    pub recovery_url: String,
    pub recovery_arn: String,
    pub final_url: String,
}

pub async fn queues(env: &TestEnv) -> Queued {
    let recovery_url = env.queue("recovery").await;
    let final_url = env.queue("final-dlq").await;
    let attrs = env
        .sqs
        .get_queue_attributes()
        .queue_url(&recovery_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let recovery_arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue arn")
        .clone();
    Queued {
        recovery_url,
        recovery_arn,
        final_url,
    }
}

pub fn handler(
    env: &TestEnv,
    q: &Queued,
    dynamodb: aws_sdk_dynamodb::Client,
) -> IngestHandler<DynamoActivityStore> {
    IngestHandler::from_settings(&env.ingest_settings(), dynamodb)
        .expect("handler")
        .with_queues(Queues::new(
            env.sqs.clone(),
            Some(q.recovery_url.clone()),
            q.final_url.clone(),
        ))
}

/// What the ingest function's on-failure destination sends after Lambda's retries.
pub fn destination_record(payload: &Value) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-10T11:41:07.052Z",
        "requestContext": {
            "requestId": "c1e9e4a0-5f2b-4c6e-9a51-2f0e6b1f7a10",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:okta-itdr-IngestFunction:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "StoreError", "errorMessage": "PutItem: table activity: InternalServerError (HTTP 500)"}
    })
}

/// Sends bodies ten to a call.
pub async fn send_all(env: &TestEnv, url: &str, bodies: &[String]) {
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = env
            .sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("send_message_batch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

pub async fn send(env: &TestEnv, url: &str, body: &str) {
    env.sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("send_message");
}

/// Receives what is visible, as the event source mapping does (in flight for
/// `visibility` seconds).
pub async fn receive(env: &TestEnv, url: &str, visibility: i32) -> Vec<Message> {
    env.sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive_message")
        .messages
        .unwrap_or_default()
}

/// The event Lambda's SQS event source mapping invokes the function with.
pub fn sqs_event(messages: &[Message], arn: &str, receive_count: Option<u32>) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut attributes: serde_json::Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(n) = receive_count {
                attributes.insert("ApproximateReceiveCount".into(), json!(n.to_string()));
            }
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// One poll of the event source mapping: receive, invoke, delete what did not
/// fail. Returns the failed messages (their receipt handles are still valid).
pub async fn poll(
    env: &TestEnv,
    q: &Queued,
    handler: &IngestHandler<DynamoActivityStore>,
    now: i64,
    metrics: &mut Metrics,
) -> (usize, Vec<Message>) {
    let messages = receive(env, &q.recovery_url, 60).await;
    if messages.is_empty() {
        return (0, Vec::new());
    }
    let response = handler
        .invoke_counted(sqs_event(&messages, &q.recovery_arn, None), now, metrics)
        .await
        .expect("a batch never fails as a whole");
    let failed: Vec<String> = response["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("id").to_owned())
        .collect();
    let (kept, done): (Vec<Message>, Vec<Message>) = messages
        .iter()
        .cloned()
        .partition(|m| failed.iter().any(|id| Some(id.as_str()) == m.message_id()));
    if !done.is_empty() {
        let entries = done
            .iter()
            .enumerate()
            .map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().expect("receipt"))
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = env
            .sqs
            .delete_message_batch()
            .queue_url(&q.recovery_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("delete_message_batch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
    (messages.len(), kept)
}
