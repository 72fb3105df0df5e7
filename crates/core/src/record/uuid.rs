//! An event's `uuid`, the one value unique to every record: Okta's are canonical
//! lowercase UUIDs, held as their 16 bytes; anything else is kept as text.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Text;

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Uuid {
    /// A canonical lowercase UUID (`8-4-4-4-12` hex digits).
    Canonical([u8; 16]),
    /// Any other text: it round-trips as it came.
    Other(Text),
}

const DASHES: [usize; 4] = [8, 13, 18, 23];

impl Uuid {
    pub fn parse(text: &str) -> Uuid {
        parse_canonical(text.as_bytes())
            .map(Uuid::Canonical)
            .unwrap_or_else(|| Uuid::Other(text.into()))
    }

    /// The text form, without allocating for canonical ones.
    pub fn with_str<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        match self {
            Uuid::Canonical(bytes) => {
                let buf = format_canonical(bytes);
                // Hex digits and dashes only.
                f(std::str::from_utf8(&buf).unwrap_or_default())
            }
            Uuid::Other(text) => f(text),
        }
    }
}

fn parse_canonical(s: &[u8]) -> Option<[u8; 16]> {
    if s.len() != 36 || DASHES.iter().any(|&i| s[i] != b'-') {
        return None;
    }
    let mut nibbles = s
        .iter()
        .enumerate()
        .filter(|(i, _)| !DASHES.contains(i))
        .map(|(_, c)| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        });
    let mut out = [0u8; 16];
    for byte in &mut out {
        *byte = (nibbles.next()?? << 4) | nibbles.next()??;
    }
    Some(out)
}

fn format_canonical(bytes: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for b in bytes {
        while DASHES.contains(&at) {
            at += 1;
        }
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xf)];
        at += 2;
    }
    out
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| fmt::Debug::fmt(s, f))
    }
}

impl PartialEq<str> for Uuid {
    fn eq(&self, other: &str) -> bool {
        self.with_str(|s| s == other)
    }
}

impl PartialEq<&str> for Uuid {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl PartialEq<String> for Uuid {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

/// The order of the text forms: hex digits sort as their values, so canonical
/// ones compare by bytes.
impl Ord for Uuid {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Uuid::Canonical(a), Uuid::Canonical(b)) => a.cmp(b),
            _ => self.with_str(|a| other.with_str(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for Uuid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_str(|s| serializer.serialize_str(s))
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Uuid::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn okta_uuids_are_held_as_bytes() {
        let text = "2a992f80-d1ad-4f62-900e-8c68bb72a21b";
        let u = Uuid::parse(text);
        assert!(matches!(u, Uuid::Canonical(_)));
        assert_eq!(u.to_string(), text);
        assert_eq!(serde_json::to_string(&u).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn other_text_round_trips_verbatim() {
        for text in [
            "12343",
            "ABC1234",
            "2A992F80-D1AD-4F62-900E-8C68BB72A21B",
            "2a992f80-d1ad-4f62-900e-8c68bb72a21",
            "2a992f80xd1ad-4f62-900e-8c68bb72a21b",
            "2a992f80-d1ad-4f62-900e-8c68bb72a2g1",
            "",
        ] {
            let u = Uuid::parse(text);
            assert!(matches!(u, Uuid::Other(_)), "{text}");
            assert_eq!(u.to_string(), text);
            let back: Uuid = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
            assert_eq!(back, u);
        }
    }

    proptest! {
        #[test]
        fn order_and_equality_follow_the_text(
            a in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-fA-F-]{0,40}",
            b in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-fA-F-]{0,40}",
        ) {
            let (x, y) = (Uuid::parse(&a), Uuid::parse(&b));
            prop_assert_eq!(x.to_string(), a.clone());
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x == y, a == b);
        }
    }
}
