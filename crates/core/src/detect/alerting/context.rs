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

/// The made-up identity whose baseline held the org's context before it was
/// an item of its own ([`OrgLearned`]); read once, to carry a deployment's
/// learned context over.
pub const LEGACY_ORG_IDENTITY: &str = "org:context";

/// Networks and proxy providers kept in the org's context, at most: with the
/// users each needs, the stored document stays well under DynamoDB's 400 KB item.
/// Full (every network at its user cap, 20-character Okta ids), the stored
/// document is about 600 KB of JSON and 250 KB deflated, which the state store
/// does above 64 KB (tested on DynamoDB's wire API).
pub const MAX_NETWORKS: usize = 500;
pub const MAX_PROXIES: usize = 100;
/// Autonomous systems kept per kind of client (phones, computers).
pub const MAX_ASNS: usize = 100;
/// Users recorded per network at most, whatever the org's size: the share of
/// a large org's active users is capped here so the document stays bounded.
pub const MAX_USERS_PER_NETWORK: usize = 15;
/// Users recorded per autonomous system to tell a carrier.
const MAX_USERS_PER_ASN: usize = 10;
/// Distinct days recorded per network: the most `org_network_days` may ask.
pub const MAX_DAYS: usize = 14;
/// How long after its context's first hour a deployment is still learning.
pub const LEARNING: i64 = 7 * crate::time::DAY;

/// What the org's users were seen at: per network and per proxy provider (`AS<n>`), the users seen there
/// (up to the number that makes it the org's), each with when last seen, and
/// the distinct days it was seen on.
///
/// Attack it guards against: an adversary-in-the-middle proxy relays several
/// victims' real sign-ins from its /24 one morning, then sprays from the same
/// /24. Users alone would make the proxy "the org's own" by noon; distinct
/// days, a share of the org's active users and sign-ins that raised no finding
/// make that cost the attacker weeks of unnoticed relaying.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrgSeen {
    #[serde(default)]
    pub networks: BTreeMap<String, Seen>,
    #[serde(default)]
    pub proxies: BTreeMap<String, Seen>,
    /// Network → distinct days (since the epoch) it taught, oldest first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub network_days: BTreeMap<String, Vec<i64>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_days: BTreeMap<String, Vec<i64>>,
    /// Day → users whose successful sign-ins it saw, summed hour by hour (a
    /// user of two hours counts twice: a share of it errs strict, never loose).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub active: BTreeMap<i64, u32>,
    /// Autonomous systems the org's users sign in from with phones, and with
    /// computers: a mobile carrier is one of phones, hardly ever of computers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phone_asns: BTreeMap<String, Seen>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub computer_asns: BTreeMap<String, Seen>,
}

/// The org's learned context as stored, an item of its own so it outlives
/// the hour: since when it has been learned (a deployment is still learning
/// for [`LEARNING`] after that) and what the org's users were seen at.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrgLearned {
    pub first_seen: crate::time::Millis,
    pub last_seen: crate::time::Millis,
    #[serde(default)]
    pub seen: OrgSeen,
}

impl OrgLearned {
    pub fn new(at: crate::time::Millis) -> Self {
        OrgLearned {
            first_seen: at,
            last_seen: at,
            seen: OrgSeen::default(),
        }
    }
}

/// The org's context as the earlier version stored it: the baseline of
/// [`LEGACY_ORG_IDENTITY`], the context in its `org` field.
#[derive(Debug, Deserialize)]
pub struct LegacyOrgBaseline {
    pub first_seen: crate::time::Millis,
    pub last_seen: crate::time::Millis,
    #[serde(default)]
    pub org: Option<OrgSeen>,
}

impl From<LegacyOrgBaseline> for OrgLearned {
    fn from(b: LegacyOrgBaseline) -> Self {
        OrgLearned {
            first_seen: b.first_seen,
            last_seen: b.last_seen,
            seen: b.org.unwrap_or_default(),
        }
    }
}

impl OrgSeen {
    /// Counts the hour's distinct signing-in users into its day; returns
    /// whether anything changed.
    pub fn count_active(&mut self, in_hour: &[&ActivityRecord], hour: crate::time::Hour) -> bool {
        let users: HashSet<&str> = in_hour
            .iter()
            .filter(|r| teaches(r))
            .map(|r| r.identity.as_str())
            .collect();
        if users.is_empty() {
            return false;
        }
        let day = hour.start().div_euclid(crate::time::DAY);
        *self.active.entry(day).or_default() += users.len() as u32;
        while self.active.len() > MAX_DAYS {
            self.active.pop_first();
        }
        true
    }

    /// How many distinct users make a network the org's: the configured
    /// minimum, or the configured share of the busiest day's users if more,
    /// at most [`MAX_USERS_PER_NETWORK`].
    pub fn users_needed(&self, config: &crate::detect::DetectConfig) -> usize {
        let busiest = self.active.values().copied().max().unwrap_or(0);
        let share = (f64::from(busiest) * config.org_network_share).ceil() as usize;
        share
            .max(config.org_network_users as usize)
            .min(MAX_USERS_PER_NETWORK)
    }

    /// Learns one record; returns whether anything changed.
    pub fn observe(&mut self, r: &ActivityRecord, min_users: usize) -> bool {
        if !teaches(r) {
            return false;
        }
        let mut changed = false;
        let day = r.published.div_euclid(crate::time::DAY);
        if let Some(net) = r.network.ip.as_deref().and_then(network_prefix) {
            changed |= note_day(&mut self.network_days, &net, day);
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
            changed |= note_day(&mut self.proxy_days, &asn.to_string(), day);
            changed |= note(
                &mut self.proxies,
                MAX_PROXIES,
                asn.to_string(),
                &r.identity,
                r.published,
                min_users,
            );
        }
        if let (false, Some(asn)) = (r.network.proxy, r.network.asn) {
            let map = if accuracy::mobile(r) {
                &mut self.phone_asns
            } else {
                &mut self.computer_asns
            };
            changed |= note(
                map,
                MAX_ASNS,
                asn.to_string(),
                &r.identity,
                r.published,
                MAX_USERS_PER_ASN,
            );
        }
        changed
    }

    /// Forgets users not seen since `horizon`, networks left with none, and
    /// days before it.
    pub fn prune(&mut self, horizon: i64) {
        for map in [
            &mut self.networks,
            &mut self.proxies,
            &mut self.phone_asns,
            &mut self.computer_asns,
        ] {
            for users in map.values_mut() {
                users.retain(|_, seen| seen >= horizon);
            }
            map.retain(|_, users| !users.is_empty());
        }
        let first_day = horizon.div_euclid(crate::time::DAY);
        for (days, keys) in [
            (&mut self.network_days, &self.networks),
            (&mut self.proxy_days, &self.proxies),
        ] {
            days.retain(|k, d| {
                d.retain(|day| *day >= first_day);
                keys.contains_key(k) && !d.is_empty()
            });
        }
    }
}

/// Notes that `key` taught on `day`; whether that is news.
fn note_day(map: &mut BTreeMap<String, Vec<i64>>, key: &str, day: i64) -> bool {
    let days = map.entry(key.to_owned()).or_default();
    if days.contains(&day) {
        return false;
    }
    days.push(day);
    days.sort_unstable();
    if days.len() > MAX_DAYS {
        days.remove(0);
    }
    true
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

/// What the org's context says, for one analysed hour.
#[derive(Debug, Default)]
pub struct OrgContext {
    /// Network or provider → (distinct users, distinct days).
    networks: HashMap<String, (usize, usize)>,
    proxies: HashMap<u64, (usize, usize)>,
    phones: HashMap<u64, usize>,
    computers: HashMap<u64, usize>,
    min_users: usize,
    min_days: usize,
    carrier_users: usize,
    /// Past its learning period (the first week of its context).
    pub established: bool,
}

impl OrgContext {
    /// What earlier hours taught, never the hour under analysis: five stolen
    /// accounts signed in from one address within the hour must not make it
    /// the org's own, in the first week as after it.
    pub fn learn(a: &Analysis<'_>) -> Self {
        let mut ctx = OrgContext {
            min_users: a.config.org_network_users as usize,
            min_days: a.config.org_network_days as usize,
            carrier_users: a.config.org_network_users as usize,
            ..Default::default()
        };
        let Some(learned) = a.org else {
            return ctx;
        };
        ctx.established = a.hour.start() - learned.first_seen >= LEARNING;
        let org = &learned.seen;
        ctx.min_users = org.users_needed(a.config);
        let days = |map: &BTreeMap<String, Vec<i64>>, k: &str| map.get(k).map_or(0, Vec::len);
        for (net, users) in &org.networks {
            let d = days(&org.network_days, net);
            ctx.networks.insert(net.clone(), (users.len(), d));
        }
        for (asn, users) in &org.proxies {
            let Ok(n) = asn.parse() else { continue };
            ctx.proxies
                .insert(n, (users.len(), days(&org.proxy_days, asn)));
        }
        for (map, out) in [
            (&org.phone_asns, &mut ctx.phones),
            (&org.computer_asns, &mut ctx.computers),
        ] {
            for (asn, users) in map {
                if let Ok(n) = asn.parse() {
                    out.insert(n, users.len());
                }
            }
        }
        ctx
    }

    fn earned(&self, seen: Option<&(usize, usize)>) -> bool {
        seen.is_some_and(|(users, days)| *users >= self.min_users && *days >= self.min_days)
    }

    /// Whether the address is on one of the org's own networks.
    pub fn org_network(&self, ip: &str) -> bool {
        self.earned(network_prefix(ip).and_then(|n| self.networks.get(&n)))
    }

    /// Whether many of the org's users go through this proxy provider.
    pub fn org_proxy(&self, asn: u64) -> bool {
        self.earned(self.proxies.get(&asn))
    }

    /// Whether the autonomous system is a mobile carrier, as the org's own
    /// sign-ins show: many users' phones, few computers. A user agent alone
    /// (which an attacker sets) never widens a place's accuracy.
    pub fn carrier(&self, asn: u64) -> bool {
        let phones = self.phones.get(&asn).copied().unwrap_or(0);
        let computers = self.computers.get(&asn).copied().unwrap_or(0);
        phones >= self.carrier_users && computers * 4 <= phones
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
        // Failures behind an office NAT add up from many people: such a source
        // is held to a threshold fitted to shared egress (several times the
        // detection's own), never to none. Beyond it the attack pages.
        "password_spray" | "brute_force_ip"
            if all_on_org_networks() && within_shared_egress(f, cx.analysis.config) =>
        {
            why.push(format!("the failures came from one of the org's own networks, where many users sign in (an office NAT), and stay under {SHARED_EGRESS}× the detection's threshold"));
        }
        // One session in two places far apart with the same browser is a
        // stolen cookie, unless one place is the org's VPN or SASE egress,
        // which says nothing about where its user is.
        "session_hijack"
            if f.facts.get("far_apart").and_then(|v| v.as_bool()) == Some(true)
                && ips().any(org_net) =>
        {
            why.push("one of the places is the org's own network (VPN or SASE egress), which says nothing about where the user is".into());
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
                // Usual before the access, not since: a late reset's hour is
                // analysed after later hours learned the attacker's device.
                let t = r.published;
                let b = cx.baseline(&f.principal.identity, t);
                let device = r
                    .client
                    .dt_hash
                    .as_deref()
                    .is_some_and(|d| b.is_some_and(|b| b.knew_device(d, t)));
                let network = r.network.ip.as_deref().is_some_and(org_net)
                    || r.network
                        .asn
                        .is_some_and(|a| b.is_some_and(|b| b.knew_asn(a, t)));
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

/// How many times a detection's threshold failures from one of the org's own
/// networks must reach before they page alone.
pub const SHARED_EGRESS: f64 = 3.0;

fn within_shared_egress(f: &Finding, config: &crate::detect::DetectConfig) -> bool {
    let count = |k: &str| f.facts.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::MAX);
    match f.detection.as_str() {
        "password_spray" => {
            count("distinct_users")
                < SHARED_EGRESS * config.threshold("password_spray", "distinct_users")
        }
        "brute_force_ip" => {
            count("failures") < SHARED_EGRESS * config.threshold("brute_force_ip", "failures")
        }
        _ => false,
    }
}

/// One end of a travel finding, from its record or from the baseline.
struct End {
    at: i64,
    ip: Option<String>,
    country: Option<String>,
    device: Option<String>,
    session: Option<String>,
    radius_km: f64,
}

impl End {
    fn of(r: &ActivityRecord, org: &OrgContext) -> Self {
        End {
            at: r.published,
            ip: r.network.ip.as_deref().map(str::to_owned),
            country: r.network.country.as_deref().map(str::to_owned),
            device: r.client.dt_hash.as_deref().map(str::to_owned),
            session: r
                .client
                .root_session_id
                .as_deref()
                .or(r.client.session_id.as_deref())
                .map(str::to_owned),
            radius_km: accuracy::radius_km(
                accuracy::mobile(r),
                r.network.asn.is_some_and(|a| org.carrier(a)),
            ),
        }
    }
}

fn travel(f: &Finding, cx: &Lookup<'_>, why: &mut Vec<String>) {
    let records = cx.evidence(f);
    let (prev, cur) = match records[..] {
        [prev, cur] => (End::of(prev, &cx.org), End::of(cur, &cx.org)),
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
                session: None,
                radius_km: accuracy::radius_km(
                    src.mobile,
                    src.asn.is_some_and(|a| cx.org.carrier(a)),
                ),
            };
            (prev, End::of(cur, &cx.org))
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
        // A stolen session carries its device token: within one session the
        // token proves nothing about who holds it.
        let one_session = matches!((&prev.session, &cur.session), (Some(x), Some(y)) if x == y);
        if own(&prev) && own(&cur) && !one_session {
            why.push("both sign-ins came from devices the user has used before".into());
        }
    }
}
