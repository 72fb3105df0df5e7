//! The inventory of an Okta org: who the identities are, what they may do, how
//! they sign in, and the org settings the checks read. Every part records
//! whether it could be read: a part the credentials may not read is
//! [`Part::Unknown`], never an empty list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// One part of the inventory: read, or not readable and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum Part<T> {
    Known(T),
    /// Not readable: the scope or admin role is missing (the reason says which).
    Unknown(String),
}

impl<T> Part<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Part::Known(t) => Some(t),
            Part::Unknown(_) => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Part<U> {
        match self {
            Part::Known(t) => Part::Known(f(t)),
            Part::Unknown(r) => Part::Unknown(r),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub login: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`, … as Okta spells it.
    pub status: String,
    /// The user type's id (`type.id`).
    pub user_type: Option<String>,
    pub created: Option<Millis>,
    pub last_login: Option<Millis>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub manager: Option<String>,
    pub location: Option<String>,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// One admin role assignment, direct (`USER`) or through a group (`GROUP`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// `SUPER_ADMIN`, `ORG_ADMIN`, `READ_ONLY_ADMIN`, `CUSTOM`, …
    pub role_type: String,
    pub label: String,
    pub assignment_type: String,
}

pub const SUPER_ADMIN: &str = "SUPER_ADMIN";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admin {
    pub user_id: String,
    pub roles: Vec<RoleAssignment>,
}

impl Admin {
    pub fn is_super_admin(&self) -> bool {
        self.roles.iter().any(|r| r.role_type == SUPER_ADMIN)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// `webauthn`, `signed_nonce`, `push`, `sms`, `token:software:totp`, …
    pub factor_type: String,
    pub provider: String,
    pub status: String,
}

impl Factor {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// FIDO2/WebAuthn (including U2F keys) and Okta FastPass (`signed_nonce`):
    /// bound to the origin, so a phishing proxy cannot relay them.
    pub fn is_phishing_resistant(&self) -> bool {
        matches!(
            self.factor_type.as_str(),
            "webauthn" | "u2f" | "signed_nonce"
        )
    }

    /// A second factor: anything but a security question, which is knowledge
    /// like the password.
    pub fn is_mfa(&self) -> bool {
        self.factor_type != "question"
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub status: String,
    pub platform: Option<String>,
    pub user_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The admin the token acts as.
    pub user_id: String,
    /// `network.connection`: `ANYWHERE` or `ZONE` (absent on old tokens: anywhere).
    pub network_connection: Option<String>,
}

/// An OAuth 2.0 service app (`application_type` `service`) and the Okta API
/// scopes granted to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceApp {
    pub id: String,
    pub label: String,
    pub status: String,
    /// Active grants' `scopeId`s; `None` when the grants could not be read.
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogStream {
    pub id: String,
    pub name: String,
    pub stream_type: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreatInsight {
    /// `none`, `audit` or `block`.
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkZone {
    pub id: String,
    pub name: String,
    /// `IP`, `DYNAMIC`, `DYNAMIC_V2`.
    pub zone_type: String,
    /// `POLICY` or `BLOCKLIST`.
    pub usage: String,
    pub status: String,
    /// Dynamic zones: `Any`, `Tor`, `NotTorAnonymizer`.
    pub proxy_type: Option<String>,
    /// Enhanced dynamic zones: `ipServiceCategories.include`.
    pub ip_service_categories: Vec<String>,
}

impl NetworkZone {
    /// An active blocklist that blocks both Tor and other anonymising proxies.
    pub fn blocks_anonymizers(&self) -> bool {
        if self.status != "ACTIVE" || self.usage != "BLOCKLIST" {
            return false;
        }
        let has = |c: &str| self.ip_service_categories.iter().any(|x| x == c);
        self.proxy_type.as_deref() == Some("Any")
            || has("ALL_ANONYMIZERS")
            || has("ALL_IP_SERVICES")
            || (has("ANONYMIZER_TOR") && has("ALL_ANONYMIZERS_EXCEPT_TOR"))
    }
}

/// A rule of a global session policy (`OKTA_SIGN_ON`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRule {
    pub policy: String,
    pub rule: String,
    /// `actions.signon.session.maxSessionIdleMinutes`.
    pub idle_minutes: Option<u32>,
    /// `actions.signon.session.maxSessionLifetimeMinutes` (0: no limit).
    pub lifetime_minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub id: String,
    pub name: String,
    /// `settings.password.complexity.minLength`.
    pub min_length: Option<u32>,
    /// `settings.password.lockout.maxAttempts` (0 or absent: no lockout).
    pub lockout_attempts: Option<u32>,
}

/// An authenticator enrolment policy (`MFA_ENROLL`): which authenticators its
/// users must and may enrol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorPolicy {
    pub id: String,
    pub name: String,
    /// Authenticator keys with `enroll.self` `REQUIRED` (`okta_verify`,
    /// `webauthn`, `phone_number`, …).
    pub required: Vec<String>,
    /// Keys with `OPTIONAL`.
    pub optional: Vec<String>,
}

/// What one refresh read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub org: String,
    pub fetched_at: Millis,
    pub users: Part<Vec<User>>,
    /// Group names by user id.
    pub groups: Part<BTreeMap<String, Vec<String>>>,
    pub admins: Part<Vec<Admin>>,
    /// Factors by user id, for the users whose factors were read (admins, and
    /// active users past the enrolment grace period).
    pub factors: Part<BTreeMap<String, Vec<Factor>>>,
    pub devices: Part<Vec<Device>>,
    pub api_tokens: Part<Vec<ApiToken>>,
    pub service_apps: Part<Vec<ServiceApp>>,
    pub log_streams: Part<Vec<LogStream>>,
    pub threat_insight: Part<ThreatInsight>,
    pub zones: Part<Vec<NetworkZone>>,
    pub session_rules: Part<Vec<SessionRule>>,
    pub password_policies: Part<Vec<PasswordPolicy>>,
    /// Active authenticator enrolment policies.
    #[serde(default = "not_read")]
    pub authenticator_policies: Part<Vec<AuthenticatorPolicy>>,
}

/// A part an older inventory document does not have.
fn not_read<T>() -> Part<T> {
    Part::Unknown("not read by this version".to_owned())
}

impl Inventory {
    /// An inventory with nothing read: every part unknown.
    pub fn unknown(org: &str, fetched_at: Millis, reason: &str) -> Self {
        let u = || reason.to_owned();
        Inventory {
            org: org.to_owned(),
            fetched_at,
            users: Part::Unknown(u()),
            groups: Part::Unknown(u()),
            admins: Part::Unknown(u()),
            factors: Part::Unknown(u()),
            devices: Part::Unknown(u()),
            api_tokens: Part::Unknown(u()),
            service_apps: Part::Unknown(u()),
            log_streams: Part::Unknown(u()),
            threat_insight: Part::Unknown(u()),
            zones: Part::Unknown(u()),
            session_rules: Part::Unknown(u()),
            password_policies: Part::Unknown(u()),
            authenticator_policies: Part::Unknown(u()),
        }
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.known()?.iter().find(|u| u.id == id)
    }
}
