//! Delivering findings: the one protocol both the hourly run and the ingest
//! fast path use, so a finding is claimed, folded as a repeat, published,
//! retried or quarantined the same way whoever meets it first.
//!
//! - a finding is claimed under its uid ([`StateStore::claim_finding`]): the
//!   first to claim it decides; whoever meets it later finds it known;
//! - a repeat of a delivered alert of the same detection and principal within
//!   the suppression period folds into it; an escalation is sent;
//! - delivery is claimed with a conditional write before publishing
//!   ([`StateStore::claim_delivery`]), so of two overlapping runs one publishes;
//! - a publish that fails leaves the finding pending with a doubling delay
//!   (the next hourly run retries it), quarantined after
//!   `max_delivery_attempts`.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::run::RunReport;
use super::{DetectConfig, Finding, FOLLOW_UP_OF};
use crate::alert::{Alert, Renderer, Status, StoredFinding};
use crate::ports::{AlertSink, Claim, Delivery, StateStore, StoreError};
use crate::time::{Millis, HOUR, MINUTE};

/// Per-run bookkeeping for publishing.
pub(crate) struct Tally<'a> {
    pub report: RunReport,
    pub now: Millis,
    /// Names the run in delivery claims.
    pub run: &'a str,
    /// Uids waiting for a later attempt (a set: one finding can be met twice).
    pub pending: BTreeSet<String>,
    /// A failed publish is retried by the next hourly run, whenever it is.
    pub retry_next_run: bool,
}

impl<'a> Tally<'a> {
    pub fn new(now: Millis, run: &'a str) -> Self {
        Tally {
            report: RunReport::default(),
            now,
            run,
            pending: BTreeSet::new(),
            retry_next_run: false,
        }
    }
}

/// What became of a finding handed to [`Outlet::handle`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Handled {
    /// Published now, pending a retry, or being published by another run: it
    /// pages.
    Pages,
    /// Folded into a delivered alert as a repeat.
    Folded,
    /// Handled before (by an earlier run or the fast path), as stored then.
    Known(Box<StoredFinding>),
}

impl Handled {
    pub fn pages(&self) -> bool {
        matches!(self, Handled::Pages)
    }
}

/// Adds to a rendered alert what the finding does not know (the inventory's
/// identity of its principal, see [`crate::posture::enrich`]) before it is
/// claimed: the stored alert is the published one, so suppression and
/// escalation compare what recipients saw. Best effort: an enricher that
/// fails leaves the alert as rendered.
pub trait Enricher: Send + Sync {
    fn enrich<'a>(&'a self, alert: &'a mut Alert) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// What delivering needs, owned by the hourly [`Detector`](super::run::Detector)
/// and the [`FastPath`](super::fast::FastPath) alike: the state store, the
/// sink, the configuration and the renderer it implies.
pub(crate) struct Outlet<S, K> {
    pub state: S,
    pub sink: K,
    pub config: DetectConfig,
    pub renderer: Renderer,
    pub enricher: Option<Arc<dyn Enricher>>,
}

impl<S, K> Outlet<S, K> {
    pub fn new(state: S, sink: K, config: DetectConfig) -> Self {
        let renderer = Renderer {
            max_evidence: config.max_evidence,
            ..Renderer::default()
        };
        Outlet {
            state,
            sink,
            config,
            renderer,
            enricher: None,
        }
    }

    /// The alert of `f`, rendered and enriched.
    async fn alert(&self, f: &Finding) -> Alert {
        let mut alert = self.renderer.render(f);
        if let Some(e) = &self.enricher {
            e.enrich(&mut alert).await;
        }
        alert
    }
}

impl<S: StateStore, K: AlertSink> Outlet<S, K> {
    /// Keeps a finding that pages no one. It is claimed as a contributor in one
    /// write, so a crash can never leave it pending for a later run to publish;
    /// a re-run of the hour finds it known. `true` when it was new.
    pub(crate) async fn keep(
        &self,
        f: &Finding,
        into: Option<String>,
        tally: &mut Tally<'_>,
    ) -> Result<bool, StoreError> {
        let mut stored = StoredFinding::pending(f, self.renderer.render(f));
        stored.status = Status::Contributed;
        let grouped = into.is_some();
        stored.grouped_into = into;
        Ok(match self.state.claim_finding(&stored).await? {
            Claim::Existing(_) => {
                tally.report.already_known += 1;
                false
            }
            Claim::New if grouped => {
                tally.report.grouped += 1;
                true
            }
            Claim::New => {
                tally.report.risk_only += 1;
                true
            }
        })
    }

    /// Dedup, suppression, publish: what became of the finding.
    pub(crate) async fn handle(
        &self,
        f: &Finding,
        tally: &mut Tally<'_>,
    ) -> Result<Handled, StoreError> {
        let alert = self.alert(f).await;
        let stored = StoredFinding::pending(f, alert);
        let pages = match self.state.claim_finding(&stored).await? {
            Claim::Existing(existing) if existing.status == Status::Pending => {
                self.settle(existing, true, tally).await?
            }
            // Kept by an earlier analysis as a contributor listed in no alert;
            // now it pages (late events pushed its principal over the
            // threshold): published now, with what it is now.
            Claim::Existing(existing)
                if existing.status == Status::Contributed && existing.grouped_into.is_none() =>
            {
                self.state.update_finding(&stored).await?;
                self.settle(stored, false, tally).await?
            }
            Claim::Existing(existing) => {
                tally.report.already_known += 1;
                return Ok(Handled::Known(Box::new(existing)));
            }
            Claim::New => self.settle(stored, false, tally).await?,
        };
        Ok(if pages {
            Handled::Pages
        } else {
            Handled::Folded
        })
    }

    /// A lead handled before (delivered by the fast path, or by the run of an
    /// hour now re-analysed) whose incident now carries more: a chain that
    /// raises its severity above what was delivered, or a member that would
    /// page on its own and is `news` (claimed for the first time now). One
    /// follow-up naming the delivered alert is published for them, listing the
    /// incident's findings, rather than a page per member.
    pub(crate) async fn follow_up(
        &self,
        f: &Finding,
        earlier: &StoredFinding,
        news: bool,
        tally: &mut Tally<'_>,
    ) -> Result<(), StoreError> {
        let raised = f.severity > earlier.alert.severity;
        if earlier.status != Status::Delivered || !(raised || news) {
            return Ok(());
        }
        let mut follow_up = f.clone().fact(FOLLOW_UP_OF, earlier.uid.as_str());
        follow_up.title = if raised {
            format!(
                "{} (escalated from {})",
                f.title,
                earlier.alert.severity.label().to_ascii_lowercase()
            )
        } else {
            format!("{} (follow-up)", f.title)
        };
        self.handle(&follow_up, tally).await?;
        Ok(())
    }

    /// Suppresses a claimed finding as a repeat of a delivered one, or delivers
    /// it. A retry goes through the same check: a run that stopped between
    /// claiming a repeat and folding it must not page for it later.
    pub(crate) async fn settle(
        &self,
        mut stored: StoredFinding,
        retry: bool,
        tally: &mut Tally<'_>,
    ) -> Result<bool, StoreError> {
        if stored.next_attempt.is_some_and(|t| t > tally.now) {
            tally.pending.insert(stored.uid);
            return Ok(true);
        }
        let period = i64::from(self.config.suppression_hours) * HOUR;
        let previous = self
            .state
            .last_delivered(&stored.detection, &stored.principal)
            .await?;
        match previous {
            // A repeat folds into the delivered alert; an escalation (push
            // bombing that ends in an approval) is news and is sent.
            Some(mut last)
                if last.uid != stored.uid
                    && stored.follow_up_of.is_none()
                    && stored.first_seen <= last.last_seen + period
                    && stored.last_seen >= last.first_seen - period
                    && stored.alert.severity <= last.alert.severity =>
            {
                stored.status = Status::Suppressed;
                stored.suppressed_by = Some(last.uid.clone());
                self.state.update_finding(&stored).await?;
                last.repeats += 1;
                last.last_seen = last.last_seen.max(stored.last_seen);
                self.state.update_finding(&last).await?;
                tally.pending.remove(&stored.uid);
                tally.report.suppressed += 1;
                Ok(false)
            }
            _ => {
                if self.deliver(stored, tally).await? {
                    if retry {
                        tally.report.retried += 1;
                    } else {
                        tally.report.published += 1;
                    }
                }
                // Delivered, pending a retry, or claimed by another run: it
                // pages either way.
                Ok(true)
            }
        }
    }

    /// A finding an earlier run left undelivered: retry it when due, or settle a
    /// delivery claim whose run never confirmed it.
    pub(crate) async fn resume(
        &self,
        stored: StoredFinding,
        tally: &mut Tally<'_>,
    ) -> Result<(), StoreError> {
        match stored.status {
            Status::Pending => {
                self.settle(stored, true, tally).await?;
            }
            Status::Delivering => {
                let lease = i64::from(self.config.delivery_lease_minutes) * MINUTE;
                let claimed_at = stored.claimed_at.unwrap_or(Millis::MIN);
                // Still leased: its run may be publishing right now. Past the
                // lease the publish may or may not have happened; sending again
                // could page twice, so an operator decides.
                if claimed_at.saturating_add(lease) <= tally.now {
                    let by = stored.claimed_by.clone().unwrap_or_default();
                    self.quarantine(
                        stored,
                        format!("delivery claimed by {by} was never confirmed; it may have been published"),
                        tally,
                    )
                    .await?;
                }
            }
            Status::Delivered | Status::Suppressed | Status::Quarantined | Status::Contributed => {}
        }
        Ok(())
    }

    /// Publishes a pending finding once it is due and this run wins its delivery
    /// claim. A publish failure is recorded on the finding (retry later with a
    /// doubling delay, or quarantine), never raised: the rest of the run and the
    /// watermark go on. `true` when published.
    pub(crate) async fn deliver(
        &self,
        mut stored: StoredFinding,
        tally: &mut Tally<'_>,
    ) -> Result<bool, StoreError> {
        if stored.next_attempt.is_some_and(|t| t > tally.now) {
            tally.pending.insert(stored.uid);
            return Ok(false);
        }
        match self
            .state
            .claim_delivery(&stored, tally.run, tally.now)
            .await?
        {
            Delivery::Claimed { attempts } => stored.attempts = attempts,
            // Another run owns it now.
            Delivery::Refused => return Ok(false),
        }
        stored.status = Status::Delivering;
        stored.claimed_by = Some(tally.run.to_owned());
        stored.claimed_at = Some(tally.now);
        match self.sink.publish(&stored.alert).await {
            Ok(()) => {
                stored.status = Status::Delivered;
                stored.next_attempt = None;
                stored.last_error = None;
                self.state.update_finding(&stored).await?;
                tally.pending.remove(&stored.uid);
                Ok(true)
            }
            Err(e) => {
                tally.report.failed += 1;
                let error = e.to_string();
                if stored.attempts >= self.config.max_delivery_attempts {
                    let reason = format!(
                        "publishing failed {} times; last error: {error}",
                        stored.attempts
                    );
                    self.quarantine(stored, reason, tally).await?;
                } else {
                    stored.status = Status::Pending;
                    // A fast-path publish that failed is due at once: the next
                    // hourly run delivers it, not the one after.
                    let delay = if tally.retry_next_run {
                        0
                    } else {
                        self.retry_delay(stored.attempts)
                    };
                    stored.next_attempt = Some(tally.now + delay);
                    stored.last_error = Some(error);
                    self.state.update_finding(&stored).await?;
                    tally.pending.insert(stored.uid);
                }
                Ok(false)
            }
        }
    }

    /// The wait after `attempts` failed publishes: the configured delay, doubled
    /// for each further failure, at most a day.
    fn retry_delay(&self, attempts: u32) -> Millis {
        let first =
            std::time::Duration::from_secs(u64::from(self.config.delivery_retry_minutes) * 60);
        let day = std::time::Duration::from_secs(24 * 3600);
        let delay = crate::backoff::Backoff::new(first, day).delay(attempts);
        Millis::try_from(delay.as_millis()).unwrap_or(24 * HOUR)
    }

    pub(crate) async fn quarantine(
        &self,
        mut stored: StoredFinding,
        reason: String,
        tally: &mut Tally<'_>,
    ) -> Result<(), StoreError> {
        stored.status = Status::Quarantined;
        stored.next_attempt = None;
        stored.last_error = Some(reason);
        self.state.update_finding(&stored).await?;
        tally.pending.remove(&stored.uid);
        tally.report.quarantined.push(stored.uid);
        Ok(())
    }
}
