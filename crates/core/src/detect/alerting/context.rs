//! Learned context: what makes a finding ordinary for this org or this identity.
//!
//! Org level: a network many distinct users sign in from successfully (an
//! office NAT, a VPN concentrator, a SASE point of presence) is the org's own,
//! and so is a proxy provider many users go through (iCloud Private Relay, a SASE
//! service Okta flags as a proxy). Both are learned from the users' baselines and
//! the activity in the analysis window, never from a list.
//!
//! Identity level: a proxy provider the user has signed in through before, two
//! places both in the user's history, two devices both the user's own.
//!
//! A finding with a reason here is still kept; it does not page on its own,
//! and adds risk only if its detection would have paged alone. Tor and proxies
//! new to both the org and the user have no reason and stay high.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::accuracy;
use crate::detect::baseline::{network_prefix, Seen};
use crate::detect::{Analysis, Baseline, Finding};
use crate::record::{ActivityRecord, IdentityKind};

/// The baseline identity under which the org's own context is stored.
pub const ORG: &str = "org:context";

/// Networks and proxy providers kept in the org's baseline, at most: with five
/// users each the stored document stays well under DynamoDB's 400 KB item.
const MAX_NETWORKS: usize = 1000;
/// How long the org's context learns from the hour under analysis too.
const BOOTSTRAP: i64 = 7 * crate::time::DAY;
const MAX_PROXIES: usize = 200;

/// The org's learned context, stored as the baseline of [`ORG`] so it outlives
/// the hour: per network and per proxy provider (`AS<n>`), the users seen there
/// (up to the number that makes it the org's), each with when last seen.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrgSeen {
    #[serde(default)]
    pub networks: BTreeMap<String, Seen>,
    #[serde(default)]
    pub proxies: BTreeMap<String, Seen>,
}

impl OrgSeen {
    /// Learns one record; returns whether anything changed.
    pub fn observe(&mut self, r: &ActivityRecord, min_users: usize) -> bool {
        if !teaches(r) {
            return false;
        }
        let mut changed = false;
        if let Some(net) = r.network.ip.as_deref().and_then(network_prefix) {
            changed |= note(
                &mut self.networks,
                MAX_NETWORKS,
                net,
                &r.identity,
                r.published,
                min_users,
            );
        }
        if let (true, Some(asn)) = (r.network.proxy, r.network.asn) {
            changed |= note(
                &mut self.proxies,
                MAX_PROXIES,
                asn.to_string(),
                &r.identity,
                r.published,
                min_users,
            );
        }
        changed
    }

    /// Forgets users not seen since `horizon`, and networks left with none.
    pub fn prune(&mut self, horizon: i64) {
        for map in [&mut self.networks, &mut self.proxies] {
            for users in map.values_mut() {
                users.retain(|_, seen| seen >= horizon);
            }
            map.retain(|_, users| !users.is_empty());
        }
    }
}

fn note(
    map: &mut BTreeMap<String, Seen>,
    max: usize,
    key: String,
    user: &str,
    t: i64,
    min_users: usize,
) -> bool {
    if !map.contains_key(&key) && map.len() >= max {
        // Forget the quarter seen least recently, in one pass: a busy hour of
        // home networks must not cost a scan per new one.
        let mut by_age: Vec<(i64, String)> = map
            .iter()
            .map(|(k, users)| (users.iter().map(|(_, s)| s).max().unwrap_or(0), k.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, k) in by_age.into_iter().take(max / 4) {
            map.remove(&k);
        }
    }
    let users = map.entry(key).or_default();
    let full = users.len() >= min_users;
    match users.get_mut(user) {
        Some(seen) if *seen >= t => false,
        Some(seen) => {
            let moved = *seen / crate::time::DAY != t / crate::time::DAY;
            *seen = t;
            moved
        }
        // Enough users to decide: more would only grow the item.
        None if full => false,
        None => {
            users.insert(user, t);
            true
        }
    }
}

/// Distinct users seen per network and per proxy provider.
#[derive(Debug, Default)]
pub struct OrgContext {
    networks: HashMap<String, HashSet<String>>,
    proxies: HashMap<u64, HashSet<String>>,
    min_users: usize,
}

impl OrgContext {
    /// Learns from the baselines loaded for the hour: what earlier hours
    /// taught. Once the org has a week of history, sign-ins of the hour under
    /// analysis do not count, or an attacker who signs five stolen accounts in
    /// from one address would make it the org's own network within the hour.
    /// In a new deployment's first week they do, so that its offices, VPN and
    /// SASE egress do not page everyone before they are learned.
    pub fn learn(a: &Analysis<'_>) -> Self {
        let mut ctx = OrgContext {
            min_users: a.config.org_network_users as usize,
            ..Default::default()
        };
        if let Some(org) = a.baselines.get(ORG).and_then(|b| b.org.as_ref()) {
            for (net, users) in &org.networks {
                let set = ctx.networks.entry(net.clone()).or_default();
                set.extend(users.keys().map(str::to_owned));
            }
            for (asn, users) in &org.proxies {
                let Ok(asn) = asn.parse() else { continue };
                let set = ctx.proxies.entry(asn).or_default();
                set.extend(users.keys().map(str::to_owned));
            }
        }
        for b in a.baselines.values() {
            for net in b.networks.keys() {
                ctx.networks
                    .entry(net.to_owned())
                    .or_default()
                    .insert(b.identity.clone());
            }
            for asn in b.proxies.keys().filter_map(|k| k.parse().ok()) {
                ctx.proxies
                    .entry(asn)
                    .or_default()
                    .insert(b.identity.clone());
            }
        }
        let established = a
            .baselines
            .get(ORG)
            .is_some_and(|b| a.hour.start() - b.first_seen >= BOOTSTRAP);
        if !established {
            for r in a.records.iter().filter(|r| teaches(r)) {
                if let Some(net) = r.network.ip.as_deref().and_then(network_prefix) {
                    ctx.networks
                        .entry(net)
                        .or_default()
                        .insert(r.identity.to_string());
                }
                if let (true, Some(asn)) = (r.network.proxy, r.network.asn) {
                    ctx.proxies
                        .entry(asn)
                        .or_default()
                        .insert(r.identity.to_string());
                }
            }
        }
        ctx
    }

    /// Whether the address is on one of the org's own networks.
    pub fn org_network(&self, ip: &str) -> bool {
        network_prefix(ip)
            .and_then(|n| self.networks.get(&n))
            .is_some_and(|users| users.len() >= self.min_users)
    }

    /// Whether many of the org's users go through this proxy provider.
    pub fn org_proxy(&self, asn: u64) -> bool {
        self.proxies
            .get(&asn)
            .is_some_and(|users| users.len() >= self.min_users)
    }
}

/// A successful interactive sign-in of a known user: what makes a network the org's.
fn teaches(r: &ActivityRecord) -> bool {
    r.identity_kind == IdentityKind::User
        && r.is("user.session.start")
        && r.event.outcome.is_success()
}

/// What the engine knows beyond the finding, for one hour.
pub struct Lookup<'a> {
    pub analysis: &'a Analysis<'a>,
    pub org: OrgContext,
    records: HashMap<String, &'a ActivityRecord>,
}

impl<'a> Lookup<'a> {
    pub fn new(a: &'a Analysis<'a>, findings: &[Finding]) -> Self {
        let wanted: HashSet<&str> = findings
            .iter()
            .filter(|f| needs_records(&f.detection))
            .flat_map(|f| f.evidence.iter().map(String::as_str))
            .collect();
        let mut records = HashMap::new();
        if !wanted.is_empty() {
            let all = a.records.iter().chain(a.histories.values().flatten());
            for r in all {
                let uuid = r.uuid.to_string();
                if wanted.contains(uuid.as_str()) {
                    records.entry(uuid).or_insert(r);
                }
            }
        }
        Lookup {
            analysis: a,
            org: OrgContext::learn(a),
            records,
        }
    }

    fn evidence(&self, f: &Finding) -> Vec<&'a ActivityRecord> {
        f.evidence
            .iter()
            .filter_map(|u| self.records.get(u).copied())
            .collect()
    }

    /// The baseline of an identity, once it is old enough to speak for it.
    fn baseline(&self, identity: &str, at: i64) -> Option<&'a Baseline> {
        self.analysis
            .baselines
            .get(identity)
            .filter(|b| b.established(at, self.analysis.config.baseline_min_days))
    }
}

fn needs_records(detection: &str) -> bool {
    matches!(
        detection,
        "impossible_travel" | "mfa_reset_then_admin_access"
    )
}

/// Why a finding is ordinary here, if it is: empty when nothing explains it.
pub fn explain(f: &Finding, cx: &Lookup<'_>) -> Vec<String> {
    let mut why = Vec::new();
    let org_net = |ip: &str| cx.org.org_network(ip);
    let ips = || f.endpoints.iter().filter_map(|n| n.ip.as_deref());
    // Some address, and every one of them on the org's own networks.
    let all_on_org_networks = || {
        let mut ips = ips().peekable();
        ips.peek().is_some() && ips.all(org_net)
    };
    match f.detection.as_str() {
        // A failed attempt through the org's relay or the user's own is a typo
        // behind a proxy as often as an attacker's.
        "proxy_sign_in" | "proxy_sign_in_failed" => {
            for n in &f.endpoints {
                let Some(asn) = n.asn else { continue };
                if n.ip.as_deref().is_some_and(org_net) || cx.org.org_proxy(asn) {
                    why.push(format!(
                        "AS{asn} is a proxy provider many of the org's users sign in through"
                    ));
                } else if cx
                    .analysis
                    .baselines
                    .get(&f.principal.identity)
                    .is_some_and(|b| b.knows_proxy_asn(asn))
                {
                    why.push(format!("the user signs in through AS{asn} regularly"));
                }
            }
        }
        "new_country" if ips().any(org_net) => {
            why.push(
                "the sign-in came from one of the org's own networks (office, VPN or SASE egress)"
                    .into(),
            );
        }
        "password_spray" | "brute_force_ip" | "credential_attack_then_success"
            if all_on_org_networks() =>
        {
            why.push("the failures came from one of the org's own networks, where many users sign in (an office NAT)".into());
        }
        // A kiosk or a help desk works from the org's own network; an
        // adversary-in-the-middle proxy or a stolen admin session does not.
        "shared_device_token" if all_on_org_networks() => {
            why.push("every sign-in with the device came from one of the org's own networks (a shared kiosk)".into());
        }
        "mass_credential_reset" if all_on_org_networks() => {
            why.push(
                "the resets were made from one of the org's own networks (the help desk's routine)"
                    .into(),
            );
        }
        "impossible_travel" => travel(f, cx, &mut why),
        "mfa_reset_then_admin_access" => {
            // Evidence is oldest first: the reset, then the admin access.
            let access = cx.evidence(f).into_iter().next_back();
            if let Some(r) = access {
                let b = cx.baseline(&f.principal.identity, r.published);
                let device = r
                    .client
                    .dt_hash
                    .as_deref()
                    .is_some_and(|d| b.is_some_and(|b| b.devices.contains_key(d)));
                let network = r.network.ip.as_deref().is_some_and(org_net)
                    || r.network
                        .asn
                        .is_some_and(|a| b.is_some_and(|b| b.knows_asn(a)));
                if device && network {
                    why.push(
                        "the admin access came from the user's usual device and network".into(),
                    );
                }
            }
        }
        _ => {}
    }
    why
}

/// One end of a travel finding, from its record or from the baseline.
struct End {
    at: i64,
    ip: Option<String>,
    country: Option<String>,
    device: Option<String>,
    radius_km: f64,
}

impl End {
    fn of(r: &ActivityRecord) -> Self {
        End {
            at: r.published,
            ip: r.network.ip.as_deref().map(str::to_owned),
            country: r.network.country.as_deref().map(str::to_owned),
            device: r.client.dt_hash.as_deref().map(str::to_owned),
            radius_km: accuracy::radius_km(r),
        }
    }
}

fn travel(f: &Finding, cx: &Lookup<'_>, why: &mut Vec<String>) {
    let records = cx.evidence(f);
    let (prev, cur) = match records[..] {
        [prev, cur] => (End::of(prev), End::of(cur)),
        // The previous sign-in was in an earlier hour: the baseline remembers it.
        [cur] => {
            let b = cx.analysis.baselines.get(&f.principal.identity);
            let (Some(p), Some(src)) = (
                b.and_then(|b| b.last_sign_in),
                b.and_then(|b| b.last_sign_in_from.as_ref()),
            ) else {
                return;
            };
            let prev = End {
                at: p.at,
                ip: src.ip.clone(),
                country: src.country.clone(),
                device: src.device.clone(),
                radius_km: if src.mobile {
                    accuracy::MOBILE_KM
                } else {
                    accuracy::FIXED_KM
                },
            };
            (prev, End::of(cur))
        }
        _ => return,
    };
    if [&prev, &cur]
        .iter()
        .filter_map(|e| e.ip.as_deref())
        .any(|ip| cx.org.org_network(ip))
    {
        why.push("one end is one of the org's own networks (office, VPN or SASE egress), which says nothing about where the user is".into());
    }
    let km = f
        .facts
        .get("distance_km")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let least = accuracy::least_distance_km(km, prev.radius_km, cur.radius_km);
    let hours = (cur.at - prev.at).max(1) as f64 / crate::time::HOUR as f64;
    let cfg = cx.analysis.config;
    let speed_limit = cfg.threshold("impossible_travel", "speed_kmh");
    let min_distance = cfg.threshold("impossible_travel", "min_distance_km");
    if least <= min_distance || least / hours <= speed_limit {
        why.push(format!(
            "within the accuracy of mobile geolocation: at least {least:.0} km apart"
        ));
    }
    // Known before this hour: baselines are loaded as they stood before it.
    if let Some(b) = cx.analysis.baselines.get(&f.principal.identity) {
        let usual = |e: &End| e.country.as_deref().is_some_and(|c| b.knows_country(c));
        if usual(&prev) && usual(&cur) {
            why.push("both places are in the user's history".into());
        }
        let own = |e: &End| {
            e.device
                .as_deref()
                .is_some_and(|d| b.devices.contains_key(d))
        };
        if own(&prev) && own(&cur) {
            why.push("both sign-ins came from devices the user has used before".into());
        }
    }
}
