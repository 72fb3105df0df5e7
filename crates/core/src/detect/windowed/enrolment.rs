//! Two patterns read from a user's timeline hours back, like
//! [`super::reset`]: a factor enrolled soon after someone else reset the
//! user's factors, from a network the user has not used (the help-desk
//! social-engineering takeover, one step before admin access); and an account
//! created or activated, then granted an admin role, within hours.
//!
//! The later event is the trigger and lies in the analysed hour; the hour asks
//! for the user's timeline over the window before it. A reset in the analysed
//! hour also asks for the window after it, as [`super::reset`] does: a reset
//! that reached the pipeline hours late (recovered, gap-filled) completes the
//! enrolment it enabled when its hour is analysed again. The finding is
//! anchored on the reset, so whichever hour reports it, it is the same one;
//! and "new" is what the user's baseline had not seen before the enrolment,
//! not what the hours since have taught it.

use std::collections::HashSet;

use super::super::{Analysis, DetectConfig, FindingPrincipal};
use super::reset::reset_target;
use super::window::{self, Hit};
use super::Spans;
use super::{FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK, NEW_USER_GRANTED_ADMIN};
use crate::record::{ActivityRecord, IdentityKind, Role};
use crate::time::{Millis, HOUR};

/// A user enrolling (activating) a factor of their own.
pub(super) fn enrolled(r: &ActivityRecord) -> Option<&str> {
    (r.event.event_type == "user.mfa.factor.activate"
        && r.event.outcome.is_success()
        && r.identity_kind == IdentityKind::User
        && r.role == Role::Actor)
        .then_some(r.identity.as_str())
}

/// The user an admin role was granted to.
pub(super) fn granted_admin(r: &ActivityRecord) -> Option<&str> {
    (r.event.event_type == "user.account.privilege.grant" && r.event.outcome.is_success())
        .then(|| r.target_of_kind("User")?.id.as_deref())
        .flatten()
}

/// The user an account creation or activation was for.
fn created(r: &ActivityRecord) -> Option<&str> {
    matches!(
        r.event.event_type.as_str(),
        "user.lifecycle.create" | "user.lifecycle.activate"
    )
    .then(|| r.target_of_kind("User")?.id.as_deref())
    .flatten()
    .filter(|_| !r.event.outcome.is_failure())
}

pub(super) fn counts_for_enrolment(r: &ActivityRecord) -> bool {
    enrolled(r).is_some() || reset_target(r).is_some()
}

pub(super) fn counts_for_new_admin(r: &ActivityRecord) -> bool {
    granted_admin(r).is_some() || created(r).is_some()
}

fn hours(config: &DetectConfig, id: &str) -> Millis {
    (config.threshold(id, "window_hours") * HOUR as f64).round() as Millis
}

/// The timelines the enrolment detections need: before an enrolment and a
/// grant of admin, after a reset.
pub(super) fn want_history<'a>(
    config: &DetectConfig,
    in_hour: &[&'a ActivityRecord],
    spans: &mut Spans<'a>,
) {
    let enrol = config.enabled(FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK);
    let admin = config.enabled(NEW_USER_GRANTED_ADMIN);
    let (enrol_width, admin_width) = (
        hours(config, FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK),
        hours(config, NEW_USER_GRANTED_ADMIN),
    );
    for &r in in_hour {
        let t = r.published;
        let wanted = [
            enrolled(r)
                .filter(|_| enrol)
                .map(|u| (u, t - enrol_width, t)),
            granted_admin(r)
                .filter(|_| admin)
                .map(|u| (u, t - admin_width, t)),
            // After a reset: the enrolments it may have enabled.
            reset_target(r)
                .filter(|_| enrol)
                .map(|u| (u, t, t + enrol_width)),
        ];
        for (user, from, to) in wanted.into_iter().flatten() {
            spans.want(user, from, to);
        }
    }
}

/// The user's earlier events: from the fetched timeline and from the records.
fn before<'a>(
    a: &Analysis<'a>,
    user: &str,
    until: Millis,
    width: Millis,
) -> impl Iterator<Item = &'a ActivityRecord> + 'a {
    let history = a.histories.get(user).map(Vec::as_slice).unwrap_or_default();
    let user = user.to_owned();
    history
        .iter()
        .chain(a.records.iter())
        .filter(move |r| r.published < until && r.published >= until - width)
        .filter(move |r| {
            r.identity.as_str() == user
                || r.target_of_kind("User").and_then(|t| t.id.as_deref()) == Some(user.as_str())
        })
}

pub(super) fn evaluate(a: &Analysis<'_>, hits: &mut Vec<Hit>) {
    let enrol = a.config.enabled(FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK);
    let admin = a.config.enabled(NEW_USER_GRANTED_ADMIN);
    if !(enrol || admin) {
        return;
    }
    let mut reported: HashSet<(&str, &str)> = HashSet::new();
    for r in a.in_hour().filter(|r| r.role == Role::Actor) {
        if enrol {
            if let Some(user) = reset_target(r) {
                if let Some(hit) = enrolment_following(a, user, r) {
                    reported.insert((FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK, user));
                    hits.push(hit);
                }
            }
            if let Some(user) = enrolled(r) {
                if !reported.contains(&(FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK, user)) {
                    if let Some(hit) = enrolment_after_reset(a, user, r) {
                        reported.insert((FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK, user));
                        hits.push(hit);
                    }
                }
            }
        }
        if admin {
            if let Some(user) = granted_admin(r) {
                if !reported.contains(&(NEW_USER_GRANTED_ADMIN, user)) {
                    if let Some(hit) = new_user_admin(a, user, r) {
                        reported.insert((NEW_USER_GRANTED_ADMIN, user));
                        hits.push(hit);
                    }
                }
            }
        }
    }
}

/// The first enrolment by `user` after `reset` (an event of the analysed
/// hour), before any later reset, within the window: the pair, judged as the
/// enrolment's own hour judges it.
fn enrolment_following<'a>(a: &Analysis<'a>, user: &str, reset: &'a ActivityRecord) -> Option<Hit> {
    let width = hours(a.config, FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK);
    let history = a.histories.get(user).map(Vec::as_slice).unwrap_or_default();
    let mut after: Vec<&ActivityRecord> = history
        .iter()
        .chain(a.records.iter())
        .filter(|r| r.published > reset.published && r.published < reset.published + width)
        .filter(|r| enrolled(r) == Some(user) || reset_target(r) == Some(user))
        .collect();
    after.sort_by(|x, y| (x.published, &x.uuid).cmp(&(y.published, &y.uuid)));
    // A later reset starts a pair of its own.
    let enrol = after.into_iter().find(|r| enrolled(r).is_some())?;
    if before(a, user, enrol.published, width)
        .any(|r| reset_target(r) == Some(user) && r.published > reset.published)
    {
        return None;
    }
    enrolment_after_reset(a, user, enrol)
}

fn enrolment_after_reset<'a>(
    a: &Analysis<'a>,
    user: &str,
    enrol: &'a ActivityRecord,
) -> Option<Hit> {
    let width = hours(a.config, FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK);
    let t = enrol.published;
    // A network is new when the baseline, old enough to judge, had networks
    // before the enrolment and not this one. Before the enrolment, not before
    // the hour: a late reset's hour is analysed after later hours taught the
    // baseline the enrolment's own network and device.
    let b = a
        .baselines
        .get(user)
        .filter(|b| b.established(t, a.config.baseline_min_days))?;
    let asn = enrol.network.asn?;
    let known: Vec<&str> = b
        .asns
        .keys()
        .filter(|k| b.asns.known_before(k, t))
        .collect();
    if known.is_empty() || b.knew_asn(asn, t) {
        return None;
    }
    let reset = before(a, user, enrol.published, width)
        .filter(|r| reset_target(r) == Some(user))
        .max_by_key(|r| r.published)?;
    let by = reset
        .actor
        .login
        .as_deref()
        .or(reset.actor.name.as_deref())
        .unwrap_or("someone");
    let principal = FindingPrincipal::of_record(enrol);
    let minutes = (enrol.published - reset.published) / crate::time::MINUTE;
    let network = enrol
        .network
        .as_org
        .as_deref()
        .map_or_else(|| format!("AS{asn}"), |o| format!("AS{asn} ({o})"));
    let summary = format!(
        "{by} reset the MFA factors of {0}; {minutes} min later {0} enrolled a new factor from {1}, network {network}, never seen for them",
        principal.label(),
        window::place(enrol)
    );
    // The enrolling browser's device token, never seen for the user: not the
    // user's laptop enrolling their new phone, someone else's machine.
    let new_device = enrol
        .client
        .dt_hash
        .as_deref()
        .is_some_and(|d| !b.knew_device(d, t));
    let f = window::finding(
        FACTOR_ENROLLED_AFTER_RESET_NEW_NETWORK,
        principal,
        reset.published,
        summary,
        [reset, enrol],
    )
    .fact("reset_by", by)
    .fact("minutes_after_reset", minutes)
    .fact("asn", asn)
    .fact("new_device", new_device)
    .fact("known_asns", known);
    Some(Hit {
        trigger: enrol.published,
        finding: f,
    })
}

fn new_user_admin<'a>(a: &Analysis<'a>, user: &str, grant: &'a ActivityRecord) -> Option<Hit> {
    let width = hours(a.config, NEW_USER_GRANTED_ADMIN);
    let creation = before(a, user, grant.published + 1, width)
        .filter(|r| created(r) == Some(user) && r.published <= grant.published)
        .min_by_key(|r| r.published)?;
    let principal = FindingPrincipal::target_user(grant)?;
    let role = grant
        .details
        .privilege_granted
        .as_deref()
        .unwrap_or("an admin role");
    let minutes = (grant.published - creation.published) / crate::time::MINUTE;
    let by = grant
        .actor
        .login
        .as_deref()
        .or(grant.actor.name.as_deref())
        .unwrap_or("someone");
    let summary = format!(
        "{} was {} and {minutes} min later granted {role} by {by}{}",
        principal.label(),
        if creation.event.event_type == "user.lifecycle.create" {
            "created"
        } else {
            "activated"
        },
        grant
            .network
            .ip
            .as_deref()
            .map(|_| format!(" from {}", window::place(grant)))
            .unwrap_or_default()
    );
    let f = window::finding(
        NEW_USER_GRANTED_ADMIN,
        principal,
        creation.published,
        summary,
        [creation, grant],
    )
    .fact("role", role)
    .fact("granted_by", by)
    .fact("minutes_after_creation", minutes);
    Some(Hit {
        trigger: grant.published,
        finding: f,
    })
}
