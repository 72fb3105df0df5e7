//! Ingest: validate an EventBridge envelope, normalise its LogEvent and store the
//! records idempotently. The same code serves the Lambda and the CLI replay.

use crate::event::{EventError, LogEvent};
use crate::normalize::Normalizer;
use crate::ports::{ActivityStore, PutOutcome, StoreError};
use crate::record::ActivityRecord;
use crate::sigma::RuleSet;
use crate::time::{Hour, Millis, DAY};

/// Okta partner event sources are named `aws.partner/okta.com/<org>/<stream>`.
pub const OKTA_SOURCE_PREFIX: &str = "aws.partner/okta.com/";
pub const OKTA_DETAIL_TYPE: &str = "SystemLog";

/// Why an event was refused. The event is not stored; the invocation fails so
/// the event reaches the dead-letter queue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("source {0:?} is not an Okta partner event source ({OKTA_SOURCE_PREFIX}…)")]
    NotOktaSource(String),
    #[error("detail-type {0:?} is not {OKTA_DETAIL_TYPE}")]
    NotSystemLog(String),
    #[error("detail is not an Okta LogEvent: {0}")]
    NotLogEvent(#[from] EventError),
    #[error("{field} is {bytes} bytes long, over the {max}-byte limit of a storage key part")]
    KeyTooLong {
        field: &'static str,
        bytes: usize,
        max: usize,
    },
}

impl Rejection {
    /// A short machine-readable reason, for logs and replay summaries.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotOktaSource(_) => "not_okta_source",
            Rejection::NotSystemLog(_) => "not_system_log",
            Rejection::NotLogEvent(_) => "not_log_event",
            Rejection::KeyTooLong { .. } => "key_too_long",
        }
    }
}

pub fn check_envelope(source: Option<&str>, detail_type: Option<&str>) -> Result<(), Rejection> {
    let source = source.unwrap_or_default();
    if !source.starts_with(OKTA_SOURCE_PREFIX) || source.len() == OKTA_SOURCE_PREFIX.len() {
        return Err(Rejection::NotOktaSource(source.to_owned()));
    }
    let detail_type = detail_type.unwrap_or_default();
    if detail_type != OKTA_DETAIL_TYPE {
        return Err(Rejection::NotSystemLog(detail_type.to_owned()));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    #[error("storing event: {0}")]
    Store(#[from] StoreError),
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub uuid: String,
    pub event_type: String,
    pub outcome: PutOutcome,
    pub records: usize,
    /// The event arrived after its hour was complete; the detector was told.
    pub late: bool,
    /// The records stored (or found stored): what the fast path looks at.
    pub stored: Vec<ActivityRecord>,
}

#[derive(Debug, Clone, Copy)]
pub struct IngestSettings {
    pub retention_days: u32,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings { retention_days: 90 }
    }
}

pub struct Ingestor<S> {
    normalizer: Normalizer,
    store: S,
    settings: IngestSettings,
    rules: Option<std::sync::Arc<RuleSet>>,
}

impl<S: ActivityStore> Ingestor<S> {
    pub fn new(normalizer: Normalizer, store: S, settings: IngestSettings) -> Self {
        Ingestor {
            normalizer,
            store,
            settings,
            rules: None,
        }
    }

    /// Evaluates these custom rules on every envelope's raw LogEvent.
    pub fn with_rules(mut self, rules: std::sync::Arc<RuleSet>) -> Self {
        self.rules = Some(rules).filter(|r| !r.is_empty());
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Stores one event that arrived at `arrived`. A redelivery is a
    /// [`PutOutcome::Duplicate`]; storing is retried by the caller's platform.
    pub async fn ingest(&self, event: &LogEvent, arrived: Millis) -> Result<Ingested, IngestError> {
        let records = self.normalizer.normalize(event);
        check_key_parts(&event.uuid, &records)?;
        // Retention counts from when the event happened, so replayed history ages out on time.
        let expires_at = (event.published + i64::from(self.settings.retention_days) * DAY) / 1000;
        let hour = Hour::of(event.published);
        let late = arrived >= hour.end();
        // The marker goes first: if the record write then fails, the retry rewrites
        // both, and a marker without records only costs a re-check.
        if late {
            self.store
                .mark_late(
                    hour,
                    &event.uuid,
                    arrived,
                    expires_at.max(arrived / 1000 + 2 * 86_400),
                )
                .await?;
        }
        let outcome = self.store.put_event(&records, expires_at).await?;
        Ok(Ingested {
            uuid: event.uuid.clone(),
            event_type: event.event_type.clone(),
            outcome,
            records: records.len(),
            late,
            stored: records,
        })
    }

    /// A LogEvent from its JSON text (a page of the System Log API), with the
    /// custom rules that match it: polled events meet the same rules as
    /// streamed ones.
    pub fn parse(&self, text: &[u8]) -> Result<LogEvent, EventError> {
        ruled_event_from_slice(text, self.rules.as_deref())
    }

    /// Validates an envelope's routing fields and its `detail`, then stores it.
    pub async fn ingest_envelope(
        &self,
        source: Option<&str>,
        detail_type: Option<&str>,
        detail: serde_json::Value,
        arrived: Millis,
    ) -> Result<Ingested, IngestError> {
        check_envelope(source, detail_type)?;
        let event = ruled_event(detail, self.rules.as_deref()).map_err(Rejection::from)?;
        self.ingest(&event, arrived).await
    }
}

/// The LogEvent of a raw one, with the custom rules that match it: rules see
/// every field, before the event is modelled. The one way a raw event becomes
/// a ruled LogEvent, for the ingest and poll functions and for the CLI.
pub fn ruled_event(
    raw: serde_json::Value,
    rules: Option<&RuleSet>,
) -> Result<LogEvent, EventError> {
    let matches = rules
        .filter(|r| !r.is_empty())
        .map(|r| r.evaluate(&raw))
        .unwrap_or_default();
    let mut event = LogEvent::from_value(raw)?;
    event.rule_matches = matches;
    Ok(event)
}

/// [`ruled_event`] of a JSON text. The event is modelled straight from the
/// text; the rules, when there are any, read it again as a whole value.
pub fn ruled_event_from_slice(
    text: &[u8],
    rules: Option<&RuleSet>,
) -> Result<LogEvent, EventError> {
    let mut event = LogEvent::from_slice(text)?;
    if let Some(rules) = rules.filter(|r| !r.is_empty()) {
        let raw: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| EventError::Malformed(e.to_string()))?;
        event.rule_matches = rules.evaluate(&raw);
    }
    Ok(event)
}

/// The longest uuid, identity, IP address or device hash stored in a key, in
/// bytes. DynamoDB refuses partition keys over 2,048 bytes and sort keys over
/// 1,024, for every write and every later read; Okta's own values are far
/// shorter (uuids 36 characters, ids 20). The detector builds its state keys
/// from these values (`B#<identity>`, `S#<detection>#device:<hash>`), so
/// refusing them here is what keeps every detector key within the limits.
pub const MAX_KEY_PART: usize = 512;

/// Refuses an event whose key parts would exceed DynamoDB's limits: storing it
/// could never succeed, and retrying would only delay the final queue.
pub fn check_key_parts(uuid: &str, records: &[ActivityRecord]) -> Result<(), Rejection> {
    let check = |field: &'static str, value: &str| {
        if value.len() > MAX_KEY_PART {
            Err(Rejection::KeyTooLong {
                field,
                bytes: value.len(),
                max: MAX_KEY_PART,
            })
        } else {
            Ok(())
        }
    };
    check("uuid", uuid)?;
    for r in records {
        check("identity", &r.identity)?;
        if let Some(ip) = r.network.ip.as_deref() {
            check("client.ipAddress", ip)?;
        }
        if let Some(dt) = r.client.dt_hash.as_deref() {
            check("debugData.dtHash", dt)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_must_be_an_okta_system_log() {
        assert!(
            check_envelope(Some("aws.partner/okta.com/acme/stream"), Some("SystemLog")).is_ok()
        );
        assert_eq!(
            check_envelope(Some("aws.ec2"), Some("SystemLog"))
                .unwrap_err()
                .code(),
            "not_okta_source"
        );
        assert_eq!(
            check_envelope(Some("aws.partner/okta.com/"), Some("SystemLog"))
                .unwrap_err()
                .code(),
            "not_okta_source"
        );
        assert_eq!(
            check_envelope(Some("aws.partner/okta.evil.com/x"), Some("SystemLog"))
                .unwrap_err()
                .code(),
            "not_okta_source"
        );
        assert_eq!(
            check_envelope(None, Some("SystemLog")).unwrap_err().code(),
            "not_okta_source"
        );
        assert_eq!(
            check_envelope(Some("aws.partner/okta.com/a/b"), Some("Other"))
                .unwrap_err()
                .code(),
            "not_system_log"
        );
        assert_eq!(
            check_envelope(Some("aws.partner/okta.com/a/b"), None)
                .unwrap_err()
                .code(),
            "not_system_log"
        );
    }

    #[tokio::test]
    async fn over_long_key_parts_are_refused_before_any_write() {
        use crate::memory::MemoryStore;
        use crate::test_support::{at, normalizer, Ev};
        let ingestor = Ingestor::new(normalizer(), MemoryStore::new(), IngestSettings::default());
        let long = "x".repeat(MAX_KEY_PART + 1);
        for (what, ev) in [
            ("uuid", Ev::new("user.session.start").uuid(&long)),
            (
                "identity",
                Ev::new("user.session.start").user(&long, "a@acme.com"),
            ),
        ] {
            let event = LogEvent::from_value(ev.json).unwrap();
            let err = ingestor
                .ingest(&event, at("2026-11-10T10:01:00Z"))
                .await
                .unwrap_err();
            match err {
                IngestError::Rejected(r @ Rejection::KeyTooLong { .. }) => {
                    assert_eq!(r.code(), "key_too_long");
                    assert!(r.to_string().starts_with(what), "{r}");
                    assert!(!r.to_string().contains(&long), "the value is not echoed");
                }
                other => panic!("{what}: {other:?}"),
            }
        }
        assert_eq!(ingestor.store().identities(), 0, "nothing was written");
        let fine = Ev::new("user.session.start").user(&"y".repeat(MAX_KEY_PART), "b@acme.com");
        let event = LogEvent::from_value(fine.json).unwrap();
        assert!(ingestor
            .ingest(&event, at("2026-11-10T10:01:00Z"))
            .await
            .is_ok());
    }

    #[test]
    fn polled_text_meets_the_rules_streamed_events_do() {
        use crate::memory::MemoryStore;
        use crate::test_support::{normalizer, Ev};
        let rules = RuleSet::parse([(
            "sign-ins.yml",
            "title: Sign-ins\nid: r1\nlogsource:\n  product: okta\ndetection:\n  sel:\n    eventtype: user.session.start\n  condition: sel\n",
        )])
        .unwrap();
        let plain = Ingestor::new(normalizer(), MemoryStore::new(), IngestSettings::default());
        let ruled = Ingestor::new(normalizer(), MemoryStore::new(), IngestSettings::default())
            .with_rules(std::sync::Arc::new(rules));
        let sign_in = Ev::new("user.session.start").json.to_string();
        let lock = Ev::new("user.account.lock").json.to_string();

        let matched = ruled.parse(sign_in.as_bytes()).unwrap();
        let ids: Vec<&str> = matched.rule_matches.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["r1"]);
        assert!(ruled
            .parse(lock.as_bytes())
            .unwrap()
            .rule_matches
            .is_empty());
        // Without rules the event is the same, only without matches.
        let unruled = plain.parse(sign_in.as_bytes()).unwrap();
        assert!(unruled.rule_matches.is_empty());
        assert_eq!(unruled.uuid, matched.uuid);
        assert_eq!(unruled.event_type, matched.event_type);
        // Text that is not a LogEvent is refused either way, with the same kind.
        for ingestor in [&plain, &ruled] {
            assert!(matches!(
                ingestor.parse(b"{not json"),
                Err(EventError::Malformed(_))
            ));
        }
    }
}
