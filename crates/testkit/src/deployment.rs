//! A deployment on the in-memory store: the ingest function's `Ingestor` and
//! fast path, the hourly `Detector`, and the alerts sink, wired as the
//! functions wire them. The core's integration tests drive it event by event
//! and run by run.

use crate::events::Typed;
use std::sync::Arc;

use crate::{at, normalizer, Ev};
use okta_itdr_core::alert::{Alert, Status};
use okta_itdr_core::detect::fast::{FastPath, FastReport};
use okta_itdr_core::detect::run::{Detector, RunReport};
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ingest::{IngestSettings, Ingestor};
use okta_itdr_core::memory::{CollectingSink, MemoryStore};
use okta_itdr_core::ports::{StateStore, Watermark};
use okta_itdr_core::record::ActivityRecord;
use okta_itdr_core::time::{Hour, Millis, MINUTE};

/// The detector the deployment runs, over the in-memory store.
pub type MemoryDetector = Detector<Arc<MemoryStore>, Arc<MemoryStore>, Arc<CollectingSink>>;

/// How late after an event the stream delivers it in these tests.
pub const DELIVERY_DELAY: Millis = 1000;

pub struct Deployment {
    pub store: Arc<MemoryStore>,
    pub sink: Arc<CollectingSink>,
    pub ingestor: Ingestor<Arc<MemoryStore>>,
    pub fast: FastPath<Arc<MemoryStore>, Arc<CollectingSink>>,
    pub detector: MemoryDetector,
}

impl Deployment {
    /// A new deployment with no progress saved: its first run starts where a
    /// first run does.
    pub fn new(config: DetectConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let sink = Arc::new(CollectingSink::new());
        Deployment {
            ingestor: Ingestor::new(normalizer(), store.clone(), IngestSettings::default()),
            fast: FastPath::new(store.clone(), sink.clone(), config.clone()),
            detector: Detector::new(store.clone(), store.clone(), sink.clone(), config),
            store,
            sink,
        }
    }

    /// With the default configuration, earlier runs having analysed
    /// everything before the hour of `time` (`2026-11-10T10:00:00Z`).
    pub async fn starting(time: &str) -> Self {
        Self::starting_at(DetectConfig::default(), Hour::of(at(time))).await
    }

    /// A deployment whose earlier runs analysed everything before `hour`.
    pub async fn starting_at(config: DetectConfig, hour: Hour) -> Self {
        Self::with_watermark(config, Watermark::starting(hour, hour.start())).await
    }

    /// A deployment whose progress is `watermark`.
    pub async fn with_watermark(config: DetectConfig, watermark: Watermark) -> Self {
        let d = Self::new(config);
        d.store
            .save_watermark(&watermark, None)
            .await
            .expect("the in-memory store saves");
        d
    }

    /// Another detector over the same store and sink, with its own configuration
    /// (a second run at once, or a changed setting).
    pub fn detector(&self, config: DetectConfig) -> MemoryDetector {
        Detector::new(
            self.store.clone(),
            self.store.clone(),
            self.sink.clone(),
            config,
        )
    }

    /// Stores `ev` as the ingest function does when it arrives at `arrived`.
    pub async fn ingest_at(&self, ev: &Ev, arrived: Millis) {
        self.ingestor
            .ingest(&ev.event(), arrived)
            .await
            .expect("the in-memory store ingests");
    }

    /// Stores `ev` delivered [`DELIVERY_DELAY`] after it happened.
    pub async fn ingest_on_time(&self, ev: &Ev) {
        let event = ev.event();
        self.ingestor
            .ingest(&event, event.published + DELIVERY_DELAY)
            .await
            .expect("the in-memory store ingests");
    }

    /// What the ingest function does with the fast path: store `ev` on time,
    /// then publish what pages alone from it.
    pub async fn ingest_with_fast_path(&self, ev: &Ev) -> FastReport {
        let event = ev.event();
        let arrived = event.published + DELIVERY_DELAY;
        self.ingestor
            .ingest(&event, arrived)
            .await
            .expect("the in-memory store ingests");
        let records: Vec<ActivityRecord> = self.ingestor.normalizer().normalize(&event);
        self.fast
            .on_stored(&records, arrived, "testkit")
            .await
            .expect("the fast path on the in-memory store")
    }

    /// One scheduled run at `now`.
    pub async fn run(&self, now: Millis) -> RunReport {
        self.detector
            .run(now)
            .await
            .expect("a run on the in-memory store")
    }

    /// The hourly schedule (five past each hour) until it has caught up with
    /// `t`; returns what it published.
    pub async fn run_until(&self, t: Millis) -> Vec<Alert> {
        loop {
            if self.run(t + 5 * MINUTE).await.caught_up {
                return self.sink.drain();
            }
        }
    }

    /// The subjects of the alerts published so far.
    pub fn subjects(&self) -> Vec<String> {
        self.sink.alerts().into_iter().map(|a| a.subject).collect()
    }

    /// The status of each finding stored for `principal`.
    pub fn statuses_of(&self, principal: &str) -> Vec<Status> {
        self.store
            .findings()
            .iter()
            .filter(|f| f.alert.principal == principal)
            .map(|f| f.status)
            .collect()
    }

    /// The next hour the detector will analyse.
    pub async fn next_hour(&self) -> Hour {
        self.store
            .load_watermark()
            .await
            .expect("the in-memory store loads")
            .expect("a watermark")
            .next_hour
    }
}
