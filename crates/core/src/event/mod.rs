//! The Okta System Log `LogEvent`, as Okta emits it and as real exports distort it.
//!
//! Only `uuid`, `published` and `eventType` are required: they identify the event.
//! Everything else is optional, unknown fields are ignored, and scalar leaves accept
//! numbers, booleans or text interchangeably (see [`lenient`]).

pub mod debug;
pub mod lenient;

use serde::Deserialize;

pub use debug::{Behaviors, DebugData, Risk};

use crate::time::{parse_rfc3339_ms, Millis};

/// Why bytes or a JSON value are not an Okta LogEvent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("not a LogEvent: {0}")]
    Malformed(String),
    #[error("LogEvent has no {0}")]
    Missing(&'static str),
    #[error("LogEvent published time {0:?} is not RFC 3339")]
    BadTimestamp(String),
}

/// One Okta System Log event, validated: it has a uuid, a timestamp and a type.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub uuid: String,
    pub published: Millis,
    pub event_type: String,
    pub raw: RawLogEvent,
    /// Custom rules that matched the raw event, set where the raw JSON is
    /// (ingest, replay) before normalising; carried on every record.
    pub rule_matches: Vec<std::sync::Arc<crate::sigma::RuleMatch>>,
}

impl LogEvent {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let raw: RawLogEvent =
            serde_json::from_slice(bytes).map_err(|e| EventError::Malformed(e.to_string()))?;
        Self::try_from(raw)
    }

    pub fn from_value(value: serde_json::Value) -> Result<Self, EventError> {
        let raw: RawLogEvent =
            serde_json::from_value(value).map_err(|e| EventError::Malformed(e.to_string()))?;
        Self::try_from(raw)
    }
}

impl TryFrom<RawLogEvent> for LogEvent {
    type Error = EventError;

    fn try_from(mut raw: RawLogEvent) -> Result<Self, EventError> {
        let uuid = raw
            .uuid
            .take()
            .filter(|u| !u.trim().is_empty())
            .ok_or(EventError::Missing("uuid"))?;
        let published_text = raw
            .published
            .clone()
            .ok_or(EventError::Missing("published"))?;
        let published =
            parse_rfc3339_ms(&published_text).ok_or(EventError::BadTimestamp(published_text))?;
        let event_type = raw
            .event_type
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or(EventError::Missing("eventType"))?;
        raw.uuid = Some(uuid.clone());
        Ok(LogEvent {
            uuid,
            published,
            event_type,
            raw,
            rule_matches: Vec::new(),
        })
    }
}

/// The wire shape of a LogEvent. Public so callers can read any field; every field
/// is optional here and validated in [`LogEvent::try_from`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RawLogEvent {
    #[serde(deserialize_with = "lenient::string")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub published: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub event_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub version: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub severity: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub legacy_event_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub display_message: Option<String>,
    pub actor: Option<Actor>,
    pub client: Option<Client>,
    pub device: Option<Device>,
    pub authentication_context: Option<AuthenticationContext>,
    pub outcome: Option<Outcome>,
    #[serde(deserialize_with = "lenient::seq")]
    pub target: Vec<Actor>,
    pub transaction: Option<Transaction>,
    pub debug_context: Option<DebugContext>,
    pub security_context: Option<SecurityContext>,
    pub request: Option<Request>,
}

/// An actor or a target: users, apps, tokens, policies all share this shape.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Actor {
    #[serde(deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(rename = "type", deserialize_with = "lenient::string")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub alternate_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub display_name: Option<String>,
    #[serde(deserialize_with = "lenient::object")]
    pub detail_entry: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(deserialize_with = "lenient::object")]
    pub change_details: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Client {
    pub user_agent: Option<UserAgent>,
    #[serde(deserialize_with = "lenient::string")]
    pub zone: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub device: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub ip_address: Option<String>,
    pub geographical_context: Option<GeographicalContext>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct UserAgent {
    #[serde(deserialize_with = "lenient::string")]
    pub raw_user_agent: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub os: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub browser: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GeographicalContext {
    #[serde(deserialize_with = "lenient::string")]
    pub city: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub state: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub country: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub postal_code: Option<String>,
    pub geolocation: Option<Geolocation>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Geolocation {
    #[serde(deserialize_with = "lenient::f64")]
    pub lat: Option<f64>,
    #[serde(deserialize_with = "lenient::f64")]
    pub lon: Option<f64>,
}

/// Okta Identity Engine's device context (managed/registered device).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Device {
    #[serde(deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub os_platform: Option<String>,
    #[serde(deserialize_with = "lenient::bool")]
    pub managed: Option<bool>,
    #[serde(deserialize_with = "lenient::bool")]
    pub registered: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthenticationContext {
    #[serde(deserialize_with = "lenient::string")]
    pub authentication_provider: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub credential_provider: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub credential_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub interface: Option<String>,
    #[serde(deserialize_with = "lenient::u64")]
    pub authentication_step: Option<u64>,
    #[serde(deserialize_with = "lenient::string")]
    pub external_session_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub root_session_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Outcome {
    #[serde(deserialize_with = "lenient::string")]
    pub result: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Transaction {
    #[serde(rename = "type", deserialize_with = "lenient::string")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient::object")]
    pub detail: Option<TransactionDetail>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TransactionDetail {
    #[serde(deserialize_with = "lenient::string")]
    pub request_api_token_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DebugContext {
    #[serde(deserialize_with = "lenient::object")]
    pub debug_data: Option<DebugData>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityContext {
    #[serde(deserialize_with = "lenient::u64")]
    pub as_number: Option<u64>,
    #[serde(deserialize_with = "lenient::string")]
    pub as_org: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub isp: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub domain: Option<String>,
    #[serde(deserialize_with = "lenient::bool")]
    pub is_proxy: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Request {
    #[serde(deserialize_with = "lenient::list")]
    pub ip_chain: Vec<IpChainEntry>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IpChainEntry {
    #[serde(deserialize_with = "lenient::string")]
    pub ip: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub source: Option<String>,
}
