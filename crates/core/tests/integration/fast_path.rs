//! The ingest fast path against the hourly run, on the in-memory store: what
//! pages alone from one event is published when it is stored, the hourly run
//! never publishes it again, a failed fast publish is delivered by the next
//! hourly run once, repeats fold, and a later step that raises the incident's
//! severity is published as a follow-up naming the first alert.

use serde_json::json;

use okta_itdr_core::alert::Status;
use okta_itdr_core::detect::{DetectConfig, Severity};
use okta_itdr_core::time::Hour;
use okta_itdr_testkit::{at, Deployment, Ev};

fn grant(role: &str, when: &str) -> Ev {
    Ev::new("user.account.privilege.grant")
        .user("00ufrank", "frank@acme.com")
        .target("User", "00uerin", "erin@acme.com", "Erin Example")
        .debug("privilegeGranted", json!(role))
        .at(when)
}

fn reset(when: &str) -> Ev {
    Ev::new("user.mfa.factor.reset_all")
        .user("00uhelp", "helpdesk@acme.com")
        .target("User", "00uerin", "erin@acme.com", "Erin Example")
        .at(when)
}

#[tokio::test]
async fn a_super_admin_grant_pages_at_ingest_and_the_hourly_run_never_again() {
    let org = Deployment::starting("2026-03-02T10:00:00Z").await;
    let report = org
        .ingest_with_fast_path(&grant("Super administrator", "2026-03-02T10:20:00Z"))
        .await;
    assert_eq!((report.matched, report.published), (1, 1), "{report:?}");
    let alerts = org.sink.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].severity, Severity::Critical);
    assert_eq!(alerts[0].uid, report.uids[0]);

    let run = org.detector.run(at("2026-03-02T11:05:00Z")).await.unwrap();
    assert_eq!(run.published, 0, "{run:?}");
    assert_eq!(run.already_known, 1, "{run:?}");
    assert_eq!(org.sink.alerts().len(), 1, "{:?}", org.subjects());
}

#[tokio::test]
async fn an_event_that_matches_nothing_touches_no_state() {
    let org = Deployment::starting("2026-03-02T10:00:00Z").await;
    let sign_in = Ev::new("user.session.start")
        .user("00ubob", "bob@acme.com")
        .at("2026-03-02T10:01:00Z");
    // Medium: a policy change that did not remove MFA waits for the hour.
    let policy = Ev::new("policy.lifecycle.update")
        .user("00ufrank", "frank@acme.com")
        .target("PolicyEntity", "00p1", "Default", "Default")
        .at("2026-03-02T10:02:00Z");
    for ev in [sign_in, policy] {
        let report = org.ingest_with_fast_path(&ev).await;
        assert_eq!(report.matched, 0, "{report:?}");
    }
    assert!(org.store.findings().is_empty());
    assert!(org.sink.alerts().is_empty());
}

#[tokio::test]
async fn a_failed_fast_publish_is_delivered_once_by_the_next_hourly_run() {
    let org = Deployment::starting("2026-03-02T10:00:00Z").await;
    org.sink.fail_next(1);
    let report = org
        .ingest_with_fast_path(&grant("Super administrator", "2026-03-02T10:50:00Z"))
        .await;
    assert_eq!((report.published, report.failed), (0, 1), "{report:?}");
    let stored = org.store.findings();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, Status::Pending);

    // The very next run, 15 minutes later, not the one after it.
    let run = org.detector.run(at("2026-03-02T11:05:00Z")).await.unwrap();
    assert_eq!(run.retried, 1, "{run:?}");
    let run = org.detector.run(at("2026-03-02T12:05:00Z")).await.unwrap();
    assert_eq!((run.published, run.retried), (0, 0), "{run:?}");
    let alerts = org.sink.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].uid, stored[0].uid);
}

#[tokio::test]
async fn a_redelivered_event_pages_once() {
    let org = Deployment::starting("2026-03-02T10:00:00Z").await;
    let ev = grant("Super administrator", "2026-03-02T10:20:00Z");
    assert_eq!(org.ingest_with_fast_path(&ev).await.published, 1);
    let again = org.ingest_with_fast_path(&ev).await;
    assert_eq!((again.published, again.already_known), (0, 1), "{again:?}");
    assert_eq!(org.sink.alerts().len(), 1);
}

#[tokio::test]
async fn a_repeat_folds_into_the_delivered_alert_and_an_escalation_does_not() {
    let org = Deployment::starting("2026-03-02T10:00:00Z").await;
    let first = org
        .ingest_with_fast_path(&grant("Organization administrator", "2026-03-02T10:20:00Z"))
        .await;
    assert_eq!(first.published, 1);
    // The same detection for the same principal, as severe: a repeat.
    let repeat = org
        .ingest_with_fast_path(&grant("Application administrator", "2026-03-02T10:40:00Z"))
        .await;
    assert_eq!((repeat.published, repeat.suppressed), (0, 1), "{repeat:?}");
    // Super administrator is more than was delivered: sent.
    let escalation = org
        .ingest_with_fast_path(&grant("Super administrator", "2026-03-02T10:45:00Z"))
        .await;
    assert_eq!(escalation.published, 1, "{escalation:?}");
    assert_eq!(org.sink.alerts().len(), 2, "{:?}", org.subjects());
}

/// Attack: reset an admin's factors, then grant the account Super
/// administrator within the hour. The fast path sees only the grant and
/// publishes it at high for an org role; the hourly run sees the whole chain
/// (a takeover signal and a privileged action), which is critical: the
/// escalation pages as a follow-up naming the first alert, rather than being
/// swallowed because the grant was already delivered.
#[tokio::test]
async fn the_hourly_run_publishes_a_chain_that_raises_a_fast_alert_as_a_follow_up() {
    let org = Deployment::starting("2026-03-02T10:00:00Z").await;
    org.ingest_with_fast_path(&reset("2026-03-02T10:10:00Z"))
        .await;
    let fast = org
        .ingest_with_fast_path(&grant("Organization administrator", "2026-03-02T10:30:00Z"))
        .await;
    assert_eq!(fast.published, 1, "{fast:?}");
    let first = org.sink.alerts()[0].clone();
    assert_eq!(first.severity, Severity::High);

    let run = org.detector.run(at("2026-03-02T11:05:00Z")).await.unwrap();
    let alerts = org.sink.alerts();
    assert_eq!(alerts.len(), 2, "{run:?} {:?}", org.subjects());
    let follow_up = &alerts[1];
    assert_eq!(follow_up.severity, Severity::Critical);
    assert_ne!(follow_up.uid, first.uid);
    assert!(
        follow_up.body.contains(&first.uid),
        "names the first alert: {}",
        follow_up.body
    );

    // Analysed again (a late event for the hour): nothing new.
    let late = Ev::new("user.session.start")
        .user("00ubob", "bob@acme.com")
        .at("2026-03-02T10:50:00Z");
    org.ingest_at(&late, at("2026-03-02T11:30:00Z")).await;
    let rerun = org.detector.run(at("2026-03-02T12:05:00Z")).await.unwrap();
    assert_eq!(rerun.late_hours.len(), 1, "{rerun:?}");
    assert_eq!(org.sink.alerts().len(), 2, "{:?}", org.subjects());
}

/// The same, when the hourly run's lead is the fast alert itself: a stolen
/// refresh token (configured here to add risk rather than page) used shortly
/// before the account is granted an admin role. The grant was delivered at
/// high; the chain makes it critical, published as a follow-up of it.
#[tokio::test]
async fn a_fast_alert_the_chain_makes_critical_is_followed_up() {
    let mut config = DetectConfig::default();
    config.risk_weights.insert("refresh_token_reuse".into(), 40);
    let org = Deployment::starting_at(config, Hour::of(at("2026-03-02T10:00:00Z"))).await;
    let reuse = Ev::new("app.oauth2.as.token.detect_reuse")
        .user("00uerin", "erin@acme.com")
        .at("2026-03-02T10:05:00Z");
    assert_eq!(org.ingest_with_fast_path(&reuse).await.matched, 0);
    let fast = org
        .ingest_with_fast_path(&grant("Organization administrator", "2026-03-02T10:30:00Z"))
        .await;
    assert_eq!(fast.published, 1, "{fast:?}");
    let first = org.sink.alerts()[0].clone();

    org.detector.run(at("2026-03-02T11:05:00Z")).await.unwrap();
    let alerts = org.sink.alerts();
    assert_eq!(alerts.len(), 2, "{:?}", org.subjects());
    let follow_up = &alerts[1];
    assert_eq!(
        (follow_up.severity, follow_up.detection.as_str()),
        (Severity::Critical, "admin_role_granted")
    );
    assert!(
        follow_up.subject.contains("escalated"),
        "{}",
        follow_up.subject
    );
    assert!(follow_up
        .body
        .contains(&format!("\"follow_up_of\":\"{}\"", first.uid)));
    assert!(follow_up.body.contains("refresh_token_reuse"));

    // Look-alike: the same grant with nothing before it stays one alert.
    let calm = Deployment::starting("2026-03-02T10:00:00Z").await;
    calm.ingest_with_fast_path(&grant("Organization administrator", "2026-03-02T10:30:00Z"))
        .await;
    calm.detector.run(at("2026-03-02T11:05:00Z")).await.unwrap();
    assert_eq!(calm.sink.alerts().len(), 1, "{:?}", calm.subjects());
}

/// Without the fast path the same chain is one critical alert at the hour:
/// the follow-up is the fast path's price, not a second page for hourly users.
#[tokio::test]
async fn without_the_fast_path_the_chain_is_one_alert() {
    let org = Deployment::starting("2026-03-02T10:00:00Z").await;
    for ev in [
        reset("2026-03-02T10:10:00Z"),
        grant("Organization administrator", "2026-03-02T10:30:00Z"),
    ] {
        // Stored without the fast path: the hourly run alone.
        org.ingest_on_time(&ev).await;
    }
    org.detector.run(at("2026-03-02T11:05:00Z")).await.unwrap();
    let alerts = org.sink.alerts();
    assert_eq!(alerts.len(), 1, "{:?}", org.subjects());
    assert_eq!(alerts[0].severity, Severity::Critical);
}
