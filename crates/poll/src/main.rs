//! The poll Lambda function: on its schedule, reads the Okta System Log API and
//! ingests what Log Streaming missed (gap-fill) or everything (primary).

use lambda_runtime::{service_fn, LambdaEvent};
use okta_itdr_aws::handlers::wall_clock;
use okta_itdr_aws::poll::{
    handler_from_secrets, parse_credentials, read_credentials_text, secrets_material, BuildError,
    PollConfig,
};
use okta_itdr_aws::recovery::Queues;
use okta_itdr_aws::sdk::Function;
use okta_itdr_aws::secrets::{Refreshing, SECRET_TTL};
use okta_itdr_aws::{logging, rules, runtime, secrets, IngestSettings};
use serde_json::Value;

/// The `Function` dimension of this binary's metrics.
const FUNCTION: &str = "poll";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let sdk = Function::Poll.sdk_config().await;
    // Each secret with a permission scoped to that one secret.
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let key_secret = match IngestSettings::hash_key_secret_from_env() {
        Ok(name) => name,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    let key = match secrets::fetch_hash_key(&client, &key_secret).await {
        Ok(key) => key,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    let config = match PollConfig::from_env(key.clone()) {
        Ok(c) => c,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    let credentials_secret = config.credentials_secret.clone();
    let credentials = match read_credentials_text(&client, &credentials_secret).await {
        Ok(text) => match parse_credentials(&credentials_secret, &text) {
            Ok(_) => text,
            Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidCredentials", e).await),
        },
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidCredentials", e).await),
    };
    let custom = match rules::load_configured(&sdk, config.ingest.custom_rules.as_ref()).await {
        Ok(r) => r,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidCustomRules", e).await),
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let build = |material: &okta_itdr_aws::config::Secret| -> Result<_, BuildError> {
        let (config, handler) =
            handler_from_secrets(|n| std::env::var(n).ok(), material, dynamodb.clone())?;
        let handler = match &config.ingest.final_dlq_url {
            Some(url) => handler.with_dead_letters(Queues::new(sqs.clone(), None, url.clone())),
            None => handler,
        };
        Ok(handler.with_rules(custom.clone()))
    };
    let material = secrets_material(&key, &credentials);
    let handler = match build(&material) {
        Ok(h) => h,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    // Both secrets are re-read every five minutes: a rotation is in use within
    // that, without a redeploy.
    let handler = Refreshing::new(SECRET_TTL, handler, material, wall_clock());
    let read = || async {
        let key = secrets::fetch_hash_key(&client, &key_secret)
            .await
            .map_err(|e| e.to_string())?;
        let credentials = read_credentials_text(&client, &credentials_secret)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(secrets_material(&key, &credentials))
    };
    let (handler, read, build) = (&handler, &read, &build);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let current = handler.get(wall_clock(), read, build).await;
        current.handle(event).await
    }))
    .await
}
