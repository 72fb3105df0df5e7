//! A late event that completes a chain: the help-desk reset of a take-over
//! reaches the pipeline hours after the enrolment and the Admin Console access
//! it enabled (recovered, gap-filled). When its hour is analysed again, the
//! take-over is named, judged against what the baselines knew before each
//! step, not what the hours since taught them. A late benign reset does not
//! page.

use okta_itdr_core::alert::Alert;
use okta_itdr_core::detect::{DetectConfig, Severity};
use okta_itdr_core::time::{Hour, Millis, DAY, HOUR, MINUTE};
use okta_itdr_testkit::{at, Deployment, Ev};
use serde_json::{json, Value};

/// The day of the events; the users have two weeks of history before it.
const DAY0: &str = "2026-11-20T00:00:00Z";

/// Two weeks of each user signing in from home on their laptop, and the help
/// desk at the office, analysed hour by hour.
async fn with_history(users: &[&str]) -> Deployment {
    let start = Hour::of(at(DAY0) - 14 * DAY);
    let org = Deployment::starting_at(DetectConfig::default(), start).await;
    for d in 0..14 {
        let morning = at(DAY0) - (14 - d) * DAY + 9 * HOUR;
        for (k, u) in users.iter().enumerate() {
            org.ingest_on_time(&home(u, sign_in(u), morning + k as i64 * MINUTE))
                .await;
        }
        org.ingest_on_time(&office(sign_in("helpdesk"), morning + 30 * MINUTE))
            .await;
    }
    org.run_until(at(DAY0)).await;
    org
}

fn sign_in(_u: &str) -> Ev {
    Ev::new("user.session.start")
}

fn as_user(ev: Ev, u: &str) -> Ev {
    ev.user(&format!("00u{u}"), &format!("{u}@acme.com"))
}

/// At home, on the user's own laptop.
fn home(u: &str, ev: Ev, t: Millis) -> Ev {
    as_user(ev, u)
        .at_ms(t)
        .from(
            "73.92.10.5",
            "San Francisco",
            "United States",
            37.77,
            -122.42,
            7922,
            "comcast",
        )
        .debug("dtHash", json!(format!("dt-{u}-laptop")))
}

fn office(ev: Ev, t: Millis) -> Ev {
    as_user(ev, "helpdesk")
        .at_ms(t)
        .from(
            "198.51.100.20",
            "Chicago",
            "United States",
            41.88,
            -87.63,
            64500,
            "acme corp",
        )
        .debug("dtHash", json!("dt-helpdesk"))
}

/// The attacker's network and machine.
fn stranger(ev: Ev, u: &str, t: Millis) -> Ev {
    as_user(ev, u)
        .at_ms(t)
        .from(
            "212.102.57.33",
            "Amsterdam",
            "Netherlands",
            52.37,
            4.90,
            60068,
            "datacamp limited",
        )
        .user_agent(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            "Windows 10",
            "FIREFOX",
        )
        .debug("dtHash", json!("dt-stranger"))
}

fn reset(u: &str, t: Millis) -> Ev {
    office(Ev::new("user.mfa.factor.reset_all"), t).target(
        "User",
        &format!("00u{u}"),
        &format!("{u}@acme.com"),
        u,
    )
}

fn enrolment(ev: Ev) -> Ev {
    ev.debug("factor", json!("OKTA_VERIFY_PUSH"))
}

fn console() -> Ev {
    Ev::new("user.session.access_admin_app").target(
        "AppInstance",
        "0oaadmin",
        "Okta Admin Console",
        "Okta Admin Console",
    )
}

fn body(a: &Alert) -> Value {
    serde_json::from_str(&a.body).unwrap()
}

/// The detections an alert names: its analytic and its related analytics.
fn named(a: &Alert) -> Vec<String> {
    let b = body(a);
    let info = &b["finding_info"];
    std::iter::once(&info["analytic"])
        .chain(info["related_analytics"].as_array().into_iter().flatten())
        .filter_map(|x| x["uid"].as_str().map(str::to_owned))
        .collect()
}

fn names(alerts: &[Alert]) -> Vec<(String, Severity, Vec<String>)> {
    alerts
        .iter()
        .map(|a| (a.principal.clone(), a.severity, named(a)))
        .collect()
}

#[tokio::test]
async fn a_late_reset_completes_the_take_over_it_enabled() {
    let org = with_history(&["admin"]).await;
    let day = at(DAY0);
    // 13:10 the help desk resets the admin's factors; the event is lost on
    // the way and recovered at 17:40. 13:25 the attacker enrols a factor,
    // 14:10 reaches the Admin Console, from their own network and machine.
    let reset_at = day + 13 * HOUR + 10 * MINUTE;
    org.ingest_on_time(&stranger(
        enrolment(Ev::new("user.mfa.factor.activate")),
        "admin",
        reset_at + 15 * MINUTE,
    ))
    .await;
    org.ingest_on_time(&stranger(console(), "admin", reset_at + 60 * MINUTE))
        .await;
    let before = org.run_until(day + 17 * HOUR).await;
    assert!(
        !names(&before).iter().any(|(_, _, n)| n
            .iter()
            .any(|d| d == "mfa_reset_then_admin_access"
                || d == "factor_enrolled_after_reset_new_network")),
        "without the reset there is no chain yet: {:?}",
        names(&before)
    );

    org.ingest_at(&reset("admin", reset_at), day + 17 * HOUR + 40 * MINUTE)
        .await;
    let report = org
        .detector
        .run(day + 18 * HOUR + 5 * MINUTE)
        .await
        .unwrap();
    assert!(
        report.late_hours.contains(&Hour::of(reset_at).label()),
        "{report:?}"
    );
    let after = org.sink.drain();
    let takeover: Vec<_> = names(&after)
        .into_iter()
        .filter(|(p, _, n)| {
            p == "admin@acme.com"
                && n.iter().any(|d| d == "mfa_reset_then_admin_access")
                && n.iter()
                    .any(|d| d == "factor_enrolled_after_reset_new_network")
        })
        .collect();
    assert!(
        takeover.iter().any(|(_, s, _)| *s == Severity::Critical),
        "the late reset names the take-over, critical: {:?}",
        names(&after)
    );
    // Judged as it stood then: the attacker's machine was not the admin's
    // usual one, although the hours since learned it.
    let lead = after
        .iter()
        .find(|a| named(a).iter().any(|d| d == "mfa_reset_then_admin_access"))
        .unwrap();
    assert!(
        !lead.body.contains("usual device and network"),
        "{}",
        lead.body
    );
    let enrolment = org
        .store
        .findings()
        .into_iter()
        .find(|f| f.detection == "factor_enrolled_after_reset_new_network")
        .expect("the enrolment after the reset is a finding");
    let facts = &body(&enrolment.alert)["unmapped"];
    assert_eq!(facts["new_device"], true, "{facts}");
}

#[tokio::test]
async fn a_late_help_desk_reset_for_a_new_phone_pages_no_one() {
    let org = with_history(&["bob"]).await;
    let day = at(DAY0);
    // Bob lost his phone: the help desk resets him at 10:05, he enrols the new
    // phone from home on his laptop at 10:20 and signs in at 11:30. The reset
    // arrives at 15:40, as late as the take-over's.
    let reset_at = day + 10 * HOUR + 5 * MINUTE;
    org.ingest_on_time(&home(
        "bob",
        enrolment(Ev::new("user.mfa.factor.activate")),
        reset_at + 15 * MINUTE,
    ))
    .await;
    org.ingest_on_time(&home("bob", sign_in("bob"), reset_at + 85 * MINUTE))
        .await;
    let before = org.run_until(day + 15 * HOUR).await;
    org.ingest_at(&reset("bob", reset_at), day + 15 * HOUR + 40 * MINUTE)
        .await;
    let report = org
        .detector
        .run(day + 16 * HOUR + 5 * MINUTE)
        .await
        .unwrap();
    assert!(report.late_hours.contains(&Hour::of(reset_at).label()));
    let after = org.sink.drain();
    assert!(
        before.is_empty() && after.is_empty(),
        "{:?} {:?}",
        names(&before),
        names(&after)
    );
    // The reset is kept: it adds risk, it pages no one.
    assert!(org
        .store
        .findings()
        .iter()
        .any(|f| f.detection == "mfa_factor_reset"));
}
