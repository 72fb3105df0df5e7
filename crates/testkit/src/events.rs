//! Builders for realistic Okta events, for tests and benchmarks across crates.
//! An [`Ev`] is the event's JSON; [`Typed`] makes it the core's types.

use okta_itdr_core::event::LogEvent;
use okta_itdr_core::normalize::{Normalizer, UsernameHasher};
use okta_itdr_core::record::ActivityRecord;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Millis};
use serde_json::{json, Value};

/// The key test normalisers hash unknown usernames with.
pub const TEST_KEY: &[u8] = b"okta-itdr-test-key-0123456789abcdef";

pub fn normalizer() -> Normalizer {
    Normalizer::new(UsernameHasher::new(TEST_KEY).expect("test key is long enough"))
}

/// Parses `2026-11-10T10:00:00Z`-style text; panics on bad input (tests only).
pub fn at(text: &str) -> Millis {
    parse_rfc3339_ms(text).unwrap_or_else(|| panic!("bad test time {text}"))
}

/// A LogEvent under construction. Defaults: a successful `user.session.start` by
/// alice@acme.com from a Comcast address in San Francisco, Chrome on macOS.
#[derive(Debug, Clone)]
pub struct Ev {
    pub json: Value,
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Ev {
    pub fn new(event_type: &str) -> Self {
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ev {
            json: json!({
                "uuid": format!("00000000-0000-4000-8000-{n:012x}"),
                "published": "2026-11-10T10:00:00.000Z",
                "eventType": event_type,
                "version": "0",
                "severity": "INFO",
                "legacyEventType": null,
                "displayMessage": "test event",
                "actor": {"id": "00ualice", "type": "User", "alternateId": "alice@acme.com", "displayName": "Alice Adams", "detailEntry": null},
                "client": {
                    "userAgent": {"rawUserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", "os": "Mac OS X", "browser": "CHROME"},
                    "zone": "null", "device": "Computer", "id": null, "ipAddress": "73.92.10.5",
                    "geographicalContext": {"city": "San Francisco", "state": "California", "country": "United States", "postalCode": "94107", "geolocation": {"lat": 37.7749, "lon": -122.4194}}
                },
                "device": null,
                "authenticationContext": {"authenticationStep": 0, "externalSessionId": "102sessionalice", "rootSessionId": "idxrootalice"},
                "outcome": {"result": "SUCCESS", "reason": null},
                "target": [],
                "transaction": {"type": "WEB", "id": "txn1", "detail": {}},
                "debugContext": {"debugData": {"requestId": "req1", "requestUri": "/idp/idx/identify", "dtHash": "dt-alice-mac", "threatSuspected": "false"}},
                "securityContext": {"asNumber": 7922, "asOrg": "comcast", "isp": "comcast cable", "domain": "comcast.net", "isProxy": false},
                "request": {"ipChain": [{"ip": "73.92.10.5", "version": "V4"}]}
            }),
        }
    }

    pub fn uuid(mut self, uuid: &str) -> Self {
        self.json["uuid"] = json!(uuid);
        self
    }
    pub fn at(mut self, text: &str) -> Self {
        self.json["published"] = json!(format_rfc3339_ms(at(text)));
        self
    }
    pub fn at_ms(mut self, t: Millis) -> Self {
        self.json["published"] = json!(format_rfc3339_ms(t));
        self
    }
    /// A known user actor.
    pub fn user(mut self, id: &str, login: &str) -> Self {
        let name = login.split('@').next().unwrap_or(login);
        self.json["actor"] = json!({"id": id, "type": "User", "alternateId": login, "displayName": name, "detailEntry": null});
        self
    }
    /// An actor Okta could not resolve: `typed` is what was entered as username.
    pub fn unknown_user(mut self, typed: &str) -> Self {
        self.json["actor"] = json!({"id": "unknown", "type": "User", "alternateId": typed, "displayName": "unknown"});
        self
    }
    pub fn actor(mut self, actor: Value) -> Self {
        self.json["actor"] = actor;
        self
    }
    pub fn outcome(mut self, result: &str, reason: Option<&str>) -> Self {
        self.json["outcome"] = json!({"result": result, "reason": reason});
        self
    }
    pub fn failure(self, reason: &str) -> Self {
        self.outcome("FAILURE", Some(reason))
    }
    /// Source address with its geography and network.
    #[allow(clippy::too_many_arguments)]
    pub fn from(
        mut self,
        ip: &str,
        city: &str,
        country: &str,
        lat: f64,
        lon: f64,
        asn: u64,
        as_org: &str,
    ) -> Self {
        self.json["client"]["ipAddress"] = json!(ip);
        self.json["client"]["geographicalContext"] = json!({"city": city, "state": null, "country": country, "postalCode": null, "geolocation": {"lat": lat, "lon": lon}});
        self.json["securityContext"]["asNumber"] = json!(asn);
        self.json["securityContext"]["asOrg"] = json!(as_org);
        self.json["request"]["ipChain"] = json!([{"ip": ip, "version": "V4"}]);
        self
    }
    pub fn ip(mut self, ip: &str) -> Self {
        self.json["client"]["ipAddress"] = json!(ip);
        self
    }
    pub fn proxy(mut self, is_proxy: bool) -> Self {
        self.json["securityContext"]["isProxy"] = json!(is_proxy);
        self
    }
    pub fn user_agent(mut self, raw: &str, os: &str, browser: &str) -> Self {
        self.json["client"]["userAgent"] =
            json!({"rawUserAgent": raw, "os": os, "browser": browser});
        self
    }
    pub fn no_user_agent(mut self) -> Self {
        self.json["client"]["userAgent"] = Value::Null;
        self
    }
    pub fn session(mut self, external: &str, root: &str) -> Self {
        self.json["authenticationContext"]["externalSessionId"] = json!(external);
        self.json["authenticationContext"]["rootSessionId"] = json!(root);
        self
    }
    pub fn debug(mut self, key: &str, value: Value) -> Self {
        self.json["debugContext"]["debugData"][key] = value;
        self
    }
    pub fn target(mut self, kind: &str, id: &str, alternate_id: &str, display_name: &str) -> Self {
        let t = json!({"id": id, "type": kind, "alternateId": alternate_id, "displayName": display_name, "detailEntry": null});
        self.json["target"]
            .as_array_mut()
            .expect("target is a list")
            .push(t);
        self
    }
    pub fn target_with_changes(mut self, kind: &str, id: &str, name: &str, changes: Value) -> Self {
        let t = json!({"id": id, "type": kind, "alternateId": name, "displayName": name, "changeDetails": changes});
        self.json["target"]
            .as_array_mut()
            .expect("target is a list")
            .push(t);
        self
    }
    /// The request was made with an Okta API token.
    pub fn via_api_token(mut self, token_id: &str) -> Self {
        self.json["transaction"]["detail"] = json!({"requestApiTokenId": token_id});
        self
    }
    pub fn set(mut self, pointer_path: &[&str], value: Value) -> Self {
        let mut cur = &mut self.json;
        for k in &pointer_path[..pointer_path.len() - 1] {
            cur = &mut cur[*k];
        }
        cur[pointer_path[pointer_path.len() - 1]] = value;
        self
    }

    /// As Okta Log Streaming wraps it for EventBridge.
    pub fn envelope(&self) -> Value {
        json!({
            "version": "0", "id": format!("eb-{}", self.json["uuid"].as_str().unwrap_or("x")),
            "detail-type": "SystemLog", "source": "aws.partner/okta.com/acme-test/okta-itdr",
            "account": "123456789012", "time": self.json["published"], "region": "us-east-1", "resources": [],
            "detail": self.json
        })
    }
}

/// The event as the core's types. A trait, not methods of [`Ev`]: the core's
/// own unit tests implement it again for their build of the core's types,
/// which are not this crate's.
pub trait Typed {
    fn event(&self) -> LogEvent;
    /// All records of the event (actor first).
    fn records(&self) -> Vec<ActivityRecord>;
    /// The actor record, which the hourly detector reads.
    fn record(&self) -> ActivityRecord {
        self.records().remove(0)
    }
}

impl Typed for Ev {
    fn event(&self) -> LogEvent {
        LogEvent::from_value(self.json.clone()).expect("test event is a LogEvent")
    }

    fn records(&self) -> Vec<ActivityRecord> {
        normalizer().normalize(&self.event())
    }
}

/// xorshift64*: a small deterministic generator for synthetic orgs and logs, so
/// tests and benchmarks are reproducible without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// True `per_mille` times in a thousand.
    pub fn per_mille(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    pub fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(len);
        s
    }
    /// A version-4-shaped uuid.
    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..]
        )
    }
    /// Alphanumeric text, like Okta's ids and session tokens.
    pub fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// The OCSF bodies a replay publishes for `events`: `rules` evaluated on each
/// raw event as ingest does, their correlations run by the detector.
pub async fn replay_with_rules(
    rules: &okta_itdr_core::sigma::RuleSet,
    events: &[Ev],
) -> Vec<Value> {
    let config = okta_itdr_core::detect::DetectConfig {
        correlations: rules.correlations(),
        ..okta_itdr_core::detect::DetectConfig::default()
    };
    let mut replay = okta_itdr_core::replay::Replay::new(
        normalizer(),
        config,
        okta_itdr_core::memory::MemoryStore::new(),
    );
    let mut alerts = Vec::new();
    for ev in events {
        let event =
            okta_itdr_core::ingest::ruled_event(ev.json.clone(), Some(rules)).expect("a LogEvent");
        alerts.extend(replay.push(&event).await.expect("replayed"));
    }
    alerts.extend(replay.finish().await.expect("replayed"));
    alerts
        .into_iter()
        .map(|a| serde_json::from_str(&a.body).expect("an OCSF body"))
        .collect()
}

/// The LogEvents of the sample events in the repository's `events/` (the
/// `detail` of each Okta EventBridge event, other sources left out), file by
/// file in path order: what the benchmarks, the fake System Log API and the
/// Sigma comparison run over.
pub fn sample_log_events() -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut paths = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("events/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let docs: Vec<Value> = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => vec![read_json(&path)],
            Some("jsonl") => std::fs::read_to_string(&path)
                .expect("readable sample")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("a sample line is JSON"))
                .collect(),
            _ => continue,
        };
        out.extend(
            docs.into_iter()
                .filter(|env| {
                    okta_itdr_core::ingest::check_envelope(
                        env["source"].as_str(),
                        env["detail-type"].as_str(),
                    )
                    .is_ok()
                })
                .map(|mut env| env["detail"].take()),
        );
    }
    out
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable sample");
    serde_json::from_str(&text).expect("a sample file is JSON")
}
