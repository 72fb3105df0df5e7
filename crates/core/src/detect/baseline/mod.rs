//! Per-identity history for the "new X" detections: what countries, networks,
//! devices, clients and apps an identity normally uses, and where it last signed in.
//!
//! Only successful activity is learned: an attacker's failures must not teach the
//! baseline their network. Each set is bounded so a baseline item stays small.

mod seen;

use serde::{Deserialize, Serialize};

use crate::record::{ActivityRecord, Category, IdentityKind, Role};
use crate::time::{Millis, DAY};

pub use seen::Seen;

/// Values kept per set; the least recently seen go first.
pub const MAX_VALUES: usize = 48;

/// How long a store keeps a baseline after its identity was last seen. Its
/// values are pruned after the baseline period; the baseline itself, with its
/// last-seen time, is kept this long so a sign-in after months of dormancy is
/// recognised as one (`dormant_account_sign_in`). A pruned baseline is a few
/// hundred bytes.
pub const LAST_SEEN_KEPT_DAYS: u32 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignInPoint {
    pub at: Millis,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub proxy: bool,
}

/// Where the last sign-in came from, for judging travel from it in a later hour.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignInSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default)]
    pub mobile: bool,
    /// The network's autonomous system: a phone's place is imprecise only on a
    /// mobile carrier's network, which the org's context tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub identity: String,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// value → last seen, per attribute.
    #[serde(default)]
    pub countries: Seen,
    #[serde(default)]
    pub asns: Seen,
    #[serde(default)]
    pub devices: Seen,
    #[serde(default)]
    pub clients: Seen,
    #[serde(default)]
    pub apps: Seen,
    #[serde(default)]
    pub last_sign_in: Option<SignInPoint>,
    /// Networks (an IPv4 /24, an IPv6 /48) the user signed in from, for the
    /// org-level context of which networks are the org's own.
    #[serde(default, skip_serializing_if = "Seen::is_empty")]
    pub networks: Seen,
    /// Autonomous systems of the proxies (relays, SASE) the user signed in through.
    #[serde(default, skip_serializing_if = "Seen::is_empty")]
    pub proxies: Seen,
    /// Network, country and device of `last_sign_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in_from: Option<SignInSource>,
}

impl Baseline {
    pub fn new(identity: &str, at: Millis) -> Self {
        Baseline {
            identity: identity.to_owned(),
            first_seen: at,
            last_seen: at,
            ..Default::default()
        }
    }

    /// Old enough to say what is new for this identity at `at`.
    pub fn established(&self, at: Millis, min_days: u32) -> bool {
        at - self.first_seen >= i64::from(min_days) * DAY
    }

    /// Whether a record teaches the baseline anything.
    pub fn learns_from(r: &ActivityRecord) -> bool {
        r.role == Role::Actor
            && r.identity_kind != IdentityKind::UnknownUser
            && (r.event.outcome.is_success()
                || r.identity_kind == IdentityKind::ApiToken && !r.event.outcome.is_failure())
    }

    /// Learns from one record. Returns whether anything changed that is worth
    /// writing back (a new value, or a value's last-seen day moving on).
    pub fn observe(&mut self, r: &ActivityRecord) -> bool {
        if !Self::learns_from(r) {
            return false;
        }
        let t = r.published;
        let mut changed = false;
        if t < self.first_seen {
            self.first_seen = t;
            changed = true;
        }
        if t > self.last_seen {
            changed |= day(t) != day(self.last_seen);
            self.last_seen = t;
        }
        if let Some(c) = &r.network.country {
            changed |= touch(&mut self.countries, c, t);
        }
        if let Some(a) = r.network.asn {
            changed |= touch(&mut self.asns, &a.to_string(), t);
        }
        if let Some(d) = &r.client.dt_hash {
            changed |= touch(&mut self.devices, d, t);
        }
        if let Some(c) = client_family(r) {
            changed |= touch(&mut self.clients, &c, t);
        }
        if r.category == Category::Sso {
            if let Some(app) = r
                .target_of_kind("AppInstance")
                .and_then(|a| a.name.clone().or(a.id.clone()))
            {
                changed |= touch(&mut self.apps, &app, t);
            }
        }
        if r.category == Category::SignIn
            && r.is("user.session.start")
            && r.identity_kind == IdentityKind::User
        {
            if let Some(net) = r.network.ip.as_deref().and_then(network_prefix) {
                changed |= touch(&mut self.networks, &net, t);
            }
            if let (true, Some(asn)) = (r.network.proxy, r.network.asn) {
                changed |= touch(&mut self.proxies, &asn.to_string(), t);
            }
        }
        if r.category == Category::SignIn && r.is("user.session.start") {
            if let (Some(lat), Some(lon)) = (r.network.lat, r.network.lon) {
                if self.last_sign_in.is_none_or(|p| p.at <= t) {
                    self.last_sign_in = Some(SignInPoint {
                        at: t,
                        lat,
                        lon,
                        proxy: r.network.proxy,
                    });
                    self.last_sign_in_from = Some(SignInSource {
                        ip: r.network.ip.as_deref().map(str::to_owned),
                        country: r.network.country.as_deref().map(str::to_owned),
                        device: r.client.dt_hash.as_deref().map(str::to_owned),
                        mobile: crate::detect::alerting::accuracy::mobile(r),
                        asn: r.network.asn,
                    });
                    changed = true;
                }
            }
        }
        changed
    }

    /// Forgets values not seen within `days` before `now`.
    pub fn prune(&mut self, now: Millis, days: u32) {
        let horizon = now - i64::from(days) * DAY;
        for set in [
            &mut self.countries,
            &mut self.asns,
            &mut self.devices,
            &mut self.clients,
            &mut self.apps,
            &mut self.networks,
            &mut self.proxies,
        ] {
            set.retain(|_, seen| seen >= horizon);
        }
    }

    pub fn knows_country(&self, c: &str) -> bool {
        self.countries.contains_key(c)
    }

    pub fn knows_asn(&self, asn: u64) -> bool {
        self.asns.contains_key(&asn.to_string())
    }

    pub fn knows_proxy_asn(&self, asn: u64) -> bool {
        self.proxies.contains_key(&asn.to_string())
    }

    /// Whether the autonomous system was the identity's before `t`: what the
    /// baseline knew then, not what later hours taught it.
    pub fn knew_asn(&self, asn: u64, t: Millis) -> bool {
        self.asns.known_before(&asn.to_string(), t)
    }

    /// Whether the device token was the identity's before `t`.
    pub fn knew_device(&self, dt_hash: &str, t: Millis) -> bool {
        self.devices.known_before(dt_hash, t)
    }
}

/// The network an address belongs to for org-level context: its IPv4 /24 or its
/// IPv6 /48, the granularity at which an office, a VPN concentrator or a SASE
/// point of presence egresses, while home broadband spreads over many.
pub fn network_prefix(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

/// Browser and OS, the stable part of a user agent.
pub fn client_family(r: &ActivityRecord) -> Option<String> {
    match (&r.client.browser, &r.client.os) {
        (None, None) => None,
        (b, o) => Some(format!(
            "{}/{}",
            b.as_deref().unwrap_or("?"),
            o.as_deref().unwrap_or("?")
        )),
    }
}

fn day(t: Millis) -> i64 {
    t.div_euclid(DAY)
}

fn touch(set: &mut Seen, value: &str, t: Millis) -> bool {
    // A late event, learned when its hour is analysed again, can show a value
    // in use earlier than its first sighting: new at that time it was not.
    if set.first_seen(value).is_some_and(|first| t < first) {
        set.seen_earlier(value, t);
        return true;
    }
    match set.get_mut(value) {
        Some(seen) if *seen >= t => false,
        Some(seen) => {
            let moved = day(*seen) != day(t);
            *seen = t;
            moved
        }
        None => {
            if set.len() >= MAX_VALUES {
                set.remove_oldest();
            }
            set.insert(value, t);
            true
        }
    }
}
