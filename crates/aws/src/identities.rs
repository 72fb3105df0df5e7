//! [`IdentityStore`] on the DynamoDB state table, beside the detector's state.
//!
//! | item | pk | sk | other attributes |
//! | --- | --- | --- | --- |
//! | identity | `I#<Okta user id>` | `identity` | `doc` (Identity JSON: login, names, email, type, status, created, last sign-in, up to 50 groups and their count, admin role types, factor types, phishing-resistant, device count), `expires_at` |
//! | inventory meta | `INVENTORY` | `meta` | `doc` (when the refresh read the org, how many users, which parts were unreadable) |
//! | posture checks | `POSTURE` | `checks` | `doc` (each check's last published verdict and subject digest) |
//!
//! An identity is a few hundred bytes, far from the 400 KB item limit an
//! inventory of thousands of users would break as one item; the detector
//! reads the few it needs by key (BatchGetItem), never by scan.

use std::collections::{BTreeMap, HashMap};

use okta_itdr_core::ports::{IdentityStore, StoreError};
use okta_itdr_core::posture::identity::{Identity, InventoryMeta};
use okta_itdr_core::posture::publish::CheckState;
use okta_itdr_core::time::DAY;

use crate::sdk::{get_s, json_problem};
use crate::state::DynamoStateStore;

pub const IDENTITY_PREFIX: &str = "I#";
pub const IDENTITY_SK: &str = "identity";
pub const INVENTORY_PK: &str = "INVENTORY";
pub const INVENTORY_SK: &str = "meta";
pub const POSTURE_PK: &str = "POSTURE";
pub const POSTURE_SK: &str = "checks";
/// The meta and check states outlive any refresh schedule.
const KEPT_SECONDS: i64 = 400 * DAY / 1000;

impl DynamoStateStore {
    async fn load_one<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(item) = self.get(pk.to_owned(), sk).await? else {
            return Ok(None);
        };
        match get_s(&item, "doc").map(serde_json::from_str::<T>) {
            Some(Ok(doc)) => Ok(Some(doc)),
            Some(Err(e)) => {
                // Unreadable state is started afresh, never fatal.
                tracing::warn!(table = %self.table(), kind = sk, problem = %json_problem(&e), "ignoring an unreadable document");
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

impl IdentityStore for DynamoStateStore {
    async fn load_identities(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Identity>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.load_docs(IDENTITY_PREFIX, IDENTITY_SK, ids).await
    }

    async fn save_identities(
        &self,
        identities: &[Identity],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.save_docs(
            "identities",
            identities.iter().map(|i| {
                (
                    format!("{IDENTITY_PREFIX}{}", i.id),
                    IDENTITY_SK,
                    i,
                    expires_at,
                )
            }),
        )
        .await
    }

    async fn load_inventory_meta(&self) -> Result<Option<InventoryMeta>, StoreError> {
        self.load_one(INVENTORY_PK, INVENTORY_SK).await
    }

    async fn save_inventory_meta(&self, meta: &InventoryMeta) -> Result<(), StoreError> {
        let expires_at = meta.fetched_at / 1000 + KEPT_SECONDS;
        self.save_docs(
            "inventory meta",
            std::iter::once((INVENTORY_PK.to_owned(), INVENTORY_SK, meta, expires_at)),
        )
        .await
    }

    async fn load_check_states(&self) -> Result<BTreeMap<String, CheckState>, StoreError> {
        Ok(self
            .load_one(POSTURE_PK, POSTURE_SK)
            .await?
            .unwrap_or_default())
    }

    async fn save_check_states(
        &self,
        states: &BTreeMap<String, CheckState>,
    ) -> Result<(), StoreError> {
        let latest = states.values().map(|s| s.since).max().unwrap_or_default();
        let expires_at = latest / 1000 + KEPT_SECONDS;
        self.save_docs(
            "posture check states",
            std::iter::once((POSTURE_PK.to_owned(), POSTURE_SK, states, expires_at)),
        )
        .await
    }
}
