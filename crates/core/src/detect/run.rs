//! One scheduled detector run: republish what earlier runs failed to deliver,
//! analyse every complete hour since the watermark (bounded per run), re-check
//! hours that received late events, deduplicate, publish, advance the watermark.
//!
//! The run's clock is a parameter, so a run is deterministic and replayable: the
//! Lambda passes the scheduled event's time, the CLI a simulated schedule.
//!
//! Progress under faults:
//! - the watermark is saved after every analysed hour, so a run that stops
//!   (deadline, crash) keeps what it finished;
//! - a run starts no new hour when its [`Budget`] says the invocation deadline
//!   is near, and returns success with the rest left to the next run;
//! - a publish that fails never fails the run or holds the watermark: the
//!   finding stays pending, is retried by later runs with a doubling delay, and
//!   after `max_delivery_attempts` is quarantined;
//! - delivery is claimed with a conditional write before publishing
//!   ([`StateStore::claim_delivery`]), so of two overlapping runs one publishes.
//!   The claim is the durable fact: a claimed delivery whose confirmation never
//!   landed is quarantined after its lease, never sent again (at most once).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::alerting::{self, Verdict};
use super::delivery::{Handled, Outlet, Tally};
use super::{
    analyze, history_requests, Analysis, Baseline, DetectConfig, Finding, Severity, CONTEXT,
};
use crate::alert::{Status, StoredFinding};
use crate::ports::{
    ActivityStore, AlertSink, Scope, StateStore, StoreError, StoreErrorKind, Watermark,
};
use crate::record::{ActivityRecord, Text};
use crate::time::{Hour, Millis, HOUR, MINUTE};

/// Late markers are re-read this far back, so a marker written while the previous
/// run was reading is not missed. Re-checking an hour twice is harmless.
const LATE_MARGIN: Millis = 5 * MINUTE;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RunReport {
    /// Hours analysed for the first time, in order.
    pub hours: Vec<String>,
    /// Backfilled hours learned (baselines, org context) without publishing.
    pub learned: Vec<String>,
    /// Already analysed hours re-checked because late events arrived for them.
    pub late_hours: Vec<String>,
    /// Hours that received late events but lie beyond the late horizon: never
    /// analysed, reported so the operator hears of it.
    pub late_beyond_horizon: Vec<String>,
    /// Activity records in the analysed hours.
    pub records: usize,
    pub findings: usize,
    pub published: usize,
    pub suppressed: usize,
    /// Findings kept without paging because they are listed in the published
    /// alert of their incident (grouped).
    pub grouped: usize,
    /// Findings kept without paging that are listed in no alert: they only
    /// added risk to their principal.
    pub risk_only: usize,
    /// Findings an earlier run already handled (same uid).
    pub already_known: usize,
    /// Pending findings of earlier runs delivered now.
    pub retried: usize,
    pub next_hour: String,
    pub caught_up: bool,
    /// Complete hours not yet analysed after this run (the watermark's lag).
    pub lag_hours: i64,
    /// Publish attempts that failed in this run.
    pub failed: usize,
    /// Findings left waiting for a later attempt at the end of this run.
    pub pending: usize,
    /// Findings quarantined by this run (uids): given up on, for an operator.
    pub quarantined: Vec<String>,
    /// The run stopped starting hours because its deadline was near.
    pub stopped_early: bool,
    /// Another run moved the watermark first; this one stopped and left the
    /// rest to it.
    pub superseded: bool,
    /// The history to learn first is still being read from the System Log
    /// API: this run did nothing.
    pub waiting_for_history: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("detector storage: {0}")]
    Store(#[from] StoreError),
}

/// How long a run may keep starting hours. The Lambda handler turns the
/// invocation deadline into one; the CLI and tests run unbounded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    stop_at: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Budget { stop_at: None }
    }

    /// No hour is started that would, at the pace of the slowest hour so far,
    /// end after `stop_at` (the deadline less what finishing a run takes).
    pub fn until(stop_at: Instant) -> Self {
        Budget {
            stop_at: Some(stop_at),
        }
    }

    /// Whether an hour expected to take `estimate` may start now. The first
    /// hour of a run always may while any time is left, so every run makes
    /// progress.
    pub fn allows(&self, estimate: Duration) -> bool {
        match self.stop_at {
            None => true,
            Some(stop) => Instant::now() + estimate < stop,
        }
    }
}

/// Who is running and for how long.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Names the run in delivery claims (the Lambda request id).
    pub id: String,
    pub budget: Budget,
}

impl RunContext {
    pub fn unlimited(id: impl Into<String>) -> Self {
        RunContext {
            id: id.into(),
            budget: Budget::unlimited(),
        }
    }
}

pub struct Detector<A, S, K> {
    activity: A,
    out: Outlet<S, K>,
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

/// Events of an hour that teach nothing, by uuid.
struct Taught<'a> {
    /// Evidence of the hour's findings: not the org's context.
    org_skips: &'a HashSet<String>,
    /// Evidence of attacks in backfilled history: no baseline at all.
    user_skips: &'a HashSet<String>,
}

impl<A: ActivityStore, S: StateStore, K: AlertSink> Detector<A, S, K> {
    pub fn new(activity: A, state: S, sink: K, config: DetectConfig) -> Self {
        Detector {
            activity,
            out: Outlet::new(state, sink, config),
        }
    }

    /// Enriches every paging alert before it is claimed and published.
    pub fn with_enricher(
        mut self,
        enricher: std::sync::Arc<dyn super::delivery::Enricher>,
    ) -> Self {
        self.out.enricher = Some(enricher);
        self
    }

    pub fn config(&self) -> &DetectConfig {
        &self.out.config
    }

    pub fn state(&self) -> &S {
        &self.out.state
    }

    /// A run without a deadline (the CLI, tests).
    pub async fn run(&self, now: Millis) -> Result<RunReport, RunError> {
        self.run_with(now, &RunContext::unlimited(format!("run@{now}")))
            .await
    }

    pub async fn run_with(&self, now: Millis, ctx: &RunContext) -> Result<RunReport, RunError> {
        let current = Hour::of(now);
        let stored = self.out.state.load_watermark().await?;
        // A deployment learns before it alerts: while its history is being
        // read, an hour analysed now would page on what the history explains.
        if let Some(wm) = stored.filter(|w| w.history_pending) {
            // The lag is what waits to be published, not the history: it
            // grows (and its alarm fires) only if reading the history stalls.
            let publish_from = wm.learn_until.unwrap_or(wm.next_hour).max(wm.next_hour);
            return Ok(RunReport {
                waiting_for_history: true,
                next_hour: wm.next_hour.label(),
                lag_hours: (current.0 - publish_from.0).max(0),
                ..RunReport::default()
            });
        }
        let mut wm = stored.unwrap_or(Watermark::starting(
            Hour(current.0 - i64::from(self.out.config.first_run_hours)),
            now,
        ));
        let mut saved = stored;
        let mut tally = Tally::new(now, &ctx.id);
        for pending in self.out.state.pending_findings().await? {
            self.out.resume(pending, &mut tally).await?;
        }

        // Backfilled hours are learned on top of the per-run bound: they publish
        // nothing, and the deployment should not wait days to start alerting.
        // The budget still stops a run before its deadline.
        let learned_until = wm.learn_until.map_or(wm.next_hour, |u| u.max(wm.next_hour));
        let last =
            Hour((learned_until.0 + i64::from(self.out.config.max_hours_per_run)).min(current.0));
        let fresh: Vec<Hour> = (wm.next_hour.0..last.0).map(Hour).collect();
        let horizon = Hour(current.0 - i64::from(self.out.config.late_horizon_hours));
        let late: BTreeSet<Hour> = if stored.is_some() {
            self.activity
                .late_hours(wm.late_checked_until - LATE_MARGIN, now)
                .await?
                .into_iter()
                // Backfilled history is learned, never published: an event
                // arriving late for it re-checks nothing.
                .filter(|h| *h < wm.next_hour && !wm.learns(*h))
                .collect()
        } else {
            BTreeSet::new()
        };
        // Hours past the horizon are not re-analysed (their baselines and windows
        // are gone); the report names them so the adapter can say so.
        let (late, beyond): (BTreeSet<Hour>, BTreeSet<Hour>) =
            late.into_iter().partition(|h| *h >= horizon);

        tally.report.late_beyond_horizon = beyond.iter().map(|h| h.label()).collect();
        let mut hours: Vec<(Hour, bool)> = late.iter().map(|h| (*h, true)).collect();
        hours.extend(fresh.iter().map(|h| (*h, false)));
        hours.sort();
        let mut window = Window::default();
        let mut slowest = Duration::ZERO;
        for (hour, is_late) in hours {
            if !ctx.budget.allows(slowest) {
                tally.report.stopped_early = true;
                break;
            }
            let started = Instant::now();
            let learn = !is_late && wm.learns(hour);
            self.analyse_hour(hour, learn, &mut window, &mut tally)
                .await?;
            let label = hour.label();
            if is_late {
                tally.report.late_hours.push(label);
            } else {
                if learn {
                    tally.report.learned.push(label);
                } else {
                    tally.report.hours.push(label);
                }
                // Saved hour by hour: whatever stops this run keeps what it finished.
                let next = Watermark {
                    next_hour: Hour(hour.0 + 1),
                    ..wm
                };
                if !self
                    .save_progress(&next, saved.as_ref(), &mut tally)
                    .await?
                {
                    break;
                }
                wm = next;
                saved = Some(next);
            }
            slowest = slowest.max(started.elapsed());
        }

        // Late markers count as handled only once every late hour was re-checked.
        if !tally.report.stopped_early && !tally.report.superseded {
            let next = Watermark {
                late_checked_until: now,
                ..wm
            };
            if saved != Some(next)
                && self
                    .save_progress(&next, saved.as_ref(), &mut tally)
                    .await?
            {
                wm = next;
            }
        }
        let mut report = tally.report;
        report.pending = tally.pending.len();
        report.next_hour = wm.next_hour.label();
        report.caught_up = wm.next_hour >= current;
        report.lag_hours = (current.0 - wm.next_hour.0).max(0);
        Ok(report)
    }

    /// Saves the watermark; `false` when another run moved it first (this run
    /// then stops: the other one carries on from where it is).
    async fn save_progress(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
        tally: &mut Tally<'_>,
    ) -> Result<bool, RunError> {
        match self.out.state.save_watermark(next, expected).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind == StoreErrorKind::Conflict => {
                tally.report.superseded = true;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Analyses one hour: its findings are decided, claimed and published, then
    /// the baselines and the org's context learn the hour. With `learn_only`
    /// (backfilled history) nothing is claimed, published or added to a risk
    /// ledger; the findings only keep their evidence from teaching the org's
    /// context, as they do in a published hour.
    async fn analyse_hour(
        &self,
        hour: Hour,
        learn_only: bool,
        window: &mut Window,
        tally: &mut Tally<'_>,
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

        // Deduplicated before copying: an hour of a million records has tens of
        // thousands of identities, and a copy per record would be held (as the
        // vector's capacity) through the whole analysis.
        let mut ids: Vec<&str> = in_hour.iter().map(|r| r.identity.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let identities: Vec<String> = ids.into_iter().map(str::to_owned).collect();
        let baselines = self.out.state.load_baselines(&identities).await?;
        let org = self.out.state.load_org_context().await?;

        let mut histories: HashMap<String, Vec<ActivityRecord>> = HashMap::new();
        for req in history_requests(&self.out.config, hour, records) {
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
            org: org.as_ref(),
            histories: &histories,
            config: &self.out.config,
        };
        let findings = analyze(&analysis);
        // Sign-ins that are evidence of a finding do not teach the org's context.
        let evidence: HashSet<String> = findings
            .iter()
            .filter(|f| !alerting::teaches_despite(&f.detection))
            .flat_map(|f| f.evidence.iter().cloned())
            .collect();
        // A published hour's findings were seen by someone; backfilled history's
        // never were. There, the evidence of a critical finding (a credential
        // attack that succeeded, a stolen session, an approved push bombing)
        // teaches no user's baseline either: an attacker who got in before the
        // deployment must not have their network and device made the victim's
        // usual ones. Lesser findings ("new" anything) are how routine novelty
        // looks in history, and are learned.
        let attacks: HashSet<String> = if learn_only {
            findings
                .iter()
                .filter(|f| f.severity >= Severity::Critical)
                .filter(|f| !alerting::teaches_despite(&f.detection))
                .flat_map(|f| f.evidence.iter().cloned())
                .collect()
        } else {
            HashSet::new()
        };
        if !learn_only {
            tally.report.findings += findings.len();
            self.publish(&analysis, findings, tally).await?;
        }

        // Baselines learn the hour only after its findings are claimed: a crash in
        // between re-analyses against the old baseline.
        let taught = Taught {
            org_skips: &evidence,
            user_skips: &attacks,
        };
        self.learn(hour, &in_hour, baselines, org, taught).await
    }

    /// Decides which of an hour's findings page, claims and publishes them, and
    /// records them in their principals' risk ledgers.
    async fn publish(
        &self,
        analysis: &Analysis<'_>,
        findings: Vec<Finding>,
        tally: &mut Tally<'_>,
    ) -> Result<(), RunError> {
        let hour = analysis.hour;
        let principals = super::principals_of(&findings);
        let mut ledgers = if principals.is_empty() {
            HashMap::new()
        } else {
            self.out.state.load_ledgers(&principals).await?
        };
        let decisions = alerting::decide(analysis, findings, &ledgers);
        // Leads first: whether each one pages decides what its group does.
        let mut paged: HashMap<String, bool> = HashMap::new();
        // Ordered, so follow-ups publish in the same order on every run.
        let mut delivered_before: BTreeMap<String, (usize, Box<StoredFinding>)> = BTreeMap::new();
        for (i, d) in decisions.iter().enumerate() {
            if d.verdict != Verdict::Publish {
                continue;
            }
            let outcome = self.out.handle(&d.finding, tally).await?;
            paged.insert(d.finding.uid(), outcome.pages());
            if let Handled::Known(earlier) = outcome {
                if earlier.status == Status::Delivered {
                    delivered_before.insert(d.finding.uid(), (i, earlier));
                }
            }
        }
        // Members of an incident whose alert was delivered before (by the fast
        // path, or a run of this hour before late events came) are kept with
        // it; what is news in them goes out as one follow-up naming it.
        let mut news: HashSet<String> = HashSet::new();
        for d in &decisions {
            match &d.verdict {
                Verdict::Publish => {}
                Verdict::Grouped { into } if delivered_before.contains_key(into) => {
                    let new = self.out.keep(&d.finding, Some(into.clone()), tally).await?;
                    // News: it would page alone, on an event the delivered
                    // alert did not show (a custom rule matching the very
                    // event the fast path paged for tells nothing new).
                    let lead = &decisions[delivered_before[into].0].finding;
                    let unseen = d
                        .finding
                        .evidence
                        .iter()
                        .any(|e| !lead.evidence.contains(e));
                    if new && d.alone && unseen {
                        news.insert(into.clone());
                    }
                }
                // A lead folded as a repeat of another incident's alert pages
                // no one now: a member that would page on its own is
                // published itself rather than swallowed by the group.
                Verdict::Grouped { into } if d.alone && !paged[into] => {
                    self.out.handle(&d.finding, tally).await?;
                }
                Verdict::Grouped { into } => {
                    self.out.keep(&d.finding, Some(into.clone()), tally).await?;
                }
                Verdict::Contributes { .. } => {
                    self.out.keep(&d.finding, None, tally).await?;
                }
            }
        }
        for (uid, (i, earlier)) in &delivered_before {
            self.out
                .follow_up(&decisions[*i].finding, earlier, news.contains(uid), tally)
                .await?;
        }
        if !decisions.is_empty() {
            let window = i64::from(self.out.config.risk_window_hours) * HOUR;
            for d in &decisions {
                let principal = &d.finding.principal.identity;
                let ledger = ledgers
                    .entry(principal.clone())
                    .or_insert_with(|| alerting::Ledger::new(principal));
                let listed = !matches!(d.verdict, Verdict::Contributes { .. });
                ledger.record(alerting::LedgerEntry::of(&d.finding, d.weight, listed));
            }
            let mut changed: Vec<alerting::Ledger> = principals
                .iter()
                .filter_map(|p| ledgers.remove(p))
                .collect();
            for l in &mut changed {
                l.prune(hour.start() - window);
            }
            self.out.state.save_ledgers(&changed).await?;
        }
        Ok(())
    }

    /// The baselines and the org's context learn an hour's activity, except
    /// the `evidence` of its findings for the org's context.
    async fn learn(
        &self,
        hour: Hour,
        in_hour: &[&ActivityRecord],
        mut baselines: HashMap<String, Baseline>,
        mut org: Option<alerting::context::OrgLearned>,
        taught: Taught<'_>,
    ) -> Result<(), RunError> {
        // Ordered, so baselines are saved in the same order on every run.
        let mut changed: BTreeSet<Text> = BTreeSet::new();
        for r in in_hour {
            if !Baseline::learns_from(r)
                || !taught.user_skips.is_empty() && taught.user_skips.contains(&r.uuid.to_string())
            {
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
        let org_changed =
            alerting::learn_org(&mut org, in_hour, hour, &self.out.config, taught.org_skips);
        // The hour's baselines are not needed after this: move, do not copy.
        let mut changed: Vec<Baseline> = changed
            .iter()
            .filter_map(|id| baselines.remove(id.as_str()))
            .collect();
        for b in &mut changed {
            b.prune(hour.end(), self.out.config.baseline_days);
        }
        if !changed.is_empty() {
            self.out.state.save_baselines(&changed).await?;
        }
        if let Some(org) = org.filter(|_| org_changed) {
            self.out.state.save_org_context(&org).await?;
        }
        Ok(())
    }
}
