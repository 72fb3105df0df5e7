//! The SNS alert sink against SNS and SQS (moto).
//!
//! The queue subscribes without raw message delivery, so it receives SNS's JSON
//! notification: `Message`, `Subject` and `MessageAttributes` all arrive and can
//! be checked, as an email or HTTPS subscriber would see them.

use std::time::Duration;

use okta_itdr_core::alert::Alert;
use okta_itdr_core::detect::Severity;
use okta_itdr_core::ports::AlertSink;
use okta_itdr_e2e::{at, TestEnv};
use serde_json::json;

fn alert() -> Alert {
    let body = json!({
        "class_uid": 2004,
        "severity": "Critical",
        "finding_info": {"uid": "9f86d081884c7d65", "title": "MFA push bombing then approval", "analytic": {"uid": "mfa_push_bombing"}},
        "message": "6 push denials for bob@acme.com, then an approval — from 185.220.101.47",
    });
    Alert {
        uid: "9f86d081884c7d65".into(),
        subject: "[CRITICAL] MFA push bombing then approval: bob@acme.com".into(),
        body: body.to_string(),
        severity: Severity::Critical,
        detection: "mfa_push_bombing".into(),
        principal: "bob@acme.com".into(),
        time: at("2026-11-10T10:07:00Z"),
    }
}

#[tokio::test]
async fn alerts_arrive_with_subject_and_attributes() {
    let env = TestEnv::new("sns").await;
    let (topic, queue) = env.topic_with_queue(false).await;
    let sink = env.sink(&topic);
    let a = alert();
    sink.publish(&a).await.expect("publish");

    let got = env
        .notifications(&queue, Duration::from_millis(500), Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 1, "{got:?}");
    let n = &got[0];
    assert_eq!(
        n.message, a.body,
        "the body is delivered verbatim (UTF-8 included)"
    );
    assert_eq!(n.subject.as_deref(), Some(a.subject.as_str()));
    assert_eq!(n.attribute("severity"), "CRITICAL");
    assert_eq!(n.attribute("detection"), "mfa_push_bombing");
    assert_eq!(n.attribute("principal"), "bob@acme.com");
    assert_eq!(
        n.finding()["finding_info"]["analytic"]["uid"],
        "mfa_push_bombing"
    );
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_a_sink_error() {
    let env = TestEnv::new("sns-missing").await;
    let sink = env.sink("arn:aws:sns:us-east-1:123456789012:no-such-topic-okta-itdr");
    let err = sink.publish(&alert()).await.expect_err("no such topic");
    assert_eq!(err.uid, "9f86d081884c7d65");
    assert!(err.message.contains("NotFound"), "{}", err.message);
    assert!(
        !err.message.contains("bob@acme.com"),
        "no alert content in errors: {}",
        err.message
    );
}
