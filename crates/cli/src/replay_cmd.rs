//! `okta-itdr replay`: exported events → ingest → hourly detector, in event-time
//! order, on the in-process store, with the alerts printed as they are published.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use okta_itdr_core::alert::{Alert, Status};
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::event::LogEvent;
use okta_itdr_core::memory::MemoryStore;
use okta_itdr_core::normalize::{Normalizer, UsernameHasher};
use okta_itdr_core::ports::IdentityStore;
use okta_itdr_core::replay::{Replay, ReplayError};
use okta_itdr_core::sigma::{is_rule_file, RuleError, RuleSet};
use okta_itdr_core::time::{format_rfc3339_ms, Hour, Millis, DAY, HOUR};

use crate::args::{Format, LearnArgs, OktaArgs, ReplayArgs, MAX_LEARN_DAYS};
use crate::error::CliError;
use crate::input::{discover, Discovered};
use crate::merge::{Item, Merge, Skipped};
use crate::output::{self, Summary};
use crate::reorder::Reorder;
use crate::state_file::LearnedState;

/// Skipped records listed on stderr at most; all are counted.
const MAX_REPORTED: u64 = 1000;
/// Inputs smaller than this finish too fast for a progress bar.
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// Where a command writes, and whether those are terminals.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub stdout_terminal: bool,
    pub stderr_terminal: bool,
}

/// Reorder buffer in front of the replay: events in, alerts out.
pub struct Pipeline {
    replay: Replay,
    reorder: Reorder,
}

impl Pipeline {
    pub fn new(replay: Replay, window: Millis) -> Self {
        Pipeline {
            replay,
            reorder: Reorder::new(window),
        }
    }

    /// Takes one event; ingests whatever left the reorder window, appending the
    /// alerts of the scheduled runs that became due.
    pub async fn push(
        &mut self,
        event: Box<LogEvent>,
        alerts: &mut Vec<Alert>,
    ) -> Result<(), ReplayError> {
        self.reorder.push(event);
        while let Some(ready) = self.reorder.pop_ready() {
            alerts.extend(self.replay.push(&ready).await?);
        }
        Ok(())
    }

    /// Ingests what is still held and runs the schedule past the last event.
    pub async fn finish(&mut self, alerts: &mut Vec<Alert>) -> Result<(), ReplayError> {
        while let Some(ready) = self.reorder.pop() {
            alerts.extend(self.replay.push(&ready).await?);
        }
        alerts.extend(self.replay.finish().await?);
        Ok(())
    }

    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    pub fn reorder(&self) -> &Reorder {
        &self.reorder
    }
}

/// The custom rules of a directory's `*.yml` and `*.yaml` files (not its
/// subdirectories, as a deployment reads only its prefix's own objects);
/// every invalid or unreadable rule is reported.
pub fn load_rules(dir: &Path) -> Result<RuleSet, CliError> {
    let refuse = |reason: String| {
        CliError::Rules(vec![RuleError {
            file: dir.display().to_string(),
            reason,
        }])
    };
    let entries = std::fs::read_dir(dir).map_err(|e| refuse(e.to_string()))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_rule_file)
        })
        .collect();
    paths.sort();
    let mut texts = Vec::new();
    let mut errors = Vec::new();
    for p in &paths {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        match std::fs::read_to_string(p) {
            Ok(t) => texts.push((name, t)),
            Err(e) => errors.push(RuleError {
                file: name,
                reason: e.to_string(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(CliError::Rules(errors));
    }
    RuleSet::parse(texts.iter().map(|(n, t)| (n.as_str(), t.as_str()))).map_err(CliError::Rules)
}

pub fn load_config(path: Option<&Path>) -> Result<DetectConfig, CliError> {
    let Some(path) = path else {
        return Ok(DetectConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadConfig {
        path: path.to_owned(),
        source,
    })?;
    DetectConfig::from_json(&text).map_err(|source| CliError::Config {
        path: path.to_owned(),
        source,
    })
}

/// The hasher for unknown usernames: the key in `var`, else one made for this run
/// (hashes then only agree within the run, which is all a replay needs).
pub fn hasher_from_env(var: &str) -> Result<(UsernameHasher, bool), CliError> {
    match std::env::var_os(var) {
        Some(key) if !key.is_empty() => {
            let hasher = UsernameHasher::new(key.as_encoded_bytes()).map_err(|source| {
                CliError::HashKey {
                    var: var.to_owned(),
                    source,
                }
            })?;
            Ok((hasher, false))
        }
        _ => Ok((
            UsernameHasher::new(&random_key()).expect("32 bytes is a valid key"),
            true,
        )),
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .is_ok()
    {
        return key;
    }
    // No /dev/urandom: the standard library's per-process random hash keys, the
    // clock and the process id.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    for (i, chunk) in key.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    key
}

/// Items handed from the reading thread to the replaying one at a time.
const READ_AHEAD_BATCH: usize = 256;
/// Batches in flight: bounds what is read ahead.
const READ_AHEAD_BATCHES: usize = 16;

/// Runs `source` (reading, decompressing, parsing) on its own thread while
/// `consume` replays what it yields, a bounded number of items behind. When
/// `consume` returns early, the reading thread stops at its next batch.
pub fn with_read_ahead<T: Send, R>(
    source: impl Iterator<Item = T> + Send,
    consume: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
) -> R {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(READ_AHEAD_BATCHES);
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(READ_AHEAD_BATCH);
            for item in source {
                batch.push(item);
                if batch.len() == READ_AHEAD_BATCH
                    && tx
                        .send(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(READ_AHEAD_BATCH),
                        ))
                        .is_err()
                {
                    return;
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });
        let mut items = rx.into_iter().flatten();
        consume(&mut items)
    })
}

fn progress_bar(total: u64, stderr_terminal: bool) -> ProgressBar {
    if !stderr_terminal || total < PROGRESS_MIN_BYTES {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
    ) {
        pb.set_style(style);
    }
    pb
}

/// `okta-itdr learn`: a replay of the history from the API in which every
/// hour is learned and none published, then its baselines saved.
pub fn learn(args: &LearnArgs, io: Io<'_>) -> Result<Summary, CliError> {
    if args.days == 0 || args.days > MAX_LEARN_DAYS {
        return Err(CliError::Time(format!(
            "--days {} must be from 1 to {MAX_LEARN_DAYS}: Okta keeps the System Log for {MAX_LEARN_DAYS} days",
            args.days
        )));
    }
    let now = crate::fetch_source::now_ms();
    let until = match &args.until {
        Some(t) => crate::fetch_source::parse_time(t, now)?,
        None => now,
    };
    let since = until - i64::from(args.days) * DAY;
    let replay = ReplayArgs {
        format: Some(Format::Json),
        strict: false,
        config: args.config.clone(),
        timeline: None,
        all_findings: false,
        hash_key_env: args.hash_key_env.clone(),
        rules: None,
        reorder_window_hours: 6,
        okta: Some(args.okta.clone()),
        since: Some(format_rfc3339_ms(since)),
        until: Some(format_rfc3339_ms(until)),
        no_enrich: true,
        learn_days: 0,
        state: None,
        // Every hour of the window is history.
        learn_until: Some(format_rfc3339_ms(Hour::of(until).next().start())),
        okta_options: OktaArgs {
            credentials: args.okta_options.credentials.clone(),
            ..args.okta_options
        },
        paths: Vec::new(),
    };
    run_saving(&replay, io, Some((&args.state, until)))
}

pub fn run(args: &ReplayArgs, io: Io<'_>) -> Result<Summary, CliError> {
    run_saving(args, io, None)
}

/// A replay; with `save`, what it learned is saved to that file as history
/// ending at that time.
fn run_saving(
    args: &ReplayArgs,
    io: Io<'_>,
    save: Option<(&Path, Millis)>,
) -> Result<Summary, CliError> {
    let mut config = load_config(args.config.as_deref())?;
    if let Some(dir) = &args.rules {
        let rules = load_rules(dir)?;
        config.correlations = rules.correlations();
        crate::input::use_rules(Arc::new(rules));
    }
    let (hasher, _) = hasher_from_env(&args.hash_key_env)?;
    let learned = match &args.state {
        Some(path) => Some(LearnedState::read(path)?),
        None => None,
    };
    if args.okta.is_none() && (args.since.is_some() || args.until.is_some()) {
        return Err(CliError::Time(
            "--since and --until go with --okta; a replay of files reads all their events"
                .to_owned(),
        ));
    }
    if args.learn_days > MAX_LEARN_DAYS {
        return Err(CliError::Time(format!(
            "--learn-days {} is beyond Okta's System Log retention: at most {MAX_LEARN_DAYS}",
            args.learn_days
        )));
    }
    let now = crate::fetch_source::now_ms();
    let mut inventory = None;
    let mut learn_until = match &args.learn_until {
        Some(t) => Some(crate::fetch_source::parse_time(t, now)?),
        None => None,
    };
    let okta = match &args.okta {
        Some(org) => {
            let since = args.since.as_deref().unwrap_or_default();
            let (since, until) = crate::fetch_source::window(since, args.until.as_deref(), now)?;
            // Baselines that know what follows would judge it by itself.
            if let Some(state) = learned.as_ref().filter(|s| since < s.until()) {
                return Err(CliError::State(format!(
                    "the state learned the history up to {}: replay from there on (--since)",
                    state.learned_until
                )));
            }
            // History older than Okta keeps cannot be read: learn what there is.
            let from = (since - i64::from(args.learn_days) * DAY)
                .max(now - i64::from(MAX_LEARN_DAYS) * DAY)
                .min(since);
            if from < since {
                learn_until = Some(since);
            }
            let client = Arc::new(crate::fetch_source::client(org, &args.okta_options)?);
            if !args.no_enrich {
                inventory = crate::posture_cmd::inventory_for_enrichment(&client, io.err)?;
            }
            Some(crate::fetch_source::OktaItems::new(client, from, until)?)
        }
        None => None,
    };
    let found = match okta {
        Some(_) => Discovered::default(),
        None => discover(&args.paths)?,
    };
    let format = Format::resolve(args.format, io.stdout_terminal);

    let store = match &args.timeline {
        Some(wanted) => {
            let wanted = wanted.clone();
            MemoryStore::keeping(move |r| output::timeline_matches(r, &wanted))
        }
        None => MemoryStore::new(),
    };
    let store = match learned {
        Some(state) => store.with_learned(state.baselines, state.org),
        None => store,
    };
    let mut replay = Replay::new(Normalizer::new(hasher), config, store);
    if let Some(t) = learn_until {
        replay = replay.learning_until(t);
    }
    let mut pipeline = Pipeline::new(replay, i64::from(args.reorder_window_hours) * HOUR);
    let counter = Arc::new(AtomicU64::new(0));
    let pb = progress_bar(found.bytes, io.stderr_terminal);
    let (source, okta_error): (Box<dyn Iterator<Item = Item> + Send>, _) = match okta {
        Some(items) => {
            let error = items.error.clone();
            (Box::new(items), Some(error))
        }
        None => (
            Box::new(Merge::new(found.files.clone(), Some(counter.clone()))),
            None,
        ),
    };

    let mut summary = Summary {
        files: found.files.len(),
        ignored_files: found.ignored,
        reorder_window_hours: args.reorder_window_hours,
        ..Summary::default()
    };
    // Findings go to stdout as they are published, unless stdout carries the timeline.
    let stream_json = format == Format::Json && args.timeline.is_none();
    let mut table_alerts: Vec<Alert> = Vec::new();
    let out = io.out;
    let err = io.err;

    // The inventory is kept as the deployed inventory function stores it, and
    // alerts are enriched by the same code as the detect function's.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let identities = match &inventory {
        Some(inv) => {
            let (_, users) = okta_itdr_core::posture::identity::identities(inv);
            let store = MemoryStore::new();
            runtime
                .block_on(store.save_identities(&users, 0))
                .map_err(|e| CliError::State(e.to_string()))?;
            Some(store)
        }
        None => None,
    };
    let result: Result<(), CliError> = with_read_ahead(source, |items| {
        runtime.block_on(async {
            let mut batch = Vec::new();
            let mut emit = |batch: &mut Vec<Alert>,
                            summary: &mut Summary,
                            out: &mut dyn Write|
             -> Result<(), CliError> {
                for alert in batch.drain(..) {
                    *summary.alerts.entry(alert.severity).or_default() += 1;
                    if stream_json {
                        out.write_all(alert.body.as_bytes())?;
                        out.write_all(b"\n")?;
                    } else if format == Format::Table {
                        table_alerts.push(alert);
                    }
                }
                // Findings are few: let a reader of the stream see them as they come.
                if stream_json {
                    out.flush()?;
                }
                Ok(())
            };
            // Every item, then the end of the input (`None`): what the
            // pipeline still holds is published then.
            for item in items.into_iter().map(Some).chain([None]) {
                let end = item.is_none();
                match item {
                    Some(item) => {
                        summary.records += 1;
                        match item {
                            Item::Event(event) => pipeline.push(event, &mut batch).await?,
                            Item::Skipped(s) => report_skip(&s, &mut summary, &pb, err)?,
                        }
                    }
                    None => pipeline.finish(&mut batch).await?,
                }
                if end || !batch.is_empty() {
                    enrich_batch(
                        &mut batch,
                        identities.as_ref(),
                        pipeline.replay().store(),
                        now,
                    )
                    .await?;
                    emit(&mut batch, &mut summary, out)?;
                }
                if !end && summary.records.is_multiple_of(1024) {
                    pb.set_position(counter.load(Ordering::Relaxed));
                    pb.set_message(format!("{} events", pipeline.replay().stats().events));
                }
            }
            Ok(())
        })
    });
    pb.finish_and_clear();
    result?;
    // A source that failed mid-way must not look like a complete replay.
    if let Some(error) = okta_error.and_then(|e| e.lock().ok().and_then(|mut e| e.take())) {
        return Err(error.into());
    }

    summary.replay = pipeline.replay().stats().clone();
    summary.sent = table_alerts
        .iter()
        .filter_map(|a| Some((a.time, pipeline.replay().sending(&a.uid)?)))
        .collect();
    if let Some((path, until)) = save {
        LearnedState::new(until, pipeline.replay().store().learned_snapshot()).write(path)?;
    }
    summary.behind_window = pipeline.reorder().behind();
    let timeline = args
        .timeline
        .as_ref()
        .map(|_| output::dedup_timeline(pipeline.replay().timeline()));
    let findings = pipeline.replay().store().findings();
    summary.kept = findings
        .iter()
        .filter(|f| f.status != Status::Delivered)
        .count();

    match format {
        Format::Table => {
            let replay = pipeline.replay();
            output::alerts_table(&table_alerts, &|uid| replay.sending(uid), out)?;
            if args.all_findings {
                writeln!(out)?;
                writeln!(out, "All findings")?;
                output::findings_table(&findings, out)?;
            }
            if let Some(records) = &timeline {
                writeln!(out)?;
                if let (Some(store), Some(first)) = (&identities, records.first()) {
                    let found = runtime
                        .block_on(store.load_identities(&[first.identity.to_string()]))
                        .map_err(|e| CliError::State(e.to_string()))?;
                    if let Some(mut identity) = found.get(first.identity.as_str()).cloned() {
                        let overlay =
                            okta_itdr_core::posture::identity::apply_events(&mut identity, records);
                        output::identity_block(&identity, &overlay.applied, out)?;
                        writeln!(out)?;
                    }
                }
                output::timeline_table(records, out)?;
                if let Some(first) = records.first() {
                    let own: Vec<_> = findings
                        .iter()
                        .filter(|f| f.principal == first.identity.as_str())
                        .cloned()
                        .collect();
                    writeln!(out)?;
                    writeln!(
                        out,
                        "Findings about {}",
                        output::clean(first.identity_label())
                    )?;
                    output::findings_table(&own, out)?;
                }
            }
            writeln!(out)?;
            output::summary(&summary, out)?;
        }
        Format::Json => {
            if let Some(records) = &timeline {
                output::timeline_json(records, out)?;
            } else if args.all_findings {
                output::findings_json(&findings, out)?;
            }
            output::summary(&summary, err)?;
        }
    }
    out.flush()?;
    if args.strict && summary.skipped_total() > 0 {
        return Err(CliError::Strict(summary.skipped_total()));
    }
    Ok(summary)
}

fn report_skip(
    s: &Skipped,
    summary: &mut Summary,
    pb: &ProgressBar,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let count = summary.skipped.entry(s.reason.code()).or_default();
    *count += 1;
    let total = summary.skipped.values().sum::<u64>();
    if total <= MAX_REPORTED {
        pb.suspend(|| writeln!(err, "{}:{}: {}", s.file, s.line, s.reason))?;
    } else if total == MAX_REPORTED + 1 {
        pb.suspend(|| {
            writeln!(
                err,
                "okta-itdr: further skipped records are counted in the summary but not listed"
            )
        })?;
    }
    Ok(())
}

/// Enriches a batch of alerts with their principals' identities, brought up
/// to date with the events replayed after the inventory was read.
async fn enrich_batch(
    batch: &mut [Alert],
    identities: Option<&MemoryStore>,
    activity: &MemoryStore,
    now: Millis,
) -> Result<(), CliError> {
    let Some(identities) = identities else {
        return Ok(());
    };
    for alert in batch {
        okta_itdr_core::posture::enrich::enrich(alert, identities, activity, now)
            .await
            .map_err(|e| CliError::State(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_hash_key_is_refused_without_echoing_it() {
        let var = "OKTA_ITDR_TEST_SHORT_KEY";
        std::env::set_var(var, "tooshort");
        let err = hasher_from_env(var).unwrap_err();
        std::env::remove_var(var);
        let text = err.to_string();
        assert!(text.contains(var) && !text.contains("tooshort"), "{text}");
        assert!(hasher_from_env("OKTA_ITDR_TEST_UNSET_KEY").unwrap().1);
    }

    #[test]
    fn read_ahead_hands_over_everything_in_order_and_stops_early() {
        let all: Vec<u32> = with_read_ahead(0..10_000u32, |items| items.collect());
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
        let produced = std::sync::atomic::AtomicUsize::new(0);
        let source = (0..1_000_000u32).inspect(|_| {
            produced.fetch_add(1, Ordering::Relaxed);
        });
        let first: Vec<u32> = with_read_ahead(source, |items| items.take(3).collect());
        assert_eq!(first, vec![0, 1, 2]);
        assert!(
            produced.load(Ordering::Relaxed) < 100_000,
            "the reader stopped"
        );
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(random_key(), random_key());
    }
}
