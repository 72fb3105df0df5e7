//! The Okta System Log as an input of the CLI: the client from the command line
//! and the environment, the time arguments, and the pages as a stream of events
//! for `replay --okta`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use okta_itdr_core::event::LogEvent;
use okta_itdr_core::source::{LogSource, NextPage, SourceError};
use okta_itdr_core::time::{parse_rfc3339_ms, Millis, DAY, HOUR, MINUTE, SECOND};
use okta_itdr_okta::{ClientConfig, Credentials, OktaClient, OrgUrl};

use crate::args::OktaArgs;
use crate::error::CliError;
use crate::input::SkipReason;
use crate::merge::{Item, Skipped};

/// `--since`/`--until`: RFC 3339 (`2026-11-01T00:00:00Z`), a date
/// (`2026-11-01`, midnight UTC) or an age before `now` (`7d`, `12h`, `30m`).
pub fn parse_time(text: &str, now: Millis) -> Result<Millis, CliError> {
    let t = text.trim();
    if let Some(ms) = parse_rfc3339_ms(t) {
        return Ok(ms);
    }
    if t.len() == 10 {
        if let Some(ms) = parse_rfc3339_ms(&format!("{t}T00:00:00Z")) {
            return Ok(ms);
        }
    }
    let unit = match t.chars().last() {
        Some('d') => DAY,
        Some('h') => HOUR,
        Some('m') => MINUTE,
        Some('s') => SECOND,
        _ => 0,
    };
    match t[..t.len().saturating_sub(1)].parse::<u32>() {
        Ok(n) if unit > 0 => Ok(now - i64::from(n) * unit),
        _ => Err(CliError::Time(format!(
            "{text:?} is not a time: use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01) or an age (7d, 12h, 30m)"
        ))),
    }
}

/// The window `[since, until)`; `until` defaults to now.
pub fn window(since: &str, until: Option<&str>, now: Millis) -> Result<(Millis, Millis), CliError> {
    let since = parse_time(since, now)?;
    let until = match until {
        Some(u) => parse_time(u, now)?,
        None => now,
    };
    if since >= until {
        return Err(CliError::Time("--since must be before --until".to_owned()));
    }
    Ok((since, until))
}

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or_default()
}

/// The client for `org`, with credentials from `--credentials FILE` or the
/// environment (`OKTA_API_TOKEN`; or `OKTA_CLIENT_ID`, `OKTA_PRIVATE_KEY_FILE`,
/// `OKTA_KEY_ID`).
pub fn client(org: &str, args: &OktaArgs) -> Result<OktaClient, CliError> {
    let org = OrgUrl::parse(org).map_err(|e| CliError::Okta(e.to_string()))?;
    let credentials = match &args.credentials {
        Some(path) => Credentials::from_file(Path::new(path)),
        None => Credentials::from_env(|k| std::env::var(k).ok()),
    }
    .map_err(|e| CliError::Okta(e.to_string()))?;
    if !(args.rate_share > 0.0 && args.rate_share <= 1.0) {
        return Err(CliError::Okta("--rate-share must be in (0, 1]".to_owned()));
    }
    let config = ClientConfig {
        page_size: args.page_size.clamp(1, 1000),
        rate_share: args.rate_share,
        max_rate_wait: Duration::from_secs(args.max_rate_wait),
        ..ClientConfig::default()
    };
    OktaClient::new(org, credentials, config).map_err(|e| CliError::Okta(e.to_string()))
}

/// The events of `[since, until)` as replay items, page by page, fetched on the
/// reading thread. A failure ends the stream and is left in `error`.
pub struct OktaItems {
    runtime: tokio::runtime::Runtime,
    client: Arc<OktaClient>,
    state: Fetch,
    buffer: std::vec::IntoIter<String>,
    line: u64,
    pub error: Arc<Mutex<Option<SourceError>>>,
}

enum Fetch {
    First(Millis, Millis),
    Next(NextPage),
    Done,
}

impl OktaItems {
    pub fn new(client: Arc<OktaClient>, since: Millis, until: Millis) -> Result<Self, CliError> {
        Ok(OktaItems {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            client,
            state: Fetch::First(since, until),
            buffer: Vec::new().into_iter(),
            line: 0,
            error: Arc::new(Mutex::new(None)),
        })
    }
}

impl Iterator for OktaItems {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(text) = self.buffer.next() {
                self.line += 1;
                return Some(match LogEvent::from_slice(text.as_bytes()) {
                    Ok(e) => Item::Event(Box::new(e)),
                    Err(e) => Item::Skipped(Skipped {
                        file: Arc::from(self.client.org().to_string()),
                        line: self.line,
                        reason: SkipReason::NotLogEvent(e.to_string()),
                    }),
                });
            }
            let client = self.client.clone();
            let page = match std::mem::replace(&mut self.state, Fetch::Done) {
                Fetch::Done => return None,
                Fetch::First(since, until) => self
                    .runtime
                    .block_on(async move { client.first_page(since, until).await }),
                Fetch::Next(next) => self
                    .runtime
                    .block_on(async move { client.next_page(&next).await }),
            };
            match page {
                Ok(page) => {
                    if let Some(next) = page.next {
                        self.state = Fetch::Next(next);
                    }
                    self.buffer = page.events.into_iter();
                }
                Err(e) => {
                    *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_dates_or_ages() {
        let now = parse_rfc3339_ms("2026-11-29T12:00:00Z").unwrap();
        assert_eq!(
            parse_time("7d", now).unwrap(),
            parse_rfc3339_ms("2026-11-22T12:00:00Z").unwrap()
        );
        assert_eq!(parse_time("90m", now).unwrap(), now - 90 * MINUTE);
        assert_eq!(
            parse_time("2026-11-01", now).unwrap(),
            parse_rfc3339_ms("2026-11-01T00:00:00Z").unwrap()
        );
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("d", now).is_err());
        assert!(window("1h", Some("2h"), now).is_err(), "since after until");
    }
}
