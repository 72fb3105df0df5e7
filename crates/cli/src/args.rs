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
    /// Fetch an org's System Log for a time window from the Okta API into JSON
    /// Lines that `replay` reads. Run again with the same -o to resume.
    #[command(
        after_help = "Credentials: OKTA_API_TOKEN (SSWS), or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY_FILE and OKTA_KEY_ID (an OAuth service app with okta.logs.read), or --credentials FILE holding {\"apiToken\": …} or {\"clientId\", \"privateKeyPem\", \"keyId\"}.\nExit status: 0 done, 1 an error (credentials, scope, org URL, rate limit, output)."
    )]
    Fetch(FetchArgs),
    /// Learn an org's history from the Okta API (baselines, the org's networks
    /// and proxies) without alerting, into a state file `replay --state`
    /// starts from, as a new deployment learns before its first run.
    #[command(
        after_help = "Credentials: as for fetch.\nExit status: 0 learned, 1 an error (credentials, org URL, rate limit, --days, the state file)."
    )]
    Learn(LearnArgs),
    /// List the detections: id, severity, MITRE ATT&CK techniques, thresholds.
    Detections(DetectionsArgs),
    /// Custom Sigma rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Inspect or redrive the deployed final dead-letter queue (events recovery
    /// gave up on). Uses the AWS credentials and region of the environment.
    #[cfg(feature = "dlq")]
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Read the org's identities and security settings from the Okta Management
    /// API (read-only) and run the identity posture checks.
    #[command(
        after_help = "Credentials: as for fetch; a service app needs the okta.*.read scopes listed in the README (a part whose scope is missing is reported unknown).\nExit status: 0 the checks ran (whatever their verdicts), 1 an error (credentials, org URL, rate limit, configuration)."
    )]
    Posture(PostureArgs),
    /// Without the `dlq` feature: says how to get it, rather than that there is
    /// no such command.
    #[cfg(not(feature = "dlq"))]
    #[command(hide = true)]
    Dlq {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct PostureArgs {
    /// The org's URL, e.g. https://acme.okta.com (https only).
    #[arg(long, value_name = "URL")]
    pub okta: String,

    /// Output format [default: table when stdout is a terminal, else json]. json
    /// prints one OCSF Compliance Finding per check per line.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Thresholds as JSON, e.g. {"max_super_admins": 3, "mfa_grace_days": 7}.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub okta_options: OktaArgs,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate every rule of a directory (*.yml, *.yaml) and, given events,
    /// print which rules fire on which of them.
    #[command(
        after_help = "Exit status: 0 every rule is valid, 1 a rule is invalid (each printed as FILE: reason) or a path cannot be read."
    )]
    Check(RulesCheckArgs),
}

#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Directory of Sigma rules with `logsource: product: okta`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Event files or directories, in any form `replay` reads.
    #[arg(value_name = "EVENTS")]
    pub events: Vec<PathBuf>,
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

    /// Also list every finding that was kept without paging: those that only added
    /// risk to their principal, those listed in another alert, repeats folded into
    /// an alert. With --format json they follow the alerts on stdout, one
    /// `{"status", "part_of", "finding"}` document per line.
    #[arg(long)]
    pub all_findings: bool,

    /// Environment variable holding the key that hashes unknown usernames (at least
    /// 16 bytes). When it is not set, a random key is used for this run only.
    #[arg(long, value_name = "VAR", default_value = "OKTA_ITDR_HASH_KEY")]
    pub hash_key_env: String,

    /// Directory of custom Sigma rules (`logsource: product: okta`) evaluated on
    /// every event, as the ingest function does with CustomRulesUri.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,

    /// How far back in event time an out-of-order event is still put in its place.
    #[arg(long, value_name = "HOURS", default_value_t = 6)]
    pub reorder_window_hours: u32,

    /// Read the events from this Okta org's System Log API instead of files,
    /// streaming (with --since, and --until or now).
    #[arg(long, value_name = "URL", requires = "since", conflicts_with = "paths")]
    pub okta: Option<String>,

    /// With --okta: the start, as RFC 3339, a date or an age (7d, 12h).
    #[arg(long, value_name = "TIME", requires = "okta")]
    pub since: Option<String>,

    /// With --okta: the end [default: now].
    #[arg(long, value_name = "TIME", requires = "okta")]
    pub until: Option<String>,

    /// With --okta: do not read the org's identity inventory (users, admin roles,
    /// factors, devices) to enrich the alerts' principal.
    #[arg(long, requires = "okta")]
    pub no_enrich: bool,

    /// With --okta: first read this many days before --since and learn them
    /// (baselines, the org's networks and proxies) without alerting, as a new
    /// deployment does before its first run. 0 learns nothing; at most 90
    /// (Okta keeps the System Log for 90 days).
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_LEARN_DAYS, requires = "okta")]
    pub learn_days: u32,

    /// Start from what `okta-itdr learn` saved: the baselines and the org's
    /// context learned from the history before the replayed events.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// With files: the hours before this time are history to learn, not to
    /// alert on (RFC 3339, a date or an age, as --since; the hour it falls in
    /// is published).
    #[arg(long, value_name = "TIME", conflicts_with = "okta")]
    pub learn_until: Option<String>,

    #[command(flatten)]
    pub okta_options: OktaArgs,

    /// Files or directories (read recursively) of EventBridge events, Okta LogEvent
    /// arrays (GET /api/v1/logs), single LogEvents or JSON Lines of either; gzip is
    /// recognised by content. In directories only *.json, *.jsonl, *.ndjson and
    /// their .gz are read. All files are replayed together, in event-time order.
    #[arg(required_unless_present = "okta", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Days of history `replay --okta` learns before its window by default.
pub const DEFAULT_LEARN_DAYS: u32 = 30;
/// Okta's System Log retention: no history older than this can be read.
pub const MAX_LEARN_DAYS: u32 = 90;

/// How the Okta API is reached, for `fetch` and `replay --okta`.
#[derive(Debug, Args)]
pub struct OktaArgs {
    /// A JSON file with the credentials, as in the deployment's secret. Without
    /// it, OKTA_API_TOKEN or OKTA_CLIENT_ID + OKTA_PRIVATE_KEY_FILE (+ OKTA_KEY_ID).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,

    /// The share of the org's System Log rate limit to use; the org's admins and
    /// integrations share the same limit.
    #[arg(long, value_name = "SHARE", default_value_t = 0.5)]
    pub rate_share: f64,

    /// Events per request (Okta's maximum is 1000).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub page_size: u32,

    /// Give up when the rate limit would keep us waiting longer than this.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub max_rate_wait: u64,
}

impl Default for OktaArgs {
    /// The command line's defaults.
    fn default() -> Self {
        OktaArgs {
            credentials: None,
            rate_share: 0.5,
            page_size: 1000,
            max_rate_wait: 300,
        }
    }
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The org's URL, e.g. https://acme.okta.com (https only).
    #[arg(long, value_name = "URL")]
    pub org: String,

    /// The start: RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or an age (7d).
    #[arg(long, value_name = "TIME")]
    pub since: String,

    /// The end [default: now].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// The output file (JSON Lines; gzip when it ends .gz) [default: stdout]. An
    /// existing file is resumed: its events are kept and not fetched twice.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub okta: OktaArgs,
}

#[derive(Debug, Args)]
pub struct LearnArgs {
    /// The org's URL, e.g. https://acme.okta.com (https only).
    #[arg(long, value_name = "URL")]
    pub okta: String,

    /// Days of history to learn, ending at --until (at most 90: Okta keeps
    /// the System Log for 90 days).
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_LEARN_DAYS)]
    pub days: u32,

    /// The end of the history [default: now].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Where to save what was learned (JSON), for `replay --state`.
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,

    /// Detector configuration: the JSON the detect function reads from DETECTIONS_CONFIG.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Environment variable holding the key that hashes unknown usernames, as
    /// for replay.
    #[arg(long, value_name = "VAR", default_value = "OKTA_ITDR_HASH_KEY")]
    pub hash_key_env: String,

    #[command(flatten)]
    pub okta_options: OktaArgs,
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
    fn okta_defaults_match_the_command_line() {
        let cli = Cli::try_parse_from([
            "okta-itdr",
            "fetch",
            "--org",
            "https://a.okta.com",
            "--since",
            "7d",
        ])
        .unwrap();
        let Command::Fetch(f) = cli.command else {
            panic!("not fetch")
        };
        let d = OktaArgs::default();
        assert_eq!(
            (f.okta.rate_share, f.okta.page_size, f.okta.max_rate_wait),
            (d.rate_share, d.page_size, d.max_rate_wait)
        );
        assert!(Cli::try_parse_from([
            "okta-itdr",
            "replay",
            "--okta",
            "https://a.okta.com",
            "--since",
            "7d"
        ])
        .is_ok());
    }

    #[test]
    fn replay_from_okta_learns_thirty_days_first_unless_told() {
        let base = ["okta-itdr", "replay", "--okta", "https://a.okta.com"];
        let parse = |extra: &[&str]| {
            let mut a: Vec<&str> = base.to_vec();
            a.extend(["--since", "1d"]);
            a.extend(extra);
            match Cli::try_parse_from(a).map(|c| c.command) {
                Ok(Command::Replay(r)) => Ok(r.learn_days),
                Ok(_) => panic!("not replay"),
                Err(e) => Err(e),
            }
        };
        assert_eq!(parse(&[]).unwrap(), DEFAULT_LEARN_DAYS);
        assert_eq!(parse(&["--learn-days", "0"]).unwrap(), 0);
        // Days of history are read from the API; files say when with --learn-until.
        assert!(
            Cli::try_parse_from(["okta-itdr", "replay", "--learn-days", "5", "a.json"]).is_err()
        );
        assert!(Cli::try_parse_from([
            "okta-itdr",
            "replay",
            "--learn-until",
            "2026-11-01",
            "a.json"
        ])
        .is_ok());
    }

    #[cfg(feature = "dlq")]
    #[test]
    fn dlq_is_a_command_with_the_feature() {
        let cli =
            Cli::try_parse_from(["okta-itdr", "dlq", "list", "--queue-url", "https://q"]).unwrap();
        assert!(
            matches!(cli.command, Command::Dlq(DlqCommand::List(l)) if l.queue_url == "https://q")
        );
    }

    #[cfg(not(feature = "dlq"))]
    #[test]
    fn dlq_without_the_feature_says_how_to_build_it() {
        let cli =
            Cli::try_parse_from(["okta-itdr", "dlq", "list", "--queue-url", "https://q"]).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let io = crate::replay_cmd::Io {
            out: &mut out,
            err: &mut err,
            stdout_terminal: false,
            stderr_terminal: false,
        };
        let e = crate::run(cli, io).unwrap_err();
        assert!(e.to_string().contains("--features dlq"), "{e}");
        assert_eq!(e.exit_code(), crate::error::EXIT_ERROR);
    }

    #[test]
    fn format_follows_the_terminal_unless_given() {
        assert_eq!(Format::resolve(None, true), Format::Table);
        assert_eq!(Format::resolve(None, false), Format::Json);
        assert_eq!(Format::resolve(Some(Format::Table), false), Format::Table);
    }
}
