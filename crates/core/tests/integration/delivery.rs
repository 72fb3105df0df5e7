//! Detector progress under faults, on the in-memory store: a finding that cannot
//! be published never holds the watermark and is quarantined after its attempts;
//! a delivery is claimed once even by overlapping runs; a claim never confirmed
//! is quarantined, not resent; a run near its deadline stops between hours.

use std::time::{Duration, Instant};

use okta_itdr_core::alert::Status;
use okta_itdr_core::detect::run::{Budget, RunContext};
use okta_itdr_core::detect::DetectConfig;
use okta_itdr_core::ports::{Delivery, StateStore};
use okta_itdr_core::time::{Hour, Millis, HOUR, MINUTE};
use okta_itdr_testkit::{at, Deployment, Ev};

/// An API token created by `admin` at `when`: a finding of its own.
fn token_created(admin: &str, when: &str) -> Ev {
    Ev::new("system.api_token.create")
        .user(&format!("00u{admin}"), &format!("{admin}@acme.com"))
        .target("Token", &format!("00T{admin}{when}"), "ci", "ci")
        .at(when)
}

fn scheduled(hour: &str) -> Millis {
    at(hour) + 5 * MINUTE
}

#[tokio::test]
async fn a_finding_refused_forever_is_quarantined_and_never_holds_the_watermark() {
    let org = Deployment::starting("2026-11-10T08:00:00Z").await;
    org.ingest_on_time(&token_created("bad", "2026-11-10T08:10:00Z"))
        .await;
    org.ingest_on_time(&token_created("good", "2026-11-10T08:20:00Z"))
        .await;
    org.sink.refuse("bad@acme.com");
    let config = DetectConfig {
        max_delivery_attempts: 3,
        ..DetectConfig::default()
    };
    let detector = org.detector(config);

    // Attempts at 09:05, 10:05 (55 min later), then 12:05 (the delay doubled):
    // the run at 11:05 finds it not yet due.
    let mut reports = Vec::new();
    for h in 9..=12 {
        let now = scheduled(&format!("2026-11-10T{h:02}:00:00Z"));
        let later = now + 20 * MINUTE;
        org.ingest_on_time(&token_created(
            "good",
            &okta_itdr_core::time::format_rfc3339_ms(later),
        ))
        .await;
        reports.push(detector.run(now).await.unwrap());
        assert_eq!(org.next_hour().await, Hour::of(now), "watermark at {h}:05");
    }
    let failed: Vec<usize> = reports.iter().map(|r| r.failed).collect();
    assert_eq!(failed, [1, 1, 0, 1]);
    let pending: Vec<usize> = reports.iter().map(|r| r.pending).collect();
    assert_eq!(pending, [1, 1, 1, 0]);
    assert!(reports[..3].iter().all(|r| r.quarantined.is_empty()));
    assert_eq!(reports[3].quarantined.len(), 1);
    assert_eq!(org.statuses_of("bad@acme.com"), [Status::Quarantined]);
    let bad = org
        .store
        .findings()
        .into_iter()
        .find(|f| f.alert.principal == "bad@acme.com")
        .unwrap();
    assert_eq!(bad.attempts, 3);
    assert!(bad
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("failed 3 times")));
    assert!(org.store.pending_findings().await.unwrap().is_empty());
    // Every other finding went out, once.
    assert!(org
        .sink
        .alerts()
        .iter()
        .all(|a| a.principal == "good@acme.com"));
    assert!(!org.sink.alerts().is_empty());

    // A quarantined finding is not attempted again.
    let after = detector
        .run(scheduled("2026-11-10T13:00:00Z"))
        .await
        .unwrap();
    assert_eq!((after.failed, after.pending), (0, 0));
    assert!(after.quarantined.is_empty());
}

#[tokio::test]
async fn only_one_of_two_runs_claims_a_delivery() {
    let org = Deployment::starting("2026-11-10T08:00:00Z").await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    org.sink.fail_next(1);
    let detector = org.detector(DetectConfig::default());
    detector
        .run(scheduled("2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    let pending = org.store.pending_findings().await.unwrap()[0].clone();
    let now = scheduled("2026-11-10T10:00:00Z");
    assert_eq!(
        org.store
            .claim_delivery(&pending, "run-1", now)
            .await
            .unwrap(),
        Delivery::Claimed { attempts: 2 }
    );
    assert_eq!(
        org.store
            .claim_delivery(&pending, "run-2", now)
            .await
            .unwrap(),
        Delivery::Refused
    );
    // The run that comes after leaves a leased claim alone.
    let r = detector.run(now).await.unwrap();
    assert_eq!((r.retried, r.quarantined.len()), (0, 0));
    assert!(org.sink.alerts().is_empty());
}

#[tokio::test]
async fn a_claim_never_confirmed_is_quarantined_after_its_lease_not_resent() {
    let org = Deployment::starting("2026-11-10T08:00:00Z").await;
    org.ingest_on_time(&token_created("a", "2026-11-10T08:10:00Z"))
        .await;
    org.sink.fail_next(1);
    let detector = org.detector(DetectConfig::default());
    detector
        .run(scheduled("2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    let pending = org.store.pending_findings().await.unwrap()[0].clone();
    let uid = pending.uid.clone();
    // A run claims the delivery and dies before recording what happened.
    let claimed_at = scheduled("2026-11-10T10:00:00Z");
    org.store
        .claim_delivery(&pending, "lost-run", claimed_at)
        .await
        .unwrap();
    let r = detector.run(claimed_at + 14 * MINUTE).await.unwrap();
    assert!(r.quarantined.is_empty(), "still within the lease");
    let r = detector.run(claimed_at + HOUR).await.unwrap();
    assert_eq!(r.quarantined.as_slice(), std::slice::from_ref(&uid));
    assert!(org.sink.alerts().is_empty(), "never sent twice");
    assert_eq!(org.statuses_of("a@acme.com"), [Status::Quarantined]);
    let f = org
        .store
        .findings()
        .into_iter()
        .find(|f| f.uid == uid)
        .unwrap();
    assert!(f.last_error.unwrap().contains("lost-run"));
}

#[tokio::test]
async fn a_run_past_its_deadline_stops_between_hours_and_the_next_run_goes_on() {
    let org = Deployment::starting("2026-11-10T00:00:00Z").await;
    for h in 0..12 {
        org.ingest_on_time(&token_created(
            &format!("u{h}"),
            &format!("2026-11-10T{h:02}:30:00Z"),
        ))
        .await;
    }
    let detector = org.detector(DetectConfig::default());
    let now = scheduled("2026-11-10T12:00:00Z");
    let spent = RunContext {
        id: "late".into(),
        budget: Budget::until(Instant::now()),
    };
    let r = detector.run_with(now, &spent).await.unwrap();
    assert!(r.stopped_early);
    assert!(r.hours.is_empty());
    assert_eq!(r.lag_hours, 12);
    assert_eq!(org.next_hour().await, Hour::of(at("2026-11-10T00:00:00Z")));

    let ample = RunContext {
        id: "next".into(),
        budget: Budget::until(Instant::now() + Duration::from_secs(600)),
    };
    let r = detector.run_with(now, &ample).await.unwrap();
    assert!(!r.stopped_early);
    assert_eq!(r.hours.len(), 12);
    assert_eq!((r.published, r.lag_hours), (12, 0));
    assert!(r.caught_up);
}
