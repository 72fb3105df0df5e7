//! Detection engine throughput: one hour of 1,000,000 actor records over 50,000
//! users, with the context the detector loads (the hour before at the same
//! rate, and the failures of the two hours before that), baselines for every
//! user, and a few attacks embedded.
//!
//! Reported: `analyze` time per hour (wall and CPU), its ratio to a baseline
//! operation over the same records (one pass hashing each record's identity),
//! peak memory after building the input and while analysing, and the peak of
//! heap memory the analysis itself held (counted by the allocator).
//!
//! `cargo bench -p okta-itdr-core --bench detect`

use okta_itdr_testkit::Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::future::{ready, Future};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use okta_itdr_core::detect::baseline::{Seen, SignInPoint};
use okta_itdr_core::detect::run::Detector;
use okta_itdr_core::detect::{
    analyze, history_requests, Analysis, Baseline, DetectConfig, Finding,
};
use okta_itdr_core::memory::{CollectingSink, MemoryStore};
use okta_itdr_core::normalize::categorize;
use okta_itdr_core::ports::{ActivityStore, PutOutcome, Scope, StateStore, StoreError, Watermark};
use okta_itdr_core::record::{
    ActivityRecord, ClientInfo, Details, EventKind, IdentityKind, Interner, Network, Outcome,
    Principal, Role, Text, Uuid,
};
use okta_itdr_core::time::{Hour, Millis, DAY, HOUR, MINUTE, SECOND};

/// The system allocator, counting the bytes held and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let held = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(held, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap held now, in MB, after restarting the peak count from it.
fn restart_heap_peak() -> f64 {
    let held = HELD.load(Ordering::Relaxed);
    PEAK.store(held, Ordering::Relaxed);
    held as f64 / 1e6
}

const RECORDS_PER_HOUR: usize = 1_000_000;
const USERS: usize = 50_000;
/// 2026-11-10T14:00Z, a busy weekday hour.
const HOUR_START: Millis = 1_794_319_200_000;

const APPS: [&str; 24] = okta_itdr_testkit::realistic_org::SAAS_APPS;
const CITIES: [(&str, &str, f64, f64); 8] = [
    ("San Francisco", "United States", 37.7749, -122.4194),
    ("New York", "United States", 40.7128, -74.006),
    ("Chicago", "United States", 41.8781, -87.6298),
    ("Austin", "United States", 30.2672, -97.7431),
    ("London", "United Kingdom", 51.5074, -0.1278),
    ("Dublin", "Ireland", 53.3498, -6.2603),
    ("Toronto", "Canada", 43.6532, -79.3832),
    ("Berlin", "Germany", 52.52, 13.405),
];
const ISPS: [(u64, &str); 6] = [
    (7922, "comcast"),
    (701, "verizon"),
    (7018, "at&t"),
    (5089, "virgin media"),
    (812, "rogers"),
    (3320, "deutsche telekom"),
];
const BROWSERS: [(&str, &str, &str); 3] = [
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", "Mac OS X", "CHROME"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", "Windows 10", "EDGE"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0", "Linux", "FIREFOX"),
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sso,
    Mfa,
    SignIn,
    Typo,
    Policy,
    SessionEnd,
    Token,
    DenyPush,
    Profile,
    // Attacks.
    BruteForce,
    Spray,
    Bomb,
    BombApproved,
    Abroad,
    Hijack,
    Lock,
    Survey,
    Reset,
    AdminConsole,
}

/// One event to build: small, so the schedule sorts cheaply before the
/// records are made in order.
#[derive(Clone, Copy)]
struct Spec {
    t: Millis,
    user: u32,
    kind: Kind,
    n: u32,
}

fn hex64(mut x: u64) -> String {
    let mut s = String::with_capacity(64);
    for _ in 0..4 {
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xD1B5_4A32_D192_ED03;
        s.push_str(&format!("{x:016x}"));
    }
    s
}

struct Users {
    ids: Vec<String>,
    logins: Vec<String>,
    names: Vec<String>,
    ips: Vec<String>,
    laptops: Vec<String>,
    phones: Vec<String>,
}

impl Users {
    fn new() -> Self {
        let ids = (0..USERS).map(|u| format!("00u{u:06}xQ3Lk5d7")).collect();
        let logins = (0..USERS).map(|u| format!("user{u}@acme.com")).collect();
        let names = (0..USERS).map(|u| format!("User {u}")).collect();
        let ips = (0..USERS)
            .map(|u| {
                format!(
                    "{}.{}.{}.{}",
                    60 + u % 40,
                    u / 250 % 250,
                    u % 250,
                    1 + u % 200
                )
            })
            .collect();
        let laptops = (0..USERS).map(|u| hex64(u as u64)).collect();
        let phones = (0..USERS).map(|u| hex64(u as u64 + 1_000_000)).collect();
        Users {
            ids,
            logins,
            names,
            ips,
            laptops,
            phones,
        }
    }

    fn city(u: usize) -> (&'static str, &'static str, f64, f64) {
        CITIES[u % CITIES.len()]
    }

    fn isp(u: usize) -> (u64, &'static str) {
        ISPS[u % ISPS.len()]
    }
}

fn principal(id: &str, kind: &str, login: &str, name: &str) -> Principal {
    Principal {
        id: Some(id.into()),
        kind: Some(kind.into()),
        login: Some(login.into()),
        name: Some(name.into()),
    }
}

/// Makes the record of one scheduled event.
fn record(users: &Users, s: &Spec, seq: usize) -> ActivityRecord {
    let u = s.user as usize;
    let (city, country, lat, lon) = Users::city(u);
    let (asn, as_org) = Users::isp(u);
    let (ua, os, browser) = BROWSERS[u % BROWSERS.len()];
    let mut network = Network {
        ip: Some(users.ips[u].as_str().into()),
        country: Some(country.into()),
        state: None,
        city: Some(city.into()),
        lat: Some(lat),
        lon: Some(lon),
        asn: Some(asn),
        as_org: Some(as_org.into()),
        proxy: false,
        zone: None,
    };
    let session: Text = format!("102{u:06}s{}", s.t / (2 * HOUR)).into();
    let mut client = ClientInfo {
        user_agent: Some(ua.into()),
        os: Some(os.into()),
        browser: Some(browser.into()),
        device: Some("Computer".into()),
        device_id: None,
        dt_hash: Some(users.laptops[u].as_str().into()),
        session_id: Some(session.clone()),
        root_session_id: Some(session),
        credential_type: None,
    };
    let attacker = |network: &mut Network, client: &mut ClientInfo, ip: &str, asn: u64| {
        *network = Network {
            ip: Some(ip.into()),
            country: Some("Netherlands".into()),
            city: Some("Amsterdam".into()),
            lat: Some(52.37),
            lon: Some(4.89),
            asn: Some(asn),
            as_org: Some("hosting".into()),
            ..Default::default()
        };
        client.user_agent =
            Some("Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0".into());
        client.os = Some("Windows 10".into());
        client.browser = Some("FIREFOX".into());
        client.dt_hash = Some(hex64(asn).into());
        let session: Text = format!("idx{}attacker{asn}", s.user).into();
        client.session_id = Some(session.clone());
        client.root_session_id = Some(session);
    };
    let mut targets: Vec<Principal> = Vec::new();
    let mut outcome = Outcome::Success;
    let mut reason = None;
    let mut details = Details::default();
    let app = |k: usize| {
        principal(
            &format!("0oa{k:04}appid"),
            "AppInstance",
            APPS[k % APPS.len()],
            APPS[k % APPS.len()],
        )
    };
    let event_type = match s.kind {
        Kind::Sso | Kind::Survey => {
            targets.push(app(s.n as usize));
            targets.push(principal(
                &format!("0ua{u:06}{}", s.n),
                "AppUser",
                &users.logins[u],
                &users.names[u],
            ));
            "user.authentication.sso"
        }
        Kind::Mfa => {
            details.factor = Some("OKTA_VERIFY_PUSH".into());
            "user.authentication.auth_via_mfa"
        }
        Kind::SignIn => "user.session.start",
        Kind::Typo => {
            outcome = Outcome::Failure;
            reason = Some("INVALID_CREDENTIALS".into());
            client.session_id = None;
            client.root_session_id = None;
            "user.session.start"
        }
        Kind::Policy => {
            outcome = Outcome::Allow;
            targets.push(principal("rul1", "Rule", "Default", "Default rule"));
            targets.push(app(s.n as usize));
            "policy.evaluate_sign_on"
        }
        Kind::SessionEnd => "user.session.end",
        Kind::Token => {
            targets.push(app(s.n as usize));
            details.grant_type = Some("refresh_token".into());
            "app.oauth2.as.token.grant.access_token"
        }
        Kind::DenyPush => {
            outcome = Outcome::Failure;
            details.factor = Some("OKTA_VERIFY_PUSH".into());
            "user.mfa.okta_verify.deny_push"
        }
        Kind::Profile => "user.account.update_profile",
        Kind::BruteForce | Kind::Spray => {
            attacker(
                &mut network,
                &mut client,
                if s.kind == Kind::Spray {
                    "45.134.26.115"
                } else {
                    "188.166.104.27"
                },
                14061 + s.kind as u64,
            );
            outcome = Outcome::Failure;
            reason = Some("INVALID_CREDENTIALS".into());
            "user.session.start"
        }
        Kind::Bomb | Kind::BombApproved => {
            attacker(&mut network, &mut client, "185.220.101.47", 60729);
            details.factor = Some("OKTA_VERIFY_PUSH".into());
            if s.kind == Kind::Bomb {
                outcome = Outcome::Failure;
                "user.mfa.okta_verify.deny_push"
            } else {
                "user.authentication.auth_via_mfa"
            }
        }
        Kind::Abroad => {
            attacker(&mut network, &mut client, "1.145.88.14", 1221);
            network.lat = Some(-33.87);
            network.lon = Some(151.21);
            network.country = Some("Australia".into());
            "user.session.start"
        }
        Kind::Hijack => {
            // The victim's session cookie, replayed.
            let stolen = client.session_id.clone();
            attacker(&mut network, &mut client, "86.124.37.190", 9050);
            client.session_id.clone_from(&stolen);
            client.root_session_id = stolen;
            targets.push(app(s.n as usize));
            "user.authentication.sso"
        }
        Kind::Lock => {
            outcome = Outcome::Failure;
            reason = Some("LOCKED_OUT".into());
            "user.account.lock"
        }
        Kind::Reset => {
            let t = s.n as usize;
            targets.push(principal(
                &users.ids[t],
                "User",
                &users.logins[t],
                &users.names[t],
            ));
            "user.mfa.factor.reset_all"
        }
        Kind::AdminConsole => {
            outcome = Outcome::Allow;
            targets.push(principal(
                "0oaadmin",
                "AppInstance",
                "Okta Admin Console",
                "Okta Admin Console",
            ));
            "policy.evaluate_sign_on"
        }
    };
    ActivityRecord {
        identity: users.ids[u].as_str().into(),
        identity_kind: IdentityKind::User,
        role: Role::Actor,
        uuid: Uuid::parse(&format!(
            "{:08x}-5f2c-4b1e-9a7d-{seq:012x}",
            s.t / 1000 % 0xffff_ffff
        )),
        published: s.t,
        category: categorize(event_type),
        event: Arc::new(EventKind {
            event_type: event_type.into(),
            outcome,
            reason,
            severity: Some("INFO".into()),
        }),
        actor: Arc::new(principal(
            &users.ids[u],
            "User",
            &users.logins[u],
            &users.names[u],
        )),
        targets: Arc::new(targets),
        network: Arc::new(network),
        client: Arc::new(client),
        risk: Default::default(),
        details: Arc::new(details),
        username_secret_like: false,
    }
}

/// The ordinary traffic of one hour starting at `start`, `failures_only` for
/// the older context the detector keeps.
fn ordinary(rng: &mut Rng, start: Millis, n: usize, failures_only: bool, out: &mut Vec<Spec>) {
    for _ in 0..n {
        let kind = match rng.below(1000) {
            0..=499 => Kind::Sso,
            500..=599 => Kind::Mfa,
            600..=699 => Kind::SignIn,
            700..=719 => Kind::Typo,
            720..=839 => Kind::Policy,
            840..=899 => Kind::SessionEnd,
            900..=959 => Kind::Token,
            960..=962 => Kind::DenyPush,
            _ => Kind::Profile,
        };
        if failures_only && !matches!(kind, Kind::Typo | Kind::DenyPush) {
            continue;
        }
        let spec = Spec {
            t: start + rng.below(HOUR as u64) as Millis,
            user: rng.below(USERS as u64) as u32,
            kind,
            n: rng.below(APPS.len() as u64) as u32,
        };
        out.push(spec);
    }
}

fn attacks(start: Millis, out: &mut Vec<Spec>) {
    let at = |m: i64, s: i64| start + m * MINUTE + s * SECOND;
    for k in 0..14 {
        out.push(Spec {
            t: at(5, 70 * k),
            user: 7,
            kind: Kind::BruteForce,
            n: 0,
        });
    }
    for k in 0..24 {
        out.push(Spec {
            t: at(10, 40 * k),
            user: 100 + k as u32 % 12,
            kind: Kind::Spray,
            n: 0,
        });
    }
    for k in 0..6 {
        out.push(Spec {
            t: at(20, 50 * k),
            user: 11,
            kind: Kind::Bomb,
            n: 0,
        });
    }
    out.push(Spec {
        t: at(26, 0),
        user: 11,
        kind: Kind::BombApproved,
        n: 0,
    });
    out.push(Spec {
        t: at(30, 0),
        user: 21,
        kind: Kind::SignIn,
        n: 0,
    });
    out.push(Spec {
        t: at(45, 0),
        user: 21,
        kind: Kind::Abroad,
        n: 0,
    });
    out.push(Spec {
        t: at(33, 0),
        user: 31,
        kind: Kind::Sso,
        n: 1,
    });
    out.push(Spec {
        t: at(40, 0),
        user: 31,
        kind: Kind::Hijack,
        n: 2,
    });
    for k in 0..7 {
        out.push(Spec {
            t: at(48, 60 * k),
            user: 500 + k as u32,
            kind: Kind::Lock,
            n: 0,
        });
    }
    for k in 0..14 {
        out.push(Spec {
            t: at(50, 15 * k),
            user: 41,
            kind: Kind::Survey,
            n: k as u32,
        });
    }
    out.push(Spec {
        t: at(2, 0),
        user: 49_000,
        kind: Kind::Reset,
        n: 49_001,
    });
    out.push(Spec {
        t: at(55, 0),
        user: 49_001,
        kind: Kind::AdminConsole,
        n: 0,
    });
}

/// A user's history: their city, ISP, laptop and phone, browser and a few apps.
fn baseline(users: &Users, u: usize) -> Baseline {
    let seen = HOUR_START - 2 * HOUR;
    let (_, country, lat, lon) = Users::city(u);
    let (asn, _) = Users::isp(u);
    let (_, os, browser) = BROWSERS[u % BROWSERS.len()];
    let apps: Seen = (0..8).map(|k| (APPS[(u + k) % APPS.len()], seen)).collect();
    Baseline {
        identity: users.ids[u].clone(),
        first_seen: HOUR_START - 60 * DAY,
        last_seen: seen,
        countries: Seen::from([(country.to_owned(), seen)]),
        asns: Seen::from([(asn.to_string(), seen), ("21928".to_owned(), seen)]),
        devices: Seen::from([
            (users.laptops[u].clone(), seen),
            (users.phones[u].clone(), seen),
        ]),
        clients: Seen::from([(format!("{browser}/{os}"), seen)]),
        apps,
        last_sign_in: Some(SignInPoint {
            at: seen,
            lat,
            lon,
            proxy: false,
        }),
        ..Default::default()
    }
}

/// The activity table of a busy org as a detector run reads it: each hour's
/// records are made when read (the same ones on every read) and interned as the
/// DynamoDB adapter does. Identity timelines hold the rare events the engine
/// asks histories for (a factor reset and its target's copy).
struct Generated {
    users: Users,
    interner: Mutex<Interner>,
    timelines: Mutex<HashMap<String, Vec<ActivityRecord>>>,
}

impl Generated {
    fn specs(hour: Hour) -> Vec<Spec> {
        let mut rng = Rng(0x0b5e_55ed ^ hour.0 as u64);
        let mut specs = Vec::with_capacity(RECORDS_PER_HOUR + 100);
        ordinary(&mut rng, hour.start(), RECORDS_PER_HOUR, false, &mut specs);
        if hour.start() == HOUR_START {
            attacks(HOUR_START, &mut specs);
        }
        specs
    }

    fn remember(&self, s: &Spec, r: &ActivityRecord) {
        let mut timelines = self.timelines.lock().unwrap();
        // Hours are read more than once: keep each event once per timeline.
        let mut add = |r: ActivityRecord| {
            let t = timelines.entry(r.identity.to_string()).or_default();
            if !t.iter().any(|x| x.uuid == r.uuid) {
                t.push(r);
            }
        };
        if matches!(s.kind, Kind::Reset | Kind::AdminConsole) {
            add(r.clone());
        }
        if s.kind == Kind::Reset {
            add(ActivityRecord {
                identity: self.users.ids[s.n as usize].as_str().into(),
                role: Role::Target,
                ..r.clone()
            });
        }
    }
}

impl ActivityStore for Generated {
    fn put_event(
        &self,
        _records: &[ActivityRecord],
        _expires_at: i64,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send {
        ready(Ok(PutOutcome::Duplicate))
    }

    fn mark_late(
        &self,
        _event_hour: Hour,
        _uuid: &str,
        _arrived: Millis,
        _expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Ok(()))
    }

    fn late_hours(
        &self,
        _from: Millis,
        _to: Millis,
    ) -> impl Future<Output = Result<Vec<Hour>, StoreError>> + Send {
        ready(Ok(Vec::new()))
    }

    fn read_hour(
        &self,
        hour: Hour,
        scope: Scope,
        out: &mut Vec<ActivityRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        // Unique uuids across hours: the hour in the high bits of the sequence.
        let base = (hour.0 as usize) << 24;
        let mut interner = self.interner.lock().unwrap();
        interner.forget_unused();
        for (i, s) in Self::specs(hour).iter().enumerate() {
            let r = record(&self.users, s, base + i);
            self.remember(s, &r);
            if scope.keeps(&r) {
                out.push(interner.record(r));
            }
        }
        ready(Ok(()))
    }

    fn identity_activity(
        &self,
        identity: &str,
        from: Millis,
        to: Millis,
    ) -> impl Future<Output = Result<Vec<ActivityRecord>, StoreError>> + Send {
        let mut timeline: Vec<ActivityRecord> = self
            .timelines
            .lock()
            .unwrap()
            .get(identity)
            .map(|t| {
                t.iter()
                    .filter(|r| r.published >= from && r.published < to)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        timeline.sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
        ready(Ok(timeline))
    }
}

/// One scheduled detector run over the busy hour, as the Lambda does it: read
/// the hour and its context through the store port, load baselines, analyse,
/// publish, save baselines. Returns what it found and the memory it needed.
fn detector_run() -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let users = Users::new();
    let state = MemoryStore::new();
    let hour = Hour::of(HOUR_START);
    let baselines: Vec<Baseline> = (0..USERS).map(|u| baseline(&users, u)).collect();
    rt.block_on(state.save_baselines(&baselines))
        .expect("baselines");
    drop(baselines);
    let watermark = Watermark {
        next_hour: hour,
        late_checked_until: hour.end(),
        learn_until: None,
        history_pending: false,
    };
    rt.block_on(state.save_watermark(&watermark, None))
        .expect("watermark");
    let store = Generated {
        users,
        interner: Mutex::default(),
        timelines: Mutex::default(),
    };
    let detector = Detector::new(store, state, CollectingSink::new(), DetectConfig::default());

    let resident = status_mb("VmRSS");
    let reset = reset_peak();
    let heap = restart_heap_peak();
    let cpu = cpu_seconds();
    let started = Instant::now();
    let report = rt
        .block_on(detector.run(hour.end() + 5 * MINUTE))
        .expect("detector run");
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let heap_peak = PEAK.load(Ordering::Relaxed) as f64 / 1e6 - heap;
    let peak = status_mb("VmHWM");
    format!(
        "detector run: {} records in the hour, {} findings, {} published; {wall:.1} s ({cpu:.1} s CPU, records made as read); heap held at most {heap_peak:.0} MB; peak RSS {}",
        report.records,
        report.findings,
        report.published,
        if reset {
            format!("{peak:.0} MB, {:.0} MB above the process before the run", peak - resident)
        } else {
            format!("{peak:.0} MB (the peak could not be reset)")
        }
    )
}

struct Input {
    hour: Hour,
    records: Vec<ActivityRecord>,
    baselines: HashMap<String, Baseline>,
    histories: HashMap<String, Vec<ActivityRecord>>,
    config: DetectConfig,
    /// Heap held by the records (with the values they share) and the baselines.
    records_mb: f64,
    baselines_mb: f64,
}

impl Input {
    fn build() -> Input {
        let users = Users::new();
        let mut rng = Rng(0x0b5e_55ed);
        let mut specs: Vec<Spec> = Vec::with_capacity(2 * RECORDS_PER_HOUR + 100_000);
        ordinary(
            &mut rng,
            HOUR_START - 3 * HOUR,
            RECORDS_PER_HOUR,
            true,
            &mut specs,
        );
        ordinary(
            &mut rng,
            HOUR_START - 2 * HOUR,
            RECORDS_PER_HOUR,
            true,
            &mut specs,
        );
        ordinary(
            &mut rng,
            HOUR_START - HOUR,
            RECORDS_PER_HOUR,
            false,
            &mut specs,
        );
        ordinary(&mut rng, HOUR_START, RECORDS_PER_HOUR, false, &mut specs);
        attacks(HOUR_START, &mut specs);
        specs.sort_by_key(|s| s.t);
        let held = || HELD.load(Ordering::Relaxed) as f64 / 1e6;
        let before_records = held();
        // Built one by one and interned as they come, as the store hands them over.
        let mut interner = Interner::default();
        let records: Vec<ActivityRecord> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| interner.record(record(&users, s, i)))
            .collect();
        drop(interner);
        let records_mb = held() - before_records;
        debug_assert!(records
            .windows(2)
            .all(|w| (w[0].published, &w[0].uuid) <= (w[1].published, &w[1].uuid)));

        let mut baselines = HashMap::with_capacity(USERS);
        for u in 0..USERS {
            let b = baseline(&users, u);
            baselines.insert(users.ids[u].clone(), b);
        }
        let baselines_mb = held() - before_records - records_mb;
        let config = DetectConfig::default();
        let hour = Hour::of(HOUR_START);
        // The timelines the engine asks for, from the records themselves (the
        // reset's target copy is not an actor record: add it).
        let mut histories: HashMap<String, Vec<ActivityRecord>> = HashMap::new();
        for req in history_requests(&config, hour, &records) {
            let mut timeline: Vec<ActivityRecord> = records
                .iter()
                .filter(|r| {
                    r.identity == req.identity && r.published >= req.from && r.published < req.to
                })
                .cloned()
                .collect();
            for r in records.iter().filter(|r| {
                r.is("user.mfa.factor.reset_all")
                    && r.targets
                        .iter()
                        .any(|t| t.id.as_deref() == Some(req.identity.as_str()))
            }) {
                timeline.push(ActivityRecord {
                    identity: req.identity.as_str().into(),
                    role: Role::Target,
                    ..r.clone()
                });
            }
            timeline.sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
            histories.insert(req.identity, timeline);
        }
        Input {
            hour,
            records,
            baselines,
            histories,
            config,
            records_mb,
            baselines_mb,
        }
    }

    fn analysis(&self) -> Analysis<'_> {
        Analysis {
            hour: self.hour,
            records: &self.records,
            baselines: &self.baselines,
            org: None,
            histories: &self.histories,
            config: &self.config,
        }
    }
}

/// A memory figure of this process from `/proc/self/status` (MB): `VmHWM`
/// (peak resident) or `VmRSS` (resident now).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Starts measuring the peak anew from the current resident size (Linux:
/// writing 5 to `clear_refs` resets `VmHWM`). Returns whether it could.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time of this process so far (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The baseline operation: one pass hashing each record's identity.
fn identity_pass(records: &[ActivityRecord]) -> usize {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for r in records {
        *seen.entry(r.identity.as_str()).or_default() += 1;
    }
    seen.len()
}

fn median_seconds(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut wall = Vec::with_capacity(runs);
    let cpu0 = cpu_seconds();
    for _ in 0..runs {
        let t = Instant::now();
        f();
        wall.push(t.elapsed().as_secs_f64());
    }
    wall.sort_by(|a, b| a.total_cmp(b));
    (wall[runs / 2], (cpu_seconds() - cpu0) / runs as f64)
}

fn tally(findings: &[Finding]) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for f in findings {
        *by.entry(f.detection.as_str()).or_default() += 1;
    }
    by.iter()
        .map(|(d, n)| format!("{d}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn bench(c: &mut Criterion) {
    // First, while the process is small: the whole run as the Lambda does it.
    println!("{}", detector_run());
    let started = Instant::now();
    let input = Input::build();
    let in_hour = input
        .records
        .iter()
        .filter(|r| Hour::of(r.published) == input.hour)
        .count();
    println!(
        "input: {} records ({in_hour} in the hour), {} baselines, built in {:.1} s; peak RSS {:.0} MB, resident {:.0} MB",
        input.records.len(),
        input.baselines.len(),
        started.elapsed().as_secs_f64(),
        status_mb("VmHWM"),
        status_mb("VmRSS")
    );
    println!(
        "heap: records {:.0} MB ({:.0} bytes each, {} inline), baselines {:.0} MB",
        input.records_mb,
        input.records_mb * 1e6 / input.records.len() as f64,
        std::mem::size_of::<ActivityRecord>(),
        input.baselines_mb
    );
    let resident = status_mb("VmRSS");
    let reset = reset_peak();
    let heap = restart_heap_peak();
    let a = input.analysis();
    let findings = analyze(&a);
    let heap_peak = PEAK.load(Ordering::Relaxed) as f64 / 1e6;
    let peak = status_mb("VmHWM");
    println!("findings: {} ({})", findings.len(), tally(&findings));
    println!(
        "heap: {heap:.0} MB held by the input; the analysis held at most {:.0} MB more",
        heap_peak - heap
    );
    if reset {
        println!(
            "peak RSS while analysing: {peak:.0} MB, {:.0} MB above the input",
            peak - resident
        );
    } else {
        println!("peak RSS after analysing: {peak:.0} MB (the peak could not be reset)");
    }

    let (analyse_wall, analyse_cpu) = median_seconds(5, || {
        black_box(analyze(black_box(&a)));
    });
    let (base_wall, _) = median_seconds(5, || {
        black_box(identity_pass(black_box(&input.records)));
    });
    let (requests_wall, _) = median_seconds(5, || {
        black_box(history_requests(
            &input.config,
            input.hour,
            black_box(&input.records),
        ));
    });
    println!(
        "analyze: {analyse_wall:.3} s per hour of {in_hour} records (CPU {analyse_cpu:.3} s); identity pass: {base_wall:.4} s; ratio {:.1}x; history_requests: {requests_wall:.4} s",
        analyse_wall / base_wall
    );

    let mut group = c.benchmark_group("detect");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    group.bench_function("analyze_hour_1m_records", |b| {
        b.iter(|| analyze(black_box(&a)))
    });
    group.bench_function("baseline_identity_pass", |b| {
        b.iter(|| identity_pass(black_box(&input.records)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
