//! Impossible travel: two consecutive successful sign-ins of a user further
//! apart than an airliner could fly in the time between them. The sign-in
//! before the first one in the records is the baseline's last sign-in.
//!
//! Sign-ins through proxies say nothing about where the user is and are left
//! out. Two sign-ins from the same browser on the same device (one dtHash) are
//! one machine whose address moved (a VPN switched on, a carrier address
//! geolocated far away), not two people.

use super::super::{Analysis, FindingPrincipal};
use super::index::{Index, LOCATED_SIGN_IN};
use super::window::{self, Hit};
use super::{successful_sign_in, IMPOSSIBLE_TRAVEL};
use crate::record::{ActivityRecord, IdentityKind};
use crate::time::{Millis, HOUR, MINUTE};

pub(super) fn counts(r: &ActivityRecord) -> bool {
    successful_sign_in(r) && r.identity_kind == IdentityKind::User && !r.network.proxy && located(r)
}

/// Coordinates are known (and not the 0,0 of a failed geolocation).
fn located(r: &ActivityRecord) -> bool {
    matches!((r.network.lat, r.network.lon), (Some(lat), Some(lon)) if lat != 0.0 || lon != 0.0)
}

/// Where a user signed in: a record, or the baseline's last sign-in.
#[derive(Clone, Copy)]
struct Point<'a> {
    at: Millis,
    lat: f64,
    lon: f64,
    record: Option<&'a ActivityRecord>,
}

impl<'a> Point<'a> {
    fn of(r: &'a ActivityRecord) -> Option<Self> {
        Some(Point {
            at: r.published,
            lat: r.network.lat?,
            lon: r.network.lon?,
            record: Some(r),
        })
    }
}

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    if !a.config.enabled(IMPOSSIBLE_TRAVEL) {
        return;
    }
    let speed_limit = a.config.threshold(IMPOSSIBLE_TRAVEL, "speed_kmh");
    let min_distance = a.config.threshold(IMPOSSIBLE_TRAVEL, "min_distance_km");
    for (identity, timeline) in ix.active(LOCATED_SIGN_IN) {
        let group = timeline.with(ix, LOCATED_SIGN_IN);
        // A baseline loaded after the hour (a late hour analysed again) may know
        // later sign-ins: only one from before the hour is the previous one.
        let mut prev: Option<Point> = a
            .baselines
            .get(identity)
            .and_then(|b| b.last_sign_in)
            .filter(|p| !p.proxy && p.at < a.hour.start())
            .map(|p| Point {
                at: p.at,
                lat: p.lat,
                lon: p.lon,
                record: None,
            });
        for r in group.iter().map(|&p| &a.records[p as usize]) {
            let Some(cur) = Point::of(r) else { continue };
            match prev {
                Some(p) if p.at >= cur.at => continue,
                Some(p) if a.in_hour_time(cur.at) && !same_device(p.record, r) => {
                    let km = window::distance_km(p.lat, p.lon, cur.lat, cur.lon);
                    let hours = (cur.at - p.at) as f64 / HOUR as f64;
                    let speed = km / hours;
                    if km > min_distance && speed > speed_limit {
                        hits.push(finding(p, r, km, speed));
                        break;
                    }
                }
                _ => {}
            }
            prev = Some(cur);
        }
    }
}

fn same_device(prev: Option<&ActivityRecord>, r: &ActivityRecord) -> bool {
    matches!((prev.and_then(|p| p.client.dt_hash.as_deref()), r.client.dt_hash.as_deref()), (Some(x), Some(y)) if x == y)
}

fn finding(prev: Point<'_>, r: &ActivityRecord, km: f64, speed: f64) -> Hit {
    let principal = FindingPrincipal::of_record(r);
    let from = prev
        .record
        .map_or_else(|| "their previous sign-in".to_owned(), window::place);
    let minutes = (r.published - prev.at) / MINUTE;
    let pace = if speed.is_finite() {
        format!("{speed:.0} km/h")
    } else {
        "at the same moment".to_owned()
    };
    let summary = format!(
        "{} signed in from {} {minutes} min after signing in from {from}: {km:.0} km apart, {pace}",
        principal.label(),
        window::place(r)
    );
    let evidence = prev.record.into_iter().chain(std::iter::once(r));
    let f = window::finding(IMPOSSIBLE_TRAVEL, principal, prev.at, summary, evidence)
        .fact("distance_km", km.round())
        .fact("speed_kmh", speed.round())
        .fact("minutes", minutes)
        .fact("previous_sign_in", prev.at);
    Hit {
        trigger: r.published,
        finding: f,
    }
}
