//! Puts events back in time order within a bounded window of event time.
//!
//! Okta delivers, and exports list, events almost but not exactly in order. The
//! buffer holds events until one at least `window` newer has been seen, and
//! releases them oldest first, so memory follows the window, not the input. An
//! event older than one already released is released at once: the replay takes
//! it as a late arrival, as the deployed system would.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use okta_itdr_core::event::LogEvent;
use okta_itdr_core::time::Millis;

struct Held {
    event: Box<LogEvent>,
    /// Arrival order, for a total order among equal (published, uuid).
    seq: u64,
}

impl Held {
    fn key(&self) -> (Millis, &str, u64) {
        (self.event.published, &self.event.uuid, self.seq)
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

pub struct Reorder {
    heap: BinaryHeap<Reverse<Held>>,
    window: Millis,
    newest: Option<Millis>,
    released: Option<Millis>,
    seq: u64,
    behind: u64,
    peak: usize,
}

impl Reorder {
    pub fn new(window: Millis) -> Self {
        Reorder {
            heap: BinaryHeap::new(),
            window: window.max(0),
            newest: None,
            released: None,
            seq: 0,
            behind: 0,
            peak: 0,
        }
    }

    pub fn push(&mut self, event: Box<LogEvent>) {
        if self.released.is_some_and(|r| event.published < r) {
            self.behind += 1;
        }
        self.newest = Some(
            self.newest
                .map_or(event.published, |n| n.max(event.published)),
        );
        self.seq += 1;
        self.heap.push(Reverse(Held {
            event,
            seq: self.seq,
        }));
        self.peak = self.peak.max(self.heap.len());
    }

    /// The oldest held event, if it is at least `window` older than the newest seen.
    pub fn pop_ready(&mut self) -> Option<Box<LogEvent>> {
        let newest = self.newest?;
        let Reverse(oldest) = self.heap.peek()?;
        if oldest.event.published > newest.saturating_sub(self.window) {
            return None;
        }
        self.pop()
    }

    /// The oldest held event, whatever the window: for the end of the input.
    pub fn pop(&mut self) -> Option<Box<LogEvent>> {
        let Reverse(held) = self.heap.pop()?;
        let t = held.event.published;
        self.released = Some(self.released.map_or(t, |r| r.max(t)));
        Some(held.event)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Events that came after a newer one had already been released.
    pub fn behind(&self) -> u64 {
        self.behind
    }

    /// The most events held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use okta_itdr_core::time::{parse_rfc3339_ms, HOUR, MINUTE};

    fn ev(uuid: &str, minute: i64) -> Box<LogEvent> {
        let base = parse_rfc3339_ms("2026-11-10T00:00:00Z").unwrap();
        let published = okta_itdr_core::time::format_rfc3339_ms(base + minute * MINUTE);
        let json = format!(r#"{{"uuid":"{uuid}","published":"{published}","eventType":"x"}}"#);
        Box::new(LogEvent::from_slice(json.as_bytes()).unwrap())
    }

    fn drive(window: Millis, input: &[(&str, i64)]) -> (Vec<String>, Reorder) {
        let mut r = Reorder::new(window);
        let mut out = Vec::new();
        for (uuid, minute) in input {
            r.push(ev(uuid, *minute));
            while let Some(e) = r.pop_ready() {
                out.push(e.uuid);
            }
        }
        while let Some(e) = r.pop() {
            out.push(e.uuid);
        }
        (out, r)
    }

    #[test]
    fn out_of_order_events_within_the_window_are_sorted() {
        let (out, r) = drive(
            HOUR,
            &[
                ("c", 30),
                ("a", 10),
                ("b", 20),
                ("e", 80),
                ("d", 70),
                ("f", 200),
            ],
        );
        assert_eq!(out, vec!["a", "b", "c", "d", "e", "f"]);
        assert_eq!(r.behind(), 0);
    }

    #[test]
    fn ties_order_by_uuid_then_arrival() {
        let (out, _) = drive(HOUR, &[("b", 5), ("a", 5), ("b", 5), ("c", 4)]);
        assert_eq!(out, vec!["c", "a", "b", "b"]);
    }

    #[test]
    fn events_are_released_once_the_window_has_passed() {
        let mut r = Reorder::new(HOUR);
        r.push(ev("a", 0));
        r.push(ev("b", 59));
        assert!(r.pop_ready().is_none(), "within the window");
        r.push(ev("c", 60));
        assert_eq!(r.pop_ready().unwrap().uuid, "a");
        assert!(r.pop_ready().is_none());
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn an_event_older_than_what_was_released_goes_out_next_as_late() {
        let (out, r) = drive(
            HOUR,
            &[("a", 0), ("b", 120), ("c", 240), ("old", 30), ("d", 241)],
        );
        assert_eq!(out, vec!["a", "b", "old", "c", "d"]);
        assert_eq!(r.behind(), 1);
    }

    #[test]
    fn memory_follows_the_window_not_the_input() {
        let input: Vec<(String, i64)> = (0..10_000).map(|i| (format!("e{i:05}"), i)).collect();
        let refs: Vec<(&str, i64)> = input.iter().map(|(u, m)| (u.as_str(), *m)).collect();
        let (out, r) = drive(60 * MINUTE, &refs);
        assert_eq!(out.len(), 10_000);
        assert!(out.windows(2).all(|w| w[0] < w[1]));
        assert!(r.peak() <= 62, "peak {}", r.peak());
    }

    #[test]
    fn a_zero_window_releases_immediately() {
        let (out, r) = drive(0, &[("b", 2), ("a", 1)]);
        assert_eq!(out, vec!["b", "a"]);
        assert_eq!(r.behind(), 1);
    }
}
