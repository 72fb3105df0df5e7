//! The one retry policy of okta-itdr: a first wait, doubled after each further
//! failure, up to a cap. Its users differ only in the numbers: DynamoDB batch
//! leftovers (100 ms to 3 s, with jitter), the Okta API (1 s to 64 s), a
//! recovery message (1 minute to 12 hours), a finding that failed to publish
//! (the configured minutes to a day).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Backoff { first, cap }
    }

    /// The wait after failed attempt `attempt` (1-based): `first` doubled
    /// `attempt - 1` times, at most `cap`.
    pub fn delay(&self, attempt: u32) -> Duration {
        // 2^30 times any first wait is past every cap in use: no overflow.
        let doublings = attempt.saturating_sub(1).min(30);
        self.first.saturating_mul(1 << doublings).min(self.cap)
    }

    /// [`Backoff::delay`] with "equal jitter": half the delay, plus a share of
    /// the other half chosen by `entropy`, so callers that failed together do
    /// not retry together.
    pub fn jittered(&self, attempt: u32, entropy: u64) -> Duration {
        let full = self.delay(attempt);
        let half = full / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(entropy % spread.saturating_add(1))
    }

    /// The waits before attempts 2 to `attempts`, added up.
    pub fn window(&self, attempts: u32) -> Duration {
        (1..attempts).map(|a| self.delay(a)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn doubles_from_the_first_wait_up_to_the_cap() {
        let b = Backoff::new(MINUTE, 12 * 60 * MINUTE);
        assert_eq!(b.delay(0), MINUTE);
        assert_eq!(b.delay(1), MINUTE);
        assert_eq!(b.delay(2), 2 * MINUTE);
        assert_eq!(b.delay(10), 512 * MINUTE);
        assert_eq!(b.delay(11), 12 * 60 * MINUTE);
        assert_eq!(b.delay(u32::MAX), 12 * 60 * MINUTE);
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_delay() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(3));
        for attempt in 1..10 {
            for entropy in [0, 1, 7, 999_999_937, u64::MAX] {
                let d = b.jittered(attempt, entropy);
                assert!(d >= b.delay(attempt) / 2 && d <= b.delay(attempt), "{d:?}");
            }
        }
    }

    #[test]
    fn the_window_adds_the_waits_between_attempts() {
        let b = Backoff::new(MINUTE, 12 * 60 * MINUTE);
        assert_eq!(b.window(1), Duration::ZERO);
        assert_eq!(b.window(3), 3 * MINUTE);
    }
}
