//! The fake Okta org's Management API, read-only, for the inventory: the
//! endpoints, paging and errors as Okta documents them (checked against the
//! Okta management OpenAPI spec):
//!
//! - list endpoints answer a JSON array; the next page only through `Link:
//!   <…after=…>; rel="next"` with an opaque cursor, and no next link on the
//!   last page; `/api/v1/iam/assignees/users` answers `{"value": […],
//!   "_links": {"next": {"href": …}}}` instead.
//! - `X-Rate-Limit-*` headers per endpoint bucket, and a 429 `E0000047` once a
//!   bucket's window is used up.
//! - A scope the org denies: an API token's admin gets 403 `E0000006`; a
//!   service app is refused a token for it (`invalid_scope`), and a bearer token
//!   without the endpoint's scope gets 403.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::fake_okta::{now_ms, okta_error, rand_u32, Request, Response};

/// The org's data, as the Management API returns it.
#[derive(Debug, Clone, Default)]
pub struct FakeOrg {
    pub users: Vec<Value>,
    /// Factors by user id.
    pub factors: HashMap<String, Vec<Value>>,
    /// Role assignments by user id.
    pub roles: HashMap<String, Vec<Value>>,
    pub groups: Vec<Value>,
    /// Member user ids by group id.
    pub members: HashMap<String, Vec<String>>,
    pub devices: Vec<Value>,
    /// User ids by device id (embedded with `expand=user`).
    pub device_users: HashMap<String, Vec<String>>,
    pub api_tokens: Vec<Value>,
    pub apps: Vec<Value>,
    /// Scope consent grants by app id.
    pub grants: HashMap<String, Vec<Value>>,
    pub log_streams: Vec<Value>,
    pub threats: Value,
    pub zones: Vec<Value>,
    pub policies: Vec<Value>,
    /// Rules by policy id.
    pub rules: HashMap<String, Vec<Value>>,
    /// Scopes the credentials lack.
    pub denied: HashSet<String>,
    /// Requests per window per rate-limit bucket.
    pub rate_limit: u64,
}

/// One Management API request as the server saw it.
#[derive(Debug, Clone)]
pub struct InventoryRequest {
    /// The path, without the query.
    pub path: String,
    pub bucket: String,
    pub window: i64,
    pub status: u16,
}

#[derive(Default)]
pub(crate) struct OrgState {
    pub org: Option<FakeOrg>,
    windows: HashMap<String, (i64, u64)>,
    pub requests: Vec<InventoryRequest>,
    cursors: HashMap<String, usize>,
    exhausted: HashSet<String>,
    seq: u64,
}

impl OrgState {
    /// Other integrations have used up `bucket`'s window by the time our next
    /// request to it arrives: that request meets a 429.
    pub(crate) fn exhaust(&mut self, bucket: &str) {
        self.exhausted.insert(bucket.to_owned());
    }
}

/// The scope an endpoint needs and its rate-limit bucket, by path.
fn endpoint(path: &str) -> Option<(&'static str, String)> {
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    let r = match parts.as_slice() {
        ["users"] => ("okta.users.read", "users".to_owned()),
        ["users", _, "factors"] => ("okta.users.read", "users/{id}/factors".to_owned()),
        ["users", _, "roles"] => ("okta.roles.read", "users/{id}/roles".to_owned()),
        ["iam", "assignees", "users"] => ("okta.roles.read", "iam".to_owned()),
        ["groups"] => ("okta.groups.read", "groups".to_owned()),
        ["groups", _, "users"] => ("okta.groups.read", "groups/{id}/users".to_owned()),
        ["devices"] => ("okta.devices.read", "devices".to_owned()),
        ["api-tokens"] => ("okta.apiTokens.read", "api-tokens".to_owned()),
        ["apps"] => ("okta.apps.read", "apps".to_owned()),
        ["apps", _, "grants"] => ("okta.appGrants.read", "apps/{id}/grants".to_owned()),
        ["logStreams"] => ("okta.logStreams.read", "logStreams".to_owned()),
        ["threats", "configuration"] => ("okta.threatInsights.read", "threats".to_owned()),
        ["zones"] => ("okta.networkZones.read", "zones".to_owned()),
        ["policies"] => ("okta.policies.read", "policies".to_owned()),
        ["policies", _, "rules"] => ("okta.policies.read", "policies/{id}/rules".to_owned()),
        _ => return None,
    };
    Some(r)
}

/// Answers a Management API GET. `scopes` is what the caller's credentials
/// carry: `None` for an API token (its admin's rights), a bearer token's scopes
/// otherwise.
pub(crate) fn route(
    req: &Request,
    base: &str,
    window_secs: i64,
    authorized: Option<Option<Vec<String>>>,
    st: &mut OrgState,
) -> Response {
    let Some((scope, bucket)) = endpoint(&req.path) else {
        return okta_error(
            404,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        );
    };
    let Some(org) = st.org.clone() else {
        return okta_error(404, "E0000007", "Not found: Resource not found");
    };
    let window = (now_ms() / 1000 / window_secs + 1) * window_secs;
    let limit = org.rate_limit.max(1);
    let exhausted = st.exhausted.remove(&bucket);
    let used = st.windows.entry(bucket.clone()).or_insert((window, 0));
    if used.0 != window || exhausted {
        *used = (window, if exhausted { limit } else { 0 });
    }
    let over = used.1 >= limit;
    if !over {
        used.1 += 1;
    }
    let headers = vec![
        ("x-rate-limit-limit".to_owned(), limit.to_string()),
        (
            "x-rate-limit-remaining".to_owned(),
            limit.saturating_sub(used.1).to_string(),
        ),
        ("x-rate-limit-reset".to_owned(), window.to_string()),
    ];
    let respond = |st: &mut OrgState, mut r: Response| {
        st.requests.push(InventoryRequest {
            path: req.path.split('?').next().unwrap_or_default().to_owned(),
            bucket: bucket.clone(),
            window,
            status: r.status,
        });
        r.headers.extend(headers.clone());
        r
    };
    if over {
        let r = okta_error(
            429,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        );
        return respond(st, r);
    }
    let Some(scopes) = authorized else {
        return respond(st, okta_error(401, "E0000011", "Invalid token provided"));
    };
    let allowed = match &scopes {
        // An API token: its admin may lack the permission.
        None => !org.denied.contains(scope),
        Some(granted) => granted.iter().any(|s| s == scope),
    };
    if !allowed {
        return respond(
            st,
            okta_error(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
            ),
        );
    }
    let id = req.path.split('/').nth(4).unwrap_or_default().to_owned();
    let all: Vec<Value> = match endpoint(&req.path).map(|(_, b)| b).as_deref() {
        Some("users") => org.users.clone(),
        Some("users/{id}/factors") => org.factors.get(&id).cloned().unwrap_or_default(),
        Some("users/{id}/roles") => org.roles.get(&id).cloned().unwrap_or_default(),
        Some("iam") => org
            .users
            .iter()
            .filter(|u| org.roles.get(u["id"].as_str().unwrap_or_default()).is_some_and(|r| !r.is_empty()))
            .map(|u| json!({"id": u["id"], "orn": format!("orn:okta:directory:fake:users:{}", u["id"].as_str().unwrap_or_default()), "_links": {}}))
            .collect(),
        Some("groups") => org.groups.clone(),
        Some("groups/{id}/users") => org
            .members
            .get(&id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|m| org.users.iter().find(|u| u["id"] == m.as_str()).cloned())
                    .collect()
            })
            .unwrap_or_default(),
        Some("devices") => org
            .devices
            .iter()
            .map(|d| {
                let mut d = d.clone();
                if req.param("expand") == Some("user") {
                    let users: Vec<Value> = org
                        .device_users
                        .get(d["id"].as_str().unwrap_or_default())
                        .into_iter()
                        .flatten()
                        .filter_map(|m| org.users.iter().find(|u| u["id"] == m.as_str()))
                        .map(|u| json!({"created": u["created"], "managementStatus": "NOT_MANAGED", "user": u}))
                        .collect();
                    d["_embedded"] = json!({"users": users});
                }
                d
            })
            .collect(),
        Some("api-tokens") => org.api_tokens.clone(),
        Some("apps") => org.apps.clone(),
        Some("apps/{id}/grants") => org.grants.get(&id).cloned().unwrap_or_default(),
        Some("logStreams") => org.log_streams.clone(),
        Some("threats") => return respond(st, Response::json(200, org.threats.clone())),
        Some("zones") => org.zones.clone(),
        Some("policies") => {
            let Some(kind) = req.param("type") else {
                return respond(st, okta_error(400, "E0000001", "Api validation failed: type"));
            };
            org.policies
                .iter()
                .filter(|p| p["type"] == kind)
                .filter(|p| req.param("status").is_none_or(|s| p["status"] == s))
                .cloned()
                .collect()
        }
        Some("policies/{id}/rules") => org.rules.get(&id).cloned().unwrap_or_default(),
        _ => Vec::new(),
    };
    // Paging: `limit` (the endpoint's default when absent) and an opaque cursor.
    let default_limit = match bucket.as_str() {
        "iam" => 100,
        "users" | "groups" | "devices" | "apps" => 200,
        "groups/{id}/users" => 1000,
        _ => 20,
    };
    let page_size = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(default_limit)
        .clamp(1, 1000);
    let start = match req.param("after") {
        Some(token) => match st.cursors.get(token) {
            Some(offset) => *offset,
            None => return respond(st, okta_error(400, "E0000031", "Invalid search criteria.")),
        },
        None => 0,
    };
    let page: Vec<Value> = all.iter().skip(start).take(page_size).cloned().collect();
    let next = if start + page_size < all.len() {
        st.seq += 1;
        let token = format!("{:x}{:08x}", st.seq, rand_u32(st.seq));
        st.cursors.insert(token.clone(), start + page_size);
        let mut url = url::Url::parse(&format!("{base}{}", req.path)).expect("url");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in req.query.iter().filter(|(k, _)| k != "after") {
                q.append_pair(k, v);
            }
            q.append_pair("after", &token);
        }
        Some(url.to_string())
    } else {
        None
    };
    if bucket == "iam" {
        let mut links = json!({});
        if let Some(n) = &next {
            links["next"] = json!({"href": n});
        }
        return respond(
            st,
            Response::json(200, json!({"value": page, "_links": links})),
        );
    }
    let mut r = Response::json(200, Value::Array(page));
    r.headers.push((
        "link".to_owned(),
        format!("<{base}{}>; rel=\"self\"", req.path),
    ));
    if let Some(n) = next {
        r.headers
            .push(("link".to_owned(), format!("<{n}>; rel=\"next\"")));
    }
    respond(st, r)
}

/// Okta's timestamp form.
pub fn ts(ms: i64) -> String {
    okta_itdr_core::time::format_rfc3339_ms(ms)
}

const DAY: i64 = 86_400_000;

/// A user as `GET /api/v1/users` returns it.
pub fn user_json(id: &str, now: i64, created_days: i64, last_login_days: Option<i64>) -> Value {
    json!({
        "id": id,
        "status": "ACTIVE",
        "created": ts(now - created_days * DAY),
        "activated": ts(now - created_days * DAY),
        "statusChanged": ts(now - created_days * DAY),
        "lastLogin": last_login_days.map(|d| ts(now - d * DAY)),
        "lastUpdated": ts(now - DAY),
        "passwordChanged": ts(now - created_days * DAY),
        "type": {"id": "oty1fake"},
        "profile": {
            "firstName": id, "lastName": "Example", "login": format!("{id}@example.com"),
            "email": format!("{id}@example.com"), "department": "Engineering",
            "title": "Engineer", "manager": "boss", "city": "Berlin", "countryCode": "DE"
        },
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
        "_links": {}
    })
}

pub fn factor_json(id: &str, factor_type: &str) -> Value {
    let provider = match factor_type {
        "webauthn" | "u2f" => "FIDO",
        _ => "OKTA",
    };
    json!({"id": id, "factorType": factor_type, "provider": provider, "vendorName": provider, "status": "ACTIVE", "created": ts(0), "lastUpdated": ts(0), "profile": {}, "_links": {}})
}

pub fn role_json(role_type: &str) -> Value {
    json!({"id": format!("ra{role_type}"), "label": role_type, "type": role_type, "status": "ACTIVE", "created": ts(0), "lastUpdated": ts(0), "assignmentType": "USER", "_links": {}})
}

impl FakeOrg {
    /// An org in which every check passes: one Super Administrator with a
    /// FIDO2 key, users with push, a zone-restricted API token, a service app
    /// with read scopes, an active EventBridge stream, ThreatInsight blocking,
    /// an anonymizer blocklist, STIG session and password settings.
    pub fn healthy(now: i64) -> FakeOrg {
        let mut org = FakeOrg {
            rate_limit: 1_000,
            ..FakeOrg::default()
        };
        org.add_user("00uadmin1", now, 400, Some(1), &["webauthn"]);
        org.roles
            .insert("00uadmin1".into(), vec![role_json("SUPER_ADMIN")]);
        org.add_user("00ualice1", now, 300, Some(2), &["push"]);
        org.groups.push(json!({"id": "00gall", "type": "BUILT_IN", "profile": {"name": "Everyone"}, "created": ts(0), "lastUpdated": ts(0), "lastMembershipUpdated": ts(0), "objectClass": ["okta:user_group"], "_links": {}}));
        org.members.insert(
            "00gall".into(),
            vec!["00uadmin1".into(), "00ualice1".into()],
        );
        org.devices.push(json!({"id": "guo1", "status": "ACTIVE", "created": ts(0), "lastUpdated": ts(0), "profile": {"displayName": "laptop", "platform": "MACOS", "registered": true}, "resourceType": "UDDevice", "_links": {}}));
        org.device_users
            .insert("guo1".into(), vec!["00uadmin1".into()]);
        org.api_tokens.push(json!({"id": "00Tscim", "name": "scim", "userId": "00ualice1", "clientName": "Okta API", "created": ts(0), "lastUpdated": ts(0), "expiresAt": ts(now + 30 * DAY), "tokenWindow": "P30D", "network": {"connection": "ZONE", "include": ["nzoOffice"]}, "_link": {}}));
        org.apps.push(json!({"id": "0oaitdr", "name": "oidc_client", "label": "okta-itdr", "status": "ACTIVE", "signOnMode": "OPENID_CONNECT", "created": ts(0), "lastUpdated": ts(0), "settings": {"oauthClient": {"application_type": "service", "grant_types": ["client_credentials"]}}, "credentials": {"oauthClient": {"client_id": "0oaitdr", "token_endpoint_auth_method": "private_key_jwt"}}, "_links": {}}));
        org.apps.push(json!({"id": "0oaweb", "name": "bookmark", "label": "Wiki", "status": "ACTIVE", "signOnMode": "BOOKMARK", "settings": {}, "_links": {}}));
        org.grants.insert(
            "0oaitdr".into(),
            vec![grant_json("0oaitdr", "okta.logs.read")],
        );
        org.log_streams.push(json!({"id": "0oxitdr", "name": "okta-itdr", "type": "aws_eventbridge", "status": "ACTIVE", "created": ts(0), "lastUpdated": ts(0), "settings": {"accountId": "123456789012", "eventSourceName": "okta-itdr", "region": "us-east-1"}, "_links": {}}));
        org.threats = json!({"action": "block", "excludeZones": [], "created": ts(0), "lastUpdated": ts(0), "_links": {}});
        org.zones.push(json!({"id": "nzoOffice", "name": "Office", "type": "IP", "usage": "POLICY", "status": "ACTIVE", "system": false, "gateways": [{"type": "CIDR", "value": "192.0.2.0/24"}], "_links": {}}));
        org.zones.push(json!({"id": "nzoAnon", "name": "Block anonymizers", "type": "DYNAMIC_V2", "usage": "BLOCKLIST", "status": "ACTIVE", "system": false, "ipServiceCategories": {"include": ["ALL_ANONYMIZERS"]}, "_links": {}}));
        org.policies.push(json!({"id": "00psession", "type": "OKTA_SIGN_ON", "name": "Default Policy", "status": "ACTIVE", "priority": 1, "system": true, "_links": {}}));
        org.rules.insert(
            "00psession".into(),
            vec![session_rule_json("0prstig", "STIG", 15, 18 * 60)],
        );
        org.policies.push(json!({"id": "00ppassword", "type": "PASSWORD", "name": "Default Policy", "status": "ACTIVE", "priority": 1, "system": true, "settings": {"password": {"complexity": {"minLength": 15, "minLowerCase": 1}, "lockout": {"maxAttempts": 3, "autoUnlockMinutes": 15}}}, "_links": {}}));
        // An authenticator enrolment policy as Okta Identity Engine returns it.
        org.policies.push(json!({"id": "00pmfa", "type": "MFA_ENROLL", "name": "Default Policy", "status": "ACTIVE", "priority": 1, "system": true, "settings": {"type": "AUTHENTICATORS", "authenticators": [{"key": "okta_password", "enroll": {"self": "REQUIRED"}}, {"key": "okta_verify", "enroll": {"self": "REQUIRED"}}, {"key": "webauthn", "enroll": {"self": "OPTIONAL"}}, {"key": "phone_number", "enroll": {"self": "NOT_ALLOWED"}}]}, "_links": {}}));
        org
    }

    /// An org with every weakness the checks look for, beside healthy parts.
    pub fn weak(now: i64) -> FakeOrg {
        let mut org = FakeOrg::healthy(now);
        // An admin with push only, and an admin dormant for 60 days.
        org.add_user("00uorgadmin", now, 200, Some(3), &["push", "sms"]);
        org.roles
            .insert("00uorgadmin".into(), vec![role_json("ORG_ADMIN")]);
        org.add_user("00udormant", now, 200, Some(60), &["webauthn"]);
        org.roles
            .insert("00udormant".into(), vec![role_json("APP_ADMIN")]);
        // Six Super Administrators in all.
        for i in 2..=6 {
            let id = format!("00usuper{i}");
            org.add_user(&id, now, 100, Some(1), &["signed_nonce"]);
            org.roles.insert(id, vec![role_json("SUPER_ADMIN")]);
        }
        // A user without MFA past the grace period, and a new one within it.
        org.add_user("00unomfa", now, 30, Some(1), &[]);
        org.add_user("00unew", now, 3, None, &[]);
        org.api_tokens.push(json!({"id": "00Tlegacy", "name": "legacy sync", "userId": "00uadmin1", "clientName": "Okta API", "created": ts(0), "lastUpdated": ts(0), "network": {"connection": "ANYWHERE"}, "_link": {}}));
        org.grants
            .get_mut("0oaitdr")
            .expect("app")
            .push(grant_json("0oaitdr", "okta.users.manage"));
        org.log_streams[0]["status"] = json!("INACTIVE");
        org.threats["action"] = json!("audit");
        org.zones.retain(|z| z["usage"] != "BLOCKLIST");
        org.rules.insert(
            "00psession".into(),
            vec![session_rule_json("0prdefault", "Default Rule", 120, 0)],
        );
        org.policies[1]["settings"]["password"]["complexity"]["minLength"] = json!(8);
        org.policies[1]["settings"]["password"]["lockout"]["maxAttempts"] = json!(0);
        org
    }

    pub fn add_user(
        &mut self,
        id: &str,
        now: i64,
        created_days: i64,
        last_login_days: Option<i64>,
        factors: &[&str],
    ) {
        self.users
            .push(user_json(id, now, created_days, last_login_days));
        self.factors.insert(
            id.to_owned(),
            factors
                .iter()
                .enumerate()
                .map(|(i, t)| factor_json(&format!("{id}f{i}"), t))
                .collect(),
        );
    }
}

pub fn grant_json(app: &str, scope: &str) -> Value {
    json!({"id": format!("oag{scope}"), "clientId": app, "issuer": "https://fake.okta.com", "scopeId": scope, "source": "ADMIN", "status": "ACTIVE", "created": ts(0), "lastUpdated": ts(0), "createdBy": {"id": "00uadmin1", "type": "User"}, "_links": {}})
}

pub fn session_rule_json(id: &str, name: &str, idle: u32, lifetime: u32) -> Value {
    json!({"id": id, "name": name, "type": "SIGN_ON", "status": "ACTIVE", "priority": 1, "system": false,
        "conditions": {"people": {"users": {"exclude": []}}, "network": {"connection": "ANYWHERE"}},
        "actions": {"signon": {"access": "ALLOW", "requireFactor": true, "factorPromptMode": "ALWAYS", "session": {"usePersistentCookie": false, "maxSessionIdleMinutes": idle, "maxSessionLifetimeMinutes": lifetime}}}})
}
