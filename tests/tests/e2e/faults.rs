//! Failures moto cannot produce: throttling, 5xx, refused connections, hung
//! servers, partial batch results. DynamoDB and SNS answers are stubbed at the
//! HTTP layer with aws-smithy-mocks, so the SDK's own error parsing and retry
//! classification run as they would against AWS.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use okta_itdr_aws::{
    DynamoActivityStore, DynamoStateStore, HandlerError, IngestHandler, SnsAlertSink,
};
use okta_itdr_core::alert::{Alert, Status, StoredFinding};
use okta_itdr_core::detect::baseline::Baseline;
use okta_itdr_core::detect::Severity;
use okta_itdr_core::ports::{ActivityStore, AlertSink, StateStore};
use okta_itdr_e2e::{at, Ev, HASH_KEY};

const TABLE: &str = "activity";
const STATE: &str = "state";

fn retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

fn dynamodb(rules: &[&Rule]) -> aws_sdk_dynamodb::Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "faults"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .retry_config(retry())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A client whose requests go to `endpoint`, with one attempt and short timeouts.
fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "faults"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

fn ingest(client: aws_sdk_dynamodb::Client) -> IngestHandler<DynamoActivityStore> {
    let settings = okta_itdr_aws::IngestSettings::from_lookup(
        |name| (name == "ACTIVITY_TABLE").then(|| TABLE.into()),
        okta_itdr_aws::config::Secret::new(HASH_KEY),
    )
    .expect("settings");
    IngestHandler::from_settings(&settings, client).expect("handler")
}

async fn ingest_error(client: aws_sdk_dynamodb::Client) -> HandlerError {
    let ev = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T10:05:00Z");
    let event = LambdaEvent::new(ev.envelope(), Context::default());
    ingest(client)
        .handle(event, at("2026-11-10T10:06:00Z"))
        .await
        .expect_err("the write must fail")
}

fn store_error(err: &HandlerError) -> &okta_itdr_core::ports::StoreError {
    match err {
        HandlerError::Store(e) => e,
        other => panic!("expected a store error, got {other:?}"),
    }
}

const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;

#[tokio::test]
async fn throttled_writes_fail_the_invocation_as_retryable() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .repeatedly()
        .build();
    let err = ingest_error(dynamodb(&[&put])).await;
    let e = store_error(&err);
    assert!(e.retryable(), "{e}");
    assert_eq!(e.operation, "PutItem");
    assert!(
        e.message.contains("ProvisionedThroughputExceededException"),
        "{e}"
    );
    assert!(e.message.contains(TABLE), "{e}");
    assert_eq!(err.error_type(), "StoreError");
    assert_eq!(
        put.num_calls(),
        3,
        "the SDK retried throttling before giving up"
    );
    assert!(
        !e.message.contains("alice"),
        "no record content in errors: {e}"
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let err = ingest_error(dynamodb(&[&put])).await;
    let e = store_error(&err);
    assert!(e.retryable(), "{e}");
    assert!(e.message.contains("HTTP 500"), "{e}");
}

#[tokio::test]
async fn a_throttle_that_clears_is_absorbed_by_sdk_retries() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .http_status(200, Some("{}".into()))
        .repeatedly()
        .build();
    let ev = Ev::new("user.session.start").at("2026-11-10T10:05:00Z");
    let response = ingest(dynamodb(&[&put]))
        .handle(
            LambdaEvent::new(ev.envelope(), Context::default()),
            at("2026-11-10T10:06:00Z"),
        )
        .await
        .expect("stored");
    assert_eq!(response.outcome, "stored");
    assert_eq!(put.num_calls(), 2);
}

#[tokio::test]
async fn validation_errors_are_not_retryable() {
    let body = r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"One or more parameter values were invalid: Missing the key sk in the item"}"#;
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .http_status(400, Some(body.into()))
        .repeatedly()
        .build();
    let err = ingest_error(dynamodb(&[&put])).await;
    let e = store_error(&err);
    assert!(!e.retryable(), "{e}");
    assert!(e.message.contains("ValidationException"), "{e}");
    assert_eq!(put.num_calls(), 1, "not retried");
}

#[tokio::test]
async fn refused_connections_are_retryable() {
    // Bind then drop: the port is very likely closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let err = ingest_error(dynamodb_at(&format!("http://127.0.0.1:{port}"))).await;
    let e = store_error(&err);
    assert!(e.retryable(), "{e}");
}

#[tokio::test]
async fn hung_servers_time_out_as_retryable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream); // accept, never answer
        }
    });
    let err = ingest_error(dynamodb_at(&format!("http://{addr}"))).await;
    server.abort();
    let e = store_error(&err);
    assert!(e.retryable(), "{e}");
    assert!(e.message.contains("timed out"), "{e}");
}

#[tokio::test]
async fn unprocessed_batch_writes_are_resent() {
    let leftover = || {
        let item = [
            ("pk".to_owned(), AttributeValue::S("B#00u1".into())),
            ("sk".to_owned(), AttributeValue::S("baseline".into())),
        ]
        .into_iter()
        .collect();
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .expect("put request");
        BatchWriteItemOutput::builder()
            .unprocessed_items(
                STATE,
                vec![WriteRequest::builder().put_request(put).build()],
            )
            .build()
    };
    let write = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .sequence()
        .output(leftover)
        .output(|| BatchWriteItemOutput::builder().build())
        .build();
    let store = DynamoStateStore::new(dynamodb(&[&write]), STATE, 30, 90);
    let baselines: Vec<Baseline> = (0..3)
        .map(|i| Baseline::new(&format!("00u{i}"), at("2026-11-10T10:00:00Z")))
        .collect();
    store
        .save_baselines(&baselines)
        .await
        .expect("saved after a resend");
    assert_eq!(write.num_calls(), 2);
}

#[tokio::test]
async fn unprocessed_batch_reads_are_resent() {
    let doc =
        serde_json::to_string(&Baseline::new("00u1", at("2026-11-10T10:00:00Z"))).expect("json");
    let item = move || -> std::collections::HashMap<String, AttributeValue> {
        [
            ("pk".to_owned(), AttributeValue::S("B#00u1".into())),
            ("sk".to_owned(), AttributeValue::S("baseline".into())),
            ("doc".to_owned(), AttributeValue::S(doc.clone())),
        ]
        .into_iter()
        .collect()
    };
    let key = || -> std::collections::HashMap<String, AttributeValue> {
        [
            ("pk".to_owned(), AttributeValue::S("B#00u1".into())),
            ("sk".to_owned(), AttributeValue::S("baseline".into())),
        ]
        .into_iter()
        .collect()
    };
    let first = move || {
        let unprocessed = KeysAndAttributes::builder()
            .keys(key())
            .consistent_read(true)
            .build()
            .expect("keys");
        BatchGetItemOutput::builder()
            .unprocessed_keys(STATE, unprocessed)
            .build()
    };
    let second = move || {
        BatchGetItemOutput::builder()
            .responses(STATE, vec![item()])
            .build()
    };
    let read = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .sequence()
        .output(first)
        .output(second)
        .build();
    let store = DynamoStateStore::new(dynamodb(&[&read]), STATE, 30, 90);
    let loaded = store
        .load_baselines(&["00u1".to_owned()])
        .await
        .expect("loaded after a resend");
    assert!(loaded.contains_key("00u1"));
    assert_eq!(read.num_calls(), 2);
}

#[tokio::test]
async fn a_cancelled_claim_that_left_nothing_is_retryable() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#;
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(400, Some(body.into()))
        .repeatedly()
        .build();
    let get =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let store = DynamoStateStore::new(dynamodb(&[&transact, &get]), STATE, 30, 90);
    let f = finding();
    let err = store.claim_finding(&f).await.expect_err("conflict");
    assert!(err.retryable(), "{err}");
    assert!(err.message.contains("TransactionConflict"), "{err}");
}

#[tokio::test]
async fn activity_reads_surface_throttling() {
    let query = mock!(aws_sdk_dynamodb::Client::query)
        .sequence()
        .http_status(
            400,
            Some(THROTTLED.replace(
                "ProvisionedThroughputExceededException",
                "ThrottlingException",
            )),
        )
        .repeatedly()
        .build();
    let store = DynamoActivityStore::new(dynamodb(&[&query]), TABLE, 4);
    let err = store
        .hour_activity(okta_itdr_core::time::Hour::of(at("2026-11-10T10:00:00Z")))
        .await
        .expect_err("throttled");
    assert!(err.retryable(), "{err}");
    assert_eq!(err.operation, "Query");
}

fn finding() -> StoredFinding {
    let alert = Alert {
        uid: "c0ffee".into(),
        subject: "[HIGH] Brute force against a user: dave@acme.com".into(),
        body: "{}".into(),
        severity: Severity::High,
        detection: "brute_force_user".into(),
        principal: "dave@acme.com".into(),
        time: at("2026-11-10T10:00:00Z"),
    };
    StoredFinding {
        uid: "c0ffee".into(),
        detection: "brute_force_user".into(),
        principal: "00udave".into(),
        status: Status::Pending,
        first_seen: alert.time,
        last_seen: alert.time,
        repeats: 0,
        suppressed_by: None,
        grouped_into: None,
        attempts: 0,
        next_attempt: None,
        claimed_by: None,
        claimed_at: None,
        last_error: None,
        follow_up_of: None,
        alert,
    }
}

fn sns(rule: &Rule) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing", "testing", None, None, "faults",
        ))
        .http_client(create_mock_http_client())
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(rule),
        )
        .retry_config(
            aws_sdk_sns::config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

#[tokio::test]
async fn sns_server_errors_are_sink_errors() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let sink = SnsAlertSink::new(sns(&publish), "arn:aws:sns:us-east-1:123456789012:alerts");
    let f = finding();
    let err = sink.publish(&f.alert).await.expect_err("500");
    assert_eq!(err.uid, "c0ffee");
    assert!(err.message.contains("500"), "{}", err.message);
    assert!(err.to_string().contains("publishing alert c0ffee"), "{err}");
    assert_eq!(publish.num_calls(), 2, "the SDK retried the 5xx");
}

#[tokio::test]
async fn sns_throttling_is_a_sink_error() {
    let body = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
    let publish = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(400, Some(body.into()))
        .repeatedly()
        .build();
    let sink = SnsAlertSink::new(sns(&publish), "arn:aws:sns:us-east-1:123456789012:alerts");
    let err = sink.publish(&finding().alert).await.expect_err("throttled");
    assert!(err.message.contains("Throttling"), "{}", err.message);
}
