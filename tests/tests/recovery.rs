//! Recovery end to end on moto's SQS and DynamoDB: the ingest handler fed
//! recovery-queue batches as Lambda's SQS event source mapping delivers them,
//! in both real message formats; refused events to the final dead-letter queue
//! with their reason; failures that may pass deferred and reported as partial
//! batch failures. DynamoDB outages come from a fault proxy in front of moto.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use okta_itdr_aws::handlers::counters;
use okta_itdr_aws::metrics::Metrics;
use okta_itdr_aws::recovery::{Queues, BACKOFF};
use okta_itdr_aws::{DynamoActivityStore, IngestHandler};
use okta_itdr_e2e::fault_proxy::FaultProxy;
use okta_itdr_e2e::{at, endpoint, sample_event, Ev, TestEnv, HASH_KEY};
use serde_json::{json, Value};

/// A DynamoDB client through `endpoint`, retrying quickly so outages show fast.
fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
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

struct Queued {
    recovery_url: String,
    recovery_arn: String,
    final_url: String,
}

async fn queues(env: &TestEnv) -> Queued {
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

fn handler(
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
fn destination_record(payload: &Value) -> Value {
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

async fn send(env: &TestEnv, url: &str, body: &str) {
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
async fn receive(env: &TestEnv, url: &str, visibility: i32) -> Vec<Message> {
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
fn sqs_event(messages: &[Message], arn: &str, receive_count: Option<u32>) -> Value {
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
async fn poll(
    env: &TestEnv,
    q: &Queued,
    handler: &IngestHandler<DynamoActivityStore>,
    now: i64,
    metrics: &mut Metrics,
) -> (usize, Vec<Message>) {
    let messages = receive(env, &q.recovery_url, 20).await;
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
    let mut kept = Vec::new();
    for m in &messages {
        if failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
            kept.push(m.clone());
        } else {
            env.sqs
                .delete_message()
                .queue_url(&q.recovery_url)
                .receipt_handle(m.receipt_handle().expect("receipt"))
                .send()
                .await
                .expect("delete_message");
        }
    }
    (messages.len(), kept)
}

fn attribute(m: &Message, name: &str) -> String {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .unwrap_or_default()
        .to_owned()
}

async fn actor_items(env: &TestEnv, ev: &Ev) -> usize {
    let actor = ev.json["actor"]["id"].as_str().expect("actor id");
    let uuid = ev.json["uuid"].as_str().expect("uuid");
    env.partition(&env.activity_table, &format!("U#{actor}"))
        .await
        .iter()
        .filter(|i| i["sk"].as_s().is_ok_and(|sk| sk.ends_with(uuid)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_recovery_formats_are_reingested_and_the_invalid_dead_lettered_with_their_reason() {
    let env = TestEnv::new("recovery-formats").await;
    let q = queues(&env).await;
    let handler = handler(&env, &q, env.dynamodb.clone());
    let now = at("2026-11-10T12:30:00Z");

    let wrapped = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T11:45:00Z");
    let raw = Ev::new("user.session.start")
        .user("00ubob", "bob@acme.com")
        .at("2026-11-10T11:50:00Z");
    let non_okta = sample_event("non-okta-event.json");
    let mut malformed = Ev::new("user.session.start")
        .unknown_user("Winter2026!Pass")
        .envelope();
    malformed["detail"]["published"] = json!("Winter2026!Pass");
    send(
        &env,
        &q.recovery_url,
        &destination_record(&wrapped.envelope()).to_string(),
    )
    .await;
    send(&env, &q.recovery_url, &raw.envelope().to_string()).await;
    send(&env, &q.recovery_url, &non_okta.to_string()).await;
    send(
        &env,
        &q.recovery_url,
        &destination_record(&malformed).to_string(),
    )
    .await;
    send(&env, &q.recovery_url, "Winter2026!Pass is not JSON").await;

    let mut metrics = Metrics::for_function("ingest");
    let (seen, failed) = poll(&env, &q, &handler, now, &mut metrics).await;
    assert_eq!(seen, 5);
    assert!(failed.is_empty(), "nothing to retry: {failed:?}");
    assert_eq!(
        actor_items(&env, &wrapped).await,
        1,
        "the destination record's event is stored"
    );
    assert_eq!(
        actor_items(&env, &raw).await,
        1,
        "the raw EventBridge event is stored"
    );
    assert_eq!(metrics.get(counters::RECOVERED), Some(2.0));
    assert_eq!(
        metrics.get(counters::LATE),
        Some(2.0),
        "recovered after their hour: marked late"
    );
    assert_eq!(metrics.get(counters::DEAD_LETTERED), Some(3.0));
    assert_eq!(metrics.get(counters::REJECTED), Some(3.0));
    assert!(
        receive(&env, &q.recovery_url, 0).await.is_empty(),
        "every handled message was deleted"
    );

    let dead = env.drain(&q.final_url, 30).await;
    assert_eq!(dead.len(), 3, "{dead:?}");
    let mut codes: Vec<String> = dead.iter().map(|m| attribute(m, "reason_code")).collect();
    codes.sort();
    assert_eq!(codes, ["Rejected", "Rejected", "unrecognised_message"]);
    for m in &dead {
        let reason = attribute(m, "reason");
        assert!(!reason.is_empty(), "every dead letter says why");
        assert!(
            !reason.contains("Winter2026"),
            "the reason quotes no event content: {reason}"
        );
        assert!(!attribute(m, "failed_at").is_empty());
    }
    let not_okta = dead
        .iter()
        .find(|m| attribute(m, "reason").contains("aws.ec2"))
        .expect("the non-Okta event");
    assert_eq!(attribute(not_okta, "format"), "eventbridge");
    let bad = dead
        .iter()
        .find(|m| attribute(m, "format") == "lambda-destination")
        .expect("the malformed event from a destination record");
    let body: Value = serde_json::from_str(bad.body().expect("body")).expect("json");
    assert_eq!(
        body["detail-type"], "SystemLog",
        "the final queue holds the EventBridge event itself, ready to redrive"
    );
    assert!(
        attribute(bad, "reason").contains("published"),
        "{}",
        attribute(bad, "reason")
    );
    let unrecognised = dead
        .iter()
        .find(|m| attribute(m, "reason_code") == "unrecognised_message")
        .expect("the non-JSON body");
    assert_eq!(
        unrecognised.body(),
        Some("Winter2026!Pass is not JSON"),
        "kept as it came"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_that_may_pass_are_deferred_and_reported_then_given_up_with_the_reason() {
    let env = TestEnv::new("recovery-retry").await;
    let q = queues(&env).await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let handler = handler(&env, &q, dynamodb_at(proxy.endpoint()));
    let now = at("2026-11-10T12:30:00Z");
    let ev = Ev::new("user.session.start")
        .user("00ucarol", "carol@acme.com")
        .at("2026-11-10T11:45:00Z");
    send(&env, &q.recovery_url, &ev.envelope().to_string()).await;

    proxy.set_outage(true);
    let messages = receive(&env, &q.recovery_url, 1).await;
    assert_eq!(messages.len(), 1);
    let mut metrics = Metrics::for_function("ingest");
    let response = handler
        .invoke_counted(
            sqs_event(&messages, &q.recovery_arn, None),
            now,
            &mut metrics,
        )
        .await
        .expect("partial batch response");
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": messages[0].message_id()}]})
    );
    assert!(proxy.refused() > 0);
    assert_eq!(metrics.get(counters::FAILED), Some(1.0));
    assert_eq!(metrics.get(counters::RECOVERED), Some(0.0));
    // The receive made it invisible for 1 s; the handler's backoff for a minute.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        receive(&env, &q.recovery_url, 1).await.is_empty(),
        "deferred by the backoff"
    );
    assert!(
        env.drain(&q.final_url, 30).await.is_empty(),
        "not given up on"
    );

    // Time passes (the backoff elapses): the message is visible again.
    env.sqs
        .change_message_visibility()
        .queue_url(&q.recovery_url)
        .receipt_handle(messages[0].receipt_handle().expect("receipt"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("make visible");
    // Its last attempt, still failing: to the final queue, with the reason.
    let last = receive(&env, &q.recovery_url, 20).await;
    let response = handler
        .invoke_counted(
            sqs_event(&last, &q.recovery_arn, Some(BACKOFF.attempts)),
            now,
            &mut metrics,
        )
        .await
        .expect("batch");
    assert_eq!(
        response,
        json!({"batchItemFailures": []}),
        "handed over, so deleted"
    );
    let dead = env.drain(&q.final_url, 30).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(attribute(&dead[0], "reason_code"), "retries_exhausted");
    assert!(
        attribute(&dead[0], "reason").contains("InternalServerError"),
        "{}",
        attribute(&dead[0], "reason")
    );
    assert_eq!(
        attribute(&dead[0], "uuid"),
        ev.json["uuid"].as_str().unwrap()
    );

    // The outage over, the same message is stored.
    proxy.set_outage(false);
    let response = handler
        .invoke_counted(sqs_event(&last, &q.recovery_arn, None), now, &mut metrics)
        .await
        .expect("batch");
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(actor_items(&env, &ev).await, 1);
    assert_eq!(metrics.get(counters::RECOVERED), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_skip_retries_and_go_straight_to_the_final_queue() {
    let env = TestEnv::new("recovery-direct").await;
    let q = queues(&env).await;
    let handler = handler(&env, &q, env.dynamodb.clone());
    let mut metrics = Metrics::for_function("ingest");
    let response = handler
        .invoke_counted(
            sample_event("non-okta-event.json"),
            at("2026-11-10T12:00:00Z"),
            &mut metrics,
        )
        .await
        .expect("a refused event is handled, not failed: Lambda must not retry it");
    assert_eq!(response["outcome"], "dead_lettered");
    assert_eq!(metrics.get(counters::REJECTED), Some(1.0));
    let dead = env.drain(&q.final_url, 30).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(attribute(&dead[0], "reason_code"), "Rejected");

    // Without a final queue configured, the refusal fails the invocation as before.
    let bare = env.ingest_handler();
    let err = bare
        .invoke(
            sample_event("non-okta-event.json"),
            at("2026-11-10T12:00:00Z"),
        )
        .await
        .expect_err("refused");
    assert!(!err.retryable());
    let _ = HASH_KEY;
}
