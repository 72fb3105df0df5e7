//! "New for this identity" detections, judged against the baseline as it stood
//! before the hour, and only once that baseline is old enough to say what is
//! new: a sign-in from a new country, an API token used from a new network.
//!
//! A sign-in from a new country on a device the user's baseline knows is the
//! user travelling with their own laptop or phone, and is left alone.

use std::collections::HashSet;

use super::super::{Analysis, Baseline, FindingPrincipal};
use super::index::{Index, COUNTRY_SIGN_IN, TOKEN_USE};
use super::window::{self, Hit};
use super::{successful_sign_in, API_TOKEN_NEW_NETWORK, NEW_COUNTRY};
use crate::record::{ActivityRecord, IdentityKind};

pub(super) fn counts_for_country(r: &ActivityRecord) -> bool {
    successful_sign_in(r) && r.network.country.is_some()
}

/// A request made with an API token, whose network is known. Failed requests
/// teach the baseline nothing, so they are not judged against it either.
pub(super) fn counts_for_token(r: &ActivityRecord) -> bool {
    r.identity_kind == IdentityKind::ApiToken
        && r.network.asn.is_some()
        && !r.event.outcome.is_failure()
}

/// The identity's baseline, if it is old enough at `r`'s time.
fn established<'a>(a: &Analysis<'a>, r: &ActivityRecord) -> Option<&'a Baseline> {
    a.baselines
        .get(r.identity.as_str())
        .filter(|b| b.established(r.published, a.config.baseline_min_days))
}

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    let country = a.config.enabled(NEW_COUNTRY);
    let token = a.config.enabled(API_TOKEN_NEW_NETWORK);
    if !(country || token) {
        return;
    }
    let mut reported: HashSet<(&str, &str)> = HashSet::new();
    for p in ix.in_hour(COUNTRY_SIGN_IN | TOKEN_USE) {
        let (r, flags) = (&a.records[p], ix.flags[p]);
        if country
            && flags & COUNTRY_SIGN_IN != 0
            && !reported.contains(&(NEW_COUNTRY, r.identity.as_str()))
        {
            if let Some(hit) = new_country(a, r) {
                reported.insert((NEW_COUNTRY, &r.identity));
                hits.push(hit);
            }
        }
        if token
            && flags & TOKEN_USE != 0
            && !reported.contains(&(API_TOKEN_NEW_NETWORK, r.identity.as_str()))
        {
            if let Some(hit) = new_token_network(a, r) {
                reported.insert((API_TOKEN_NEW_NETWORK, &r.identity));
                hits.push(hit);
            }
        }
    }
}

fn new_country(a: &Analysis<'_>, r: &ActivityRecord) -> Option<Hit> {
    let b = established(a, r)?;
    let country = r.network.country.as_deref()?;
    let known_device = r
        .client
        .dt_hash
        .as_deref()
        .is_some_and(|d| b.devices.contains_key(d));
    if b.countries.is_empty() || b.knows_country(country) || known_device {
        return None;
    }
    let principal = FindingPrincipal::of_record(r);
    let known: Vec<&str> = b.countries.keys().collect();
    let summary = format!(
        "{} signed in from {}, a country not seen for them before (known: {})",
        principal.label(),
        window::place(r),
        known.join(", ")
    );
    let f = window::finding(NEW_COUNTRY, principal, r.published, summary, [r])
        .fact("country", country)
        .fact("known_countries", known);
    Some(Hit {
        trigger: r.published,
        finding: f,
    })
}

fn new_token_network(a: &Analysis<'_>, r: &ActivityRecord) -> Option<Hit> {
    let b = established(a, r)?;
    let asn = r.network.asn?;
    if b.asns.is_empty() || b.knows_asn(asn) {
        return None;
    }
    let principal = FindingPrincipal::of_record(r);
    let owner = r
        .actor
        .login
        .as_deref()
        .or(r.actor.name.as_deref())
        .unwrap_or("its owner");
    let network = r
        .network
        .as_org
        .as_deref()
        .map_or_else(|| format!("AS{asn}"), |org| format!("AS{asn} ({org})"));
    let summary = format!(
        "The API token {} of {owner} was used from {network} at {}, a network never seen for it",
        principal.label(),
        window::place(r)
    );
    let known: Vec<&str> = b.asns.keys().collect();
    let f = window::finding(API_TOKEN_NEW_NETWORK, principal, r.published, summary, [r])
        .fact("asn", asn)
        .fact("known_asns", known)
        .fact("owner", owner);
    Some(Hit {
        trigger: r.published,
        finding: f,
    })
}
