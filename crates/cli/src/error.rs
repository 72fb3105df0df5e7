//! The errors the commands end with, and their exit statuses.

use std::io;
use std::path::PathBuf;

use okta_itdr_core::detect::config::ConfigError;
use okta_itdr_core::normalize::WeakKey;
use okta_itdr_core::replay::ReplayError;
use okta_itdr_core::sigma::RuleError;

use crate::input::InputError;

/// Exit statuses: 0 success, 1 an error, 2 a usage error (from the argument
/// parser), 3 inputs were skipped under `--strict`.
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_STRICT: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{}: {source}", path.display())]
    ReadConfig { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    Config { path: PathBuf, source: ConfigError },
    #[error("environment variable {var}: {source}")]
    HashKey { var: String, source: WeakKey },
    #[error("replay failed: {0}")]
    Replay(#[from] ReplayError),
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
    /// The Okta API, its credentials or its org URL; one line, never a secret.
    #[error("okta: {0}")]
    Okta(String),
    #[error("{0}")]
    Time(String),
    /// The state file of `learn` / `replay --state`.
    #[error("state: {0}")]
    State(String),
    #[error("{0} input record(s) skipped (--strict)")]
    Strict(u64),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<RuleError>),
    /// A command left out of this build (a cargo feature of the same name).
    #[error("this okta-itdr was built without `{0}`: build it with `cargo build --release -p okta-itdr --features {0}`")]
    NotBuilt(&'static str),
    #[error("dead-letter queue: {0}")]
    DeadLetters(#[from] okta_itdr_core::ports::StoreError),
}

impl From<okta_itdr_core::source::SourceError> for CliError {
    fn from(e: okta_itdr_core::source::SourceError) -> Self {
        CliError::Okta(e.to_string())
    }
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Strict(_) => EXIT_STRICT,
            _ => EXIT_ERROR,
        }
    }

    /// The reader of our output went away (`| head`): stop quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}
