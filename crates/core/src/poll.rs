//! The System Log poller: reads the Okta API through a [`LogSource`] and ingests
//! through the same [`Ingestor`] as the stream, from a durable cursor.
//!
//! - **gap-fill** (beside Log Streaming): each closed hour, once it has settled,
//!   is compared with what is stored (one read of the hour's index, the cheap
//!   side), and only the events the stream did not deliver are ingested and
//!   counted as missed. They arrive after their hour, so the detector re-checks
//!   the hour like any late event.
//! - **primary** (no Log Streaming): every event from the cursor up to `now −
//!   settle` is ingested (idempotent on uuid, so a re-read page is harmless).
//!   Okta may persist an event after that edge has passed its `published`
//!   time; so, as gap-fill does, each closed hour is re-read once it has
//!   settled ([`RECHECK_SETTLE`], its own cursor `primary-recheck`), and what
//!   the first read did not store is ingested and counted as found late.
//!
//! An event the poller can never store (its JSON is not a LogEvent, or the
//! ingest refuses it, e.g. a key over DynamoDB's limit) goes to [`RefusedEvents`]
//! (the final dead-letter queue) with its reason, and the cursor moves on: one
//! bad event never stalls the poller. Only if that hand-over fails does the
//! run fail, before the cursor is saved, so the page is read again.
//!
//! The cursor (window and the opaque next-page link) is saved after each page
//! with a conditional write, so a crash or timeout re-reads at most one page, and
//! two overlapping runs cannot both advance it.
//!
//! **Backfill** (first start): a deployment learns before it alerts. On its
//! very first run (no cursor, no detector progress) the poller fixes its main
//! cursor, opens a `backfill` cursor over the configured days before it, and
//! hands the detector a watermark that starts at the history and learns it
//! ([`Watermark::learn_until`]) once it is read ([`Watermark::history_pending`]:
//! until then the detector waits). Every run reads the backfill first, page by
//! page within its deadline, and the main cursor only once it is complete.

use std::collections::HashSet;
use std::future::Future;

use crate::ingest::{IngestError, Ingestor};
use crate::ports::{ActivityStore, PutOutcome, StoreError, StoreErrorKind, Watermark};
use crate::source::{LogSource, NextPage, SourceError};
use crate::time::{Hour, Millis, HOUR, MINUTE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    GapFill,
    Primary,
    /// Primary mode's hourly re-read of settled hours (not configurable: a
    /// primary run does it after its main read).
    PrimaryRecheck,
    /// The history read once, before the first run (not configurable).
    Backfill,
}

/// Primary mode re-reads an hour this long after it ends (at least its settle).
pub const RECHECK_SETTLE: Millis = 15 * MINUTE;

/// An event the poller read but can never store, and why. The reason never
/// quotes event content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused<'a> {
    /// The event as the API returned it.
    pub text: &'a str,
    /// `not_log_event`, a [`crate::ingest::Rejection`] code, or `StoreError`.
    pub code: &'static str,
    pub reason: String,
}

/// Where refused events go durably (the final dead-letter queue).
pub trait RefusedEvents: Send + Sync {
    /// Keeps `event`; an error fails the run before the cursor moves.
    fn refuse(&self, event: &Refused<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text.trim() {
            "gap-fill" => Some(Mode::GapFill),
            "primary" => Some(Mode::Primary),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::GapFill => "gap-fill",
            Mode::Primary => "primary",
            Mode::PrimaryRecheck => "primary-recheck",
            Mode::Backfill => "backfill",
        }
    }
}

/// Where the poller is: reading `[since, until)`, at `next` within it (`None`:
/// from the window's first page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub since: Millis,
    pub until: Millis,
    pub next: Option<NextPage>,
    /// Bumped by every save; a save expects the version it read.
    pub version: u64,
}

impl Cursor {
    /// A fixed window read to its end (a backfill's).
    pub fn done(&self) -> bool {
        self.next.is_none() && self.since >= self.until
    }
}

/// The poller's durable progress.
pub trait CursorStore: Send + Sync {
    fn load_cursor(
        &self,
        mode: Mode,
    ) -> impl Future<Output = Result<Option<Cursor>, StoreError>> + Send;

    /// Saves `next` if the stored cursor's version is still `expected` (`None`:
    /// no cursor stored yet). A lost race is an error, not an overwrite.
    fn save_cursor(
        &self,
        mode: Mode,
        next: &Cursor,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The detector's watermark, where the detector keeps it: a backfill hands
    /// it the history to learn. A store no detector reads has none.
    fn load_watermark(&self) -> impl Future<Output = Result<Option<Watermark>, StoreError>> + Send {
        std::future::ready(Ok(None))
    }

    /// Saves the detector's watermark if it is still `expected` (`None`: none
    /// yet); a lost race is a [`StoreErrorKind::Conflict`].
    fn save_watermark(
        &self,
        next: &Watermark,
        expected: Option<&Watermark>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (next, expected);
        std::future::ready(Ok(()))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    pub mode: Mode,
    /// How long after a time the API is trusted to have all its events.
    pub settle: Millis,
    /// Where an empty state starts: this long before `now`.
    pub lookback: Millis,
    /// Gap-fill: at most this many hours per run (the rest next run).
    pub max_hours_per_run: u32,
    /// History read and learned before the first run: this long before where
    /// the main cursor starts. 0: none.
    pub backfill: Millis,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    pub pages: u64,
    pub fetched: u64,
    /// Events written (new records).
    pub stored: u64,
    /// Events already stored (overlap, redelivery).
    pub duplicates: u64,
    /// Gap-fill: events of a settled hour that the stream had not delivered.
    pub missed: u64,
    /// Events the API returned that are not valid LogEvents (dead-lettered).
    pub invalid: u64,
    /// Valid LogEvents the ingest refused (dead-lettered).
    pub refused: u64,
    /// Primary: events of a settled hour that the first read had not stored
    /// (Okta persisted them after the read passed their time).
    pub found_late: u64,
    pub windows_done: u64,
    /// The start of what is not yet read: `now` minus this is the backlog.
    pub position: Millis,
    /// The run stopped for its deadline with work left.
    pub deadline_hit: bool,
    /// The history read before the first run is not complete yet.
    pub backfilling: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("Okta API: {0}")]
    Source(#[from] SourceError),
    #[error("storing: {0}")]
    Store(#[from] StoreError),
    #[error("ingesting: {0}")]
    Ingest(#[from] IngestError),
}

fn initial(mode: Mode, settings: &PollSettings, now: Millis) -> Cursor {
    let start = now - settings.lookback;
    match mode {
        // Only hours the main read reached before they settled need a second
        // look: history read long after the fact was complete when read.
        Mode::PrimaryRecheck => {
            let h = Hour::of(start.max(now - settings.settle.max(RECHECK_SETTLE)));
            Cursor {
                since: h.start(),
                until: h.end(),
                next: None,
                version: 0,
            }
        }
        Mode::GapFill => {
            let h = Hour::of(start);
            Cursor {
                since: h.start(),
                until: h.end(),
                next: None,
                version: 0,
            }
        }
        Mode::Primary => Cursor {
            since: start,
            until: now - settings.settle,
            next: None,
            version: 0,
        },
        // Opened by a first start only (`begin_backfill`); otherwise empty.
        Mode::Backfill => Cursor {
            since: start,
            until: start,
            next: None,
            version: 0,
        },
    }
}

/// One run at `now`: reads and ingests while `keep_going()` allows starting
/// another page (the invocation's deadline), saving the cursor after each page.
/// `clock` is the arrival time given to ingested events; `refused` keeps the
/// events that can never be stored.
#[allow(clippy::too_many_arguments)]
pub async fn poll<S, A, C, R>(
    source: &S,
    ingestor: &Ingestor<A>,
    cursors: &C,
    refused: &R,
    settings: &PollSettings,
    now: Millis,
    clock: impl Fn() -> Millis,
    keep_going: impl Fn() -> bool,
) -> Result<PollReport, PollError>
where
    S: LogSource,
    A: ActivityStore,
    C: CursorStore,
    R: RefusedEvents,
{
    let mut report = PollReport::default();
    let run = Run {
        source,
        ingestor,
        cursors,
        refused,
        settings,
        now,
    };
    if settings.backfill > 0 {
        run.begin_backfill().await?;
    }
    if let Some(history) = cursors.load_cursor(Mode::Backfill).await? {
        if !history.done() {
            run.pass(Mode::Backfill, &mut report, &clock, &keep_going)
                .await?;
        }
        // The main read waits for the history: the detector learns the
        // history before it publishes what the main read stores.
        if report.deadline_hit {
            report.backfilling = true;
            return Ok(report);
        }
        run.hand_over_history().await?;
    }
    run.pass(settings.mode, &mut report, &clock, &keep_going)
        .await?;
    if settings.mode == Mode::Primary && !report.deadline_hit {
        let position = report.position;
        run.pass(Mode::PrimaryRecheck, &mut report, &clock, &keep_going)
            .await?;
        // The backlog is the main read's.
        report.position = position;
    }
    Ok(report)
}

struct Run<'a, S, A, C, R> {
    source: &'a S,
    ingestor: &'a Ingestor<A>,
    cursors: &'a C,
    refused: &'a R,
    settings: &'a PollSettings,
    now: Millis,
}

impl<S, A, C, R> Run<'_, S, A, C, R>
where
    S: LogSource,
    A: ActivityStore,
    C: CursorStore,
    R: RefusedEvents,
{
    /// On a deployment's first start (no cursor, no detector progress): fixes
    /// the main cursor, opens the backfill over the history before it, and
    /// hands the detector a watermark that learns that history once read.
    /// Anything else (a running deployment, a detector that started first)
    /// backfills nothing: its history would only be late events.
    async fn begin_backfill(&self) -> Result<(), PollError> {
        let (mode, settings, now) = (self.settings.mode, self.settings, self.now);
        if self.cursors.load_cursor(mode).await?.is_some()
            || self.cursors.load_cursor(Mode::Backfill).await?.is_some()
        {
            return Ok(());
        }
        let stored = self.cursors.load_watermark().await?;
        // A watermark still waiting for its history is one a first start
        // saved before it stopped: carry on.
        if stored.is_some_and(|w| !w.history_pending) {
            return Ok(());
        }
        let main = initial(mode, settings, now);
        let history = Cursor {
            since: now - settings.backfill,
            until: main.since,
            next: None,
            version: 0,
        };
        if history.since >= history.until {
            return Ok(());
        }
        if stored.is_none() {
            let wm = Watermark {
                learn_until: Some(Hour::of(history.until)),
                history_pending: true,
                ..Watermark::starting(Hour::of(history.since), now)
            };
            match self.cursors.save_watermark(&wm, None).await {
                Ok(()) => {}
                Err(e) if e.kind == StoreErrorKind::Conflict => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        self.cursors.save_cursor(mode, &main, None).await?;
        self.cursors
            .save_cursor(Mode::Backfill, &history, None)
            .await?;
        Ok(())
    }

    /// Once the history is read, lets the detector learn it.
    async fn hand_over_history(&self) -> Result<(), PollError> {
        let done = self
            .cursors
            .load_cursor(Mode::Backfill)
            .await?
            .is_some_and(|c| c.done());
        if !done {
            return Ok(());
        }
        if let Some(wm) = self.cursors.load_watermark().await? {
            if wm.history_pending {
                let ready = Watermark {
                    history_pending: false,
                    ..wm
                };
                self.cursors.save_watermark(&ready, Some(&wm)).await?;
            }
        }
        Ok(())
    }

    /// One cursor's reading, hourly (gap-fill, recheck) or up to the settled edge.
    async fn pass(
        &self,
        mode: Mode,
        report: &mut PollReport,
        clock: &impl Fn() -> Millis,
        keep_going: &impl Fn() -> bool,
    ) -> Result<(), PollError> {
        let settings = self.settings;
        let hourly = !matches!(mode, Mode::Primary | Mode::Backfill);
        let stored_cursor = self.cursors.load_cursor(mode).await?;
        let mut expected = stored_cursor.as_ref().map(|c| c.version);
        let mut cursor = match stored_cursor {
            Some(c) => c,
            None => {
                // Fixed by the first run: a start recomputed at every run would
                // slide past hours that were not ready yet.
                let first = initial(mode, settings, self.now);
                self.cursors.save_cursor(mode, &first, None).await?;
                expected = Some(first.version);
                first
            }
        };
        let mut known: Option<(Millis, HashSet<String>)> = None;
        let settled = match mode {
            Mode::PrimaryRecheck => self.now - settings.settle.max(RECHECK_SETTLE),
            _ => self.now - settings.settle,
        };
        let mut windows_done = 0u64;
        loop {
            report.position = cursor.since;
            // Primary: a window that ended is extended to what has settled
            // since. A backfill's window is fixed.
            if mode == Mode::Primary && cursor.next.is_none() && cursor.until < settled {
                cursor.until = settled;
            }
            let ready = if hourly {
                cursor.until <= settled
            } else {
                cursor.since < cursor.until
            };
            if !ready || (hourly && windows_done >= u64::from(settings.max_hours_per_run)) {
                return Ok(());
            }
            if !keep_going() {
                report.deadline_hit = true;
                return Ok(());
            }
            if hourly && known.as_ref().map(|k| k.0) != Some(cursor.since) {
                known = Some((
                    cursor.since,
                    stored_uuids(self.ingestor.store(), Hour::of(cursor.since)).await?,
                ));
            }
            let page = match &cursor.next {
                Some(next) => self.source.next_page(next).await?,
                // One millisecond of overlap with the previous window: whether Okta's
                // bounds include their endpoints, no boundary event falls between two
                // windows. A re-read event is a duplicate, never counted as missed.
                None => {
                    self.source
                        .first_page(cursor.since - 1, cursor.until)
                        .await?
                }
            };
            report.pages += 1;
            for text in &page.events {
                report.fetched += 1;
                let stored_set = known.as_ref().map(|(_, stored)| stored);
                self.one(mode, text, stored_set, report, clock).await?;
            }
            let next = match page.next {
                Some(next) => Cursor {
                    next: Some(next),
                    version: cursor.version + 1,
                    ..cursor.clone()
                },
                None => {
                    report.windows_done += 1;
                    windows_done += 1;
                    let until = match mode {
                        _ if hourly => cursor.until + HOUR,
                        Mode::Backfill => cursor.until,
                        _ => cursor.until.max(settled),
                    };
                    Cursor {
                        since: cursor.until,
                        until,
                        next: None,
                        version: cursor.version + 1,
                    }
                }
            };
            self.cursors.save_cursor(mode, &next, expected).await?;
            expected = Some(next.version);
            cursor = next;
        }
    }

    /// One event of a page: stored, a duplicate, or refused into the final queue.
    async fn one(
        &self,
        mode: Mode,
        text: &str,
        known: Option<&HashSet<String>>,
        report: &mut PollReport,
        clock: &impl Fn() -> Millis,
    ) -> Result<(), PollError> {
        let event = match self.ingestor.parse(text.as_bytes()) {
            Ok(e) => e,
            Err(e) => {
                report.invalid += 1;
                let reason = format!("detail is not an Okta LogEvent: {e}");
                return self.refuse(text, "not_log_event", reason).await;
            }
        };
        let checked = known.map(|stored| stored.contains(&event.uuid));
        if checked == Some(true) {
            report.duplicates += 1;
            return Ok(());
        }
        let ingested = match self.ingestor.ingest(&event, clock()).await {
            Ok(i) => i,
            Err(IngestError::Rejected(r)) => {
                report.refused += 1;
                return self.refuse(text, r.code(), r.to_string()).await;
            }
            // Storing can never succeed for this event (DynamoDB refused the
            // item itself): kept with its reason, as recovery does.
            Err(IngestError::Store(e)) if !e.retryable() => {
                report.refused += 1;
                return self.refuse(text, "StoreError", e.to_string()).await;
            }
            // May pass: the run fails before the cursor moves; the next run
            // re-reads this page.
            Err(e) => return Err(e.into()),
        };
        match ingested.outcome {
            PutOutcome::Stored => {
                report.stored += 1;
                // Not in the settled hour's index and new to the table: the
                // stream never delivered it, or the first read came too early.
                match (checked, mode) {
                    (Some(false), Mode::PrimaryRecheck) => report.found_late += 1,
                    (Some(false), _) => report.missed += 1,
                    _ => {}
                }
            }
            PutOutcome::Duplicate => report.duplicates += 1,
        }
        Ok(())
    }

    async fn refuse(
        &self,
        text: &str,
        code: &'static str,
        reason: String,
    ) -> Result<(), PollError> {
        self.refused
            .refuse(&Refused { text, code, reason })
            .await
            .map_err(PollError::Store)
    }
}

/// The uuids of the events stored for `hour` (actor records: one per event),
/// read as keys only.
async fn stored_uuids<A: ActivityStore>(
    store: &A,
    hour: Hour,
) -> Result<HashSet<String>, StoreError> {
    store.hour_uuids(hour).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_state_starts_a_lookback_ago() {
        let s = PollSettings {
            mode: Mode::GapFill,
            settle: 15 * 60_000,
            lookback: 2 * HOUR,
            max_hours_per_run: 24,
            backfill: 0,
        };
        let now = 10 * HOUR + 30 * 60_000;
        let c = initial(Mode::GapFill, &s, now);
        assert_eq!((c.since, c.until), (8 * HOUR, 9 * HOUR));
        let c = initial(Mode::Primary, &s, now);
        assert_eq!((c.since, c.until), (now - 2 * HOUR, now - 15 * 60_000));
        assert_eq!(Mode::parse("gap-fill"), Some(Mode::GapFill));
        assert_eq!(Mode::parse("primary"), Some(Mode::Primary));
        assert_eq!(Mode::parse("push"), None);
    }
}
