//! Detections on privileges and credentials: admin roles, API tokens, factor
//! resets, Okta support, other users' app passwords, service-app admin scopes.

use super::describe::{
    action, actor_label, is_app_user_of, is_one_of, items, known, object_label, origin, same_user,
    target, target_any, target_user_or_actor, took_effect, type_starts_with, user_label,
};
use crate::detect::{DetectionMeta, Finding, FindingPrincipal, Severity};
use crate::record::ActivityRecord;

// --- admin_role_granted -------------------------------------------------------

const PRIVILEGE_GRANTS: &[&str] = &[
    "user.account.privilege.grant",
    "group.privilege.grant",
    "iam.resourceset.bindings.add",
];

pub(super) fn admin_role_granted(r: &ActivityRecord) -> bool {
    is_one_of(r, PRIVILEGE_GRANTS) && took_effect(r)
}

/// Okta names the role `Super administrator` in `privilegeGranted`; role types
/// read `SUPER_ADMIN`.
fn grants_super_admin(r: &ActivityRecord) -> bool {
    r.details.privilege_granted.as_deref().is_some_and(|p| {
        let p = p.to_ascii_lowercase().replace('_', " ");
        p.contains("super administrator") || p.contains("super admin")
    })
}

pub(super) fn admin_role_granted_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let privilege = known(r.details.privilege_granted.as_deref()).unwrap_or("an admin role");
    let grantee = match (target(r, "User"), r.targets.first()) {
        (Some(u), _) => user_label(u).to_owned(),
        (None, Some(t))
            if t.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("UserGroup")) =>
        {
            format!("group {}", object_label(t))
        }
        (None, Some(t)) => object_label(t).to_owned(),
        (None, None) => "an unnamed principal".to_owned(),
    };
    let summary = format!(
        "{} granted {privilege} to {grantee}{}",
        actor_label(r),
        origin(r)
    );
    let mut f = Finding::from_record(meta, target_user_or_actor(r), r, summary)
        .fact("privilege", privilege)
        .fact("granted_by", actor_label(r))
        .fact("granted_to", grantee);
    if grants_super_admin(r) {
        f.severity = Severity::Critical;
        f.title = "Super administrator role granted".to_owned();
    }
    f
}

// --- admin_role_grant_refused -------------------------------------------------

/// Okta refused to grant an admin role: the actor lacked the permission, or
/// failed the step-up a protected action asks for. Either way someone tried
/// to give a principal more power than they could; a grant that took effect is
/// `admin_role_granted`'s.
pub(super) fn admin_role_grant_refused(r: &ActivityRecord) -> bool {
    is_one_of(r, PRIVILEGE_GRANTS) && r.event.outcome.is_failure()
}

pub(super) fn admin_role_grant_refused_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let privilege = known(r.details.privilege_granted.as_deref()).unwrap_or("an admin role");
    let grantee = match target_any(r, &["User", "UserGroup"]) {
        Some(t)
            if t.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("User")) =>
        {
            user_label(t).to_owned()
        }
        Some(t) => format!("group {}", object_label(t)),
        None => "a principal".to_owned(),
    };
    let because = known(r.event.reason.as_deref())
        .map(|why| format!(": {why}"))
        .unwrap_or_default();
    let summary = format!(
        "Okta refused {}'s attempt to grant {privilege} to {grantee}{} (outcome {}{because})",
        actor_label(r),
        origin(r),
        r.event.outcome.as_str()
    );
    // The actor is who tried to escalate; the grantee never got the role.
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("privilege", privilege)
        .fact("attempted_by", actor_label(r))
        .fact("attempted_for", grantee)
        .fact("outcome", r.event.outcome.as_str());
    if let Some(reason) = known(r.event.reason.as_deref()) {
        f = f.fact("reason", reason);
    }
    if grants_super_admin(r) {
        f.severity = Severity::High;
    }
    f
}

// --- api_token_created --------------------------------------------------------

pub(super) fn api_token_created(r: &ActivityRecord) -> bool {
    is_one_of(r, &["system.api_token.create"]) && took_effect(r)
}

pub(super) fn api_token_created_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let token = target(r, "Token");
    let name = token.map(object_label).unwrap_or("(unnamed)");
    let summary = format!("{} created API token {name}{}", actor_label(r), origin(r));
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("token_name", name);
    if let Some(id) = token.and_then(|t| known(t.id.as_deref())) {
        f = f.fact("token_id", id);
    }
    f
}

// --- mfa_factor_reset ---------------------------------------------------------

const FACTOR_RESETS: &[&str] = &[
    "user.mfa.factor.reset_all",
    "user.mfa.factor.deactivate",
    "user.mfa.factor.suspend",
];

pub(super) fn mfa_factor_reset(r: &ActivityRecord) -> bool {
    is_one_of(r, FACTOR_RESETS) && took_effect(r)
}

pub(super) fn mfa_factor_reset_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let user = target(r, "User");
    let by_self = user.is_some_and(|u| same_user(&r.actor, u));
    let whose = match user {
        Some(_) if by_self => "their own".to_owned(),
        Some(u) => format!("{}'s", user_label(u)),
        None => "a user's".to_owned(),
    };
    let factor = known(r.details.factor.as_deref());
    let what = match (action(r), factor) {
        ("reset_all", _) => format!("reset all of {whose} MFA factors"),
        ("suspend", Some(f)) => format!("suspended {whose} MFA factor {f}"),
        ("suspend", None) => format!("suspended {whose} MFA factor"),
        (_, Some(f)) => format!("deactivated {whose} MFA factor {f}"),
        (_, None) => format!("deactivated {whose} MFA factor"),
    };
    let summary = format!("{} {what}{}", actor_label(r), origin(r));
    let mut f = Finding::from_record(meta, target_user_or_actor(r), r, summary)
        .fact("action", action(r))
        .fact("by_self", by_self)
        .fact("performed_by", actor_label(r));
    if let Some(factor) = factor {
        f = f.fact("factor", factor);
    }
    if let Some(reason) = known(r.event.reason.as_deref()) {
        f = f.fact("reason", reason);
    }
    f
}

// --- support_impersonation ----------------------------------------------------

pub(super) fn support_impersonation(r: &ActivityRecord) -> bool {
    is_one_of(
        r,
        &[
            "user.session.impersonation.grant",
            "user.session.impersonation.initiate",
        ],
    ) && took_effect(r)
}

pub(super) fn support_impersonation_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let what = if action(r).eq_ignore_ascii_case("grant") {
        "granted Okta support access to impersonate users"
    } else {
        "started an Okta support impersonation session"
    };
    let summary = format!("{} {what}{}", actor_label(r), origin(r));
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary).fact("action", action(r))
}

// --- okta_support_reset -------------------------------------------------------

/// The actor Okta support acts as.
const OKTA_SUPPORT: &str = "system@okta.com";

const CREDENTIAL_CHANGES: &[&str] = &[
    "user.account.reset_password",
    "user.account.update_password",
    "user.mfa.factor.deactivate",
    "user.mfa.factor.update",
    "user.mfa.attempt_bypass",
    "system.mfa.factor.deactivate",
];

pub(super) fn okta_support_reset(r: &ActivityRecord) -> bool {
    let factor_reset =
        type_starts_with(r, "user.mfa.factor.") && action(r).to_ascii_lowercase().contains("reset");
    let credential_change = is_one_of(r, CREDENTIAL_CHANGES) || factor_reset;
    let by_support = r
        .actor
        .login
        .as_deref()
        .is_some_and(|l| l.trim().eq_ignore_ascii_case(OKTA_SUPPORT));
    // Support acts from Okta's side: no browser, so no user agent.
    let no_user_agent = known(r.client.user_agent.as_deref()).is_none();
    credential_change && by_support && no_user_agent && took_effect(r)
}

pub(super) fn okta_support_reset_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let whose = target(r, "User")
        .map(|u| format!("{}'s", user_label(u)))
        .unwrap_or_else(|| "a user's".to_owned());
    let what = match r.event.event_type.to_ascii_lowercase().as_str() {
        "user.account.reset_password" => format!("reset {whose} password"),
        "user.account.update_password" => format!("changed {whose} password"),
        "user.mfa.attempt_bypass" => format!("bypassed {whose} MFA"),
        "system.mfa.factor.deactivate" => {
            "deactivated an MFA factor for the organisation".to_owned()
        }
        t if t.contains("reset") => format!("reset {whose} MFA factors"),
        _ => format!("changed {whose} MFA factor"),
    };
    let summary = format!("Okta support ({OKTA_SUPPORT}) {what}{}", origin(r));
    Finding::from_record(meta, target_user_or_actor(r), r, summary)
        .fact("event_type", r.event.event_type.as_str())
}

// --- app_password_revealed ----------------------------------------------------

/// Whether the viewer is someone other than the password's owner. The owner is
/// the `User` target (its login is the Okta login); without one, the `AppUser`
/// target. Without either, whose password it was cannot be told.
pub(super) fn app_password_revealed(r: &ActivityRecord) -> bool {
    if !is_one_of(r, &["application.user_membership.show_password"]) || !took_effect(r) {
        return false;
    }
    match (target(r, "User"), target(r, "AppUser")) {
        (Some(user), _) => !same_user(&r.actor, user),
        (None, Some(app_user)) => !is_app_user_of(&r.actor, app_user),
        (None, None) => false,
    }
}

pub(super) fn app_password_revealed_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let owner = target_any(r, &["User", "AppUser"])
        .map(user_label)
        .unwrap_or("another user");
    let app = target(r, "AppInstance").map(object_label);
    let summary = match app {
        Some(app) => format!(
            "{} revealed {owner}'s password for {app}{}",
            actor_label(r),
            origin(r)
        ),
        None => format!(
            "{} revealed {owner}'s application password{}",
            actor_label(r),
            origin(r)
        ),
    };
    let mut f = Finding::from_record(meta, target_user_or_actor(r), r, summary)
        .fact("viewed_by", actor_label(r))
        .fact("owner", owner);
    if let Some(app) = app {
        f = f.fact("app", app);
    }
    f
}

// --- service_app_admin_scope_grant --------------------------------------------

/// Okta's admin-management scopes: `okta.users.manage`, `okta.apps.manage`…
fn admin_scopes(r: &ActivityRecord) -> Vec<&str> {
    let scopes = r.details.scopes.as_deref().unwrap_or_default();
    items(scopes)
        .filter(|s| {
            let s = s.to_ascii_lowercase();
            s.starts_with("okta.") && s.ends_with(".manage")
        })
        .collect()
}

pub(super) fn service_app_admin_scope_grant(r: &ActivityRecord) -> bool {
    let token_grant = type_starts_with(r, "app.oauth2.")
        && r.event
            .event_type
            .to_ascii_lowercase()
            .contains(".token.grant");
    let client_credentials = r
        .details
        .grant_type
        .as_deref()
        .is_some_and(|g| g.trim().eq_ignore_ascii_case("client_credentials"));
    token_grant && client_credentials && took_effect(r) && !admin_scopes(r).is_empty()
}

pub(super) fn service_app_admin_scope_grant_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let scopes = admin_scopes(r).join(", ");
    let client = known(r.actor.name.as_deref())
        .or(known(r.details.client_id.as_deref()))
        .unwrap_or(actor_label(r));
    let summary = format!(
        "Service app {client} obtained a client_credentials token with {scopes}{}",
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("admin_scopes", scopes)
        .fact("grant_type", "client_credentials");
    if let Some(id) = known(r.details.client_id.as_deref()) {
        f = f.fact("client_id", id);
    }
    f
}
