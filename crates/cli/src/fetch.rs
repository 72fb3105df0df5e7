//! `okta-itdr fetch`: the System Log of an org for a time window, as JSON Lines
//! that `replay` reads. Resumes into the same file without duplicates.

use std::sync::atomic::Ordering;

use okta_itdr_core::source::LogSource;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms};

use crate::args::FetchArgs;
use crate::error::CliError;
use crate::fetch_file::{scan, Existing, Sink};
use crate::fetch_source::{client, now_ms, window};
use crate::replay_cmd::Io;

/// What a fetch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchSummary {
    pub written: u64,
    pub already: u64,
    pub pages: u64,
}

#[derive(serde::Deserialize)]
struct Key<'a> {
    #[serde(borrow)]
    uuid: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    published: std::borrow::Cow<'a, str>,
}

pub fn run(args: &FetchArgs, io: Io<'_>) -> Result<FetchSummary, CliError> {
    let (since, until) = window(&args.since, args.until.as_deref(), now_ms())?;
    let client = client(&args.org, &args.okta)?;
    let (existing, mut sink) = match &args.output {
        Some(path) => {
            let existing = scan(path).map_err(|e| CliError::Okta(e.to_string()))?;
            let sink = Sink::open(path, existing.valid_len)?;
            (existing, sink)
        }
        None => (Existing::default(), Sink::Stdout(io.out)),
    };
    let err = io.err;
    // Resume where the file ends, a millisecond early in case Okta's `since` is
    // exclusive; what comes back again (that millisecond, and the file's last
    // one) is recognised and skipped.
    let start = existing
        .last_published
        .map_or(since, |last| (last - 1).max(since));
    if existing.events > 0 {
        writeln!(
            err,
            "resuming: {} events already in the file, continuing from {}",
            existing.events,
            format_rfc3339_ms(start)
        )?;
    }
    writeln!(
        err,
        "fetching the System Log of {} from {} to {}",
        client.org(),
        format_rfc3339_ms(start),
        format_rfc3339_ms(until)
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut summary = FetchSummary {
        already: existing.events,
        ..FetchSummary::default()
    };
    let result: Result<(), CliError> = runtime.block_on(async {
        let mut page = client.first_page(start, until).await?;
        loop {
            let fresh: Vec<&str> = page
                .events
                .iter()
                .map(String::as_str)
                .filter(|e| is_new(e, &existing))
                .collect();
            sink.write_page(&fresh)?;
            summary.written += fresh.len() as u64;
            summary.pages += 1;
            let stats = client.stats();
            writeln!(
                err,
                "fetched {} events ({} pages, {} rate-limit waits)",
                summary.written,
                summary.pages,
                stats.rate_waits.load(Ordering::Relaxed)
            )?;
            match page.next.take() {
                Some(next) => page = client.next_page(&next).await?,
                None => return Ok(()),
            }
        }
    });
    result?;
    let stats = client.stats();
    writeln!(
        err,
        "done: {} new events, {} pages, {} requests, {} rate-limit waits ({:.1} s)",
        summary.written,
        summary.pages,
        stats.requests.load(Ordering::Relaxed),
        stats.rate_waits.load(Ordering::Relaxed),
        stats.rate_wait_ms.load(Ordering::Relaxed) as f64 / 1000.0
    )?;
    Ok(summary)
}

/// Not already in the file. Only events of the file's last millisecond can be
/// returned again by the resumed query.
fn is_new(event: &str, existing: &Existing) -> bool {
    let Some(last) = existing.last_published else {
        return true;
    };
    match serde_json::from_str::<Key>(event) {
        Ok(k) => match parse_rfc3339_ms(&k.published) {
            Some(p) if p < last => false,
            Some(p) if p == last => !existing.at_last.contains(k.uuid.as_ref()),
            _ => true,
        },
        Err(_) => true,
    }
}
