//! The alerting stage over one hour of real records: each context rule with a
//! case it explains and one it must not, risk accumulation and grouping.

use crate::test_support::Typed;
use std::collections::HashMap;

use serde_json::json;

use super::context::OrgLearned;
use super::{decide, Verdict};
use crate::detect::{analyze, Analysis, Baseline, DetectConfig};
use crate::record::ActivityRecord;
use crate::test_support::{at, Ev};
use crate::time::{Hour, DAY, HOUR};

const NOW: &str = "2026-11-10T10:00:00Z";

/// One analysed hour: its records and the baselines as they stood before it.
#[derive(Default)]
struct Hourly {
    records: Vec<ActivityRecord>,
    baselines: HashMap<String, Baseline>,
    org: Option<OrgLearned>,
}

impl Hourly {
    fn add(&mut self, ev: Ev) -> &mut Self {
        self.records.push(ev.record());
        self
    }

    fn baseline(&mut self, b: Baseline) -> &mut Self {
        self.baselines.insert(b.identity.clone(), b);
        self
    }

    fn org(&mut self, org: OrgLearned) -> &mut Self {
        self.org = Some(org);
        self
    }

    /// (detection, verdict) of every finding in the hour.
    fn decide(&mut self) -> Vec<(String, Verdict, Vec<String>)> {
        self.decisions()
            .into_iter()
            .map(|d| {
                let related = d
                    .finding
                    .related
                    .iter()
                    .map(|r| r.detection.clone())
                    .collect();
                (d.finding.detection, d.verdict, related)
            })
            .collect()
    }

    /// Every decision of the hour, findings and their facts whole.
    fn decisions(&mut self) -> Vec<super::Decision> {
        // Past its learning week unless the test says otherwise.
        let org = self.org.get_or_insert_with(established_org).clone();
        self.records
            .sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
        let config = DetectConfig::default();
        let histories = HashMap::new();
        let a = Analysis {
            hour: Hour::of(at(NOW)),
            records: &self.records,
            baselines: &self.baselines,
            org: Some(&org),
            histories: &histories,
            config: &config,
        };
        decide(&a, analyze(&a), &HashMap::new())
    }
}

fn published(decisions: &[(String, Verdict, Vec<String>)], id: &str) -> bool {
    decisions
        .iter()
        .any(|(d, v, _)| d == id && *v == Verdict::Publish)
}

/// Published, or listed in a published alert.
fn paged(decisions: &[(String, Verdict, Vec<String>)], id: &str) -> bool {
    decisions
        .iter()
        .any(|(d, v, _)| d == id && matches!(v, Verdict::Publish | Verdict::Grouped { .. }))
}

fn kept_quiet(decisions: &[(String, Verdict, Vec<String>)], id: &str) -> bool {
    decisions
        .iter()
        .any(|(d, v, _)| d == id && matches!(v, Verdict::Contributes { .. }))
}

fn user(n: usize) -> (String, String) {
    (format!("00u{n}"), format!("user{n}@acme.com"))
}

/// A user who has signed in for a month from home, with a laptop and a phone.
fn settled(n: usize) -> Baseline {
    let (id, _) = user(n);
    let now = at(NOW);
    let mut b = Baseline::new(&id, now - 30 * DAY);
    b.last_seen = now - 2 * HOUR;
    b.countries.insert("United States", now - 2 * HOUR);
    b.asns.insert("7922", now - 2 * HOUR);
    b.devices.insert(format!("dt-{n}-laptop"), now - 2 * HOUR);
    b.devices.insert(format!("dt-{n}-phone"), now - 2 * HOUR);
    b
}

/// The org's own context after a month: nothing learned about these networks,
/// but past its first week, so the hour under analysis no longer teaches it.
fn established_org() -> OrgLearned {
    OrgLearned::new(at(NOW) - 30 * DAY)
}

/// The org's context after a month, having learned each network (`a.b.c.0/24`)
/// and proxy provider (`AS<n>`, by number) from `users` users over `days` days.
fn org_knowing(networks: &[&str], proxies: &[u64], users: usize, days: i64) -> OrgLearned {
    let mut b = established_org();
    let org = &mut b.seen;
    let now = at(NOW);
    let day = |k: i64| (now - (k + 1) * DAY).div_euclid(DAY);
    for (keys, seen, days_of) in [
        (
            networks.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            &mut org.networks,
            &mut org.network_days,
        ),
        (
            proxies.iter().map(|p| p.to_string()).collect(),
            &mut org.proxies,
            &mut org.proxy_days,
        ),
    ] {
        for key in keys {
            let users_seen = seen.entry(key.clone()).or_default();
            for u in 0..users {
                users_seen.insert(format!("00u9{u:03}"), now - DAY);
            }
            days_of.insert(key, (0..days).map(day).collect());
        }
    }
    b
}

fn sign_in(n: usize, minute: i64) -> Ev {
    let (id, login) = user(n);
    Ev::new("user.session.start")
        .user(&id, &login)
        .at_ms(at(NOW) + minute * 60_000)
        .debug("dtHash", json!(format!("dt-{n}-laptop")))
}

fn relay(ev: Ev) -> Ev {
    ev.from(
        "172.225.13.40",
        "San Jose",
        "United States",
        37.33,
        -121.89,
        36183,
        "akamai technologies, inc.",
    )
    .proxy(true)
}

fn tor(ev: Ev) -> Ev {
    ev.from(
        "185.220.101.47",
        "Berlin",
        "Germany",
        52.52,
        13.40,
        60729,
        "stiftung erneuerbare freiheit",
    )
    .proxy(true)
}

#[test]
fn a_relay_the_user_goes_through_every_day_does_not_page_but_tor_does() {
    let mut b = settled(1);
    b.proxies.insert("36183", at(NOW) - DAY);
    let quiet = Hourly::default()
        .baseline(b.clone())
        .add(relay(sign_in(1, 5)))
        .decide();
    assert!(kept_quiet(&quiet, "proxy_sign_in"), "{quiet:?}");
    let loud = Hourly::default()
        .baseline(b)
        .add(tor(sign_in(1, 5)))
        .decide();
    assert!(published(&loud, "proxy_sign_in"), "{loud:?}");
}

#[test]
fn failed_proxy_sign_ins_add_risk_once_an_hour_and_the_users_relay_explains_them() {
    let mut b = settled(1);
    b.proxies.insert("36183", at(NOW) - DAY);
    let failing = |through: fn(Ev) -> Ev| {
        let mut hour = Hourly::default();
        hour.baseline(b.clone());
        for minute in 1..=8 {
            hour.add(through(sign_in(1, minute)).failure("INVALID_CREDENTIALS"));
        }
        hour.decisions()
    };
    for (through, explained) in [(relay as fn(Ev) -> Ev, true), (tor, false)] {
        let decisions = failing(through);
        let d = decisions
            .iter()
            .find(|d| d.finding.detection == "proxy_sign_in_failed")
            .expect("a finding");
        // Eight retries are one finding of weight 20, none when the user's
        // own relay explains them: no page on their own.
        let weight = if explained { 0 } else { 20 };
        assert_eq!(d.verdict, Verdict::Contributes { weight });
        assert_eq!(d.finding.facts["events"], json!(8));
        assert_eq!(d.finding.facts.contains_key("context"), explained);
        assert!(
            decisions.iter().all(|d| d.verdict != Verdict::Publish),
            "{decisions:?}"
        );
    }
}

#[test]
fn a_proxy_provider_many_users_go_through_is_the_orgs_own() {
    // The relay taught the org's context in earlier hours: `users` users over
    // `days` days. User 1, who never went through it, now signs in through it.
    let hour_with = |users: usize, days: i64| {
        let mut hour = Hourly::default();
        hour.org(org_knowing(&[], &[36183], users, days));
        hour.baseline(settled(1)).add(relay(sign_in(1, 1)));
        hour.decide()
    };
    let decisions = hour_with(5, 6);
    assert!(kept_quiet(&decisions, "proxy_sign_in"), "{decisions:?}");
    assert!(
        decisions.iter().all(|(_, v, _)| *v != Verdict::Publish),
        "{decisions:?}"
    );
    // Four users are not yet an org habit: the sign-in pages.
    let decisions = hour_with(4, 6);
    assert!(published(&decisions, "proxy_sign_in"), "{decisions:?}");
    // Nor are five users of one or two days: a phishing proxy relaying a
    // morning's victims has not earned it.
    let decisions = hour_with(25, 2);
    assert!(published(&decisions, "proxy_sign_in"), "{decisions:?}");
    // Users' own baselines do not make a provider the org's: the victims a
    // proxy relayed have it in theirs.
    let mut hour = Hourly::default();
    for n in 10..20 {
        let mut b = settled(n);
        b.proxies.insert("36183", at(NOW) - DAY);
        hour.baseline(b);
    }
    hour.baseline(settled(1)).add(relay(sign_in(1, 1)));
    let decisions = hour.decide();
    assert!(published(&decisions, "proxy_sign_in"), "{decisions:?}");
    // Nor does the hour under analysis teach: five users signing in through a
    // provider for the first time, in the same hour, each page.
    let mut hour = Hourly::default();
    for n in 1..=5 {
        hour.baseline(settled(n)).add(relay(sign_in(n, n as i64)));
    }
    let decisions = hour.decide();
    assert_eq!(
        decisions
            .iter()
            .filter(|(_, v, _)| *v == Verdict::Publish)
            .count(),
        5,
        "{decisions:?}"
    );
}

/// A sign-in through the org's VPN gateway in Frankfurt, on the user's laptop.
fn vpn_frankfurt(n: usize, minute: i64) -> Ev {
    sign_in(n, minute).from(
        "3.120.181.11",
        "Frankfurt am Main",
        "Germany",
        50.11,
        8.68,
        16509,
        "amazon.com, inc.",
    )
}

#[test]
fn travel_to_an_org_vpn_gateway_is_not_travel_but_to_a_stranger_it_is() {
    // Five users have used the gateway on many days: it is the org's.
    let mut hour = Hourly::default();
    hour.org(org_knowing(&["3.120.181.0/24"], &[], 5, 10));
    hour.baseline(settled(1));
    hour.add(sign_in(1, 0).debug("dtHash", json!("dt-1-other")))
        .add(vpn_frankfurt(1, 20));
    let decisions = hour.decide();
    assert!(kept_quiet(&decisions, "impossible_travel"), "{decisions:?}");

    // The same jump, to an address no one in the org uses, on a new device.
    let mut hour = Hourly::default();
    hour.baseline(settled(1)).add(sign_in(1, 0)).add(
        sign_in(1, 20)
            .from(
                "1.145.88.14",
                "Sydney",
                "Australia",
                -33.87,
                151.21,
                1221,
                "telstra",
            )
            .debug("dtHash", json!("dt-intruder")),
    );
    let decisions = hour.decide();
    assert!(published(&decisions, "impossible_travel"), "{decisions:?}");
    // The new country is listed in the same alert, not paged apart.
    let (_, _, related) = decisions
        .iter()
        .find(|(d, ..)| d == "impossible_travel")
        .unwrap();
    assert_eq!(related, &["new_country"]);
}

fn phone(ev: Ev, n: usize) -> Ev {
    ev.user_agent(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
        "iOS",
        "MOBILE_SAFARI",
    )
    .set(&["client", "device"], json!("Mobile"))
    .debug("dtHash", json!(format!("dt-{n}-phone-new")))
}

#[test]
fn a_phone_geolocated_to_the_carriers_gateway_is_within_its_accuracy() {
    // Laptop in Bengaluru, then the phone on a carrier address placed in Mumbai.
    let blr = |ev: Ev| {
        ev.from(
            "122.102.1.5",
            "Bengaluru",
            "India",
            12.97,
            77.59,
            24560,
            "airtel",
        )
    };
    let bom = |ev: Ev| ev.from("49.57.65.1", "Mumbai", "India", 19.08, 72.88, 55836, "jio");
    let mut b = settled(1);
    b.countries.insert("India", at(NOW) - DAY);
    // The org's data shows AS55836 to be a carrier: many users' phones, no
    // computers.
    let mut org = established_org();
    let ctx = &mut org.seen;
    let phones = ctx.phone_asns.entry("55836".into()).or_default();
    for u in 0..8 {
        phones.insert(format!("00u9{u:03}"), at(NOW) - DAY);
    }
    let with_org = |org: OrgLearned, phone_ev: Ev| {
        let mut hour = Hourly::default();
        hour.org(org)
            .baseline(b.clone())
            .add(blr(sign_in(1, 0)).debug("dtHash", json!("dt-1-new")))
            .add(phone_ev);
        hour.decide()
    };
    let decisions = with_org(org.clone(), phone(bom(sign_in(1, 18)), 1));
    let travel: Vec<_> = decisions
        .iter()
        .filter(|(d, ..)| d == "impossible_travel")
        .collect();
    assert!(
        travel.iter().all(|(_, v, _)| *v != Verdict::Publish),
        "{decisions:?}"
    );
    // An iPhone user agent on a network the org never saw phones on (a
    // hosting provider, say) is placed as precisely as a server: the agent is
    // the attacker's to choose.
    let decisions = with_org(established_org(), phone(bom(sign_in(1, 18)), 1));
    assert!(paged(&decisions, "impossible_travel"), "{decisions:?}");

    // The same two places from two laptops are two people 845 km apart.
    let mut hour = Hourly::default();
    b.countries = Default::default();
    hour.baseline(b)
        .add(blr(sign_in(1, 0)).debug("dtHash", json!("dt-1-new")))
        .add(bom(sign_in(1, 18)).debug("dtHash", json!("dt-1-newer")));
    let decisions = hour.decide();
    assert!(published(&decisions, "impossible_travel"), "{decisions:?}");
}

#[test]
fn failures_behind_the_office_nat_are_an_expiry_wave_not_a_spray() {
    let office = |ev: Ev| {
        ev.from(
            "198.18.0.10",
            "San Francisco",
            "United States",
            37.77,
            -122.42,
            7922,
            "comcast business",
        )
    };
    // Eight people at the office fail with an expired password; they sign in
    // later, after changing it. Everyone at the office signs in from there.
    let wave = |people: usize| {
        let mut hour = Hourly::default();
        hour.org(org_knowing(&["198.18.0.0/24"], &[], 10, 20));
        for n in 1..=people {
            hour.baseline(settled(n))
                .add(office(sign_in(n, (n % 50) as i64)).failure("INVALID_CREDENTIALS"));
        }
        hour.decisions()
    };
    let decisions = wave(8);
    let spray = decisions
        .iter()
        .find(|d| d.finding.detection == "password_spray")
        .expect("a spray finding");
    // Lowered, never to nothing: it still adds risk to the office's address.
    assert_eq!(spray.verdict, Verdict::Contributes { weight: 40 });
    assert!(
        decisions.iter().all(|d| d.verdict != Verdict::Publish),
        "{decisions:?}"
    );
    // A spray from the office's NAT over three times the threshold (a
    // compromised machine inside) pages all the same.
    let decisions = wave(16);
    assert!(
        decisions
            .iter()
            .any(|d| d.finding.detection == "password_spray" && d.verdict == Verdict::Publish),
        "{decisions:?}"
    );

    // The same failures from a stranger's address, then a success there.
    let stranger = |ev: Ev| {
        ev.from(
            "45.134.26.115",
            "Saint Petersburg",
            "Russia",
            59.93,
            30.34,
            14061,
            "digitalocean",
        )
    };
    let mut hour = Hourly::default();
    for n in 1..=8 {
        hour.baseline(settled(n))
            .add(stranger(sign_in(n, n as i64)).failure("INVALID_CREDENTIALS"));
    }
    hour.add(stranger(sign_in(3, 30)));
    let decisions = hour.decide();
    assert!(
        published(&decisions, "credential_attack_then_success"),
        "{decisions:?}"
    );
    // One incident: the spray rides along in the sign-in's alert.
    let spray = decisions
        .iter()
        .find(|(d, ..)| d == "password_spray")
        .unwrap();
    assert!(matches!(spray.1, Verdict::Grouped { .. }), "{decisions:?}");
}

#[test]
fn low_signal_findings_add_up_to_an_alert() {
    let reset = |n: usize, minute: i64| {
        let (id, login) = user(n);
        Ev::new("user.mfa.factor.reset_all")
            .user("00uhelpdesk", "helpdesk@acme.com")
            .target("User", &id, &login, &login)
            .at_ms(at(NOW) + minute * 60_000)
    };
    let lock = |n: usize, minute: i64| {
        sign_in(n, minute)
            .set(&["eventType"], json!("user.account.lock"))
            .outcome("FAILURE", Some("LOCKED_OUT"))
    };
    // A reset alone: kept, no page.
    let decisions = Hourly::default()
        .baseline(settled(1))
        .add(reset(1, 5))
        .decide();
    assert!(kept_quiet(&decisions, "mfa_factor_reset"), "{decisions:?}");
    // A reset, a lockout and a sign-in from a new country: one alert.
    let mut hour = Hourly::default();
    hour.baseline(settled(1))
        .add(reset(1, 5))
        .add(lock(1, 10))
        .add(
            sign_in(1, 30)
                .from(
                    "51.158.69.203",
                    "Paris",
                    "France",
                    48.86,
                    2.35,
                    12876,
                    "scaleway",
                )
                .debug("dtHash", json!("dt-new")),
        );
    let decisions = hour.decide();
    let published: Vec<_> = decisions
        .iter()
        .filter(|(_, v, _)| *v == Verdict::Publish)
        .collect();
    assert_eq!(published.len(), 1, "{decisions:?}");
    let mut named = published[0].2.clone();
    named.push(published[0].0.clone());
    named.sort();
    assert_eq!(named, ["account_locked", "mfa_factor_reset", "new_country"]);
}

#[test]
fn a_kiosk_on_the_orgs_network_is_shared_but_a_token_shared_from_a_stranger_pages() {
    let warehouse = |ev: Ev| {
        ev.from(
            "198.51.100.40",
            "Reno",
            "United States",
            39.53,
            -119.81,
            7018,
            "at&t enterprises",
        )
    };
    let kiosk = |ev: Ev| ev.debug("dtHash", json!("dt-kiosk"));
    // Six warehouse workers sign in at the same kiosk, on the warehouse's network.
    let mut hour = Hourly::default();
    hour.org(org_knowing(&["198.51.100.0/24"], &[], 6, 20));
    for n in 1..=6 {
        hour.baseline(settled(n))
            .add(kiosk(warehouse(sign_in(n, 5 * n as i64))));
    }
    let decisions = hour.decide();
    assert!(
        kept_quiet(&decisions, "shared_device_token"),
        "{decisions:?}"
    );
    assert!(
        decisions.iter().all(|(_, v, _)| *v != Verdict::Publish),
        "{decisions:?}"
    );

    // One device token signing in six users from an address none of them uses:
    // an adversary-in-the-middle proxy replaying their sessions.
    let mut hour = Hourly::default();
    hour.org(established_org());
    for n in 1..=6 {
        hour.baseline(settled(n))
            .add(kiosk(sign_in(n, 5 * n as i64).from(
                "45.134.26.115",
                "Saint Petersburg",
                "Russia",
                59.93,
                30.34,
                14061,
                "digitalocean",
            )));
    }
    let decisions = hour.decide();
    let named = decisions.iter().any(|(d, v, related)| {
        *v == Verdict::Publish
            && (d == "shared_device_token" || related.iter().any(|r| r == "shared_device_token"))
    });
    assert!(named, "{decisions:?}");
}
