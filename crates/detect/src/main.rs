//! The detect Lambda function: one detection run per scheduled event.

use lambda_runtime::{service_fn, LambdaEvent};
use okta_itdr_aws::clock::wall_clock;
use okta_itdr_aws::handlers::DetectHandler;
use okta_itdr_aws::{logging, rules, runtime, DetectSettings};
use serde_json::Value;

/// The `Function` dimension of this binary's metrics.
const FUNCTION: &str = "detect";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let mut settings = match DetectSettings::from_env() {
        Ok(s) => s,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    let sdk = okta_itdr_aws::sdk::Function::Detect.sdk_config().await;
    // The matches ride on the records; the detector needs the correlations.
    match rules::load_configured(&sdk, settings.custom_rules.as_ref()).await {
        Ok(Some(custom)) => settings.detect.correlations = custom.correlations(),
        Ok(None) => {}
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidCustomRules", e).await),
    }
    let handler = DetectHandler::from_sdk_config(&settings, &sdk);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event, wall_clock()).await
    }))
    .await
}
