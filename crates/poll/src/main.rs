//! The poll Lambda function: on its schedule, reads the Okta System Log API and
//! ingests what Log Streaming missed (gap-fill) or everything (primary).

use lambda_runtime::{service_fn, LambdaEvent};
use okta_itdr_aws::poll::{load_credentials, PollConfig, PollHandler};
use okta_itdr_aws::{logging, rules, runtime, secrets, IngestSettings};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Read once per cold start, each with a permission scoped to that one secret.
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let key = match IngestSettings::hash_key_secret_from_env() {
        Ok(name) => secrets::fetch_hash_key(&secrets, &name).await,
        Err(e) => Err(e),
    };
    let config = match key.and_then(PollConfig::from_env) {
        Ok(c) => c,
        Err(e) => return Err(runtime::init_failed("InvalidConfiguration", e).await),
    };
    let credentials = match load_credentials(&secrets, &config.credentials_secret).await {
        Ok(c) => c,
        Err(e) => return Err(runtime::init_failed("InvalidCredentials", e).await),
    };
    let custom = match rules::load_configured(&sdk, config.ingest.custom_rules.as_ref()).await {
        Ok(r) => r,
        Err(e) => return Err(runtime::init_failed("InvalidCustomRules", e).await),
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let handler = match PollHandler::from_config(&config, credentials, dynamodb) {
        Ok(h) => h.with_rules(custom),
        Err(e) => return Err(runtime::init_failed("InvalidConfiguration", e).await),
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event).await
    }))
    .await
}
