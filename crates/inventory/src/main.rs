//! The inventory Lambda function: on its schedule, reads the Okta org's
//! identity inventory, stores what alert enrichment needs and publishes
//! posture findings on change.

use lambda_runtime::{service_fn, LambdaEvent};
use okta_itdr_aws::handlers::inventory::{handler_from_secret, InventoryConfig};
use okta_itdr_aws::handlers::wall_clock;
use okta_itdr_aws::poll::{parse_credentials, read_credentials_text};
use okta_itdr_aws::sdk::Function;
use okta_itdr_aws::secrets::{Refreshing, SECRET_TTL};
use okta_itdr_aws::{logging, runtime};
use serde_json::Value;

/// The `Function` dimension of this binary's metrics.
const FUNCTION: &str = "inventory";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let sdk = Function::Inventory.sdk_config().await;
    let config = match InventoryConfig::from_env() {
        Ok(c) => c,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    // The credentials secret only: the inventory hashes no usernames.
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = config.credentials_secret.clone();
    let credentials = match read_credentials_text(&client, &secret).await {
        Ok(text) => match parse_credentials(&secret, &text) {
            Ok(_) => text,
            Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidCredentials", e).await),
        },
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidCredentials", e).await),
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let build = |material: &okta_itdr_aws::config::Secret| {
        handler_from_secret(
            |n| std::env::var(n).ok(),
            material,
            dynamodb.clone(),
            sns.clone(),
        )
    };
    let handler = match build(&credentials) {
        Ok(h) => h,
        Err(e) => return Err(runtime::init_failed(FUNCTION, "InvalidConfiguration", e).await),
    };
    // Re-read every five minutes as poll does: a rotation is in use without a
    // redeploy (a warm container between daily runs reads it again).
    let handler = Refreshing::new(SECRET_TTL, handler, credentials, wall_clock());
    let read = || async {
        read_credentials_text(&client, &secret)
            .await
            .map_err(|e| e.to_string())
    };
    let (handler, read, build) = (&handler, &read, &build);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let current = handler.get(wall_clock(), read, build).await;
        current.handle(event).await
    }))
    .await
}
