//! The wall clock, for the binaries and for expiry times. Handlers take their
//! clock as a parameter so tests can run them at any time; only the edges read
//! this.

use okta_itdr_core::time::Millis;

/// Milliseconds since the Unix epoch, now.
pub fn wall_clock() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
