//! Several files as one stream in event-time order.
//!
//! Exports come as many files (one per day, one per scenario, pages of the API)
//! whose names need not sort in time order. Each file is peeked for its first
//! event, files are taken in that order, and a file is opened only when the
//! stream reaches its first event: files covering different periods are read one
//! after the other, files that overlap are merged event by event. At most one
//! event per open file is held here; ordering within a file is left to the
//! reorder buffer downstream.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use okta_itdr_core::event::LogEvent;
use okta_itdr_core::time::Millis;

use crate::input::{open, RecordReader, SkipReason};

/// How many records of a file are looked at to find its first event.
const PEEK_RECORDS: usize = 10_000;

/// What the merged stream yields.
#[derive(Debug)]
pub enum Item {
    Event(Box<LogEvent>),
    Skipped(Skipped),
}

/// A record that was not used, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub file: Arc<str>,
    pub line: u64,
    pub reason: SkipReason,
}

struct Open {
    name: Arc<str>,
    reader: RecordReader<'static>,
    head: Option<Box<LogEvent>>,
}

pub struct Merge {
    paths: Vec<PathBuf>,
    /// Files not yet opened, by (first event time, position); no events first.
    pending: VecDeque<(Millis, usize)>,
    open: Vec<Option<Open>>,
    /// (head event time, file position) of every open file with a head.
    heads: BinaryHeap<Reverse<(Millis, usize)>>,
    queued: VecDeque<Skipped>,
    counter: Option<Arc<AtomicU64>>,
    files_read: usize,
}

fn display(path: &std::path::Path) -> Arc<str> {
    Arc::from(path.display().to_string())
}

/// The first event's time of a file, reading at most [`PEEK_RECORDS`] records.
fn first_event_time(path: &std::path::Path) -> Option<Millis> {
    let reader = RecordReader::new(open(path, None).ok()?);
    reader
        .take(PEEK_RECORDS)
        .find_map(|r| r.result.ok())
        .map(|e| e.published)
}

impl Merge {
    /// `counter` receives the bytes read, for progress.
    pub fn new(paths: Vec<PathBuf>, counter: Option<Arc<AtomicU64>>) -> Self {
        let mut order: Vec<(Millis, usize)> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (first_event_time(p).unwrap_or(Millis::MIN), i))
            .collect();
        order.sort();
        Merge {
            open: (0..paths.len()).map(|_| None).collect(),
            paths,
            pending: order.into(),
            heads: BinaryHeap::new(),
            queued: VecDeque::new(),
            counter,
            files_read: 0,
        }
    }

    pub fn files_read(&self) -> usize {
        self.files_read
    }

    fn activate(&mut self, i: usize) {
        self.files_read += 1;
        let path = &self.paths[i];
        let name = display(path);
        match open(path, self.counter.clone()) {
            Ok(src) => {
                self.open[i] = Some(Open {
                    name,
                    reader: RecordReader::new(src),
                    head: None,
                });
                self.advance(i);
            }
            Err(e) => self.queued.push_back(Skipped {
                file: name,
                line: 1,
                reason: SkipReason::Unreadable(format!("cannot open: {e}")),
            }),
        }
    }

    /// Reads file `i` up to its next event, queueing what is skipped on the way.
    fn advance(&mut self, i: usize) {
        let Some(f) = self.open[i].as_mut() else {
            return;
        };
        for record in f.reader.by_ref() {
            match record.result {
                Ok(event) => {
                    self.heads.push(Reverse((event.published, i)));
                    f.head = Some(event);
                    return;
                }
                Err(reason) => self.queued.push_back(Skipped {
                    file: f.name.clone(),
                    line: record.line,
                    reason,
                }),
            }
        }
        self.open[i] = None;
    }
}

impl Iterator for Merge {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(s) = self.queued.pop_front() {
                return Some(Item::Skipped(s));
            }
            let next_head = self.heads.peek().map(|Reverse((t, _))| *t);
            if let Some(&(first, i)) = self.pending.front() {
                if next_head.is_none_or(|t| first <= t) {
                    self.pending.pop_front();
                    self.activate(i);
                    continue;
                }
            }
            let Reverse((_, i)) = self.heads.pop()?;
            let event = self.open[i].as_mut().and_then(|f| f.head.take());
            self.advance(i);
            if let Some(event) = event {
                return Some(Item::Event(event));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(uuid: &str, published: &str) -> String {
        format!("{{\"uuid\":\"{uuid}\",\"published\":\"{published}\",\"eventType\":\"user.session.start\"}}\n")
    }

    #[test]
    fn files_are_merged_by_event_time_whatever_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // a: later period; b: earlier; c overlaps b; d has no events.
        std::fs::write(
            d.join("a.jsonl"),
            line("a1", "2026-11-10T12:00:00Z") + &line("a2", "2026-11-10T13:00:00Z"),
        )
        .unwrap();
        std::fs::write(
            d.join("b.jsonl"),
            line("b1", "2026-11-10T08:00:00Z")
                + &line("b2", "2026-11-10T09:00:00Z")
                + "junk\n"
                + &line("b3", "2026-11-10T10:00:00Z"),
        )
        .unwrap();
        std::fs::write(
            d.join("c.jsonl"),
            line("c1", "2026-11-10T08:30:00Z") + &line("c2", "2026-11-10T09:30:00Z"),
        )
        .unwrap();
        std::fs::write(d.join("d.jsonl"), "nothing here\n").unwrap();
        let paths = ["a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl"]
            .map(|f| d.join(f))
            .to_vec();
        let mut merge = Merge::new(paths, None);
        let got: Vec<String> = merge
            .by_ref()
            .map(|item| match item {
                Item::Event(e) => e.uuid,
                Item::Skipped(s) => format!("{}:{}", s.file.rsplit('/').next().unwrap(), s.line),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "d.jsonl:1",
                "b1",
                "c1",
                "b2",
                "b.jsonl:3",
                "c2",
                "b3",
                "a1",
                "a2"
            ]
        );
        assert_eq!(merge.files_read(), 4);
    }
}
