//! A value that must never be printed: API tokens, private keys, access tokens.

use std::fmt;

/// Holds a secret string. `Debug` and `Display` print a fixed placeholder, so a
/// secret cannot reach a log line, an error or CLI output by formatting.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it (a header, a signature).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("00abcSECRET");
        assert!(!format!("{s:?} {s} {:#?}", Some(&s)).contains("SECRET"));
        assert_eq!(s.expose(), "00abcSECRET");
    }
}
