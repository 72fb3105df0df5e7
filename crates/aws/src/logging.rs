//! One JSON object per log line on stdout, as Lambda's JSON log format expects.
//!
//! The level comes from `RUST_LOG` when set (full `EnvFilter` syntax), else from
//! `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's application log level), else `info`.
//!
//! Whatever the level, the Lambda runtime, the AWS SDK and the HTTP stack log
//! at most [`LIBRARY_CEILING`]: at debug and trace they print request and
//! response bodies, which hold raw Okta events (passwords typed as usernames)
//! and DynamoDB items. The ceiling is a second filter every line must also pass,
//! so no `RUST_LOG` directive can lift it.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The most the libraries that see event bodies may log.
pub const LIBRARY_CEILING: LevelFilter = LevelFilter::INFO;

/// Targets (module path prefixes) held at [`LIBRARY_CEILING`].
pub const CAPPED_TARGETS: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "aws_lambda_events",
    "aws_config",
    "aws_runtime",
    "aws_sigv4",
    "aws_smithy",
    "aws_sdk",
    "hyper",
    "hyper_util",
    "h2",
    "http_body",
    "rustls",
    "tower",
];

/// The filter every log line passes besides the level: the libraries above
/// capped, everything else as the level says.
pub fn library_ceiling() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPPED_TARGETS.iter().map(|t| (*t, LIBRARY_CEILING)))
}

/// The filter the functions log with, from their environment.
pub fn filter_from_env() -> EnvFilter {
    filter_from(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
    )
}

/// `rust_log` wins when it parses; `lambda_level` (`INFO`, `DEBUG`…) is next.
pub fn filter_from(rust_log: Option<&str>, lambda_level: Option<&str>) -> EnvFilter {
    if let Some(f) = rust_log
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| EnvFilter::try_new(t).ok())
    {
        return f;
    }
    let level = match lambda_level
        .map(|l| l.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some(l @ ("trace" | "debug" | "info" | "warn" | "error")) => l.to_owned(),
        Some("fatal") => "error".to_owned(),
        _ => "info".to_owned(),
    };
    EnvFilter::new(level)
}

/// A JSON subscriber writing to `writer`: event fields at the top level, the
/// current span (the Lambda request id) under `span`, no colours.
pub fn subscriber<W>(writer: W, filter: EnvFilter) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .with_target(true)
        .with_writer(writer)
        .with_filter(filter.and(library_ceiling()));
    tracing_subscriber::registry().with(layer)
}

/// Installs the stdout JSON subscriber for the process. Harmless if one is set.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout, filter_from_env()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_precedence() {
        assert_eq!(
            filter_from(Some("debug"), Some("ERROR")).to_string(),
            "debug"
        );
        assert_eq!(filter_from(None, Some("WARN")).to_string(), "warn");
        assert_eq!(filter_from(Some(""), Some("FATAL")).to_string(), "error");
        assert_eq!(filter_from(None, None).to_string(), "info");
        assert_eq!(filter_from(None, Some("nonsense")).to_string(), "info");
    }

    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_directive_lifts_the_library_ceiling() {
        let out = Captured::default();
        let writer = out.clone();
        let filter = filter_from(
            Some("trace,lambda_runtime=trace,aws_smithy_runtime=trace"),
            None,
        );
        let sub = subscriber(move || writer.clone(), filter);
        tracing::subscriber::with_default(sub, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "hunter2-runtime", "event");
            tracing::debug!(target: "aws_smithy_runtime::client::http", body = "hunter2-sdk", "response");
            tracing::trace!(target: "hyper::proto", "hunter2-http");
            tracing::info!(target: "lambda_runtime", "runtime started");
            tracing::trace!(target: "okta_itdr_aws::handlers", "own trace line");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("runtime started"), "{text}");
        assert!(text.contains("own trace line"), "{text}");
    }
}
