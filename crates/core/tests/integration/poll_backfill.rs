//! The poller's first start: it reads the configured history before its main
//! read, page by page within each run's deadline, while the detector waits;
//! once the history is read, the detector learns it without publishing, then
//! publishes from the hours after it.

use okta_itdr_testkit::Typed;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use okta_itdr_core::detect::run::Detector;
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ingest::{IngestSettings, Ingestor};
use okta_itdr_core::memory::{CollectingSink, MemoryStore};
use okta_itdr_core::poll::{poll, Cursor, CursorStore, Mode, PollSettings, Refused, RefusedEvents};
use okta_itdr_core::ports::{StateStore, StoreError, Watermark};
use okta_itdr_core::source::{LogSource, NextPage, Page, SourceError};
use okta_itdr_core::time::{Hour, Millis, DAY, HOUR, MINUTE};
use okta_itdr_testkit::{at, normalizer, Ev};

/// Serves its events like the System Log API: bounded, in order, in pages.
struct FakeLog {
    events: Vec<(Millis, String)>,
    page: usize,
    requests: Mutex<usize>,
}

impl FakeLog {
    fn new(events: &[Ev], page: usize) -> Self {
        let mut events: Vec<(Millis, String)> = events
            .iter()
            .map(|e| (e.event().published, e.json.to_string()))
            .collect();
        events.sort();
        FakeLog {
            events,
            page,
            requests: Mutex::new(0),
        }
    }

    fn from(&self, since: Millis, until: Millis, skip: usize) -> Page {
        *self.requests.lock().unwrap() += 1;
        let matching: Vec<&String> = self
            .events
            .iter()
            .filter(|(t, _)| *t >= since && *t < until)
            .map(|(_, e)| e)
            .skip(skip)
            .collect();
        let next = (matching.len() > self.page)
            .then(|| NextPage(format!("{since} {until} {}", skip + self.page)));
        Page {
            events: matching.into_iter().take(self.page).cloned().collect(),
            next,
        }
    }
}

impl LogSource for FakeLog {
    async fn first_page(&self, since: Millis, until: Millis) -> Result<Page, SourceError> {
        Ok(self.from(since, until, 0))
    }

    async fn next_page(&self, next: &NextPage) -> Result<Page, SourceError> {
        let parts: Vec<i64> = next.0.split(' ').map(|p| p.parse().unwrap()).collect();
        Ok(self.from(parts[0], parts[1], parts[2] as usize))
    }
}

/// Cursors in memory, beside the detector's watermark in its state store.
struct Cursors {
    cursors: Mutex<HashMap<&'static str, Cursor>>,
    state: Arc<MemoryStore>,
}

impl CursorStore for Cursors {
    async fn load_cursor(&self, mode: Mode) -> Result<Option<Cursor>, StoreError> {
        Ok(self.cursors.lock().unwrap().get(mode.as_str()).cloned())
    }

    async fn save_cursor(
        &self,
        mode: Mode,
        next: &Cursor,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut cursors = self.cursors.lock().unwrap();
        let stored = cursors.get(mode.as_str()).map(|c| c.version);
        assert_eq!(stored, expected, "{mode:?}: a lost race");
        cursors.insert(mode.as_str(), next.clone());
        Ok(())
    }

    async fn load_watermark(&self) -> Result<Option<Watermark>, StoreError> {
        self.state.load_watermark().await
    }

    async fn save_watermark(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
    ) -> Result<(), StoreError> {
        self.state.save_watermark(next, expected).await
    }
}

struct NoRefusals;

impl RefusedEvents for NoRefusals {
    async fn refuse(&self, event: &Refused<'_>) -> Result<(), StoreError> {
        panic!("refused: {}", event.reason)
    }
}

const NOW: &str = "2026-11-20T12:02:00Z";

fn token(n: i64, t: Millis) -> Ev {
    Ev::new("system.api_token.create")
        .user(&format!("00u{n}"), &format!("user{n}@acme.com"))
        .target("Token", &format!("00T{n}x{t}"), "ci-token", "ci-token")
        .at_ms(t)
}

/// Ten days of history (a token created every day: each would page) and one
/// token in the main read's lookback.
fn org() -> Vec<Ev> {
    let now = at(NOW);
    let mut events: Vec<Ev> = (1..=10)
        .map(|d| token(d, now - d * DAY - 3 * HOUR))
        .collect();
    for d in 1..=10 {
        events.push(
            Ev::new("user.session.start")
                .user("00ualice", "alice@acme.com")
                .at_ms(now - d * DAY - 2 * HOUR),
        );
    }
    events.push(token(99, now - 30 * MINUTE));
    events
}

#[tokio::test]
async fn a_first_start_reads_history_then_the_detector_learns_it_and_publishes_after() {
    let now = at(NOW);
    let log = FakeLog::new(&org(), 5);
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(CollectingSink::new());
    let ingestor = Ingestor::new(normalizer(), store.clone(), IngestSettings::default());
    let cursors = Cursors {
        cursors: Mutex::new(HashMap::new()),
        state: store.clone(),
    };
    let detector = Detector::new(
        store.clone(),
        store.clone(),
        sink.clone(),
        DetectConfig::default(),
    );
    let settings = PollSettings {
        mode: Mode::Primary,
        settle: 5 * MINUTE,
        lookback: 2 * HOUR,
        max_hours_per_run: 48,
        backfill: 14 * DAY,
    };

    // The first run's deadline allows two pages: the history is not read yet.
    let pages = Mutex::new(0);
    let two_pages = || {
        let mut n = pages.lock().unwrap();
        *n += 1;
        *n <= 2
    };
    let first = poll(
        &log,
        &ingestor,
        &cursors,
        &NoRefusals,
        &settings,
        now,
        || now,
        two_pages,
    )
    .await
    .unwrap();
    assert!(first.backfilling && first.deadline_hit, "{first:?}");
    assert_eq!(first.pages, 2);
    let wm = store.load_watermark().await.unwrap().unwrap();
    assert!(wm.history_pending);
    assert_eq!(wm.next_hour, Hour::of(now - 14 * DAY));
    assert_eq!(wm.learn_until, Some(Hour::of(now - 2 * HOUR)));

    // The detector waits for it.
    let waiting = detector.run(now + 3 * MINUTE).await.unwrap();
    assert!(waiting.waiting_for_history, "{waiting:?}");
    assert!(waiting.hours.is_empty() && waiting.learned.is_empty());
    assert_eq!(
        waiting.lag_hours, 2,
        "what waits to be published, not the history"
    );

    // The next run finishes the history, then reads the main window.
    let later = now + 5 * MINUTE;
    let second = poll(
        &log,
        &ingestor,
        &cursors,
        &NoRefusals,
        &settings,
        later,
        || later,
        || true,
    )
    .await
    .unwrap();
    assert!(!second.backfilling && !second.deadline_hit, "{second:?}");
    assert_eq!(first.stored + second.stored, 21, "every event once");
    assert!(
        !store
            .load_watermark()
            .await
            .unwrap()
            .unwrap()
            .history_pending
    );
    // Five events a page: 20 of history in 4 pages (and an empty window's
    // none), the lookback's one in a page, the recheck's.
    assert!(
        *log.requests.lock().unwrap() <= 8,
        "{}",
        log.requests.lock().unwrap()
    );

    // The detector learns the 14 days without paging, then publishes the
    // lookback's token.
    let mut report = detector.run(now + 65 * MINUTE).await.unwrap();
    while !report.caught_up {
        report = detector.run(now + 66 * MINUTE).await.unwrap();
    }
    let alerts = sink.alerts();
    let principals: Vec<&str> = alerts.iter().map(|a| a.principal.as_str()).collect();
    assert_eq!(principals, ["user99@acme.com"], "history pages no one");
    let alice = store
        .load_baselines(&["00ualice".to_owned()])
        .await
        .unwrap();
    assert!(
        alice["00ualice"].established(now, 7),
        "the history was learned"
    );
}

#[tokio::test]
async fn a_running_deployment_backfills_nothing() {
    let now = at(NOW);
    let log = FakeLog::new(&org(), 5);
    let store = Arc::new(MemoryStore::new());
    let ingestor = Ingestor::new(normalizer(), store.clone(), IngestSettings::default());
    let cursors = Cursors {
        cursors: Mutex::new(HashMap::new()),
        state: store.clone(),
    };
    // The detector already runs (Log Streaming fed it): its history would
    // only be late events.
    let started = Watermark::starting(Hour::of(now - HOUR), now - HOUR);
    store.save_watermark(&started, None).await.unwrap();
    let settings = PollSettings {
        mode: Mode::GapFill,
        settle: 15 * MINUTE,
        lookback: 2 * HOUR,
        max_hours_per_run: 48,
        backfill: 30 * DAY,
    };
    let report = poll(
        &log,
        &ingestor,
        &cursors,
        &NoRefusals,
        &settings,
        now,
        || now,
        || true,
    )
    .await
    .unwrap();
    assert!(!report.backfilling);
    assert!(cursors.load_cursor(Mode::Backfill).await.unwrap().is_none());
    assert_eq!(store.load_watermark().await.unwrap(), Some(started));
}
