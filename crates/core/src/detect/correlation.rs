//! Findings of custom Sigma correlation rules (`event_count`, `value_count`).
//!
//! Ingest left, on each match of a counted rule, the values of the fields the
//! correlation groups and counts by. Here the timespan slides over each group's
//! matches: a window ending at each match of the analysed hour is checked, and
//! the first that meets the condition is the group's finding for the hour (its
//! first event the anchor). A burst that goes on into the next hour finds
//! again there, and suppression folds it into the delivered alert.

use std::collections::{BTreeMap, HashMap};

use super::custom::severity;
use super::{Analysis, Finding, FindingPrincipal, PrincipalKind};
use crate::record::{ActivityRecord, Network, Role};
use crate::sigma::{Correlation, Count};
use crate::time::MINUTE;

/// Evidence uuids kept on one finding; `count` has the total.
const MAX_EVIDENCE: usize = 100;

pub fn evaluate(a: &Analysis<'_>) -> Vec<Finding> {
    a.config
        .correlations
        .iter()
        .flat_map(|c| correlate(a, c))
        .collect()
}

/// One counted match: the record, its group and (for `value_count`) its value.
struct Hit<'a> {
    record: &'a ActivityRecord,
    value: Option<&'a str>,
}

fn correlate<'a>(a: &Analysis<'a>, c: &Correlation) -> Vec<Finding> {
    let from = a.hour.start() - c.timespan;
    let mut groups: BTreeMap<Vec<&str>, Vec<Hit<'_>>> = BTreeMap::new();
    // Actor records only: one per event, in (published, uuid) order.
    for r in a
        .records
        .iter()
        .filter(|r| r.role == Role::Actor && r.published >= from && r.published < a.hour.end())
    {
        let Some(m) = r.details.rules.iter().find(|m| c.rules.contains(&m.id)) else {
            continue;
        };
        let field = |f: &str| m.fields.get(f).map(String::as_str);
        let key: Vec<&str> = c.group_by.iter().map(|f| field(f).unwrap_or("")).collect();
        let value = match &c.count {
            Count::Events => None,
            // An event without the counted field adds no value.
            Count::Values(f) => match field(f) {
                Some(v) => Some(v),
                None => continue,
            },
        };
        groups
            .entry(key)
            .or_default()
            .push(Hit { record: r, value });
    }
    groups
        .into_iter()
        .filter_map(|(key, hits)| {
            window(a, c, &hits).map(|(i, j, n)| finding(c, &key, &hits[i..=j], n))
        })
        .collect()
}

/// The first window `[i, j]` ending in the hour whose count meets the
/// condition, with that count.
fn window(a: &Analysis<'_>, c: &Correlation, hits: &[Hit<'_>]) -> Option<(usize, usize, u64)> {
    let mut start = 0;
    let mut values: HashMap<&str, u32> = HashMap::new();
    for (j, hit) in hits.iter().enumerate() {
        if let Some(v) = hit.value {
            *values.entry(v).or_default() += 1;
        }
        // The window is (t - timespan, t].
        while hits[start].record.published <= hit.record.published - c.timespan {
            if let Some(v) = hits[start].value {
                if let Some(n) = values.get_mut(v) {
                    *n -= 1;
                    if *n == 0 {
                        values.remove(v);
                    }
                }
            }
            start += 1;
        }
        if !a.in_hour_time(hit.record.published) {
            continue;
        }
        let count = match c.count {
            Count::Events => (j - start + 1) as u64,
            Count::Values(_) => values.len() as u64,
        };
        if c.holds(count) {
            return Some((start, j, count));
        }
    }
    None
}

fn finding(c: &Correlation, key: &[&str], hits: &[Hit<'_>], count: u64) -> Finding {
    let first = hits[0].record;
    let last = hits[hits.len() - 1].record;
    let group: BTreeMap<&str, &str> = c
        .group_by
        .iter()
        .map(String::as_str)
        .zip(key.iter().copied())
        .collect();
    let described: Vec<String> = group.iter().map(|(f, v)| format!("{f}={v}")).collect();
    let principal = if hits.iter().all(|h| h.record.identity == first.identity) {
        FindingPrincipal::of_record(first)
    } else {
        let label = described.join(", ");
        FindingPrincipal {
            identity: format!("group:{}", label.chars().take(200).collect::<String>()),
            kind: PrincipalKind::Org,
            login: None,
            name: Some(label).filter(|l| !l.is_empty()),
        }
    };
    let counted = match &c.count {
        Count::Events => format!("{count} matching events"),
        Count::Values(f) => format!(
            "{count} distinct {f} values over {} matching events",
            hits.len()
        ),
    };
    let scope = if described.is_empty() {
        String::new()
    } else {
        format!(" for {}", described.join(", "))
    };
    let minutes = c.timespan / MINUTE;
    let summary = format!(
        "Correlation {:?}: {counted} within {}{scope} (condition {})",
        c.meta.title,
        if minutes > 0 {
            format!("{minutes} min")
        } else {
            format!("{} s", c.timespan / 1000)
        },
        c.condition_text()
    );
    let mut endpoints: Vec<Network> = Vec::new();
    for h in hits {
        if h.record.network.ip.is_some() && !endpoints.iter().any(|n| n.ip == h.record.network.ip) {
            endpoints.push(Network::clone(&h.record.network));
        }
    }
    endpoints.truncate(MAX_EVIDENCE);
    let mut f = Finding {
        detection: c.meta.id.clone(),
        severity: severity(&c.meta.level),
        title: c.meta.title.clone(),
        principal,
        summary,
        anchor: first.published,
        first_seen: first.published,
        last_seen: last.published,
        evidence: hits
            .iter()
            .take(MAX_EVIDENCE)
            .map(|h| h.record.uuid.to_string())
            .collect(),
        endpoints,
        facts: Default::default(),
        related: Vec::new(),
    }
    .fact("rule_file", c.meta.file.as_str())
    .fact("rule_level", c.meta.level.as_str())
    .fact(
        "correlation",
        match c.count {
            Count::Events => "event_count",
            Count::Values(_) => "value_count",
        },
    )
    .fact("count", count)
    .fact("events", hits.len())
    .fact("timespan_seconds", c.timespan / 1000)
    .fact("condition", c.condition_text());
    if !group.is_empty() {
        f = f.fact("group_by", serde_json::to_value(&group).unwrap_or_default());
    }
    if !c.meta.mitre.is_empty() {
        f = f.fact("mitre", c.meta.mitre.clone());
    }
    f
}
