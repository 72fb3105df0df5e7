//! rsigma-eval behind okta-itdr's rule-evaluation port, with the field-name
//! lookup Okta's rules need: rsigma looks keys up as written, so an adapter
//! over its `Event` trait retries a path without regard to letter case.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use okta_itdr_core::sigma::{RuleEngine, RuleMatch};
use rsigma_eval::event::JsonEvent;
use rsigma_eval::{Engine, Event, EventValue};
use rsigma_parser::DiagnosticSeverity;
use serde_json::Value;

/// A rule set loaded into rsigma-eval's detection engine.
pub struct Rsigma {
    engine: Engine,
    /// What a match carries, by rule id (rsigma reports the id and title).
    metas: HashMap<String, Arc<RuleMatch>>,
    /// Whether events go through [`CiEvent`] (else rsigma's own `JsonEvent`).
    pub case_insensitive: bool,
}

impl Rsigma {
    /// Every `(file, text)`; any refused document or rule is an error, as in
    /// `RuleSet::parse` (a set never runs with a rule silently missing).
    pub fn parse<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Vec<String>> {
        let mut engine = Engine::new();
        let mut metas = HashMap::new();
        let mut errors = Vec::new();
        for (file, text) in files {
            let collection = match rsigma_parser::parse_sigma_yaml(text) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(format!("{file}: parse: {e}"));
                    continue;
                }
            };
            for d in &collection.diagnostics {
                if d.severity == DiagnosticSeverity::Error {
                    errors.push(format!("{file}: {:?}: {}", d.kind, d.message));
                }
            }
            if !collection.correlations.is_empty() {
                // rsigma's correlations need its streaming CorrelationEngine;
                // SigmaHQ's rule folders hold none.
                errors.push(format!(
                    "{file}: correlation (rsigma-eval: CorrelationEngine, not Engine)"
                ));
            }
            for rule in &collection.rules {
                if let Err(e) = engine.add_rule(rule) {
                    errors.push(format!("{file}: compile: {e}"));
                    continue;
                }
                let id = rule.id.clone().unwrap_or_else(|| rule.title.clone());
                let level = rule
                    .level
                    .map(|l| format!("{l:?}").to_ascii_lowercase())
                    .unwrap_or_else(|| "medium".into());
                let mitre = rule
                    .tags
                    .iter()
                    .filter_map(|t| t.strip_prefix("attack.t"))
                    .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.'))
                    .map(|t| format!("T{t}"))
                    .collect();
                metas.insert(
                    id.clone(),
                    Arc::new(RuleMatch {
                        id,
                        title: rule.title.clone(),
                        level,
                        mitre,
                        file: file.to_owned(),
                        fields: Default::default(),
                        alone: true,
                    }),
                );
            }
        }
        if errors.is_empty() {
            Ok(Rsigma {
                engine,
                metas,
                case_insensitive: true,
            })
        } else {
            Err(errors)
        }
    }

    /// rsigma's per-field bloom pre-filter (off by default).
    pub fn set_bloom_prefilter(&mut self, on: bool) {
        self.engine.set_bloom_prefilter(on);
    }

    fn collect(&self, results: Vec<rsigma_eval::EvaluationResult>) -> Vec<Arc<RuleMatch>> {
        let mut out: Vec<Arc<RuleMatch>> = results
            .into_iter()
            .filter_map(|r| {
                let id = r.header.rule_id.unwrap_or(r.header.rule_title);
                self.metas.get(&id).cloned()
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        out
    }
}

impl RuleEngine for Rsigma {
    fn evaluate(&self, event: &Value) -> Vec<Arc<RuleMatch>> {
        if self.case_insensitive {
            self.collect(self.engine.evaluate(&CiEvent::new(event)))
        } else {
            self.collect(self.engine.evaluate(&JsonEvent::borrow(event)))
        }
    }
}

/// A LogEvent whose field paths match keys without regard to letter case:
/// rsigma's exact lookup first (flat keys, `[N]` indices), then a walk that
/// compares each segment ignoring ASCII case, fanning out over arrays.
pub struct CiEvent<'a> {
    json: JsonEvent<'a>,
    value: &'a Value,
}

impl<'a> CiEvent<'a> {
    pub fn new(value: &'a Value) -> Self {
        CiEvent {
            json: JsonEvent::borrow(value),
            value,
        }
    }
}

fn walk<'a>(v: &'a Value, segments: &[&str], out: &mut Vec<EventValue<'a>>) {
    let Some((seg, rest)) = segments.split_first() else {
        out.push(EventValue::from(v));
        return;
    };
    match v {
        Value::Object(map) => {
            let next = map.get(*seg).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                    .map(|(_, v)| v)
            });
            if let Some(next) = next {
                walk(next, rest, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, segments, out);
            }
        }
        _ => {}
    }
}

impl Event for CiEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if let Some(v) = self.json.get_field(path) {
            return Some(v);
        }
        let segments: Vec<&str> = path.split('.').collect();
        let mut out = Vec::new();
        walk(self.value, &segments, &mut out);
        match out.len() {
            0 => None,
            1 => out.pop(),
            _ => Some(EventValue::Array(out)),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.json.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.json.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.json.visit_string_values(visit)
    }

    fn to_json(&self) -> Value {
        self.json.to_json()
    }

    // `top_level_keys` stays `None`: the candidate index must not skip a rule
    // whose path root is spelled in another case than the event's key.
}
