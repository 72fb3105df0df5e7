//! Test support for okta-itdr, for tests and benchmarks only (no function
//! links it): the realistic-org generator, a deployment on the in-memory store,
//! and, re-exported from the core, the event builders.

pub mod deployment;
pub mod realistic_org;
pub mod rules;

pub use deployment::Deployment;
pub use okta_itdr_core::testkit::*;
