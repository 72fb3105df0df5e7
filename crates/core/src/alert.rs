//! Alerts: a finding rendered as an OCSF 1.3 Detection Finding (class 2004), with
//! the SNS subject and filterable attributes, and the stored state the detector
//! keeps per finding for deduplication.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::detect::catalog::{self, DetectionMeta};
use crate::detect::{Finding, PrincipalKind, Severity};
use crate::record::Network;
use crate::time::{format_rfc3339_ms, Millis};

pub const OCSF_VERSION: &str = "1.3.0";
pub const PRODUCT: &str = "okta-itdr";
/// SNS caps a message at 256 KiB; leave room for attributes and envelope.
pub const MAX_BODY_BYTES: usize = 240 * 1024;
pub const MAX_SUBJECT_CHARS: usize = 100;

/// What is published: an OCSF body plus the SNS subject and attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub uid: String,
    pub subject: String,
    pub body: String,
    pub severity: Severity,
    pub detection: String,
    /// The principal's label (login, or `ip:…`), for subscription filters.
    pub principal: String,
    pub time: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Claimed, not yet delivered (or delivery failed): retried next run.
    Pending,
    Delivered,
    /// A repeat within the suppression period of a delivered alert.
    Suppressed,
    /// A run claimed its delivery and is publishing it. Never published again:
    /// a claim left unconfirmed past its lease is quarantined, not resent.
    Delivering,
    /// Given up on: publishing failed on every allowed attempt, or a claim was
    /// never confirmed. Kept for the operator, with the reason; raises an alarm.
    Quarantined,
    /// Kept without paging: it added risk to its principal, or it is listed in
    /// the published alert of its incident (`grouped_into`).
    Contributed,
}

impl Status {
    /// Pending or being delivered: listed for later runs until settled.
    pub fn awaits_delivery(self) -> bool {
        matches!(self, Status::Pending | Status::Delivering)
    }
}

/// The detector's record of a finding, keyed by uid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFinding {
    pub uid: String,
    pub detection: String,
    pub principal: String,
    pub status: Status,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// For a delivered finding: how many repeats were folded into it.
    #[serde(default)]
    pub repeats: u32,
    /// For a suppressed finding: the delivered finding it repeats and was
    /// folded into.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suppressed_by: Option<String>,
    /// For a contributing finding: the published alert of its incident that
    /// lists it, if any (grouping). None: it only added risk.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grouped_into: Option<String>,
    /// Delivery attempts claimed so far.
    #[serde(default)]
    pub attempts: u32,
    /// A pending finding whose publish failed is not retried before this time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_attempt: Option<Millis>,
    /// The run that claimed the delivery, and when.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub claimed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub claimed_at: Option<Millis>,
    /// Why the last attempt failed, or why the finding was quarantined.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_error: Option<String>,
    /// For a follow-up: the delivered alert of its incident it adds to. A
    /// follow-up is never folded as a repeat of it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub follow_up_of: Option<String>,
    pub alert: Alert,
}

impl StoredFinding {
    pub fn pending(f: &Finding, alert: Alert) -> Self {
        StoredFinding {
            uid: alert.uid.clone(),
            detection: f.detection.clone(),
            principal: f.principal.identity.clone(),
            status: Status::Pending,
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            repeats: 0,
            suppressed_by: None,
            grouped_into: None,
            attempts: 0,
            next_attempt: None,
            claimed_by: None,
            claimed_at: None,
            last_error: None,
            follow_up_of: f
                .facts
                .get(crate::detect::FOLLOW_UP_OF)
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            alert,
        }
    }

    /// Reads a finding stored before grouping had a field of its own: a
    /// contributing finding then kept the alert that lists it in
    /// `suppressed_by`, which now means a folded repeat only.
    pub fn upgrade_stored(mut self) -> Self {
        if self.status == Status::Contributed && self.grouped_into.is_none() {
            self.grouped_into = self.suppressed_by.take();
        }
        self
    }
}

pub struct Renderer {
    pub product_version: &'static str,
    pub max_evidence: usize,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer {
            product_version: env!("CARGO_PKG_VERSION"),
            max_evidence: 50,
        }
    }
}

impl Renderer {
    pub fn render(&self, f: &Finding) -> Alert {
        let meta = catalog::find(&f.detection);
        let uid = f.uid();
        let mut evidence_cap = self.max_evidence;
        let mut body = self.body(f, meta, &uid, evidence_cap);
        // Never fail to publish: shed evidence until the body fits.
        while body.len() > MAX_BODY_BYTES && evidence_cap > 0 {
            evidence_cap /= 2;
            body = self.body(f, meta, &uid, evidence_cap);
        }
        if body.len() > MAX_BODY_BYTES {
            body = self.minimal_body(f, meta, &uid);
        }
        Alert {
            uid,
            subject: subject(f),
            body,
            severity: f.severity,
            detection: f.detection.clone(),
            principal: f.principal.label().to_owned(),
            time: f.last_seen,
        }
    }

    fn body(
        &self,
        f: &Finding,
        meta: Option<&DetectionMeta>,
        uid: &str,
        evidence_cap: usize,
    ) -> String {
        let mut v = self.base(f, meta, uid);
        let related: Vec<Value> = all_evidence(f)
            .into_iter()
            .take(evidence_cap)
            .map(|u| json!({"uid": u, "product_uid": "okta"}))
            .collect();
        v["finding_info"]["related_events"] = Value::Array(related);
        let endpoints: Vec<Value> = f
            .endpoints
            .iter()
            .take(evidence_cap.max(1))
            .map(endpoint)
            .collect();
        let mut evidences = vec![json!({"actor": actor(f)})];
        evidences.extend(endpoints.into_iter().map(|e| json!({"src_endpoint": e})));
        v["evidences"] = Value::Array(evidences);
        if !f.facts.is_empty() {
            let facts: Map<String, Value> = f
                .facts
                .iter()
                .map(|(k, v)| (k.clone(), cap_value(v)))
                .collect();
            v["unmapped"] = Value::Object(facts);
        }
        if !f.related.is_empty() {
            v["unmapped"]["related_findings"] = related_findings(f);
        }
        v.to_string()
    }

    fn minimal_body(&self, f: &Finding, meta: Option<&DetectionMeta>, uid: &str) -> String {
        let mut v = self.base(f, meta, uid);
        v["evidences"] = json!([{"actor": actor(f)}]);
        v.to_string()
    }

    fn base(&self, f: &Finding, meta: Option<&DetectionMeta>, uid: &str) -> Value {
        // A custom rule's techniques come from its tags, carried as a fact.
        let custom: Vec<&str> = f
            .facts
            .get("mitre")
            .and_then(Value::as_array)
            .map(|ts| ts.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let attacks: Vec<Value> = match meta {
            Some(m) => m.mitre.to_vec(),
            None => custom,
        }
        .iter()
        .map(|t| crate::mitre::ocsf_attack(t))
        .collect();
        let mut v = json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "category_name": "Findings",
            "activity_id": 1,
            "activity_name": "Create",
            "type_uid": 200401,
            "type_name": "Detection Finding: Create",
            "severity_id": f.severity.ocsf_id(),
            "severity": f.severity.label(),
            "status_id": 1,
            "status": "New",
            "time": f.last_seen,
            "message": truncate(&f.summary, 1024),
            "metadata": {
                "version": OCSF_VERSION,
                "uid": uid,
                "product": {"name": PRODUCT, "vendor_name": PRODUCT, "version": self.product_version},
                "labels": ["okta"],
            },
            "finding_info": {
                "uid": uid,
                "title": truncate(&f.title, 256),
                "desc": meta.map(|m| m.description).unwrap_or_default(),
                "analytic": {"uid": f.detection, "name": meta.map(|m| m.title).unwrap_or(&f.title), "type_id": 1, "type": "Rule"},
                "attacks": attacks,
                "first_seen_time": f.first_seen,
                "last_seen_time": f.last_seen,
                "related_events_count": all_evidence(f).len(),
                "types": [meta.map(|m| if m.kind == catalog::Kind::Single { "Okta event" } else { "Okta behaviour" }).unwrap_or("Okta event")],
            },
        });
        if !f.related.is_empty() {
            v["finding_info"]["related_analytics"] = related_analytics(f);
        }
        v
    }
}

/// The evidence of the finding and of the findings grouped into it, each event once.
fn all_evidence(f: &Finding) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    f.evidence
        .iter()
        .chain(f.related.iter().flat_map(|r| &r.evidence))
        .map(String::as_str)
        .filter(|u| seen.insert(*u))
        .collect()
}

/// The findings grouped into this alert, by uid: an alert that follows one
/// already delivered (by the ingest fast path, or an earlier run) names it.
fn related_findings(f: &Finding) -> Value {
    let mut seen = std::collections::HashSet::new();
    Value::Array(
        f.related
            .iter()
            .filter(|r| seen.insert(r.uid.as_str()))
            .map(|r| json!({"uid": r.uid, "analytic": r.detection, "severity": r.severity.label()}))
            .collect(),
    )
}

/// One OCSF analytic per contributing detection, `uid` its detection id.
fn related_analytics(f: &Finding) -> Value {
    let mut ids: Vec<&str> = f.related.iter().map(|r| r.detection.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.retain(|id| *id != f.detection);
    Value::Array(
        ids.into_iter()
            .map(|id| {
                let name = catalog::find(id).map_or(id, |m| m.title);
                json!({"uid": id, "name": name, "type_id": 1, "type": "Rule"})
            })
            .collect(),
    )
}

fn actor(f: &Finding) -> Value {
    let p = &f.principal;
    match p.kind {
        PrincipalKind::Identity(_) => {
            let mut user = Map::new();
            user.insert("uid".into(), json!(p.identity));
            if let Some(n) = p.name.as_ref().or(p.login.as_ref()) {
                user.insert("name".into(), json!(n));
            }
            if let Some(l) = p.login.as_ref().filter(|l| l.contains('@')) {
                user.insert("email_addr".into(), json!(l));
            }
            user.insert("type".into(), json!(identity_type(p.kind)));
            json!({"user": user})
        }
        _ => json!({"user": {"uid": p.identity, "name": p.label(), "type": "Other"}}),
    }
}

fn identity_type(kind: PrincipalKind) -> &'static str {
    use crate::record::IdentityKind::*;
    match kind {
        PrincipalKind::Identity(User) => "User",
        PrincipalKind::Identity(System | ServiceApp | ApiToken) => "System",
        _ => "Other",
    }
}

fn endpoint(n: &Network) -> Value {
    let mut e = Map::new();
    if let Some(ip) = &n.ip {
        e.insert("ip".into(), json!(ip));
    }
    let mut loc = Map::new();
    for (k, v) in [
        ("country", &n.country),
        ("region", &n.state),
        ("city", &n.city),
    ] {
        if let Some(v) = v {
            loc.insert(k.into(), json!(v));
        }
    }
    if let (Some(lat), Some(lon)) = (n.lat, n.lon) {
        loc.insert("lat".into(), json!(lat));
        loc.insert("long".into(), json!(lon));
    }
    if !loc.is_empty() {
        e.insert("location".into(), Value::Object(loc));
    }
    if let Some(asn) = n.asn {
        let mut a = Map::new();
        a.insert("number".into(), json!(asn));
        if let Some(org) = &n.as_org {
            a.insert("name".into(), json!(org));
        }
        e.insert("autonomous_system".into(), Value::Object(a));
    }
    if n.proxy {
        e.insert("proxy_endpoint".into(), json!({"ip": n.ip}));
    }
    Value::Object(e)
}

/// `[CRITICAL] MFA push bombing then approval: bob@acme.com`, at most 100 chars.
pub fn subject(f: &Finding) -> String {
    let s = format!(
        "[{}] {}: {}",
        f.severity.upper(),
        f.title,
        f.principal.label()
    );
    // SNS subjects must be ASCII-printable without line breaks.
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    truncate(&clean, MAX_SUBJECT_CHARS)
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars - 1).collect();
    out.push('…');
    if !out.is_ascii() {
        out.pop();
        out.push('~');
    }
    out
}

fn cap_value(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > 1024 => Value::String(truncate(s, 1024)),
        Value::Array(items) if items.len() > 50 => {
            Value::Array(items.iter().take(50).cloned().collect())
        }
        other => other.clone(),
    }
}

/// The time of an alert as RFC 3339, for tables.
pub fn alert_time(a: &Alert) -> String {
    format_rfc3339_ms(a.time)
}
