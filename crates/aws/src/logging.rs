//! One JSON object per log line on stdout, as Lambda's JSON log format expects.
//!
//! The level comes from `RUST_LOG` when set (full `EnvFilter` syntax), else from
//! `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's application log level), else `info`.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

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
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .with_target(true)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
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
}
