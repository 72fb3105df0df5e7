//! [`ActivityStore`] on the DynamoDB activity table.
//!
//! | item | pk | sk | other attributes |
//! | --- | --- | --- | --- |
//! | record | `U#<identity>` | `<published RFC 3339 ms>#<uuid>` | `rec` (record JSON, deflated), `expires_at`; the actor record also `hour_pk` = `H#<hour>#<shard>`, `hour_sk` = sk |
//! | late marker | `LATE#<arrival hour>#<shard>` | `<event hour>` | `arrived` (ms), `expires_at` |
//!
//! The `by_hour` index is sparse (one entry per event, from its actor record)
//! and write-sharded: an hour's events spread over `HOUR_SHARDS` partitions by a
//! stable hash of the event uuid, and the detector queries them concurrently.
//!
//! Late markers are spread too, over [`LATE_SHARDS`] keys: a backlog of late events for one hour
//! (a redrive, a reactivated stream) would otherwise rewrite one item, and an
//! item takes at most 1,000 writes a second. Each store also skips rewriting a
//! marker it wrote less than [`MARKER_REFRESH`] earlier (in arrival time), so a
//! Lambda instance writes each marker about once a minute whatever the rate.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use okta_itdr_core::ports::{ActivityStore, PutOutcome, Scope, StoreError};
use okta_itdr_core::record::{ActivityRecord, Interner, Role};
use okta_itdr_core::time::{format_rfc3339_ms, Hour, Millis};

use crate::sdk::{get_n, get_s, n, s, store_error, Item};

pub const BY_HOUR_INDEX: &str = "by_hour";
/// A record item is at most 400 KB; nothing decompresses beyond that.
/// Queries in flight at once for one store call.
const CONCURRENCY: usize = 8;
/// Arrival hours `late_hours` reads at most in one call (eight days, each hour
/// one query per shard). A marker is written when its event arrives, after the
/// event's hour: markers that arrived earlier are for event hours past the
/// default re-check horizon of seven days.
const MAX_LATE_SCAN_HOURS: i64 = 24 * 8;

/// Keys late markers are spread over, by a hash of the event's uuid. With each
/// instance rewriting a marker at most once a minute, a key takes at most one
/// write per instance per minute; more shards would only multiply the
/// detector's marker queries (one per shard and arrival hour).
pub const LATE_SHARDS: u16 = 4;

/// A marker written this recently (in arrival time) is not rewritten by the same
/// store. The detector re-reads markers that arrived up to five minutes before
/// its previous run, so a marker up to a minute older than an event's arrival
/// still brings that event's hour back.
pub const MARKER_REFRESH: Millis = 60_000;
/// Markers remembered per store before the memory is cleared.
const MARKER_MEMORY: usize = 4_096;

/// FNV-1a, 64 bits: stable across processes and releases, unlike `std`'s hasher.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The `by_hour` shard of an event.
pub fn shard_of(uuid: &str, shards: u16) -> u16 {
    let shards = u64::from(shards.max(1));
    // The remainder is below `shards`, which fits in u16.
    u16::try_from(fnv1a64(uuid.as_bytes()) % shards).unwrap_or(0)
}

/// `H#2026-11-10T14#007`
pub fn hour_partition(hour: Hour, shard: u16) -> String {
    format!("H#{}#{shard:03}", hour.label())
}

pub fn identity_partition(identity: &str) -> String {
    format!("U#{identity}")
}

/// `LATE#2026-11-10T14#007`
pub fn late_partition(arrival_hour: Hour, shard: u16) -> String {
    format!("LATE#{}#{shard:03}", arrival_hour.label())
}

/// A poisoned lock only means a panic elsewhere mid-update of plain data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads a `rec` attribute: the record as [`ActivityRecord::encode`] stores it
/// (deflated JSON, so a typical item and its index entry are one write unit each).
pub fn decode_record(value: &AttributeValue) -> Result<ActivityRecord, String> {
    match value {
        AttributeValue::B(blob) => ActivityRecord::decode(blob.as_ref()).map_err(|e| e.to_string()),
        _ => Err("rec is not binary".to_owned()),
    }
}

#[derive(Debug, Clone)]
pub struct DynamoActivityStore {
    client: Client,
    table: String,
    shards: u16,
    /// Shared values of the records read, across the hours of a detector run.
    interner: Arc<Mutex<Interner>>,
    /// (marker partition, event hour) → the arrival time last written.
    markers: Arc<Mutex<HashMap<(String, String), Millis>>>,
}

impl DynamoActivityStore {
    pub fn new(client: Client, table: impl Into<String>, hour_shards: u16) -> Self {
        DynamoActivityStore {
            client,
            table: table.into(),
            shards: hour_shards.max(1),
            interner: Arc::default(),
            markers: Arc::default(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn hour_shards(&self) -> u16 {
        self.shards
    }

    fn sdk_err<E>(
        &self,
        operation: &'static str,
        e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> StoreError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let base = store_error(operation, e);
        let retryable = base.retryable();
        crate::sdk::table_error(&self.table, operation, base.message, retryable)
    }

    /// A query of one shard's partition of the hour index.
    fn hour_query(
        &self,
        partition: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(BY_HOUR_INDEX)
            .key_condition_expression("hour_pk = :p")
            .expression_attribute_values(":p", s(partition))
    }

    /// Writes one record unless its key exists. `Ok(true)` when it was new.
    async fn put_record(&self, r: &ActivityRecord, expires_at: i64) -> Result<bool, StoreError> {
        let rec = r.encode();
        let sk = r.sort_key();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(identity_partition(&r.identity)))
            .item("sk", s(sk.clone()))
            .item("rec", AttributeValue::B(Blob::new(rec)))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk)");
        if r.role == Role::Actor {
            let shard = r.uuid.with_str(|uuid| shard_of(uuid, self.shards));
            put = put
                .item("hour_pk", s(hour_partition(Hour::of(r.published), shard)))
                .item("hour_sk", s(sk));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.sdk_err("PutItem", &e)),
        }
    }

    /// Every page of a query, handed over one at a time.
    async fn query_pages(
        &self,
        build: impl Fn() -> QueryFluentBuilder,
        mut page: impl FnMut(Vec<Item>),
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let out = build()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.sdk_err("Query", &e))?;
            page(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(()),
            }
        }
    }

    async fn query_all(
        &self,
        build: impl Fn() -> QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        self.query_pages(build, |page| items.extend(page)).await?;
        Ok(items)
    }

    /// Appends the records of a query that `scope` keeps to `out`, decoded and
    /// interned page by page: a busy hour is a million items, and only the
    /// shared records are kept.
    async fn query_records(
        &self,
        build: impl Fn() -> QueryFluentBuilder,
        scope: Scope,
        out: &Mutex<&mut Vec<ActivityRecord>>,
    ) -> Result<(), StoreError> {
        self.query_pages(build, |items| {
            let mut decoded = self.records(items);
            decoded.retain(|r| scope.keeps(r));
            {
                let mut interner = lock(&self.interner);
                for r in &mut decoded {
                    interner.intern(r);
                }
            }
            lock(out).append(&mut decoded);
        })
        .await
    }

    fn records(&self, items: Vec<Item>) -> Vec<ActivityRecord> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let decoded = item.get("rec").map(decode_record);
            match decoded {
                Some(Ok(r)) => out.push(r),
                // One unreadable item must not stop detection for everyone: skip it loudly.
                Some(Err(problem)) => tracing::warn!(
                    table = %self.table,
                    sk = get_s(&item, "sk").unwrap_or("?"),
                    %problem,
                    "skipping an unreadable activity record"
                ),
                None => tracing::warn!(
                    table = %self.table,
                    sk = get_s(&item, "sk").unwrap_or("?"),
                    "skipping an activity item without a record"
                ),
            }
        }
        out
    }

    async fn hour_shard(
        &self,
        hour: Hour,
        shard: u16,
        scope: Scope,
        out: &Mutex<&mut Vec<ActivityRecord>>,
    ) -> Result<(), StoreError> {
        let partition = hour_partition(hour, shard);
        self.query_records(|| self.hour_query(&partition), scope, out)
            .await
    }

    async fn late_in(
        &self,
        (arrival_hour, shard): (Hour, u16),
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Hour>, StoreError> {
        let items = self
            .query_all(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :p")
                    .filter_expression("#a >= :f AND #a < :t")
                    .expression_attribute_names("#a", "arrived")
                    .expression_attribute_values(":p", s(late_partition(arrival_hour, shard)))
                    .expression_attribute_values(":f", n(from))
                    .expression_attribute_values(":t", n(to))
            })
            .await?;
        Ok(items
            .iter()
            .filter(|item| get_n(item, "arrived").is_some_and(|a| a >= from && a < to))
            .filter_map(|item| get_s(item, "sk").and_then(Hour::parse_label))
            .collect())
    }
}

impl ActivityStore for DynamoActivityStore {
    async fn put_event(
        &self,
        records: &[ActivityRecord],
        expires_at: i64,
    ) -> Result<PutOutcome, StoreError> {
        // Every record is written even when some exist, so an event half-written
        // before a crash is completed by its redelivery. The actor record (the
        // one indexed by hour) goes first and wins if another record of the
        // event would land on the same key.
        let (actors, others): (Vec<&ActivityRecord>, Vec<&ActivityRecord>) =
            records.iter().partition(|r| r.role == Role::Actor);
        let mut keys = HashSet::new();
        let mut stored = false;
        for batch in [actors, others] {
            let batch: Vec<&ActivityRecord> = batch
                .into_iter()
                .filter(|r| keys.insert((identity_partition(&r.identity), r.sort_key())))
                .collect();
            let results =
                futures::future::join_all(batch.iter().map(|r| self.put_record(r, expires_at)))
                    .await;
            for result in results {
                stored |= result?;
            }
        }
        Ok(if stored {
            PutOutcome::Stored
        } else {
            PutOutcome::Duplicate
        })
    }

    async fn mark_late(
        &self,
        event_hour: Hour,
        uuid: &str,
        arrived: Millis,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let pk = late_partition(Hour::of(arrived), shard_of(uuid, LATE_SHARDS));
        let key = (pk.clone(), event_hour.label());
        let fresh = lock(&self.markers)
            .get(&key)
            .is_some_and(|last| arrived >= *last && arrived - *last < MARKER_REFRESH);
        if fresh {
            return Ok(());
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(event_hour.label()))
            .item("arrived", n(arrived))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk) OR #a < :a")
            .expression_attribute_names("#a", "arrived")
            .expression_attribute_values(":a", n(arrived));
        let result = match put.send().await {
            Ok(_) => Ok(()),
            // A marker at least as recent is already there.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.sdk_err("PutItem", &e)),
        };
        if result.is_ok() {
            let mut markers = lock(&self.markers);
            if markers.len() >= MARKER_MEMORY {
                markers.clear();
            }
            markers.insert(key, arrived);
        }
        result
    }

    async fn late_hours(&self, from: Millis, to: Millis) -> Result<Vec<Hour>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last = Hour::of(to - 1);
        let mut first = Hour::of(from);
        if last.0 - first.0 >= MAX_LATE_SCAN_HOURS {
            // After a long pause of the detector: read the recent arrivals only.
            first = Hour(last.0 - MAX_LATE_SCAN_HOURS + 1);
            tracing::warn!(
                table = %self.table,
                requested_from = %Hour::of(from),
                reading_from = %first,
                "late markers requested over more than {MAX_LATE_SCAN_HOURS} hours; reading the latest only"
            );
        }
        let partitions =
            (first.0..=last.0).flat_map(|h| (0..self.shards).map(move |s| (Hour(h), s)));
        let found: Vec<Vec<Hour>> = futures::stream::iter(partitions)
            .map(|p| self.late_in(p, from, to))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let hours: BTreeSet<Hour> = found.into_iter().flatten().collect();
        Ok(hours.into_iter().collect())
    }

    async fn read_hour(
        &self,
        hour: Hour,
        scope: Scope,
        out: &mut Vec<ActivityRecord>,
    ) -> Result<(), StoreError> {
        // Values no record holds any more (an earlier run's) are let go of here;
        // the rest are shared with the hours already read.
        lock(&self.interner).forget_unused();
        let out = Mutex::new(out);
        futures::stream::iter(0..self.shards)
            .map(|shard| self.hour_shard(hour, shard, scope, &out))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Only the index's sort key is read (`<published>#<uuid>`): about 70
    /// bytes an event instead of the whole record.
    async fn hour_uuids(&self, hour: Hour) -> Result<HashSet<String>, StoreError> {
        let out = Mutex::new(HashSet::new());
        futures::stream::iter(0..self.shards)
            .map(|shard| {
                let partition = hour_partition(hour, shard);
                let out = &out;
                async move {
                    self.query_pages(
                        || self.hour_query(&partition).projection_expression("hour_sk"),
                        |items| {
                            let mut out = lock(out);
                            out.extend(items.iter().filter_map(uuid_of_hour_item));
                        },
                    )
                    .await
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(out.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    async fn identity_activity(
        &self,
        identity: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        // Sort keys are `<time>#<uuid>`, so BETWEEN the bare times selects [from, to):
        // `<from>#…` sorts after `<from>`, `<to>#…` after `<to>`.
        let (lo, hi) = (format_rfc3339_ms(from), format_rfc3339_ms(to));
        let mut records = Vec::new();
        self.query_records(
            || {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :p AND sk BETWEEN :lo AND :hi")
                    .expression_attribute_values(":p", s(identity_partition(identity)))
                    .expression_attribute_values(":lo", s(lo.clone()))
                    .expression_attribute_values(":hi", s(hi.clone()))
            },
            Scope::All,
            &Mutex::new(&mut records),
        )
        .await?;
        Ok(records)
    }
}

/// The uuid in an index item's `hour_sk` (`<published>#<uuid>`; the time
/// holds no `#`).
pub fn uuid_of_hour_item(item: &Item) -> Option<String> {
    get_s(item, "hour_sk")
        .and_then(|sk| sk.split_once('#'))
        .map(|(_, uuid)| uuid.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use okta_itdr_testkit::Typed;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_spread_and_stay_in_range() {
        let mut seen = BTreeSet::new();
        for i in 0..500 {
            let shard = shard_of(&format!("00000000-0000-4000-8000-{i:012x}"), 16);
            assert!(shard < 16);
            seen.insert(shard);
        }
        assert_eq!(seen.len(), 16, "500 uuids should reach every shard");
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0);
    }

    #[test]
    fn records_are_stored_deflated() {
        let r = okta_itdr_testkit::Ev::new("user.session.start").record();
        let packed = r.encode();
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            packed.len() * 3 < json.len() * 2,
            "{} bytes deflated from {}",
            packed.len(),
            json.len()
        );
        assert_eq!(
            decode_record(&AttributeValue::B(Blob::new(packed))).unwrap(),
            r
        );
        assert!(decode_record(&AttributeValue::S(json)).is_err());
        assert!(decode_record(&AttributeValue::B(Blob::new(b"not deflate".to_vec()))).is_err());
        assert!(decode_record(&AttributeValue::N("1".into())).is_err());
    }

    #[test]
    fn key_shapes() {
        let hour = Hour::parse_label("2026-11-10T14").unwrap();
        assert_eq!(hour_partition(hour, 7), "H#2026-11-10T14#007");
        assert_eq!(late_partition(hour, 7), "LATE#2026-11-10T14#007");
        assert_eq!(identity_partition("00u1"), "U#00u1");
    }
}
