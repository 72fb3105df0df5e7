//! A realistic org, for measuring precision: 1,000 people over three weeks of
//! ordinary work with the noise real orgs make, and a reusable list of attack
//! scenarios to inject into it.
//!
//! The noise is the kind that made detections page on real orgs: corporate VPN
//! gateways in cloud regions abroad, a SASE service Okta flags as a proxy,
//! iCloud Private Relay, phones on carrier networks that geolocate to another
//! city, in-flight Wi-Fi, travellers whose phones still geolocate home,
//! cross-border commuters, help-desk resets (a heavy day among them), a
//! password-expiry wave behind an office NAT, shared kiosks, service accounts on
//! rotating cloud addresses, joiners and leavers, denied pushes, dead phones, an
//! admin with a new phone. Deterministic: the same seed gives the same events.

use serde_json::json;

use crate::{Ev, Rng};
use okta_itdr_core::time::{Millis, DAY, HOUR, MINUTE, SECOND};

pub const USERS: usize = 1000;
/// Days generated: a first week in which baselines and the org's context are
/// learned, then the three weeks that are measured.
pub const DAYS: i64 = LEARNING_DAYS + MEASURED_DAYS;
pub const LEARNING_DAYS: i64 = 7;
pub const MEASURED_DAYS: i64 = 21;

#[derive(Debug, Clone, Copy)]
pub struct City {
    pub name: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
}

pub const fn city(name: &'static str, country: &'static str, lat: f64, lon: f64) -> City {
    City {
        name,
        country,
        lat,
        lon,
    }
}

const US: &str = "United States";
pub const US_CITIES: [City; 8] = [
    city("San Francisco", US, 37.7749, -122.4194),
    city("New York", US, 40.7128, -74.0060),
    city("Chicago", US, 41.8781, -87.6298),
    city("Austin", US, 30.2672, -97.7431),
    city("Denver", US, 39.7392, -104.9903),
    city("Boston", US, 42.3601, -71.0589),
    city("Seattle", US, 47.6062, -122.3321),
    city("Atlanta", US, 33.7490, -84.3880),
];
/// Where US carriers' addresses geolocate: a regional gateway, not the phone.
const US_CARRIER_HUBS: [City; 5] = [
    city("Los Angeles", US, 34.0522, -118.2437),
    city("Dallas", US, 32.7767, -96.7970),
    city("Chicago", US, 41.8781, -87.6298),
    city("Ashburn", US, 39.0438, -77.4874),
    city("Seattle", US, 47.6062, -122.3321),
];
pub const EU_CITIES: [City; 4] = [
    city("London", "United Kingdom", 51.5074, -0.1278),
    city("Paris", "France", 48.8566, 2.3522),
    city("Berlin", "Germany", 52.5200, 13.4050),
    city("Amsterdam", "Netherlands", 52.3676, 4.9041),
];
const MUMBAI: City = city("Mumbai", "India", 19.0760, 72.8777);
const BENGALURU: City = city("Bengaluru", "India", 12.9716, 77.5946);
const VANCOUVER_AS_TORONTO: City = city("Toronto", "Canada", 43.6532, -79.3832);
const FRANKFURT: City = city("Frankfurt am Main", "Germany", 50.1109, 8.6821);
const SINGAPORE: City = city("Singapore", "Singapore", 1.3521, 103.8198);
const ASHBURN: City = city("Ashburn", US, 39.0438, -77.4874);
const BOARDMAN: City = city("Boardman", US, 45.8399, -119.7006);
const RENO: City = city("Reno", US, 39.5296, -119.8138);
const TOKYO: City = city("Tokyo", "Japan", 35.6762, 139.6503);
pub const SYDNEY: City = city("Sydney", "Australia", -33.8688, 151.2093);
/// A satellite provider's ground station: where in-flight Wi-Fi geolocates.
const GROUND_STATION: City = city("Greenland", "Greenland", 64.1814, -51.6941);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Us,
    Eu,
    India,
}

pub const LAPTOP: (&str, &str, &str, &str) = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/130.0.0.0 Safari/537.36",
    "Mac OS X",
    "CHROME",
    "Computer",
);
pub const WINDOWS: (&str, &str, &str, &str) = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/130.0.0.0",
    "Windows 10",
    "EDGE",
    "Computer",
);
pub const PHONE: (&str, &str, &str, &str) = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1",
    "iOS",
    "MOBILE_SAFARI",
    "Mobile",
);
const SERVICE: (&str, &str, &str, &str) = ("okta-sdk-python/2.9.5", "Linux", "UNKNOWN", "Unknown");

/// Where and on what one request is made.
#[derive(Debug, Clone)]
pub struct Place {
    pub ip: String,
    pub city: City,
    pub asn: u64,
    pub as_org: &'static str,
    pub proxy: bool,
    pub client: (&'static str, &'static str, &'static str, &'static str),
    pub dt: Option<String>,
}

impl Place {
    pub fn apply(&self, ev: Ev) -> Ev {
        let ev = ev
            .from(
                &self.ip,
                self.city.name,
                self.city.country,
                self.city.lat,
                self.city.lon,
                self.asn,
                self.as_org,
            )
            .proxy(self.proxy)
            .user_agent(self.client.0, self.client.1, self.client.2)
            .set(&["client", "device"], json!(self.client.3));
        match &self.dt {
            Some(dt) => ev.debug("dtHash", json!(dt)),
            None => ev.debug("dtHash", serde_json::Value::Null),
        }
    }
}

pub fn login(u: usize) -> String {
    format!("user{u:04}@acme.com")
}

pub fn id(u: usize) -> String {
    format!("00u{u:04}")
}

/// Who does what in the org, by user number.
pub mod roles {
    use std::ops::Range;
    /// Corporate VPN users; a third of them egress through gateways abroad.
    pub fn uses_vpn(u: usize) -> bool {
        u % 4 == 1
    }
    /// Laptops behind the SASE service, which Okta flags as a proxy.
    pub fn behind_sase(u: usize) -> bool {
        u % 10 == 3
    }
    /// iPhones with iCloud Private Relay on.
    pub fn uses_relay(u: usize) -> bool {
        u % 17 == 5
    }
    /// Users who work at the office of their city some days.
    pub fn in_office(u: usize) -> bool {
        u.is_multiple_of(3)
    }
    pub const TRAVELLERS: Range<usize> = 900..930;
    pub const COMMUTERS: Range<usize> = 930..942;
    pub const KIOSK_WORKERS: Range<usize> = 942..966;
    pub const LEAVERS: Range<usize> = 966..976;
    pub const ADMINS: Range<usize> = 976..986;
    pub const HELPDESK: usize = 986;
    pub const SERVICE_ACCOUNTS: Range<usize> = 990..995;
    /// Joiners: their first day is in the second week.
    pub const JOINERS: Range<usize> = 995..1000;
}

fn region(u: usize) -> Region {
    match u % 10 {
        7 | 8 => Region::Eu,
        9 => Region::India,
        _ => Region::Us,
    }
}

fn home_city(u: usize) -> City {
    match region(u) {
        Region::Us => US_CITIES[u / 10 % US_CITIES.len()],
        Region::Eu => EU_CITIES[u / 10 % EU_CITIES.len()],
        Region::India if (u / 10).is_multiple_of(2) => BENGALURU,
        Region::India => MUMBAI,
    }
}

fn home_isp(u: usize) -> (u64, &'static str, u8) {
    match (region(u), home_city(u).country) {
        (Region::Us, _) => [
            (7922, "comcast", 73),
            (701, "verizon", 71),
            (7018, "at&t", 99),
        ][u % 3],
        (_, "United Kingdom") => (5089, "virgin media", 81),
        (_, "France") => (3215, "orange", 90),
        (_, "Germany") => (3320, "deutsche telekom ag", 91),
        (_, "Netherlands") => (1136, "kpn b.v.", 77),
        _ => (24560, "bharti airtel ltd.", 122),
    }
}

fn laptop_client(u: usize) -> (&'static str, &'static str, &'static str, &'static str) {
    if u.is_multiple_of(2) {
        LAPTOP
    } else {
        WINDOWS
    }
}

/// Home broadband: each user on their own /24, the address changing weekly.
pub fn home(u: usize, week: i64) -> Place {
    let (asn, org, first) = home_isp(u);
    let c = home_city(u);
    let mut place = Place {
        ip: format!(
            "{first}.{}.{}.{}",
            100 + u / 250,
            u % 250,
            10 + (u as i64 * 7 + week) % 200
        ),
        city: c,
        asn,
        as_org: org,
        proxy: false,
        client: laptop_client(u),
        dt: Some(format!("dt-{u}-laptop")),
    };
    if roles::COMMUTERS.contains(&u) {
        // Lives in Vancouver: Canadian broadband geolocates to Toronto.
        place.city = VANCOUVER_AS_TORONTO;
        place.asn = 6327;
        place.as_org = "shaw communications inc.";
        place.ip = format!("24.{}.{}.20", 80 + u % 10, u % 250);
    }
    place
}

/// The office of the user's city: one NAT address per office.
pub fn office(u: usize) -> Place {
    let c = if roles::COMMUTERS.contains(&u) {
        US_CITIES[6]
    } else {
        home_city(u)
    };
    let n = US_CITIES
        .iter()
        .chain(&EU_CITIES)
        .chain([&MUMBAI, &BENGALURU])
        .position(|x| x.name == c.name)
        .unwrap_or(0);
    Place {
        ip: format!("198.18.{n}.10"),
        city: c,
        asn: 7922,
        as_org: "comcast business",
        ..home(u, 0)
    }
}

/// The corporate VPN: US users on a gateway in Ashburn, a third of VPN users on
/// the gateways in cloud regions abroad (Frankfurt, Singapore).
pub fn vpn(u: usize, rng: &mut Rng) -> Place {
    let (c, net) = match u % 3 {
        0 => (FRANKFURT, "3.120.181"),
        1 if region(u) == Region::India => (SINGAPORE, "13.250.12"),
        _ => (ASHBURN, "52.20.144"),
    };
    Place {
        ip: format!("{net}.{}", 10 + rng.below(4)),
        city: c,
        asn: 16509,
        as_org: "amazon.com, inc.",
        ..home(u, 0)
    }
}

/// The SASE service: Okta flags its egress as a proxy; US users egress in
/// Chicago or, for the northern states, Toronto.
pub fn sase(u: usize, rng: &mut Rng) -> Place {
    let (c, net) = match region(u) {
        Region::Us if u % 20 == 3 => (VANCOUVER_AS_TORONTO, "165.225.208"),
        Region::Us => (US_CITIES[2], "165.225.0"),
        Region::Eu => (FRANKFURT, "165.225.72"),
        Region::India => (MUMBAI, "165.225.104"),
    };
    Place {
        ip: format!("{net}.{}", 20 + rng.below(8)),
        city: c,
        asn: 53813,
        as_org: "zscaler, inc.",
        proxy: true,
        ..home(u, 0)
    }
}

/// The phone on its carrier: the address geolocates to a regional gateway.
pub fn carrier(u: usize, rng: &mut Rng) -> Place {
    let c = home_city(u);
    let (asn, org, first, geo) = match region(u) {
        Region::Us => {
            // The gateway nearest the user, or another one some days.
            let near = US_CARRIER_HUBS
                .iter()
                .min_by(|a, b| {
                    let d = |h: &City| (h.lat - c.lat).powi(2) + (h.lon - c.lon).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .copied()
                .unwrap_or(US_CARRIER_HUBS[0]);
            (21928, "t-mobile usa, inc.", 172, near)
        }
        Region::Eu => (12430, "vodafone", 95, c),
        Region::India => (55836, "reliance jio infocomm limited", 49, MUMBAI),
    };
    let phone = if u.is_multiple_of(11) {
        "phone2"
    } else {
        "phone"
    };
    let mut place = Place {
        ip: format!(
            "{first}.{}.{}.{}",
            56 + rng.below(4),
            rng.below(250),
            rng.below(250)
        ),
        city: geo,
        asn,
        as_org: org,
        proxy: false,
        client: PHONE,
        dt: Some(format!("dt-{u}-{phone}")),
    };
    if roles::COMMUTERS.contains(&u) {
        place.city = VANCOUVER_AS_TORONTO;
        place.asn = 812;
        place.as_org = "rogers communications canada inc.";
    }
    place
}

/// The phone through iCloud Private Relay: a relay egress in the user's region.
pub fn relay(u: usize, rng: &mut Rng) -> Place {
    let (asn, org) = if rng.chance(0.5) {
        (36183, "akamai technologies, inc.")
    } else {
        (13335, "cloudflare, inc.")
    };
    let c = home_city(u);
    Place {
        ip: format!(
            "172.{}.{}.{}",
            224 + rng.below(8),
            rng.below(250),
            rng.below(250)
        ),
        city: c,
        asn,
        as_org: org,
        proxy: true,
        ..carrier(u, rng)
    }
}

/// Builds the org's events with deterministic uuids.
pub struct Gen {
    pub rng: Rng,
    seq: u64,
    prefix: &'static str,
    pub events: Vec<Ev>,
    /// Events that reach the pipeline late: uuid and how long after their time.
    pub late: Vec<(String, Millis)>,
    /// How often a sign-in slips.
    pub slips: Slips,
}

/// How often a sign-in slips before it succeeds: the near misses of an org's
/// ordinary work that windowed detections must not fire on.
#[derive(Debug, Clone, Copy)]
pub struct Slips {
    /// A mistyped password first.
    pub typo: f64,
    /// A push denied by mistake.
    pub denied_push: f64,
}

impl Gen {
    pub fn new(seed: u64, prefix: &'static str) -> Self {
        Gen {
            rng: Rng(seed),
            seq: 0,
            prefix,
            events: Vec::new(),
            late: Vec::new(),
            slips: Slips {
                typo: 0.03,
                denied_push: 0.02,
            },
        }
    }

    pub fn push(&mut self, ev: Ev, t: Millis) {
        self.seq += 1;
        let uuid = format!("{}-0000-4000-8000-{:012x}", self.prefix, self.seq);
        self.events.push(ev.uuid(&uuid).at_ms(t));
    }

    /// The last event pushed reaches the pipeline `delay` after its time (a
    /// recovered or gap-filled event).
    pub fn arrives_late(&mut self, delay: Millis) {
        if let Some(uuid) = self
            .events
            .last()
            .and_then(|e| e.json["uuid"].as_str().map(str::to_owned))
        {
            self.late.push((uuid, delay));
        }
    }

    pub fn event(&self, kind: &str, u: usize, place: &Place, session: &str) -> Ev {
        place
            .apply(Ev::new(kind).user(&id(u), &login(u)))
            .session(session, session)
    }

    /// One sign-in: maybe a typo, maybe a push denied by mistake, MFA, the
    /// session, then a few apps.
    pub fn session(&mut self, u: usize, t: Millis, place: &Place) {
        let s = self.sign_in(u, t, place);
        let apps = self.rng.range(1, 3);
        for k in 0..apps {
            let app = APPS[(u + k as usize * 3) % APPS.len()];
            let when = t + self.rng.range(1, 120) * MINUTE;
            self.push(self.sso(u, place, &s, app), when);
        }
    }

    /// A sign-in at `t` with its slips ([`Gen::slips`]) and MFA; returns the
    /// session's id.
    pub fn sign_in(&mut self, u: usize, t: Millis, place: &Place) -> String {
        let s = format!("102s{u}x{}", self.seq);
        if self.rng.chance(self.slips.typo) {
            let typo = self
                .event("user.session.start", u, place, "unknown")
                .failure("INVALID_CREDENTIALS");
            self.push(typo, t - 40 * SECOND);
        }
        if self.rng.chance(self.slips.denied_push) {
            let denied = self
                .event("user.mfa.okta_verify.deny_push", u, place, &s)
                .outcome("FAILURE", Some("User rejected Okta push verify"))
                .debug("factor", json!("OKTA_VERIFY_PUSH"));
            self.push(denied, t - 30 * SECOND);
        }
        let mfa = self
            .event("user.authentication.auth_via_mfa", u, place, &s)
            .debug("factor", json!("OKTA_VERIFY_PUSH"));
        self.push(mfa, t - 5 * SECOND);
        self.push(self.event("user.session.start", u, place, &s), t);
        s
    }

    /// Single sign-on into `app` in session `s`.
    pub fn sso(&self, u: usize, place: &Place, s: &str, app: &str) -> Ev {
        self.event("user.authentication.sso", u, place, s).target(
            "AppInstance",
            &format!("0oa{}", app.replace(' ', "")),
            app,
            app,
        )
    }

    /// The help desk, from its office, resets a user's factors.
    pub fn reset_by_helpdesk(&mut self, u: usize, t: Millis) {
        let desk = roles::HELPDESK;
        self.factors_reset_by(desk, &office(desk), u, t);
    }

    /// `desk`, at `place`, resets all of `u`'s factors.
    pub fn factors_reset_by(&mut self, desk: usize, place: &Place, u: usize, t: Millis) {
        let reset = self
            .event("user.mfa.factor.reset_all", desk, place, "102helpdesk")
            .target("User", &id(u), &login(u), &login(u));
        self.push(reset, t);
    }

    /// The help desk resets a user's factors; the user enrols again.
    pub fn helpdesk_reset(&mut self, u: usize, t: Millis) {
        self.reset_by_helpdesk(u, t);
        let enrol = self
            .event("user.mfa.factor.activate", u, &home(u, 0), "102enrol")
            .debug("factor", json!("OKTA_VERIFY_PUSH"));
        self.push(enrol, t + 10 * MINUTE);
    }

    fn admin_console(&mut self, u: usize, t: Millis, place: &Place) {
        let s = format!("102admin{u}x{}", self.seq);
        self.session(u, t, place);
        self.open_admin_console(u, t, place, &s);
    }

    /// The sign-on policy lets `u` into the Admin Console, in session `s`.
    pub fn admin_console_sign_on(&self, u: usize, place: &Place, s: &str) -> Ev {
        self.event("policy.evaluate_sign_on", u, place, s)
            .outcome("ALLOW", Some("Sign-on policy evaluation resulted in ALLOW"))
            .target(
                "AppInstance",
                "0oaadmin",
                "Okta Admin Console",
                "Okta Admin Console",
            )
    }

    /// In session `s` signed in at `t`, the user opens the Admin Console.
    pub fn open_admin_console(&mut self, u: usize, t: Millis, place: &Place, s: &str) {
        let policy = self.admin_console_sign_on(u, place, s);
        self.push(policy, t + 2 * MINUTE);
        let access = self
            .event("user.session.access_admin_app", u, place, s)
            .target(
                "AppInstance",
                "0oaadmin",
                "Okta Admin Console",
                "Okta Admin Console",
            );
        self.push(access, t + 2 * MINUTE + SECOND);
    }
}

/// The org's SaaS apps, the most used first.
pub const SAAS_APPS: [&str; 24] = [
    "Slack",
    "Google Workspace",
    "Zoom",
    "GitHub",
    "Jira",
    "Confluence",
    "Salesforce",
    "Workday",
    "Box",
    "Zendesk",
    "DocuSign",
    "Figma",
    "Notion",
    "AWS IAM Identity Center",
    "Expensify",
    "Okta Dashboard",
    "ServiceNow",
    "Tableau",
    "Miro",
    "Asana",
    "Dropbox",
    "Lucid",
    "Greenhouse",
    "Gong",
];

/// The apps this org's people use.
pub const APPS: &[&str] = SAAS_APPS.split_at(10).0;

/// Midnight UTC of the org's first day, a Monday.
pub fn day_start(d: i64) -> Millis {
    crate::at("2026-10-05T00:00:00Z") + d * DAY
}

/// When the working day starts in the user's region, in UTC.
fn work_start(u: usize) -> Millis {
    match region(u) {
        Region::Us => 14 * HOUR,
        Region::Eu => 8 * HOUR,
        Region::India => 4 * HOUR,
    }
}

/// Three weeks of the org's ordinary activity, unsorted.
pub fn benign_events() -> Vec<Ev> {
    let mut g = Gen::new(0x5eed_0f0c_7a11, "cccccccc");
    for d in 0..DAYS {
        let weekend = d % 7 >= 5;
        let week = d / 7;
        for u in 0..USERS {
            day_of(&mut g, u, d, weekend, week);
        }
        org_routines(&mut g, d, weekend);
    }
    g.events
}

/// One user's day.
fn day_of(g: &mut Gen, u: usize, d: i64, weekend: bool, week: i64) {
    use roles::*;
    if ADMINS.contains(&u) || u == HELPDESK || SERVICE_ACCOUNTS.contains(&u) {
        return; // their routines are the org's
    }
    if JOINERS.contains(&u) && d < 7 + (u - JOINERS.start) as i64 {
        return;
    }
    if LEAVERS.contains(&u) && d > 10 + (u - LEAVERS.start) as i64 {
        return;
    }
    if TRAVELLERS.contains(&u) {
        let leave = 3 + (u - TRAVELLERS.start) as i64 % 10;
        if (leave..leave + 6).contains(&d) {
            return travel_day(g, u, d - leave, week);
        }
    }
    let sessions = if weekend {
        g.rng.range(0, 1)
    } else {
        g.rng.range(1, 2)
    };
    for _ in 0..sessions {
        let t = day_start(d) + work_start(u) + g.rng.range(0, 9 * 60) * MINUTE;
        let place = if KIOSK_WORKERS.contains(&u) && !weekend {
            kiosk(u)
        } else if behind_sase(u) && !weekend {
            sase(u, &mut g.rng)
        } else if uses_vpn(u) && g.rng.chance(0.5) {
            vpn(u, &mut g.rng)
        } else if (in_office(u) || COMMUTERS.contains(&u)) && !weekend && g.rng.chance(0.6) {
            office(u)
        } else {
            home(u, week)
        };
        g.session(u, t, &place);
    }
    // The phone, on the carrier or through the relay, later the same day.
    if g.rng.chance(if weekend { 0.2 } else { 0.4 }) {
        let t = day_start(d) + work_start(u) + g.rng.range(0, 10 * 60) * MINUTE;
        let place = if uses_relay(u) {
            relay(u, &mut g.rng)
        } else {
            carrier(u, &mut g.rng)
        };
        g.session(u, t, &place);
    }
}

/// The warehouse's shared kiosks: one device token, several people a day.
fn kiosk(u: usize) -> Place {
    let k = (u - roles::KIOSK_WORKERS.start) % 3;
    Place {
        ip: "198.51.100.40".into(),
        city: RENO,
        asn: 7018,
        as_org: "at&t enterprises",
        proxy: false,
        client: WINDOWS,
        dt: Some(format!("dt-kiosk-{k}")),
    }
}

/// A trip: a day's flight with in-flight Wi-Fi, four days at the destination
/// (laptop on hotel Wi-Fi, the phone still geolocating home through its carrier),
/// the flight back.
fn travel_day(g: &mut Gen, u: usize, k: i64, week: i64) {
    let dest = if region(u) == Region::Us {
        if u.is_multiple_of(2) {
            EU_CITIES[0]
        } else {
            TOKYO
        }
    } else {
        US_CITIES[1]
    };
    let hotel = Place {
        ip: format!("80.{}.{}.7", 10 + u % 50, k),
        city: dest,
        asn: 8220,
        as_org: "colt technology services",
        ..home(u, week)
    };
    let sky = Place {
        ip: format!("66.{}.{}.9", 170 + u % 10, k),
        city: GROUND_STATION,
        asn: 26037,
        as_org: "gogo llc",
        ..home(u, week)
    };
    let leave = 3 + (u - roles::TRAVELLERS.start) as i64 % 10;
    let base = day_start(leave + k);
    match k {
        0 | 5 => {
            // Last sign-in before the gate, then online in the air hours later.
            let from = if k == 0 { home(u, week) } else { hotel.clone() };
            g.session(u, base + work_start(u), &from);
            g.session(u, base + work_start(u) + 5 * HOUR, &sky);
        }
        _ => {
            g.session(u, base + 9 * HOUR, &hotel);
            let phone = carrier(u, &mut g.rng);
            g.session(u, base + 9 * HOUR + 40 * MINUTE, &phone);
        }
    }
}

/// What the org does as a whole each day: admins, the help desk, lockouts,
/// service accounts, and the occasional waves.
fn org_routines(g: &mut Gen, d: i64, weekend: bool) {
    use roles::*;
    let day = day_start(d);
    if !weekend {
        for u in ADMINS {
            let t = day + 14 * HOUR + g.rng.range(0, 8 * 60) * MINUTE;
            let place = if u.is_multiple_of(2) {
                office(u)
            } else {
                home(u, d / 7)
            };
            g.admin_console(u, t, &place);
        }
        g.session(HELPDESK, day + 14 * HOUR, &office(HELPDESK));
        // Routine resets; a heavy day when a factor migration goes wrong.
        let resets = if d == 9 { 60 } else { 6 };
        for _ in 0..resets {
            let u = g.rng.below(900) as usize;
            let t = day + 15 * HOUR + g.rng.range(0, 7 * 60) * MINUTE;
            g.helpdesk_reset(u, t);
            g.session(u, t + 20 * MINUTE, &home(u, d / 7));
        }
    }
    // Someone forgets a changed password: five tries, locked out.
    for _ in 0..2 {
        let u = g.rng.below(900) as usize;
        let t = day + work_start(u) + g.rng.range(0, 8 * 60) * MINUTE;
        for k in 0..5 {
            let fail = g
                .event("user.session.start", u, &home(u, d / 7), "unknown")
                .failure("INVALID_CREDENTIALS");
            g.push(fail, t + k * 40 * SECOND);
        }
        let lock = g
            .event("user.account.lock", u, &home(u, d / 7), "unknown")
            .outcome("FAILURE", Some("LOCKED_OUT"));
        g.push(lock, t + 210 * SECOND);
    }
    // Password expiry: on day 10 many at the San Francisco office fail once or
    // twice with the old password before signing in.
    if d == 10 {
        let sf: Vec<usize> = (0..900)
            .filter(|&u| roles::in_office(u) && home_city(u).name == "San Francisco")
            .collect();
        for (i, &u) in sf.iter().enumerate() {
            let t = day + 16 * HOUR + (i as i64 * 97 % 50) * MINUTE;
            for k in 0..(1 + i as i64 % 2) {
                let fail = g
                    .event("user.session.start", u, &office(u), "unknown")
                    .failure("INVALID_CREDENTIALS");
                g.push(fail, t - (k + 1) * 45 * SECOND);
            }
            g.session(u, t, &office(u));
        }
    }
    // An admin's phone is replaced: factors reset, then the Admin Console from
    // the usual laptop and network.
    if d == 12 {
        let admin = ADMINS.start + 4;
        g.helpdesk_reset(admin, day + 15 * HOUR);
        g.admin_console(admin, day + 17 * HOUR, &office(admin));
    }
    // Service accounts sign in every hour from whichever cloud region runs the job.
    for u in SERVICE_ACCOUNTS {
        for h in 0..24 {
            let (c, net) = if (h + u as i64) % 2 == 0 {
                (ASHBURN, 3 + g.rng.below(3))
            } else {
                (BOARDMAN, 34 + g.rng.below(3))
            };
            let place = Place {
                ip: format!(
                    "{net}.{}.{}.{}",
                    g.rng.below(250),
                    g.rng.below(250),
                    g.rng.below(250)
                ),
                city: c,
                asn: 16509,
                as_org: "amazon.com, inc.",
                proxy: false,
                client: SERVICE,
                dt: None,
            };
            let ev = g.event("user.session.start", u, &place, "102svc");
            g.push(ev, day + h * HOUR + 7 * MINUTE + u as i64 * SECOND);
        }
    }
    // Directory sync updates profiles every hour with an API token, from AWS.
    for h in 0..24 {
        let ev = Ev::new("user.account.update_profile")
            .user(&id(ADMINS.start), &login(ADMINS.start))
            .via_api_token("00Tsync")
            .from(
                &format!("3.5.{h}.{}", 10 + g.rng.below(20)),
                ASHBURN.name,
                US,
                ASHBURN.lat,
                ASHBURN.lon,
                16509,
                "amazon.com, inc.",
            )
            .no_user_agent()
            .target(
                "User",
                &id(h as usize * 37 % 900),
                &login(h as usize * 37 % 900),
                "user",
            );
        g.push(ev, day + h * HOUR + 3 * MINUTE);
    }
    // Leavers are deactivated.
    for u in LEAVERS {
        if d == 11 + (u - LEAVERS.start) as i64 {
            let admin = ADMINS.start;
            let ev = g
                .event(
                    "user.lifecycle.deactivate",
                    admin,
                    &office(admin),
                    "102admin",
                )
                .target("User", &id(u), &login(u), &login(u));
            g.push(ev, day + 17 * HOUR);
        }
    }
}

/// An attack to inject into the org: its events, and the detections a
/// published alert must name (as its analytic or among its related analytics).
pub struct Scenario {
    pub name: &'static str,
    pub detections: &'static [&'static str],
    pub events: Vec<Ev>,
    /// Events of `events` that reach the pipeline late: uuid and delay.
    pub late: Vec<(String, Millis)>,
    /// The least severity the alert naming the detections must have: high
    /// where the attacker reaches credentials, factors, sessions or admin rights.
    pub severity: okta_itdr_core::detect::Severity,
}

/// The attack scenarios of the test suite, placed on day `d` of the org, one
/// hour apart. New detections add theirs here.
pub fn attack_scenarios(d: i64) -> Vec<Scenario> {
    let day = day_start(d);
    let mut out = Vec::new();
    let mut add = |name: &'static str,
                   detections: &'static [&'static str],
                   build: &dyn Fn(&mut Gen, Millis)| {
        let mut g = Gen::new(0xa77ac4 + out.len() as u64, "aaaaaaaa");
        g.seq = 1_000_000 * (out.len() as u64 + 1);
        build(&mut g, day + (2 + out.len() as i64) * HOUR);
        out.push(Scenario {
            name,
            detections,
            events: g.events,
            late: g.late,
            severity: okta_itdr_core::detect::Severity::Low,
        });
    };
    let hosting = bot_host();
    let abroad = intruder_abroad();
    let sprayer = Place {
        ip: "45.134.26.115".into(),
        city: city("Saint Petersburg", "Russia", 59.9343, 30.3351),
        dt: Some("dt-sprayer".into()),
        ..hosting.clone()
    };
    let tor = Place {
        ip: "185.220.101.47".into(),
        city: EU_CITIES[2],
        asn: 60729,
        as_org: "stiftung erneuerbare freiheit",
        proxy: true,
        ..abroad.clone()
    };
    add(
        "brute force against one user",
        &["brute_force_user"],
        &|g, t| {
            for k in 0..12 {
                let ev = g
                    .event("user.session.start", 105, &hosting, "unknown")
                    .failure("INVALID_CREDENTIALS");
                g.push(ev, t + k * 90 * SECOND);
            }
        },
    );
    add(
        "credential stuffing from one address",
        &["brute_force_ip", "password_spray"],
        &|g, t| {
            for k in 0..24 {
                let ev = g
                    .event("user.session.start", 300 + k as usize, &hosting, "unknown")
                    .failure("INVALID_CREDENTIALS");
                g.push(ev, t + k * 20 * SECOND);
            }
        },
    );
    add(
        "password spray, then a success",
        &["password_spray", "credential_attack_then_success"],
        &|g, t| {
            for k in 0..16 {
                let ev = g
                    .event(
                        "user.session.start",
                        200 + (k % 8) as usize,
                        &sprayer,
                        "unknown",
                    )
                    .failure("INVALID_CREDENTIALS");
                g.push(ev, t + k * MINUTE);
            }
            let ev = g.event("user.session.start", 203, &sprayer, "102sprayed");
            g.push(ev, t + 20 * MINUTE);
        },
    );
    add(
        "MFA push bombing, then approval",
        &["mfa_push_bombing"],
        &|g, t| {
            for k in 0..6 {
                let deny = g
                    .event("user.mfa.okta_verify.deny_push", 110, &abroad, "idxbomb")
                    .outcome("FAILURE", Some("User rejected Okta push verify"))
                    .debug("factor", json!("OKTA_VERIFY_PUSH"));
                g.push(deny, t + k * MINUTE);
            }
            let ok = g
                .event("user.authentication.auth_via_mfa", 110, &abroad, "102bomb")
                .debug("factor", json!("OKTA_VERIFY_PUSH"));
            g.push(ok, t + 8 * MINUTE);
        },
    );
    add(
        "sign-in from Sydney half an hour after one at home",
        &["impossible_travel", "new_country"],
        &|g, t| {
            let ev = g.event("user.session.start", 120, &home(120, d / 7), "102home");
            g.push(ev, t);
            let ev = g.event("user.session.start", 120, &abroad, "102syd");
            g.push(ev, t + 30 * MINUTE);
        },
    );
    add(
        "a session replayed from another network and browser",
        &["session_hijack"],
        &|g, t| {
            let a = g
                .event(
                    "user.authentication.sso",
                    130,
                    &home(130, d / 7),
                    "102victim",
                )
                .target("AppInstance", "0oaSlack", "Slack", "Slack");
            g.push(a, t);
            let b = g
                .event("user.authentication.sso", 130, &abroad, "102victim")
                .target("AppInstance", "0oaGitHub", "GitHub", "GitHub");
            g.push(b, t + 9 * MINUTE);
        },
    );
    add(
        "six users locked out in ten minutes",
        &["mass_lockout"],
        &|g, t| {
            for k in 0..6 {
                let ev = g
                    .event("user.account.lock", 150 + k, &hosting, "unknown")
                    .outcome("FAILURE", Some("LOCKED_OUT"));
                g.push(ev, t + k as i64 * 100 * SECOND);
            }
        },
    );
    add(
        "one user opens twelve apps in three minutes",
        &["rapid_app_access"],
        &|g, t| {
            for k in 0..12 {
                let app = format!("Internal app {k}");
                let ev = g
                    .event(
                        "user.authentication.sso",
                        140,
                        &home(140, d / 7),
                        "102survey",
                    )
                    .target("AppInstance", &format!("0oa{k}"), &app, &app);
                g.push(ev, t + k * 15 * SECOND);
            }
        },
    );
    add(
        "repeated attempts at an unassigned app",
        &["unauthorized_app_access_burst"],
        &|g, t| {
            for k in 0..6 {
                let ev = g
                    .event(
                        "app.generic.unauth_app_access_attempt",
                        141,
                        &home(141, d / 7),
                        "102x",
                    )
                    .failure("User attempted unauthorized access to app")
                    .target("AppInstance", "0oapayroll", "Payroll", "Payroll");
                g.push(ev, t + k * 5 * MINUTE);
            }
        },
    );
    add(
        "help desk talked into resetting an admin, console from abroad",
        &["mfa_reset_then_admin_access"],
        &|g, t| {
            let admin = roles::ADMINS.start + 3;
            g.reset_by_helpdesk(admin, t);
            let console = g
                .event(
                    "user.session.access_admin_app",
                    admin,
                    &abroad,
                    "102takeover",
                )
                .target(
                    "AppInstance",
                    "0oaadmin",
                    "Okta Admin Console",
                    "Okta Admin Console",
                );
            g.push(console, t + 50 * MINUTE);
        },
    );
    add(
        "the sync token used from a network it never used",
        &["api_token_new_network"],
        &|g, t| {
            g.push(stolen_sync_token(roles::ADMINS.start), t + 30 * MINUTE);
        },
    );
    add(
        "a Private Relay user signs in through Tor",
        &["proxy_sign_in"],
        &|g, t| {
            let u = 22; // uses iCloud Private Relay every day
            let ev = g.event("user.session.start", u, &tor, "102tor");
            g.push(ev, t);
        },
    );
    adversarial(d, &mut add);
    let high = [
        "password spray, then a success",
        "MFA push bombing, then approval",
        "a session replayed from another network and browser",
        "help desk talked into resetting an admin, console from abroad",
        "a phishing proxy relays a morning of sign-ins, then sprays from its network",
        "stolen cookies with the victim's device token, used abroad between the victim's own requests",
        "a reset, then a factor enrolled from a stranger's network and device",
        "an admin's takeover spread over three hours: reset, enrolment, console, API token",
        "a help-desk reset, then the Admin Console an hour and a half later",
    ];
    let critical = [LATE_TAKEOVER];
    for s in out.iter_mut() {
        if high.contains(&s.name) {
            s.severity = okta_itdr_core::detect::Severity::High;
        }
        if critical.contains(&s.name) {
            s.severity = okta_itdr_core::detect::Severity::Critical;
        }
    }
    out
}

const LATE_TAKEOVER: &str =
    "the same take-over of another admin, the help-desk reset reaching the pipeline five hours late";

/// Attacks shaped to use the alerting stage's own rules: poisoning the org's
/// context, a stolen session that carries its device token, a takeover spread
/// over hours. Each names the detections its alert must carry; the look-alike
/// of each is in the benign org (help-desk resets with enrolment from home,
/// VPN users, kiosks) and in the alerting unit tests.
#[allow(clippy::type_complexity)]
fn adversarial(
    d: i64,
    add: &mut dyn FnMut(&'static str, &'static [&'static str], &dyn Fn(&mut Gen, Millis)),
) {
    // An adversary-in-the-middle proxy on a hosting provider in the victims'
    // country: it relays six users' real sign-ins one morning, then sprays
    // from the same /24 and takes two accounts.
    let aitm = |host: u8| Place {
        ip: format!("159.203.77.{host}"),
        city: US_CITIES[1],
        asn: 14061,
        as_org: "digitalocean, llc",
        proxy: false,
        client: LAPTOP,
        dt: Some("dt-aitm".into()),
    };
    add(
        "a phishing proxy relays a morning of sign-ins, then sprays from its network",
        &["password_spray", "credential_attack_then_success"],
        &|g, t| {
            for k in 0..6 {
                let u = 400 + k as usize;
                let victim = Place {
                    dt: Some(format!("dt-{u}-laptop")),
                    client: laptop_client(u),
                    ..aitm(10 + k as u8)
                };
                let ev = g.event("user.session.start", u, &victim, &format!("102aitm{k}"));
                g.push(ev, t - 5 * HOUR + k * 10 * MINUTE);
            }
            for k in 0..14 {
                let ev = g
                    .event(
                        "user.session.start",
                        410 + (k % 7) as usize,
                        &aitm(50),
                        "unknown",
                    )
                    .failure("INVALID_CREDENTIALS");
                g.push(ev, t + k * MINUTE);
            }
            for u in [412, 415] {
                let ev = g.event("user.session.start", u, &aitm(50), &format!("102spray{u}"));
                g.push(ev, t + 20 * MINUTE + u as i64 * SECOND);
            }
        },
    );
    // An infostealer's cookies: the session and device token of the victim's
    // laptop, its user agent too, used from another continent while the
    // victim goes on working at home.
    add(
        "stolen cookies with the victim's device token, used abroad between the victim's own requests",
        &["session_hijack"],
        &|g, t| {
            let u = 420;
            let at_home = home(u, d / 7);
            let stolen = Place {
                ip: "103.75.11.20".into(),
                city: SINGAPORE,
                asn: 45102,
                as_org: "alibaba (us) technology co., ltd.",
                ..at_home.clone()
            };
            for (k, place) in [&at_home, &stolen, &at_home, &stolen, &at_home]
                .into_iter()
                .enumerate()
            {
                let app = APPS[k % APPS.len()];
                let ev = g
                    .event("user.authentication.sso", u, place, "102stolen")
                    .target("AppInstance", &format!("0oa{k}"), app, app);
                g.push(ev, t + k as i64 * 4 * MINUTE);
            }
        },
    );
    // The classic social-engineering takeover: the help desk resets a user's
    // factors; 18 minutes later a new factor is enrolled from a residential
    // network and a browser the user never used.
    add(
        "a reset, then a factor enrolled from a stranger's network and device",
        &["factor_enrolled_after_reset_new_network"],
        &|g, t| {
            let u = 430;
            g.reset_by_helpdesk(u, t);
            let stranger = Place {
                ip: "68.46.201.77".into(),
                asn: 7922,
                as_org: "comcast cable communications",
                dt: Some("dt-stranger".into()),
                ..home(u, d / 7)
            };
            let stranger = Place {
                asn: 20115,
                as_org: "charter communications",
                ..stranger
            };
            let enrol = g
                .event("user.mfa.factor.activate", u, &stranger, "102enrol-x")
                .debug("factor", json!("OKTA_VERIFY_PUSH"));
            g.push(enrol, t + 18 * MINUTE);
        },
    );
    // The same takeover of an admin, spread over an afternoon: reset, then 90
    // minutes later the enrolment, then 100 minutes after that the Admin
    // Console and an API token. Every step lands in a different hour.
    add(
        "an admin's takeover spread over three hours: reset, enrolment, console, API token",
        &[
            "factor_enrolled_after_reset_new_network",
            "mfa_reset_then_admin_access",
            "api_token_created",
        ],
        &|g, t| {
            let admin = roles::ADMINS.start + 5;
            g.reset_by_helpdesk(admin, t - 3 * HOUR);
            let attacker = Place {
                ip: "212.102.57.33".into(),
                city: EU_CITIES[0],
                asn: 60068,
                as_org: "datacamp limited",
                proxy: false,
                client: WINDOWS,
                dt: Some("dt-takeover".into()),
            };
            let enrol = g
                .event("user.mfa.factor.activate", admin, &attacker, "102takeover2")
                .debug("factor", json!("OKTA_VERIFY_PUSH"));
            g.push(enrol, t - 3 * HOUR + 90 * MINUTE);
            let console = g
                .event(
                    "user.session.access_admin_app",
                    admin,
                    &attacker,
                    "102takeover2",
                )
                .target(
                    "AppInstance",
                    "0oaadmin",
                    "Okta Admin Console",
                    "Okta Admin Console",
                );
            g.push(console, t - 3 * HOUR + 190 * MINUTE);
            let token = g
                .event("system.api_token.create", admin, &attacker, "102takeover2")
                .target("Token", "00Tevil", "backup-sync", "backup-sync");
            g.push(token, t - 3 * HOUR + 195 * MINUTE);
        },
    );
    // The take-over again, but the reset is recovered five hours late: by
    // then the enrolment and the console access were analysed without it,
    // and the admin's baseline learned the attacker's network and machine.
    // The reset's hour, analysed again, names the take-over, critical.
    add(
        LATE_TAKEOVER,
        &[
            "factor_enrolled_after_reset_new_network",
            "mfa_reset_then_admin_access",
        ],
        &|g, t| {
            let admin = roles::ADMINS.start + 8;
            let start = t - 4 * HOUR;
            g.reset_by_helpdesk(admin, start);
            g.arrives_late(5 * HOUR);
            let attacker = Place {
                ip: "45.86.200.14".into(),
                city: EU_CITIES[1],
                asn: 9009,
                as_org: "m247 europe srl",
                proxy: false,
                client: WINDOWS,
                dt: Some("dt-late-takeover".into()),
            };
            let enrol = g
                .event("user.mfa.factor.activate", admin, &attacker, "102late")
                .debug("factor", json!("OKTA_VERIFY_PUSH"));
            g.push(enrol, start + 20 * MINUTE);
            let console = g
                .event("user.session.access_admin_app", admin, &attacker, "102late")
                .target(
                    "AppInstance",
                    "0oaadmin",
                    "Okta Admin Console",
                    "Okta Admin Console",
                );
            g.push(console, start + 70 * MINUTE);
        },
    );
    // A reset in one hour, the Admin Console from a new device in the next:
    // the alert lists the reset.
    add(
        "a help-desk reset, then the Admin Console an hour and a half later",
        &["mfa_reset_then_admin_access", "mfa_factor_reset"],
        &|g, t| {
            let admin = roles::ADMINS.start + 7;
            g.reset_by_helpdesk(admin, t - 2 * HOUR + 10 * MINUTE);
            let elsewhere = Place {
                dt: Some("dt-unknown-laptop".into()),
                ..abroad_place()
            };
            let console = g
                .event(
                    "user.session.access_admin_app",
                    admin,
                    &elsewhere,
                    "102console",
                )
                .target(
                    "AppInstance",
                    "0oaadmin",
                    "Okta Admin Console",
                    "Okta Admin Console",
                );
            g.push(console, t - 2 * HOUR + 100 * MINUTE);
        },
    );
}

/// The directory sync's API token (`00Tsync`, acting as `u`) used from a
/// network it never used.
pub fn stolen_sync_token(u: usize) -> Ev {
    Ev::new("user.account.update_profile")
        .user(&id(u), &login(u))
        .via_api_token("00Tsync")
        .from(
            "5.188.10.1",
            "Moscow",
            "Russia",
            55.75,
            37.62,
            49505,
            "selectel",
        )
        .no_user_agent()
}

/// A script on a hosting provider's address: brute force, stuffing, lockouts.
pub fn bot_host() -> Place {
    Place {
        ip: "188.166.104.27".into(),
        city: US_CITIES[0],
        asn: 14061,
        as_org: "digitalocean, llc",
        proxy: false,
        client: ("python-requests/2.31", "Unknown", "UNKNOWN", "Unknown"),
        dt: Some("dt-bot".into()),
    }
}

/// An intruder's laptop in Sydney, new to everyone in the org.
pub fn intruder_abroad() -> Place {
    Place {
        ip: "1.145.88.14".into(),
        city: SYDNEY,
        asn: 1221,
        as_org: "telstra limited",
        proxy: false,
        client: (
            "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Firefox/128.0",
            "Windows 10",
            "FIREFOX",
            "Computer",
        ),
        dt: Some("dt-intruder".into()),
    }
}

/// A laptop on a Sydney carrier's fixed line, new to everyone in the org.
fn abroad_place() -> Place {
    Place {
        ip: "1.145.88.15".into(),
        city: SYDNEY,
        asn: 1221,
        as_org: "telstra limited",
        proxy: false,
        client: WINDOWS,
        dt: Some("dt-intruder-2".into()),
    }
}
