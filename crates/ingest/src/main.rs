//! The ingest Lambda function: stores each Okta System Log event that
//! EventBridge delivers as per-identity activity records.

use lambda_runtime::{service_fn, LambdaEvent};
use okta_itdr_aws::handlers::{wall_clock, IngestHandler};
use okta_itdr_aws::{logging, runtime, IngestSettings};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let settings = match IngestSettings::from_env() {
        Ok(s) => s,
        Err(e) => return Err(runtime::init_failed("InvalidConfiguration", e).await),
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let handler = match IngestHandler::from_sdk_config(&settings, &sdk) {
        Ok(h) => h,
        Err(e) => return Err(runtime::init_failed("InvalidConfiguration", e).await),
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event, wall_clock()).await
    }))
    .await
}
