//! Metrics as CloudWatch Embedded Metric Format (EMF) log lines.
//!
//! A function prints one JSON object per invocation on stdout; CloudWatch Logs
//! extracts the metrics from it, so there is no `PutMetricData` call to fail,
//! throttle or pay for, and no extra IAM permission. The same line stays readable
//! as a log record.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//!
//! Lambda's log-level filter (JSON log format) reads each line's `level` and
//! treats a line without one, or without a valid RFC 3339 `timestamp`, as INFO:
//! at an application log level of WARN or above it would drop every metric line,
//! and the alarms on these metrics would see nothing (or fire on "no data").
//! So the line carries both, its level the configured one when that is above
//! INFO: just enough to pass. Lambda's text format filters nothing.
//! <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>

use serde_json::{Map, Value};

/// The CloudWatch namespace every okta-itdr metric lives in.
pub const NAMESPACE: &str = "okta-itdr";

/// EMF allows at most 100 metrics in one directive.
const MAX_METRICS: usize = 100;

/// CloudWatch units this project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        }
    }
}

/// The metrics of one invocation, under one set of dimensions (usually just the
/// function, e.g. `Function=ingest`), so alarms address them with a fixed
/// dimension value.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    dimensions: Vec<(String, String)>,
    values: Vec<(String, Unit, f64)>,
}

impl Metrics {
    /// Metrics of `function` (the `Function` dimension) in [`NAMESPACE`].
    pub fn for_function(function: &str) -> Self {
        Metrics {
            namespace: NAMESPACE.to_owned(),
            dimensions: vec![("Function".to_owned(), function.to_owned())],
            values: Vec::new(),
        }
    }

    /// Adds `n` to the counter `name` (created at 0 when first named).
    pub fn count(&mut self, name: &str, n: u64) -> &mut Self {
        self.add(name, Unit::Count, n as f64)
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: &str, unit: Unit, value: f64) -> &mut Self {
        match self.values.iter_mut().find(|(n, _, _)| n == name) {
            Some(slot) => {
                slot.1 = unit;
                slot.2 = value;
            }
            None => self.values.push((name.to_owned(), unit, value)),
        }
        self
    }

    fn add(&mut self, name: &str, unit: Unit, value: f64) -> &mut Self {
        match self.values.iter_mut().find(|(n, _, _)| n == name) {
            Some(slot) => slot.2 += value,
            None => self.values.push((name.to_owned(), unit, value)),
        }
        self
    }

    /// Adds every value of `other` (counts add up; other units take `other`'s).
    pub fn merge(&mut self, other: &Metrics) -> &mut Self {
        for (name, unit, value) in &other.values {
            match unit {
                Unit::Count => self.add(name, Unit::Count, *value),
                _ => self.set(name, *unit, *value),
            };
        }
        self
    }

    /// The value recorded for `name`, if any.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
    }

    /// The EMF document: `_aws` metadata, dimension values and metric values at the
    /// top level. Metrics past EMF's limit of 100 per directive go into a second
    /// directive, so none is dropped.
    pub fn to_document(&self, timestamp_ms: i64) -> Value {
        let dimension_names: Vec<Value> = self
            .dimensions
            .iter()
            .map(|(k, _)| Value::String(k.clone()))
            .collect();
        let directives: Vec<Value> = self
            .values
            .chunks(MAX_METRICS)
            .map(|chunk| {
                let metrics: Vec<Value> = chunk
                    .iter()
                    .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit.as_str()}))
                    .collect();
                serde_json::json!({
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": metrics,
                })
            })
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".to_owned(),
            serde_json::json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
        );
        for (k, v) in &self.dimensions {
            doc.insert(k.clone(), Value::String(v.clone()));
        }
        for (name, _, value) in &self.values {
            doc.insert(name.clone(), number(*value));
        }
        Value::Object(doc)
    }

    /// The document as one log line that Lambda's log-level filter passes at
    /// `lambda_level` (`AWS_LAMBDA_LOG_LEVEL`): with a `level` (see
    /// [`line_level`]) and an RFC 3339 `timestamp`.
    pub fn to_line(&self, timestamp_ms: i64, lambda_level: Option<&str>) -> String {
        let mut doc = self.to_document(timestamp_ms);
        if let Value::Object(map) = &mut doc {
            map.insert("level".to_owned(), line_level(lambda_level).into());
            map.insert(
                "timestamp".to_owned(),
                okta_itdr_core::time::format_rfc3339_ms(timestamp_ms).into(),
            );
        }
        doc.to_string()
    }

    /// Prints the line on stdout, where Lambda sends it to CloudWatch Logs. Written
    /// directly rather than through `tracing` so the functions' own log level
    /// cannot hide it, and levelled so Lambda's cannot either.
    pub fn emit(&self, timestamp_ms: i64) {
        if self.values.is_empty() {
            return;
        }
        use std::io::Write;
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.to_line(timestamp_ms, level.as_deref()));
    }
}

/// The `level` of a metric line: INFO, or the application log level Lambda
/// filters at (`AWS_LAMBDA_LOG_LEVEL`) when that is less verbose, so the line
/// is always just severe enough to be sent.
pub fn line_level(lambda_level: Option<&str>) -> &'static str {
    match lambda_level
        .map(|l| l.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("WARN") => "WARN",
        Some("ERROR") => "ERROR",
        Some("FATAL") => "FATAL",
        _ => "INFO",
    }
}

/// Whole numbers as JSON integers, so counts read as counts.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_follows_the_emf_specification() {
        let mut m = Metrics::for_function("ingest");
        m.count("EventsStored", 3).count("EventsStored", 2);
        m.count("EventsRejected", 0);
        m.set("RunDuration", Unit::Milliseconds, 1520.5);
        let doc = m.to_document(1_700_000_000_000);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([
                {"Name": "EventsStored", "Unit": "Count"},
                {"Name": "EventsRejected", "Unit": "Count"},
                {"Name": "RunDuration", "Unit": "Milliseconds"},
            ])
        );
        // Every dimension and metric named in the directive has a top-level value.
        assert_eq!(doc["Function"], "ingest");
        assert_eq!(doc["EventsStored"], 5);
        assert_eq!(doc["EventsRejected"], 0);
        assert_eq!(doc["RunDuration"], 1520.5);
        assert_eq!(m.get("EventsStored"), Some(5.0));
    }

    #[test]
    fn the_line_is_levelled_to_pass_the_configured_filter() {
        let mut m = Metrics::for_function("detect");
        m.count("RunsSucceeded", 1);
        for (configured, want) in [
            (None, "INFO"),
            (Some("TRACE"), "INFO"),
            (Some("DEBUG"), "INFO"),
            (Some("INFO"), "INFO"),
            (Some("WARN"), "WARN"),
            (Some("error"), "ERROR"),
            (Some("FATAL"), "FATAL"),
        ] {
            let line: Value = serde_json::from_str(&m.to_line(1_700_000_000_000, configured))
                .expect("one JSON object");
            assert_eq!(line["level"], want, "{configured:?}");
            assert_eq!(line["timestamp"], "2023-11-14T22:13:20.000Z");
            assert_eq!(line["RunsSucceeded"], 1);
            assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        }
    }

    #[test]
    fn more_than_a_hundred_metrics_split_into_directives() {
        let mut m = Metrics::for_function("detect");
        for i in 0..130 {
            m.count(&format!("M{i}"), i);
        }
        let doc = m.to_document(0);
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0]["Metrics"].as_array().unwrap().len(), 100);
        assert_eq!(directives[1]["Metrics"].as_array().unwrap().len(), 30);
        assert_eq!(doc["M129"], 129);
    }
}
