//! `okta-itdr`: replay Okta System Log exports through the same ingest and
//! detection code the deployed functions run, on an in-process store.

pub mod args;
#[cfg(feature = "dlq")]
pub mod dlq;
pub mod error;
pub mod fetch;
pub mod fetch_file;
pub mod fetch_source;
pub mod input;
pub mod merge;
pub mod output;
pub mod posture_cmd;
pub mod reorder;
pub mod replay_cmd;
pub mod rules_cmd;
pub mod state_file;

use args::{Cli, Command, DetectionsArgs, Format, RulesCommand};
use error::CliError;
use replay_cmd::Io;

/// Runs a parsed command line.
pub fn run(cli: Cli, io: Io<'_>) -> Result<(), CliError> {
    match cli.command {
        Command::Replay(args) => replay_cmd::run(&args, io).map(|_| ()),
        Command::Fetch(args) => fetch::run(&args, io).map(|_| ()),
        Command::Learn(args) => replay_cmd::learn(&args, io).map(|_| ()),
        Command::Detections(args) => detections(&args, io),
        Command::Rules(RulesCommand::Check(args)) => rules_cmd::check(&args, io),
        #[cfg(feature = "dlq")]
        Command::Dlq(command) => dlq::run(&command, io),
        Command::Posture(args) => posture_cmd::run(&args, io).map(|_| ()),
        #[cfg(not(feature = "dlq"))]
        Command::Dlq { .. } => Err(CliError::NotBuilt("dlq")),
    }
}

/// `okta-itdr detections`: the catalog with the effective configuration.
pub fn detections(args: &DetectionsArgs, io: Io<'_>) -> Result<(), CliError> {
    let config = replay_cmd::load_config(args.config.as_deref())?;
    match Format::resolve(args.format, io.stdout_terminal) {
        Format::Table => output::detections_table(&config, io.out)?,
        Format::Json => output::detections_json(&config, io.out)?,
    }
    io.out.flush()?;
    Ok(())
}
