//! Alerts enriched with what the inventory knows of their principal: the OCSF
//! actor's user fields (uid, name, email, type, groups) and, under
//! `unmapped.okta_identity`, admin roles, factor types, whether a factor is
//! phishing-resistant, account age, last sign-in and device count. An alert on
//! an identity that holds an admin role is at least High.

use serde_json::{json, Map, Value};

use crate::alert::{Alert, MAX_BODY_BYTES};
use crate::detect::Severity;
use crate::ports::{ActivityStore, IdentityStore, StoreError};
use crate::time::{format_rfc3339_ms, Millis, DAY};

use super::identity::{apply_events, identities, Identity, Overlay};
use super::model::Inventory;

/// Enriches `alert` in place from a whole inventory (no events after it).
/// Returns whether its principal was found.
pub fn enrich_alert(alert: &mut Alert, inv: &Inventory) -> bool {
    let Some(uid) = principal_uid(alert) else {
        return false;
    };
    let (_, users) = identities(inv);
    match users.into_iter().find(|u| u.id == uid) {
        Some(identity) => {
            let overlay = Overlay {
                held_admin: !identity.admin_roles.is_empty(),
                ..Overlay::default()
            };
            apply_identity(alert, &identity, &overlay)
        }
        None => false,
    }
}

/// The Okta user id of the alert's principal (the OCSF actor's `uid`).
pub fn principal_uid(alert: &Alert) -> Option<String> {
    let body: Value = serde_json::from_str(&alert.body).ok()?;
    body["evidences"][0]["actor"]["user"]["uid"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Enriches `alert` with its principal's stored identity, brought up to date
/// with the principal's events since the refresh (up to `now`). What both the
/// detect function and `replay --okta` do. `Ok(false)`: no stored identity
/// (no inventory, or a principal that is not an Okta user); the alert is as it was.
pub async fn enrich<I: IdentityStore, A: ActivityStore>(
    alert: &mut Alert,
    identities: &I,
    activity: &A,
    now: Millis,
) -> Result<bool, StoreError> {
    let Some(uid) = principal_uid(alert) else {
        return Ok(false);
    };
    let Some(mut identity) = identities
        .load_identities(std::slice::from_ref(&uid))
        .await?
        .remove(&uid)
    else {
        return Ok(false);
    };
    let records = activity
        .identity_activity(&uid, identity.fetched_at, now.max(identity.fetched_at) + 1)
        .await?;
    let overlay = apply_events(&mut identity, &records);
    Ok(apply_identity(alert, &identity, &overlay))
}

/// Writes `identity` into the alert: the OCSF actor's user fields and
/// `unmapped.okta_identity`; an identity that held an admin role since the
/// refresh makes the alert at least High. Returns `true` (the principal was
/// found), or `false` for a body that is not an OCSF finding.
pub fn apply_identity(alert: &mut Alert, identity: &Identity, overlay: &Overlay) -> bool {
    let Ok(mut body) = serde_json::from_str::<Value>(&alert.body) else {
        return false;
    };
    // Indexing a JSON value mutably panics on the wrong shape: look first.
    if !body.is_object() {
        return false;
    }
    let Some(u) = body
        .pointer_mut("/evidences/0/actor/user")
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    let roles = &identity.admin_roles;
    let admin = !roles.is_empty();
    u.insert("uid".into(), json!(identity.id));
    let name = identity.display_name.as_ref().unwrap_or(&identity.login);
    if !name.is_empty() {
        u.insert("name".into(), json!(name));
    }
    if let Some(email) = &identity.email {
        u.insert("email_addr".into(), json!(email));
    }
    // Unreadable roles leave the rendered type as it was rather than claim "User".
    if admin || !identity.admin_roles_unknown {
        u.insert("type".into(), json!(if admin { "Admin" } else { "User" }));
        u.insert("type_id".into(), json!(if admin { 2 } else { 1 }));
    }
    if !identity.groups.is_empty() {
        u.insert(
            "groups".into(),
            Value::Array(identity.groups.iter().map(|g| json!({"name": g})).collect()),
        );
    }

    let mut id = Map::new();
    id.insert("okta_user_id".into(), json!(identity.id));
    id.insert("status".into(), json!(identity.status));
    id.insert("admin_roles".into(), json!(roles));
    if identity.admin_roles_unknown {
        id.insert("admin_roles_unknown".into(), json!(true));
    }
    id.insert("group_count".into(), json!(identity.group_count));
    if let Some(types) = &identity.factor_types {
        id.insert("factor_types".into(), json!(types));
    }
    if let Some(p) = identity.phishing_resistant {
        id.insert("phishing_resistant".into(), json!(p));
    }
    if let Some(created) = identity.created {
        id.insert(
            "account_age_days".into(),
            json!((identity.fetched_at - created).max(0) / DAY),
        );
    }
    if let Some(t) = identity.last_login {
        id.insert("last_sign_in".into(), json!(format_rfc3339_ms(t)));
    }
    if let Some(n) = identity.device_count {
        id.insert("device_count".into(), json!(n));
    }
    for (k, v) in [
        ("department", &identity.department),
        ("title", &identity.title),
        ("manager", &identity.manager),
        ("location", &identity.location),
    ] {
        if let Some(v) = v {
            id.insert(k.into(), json!(v));
        }
    }
    id.insert(
        "inventory_time".into(),
        json!(format_rfc3339_ms(identity.fetched_at)),
    );
    if !overlay.applied.is_empty() {
        id.insert("changes_since_inventory".into(), json!(overlay.applied));
    }
    if overlay.held_admin && !admin {
        id.insert("admin_since_inventory".into(), json!(true));
    }
    if !body["unmapped"].is_object() {
        body["unmapped"] = json!({});
    }
    body["unmapped"]["okta_identity"] = Value::Object(id);

    if (admin || overlay.held_admin) && alert.severity < Severity::High {
        let was = format!("[{}]", alert.severity.upper());
        if let Some(rest) = alert.subject.strip_prefix(&was) {
            alert.subject = format!("[{}]{rest}", Severity::High.upper());
        }
        alert.severity = Severity::High;
        body["severity_id"] = json!(Severity::High.ocsf_id());
        body["severity"] = json!(Severity::High.label());
    }
    let text = body.to_string();
    // Enrichment never makes an alert unpublishable: past the SNS limit, keep
    // the body as it was (the severity still rises).
    if text.len() <= MAX_BODY_BYTES {
        alert.body = text;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::posture::model::{Admin, Device, Factor, Part, RoleAssignment, User};

    fn inventory(admin: bool) -> Inventory {
        let mut inv = Inventory::unknown("https://acme.okta.com", 100 * DAY, "not read");
        inv.users = Part::Known(vec![User {
            id: "00ualice".into(),
            login: "alice@example.com".into(),
            email: Some("alice@example.com".into()),
            display_name: Some("Alice Example".into()),
            status: "ACTIVE".into(),
            created: Some(40 * DAY),
            last_login: Some(99 * DAY),
            ..User::default()
        }]);
        inv.groups = Part::Known(BTreeMap::from([(
            "00ualice".to_owned(),
            vec!["Everyone".to_owned(), "Engineering".to_owned()],
        )]));
        inv.admins = Part::Known(if admin {
            vec![Admin {
                user_id: "00ualice".into(),
                roles: vec![RoleAssignment {
                    role_type: "ORG_ADMIN".into(),
                    label: "Organization Administrator".into(),
                    assignment_type: "USER".into(),
                }],
            }]
        } else {
            Vec::new()
        });
        inv.factors = Part::Known(BTreeMap::from([(
            "00ualice".to_owned(),
            vec![Factor {
                factor_type: "push".into(),
                provider: "OKTA".into(),
                status: "ACTIVE".into(),
            }],
        )]));
        inv.devices = Part::Known(vec![Device {
            id: "guo1".into(),
            status: "ACTIVE".into(),
            platform: None,
            user_ids: vec!["00ualice".into()],
        }]);
        inv
    }

    fn alert(uid: &str) -> Alert {
        Alert {
            uid: "f1".into(),
            subject: "[MEDIUM] Sign-in from a new country: alice@example.com".into(),
            body: json!({"severity_id": 3, "severity": "Medium",
                "evidences": [{"actor": {"user": {"uid": uid, "name": "alice@example.com", "type": "User"}}}]})
            .to_string(),
            severity: Severity::Medium,
            detection: "new_country".into(),
            principal: "alice@example.com".into(),
            time: 0,
        }
    }

    #[test]
    fn the_principal_gets_its_identity_and_an_admin_is_at_least_high() {
        let mut a = alert("00ualice");
        assert!(enrich_alert(&mut a, &inventory(true)));
        let body: Value = serde_json::from_str(&a.body).unwrap();
        let user = &body["evidences"][0]["actor"]["user"];
        assert_eq!(user["name"], "Alice Example");
        assert_eq!(user["email_addr"], "alice@example.com");
        assert_eq!(user["type"], "Admin");
        assert_eq!(user["groups"][1]["name"], "Engineering");
        let id = &body["unmapped"]["okta_identity"];
        assert_eq!(id["admin_roles"], json!(["ORG_ADMIN"]));
        assert_eq!(id["factor_types"], json!(["push"]));
        assert_eq!(id["phishing_resistant"], false);
        assert_eq!(id["account_age_days"], 60);
        assert_eq!(id["device_count"], 1);
        assert_eq!(a.severity, Severity::High);
        assert_eq!(body["severity_id"], 4);
        assert!(a.subject.starts_with("[HIGH] "), "{}", a.subject);
    }

    #[test]
    fn a_non_admin_keeps_its_severity_and_an_unknown_principal_is_left_alone() {
        let mut a = alert("00ualice");
        assert!(enrich_alert(&mut a, &inventory(false)));
        assert_eq!(a.severity, Severity::Medium);
        let body: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(body["evidences"][0]["actor"]["user"]["type"], "User");

        let mut stranger = alert("00uother");
        stranger.principal = "bob@example.com".into();
        let before = stranger.clone();
        assert!(!enrich_alert(&mut stranger, &inventory(true)));
        assert_eq!(stranger, before);
    }
}
