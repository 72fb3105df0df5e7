//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Identity threat detection for Okta, run locally over System Log exports.
#[derive(Debug, Parser)]
#[command(name = "okta-itdr", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay exported Okta events through ingest and the hourly detections,
    /// exactly as the deployed functions would process them, and print the alerts.
    #[command(
        after_help = "Exit status: 0 done, 1 error (a path or the configuration), 2 usage, 3 records were skipped under --strict."
    )]
    Replay(ReplayArgs),
    /// List the detections: id, severity, MITRE ATT&CK techniques, thresholds.
    Detections(DetectionsArgs),
    /// Inspect or redrive the deployed final dead-letter queue (events recovery
    /// gave up on). Uses the AWS credentials and region of the environment.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List what waits in the final queue: uuid, event type, why, since when.
    /// Event content is never printed.
    List(DlqListArgs),
    /// Send the final queue's events back to the recovery queue, to be stored
    /// again (do it once the reason they failed is fixed).
    Redrive(DlqRedriveArgs),
}

#[derive(Debug, Args)]
pub struct DlqListArgs {
    /// The final dead-letter queue (stack output FinalDeadLetterQueueUrl).
    #[arg(long, value_name = "URL")]
    pub queue_url: String,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub max: usize,
    /// Output format [default: table when stdout is a terminal, else json].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Args)]
pub struct DlqRedriveArgs {
    /// The final dead-letter queue (stack output FinalDeadLetterQueueUrl).
    #[arg(long, value_name = "URL")]
    pub queue_url: String,
    /// The recovery queue (stack output RecoveryQueueUrl).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// At most this many.
    #[arg(long, default_value_t = 10_000)]
    pub max: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document per line.
    Json,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Output format [default: table when stdout is a terminal, else json].
    ///
    /// json prints one OCSF Detection Finding per line on stdout, byte for byte the
    /// message the deployed system publishes; the summary goes to stderr.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Exit with status 3 when any input was skipped (invalid JSON, not an Okta event).
    #[arg(long)]
    pub strict: bool,

    /// Detector configuration: the JSON the detect function reads from DETECTIONS_CONFIG.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// After replaying, print this identity's activity timeline: an Okta user id, a
    /// login (case-insensitive), or an identity key such as `unknown:<hash>`.
    /// With --format json the timeline records replace the findings on stdout.
    #[arg(long, value_name = "IDENTITY")]
    pub timeline: Option<String>,

    /// Environment variable holding the key that hashes unknown usernames (at least
    /// 16 bytes). When it is not set, a random key is used for this run only.
    #[arg(long, value_name = "VAR", default_value = "OKTA_ITDR_HASH_KEY")]
    pub hash_key_env: String,

    /// How far back in event time an out-of-order event is still put in its place.
    #[arg(long, value_name = "HOURS", default_value_t = 6)]
    pub reorder_window_hours: u32,

    /// Files or directories (read recursively) of EventBridge events, Okta LogEvent
    /// arrays (GET /api/v1/logs), single LogEvents or JSON Lines of either; gzip is
    /// recognised by content. In directories only *.json, *.jsonl, *.ndjson and
    /// their .gz are read. All files are replayed together, in event-time order.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DetectionsArgs {
    /// Output format [default: table when stdout is a terminal, else json].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Detector configuration whose thresholds and disabled list are applied.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl Format {
    /// The explicit choice, else table for a terminal and json for a pipe or file.
    pub fn resolve(explicit: Option<Format>, stdout_is_terminal: bool) -> Format {
        explicit.unwrap_or(if stdout_is_terminal {
            Format::Table
        } else {
            Format::Json
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn replay_defaults() {
        let cli = Cli::try_parse_from(["okta-itdr", "replay", "a.json", "dir"]).unwrap();
        let Command::Replay(r) = cli.command else {
            panic!("not replay")
        };
        assert_eq!(r.paths, vec![PathBuf::from("a.json"), PathBuf::from("dir")]);
        assert_eq!(r.hash_key_env, "OKTA_ITDR_HASH_KEY");
        assert_eq!(r.reorder_window_hours, 6);
        assert!(!r.strict && r.format.is_none() && r.timeline.is_none());
        assert!(Cli::try_parse_from(["okta-itdr", "replay"]).is_err());
    }

    #[test]
    fn format_follows_the_terminal_unless_given() {
        assert_eq!(Format::resolve(None, true), Format::Table);
        assert_eq!(Format::resolve(None, false), Format::Json);
        assert_eq!(Format::resolve(Some(Format::Table), false), Format::Table);
    }
}
