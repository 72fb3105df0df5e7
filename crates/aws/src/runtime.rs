//! What the function binaries share around `lambda_runtime`: reporting a failed
//! initialisation to the Runtime API, as a custom runtime must, and counting it
//! as a metric of its own.

use lambda_runtime::Diagnostic;
use lambda_runtime_api_client::body::Body;

const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// The metric an initialisation failure adds to (namespace `okta-itdr`,
/// dimension `Function`). Lambda's own `Errors` counts it too, but beside every
/// other failure: an alarm on this one can fire on the first failed start.
pub const INIT_FAILURES: &str = "InitFailures";

/// Logs an initialisation failure of `function` (`ingest`, `detect`, `poll`),
/// counts it in [`INIT_FAILURES`], reports it to the Runtime API's
/// `/runtime/init/error` (when running under Lambda) and returns it as the
/// error the process exits with.
pub async fn init_failed<E>(function: &str, error_type: &str, err: E) -> lambda_runtime::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    tracing::error!(error_type, error = %err, "initialisation failed");
    crate::metrics::Metrics::for_function(function)
        .count(INIT_FAILURES, 1)
        .emit(crate::clock::wall_clock());
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let diagnostic = Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        };
        if let Err(report) = post_init_error(&diagnostic).await {
            tracing::error!(error = %report, "could not report the initialisation failure to the Runtime API");
        }
    }
    Box::new(err)
}

async fn post_init_error(diagnostic: &Diagnostic) -> Result<(), lambda_runtime::Error> {
    let client = lambda_runtime_api_client::Client::builder().build()?;
    let body = serde_json::to_vec(diagnostic)?;
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri(INIT_ERROR_PATH)
        .header(
            "Lambda-Runtime-Function-Error-Type",
            format!("Runtime.{}", diagnostic.error_type),
        )
        .header("Content-Type", "application/json")
        .body(Body::from(body))?;
    let response = client.call(request).await?;
    if !response.status().is_success() {
        return Err(format!("Runtime API answered {}", response.status()).into());
    }
    Ok(())
}
