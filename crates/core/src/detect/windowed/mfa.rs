//! MFA push bombing: many denied or failed pushes for one user in minutes,
//! worse when a push from the same source is then approved.

use super::super::{Analysis, FindingPrincipal, Severity};
use super::index::{Index, MFA_APPROVAL, PUSH_DENIAL};
use super::window::{self, Count, Hit, Trigger};
use super::MFA_PUSH_BOMBING;
use crate::record::ActivityRecord;
use crate::time::MINUTE;

pub(super) const APPROVED_TITLE: &str = "MFA push bombing then approval";

/// A push the user denied, or (Identity Engine) a push verification that failed.
pub(super) fn is_push_denial(r: &ActivityRecord) -> bool {
    r.event.event_type == "user.mfa.okta_verify.deny_push"
        || (r.event.event_type == "user.authentication.auth_via_mfa"
            && r.event.outcome.is_failure()
            && is_push(r))
}

/// A successful MFA verification: after a bombing, the push someone gave in to.
pub(super) fn is_mfa_approval(r: &ActivityRecord) -> bool {
    r.event.outcome.is_success()
        && (r.event.event_type == "user.authentication.auth_via_mfa"
            || r.event.event_type == "user.mfa.okta_verify")
}

fn is_push(r: &ActivityRecord) -> bool {
    r.details.factor.as_deref().is_some_and(|f| {
        f.as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"push"))
    })
}

/// The approval came from where the pushes were requested: the attacker's
/// sign-in, not the user's own later one.
fn same_source(denial: &ActivityRecord, approval: &ActivityRecord) -> bool {
    (denial.network.ip.is_some() && denial.network.ip == approval.network.ip)
        || (denial.client.dt_hash.is_some() && denial.client.dt_hash == approval.client.dt_hash)
}

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    if !a.config.enabled(MFA_PUSH_BOMBING) {
        return;
    }
    let width = window::minutes_threshold(a.config, MFA_PUSH_BOMBING, "window_minutes");
    let min = window::count_threshold(a.config, MFA_PUSH_BOMBING, "denials");
    let approval_window = window::minutes_threshold(a.config, MFA_PUSH_BOMBING, "approval_minutes");
    let bombed = ix
        .active(PUSH_DENIAL | MFA_APPROVAL)
        .filter(|(_, t)| t.flags & PUSH_DENIAL != 0);
    for (_, timeline) in bombed {
        let group = &timeline.with(ix, PUSH_DENIAL);
        if group.len() < min {
            continue;
        }
        let triggers = window::slide(a.records, group, width, Count::at_least(min));
        if triggers.is_empty() {
            continue;
        }
        let time = |i: usize| a.records[group[i] as usize].published;
        let principal = FindingPrincipal::of_record(&a.records[group[0] as usize]);
        let label = principal.label().to_owned();

        // An approval in the hour, soon after a trigger, from the bombing's source.
        let approved = timeline
            .with(ix, MFA_APPROVAL)
            .into_iter()
            .map(|p| &a.records[p as usize])
            .filter(|ap| a.in_hour_time(ap.published))
            .find_map(|ap| {
                let k = triggers
                    .partition_point(|t| time(t.at) <= ap.published)
                    .checked_sub(1)?;
                let tr: Trigger = triggers[k];
                let burst_start = triggers
                    .iter()
                    .find(|t| t.burst == tr.burst)
                    .map_or(tr.start, |t| t.start);
                let last =
                    group.partition_point(|&p| a.records[p as usize].published <= ap.published) - 1;
                let from_source = window::span(a.records, group, tr.start, last, |_| true)
                    .any(|d| same_source(d, ap));
                (ap.published - time(tr.at) <= approval_window && from_source).then_some((
                    ap,
                    burst_start,
                    last,
                ))
            });

        let hit = if let Some((ap, first, last)) = approved {
            let pushes = window::span(a.records, group, first, last, |_| true);
            let n = pushes.clone().count();
            let summary = format!(
                "{n} MFA pushes denied for {label} from {}, then a push was approved from {} at {}",
                window::place(&a.records[group[first] as usize]),
                window::place(ap),
                window::clock(ap.published)
            );
            // Anchored on the approval: the escalation is a finding of its own, not
            // the denial burst an earlier hour may already have reported.
            let mut f = window::finding(
                MFA_PUSH_BOMBING,
                principal,
                ap.published,
                summary,
                pushes.chain(std::iter::once(ap)),
            )
            .fact("denials", n)
            .fact("approved", true)
            .fact("approval_event", ap.uuid.to_string());
            f.title = APPROVED_TITLE.to_owned();
            f.severity = Severity::Critical;
            Hit {
                trigger: ap.published,
                finding: f,
            }
        } else if let Some(burst) = window::burst_in_hour(a, group, &triggers) {
            let pushes = window::span(a.records, group, burst.first, burst.last, |_| true);
            let n = pushes.clone().count();
            let minutes = (time(burst.last) - time(burst.first)) / MINUTE;
            let summary = format!(
                "{n} MFA pushes denied for {label} within {minutes} min, requested from {}",
                window::place(&a.records[group[burst.first] as usize])
            );
            let f = window::finding(MFA_PUSH_BOMBING, principal, burst.anchor, summary, pushes)
                .fact("denials", n)
                .fact("approved", false);
            Hit {
                trigger: burst.trigger,
                finding: f,
            }
        } else {
            continue;
        };
        hits.push(hit);
    }
}
