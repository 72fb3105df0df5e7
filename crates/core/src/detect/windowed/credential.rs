//! Credential attacks: brute force against a user or from an IP, password
//! spray from an IP or a device, and a successful sign-in after any of them.
//!
//! Counted per IP or device, a failure is forgiven once the same identity signs
//! in successfully from there: behind an office's shared address, a typo
//! followed by a success is not an attack, whereas a sprayer's failures stay.

use std::collections::{HashMap, HashSet};

use super::super::{Analysis, Finding, FindingPrincipal};
use super::index::{Index, FAILED_SIGN_IN, SIGN_IN};
use super::window::{self, Count, Hit, Trigger, Window};
use super::{
    failed_sign_in, BRUTE_FORCE_IP, BRUTE_FORCE_USER, CREDENTIAL_ATTACK_THEN_SUCCESS,
    PASSWORD_SPRAY,
};
use crate::record::{ActivityRecord, IdentityKind};
use crate::time::{Millis, MINUTE};

/// What a source (an IP or a device) is measured by.
#[derive(Clone, Copy)]
enum Goal {
    /// Unforgiven failures in the window.
    Failures(usize),
    /// Identities with between one and `max_tries` unforgiven failures.
    Sprayed { users: usize, max_tries: usize },
}

impl Goal {
    /// Failures a source needs at the very least.
    fn floor(self) -> usize {
        match self {
            Goal::Failures(n) => n,
            Goal::Sprayed { users, .. } => users,
        }
    }
}

#[derive(Default)]
struct Tally {
    /// Unforgiven failures of the identity in the window.
    open: usize,
    /// Failures at record positions before this one were forgiven.
    forgiven_before: usize,
}

/// The failures of one source in the window, per identity, with forgiveness.
struct SourceWindow<'a> {
    goal: Goal,
    per_identity: HashMap<&'a str, Tally>,
    open: usize,
    sprayed: usize,
}

impl<'a> SourceWindow<'a> {
    fn new(goal: Goal) -> Self {
        SourceWindow {
            goal,
            per_identity: HashMap::new(),
            open: 0,
            sprayed: 0,
        }
    }

    fn is_sprayed(&self, open: usize) -> usize {
        match self.goal {
            Goal::Sprayed { max_tries, .. } => usize::from((1..=max_tries).contains(&open)),
            Goal::Failures(_) => 0,
        }
    }

    /// Sets an identity's count of open failures, keeping the totals right.
    fn set_open(&mut self, identity: &'a str, open: usize) -> &mut Tally {
        let before = self.per_identity.get(identity).map_or(0, |t| t.open);
        self.sprayed = self.sprayed + self.is_sprayed(open) - self.is_sprayed(before);
        self.open = self.open + open - before;
        let tally = self.per_identity.entry(identity).or_default();
        tally.open = open;
        tally
    }
}

impl<'a> Window<'a> for SourceWindow<'a> {
    fn push(&mut self, pos: usize, r: &'a ActivityRecord) -> bool {
        if !r.event.outcome.is_failure() {
            // A success: this identity's failures so far were its own typos.
            self.set_open(&r.identity, 0).forgiven_before = pos;
            return false;
        }
        let open = self
            .per_identity
            .get(r.identity.as_str())
            .map_or(0, |t| t.open);
        self.set_open(&r.identity, open + 1);
        match self.goal {
            Goal::Failures(n) => self.open >= n,
            Goal::Sprayed { users, .. } => self.sprayed >= users,
        }
    }

    fn pop(&mut self, pos: usize, r: &'a ActivityRecord) {
        if !r.event.outcome.is_failure() {
            return;
        }
        if let Some(open) = self
            .per_identity
            .get(r.identity.as_str())
            .filter(|t| pos >= t.forgiven_before && t.open > 0)
            .map(|t| t.open)
        {
            self.set_open(&r.identity, open - 1);
        }
    }

    fn counts(&self, r: &ActivityRecord) -> bool {
        r.event.outcome.is_failure()
    }
}

/// What an attack is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum On {
    User,
    Ip,
    Device,
}

/// A detected attack on one key (a user, an IP, a device): every event that
/// completed its pattern in the records, for the attack-then-success pattern.
struct Attack<'a> {
    detection: &'static str,
    principal: FindingPrincipal,
    group: &'a [u32],
    triggers: Vec<Trigger>,
}

impl Attack<'_> {
    fn time(&self, a: &Analysis<'_>, tr: &Trigger) -> Millis {
        a.records[self.group[tr.at] as usize].published
    }

    /// The earliest trigger in `[t - lookback, t]`: the success is blamed on
    /// the attack with the earliest anchor still in reach.
    fn before(&self, a: &Analysis<'_>, t: Millis, lookback: Millis) -> Option<Trigger> {
        let k = self
            .triggers
            .partition_point(|tr| self.time(a, tr) < t - lookback);
        self.triggers
            .get(k)
            .filter(|tr| self.time(a, tr) <= t)
            .copied()
    }

    fn failures<'r>(
        &'r self,
        a: &Analysis<'r>,
        tr: &Trigger,
    ) -> impl Iterator<Item = &'r ActivityRecord> + 'r {
        window::span(a.records, self.group, tr.start, tr.at, failed_sign_in)
    }

    /// The finding for the burst the hour reports, if any.
    fn report(&self, a: &Analysis<'_>) -> Option<Hit> {
        let burst = window::burst_in_hour(a, self.group, &self.triggers)?;
        let failures = window::span(
            a.records,
            self.group,
            burst.first,
            burst.last,
            failed_sign_in,
        );
        let mut f = window::finding(
            self.detection,
            self.principal.clone(),
            burst.anchor,
            String::new(),
            failures.clone(),
        );
        let identities: HashSet<&str> = failures.clone().map(|r| r.identity.as_str()).collect();
        let unknown = failures
            .filter(|r| r.identity_kind == IdentityKind::UnknownUser)
            .map(|r| r.identity.as_str())
            .collect::<HashSet<_>>()
            .len();
        let (events, ips) = (fact(&f, "events"), fact(&f, "distinct_ips"));
        let between = format!(
            "between {} and {}",
            window::clock(f.first_seen),
            window::clock(f.last_seen)
        );
        f.summary = match self.detection {
            BRUTE_FORCE_USER => format!("{events} failed sign-ins for {} from {ips} IP address(es) {between}", self.principal.label()),
            BRUTE_FORCE_IP => format!("{events} failed sign-ins from {} for {} username(s) {between}", ip_label(&self.principal), identities.len()),
            _ => format!(
                "{} {} failed sign-ins for {} usernames ({unknown} unknown to Okta), {events} attempts {between}",
                if self.principal.identity.starts_with("device:") { "The device" } else { "The IP address" },
                ip_label(&self.principal),
                identities.len()
            ),
        };
        let window_minutes = a.config.threshold(self.detection, "window_minutes");
        f = f
            .fact("failures", events)
            .fact("window_minutes", window_minutes);
        if self.detection != BRUTE_FORCE_USER {
            f = f
                .fact("distinct_users", identities.len())
                .fact("unknown_users", unknown);
        }
        Some(Hit {
            trigger: burst.trigger,
            finding: f,
        })
    }
}

fn fact(f: &Finding, key: &str) -> u64 {
    f.facts.get(key).and_then(|v| v.as_u64()).unwrap_or(0)
}

fn ip_label(p: &FindingPrincipal) -> &str {
    p.identity
        .split_once(':')
        .map_or(p.identity.as_str(), |(_, v)| v)
}

pub(super) fn evaluate(a: &Analysis<'_>, ix: &Index<'_>, hits: &mut Vec<Hit>) {
    let cfg = a.config;
    let then_success = cfg.enabled(CREDENTIAL_ATTACK_THEN_SUCCESS);
    let by_user = cfg.enabled(BRUTE_FORCE_USER) || then_success;
    let by_ip = cfg.enabled(BRUTE_FORCE_IP) || then_success;
    let spray = cfg.enabled(PASSWORD_SPRAY) || then_success;
    if !(by_user || by_ip || spray) || ix.positions(FAILED_SIGN_IN).next().is_none() {
        return;
    }
    let user_goal = window::count_threshold(cfg, BRUTE_FORCE_USER, "failures");

    let users: Vec<(&str, Vec<u32>)> = if by_user {
        ix.identities
            .iter()
            .filter(|(_, t)| {
                t.flags & FAILED_SIGN_IN != 0 && t.count(ix, FAILED_SIGN_IN) >= user_goal
            })
            .map(|(id, t)| (*id, t.with(ix, FAILED_SIGN_IN)))
            .collect()
    } else {
        Vec::new()
    };
    let ip_goal = Goal::Failures(window::count_threshold(cfg, BRUTE_FORCE_IP, "failures"));
    let spray_goal = Goal::Sprayed {
        users: window::count_threshold(cfg, PASSWORD_SPRAY, "distinct_users"),
        max_tries: window::count_threshold(cfg, PASSWORD_SPRAY, "max_tries_per_user"),
    };
    let ip_floor = match (by_ip, spray) {
        (true, true) => ip_goal.floor().min(spray_goal.floor()),
        (true, false) => ip_goal.floor(),
        _ => spray_goal.floor(),
    };
    let (ips, devices) = if by_ip || spray {
        let failures = |key: fn(&ActivityRecord) -> Option<&str>| {
            let mut by: HashMap<&str, Vec<u32>> = HashMap::new();
            for p in ix.positions(FAILED_SIGN_IN) {
                if let Some(k) = key(&a.records[p]) {
                    by.entry(k).or_default().push(p as u32);
                }
            }
            by
        };
        let ips = sources(
            a,
            ix,
            failures(|r| r.network.ip.as_deref()),
            ip_floor,
            |r| r.network.ip.as_deref(),
        );
        let devices = if spray {
            sources(
                a,
                ix,
                failures(|r| r.client.dt_hash.as_deref()),
                spray_goal.floor(),
                |r| r.client.dt_hash.as_deref(),
            )
        } else {
            HashMap::new()
        };
        (ips, devices)
    } else {
        (HashMap::new(), HashMap::new())
    };

    let user_width = window::minutes_threshold(cfg, BRUTE_FORCE_USER, "window_minutes");
    let ip_width = window::minutes_threshold(cfg, BRUTE_FORCE_IP, "window_minutes");
    let spray_width = window::minutes_threshold(cfg, PASSWORD_SPRAY, "window_minutes");

    let mut attacks: HashMap<(On, &str), Vec<Attack>> = HashMap::new();
    for (identity, group) in &users {
        let triggers = window::slide(a.records, group, user_width, Count::at_least(user_goal));
        if !triggers.is_empty() {
            let principal = FindingPrincipal::of_record(&a.records[group[0] as usize]);
            attacks
                .entry((On::User, identity))
                .or_default()
                .push(Attack {
                    detection: BRUTE_FORCE_USER,
                    principal,
                    group,
                    triggers,
                });
        }
    }
    let sources = ips
        .iter()
        .map(|(ip, g)| ((On::Ip, *ip), g, FindingPrincipal::ip(ip)));
    let sources = sources.chain(
        devices
            .iter()
            .map(|(dt, g)| ((On::Device, *dt), g, FindingPrincipal::device(dt))),
    );
    for (key, group, principal) in sources {
        let failures = group
            .iter()
            .filter(|&&p| a.records[p as usize].event.outcome.is_failure())
            .count();
        let mut goals: Vec<(&'static str, Goal, Millis)> = Vec::with_capacity(2);
        if key.0 == On::Ip && by_ip {
            goals.push((BRUTE_FORCE_IP, ip_goal, ip_width));
        }
        if spray {
            goals.push((PASSWORD_SPRAY, spray_goal, spray_width));
        }
        for (detection, goal, width) in goals {
            if failures < goal.floor() {
                continue;
            }
            let triggers = window::slide(a.records, group, width, SourceWindow::new(goal));
            if !triggers.is_empty() {
                attacks.entry(key).or_default().push(Attack {
                    detection,
                    principal: principal.clone(),
                    group,
                    triggers,
                });
            }
        }
    }

    for attack in attacks
        .values()
        .flatten()
        .filter(|at| cfg.enabled(at.detection))
    {
        hits.extend(attack.report(a));
    }
    if then_success {
        attack_then_success(a, ix, hits, &attacks);
    }
}

/// The sources (IPs or devices) with at least `floor` failed sign-ins, each
/// with its failures and the successful sign-ins, from it, of the identities
/// that failed there: what forgives their failures.
fn sources<'a>(
    a: &Analysis<'a>,
    ix: &Index<'a>,
    failures: HashMap<&'a str, Vec<u32>>,
    floor: usize,
    key: fn(&ActivityRecord) -> Option<&str>,
) -> HashMap<&'a str, Vec<u32>> {
    let mut sources = HashMap::new();
    for (source, mut group) in failures.into_iter().filter(|(_, g)| g.len() >= floor) {
        let identities: HashSet<&str> = group
            .iter()
            .map(|&p| a.records[p as usize].identity.as_str())
            .collect();
        for timeline in identities.iter().filter_map(|id| ix.identities.get(id)) {
            let successes = timeline
                .positions
                .iter()
                .filter(|&&p| ix.flags[p as usize] & SIGN_IN != 0);
            group.extend(successes.filter(|&&p| key(&a.records[p as usize]) == Some(source)));
        }
        group.sort_unstable();
        sources.insert(source, group);
    }
    sources
}

/// Whether a sign-in comes from a device and a network the identity's
/// established baseline knows: the user, not whoever attacked them.
fn familiar(a: &Analysis<'_>, s: &ActivityRecord) -> bool {
    let Some(b) = a.baselines.get(s.identity.as_str()) else {
        return false;
    };
    b.established(s.published, a.config.baseline_min_days)
        && s.client
            .dt_hash
            .as_deref()
            .is_some_and(|d| b.devices.contains_key(d))
        && s.network.asn.is_some_and(|asn| b.knows_asn(asn))
}

fn attack_then_success(
    a: &Analysis<'_>,
    ix: &Index<'_>,
    hits: &mut Vec<Hit>,
    attacks: &HashMap<(On, &str), Vec<Attack>>,
) {
    let lookback =
        window::minutes_threshold(a.config, CREDENTIAL_ATTACK_THEN_SUCCESS, "lookback_minutes");
    let mut reported: HashSet<&str> = HashSet::new();
    for s in ix.in_hour(SIGN_IN).map(|p| &a.records[p]) {
        if s.identity_kind != IdentityKind::User || reported.contains(s.identity.as_str()) {
            continue;
        }
        let keys = [
            (On::User, Some(s.identity.as_str())),
            (On::Ip, s.network.ip.as_deref()),
            (On::Device, s.client.dt_hash.as_deref()),
        ];
        let attacked = keys
            .iter()
            .any(|(on, key)| key.is_some_and(|k| attacks.contains_key(&(*on, k))));
        if !attacked || familiar(a, s) {
            continue;
        }
        let established = a
            .baselines
            .get(s.identity.as_str())
            .is_some_and(|b| b.established(s.published, a.config.baseline_min_days));
        let mut best: Option<(&Attack, Trigger)> = None;
        for (on, key) in keys {
            for attack in key
                .and_then(|k| attacks.get(&(on, k)))
                .into_iter()
                .flatten()
            {
                let Some(tr) = attack.before(a, s.published, lookback) else {
                    continue;
                };
                // An attacked user who then signs in is the attacker when the
                // user's established baseline does not vouch for the sign-in, or,
                // without one, when the sign-in came from the attack's network.
                if on == On::User
                    && !established
                    && !attack.failures(a, &tr).any(|f| same_network(f, s))
                {
                    continue;
                }
                if best.is_none_or(|(b, btr)| {
                    (tr.anchor, attack.detection) < (btr.anchor, b.detection)
                }) {
                    best = Some((attack, tr));
                }
            }
        }
        let Some((attack, tr)) = best else { continue };
        let evidence = attack.failures(a, &tr).chain(std::iter::once(s));
        let minutes = (s.published - attack.time(a, &tr)) / MINUTE;
        let what = match attack.detection {
            BRUTE_FORCE_USER => "a brute force against the account".to_owned(),
            BRUTE_FORCE_IP => format!("a brute force from {}", ip_label(&attack.principal)),
            _ => format!("a password spray from {}", ip_label(&attack.principal)),
        };
        let principal = FindingPrincipal::of_record(s);
        let summary = format!(
            "{} signed in from {} {minutes} min after {what}",
            principal.label(),
            window::place(s)
        );
        let f = window::finding(
            CREDENTIAL_ATTACK_THEN_SUCCESS,
            principal,
            tr.anchor,
            summary,
            evidence,
        )
        .fact("attack", attack.detection)
        .fact("attack_principal", attack.principal.identity.clone())
        .fact("minutes_after_attack", minutes);
        reported.insert(&s.identity);
        hits.push(Hit {
            trigger: s.published,
            finding: f,
        });
    }
}

fn same_network(a: &ActivityRecord, b: &ActivityRecord) -> bool {
    (a.network.ip.is_some() && a.network.ip == b.network.ip)
        || (a.network.asn.is_some() && a.network.asn == b.network.asn)
}
