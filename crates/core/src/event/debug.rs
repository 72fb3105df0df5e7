//! `debugContext.debugData`: a free-form map whose useful keys arrive in several
//! encodings. Okta's own form for behaviours is the Java map text
//! `{New Device=POSITIVE, New IP=NEGATIVE}`; exports and SIEM pipelines also produce a
//! list of `"New Device=POSITIVE"` items, an object of name to verdict, or an object
//! whose keys are the `name=verdict` text. `logOnlySecurityData` is stringified JSON
//! (or already an object) carrying `behaviors` and `risk` for Identity Engine orgs.

use serde::Deserialize;
use serde_json::Value;

use super::lenient;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DebugData {
    #[serde(deserialize_with = "lenient::string")]
    pub dt_hash: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub device_fingerprint: Option<String>,
    #[serde(deserialize_with = "lenient::bool")]
    pub threat_suspected: Option<bool>,
    #[serde(deserialize_with = "lenient::string")]
    pub request_uri: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub url: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub privilege_granted: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub grant_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub granted_scopes: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub factor: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub factor_intent: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub push_with_number_challenge_response_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub tunnels: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub risk_level: Option<String>,
    pub behaviors: Option<Value>,
    pub risk: Option<Value>,
    pub log_only_security_data: Option<Value>,
}

/// Okta's behaviour verdicts, e.g. `New Device` → true (POSITIVE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviors(pub Vec<(String, bool)>);

impl Behaviors {
    pub fn positive(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(n, v)| *v && n.eq_ignore_ascii_case(name))
    }

    pub fn positives(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter(|(_, v)| *v).map(|(n, _)| n.as_str())
    }

    fn push(&mut self, name: &str, verdict: &str) {
        let name = name.trim().trim_matches('"');
        let verdict = verdict.trim().trim_matches('"');
        if name.is_empty() {
            return;
        }
        let positive = verdict.eq_ignore_ascii_case("POSITIVE");
        if !positive && !verdict.eq_ignore_ascii_case("NEGATIVE") {
            return;
        }
        if let Some(slot) = self.0.iter_mut().find(|(n, _)| n == name) {
            slot.1 |= positive;
        } else {
            self.0.push((name.to_owned(), positive));
        }
    }

    fn extend_from(&mut self, value: &Value) {
        match value {
            Value::String(text) => {
                let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
                for pair in inner.split(',') {
                    if let Some((n, v)) = pair.split_once('=') {
                        self.push(n, v);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.extend_from(item);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::String(verdict) => self.push(k, verdict),
                        _ => {
                            if let Some((n, verdict)) = k.split_once('=') {
                                self.push(n, verdict);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Okta's risk assessment of the request (`LOW`, `MEDIUM`, `HIGH`) and its reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Risk {
    pub level: Option<String>,
    pub reasons: Option<String>,
    /// Identity Threat Protection's name for what it detected (`detectionName`).
    pub detection: Option<String>,
}

impl Risk {
    fn merge_from(&mut self, value: &Value) {
        match value {
            // Java map text: `{level=HIGH, reasons=Anomalous Location}`
            Value::String(text) => {
                let t = text.trim();
                if t.starts_with('{') && t.contains('"') {
                    if let Ok(v) = serde_json::from_str::<Value>(t) {
                        return self.merge_from(&v);
                    }
                }
                let inner = t.trim_start_matches('{').trim_end_matches('}');
                if !inner.contains('=') && !inner.is_empty() {
                    self.level
                        .get_or_insert_with(|| inner.trim().to_ascii_uppercase());
                    return;
                }
                for (key, val) in java_map_pairs(inner) {
                    self.set(key, val);
                }
            }
            Value::Object(map) => {
                if let Some(level) = map.get("level").and_then(Value::as_str) {
                    self.set("level", level);
                }
                if let Some(reasons) = map.get("reasons").and_then(Value::as_str) {
                    self.set("reasons", reasons);
                }
                if let Some(name) = map.get("detectionName").and_then(Value::as_str) {
                    self.set("detectionName", name);
                }
            }
            _ => {}
        }
    }

    fn set(&mut self, key: &str, val: &str) {
        if val.is_empty() {
            return;
        }
        match key {
            "level" => self.level = Some(val.to_ascii_uppercase()),
            "reasons" => self.reasons = Some(val.to_owned()),
            "detectionName" => self.detection = Some(val.to_owned()),
            _ => {}
        }
    }
}

/// Splits Java map text `a=1, b=x, y, c=2` into pairs. A value may contain
/// commas; a new pair starts only where `, ` is followed by `word=`.
fn java_map_pairs(text: &str) -> Vec<(&str, &str)> {
    let mut starts = vec![0];
    for (i, _) in text.match_indices(", ") {
        let rest = &text[i + 2..];
        let key_len = rest.find('=').unwrap_or(0);
        if key_len > 0
            && rest[..key_len]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            starts.push(i + 2);
        }
    }
    starts.push(text.len() + 2);
    starts
        .windows(2)
        .filter_map(|w| {
            let pair = text[w[0]..w[1] - 2].trim();
            let (k, v) = pair.split_once('=')?;
            Some((k.trim(), v.trim()))
        })
        .collect()
}

impl DebugData {
    fn security_data(&self) -> Option<Value> {
        match self.log_only_security_data.as_ref()? {
            Value::String(s) => serde_json::from_str(s).ok(),
            v @ Value::Object(_) => Some(v.clone()),
            _ => None,
        }
    }

    /// Behaviours from `behaviors` and from `logOnlySecurityData.behaviors`.
    pub fn behaviors(&self) -> Behaviors {
        let mut b = Behaviors::default();
        if let Some(v) = &self.behaviors {
            b.extend_from(v);
        }
        if let Some(v) = self
            .security_data()
            .as_ref()
            .and_then(|s| s.get("behaviors"))
        {
            b.extend_from(v);
        }
        b
    }

    /// Risk from `risk`, `logOnlySecurityData.risk` and `riskLevel`.
    pub fn risk(&self) -> Risk {
        let mut r = Risk::default();
        if let Some(v) = self.security_data().as_ref().and_then(|s| s.get("risk")) {
            r.merge_from(v);
        }
        if let Some(v) = &self.risk {
            r.merge_from(v);
        }
        if r.level.is_none() {
            r.level = self.risk_level.as_ref().map(|l| l.to_ascii_uppercase());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> DebugData {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn behaviors_in_okta_string_form() {
        let d = data(
            json!({"behaviors": "{New Geo-Location=NEGATIVE, New Device=POSITIVE, New IP=POSITIVE, Velocity=NEGATIVE}"}),
        );
        let b = d.behaviors();
        assert!(b.positive("New Device"));
        assert!(b.positive("New IP"));
        assert!(!b.positive("Velocity"));
        assert_eq!(b.0.len(), 4);
    }

    #[test]
    fn behaviors_in_list_and_map_forms() {
        let list =
            data(json!({"behaviors": ["New Device=POSITIVE", "New IP=NEGATIVE"]})).behaviors();
        assert!(list.positive("new device") && !list.positive("New IP"));
        let map = data(json!({"behaviors": {"New Device": "POSITIVE", "New IP": "NEGATIVE"}}))
            .behaviors();
        assert!(map.positive("New Device") && !map.positive("New IP"));
        let keyed =
            data(json!({"behaviors": {"New Device=POSITIVE": null, "New IP=NEGATIVE": null}}))
                .behaviors();
        assert!(keyed.positive("New Device") && !keyed.positive("New IP"));
    }

    #[test]
    fn security_data_as_stringified_json_or_object() {
        let s = data(
            json!({"logOnlySecurityData": "{\"risk\":{\"level\":\"HIGH\"},\"behaviors\":{\"New IP\":\"POSITIVE\"}}"}),
        );
        assert!(s.behaviors().positive("New IP"));
        assert_eq!(s.risk().level.as_deref(), Some("HIGH"));
        let o = data(json!({"logOnlySecurityData": {"risk": {"level": "low"}}}));
        assert_eq!(o.risk().level.as_deref(), Some("LOW"));
    }

    #[test]
    fn risk_in_java_map_text() {
        let r =
            data(json!({"risk": "{reasons=Anomalous Location, New Device, level=MEDIUM}"})).risk();
        assert_eq!(r.level.as_deref(), Some("MEDIUM"));
        assert_eq!(r.reasons.as_deref(), Some("Anomalous Location, New Device"));
        let r = data(json!({"risk": "{level=HIGH, reasons=Anomalous Device}"})).risk();
        assert_eq!(r.level.as_deref(), Some("HIGH"));
        assert_eq!(r.reasons.as_deref(), Some("Anomalous Device"));
        // Identity Threat Protection's user.risk.* events carry more keys.
        let r = data(json!({"risk": "{previousLevel=LOW, level=HIGH, detectionName=Session Influence, reasons=a, b}"})).risk();
        assert_eq!(r.level.as_deref(), Some("HIGH"));
        assert_eq!(r.reasons.as_deref(), Some("a, b"));
        assert_eq!(r.detection.as_deref(), Some("Session Influence"));
    }

    #[test]
    fn garbage_is_empty_not_an_error() {
        let d = data(json!({"behaviors": 17, "risk": [1, 2], "logOnlySecurityData": "{not json"}));
        assert!(d.behaviors().0.is_empty());
        assert_eq!(d.risk(), Risk::default());
    }
}
