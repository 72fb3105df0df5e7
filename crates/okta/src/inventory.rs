//! The org's inventory from the Okta Management API, read-only: users, groups,
//! admin roles, factors, devices, API tokens, service apps and their scope
//! grants, log streams, ThreatInsight, network zones, and the global session
//! and password policies. Every list follows `Link: rel="next"` through the
//! client's rate-limit share, 429 and retry handling. A 403 (or, for a service
//! app, a scope the app was not granted) makes that part unknown; any other
//! failure ends the refresh.

use std::collections::{BTreeMap, BTreeSet};

use okta_itdr_core::posture::model::{
    Admin, ApiToken, AuthenticatorPolicy, Device, Factor, Inventory, LogStream, NetworkZone, Part,
    PasswordPolicy, RoleAssignment, ServiceApp, SessionRule, ThreatInsight, User,
};
use okta_itdr_core::source::{SourceError, SourceErrorKind};
use okta_itdr_core::time::{parse_rfc3339_ms, Millis, DAY};
use serde_json::Value;

use crate::client::OktaClient;
use crate::link::next_link;

/// The OAuth scopes the inventory uses, each for the endpoints named.
pub const INVENTORY_SCOPES: &[(&str, &str)] = &[
    ("okta.users.read", "users, their factors"),
    ("okta.groups.read", "groups and their members"),
    ("okta.roles.read", "admin role assignments"),
    ("okta.devices.read", "devices"),
    ("okta.apiTokens.read", "API tokens"),
    ("okta.apps.read", "applications"),
    ("okta.appGrants.read", "service apps' Okta API scope grants"),
    ("okta.logStreams.read", "log streams"),
    ("okta.threatInsights.read", "ThreatInsight configuration"),
    ("okta.networkZones.read", "network zones"),
    ("okta.policies.read", "global session and password policies"),
];

const USERS: &str = "okta.users.read";
const GROUPS: &str = "okta.groups.read";
const ROLES: &str = "okta.roles.read";
const DEVICES: &str = "okta.devices.read";
const TOKENS: &str = "okta.apiTokens.read";
const APPS: &str = "okta.apps.read";
const GRANTS: &str = "okta.appGrants.read";
const STREAMS: &str = "okta.logStreams.read";
const THREATS: &str = "okta.threatInsights.read";
const ZONES: &str = "okta.networkZones.read";
const POLICIES: &str = "okta.policies.read";

#[derive(Debug, Clone)]
pub struct InventoryOptions {
    pub now: Millis,
    /// Users created within this many days are not asked for their factors
    /// (the `user_without_mfa` grace period): fewer requests.
    pub mfa_grace_days: u32,
    /// Past this instant, other users' factors are no longer read (a request
    /// each: an org of 50,000 users outlasts a function's 15 minutes). Admins'
    /// factors are always read, first. A user whose factors were not read
    /// makes `user_without_mfa` unknown, never a pass.
    pub factors_until: Option<std::time::Instant>,
}

/// What a denied part says: the scope (service app) or role (API token) it needs.
fn denied(what: &str, scope: &str, e: &SourceError) -> String {
    format!("{what}: access denied ({}); a service app needs the {scope} scope, an API token an admin role that may read it", e.message)
}

impl OktaClient {
    /// A JSON document at `path` (`/api/v1/…?query`).
    async fn get_json(
        &self,
        path: &str,
        scope: &'static str,
        bucket: &'static str,
    ) -> Result<(Value, Vec<String>), SourceError> {
        let url = url::Url::parse(&self.org().join(path))
            .map_err(|_| SourceError::new(SourceErrorKind::Config, "bad org URL"))?;
        self.get_url(url, scope, bucket).await
    }

    async fn get_url(
        &self,
        url: url::Url,
        scope: &'static str,
        bucket: &'static str,
    ) -> Result<(Value, Vec<String>), SourceError> {
        if !self.org().same_origin(&url) {
            return Err(SourceError::new(
                SourceErrorKind::BadResponse,
                format!("a next link leaves {}; not following it", self.org()),
            ));
        }
        let path = url.path().to_owned();
        let answer = self.request(url, scope, bucket).await?;
        match answer.status {
            200 => {
                let doc = serde_json::from_slice(&answer.body).map_err(|_| {
                    SourceError::new(
                        SourceErrorKind::BadResponse,
                        format!("{path} returned something other than JSON"),
                    )
                })?;
                self.count_page();
                Ok((doc, answer.links))
            }
            403 => Err(SourceError::new(
                SourceErrorKind::Forbidden,
                format!(
                    "HTTP 403{} on {path}",
                    crate::client::okta_detail(&answer.body)
                ),
            )),
            401 => Err(SourceError::new(
                SourceErrorKind::Unauthorized,
                format!(
                    "the credentials were refused (HTTP 401{})",
                    crate::client::okta_detail(&answer.body)
                ),
            )),
            status => Err(SourceError::new(
                if status == 404 {
                    SourceErrorKind::NotFound
                } else {
                    SourceErrorKind::BadResponse
                },
                format!(
                    "unexpected HTTP {status}{} from {path}",
                    crate::client::okta_detail(&answer.body)
                ),
            )),
        }
    }

    /// Every item of a list endpoint: the pages of a JSON array linked by
    /// `Link: rel="next"`, or (the IAM endpoints) an object whose `value` holds
    /// the items and whose `_links.next.href` the next page.
    async fn list(
        &self,
        path: &str,
        scope: &'static str,
        bucket: &'static str,
    ) -> Result<Vec<Value>, SourceError> {
        let (mut doc, mut links) = self.get_json(path, scope, bucket).await?;
        let mut items = Vec::new();
        loop {
            let next = match doc {
                Value::Array(page) => {
                    let empty = page.is_empty();
                    items.extend(page);
                    next_link(links.iter().map(String::as_str)).filter(|_| !empty)
                }
                Value::Object(mut o) => {
                    let next = o
                        .get("_links")
                        .and_then(|l| l["next"]["href"].as_str())
                        .map(str::to_owned);
                    match o.remove("value") {
                        Some(Value::Array(page)) => {
                            let empty = page.is_empty();
                            items.extend(page);
                            next.or_else(|| next_link(links.iter().map(String::as_str)))
                                .filter(|_| !empty)
                        }
                        _ => {
                            return Err(SourceError::new(
                                SourceErrorKind::BadResponse,
                                format!(
                                    "{path} returned neither a list nor a {{\"value\": […]}} page"
                                ),
                            ))
                        }
                    }
                }
                _ => {
                    return Err(SourceError::new(
                        SourceErrorKind::BadResponse,
                        format!("{path} returned something other than a list"),
                    ))
                }
            };
            let Some(next) = next else {
                return Ok(items);
            };
            let url = url::Url::parse(&next).map_err(|_| {
                SourceError::new(SourceErrorKind::BadResponse, "a next link is not a URL")
            })?;
            (doc, links) = self.get_url(url, scope, bucket).await?;
        }
    }

    /// Reads the org's inventory. Parts the credentials may not read are
    /// unknown; an error is returned only when the refresh cannot go on
    /// (credentials refused, the API unavailable, the rate limit exhausted).
    pub async fn inventory(&self, options: &InventoryOptions) -> Result<Inventory, SourceError> {
        let now = options.now;
        let users = part(
            self.list("/api/v1/users?limit=200", USERS, "/api/v1/users")
                .await,
            "users",
            USERS,
        )?
        .map(|v| v.iter().filter_map(user).collect::<Vec<_>>());
        let admins = self.admins().await?;
        let groups = self.groups().await?;
        let factors = self.factors(&users, &admins, options).await?;
        let devices = part(
            self.list(
                "/api/v1/devices?expand=user&limit=200",
                DEVICES,
                "/api/v1/devices",
            )
            .await,
            "devices",
            DEVICES,
        )?
        .map(|v| v.iter().filter_map(device).collect());
        let api_tokens = part(
            self.list("/api/v1/api-tokens", TOKENS, "/api/v1/api-tokens")
                .await,
            "API tokens",
            TOKENS,
        )?
        .map(|v| v.iter().filter_map(api_token).collect());
        let service_apps = self.service_apps().await?;
        let log_streams = part(
            self.list("/api/v1/logStreams", STREAMS, "/api/v1/logStreams")
                .await,
            "log streams",
            STREAMS,
        )?
        .map(|v| v.iter().filter_map(log_stream).collect());
        let threat_insight = part(
            self.get_json("/api/v1/threats/configuration", THREATS, "/api/v1/threats")
                .await
                .map(|(doc, _)| doc),
            "ThreatInsight",
            THREATS,
        )?
        .map(|doc| ThreatInsight {
            action: doc["action"].as_str().unwrap_or("none").to_owned(),
        });
        let zones = part(
            self.list("/api/v1/zones", ZONES, "/api/v1/zones").await,
            "network zones",
            ZONES,
        )?
        .map(|v| v.iter().filter_map(zone).collect());
        let session_rules = self.session_rules().await?;
        let password_policies = part(
            self.list(
                "/api/v1/policies?type=PASSWORD&status=ACTIVE",
                POLICIES,
                "/api/v1/policies",
            )
            .await,
            "password policies",
            POLICIES,
        )?
        .map(|v| v.iter().filter_map(password_policy).collect());
        let authenticator_policies = part(
            self.list(
                "/api/v1/policies?type=MFA_ENROLL&status=ACTIVE",
                POLICIES,
                "/api/v1/policies",
            )
            .await,
            "authenticator enrolment policies",
            POLICIES,
        )?
        .map(|v| v.iter().filter_map(authenticator_policy).collect());
        Ok(Inventory {
            org: self.org().to_string(),
            fetched_at: now,
            users,
            groups,
            admins,
            factors,
            devices,
            api_tokens,
            service_apps,
            log_streams,
            threat_insight,
            zones,
            session_rules,
            password_policies,
            authenticator_policies,
        })
    }

    /// Users with role assignments, then each one's roles (direct and through groups).
    async fn admins(&self) -> Result<Part<Vec<Admin>>, SourceError> {
        let listed = part(
            self.list(
                "/api/v1/iam/assignees/users?limit=100",
                ROLES,
                "/api/v1/iam",
            )
            .await,
            "admin role assignments",
            ROLES,
        )?;
        let Part::Known(listed) = listed else {
            return Ok(listed.map(|_| Vec::new()));
        };
        let mut admins = Vec::new();
        for id in listed.iter().filter_map(|u| u["id"].as_str()) {
            let roles = self
                .list(
                    &format!("/api/v1/users/{id}/roles"),
                    ROLES,
                    "/api/v1/users/{id}/roles",
                )
                .await;
            let roles = match part(roles, "admin roles", ROLES)? {
                Part::Known(r) => r,
                Part::Unknown(reason) => return Ok(Part::Unknown(reason)),
            };
            admins.push(Admin {
                user_id: id.to_owned(),
                roles: roles
                    .iter()
                    .map(|r| RoleAssignment {
                        role_type: text(r, "type"),
                        label: text(r, "label"),
                        assignment_type: text(r, "assignmentType"),
                    })
                    .collect(),
            });
        }
        Ok(Part::Known(admins))
    }

    /// Group names by member: the groups, then each group's members (one
    /// request per group rather than one per user).
    async fn groups(&self) -> Result<Part<BTreeMap<String, Vec<String>>>, SourceError> {
        let groups = part(
            self.list("/api/v1/groups?limit=200", GROUPS, "/api/v1/groups")
                .await,
            "groups",
            GROUPS,
        )?;
        let Part::Known(groups) = groups else {
            return Ok(groups.map(|_| BTreeMap::new()));
        };
        let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in &groups {
            let (Some(id), Some(name)) = (g["id"].as_str(), g["profile"]["name"].as_str()) else {
                continue;
            };
            let members = self
                .list(
                    &format!("/api/v1/groups/{id}/users?limit=1000"),
                    GROUPS,
                    "/api/v1/groups/{id}/users",
                )
                .await;
            let members = match part(members, "group members", GROUPS)? {
                Part::Known(m) => m,
                Part::Unknown(reason) => return Ok(Part::Unknown(reason)),
            };
            for m in members.iter().filter_map(|m| m["id"].as_str()) {
                by_user
                    .entry(m.to_owned())
                    .or_default()
                    .push(name.to_owned());
            }
        }
        Ok(Part::Known(by_user))
    }

    /// The factors of every administrator and of every active user past the
    /// enrolment grace period (the only users the checks judge).
    async fn factors(
        &self,
        users: &Part<Vec<User>>,
        admins: &Part<Vec<Admin>>,
        options: &InventoryOptions,
    ) -> Result<Part<BTreeMap<String, Vec<Factor>>>, SourceError> {
        let cutoff = options.now - i64::from(options.mfa_grace_days) * DAY;
        let admin_ids: BTreeSet<&str> = admins
            .known()
            .map(|a| a.iter().map(|a| a.user_id.as_str()).collect())
            .unwrap_or_default();
        let others: BTreeSet<&str> = users
            .known()
            .map(|users| {
                users
                    .iter()
                    .filter(|u| u.is_active() && u.created.is_none_or(|c| c <= cutoff))
                    .map(|u| u.id.as_str())
                    .filter(|id| !admin_ids.contains(id))
                    .collect()
            })
            .unwrap_or_default();
        let mut factors = BTreeMap::new();
        let mut skipped = 0usize;
        for (id, admin) in admin_ids
            .iter()
            .map(|id| (*id, true))
            .chain(others.iter().map(|id| (*id, false)))
        {
            if !admin
                && options
                    .factors_until
                    .is_some_and(|until| std::time::Instant::now() >= until)
            {
                skipped += 1;
                continue;
            }
            let list = self
                .list(
                    &format!("/api/v1/users/{id}/factors"),
                    USERS,
                    "/api/v1/users/{id}/factors",
                )
                .await;
            match part(list, "factors", USERS)? {
                Part::Known(list) => {
                    factors.insert(id.to_owned(), list.iter().filter_map(factor).collect());
                }
                Part::Unknown(reason) => return Ok(Part::Unknown(reason)),
            }
        }
        if skipped > 0 {
            tracing::warn!(
                read = factors.len(),
                skipped,
                "out of time for reading factors: the users not read leave user_without_mfa unknown"
            );
        }
        Ok(Part::Known(factors))
    }

    /// OAuth service apps and the Okta API scopes granted to each.
    async fn service_apps(&self) -> Result<Part<Vec<ServiceApp>>, SourceError> {
        let apps = part(
            self.list("/api/v1/apps?limit=200", APPS, "/api/v1/apps")
                .await,
            "applications",
            APPS,
        )?;
        let Part::Known(apps) = apps else {
            return Ok(apps.map(|_| Vec::new()));
        };
        let mut out = Vec::new();
        for app in apps.iter().filter(|a| {
            a["signOnMode"] == "OPENID_CONNECT"
                && a["settings"]["oauthClient"]["application_type"] == "service"
        }) {
            let id = text(app, "id");
            let grants = self
                .list(
                    &format!("/api/v1/apps/{id}/grants"),
                    GRANTS,
                    "/api/v1/apps/{id}/grants",
                )
                .await;
            let scopes = match part(grants, "app grants", GRANTS)? {
                Part::Known(g) => Some(
                    g.iter()
                        .filter(|g| g["status"] == "ACTIVE")
                        .filter_map(|g| g["scopeId"].as_str().map(str::to_owned))
                        .collect(),
                ),
                Part::Unknown(_) => None,
            };
            out.push(ServiceApp {
                label: text(app, "label"),
                status: text(app, "status"),
                id,
                scopes,
            });
        }
        Ok(Part::Known(out))
    }

    /// The active rules of the active global session policies.
    async fn session_rules(&self) -> Result<Part<Vec<SessionRule>>, SourceError> {
        let policies = part(
            self.list(
                "/api/v1/policies?type=OKTA_SIGN_ON&status=ACTIVE",
                POLICIES,
                "/api/v1/policies",
            )
            .await,
            "global session policies",
            POLICIES,
        )?;
        let Part::Known(policies) = policies else {
            return Ok(policies.map(|_| Vec::new()));
        };
        let mut out = Vec::new();
        for p in policies.iter().filter(|p| p["status"] == "ACTIVE") {
            let id = text(p, "id");
            let rules = self
                .list(
                    &format!("/api/v1/policies/{id}/rules"),
                    POLICIES,
                    "/api/v1/policies/{id}/rules",
                )
                .await;
            let rules = match part(rules, "policy rules", POLICIES)? {
                Part::Known(r) => r,
                Part::Unknown(reason) => return Ok(Part::Unknown(reason)),
            };
            for r in rules.iter().filter(|r| r["status"] == "ACTIVE") {
                let session = &r["actions"]["signon"]["session"];
                out.push(SessionRule {
                    policy: text(p, "name"),
                    rule: text(r, "name"),
                    idle_minutes: number(&session["maxSessionIdleMinutes"]),
                    lifetime_minutes: number(&session["maxSessionLifetimeMinutes"]),
                });
            }
        }
        Ok(Part::Known(out))
    }
}

/// A 403 (or an ungranted scope) is an unknown part; anything else stops.
fn part<T>(
    result: Result<T, SourceError>,
    what: &str,
    scope: &str,
) -> Result<Part<T>, SourceError> {
    match result {
        Ok(t) => Ok(Part::Known(t)),
        Err(e) if e.kind == SourceErrorKind::Forbidden => {
            tracing::warn!(part = what, scope, "not readable with these credentials");
            Ok(Part::Unknown(denied(what, scope, &e)))
        }
        Err(e) => Err(e),
    }
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn number(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn time(v: &Value) -> Option<Millis> {
    v.as_str().and_then(parse_rfc3339_ms)
}

fn user(v: &Value) -> Option<User> {
    let p = &v["profile"];
    let location = [opt(&p["city"]), opt(&p["countryCode"])]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    Some(User {
        id: opt(&v["id"])?,
        login: text(p, "login"),
        email: opt(&p["email"]),
        display_name: opt(&p["displayName"]).or_else(|| {
            let name = format!("{} {}", text(p, "firstName"), text(p, "lastName"));
            opt(&Value::String(name.trim().to_owned()))
        }),
        status: text(v, "status"),
        user_type: opt(&v["type"]["id"]),
        created: time(&v["created"]),
        last_login: time(&v["lastLogin"]),
        department: opt(&p["department"]),
        title: opt(&p["title"]),
        manager: opt(&p["manager"]).or_else(|| opt(&p["managerId"])),
        location: (!location.is_empty()).then_some(location),
    })
}

fn factor(v: &Value) -> Option<Factor> {
    Some(Factor {
        factor_type: opt(&v["factorType"])?,
        provider: text(v, "provider"),
        status: text(v, "status"),
    })
}

fn device(v: &Value) -> Option<Device> {
    Some(Device {
        id: opt(&v["id"])?,
        status: text(v, "status"),
        platform: opt(&v["profile"]["platform"]),
        user_ids: v["_embedded"]["users"]
            .as_array()
            .map(|us| us.iter().filter_map(|u| opt(&u["user"]["id"])).collect())
            .unwrap_or_default(),
    })
}

fn api_token(v: &Value) -> Option<ApiToken> {
    Some(ApiToken {
        id: opt(&v["id"])?,
        name: text(v, "name"),
        user_id: text(v, "userId"),
        network_connection: opt(&v["network"]["connection"]),
    })
}

fn log_stream(v: &Value) -> Option<LogStream> {
    Some(LogStream {
        id: opt(&v["id"])?,
        name: text(v, "name"),
        stream_type: text(v, "type"),
        status: text(v, "status"),
    })
}

fn zone(v: &Value) -> Option<NetworkZone> {
    Some(NetworkZone {
        id: opt(&v["id"])?,
        name: text(v, "name"),
        zone_type: text(v, "type"),
        usage: text(v, "usage"),
        status: text(v, "status"),
        proxy_type: opt(&v["proxyType"]),
        ip_service_categories: v["ipServiceCategories"]["include"]
            .as_array()
            .map(|c| c.iter().filter_map(opt).collect())
            .unwrap_or_default(),
    })
}

/// An `MFA_ENROLL` policy of the authenticators kind (`settings.type`
/// `AUTHENTICATORS`): each authenticator's `enroll.self`.
fn authenticator_policy(v: &Value) -> Option<AuthenticatorPolicy> {
    if v["status"] != "ACTIVE" {
        return None;
    }
    let listed = v["settings"]["authenticators"].as_array();
    let with = |wanted: &str| -> Vec<String> {
        listed
            .into_iter()
            .flatten()
            .filter(|a| a["enroll"]["self"] == wanted)
            .filter_map(|a| opt(&a["key"]))
            .collect()
    };
    Some(AuthenticatorPolicy {
        id: opt(&v["id"])?,
        name: text(v, "name"),
        required: with("REQUIRED"),
        optional: with("OPTIONAL"),
    })
}

fn password_policy(v: &Value) -> Option<PasswordPolicy> {
    if v["status"] != "ACTIVE" {
        return None;
    }
    let pw = &v["settings"]["password"];
    Some(PasswordPolicy {
        id: opt(&v["id"])?,
        name: text(v, "name"),
        min_length: number(&pw["complexity"]["minLength"]),
        lockout_attempts: number(&pw["lockout"]["maxAttempts"]),
    })
}
