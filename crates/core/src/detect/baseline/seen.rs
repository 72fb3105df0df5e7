//! A baseline attribute: value → when it was first and last seen. A detector run
//! holds the baseline of every identity active in the hour (tens of thousands),
//! each with a handful of values per attribute, so the set is a sorted vector of
//! shared strings rather than a tree with a node per attribute. Stored as a JSON
//! map of value to `[first, last]`, or to one time when both are the same.
//!
//! The first sighting is what a late event is judged against: by the time a
//! help-desk reset arrives hours late, the baseline has learned the device and
//! network of the enrolment that followed it, and only the first-seen time
//! tells that they were new then. A value stored by a version that kept only
//! the last sighting reads as first seen then: new before it.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::record::Text;
use crate::time::Millis;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Seen {
    /// Sorted by value, unique.
    entries: Vec<Entry>,
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    value: Text,
    first: Millis,
    last: Millis,
}

impl Seen {
    fn find(&self, value: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|e| e.value.as_str().cmp(value))
    }

    pub fn contains_key(&self, value: &str) -> bool {
        self.find(value).is_ok()
    }

    /// When `value` was last seen.
    pub fn get(&self, value: &str) -> Option<Millis> {
        self.find(value).ok().map(|i| self.entries[i].last)
    }

    pub fn get_mut(&mut self, value: &str) -> Option<&mut Millis> {
        let i = self.find(value).ok()?;
        Some(&mut self.entries[i].last)
    }

    /// When `value` was first seen.
    pub fn first_seen(&self, value: &str) -> Option<Millis> {
        self.find(value).ok().map(|i| self.entries[i].first)
    }

    /// Whether `value` had been seen before `t`: what a baseline knew then,
    /// whatever it learned since.
    pub fn known_before(&self, value: &str, t: Millis) -> bool {
        self.first_seen(value).is_some_and(|first| first < t)
    }

    /// Records a sighting of `value` at `seen`: the last sighting is set to it,
    /// and an earlier first sighting than known moves the first back.
    pub fn insert(&mut self, value: impl AsRef<str>, seen: Millis) {
        let value = value.as_ref();
        match self.find(value) {
            Ok(i) => {
                let e = &mut self.entries[i];
                e.last = seen;
                e.first = e.first.min(seen);
            }
            Err(i) => self.entries.insert(
                i,
                Entry {
                    value: value.into(),
                    first: seen,
                    last: seen,
                },
            ),
        }
    }

    /// Moves the first sighting of a known `value` back to `t` if earlier.
    pub fn seen_earlier(&mut self, value: &str, t: Millis) {
        if let Ok(i) = self.find(value) {
            let e = &mut self.entries[i];
            e.first = e.first.min(t);
        }
    }

    /// Forgets the value seen longest ago.
    pub fn remove_oldest(&mut self) {
        if let Some(i) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].last) {
            self.entries.remove(i);
        }
    }

    /// Keeps the values for which `keep(value, last seen)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, Millis) -> bool) {
        self.entries.retain(|e| keep(&e.value, e.last));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Values in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.value.as_str())
    }

    /// Values in order, with when each was last seen.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Millis)> {
        self.entries.iter().map(|e| (e.value.as_str(), e.last))
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
        for e in &self.entries {
            if e.first == e.last {
                map.serialize_entry(e.value.as_str(), &e.last)?;
            } else {
                map.serialize_entry(e.value.as_str(), &[e.first, e.last])?;
            }
        }
        map.end()
    }
}

/// A stored sighting: `[first, last]`, or one time for both.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Once(Millis),
    Span([Millis; 2]),
}

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeenVisitor;

        impl<'de> Visitor<'de> for SeenVisitor {
            type Value = Seen;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of value to [first, last] seen times, or one time")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Seen, M::Error> {
                let mut seen = Seen::default();
                while let Some((value, t)) =
                    map.next_entry::<std::borrow::Cow<'de, str>, Stored>()?
                {
                    match t {
                        Stored::Once(t) => seen.insert(value, t),
                        Stored::Span([first, last]) => {
                            seen.insert(&value, last);
                            seen.seen_earlier(&value, first);
                        }
                    }
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
        assert_eq!(json, r#"{"a":[1,5],"c":3}"#);
        assert_eq!(serde_json::from_str::<Seen>(&json).unwrap(), s);
        s.retain(|v, _| v != "a");
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn keeps_when_each_value_was_first_seen() {
        let mut s = Seen::default();
        s.insert("laptop", 10);
        s.insert("laptop", 50);
        s.insert("phone", 40);
        assert_eq!(
            (s.first_seen("laptop"), s.get("laptop")),
            (Some(10), Some(50))
        );
        assert!(s.known_before("laptop", 11) && !s.known_before("laptop", 10));
        assert!(!s.known_before("phone", 30), "learned after 30");
        assert!(!s.known_before("tablet", 100));
        // A late sighting moves the first one back, never the last.
        s.insert("phone", 45);
        s.seen_earlier("phone", 20);
        assert_eq!(
            (s.first_seen("phone"), s.get("phone")),
            (Some(20), Some(45))
        );
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"laptop":[10,50],"phone":[20,45]}"#);
        assert_eq!(serde_json::from_str::<Seen>(&json).unwrap(), s);
    }

    #[test]
    fn reads_what_a_tree_map_wrote() {
        let old: std::collections::BTreeMap<String, Millis> =
            [("7922".to_owned(), 10), ("16509".to_owned(), 20)].into();
        let s: Seen = serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [("16509", 20), ("7922", 10)]);
    }
}
