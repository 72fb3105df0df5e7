//! The rate-limit share. Okta reports the org-wide limit of the endpoint on every
//! response (`X-Rate-Limit-Limit`, `-Remaining`, `-Reset` in epoch seconds). The
//! org's admins and other integrations draw from the same limit, so the client
//! uses at most `share` of each window: it counts its own requests in the window
//! (identified by its reset time), and it also stops while fewer than the others'
//! part (`limit − share·limit`) remain. Either way it sleeps until the reset.

use okta_itdr_core::time::Millis;

/// What the last response said about the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub limit: u64,
    pub remaining: u64,
    /// Epoch seconds at which the window resets.
    pub reset: i64,
}

impl Reading {
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Reading> {
        let num =
            |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(Reading {
            limit: u64::try_from(num("x-rate-limit-limit")?).ok()?,
            remaining: u64::try_from(num("x-rate-limit-remaining")?).ok()?,
            reset: num("x-rate-limit-reset")?,
        })
    }
}

#[derive(Debug)]
pub struct Budget {
    share: f64,
    last: Option<Reading>,
    /// Our requests in the window that resets at `last.reset`.
    own: u64,
}

/// A little past the reset second, so the first request lands in the new window.
const RESET_MARGIN_MS: Millis = 50;

impl Budget {
    pub fn new(share: f64) -> Self {
        Budget {
            share: share.clamp(0.01, 1.0),
            last: None,
            own: 0,
        }
    }

    /// Our allowance per window.
    fn allowed(&self, limit: u64) -> u64 {
        ((limit as f64 * self.share).floor() as u64).max(1)
    }

    /// How long to wait before the next request at `now` (0 = go now).
    pub fn wait_before_request(&self, now: Millis) -> Millis {
        let Some(r) = self.last else { return 0 };
        let reset_ms = r.reset * 1000 + RESET_MARGIN_MS;
        if now >= reset_ms {
            return 0;
        }
        let allowed = self.allowed(r.limit);
        let reserve = r.limit.saturating_sub(allowed);
        if self.own >= allowed || r.remaining <= reserve {
            reset_ms - now
        } else {
            0
        }
    }

    /// The wait a 429 asks for: until the reset it reports (at least a second
    /// when the header is missing or already past, so a 429 is never retried hot).
    pub fn wait_after_429(reading: Option<Reading>, now: Millis) -> Millis {
        reading
            .map(|r| r.reset * 1000 + RESET_MARGIN_MS - now)
            .filter(|w| *w > 0)
            .unwrap_or(1000)
    }

    /// Takes the reading of a response to one of our requests.
    pub fn observe(&mut self, reading: Option<Reading>) {
        let Some(r) = reading else { return };
        match self.last {
            Some(prev) if prev.reset == r.reset => self.own += 1,
            _ => self.own = 1,
        }
        self.last = Some(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(limit: u64, remaining: u64, reset: i64) -> Option<Reading> {
        Some(Reading {
            limit,
            remaining,
            reset,
        })
    }

    #[test]
    fn stops_at_its_share_of_the_window_and_goes_on_after_the_reset() {
        let mut b = Budget::new(0.5);
        assert_eq!(b.wait_before_request(0), 0, "nothing known yet");
        for i in 0..5 {
            assert_eq!(b.wait_before_request(1_000), 0, "request {i}");
            b.observe(reading(10, 9 - i, 60));
        }
        assert_eq!(b.wait_before_request(1_000), 59_050, "5 of 10 used");
        assert_eq!(b.wait_before_request(60_050), 0, "new window");
        b.observe(reading(10, 9, 120));
        assert_eq!(b.wait_before_request(61_000), 0);
    }

    #[test]
    fn leaves_the_others_their_part() {
        let mut b = Budget::new(0.5);
        // Others already used 6 of 10: 4 remain, below the 5 reserved for them.
        b.observe(reading(10, 4, 60));
        assert!(b.wait_before_request(1_000) > 0);
    }

    #[test]
    fn a_429_waits_for_the_reset_and_never_zero() {
        assert_eq!(Budget::wait_after_429(reading(10, 0, 60), 10_000), 50_050);
        assert_eq!(Budget::wait_after_429(None, 10_000), 1_000);
        assert_eq!(Budget::wait_after_429(reading(10, 0, 5), 10_000), 1_000);
    }

    #[test]
    fn share_one_may_use_the_whole_window() {
        let mut b = Budget::new(1.0);
        b.observe(reading(3, 1, 60));
        assert_eq!(b.wait_before_request(0), 0);
        b.observe(reading(3, 0, 60));
        assert!(b.wait_before_request(0) > 0);
    }
}
