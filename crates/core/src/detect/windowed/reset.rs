//! MFA reset then admin access: someone resets a user's factors, and within
//! hours that user reaches the Admin Console or is granted an admin role. The
//! help-desk social-engineering takeover.
//!
//! The two events can be hours apart and arrive in either order, so the pattern
//! is read from the user's timeline, not the hour index: an hour with an admin
//! access asks for the window before it, an hour with a reset for the window
//! after it. A reset pairs with the first admin access after it, an access with
//! the last reset before it. Either hour reports the pair when it sees both
//! events, and the finding (anchored on the reset) is the same whichever hour
//! reports it: a late reset is still paired when its hour is analysed again.

use std::collections::{HashMap, HashSet};

use super::super::{Analysis, DetectConfig, FindingPrincipal};
use super::index::{Index, ADMIN_ACCESS, FACTOR_RESET};
use super::window::{self, Hit};
use super::{Spans, MFA_RESET_THEN_ADMIN_ACCESS};
use crate::record::{ActivityRecord, IdentityKind, Role};
use crate::time::{Millis, HOUR, MINUTE};

/// The user whose factors someone else reset.
pub(super) fn reset_target(r: &ActivityRecord) -> Option<&str> {
    if !(r.event.event_type == "user.mfa.factor.reset_all"
        || r.event.event_type == "user.mfa.factor.deactivate")
        || !r.event.outcome.is_success()
    {
        return None;
    }
    let target = r.target_of_kind("User")?.id.as_deref()?;
    // A user removing their own factor is not the help-desk pattern.
    (r.actor.id.as_deref() != Some(target)).then_some(target)
}

/// The user who reached the Admin Console, or was granted an admin role.
pub(super) fn access_subject(r: &ActivityRecord) -> Option<&str> {
    if !r.event.outcome.is_success() {
        return None;
    }
    match r.event.event_type.as_str() {
        "user.account.privilege.grant" => r.target_of_kind("User")?.id.as_deref(),
        "user.session.access_admin_app" | "policy.evaluate_sign_on" | "user.authentication.sso"
            if r.role == Role::Actor
                && r.identity_kind == IdentityKind::User
                && (r.event.event_type == "user.session.access_admin_app"
                    || to_admin_console(r)) =>
        {
            Some(&r.identity)
        }
        _ => None,
    }
}

fn to_admin_console(r: &ActivityRecord) -> bool {
    r.targets.iter().any(|t| {
        t.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("AppInstance"))
            && t.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case("Okta Admin Console"))
    })
}

fn window_of(config: &DetectConfig) -> Millis {
    (config.threshold(MFA_RESET_THEN_ADMIN_ACCESS, "window_hours") * HOUR as f64).round() as Millis
}

/// The timelines this detection needs: before an admin access, and after a
/// reset.
pub(super) fn want_history<'a>(
    config: &DetectConfig,
    in_hour: &[&'a ActivityRecord],
    spans: &mut Spans<'a>,
) {
    let width = window_of(config);
    for &r in in_hour {
        if let Some(user) = access_subject(r) {
            spans.want(user, r.published - width, r.published);
        }
        if let Some(user) = reset_target(r) {
            spans.want(user, r.published, r.published + width);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Reset,
    Access,
}

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    if !a.config.enabled(MFA_RESET_THEN_ADMIN_ACCESS) {
        return;
    }
    let width = window_of(a.config);
    let subjects: HashSet<&str> = ix
        .in_hour(FACTOR_RESET | ADMIN_ACCESS)
        .filter_map(|p| reset_target(&a.records[p]).or_else(|| access_subject(&a.records[p])))
        .collect();
    if subjects.is_empty() {
        return;
    }
    // Each subject's resets and admin accesses, from the records and from the
    // timeline fetched for them (where a reset is a target copy).
    let mut steps: HashMap<&str, Vec<(&ActivityRecord, Step)>> = HashMap::new();
    let history = subjects
        .iter()
        .filter_map(|s| a.histories.get(*s))
        .flatten();
    let records = ix
        .positions(FACTOR_RESET | ADMIN_ACCESS)
        .map(|p| &a.records[p]);
    for r in records.chain(history) {
        let step = match (reset_target(r), access_subject(r)) {
            (Some(user), _) if subjects.contains(user) => (user, Step::Reset),
            (_, Some(user)) if subjects.contains(user) => (user, Step::Access),
            _ => continue,
        };
        steps.entry(step.0).or_default().push((r, step.1));
    }
    for (user, mut timeline) in steps {
        timeline.sort_by(|x, y| (x.0.published, &x.0.uuid).cmp(&(y.0.published, &y.0.uuid)));
        timeline.dedup_by(|x, y| x.0.uuid == y.0.uuid);
        let mut pending: Option<&ActivityRecord> = None;
        for (r, step) in timeline {
            if step == Step::Reset {
                pending = Some(r);
                continue;
            }
            let Some(reset) = pending.take() else {
                continue;
            };
            if r.published - reset.published < width
                && (a.in_hour_time(reset.published) || a.in_hour_time(r.published))
            {
                if let Some(hit) = finding(user, reset, r) {
                    hits.push(hit);
                }
            }
        }
    }
}

fn finding(user: &str, reset: &ActivityRecord, access: &ActivityRecord) -> Option<Hit> {
    let principal = FindingPrincipal::target_user(reset).filter(|p| p.identity == user)?;
    let by = reset
        .actor
        .login
        .as_deref()
        .or(reset.actor.name.as_deref())
        .or(reset.actor.id.as_deref())
        .unwrap_or("someone");
    let minutes = (access.published - reset.published) / MINUTE;
    let what = match access.details.privilege_granted.as_deref() {
        _ if access.event.event_type != "user.account.privilege.grant" => {
            "reached the Okta Admin Console".to_owned()
        }
        Some(role) => format!("was granted {role}"),
        None => "was granted an admin role".to_owned(),
    };
    let summary = format!(
        "{by} reset the MFA factors of {0}; {minutes} min later {0} {what} from {1}",
        principal.label(),
        window::place(access)
    );
    let f = window::finding(
        MFA_RESET_THEN_ADMIN_ACCESS,
        principal,
        reset.published,
        summary,
        [reset, access],
    )
    .fact("reset_by", by)
    .fact("reset_event", reset.event.event_type.as_str())
    .fact("access_event", access.event.event_type.as_str())
    .fact("minutes_after_reset", minutes);
    Some(Hit {
        trigger: access.published,
        finding: f,
    })
}
