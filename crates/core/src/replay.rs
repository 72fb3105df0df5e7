//! Replay: feed exported events, in time order, through the same ingest and
//! detector code the Lambdas run, on the in-process store, with the hourly
//! schedule simulated. The alerts are what the deployed system would publish.

use std::sync::Arc;

use crate::alert::Alert;
use crate::detect::fast::FastPath;
use crate::detect::run::{Detector, RunError};
use crate::detect::DetectConfig;
use crate::event::LogEvent;
use crate::ingest::{IngestError, IngestSettings, Ingestor};
use crate::memory::{CollectingSink, MemoryStore};
use crate::normalize::Normalizer;
use crate::ports::{PutOutcome, StateStore, Watermark};
use crate::record::ActivityRecord;
use crate::time::{Hour, Millis, HOUR, MINUTE};

/// The deployed schedule runs at five past the hour (`cron(5 * * * ? *)`).
pub const SCHEDULE_OFFSET: Millis = 5 * MINUTE;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Detect(#[from] RunError),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub events: usize,
    pub stored: usize,
    pub duplicates: usize,
    /// Events older than the simulated clock: handled as late arrivals.
    pub late: usize,
    pub runs: usize,
    pub hours: usize,
    /// Hours of history learned before the first published hour.
    pub learned: usize,
}

/// How an alert reached the topic, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The ingest function's fast path, as its event was stored.
    FastPath,
    /// The hourly run at this time.
    Hourly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sending {
    pub via: Via,
    /// When it would have been published (the simulated clock).
    pub at: Millis,
}

/// The late horizon of a replay, at most.
pub const REPLAY_LATE_HORIZON_HOURS: u32 = 24;

pub struct Replay {
    store: Arc<MemoryStore>,
    sink: Arc<CollectingSink>,
    ingestor: Ingestor<Arc<MemoryStore>>,
    detector: Detector<Arc<MemoryStore>, Arc<MemoryStore>, Arc<CollectingSink>>,
    /// The ingest function's fast path, as deployed (none when the
    /// configuration lists no fast-path detection).
    fast: Option<FastPath<Arc<MemoryStore>, Arc<CollectingSink>>>,
    /// When and how each published alert was sent, by uid.
    sent: std::collections::HashMap<String, Sending>,
    /// The hour the simulated clock is in; runs for earlier hours have happened.
    clock: Option<Hour>,
    /// The hour of the latest event pushed: the last hour analysed at the end.
    latest: Option<Hour>,
    /// How far back activity stays in memory: what a run can still ask for.
    keep: Millis,
    /// Events before this hour are history to learn, not to alert on.
    learn_until: Option<Hour>,
    stats: ReplayStats,
}

impl Replay {
    pub fn new(normalizer: Normalizer, mut config: DetectConfig, store: MemoryStore) -> Self {
        // Exported logs come in order (the input is re-sorted), so a replay re-checks
        // late events over a day at most: memory then follows a day of activity,
        // not the deployed week-long horizon.
        config.late_horizon_hours = config.late_horizon_hours.min(REPLAY_LATE_HORIZON_HOURS);
        let keep = i64::from(config.late_horizon_hours) * HOUR + 16 * HOUR;
        let store = Arc::new(store);
        let sink = Arc::new(CollectingSink::new());
        let settings = IngestSettings {
            retention_days: config.baseline_days.max(1),
        };
        let fast = (!config.fast_path.is_empty() || config.fast_path_custom_rules)
            .then(|| FastPath::new(store.clone(), sink.clone(), config.clone()));
        Replay {
            ingestor: Ingestor::new(normalizer, store.clone(), settings),
            detector: Detector::new(store.clone(), store.clone(), sink.clone(), config),
            fast,
            sent: std::collections::HashMap::new(),
            store,
            sink,
            clock: None,
            latest: None,
            keep,
            learn_until: None,
            stats: ReplayStats::default(),
        }
    }

    /// The hours before the one `until` falls in are history: the detector
    /// learns them (baselines, the org's context) and publishes nothing for
    /// them, as a deployment does with what it backfilled before its first
    /// run. Set before the first event.
    pub fn learning_until(mut self, until: Millis) -> Self {
        self.learn_until = Some(Hour::of(until));
        self
    }

    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// Ingests one event. Scheduled runs due before the event's time happen first;
    /// their alerts are returned. Events should come in time order; an older one
    /// is ingested as a late arrival, exactly as Okta's late delivery would be.
    pub async fn push(&mut self, event: &LogEvent) -> Result<Vec<Alert>, ReplayError> {
        let hour = Hour::of(event.published);
        let clock = match self.clock {
            Some(c) => c,
            None => {
                // Analyse from the first event's hour, not the Lambda's first-run default.
                let start = Watermark {
                    learn_until: self.learn_until,
                    ..Watermark::starting(hour, hour.start())
                };
                self.store
                    .save_watermark(&start, None)
                    .await
                    .map_err(RunError::from)?;
                self.clock = Some(hour);
                hour
            }
        };
        // The schedule runs at five past the hour: the events of those five
        // minutes are stored before it runs, as they are when deployed.
        self.latest = self.latest.max(Some(hour));
        let due = Hour::of(event.published - SCHEDULE_OFFSET);
        if due > clock {
            self.advance_to(due).await?;
        }
        let now = self.clock.unwrap_or(hour);
        let arrived = event.published.max(now.start());
        let ingested = self.ingestor.ingest(event, arrived).await?;
        self.stats.events += 1;
        match ingested.outcome {
            PutOutcome::Stored => self.stats.stored += 1,
            PutOutcome::Duplicate => self.stats.duplicates += 1,
        }
        if ingested.late {
            self.stats.late += 1;
        }
        // History being learned is not alerted on, by the fast path either.
        let history = self.learn_until.is_some_and(|until| hour < until);
        if let Some(fast) = self.fast.as_ref().filter(|_| !history) {
            let report = fast
                .on_stored(&ingested.stored, arrived, "replay-fast-path")
                .await
                .map_err(RunError::from)?;
            let sending = Sending {
                via: Via::FastPath,
                at: arrived,
            };
            for uid in report.uids {
                self.sent.entry(uid).or_insert(sending);
            }
        }
        Ok(self.sink.drain())
    }

    /// When and how an alert of this replay was sent.
    pub fn sending(&self, uid: &str) -> Option<Sending> {
        self.sent.get(uid).copied()
    }

    /// Notes the alerts of the hourly run at `at`: those published since the
    /// last drain with no sending yet (the fast path notes its own).
    fn note_hourly(&mut self, at: Millis) {
        let sending = Sending {
            via: Via::Hourly,
            at,
        };
        for a in self.sink.alerts() {
            self.sent.entry(a.uid).or_insert(sending);
        }
    }

    /// Runs the schedule up to and including the hour after the last event, so its
    /// hour is analysed too. Returns the alerts of those runs.
    pub async fn finish(&mut self) -> Result<Vec<Alert>, ReplayError> {
        // The clock trails the events by the schedule's five minutes: the last
        // event's hour, not the clock's, is the last to analyse.
        if let Some(last) = self.latest.max(self.clock) {
            self.advance_to(last.next()).await?;
        }
        Ok(self.sink.drain())
    }

    /// Moves the clock hour by hour to `target`, running the schedule at each.
    async fn advance_to(&mut self, target: Hour) -> Result<(), ReplayError> {
        while let Some(clock) = self.clock.filter(|c| *c < target) {
            let next = clock.next();
            let at = next.start() + SCHEDULE_OFFSET;
            let report = self.detector.run(at).await?;
            self.note_hourly(at);
            self.stats.runs += 1;
            self.stats.hours += report.hours.len();
            self.stats.learned += report.learned.len();
            self.clock = Some(next);
            self.store.evict_before(next.start() - self.keep);
        }
        Ok(())
    }

    /// Records kept for a timeline (see [`MemoryStore::keeping`]).
    pub fn timeline(&self) -> Vec<ActivityRecord> {
        self.store.kept()
    }
}
