//! okta-itdr on AWS: the DynamoDB activity and state stores, the SNS alert sink,
//! the Lambda handlers and the functions' configuration.
//!
//! - [`activity::DynamoActivityStore`] implements [`okta_itdr_core::ports::ActivityStore`]
//! - [`state::DynamoStateStore`] implements [`okta_itdr_core::ports::StateStore`]
//! - [`state::DynamoStateStore`] implements [`okta_itdr_core::ports::IdentityStore`] ([`identities`])
//! - [`sns::SnsAlertSink`] implements [`okta_itdr_core::ports::AlertSink`]
//! - [`dead_letters::SqsDeadLetters`] implements [`okta_itdr_core::ports::DeadLetters`]
//! - [`rules`] reads the custom Sigma rules from their S3 prefix
//! - [`handlers`] holds the ingest and detect handlers the binaries run;
//!   [`fast_path`] is the ingest function's immediate publishing.

pub mod activity;
pub mod clock;
pub mod config;
pub mod dead_letters;
pub mod enrich;
pub mod fast_path;
pub mod handlers;
pub mod identities;
pub mod logging;
pub mod metrics;
pub mod poll;
pub mod recovery;
pub mod rules;
pub mod runtime;
pub mod sdk;
pub mod secrets;
pub mod sns;
pub mod state;

pub use activity::DynamoActivityStore;
pub use config::{ConfigError, DetectSettings, IngestSettings};
pub use handlers::{DetectHandler, HandlerError, IngestHandler, IngestResponse};
pub use sns::SnsAlertSink;
pub use state::DynamoStateStore;
