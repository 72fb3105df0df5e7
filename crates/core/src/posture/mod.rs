//! Identity security posture: the org's inventory as read from the Okta
//! Management API ([`model`]), the checks run on it ([`checks`]) and their OCSF
//! Compliance Findings ([`ocsf`]). Pure: the Okta adapter fills the inventory.

pub mod checks;
pub mod config;
pub mod enrich;
pub mod identity;
pub mod model;
pub mod ocsf;
pub mod publish;

pub use checks::{evaluate, CheckMeta, CheckResult, Subject, Verdict, CHECKS};
pub use config::PostureConfig;
pub use model::{Inventory, Part};

#[cfg(test)]
mod inventory_tests;
#[cfg(test)]
mod tests;
