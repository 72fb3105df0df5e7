//! Alerts enriched with what the inventory knows of their principal: the OCSF
//! actor's user fields (uid, name, email, type, groups) and, under
//! `unmapped.okta_identity`, admin roles, factor types, whether a factor is
//! phishing-resistant, account age, last sign-in and device count. An alert on
//! an identity that holds an admin role is at least High.

use serde_json::{json, Map, Value};

use crate::alert::{Alert, MAX_BODY_BYTES};
use crate::detect::Severity;
use crate::time::{format_rfc3339_ms, DAY};

use super::model::{Inventory, User};

/// Groups listed on the actor; the count is always given.
const MAX_GROUPS: usize = 50;

/// Enriches `alert` in place. Returns whether its principal was found.
pub fn enrich_alert(alert: &mut Alert, inv: &Inventory) -> bool {
    let Ok(mut body) = serde_json::from_str::<Value>(&alert.body) else {
        return false;
    };
    let Some(uid) = body["evidences"][0]["actor"]["user"]["uid"]
        .as_str()
        .map(str::to_owned)
    else {
        return false;
    };
    let Some(user) = find_user(inv, &uid, &alert.principal) else {
        return false;
    };
    let groups: Vec<String> = inv
        .groups
        .known()
        .and_then(|g| g.get(&user.id))
        .cloned()
        .unwrap_or_default();
    let roles: Vec<String> = inv
        .admins
        .known()
        .and_then(|a| a.iter().find(|a| a.user_id == user.id))
        .map(|a| {
            let mut r: Vec<String> = a.roles.iter().map(|r| r.role_type.clone()).collect();
            r.sort();
            r.dedup();
            r
        })
        .unwrap_or_default();
    let factors = inv.factors.known().and_then(|f| f.get(&user.id));
    let devices = inv
        .devices
        .known()
        .map(|d| d.iter().filter(|d| d.user_ids.contains(&user.id)).count());

    let actor_user = &mut body["evidences"][0]["actor"]["user"];
    let u = actor_user.as_object_mut().expect("an actor user object");
    u.insert("uid".into(), json!(user.id));
    if let Some(name) = user.display_name.as_ref().or(Some(&user.login)) {
        u.insert("name".into(), json!(name));
    }
    if let Some(email) = &user.email {
        u.insert("email_addr".into(), json!(email));
    }
    u.insert(
        "type".into(),
        json!(if roles.is_empty() { "User" } else { "Admin" }),
    );
    u.insert(
        "type_id".into(),
        json!(if roles.is_empty() { 1 } else { 2 }),
    );
    if !groups.is_empty() {
        u.insert(
            "groups".into(),
            Value::Array(
                groups
                    .iter()
                    .take(MAX_GROUPS)
                    .map(|g| json!({"name": g}))
                    .collect(),
            ),
        );
    }

    let mut identity = Map::new();
    identity.insert("okta_user_id".into(), json!(user.id));
    identity.insert("status".into(), json!(user.status));
    identity.insert("admin_roles".into(), json!(roles));
    identity.insert("group_count".into(), json!(groups.len()));
    if let Some(factors) = factors {
        let mut types: Vec<&str> = factors
            .iter()
            .filter(|f| f.is_active())
            .map(|f| f.factor_type.as_str())
            .collect();
        types.sort_unstable();
        types.dedup();
        identity.insert("factor_types".into(), json!(types));
        identity.insert(
            "phishing_resistant".into(),
            json!(factors
                .iter()
                .any(|f| f.is_active() && f.is_phishing_resistant())),
        );
    }
    if let Some(created) = user.created {
        identity.insert(
            "account_age_days".into(),
            json!((inv.fetched_at - created).max(0) / DAY),
        );
    }
    if let Some(t) = user.last_login {
        identity.insert("last_sign_in".into(), json!(format_rfc3339_ms(t)));
    }
    if let Some(n) = devices {
        identity.insert("device_count".into(), json!(n));
    }
    for (k, v) in [
        ("department", &user.department),
        ("title", &user.title),
        ("manager", &user.manager),
    ] {
        if let Some(v) = v {
            identity.insert(k.into(), json!(v));
        }
    }
    identity.insert(
        "inventory_time".into(),
        json!(format_rfc3339_ms(inv.fetched_at)),
    );
    if !body["unmapped"].is_object() {
        body["unmapped"] = json!({});
    }
    body["unmapped"]["okta_identity"] = Value::Object(identity);

    if !roles.is_empty() && alert.severity < Severity::High {
        let was = format!("[{}]", alert.severity.upper());
        if let Some(rest) = alert.subject.strip_prefix(&was) {
            alert.subject = format!("[{}]{rest}", Severity::High.upper());
        }
        alert.severity = Severity::High;
        body["severity_id"] = json!(Severity::High.ocsf_id());
        body["severity"] = json!(Severity::High.label());
    }
    let text = body.to_string();
    // Enrichment never makes an alert unpublishable: past the SNS limit, keep it as it was.
    if text.len() <= MAX_BODY_BYTES {
        alert.body = text;
    }
    true
}

fn find_user<'a>(inv: &'a Inventory, uid: &str, label: &str) -> Option<&'a User> {
    let users = inv.users.known()?;
    users.iter().find(|u| u.id == uid).or_else(|| {
        users
            .iter()
            .find(|u| !u.login.is_empty() && u.login.eq_ignore_ascii_case(label))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::posture::model::{Admin, Device, Factor, Part, RoleAssignment};

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
