//! Session hijack: one Okta session, or one device token, used within the
//! window from networks of different operators by a different OS or browser.
//! A phone roaming between Wi-Fi and its carrier keeps its OS and browser; a
//! stolen cookie replayed elsewhere rarely does.
//!
//! An infostealer takes the browser's cookies whole, device token included,
//! and replays them with the victim's user agent: one session is then used
//! from networks of different operators on different continents, minutes
//! apart, with one OS and browser, while the victim goes on using it at home.
//! Within one session such interleaved use is a hijack too (`far_apart`); a
//! device token alone is not judged by distance, since a laptop moving between
//! home and a VPN gateway abroad keeps its token.

use std::collections::HashMap;

use super::super::{Analysis, FindingPrincipal};
use super::index::{Index, SESSION_USE};
use super::window::{self, Hit, Window};
use super::SESSION_HIJACK;
use crate::detect::known;
use crate::record::{ActivityRecord, Category, IdentityKind};
use crate::time::{Millis, MINUTE};

/// Distinct uses listed in a finding.
const MAX_USES: usize = 10;

/// An event a person's browser made within a session or from a device, whose
/// network is known. App events are left out: token refreshes come from the
/// app's servers, not from the user. (Uses compare only where both clients
/// are known.)
pub(super) fn counts(r: &ActivityRecord) -> bool {
    r.identity_kind == IdentityKind::User
        && matches!(
            r.category,
            Category::SignIn
                | Category::Sso
                | Category::Mfa
                | Category::Session
                | Category::Admin
                | Category::UserLifecycle
        )
        && !r.event.outcome.is_failure()
        && (session_of(r).is_some() || r.client.dt_hash.is_some())
        && r.network.asn.is_some()
}

fn session_of(r: &ActivityRecord) -> Option<&str> {
    r.client
        .root_session_id
        .as_deref()
        .or(r.client.session_id.as_deref())
}

fn differ(x: Option<&str>, y: Option<&str>) -> bool {
    matches!((x, y), (Some(x), Some(y)) if !x.eq_ignore_ascii_case(y))
}

/// Kilometres between two uses of one session that no one covers within its
/// window: another continent, beyond any geolocation error.
const FAR_KM: f64 = 3000.0;

/// Where and with what a session was used.
#[derive(Clone, Copy)]
struct Use<'a> {
    asn: Option<u64>,
    os: Option<&'a str>,
    browser: Option<&'a str>,
    at: Option<(f64, f64)>,
}

impl<'a> Use<'a> {
    fn of(r: &'a ActivityRecord) -> Self {
        Use {
            asn: r.network.asn,
            os: known(r.client.os.as_deref()),
            browser: known(r.client.browser.as_deref()),
            at: r.network.lat.zip(r.network.lon),
        }
    }

    fn same(&self, other: &Use<'_>) -> bool {
        self.asn == other.asn && self.os == other.os && self.browser == other.browser
    }

    fn agents_differ(&self, other: &Use<'_>) -> bool {
        differ(self.os, other.os) || differ(self.browser, other.browser)
    }

    fn far_from(&self, other: &Use<'_>) -> bool {
        match (self.at, other.at) {
            (Some((a, b)), Some((c, d))) => window::distance_km(a, b, c, d) > FAR_KM,
            _ => false,
        }
    }

    fn conflicts(&self, other: &Use<'_>, by_distance: bool) -> bool {
        self.asn != other.asn && (self.agents_differ(other) || by_distance && self.far_from(other))
    }
}

/// The distinct uses in the window, with counts: few per session.
#[derive(Default)]
struct Uses<'a> {
    uses: Vec<(Use<'a>, usize)>,
    /// Distance alone makes a conflict (a session, not a device token).
    by_distance: bool,
}

impl<'a> Window<'a> for Uses<'a> {
    fn push(&mut self, _pos: usize, r: &'a ActivityRecord) -> bool {
        let u = Use::of(r);
        let by_distance = self.by_distance;
        let conflict = self
            .uses
            .iter()
            .any(|(seen, _)| seen.conflicts(&u, by_distance));
        match self.uses.iter_mut().find(|(seen, _)| seen.same(&u)) {
            Some((_, n)) => *n += 1,
            None => self.uses.push((u, 1)),
        }
        conflict
    }

    fn pop(&mut self, _pos: usize, r: &'a ActivityRecord) {
        let u = Use::of(r);
        if let Some(i) = self.uses.iter().position(|(seen, _)| seen.same(&u)) {
            self.uses[i].1 -= 1;
            if self.uses[i].1 == 0 {
                self.uses.swap_remove(i);
            }
        }
    }
}

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    if !a.config.enabled(SESSION_HIJACK) {
        return;
    }
    let width = window::minutes_threshold(a.config, SESSION_HIJACK, "window_minutes");
    for (_, timeline) in ix.active(SESSION_USE) {
        let uses = timeline.with(ix, SESSION_USE);
        // Only a user seen on two networks can have a session used from both.
        let asn = a.records[uses[0] as usize].network.asn;
        if uses
            .iter()
            .all(|&p| a.records[p as usize].network.asn == asn)
        {
            continue;
        }
        // Two keys: the session, and the device token.
        let mut sessions: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut devices: HashMap<&str, Vec<u32>> = HashMap::new();
        for &p in &uses {
            let r = &a.records[p as usize];
            if let Some(s) = session_of(r) {
                sessions.entry(s).or_default().push(p);
            }
            if let Some(d) = r.client.dt_hash.as_deref() {
                devices.entry(d).or_default().push(p);
            }
        }
        let keyed = sessions.iter().map(|(k, g)| ("session", *k, g));
        let keyed = keyed.chain(devices.iter().map(|(k, g)| ("device", *k, g)));
        hijacks(a, width, keyed, hits);
    }
}

/// Whether the uses alternate between networks: at least three runs, such as
/// A, B, A.
fn interleaved(uses: &[Use<'_>]) -> bool {
    let mut runs = 0;
    let mut last = None;
    for u in uses {
        if Some(u.asn) != last {
            runs += 1;
            last = Some(u.asn);
        }
    }
    runs >= 3
}

/// A finding per session or device used from two networks and clients.
fn hijacks<'g>(
    a: &Analysis<'_>,
    width: Millis,
    keyed: impl Iterator<Item = (&'static str, &'g str, &'g Vec<u32>)>,
    hits: &mut Vec<Hit>,
) {
    for (kind, key, group) in keyed {
        if group.len() < 2 {
            continue;
        }
        let uses = Uses {
            by_distance: kind == "session",
            ..Uses::default()
        };
        let triggers = window::slide(a.records, group, width, uses);
        let Some(burst) = window::burst_in_hour(a, group, &triggers) else {
            continue;
        };
        let trigger = &a.records[group[burst.at] as usize];
        let events = window::span(a.records, group, burst.first, burst.last, |_| true);
        let seen: Vec<Use<'_>> = events.clone().map(Use::of).collect();
        let agents_differ = seen
            .iter()
            .any(|x| seen.iter().any(|y| x.asn != y.asn && x.agents_differ(y)));
        // By distance alone, only a session its owner goes on using between
        // the stranger's uses (home, abroad, home again) is a stolen one: a
        // laptop switching its VPN on is one move, not an interleaving.
        if !agents_differ && !interleaved(&seen) {
            continue;
        }
        let mut uses: Vec<String> = Vec::new();
        for r in events.clone() {
            let u = format!(
                "{} (AS{}, {}/{})",
                r.network.ip.as_deref().unwrap_or("?"),
                r.network.asn.unwrap_or_default(),
                known(r.client.browser.as_deref()).unwrap_or("?"),
                known(r.client.os.as_deref()).unwrap_or("?")
            );
            if uses.len() < MAX_USES && !uses.contains(&u) {
                uses.push(u);
            }
        }
        let principal = FindingPrincipal::of_record(trigger);
        let short: String = key.chars().take(12).collect();
        let summary = format!(
            "The {kind} {short}… of {} was used from {} within {} min",
            principal.label(),
            uses.join(" and "),
            width / MINUTE
        );
        let f = window::finding(SESSION_HIJACK, principal, burst.anchor, summary, events)
            .fact("keyed_on", kind)
            .fact("far_apart", !agents_differ)
            .fact("uses", uses);
        hits.push(Hit {
            trigger: burst.trigger,
            finding: f,
        });
    }
}
