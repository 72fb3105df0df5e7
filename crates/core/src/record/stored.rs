//! The stored form of an [`ActivityRecord`]: one flat JSON document, the shape
//! items in DynamoDB have always had. Decoding makes fresh groups; an
//! [`super::Interner`] shares them afterwards.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    is_false, ActivityRecord, Category, ClientInfo, Details, EventKind, IdentityKind, Network,
    Outcome, Principal, RiskSignals, Role, Text, Uuid,
};
use crate::time::Millis;

#[derive(Serialize, Deserialize)]
pub(super) struct StoredRecord {
    identity: Text,
    identity_kind: IdentityKind,
    role: Role,
    uuid: Uuid,
    published: Millis,
    event_type: Text,
    category: Category,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    reason: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    severity: Option<Text>,
    actor: Arc<Principal>,
    #[serde(skip_serializing_if = "no_targets", default)]
    targets: Arc<Vec<Principal>>,
    #[serde(default)]
    network: Arc<Network>,
    #[serde(default)]
    client: Arc<ClientInfo>,
    #[serde(default)]
    risk: Arc<RiskSignals>,
    #[serde(default)]
    details: Arc<Details>,
    #[serde(skip_serializing_if = "is_false", default)]
    username_secret_like: bool,
}

fn no_targets(targets: &Arc<Vec<Principal>>) -> bool {
    targets.is_empty()
}

impl From<StoredRecord> for ActivityRecord {
    fn from(s: StoredRecord) -> Self {
        ActivityRecord {
            identity: s.identity,
            identity_kind: s.identity_kind,
            role: s.role,
            uuid: s.uuid,
            published: s.published,
            category: s.category,
            event: Arc::new(EventKind {
                event_type: s.event_type,
                outcome: s.outcome,
                reason: s.reason,
                severity: s.severity,
            }),
            actor: s.actor,
            targets: s.targets,
            network: s.network,
            client: s.client,
            risk: s.risk,
            details: s.details,
            username_secret_like: s.username_secret_like,
        }
    }
}

impl From<ActivityRecord> for StoredRecord {
    fn from(r: ActivityRecord) -> Self {
        let event = Arc::unwrap_or_clone(r.event);
        StoredRecord {
            identity: r.identity,
            identity_kind: r.identity_kind,
            role: r.role,
            uuid: r.uuid,
            published: r.published,
            event_type: event.event_type,
            category: r.category,
            outcome: event.outcome,
            reason: event.reason,
            severity: event.severity,
            actor: r.actor,
            targets: r.targets,
            network: r.network,
            client: r.client,
            risk: r.risk,
            details: r.details,
            username_secret_like: r.username_secret_like,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::Ev;
    use crate::test_support::Typed;

    #[test]
    fn the_stored_document_stays_flat() {
        let r = Ev::new("user.session.start")
            .user("00u1", "ann@acme.com")
            .failure("INVALID_CREDENTIALS")
            .record();
        let doc: serde_json::Value =
            serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(doc["event_type"], "user.session.start");
        assert_eq!(doc["outcome"], "failure");
        assert_eq!(doc["reason"], "INVALID_CREDENTIALS");
        assert!(doc.get("event").is_none());
        let back: super::ActivityRecord = serde_json::from_value(doc).unwrap();
        assert_eq!(back, r);
    }
}
