//! The end-to-end tests, one module per area, in one test binary.
//!
//! Cargo makes every file directly under `tests/tests/` a test binary, and each
//! of these links the AWS SDK, the Lambda runtime and the Okta client. As
//! modules of one binary they are linked once, and the function binaries they
//! run are built (by a nested cargo) once per test run rather than per file.
//! Run one area with a filter: `cargo test -p okta-itdr-e2e --test e2e faults::`.

mod alarm_drills;
mod cli_matches_lambda;
mod custom_rules;
mod detect_drills;
mod detect_e2e;
mod dlq_cli;
mod drills;
mod fast_path;
mod faults;
mod ingest;
mod inventory_fn;
mod lambda_runtime;
mod learn_cli;
mod log_levels;
mod okta_client;
mod okta_fetch_cli;
mod poll_binary;
mod poll_e2e;
mod posture_cli;
mod recovery;
mod rotation;
mod sns_sink;
mod state_store;
mod template;
