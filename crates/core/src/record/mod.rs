//! The per-identity activity record: one Okta event, flattened to what detections
//! and an analyst's timeline need, on the timeline of the identity it belongs to.
//!
//! The record never carries a clear-text username of an unknown actor: that field
//! is where users type their passwords. See [`crate::normalize::secrets`].

mod intern;
mod stored;
mod uuid;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::time::{format_rfc3339_ms, Millis};

pub use intern::Interner;
pub use uuid::Uuid;

/// Record text: reference-counted, so the detector holds one copy of each value
/// that repeats across an hour's events (identities, IPs, user agents, sessions).
pub type Text = arcstr::ArcStr;

/// How an identity appears on this record's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The identity performed the event. Exactly one actor record per event; it is
    /// the one indexed by hour for the detector.
    Actor,
    /// The event was done to this identity (a factor reset, a privilege grant…).
    Target,
    /// The event was performed with a credential this user owns (an API token).
    Owner,
}

/// What kind of principal an identity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    User,
    /// A sign-in attempt for a username Okta does not know. The identity key is a
    /// keyed hash of the typed text.
    UnknownUser,
    ApiToken,
    ServiceApp,
    System,
}

/// A coarse grouping of event types, for timelines and cheap pre-filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    SignIn,
    Mfa,
    Sso,
    Session,
    Admin,
    Policy,
    App,
    UserLifecycle,
    Security,
    System,
    Other,
}

/// The normalised outcome of an event. Okta's `outcome.result` is an open string;
/// unknown values are kept verbatim in `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Deny,
    Challenge,
    Allow,
    Skipped,
    Unknown,
    Other(Text),
}

impl Outcome {
    pub fn parse(text: Option<&str>) -> Outcome {
        match text.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
            None | Some("") => Outcome::Unknown,
            Some("SUCCESS") => Outcome::Success,
            Some("FAILURE") => Outcome::Failure,
            Some("DENY") => Outcome::Deny,
            Some("CHALLENGE") => Outcome::Challenge,
            Some("ALLOW") => Outcome::Allow,
            Some("SKIPPED") => Outcome::Skipped,
            Some("UNKNOWN") => Outcome::Unknown,
            Some(other) => Outcome::Other(other.into()),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success | Outcome::Allow)
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failure | Outcome::Deny)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::Failure => "FAILURE",
            Outcome::Deny => "DENY",
            Outcome::Challenge => "CHALLENGE",
            Outcome::Allow => "ALLOW",
            Outcome::Skipped => "SKIPPED",
            Outcome::Unknown => "UNKNOWN",
            Outcome::Other(s) => s,
        }
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// An actor or target as stored: the login of an unknown actor is a keyed hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub login: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<Text>,
}

/// Where the request came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ip: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub country: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub city: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub asn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub as_org: Option<Text>,
    #[serde(skip_serializing_if = "is_false", default)]
    pub proxy: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zone: Option<Text>,
}

// Coordinates compare by bits for interning: equal values share one copy, and a
// value that compares unequal to itself (never produced from JSON) just is not shared.
impl Eq for Network {}

impl Hash for Network {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ip.hash(state);
        self.country.hash(state);
        self.state.hash(state);
        self.city.hash(state);
        self.lat.map(f64::to_bits).hash(state);
        self.lon.map(f64::to_bits).hash(state);
        self.asn.hash(state);
        self.as_org.hash(state);
        self.proxy.hash(state);
        self.zone.hash(state);
    }
}

/// How: the client software, device and session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientInfo {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_agent: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub os: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub browser: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dt_hash: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub root_session_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential_type: Option<Text>,
}

/// Okta's own risk signals on the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RiskSignals {
    /// Behaviours Okta judged POSITIVE (`New Device`, `New IP`, `Velocity`…).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub behaviors: Vec<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub risk_level: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub risk_reasons: Option<Text>,
    /// Identity Threat Protection's detection name (`Session Influenced User Risk`…).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub risk_detection: Option<Text>,
    #[serde(skip_serializing_if = "is_false", default)]
    pub threat_suspected: bool,
}

impl RiskSignals {
    pub fn behavior(&self, name: &str) -> bool {
        self.behaviors.iter().any(|b| b.eq_ignore_ascii_case(name))
    }
}

/// Event-specific facts that detections key on; all short.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub privilege_granted: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grant_type: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scopes: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub api_token_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub factor: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_uri: Option<Text>,
    /// `changeDetails` of the targets, as compact JSON text, capped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub changes: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<Text>,
    /// Custom (Sigma) rules the raw event matched at ingest. Absent from
    /// records stored before custom rules existed, which decode as none.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub rules: Vec<Arc<crate::sigma::RuleMatch>>,
}

/// What happened, apart from who, where and when: shared by every record of the
/// same event type and result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKind {
    pub event_type: Text,
    pub outcome: Outcome,
    pub reason: Option<Text>,
    pub severity: Option<Text>,
}

/// One event on one identity's timeline.
///
/// Stored as a flat JSON document (see [`stored`]); in memory its repeated
/// parts are shared, so a detector holding a million records holds each user's
/// network, client, session and app list once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "stored::StoredRecord", into = "stored::StoredRecord")]
pub struct ActivityRecord {
    /// The identity whose timeline this is (an Okta id, or `unknown:<hash>`).
    pub identity: Text,
    pub identity_kind: IdentityKind,
    pub role: Role,
    pub uuid: Uuid,
    pub published: Millis,
    pub category: Category,
    pub event: Arc<EventKind>,
    pub actor: Arc<Principal>,
    pub targets: Arc<Vec<Principal>>,
    pub network: Arc<Network>,
    pub client: Arc<ClientInfo>,
    pub risk: Arc<RiskSignals>,
    pub details: Arc<Details>,
    /// The typed username of an unknown actor looked like a password. The text
    /// itself is not kept anywhere.
    pub username_secret_like: bool,
}

impl ActivityRecord {
    /// Sort key within an identity's timeline: time order, unique per event.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", format_rfc3339_ms(self.published), self.uuid)
    }

    pub fn is(&self, event_type: &str) -> bool {
        self.event.event_type == event_type
    }

    /// A user-facing label for the identity: login, then name, then the key.
    pub fn identity_label(&self) -> &str {
        match self.role {
            Role::Actor => self
                .actor
                .login
                .as_deref()
                .or(self.actor.name.as_deref())
                .unwrap_or(&self.identity),
            _ => self
                .targets
                .iter()
                .find(|t| t.id.as_deref() == Some(self.identity.as_str()))
                .and_then(|t| t.login.as_deref().or(t.name.as_deref()))
                .unwrap_or(&self.identity),
        }
    }

    /// The first target of a given Okta type (`User`, `AppInstance`, `Token`…).
    pub fn target_of_kind(&self, kind: &str) -> Option<&Principal> {
        self.targets.iter().find(|t| {
            t.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(kind))
        })
    }
}

/// Why stored bytes are not a record.
#[derive(Debug, thiserror::Error)]
#[error("stored activity record is unreadable: {0}")]
pub struct DecodeError(String);

impl ActivityRecord {
    /// The stored form: the JSON document, deflated. A typical sign-in shrinks from
    /// about 1.1 KB to under 700 bytes, so its item costs one write unit.
    pub fn encode(&self) -> Vec<u8> {
        use std::io::Write;
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut z = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(json.len() / 2),
            flate2::Compression::default(),
        );
        // Writing to a Vec cannot fail.
        let _ = z.write_all(&json);
        z.finish().unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        use std::io::Read;
        let mut json = Vec::with_capacity(bytes.len() * 3);
        // Bounded: a record is a few KB; refuse anything that inflates past 1 MB.
        flate2::read::DeflateDecoder::new(bytes)
            .take(1 << 20)
            .read_to_end(&mut json)
            .map_err(|e| DecodeError(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| DecodeError(e.to_string()))
    }
}
