//! One scheduled detector run: republish what earlier runs failed to deliver,
//! analyse every complete hour since the watermark (bounded per run), re-check
//! hours that received late events, deduplicate, publish, advance the watermark.
//!
//! The run's clock is a parameter, so a run is deterministic and replayable: the
//! Lambda passes the scheduled event's time, the CLI a simulated schedule.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::alerting::{self, Verdict};
use super::{analyze, history_requests, Analysis, Baseline, DetectConfig, Finding, CONTEXT};
use crate::alert::{Renderer, Status, StoredFinding};
use crate::ports::{ActivityStore, AlertSink, Claim, Scope, StateStore, StoreError, Watermark};
use crate::record::{ActivityRecord, Text};
use crate::time::{Hour, Millis, HOUR, MINUTE};

/// Late markers are re-read this far back, so a marker written while the previous
/// run was reading is not missed. Re-checking an hour twice is harmless.
const LATE_MARGIN: Millis = 5 * MINUTE;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RunReport {
    /// Hours analysed for the first time, in order.
    pub hours: Vec<String>,
    /// Already analysed hours re-checked because late events arrived for them.
    pub late_hours: Vec<String>,
    /// Activity records in the analysed hours.
    pub records: usize,
    pub findings: usize,
    pub published: usize,
    pub suppressed: usize,
    /// Findings kept without paging: contributors to risk or to a published alert.
    pub contributed: usize,
    /// Findings an earlier run already handled (same uid).
    pub already_known: usize,
    /// Pending findings of earlier runs delivered now.
    pub retried: usize,
    pub next_hour: String,
    pub caught_up: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("detector storage: {0}")]
    Store(#[from] StoreError),
    #[error("{failed} alert(s) could not be published (first error: {first}); they stay pending and the watermark did not move")]
    Publish { failed: usize, first: String },
}

pub struct Detector<A, S, K> {
    activity: A,
    state: S,
    sink: K,
    config: DetectConfig,
    renderer: Renderer,
}

/// The activity loaded for the hour being analysed and its context.
#[derive(Default)]
struct Window {
    records: Vec<ActivityRecord>,
    loaded: BTreeSet<Hour>,
}

/// What the analysis of `hour` needs of hour `h`. Context older than an hour
/// before the analysed hour is only needed by the longest lookback (a credential
/// attack before a success), which reads failures. Dropping the rest keeps a
/// busy org's run within a modest Lambda's memory.
fn context_scope(h: Hour, hour: Hour) -> Scope {
    if h.start() >= hour.start() - HOUR {
        Scope::All
    } else {
        Scope::Failures
    }
}

/// Per-run bookkeeping for publishing.
#[derive(Default)]
struct Tally {
    report: RunReport,
    failed: usize,
    first_error: Option<String>,
}

impl<A: ActivityStore, S: StateStore, K: AlertSink> Detector<A, S, K> {
    pub fn new(activity: A, state: S, sink: K, config: DetectConfig) -> Self {
        let renderer = Renderer {
            max_evidence: config.max_evidence,
            ..Renderer::default()
        };
        Detector {
            activity,
            state,
            sink,
            config,
            renderer,
        }
    }

    pub fn config(&self) -> &DetectConfig {
        &self.config
    }

    pub fn state(&self) -> &S {
        &self.state
    }

    pub async fn run(&self, now: Millis) -> Result<RunReport, RunError> {
        let current = Hour::of(now);
        let stored = self.state.load_watermark().await?;
        let wm = stored.unwrap_or(Watermark {
            next_hour: Hour(current.0 - i64::from(self.config.first_run_hours)),
            late_checked_until: now,
        });
        let mut tally = Tally::default();

        for pending in self.state.pending_findings().await? {
            if self.deliver(pending, &mut tally).await? {
                tally.report.retried += 1;
            }
        }

        let last = Hour((wm.next_hour.0 + i64::from(self.config.max_hours_per_run)).min(current.0));
        let fresh: Vec<Hour> = (wm.next_hour.0..last.0).map(Hour).collect();
        let horizon = Hour(current.0 - i64::from(self.config.late_horizon_hours));
        let late: BTreeSet<Hour> = if stored.is_some() {
            self.activity
                .late_hours(wm.late_checked_until - LATE_MARGIN, now)
                .await?
                .into_iter()
                .filter(|h| *h < wm.next_hour && *h >= horizon)
                .collect()
        } else {
            BTreeSet::new()
        };

        let mut hours: Vec<(Hour, bool)> = late.iter().map(|h| (*h, true)).collect();
        hours.extend(fresh.iter().map(|h| (*h, false)));
        hours.sort();
        let mut window = Window::default();
        for (hour, is_late) in hours {
            self.analyse_hour(hour, &mut window, &mut tally).await?;
            let label = hour.label();
            if is_late {
                tally.report.late_hours.push(label);
            } else {
                tally.report.hours.push(label);
            }
        }

        if tally.failed > 0 {
            return Err(RunError::Publish {
                failed: tally.failed,
                first: tally.first_error.unwrap_or_default(),
            });
        }
        let next = Watermark {
            next_hour: last.max(wm.next_hour),
            late_checked_until: now,
        };
        self.state.save_watermark(&next, stored.as_ref()).await?;
        tally.report.next_hour = next.next_hour.label();
        tally.report.caught_up = next.next_hour >= current;
        Ok(tally.report)
    }

    async fn analyse_hour(
        &self,
        hour: Hour,
        window: &mut Window,
        tally: &mut Tally,
    ) -> Result<(), RunError> {
        let first = Hour::of(hour.start() - CONTEXT);
        // Keep only the context this hour needs; the next hour reuses it.
        window.records.retain(|r| {
            r.published >= first.start()
                && r.published < hour.end()
                && context_scope(Hour::of(r.published), hour).keeps(r)
        });
        window.loaded.retain(|h| *h >= first && *h <= hour);
        for h in (first.0..=hour.0).map(Hour) {
            if window.loaded.insert(h) {
                let scope = context_scope(h, hour);
                self.activity
                    .read_hour(h, scope, &mut window.records)
                    .await?;
            }
        }
        // In place: a stable sort would borrow half the window again. Equal keys
        // are copies of one event, which the dedup drops.
        window
            .records
            .sort_unstable_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
        window.records.dedup_by(|a, b| a.uuid == b.uuid);
        let records = &window.records;
        let in_hour: Vec<&ActivityRecord> = records
            .iter()
            .filter(|r| Hour::of(r.published) == hour)
            .collect();
        tally.report.records += in_hour.len();

        let mut identities: Vec<String> = in_hour.iter().map(|r| r.identity.to_string()).collect();
        identities.push(alerting::context::ORG.to_owned());
        identities.sort_unstable();
        identities.dedup();
        let mut baselines = self.state.load_baselines(&identities).await?;

        let mut histories: HashMap<String, Vec<ActivityRecord>> = HashMap::new();
        for req in history_requests(&self.config, hour, records) {
            let mut timeline = self
                .activity
                .identity_activity(&req.identity, req.from, req.to)
                .await?;
            let entry = histories.entry(req.identity).or_default();
            entry.append(&mut timeline);
            entry.sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
            entry.dedup_by(|a, b| a.uuid == b.uuid && a.role == b.role);
        }

        let analysis = Analysis {
            hour,
            records,
            baselines: &baselines,
            histories: &histories,
            config: &self.config,
        };
        let findings = analyze(&analysis);
        tally.report.findings += findings.len();
        for d in alerting::decide(&analysis, findings) {
            match d.verdict {
                Verdict::Publish => self.handle(&d.finding, tally).await?,
                Verdict::Grouped { into } => self.keep(&d.finding, Some(into), tally).await?,
                Verdict::Contributes { .. } => self.keep(&d.finding, None, tally).await?,
            }
        }

        // Baselines learn the hour only after its findings are claimed: a crash in
        // between re-analyses against the old baseline.
        // Ordered, so baselines are saved in the same order on every run.
        let mut changed: BTreeSet<Text> = BTreeSet::new();
        for r in &in_hour {
            if !Baseline::learns_from(r) {
                continue;
            }
            let b = match baselines.get_mut(r.identity.as_str()) {
                Some(b) => b,
                None => baselines
                    .entry(r.identity.to_string())
                    .or_insert_with(|| Baseline::new(&r.identity, r.published)),
            };
            if b.observe(r) || b.first_seen == r.published {
                changed.insert(r.identity.clone());
            }
        }
        if alerting::learn_org(&mut baselines, &in_hour, hour, &self.config) {
            changed.insert(Text::from(alerting::context::ORG));
        }
        // The hour's baselines are not needed after this: move, do not copy.
        let mut changed: Vec<Baseline> = changed
            .iter()
            .filter_map(|id| baselines.remove(id.as_str()))
            .collect();
        for b in &mut changed {
            b.prune(hour.end(), self.config.baseline_days);
        }
        if !changed.is_empty() {
            self.state.save_baselines(&changed).await?;
        }
        Ok(())
    }

    /// Keeps a finding that pages no one: claimed like any other, so a re-run
    /// of the hour finds it known, then marked as a contributor.
    async fn keep(
        &self,
        f: &Finding,
        into: Option<String>,
        tally: &mut Tally,
    ) -> Result<(), RunError> {
        let mut stored = StoredFinding::pending(f, self.renderer.render(f));
        match self.state.claim_finding(&stored).await? {
            Claim::Existing(_) => tally.report.already_known += 1,
            Claim::New => {
                stored.status = Status::Contributed;
                stored.suppressed_by = into;
                self.state.update_finding(&stored).await?;
                tally.report.contributed += 1;
            }
        }
        Ok(())
    }

    /// Dedup, suppression, publish.
    async fn handle(&self, f: &Finding, tally: &mut Tally) -> Result<(), RunError> {
        let alert = self.renderer.render(f);
        let mut stored = StoredFinding::pending(f, alert);
        match self.state.claim_finding(&stored).await? {
            Claim::Existing(existing) if existing.status == Status::Pending => {
                if self.deliver(existing, tally).await? {
                    tally.report.retried += 1;
                }
            }
            Claim::Existing(_) => tally.report.already_known += 1,
            Claim::New => {
                let period = i64::from(self.config.suppression_hours) * HOUR;
                let previous = self
                    .state
                    .last_delivered(&f.detection, &f.principal.identity)
                    .await?;
                match previous {
                    // A repeat folds into the delivered alert; an escalation (push
                    // bombing that ends in an approval) is news and is sent.
                    Some(mut last)
                        if f.first_seen <= last.last_seen + period
                            && f.last_seen >= last.first_seen - period
                            && f.severity <= last.alert.severity =>
                    {
                        stored.status = Status::Suppressed;
                        stored.suppressed_by = Some(last.uid.clone());
                        self.state.update_finding(&stored).await?;
                        last.repeats += 1;
                        last.last_seen = last.last_seen.max(f.last_seen);
                        self.state.update_finding(&last).await?;
                        tally.report.suppressed += 1;
                    }
                    _ => {
                        if self.deliver(stored, tally).await? {
                            tally.report.published += 1;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Publishes a pending finding; on success records it as delivered. A publish
    /// failure is counted, not raised, so the rest of the run still happens.
    async fn deliver(
        &self,
        mut stored: StoredFinding,
        tally: &mut Tally,
    ) -> Result<bool, RunError> {
        match self.sink.publish(&stored.alert).await {
            Ok(()) => {
                stored.status = Status::Delivered;
                self.state.update_finding(&stored).await?;
                Ok(true)
            }
            Err(e) => {
                tally.failed += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
                Ok(false)
            }
        }
    }
}
