//! A baseline attribute: value → when it was last seen. A detector run holds the
//! baseline of every identity active in the hour (tens of thousands), each with a
//! handful of values per attribute, so the set is a sorted vector of shared
//! strings rather than a tree with a node per attribute. Stored as a JSON map.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::record::Text;
use crate::time::Millis;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Seen {
    /// Sorted by value, unique.
    entries: Vec<(Text, Millis)>,
}

impl Seen {
    fn find(&self, value: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(v, _)| v.as_str().cmp(value))
    }

    pub fn contains_key(&self, value: &str) -> bool {
        self.find(value).is_ok()
    }

    pub fn get(&self, value: &str) -> Option<Millis> {
        self.find(value).ok().map(|i| self.entries[i].1)
    }

    pub fn get_mut(&mut self, value: &str) -> Option<&mut Millis> {
        let i = self.find(value).ok()?;
        Some(&mut self.entries[i].1)
    }

    /// Sets when `value` was last seen.
    pub fn insert(&mut self, value: impl AsRef<str>, seen: Millis) {
        let value = value.as_ref();
        match self.find(value) {
            Ok(i) => self.entries[i].1 = seen,
            Err(i) => self.entries.insert(i, (value.into(), seen)),
        }
    }

    /// Forgets the value seen longest ago.
    pub fn remove_oldest(&mut self) {
        if let Some(i) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].1) {
            self.entries.remove(i);
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, Millis) -> bool) {
        self.entries.retain(|(v, t)| keep(v, *t));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Values in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(v, _)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Millis)> {
        self.entries.iter().map(|(v, t)| (v.as_str(), *t))
    }
}

impl<K: AsRef<str>> FromIterator<(K, Millis)> for Seen {
    fn from_iter<I: IntoIterator<Item = (K, Millis)>>(iter: I) -> Self {
        let mut seen = Seen::default();
        for (value, t) in iter {
            seen.insert(value, t);
        }
        seen
    }
}

impl<K: AsRef<str>, const N: usize> From<[(K, Millis); N]> for Seen {
    fn from(entries: [(K, Millis); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Seen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (v, t) in &self.entries {
            map.serialize_entry(v.as_str(), t)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeenVisitor;

        impl<'de> Visitor<'de> for SeenVisitor {
            type Value = Seen;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of value to last-seen time")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Seen, M::Error> {
                let mut seen = Seen::default();
                while let Some((value, t)) =
                    map.next_entry::<std::borrow::Cow<'de, str>, Millis>()?
                {
                    seen.insert(value, t);
                }
                seen.entries.shrink_to_fit();
                Ok(seen)
            }
        }

        deserializer.deserialize_map(SeenVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map_and_stores_as_one() {
        let mut s = Seen::from([("b", 2), ("a", 1)]);
        s.insert("c", 3);
        s.insert("a", 5);
        assert_eq!(s.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(s.get("a"), Some(5));
        assert!(s.contains_key("b") && !s.contains_key("d"));
        s.remove_oldest();
        assert_eq!(s.keys().collect::<Vec<_>>(), ["a", "c"]);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"a":5,"c":3}"#);
        assert_eq!(serde_json::from_str::<Seen>(&json).unwrap(), s);
        s.retain(|v, _| v != "a");
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn reads_what_a_tree_map_wrote() {
        let old: std::collections::BTreeMap<String, Millis> =
            [("7922".to_owned(), 10), ("16509".to_owned(), 20)].into();
        let s: Seen = serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [("16509", 20), ("7922", 10)]);
    }
}
