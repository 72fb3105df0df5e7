//! Detections on the org's configuration: identity providers, org-wide factors,
//! log streams, policies and zones, and applications that reach other tenants or
//! receive passwords.

use super::changes::{mfa_removed, password_push_enabled};
use super::describe::{
    action, action_is, actor_label, is_one_of, known, object_label, origin, reason_contains,
    target, took_effect, type_starts_with,
};
use crate::detect::{DetectionMeta, Finding, FindingPrincipal, Severity};
use crate::record::ActivityRecord;

/// `update` → `updated`, for summaries.
fn past(verb: &str) -> String {
    match verb {
        "create" => "created".into(),
        "update" => "updated".into(),
        "activate" => "activated".into(),
        "deactivate" => "deactivated".into(),
        "delete" => "deleted".into(),
        other => format!("{other}d"),
    }
}

/// The first target's name, or what the event type says it is.
fn first_target(r: &ActivityRecord) -> Option<&str> {
    r.targets.first().map(object_label)
}

// --- idp_created_or_modified --------------------------------------------------

pub(super) fn idp_created_or_modified(r: &ActivityRecord) -> bool {
    is_one_of(
        r,
        &[
            "system.idp.lifecycle.create",
            "system.idp.lifecycle.update",
            "system.idp.lifecycle.activate",
        ],
    ) && took_effect(r)
}

pub(super) fn idp_created_or_modified_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let idp = target(r, "IdentityProvider").map(object_label);
    let named = idp.map(|n| format!(" {n}")).unwrap_or_default();
    let summary = format!(
        "{} {} identity provider{named}{}",
        actor_label(r),
        past(action(r)),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("action", action(r));
    if let Some(idp) = idp {
        f = f.fact("identity_provider", idp);
    }
    f
}

// --- mfa_disabled_org_wide ----------------------------------------------------

pub(super) fn mfa_disabled_org_wide(r: &ActivityRecord) -> bool {
    is_one_of(r, &["system.mfa.factor.deactivate"]) && took_effect(r)
}

pub(super) fn mfa_disabled_org_wide_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let factor = known(r.details.factor.as_deref()).or_else(|| first_target(r));
    let which = factor
        .map(|f| format!("the {f} MFA factor"))
        .unwrap_or_else(|| "an MFA factor".to_owned());
    let summary = format!(
        "{} deactivated {which} for the whole organisation{}",
        actor_label(r),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary);
    if let Some(factor) = factor {
        f = f.fact("factor", factor);
    }
    f
}

// --- log_stream_tampering -----------------------------------------------------

pub(super) fn log_stream_tampering(r: &ActivityRecord) -> bool {
    type_starts_with(r, "system.log_stream.lifecycle.")
        && action_is(r, &["deactivate", "delete", "update"])
        && took_effect(r)
}

pub(super) fn log_stream_tampering_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let stream = first_target(r);
    let named = stream.map(|n| format!(" {n}")).unwrap_or_default();
    let summary = format!(
        "{} {} log stream{named}{}",
        actor_label(r),
        past(action(r)),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("action", action(r));
    if let Some(stream) = stream {
        f = f.fact("log_stream", stream);
    }
    f
}

// --- security_policy_weakened -------------------------------------------------

/// What kind of control an event type changes, and whether the change can
/// weaken it. Creations and activations do not.
fn policy_object(r: &ActivityRecord) -> Option<&'static str> {
    let weakening = action_is(r, &["update", "delete", "deactivate"]);
    if !weakening {
        return None;
    }
    let object = if type_starts_with(r, "policy.lifecycle.") {
        "policy"
    } else if type_starts_with(r, "policy.rule.") {
        "policy rule"
    } else if type_starts_with(r, "application.policy.sign_on.rule.") {
        "app sign-on policy rule"
    } else if type_starts_with(r, "application.policy.sign_on.") {
        "app sign-on policy"
    } else if type_starts_with(r, "zone.") && !action_is(r, &["update"]) {
        "network zone"
    } else {
        return None;
    };
    Some(object)
}

pub(super) fn security_policy_weakened(r: &ActivityRecord) -> bool {
    policy_object(r).is_some() && took_effect(r)
}

pub(super) fn security_policy_weakened_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let object = policy_object(r).unwrap_or("policy");
    let name = first_target(r);
    let named = name.map(|n| format!(" {n}")).unwrap_or_default();
    let removed = r.details.changes.as_deref().and_then(mfa_removed);
    let mut summary = format!(
        "{} {} {object}{named}{}",
        actor_label(r),
        past(action(r)),
        origin(r)
    );
    if let Some(how) = &removed {
        summary.push_str(&format!("; MFA removed ({how})"));
    }
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("object", object)
        .fact("action", action(r))
        .fact("mfa_removed", removed.is_some());
    if let Some(name) = name {
        f = f.fact("name", name);
    }
    if let Some(how) = removed {
        f = f.fact("mfa_change", how);
        f.severity = Severity::High;
        f.title = "Security policy weakened: MFA removed".to_owned();
    }
    f
}

// --- org2org_app_change -------------------------------------------------------

fn org2org_app(r: &ActivityRecord) -> Option<&str> {
    r.targets
        .iter()
        .filter(|t| {
            t.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("AppInstance"))
        })
        .find(|t| {
            [t.name.as_deref(), t.login.as_deref()]
                .into_iter()
                .flatten()
                .any(|n| n.to_ascii_lowercase().contains("org2org"))
        })
        .map(object_label)
}

pub(super) fn org2org_app_change(r: &ActivityRecord) -> bool {
    is_one_of(
        r,
        &[
            "application.lifecycle.create",
            "application.lifecycle.update",
            "application.lifecycle.activate",
        ],
    ) && took_effect(r)
        && org2org_app(r).is_some()
}

pub(super) fn org2org_app_change_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let app = org2org_app(r).unwrap_or("Org2Org");
    let summary = format!(
        "{} {} Org2Org app {app}{}",
        actor_label(r),
        past(action(r)),
        origin(r)
    );
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("app", app)
        .fact("action", action(r))
}

// --- scim_password_push_enabled -----------------------------------------------

pub(super) fn scim_password_push_enabled(r: &ActivityRecord) -> bool {
    let pushing = reason_contains(r, "Pushing user passwords")
        || r.details
            .changes
            .as_deref()
            .is_some_and(password_push_enabled);
    is_one_of(r, &["application.lifecycle.update"]) && took_effect(r) && pushing
}

pub(super) fn scim_password_push_enabled_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let app = target(r, "AppInstance").map(object_label);
    let which = app
        .map(|a| format!("app {a}"))
        .unwrap_or_else(|| "an application".to_owned());
    let summary = format!(
        "{} set {which} to push users' Okta passwords{}",
        actor_label(r),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary);
    if let Some(app) = app {
        f = f.fact("app", app);
    }
    f
}
