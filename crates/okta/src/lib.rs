//! The Okta System Log API as a [`LogSource`](okta_itdr_core::source::LogSource):
//! bounded `GET /api/v1/logs` queries that follow only the opaque `Link: rel="next"`
//! URL, a 30 s query timeout, retries with backoff on 5xx and timeouts, a
//! configurable share of the org's rate limit, and OAuth 2.0 `private_key_jwt`
//! (scope `okta.logs.read`) or SSWS API-token authentication. Also the org's
//! identity inventory from the Management API, read-only, for the posture checks.

mod auth;
mod client;
mod credentials;
mod inventory;
mod link;
mod org;
mod rate;
mod secret;

pub use client::{ClientConfig, ClientStats, OktaClient};
pub use credentials::{Credentials, CredentialsError};
pub use inventory::{InventoryOptions, INVENTORY_SCOPES};
pub use org::{OrgUrl, OrgUrlError};
pub use secret::Secret;
