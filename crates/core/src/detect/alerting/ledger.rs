//! The risk ledger: a principal's findings of the last hours, so that risk adds
//! up across analysed hours and an alert lists what came before it.
//!
//! Without it, a help-desk reset at 16:00 (risk 30) and a sign-in from a new
//! country at 17:10 (risk 50) are judged in different hours and never meet; a
//! takeover spread over an afternoon pages as its last, mildest step. The
//! ledger keeps, per principal, each finding of the window (24 hours by
//! default) with the weight it added and whether it was already part of a
//! published alert. A later hour adds the unpaged weights to its own, and the
//! alert it publishes lists every ledger entry (OCSF `related_analytics`,
//! `related_events`).
//!
//! Entries are keyed by finding uid, so re-analysing an hour (late events)
//! replaces its entries rather than counting them twice.

use serde::{Deserialize, Serialize};

use crate::detect::{Finding, Related, Severity};
use crate::time::Millis;

/// Entries kept per principal at most: the newest win. A principal with more
/// findings than this in a day pages on them long before.
pub const MAX_ENTRIES: usize = 64;
/// Evidence uuids kept per entry.
const MAX_EVIDENCE: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub uid: String,
    pub detection: String,
    pub severity: Severity,
    /// The risk it added when it paged no one; 0 once part of a published alert.
    pub weight: u32,
    /// Part of a published alert (its lead or listed in it).
    pub paged: bool,
    pub first_seen: Millis,
    pub last_seen: Millis,
    pub summary: String,
    #[serde(default)]
    pub evidence: Vec<String>,
}

impl LedgerEntry {
    pub fn of(f: &Finding, weight: u32, paged: bool) -> Self {
        LedgerEntry {
            uid: f.uid(),
            detection: f.detection.clone(),
            severity: f.severity,
            weight: if paged { 0 } else { weight },
            paged,
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            summary: f.summary.clone(),
            evidence: f.evidence.iter().take(MAX_EVIDENCE).cloned().collect(),
        }
    }

    pub fn related(&self) -> Related {
        Related {
            detection: self.detection.clone(),
            uid: self.uid.clone(),
            severity: self.severity,
            summary: self.summary.clone(),
            evidence: self.evidence.clone(),
        }
    }
}

/// One principal's recent findings, oldest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub principal: String,
    #[serde(default)]
    pub entries: Vec<LedgerEntry>,
}

impl Ledger {
    pub fn new(principal: &str) -> Self {
        Ledger {
            principal: principal.to_owned(),
            entries: Vec::new(),
        }
    }

    /// Adds or replaces (same uid) an entry. A finding once paged stays paged:
    /// a re-analysis that keeps it quiet does not make its weight count again.
    pub fn record(&mut self, mut entry: LedgerEntry) {
        match self.entries.iter_mut().find(|e| e.uid == entry.uid) {
            Some(e) => {
                if e.paged {
                    entry.paged = true;
                    entry.weight = 0;
                }
                *e = entry;
            }
            None => self.entries.push(entry),
        }
        self.entries.sort_by(|a, b| {
            (a.last_seen, &a.detection, &a.uid).cmp(&(b.last_seen, &b.detection, &b.uid))
        });
        if self.entries.len() > MAX_ENTRIES {
            let drop = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..drop);
        }
    }

    /// Forgets entries last seen before `horizon`.
    pub fn prune(&mut self, horizon: Millis) {
        self.entries.retain(|e| e.last_seen >= horizon);
    }

    /// Entries within `window` of the span `[from, to)`, except those in `skip`
    /// (the findings being decided now).
    pub fn around<'a>(
        &'a self,
        from: Millis,
        to: Millis,
        window: Millis,
        skip: &'a std::collections::HashSet<String>,
    ) -> impl Iterator<Item = &'a LedgerEntry> + 'a {
        self.entries.iter().filter(move |e| {
            e.last_seen >= from - window && e.first_seen < to + window && !skip.contains(&e.uid)
        })
    }

    /// The weight of entries that paged no one, within `window` of `[from, to)`:
    /// per detection its heaviest entry, and none for the detections in
    /// `present` (the hour has them already). A routine repeated every hour
    /// (the SASE user's daily proxied sign-ins) is one signal, not a growing
    /// sum; different signals add up.
    pub fn unpaged_weight(
        &self,
        from: Millis,
        to: Millis,
        window: Millis,
        skip: &std::collections::HashSet<String>,
        present: &std::collections::HashSet<&str>,
    ) -> u32 {
        let mut heaviest: std::collections::BTreeMap<&str, u32> = Default::default();
        for e in self.around(from, to, window, skip).filter(|e| !e.paged) {
            if present.contains(e.detection.as_str()) {
                continue;
            }
            let w = heaviest.entry(e.detection.as_str()).or_default();
            *w = (*w).max(e.weight);
        }
        heaviest.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn entry(uid: &str, at: Millis, weight: u32, paged: bool) -> LedgerEntry {
        LedgerEntry {
            uid: uid.into(),
            detection: "mfa_factor_reset".into(),
            severity: Severity::Medium,
            weight,
            paged,
            first_seen: at,
            last_seen: at,
            summary: String::new(),
            evidence: Vec::new(),
        }
    }

    #[test]
    fn a_re_analysed_finding_replaces_its_entry_and_a_paged_one_stays_paged() {
        let mut l = Ledger::new("00u1");
        l.record(entry("a", 10, 30, false));
        l.record(entry("a", 10, 30, false));
        assert_eq!(l.entries.len(), 1);
        l.record(entry("b", 20, 0, true));
        l.record(entry("b", 20, 50, false));
        let skip = HashSet::new();
        let none = HashSet::new();
        assert_eq!(l.unpaged_weight(0, 30, 100, &skip, &none), 30);
        let skip: HashSet<String> = ["a".to_owned()].into();
        assert_eq!(l.unpaged_weight(0, 30, 100, &skip, &none), 0);
    }

    #[test]
    fn the_window_bounds_what_adds_up_and_prune_forgets() {
        let mut l = Ledger::new("00u1");
        l.record(entry("old", 0, 30, false));
        l.record(entry("new", 1_000, 50, false));
        let skip = HashSet::new();
        let none = HashSet::new();
        assert_eq!(l.unpaged_weight(1_500, 2_000, 600, &skip, &none), 50);
        // Both are resets: one signal, its heaviest weight.
        assert_eq!(l.unpaged_weight(1_500, 2_000, 2_000, &skip, &none), 50);
        let mut other = entry("other", 900, 20, false);
        other.detection = "account_locked".into();
        l.record(other);
        assert_eq!(l.unpaged_weight(1_500, 2_000, 2_000, &skip, &none), 70);
        let present: HashSet<&str> = ["account_locked"].into();
        assert_eq!(l.unpaged_weight(1_500, 2_000, 2_000, &skip, &present), 50);
        l.prune(500);
        assert_eq!(l.entries.len(), 2);
    }

    #[test]
    fn the_newest_entries_are_kept() {
        let mut l = Ledger::new("00u1");
        for k in 0..(MAX_ENTRIES as i64 + 5) {
            l.record(entry(&format!("f{k}"), k, 1, false));
        }
        assert_eq!(l.entries.len(), MAX_ENTRIES);
        assert_eq!(l.entries[0].uid, "f5");
    }
}
