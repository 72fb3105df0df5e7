//! The ports: what the core needs from storage and alert delivery. The DynamoDB
//! and SNS adapters implement them for Lambda; [`crate::memory`] implements them
//! in-process for the CLI and for tests.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use crate::alert::StoredFinding;
use crate::detect::alerting::context::OrgLearned;
use crate::detect::alerting::Ledger;
use crate::detect::baseline::Baseline;
use crate::posture::identity::{Identity, InventoryMeta};
use crate::posture::publish::CheckState;
use crate::record::ActivityRecord;
use crate::time::{Hour, Millis};

/// What kind of storage failure happened. Whether a retry may help follows from
/// the kind, so callers decide on retries without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The store refused for load (throttling, request limits): retry later.
    Throttled,
    /// The store could not be reached or failed (timeouts, 5xx): retry later.
    Unavailable,
    /// A conditional write lost to another writer: the same call fails again.
    Conflict,
    /// The request or a stored document is malformed: retrying cannot help.
    Invalid,
    /// Anything else (permissions, configuration): not retried.
    Other,
}

impl StoreErrorKind {
    pub fn retryable(self) -> bool {
        matches!(
            self,
            StoreErrorKind::Throttled | StoreErrorKind::Unavailable
        )
    }
}

/// A storage failure: the operation, a message safe to log, and its kind.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub message: String,
    pub kind: StoreErrorKind,
}

impl StoreError {
    pub fn of(kind: StoreErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        StoreError {
            operation,
            message: message.into(),
            kind,
        }
    }

    /// For call sites that only know whether a retry may succeed: a retryable
    /// failure is `Unavailable`, any other `Other`.
    pub fn new(operation: &'static str, message: impl Into<String>, retryable: bool) -> Self {
        let kind = if retryable {
            StoreErrorKind::Unavailable
        } else {
            StoreErrorKind::Other
        };
        StoreError::of(kind, operation, message)
    }

    /// Whether the same call may succeed later.
    pub fn retryable(&self) -> bool {
        self.kind.retryable()
    }
}

/// An alert delivery failure.
#[derive(Debug, thiserror::Error)]
#[error("publishing alert {uid}: {message}")]
pub struct SinkError {
    pub uid: String,
    pub message: String,
}

/// What writing one event's records did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// At least one record was new.
    Stored,
    /// Every record already existed: a redelivery.
    Duplicate,
}

/// Which of an hour's actor records a read keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Outcome FAILURE or DENY: all the detector needs of older context hours.
    Failures,
}

impl Scope {
    pub fn keeps(self, r: &ActivityRecord) -> bool {
        match self {
            Scope::All => true,
            Scope::Failures => r.event.outcome.is_failure(),
        }
    }
}

/// Where activity lives: per-identity timelines plus an hour index over actor records.
pub trait ActivityStore: Send + Sync {
    /// Writes one event's records idempotently: a record whose key exists is left
    /// alone. Only the `Role::Actor` record is indexed by hour. `expires_at` is
    /// the TTL in epoch seconds.
    fn put_event(
        &self,
        records: &[ActivityRecord],
        expires_at: i64,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;

    /// Notes that an event of `event_hour` arrived at `arrived`, after that hour
    /// was complete, so the detector re-checks the hour. `uuid` is the event's:
    /// a store may spread markers over several keys by it, so a burst of late
    /// events does not rewrite one item.
    fn mark_late(
        &self,
        event_hour: Hour,
        uuid: &str,
        arrived: Millis,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Event hours with late arrivals whose arrival time is in `[from, to)`.
    fn late_hours(
        &self,
        from: Millis,
        to: Millis,
    ) -> impl Future<Output = Result<Vec<Hour>, StoreError>> + Send;

    /// Appends the actor records published in `hour` that `scope` keeps to `out`,
    /// in no particular order, with their repeated values shared. Appending
    /// lets the detector hold a busy hour once, not once read and once merged.
    fn read_hour(
        &self,
        hour: Hour,
        scope: Scope,
        out: &mut Vec<ActivityRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The uuids of the events published in `hour` (one actor record each):
    /// what gap-fill compares the API with. Stores that can read the keys
    /// alone should: a busy hour's whole records do not fit a small function.
    fn hour_uuids(
        &self,
        hour: Hour,
    ) -> impl Future<Output = Result<std::collections::HashSet<String>, StoreError>> + Send {
        async move {
            let mut out = Vec::new();
            self.read_hour(hour, Scope::All, &mut out).await?;
            Ok(out.iter().map(|r| r.uuid.to_string()).collect())
        }
    }

    /// All actor records published in `hour`, in no particular order.
    fn hour_activity(
        &self,
        hour: Hour,
    ) -> impl Future<Output = Result<Vec<ActivityRecord>, StoreError>> + Send {
        async move {
            let mut out = Vec::new();
            self.read_hour(hour, Scope::All, &mut out).await?;
            Ok(out)
        }
    }

    /// One identity's timeline (every role) published in `[from, to)`, oldest first.
    fn identity_activity(
        &self,
        identity: &str,
        from: Millis,
        to: Millis,
    ) -> impl Future<Output = Result<Vec<ActivityRecord>, StoreError>> + Send;
}

/// The detector's progress: the first hour not yet analysed, and the arrival
/// time up to which late markers were handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    pub next_hour: Hour,
    pub late_checked_until: Millis,
    /// Hours before this one are history backfilled before the deployment's
    /// first run: they are learned (baselines, org context), never published,
    /// and late events for them re-check nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learn_until: Option<Hour>,
    /// The history before `learn_until` is still being read from the System
    /// Log API (the poll function's first start): the detector waits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub history_pending: bool,
}

impl Watermark {
    /// Progress starting at `next_hour`, with late markers handled up to `at`.
    pub fn starting(next_hour: Hour, at: Millis) -> Self {
        Watermark {
            next_hour,
            late_checked_until: at,
            learn_until: None,
            history_pending: false,
        }
    }

    /// Whether `hour` is backfilled history, learned and never published.
    pub fn learns(&self, hour: Hour) -> bool {
        self.learn_until.is_some_and(|until| hour < until)
    }
}

/// The result of trying to claim a finding before publishing it.
// Returned once per finding, never stored in bulk: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First sighting: the caller owns publishing it.
    New,
    /// Seen before; its stored state says what happened to it.
    Existing(StoredFinding),
}

/// The result of claiming the delivery of a pending finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// This run owns the delivery; `attempts` counts this one.
    Claimed { attempts: u32 },
    /// Another run claimed it first, or it is no longer pending or not yet due.
    Refused,
}

/// The detector's own state: watermark, baselines, findings and suppression.
pub trait StateStore: Send + Sync {
    fn load_watermark(&self) -> impl Future<Output = Result<Option<Watermark>, StoreError>> + Send;

    /// Saves the watermark if the stored one is still `expected`, so two runs that
    /// overlap cannot move it past each other.
    fn save_watermark(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn load_baselines(
        &self,
        identities: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Baseline>, StoreError>> + Send;

    fn save_baselines(
        &self,
        baselines: &[Baseline],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The org's learned context, one item of its own.
    fn load_org_context(
        &self,
    ) -> impl Future<Output = Result<Option<OrgLearned>, StoreError>> + Send;

    fn save_org_context(
        &self,
        org: &OrgLearned,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records `finding` if its uid is new (a conditional write), else returns
    /// what is stored.
    fn claim_finding(
        &self,
        finding: &StoredFinding,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Overwrites a finding's stored state (status, counters, body).
    fn update_finding(
        &self,
        finding: &StoredFinding,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Findings claimed but not yet delivered (pending, or `Delivering` with no
    /// confirmation): a publish that failed earlier, or a run that stopped.
    fn pending_findings(
        &self,
    ) -> impl Future<Output = Result<Vec<StoredFinding>, StoreError>> + Send;

    /// The risk ledgers of these principals (those that have one).
    fn load_ledgers(
        &self,
        principals: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Ledger>, StoreError>> + Send;

    /// Saves ledgers whole; an empty one may be deleted.
    fn save_ledgers(
        &self,
        ledgers: &[Ledger],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ---- delivery protocol ----------------------------------------------

    /// Claims the delivery of `finding` for the run `run` at `now`, with one
    /// conditional write: it succeeds only while the finding is pending, due (no
    /// `next_attempt` after `now`) and at the attempt count the caller read, and
    /// moves it to `Delivering`. Of two overlapping runs, one wins. The claim is
    /// the durable fact of delivery: it also becomes the last delivery of its
    /// (detection, principal) for suppression, and a claimed finding is never
    /// published again (see [`crate::detect::run`]).
    fn claim_delivery(
        &self,
        finding: &StoredFinding,
        run: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Delivery, StoreError>> + Send;

    // ---- end of delivery protocol ---------------------------------------

    /// The last delivered finding for `(detection, principal)`, for suppression.
    fn last_delivered(
        &self,
        detection: &str,
        principal: &str,
    ) -> impl Future<Output = Result<Option<StoredFinding>, StoreError>> + Send;
}

/// What the scheduled inventory refresh keeps for enrichment and for
/// publishing posture findings on change: one document per user (read a few
/// at a time by id, never scanned), the refresh's meta, and each check's last
/// published state.
pub trait IdentityStore: Send + Sync {
    /// The stored identities of these Okta user ids (those that have one).
    fn load_identities(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Identity>, StoreError>> + Send;

    /// Writes identities whole; `expires_at` (epoch seconds) lets a user
    /// deleted from Okta age out.
    fn save_identities(
        &self,
        identities: &[Identity],
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn load_inventory_meta(
        &self,
    ) -> impl Future<Output = Result<Option<InventoryMeta>, StoreError>> + Send;

    fn save_inventory_meta(
        &self,
        meta: &InventoryMeta,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Each check's state, by check id.
    fn load_check_states(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, CheckState>, StoreError>> + Send;

    fn save_check_states(
        &self,
        states: &BTreeMap<String, CheckState>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Forwards a port's methods from `Arc<T>` to `T`, so a store can be shared
/// (one listing a method: its name, arguments and what its future yields).
macro_rules! forward_to_inner {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(
            fn $name(&self, $($arg: $ty),*) -> impl Future<Output = $out> + Send {
                (**self).$name($($arg),*)
            }
        )*
    };
}

impl<T: IdentityStore> IdentityStore for std::sync::Arc<T> {
    forward_to_inner! {
        load_identities(ids: &[String]) -> Result<HashMap<String, Identity>, StoreError>;
        save_identities(identities: &[Identity], expires_at: i64) -> Result<(), StoreError>;
        load_inventory_meta() -> Result<Option<InventoryMeta>, StoreError>;
        save_inventory_meta(meta: &InventoryMeta) -> Result<(), StoreError>;
        load_check_states() -> Result<BTreeMap<String, CheckState>, StoreError>;
        save_check_states(states: &BTreeMap<String, CheckState>) -> Result<(), StoreError>;
    }
}

/// An event waiting in the final dead-letter queue, described without its
/// content (a raw event can hold a password typed as a username).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// The queue's message id.
    pub id: String,
    pub uuid: Option<String>,
    pub event_type: Option<String>,
    /// A short code: why it was given up on.
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    /// When it was given up on (RFC 3339).
    pub failed_at: Option<String>,
    /// How often it was received from this queue, listings included.
    pub receive_count: u32,
}

/// The final dead-letter queue, for an operator: what is there, and sending it
/// back through recovery once the cause is fixed.
pub trait DeadLetters: Send + Sync {
    /// Up to `max` dead letters, left in the queue.
    fn list(&self, max: usize) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Moves up to `max` dead letters to the recovery queue, each sent there
    /// before it is deleted here (a crash in between re-ingests it twice, which
    /// storing ignores). Returns how many moved.
    fn redrive(&self, max: usize) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Where alerts go: SNS in Lambda, stdout in the CLI.
pub trait AlertSink: Send + Sync {
    fn publish(
        &self,
        alert: &crate::alert::Alert,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

// One store often backs both the ingestor and the detector (the CLI, tests).
impl<T: ActivityStore> ActivityStore for std::sync::Arc<T> {
    // `hour_uuids` too: a store's own reads only the keys.
    forward_to_inner! {
        put_event(records: &[ActivityRecord], expires_at: i64) -> Result<PutOutcome, StoreError>;
        mark_late(event_hour: Hour, uuid: &str, arrived: Millis, expires_at: i64) -> Result<(), StoreError>;
        late_hours(from: Millis, to: Millis) -> Result<Vec<Hour>, StoreError>;
        read_hour(hour: Hour, scope: Scope, out: &mut Vec<ActivityRecord>) -> Result<(), StoreError>;
        hour_uuids(hour: Hour) -> Result<std::collections::HashSet<String>, StoreError>;
        identity_activity(identity: &str, from: Millis, to: Millis) -> Result<Vec<ActivityRecord>, StoreError>;
    }
}

impl<T: StateStore> StateStore for std::sync::Arc<T> {
    forward_to_inner! {
        load_watermark() -> Result<Option<Watermark>, StoreError>;
        save_watermark(next: &Watermark, expected: Option<&Watermark>) -> Result<(), StoreError>;
        load_baselines(identities: &[String]) -> Result<HashMap<String, Baseline>, StoreError>;
        save_baselines(baselines: &[Baseline]) -> Result<(), StoreError>;
        load_org_context() -> Result<Option<OrgLearned>, StoreError>;
        save_org_context(org: &OrgLearned) -> Result<(), StoreError>;
        claim_finding(finding: &StoredFinding) -> Result<Claim, StoreError>;
        load_ledgers(principals: &[String]) -> Result<HashMap<String, Ledger>, StoreError>;
        save_ledgers(ledgers: &[Ledger]) -> Result<(), StoreError>;
        update_finding(finding: &StoredFinding) -> Result<(), StoreError>;
        pending_findings() -> Result<Vec<StoredFinding>, StoreError>;
        claim_delivery(finding: &StoredFinding, run: &str, now: Millis) -> Result<Delivery, StoreError>;
        last_delivered(detection: &str, principal: &str) -> Result<Option<StoredFinding>, StoreError>;
    }
}

impl<T: AlertSink> AlertSink for std::sync::Arc<T> {
    forward_to_inner! {
        publish(alert: &crate::alert::Alert) -> Result<(), SinkError>;
    }
}
