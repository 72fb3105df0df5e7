//! Lambda's application log-level filter, as documented, applied to what a
//! function printed: which lines reach CloudWatch Logs (and so which EMF
//! metrics CloudWatch extracts).
//!
//! <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>:
//! - filtering needs the JSON log format; the text format sends every line;
//! - a line is a JSON object with a `"level"` key; an invalid or missing level
//!   is INFO, and so is a line without a valid RFC 3339 `timestamp`;
//! - at an application log level, Lambda sends that level and the less
//!   verbose ones (TRACE < DEBUG < INFO < WARN < ERROR < FATAL); the default is INFO.

use serde_json::Value;

/// Lambda's application log levels, most verbose first.
pub const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

fn rank(level: &str) -> Option<usize> {
    LEVELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(level.trim()))
}

/// The level Lambda assigns to one line of output.
pub fn line_level(line: &str) -> &'static str {
    let info = LEVELS[2];
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(line) else {
        return info;
    };
    let timestamp_ok = doc
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(okta_itdr_core::time::parse_rfc3339_ms)
        .is_some();
    if !timestamp_ok {
        return info;
    }
    doc.get("level")
        .and_then(Value::as_str)
        .and_then(rank)
        .map_or(info, |r| LEVELS[r])
}

/// Whether Lambda sends `line` to CloudWatch Logs with `AWS_LAMBDA_LOG_FORMAT`
/// = `format` and `AWS_LAMBDA_LOG_LEVEL` = `level` (each as Lambda sets them;
/// `None` when unset).
pub fn sent(line: &str, format: Option<&str>, level: Option<&str>) -> bool {
    if !format.is_some_and(|f| f.eq_ignore_ascii_case("JSON")) {
        return true;
    }
    let threshold = level.and_then(rank).unwrap_or(2);
    rank(line_level(line)).unwrap_or(2) >= threshold
}

/// The lines of `output` Lambda sends (the emulator's `stderr: ` prefix removed:
/// Lambda captures both streams alike).
pub fn filter(output: &[String], format: Option<&str>, level: Option<&str>) -> Vec<String> {
    output
        .iter()
        .map(|l| l.strip_prefix("stderr: ").unwrap_or(l).to_owned())
        .filter(|l| sent(l, format, level))
        .collect()
}

/// The EMF documents among `lines`.
pub fn emf_documents(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2024-11-02T16:51:31.587199Z";

    #[test]
    fn the_documented_example_is_debug() {
        let line = format!(r#"{{"level": "debug", "msg": "my debug log", "timestamp": "{TS}"}}"#);
        assert_eq!(line_level(&line), "DEBUG");
        assert!(sent(&line, Some("JSON"), Some("DEBUG")));
        assert!(sent(&line, Some("JSON"), Some("TRACE")));
        assert!(!sent(&line, Some("JSON"), Some("INFO")));
        assert!(!sent(&line, Some("JSON"), None), "INFO by default");
    }

    #[test]
    fn missing_or_invalid_level_or_timestamp_is_info() {
        for line in [
            r#"{"msg": "no level", "timestamp": "2024-11-02T16:51:31Z"}"#.to_owned(),
            format!(r#"{{"level": "loud", "timestamp": "{TS}"}}"#),
            r#"{"level": "ERROR"}"#.to_owned(),
            r#"{"level": "ERROR", "timestamp": "yesterday"}"#.to_owned(),
            "plain text".to_owned(),
        ] {
            assert_eq!(line_level(&line), "INFO", "{line}");
            assert!(sent(&line, Some("JSON"), Some("INFO")), "{line}");
            assert!(!sent(&line, Some("JSON"), Some("WARN")), "{line}");
        }
    }

    #[test]
    fn each_level_sends_itself_and_the_less_verbose() {
        for (i, configured) in LEVELS.iter().enumerate() {
            for (j, level) in LEVELS.iter().enumerate() {
                let line = format!(r#"{{"level": "{level}", "timestamp": "{TS}"}}"#);
                assert_eq!(sent(&line, Some("JSON"), Some(configured)), j >= i);
            }
        }
    }

    #[test]
    fn the_text_format_filters_nothing() {
        let line = format!(r#"{{"level": "TRACE", "timestamp": "{TS}"}}"#);
        assert!(sent(&line, Some("Text"), Some("FATAL")));
        assert!(sent("plain", None, Some("ERROR")));
    }
}
