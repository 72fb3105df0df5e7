//! Replay throughput and memory.
//!
//! Generates a synthetic Okta System Log as JSON Lines of LogEvents in memory
//! (5,000 users with a home network and device each, office-hours sessions of MFA,
//! sign-in and SSO, mistyped passwords, push denials, unknown usernames, admin
//! changes, a daily password spray and brute force), then measures in this process:
//!
//! - parse only: every line with `serde_json::from_slice::<Value>`;
//! - replay: the same bytes through the CLI's reader (on its own thread, as the
//!   CLI runs it), reorder buffer and `Replay` (ingest, hourly detector runs,
//!   alerts);
//! - for where the time goes, the reader alone and the reader with
//!   normalisation and the store but no detector.
//!
//! Peak memory is measured in child processes (this binary re-run), each
//! replaying a file through the whole CLI path: the first half of the log and
//! all of it, at the same event rate. Peak RSS should not grow with the number
//! of events.
//!
//! `cargo bench -p okta-itdr --bench replay`; without `--bench` (as `cargo test
//! --all-targets` runs it) a small log is used. `OKTA_ITDR_BENCH_WRITE=FILE`
//! (and `OKTA_ITDR_BENCH_EVENTS=N`) only writes the log, for profiling.

use okta_itdr_testkit::Rng;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use okta_itdr::args::{Format, OktaArgs, ReplayArgs};
use okta_itdr::input::RecordReader;
use okta_itdr::replay_cmd::{self, Io, Pipeline};
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ingest::{IngestSettings, Ingestor};
use okta_itdr_core::memory::MemoryStore;
use okta_itdr_core::normalize::{Normalizer, UsernameHasher};
use okta_itdr_core::replay::Replay;
use okta_itdr_core::time::{
    format_rfc3339_ms, parse_rfc3339_ms, Hour, Millis, DAY, HOUR, MINUTE, SECOND,
};

/// As the binary does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD_VAR: &str = "OKTA_ITDR_BENCH_CHILD";
/// Writes the generated log to this file and exits: for profiling the binary on it.
const WRITE_VAR: &str = "OKTA_ITDR_BENCH_WRITE";
const KEY: &[u8] = b"bench-username-hash-key-0123456789";
const USERS: usize = 5_000;

// ------------------------------------------------------------------ generator

struct City {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    postal: &'static str,
    lat: f64,
    lon: f64,
    /// Hours added to UTC for local time.
    utc_offset: i64,
}

const CITIES: &[City] = &[
    City {
        city: "San Francisco",
        state: "California",
        country: "United States",
        postal: "94107",
        lat: 37.7749,
        lon: -122.4194,
        utc_offset: -8,
    },
    City {
        city: "Austin",
        state: "Texas",
        country: "United States",
        postal: "78701",
        lat: 30.2672,
        lon: -97.7431,
        utc_offset: -6,
    },
    City {
        city: "New York",
        state: "New York",
        country: "United States",
        postal: "10001",
        lat: 40.7128,
        lon: -74.006,
        utc_offset: -5,
    },
    City {
        city: "Chicago",
        state: "Illinois",
        country: "United States",
        postal: "60601",
        lat: 41.8781,
        lon: -87.6298,
        utc_offset: -6,
    },
    City {
        city: "Denver",
        state: "Colorado",
        country: "United States",
        postal: "80202",
        lat: 39.7392,
        lon: -104.9903,
        utc_offset: -7,
    },
    City {
        city: "Boston",
        state: "Massachusetts",
        country: "United States",
        postal: "02108",
        lat: 42.3601,
        lon: -71.0589,
        utc_offset: -5,
    },
    City {
        city: "Seattle",
        state: "Washington",
        country: "United States",
        postal: "98101",
        lat: 47.6062,
        lon: -122.3321,
        utc_offset: -8,
    },
    City {
        city: "London",
        state: "England",
        country: "United Kingdom",
        postal: "EC1A",
        lat: 51.5074,
        lon: -0.1278,
        utc_offset: 0,
    },
    City {
        city: "Dublin",
        state: "Leinster",
        country: "Ireland",
        postal: "D01",
        lat: 53.3498,
        lon: -6.2603,
        utc_offset: 0,
    },
    City {
        city: "Berlin",
        state: "Land Berlin",
        country: "Germany",
        postal: "10115",
        lat: 52.52,
        lon: 13.405,
        utc_offset: 1,
    },
    City {
        city: "Toronto",
        state: "Ontario",
        country: "Canada",
        postal: "M5H",
        lat: 43.6532,
        lon: -79.3832,
        utc_offset: -5,
    },
    City {
        city: "Bengaluru",
        state: "Karnataka",
        country: "India",
        postal: "560001",
        lat: 12.9716,
        lon: 77.5946,
        utc_offset: 5,
    },
];

const NETWORKS: &[(u64, &str, &str, &str)] = &[
    (7922, "comcast", "comcast cable", "comcast.net"),
    (7018, "at&t services inc.", "at&t internet", "sbcglobal.net"),
    (701, "verizon", "verizon fios", "verizon.net"),
    (209, "centurylink", "centurylink", "centurylink.net"),
    (2856, "british telecommunications plc", "bt", "bt.com"),
    (3320, "deutsche telekom ag", "telekom", "t-ipconnect.de"),
    (
        812,
        "rogers communications canada inc.",
        "rogers",
        "rogers.com",
    ),
];

const CLIENTS: &[(&str, &str, &str)] = &[
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "Mac OS X", "CHROME"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0", "Windows 10", "EDGE_CHROMIUM"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Mac OS X", "SAFARI"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Windows 10", "FIREFOX"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "Linux", "CHROME"),
];

const APPS: &[(&str, &str)] = &[
    ("0oa1slack0000000001", "Slack"),
    ("0oa1google000000002", "Google Workspace"),
    ("0oa1github000000003", "GitHub"),
    ("0oa1salesforce00004", "Salesforce"),
    ("0oa1zoom00000000005", "Zoom"),
    ("0oa1jira00000000006", "Jira"),
    ("0oa1confluence00007", "Confluence"),
    ("0oa1aws000000000008", "AWS IAM Identity Center"),
    ("0oa1workday0000009", "Workday"),
    ("0oa1box00000000010", "Box"),
];

struct User {
    id: String,
    login: String,
    name: String,
    city: usize,
    ip: String,
    network: usize,
    client: usize,
    dt_hash: String,
}

fn users(rng: &mut Rng) -> Vec<User> {
    (0..USERS)
        .map(|i| User {
            id: format!("00u{}", rng.token(17)),
            login: format!("user{i:04}@acme.com"),
            name: format!("User {i:04}"),
            city: rng.below(CITIES.len() as u64) as usize,
            ip: format!(
                "{}.{}.{}.{}",
                24 + rng.below(170),
                rng.below(256),
                rng.below(256),
                1 + rng.below(254)
            ),
            network: rng.below(NETWORKS.len() as u64) as usize,
            client: rng.below(CLIENTS.len() as u64) as usize,
            dt_hash: rng.hex(64),
        })
        .collect()
}

/// What happens, before it is rendered.
#[derive(Clone, Copy)]
enum Kind {
    Policy,
    Mfa,
    MfaDeny,
    SignIn,
    SignInFail,
    Sso(usize),
    SignOut,
    /// A sign-in failure for a username Okta does not know.
    Unknown(u32),
    ProfileUpdate(usize),
    /// From an attacker address: (attack id, ip index).
    Attack(u32),
}

struct Planned {
    t: Millis,
    user: usize,
    kind: Kind,
}

fn plan(rng: &mut Rng, users: &[User], start: Millis, n: usize) -> Vec<Planned> {
    let mut out = Vec::with_capacity(n + n / 8);
    let mut day = 0;
    while out.len() < n {
        let day_start = start + day * DAY;
        let weekend = day % 7 >= 5;
        for (u, user) in users.iter().enumerate() {
            let sessions = if weekend {
                u64::from(rng.per_mille(150))
            } else {
                1 + rng.below(3)
            };
            for _ in 0..sessions {
                let local_hour = 8 + rng.below(10) as i64;
                let mut t = day_start
                    + (local_hour - CITIES[user.city].utc_offset).rem_euclid(24) * HOUR
                    + rng.below(60) as i64 * MINUTE
                    + rng.below(60_000) as i64;
                let mut push = |kind: Kind, gap: Millis, t: &mut Millis| {
                    out.push(Planned {
                        t: *t,
                        user: u,
                        kind,
                    });
                    *t += gap;
                };
                if rng.per_mille(30) {
                    push(Kind::SignInFail, 20 * SECOND, &mut t);
                }
                push(Kind::Policy, SECOND, &mut t);
                if rng.per_mille(20) {
                    push(Kind::MfaDeny, 30 * SECOND, &mut t);
                }
                push(Kind::Mfa, 2 * SECOND, &mut t);
                push(Kind::SignIn, 40 * SECOND, &mut t);
                for _ in 0..1 + rng.below(5) {
                    let gap = (1 + rng.below(20) as i64) * MINUTE;
                    push(
                        Kind::Sso(rng.below(APPS.len() as u64) as usize),
                        gap,
                        &mut t,
                    );
                }
                if rng.per_mille(300) {
                    push(Kind::SignOut, 0, &mut t);
                }
            }
            if rng.per_mille(2) {
                let t = day_start + rng.below(DAY as u64) as i64;
                out.push(Planned {
                    t,
                    user: u,
                    kind: Kind::Unknown(rng.below(1_000_000) as u32),
                });
            }
            if u < 20 && rng.per_mille(300) {
                let t = day_start + 15 * HOUR + rng.below(6 * HOUR as u64) as i64;
                out.push(Planned {
                    t,
                    user: u,
                    kind: Kind::ProfileUpdate(rng.below(USERS as u64) as usize),
                });
            }
        }
        // A password spray (a few tries for many users from one address) and a brute force.
        let spray = day_start + rng.below(DAY as u64) as i64;
        for k in 0..40 {
            out.push(Planned {
                t: spray + k * 20 * SECOND,
                user: rng.below(USERS as u64) as usize,
                kind: Kind::Attack(day as u32 * 2),
            });
        }
        let brute = day_start + rng.below(DAY as u64) as i64;
        let victim = rng.below(USERS as u64) as usize;
        for k in 0..15 {
            out.push(Planned {
                t: brute + k * 90 * SECOND,
                user: victim,
                kind: Kind::Attack(day as u32 * 2 + 1),
            });
        }
        day += 1;
    }
    out.sort_by_key(|p| p.t);
    out.truncate(n);
    out
}

struct Where<'a> {
    ip: &'a str,
    city: &'a City,
    network: (u64, &'a str, &'a str, &'a str),
    client: (&'a str, &'a str, &'a str),
    dt_hash: &'a str,
    proxy: bool,
    behaviors: &'a str,
}

const USUAL: &str = "{New Geo-Location=NEGATIVE, New Device=NEGATIVE, New IP=NEGATIVE, New State=NEGATIVE, New Country=NEGATIVE, Velocity=NEGATIVE, New City=NEGATIVE}";
const UNUSUAL: &str = "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE, New State=POSITIVE, New Country=POSITIVE, Velocity=NEGATIVE, New City=POSITIVE}";
const ATTACKER_CITY: City = City {
    city: "Amsterdam",
    state: "North Holland",
    country: "Netherlands",
    postal: "1012",
    lat: 52.374,
    lon: 4.8897,
    utc_offset: 1,
};

#[allow(clippy::too_many_arguments)]
fn render(
    out: &mut String,
    rng: &mut Rng,
    t: Millis,
    event_type: &str,
    severity: &str,
    message: &str,
    actor: (&str, &str, &str, &str),
    outcome: (&str, Option<&str>),
    targets: &str,
    w: &Where<'_>,
    request_uri: &str,
    session: &str,
) {
    let txn = rng.token(27);
    let reason = outcome.1.map_or("null".to_owned(), |r| format!("\"{r}\""));
    let c = w.city;
    let (asn, as_org, isp, domain) = w.network;
    let (ua, os, browser) = w.client;
    write!(
        out,
        concat!(
            r#"{{"uuid":"{uuid}","published":"{published}","eventType":"{event_type}","version":"0","severity":"{severity}","legacyEventType":null,"displayMessage":"{message}","#,
            r#""actor":{{"id":"{aid}","type":"{akind}","alternateId":"{alogin}","displayName":"{aname}","detailEntry":null}},"#,
            r#""client":{{"userAgent":{{"rawUserAgent":"{ua}","os":"{os}","browser":"{browser}"}},"zone":"null","device":"Computer","id":null,"ipAddress":"{ip}","#,
            r#""geographicalContext":{{"city":"{city}","state":"{state}","country":"{country}","postalCode":"{postal}","geolocation":{{"lat":{lat},"lon":{lon}}}}}}},"#,
            r#""device":null,"authenticationContext":{{"authenticationProvider":"OKTA_AUTHENTICATION_PROVIDER","credentialProvider":null,"credentialType":null,"issuer":null,"interface":null,"authenticationStep":0,"rootSessionId":"{session}","externalSessionId":"{session}"}},"#,
            r#""outcome":{{"result":"{result}","reason":{reason}}},"target":{targets},"transaction":{{"type":"WEB","id":"{txn}","detail":{{}}}},"#,
            r#""debugContext":{{"debugData":{{"requestId":"{txn}","requestUri":"{uri}","url":"{uri}?","behaviors":"{behaviors}","risk":"{{level=LOW}}","threatSuspected":"false","dtHash":"{dt}"}}}},"#,
            r#""securityContext":{{"asNumber":{asn},"asOrg":"{as_org}","isp":"{isp}","domain":"{domain}","isProxy":{proxy}}},"#,
            r#""request":{{"ipChain":[{{"ip":"{ip}","geographicalContext":{{"city":"{city}","state":"{state}","country":"{country}","postalCode":"{postal}","geolocation":{{"lat":{lat},"lon":{lon}}}}},"version":"V4","source":null}}]}}}}"#,
            "\n"
        ),
        uuid = rng.uuid(),
        published = format_rfc3339_ms(t),
        aid = actor.0,
        akind = actor.1,
        alogin = actor.2,
        aname = actor.3,
        result = outcome.0,
        uri = request_uri,
        behaviors = w.behaviors,
        dt = w.dt_hash,
        ip = w.ip,
        city = c.city,
        state = c.state,
        country = c.country,
        postal = c.postal,
        lat = c.lat,
        lon = c.lon,
        proxy = w.proxy,
        event_type = event_type,
        severity = severity,
        message = message,
        session = session,
        txn = txn,
        reason = reason,
        asn = asn,
        as_org = as_org,
        isp = isp,
        domain = domain,
        ua = ua,
        os = os,
        browser = browser,
        targets = targets,
    )
    .expect("writing to a String");
}

/// `n` LogEvents as JSON Lines, in time order.
fn generate(n: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let users = users(&mut rng);
    let start = parse_rfc3339_ms("2026-11-02T00:00:00Z").expect("start");
    let plan = plan(&mut rng, &users, start, n);
    let mut out = String::with_capacity(n * 2200);
    let attacker_net = (
        14061,
        "digitalocean, llc",
        "digitalocean",
        "digitalocean.com",
    );
    let tool = ("python-requests/2.32.3", "Unknown", "UNKNOWN");
    for p in &plan {
        let u = &users[p.user];
        let home = Where {
            ip: &u.ip,
            city: &CITIES[u.city],
            network: NETWORKS[u.network],
            client: CLIENTS[u.client],
            dt_hash: &u.dt_hash,
            proxy: false,
            behaviors: USUAL,
        };
        let session = format!("102{}", &u.dt_hash[..22]);
        let actor = (u.id.as_str(), "User", u.login.as_str(), u.name.as_str());
        let none = "[]".to_owned();
        let t = p.t;
        match p.kind {
            Kind::Policy => render(
                &mut out,
                &mut rng,
                t,
                "policy.evaluate_sign_on",
                "INFO",
                "Evaluation of sign-on policy",
                actor,
                ("ALLOW", Some("Sign-on policy evaluation resulted in ALLOW")),
                &none,
                &home,
                "/idp/idx/identify",
                &session,
            ),
            Kind::Mfa => render(
                &mut out,
                &mut rng,
                t,
                "user.authentication.auth_via_mfa",
                "INFO",
                "Authentication of user via MFA",
                actor,
                ("SUCCESS", None),
                &none,
                &home,
                "/idp/idx/authenticators/poll",
                &session,
            ),
            Kind::MfaDeny => render(
                &mut out,
                &mut rng,
                t,
                "user.mfa.okta_verify.deny_push",
                "WARN",
                "User rejected Okta push verify",
                actor,
                ("FAILURE", Some("User rejected Okta push verify")),
                &none,
                &home,
                "/idp/idx/authenticators/poll",
                &session,
            ),
            Kind::SignIn => render(
                &mut out,
                &mut rng,
                t,
                "user.session.start",
                "INFO",
                "User login to Okta",
                actor,
                ("SUCCESS", None),
                &none,
                &home,
                "/idp/idx/identify",
                &session,
            ),
            Kind::SignInFail => render(
                &mut out,
                &mut rng,
                t,
                "user.session.start",
                "WARN",
                "User login to Okta",
                actor,
                ("FAILURE", Some("INVALID_CREDENTIALS")),
                &none,
                &home,
                "/idp/idx/identify",
                "unknown",
            ),
            Kind::SignOut => render(
                &mut out,
                &mut rng,
                t,
                "user.session.end",
                "INFO",
                "User logout from Okta",
                actor,
                ("SUCCESS", None),
                &none,
                &home,
                "/login/signout",
                &session,
            ),
            Kind::Sso(app) => {
                let (id, name) = APPS[app];
                let targets = format!(
                    r#"[{{"id":"{id}","type":"AppInstance","alternateId":"{name}","displayName":"{name}","detailEntry":{{"signOnModeType":"SAML_2_0"}}}}]"#
                );
                render(
                    &mut out,
                    &mut rng,
                    t,
                    "user.authentication.sso",
                    "INFO",
                    "User single sign on to app",
                    actor,
                    ("SUCCESS", None),
                    &targets,
                    &home,
                    "/app/sso/saml",
                    &session,
                )
            }
            Kind::Unknown(k) => {
                let typed = format!("someone{k}@example.org");
                render(
                    &mut out,
                    &mut rng,
                    t,
                    "user.session.start",
                    "WARN",
                    "User login to Okta",
                    ("unknown", "User", &typed, "unknown"),
                    ("FAILURE", Some("VERIFICATION_ERROR")),
                    &none,
                    &home,
                    "/idp/idx/identify",
                    "unknown",
                )
            }
            Kind::ProfileUpdate(other) => {
                let o = &users[other];
                let targets = format!(
                    r#"[{{"id":"{}","type":"User","alternateId":"{}","displayName":"{}","detailEntry":null}}]"#,
                    o.id, o.login, o.name
                );
                render(
                    &mut out,
                    &mut rng,
                    t,
                    "user.account.update_profile",
                    "INFO",
                    "Update user profile for Okta",
                    actor,
                    ("SUCCESS", None),
                    &targets,
                    &home,
                    "/api/v1/users",
                    &session,
                )
            }
            Kind::Attack(a) => {
                let ip = format!("188.166.{}.{}", a / 250 % 250, 1 + a % 250);
                let away = Where {
                    ip: &ip,
                    city: &ATTACKER_CITY,
                    network: attacker_net,
                    client: tool,
                    dt_hash: "0000",
                    proxy: false,
                    behaviors: UNUSUAL,
                };
                render(
                    &mut out,
                    &mut rng,
                    t,
                    "user.session.start",
                    "WARN",
                    "User login to Okta",
                    actor,
                    ("FAILURE", Some("INVALID_CREDENTIALS")),
                    &none,
                    &away,
                    "/api/v1/authn",
                    "unknown",
                )
            }
        }
    }
    out.into_bytes()
}

// ------------------------------------------------------------------ measurements

fn parse_only(bytes: &[u8]) -> usize {
    let mut n = 0;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("generated lines are JSON");
        n += usize::from(v.is_object());
    }
    n
}

/// The CLI's replay of JSON Lines held in memory: reading and parsing on one
/// thread, reorder buffer and `Replay` on the other, as `okta-itdr replay` does.
fn replay(bytes: &[u8]) -> (usize, usize) {
    let normalizer = Normalizer::new(UsernameHasher::new(KEY).expect("key"));
    let replay = Replay::new(normalizer, DetectConfig::default(), MemoryStore::new());
    let mut pipeline = Pipeline::new(replay, 6 * HOUR);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    replay_cmd::with_read_ahead(RecordReader::from_bytes(bytes), |records| {
        runtime.block_on(async {
            let mut alerts = Vec::new();
            let mut count = 0;
            for record in records {
                let event = record.result.expect("generated lines are events");
                pipeline.push(event, &mut alerts).await.expect("replay");
                count += alerts.len();
                alerts.clear();
            }
            pipeline.finish(&mut alerts).await.expect("replay");
            (pipeline.replay().stats().events, count + alerts.len())
        })
    })
}

/// The reader alone: lines to validated LogEvents.
fn parse_events(bytes: &[u8]) -> usize {
    RecordReader::from_bytes(bytes)
        .filter(|r| r.result.is_ok())
        .count()
}

/// Reader, normalisation and store, without the detector (evicting like the replay).
fn ingest_only(bytes: &[u8]) -> usize {
    let normalizer = Normalizer::new(UsernameHasher::new(KEY).expect("key"));
    let store = std::sync::Arc::new(MemoryStore::new());
    let ingestor = Ingestor::new(
        normalizer,
        store.clone(),
        IngestSettings { retention_days: 30 },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut hour = None;
        let mut n = 0;
        for record in RecordReader::from_bytes(bytes) {
            let event = record.result.expect("generated lines are events");
            let h = Hour::of(event.published);
            if hour != Some(h) {
                store.evict_before(h.start() - 40 * HOUR);
                hour = Some(h);
            }
            ingestor
                .ingest(&event, event.published)
                .await
                .expect("ingest");
            n += 1;
        }
        n
    })
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")
                    .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// In a child process: `okta-itdr replay --format json FILE` (output discarded),
/// then the figures on stdout.
fn child(path: &str) {
    let args = ReplayArgs {
        format: Some(Format::Json),
        strict: false,
        config: None,
        timeline: None,
        all_findings: false,
        hash_key_env: "OKTA_ITDR_BENCH_UNSET_KEY".into(),
        rules: None,
        reorder_window_hours: 6,
        okta: None,
        since: None,
        until: None,
        no_enrich: false,
        learn_days: 0,
        learn_until: None,
        state: None,
        okta_options: OktaArgs::default(),
        paths: vec![PathBuf::from(path)],
    };
    let start = Instant::now();
    let (mut out, mut err) = (std::io::sink(), std::io::sink());
    let summary = replay_cmd::run(
        &args,
        Io {
            out: &mut out,
            err: &mut err,
            stdout_terminal: false,
            stderr_terminal: false,
        },
    )
    .expect("replay");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "events={} alerts={} secs={secs:.3} hwm_kib={}",
        summary.replay.events,
        summary.alerts_total(),
        vm_hwm_kib()
    );
}

fn measure_child(path: &Path) -> String {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD_VAR, path)
        .output()
        .expect("running the child");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn main() {
    if let Ok(path) = std::env::var(CHILD_VAR) {
        child(&path);
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    if let Ok(path) = std::env::var(WRITE_VAR) {
        let n = std::env::var("OKTA_ITDR_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500_000);
        std::fs::write(&path, generate(n)).expect("writing the log");
        return;
    }
    let n = if full { 500_000 } else { 5_000 };

    let start = Instant::now();
    let bytes = generate(n);
    println!(
        "generated {n} LogEvents, {:.0} MiB of JSON Lines, {USERS} users, in {:.1?}",
        bytes.len() as f64 / 1048576.0,
        start.elapsed()
    );

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let (parse_time, parsed) = timed(|| parse_only(&bytes));
    assert_eq!(parsed, n);
    let (replay_time, (events, alerts)) = timed(|| replay(&bytes));
    assert_eq!(events, n);
    println!(
        "(a) parse only, serde_json::Value:   {:>8.0} events/s  ({parse_time:.2?})",
        rate(parse_time)
    );
    println!("(b) replay, as okta-itdr replay:     {:>8.0} events/s  ({replay_time:.2?}, {alerts} alerts)", rate(replay_time));
    println!(
        "    replay / parse only:             {:>8.2}x",
        rate(replay_time) / rate(parse_time)
    );
    let (reader_time, read) = timed(|| parse_events(&bytes));
    assert_eq!(read, n);
    let (ingest_time, ingested) = timed(|| ingest_only(&bytes));
    assert_eq!(ingested, n);
    println!("    where the time goes (one thread each):");
    println!(
        "      reader (lines to LogEvents):     {:>8.0} events/s  ({reader_time:.2?})",
        rate(reader_time)
    );
    println!(
        "      + normalise and store:           {:>8.0} events/s  ({ingest_time:.2?})",
        rate(ingest_time)
    );

    // Peak memory of the CLI path over half of the log and over all of it.
    let dir = std::env::temp_dir().join(format!("okta-itdr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cut = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(n / 2 - 1)
        .map_or(bytes.len(), |(i, _)| i + 1);
    for (name, part) in [("half.jsonl", &bytes[..cut]), ("all.jsonl", &bytes[..])] {
        std::fs::File::create(dir.join(name))
            .and_then(|mut f| f.write_all(part))
            .expect("writing the log");
    }
    drop(bytes);
    for name in ["half.jsonl", "all.jsonl"] {
        let line = measure_child(&dir.join(name));
        let (events, secs, hwm) = (
            field(&line, "events"),
            field(&line, "secs"),
            field(&line, "hwm_kib"),
        );
        println!(
            "okta-itdr replay {name:<10} {events:>8.0} events: {:>8.0} events/s, peak RSS {:>6.1} MiB  ({line})",
            events / secs.max(1e-9),
            hwm / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
