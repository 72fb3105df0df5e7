//! Test support for okta-itdr, for tests and benchmarks only (no function
//! links it): the realistic-org generator, a deployment on the in-memory store,
//! and the event builders.

pub mod deployment;
pub mod events;
pub mod realistic_org;
pub mod rules;

pub use deployment::Deployment;
pub use events::*;
