//! A value that must never be printed or outlive its use in memory: API tokens,
//! private keys, access tokens, the username hash key. The one secret type of
//! okta-itdr (the functions' settings use it too).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Holds a secret string. `Debug` and `Display` print a fixed placeholder, so a
/// secret cannot reach a log line, an error or CLI output by formatting; the
/// memory is zeroed when it is dropped (`secrecy`).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The value, for the one place that uses it (a header, a signature, a key).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Whether two settings hold the same secret (a rotation check); not
/// constant-time, so never for checking a secret an attacker sends.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

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
