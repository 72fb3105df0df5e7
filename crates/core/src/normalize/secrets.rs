//! Usernames typed into a failed sign-in are untrusted text: people type their
//! password there. For actors Okta could not resolve, the typed text is replaced by
//! a keyed hash before it is stored, logged or alerted on. The hash is stable for a
//! given key, so detections can still count distinct usernames.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Keyed hash of untrusted usernames.
#[derive(Clone)]
pub struct UsernameHasher {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for UsernameHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsernameHasher(<key redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the username hash key must be at least {min} bytes, got {got}")]
pub struct WeakKey {
    pub min: usize,
    pub got: usize,
}

impl UsernameHasher {
    pub const MIN_KEY_LEN: usize = 16;

    pub fn new(key: &[u8]) -> Result<Self, WeakKey> {
        if key.len() < Self::MIN_KEY_LEN {
            return Err(WeakKey {
                min: Self::MIN_KEY_LEN,
                got: key.len(),
            });
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| WeakKey {
            min: Self::MIN_KEY_LEN,
            got: key.len(),
        })?;
        Ok(UsernameHasher { mac })
    }

    /// `hmac:` and 32 hex digits (128 bits of HMAC-SHA256) of the trimmed,
    /// lower-cased text: `Alice@Acme.com ` and `alice@acme.com` hash alike.
    pub fn hash(&self, username: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(username.trim().to_lowercase().as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("hmac:{}", hex::encode(&digest[..16]))
    }
}

/// Whether typed text looks like a secret rather than a login. A login is an
/// email address or a plain handle (`jsmith`, `john.smith2`); a password mixes
/// character classes or carries symbols logins do not.
pub fn looks_like_secret(text: &str) -> bool {
    let t = text.trim();
    if t.len() < 8 || t.contains(char::is_whitespace) && t.split_whitespace().count() > 3 {
        return false;
    }
    if looks_like_login(t) {
        return false;
    }
    let lower = t.chars().any(|c| c.is_ascii_lowercase());
    let upper = t.chars().any(|c| c.is_ascii_uppercase());
    let digit = t.chars().any(|c| c.is_ascii_digit());
    let symbol = t
        .chars()
        .any(|c| !c.is_ascii_alphanumeric() && !matches!(c, '.' | '_' | '-' | '@'));
    let classes = [lower, upper, digit, symbol].iter().filter(|b| **b).count();
    classes >= 3 || (symbol && classes >= 2)
}

fn looks_like_login(t: &str) -> bool {
    if let Some((local, domain)) = t.split_once('@') {
        return !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    }
    // DOMAIN\user (AD-style logins delegated to Okta)
    let t = t.rsplit('\\').next().unwrap_or(t);
    t.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_keyed_stable_and_hides_the_text() {
        let a = UsernameHasher::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let b = UsernameHasher::new(b"another-key-another-key-another!").unwrap();
        let h = a.hash("Winter2026!Pass");
        assert!(h.starts_with("hmac:") && h.len() == 5 + 32);
        assert!(!h.contains("Winter"));
        assert_eq!(h, a.hash("  winter2026!pass "));
        assert_ne!(h, b.hash("Winter2026!Pass"));
        assert_ne!(h, a.hash("Winter2026!Pas"));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            UsernameHasher::new(b"short").unwrap_err(),
            WeakKey { min: 16, got: 5 }
        );
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let a = UsernameHasher::new(b"0123456789abcdef0123456789abcdef").unwrap();
        assert!(!format!("{a:?}").contains("0123"));
    }

    #[test]
    fn passwords_are_told_from_logins() {
        for secret in [
            "Winter2026!Pass",
            "hunter2hunter2!",
            "P@ssw0rd123",
            "Tr0ub4dor&3x",
            "correct*horse9",
        ] {
            assert!(looks_like_secret(secret), "{secret}");
        }
        for login in [
            "alice@acme.com",
            "Alice.Smith@Acme.COM",
            "jsmith",
            "john.smith2",
            "ACME\\jsmith",
            "bob",
            "svc-okta-sync",
            "unknown",
        ] {
            assert!(!looks_like_secret(login), "{login}");
        }
    }
}
