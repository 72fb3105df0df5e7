//! What alert enrichment needs of one user, kept between inventory refreshes:
//! one small document per user (a whole inventory does not fit a DynamoDB
//! item), and the changes the event stream shows after the refresh, so a role
//! granted an hour ago counts before the next daily read.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::record::{ActivityRecord, Principal};
use crate::time::Millis;

use super::model::Inventory;

/// Groups kept per user; `group_count` is always exact.
pub const MAX_GROUPS: usize = 50;

/// One user as the last refresh read it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Identity {
    pub id: String,
    pub login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<Millis>,
    /// At most [`MAX_GROUPS`] names.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub group_count: usize,
    /// Role types (`SUPER_ADMIN`, `ORG_ADMIN`, …), sorted, deduplicated.
    #[serde(default)]
    pub admin_roles: Vec<String>,
    /// The role assignments could not be read: no role is not "no admin".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin_roles_unknown: bool,
    /// Active factor types; `None` when they were not read (or not readable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phishing_resistant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// City and country code from the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When the refresh that wrote this read the org.
    pub fetched_at: Millis,
}

/// What one refresh read, beside the users: when, and what it could not read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InventoryMeta {
    pub org: String,
    pub fetched_at: Millis,
    pub users: usize,
    /// Parts the credentials could not read (`admins`, `factors`, …).
    pub unknown: Vec<String>,
}

/// The per-user documents and the meta of `inv`. Users only when the user list
/// was readable: without it there is nothing to key enrichment on.
pub fn identities(inv: &Inventory) -> (InventoryMeta, Vec<Identity>) {
    let mut unknown = Vec::new();
    let mut note = |known: bool, what: &str| {
        if !known {
            unknown.push(what.to_owned());
        }
    };
    note(inv.users.known().is_some(), "users");
    note(inv.groups.known().is_some(), "groups");
    note(inv.admins.known().is_some(), "admins");
    note(inv.factors.known().is_some(), "factors");
    note(inv.devices.known().is_some(), "devices");
    let users = inv.users.known().map(Vec::as_slice).unwrap_or_default();
    let out: Vec<Identity> = users
        .iter()
        .map(|u| {
            let groups: Vec<String> = inv
                .groups
                .known()
                .and_then(|g| g.get(&u.id))
                .cloned()
                .unwrap_or_default();
            // Okta's order, duplicates dropped.
            let mut seen = HashSet::new();
            let groups: Vec<String> = groups
                .into_iter()
                .filter(|g| seen.insert(g.clone()))
                .collect();
            let mut roles: Vec<String> = inv
                .admins
                .known()
                .and_then(|a| a.iter().find(|a| a.user_id == u.id))
                .map(|a| a.roles.iter().map(|r| r.role_type.clone()).collect())
                .unwrap_or_default();
            roles.sort();
            roles.dedup();
            let factors = inv.factors.known().and_then(|f| f.get(&u.id));
            Identity {
                id: u.id.clone(),
                login: u.login.clone(),
                display_name: u.display_name.clone(),
                email: u.email.clone(),
                user_type: u.user_type.clone(),
                status: u.status.clone(),
                created: u.created,
                last_login: u.last_login,
                group_count: groups.len(),
                groups: groups.into_iter().take(MAX_GROUPS).collect(),
                admin_roles: roles,
                admin_roles_unknown: inv.admins.known().is_none(),
                factor_types: factors.map(|f| {
                    let mut t: Vec<String> = f
                        .iter()
                        .filter(|f| f.is_active())
                        .map(|f| f.factor_type.clone())
                        .collect();
                    t.sort();
                    t.dedup();
                    t
                }),
                phishing_resistant: factors
                    .map(|f| f.iter().any(|f| f.is_active() && f.is_phishing_resistant())),
                device_count: inv
                    .devices
                    .known()
                    .map(|d| d.iter().filter(|d| d.user_ids.contains(&u.id)).count()),
                department: u.department.clone(),
                title: u.title.clone(),
                manager: u.manager.clone(),
                location: u.location.clone(),
                fetched_at: inv.fetched_at,
            }
        })
        .collect();
    let meta = InventoryMeta {
        org: inv.org.clone(),
        fetched_at: inv.fetched_at,
        users: out.len(),
        unknown,
    };
    (meta, out)
}

/// Where this refresh could not read the admin roles, each user keeps the
/// roles its previous item had (still marked unknown): whoever takes the roles
/// scope away from the app must not make the admins' alerts look like a plain
/// user's. The roles come back as read once the scope does.
pub fn keep_known_roles(users: &mut [Identity], previous: &HashMap<String, Identity>) {
    for u in users.iter_mut().filter(|u| u.admin_roles_unknown) {
        if let Some(p) = previous.get(&u.id) {
            u.admin_roles = p.admin_roles.clone();
        }
    }
}

/// What the events after the refresh changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// Event types applied, oldest first.
    pub applied: Vec<String>,
    /// The identity held an admin role at some moment since the refresh (a
    /// revoke after the activity does not make the alert less severe).
    pub held_admin: bool,
}

/// Applies to `identity` the changes that `records` (its timeline since the
/// refresh, any role) show: admin role grants and revokes, lifecycle changes,
/// factor enrolments and resets, group membership. Only successful events
/// about this user count; records from before the refresh are ignored.
pub fn apply_events(identity: &mut Identity, records: &[ActivityRecord]) -> Overlay {
    let mut overlay = Overlay {
        held_admin: !identity.admin_roles.is_empty(),
        ..Overlay::default()
    };
    let mut ordered: Vec<&ActivityRecord> = records
        .iter()
        .filter(|r| r.published >= identity.fetched_at && r.event.outcome.is_success())
        .collect();
    ordered.sort_by_key(|r| r.published);
    let mut seen = HashSet::new();
    for r in ordered {
        // One event can be on the timeline twice (actor and target).
        if !seen.insert(r.uuid.clone()) || subject_of(r) != Some(identity.id.as_str()) {
            continue;
        }
        if apply_one(identity, r) {
            overlay.applied.push(r.event.event_type.to_string());
        }
        overlay.held_admin |= !identity.admin_roles.is_empty();
    }
    overlay
}

/// Whose account the event changes: the user it targets, else (enrolling a
/// factor for oneself) the actor.
fn subject_of(r: &ActivityRecord) -> Option<&str> {
    match r.target_of_kind("User") {
        Some(t) => t.id.as_deref(),
        None if r.is("user.mfa.factor.activate") || r.is("user.mfa.factor.deactivate") => {
            r.actor.id.as_deref()
        }
        None => None,
    }
}

fn apply_one(id: &mut Identity, r: &ActivityRecord) -> bool {
    match r.event.event_type.as_str() {
        "user.account.privilege.grant" => {
            let granted = r.details.privilege_granted.as_deref().unwrap_or_default();
            let mut roles = role_types(granted);
            if roles.is_empty() {
                // A grant whose role is not named is still a grant.
                roles.push("UNKNOWN_ADMIN_ROLE".to_owned());
            }
            id.admin_roles.extend(roles);
            id.admin_roles.sort();
            id.admin_roles.dedup();
        }
        // Okta does not name the revoked role in the event: every role is
        // dropped until the next refresh says which remain. The alert keeps the
        // admin treatment through `held_admin`.
        "user.account.privilege.revoke" => id.admin_roles.clear(),
        "user.lifecycle.deactivate" => id.status = "DEPROVISIONED".to_owned(),
        "user.lifecycle.suspend" => id.status = "SUSPENDED".to_owned(),
        "user.lifecycle.unsuspend" | "user.lifecycle.activate" | "user.lifecycle.reactivate" => {
            id.status = "ACTIVE".to_owned()
        }
        "user.mfa.factor.activate" => {
            let t = factor_type(r);
            let types = id.factor_types.get_or_insert_with(Vec::new);
            types.push(t.clone());
            types.sort();
            types.dedup();
            if is_phishing_resistant(&t) {
                id.phishing_resistant = Some(true);
            } else if id.phishing_resistant.is_none() {
                id.phishing_resistant = Some(false);
            }
        }
        "user.mfa.factor.deactivate" => {
            let t = factor_type(r);
            if let Some(types) = id.factor_types.as_mut() {
                types.retain(|x| *x != t);
                id.phishing_resistant = Some(types.iter().any(|t| is_phishing_resistant(t)));
            }
        }
        "user.mfa.factor.reset_all" => {
            id.factor_types = Some(Vec::new());
            id.phishing_resistant = Some(false);
        }
        "group.user_membership.add" => {
            let Some(group) = group_name(r) else {
                return false;
            };
            if !id.groups.contains(&group) {
                id.group_count += 1;
                if id.groups.len() < MAX_GROUPS {
                    id.groups.push(group);
                }
            }
        }
        "group.user_membership.remove" => {
            let Some(group) = group_name(r) else {
                return false;
            };
            let before = id.groups.len();
            id.groups.retain(|g| *g != group);
            // A group past the kept ones may be the one removed: the count
            // drops either way.
            if id.groups.len() < before || id.group_count > id.groups.len() {
                id.group_count = id.group_count.saturating_sub(1);
            }
        }
        _ => return false,
    }
    true
}

fn group_name(r: &ActivityRecord) -> Option<String> {
    r.target_of_kind("UserGroup")
        .and_then(|g: &Principal| g.name.as_deref().or(g.login.as_deref()).or(g.id.as_deref()))
        .map(str::to_owned)
}

/// Okta's role type for the labels `privilegeGranted` lists (comma-separated,
/// e.g. `Super administrator, Read only administrator`).
pub fn role_types(granted: &str) -> Vec<String> {
    granted
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|label| {
            let l = label.to_ascii_lowercase();
            let t = if l.contains("super") {
                "SUPER_ADMIN"
            } else if l.contains("organization") || l.contains("org admin") {
                "ORG_ADMIN"
            } else if l.contains("read only") || l.contains("read-only") {
                "READ_ONLY_ADMIN"
            } else if l.contains("application") || l.contains("app admin") {
                "APP_ADMIN"
            } else if l.contains("help desk") {
                "HELP_DESK_ADMIN"
            } else if l.contains("group membership") {
                "GROUP_MEMBERSHIP_ADMIN"
            } else if l.contains("group") || l.contains("user admin") {
                "USER_ADMIN"
            } else if l.contains("api access") {
                "API_ACCESS_MANAGEMENT_ADMIN"
            } else if l.contains("report") {
                "REPORT_ADMIN"
            } else if l.contains("mobile") {
                "MOBILE_ADMIN"
            } else {
                "CUSTOM"
            };
            t.to_owned()
        })
        .collect()
}

/// The factor type of an enrolment event, as the Factors API spells it, from
/// `debugData.factor` or the enrolment target's name.
fn factor_type(r: &ActivityRecord) -> String {
    let named = r
        .details
        .factor
        .as_deref()
        .or_else(|| {
            r.target_of_kind("AuthenticatorEnrollment")
                .or_else(|| r.target_of_kind("Factor"))
                .and_then(|t| t.name.as_deref())
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    let t = if named.contains("webauthn")
        || named.contains("fido")
        || named.contains("security key")
        || named.contains("biometric")
    {
        "webauthn"
    } else if named.contains("u2f") {
        "u2f"
    } else if named.contains("fastpass") || named.contains("signed_nonce") {
        "signed_nonce"
    } else if named.contains("sms") {
        "sms"
    } else if named.contains("voice") || named.contains("call") {
        "call"
    } else if named.contains("email") {
        "email"
    } else if named.contains("question") {
        "question"
    } else if named.contains("google") || named.contains("totp") || named.contains("authenticator")
    {
        "token:software:totp"
    } else if named.contains("okta verify") || named.contains("push") {
        "push"
    } else if named.is_empty() {
        "unknown"
    } else {
        return named.chars().take(64).collect();
    };
    t.to_owned()
}

fn is_phishing_resistant(factor_type: &str) -> bool {
    matches!(factor_type, "webauthn" | "u2f" | "signed_nonce")
}
