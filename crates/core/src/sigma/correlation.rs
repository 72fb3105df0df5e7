//! Sigma correlation rules: `event_count` and `value_count` over the matches of
//! detection rules, grouped by fields of the raw event, within a timespan.
//!
//! Ingest records, on each match of a rule a correlation refers to, the values
//! of the fields the correlation groups and counts by (the raw event is gone by
//! the time the hourly detector runs); the detector slides the timespan over
//! those matches ([`crate::detect::correlation`]).

use serde_json::{Map, Value};

use super::RuleMatch;
use crate::time::{Millis, MINUTE};

/// The longest timespan: the detector holds every record of the hour before
/// the one it analyses, and only failures before that.
pub const MAX_TIMESPAN: Millis = 60 * MINUTE;
/// Fields a correlation may group by.
const MAX_GROUP_BY: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Cmp {
    pub fn holds(self, count: u64, limit: u64) -> bool {
        match self {
            Cmp::Gt => count > limit,
            Cmp::Gte => count >= limit,
            Cmp::Lt => count < limit,
            Cmp::Lte => count <= limit,
            Cmp::Eq => count == limit,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
            Cmp::Eq => "=",
        }
    }
}

/// What a correlation counts in its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Count {
    /// Matching events (`event_count`).
    Events,
    /// Distinct values of a field among them (`value_count`); lower case.
    Values(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// Id, title, level, techniques and file, as a finding renders them.
    pub meta: RuleMatch,
    pub count: Count,
    /// The ids of the detection rules it counts (names resolved).
    pub rules: Vec<String>,
    /// Field paths, lower case, as in [`RuleMatch::fields`].
    pub group_by: Vec<String>,
    pub timespan: Millis,
    /// Every comparison must hold.
    pub condition: Vec<(Cmp, u64)>,
    /// The counted rules also make findings of their own.
    pub generate: bool,
}

impl Correlation {
    /// The fields its counted matches must carry.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.group_by
            .iter()
            .map(String::as_str)
            .chain(match &self.count {
                Count::Values(f) => Some(f.as_str()),
                Count::Events => None,
            })
    }

    pub fn holds(&self, count: u64) -> bool {
        self.condition
            .iter()
            .all(|(cmp, limit)| cmp.holds(count, *limit))
    }

    /// `>= 5`, `> 2 and < 10`.
    pub fn condition_text(&self) -> String {
        let parts: Vec<String> = self
            .condition
            .iter()
            .map(|(c, n)| format!("{} {n}", c.symbol()))
            .collect();
        parts.join(" and ")
    }

    /// Reads a correlation document; `rules` are left as written, for the rule
    /// set to resolve.
    pub(super) fn from_doc(
        meta: RuleMatch,
        doc: &Map<String, Value>,
    ) -> Result<Correlation, String> {
        let body = doc
            .get("correlation")
            .and_then(Value::as_object)
            .ok_or("correlation must be a mapping")?;
        let kind = body
            .get("type")
            .and_then(Value::as_str)
            .ok_or("no correlation.type")?;
        let rules = strings(body.get("rules"), "correlation.rules")?;
        if rules.is_empty() {
            return Err("correlation.rules names no rule".into());
        }
        let group_by: Vec<String> = match body.get("group-by") {
            None => Vec::new(),
            some => strings(some, "correlation.group-by")?
                .into_iter()
                .map(|f| f.to_ascii_lowercase())
                .collect(),
        };
        if group_by.len() > MAX_GROUP_BY {
            return Err(format!("more than {MAX_GROUP_BY} group-by fields"));
        }
        let timespan = match body.get("timespan") {
            Some(Value::String(t)) => timespan(t)?,
            Some(_) => return Err("correlation.timespan must be text such as 10m".into()),
            None => return Err("no correlation.timespan".into()),
        };
        let condition = body
            .get("condition")
            .and_then(Value::as_object)
            .ok_or("correlation.condition must be a mapping such as {gte: 5}")?;
        let mut field = None;
        let mut comparisons = Vec::new();
        for (k, v) in condition {
            let cmp = match k.as_str() {
                "gt" => Cmp::Gt,
                "gte" => Cmp::Gte,
                "lt" => Cmp::Lt,
                "lte" => Cmp::Lte,
                "eq" => Cmp::Eq,
                "field" => {
                    field = Some(
                        v.as_str()
                            .ok_or("correlation.condition.field must be text")?
                            .to_ascii_lowercase(),
                    );
                    continue;
                }
                other => return Err(format!("correlation.condition.{other} is not supported")),
            };
            let n = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| format!("correlation.condition.{k} must be a whole number"))?;
            comparisons.push((cmp, n));
        }
        if comparisons.is_empty() {
            return Err("correlation.condition has no comparison (gt, gte, lt, lte, eq)".into());
        }
        let count = match (kind, field) {
            ("event_count", None) => Count::Events,
            ("event_count", Some(_)) => {
                return Err("event_count takes no condition.field; value_count does".into())
            }
            ("value_count", Some(f)) => Count::Values(f),
            ("value_count", None) => {
                return Err(
                    "value_count needs condition.field, the field whose values are counted".into(),
                )
            }
            ("temporal" | "temporal_ordered", _) => {
                return Err(format!(
                    "correlation type {kind} is not supported; event_count and value_count are"
                ))
            }
            (other, _) => return Err(format!("unknown correlation type {other:?}")),
        };
        let generate = match body.get("generate").or_else(|| doc.get("generate")) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("generate must be true or false".into()),
        };
        Ok(Correlation {
            meta,
            count,
            rules,
            group_by,
            timespan,
            condition: comparisons,
            generate,
        })
    }
}

fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        Some(Value::String(s)) => Ok(vec![s.trim().to_owned()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("{what} must be a list of names"))
            })
            .collect(),
        _ => Err(format!("{what} must be a list of names")),
    }
}

/// `30s`, `10m`, `1h`; at most [`MAX_TIMESPAN`].
fn timespan(text: &str) -> Result<Millis, String> {
    let t = text.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("timespan {text:?} is not a number and a unit (30s, 10m, 1h)"))?;
    let ms = match unit {
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(MINUTE),
        "h" => n.checked_mul(60 * MINUTE),
        "d" => n.checked_mul(24 * 60 * MINUTE),
        _ => None,
    }
    .filter(|ms| *ms > 0)
    .ok_or_else(|| format!("timespan {text:?} is not a number and a unit (30s, 10m, 1h)"))?;
    if ms > MAX_TIMESPAN {
        return Err(format!(
            "timespan {text:?} is longer than 1h: the hourly detector keeps one hour of every event before the hour it analyses"
        ));
    }
    Ok(ms)
}
