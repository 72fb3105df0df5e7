//! Many of one thing in a short window, keyed by who or what did it:
//! one actor deactivating or resetting many users, one user flooded with
//! verification messages, one device token signing many users in.

use std::collections::{HashMap, HashSet};

use super::super::{Analysis, FindingPrincipal};
use super::window::{self, Count, Distinct, Hit, Window};
use super::{
    successful_sign_in, MASS_ACCOUNT_DEACTIVATION, MASS_CREDENTIAL_RESET, SHARED_DEVICE_TOKEN,
    VERIFICATION_MESSAGE_FLOOD,
};
use crate::record::{ActivityRecord, IdentityKind, Role};

/// Users named in a finding.
const MAX_NAMED: usize = 20;

/// The user an event acted on.
fn target_user(r: &ActivityRecord) -> Option<&str> {
    r.target_of_kind("User")?.id.as_deref()
}

fn target_label(r: &ActivityRecord) -> &str {
    r.target_of_kind("User")
        .and_then(|t| t.login.as_deref().or(t.id.as_deref()))
        .unwrap_or_default()
}

/// Acted on another user: a person or an automation, not Okta itself (its
/// own lifecycle automations deactivate in bulk by design).
fn on_another_user(r: &ActivityRecord) -> bool {
    r.identity_kind != IdentityKind::System
        && r.event.outcome.is_success()
        && target_user(r).is_some_and(|t| r.actor.id.as_deref() != Some(t))
}

pub(super) fn counts_for_deactivation(r: &ActivityRecord) -> bool {
    matches!(
        r.event.event_type.as_str(),
        "user.lifecycle.deactivate"
            | "user.lifecycle.suspend"
            | "user.lifecycle.delete.initiated"
            | "user.lifecycle.delete.completed"
    ) && on_another_user(r)
}

pub(super) fn counts_for_credential_reset(r: &ActivityRecord) -> bool {
    matches!(
        r.event.event_type.as_str(),
        "user.account.reset_password"
            | "user.account.expire_password"
            | "user.mfa.factor.reset_all"
            | "user.mfa.factor.deactivate"
    ) && on_another_user(r)
}

/// Messages Okta sends a user to reset, unlock or verify: each one a code or a
/// link on the user's phone or in their mailbox.
const VERIFICATION_MESSAGES: &[&str] = &[
    "system.email.password_reset.sent_message",
    "system.email.account_unlock.sent_message",
    "system.email.send_factor_verify_message",
    "system.email.mfa_reset_notification.sent_message",
    "system.sms.send_password_reset_message",
    "system.sms.send_account_unlock_message",
    "system.sms.send_factor_verify_message",
    "system.voice.send_password_reset_call",
    "system.voice.send_account_unlock_call",
    "system.voice.send_mfa_challenge_call",
];

pub(super) fn counts_for_messages(r: &ActivityRecord) -> bool {
    VERIFICATION_MESSAGES.contains(&r.event.event_type.as_str()) && !r.event.outcome.is_failure()
}

/// The user a message went to: its user target, else the actor.
fn recipient(r: &ActivityRecord) -> &str {
    target_user(r).unwrap_or(&r.identity)
}

/// A successful sign-in or MFA verification of a known user on a device Okta
/// identified.
pub(super) fn counts_for_device(r: &ActivityRecord) -> bool {
    r.identity_kind == IdentityKind::User
        && r.client.dt_hash.is_some()
        && (successful_sign_in(r)
            || r.event.event_type == "user.authentication.auth_via_mfa"
                && r.event.outcome.is_success())
}

/// Positions of the actor records `counts` accepts, grouped by `key`.
fn groups<'a>(
    a: &Analysis<'a>,
    counts: fn(&ActivityRecord) -> bool,
    key: fn(&'a ActivityRecord) -> &'a str,
) -> HashMap<&'a str, Vec<u32>> {
    let mut groups: HashMap<&str, Vec<u32>> = HashMap::new();
    for (p, r) in a.records.iter().enumerate() {
        if r.role == Role::Actor && counts(r) {
            groups.entry(key(r)).or_default().push(p as u32);
        }
    }
    // Only groups with something in the hour can report.
    groups.retain(|_, g| {
        g.last()
            .is_some_and(|&p| a.records[p as usize].published >= a.hour.start())
    });
    groups
}

pub(super) fn evaluate(a: &Analysis<'_>, hits: &mut Vec<Hit>) {
    if a.config.enabled(MASS_ACCOUNT_DEACTIVATION) {
        by_actor(
            a,
            MASS_ACCOUNT_DEACTIVATION,
            counts_for_deactivation,
            "deactivated, suspended or deleted",
            hits,
        );
    }
    if a.config.enabled(MASS_CREDENTIAL_RESET) {
        by_actor(
            a,
            MASS_CREDENTIAL_RESET,
            counts_for_credential_reset,
            "reset the passwords or factors of",
            hits,
        );
    }
    if a.config.enabled(VERIFICATION_MESSAGE_FLOOD) {
        message_flood(a, hits);
    }
    if a.config.enabled(SHARED_DEVICE_TOKEN) {
        shared_device(a, hits);
    }
}

fn by_actor(
    a: &Analysis<'_>,
    id: &str,
    counts: fn(&ActivityRecord) -> bool,
    verb: &str,
    hits: &mut Vec<Hit>,
) {
    let width = window::minutes_threshold(a.config, id, "window_minutes");
    let min = window::count_threshold(a.config, id, "distinct_users");
    for group in groups(a, counts, |r| r.identity.as_str()).values() {
        let distinct =
            Distinct::at_least(min, |r: &ActivityRecord| target_user(r).unwrap_or_default());
        let Some((hit_records, burst)) = report(a, group, width, distinct) else {
            continue;
        };
        let actor = hit_records[0];
        let targets = distinct_targets(&hit_records, target_user, target_label);
        let what = format!("{} {verb} {} users", actor_label(actor), targets.0);
        let principal = FindingPrincipal::of_record(actor);
        push_distinct_users(hits, id, principal, what, (&hit_records, burst), targets);
    }
}

fn message_flood(a: &Analysis<'_>, hits: &mut Vec<Hit>) {
    let id = VERIFICATION_MESSAGE_FLOOD;
    let width = window::minutes_threshold(a.config, id, "window_minutes");
    let min = window::count_threshold(a.config, id, "messages");
    for (user, group) in groups(a, counts_for_messages, recipient) {
        let Some((msgs, burst)) = report(a, &group, width, Count::at_least(min)) else {
            continue;
        };
        let first = msgs[0];
        let principal = FindingPrincipal::target_user(first)
            .filter(|p| p.identity == user)
            .unwrap_or_else(|| FindingPrincipal::of_record(first));
        let kinds: HashSet<&str> = msgs.iter().map(|r| r.event.event_type.as_str()).collect();
        let mut kinds: Vec<&str> = kinds.into_iter().collect();
        kinds.sort_unstable();
        let summary = format!(
            "{} reset, unlock or verification messages were sent to {} between {} and {}",
            msgs.len(),
            principal.label(),
            window::clock(first.published),
            window::clock(msgs[msgs.len() - 1].published)
        );
        let f = window::finding(id, principal, burst.anchor, summary, msgs.iter().copied())
            .fact("messages", msgs.len())
            .fact("message_types", kinds);
        hits.push(Hit {
            trigger: burst.trigger,
            finding: f,
        });
    }
}

fn shared_device(a: &Analysis<'_>, hits: &mut Vec<Hit>) {
    let id = SHARED_DEVICE_TOKEN;
    let width = window::minutes_threshold(a.config, id, "window_minutes");
    let min = window::count_threshold(a.config, id, "distinct_users");
    for (dt_hash, group) in groups(a, counts_for_device, device_of) {
        let distinct = Distinct::at_least(min, |r: &ActivityRecord| r.identity.as_str());
        let Some((uses, burst)) = report(a, &group, width, distinct) else {
            continue;
        };
        let targets =
            distinct_targets(&uses, |r| Some(r.identity.as_str()), |r| r.identity_label());
        let what = format!(
            "The device token {dt_hash} signed in {} distinct users",
            targets.0
        );
        let principal = FindingPrincipal::device(dt_hash);
        push_distinct_users(hits, id, principal, what, (&uses, burst), targets);
    }
}

/// Pushes the finding of a burst that reached `users` distinct users, naming
/// `named` of them; `what` says who did what to how many.
fn push_distinct_users(
    hits: &mut Vec<Hit>,
    id: &str,
    principal: FindingPrincipal,
    what: String,
    (records, burst): (&[&ActivityRecord], window::Burst),
    (users, named): (usize, Vec<&str>),
) {
    let summary = format!(
        "{what} between {} and {}: {}",
        window::clock(records[0].published),
        window::clock(records[records.len() - 1].published),
        named.join(", ")
    );
    let f = window::finding(
        id,
        principal,
        burst.anchor,
        summary,
        records.iter().copied(),
    )
    .fact("distinct_users", users)
    .fact("users", named);
    hits.push(Hit {
        trigger: burst.trigger,
        finding: f,
    });
}

/// The first burst of a group that completes in the hour, and its records.
fn report<'a, W: Window<'a>>(
    a: &Analysis<'a>,
    group: &'a [u32],
    width: crate::time::Millis,
    w: W,
) -> Option<(Vec<&'a ActivityRecord>, window::Burst)> {
    let triggers = window::slide(a.records, group, width, w);
    let burst = window::burst_in_hour(a, group, &triggers)?;
    let records: Vec<&ActivityRecord> =
        window::span(a.records, group, burst.first, burst.last, |_| true).collect();
    Some((records, burst))
}

fn distinct_targets<'a>(
    records: &[&'a ActivityRecord],
    key: impl Fn(&'a ActivityRecord) -> Option<&'a str>,
    label: impl Fn(&'a ActivityRecord) -> &'a str,
) -> (usize, Vec<&'a str>) {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut named = Vec::new();
    for r in records {
        if let Some(k) = key(r) {
            if seen.insert(k) && named.len() < MAX_NAMED {
                named.push(label(r));
            }
        }
    }
    (seen.len(), named)
}

fn device_of(r: &ActivityRecord) -> &str {
    r.client.dt_hash.as_deref().unwrap_or_default()
}

fn actor_label(r: &ActivityRecord) -> &str {
    r.actor
        .login
        .as_deref()
        .or(r.actor.name.as_deref())
        .unwrap_or(&r.identity)
}
