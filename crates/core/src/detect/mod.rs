//! The detection engine. [`analyze`] is pure: it takes one hour's activity with
//! its context, baselines and requested histories, and returns findings whose
//! triggering event lies in that hour. [`run`] drives it over the stores.

pub mod alerting;
pub mod baseline;
pub mod catalog;
pub mod config;
pub mod correlation;
pub mod custom;
mod delivery;
pub mod fast;
pub mod run;
pub mod single;
pub mod windowed;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::{ActivityRecord, IdentityKind, Network, Text};
use crate::time::{Hour, Millis, HOUR};

pub use baseline::Baseline;
pub use catalog::{DetectionMeta, Kind, CATALOG};
pub use config::DetectConfig;
pub use delivery::Enricher;

/// How much activity before an hour is loaded as context for its windows: the
/// longest hour-index lookback in the catalog (credential attack then success).
pub const CONTEXT: Millis = 3 * HOUR;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// OCSF `severity_id`.
    pub fn ocsf_id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    pub fn upper(self) -> &'static str {
        match self {
            Severity::Informational => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// Who a finding is about. For network-keyed detections (brute force from an IP)
/// the identity is `ip:<address>` or `device:<dtHash>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingPrincipal {
    pub identity: String,
    pub kind: PrincipalKind,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Identity(IdentityKind),
    Ip,
    Device,
    Session,
    Org,
}

impl FindingPrincipal {
    /// The acting identity of a record (its timeline owner).
    pub fn of_record(r: &ActivityRecord) -> Self {
        FindingPrincipal {
            identity: r.identity.to_string(),
            kind: PrincipalKind::Identity(r.identity_kind),
            login: Some(r.identity_label().to_owned()).filter(|l| *l != r.identity),
            name: match r.role {
                crate::record::Role::Actor => owned(&r.actor.name),
                _ => None,
            },
        }
    }

    /// The first `User` target of a record, when it has an id.
    pub fn target_user(r: &ActivityRecord) -> Option<Self> {
        let t = r.target_of_kind("User")?;
        Some(FindingPrincipal {
            identity: owned(&t.id)?,
            kind: PrincipalKind::Identity(IdentityKind::User),
            login: owned(&t.login),
            name: owned(&t.name),
        })
    }

    pub fn ip(ip: &str) -> Self {
        FindingPrincipal {
            identity: format!("ip:{ip}"),
            kind: PrincipalKind::Ip,
            login: None,
            name: None,
        }
    }

    pub fn device(dt_hash: &str) -> Self {
        FindingPrincipal {
            identity: format!("device:{dt_hash}"),
            kind: PrincipalKind::Device,
            login: None,
            name: None,
        }
    }

    pub fn org() -> Self {
        FindingPrincipal {
            identity: "org".into(),
            kind: PrincipalKind::Org,
            login: None,
            name: None,
        }
    }

    /// What people read: the login, else the name, else the key.
    pub fn label(&self) -> &str {
        self.login
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.identity)
    }
}

/// One detection firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub detection: String,
    pub severity: Severity,
    /// The catalog title, or a sharper variant ("MFA push bombing then approval").
    pub title: String,
    pub principal: FindingPrincipal,
    /// One line for people: what happened, to whom, from where.
    pub summary: String,
    /// Identifies the window: with detection and principal it makes the uid.
    /// Single-event detections use the event's time; windowed ones the window's
    /// first event.
    pub anchor: Millis,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// Uuids of the evidence events, oldest first (capped when rendered).
    pub evidence: Vec<String>,
    /// Distinct source endpoints involved, first seen first.
    pub endpoints: Vec<Network>,
    /// Detection-specific facts (counts, distances, scopes…).
    #[serde(default)]
    pub facts: BTreeMap<String, serde_json::Value>,
    /// Findings of the same incident published with this one (see [`alerting`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
}

/// A finding folded into a published alert as a contributor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Related {
    pub detection: String,
    pub uid: String,
    pub severity: Severity,
    pub summary: String,
    pub evidence: Vec<String>,
}

impl Finding {
    /// Stable for (detection, principal, window): the dedup key.
    pub fn uid(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.detection.as_bytes());
        h.update([0]);
        h.update(self.principal.identity.as_bytes());
        h.update([0]);
        h.update(self.anchor.to_be_bytes());
        // A follow-up of a delivered alert is a finding of its own.
        if let Some(of) = self.facts.get(FOLLOW_UP_OF).and_then(|v| v.as_str()) {
            h.update([0]);
            h.update(of.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }

    /// A finding from one record, with the catalog's severity and title.
    pub fn from_record(
        meta: &DetectionMeta,
        principal: FindingPrincipal,
        r: &ActivityRecord,
        summary: String,
    ) -> Self {
        let (id, title) = (meta.id.to_owned(), meta.title.to_owned());
        Finding::of_one(id, meta.severity, title, principal, r, summary)
    }

    /// A finding from one record: its time, its uuid and its network.
    pub(crate) fn of_one(
        detection: String,
        severity: Severity,
        title: String,
        principal: FindingPrincipal,
        r: &ActivityRecord,
        summary: String,
    ) -> Self {
        Finding {
            detection,
            severity,
            title,
            principal,
            summary,
            anchor: r.published,
            first_seen: r.published,
            last_seen: r.published,
            evidence: vec![r.uuid.to_string()],
            endpoints: if r.network.ip.is_some() {
                vec![Network::clone(&r.network)]
            } else {
                Vec::new()
            },
            facts: BTreeMap::new(),
            related: Vec::new(),
        }
    }

    pub fn fact(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.facts.insert(key.to_owned(), value.into());
        self
    }
}

/// What the engine sees for one hour.
pub struct Analysis<'a> {
    /// Findings are reported for triggering events published in this hour.
    pub hour: Hour,
    /// Actor records published in `[hour.start() - CONTEXT, hour.end())`, sorted by
    /// `(published, uuid)`. Before `hour.start() - HOUR` only failures (outcome
    /// FAILURE or DENY) are present: the longest window that needs more is 60 min.
    pub records: &'a [ActivityRecord],
    /// Baselines as they stood before `hour`, by identity.
    pub baselines: &'a HashMap<String, Baseline>,
    /// The org's learned context as it stood before `hour`, once there is one.
    pub org: Option<&'a alerting::context::OrgLearned>,
    /// Timelines fetched for [`history_requests`], by identity, oldest first.
    pub histories: &'a HashMap<String, Vec<ActivityRecord>>,
    pub config: &'a DetectConfig,
}

impl Analysis<'_> {
    /// The records whose time lies in the analysed hour.
    pub fn in_hour(&self) -> impl Iterator<Item = &ActivityRecord> {
        let (start, end) = (self.hour.start(), self.hour.end());
        self.records
            .iter()
            .filter(move |r| r.published >= start && r.published < end)
    }

    pub fn in_hour_time(&self, t: Millis) -> bool {
        t >= self.hour.start() && t < self.hour.end()
    }
}

/// One identity timeline the engine wants for the hour: `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HistoryRequest {
    pub identity: String,
    pub from: Millis,
    pub to: Millis,
}

/// Identity timelines the engine needs beyond the hour index, for detections
/// with long lookbacks over rare events.
pub fn history_requests(
    config: &DetectConfig,
    hour: Hour,
    records: &[ActivityRecord],
) -> Vec<HistoryRequest> {
    windowed::history_requests(config, hour, records)
}

/// Runs every enabled detection over one hour.
/// The principals of some findings, each once, in order: whose ledgers (and
/// baselines) deciding them reads.
pub(crate) fn principals_of(findings: &[Finding]) -> Vec<String> {
    let mut principals: Vec<String> = findings
        .iter()
        .map(|f| f.principal.identity.clone())
        .collect();
    principals.sort_unstable();
    principals.dedup();
    principals
}

/// The fact naming the delivered alert a follow-up escalates.
pub const FOLLOW_UP_OF: &str = "follow_up_of";

pub fn analyze(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = single::evaluate(a);
    findings.extend(windowed::evaluate(a));
    findings.extend(custom::evaluate(a));
    findings.extend(correlation::evaluate(a));
    sort_findings(&mut findings);
    findings
}

/// The order findings are reported and published in: by time, then detection
/// and principal, so runs are reproducible.
pub(crate) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|x, y| {
        (x.first_seen, &x.detection, &x.principal.identity).cmp(&(
            y.first_seen,
            &y.detection,
            &y.principal.identity,
        ))
    });
}

fn owned(text: &Option<Text>) -> Option<String> {
    text.as_deref().map(str::to_owned)
}

/// Okta writes `unknown` (any case) where it has no value, for a client it cannot
/// tell or a reason it does not give: such text is no value to show or compare.
pub(crate) fn known(v: Option<&str>) -> Option<&str> {
    v.map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("unknown"))
}

/// Whether one event, on its own, matches a detection: for single-event detections,
/// that it fires; for windowed ones, that it counts toward the window.
pub fn matches_event(config: &DetectConfig, detection: &str, record: &ActivityRecord) -> bool {
    match catalog::find(detection).map(|m| m.kind) {
        Some(Kind::Single) => single::matches(config, detection, record),
        Some(Kind::Windowed) => windowed::counts(config, detection, record),
        None => false,
    }
}
