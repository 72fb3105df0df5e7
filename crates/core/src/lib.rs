//! okta-itdr core: the Okta System Log model, normalisation into per-identity
//! activity records, the detection engine and the alert model.
//!
//! Nothing here performs I/O. Storage and alert delivery are ports ([`ports`])
//! implemented by the AWS adapter and by the in-memory store the CLI uses.

pub mod alert;
pub mod detect;
pub mod event;
pub mod ingest;
pub mod memory;
pub mod mitre;
pub mod normalize;
pub mod ports;
pub mod record;
pub mod replay;
pub mod sigma;
pub mod time;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
