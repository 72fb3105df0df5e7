//! Time as integer milliseconds since the Unix epoch, and the hour buckets that
//! partition activity for the hourly detector.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

pub fn parse_rfc3339_ms(text: &str) -> Option<Millis> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `2026-11-10T14:03:00.123Z`: fixed width, so text order is time order.
pub fn format_rfc3339_ms(ms: Millis) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return format!("invalid-time-{ms}");
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An hour bucket: the number of whole hours since the epoch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Hour(pub i64);

impl Hour {
    pub fn of(ms: Millis) -> Hour {
        Hour(ms.div_euclid(HOUR))
    }
    pub fn start(self) -> Millis {
        self.0 * HOUR
    }
    pub fn end(self) -> Millis {
        (self.0 + 1) * HOUR
    }
    pub fn next(self) -> Hour {
        Hour(self.0 + 1)
    }
    pub fn prev(self) -> Hour {
        Hour(self.0 - 1)
    }
    /// `2026-11-10T14`: the text form used in keys.
    pub fn label(self) -> String {
        let s = format_rfc3339_ms(self.start());
        s[..13].to_owned()
    }
    pub fn parse_label(label: &str) -> Option<Hour> {
        parse_rfc3339_ms(&format!("{label}:00:00Z")).map(Hour::of)
    }
}

impl std::fmt::Display for Hour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        let ms = parse_rfc3339_ms("2026-11-10T14:03:00.5+01:00").unwrap();
        assert_eq!(format_rfc3339_ms(ms), "2026-11-10T13:03:00.500Z");
        let h = Hour::of(ms);
        assert_eq!(h.label(), "2026-11-10T13");
        assert_eq!(Hour::parse_label("2026-11-10T13"), Some(h));
        assert!(h.start() <= ms && ms < h.end());
        assert!(format_rfc3339_ms(ms) < format_rfc3339_ms(ms + 1));
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(parse_rfc3339_ms("2026-11-10 14:03"), None);
    }

    #[test]
    fn negative_times_bucket_downwards() {
        assert_eq!(Hour::of(-1), Hour(-1));
    }
}
