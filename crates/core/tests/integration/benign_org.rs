//! A synthetic org of 320 people over ten days of ordinary work, analysed hour
//! by hour the way the detector runs: no windowed detection may fire on it.
//!
//! The org is full of near misses (typos, a denied push, people behind one
//! office address, roaming phones, travellers, help-desk resets, lockouts, API
//! tokens on two cloud networks), so the same harness fires when the thresholds
//! are set too low, and fires every windowed detection once attacks are added.

use okta_itdr_testkit::Typed;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use okta_itdr_core::detect::{
    analyze, history_requests, Analysis, Baseline, DetectConfig, Finding, Kind, CATALOG, CONTEXT,
};
use okta_itdr_core::record::{ActivityRecord, Role};
use okta_itdr_core::time::{Hour, Millis, DAY, HOUR, MINUTE, SECOND};
use okta_itdr_testkit::realistic_org::{
    bot_host, id, intruder_abroad, login, stolen_sync_token, City, Gen, Place, Slips, EU_CITIES,
    LAPTOP, PHONE, SAAS_APPS, US_CITIES, WINDOWS,
};
use okta_itdr_testkit::{at, Ev, Rng};
use serde_json::json;

const USERS: usize = 320;
const DAYS: i64 = 10;
const FIRST_DAY: &str = "2026-11-01T00:00:00Z";
const ADMINS: std::ops::Range<usize> = 300..310;
const HELPDESK: usize = 310;
const TRAVELLERS: std::ops::Range<usize> = 100..104;
/// Users who work from the office some days, behind one address.
const OFFICE: std::ops::Range<usize> = 0..80;
/// Users who also work from their phones, on a carrier's network.
const MOBILE: std::ops::Range<usize> = 40..120;
const APPS: &[&str] = SAAS_APPS.split_at(15).0;
/// Where the org's people live: the realistic org's first six US cities.
const CITIES: &[City] = US_CITIES.split_at(6).0;
const LONDON: City = EU_CITIES[0];
const HOME_ISPS: [(u64, &str); 4] = [
    (7922, "comcast"),
    (701, "verizon"),
    (7018, "at&t"),
    (20115, "charter"),
];
const CARRIER: (u64, &str) = (21928, "t-mobile usa");
const LINUX: (&str, &str, &str, &str) = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Linux",
    "FIREFOX",
    "Computer",
);
const CLIENTS: [(&str, &str, &str, &str); 3] = [LAPTOP, WINDOWS, LINUX];
/// This org's people slip more often than the realistic org's.
const SLIPS: Slips = Slips {
    typo: 0.04,
    denied_push: 0.03,
};

fn home(u: usize) -> Place {
    let (asn, org) = HOME_ISPS[u % HOME_ISPS.len()];
    Place {
        ip: format!("73.{}.{}.{}", u % 200, u / 7 % 250, 10 + u % 200),
        city: CITIES[u % CITIES.len()],
        asn,
        as_org: org,
        proxy: false,
        client: CLIENTS[u % CLIENTS.len()],
        dt: Some(format!("dt-{u}-laptop")),
    }
}

/// The office of the user's city, one address for everyone there.
fn office(u: usize) -> Place {
    Place {
        ip: format!("203.0.113.{}", 10 + u % CITIES.len()),
        asn: 7922,
        as_org: "comcast business",
        ..home(u)
    }
}

fn phone(u: usize, on_carrier: bool, rng: &mut Rng) -> Place {
    let base = home(u);
    let (ip, asn, org) = if on_carrier {
        (
            format!("172.56.{}.{}", rng.below(250), rng.below(250)),
            CARRIER.0,
            CARRIER.1,
        )
    } else {
        (base.ip.clone(), base.asn, base.as_org)
    };
    Place {
        ip,
        asn,
        as_org: org,
        client: PHONE,
        dt: Some(format!("dt-{u}-phone")),
        ..base
    }
}

fn london(u: usize) -> Place {
    Place {
        ip: format!("81.2.69.{}", 10 + u % 200),
        city: LONDON,
        asn: 5089,
        as_org: "virgin media",
        ..home(u)
    }
}

/// An org's events with deterministic uuids (`prefix`) and this org's slips.
fn generator(seed: u64, prefix: &'static str) -> Gen {
    let mut g = Gen::new(seed, prefix);
    g.slips = SLIPS;
    g
}

/// One working session: the sign-in with its slips, then apps through the
/// day, a phone moving between Wi-Fi and its carrier (`roam`) as it goes.
fn session(g: &mut Gen, u: usize, t: Millis, place: &Place, roam: Option<&Place>) {
    let s = g.sign_in(u, t, place);
    let n = g.rng.range(3, 8) as usize;
    let first = g.rng.below(APPS.len() as u64) as usize;
    for k in 0..n {
        let app = APPS[(first + k * 2) % APPS.len()];
        let when = t + g.rng.range(1, 240) * MINUTE + g.rng.below(60) as i64 * SECOND;
        let at_place = match roam {
            Some(other) if k % 2 == 1 => other,
            _ => place,
        };
        g.push(g.sso(u, at_place, &s, app), when);
    }
}

fn day_start(d: i64) -> Millis {
    at(FIRST_DAY) + d * DAY
}

/// Ten days of the org's ordinary activity.
fn benign_events() -> Vec<Ev> {
    let mut g = generator(0x5eed_0f0c_7a00, "bbbbbbbb");
    for d in 0..DAYS {
        let weekend = d % 7 == 5 || d % 7 == 6;
        for u in 0..USERS {
            let sessions = if weekend {
                g.rng.range(0, 1)
            } else {
                g.rng.range(1, 4)
            };
            for _ in 0..sessions {
                // Working hours in the Americas: 13:00 to 01:00 UTC.
                let t = day_start(d)
                    + 13 * HOUR
                    + g.rng.range(0, 11 * 60) * MINUTE
                    + g.rng.below(60) as i64 * SECOND;
                let travelling = TRAVELLERS.contains(&u) && d >= 6;
                let (place, roam) = if travelling {
                    // In London: the same laptop, European working hours.
                    let t_london = day_start(d) + 7 * HOUR + g.rng.range(0, 9 * 60) * MINUTE;
                    session(&mut g, u, t_london, &london(u), None);
                    continue;
                } else if MOBILE.contains(&u) && g.rng.chance(0.3) {
                    let carrier = g.rng.chance(0.5);
                    let other = phone(u, !carrier, &mut g.rng);
                    (phone(u, carrier, &mut g.rng), Some(other))
                } else if OFFICE.contains(&u) && !weekend && g.rng.chance(0.6) {
                    (office(u), None)
                } else {
                    (home(u), None)
                };
                session(&mut g, u, t, &place, roam.as_ref());
            }
            // Now and then, someone opens an app they are not assigned.
            if g.rng.chance(0.01) {
                let ev = g
                    .event("app.generic.unauth_app_access_attempt", u, &home(u), "102x")
                    .failure("User attempted unauthorized access to app")
                    .target("AppInstance", "0oapayroll", "Payroll", "Payroll");
                let t = day_start(d) + 15 * HOUR + g.rng.range(0, 600) * MINUTE;
                g.push(ev, t);
            }
        }
        // Travellers leave San Francisco after the day's work: their last sign-in
        // at home is at 20:00 UTC, the first in London eleven hours or more later.
        if d == 5 {
            for u in TRAVELLERS {
                session(&mut g, u, day_start(d) + 20 * HOUR, &home(u), None);
            }
        }
        // Admins open the Admin Console every weekday.
        for u in ADMINS.filter(|_| !weekend) {
            let t = day_start(d) + 14 * HOUR + g.rng.range(0, 600) * MINUTE;
            let place = home(u);
            let s = format!("102admin{u}d{d}");
            session(&mut g, u, t, &place, None);
            g.open_admin_console(u, t, &place, &s);
        }
        // The help desk resets a (non-admin) user's factors on most days; the
        // user enrols again and signs in.
        if !weekend {
            let u = g.rng.below(300) as usize;
            let t = day_start(d) + 16 * HOUR + g.rng.range(0, 300) * MINUTE;
            g.factors_reset_by(HELPDESK, &office(HELPDESK), u, t);
            session(&mut g, u, t + 20 * MINUTE, &home(u), None);
        }
        // Someone forgets a changed password: five tries, and the account locks.
        let u = g.rng.below(300) as usize;
        let t = day_start(d) + 18 * HOUR + g.rng.range(0, 240) * MINUTE;
        for k in 0..5 {
            let fail = g
                .event("user.session.start", u, &home(u), "unknown")
                .failure("INVALID_CREDENTIALS");
            g.push(fail, t + k * 30 * SECOND);
        }
        let lock = g
            .event("user.account.lock", u, &home(u), "unknown")
            .outcome("FAILURE", Some("LOCKED_OUT"));
        g.push(lock, t + 150 * SECOND);
        // Directory sync runs hourly with two API tokens, on two cloud networks.
        for h in 0..24 {
            for (token, asn) in [("00Tsync", 16509), ("00Tscim", 14618), ("00Tscim", 16509)] {
                let ip = format!("3.5.{h}.{}", asn % 250);
                let ev = Ev::new("user.account.update_profile")
                    .user(&id(300), &login(300))
                    .via_api_token(token)
                    .from(
                        &ip,
                        "Ashburn",
                        "United States",
                        39.04,
                        -77.49,
                        asn,
                        "amazon",
                    )
                    .no_user_agent();
                g.push(ev, day_start(d) + h * HOUR + 7 * MINUTE);
            }
        }
    }
    g.events
}

/// Attacks on the last day, one or more per windowed detection.
fn attack_events() -> Vec<Ev> {
    let day = day_start(DAYS - 1);
    let mut g = generator(42, "aaaaaaaa");
    let hosting = bot_host();
    let abroad = intruder_abroad();
    // Brute force against user005, password spray over eight users.
    for k in 0..12 {
        g.push(
            g.event("user.session.start", 5, &hosting, "unknown")
                .failure("INVALID_CREDENTIALS"),
            day + 3 * HOUR + k * 90 * SECOND,
        );
    }
    // Credential stuffing from the same address: one try each for ten users.
    for k in 0..10 {
        g.push(
            g.event("user.session.start", 210 + k as usize, &hosting, "unknown")
                .failure("INVALID_CREDENTIALS"),
            day + 3 * HOUR + 20 * MINUTE + k * 20 * SECOND,
        );
    }
    let sprayer = Place {
        ip: "45.134.26.115".into(),
        dt: Some("dt-sprayer".into()),
        ..hosting.clone()
    };
    for k in 0..16 {
        let u = 200 + (k % 8) as usize;
        g.push(
            g.event("user.session.start", u, &sprayer, "unknown")
                .failure("INVALID_CREDENTIALS"),
            day + 4 * HOUR + k * MINUTE,
        );
    }
    // The sprayer gets in as user203.
    g.push(
        g.event("user.session.start", 203, &sprayer, "102sprayed"),
        day + 4 * HOUR + 20 * MINUTE,
    );
    // Push bombing of user010, who gives in.
    for k in 0..6 {
        let deny = g
            .event("user.mfa.okta_verify.deny_push", 10, &abroad, "idxbomb")
            .outcome("FAILURE", Some("User rejected Okta push verify"))
            .debug("factor", json!("OKTA_VERIFY_PUSH"));
        g.push(deny, day + 5 * HOUR + k * MINUTE);
    }
    g.push(
        g.event("user.authentication.auth_via_mfa", 10, &abroad, "102bomb")
            .debug("factor", json!("OKTA_VERIFY_PUSH")),
        day + 5 * HOUR + 8 * MINUTE,
    );
    // user020 at home, then someone in Sydney half an hour later.
    g.push(
        g.event("user.session.start", 20, &home(20), "102home20"),
        day + 6 * HOUR,
    );
    g.push(
        g.event("user.session.start", 20, &abroad, "102syd20"),
        day + 6 * HOUR + 30 * MINUTE,
    );
    // user030's session replayed from another network and browser.
    g.push(
        g.event("user.authentication.sso", 30, &home(30), "102victim")
            .target("AppInstance", "0oaSlack", "Slack", "Slack"),
        day + 7 * HOUR,
    );
    g.push(
        g.event("user.authentication.sso", 30, &abroad, "102victim")
            .target("AppInstance", "0oaGitHub", "GitHub", "GitHub"),
        day + 7 * HOUR + 9 * MINUTE,
    );
    // Six users locked out in ten minutes.
    for k in 0..6 {
        g.push(
            g.event("user.account.lock", 150 + k, &hosting, "unknown")
                .outcome("FAILURE", Some("LOCKED_OUT")),
            day + 8 * HOUR + k as i64 * 100 * SECOND,
        );
    }
    // user040 opens every app in four minutes; user041 keeps trying Payroll.
    for (k, app) in APPS.iter().enumerate() {
        let sso = g
            .event("user.authentication.sso", 40, &home(40), "102survey")
            .target("AppInstance", &format!("0oa{k}"), app, app);
        g.push(sso, day + 9 * HOUR + k as i64 * 15 * SECOND);
    }
    for k in 0..6 {
        let ev = g
            .event(
                "app.generic.unauth_app_access_attempt",
                41,
                &home(41),
                "102x",
            )
            .failure("User attempted unauthorized access to app")
            .target("AppInstance", "0oapayroll", "Payroll", "Payroll");
        g.push(ev, day + 9 * HOUR + k * 5 * MINUTE);
    }
    // The help desk is talked into resetting an admin, who reaches the Admin
    // Console an hour later from abroad.
    let admin = ADMINS.start + 3;
    g.factors_reset_by(HELPDESK, &office(HELPDESK), admin, day + 10 * HOUR);
    let console = g.admin_console_sign_on(admin, &abroad, "102takeover");
    g.push(console, day + 11 * HOUR);
    // The same intruder enrols a factor of their own for the admin.
    let enrol = g.event("user.mfa.factor.activate", admin, &abroad, "102takeover");
    g.push(enrol, day + 10 * HOUR + 30 * MINUTE);
    // Real-time phishing: a proxy abroad signs user020 in, user020 approves
    // the push at home.
    let sent = g.event(
        "system.push.send_factor_verify_push",
        20,
        &abroad,
        "102phish",
    );
    g.push(sent, day + 13 * HOUR);
    let approved = g
        .event(
            "user.authentication.auth_via_mfa",
            20,
            &home(20),
            "102phish",
        )
        .debug("factor", json!("OKTA_VERIFY_PUSH"));
    g.push(approved, day + 13 * HOUR + 40 * SECOND);
    // An adversary-in-the-middle kit: one device token, six victims signed in.
    let aitm = Place {
        dt: Some("dt-aitm".into()),
        ..abroad.clone()
    };
    for k in 0..6 {
        let ev = g.event("user.session.start", 50 + k, &aitm, "102aitm");
        g.push(ev, day + 14 * HOUR + k as i64 * 3 * MINUTE);
    }
    // A rogue admin deactivates a dozen users, then resets six passwords.
    let rogue = ADMINS.start + 5;
    for k in 0..12 {
        let ev = g
            .event("user.lifecycle.deactivate", rogue, &home(rogue), "102rogue")
            .target("User", &id(120 + k), &login(120 + k), &login(120 + k));
        g.push(ev, day + 15 * HOUR + k as i64 * MINUTE);
    }
    for k in 0..6 {
        let ev = g
            .event(
                "user.account.reset_password",
                rogue,
                &home(rogue),
                "102rogue",
            )
            .target("User", &id(140 + k), &login(140 + k), &login(140 + k));
        g.push(ev, day + 16 * HOUR + k as i64 * MINUTE);
    }
    // Someone floods user060 with reset and verification messages.
    for k in 0..7 {
        let ev = g.event(
            "system.sms.send_password_reset_message",
            60,
            &hosting,
            "unknown",
        );
        g.push(ev, day + 17 * HOUR + k as i64 * MINUTE);
    }
    // An account is created and made super admin within the hour.
    let newbie = 319;
    let create = g
        .event("user.lifecycle.create", rogue, &home(rogue), "102rogue")
        .target("User", &id(newbie), &login(newbie), &login(newbie));
    g.push(create, day + 18 * HOUR);
    let grant = g
        .event(
            "user.account.privilege.grant",
            rogue,
            &home(rogue),
            "102rogue",
        )
        .debug("privilegeGranted", json!("Super administrator"))
        .target("User", &id(newbie), &login(newbie), &login(newbie));
    g.push(grant, day + 18 * HOUR + 20 * MINUTE);
    // A leaver's account, last used six weeks before the org's first day,
    // signs in again.
    let ev = g.event("user.session.start", 400, &abroad, "102dormant");
    g.push(ev, day_start(0) - 42 * DAY);
    let ev = g.event("user.session.start", 400, &abroad, "102dormant");
    g.push(ev, day + 19 * HOUR);
    // The sync token used from a network it never used.
    g.push(stolen_sync_token(300), day + 12 * HOUR);
    g.events
}

/// Stored activity, as the detector reads it: actor records by hour and every
/// identity's timeline.
struct Store {
    records: Vec<ActivityRecord>,
    by_hour: BTreeMap<Hour, Vec<usize>>,
    by_identity: HashMap<String, Vec<usize>>,
}

impl Store {
    fn new(mut records: Vec<ActivityRecord>) -> Self {
        records.sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
        let mut by_hour: BTreeMap<Hour, Vec<usize>> = BTreeMap::new();
        let mut by_identity: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if r.role == Role::Actor {
                by_hour.entry(Hour::of(r.published)).or_default().push(i);
            }
            by_identity
                .entry(r.identity.to_string())
                .or_default()
                .push(i);
        }
        Store {
            records,
            by_hour,
            by_identity,
        }
    }

    /// Analyses every hour in order, learning baselines after each as the
    /// detector does. Returns the windowed findings.
    fn run(&self, config: &DetectConfig) -> Vec<Finding> {
        let windowed: Vec<&str> = CATALOG
            .iter()
            .filter(|m| m.kind == Kind::Windowed)
            .map(|m| m.id)
            .collect();
        let mut baselines: HashMap<String, Baseline> = HashMap::new();
        let mut findings = Vec::new();
        // From the earliest record: an identity may have a past before the
        // org's first busy day.
        let earliest = self.records.first().map_or(day_start(0), |r| r.published);
        let (first, last) = (
            Hour::of(earliest.min(day_start(0))),
            Hour::of(day_start(DAYS)),
        );
        for hour in (first.0..last.0).map(Hour) {
            let context = Hour::of(hour.start() - CONTEXT);
            let records: Vec<ActivityRecord> = self
                .by_hour
                .range(context..=hour)
                .flat_map(|(_, idx)| idx.iter().map(|&i| &self.records[i]))
                .filter(|r| r.published >= hour.start() - HOUR || r.event.outcome.is_failure())
                .cloned()
                .collect();
            let mut histories: HashMap<String, Vec<ActivityRecord>> = HashMap::new();
            for req in history_requests(config, hour, &records) {
                let timeline = self
                    .by_identity
                    .get(&req.identity)
                    .into_iter()
                    .flatten()
                    .map(|&i| &self.records[i]);
                histories.insert(
                    req.identity.clone(),
                    timeline
                        .filter(|r| r.published >= req.from && r.published < req.to)
                        .cloned()
                        .collect(),
                );
            }
            let analysis = Analysis {
                hour,
                records: &records,
                baselines: &baselines,
                org: None,
                histories: &histories,
                config,
            };
            findings.extend(
                analyze(&analysis)
                    .into_iter()
                    .filter(|f| windowed.contains(&f.detection.as_str())),
            );
            for r in records
                .iter()
                .filter(|r| Hour::of(r.published) == hour && Baseline::learns_from(r))
            {
                baselines
                    .entry(r.identity.to_string())
                    .or_insert_with(|| Baseline::new(&r.identity, r.published))
                    .observe(r);
            }
        }
        findings
    }
}

fn records_of(events: &[Ev]) -> Vec<ActivityRecord> {
    events.iter().flat_map(|e| e.records()).collect()
}

/// The benign org, normalised once for all tests.
fn benign() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| Store::new(records_of(&benign_events())))
}

fn summary(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| format!("{} {} {}", f.detection, f.principal.label(), f.summary))
        .collect()
}

#[test]
fn the_org_is_big_and_busy_enough_to_mean_something() {
    let store = benign();
    let actors: Vec<&ActivityRecord> = store
        .records
        .iter()
        .filter(|r| r.role == Role::Actor)
        .collect();
    let users: std::collections::HashSet<&str> = actors
        .iter()
        .filter(|r| r.identity.starts_with("00u"))
        .map(|r| r.identity.as_str())
        .collect();
    assert!(users.len() >= 300, "{} users", users.len());
    let days = (actors.last().unwrap().published - actors[0].published) / DAY;
    assert!(days >= 5, "{days} days");
    let count = |f: &dyn Fn(&ActivityRecord) -> bool| actors.iter().filter(|r| f(r)).count();
    assert!(
        count(&|r| r.is("user.session.start") && r.event.outcome.is_failure()) > 100,
        "typos and forgotten passwords"
    );
    assert!(
        count(&|r| r.is("user.mfa.okta_verify.deny_push")) > 10,
        "pushes denied by mistake"
    );
    assert!(
        count(&|r| r.network.city.as_deref() == Some("London")) > 20,
        "travellers"
    );
    assert!(
        count(&|r| r.network.asn == Some(CARRIER.0)) > 100,
        "phones on a carrier"
    );
    assert!(
        count(&|r| r.network.ip.as_deref() == Some("203.0.113.10")) > 200,
        "the San Francisco office"
    );
    assert!(
        count(&|r| r.is("user.mfa.factor.reset_all")) >= 5,
        "help-desk resets"
    );
    assert!(
        count(&|r| r.is("user.account.lock")) >= DAYS as usize,
        "lockouts"
    );
}

#[test]
fn no_windowed_detection_fires_on_ordinary_work() {
    let findings = benign().run(&DetectConfig::default());
    assert!(
        findings.is_empty(),
        "{} findings on a benign org:\n{:#?}",
        findings.len(),
        summary(&findings)
    );
}

#[test]
fn hair_trigger_thresholds_fire_on_the_same_org() {
    // The org holds the near misses (a forgotten password tried five times, a
    // push denied by mistake, a flight to London, a lockout, a morning's apps,
    // a stray unassigned app): thresholds set at or just above them fire.
    let config = DetectConfig::from_json(
        r#"{"thresholds":{
            "brute_force_user.failures":3,
            "brute_force_ip.failures":3,
            "password_spray.distinct_users":1,
            "password_spray.max_tries_per_user":5,
            "mfa_push_bombing.denials":1,
            "impossible_travel.speed_kmh":100,
            "mass_lockout.distinct_users":1,
            "rapid_app_access.distinct_apps":3,
            "rapid_app_access.window_minutes":600,
            "unauthorized_app_access_burst.attempts":1
        }}"#,
    )
    .unwrap();
    let findings = benign().run(&config);
    for detection in [
        "brute_force_ip",
        "brute_force_user",
        "impossible_travel",
        "mass_lockout",
        "mfa_push_bombing",
        "password_spray",
        "rapid_app_access",
        "unauthorized_app_access_burst",
    ] {
        assert!(
            findings.iter().any(|f| f.detection == detection),
            "{detection} did not fire: {:#?}",
            summary(&findings)
        );
    }
}

#[test]
fn every_windowed_detection_fires_once_attacks_are_added() {
    let mut records = benign().records.clone();
    records.extend(records_of(&attack_events()));
    let findings = Store::new(records).run(&DetectConfig::default());
    let mut fired: Vec<&str> = findings.iter().map(|f| f.detection.as_str()).collect();
    fired.sort_unstable();
    fired.dedup();
    let mut windowed: Vec<&str> = CATALOG
        .iter()
        .filter(|m| m.kind == Kind::Windowed)
        .map(|m| m.id)
        .collect();
    windowed.sort_unstable();
    assert_eq!(fired, windowed, "{:#?}", summary(&findings));
    // And nothing but the attacks: every finding is on the attack day.
    assert!(
        findings.iter().all(|f| f.last_seen >= day_start(DAYS - 1)),
        "{:#?}",
        summary(&findings)
    );
}
