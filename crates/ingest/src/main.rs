//! The ingest Lambda function: stores each Okta System Log event that
//! EventBridge delivers as per-identity activity records, and re-ingests the
//! recovery queue's batches.

use lambda_runtime::{service_fn, LambdaEvent};
use okta_itdr_aws::config::Secret;
use okta_itdr_aws::handlers::{wall_clock, IngestHandler};
use okta_itdr_aws::sdk::Function;
use okta_itdr_aws::secrets::Refreshing;
use okta_itdr_aws::{logging, rules, runtime, secrets, IngestSettings};
use serde_json::Value;

/// The `Function` dimension of this binary's metrics.
const FUNCTION: &str = "ingest";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let sdk = Function::Ingest.sdk_config().await;
    let secret = match IngestSettings::hash_key_secret_from_env() {
        Ok(name) => name,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let key = match secrets::fetch_hash_key(&client, &secret).await {
        Ok(key) => key,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    let material = key.clone();
    let settings = match IngestSettings::from_env(key) {
        Ok(s) => s,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    let custom = match rules::load_configured(&sdk, settings.custom_rules.as_ref()).await {
        Ok(r) => r,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidCustomRules", e).await),
    };
    let build = |key: &Secret| {
        IngestSettings::from_env(key.clone())
            .and_then(|s| IngestHandler::from_sdk_config(&s, &sdk))
            .map(|h| h.with_rules(custom.clone()))
    };
    let handler = match build(&material) {
        Ok(h) => h,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    // The hash key is re-read every five minutes: a rotation is in use within
    // that, without a redeploy.
    let handler = Refreshing::new(secrets::SECRET_TTL, handler, material, wall_clock());
    let (handler, client, secret, build) = (&handler, &client, &secret, &build);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let current = handler
            .get(
                wall_clock(),
                || secrets::fetch_hash_key(client, secret),
                build,
            )
            .await;
        current.invoke(event.payload, wall_clock()).await
    }))
    .await
}
