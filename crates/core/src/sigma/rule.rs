//! A Sigma rule: its metadata and its compiled detection.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::condition::Condition;
use super::matcher::{FieldPath, Selection};
use super::{RuleMatch, MAX_RULE_BYTES};

/// Named selections a rule may have: more is not a rule someone can review.
const MAX_SELECTIONS: usize = 64;

#[derive(Debug)]
pub struct Rule {
    /// Shared: every record of every matching event points at it.
    pub meta: std::sync::Arc<RuleMatch>,
    /// The `name` correlations may refer to it by (besides its id).
    pub name: Option<String>,
    /// Fields (lower-case paths, compiled once) whose values its matches
    /// carry, because a correlation groups or counts by them.
    pub(super) feeds: Vec<(String, FieldPath)>,
    selections: BTreeMap<String, Selection>,
    condition: Condition,
}

impl Rule {
    /// Its regular expressions' pattern lengths, one per expression.
    pub(super) fn regex_sizes(&self) -> Vec<usize> {
        self.selections
            .values()
            .flat_map(|s| s.regexes())
            .map(|r| r.as_str().len())
            .collect()
    }
}

const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// The documents of a rule file: one rule, or several separated by `---`
/// (a correlation beside the rules it counts, as Sigma writes them).
pub fn documents(text: &str) -> Result<Vec<Map<String, Value>>, String> {
    if text.len() > MAX_RULE_BYTES {
        return Err(format!(
            "the rule is {} bytes, more than the {MAX_RULE_BYTES} a rule may have",
            text.len()
        ));
    }
    // Empty documents (a trailing `---`) are skipped by the parser. Errors
    // without the quoted snippet: a reason is one line (`FILE: reason`).
    let options = serde_saphyr::options! { with_snippet: false };
    let parsed: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| format!("not YAML: {e}"))?;
    let mut docs = Vec::with_capacity(parsed.len());
    for doc in parsed {
        match doc {
            Value::Object(map) => docs.push(map),
            Value::Null => {}
            _ => return Err("not a Sigma rule: not a mapping".into()),
        }
    }
    if docs.is_empty() {
        return Err("no rule in the file".into());
    }
    Ok(docs)
}

/// Title, id, level and techniques: what a finding shows of a rule or a
/// correlation.
pub fn meta(file: &str, doc: &Map<String, Value>) -> Result<RuleMatch, String> {
    let text_field = |key: &str| -> Result<String, String> {
        match doc.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(_) => Err(format!("{key} must be text")),
            None => Err(format!("no {key}")),
        }
    };
    let title = text_field("title")?;
    let id = text_field("id")?;
    let level = match doc.get("level") {
        None => "medium".to_owned(),
        Some(Value::String(l)) if LEVELS.contains(&l.to_ascii_lowercase().as_str()) => {
            l.to_ascii_lowercase()
        }
        Some(other) => return Err(format!("level {other} is not one of {}", LEVELS.join(", "))),
    };
    let mitre = doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(technique)
        .collect();
    Ok(RuleMatch {
        id,
        title,
        level,
        mitre,
        file: file.to_owned(),
        fields: BTreeMap::new(),
        alone: true,
    })
}

impl Rule {
    pub fn from_doc(file: &str, doc: &Map<String, Value>) -> Result<Rule, String> {
        let meta = meta(file, doc)?;
        let product = doc
            .get("logsource")
            .and_then(|l| l.get("product"))
            .and_then(Value::as_str)
            .ok_or("no logsource.product (okta rules say `logsource: product: okta`)")?;
        if !product.eq_ignore_ascii_case("okta") {
            return Err(format!("logsource.product is {product:?}, not okta"));
        }
        let name = match doc.get("name") {
            None => None,
            Some(Value::String(n)) if !n.trim().is_empty() => Some(n.trim().to_owned()),
            Some(_) => return Err("name must be text".into()),
        };
        let detection = doc
            .get("detection")
            .and_then(Value::as_object)
            .ok_or("no detection")?;
        let condition_text = match detection.get("condition") {
            Some(Value::String(c)) => c.clone(),
            Some(Value::Array(list)) if list.len() == 1 => {
                list[0].as_str().ok_or("condition must be text")?.to_owned()
            }
            Some(_) => return Err("condition must be one expression".into()),
            None => return Err("no detection.condition".into()),
        };
        let mut selections = BTreeMap::new();
        for (name, body) in detection.iter().filter(|(k, _)| *k != "condition") {
            if name == "timeframe" {
                return Err(
                    "timeframe is the old aggregation syntax; write a correlation rule (event_count, value_count)"
                        .into(),
                );
            }
            let sel = Selection::compile(body).map_err(|e| format!("selection {name}: {e}"))?;
            selections.insert(name.clone(), sel);
        }
        if selections.is_empty() {
            return Err("detection has no selection".into());
        }
        if selections.len() > MAX_SELECTIONS {
            return Err(format!("more than {MAX_SELECTIONS} selections"));
        }
        let names: Vec<&str> = selections.keys().map(String::as_str).collect();
        let condition = Condition::parse(&condition_text, &names)
            .map_err(|e| format!("condition {condition_text:?}: {e}"))?;
        Ok(Rule {
            meta: std::sync::Arc::new(meta),
            name,
            feeds: Vec::new(),
            selections,
            condition,
        })
    }

    /// The only event types (lower case) the rule can match, if it says so.
    pub fn event_types(&self) -> Option<Vec<super::matcher::TypeKey>> {
        self.condition
            .required()
            .iter()
            .find_map(|name| self.selections.get(*name)?.event_types())
    }

    pub fn matches(&self, event: &Value) -> bool {
        self.condition
            .eval(&|name| self.selections.get(name).is_some_and(|s| s.matches(event)))
    }

    /// What a match of this event carries: the shared metadata, or, for a rule
    /// correlations count, a copy with the values of the fields they need.
    pub fn matched(&self, event: &Value) -> std::sync::Arc<RuleMatch> {
        if self.feeds.is_empty() {
            return self.meta.clone();
        }
        let mut m = RuleMatch::clone(&self.meta);
        for (field, path) in &self.feeds {
            if let Some(v) = path.first_value(event) {
                m.fields.insert(field.clone(), v);
            }
        }
        std::sync::Arc::new(m)
    }
}

/// `attack.t1078.004` → `T1078.004`; other tags (tactics, cars) are not techniques.
fn technique(tag: &str) -> Option<String> {
    let t = tag.strip_prefix("attack.")?;
    let mut chars = t.chars();
    let first = chars.next()?;
    let rest: String = chars.collect();
    let valid = first.eq_ignore_ascii_case(&'t')
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit() || c == '.');
    valid.then(|| format!("T{rest}"))
}
