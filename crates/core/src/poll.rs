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
//!
//! The cursor (window and the opaque next-page link) is saved after each page
//! with a conditional write, so a crash or timeout re-reads at most one page, and
//! two overlapping runs cannot both advance it.

use std::collections::HashSet;
use std::future::Future;

use crate::ingest::{IngestError, Ingestor};
use crate::ports::{ActivityStore, PutOutcome, Scope, StoreError};
use crate::source::{LogSource, NextPage, SourceError};
use crate::time::{Hour, Millis, HOUR};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    GapFill,
    Primary,
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
    /// Events the API returned that are not valid LogEvents (not stored).
    pub invalid: u64,
    pub windows_done: u64,
    /// The start of what is not yet read: `now` minus this is the backlog.
    pub position: Millis,
    /// The run stopped for its deadline with work left.
    pub deadline_hit: bool,
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
    }
}

/// One run at `now`: reads and ingests while `keep_going()` allows starting
/// another page (the invocation's deadline), saving the cursor after each page.
/// `clock` is the arrival time given to ingested events.
pub async fn poll<S, A, C>(
    source: &S,
    ingestor: &Ingestor<A>,
    cursors: &C,
    settings: &PollSettings,
    now: Millis,
    clock: impl Fn() -> Millis,
    keep_going: impl Fn() -> bool,
) -> Result<PollReport, PollError>
where
    S: LogSource,
    A: ActivityStore,
    C: CursorStore,
{
    let mode = settings.mode;
    let stored_cursor = cursors.load_cursor(mode).await?;
    let mut expected = stored_cursor.as_ref().map(|c| c.version);
    let mut cursor = stored_cursor.unwrap_or_else(|| initial(mode, settings, now));
    let mut report = PollReport::default();
    let mut known: Option<(Millis, HashSet<String>)> = None;
    let settled = now - settings.settle;
    loop {
        report.position = cursor.since;
        // Primary: a window that ended is extended to what has settled since.
        if mode == Mode::Primary && cursor.next.is_none() && cursor.until < settled {
            cursor.until = settled;
        }
        let ready = match mode {
            Mode::GapFill => cursor.until <= settled,
            Mode::Primary => cursor.since < cursor.until,
        };
        if !ready
            || (mode == Mode::GapFill
                && report.windows_done >= u64::from(settings.max_hours_per_run))
        {
            return Ok(report);
        }
        if !keep_going() {
            report.deadline_hit = true;
            return Ok(report);
        }
        if mode == Mode::GapFill && known.as_ref().map(|k| k.0) != Some(cursor.since) {
            known = Some((
                cursor.since,
                stored_uuids(ingestor.store(), Hour::of(cursor.since)).await?,
            ));
        }
        let page = match &cursor.next {
            Some(next) => source.next_page(next).await?,
            // One millisecond of overlap with the previous window: whether Okta's
            // bounds include their endpoints, no boundary event falls between two
            // windows. A re-read event is a duplicate, never counted as missed.
            None => source.first_page(cursor.since - 1, cursor.until).await?,
        };
        report.pages += 1;
        for text in &page.events {
            report.fetched += 1;
            let event = match ingestor.parse(text.as_bytes()) {
                Ok(e) => e,
                // Counted (the caller logs and alarms on it); the page goes on.
                Err(_) => {
                    report.invalid += 1;
                    continue;
                }
            };
            let checked = known
                .as_ref()
                .map(|(_, stored)| stored.contains(&event.uuid));
            if checked == Some(true) {
                report.duplicates += 1;
                continue;
            }
            match ingestor.ingest(&event, clock()).await?.outcome {
                PutOutcome::Stored => {
                    report.stored += 1;
                    // Not in the settled hour's index and new to the table:
                    // the stream never delivered it.
                    if checked == Some(false) {
                        report.missed += 1;
                    }
                }
                PutOutcome::Duplicate => report.duplicates += 1,
            }
        }
        let next = match page.next {
            Some(next) => Cursor {
                next: Some(next),
                version: cursor.version + 1,
                ..cursor.clone()
            },
            None => {
                report.windows_done += 1;
                let until = match mode {
                    Mode::GapFill => cursor.until + HOUR,
                    Mode::Primary => cursor.until.max(settled),
                };
                Cursor {
                    since: cursor.until,
                    until,
                    next: None,
                    version: cursor.version + 1,
                }
            }
        };
        cursors.save_cursor(mode, &next, expected).await?;
        expected = Some(next.version);
        cursor = next;
    }
}

/// The uuids of the events stored for `hour` (actor records: one per event).
async fn stored_uuids<A: ActivityStore>(
    store: &A,
    hour: Hour,
) -> Result<HashSet<String>, StoreError> {
    let mut records = Vec::new();
    store.read_hour(hour, Scope::All, &mut records).await?;
    Ok(records.iter().map(|r| r.uuid.to_string()).collect())
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
