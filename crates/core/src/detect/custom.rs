//! Findings of custom (Sigma) rules. Ingest evaluated the rules on the raw
//! event and left the matches on its records; here each match on an actor
//! record of the hour becomes a finding, deduplicated, suppressed and
//! rendered like a single-event detection's. The rule id is the detection id.

use super::{Analysis, Finding, FindingPrincipal, Severity};
use crate::record::{ActivityRecord, Role};
use crate::sigma::RuleMatch;

pub fn severity(level: &str) -> Severity {
    match level {
        "informational" => Severity::Informational,
        "low" => Severity::Low,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => Severity::Medium,
    }
}

pub fn evaluate(a: &Analysis<'_>) -> Vec<Finding> {
    a.in_hour()
        .filter(|r| r.role == Role::Actor && !r.details.rules.is_empty())
        .flat_map(|r| {
            r.details
                .rules
                .iter()
                // A rule only a correlation counts is not reported alone.
                .filter(|m| m.alone)
                .map(move |m| finding(m, r))
        })
        .collect()
}

pub(crate) fn finding(m: &RuleMatch, r: &ActivityRecord) -> Finding {
    let principal = FindingPrincipal::of_record(r);
    let from = r
        .network
        .ip
        .as_deref()
        .map(|ip| format!(" from {ip}"))
        .unwrap_or_default();
    let summary = format!(
        "Custom rule {:?} matched {} by {}{from}",
        m.title,
        r.event.event_type,
        principal.label()
    );
    let mut f = Finding::of_one(
        m.id.clone(),
        severity(&m.level),
        m.title.clone(),
        principal,
        r,
        summary,
    )
    .fact("rule_file", m.file.as_str())
    .fact("rule_level", m.level.as_str())
    .fact("event_type", r.event.event_type.as_str());
    if !m.mitre.is_empty() {
        f = f.fact("mitre", m.mitre.clone());
    }
    f
}
