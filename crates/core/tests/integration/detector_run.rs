//! The scheduled run's guarantees: every complete hour analysed once, in order,
//! bounded per run; late events re-checked; findings published exactly once;
//! repeats suppressed; a failed publish retried, never lost.

use okta_itdr_core::alert::Status;
use okta_itdr_core::detect::run::RunReport;
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ports::{StateStore, Watermark};
use okta_itdr_core::time::{Hour, Millis, HOUR, MINUTE};
use okta_itdr_testkit::{at, Deployment, Ev};

/// A single-event finding per token creation, for a given admin.
fn token_created(admin: &str, when: &str) -> Ev {
    Ev::new("system.api_token.create")
        .user(&format!("00u{admin}"), &format!("{admin}@acme.com"))
        .target(
            "Token",
            &format!("00T{admin}{}", when.len()),
            "ci-token",
            "ci-token",
        )
        .at(when)
}

fn scheduled(hour_text: &str) -> Millis {
    at(hour_text) + 5 * MINUTE
}

#[tokio::test]
async fn first_run_covers_the_previous_24_complete_hours() {
    let org = Deployment::new(DetectConfig::default());
    org.ingest_on_time(&token_created("old", "2026-11-09T09:30:00Z"))
        .await; // 24.5 h before the first run's window ends
    org.ingest_on_time(&token_created("recent", "2026-11-10T08:30:00Z"))
        .await;
    org.ingest_on_time(&token_created("current", "2026-11-10T10:01:00Z"))
        .await; // in the hour still in progress
    let report = org
        .detector
        .run(scheduled("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(report.hours.len(), 12, "bounded by max_hours_per_run");
    assert!(!report.caught_up);
    let report2 = org
        .detector
        .run(scheduled("2026-11-10T10:00:00Z") + 60_000)
        .await
        .unwrap();
    assert_eq!(report2.hours.len(), 12);
    assert!(report2.caught_up);
    assert_eq!(report.hours[0], "2026-11-09T10");
    assert_eq!(report2.hours.last().unwrap(), "2026-11-10T09");
    let principals: Vec<String> = org
        .sink
        .alerts()
        .iter()
        .map(|a| a.principal.clone())
        .collect();
    assert_eq!(principals, vec!["recent@acme.com".to_string()]);
}

#[tokio::test]
async fn hours_are_analysed_once_in_order_and_a_repeated_run_publishes_nothing() {
    let org = Deployment::starting_at(
        DetectConfig::default(),
        Hour::of(at("2026-11-10T08:00:00Z")),
    )
    .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    org.ingest_on_time(&token_created("b", "2026-11-10T09:10:00Z"))
        .await;
    org.detector
        .run(scheduled("2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(org.sink.drain().len(), 1);
    let r = org
        .detector
        .run(scheduled("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.hours, vec!["2026-11-10T09".to_string()]);
    assert_eq!(org.sink.drain().len(), 1);
    let again = org
        .detector
        .run(scheduled("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    assert!(again.hours.is_empty() && again.published == 0);
    assert!(org.sink.drain().is_empty());
}

#[tokio::test]
async fn re_analysing_hours_finds_the_same_uids_and_publishes_nothing_twice() {
    let org = Deployment::starting_at(
        DetectConfig::default(),
        Hour::of(at("2026-11-10T08:00:00Z")),
    )
    .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    org.detector
        .run(scheduled("2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(org.sink.drain().len(), 1);
    // Wind the watermark back as a restore from backup would.
    let wm = org.store.load_watermark().await.unwrap().unwrap();
    let back = Watermark {
        next_hour: Hour(wm.next_hour.0 - 3),
        ..wm
    };
    org.store.save_watermark(&back, Some(&wm)).await.unwrap();
    let r = org
        .detector
        .run(scheduled("2026-11-10T09:00:00Z") + MINUTE)
        .await
        .unwrap();
    assert_eq!(r.hours.len(), 3);
    assert_eq!((r.findings, r.already_known, r.published), (1, 1, 0));
    assert!(org.sink.drain().is_empty());
}

#[tokio::test]
async fn repeats_within_the_suppression_period_update_the_delivered_alert() {
    let org = Deployment::starting_at(
        DetectConfig::default(),
        Hour::of(at("2026-11-10T08:00:00Z")),
    )
    .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:40:00Z"))
        .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T20:40:00Z"))
        .await;
    org.ingest_on_time(&token_created("a", "2026-11-11T21:00:00Z"))
        .await; // beyond 24 h of the last delivered
    for h in [
        "2026-11-10T09:00:00Z",
        "2026-11-10T21:00:00Z",
        "2026-11-11T09:00:00Z",
        "2026-11-11T21:00:00Z",
        "2026-11-11T22:00:00Z",
    ] {
        org.detector.run(scheduled(h)).await.unwrap();
    }
    let alerts = org.sink.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let findings = org.store.findings();
    let delivered: Vec<_> = findings
        .iter()
        .filter(|f| f.status == Status::Delivered)
        .collect();
    let suppressed: Vec<_> = findings
        .iter()
        .filter(|f| f.status == Status::Suppressed)
        .collect();
    // The two tokens of one hour are one incident: one alert listing both
    // events; the one at 20:40 is a repeat folded into it.
    let grouped: Vec<_> = findings
        .iter()
        .filter(|f| f.status == Status::Contributed)
        .collect();
    assert_eq!(
        (delivered.len(), suppressed.len(), grouped.len()),
        (2, 1, 1)
    );
    let first = delivered.iter().min_by_key(|f| f.first_seen).unwrap();
    assert_eq!(first.repeats, 1);
    assert_eq!(first.last_seen, at("2026-11-10T20:40:00Z"));
    let body: serde_json::Value = serde_json::from_str(&first.alert.body).unwrap();
    assert_eq!(body["finding_info"]["related_events_count"], 2);
    // Repeats are folded into the alert; findings listed in it are grouped,
    // each recorded as what it is.
    assert!(suppressed.iter().all(
        |s| s.suppressed_by.as_deref() == Some(first.uid.as_str()) && s.grouped_into.is_none()
    ));
    assert!(grouped.iter().all(
        |s| s.grouped_into.as_deref() == Some(first.uid.as_str()) && s.suppressed_by.is_none()
    ));
}

#[tokio::test]
async fn a_failed_publish_does_not_hold_the_watermark_and_is_delivered_next_run_once() {
    let org = Deployment::starting_at(
        DetectConfig::default(),
        Hour::of(at("2026-11-10T08:00:00Z")),
    )
    .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    org.ingest_on_time(&token_created("b", "2026-11-10T08:20:00Z"))
        .await;
    org.sink.fail_next(1);
    let first = org
        .detector
        .run(scheduled("2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!((first.failed, first.pending, first.published), (1, 1, 1));
    assert_eq!(
        org.store.load_watermark().await.unwrap().unwrap().next_hour,
        Hour::of(at("2026-11-10T09:00:00Z")),
        "the watermark moved past the hour"
    );
    assert_eq!(org.sink.alerts().len(), 1);
    // Not due a minute later: the retry waits for the next scheduled run.
    let early = org
        .detector
        .run(scheduled("2026-11-10T09:00:00Z") + MINUTE)
        .await
        .unwrap();
    assert_eq!((early.retried, early.pending), (0, 1));
    let retry = org
        .detector
        .run(scheduled("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(retry.retried, 1);
    assert_eq!(
        retry.published, 0,
        "the other finding was already delivered"
    );
    let mut principals: Vec<String> = org
        .sink
        .alerts()
        .iter()
        .map(|a| a.principal.clone())
        .collect();
    principals.sort();
    assert_eq!(
        principals,
        vec!["a@acme.com".to_string(), "b@acme.com".to_string()]
    );
    assert!(org
        .store
        .findings()
        .iter()
        .all(|f| f.status == Status::Delivered));
    org.detector
        .run(scheduled("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(org.sink.alerts().len(), 2);
}

#[tokio::test]
async fn an_event_delivered_hours_late_is_still_analysed() {
    let org = Deployment::starting_at(
        DetectConfig::default(),
        Hour::of(at("2026-11-10T06:00:00Z")),
    )
    .await;
    org.ingest_on_time(&token_created("ontime", "2026-11-10T06:10:00Z"))
        .await;
    for h in [
        "2026-11-10T07:00:00Z",
        "2026-11-10T08:00:00Z",
        "2026-11-10T09:00:00Z",
    ] {
        org.detector.run(scheduled(h)).await.unwrap();
    }
    assert_eq!(org.sink.drain().len(), 1);
    // Happened at 06:30, delivered at 09:40, after hour 06 was analysed.
    org.ingest_at(
        &token_created("late", "2026-11-10T06:30:00Z"),
        at("2026-11-10T09:40:00Z"),
    )
    .await;
    let r = org
        .detector
        .run(scheduled("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.late_hours, vec!["2026-11-10T06".to_string()]);
    assert_eq!(r.hours, vec!["2026-11-10T09".to_string()]);
    let alerts = org.sink.drain();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].principal, "late@acme.com");
    let r = org
        .detector
        .run(scheduled("2026-11-10T11:00:00Z"))
        .await
        .unwrap();
    assert!(
        r.late_hours.is_empty(),
        "a late hour is re-checked once: {r:?}"
    );
}

/// An org whose detector has run every hour from 2026-11-09T02:05 to 2026-11-10T06:05,
/// then receives an event of 2026-11-09T03:30 (27 hours late) at 06:20.
async fn event_27_hours_late(config: DetectConfig) -> (Deployment, RunReport) {
    let org = Deployment::starting_at(config, Hour::of(at("2026-11-09T01:00:00Z"))).await;
    let mut t = at("2026-11-09T01:00:00Z");
    while t < at("2026-11-10T06:00:00Z") {
        t += HOUR;
        org.detector.run(t + 5 * MINUTE).await.unwrap();
    }
    org.ingest_at(
        &token_created("ancient", "2026-11-09T03:30:00Z"),
        at("2026-11-10T06:20:00Z"),
    )
    .await;
    let r = org.detector.run(at("2026-11-10T07:05:00Z")).await.unwrap();
    (org, r)
}

#[tokio::test]
async fn late_events_beyond_the_horizon_are_not_rechecked() {
    let config = DetectConfig {
        late_horizon_hours: 24,
        ..DetectConfig::default()
    };
    let (org, r) = event_27_hours_late(config).await;
    assert!(r.late_hours.is_empty(), "{r:?}");
    assert_eq!(
        r.late_beyond_horizon,
        vec!["2026-11-09T03".to_string()],
        "the skipped hour is reported: {r:?}"
    );
    assert!(org.sink.alerts().is_empty());
    // Reported once: the next run has nothing new to say.
    let again = org.detector.run(at("2026-11-10T08:05:00Z")).await.unwrap();
    assert!(again.late_beyond_horizon.is_empty(), "{again:?}");
}

#[tokio::test]
async fn events_days_late_are_analysed_within_the_default_week() {
    assert_eq!(DetectConfig::default().late_horizon_hours, 7 * 24);
    let (org, r) = event_27_hours_late(DetectConfig::default()).await;
    assert_eq!(r.late_hours, vec!["2026-11-09T03".to_string()], "{r:?}");
    assert!(r.late_beyond_horizon.is_empty(), "{r:?}");
    let alerts = org.sink.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].principal, "ancient@acme.com");
}

#[tokio::test]
async fn a_disabled_detection_does_not_alert() {
    let org = Deployment::starting_at(
        DetectConfig::from_json(r#"{"disabled":["api_token_created"]}"#).unwrap(),
        Hour::of(at("2026-11-10T08:00:00Z")),
    )
    .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    let r = org
        .detector
        .run(scheduled("2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.findings, 0);
    assert!(org.sink.alerts().is_empty());
}

#[tokio::test]
async fn the_alert_is_an_ocsf_detection_finding() {
    let org = Deployment::starting_at(
        DetectConfig::default(),
        Hour::of(at("2026-11-10T08:00:00Z")),
    )
    .await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    org.detector
        .run(scheduled("2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    let alert = org.sink.alerts().pop().unwrap();
    let body: serde_json::Value = serde_json::from_str(&alert.body).unwrap();
    assert_eq!(body["class_uid"], 2004);
    assert_eq!(body["type_uid"], 200401);
    assert_eq!(body["finding_info"]["analytic"]["uid"], "api_token_created");
    assert_eq!(body["finding_info"]["uid"], alert.uid.as_str());
    assert_eq!(body["finding_info"]["related_events_count"], 1);
    assert_eq!(
        body["evidences"][0]["actor"]["user"]["email_addr"],
        "a@acme.com"
    );
    assert!(alert
        .subject
        .starts_with("[MEDIUM] API token created: a@acme.com"));
    assert!(alert.subject.len() <= 100);
}

#[tokio::test]
async fn an_escalation_is_not_suppressed_as_a_repeat() {
    let org = Deployment::starting_at(
        DetectConfig::default(),
        Hour::of(at("2026-11-10T09:00:00Z")),
    )
    .await;
    let bob = |ev: Ev| {
        ev.user("00ubob", "bob@acme.com").from(
            "185.220.101.47",
            "Berlin",
            "Germany",
            52.52,
            13.40,
            60729,
            "tor",
        )
    };
    let deny = |t: &str| {
        bob(Ev::new("user.mfa.okta_verify.deny_push"))
            .failure("User rejected Okta push verify")
            .at(t)
    };
    // Five denials at 09:55-09:59 fire in hour 09; the approval at 10:03 escalates in hour 10.
    for m in 55..60 {
        org.ingest_on_time(&deny(&format!("2026-11-10T09:{m}:00Z")))
            .await;
    }
    org.ingest_on_time(&deny("2026-11-10T10:01:00Z")).await;
    org.ingest_on_time(
        &bob(Ev::new("user.authentication.auth_via_mfa"))
            .debug("factor", serde_json::json!("OKTA_VERIFY_PUSH"))
            .at("2026-11-10T10:03:00Z"),
    )
    .await;
    org.detector
        .run(scheduled("2026-11-10T10:00:00Z"))
        .await
        .unwrap();
    org.detector
        .run(scheduled("2026-11-10T11:00:00Z"))
        .await
        .unwrap();
    let subjects: Vec<String> = org
        .sink
        .alerts()
        .iter()
        .map(|a| a.subject.clone())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:#?}");
    assert!(
        subjects[0].starts_with("[HIGH] MFA push bombing"),
        "{subjects:#?}"
    );
    assert!(subjects[1].starts_with("[CRITICAL]"), "{subjects:#?}");
}
