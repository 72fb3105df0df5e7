//! App access bursts: one user opening many distinct apps through SSO within
//! minutes (an intruder surveying what a stolen session reaches), and one user
//! repeatedly trying apps not assigned to them.

use std::collections::HashSet;

use super::super::{Analysis, FindingPrincipal};
use super::index::{Index, APP_SSO, UNAUTHORIZED_APP};
use super::window::{self, Count, Distinct, Hit, Trigger};
use super::{RAPID_APP_ACCESS, UNAUTHORIZED_APP_ACCESS_BURST};
use crate::record::ActivityRecord;
use crate::time::Millis;

pub(super) fn counts_for_rapid_access(r: &ActivityRecord) -> bool {
    r.event.event_type == "user.authentication.sso"
        && r.event.outcome.is_success()
        && app_of(r).is_some()
}

pub(super) fn counts_for_unauthorized(r: &ActivityRecord) -> bool {
    r.event.event_type == "app.generic.unauth_app_access_attempt"
}

/// The app instance an event is about: its id, else its name.
fn app_of(r: &ActivityRecord) -> Option<&str> {
    r.target_of_kind("AppInstance")
        .and_then(|t| t.id.as_deref().or(t.name.as_deref()))
}

fn app_key(r: &ActivityRecord) -> &str {
    app_of(r).unwrap_or_default()
}

fn app_name(r: &ActivityRecord) -> &str {
    r.target_of_kind("AppInstance")
        .and_then(|t| t.name.as_deref().or(t.id.as_deref()))
        .unwrap_or("an unnamed app")
}

/// Apps named in a finding.
const MAX_NAMED: usize = 20;

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    if a.config.enabled(RAPID_APP_ACCESS) {
        let width = window::minutes_threshold(a.config, RAPID_APP_ACCESS, "window_minutes");
        let min = window::count_threshold(a.config, RAPID_APP_ACCESS, "distinct_apps");
        bursts(
            a,
            ix,
            hits,
            RAPID_APP_ACCESS,
            APP_SSO,
            (min, width),
            |records, group| window::slide(records, group, width, Distinct::at_least(min, app_key)),
        );
    }
    if a.config.enabled(UNAUTHORIZED_APP_ACCESS_BURST) {
        let width =
            window::minutes_threshold(a.config, UNAUTHORIZED_APP_ACCESS_BURST, "window_minutes");
        let min = window::count_threshold(a.config, UNAUTHORIZED_APP_ACCESS_BURST, "attempts");
        bursts(
            a,
            ix,
            hits,
            UNAUTHORIZED_APP_ACCESS_BURST,
            UNAUTHORIZED_APP,
            (min, width),
            |records, group| window::slide(records, group, width, Count::at_least(min)),
        );
    }
}

/// One burst finding per user whose events of `flag` make the pattern.
fn bursts<'a>(
    a: &Analysis<'a>,
    ix: &Index<'a>,
    hits: &mut Vec<Hit>,
    id: &str,
    flag: u16,
    (min, width): (usize, Millis),
    slide: impl Fn(&'a [ActivityRecord], &[u32]) -> Vec<Trigger>,
) {
    for (_, timeline) in ix.active(flag) {
        let group = &timeline.with(ix, flag);
        // At least `min` events within the window, ending in the hour.
        if !window::reaches(a.records, group, width, min, a.hour.start()) {
            continue;
        }
        let triggers = slide(a.records, group);
        let Some(burst) = window::burst_in_hour(a, group, &triggers) else {
            continue;
        };
        let events = window::span(a.records, group, burst.first, burst.last, |_| true);
        let mut apps: HashSet<&str> = HashSet::new();
        let mut named: Vec<&str> = Vec::new();
        for r in events.clone() {
            if apps.insert(app_key(r)) && named.len() < MAX_NAMED {
                named.push(app_name(r));
            }
        }
        let first = &a.records[group[burst.first] as usize];
        let last: Millis = a.records[group[burst.last] as usize].published;
        let principal = FindingPrincipal::of_record(first);
        let minutes = (last - first.published) / crate::time::MINUTE;
        let n = events.clone().count();
        let summary = if id == RAPID_APP_ACCESS {
            format!(
                "{} opened {} apps through SSO within {minutes} min: {}",
                principal.label(),
                apps.len(),
                named.join(", ")
            )
        } else {
            format!(
                "{} tried {n} times within {minutes} min to open apps not assigned to them: {}",
                principal.label(),
                named.join(", ")
            )
        };
        let f = window::finding(id, principal, burst.anchor, summary, events)
            .fact("distinct_apps", apps.len())
            .fact("apps", named);
        hits.push(Hit {
            trigger: burst.trigger,
            finding: f,
        });
    }
}
