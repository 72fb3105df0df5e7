//! An in-process implementation of every port, with the same semantics as the
//! DynamoDB and SNS adapters: idempotent writes keyed by identity and event,
//! an hour index over actor records, conditional watermark and finding claims.
//!
//! The CLI replays months of logs through it, so activity older than what the
//! detector can still ask for is evicted ([`MemoryStore::evict_before`]): memory
//! follows identities and the baseline period, not the number of events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::{ready, Future};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::alert::{Alert, Status, StoredFinding};
use crate::detect::alerting::context::OrgLearned;
use crate::detect::alerting::Ledger;
use crate::detect::baseline::Baseline;
use crate::ports::{
    ActivityStore, AlertSink, Claim, Delivery, IdentityStore, PutOutcome, Scope, SinkError,
    StateStore, StoreError, StoreErrorKind, Watermark,
};
use crate::posture::identity::{Identity, InventoryMeta};
use crate::posture::publish::CheckState;
use crate::record::{ActivityRecord, Interner, Role};
use crate::time::{Hour, Millis};

type Keep = dyn Fn(&ActivityRecord) -> bool + Send + Sync;

#[derive(Default)]
struct Inner {
    /// identity → sort key → record.
    timelines: HashMap<String, BTreeMap<String, Arc<ActivityRecord>>>,
    hours: BTreeMap<Hour, Vec<Arc<ActivityRecord>>>,
    /// (event hour) → latest arrival.
    late: BTreeMap<Hour, Millis>,
    watermark: Option<Watermark>,
    baselines: HashMap<String, Baseline>,
    org: Option<OrgLearned>,
    ledgers: HashMap<String, Ledger>,
    findings: BTreeMap<String, StoredFinding>,
    pending: BTreeSet<String>,
    delivered: HashMap<(String, String), StoredFinding>,
    /// Records kept whatever their age (the CLI's `--timeline`).
    kept: Vec<Arc<ActivityRecord>>,
    /// Stored records share their repeated values.
    interner: Interner,
    identities: HashMap<String, Identity>,
    inventory_meta: Option<InventoryMeta>,
    check_states: BTreeMap<String, CheckState>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    keep: Option<Box<Keep>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records matching `keep` survive eviction, for a full timeline afterwards.
    pub fn keeping(keep: impl Fn(&ActivityRecord) -> bool + Send + Sync + 'static) -> Self {
        MemoryStore {
            inner: Mutex::default(),
            keep: Some(Box::new(keep)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops activity published before `t` (and late markers for it).
    pub fn evict_before(&self, t: Millis) {
        let mut inner = self.lock();
        let cut = Hour::of(t);
        inner.hours = inner.hours.split_off(&cut);
        inner.late = inner.late.split_off(&cut);
        let bound = crate::time::format_rfc3339_ms(t);
        inner.timelines.retain(|_, timeline| {
            *timeline = timeline.split_off(&bound);
            !timeline.is_empty()
        });
        inner.interner.forget_unused();
    }

    /// Kept records (see [`MemoryStore::keeping`]), oldest first.
    pub fn kept(&self) -> Vec<ActivityRecord> {
        let mut v: Vec<ActivityRecord> = self.lock().kept.iter().map(|r| (**r).clone()).collect();
        v.sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
        v
    }

    /// Every stored finding, for reports and tests.
    pub fn findings(&self) -> Vec<StoredFinding> {
        self.lock().findings.values().cloned().collect()
    }

    pub fn identities(&self) -> usize {
        self.lock().timelines.len()
    }

    pub fn baselines(&self) -> usize {
        self.lock().baselines.len()
    }

    /// Every baseline, by identity, and the org's context: what a replay
    /// learned, to save and start another from.
    pub fn learned_snapshot(&self) -> (Vec<Baseline>, Option<OrgLearned>) {
        let inner = self.lock();
        let mut v: Vec<Baseline> = inner.baselines.values().cloned().collect();
        v.sort_by(|a, b| a.identity.cmp(&b.identity));
        (v, inner.org.clone())
    }

    /// Starts from what was learned before (see [`MemoryStore::learned_snapshot`]).
    pub fn with_learned(self, baselines: Vec<Baseline>, org: Option<OrgLearned>) -> Self {
        {
            let mut inner = self.lock();
            inner
                .baselines
                .extend(baselines.into_iter().map(|b| (b.identity.clone(), b)));
            inner.org = org;
        }
        self
    }
}

impl ActivityStore for MemoryStore {
    fn put_event(
        &self,
        records: &[ActivityRecord],
        _expires_at: i64,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut stored = false;
        for r in records {
            let key = r.sort_key();
            let timeline = inner.timelines.entry(r.identity.to_string()).or_default();
            if timeline.contains_key(&key) {
                continue;
            }
            let rec = Arc::new(inner.interner.record(r.clone()));
            timeline.insert(key, rec.clone());
            stored = true;
            if r.role == Role::Actor {
                inner
                    .hours
                    .entry(Hour::of(r.published))
                    .or_default()
                    .push(rec.clone());
            }
            if self.keep.as_ref().is_some_and(|k| k(r)) {
                inner.kept.push(rec);
            }
        }
        ready(Ok(if stored {
            PutOutcome::Stored
        } else {
            PutOutcome::Duplicate
        }))
    }

    fn mark_late(
        &self,
        event_hour: Hour,
        _uuid: &str,
        arrived: Millis,
        _expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut inner = self.lock();
        let slot = inner.late.entry(event_hour).or_insert(arrived);
        *slot = (*slot).max(arrived);
        ready(Ok(()))
    }

    fn late_hours(
        &self,
        from: Millis,
        to: Millis,
    ) -> impl Future<Output = Result<Vec<Hour>, StoreError>> + Send {
        let hours = self
            .lock()
            .late
            .iter()
            .filter(|(_, a)| **a >= from && **a < to)
            .map(|(h, _)| *h)
            .collect();
        ready(Ok(hours))
    }

    fn read_hour(
        &self,
        hour: Hour,
        scope: Scope,
        out: &mut Vec<ActivityRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        if let Some(records) = self.lock().hours.get(&hour) {
            out.extend(
                records
                    .iter()
                    .filter(|r| scope.keeps(r))
                    .map(|r| (**r).clone()),
            );
        }
        ready(Ok(()))
    }

    fn identity_activity(
        &self,
        identity: &str,
        from: Millis,
        to: Millis,
    ) -> impl Future<Output = Result<Vec<ActivityRecord>, StoreError>> + Send {
        let inner = self.lock();
        let records = inner
            .timelines
            .get(identity)
            .map(|t| {
                t.values()
                    .filter(|r| r.published >= from && r.published < to)
                    .map(|r| (**r).clone())
                    .collect()
            })
            .unwrap_or_default();
        ready(Ok(records))
    }
}

impl IdentityStore for MemoryStore {
    fn load_identities(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Identity>, StoreError>> + Send {
        let inner = self.lock();
        let found = ids
            .iter()
            .filter_map(|id| inner.identities.get(id).map(|i| (id.clone(), i.clone())))
            .collect();
        ready(Ok(found))
    }

    fn save_identities(
        &self,
        identities: &[Identity],
        _expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut inner = self.lock();
        for i in identities {
            inner.identities.insert(i.id.clone(), i.clone());
        }
        ready(Ok(()))
    }

    fn load_inventory_meta(
        &self,
    ) -> impl Future<Output = Result<Option<InventoryMeta>, StoreError>> + Send {
        ready(Ok(self.lock().inventory_meta.clone()))
    }

    fn save_inventory_meta(
        &self,
        meta: &InventoryMeta,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.lock().inventory_meta = Some(meta.clone());
        ready(Ok(()))
    }

    fn load_check_states(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, CheckState>, StoreError>> + Send {
        ready(Ok(self.lock().check_states.clone()))
    }

    fn save_check_states(
        &self,
        states: &BTreeMap<String, CheckState>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.lock().check_states = states.clone();
        ready(Ok(()))
    }
}

impl StateStore for MemoryStore {
    fn load_watermark(&self) -> impl Future<Output = Result<Option<Watermark>, StoreError>> + Send {
        ready(Ok(self.lock().watermark))
    }

    fn save_watermark(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut inner = self.lock();
        let result = if inner.watermark.as_ref() == expected {
            inner.watermark = Some(*next);
            Ok(())
        } else {
            Err(StoreError::of(
                StoreErrorKind::Conflict,
                "save_watermark",
                "the watermark was moved by another run",
            ))
        };
        ready(result)
    }

    fn load_baselines(
        &self,
        identities: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Baseline>, StoreError>> + Send {
        let inner = self.lock();
        let found = identities
            .iter()
            .filter_map(|id| inner.baselines.get(id).map(|b| (id.clone(), b.clone())))
            .collect();
        ready(Ok(found))
    }

    fn save_baselines(
        &self,
        baselines: &[Baseline],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut inner = self.lock();
        for b in baselines {
            inner.baselines.insert(b.identity.clone(), b.clone());
        }
        ready(Ok(()))
    }

    fn load_org_context(
        &self,
    ) -> impl Future<Output = Result<Option<OrgLearned>, StoreError>> + Send {
        ready(Ok(self.lock().org.clone()))
    }

    fn save_org_context(
        &self,
        org: &OrgLearned,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.lock().org = Some(org.clone());
        ready(Ok(()))
    }

    fn load_ledgers(
        &self,
        principals: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Ledger>, StoreError>> + Send {
        let inner = self.lock();
        let found = principals
            .iter()
            .filter_map(|p| inner.ledgers.get(p).map(|l| (p.clone(), l.clone())))
            .collect();
        ready(Ok(found))
    }

    fn save_ledgers(
        &self,
        ledgers: &[Ledger],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut inner = self.lock();
        for l in ledgers {
            if l.entries.is_empty() {
                inner.ledgers.remove(&l.principal);
            } else {
                inner.ledgers.insert(l.principal.clone(), l.clone());
            }
        }
        ready(Ok(()))
    }

    fn claim_finding(
        &self,
        finding: &StoredFinding,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        let mut inner = self.lock();
        let claim = match inner.findings.get(&finding.uid) {
            Some(existing) => Claim::Existing(existing.clone()),
            None => {
                inner.findings.insert(finding.uid.clone(), finding.clone());
                if finding.status == Status::Pending {
                    inner.pending.insert(finding.uid.clone());
                }
                Claim::New
            }
        };
        ready(Ok(claim))
    }

    fn update_finding(
        &self,
        finding: &StoredFinding,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut inner = self.lock();
        inner.findings.insert(finding.uid.clone(), finding.clone());
        if matches!(finding.status, Status::Delivered | Status::Delivering) {
            inner.delivered.insert(
                (finding.detection.clone(), finding.principal.clone()),
                finding.clone(),
            );
        }
        if finding.status.awaits_delivery() {
            inner.pending.insert(finding.uid.clone());
        } else {
            inner.pending.remove(&finding.uid);
        }
        ready(Ok(()))
    }

    fn pending_findings(
        &self,
    ) -> impl Future<Output = Result<Vec<StoredFinding>, StoreError>> + Send {
        let inner = self.lock();
        let pending = inner
            .pending
            .iter()
            .filter_map(|uid| inner.findings.get(uid).cloned())
            .collect();
        ready(Ok(pending))
    }

    fn claim_delivery(
        &self,
        finding: &StoredFinding,
        run: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Delivery, StoreError>> + Send {
        let mut inner = self.lock();
        let claimed = match inner.findings.get_mut(&finding.uid) {
            Some(f)
                if f.status == Status::Pending
                    && f.attempts == finding.attempts
                    && f.next_attempt.is_none_or(|t| t <= now) =>
            {
                f.status = Status::Delivering;
                f.attempts += 1;
                f.next_attempt = None;
                f.claimed_by = Some(run.to_owned());
                f.claimed_at = Some(now);
                Some(f.clone())
            }
            _ => None,
        };
        let result = match claimed {
            Some(f) => {
                let attempts = f.attempts;
                inner
                    .delivered
                    .insert((f.detection.clone(), f.principal.clone()), f);
                Delivery::Claimed { attempts }
            }
            None => Delivery::Refused,
        };
        ready(Ok(result))
    }

    fn last_delivered(
        &self,
        detection: &str,
        principal: &str,
    ) -> impl Future<Output = Result<Option<StoredFinding>, StoreError>> + Send {
        let found = self
            .lock()
            .delivered
            .get(&(detection.to_owned(), principal.to_owned()))
            .cloned();
        ready(Ok(found))
    }
}

/// Collects published alerts in order; can be told to fail, for tests of retry.
#[derive(Default)]
pub struct CollectingSink {
    alerts: Mutex<Vec<Alert>>,
    failures_left: Mutex<usize>,
    refused: Mutex<BTreeSet<String>>,
}

impl CollectingSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` publishes fail.
    pub fn fail_next(&self, n: usize) {
        *self.failures_left.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }

    /// Every publish of an alert for `principal` fails, until further notice.
    pub fn refuse(&self, principal: &str) {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(principal.to_owned());
    }

    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes the alerts published so far.
    pub fn drain(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.alerts.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl AlertSink for CollectingSink {
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), SinkError>> + Send {
        let mut left = self.failures_left.lock().unwrap_or_else(|p| p.into_inner());
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&alert.principal);
        let result = if refused || *left > 0 {
            if !refused {
                *left -= 1;
            }
            Err(SinkError {
                uid: alert.uid.clone(),
                message: "injected failure".into(),
            })
        } else {
            self.alerts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(alert.clone());
            Ok(())
        };
        ready(result)
    }
}
