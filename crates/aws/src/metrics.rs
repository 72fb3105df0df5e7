//! Metrics as CloudWatch Embedded Metric Format (EMF) log lines.
//!
//! A function prints one JSON object per invocation on stdout; CloudWatch Logs
//! extracts the metrics from it, so there is no `PutMetricData` call to fail,
//! throttle or pay for, and no extra IAM permission. The same line stays readable
//! as a log record.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

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

    /// The document as one log line.
    pub fn to_line(&self, timestamp_ms: i64) -> String {
        self.to_document(timestamp_ms).to_string()
    }

    /// Prints the line on stdout, where Lambda sends it to CloudWatch Logs. Written
    /// directly rather than through `tracing` so no log level can hide it.
    pub fn emit(&self, timestamp_ms: i64) {
        if self.values.is_empty() {
            return;
        }
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.to_line(timestamp_ms));
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
