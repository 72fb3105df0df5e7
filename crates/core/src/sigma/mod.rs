//! Custom detections written as Sigma rules (`logsource: product: okta`),
//! evaluated where the raw LogEvent is: at ingest and in replay. A match is
//! carried on the event's activity records ([`RuleMatch`]) and becomes a
//! finding in the hourly detector like any single-event detection.
//!
//! Field paths are Okta's LogEvent paths (`eventType`, `securityContext.isProxy`,
//! `target.displayName`), matched without regard to letter case, as SigmaHQ's
//! older Okta rules spell them in lower case. Semantics: string matching is
//! case-insensitive; `*` and `?` are wildcards; modifiers `contains`,
//! `startswith`, `endswith`, `re`, `cidr`, `all`, `exists`; a list of values
//! is an OR (AND with `all`); a field inside an array (`target`) matches when
//! any element does; `'true'` matches a boolean or a string; conditions use
//! `and`, `or`, `not`, parentheses, `1 of` and `all of` patterns.
//!
//! Correlation rules (`event_count`, `value_count`) count the matches of the
//! rules they name, grouped by event fields, within a timespan of at most an
//! hour; the hourly detector runs them ([`crate::detect::correlation`]).

mod condition;
mod correlation;
mod matcher;
mod rule;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use correlation::{Cmp, Correlation, Count, MAX_TIMESPAN};
pub use matcher::MAX_CARRIED_CHARS;
pub use rule::Rule;

/// Rule files larger than this are refused: a rule is a page of YAML.
pub const MAX_RULE_BYTES: usize = 64 * 1024;
/// Longest single value (pattern) in a rule.
pub const MAX_PATTERN_CHARS: usize = 1024;
/// Compiled size limit of one regular expression. The `regex` crate matches in
/// linear time; this bounds the memory a pathological pattern could take.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;

/// Longest rule id: ids name findings and state keys.
pub const MAX_RULE_ID_CHARS: usize = 128;
/// The rule set's budget of regular expressions (wildcards, `re`, `contains`
/// with wildcards…), checked at start-up: each may compile to up to
/// [`MAX_REGEX_BYTES`], and every event is matched against them.
pub const MAX_REGEXES: usize = 1_000;
/// The rule set's budget of regular expression text, all patterns together.
pub const MAX_REGEX_TEXT: usize = 256 * 1024;

/// Whether a file (or object key) is a rule by its name: `*.yml` or `*.yaml`.
/// Rule directories and S3 prefixes hold other files (a README) too.
pub fn is_rule_file(name: &str) -> bool {
    let ext = name.rsplit_once('.').map(|(_, x)| x).unwrap_or_default();
    ext.eq_ignore_ascii_case("yml") || ext.eq_ignore_ascii_case("yaml")
}

/// One rule that matched an event, as the event's records carry it to the
/// hourly detector, which renders it without the rule file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleMatch {
    pub id: String,
    pub title: String,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    pub level: String,
    /// ATT&CK technique ids from `attack.tNNNN` tags, upper case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitre: Vec<String>,
    /// The rule's file name, for the analyst.
    pub file: String,
    /// Values of the fields the correlations counting this rule group or count
    /// by (lower-case path → value), taken from the raw event at ingest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// False for a rule that only feeds correlations (none of them `generate`):
    /// its matches are counted, not reported on their own.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub alone: bool,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// Why a rule was refused: shown as `FILE: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct RuleError {
    pub file: String,
    pub reason: String,
}

/// The loaded custom rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    correlations: Arc<[Correlation]>,
    /// Rules by the event types they are limited to (lower case); the rest
    /// are tried on every event.
    by_type: std::collections::HashMap<String, Vec<usize>>,
    by_prefix: Vec<(String, usize)>,
    any_type: Vec<usize>,
}

impl RuleSet {
    fn new(rules: Vec<Rule>, correlations: Vec<Correlation>) -> Self {
        let mut set = RuleSet {
            rules,
            correlations: correlations.into(),
            ..Default::default()
        };
        for (i, r) in set.rules.iter().enumerate() {
            match r.event_types() {
                Some(types) => {
                    for t in types {
                        match t {
                            matcher::TypeKey::Exact(t) => {
                                let ids = set.by_type.entry(t).or_default();
                                if ids.last() != Some(&i) {
                                    ids.push(i);
                                }
                            }
                            matcher::TypeKey::Prefix(p) => set.by_prefix.push((p, i)),
                        }
                    }
                }
                None => set.any_type.push(i),
            }
        }
        set
    }
}

impl RuleSet {
    /// Parses every `(file name, text)`; any invalid rule refuses the whole set,
    /// so a deployment never runs with a rule silently missing. A file holds
    /// one rule, or several documents (`---`): rules and correlations.
    pub fn parse<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Vec<RuleError>> {
        let mut rules = Vec::new();
        let mut correlations = Vec::new();
        let mut errors = Vec::new();
        let refuse = |file: &str, reason: String| RuleError {
            file: file.to_owned(),
            reason,
        };
        for (file, text) in files {
            let docs = match rule::documents(text) {
                Ok(docs) => docs,
                Err(reason) => {
                    errors.push(refuse(file, reason));
                    continue;
                }
            };
            for doc in &docs {
                let parsed = if doc.contains_key("correlation") {
                    rule::meta(file, doc)
                        .and_then(|meta| Correlation::from_doc(meta, doc))
                        .map(|c| correlations.push(c))
                } else {
                    Rule::from_doc(file, doc).map(|r| rules.push(r))
                };
                if let Err(reason) = parsed {
                    errors.push(refuse(file, reason));
                }
            }
        }
        let mut ids: Vec<(&str, &str)> = rules
            .iter()
            .map(|r| (r.meta.id.as_str(), r.meta.file.as_str()))
            .chain(
                correlations
                    .iter()
                    .map(|c| (c.meta.id.as_str(), c.meta.file.as_str())),
            )
            .collect();
        ids.sort_unstable();
        for pair in ids.windows(2) {
            if pair[0].0 == pair[1].0 {
                errors.push(RuleError {
                    file: pair[1].1.to_owned(),
                    reason: format!("id {} is also the id of {}", pair[1].0, pair[0].1),
                });
            }
        }
        for (id, file) in &ids {
            if id.chars().count() > MAX_RULE_ID_CHARS {
                errors.push(refuse(
                    file,
                    format!("the id is longer than {MAX_RULE_ID_CHARS} characters"),
                ));
            } else if crate::detect::catalog::CATALOG.iter().any(|d| d.id == *id) {
                errors.push(refuse(
                    file,
                    format!("id {id} is the id of a built-in detection; choose another"),
                ));
            }
        }
        let sizes: Vec<usize> = rules.iter().flat_map(|r| r.regex_sizes()).collect();
        let text: usize = sizes.iter().sum();
        if sizes.len() > MAX_REGEXES || text > MAX_REGEX_TEXT {
            errors.push(refuse(
                "(all rules)",
                format!(
                    "{} regular expressions, {text} bytes of pattern in all: over the budget of \
                     {MAX_REGEXES} expressions and {MAX_REGEX_TEXT} bytes (fewer wildcards, or \
                     fewer values per rule)",
                    sizes.len()
                ),
            ));
        }
        errors.extend(link(&mut rules, &mut correlations));
        if errors.is_empty() {
            Ok(RuleSet::new(rules, correlations))
        } else {
            Err(errors)
        }
    }

    /// The correlation rules, for the hourly detector.
    pub fn correlations(&self) -> Arc<[Correlation]> {
        self.correlations.clone()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules that match a LogEvent (the `detail` of an EventBridge event).
    pub fn evaluate(&self, event: &Value) -> Vec<std::sync::Arc<RuleMatch>> {
        let event_type = event.as_object().and_then(|m| {
            m.get("eventType")
                .or_else(|| {
                    m.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("eventType"))
                        .map(|(_, v)| v)
                })
                .and_then(Value::as_str)
        });
        // Okta's event types are lower case already: no copy for them.
        let lower: std::borrow::Cow<'_, str> = match event_type {
            Some(t) if t.bytes().any(|b| b.is_ascii_uppercase()) || !t.is_ascii() => {
                t.to_lowercase().into()
            }
            Some(t) => t.into(),
            None => "".into(),
        };
        let typed = self
            .by_type
            .get(lower.as_ref())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let prefixed = self
            .by_prefix
            .iter()
            .filter(|(p, _)| event_type.is_some() && lower.starts_with(p.as_str()))
            .map(|(_, i)| i);
        // Most events match no rule: nothing is allocated for them.
        let mut hits: Vec<usize> = Vec::new();
        for &i in typed.iter().chain(prefixed).chain(&self.any_type) {
            if self.rules[i].matches(event) {
                hits.push(i);
            }
        }
        // Matches are reported in the rules' order, once, whatever the index.
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter()
            .map(|i| self.rules[i].matched(event))
            .collect()
    }
}

/// The rule-evaluation port: `crates/sigma-compare` runs rsigma-eval and [`RuleSet`] behind it.
pub trait RuleEngine {
    /// The rules that match a LogEvent (the `detail` of an EventBridge event).
    fn evaluate(&self, event: &Value) -> Vec<Arc<RuleMatch>>;
}

impl RuleEngine for RuleSet {
    fn evaluate(&self, event: &Value) -> Vec<Arc<RuleMatch>> {
        RuleSet::evaluate(self, event)
    }
}

/// Resolves each correlation's rules (by id or `name`) to rule ids, and tells
/// each counted rule which fields its matches must carry and whether it is
/// still reported alone.
fn link(rules: &mut [Rule], correlations: &mut [Correlation]) -> Vec<RuleError> {
    let mut errors = Vec::new();
    for c in correlations.iter_mut() {
        let mut ids = Vec::new();
        for wanted in &c.rules {
            match rules
                .iter()
                .position(|r| r.meta.id == *wanted || r.name.as_deref() == Some(wanted))
            {
                Some(i) => ids.push(rules[i].meta.id.clone()),
                None => errors.push(RuleError {
                    file: c.meta.file.clone(),
                    reason: format!(
                        "correlation {} counts rule {wanted:?}, which is not a detection rule of the set (by id or name)",
                        c.meta.id
                    ),
                }),
            }
        }
        ids.dedup();
        c.rules = ids;
    }
    for r in rules.iter_mut() {
        let counting: Vec<&Correlation> = correlations
            .iter()
            .filter(|c| c.rules.contains(&r.meta.id))
            .collect();
        if counting.is_empty() {
            continue;
        }
        let mut feeds: Vec<String> = counting
            .iter()
            .flat_map(|c| c.fields().map(str::to_owned))
            .collect();
        feeds.sort();
        feeds.dedup();
        r.feeds = feeds
            .into_iter()
            .map(|f| {
                let path = matcher::FieldPath::parse(&f);
                (f, path)
            })
            .collect();
        // Sigma's default: a rule a correlation counts is not reported alone
        // unless a correlation says `generate: true`.
        let alone = counting.iter().any(|c| c.generate);
        if !alone {
            let mut meta = RuleMatch::clone(&r.meta);
            meta.alone = false;
            r.meta = Arc::new(meta);
        }
    }
    errors
}

#[cfg(test)]
mod tests;
