//! End-to-end test harness: real AWS wire APIs served by moto, tables created
//! from the deployment template, a Lambda Runtime API emulator, and the function
//! binaries run as child processes.
//!
//! Run the suite with `tests/run.sh`, which starts moto for you. By hand:
//!
//! ```text
//! pip install "moto[server]" && moto_server -H 127.0.0.1 -p 5000 &
//! export AWS_ENDPOINT_URL=http://127.0.0.1:5000
//! cargo test --workspace
//! ```

pub mod alarms;
pub mod fake_inventory;
pub mod fake_okta;
pub mod fault_proxy;
pub mod lambda_logs;
pub mod outage_proxy;
pub mod recovery_kit;
pub mod runtime_api;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use okta_itdr_aws::handlers::LambdaDetector;
use okta_itdr_aws::{
    DetectHandler, DetectSettings, DynamoActivityStore, DynamoStateStore, IngestHandler,
    IngestSettings, SnsAlertSink,
};
use serde_json::Value;
use serde_yaml::Value as Yaml;

pub use okta_itdr_testkit::{self, at, Ev};

/// The HMAC key the functions get in these tests.
pub const HASH_KEY: &str = "e2e-username-hash-key-0123456789abcdef";
pub const REGION: &str = "us-east-1";

pub type Item = HashMap<String, AttributeValue>;

/// The moto endpoint. Panics with instructions when it is not configured: these
/// tests exist to exercise the real wire protocols and are never skipped.
pub fn endpoint() -> String {
    configured_endpoint().unwrap_or_else(|| {
        panic!(
            "\n\n==================================================================\n\
             AWS_ENDPOINT_URL is not set: the end-to-end tests need a moto server.\n\
             Run them with:   tests/run.sh\n\
             or by hand:      pip install \"moto[server]\" && moto_server -H 127.0.0.1 -p 5000 &\n\
             \x20                export AWS_ENDPOINT_URL=http://127.0.0.1:5000\n\
             \x20                cargo test --workspace\n\
             ==================================================================\n"
        )
    })
}

/// The moto server this test uses, if one is configured. The test command
/// starts several (`OKTA_ITDR_MOTO_ENDPOINTS`, space-separated): one moto
/// process serves one request at a time, and the end-to-end tests would
/// otherwise all queue on it. A test keeps to the server of its nextest slot
/// (`NEXTEST_TEST_GLOBAL_SLOT`, unique among the tests running at once), so the
/// tests running together spread evenly and everything one test starts (its
/// functions, the CLI) talks to the same server. Without nextest, the first.
fn configured_endpoint() -> Option<String> {
    static CHOSEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            let servers: Vec<String> = var("OKTA_ITDR_MOTO_ENDPOINTS")
                .map(|list| list.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            if servers.is_empty() {
                return var("AWS_ENDPOINT_URL");
            }
            let slot: usize = var("NEXTEST_TEST_GLOBAL_SLOT")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Some(servers[slot % servers.len()].clone())
        })
        .clone()
}

/// SDK configuration for moto: its endpoint, a fixed region, dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    let access = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into());
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access, secret, None, None, "e2e"))
        .load()
        .await
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// A sample event from `events/`.
pub fn sample_event(name: &str) -> Value {
    let path = repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The EventBridge "Scheduled Event" that starts a detect run at `time`.
pub fn scheduled_event(time: &str) -> Value {
    serde_json::json!({
        "version": "0", "id": format!("sched-{time}"), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time, "region": REGION,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/okta-itdr-hourly"], "detail": {}
    })
}

// ------------------------------------------------------------------ template

/// `template.yaml`, parsed once. CloudFormation short tags (`!Ref`, `!Sub`…)
/// come through as tagged values; the table definitions use none.
pub fn template() -> &'static Yaml {
    static TEMPLATE: OnceLock<Yaml> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = repo_root().join("template.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
    })
}

/// A DynamoDB table as the template declares it.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub logical_id: String,
    pub attributes: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub indexes: Vec<GlobalSecondaryIndex>,
    pub billing_mode: BillingMode,
    pub ttl_attribute: Option<String>,
}

fn text<'a>(v: &'a Yaml, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("template: {what} is not a plain string: {v:?}"))
}

fn key_schema(v: &Yaml, what: &str) -> Vec<KeySchemaElement> {
    let list = v
        .as_sequence()
        .unwrap_or_else(|| panic!("template: {what}.KeySchema is not a list"));
    list.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(&k["AttributeName"], "AttributeName"))
                .key_type(KeyType::from(text(&k["KeyType"], "KeyType")))
                .build()
                .unwrap_or_else(|e| panic!("template: {what} key schema: {e}"))
        })
        .collect()
}

/// Reads `Resources.<logical_id>.Properties` of an `AWS::DynamoDB::Table`.
pub fn table_spec(logical_id: &str) -> TableSpec {
    let resource = &template()["Resources"][logical_id];
    assert_eq!(
        resource["Type"].as_str(),
        Some("AWS::DynamoDB::Table"),
        "template: {logical_id} is not a DynamoDB table"
    );
    let props = &resource["Properties"];
    let attributes = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap_or_else(|| panic!("template: {logical_id}.AttributeDefinitions is not a list"))
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"], "AttributeName"))
                .attribute_type(ScalarAttributeType::from(text(
                    &a["AttributeType"],
                    "AttributeType",
                )))
                .build()
                .unwrap_or_else(|e| panic!("template: {logical_id} attribute: {e}"))
        })
        .collect();
    let indexes = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .map(|list| {
            list.iter()
                .map(|g| {
                    let name = text(&g["IndexName"], "IndexName");
                    let mut projection =
                        Projection::builder().projection_type(ProjectionType::from(text(
                            &g["Projection"]["ProjectionType"],
                            "ProjectionType",
                        )));
                    if let Some(extra) = g["Projection"]["NonKeyAttributes"].as_sequence() {
                        for a in extra {
                            projection = projection.non_key_attributes(text(a, "NonKeyAttributes"));
                        }
                    }
                    GlobalSecondaryIndex::builder()
                        .index_name(name)
                        .set_key_schema(Some(key_schema(&g["KeySchema"], name)))
                        .projection(projection.build())
                        .build()
                        .unwrap_or_else(|e| panic!("template: index {name}: {e}"))
                })
                .collect()
        })
        .unwrap_or_default();
    let billing_mode = BillingMode::from(props["BillingMode"].as_str().unwrap_or("PROVISIONED"));
    let ttl = &props["TimeToLiveSpecification"];
    let ttl_attribute = (ttl["Enabled"].as_bool() == Some(true))
        .then(|| text(&ttl["AttributeName"], "TTL AttributeName").to_owned());
    TableSpec {
        logical_id: logical_id.to_owned(),
        attributes,
        key_schema: key_schema(&props["KeySchema"], logical_id),
        indexes,
        billing_mode,
        ttl_attribute,
    }
}

/// Creates a table named `name` as `spec` declares it, and waits until it is active.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, spec: &TableSpec) {
    let mut create = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(spec.attributes.clone()))
        .set_key_schema(Some(spec.key_schema.clone()))
        .billing_mode(spec.billing_mode.clone());
    if !spec.indexes.is_empty() {
        create = create.set_global_secondary_indexes(Some(spec.indexes.clone()));
    }
    create.send().await.unwrap_or_else(|e| {
        panic!(
            "creating table {name} ({}): {}",
            spec.logical_id,
            okta_itdr_aws::sdk::classify(&e).message
        )
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .expect("describe_table");
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "table {name} did not become active"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(attr) = &spec.ttl_attribute {
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(attr)
            .enabled(true)
            .build()
            .expect("ttl spec");
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .expect("update_time_to_live");
    }
}

// ------------------------------------------------------------------ environment

/// One test's AWS world: clients and its own uniquely named tables.
pub struct TestEnv {
    pub sdk: SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub activity_table: String,
    pub state_table: String,
    pub hour_shards: u16,
    /// The Secrets Manager secret holding [`HASH_KEY`].
    pub hash_key_secret: String,
}

impl TestEnv {
    /// Creates the ActivityTable and StateTable from the template, named after `test`.
    pub async fn new(test: &str) -> Self {
        let sdk = sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let env = TestEnv {
            sns: aws_sdk_sns::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            activity_table: unique(&format!("{test}-activity")),
            state_table: unique(&format!("{test}-state")),
            // Fewer than the deployed 16: every hour read queries each shard, and
            // the end-to-end tests read hundreds of hours from one moto server.
            // Four still spread each hour over several partitions.
            hour_shards: 4,
            hash_key_secret: unique(&format!("{test}-hash-key")),
            dynamodb,
            sdk,
        };
        let (activity, state) = (table_spec("ActivityTable"), table_spec("StateTable"));
        tokio::join!(
            create_table(&env.dynamodb, &env.activity_table, &activity),
            create_table(&env.dynamodb, &env.state_table, &state),
            env.put_secret(&env.hash_key_secret, HASH_KEY)
        );
        env
    }

    /// Creates (or overwrites) a Secrets Manager secret with a string value.
    pub async fn put_secret(&self, name: &str, value: &str) {
        self.secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "creating secret {name}: {}",
                    okta_itdr_aws::sdk::classify(&e).message
                )
            });
    }

    /// A fresh standard SQS queue; its URL.
    pub async fn queue(&self, prefix: &str) -> String {
        let out = self
            .sqs
            .create_queue()
            .queue_name(unique(prefix))
            .send()
            .await
            .expect("create_queue");
        out.queue_url().expect("queue url").to_owned()
    }

    /// A fresh S3 bucket holding `objects` (key, body); its name.
    pub async fn bucket(&self, prefix: &str, objects: &[(String, String)]) -> String {
        let s3 = okta_itdr_aws::rules::client(&self.sdk);
        // Bucket names are lower case, at most 63 characters.
        let bucket: String = unique(prefix).to_lowercase().chars().take(63).collect();
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating bucket {bucket}: {e:?}"));
        for (key, body) in objects {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(body.clone().into_bytes().into())
                .send()
                .await
                .unwrap_or_else(|e| panic!("putting {key}: {e:?}"));
        }
        bucket
    }

    /// Every message of a queue, received (and left to become visible again
    /// after `visibility` seconds), with their attributes.
    pub async fn drain(
        &self,
        queue_url: &str,
        visibility: i32,
    ) -> Vec<aws_sdk_sqs::types::Message> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(visibility)
                .message_attribute_names("All")
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await
                .expect("receive_message");
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            out.extend(messages);
        }
    }

    pub fn activity_store(&self) -> DynamoActivityStore {
        DynamoActivityStore::new(
            self.dynamodb.clone(),
            self.activity_table.clone(),
            self.hour_shards,
        )
    }

    pub fn state_store(&self) -> DynamoStateStore {
        DynamoStateStore::new(self.dynamodb.clone(), self.state_table.clone(), 30, 90)
    }

    pub fn ingest_settings(&self) -> IngestSettings {
        IngestSettings::from_lookup(
            |name| self.env_var(name),
            okta_itdr_aws::config::Secret::new(HASH_KEY),
        )
        .expect("ingest settings")
    }

    pub fn ingest_handler(&self) -> IngestHandler<DynamoActivityStore> {
        IngestHandler::from_settings(&self.ingest_settings(), self.dynamodb.clone())
            .expect("ingest handler")
    }

    /// Detect settings for this test's tables, publishing to `topic_arn`, with
    /// `detections` as `DETECTIONS_CONFIG`.
    pub fn detect_settings(&self, topic_arn: &str, detections: &str) -> DetectSettings {
        DetectSettings::from_lookup(|name| match name {
            "ALERT_TOPIC_ARN" => Some(topic_arn.to_owned()),
            "DETECTIONS_CONFIG" => Some(detections.to_owned()),
            _ => self.env_var(name),
        })
        .expect("detect settings")
    }

    pub fn detect_handler(&self, topic_arn: &str, detections: &str) -> LambdaDetector {
        DetectHandler::from_settings(
            &self.detect_settings(topic_arn, detections),
            self.dynamodb.clone(),
            self.sns.clone(),
        )
    }

    pub fn sink(&self, topic_arn: &str) -> SnsAlertSink {
        SnsAlertSink::new(self.sns.clone(), topic_arn)
    }

    /// The function environment variables for this test's resources.
    pub fn env_var(&self, name: &str) -> Option<String> {
        match name {
            "ACTIVITY_TABLE" => Some(self.activity_table.clone()),
            "STATE_TABLE" => Some(self.state_table.clone()),
            "HOUR_SHARDS" => Some(self.hour_shards.to_string()),
            "RETENTION_DAYS" => Some("90".into()),
            "BASELINE_DAYS" => Some("30".into()),
            "USERNAME_HASH_KEY_SECRET" => Some(self.hash_key_secret.clone()),
            _ => None,
        }
    }

    /// `(name, value)` of each named function environment variable, as
    /// [`TestEnv::env_var`] gives it; a name it does not know is a test bug.
    pub fn env_vars<'a>(&self, names: &[&'a str]) -> Vec<(&'a str, String)> {
        names
            .iter()
            .map(|n| {
                let value = self
                    .env_var(n)
                    .unwrap_or_else(|| panic!("no value for {n}"));
                (*n, value)
            })
            .collect()
    }

    /// Every item of a table. A Scan: for assertions only, never what the code under test does.
    pub async fn scan(&self, table: &str) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .dynamodb
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("scan");
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return items,
            }
        }
    }

    pub async fn count(&self, table: &str) -> usize {
        self.scan(table).await.len()
    }

    /// Items of one partition, with a Query.
    pub async fn partition(&self, table: &str, pk: &str) -> Vec<Item> {
        let out = self
            .dynamodb
            .query()
            .table_name(table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("query");
        out.items.unwrap_or_default()
    }

    /// A fresh topic with a fresh SQS queue subscribed to it. With `raw`, the
    /// queue receives the bare message; else the SNS JSON notification (with
    /// `Subject` and `MessageAttributes`).
    pub async fn topic_with_queue(&self, raw: bool) -> (String, String) {
        let topic = self
            .sns
            .create_topic()
            .name(unique("alerts"))
            .send()
            .await
            .expect("create_topic");
        let topic_arn = topic.topic_arn().expect("topic arn").to_owned();
        let queue = self
            .sqs
            .create_queue()
            .queue_name(unique("alerts-q"))
            .send()
            .await
            .expect("create_queue");
        let queue_url = queue.queue_url().expect("queue url").to_owned();
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("get_queue_attributes");
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn")
            .clone();
        let mut subscribe = self
            .sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn);
        if raw {
            subscribe = subscribe.attributes("RawMessageDelivery", "true");
        }
        subscribe.send().await.expect("subscribe");
        (topic_arn, queue_url)
    }

    /// Receives SNS notifications from a queue until `quiet` passes without a
    /// new message (or `max_wait` in all), and parses them.
    pub async fn notifications(
        &self,
        queue_url: &str,
        quiet: Duration,
        max_wait: Duration,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        let deadline = Instant::now() + max_wait;
        let mut last_new = Instant::now();
        while Instant::now() < deadline && last_new.elapsed() < quiet {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive_message");
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            for m in messages {
                let body = m.body().unwrap_or_default();
                out.push(Notification::parse(body));
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete_message");
                }
            }
            // Quiet is counted from the end of this batch's deletes: on a
            // loaded machine they take longer than the quiet period itself.
            last_new = Instant::now();
        }
        out
    }
}

/// An SNS notification as an SQS subscriber receives it (not raw delivery).
#[derive(Debug, Clone)]
pub struct Notification {
    pub subject: Option<String>,
    pub message: String,
    pub attributes: HashMap<String, String>,
}

impl Notification {
    pub fn parse(body: &str) -> Self {
        let v: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("SNS notification is not JSON ({e}): {body}"));
        let attributes = v["MessageAttributes"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, a)| {
                        (
                            k.clone(),
                            a["Value"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Notification {
            subject: v["Subject"].as_str().map(str::to_owned),
            message: v["Message"]
                .as_str()
                .unwrap_or_else(|| panic!("notification without Message: {body}"))
                .to_owned(),
            attributes,
        }
    }

    /// The message as JSON (the OCSF finding).
    pub fn finding(&self) -> Value {
        serde_json::from_str(&self.message)
            .unwrap_or_else(|e| panic!("alert body is not JSON ({e}): {}", self.message))
    }

    pub fn attribute(&self, name: &str) -> &str {
        self.attributes.get(name).map(String::as_str).unwrap_or("")
    }
}

// ------------------------------------------------------------------ logs

/// Captures what the code under test logs, in the functions' JSON format.
///
/// One global subscriber for the whole test binary writes each event to the
/// capture of the thread that logged it. Scoped subscribers (`set_default`)
/// in tests running in parallel race on tracing's per-callsite interest
/// cache and now and then miss every event of a test.
#[derive(Clone, Default)]
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Arc<Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Writes to the current thread's capture, if it has one.
struct ThreadCapture;

impl Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(buffer) = c.borrow().as_ref() {
                buffer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ends a thread's capture when dropped.
pub struct CaptureGuard {
    previous: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CAPTURE.with(|c| *c.borrow_mut() = previous);
    }
}

impl LogCapture {
    /// Starts capturing this thread's logs (at `debug`) until the guard drops.
    /// Use it in a current-thread test runtime (`#[tokio::test]`'s default).
    pub fn start() -> (LogCapture, CaptureGuard) {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let filter = tracing_subscriber::EnvFilter::new("debug");
            let subscriber = okta_itdr_aws::logging::subscriber(|| ThreadCapture, filter);
            tracing::subscriber::set_global_default(subscriber)
                .expect("the test binary sets no other global subscriber");
        });
        let capture = LogCapture::default();
        let previous = CAPTURE.with(|c| c.borrow_mut().replace(capture.buffer.clone()));
        (capture, CaptureGuard { previous })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Every line, each of which must be a JSON object.
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The lines our code wrote (not the SDK's).
    pub fn ours(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| {
                l["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("okta_itdr"))
            })
            .collect()
    }
}

// ------------------------------------------------------------------ binaries

/// The path of a binary of this workspace (a function's or the `okta-itdr`
/// CLI), built on first use with the same cargo and profile as the running tests.
pub fn function_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    let built = BUILT.get_or_init(build_workspace_binaries);
    match built {
        Ok(map) => map
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("cargo built no binary named {name}")),
        Err(e) => panic!("building the workspace binaries failed:\n{e}"),
    }
}

/// The `okta-itdr` CLI binary.
pub fn cli_binary() -> PathBuf {
    function_binary("okta-itdr")
}

/// A `cargo` command for the workspace, as the developer's shell would run it.
///
/// Cargo runs tests with per-package variables (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`…) set. Some dependencies' build scripts watch those, so a
/// nested cargo that inherits them sees a changed environment and rebuilds half
/// the dependency tree, then the next ordinary build rebuilds it back. They are
/// removed here. With the tests' profile (`--release` when they run in release).
pub fn cargo_command(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.current_dir(repo_root()).args(args);
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str().filter(|n| is_test_run_variable(n)) {
            cmd.env_remove(name);
        }
    }
    if std::env::current_exe()
        .ok()
        .is_some_and(|p| p.components().any(|c| c.as_os_str() == "release"))
    {
        cmd.arg("--release");
    }
    cmd
}

fn is_test_run_variable(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_MANIFEST_LINKS"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
}

/// Runs the `okta-itdr` CLI with `args` and `env` only (none of the Okta
/// credentials the developer's shell may hold), off the async runtime so the
/// fake APIs keep serving meanwhile.
pub async fn run_cli(args: Vec<String>, env: Vec<(&'static str, String)>) -> std::process::Output {
    let bin = cli_binary();
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(bin);
        cmd.args(&args)
            .env_remove("OKTA_API_TOKEN")
            .env_remove("OKTA_CLIENT_ID")
            .env_remove("OKTA_PRIVATE_KEY_FILE")
            .env_remove("OKTA_ITDR_HASH_KEY");
        // The AWS-facing subcommands talk to this test's moto server.
        if let Some(url) = configured_endpoint() {
            cmd.env("AWS_ENDPOINT_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("running okta-itdr")
    })
    .await
    .expect("join")
}

/// Builds every binary of the workspace with its tests, as the test command
/// does (`tests/run.sh`): with the tests in the build, the dependencies'
/// features are those `cargo test --workspace` resolves and nothing is
/// compiled a second time (`-p ingest` alone would resolve other features and
/// rebuild half the tree). After the test command's build this is a no-op.
fn build_workspace_binaries() -> Result<HashMap<String, PathBuf>, String> {
    let mut cmd = cargo_command(&[
        "build",
        "--quiet",
        "--message-format=json",
        "--workspace",
        "--bins",
        "--tests",
    ]);
    let out = cmd.output().map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut found = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_bin = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "bin"));
        // A bin's unit-test harness has the bin's name too.
        if msg["reason"] == "compiler-artifact" && is_bin && msg["profile"]["test"] == false {
            if let (Some(name), Some(exe)) =
                (msg["target"]["name"].as_str(), msg["executable"].as_str())
            {
                found.insert(name.to_owned(), PathBuf::from(exe));
            }
        }
    }
    Ok(found)
}

/// A function binary running against a Runtime API, killed when dropped.
pub struct FunctionProcess {
    child: tokio::process::Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl FunctionProcess {
    /// Starts `binary` with the Lambda environment, the moto endpoint and `env`.
    pub fn spawn(
        binary: &Path,
        runtime_api: &str,
        function_name: &str,
        env: &[(&str, String)],
    ) -> Self {
        use tokio::io::AsyncBufReadExt;

        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/10/[$LATEST]e2e")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            )
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", endpoint())
            .env(
                "AWS_ACCESS_KEY_ID",
                std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into()),
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into()),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let sink = output.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            let sink = output.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("stderr: {line}"));
                }
            });
        }
        FunctionProcess { child, output }
    }

    /// Everything the process printed so far, one entry per line.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit by itself.
    pub async fn exit_status(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
