//! The machinery the windowed detections share: sliding a time window over a
//! group of records, telling one continuing burst from the next, great-circle
//! distance, and the evidence of a finding.
//!
//! A group is a list of positions into the analysed records, which are in
//! `(published, uuid)` order, so every group is in time order too and no record
//! is copied.

use std::collections::{HashMap, HashSet};

use super::super::{catalog, Analysis, DetectConfig, Finding, FindingPrincipal};
use crate::record::{ActivityRecord, Network};
use crate::time::{Millis, MINUTE};

/// Evidence uuids kept per finding; the facts carry the full count.
pub(super) const MAX_EVIDENCE: usize = 500;
/// Distinct source networks kept per finding.
pub(super) const MAX_ENDPOINTS: usize = 50;

/// A finding together with the time of the event that completed its pattern,
/// so that of two findings for the same principal the earlier one is kept.
pub(super) struct Hit {
    pub trigger: Millis,
    pub finding: Finding,
}

/// A count threshold: at least one.
pub(super) fn count_threshold(config: &DetectConfig, id: &str, name: &str) -> usize {
    config.threshold(id, name).ceil().max(1.0) as usize
}

/// A duration threshold given in minutes: at least a millisecond.
pub(super) fn minutes_threshold(config: &DetectConfig, id: &str, name: &str) -> Millis {
    ((config.threshold(id, name) * MINUTE as f64).round() as Millis).max(1)
}

/// The state of a sliding window: what it holds decides whether the newest
/// event completes the pattern.
pub(super) trait Window<'a> {
    /// Takes in the newest event; returns whether the window ending at it now
    /// shows the pattern, which makes it a triggering event.
    fn push(&mut self, pos: usize, r: &'a ActivityRecord) -> bool;
    /// Lets the oldest event go.
    fn pop(&mut self, pos: usize, r: &'a ActivityRecord);
    /// Whether an event is part of the pattern itself rather than context the
    /// window needs (a success that forgives earlier failures). Windows start
    /// at such an event.
    fn counts(&self, _r: &ActivityRecord) -> bool {
        true
    }
}

/// One triggering event of a group and the window that ends at it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trigger {
    /// Index in the group of the triggering event.
    pub at: usize,
    /// Index in the group of the window's first counting event.
    pub start: usize,
    /// Bursts are numbered in the group: consecutive triggers whose windows
    /// overlap belong to the same burst.
    pub burst: u32,
    /// The time of the first counting event of the burst's first window: what
    /// a finding about the burst is anchored on, whichever hour reports it.
    pub anchor: Millis,
}

/// Slides a window of `width` over a group: the window ending at an event holds
/// the events of `(t - width, t]`. Returns every event that completes the
/// pattern, in time order.
pub(super) fn slide<'a, W: Window<'a>>(
    records: &'a [ActivityRecord],
    group: &[u32],
    width: Millis,
    mut window: W,
) -> Vec<Trigger> {
    let mut triggers: Vec<Trigger> = Vec::new();
    let mut lo = 0;
    for (hi, &p) in group.iter().enumerate() {
        let r = &records[p as usize];
        while lo < hi && r.published - records[group[lo] as usize].published >= width {
            window.pop(group[lo] as usize, &records[group[lo] as usize]);
            lo += 1;
        }
        if !window.push(p as usize, r) {
            continue;
        }
        let start = (lo..=hi)
            .find(|&i| window.counts(&records[group[i] as usize]))
            .unwrap_or(hi);
        let trigger = match triggers.last() {
            // The window still reaches back to the previous trigger: same burst.
            Some(prev) if start <= prev.at => Trigger {
                at: hi,
                start,
                burst: prev.burst,
                anchor: prev.anchor,
            },
            prev => Trigger {
                at: hi,
                start,
                burst: prev.map_or(0, |t| t.burst + 1),
                anchor: records[group[start] as usize].published,
            },
        };
        triggers.push(trigger);
    }
    triggers
}

/// Whether some window of `width` ending at an event at or after `since` holds
/// at least `min` events of the group: a cheap test, on times alone, that a
/// count or distinct-value pattern can complete then.
pub(super) fn reaches(
    records: &[ActivityRecord],
    group: &[u32],
    width: Millis,
    min: usize,
    since: Millis,
) -> bool {
    let time = |i: usize| records[group[i] as usize].published;
    let first = group.partition_point(|&p| records[p as usize].published < since - width);
    let mut lo = first;
    for hi in first..group.len() {
        while lo < hi && time(hi) - time(lo) >= width {
            lo += 1;
        }
        if hi + 1 - lo >= min && time(hi) >= since {
            return true;
        }
    }
    false
}

/// What an hour reports of a group: the first burst with a triggering event in
/// the hour, from the window of its first such trigger to its last one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Burst {
    pub anchor: Millis,
    /// Time and group index of the first triggering event in the hour.
    pub trigger: Millis,
    pub at: usize,
    /// Group indices of the reported span, inclusive.
    pub first: usize,
    pub last: usize,
}

pub(super) fn burst_in_hour(
    a: &Analysis<'_>,
    group: &[u32],
    triggers: &[Trigger],
) -> Option<Burst> {
    let time = |i: usize| a.records[group[i] as usize].published;
    let k = triggers.iter().position(|t| time(t.at) >= a.hour.start())?;
    let first = triggers[k];
    if !a.in_hour_time(time(first.at)) {
        return None;
    }
    let last = triggers[k..]
        .iter()
        .take_while(|t| t.burst == first.burst && a.in_hour_time(time(t.at)))
        .last()
        .unwrap_or(&first);
    Some(Burst {
        anchor: first.anchor,
        trigger: time(first.at),
        at: first.at,
        first: first.start,
        last: last.at,
    })
}

/// The records of a group between two indices (inclusive) that count.
pub(super) fn span<'a>(
    records: &'a [ActivityRecord],
    group: &'a [u32],
    first: usize,
    last: usize,
    counts: impl Fn(&ActivityRecord) -> bool + Clone + 'a,
) -> impl Iterator<Item = &'a ActivityRecord> + Clone + 'a {
    group[first..=last]
        .iter()
        .map(move |&p| &records[p as usize])
        .filter(move |r| counts(r))
}

/// A finding of a catalog detection with its evidence: the records' uuids
/// (oldest first, capped), their distinct source networks, first and last seen,
/// and the `events` / `distinct_ips` facts.
pub(super) fn finding<'a>(
    id: &str,
    principal: FindingPrincipal,
    anchor: Millis,
    summary: String,
    evidence: impl IntoIterator<Item = &'a ActivityRecord>,
) -> Finding {
    let meta = catalog::find(id).unwrap_or_else(|| panic!("{id} is not in the catalog"));
    let mut f = Finding {
        detection: meta.id.to_owned(),
        severity: meta.severity,
        title: meta.title.to_owned(),
        principal,
        summary,
        anchor,
        first_seen: anchor,
        last_seen: anchor,
        evidence: Vec::new(),
        endpoints: Vec::new(),
        facts: Default::default(),
        related: Vec::new(),
    };
    let mut ips: HashSet<&str> = HashSet::new();
    let mut events = 0usize;
    for r in evidence {
        f.first_seen = f.first_seen.min(r.published);
        f.last_seen = f.last_seen.max(r.published);
        events += 1;
        if f.evidence.len() < MAX_EVIDENCE {
            f.evidence.push(r.uuid.to_string());
        }
        if let Some(ip) = r.network.ip.as_deref() {
            if ips.insert(ip) && f.endpoints.len() < MAX_ENDPOINTS {
                f.endpoints.push(Network::clone(&r.network));
            }
        }
    }
    f.fact("events", events).fact("distinct_ips", ips.len())
}

/// A count of the events in the window.
pub(super) struct Count {
    n: usize,
    min: usize,
}

impl Count {
    pub fn at_least(min: usize) -> Self {
        Count { n: 0, min }
    }
}

impl Window<'_> for Count {
    fn push(&mut self, _pos: usize, _r: &ActivityRecord) -> bool {
        self.n += 1;
        self.n >= self.min
    }
    fn pop(&mut self, _pos: usize, _r: &ActivityRecord) {
        self.n -= 1;
    }
}

/// A count of the distinct values of a key in the window.
pub(super) struct Distinct<'a, F> {
    key: F,
    seen: HashMap<&'a str, u32>,
    min: usize,
}

impl<'a, F: Fn(&'a ActivityRecord) -> &'a str> Distinct<'a, F> {
    pub fn at_least(min: usize, key: F) -> Self {
        Distinct {
            key,
            seen: HashMap::new(),
            min,
        }
    }
}

impl<'a, F: Fn(&'a ActivityRecord) -> &'a str> Window<'a> for Distinct<'a, F> {
    fn push(&mut self, _pos: usize, r: &'a ActivityRecord) -> bool {
        *self.seen.entry((self.key)(r)).or_default() += 1;
        self.seen.len() >= self.min
    }
    fn pop(&mut self, _pos: usize, r: &'a ActivityRecord) {
        let k = (self.key)(r);
        if let Some(n) = self.seen.get_mut(k) {
            *n -= 1;
            if *n == 0 {
                self.seen.remove(k);
            }
        }
    }
}

/// Great-circle distance in kilometres.
pub(super) fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// `HH:MM` of a time, for summaries.
pub(super) fn clock(t: Millis) -> String {
    crate::time::format_rfc3339_ms(t)
        .get(11..16)
        .unwrap_or_default()
        .to_owned()
}

/// `ip (city, country)` of a record's network, for summaries.
pub(super) fn place(r: &ActivityRecord) -> String {
    let n = &r.network;
    let ip = n.ip.as_deref().unwrap_or("an unknown address");
    match (n.city.as_deref(), n.country.as_deref()) {
        (Some(city), Some(country)) => format!("{ip} ({city}, {country})"),
        (None, Some(place)) | (Some(place), None) => format!("{ip} ({place})"),
        (None, None) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_great_circle() {
        let sf_london = distance_km(37.7749, -122.4194, 51.5074, -0.1278);
        assert!((sf_london - 8_616.0).abs() < 20.0, "{sf_london}");
        let chicago_sydney = distance_km(41.8781, -87.6298, -33.8688, 151.2093);
        assert!((chicago_sydney - 14_850.0).abs() < 50.0, "{chicago_sydney}");
        assert_eq!(distance_km(10.0, 20.0, 10.0, 20.0), 0.0);
        assert!(
            (distance_km(0.0, 0.0, 0.0, 180.0) - std::f64::consts::PI * 6371.0088).abs() < 1e-6
        );
    }
}
