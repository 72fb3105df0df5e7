//! Mass lockout: many distinct users locked out within minutes across the org,
//! the mark of a spray or of a deliberate denial of service.

use std::collections::HashSet;

use super::super::{Analysis, FindingPrincipal};
use super::index::{Index, LOCKOUT};
use super::window::{self, Distinct, Hit};
use super::MASS_LOCKOUT;
use crate::record::ActivityRecord;

pub(super) fn counts(r: &ActivityRecord) -> bool {
    r.event.event_type == "user.account.lock" || r.event.event_type == "user.account.lock.limit"
}

/// The user locked out: the event's user target, else its actor.
fn locked_user(r: &ActivityRecord) -> &str {
    r.target_of_kind("User")
        .and_then(|t| t.id.as_deref())
        .unwrap_or(&r.identity)
}

fn locked_label(r: &ActivityRecord) -> &str {
    match r.target_of_kind("User") {
        Some(t) if t.id.is_some() => t.login.as_deref().or(t.id.as_deref()).unwrap_or_default(),
        _ => r.identity_label(),
    }
}

/// Users named in a finding.
const MAX_NAMED: usize = 20;

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    if !a.config.enabled(MASS_LOCKOUT) {
        return;
    }
    let width = window::minutes_threshold(a.config, MASS_LOCKOUT, "window_minutes");
    let min = window::count_threshold(a.config, MASS_LOCKOUT, "distinct_users");
    let group: Vec<u32> = ix.positions(LOCKOUT).map(|p| p as u32).collect();
    let group = &group;
    let triggers = window::slide(
        a.records,
        group,
        width,
        Distinct::at_least(min, locked_user),
    );
    let Some(burst) = window::burst_in_hour(a, group, &triggers) else {
        return;
    };
    let locks = window::span(a.records, group, burst.first, burst.last, |_| true);
    let mut users: HashSet<&str> = HashSet::new();
    let mut named: Vec<&str> = Vec::new();
    for r in locks.clone() {
        if users.insert(locked_user(r)) && named.len() < MAX_NAMED {
            named.push(locked_label(r));
        }
    }
    let summary = format!(
        "{} users locked out between {} and {}: {}",
        users.len(),
        window::clock(a.records[group[burst.first] as usize].published),
        window::clock(a.records[group[burst.last] as usize].published),
        named.join(", ")
    );
    let f = window::finding(
        MASS_LOCKOUT,
        FindingPrincipal::org(),
        burst.anchor,
        summary,
        locks,
    )
    .fact("distinct_users", users.len())
    .fact("users", named);
    hits.push(Hit {
        trigger: burst.trigger,
        finding: f,
    });
}
