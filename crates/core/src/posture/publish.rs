//! When the scheduled refresh publishes a check's finding: once when the check
//! starts failing, again only when its failing subjects change, and once when
//! it passes again after failing (so whoever took the first finding can close
//! it). An unknown verdict is never a pass: it leaves the stored verdict as it
//! was, so a check that was failing and then became unreadable is still
//! "failing" for the next readable refresh.
//!
//! A check that could be read and no longer can is published once, as such:
//! the credentials lost a scope or a role. An attacker with admin rights who
//! takes a scope away from the app, to hide the Super Administrator they add
//! next, would otherwise only have turned a finding into silence. A check that
//! was never readable (credentials set up without that scope) publishes
//! nothing.
//!
//! The digest covers the full set of failing subjects, not their count or a
//! capped list: swapping a remediated subject for a new one changes it, so a
//! new weakness is never hidden behind an old one.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::time::Millis;

use super::checks::{CheckResult, Verdict};

/// What is kept of a check between refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckState {
    /// `pass` or `fail` (an unknown verdict is never stored).
    pub verdict: String,
    /// [`subjects_digest`] of the failing subjects; empty for a pass.
    pub digest: String,
    pub subjects: usize,
    /// When this verdict (and, failing, this subject set) was first seen.
    pub since: Millis,
    /// Since when the check cannot be read, once that was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable_since: Option<Millis>,
}

/// What to do with one check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Publish the finding: it newly fails, its subjects changed, or it passes
    /// after failing.
    pub publish: bool,
    /// The state to store once published (or at once when nothing is
    /// published); `None`: keep what is stored.
    pub next: Option<CheckState>,
}

/// SHA-256 over the sorted, distinct `(kind, uid)` of every failing subject.
/// The details (a day count, a factor list) are left out: they move with time
/// without the weakness changing.
pub fn subjects_digest(result: &CheckResult) -> String {
    let set: BTreeSet<(&str, &str)> = result
        .subjects
        .iter()
        .map(|s| (s.kind, s.uid.as_str()))
        .collect();
    let mut h = Sha256::new();
    for (kind, uid) in set {
        // Length-prefixed: no two different sets hash the same input.
        for part in [kind, uid] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// Decides for `result` given the stored state of its check.
pub fn decide(previous: Option<&CheckState>, result: &CheckResult, now: Millis) -> Decision {
    let decision = decide_verdict(previous, result, now);
    match (result.verdict, previous) {
        // Readable again: the "unreadable" mark goes, whatever else is news.
        (Verdict::Pass | Verdict::Fail, Some(p)) if p.unreadable_since.is_some() => Decision {
            next: decision.next.or_else(|| {
                Some(CheckState {
                    unreadable_since: None,
                    ..p.clone()
                })
            }),
            ..decision
        },
        _ => decision,
    }
}

fn decide_verdict(previous: Option<&CheckState>, result: &CheckResult, now: Millis) -> Decision {
    let was_failing = previous.is_some_and(|p| p.verdict == "fail");
    match result.verdict {
        Verdict::Unknown => match previous {
            Some(p) if p.unreadable_since.is_none() => Decision {
                publish: true,
                next: Some(CheckState {
                    unreadable_since: Some(now),
                    ..p.clone()
                }),
            },
            _ => Decision {
                publish: false,
                next: None,
            },
        },
        Verdict::Pass => Decision {
            publish: was_failing,
            next: match previous {
                Some(p) if p.verdict == "pass" => None,
                _ => Some(CheckState {
                    verdict: "pass".into(),
                    digest: String::new(),
                    subjects: 0,
                    since: now,
                    unreadable_since: None,
                }),
            },
        },
        Verdict::Fail => {
            let digest = subjects_digest(result);
            let same = previous.is_some_and(|p| p.verdict == "fail" && p.digest == digest);
            Decision {
                publish: !same,
                next: (!same).then(|| CheckState {
                    verdict: "fail".into(),
                    digest,
                    subjects: result.subjects.len(),
                    since: now,
                    unreadable_since: None,
                }),
            }
        }
    }
}
