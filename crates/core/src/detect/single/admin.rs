//! Changes to how Okta authenticates and who administers it that rarely happen
//! and are rarely benign when unplanned: OAuth client secrets read, Active
//! Directory agents added or reconfigured, custom admin roles, protected actions.

use super::describe::{actor_label, is_one_of, object_label, origin, took_effect};
use crate::detect::{DetectionMeta, Finding, FindingPrincipal};
use crate::record::ActivityRecord;

/// The first target's name, if the event has one.
fn named(r: &ActivityRecord) -> Option<&str> {
    r.targets.first().map(object_label)
}

fn finding(meta: &DetectionMeta, r: &ActivityRecord, what: String) -> Finding {
    let summary = format!("{} {what}{}", actor_label(r), origin(r));
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("event_type", r.event.event_type.as_str());
    if let Some(target) = named(r) {
        f = f.fact("target", target);
    }
    f
}

// --- oauth_client_secret_read ---------------------------------------------------

pub(super) fn oauth_client_secret_read(r: &ActivityRecord) -> bool {
    is_one_of(r, &["app.oauth2.client.read_client_secret"]) && took_effect(r)
}

pub(super) fn oauth_client_secret_read_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let client = named(r).map(|c| format!(" of {c}")).unwrap_or_default();
    finding(meta, r, format!("read the OAuth client secret{client}"))
}

// --- ad_agent_change ------------------------------------------------------------

const AD_AGENT_CHANGES: &[&str] = &[
    "system.agent.ad.create",
    "system.agent.ad.reactivate",
    "system.agent.ad.update",
    "system.agent.ad.config_change_detected",
];

pub(super) fn ad_agent_change(r: &ActivityRecord) -> bool {
    is_one_of(r, AD_AGENT_CHANGES) && took_effect(r)
}

pub(super) fn ad_agent_change_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let what = match r.event.event_type.rsplit('.').next().unwrap_or_default() {
        "create" => "added an Active Directory agent",
        "reactivate" => "reactivated an Active Directory agent",
        "config_change_detected" => "changed a monitored Active Directory agent setting",
        _ => "changed an Active Directory agent's configuration",
    };
    let agent = named(r).map(|a| format!(" ({a})")).unwrap_or_default();
    finding(meta, r, format!("{what}{agent}"))
}

// --- custom_admin_role_change ---------------------------------------------------

const CUSTOM_ROLE_CHANGES: &[&str] = &[
    "iam.role.create",
    "iam.role.update",
    "iam.role.permissions.add",
    "iam.resourceset.create",
    "iam.resourceset.update",
    "iam.resourceset.resources.add",
    "iam.resourceset.bindings.add",
];

pub(super) fn custom_admin_role_change(r: &ActivityRecord) -> bool {
    is_one_of(r, CUSTOM_ROLE_CHANGES) && took_effect(r)
}

pub(super) fn custom_admin_role_change_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let t = r.event.event_type.to_ascii_lowercase();
    let what = match t.as_str() {
        "iam.role.create" => "created a custom admin role",
        "iam.role.update" => "updated a custom admin role",
        "iam.role.permissions.add" => "added permissions to a custom admin role",
        "iam.resourceset.create" => "created an admin resource set",
        "iam.resourceset.update" => "updated an admin resource set",
        "iam.resourceset.resources.add" => "added resources to an admin resource set",
        _ => "bound a custom admin role to a principal",
    };
    let object = named(r).map(|n| format!(" {n}")).unwrap_or_default();
    finding(meta, r, format!("{what}{object}"))
}

// --- protected_action_settings_changed ------------------------------------------

/// Okta's event type catalog lists `security.protected_action.settings.update`
/// ("a protected action setting is updated", since 2024.04.3) as the one event
/// of a change to these settings. `security.protected_action.attempt` is an
/// admin performing a protected action, the feature working, not a change.
pub(super) fn protected_action_settings_changed(r: &ActivityRecord) -> bool {
    is_one_of(r, &["security.protected_action.settings.update"]) && took_effect(r)
}

pub(super) fn protected_action_settings_changed_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    finding(meta, r, "changed the protected-actions settings".to_owned())
}
