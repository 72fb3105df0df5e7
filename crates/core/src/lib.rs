//! okta-itdr core: the Okta System Log model, normalisation into per-identity
//! activity records, the detection engine and the alert model.
//!
//! Nothing here performs I/O. Storage, alert delivery and the System Log source
//! are ports ([`ports`], [`source`]) implemented by the AWS and Okta adapters and
//! by the in-memory store the CLI uses.

pub mod alert;
pub mod backoff;
pub mod detect;
pub mod event;
pub mod ingest;
pub mod memory;
pub mod mitre;
pub mod normalize;
pub mod poll;
pub mod ports;
pub mod posture;
pub mod record;
pub mod replay;
pub mod sigma;
pub mod source;
pub mod time;

#[cfg(test)]
mod test_support;
