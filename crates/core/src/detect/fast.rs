//! The fast path: a detection that pages on its own from one event (the log
//! stream deactivated, Super administrator granted, MFA removed) is published
//! by the ingest function as soon as its event is stored, instead of at the
//! next hourly run, up to 65 minutes later.
//!
//! One incident, one page: the fast path builds the very finding the hourly
//! run would (same uid), weighs it with the same learned context and risk
//! ledger ([`alerting::decide`]), and delivers it through the same protocol
//! ([`delivery`](super::delivery)): claimed under its uid, folded as a repeat of a delivered
//! alert, published. When the hourly run meets it, it is known; a later
//! finding that raises the incident's severity is published as a follow-up
//! naming it. A fast publish that fails stays pending and is due at once:
//! the next hourly run delivers it, once.
//!
//! What the fast path does not decide (a finding context explains, one that
//! only adds risk) it leaves alone, claiming nothing: the hourly run decides
//! it with the whole hour in view.
//!
//! Cost: an event that matches nothing costs a few predicate checks and no
//! I/O ([`FastPath::candidates`]).

use std::collections::HashMap;

use serde::Serialize;

use super::alerting::{self, Verdict};
use super::delivery::{Outlet, Tally};
use super::{custom, single, Analysis, DetectConfig, Finding, Severity};
use crate::ports::{AlertSink, StateStore, StoreError};
use crate::record::{ActivityRecord, Role};
use crate::time::{Hour, Millis};

/// What the fast path did with one event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FastReport {
    /// Findings of fast-path detections the event made.
    pub matched: usize,
    /// Published now.
    pub published: usize,
    /// Already handled (a redelivered event, or the hourly run was first).
    pub already_known: usize,
    /// Folded into a delivered alert as a repeat.
    pub suppressed: usize,
    /// Publishes that failed: pending, for the next hourly run.
    pub failed: usize,
    /// Left to the hourly run: context explained them, or they only add risk.
    pub left_to_hourly: usize,
    /// Uids of the alerts published now.
    pub uids: Vec<String>,
}

pub struct FastPath<S, K> {
    out: Outlet<S, K>,
}

impl<S: StateStore, K: AlertSink> FastPath<S, K> {
    pub fn new(state: S, sink: K, config: DetectConfig) -> Self {
        FastPath {
            out: Outlet::new(state, sink, config),
        }
    }

    pub fn config(&self) -> &DetectConfig {
        &self.out.config
    }

    /// The findings of fast-path detections on one event's records: high or
    /// critical, each exactly as the hourly run's analysis makes it. Pure and
    /// cheap; empty for almost every event.
    pub fn candidates(&self, records: &[ActivityRecord]) -> Vec<Finding> {
        candidates(&self.out.config, records)
    }

    /// Publishes what one stored event's records page for on their own.
    /// `run` names this invocation in delivery claims; `now` is the clock.
    /// A store error is returned with nothing lost: the event is stored, and
    /// the hourly run decides it.
    pub async fn on_stored(
        &self,
        records: &[ActivityRecord],
        now: Millis,
        run: &str,
    ) -> Result<FastReport, StoreError> {
        self.publish(self.candidates(records), records, now, run)
            .await
    }

    /// [`FastPath::on_stored`] with the event's [`FastPath::candidates`]
    /// already found, for a caller that looked before deciding to go on.
    pub async fn publish(
        &self,
        findings: Vec<Finding>,
        records: &[ActivityRecord],
        now: Millis,
        run: &str,
    ) -> Result<FastReport, StoreError> {
        let mut report = FastReport {
            matched: findings.len(),
            ..FastReport::default()
        };
        if findings.is_empty() {
            return Ok(report);
        }
        let principals = super::principals_of(&findings);
        let baselines = self.out.state.load_baselines(&principals).await?;
        let org = self.out.state.load_org_context().await?;
        let ledgers = self.out.state.load_ledgers(&principals).await?;
        let mut actors: Vec<ActivityRecord> = records
            .iter()
            .filter(|r| r.role == Role::Actor)
            .cloned()
            .collect();
        actors.sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
        let histories = HashMap::new();
        let analysis = Analysis {
            hour: Hour::of(findings[0].anchor),
            records: &actors,
            baselines: &baselines,
            org: org.as_ref(),
            histories: &histories,
            config: &self.out.config,
        };
        let decisions = alerting::decide(&analysis, findings, &ledgers);

        let mut tally = Tally::new(now, run);
        tally.retry_next_run = true;
        let mut paged: HashMap<String, bool> = HashMap::new();
        for d in decisions.iter().filter(|d| d.verdict == Verdict::Publish) {
            let before = tally.report.published;
            let outcome = self.out.handle(&d.finding, &mut tally).await?;
            paged.insert(d.finding.uid(), outcome.pages());
            if tally.report.published > before {
                report.uids.push(d.finding.uid());
            }
        }
        for d in &decisions {
            match &d.verdict {
                Verdict::Publish => {}
                // Listed in the alert just published: kept with it, so the
                // hourly run does not page for it again.
                Verdict::Grouped { into } if paged[into] => {
                    self.out
                        .keep(&d.finding, Some(into.clone()), &mut tally)
                        .await?;
                }
                Verdict::Grouped { .. } | Verdict::Contributes { .. } => report.left_to_hourly += 1,
            }
        }
        let r = tally.report;
        report.published = r.published;
        report.already_known = r.already_known;
        report.suppressed = r.suppressed;
        report.failed = r.failed;
        Ok(report)
    }
}

/// See [`FastPath::candidates`].
pub fn candidates(config: &DetectConfig, records: &[ActivityRecord]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for r in records.iter().filter(|r| r.role == Role::Actor) {
        for id in &config.fast_path {
            if let Some(f) = single::finding_of(config, id, r) {
                findings.push(f);
            }
        }
        if config.fast_path_custom_rules {
            findings.extend(
                r.details
                    .rules
                    .iter()
                    .filter(|m| m.alone)
                    .map(|m| custom::finding(m, r)),
            );
        }
    }
    findings.retain(|f| f.severity >= Severity::High);
    super::sort_findings(&mut findings);
    findings
}
