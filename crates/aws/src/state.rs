//! [`StateStore`] on the DynamoDB state table.
//!
//! | item | pk | sk | other attributes |
//! | --- | --- | --- | --- |
//! | watermark | `WATERMARK` | `detect` | `next_hour` (hours since the epoch), `late_checked_until` (ms), `learn_until` (hours; backfilled history before it is learned, not published), `history_pending` (the poll function is still reading it) |
//! | baseline | `B#<identity>` | `baseline` | `doc` (Baseline JSON; over 64 KB deflated, as binary `docz`), `expires_at` = last seen + the longer of baseline days + 7 days and 400 days |
//! | org context | `ORG` | `context` | `doc` (OrgLearned JSON; over 64 KB deflated, as binary `docz`), `expires_at` as a baseline's |
//! | finding | `F#<uid>` | `finding` | `doc` (StoredFinding JSON), `status`, `attempts`, `next_attempt`, `claimed_by`, `claimed_at`, `expires_at` |
//! | pending index | `PENDING` | `<uid>` | `expires_at` |
//! | risk ledger | `R#<principal>` | `ledger` | `doc` (Ledger JSON), `expires_at` = last entry + 8 days |
//! | last delivery | `S#<detection>#<principal>` | `last` | `doc` (StoredFinding JSON), `expires_at` |
//!
//! A finding and its pending index entry are written in one transaction, so a
//! claimed finding can never be missing from the index (and so never lost if the
//! publish after the claim fails); delivering it updates the finding, the
//! last-delivery record and the index together.
//!
//! A delivery is claimed with one conditional `UpdateItem` on the finding's
//! top-level `status`, `next_attempt` and `attempts` attributes (the `doc` is
//! not rewritten); reading a finding lays those attributes over its `doc`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use okta_itdr_core::alert::{Status, StoredFinding};
use okta_itdr_core::detect::alerting::context::{
    LegacyOrgBaseline, OrgLearned, LEGACY_ORG_IDENTITY,
};
use okta_itdr_core::detect::alerting::Ledger;
use okta_itdr_core::detect::baseline::{Baseline, LAST_SEEN_KEPT_DAYS};
use okta_itdr_core::ports::{Claim, Delivery, StateStore, StoreError, StoreErrorKind, Watermark};
use okta_itdr_core::time::{Hour, Millis, DAY};

use crate::sdk::{
    backoff, get_n, get_s, json_problem, key, n, s, store_error, Item, BATCH_ATTEMPTS,
};

/// BatchGetItem takes at most 100 keys, BatchWriteItem 25 requests.
const GET_CHUNK: usize = 100;
const WRITE_CHUNK: usize = 25;
const CONCURRENCY: usize = 4;
/// Baselines outlive their period by a week so a quiet week forgets nothing.
const BASELINE_GRACE_DAYS: i64 = 7;

const WATERMARK_PK: &str = "WATERMARK";
const WATERMARK_SK: &str = "detect";
const BASELINE_SK: &str = "baseline";
const ORG_PK: &str = "ORG";
const ORG_SK: &str = "context";
const LEDGER_SK: &str = "ledger";
/// Documents longer than this are stored deflated (`docz`, binary).
const DEFLATE_OVER: usize = 64 * 1024;

fn deflate(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(text.as_bytes());
    enc.finish().unwrap_or_default()
}

fn inflate(bytes: &[u8]) -> Result<String, std::io::Error> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::DeflateDecoder::new(bytes).read_to_string(&mut text)?;
    Ok(text)
}
/// How long a ledger outlives its last entry: the longest risk window the
/// configuration allows (a week) and a day.
const LEDGER_KEPT: Millis = 8 * DAY;
const FINDING_SK: &str = "finding";
const PENDING_PK: &str = "PENDING";
const LAST_SK: &str = "last";

pub fn baseline_key(identity: &str) -> String {
    format!("B#{identity}")
}

pub fn ledger_key(principal: &str) -> String {
    format!("R#{principal}")
}

pub fn finding_key(uid: &str) -> String {
    format!("F#{uid}")
}

pub fn last_delivered_key(detection: &str, principal: &str) -> String {
    format!("S#{detection}#{principal}")
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Pending => "pending",
        Status::Delivered => "delivered",
        Status::Suppressed => "suppressed",
        Status::Delivering => "delivering",
        Status::Quarantined => "quarantined",
        Status::Contributed => "contributed",
    }
}

fn status_of(text: &str) -> Option<Status> {
    [
        Status::Pending,
        Status::Delivered,
        Status::Suppressed,
        Status::Delivering,
        Status::Quarantined,
    ]
    .into_iter()
    .find(|s| status_text(*s) == text)
}

/// Service error codes that mean DynamoDB refused for load: worth an alarm of
/// their own (capacity), unlike an outage.
const THROTTLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: Client,
    table: String,
    baseline_days: u32,
    retention_days: u32,
}

impl DynamoStateStore {
    /// `baseline_days` sets how long baselines live; `retention_days` how long
    /// findings and their delivery records do.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        baseline_days: u32,
        retention_days: u32,
    ) -> Self {
        DynamoStateStore {
            client,
            table: table.into(),
            baseline_days,
            retention_days,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn err(
        &self,
        operation: &'static str,
        message: impl std::fmt::Display,
        retryable: bool,
    ) -> StoreError {
        crate::sdk::table_error(&self.table, operation, message, retryable)
    }

    fn sdk_err<E>(&self, operation: &'static str, e: &SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let base = store_error(operation, e);
        let throttled = e
            .as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_some_and(|c| THROTTLE_CODES.contains(&c));
        let kind = if throttled {
            StoreErrorKind::Throttled
        } else {
            base.kind
        };
        let message = self.err(operation, base.message, false).message;
        StoreError::of(kind, operation, message)
    }

    fn finding_expiry(&self, f: &StoredFinding) -> i64 {
        (f.last_seen.max(crate::clock::wall_clock()) + i64::from(self.retention_days) * DAY) / 1000
    }

    fn finding_doc(
        &self,
        operation: &'static str,
        f: &StoredFinding,
    ) -> Result<String, StoreError> {
        serde_json::to_string(f).map_err(|e| {
            self.err(
                operation,
                format!("serialising finding {}: {}", f.uid, json_problem(&e)),
                false,
            )
        })
    }

    fn read_finding(
        &self,
        operation: &'static str,
        item: &Item,
    ) -> Result<StoredFinding, StoreError> {
        let doc = get_s(item, "doc")
            .ok_or_else(|| self.err(operation, "a finding item has no doc", false))?;
        let mut f = serde_json::from_str::<StoredFinding>(doc)
            .map_err(|e| {
                self.err(
                    operation,
                    format!("unreadable finding: {}", json_problem(&e)),
                    false,
                )
            })?
            .upgrade_stored();
        // A delivery claim updates these attributes only: they are the truth.
        if let Some(status) = get_s(item, "status").and_then(status_of) {
            f.status = status;
        }
        if let Some(attempts) = get_n(item, "attempts") {
            f.attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
        }
        f.next_attempt = get_n(item, "next_attempt");
        f.claimed_at = get_n(item, "claimed_at").or(f.claimed_at);
        if let Some(by) = get_s(item, "claimed_by") {
            f.claimed_by = Some(by.to_owned());
        }
        Ok(f)
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<Put, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned));
        put.build()
            .map_err(|e| self.err("TransactWriteItems", e, false))
    }

    /// The finding's entry in the pending index, as a transaction item.
    fn pending_entry(&self, f: &StoredFinding) -> Result<TransactWriteItem, StoreError> {
        let mut pending = key(PENDING_PK, f.uid.clone());
        pending.insert("expires_at".into(), n(self.finding_expiry(f)));
        Ok(TransactWriteItem::builder()
            .put(self.put(pending, None)?)
            .build())
    }

    fn finding_item(&self, f: &StoredFinding, doc: &str) -> Item {
        let mut item = key(finding_key(&f.uid), FINDING_SK);
        item.insert("doc".into(), s(doc));
        item.insert("status".into(), s(status_text(f.status)));
        item.insert("attempts".into(), n(i64::from(f.attempts)));
        if let Some(t) = f.next_attempt {
            item.insert("next_attempt".into(), n(t));
        }
        if let Some(by) = &f.claimed_by {
            item.insert("claimed_by".into(), s(by.clone()));
        }
        if let Some(t) = f.claimed_at {
            item.insert("claimed_at".into(), n(t));
        }
        item.insert("expires_at".into(), n(self.finding_expiry(f)));
        item
    }

    pub(crate) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_err("GetItem", &e))?;
        Ok(out.item)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError, HttpResponse>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }

    /// Reads items by key with BatchGetItem (consistent reads), resending
    /// unprocessed keys with backoff.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let chunks: Vec<Vec<Item>> = keys.chunks(GET_CHUNK).map(<[Item]>::to_vec).collect();
        let parts: Vec<Vec<Item>> = futures::stream::iter(chunks)
            .map(|chunk| self.batch_get_chunk(chunk))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut attempt = 0;
        while !keys.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| self.err("BatchGetItem", e, false))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| self.sdk_err("BatchGetItem", &e))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !keys.is_empty() {
                attempt += 1;
                if attempt >= BATCH_ATTEMPTS {
                    return Err(self.err(
                        "BatchGetItem",
                        format!(
                            "{} keys still unprocessed after {attempt} attempts",
                            keys.len()
                        ),
                        true,
                    ));
                }
                backoff(attempt).await;
            }
        }
        Ok(found)
    }

    /// When a baseline or the org's context last seen at `last_seen` expires
    /// (seconds): its last-seen time outlives its values, so a sign-in after
    /// months of dormancy is judged against it.
    fn learned_expiry(&self, last_seen: Millis) -> i64 {
        let kept_days = (i64::from(self.baseline_days) + BASELINE_GRACE_DAYS)
            .max(i64::from(LAST_SEEN_KEPT_DAYS));
        (last_seen + kept_days * DAY) / 1000
    }

    /// Reads the `doc` of the items `<prefix><id>`/`sk`, by id. An unreadable
    /// document is skipped with a warning: relearned beats stopping detection.
    pub(crate) async fn load_docs<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
        sk: &str,
        ids: &[String],
    ) -> Result<HashMap<String, T>, StoreError> {
        // BatchGetItem refuses duplicate keys.
        let mut unique: Vec<&String> = ids.iter().collect();
        unique.sort_unstable();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|id| key(format!("{prefix}{id}"), sk))
            .collect();
        let mut out = HashMap::new();
        for item in self.batch_get(keys).await? {
            let Some(id) = get_s(&item, "pk").and_then(|pk| pk.strip_prefix(prefix)) else {
                continue;
            };
            let text = match item.get("docz") {
                Some(AttributeValue::B(blob)) => match inflate(blob.as_ref()) {
                    Ok(text) => Some(text),
                    Err(e) => {
                        tracing::warn!(table = %self.table, kind = sk, problem = %e, "ignoring an undecodable document");
                        continue;
                    }
                },
                _ => get_s(&item, "doc").map(str::to_owned),
            };
            match text.as_deref().map(serde_json::from_str::<T>) {
                Some(Ok(doc)) => {
                    out.insert(id.to_owned(), doc);
                }
                Some(Err(e)) => {
                    tracing::warn!(table = %self.table, kind = sk, problem = %json_problem(&e), "ignoring an unreadable document")
                }
                None => {
                    tracing::warn!(table = %self.table, kind = sk, "ignoring an item without a doc")
                }
            }
        }
        Ok(out)
    }

    /// Serialises and writes `(pk, sk, value, expires_at)`, one write per key
    /// (BatchWriteItem refuses duplicate keys): the last of a key wins.
    pub(crate) async fn save_docs<'a, T: serde::Serialize + 'a>(
        &self,
        what: &str,
        items: impl Iterator<Item = (String, &'static str, &'a T, i64)>,
    ) -> Result<(), StoreError> {
        let latest: BTreeMap<String, (&str, &T, i64)> = items
            .map(|(pk, sk, value, expires_at)| (pk, (sk, value, expires_at)))
            .collect();
        let mut docs = Vec::with_capacity(latest.len());
        for (pk, (sk, value, expires_at)) in latest {
            let doc = serde_json::to_string(value).map_err(|e| {
                self.err(
                    "BatchWriteItem",
                    format!("serialising {what}: {}", json_problem(&e)),
                    false,
                )
            })?;
            docs.push((pk, sk, doc, expires_at));
        }
        self.write_docs(docs).await
    }

    /// Writes `(pk, sk, doc, expires_at)` items, 25 to a batch, a few batches at once.
    async fn write_docs(&self, docs: Vec<(String, &str, String, i64)>) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(docs.len());
        for (pk, sk, doc, expires_at) in docs {
            let mut item = key(pk, sk);
            // The org's learned context can approach DynamoDB's 400 KB item
            // limit as JSON; deflated it is a fraction of that.
            if doc.len() > DEFLATE_OVER {
                item.insert("docz".into(), AttributeValue::B(Blob::new(deflate(&doc))));
            } else {
                item.insert("doc".into(), s(doc));
            }
            item.insert("expires_at".into(), n(expires_at));
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| self.err("BatchWriteItem", e, false))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        let chunks: Vec<Vec<WriteRequest>> = requests
            .chunks(WRITE_CHUNK)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.batch_write_chunk(chunk))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn batch_write_chunk(&self, mut requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut attempt = 0;
        while !requests.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| self.sdk_err("BatchWriteItem", &e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if !requests.is_empty() {
                attempt += 1;
                if attempt >= BATCH_ATTEMPTS {
                    return Err(self.err(
                        "BatchWriteItem",
                        format!(
                            "{} writes still unprocessed after {attempt} attempts",
                            requests.len()
                        ),
                        true,
                    ));
                }
                backoff(attempt).await;
            }
        }
        Ok(())
    }
}

impl StateStore for DynamoStateStore {
    async fn load_watermark(&self) -> Result<Option<Watermark>, StoreError> {
        let Some(item) = self.get(WATERMARK_PK.into(), WATERMARK_SK).await? else {
            return Ok(None);
        };
        match (
            get_n(&item, "next_hour"),
            get_n(&item, "late_checked_until"),
        ) {
            (Some(h), Some(l)) => Ok(Some(Watermark {
                next_hour: Hour(h),
                late_checked_until: l,
                learn_until: get_n(&item, "learn_until").map(Hour),
                history_pending: matches!(
                    item.get("history_pending"),
                    Some(aws_sdk_dynamodb::types::AttributeValue::Bool(true))
                ),
            })),
            _ => Err(self.err(
                "GetItem",
                "the watermark item lacks next_hour or late_checked_until",
                false,
            )),
        }
    }

    async fn save_watermark(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(key(WATERMARK_PK, WATERMARK_SK)))
            .item("next_hour", n(next.next_hour.0))
            .item("late_checked_until", n(next.late_checked_until));
        if let Some(until) = next.learn_until {
            put = put.item("learn_until", n(until.0));
        }
        if next.history_pending {
            put = put.item(
                "history_pending",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            );
        }
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put
                .condition_expression("next_hour = :h AND late_checked_until = :l")
                .expression_attribute_values(":h", n(old.next_hour.0))
                .expression_attribute_values(":l", n(old.late_checked_until)),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                let was = expected
                    .map(|w| format!("next hour {}", w.next_hour.label()))
                    .unwrap_or_else(|| "no watermark".into());
                let message = self
                    .err(
                        "PutItem",
                        format!("another detector run moved the watermark (expected {was})"),
                        false,
                    )
                    .message;
                Err(StoreError::of(StoreErrorKind::Conflict, "PutItem", message))
            }
            Err(e) => Err(self.sdk_err("PutItem", &e)),
        }
    }

    async fn load_baselines(
        &self,
        identities: &[String],
    ) -> Result<HashMap<String, Baseline>, StoreError> {
        self.load_docs("B#", BASELINE_SK, identities).await
    }

    async fn save_baselines(&self, baselines: &[Baseline]) -> Result<(), StoreError> {
        let docs = baselines.iter().map(|b| {
            (
                baseline_key(&b.identity),
                BASELINE_SK,
                b,
                self.learned_expiry(b.last_seen),
            )
        });
        self.save_docs("a baseline", docs).await
    }

    async fn load_org_context(&self) -> Result<Option<OrgLearned>, StoreError> {
        let org = self
            .load_docs::<OrgLearned>("", ORG_SK, &[ORG_PK.to_owned()])
            .await?
            .remove(ORG_PK);
        if org.is_some() {
            return Ok(org);
        }
        // Until its first save, a deployment's context is where the earlier
        // version kept it: the baseline of a made-up identity.
        Ok(self
            .load_docs::<LegacyOrgBaseline>("B#", BASELINE_SK, &[LEGACY_ORG_IDENTITY.to_owned()])
            .await?
            .remove(LEGACY_ORG_IDENTITY)
            .map(OrgLearned::from))
    }

    async fn save_org_context(&self, org: &OrgLearned) -> Result<(), StoreError> {
        let doc = (
            ORG_PK.to_owned(),
            ORG_SK,
            org,
            self.learned_expiry(org.last_seen),
        );
        self.save_docs("the org's context", std::iter::once(doc))
            .await
    }

    async fn load_ledgers(
        &self,
        principals: &[String],
    ) -> Result<HashMap<String, Ledger>, StoreError> {
        self.load_docs("R#", LEDGER_SK, principals).await
    }

    async fn save_ledgers(&self, ledgers: &[Ledger]) -> Result<(), StoreError> {
        let docs = ledgers.iter().map(|l| {
            // An emptied ledger expires on its own within a week and a day.
            let last = l.entries.iter().map(|e| e.last_seen).max().unwrap_or(0);
            (
                ledger_key(&l.principal),
                LEDGER_SK,
                l,
                (last + LEDGER_KEPT) / 1000,
            )
        });
        self.save_docs("a risk ledger", docs).await
    }

    async fn claim_finding(&self, finding: &StoredFinding) -> Result<Claim, StoreError> {
        let doc = self.finding_doc("TransactWriteItems", finding)?;
        let claim = self.put(
            self.finding_item(finding, &doc),
            Some("attribute_not_exists(pk)"),
        )?;
        let mut items = vec![TransactWriteItem::builder().put(claim).build()];
        if finding.status == Status::Pending {
            items.push(self.pending_entry(finding)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(Claim::New),
            Err(e) => {
                let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    e.as_service_error()
                else {
                    return Err(self.sdk_err("TransactWriteItems", &e));
                };
                // Cancelled: most likely the finding exists. Read it to be sure.
                if let Some(item) = self.get(finding_key(&finding.uid), FINDING_SK).await? {
                    return Ok(Claim::Existing(self.read_finding("GetItem", &item)?));
                }
                let reasons: Vec<&str> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .filter_map(|r| r.code())
                    .collect();
                Err(self.err(
                    "TransactWriteItems",
                    format!(
                        "claim of finding {} cancelled ({})",
                        finding.uid,
                        reasons.join(", ")
                    ),
                    true,
                ))
            }
        }
    }

    async fn update_finding(&self, finding: &StoredFinding) -> Result<(), StoreError> {
        let doc = self.finding_doc("TransactWriteItems", finding)?;
        let mut items = vec![TransactWriteItem::builder()
            .put(self.put(self.finding_item(finding, &doc), None)?)
            .build()];
        if matches!(finding.status, Status::Delivered | Status::Delivering) {
            let mut last = key(
                last_delivered_key(&finding.detection, &finding.principal),
                LAST_SK,
            );
            last.insert("doc".into(), s(doc));
            last.insert("expires_at".into(), n(self.finding_expiry(finding)));
            items.push(
                TransactWriteItem::builder()
                    .put(self.put(last, None)?)
                    .build(),
            );
        }
        if finding.status == Status::Pending {
            // A finding promoted from contributor to pending (late events
            // pushed its principal over the threshold) joins the index here.
            items.push(self.pending_entry(finding)?);
        } else if !finding.status.awaits_delivery() {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(PENDING_PK, finding.uid.clone())))
                .build()
                .map_err(|e| self.err("TransactWriteItems", e, false))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.transact(items)
            .await
            .map_err(|e| self.sdk_err("TransactWriteItems", &e))
    }

    async fn pending_findings(&self) -> Result<Vec<StoredFinding>, StoreError> {
        let mut uids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(PENDING_PK))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.sdk_err("Query", &e))?;
            uids.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|i| get_s(i, "sk").map(str::to_owned)),
            );
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let keys = uids
            .iter()
            .map(|uid| key(finding_key(uid), FINDING_SK))
            .collect();
        let mut findings = Vec::with_capacity(uids.len());
        for item in self.batch_get(keys).await? {
            match self.read_finding("BatchGetItem", &item) {
                Ok(f) if f.status.awaits_delivery() => findings.push(f),
                Ok(_) => {}
                // One unreadable finding must not stop every later run.
                Err(e) => tracing::warn!(
                    pk = get_s(&item, "pk").unwrap_or("?"),
                    error = %e,
                    "skipping an unreadable pending finding"
                ),
            }
        }
        findings.sort_by(|a, b| (a.first_seen, &a.uid).cmp(&(b.first_seen, &b.uid)));
        Ok(findings)
    }

    async fn claim_delivery(
        &self,
        finding: &StoredFinding,
        run: &str,
        now: Millis,
    ) -> Result<Delivery, StoreError> {
        let op = "TransactWriteItems";
        let mut claimed = finding.clone();
        claimed.status = Status::Delivering;
        claimed.attempts = finding.attempts.saturating_add(1);
        claimed.next_attempt = None;
        claimed.claimed_by = Some(run.to_owned());
        claimed.claimed_at = Some(now);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(finding_key(&finding.uid), FINDING_SK)))
            .condition_expression(
                "#status = :pending \
                 AND (attribute_not_exists(attempts) OR attempts = :seen) \
                 AND (attribute_not_exists(next_attempt) OR next_attempt <= :now)",
            )
            .update_expression(
                "SET #status = :delivering, attempts = :attempts, claimed_by = :run, claimed_at = :now \
                 REMOVE next_attempt",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(status_text(Status::Pending)))
            .expression_attribute_values(":delivering", s(status_text(Status::Delivering)))
            .expression_attribute_values(":seen", n(i64::from(finding.attempts)))
            .expression_attribute_values(":attempts", n(i64::from(claimed.attempts)))
            .expression_attribute_values(":run", s(run))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(|e| self.err(op, e, false))?;
        // The claim is the delivery as far as suppression knows: a repeat found
        // after a lost confirmation folds into it instead of paging again.
        let mut last = key(
            last_delivered_key(&claimed.detection, &claimed.principal),
            LAST_SK,
        );
        last.insert("doc".into(), s(self.finding_doc(op, &claimed)?));
        last.insert("expires_at".into(), n(self.finding_expiry(&claimed)));
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder()
                .put(self.put(last, None)?)
                .build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Delivery::Claimed {
                attempts: claimed.attempts,
            }),
            Err(e) => {
                let lost = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .first()
                        .and_then(|r| r.code())
                        .is_some_and(|code| code == "ConditionalCheckFailed"),
                    _ => false,
                };
                if !lost {
                    return Err(self.sdk_err(op, &e));
                }
                // The SDK retries a transaction whose response timed out; when
                // the first attempt did land, the retry fails its condition on
                // this very claim. DynamoDB's idempotency token covers that;
                // reading the claim back covers a store that ignores it.
                let mine = match self.get(finding_key(&finding.uid), FINDING_SK).await? {
                    Some(item) => {
                        let now_stored = self.read_finding("GetItem", &item)?;
                        now_stored.status == Status::Delivering
                            && now_stored.claimed_by.as_deref() == Some(run)
                            && now_stored.claimed_at == Some(now)
                            && now_stored.attempts == claimed.attempts
                    }
                    None => false,
                };
                Ok(if mine {
                    Delivery::Claimed {
                        attempts: claimed.attempts,
                    }
                } else {
                    Delivery::Refused
                })
            }
        }
    }

    async fn last_delivered(
        &self,
        detection: &str,
        principal: &str,
    ) -> Result<Option<StoredFinding>, StoreError> {
        match self
            .get(last_delivered_key(detection, principal), LAST_SK)
            .await?
        {
            Some(item) => Ok(Some(self.read_finding("GetItem", &item)?)),
            None => Ok(None),
        }
    }
}
