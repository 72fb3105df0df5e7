//! Small readers over a record shared by the single-event detections: whether an
//! event took effect, who is who, and the words of a summary.

use crate::detect::FindingPrincipal;
use crate::record::{ActivityRecord, IdentityKind, Principal};

/// Whether the event is one of `types` (Okta's event types are lower case, but
/// exports do not always keep them so).
pub(super) fn is_one_of(r: &ActivityRecord, types: &[&str]) -> bool {
    types
        .iter()
        .any(|t| r.event.event_type.eq_ignore_ascii_case(t))
}

/// Whether the event type starts with `prefix`, ignoring case.
pub(super) fn type_starts_with(r: &ActivityRecord, prefix: &str) -> bool {
    r.event
        .event_type
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Whether the event type ends with `suffix`, ignoring case.
pub(super) fn type_ends_with(r: &ActivityRecord, suffix: &str) -> bool {
    let t = &r.event.event_type;
    t.len() >= suffix.len()
        && t.get(t.len() - suffix.len()..)
            .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
}

/// The last dotted segment of the event type: `update` for `policy.rule.update`.
pub(super) fn action(r: &ActivityRecord) -> &str {
    r.event
        .event_type
        .rsplit('.')
        .next()
        .unwrap_or(&r.event.event_type)
}

/// Whether the last segment of the event type is one of `actions`.
pub(super) fn action_is(r: &ActivityRecord, actions: &[&str]) -> bool {
    actions.iter().any(|a| action(r).eq_ignore_ascii_case(a))
}

/// Okta records a change that did not happen as FAILURE or DENY. Anything else,
/// including an event whose outcome an export lost, took effect.
pub(super) fn took_effect(r: &ActivityRecord) -> bool {
    !r.event.outcome.is_failure()
}

pub(super) use crate::detect::known;

/// The outcome reason contains `needle`, ignoring case.
pub(super) fn reason_contains(r: &ActivityRecord, needle: &str) -> bool {
    r.event.reason.as_deref().is_some_and(|t| {
        t.to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    })
}

/// A user as people name one: login, then display name, then id.
pub(super) fn user_label(p: &Principal) -> &str {
    known(p.login.as_deref())
        .or(known(p.name.as_deref()))
        .or(known(p.id.as_deref()))
        .unwrap_or("an unknown user")
}

/// An object (app, policy, token, group) as people name one: display name first.
pub(super) fn object_label(p: &Principal) -> &str {
    known(p.name.as_deref())
        .or(known(p.login.as_deref()))
        .or(known(p.id.as_deref()))
        .unwrap_or("(unnamed)")
}

/// Who performed the event. For an unknown actor the login is already a keyed
/// hash, never the typed text.
pub(super) fn actor_label(r: &ActivityRecord) -> &str {
    known(r.actor.login.as_deref())
        .or(known(r.actor.name.as_deref()))
        .or(known(r.actor.id.as_deref()))
        .unwrap_or(&r.identity)
}

/// The first target of a kind, by Okta's `type` (`User`, `AppInstance`…).
pub(super) fn target<'r>(r: &'r ActivityRecord, kind: &str) -> Option<&'r Principal> {
    r.target_of_kind(kind)
}

/// The first target whose type is one of `kinds`.
pub(super) fn target_any<'r>(r: &'r ActivityRecord, kinds: &[&str]) -> Option<&'r Principal> {
    kinds.iter().find_map(|k| r.target_of_kind(k))
}

/// ` from 203.0.113.7 (United States)`, or nothing when the event has no address.
pub(super) fn origin(r: &ActivityRecord) -> String {
    match (
        known(r.network.ip.as_deref()),
        known(r.network.country.as_deref()),
    ) {
        (Some(ip), Some(country)) => format!(" from {ip} ({country})"),
        (Some(ip), None) => format!(" from {ip}"),
        _ => String::new(),
    }
}

/// Whether two principals are the same Okta user. Logins are unique in an org,
/// so a login on both sides decides; otherwise the ids do.
pub(super) fn same_user(a: &Principal, b: &Principal) -> bool {
    match (known(a.login.as_deref()), known(b.login.as_deref())) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => {
            matches!((known(a.id.as_deref()), known(b.id.as_deref())), (Some(x), Some(y)) if x == y)
        }
    }
}

/// Whether an application user (`AppUser`) is the actor: its id is the Okta
/// user's, its login is the app's username, which may equal the Okta login.
pub(super) fn is_app_user_of(actor: &Principal, app_user: &Principal) -> bool {
    let same_id = matches!((known(actor.id.as_deref()), known(app_user.id.as_deref())), (Some(x), Some(y)) if x == y);
    let same_login = matches!((known(actor.login.as_deref()), known(app_user.login.as_deref())), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y));
    same_id || same_login
}

/// The user a finding is about when the event acted on a user: the first `User`
/// target, else the actor.
pub(super) fn target_user_or_actor(r: &ActivityRecord) -> FindingPrincipal {
    FindingPrincipal::target_user(r).unwrap_or_else(|| FindingPrincipal::of_record(r))
}

/// The actor when it is a person; when a system or app reports on a user, the
/// user it names.
pub(super) fn person(r: &ActivityRecord) -> FindingPrincipal {
    match r.identity_kind {
        IdentityKind::User | IdentityKind::UnknownUser => FindingPrincipal::of_record(r),
        _ => target_user_or_actor(r),
    }
}

/// Comma- or space-separated lists, as Okta writes scopes.
pub(super) fn items(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}
