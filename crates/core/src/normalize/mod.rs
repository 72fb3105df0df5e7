//! LogEvent → per-identity [`ActivityRecord`]s.
//!
//! Every event yields one actor record (the one the hourly detector reads), plus a
//! record on the timeline of each user the event acted on, plus, when an API token
//! did the work, a record on the token owner's timeline.

pub mod category;
pub mod secrets;

use std::sync::Arc;

use crate::event::{Actor, LogEvent};
use crate::record::{
    ActivityRecord, ClientInfo, Details, EventKind, IdentityKind, Network, Outcome, Principal,
    RiskSignals, Role, Text, Uuid,
};

pub use category::categorize;
pub use secrets::{looks_like_secret, UsernameHasher, WeakKey};

/// Most events name one to three targets; a handful name dozens (group pushes).
/// Records keep the first few so an item stays well under 1 KB.
pub const MAX_TARGETS: usize = 4;
const MAX_TEXT: usize = 256;
const MAX_USER_AGENT: usize = 256;
const MAX_CHANGES: usize = 400;
const MAX_SCOPES: usize = 1024;

pub struct Normalizer {
    hasher: UsernameHasher,
}

impl Normalizer {
    pub fn new(hasher: UsernameHasher) -> Self {
        Normalizer { hasher }
    }

    pub fn normalize(&self, event: &LogEvent) -> Vec<ActivityRecord> {
        let raw = &event.raw;
        let actor_raw = raw.actor.clone().unwrap_or_default();
        let (identity, identity_kind) = self.identity_of(event, &actor_raw);
        let unknown_actor = identity_kind == IdentityKind::UnknownUser;
        let typed = actor_raw.alternate_id.as_deref().unwrap_or_default();
        let username_secret_like = unknown_actor && looks_like_secret(typed);

        let actor = self.principal(&actor_raw, unknown_actor.then_some(typed));
        let targets: Vec<Principal> = raw
            .target
            .iter()
            .take(MAX_TARGETS)
            .map(|t| self.principal(t, unknown_actor.then_some(typed)))
            .collect();

        let debug = raw
            .debug_context
            .as_ref()
            .and_then(|d| d.debug_data.as_ref());
        let behaviors = debug.map(|d| d.behaviors()).unwrap_or_default();
        let risk = debug.map(|d| d.risk()).unwrap_or_default();
        let client = raw.client.clone().unwrap_or_default();
        let geo = client.geographical_context.clone().unwrap_or_default();
        let loc = geo.geolocation.unwrap_or_default();
        let sec = raw.security_context.clone().unwrap_or_default();
        let ua = client.user_agent.clone().unwrap_or_default();
        let auth = raw.authentication_context.clone().unwrap_or_default();
        let api_token_id = token_id(event);

        let network = Network {
            ip: text(client.ip_address.clone()),
            country: text(geo.country),
            state: text(geo.state),
            city: text(geo.city),
            lat: coordinate(loc.lat, 90.0),
            lon: coordinate(loc.lon, 180.0),
            asn: sec.as_number,
            as_org: sec.as_org.map(|s| cap(s, MAX_TEXT)),
            proxy: sec.is_proxy.unwrap_or(false)
                || debug
                    .and_then(|d| d.tunnels.as_deref())
                    .is_some_and(|t| t.len() > 2),
            zone: text(client.zone),
        };
        let client_info = ClientInfo {
            user_agent: ua.raw_user_agent.map(|s| cap(s, MAX_USER_AGENT)),
            os: text(ua.os),
            browser: text(ua.browser),
            device: text(client.device),
            device_id: text(raw.device.as_ref().and_then(|d| d.id.clone())),
            dt_hash: text(debug.and_then(|d| d.dt_hash.clone())),
            session_id: text(auth.external_session_id.filter(|s| s != "unknown")),
            root_session_id: text(auth.root_session_id.filter(|s| s != "unknown")),
            credential_type: text(auth.credential_type),
        };
        let signals = RiskSignals {
            behaviors: behaviors.positives().map(Text::from).collect(),
            risk_level: text(risk.level),
            risk_reasons: risk.reasons.map(|s| cap(s, MAX_TEXT)),
            risk_detection: risk.detection.map(|s| cap(s, MAX_TEXT)),
            threat_suspected: debug.and_then(|d| d.threat_suspected).unwrap_or(false),
        };
        let changes = raw
            .target
            .iter()
            .filter_map(|t| t.change_details.as_ref())
            .map(|c| serde_json::Value::Object(c.clone()).to_string())
            .next()
            .map(|s| cap(s, MAX_CHANGES));
        let details = Details {
            privilege_granted: debug
                .and_then(|d| d.privilege_granted.clone())
                .map(|s| cap(s, MAX_TEXT)),
            grant_type: text(debug.and_then(|d| d.grant_type.clone())),
            // Scope lists run long; the admin ones (`okta.*.manage`) can come last.
            scopes: debug
                .and_then(|d| d.granted_scopes.clone())
                .map(|s| cap(s, MAX_SCOPES)),
            api_token_id: text(api_token_id.clone()),
            client_id: text(debug.and_then(|d| d.client_id.clone())),
            factor: text(debug.and_then(|d| d.factor.clone())),
            request_uri: debug
                .and_then(|d| d.request_uri.clone())
                .map(|s| cap(strip_query(&s).to_owned(), MAX_TEXT)),
            changes,
            message: raw.display_message.clone().map(|s| cap(s, MAX_TEXT)),
            rules: self.scrub_matches(&event.rule_matches, unknown_actor.then_some(typed)),
        };
        let outcome = raw.outcome.clone().unwrap_or_default();
        let primary = ActivityRecord {
            identity: identity.as_str().into(),
            identity_kind,
            role: Role::Actor,
            uuid: Uuid::parse(&event.uuid),
            published: event.published,
            category: categorize(&event.event_type),
            event: Arc::new(EventKind {
                event_type: event.event_type.as_str().into(),
                outcome: Outcome::parse(outcome.result.as_deref()),
                reason: outcome.reason.map(|s| cap(s, MAX_TEXT)),
                severity: text(raw.severity.clone()),
            }),
            actor: Arc::new(actor),
            targets: Arc::new(targets),
            network: Arc::new(network),
            client: Arc::new(client_info),
            risk: Arc::new(signals),
            details: Arc::new(details),
            username_secret_like,
        };

        let mut records = Vec::with_capacity(2);
        // The user behind an API token sees what was done with it.
        if identity_kind == IdentityKind::ApiToken {
            if let Some(owner) = actor_raw.id.as_deref().filter(|id| is_known_id(id)) {
                records.push(ActivityRecord {
                    identity: owner.into(),
                    identity_kind: IdentityKind::User,
                    role: Role::Owner,
                    ..primary.clone()
                });
            }
        }
        let mut seen: Vec<&str> = vec![identity.as_str()];
        for t in raw.target.iter().take(MAX_TARGETS) {
            let is_user = t
                .kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("User"));
            match t.id.as_deref() {
                Some(id) if is_user && is_known_id(id) && !seen.contains(&id) => {
                    seen.push(id);
                    records.push(ActivityRecord {
                        identity: id.into(),
                        identity_kind: IdentityKind::User,
                        role: Role::Target,
                        ..primary.clone()
                    });
                }
                _ => {}
            }
        }
        records.insert(0, primary);
        records
    }

    fn identity_of(&self, event: &LogEvent, actor: &Actor) -> (String, IdentityKind) {
        if let Some(token) = token_id(event) {
            return (token, IdentityKind::ApiToken);
        }
        let kind = actor.kind.as_deref().unwrap_or_default();
        let id = actor.id.as_deref().filter(|id| is_known_id(id));
        match (kind, id) {
            ("SystemPrincipal", _) => (id.unwrap_or("system").to_owned(), IdentityKind::System),
            ("PublicClientApp" | "AppInstance" | "Client" | "OAuth2Client", Some(id)) => {
                (id.to_owned(), IdentityKind::ServiceApp)
            }
            (_, Some(id)) => (id.to_owned(), IdentityKind::User),
            (_, None) => {
                let typed = actor.alternate_id.as_deref().unwrap_or_default();
                (
                    format!(
                        "unknown:{}",
                        self.hasher.hash(typed).trim_start_matches("hmac:")
                    ),
                    IdentityKind::UnknownUser,
                )
            }
        }
    }

    /// Rule matches as stored: a field value a correlation carries that repeats
    /// the unknown actor's typed text (`actor.alternateId` of a failed sign-in,
    /// where people type passwords) is replaced by its hash, as on principals.
    fn scrub_matches(
        &self,
        matches: &[Arc<crate::sigma::RuleMatch>],
        untrusted: Option<&str>,
    ) -> Vec<Arc<crate::sigma::RuleMatch>> {
        let Some(typed) = untrusted.map(str::trim).filter(|t| !t.is_empty()) else {
            return matches.to_vec();
        };
        // A carried value is cut at MAX_CARRIED_CHARS: compare the typed text cut alike.
        let cut: String = typed
            .chars()
            .take(crate::sigma::MAX_CARRIED_CHARS)
            .collect();
        let echoes = |v: &str| {
            let v = v.trim();
            v.eq_ignore_ascii_case(typed) || v.eq_ignore_ascii_case(cut.trim())
        };
        matches
            .iter()
            .map(|m| {
                if !m.fields.values().any(|v| echoes(v)) {
                    return m.clone();
                }
                let mut m = crate::sigma::RuleMatch::clone(m);
                for v in m.fields.values_mut() {
                    if echoes(v) {
                        *v = self.hasher.hash(typed);
                    }
                }
                Arc::new(m)
            })
            .collect()
    }

    /// A principal as stored. Any field that repeats the unknown actor's typed
    /// text is replaced by its hash, wherever Okta echoed it.
    fn principal(&self, a: &Actor, untrusted: Option<&str>) -> Principal {
        let scrub = |v: &Option<String>| -> Option<Text> {
            let v = v.as_deref()?;
            match untrusted {
                Some(typed)
                    if !typed.trim().is_empty() && v.trim().eq_ignore_ascii_case(typed.trim()) =>
                {
                    Some(self.hasher.hash(v).into())
                }
                _ => Some(cap(v.to_owned(), MAX_TEXT)),
            }
        };
        Principal {
            id: scrub(&a.id),
            kind: text(a.kind.clone()),
            login: scrub(&a.alternate_id),
            name: scrub(&a.display_name),
        }
    }
}

/// Okta geolocates to a city; four decimals (~11 m) keep all of it, and values
/// outside the globe are dropped rather than fed to distance maths.
fn coordinate(v: Option<f64>, limit: f64) -> Option<f64> {
    v.filter(|v| v.is_finite() && v.abs() <= limit)
        .map(|v| (v * 1e4).round() / 1e4)
}

fn token_id(event: &LogEvent) -> Option<String> {
    event
        .raw
        .transaction
        .as_ref()
        .and_then(|t| t.detail.as_ref())
        .and_then(|d| d.request_api_token_id.clone())
        .filter(|t| !t.trim().is_empty())
}

fn is_known_id(id: &str) -> bool {
    let t = id.trim();
    !t.is_empty() && !t.eq_ignore_ascii_case("unknown")
}

fn strip_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

fn text(v: Option<String>) -> Option<Text> {
    v.map(Text::from)
}

fn cap(mut s: String, max: usize) -> Text {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s.into()
}
