//! Recovery end to end on moto's SQS and DynamoDB: the ingest handler fed
//! recovery-queue batches as Lambda's SQS event source mapping delivers them,
//! in both real message formats; refused events to the final dead-letter queue
//! with their reason; failures that may pass deferred and reported as partial
//! batch failures. DynamoDB outages come from a fault proxy in front of moto.

use std::time::Duration;

use aws_sdk_sqs::types::Message;
use okta_itdr_aws::handlers::counters;
use okta_itdr_aws::metrics::Metrics;
use okta_itdr_aws::recovery::BACKOFF;
use okta_itdr_e2e::outage_proxy::OutageProxy;
use okta_itdr_e2e::recovery_kit::{
    destination_record, dynamodb_at, handler, poll, queues, receive, send, sqs_event,
};
use okta_itdr_e2e::{at, endpoint, sample_event, Ev, TestEnv};
use serde_json::{json, Value};

fn attribute(m: &Message, name: &str) -> String {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .unwrap_or_default()
        .to_owned()
}

async fn actor_items(env: &TestEnv, ev: &Ev) -> usize {
    let actor = ev.json["actor"]["id"].as_str().expect("actor id");
    let uuid = ev.json["uuid"].as_str().expect("uuid");
    env.partition(&env.activity_table, &format!("U#{actor}"))
        .await
        .iter()
        .filter(|i| i["sk"].as_s().is_ok_and(|sk| sk.ends_with(uuid)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_recovery_formats_are_reingested_and_the_invalid_dead_lettered_with_their_reason() {
    let env = TestEnv::new("recovery-formats").await;
    let q = queues(&env).await;
    let handler = handler(&env, &q, env.dynamodb.clone());
    let now = at("2026-11-10T12:30:00Z");

    let wrapped = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T11:45:00Z");
    let raw = Ev::new("user.session.start")
        .user("00ubob", "bob@acme.com")
        .at("2026-11-10T11:50:00Z");
    let non_okta = sample_event("non-okta-event.json");
    let mut malformed = Ev::new("user.session.start")
        .unknown_user("Winter2026!Pass")
        .envelope();
    malformed["detail"]["published"] = json!("Winter2026!Pass");
    send(
        &env,
        &q.recovery_url,
        &destination_record(&wrapped.envelope()).to_string(),
    )
    .await;
    send(&env, &q.recovery_url, &raw.envelope().to_string()).await;
    send(&env, &q.recovery_url, &non_okta.to_string()).await;
    send(
        &env,
        &q.recovery_url,
        &destination_record(&malformed).to_string(),
    )
    .await;
    send(&env, &q.recovery_url, "Winter2026!Pass is not JSON").await;

    let mut metrics = Metrics::for_function("ingest");
    let (seen, failed) = poll(&env, &q, &handler, now, &mut metrics).await;
    assert_eq!(seen, 5);
    assert!(failed.is_empty(), "nothing to retry: {failed:?}");
    assert_eq!(
        actor_items(&env, &wrapped).await,
        1,
        "the destination record's event is stored"
    );
    assert_eq!(
        actor_items(&env, &raw).await,
        1,
        "the raw EventBridge event is stored"
    );
    assert_eq!(metrics.get(counters::RECOVERED), Some(2.0));
    assert_eq!(
        metrics.get(counters::LATE),
        Some(2.0),
        "recovered after their hour: marked late"
    );
    assert_eq!(metrics.get(counters::DEAD_LETTERED), Some(3.0));
    assert_eq!(metrics.get(counters::REJECTED), Some(3.0));
    assert!(
        receive(&env, &q.recovery_url, 0).await.is_empty(),
        "every handled message was deleted"
    );

    let dead = env.drain(&q.final_url, 30).await;
    assert_eq!(dead.len(), 3, "{dead:?}");
    let mut codes: Vec<String> = dead.iter().map(|m| attribute(m, "reason_code")).collect();
    codes.sort();
    assert_eq!(codes, ["Rejected", "Rejected", "unrecognised_message"]);
    for m in &dead {
        let reason = attribute(m, "reason");
        assert!(!reason.is_empty(), "every dead letter says why");
        assert!(
            !reason.contains("Winter2026"),
            "the reason quotes no event content: {reason}"
        );
        assert!(!attribute(m, "failed_at").is_empty());
    }
    let not_okta = dead
        .iter()
        .find(|m| attribute(m, "reason").contains("aws.ec2"))
        .expect("the non-Okta event");
    assert_eq!(attribute(not_okta, "format"), "eventbridge");
    let bad = dead
        .iter()
        .find(|m| attribute(m, "format") == "lambda-destination")
        .expect("the malformed event from a destination record");
    let body: Value = serde_json::from_str(bad.body().expect("body")).expect("json");
    assert_eq!(
        body["detail-type"], "SystemLog",
        "the final queue holds the EventBridge event itself, ready to redrive"
    );
    assert!(
        attribute(bad, "reason").contains("published"),
        "{}",
        attribute(bad, "reason")
    );
    let unrecognised = dead
        .iter()
        .find(|m| attribute(m, "reason_code") == "unrecognised_message")
        .expect("the non-JSON body");
    assert_eq!(
        unrecognised.body(),
        Some("Winter2026!Pass is not JSON"),
        "kept as it came"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_that_may_pass_are_deferred_and_reported_then_given_up_with_the_reason() {
    let env = TestEnv::new("recovery-retry").await;
    let q = queues(&env).await;
    let proxy = OutageProxy::start(&endpoint()).await;
    let handler = handler(&env, &q, dynamodb_at(proxy.endpoint()));
    let now = at("2026-11-10T12:30:00Z");
    let ev = Ev::new("user.session.start")
        .user("00ucarol", "carol@acme.com")
        .at("2026-11-10T11:45:00Z");
    send(&env, &q.recovery_url, &ev.envelope().to_string()).await;

    proxy.set_outage(true);
    let messages = receive(&env, &q.recovery_url, 1).await;
    assert_eq!(messages.len(), 1);
    let mut metrics = Metrics::for_function("ingest");
    let response = handler
        .invoke_counted(
            sqs_event(&messages, &q.recovery_arn, None),
            now,
            &mut metrics,
        )
        .await
        .expect("partial batch response");
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": messages[0].message_id()}]})
    );
    assert!(proxy.refused() > 0);
    assert_eq!(metrics.get(counters::FAILED), Some(1.0));
    assert_eq!(metrics.get(counters::RECOVERED), Some(0.0));
    // The receive made it invisible for 1 s; the handler's backoff for a minute.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        receive(&env, &q.recovery_url, 1).await.is_empty(),
        "deferred by the backoff"
    );
    assert!(
        env.drain(&q.final_url, 30).await.is_empty(),
        "not given up on"
    );

    // Time passes (the backoff elapses): the message is visible again.
    env.sqs
        .change_message_visibility()
        .queue_url(&q.recovery_url)
        .receipt_handle(messages[0].receipt_handle().expect("receipt"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("make visible");
    // Its last attempt, still failing: to the final queue, with the reason.
    let last = receive(&env, &q.recovery_url, 20).await;
    let response = handler
        .invoke_counted(
            sqs_event(&last, &q.recovery_arn, Some(BACKOFF.attempts)),
            now,
            &mut metrics,
        )
        .await
        .expect("batch");
    assert_eq!(
        response,
        json!({"batchItemFailures": []}),
        "handed over, so deleted"
    );
    let dead = env.drain(&q.final_url, 30).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(attribute(&dead[0], "reason_code"), "retries_exhausted");
    assert!(
        attribute(&dead[0], "reason").contains("InternalServerError"),
        "{}",
        attribute(&dead[0], "reason")
    );
    assert_eq!(
        attribute(&dead[0], "uuid"),
        ev.json["uuid"].as_str().unwrap()
    );

    // The outage over, the same message is stored.
    proxy.set_outage(false);
    let response = handler
        .invoke_counted(sqs_event(&last, &q.recovery_arn, None), now, &mut metrics)
        .await
        .expect("batch");
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(actor_items(&env, &ev).await, 1);
    assert_eq!(metrics.get(counters::RECOVERED), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_skip_retries_and_go_straight_to_the_final_queue() {
    let env = TestEnv::new("recovery-direct").await;
    let q = queues(&env).await;
    let handler = handler(&env, &q, env.dynamodb.clone());
    let mut metrics = Metrics::for_function("ingest");
    let response = handler
        .invoke_counted(
            sample_event("non-okta-event.json"),
            at("2026-11-10T12:00:00Z"),
            &mut metrics,
        )
        .await
        .expect("a refused event is handled, not failed: Lambda must not retry it");
    assert_eq!(response["outcome"], "dead_lettered");
    assert_eq!(metrics.get(counters::REJECTED), Some(1.0));
    let dead = env.drain(&q.final_url, 30).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(attribute(&dead[0], "reason_code"), "Rejected");

    // Without a final queue configured, the refusal fails the invocation as before.
    let bare = env.ingest_handler();
    let err = bare
        .invoke(
            sample_event("non-okta-event.json"),
            at("2026-11-10T12:00:00Z"),
        )
        .await
        .expect_err("refused");
    assert!(!err.retryable());
}

#[tokio::test]
async fn the_hash_key_is_read_from_its_secret_and_never_shown() {
    use okta_itdr_aws::config::ConfigError;
    use okta_itdr_aws::secrets::fetch_hash_key;
    let env = TestEnv::new("secret-key").await;
    let key = fetch_hash_key(&env.secrets, &env.hash_key_secret)
        .await
        .expect("the key");
    assert_eq!(key.expose(), okta_itdr_e2e::HASH_KEY);
    assert!(!format!("{key:?}").contains(okta_itdr_e2e::HASH_KEY));

    let missing = fetch_hash_key(&env.secrets, "okta-itdr/no-such-secret")
        .await
        .expect_err("missing");
    assert!(matches!(missing, ConfigError::SecretUnavailable { .. }));
    let text = missing.to_string();
    assert!(text.contains("okta-itdr/no-such-secret"), "{text}");
    assert!(text.contains("ResourceNotFoundException"), "{text}");
}

/// A function that cannot start (here its hash key secret is too short) fails
/// every batch of the recovery queue before its own backoff can run, so each
/// receive hides the message for the queue's visibility timeout. Three days
/// of that at the template's settings (the passing of each timeout simulated
/// by making the message visible again) leave the event in the recovery queue,
/// under the template's redrive policy; the fixed function then stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_for_three_days_loses_nothing() {
    use aws_sdk_sqs::types::QueueAttributeName;
    use okta_itdr_e2e::runtime_api::RuntimeApi;
    use okta_itdr_e2e::{function_binary, template, unique, FunctionProcess};

    let binary = tokio::task::spawn_blocking(|| function_binary("ingest"))
        .await
        .expect("build");
    let env = TestEnv::new("init-failure").await;
    let q = queues(&env).await;
    let props = &template()["Resources"]["RecoveryQueue"]["Properties"];
    let visibility = props["VisibilityTimeout"].as_i64().expect("visibility");
    let max_receives = props["RedrivePolicy"]["maxReceiveCount"]
        .as_i64()
        .expect("maxReceiveCount");
    let final_arn = env
        .sqs
        .get_queue_attributes()
        .queue_url(&q.final_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("final queue arn")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("arn")
        .clone();
    env.sqs
        .set_queue_attributes()
        .queue_url(&q.recovery_url)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": final_arn, "maxReceiveCount": max_receives}).to_string(),
        )
        .send()
        .await
        .expect("redrive policy");

    let ev = Ev::new("user.session.start")
        .user("00ualice", "alice@acme.com")
        .at("2026-11-10T11:45:00Z");
    send(
        &env,
        &q.recovery_url,
        &destination_record(&ev.envelope()).to_string(),
    )
    .await;

    let short = unique("short-key");
    env.put_secret(&short, "too-short").await;
    let vars = |key_secret: String| -> Vec<(&str, String)> {
        vec![
            ("ACTIVITY_TABLE", env.activity_table.clone()),
            ("HOUR_SHARDS", env.hour_shards.to_string()),
            ("USERNAME_HASH_KEY_SECRET", key_secret),
            ("RECOVERY_QUEUE_URL", q.recovery_url.clone()),
            ("FINAL_DLQ_URL", q.final_url.clone()),
        ]
    };
    let three_days = 3 * 86_400 / visibility;
    assert!(three_days < max_receives, "{three_days} receives in 3 days");
    for n in 1..=three_days {
        let messages = receive(&env, &q.recovery_url, 60).await;
        assert_eq!(
            messages.len(),
            1,
            "receive {n}: still in the recovery queue"
        );
        // The event source mapping's invocation: the function cannot start.
        let api = RuntimeApi::start().await;
        let mut process = FunctionProcess::spawn(
            &binary,
            &api.address(),
            "okta-itdr-ingest",
            &vars(short.clone()),
        );
        let status = process.exit_status(Duration::from_secs(30)).await;
        assert!(status.is_some_and(|s| !s.success()), "receive {n}");
        let report = api.init_error().expect("an /init/error report");
        assert_eq!(report["errorType"], "Runtime.InvalidConfiguration");
        // The visibility timeout passes.
        env.sqs
            .change_message_visibility()
            .queue_url(&q.recovery_url)
            .receipt_handle(messages[0].receipt_handle().expect("receipt"))
            .visibility_timeout(0)
            .send()
            .await
            .expect("visible again");
    }
    assert!(
        receive(&env, &q.final_url, 0).await.is_empty(),
        "nothing given up"
    );
    // Each failed start is an error of the ingest function in AWS/Lambda (an
    // initialisation error counts there): evaluated as CloudWatch does, the
    // template's alarm fires within five minutes of the first.
    {
        use okta_itdr_e2e::alarms::{lambda, Deployment, Drill, MINUTE_MS};
        let first = okta_itdr_e2e::at("2026-11-20T08:00:00Z");
        let mut drill = Drill::new(
            Deployment::STREAMING,
            first - 60 * MINUTE_MS,
            first + 5 * MINUTE_MS,
        );
        drill.healthy_detect_runs(drill.from, drill.to);
        for n in 0..three_days {
            lambda(
                &mut drill.tl,
                "IngestFunction",
                "Errors",
                first + n * visibility * 1000,
                1.0,
            );
        }
        drill.assert_fires_as_registered(
            "a_function_that_cannot_start_for_three_days_loses_nothing",
        );
        let alarm = okta_itdr_e2e::alarms::template_alarms()
            .into_iter()
            .find(|a| a.id == "IngestErrorsAlarm")
            .expect("the alarm");
        let fired_at = alarm
            .run(&drill.tl, drill.from, drill.to)
            .into_iter()
            .find(|(_, s)| *s == okta_itdr_e2e::alarms::State::Alarm)
            .map(|(t, _)| t)
            .expect("IngestErrorsAlarm fires");
        assert!(
            fired_at - first <= 5 * MINUTE_MS,
            "fired {} min after the first failed start",
            (fired_at - first) / MINUTE_MS
        );
    }

    // Fixed: the next receive stores the event.
    let api = RuntimeApi::start().await;
    let mut process = FunctionProcess::spawn(
        &binary,
        &api.address(),
        "okta-itdr-ingest",
        &vars(env.hash_key_secret.clone()),
    );
    let messages = receive(&env, &q.recovery_url, 60).await;
    assert_eq!(messages.len(), 1);
    let outcome = api
        .invoke(
            &sqs_event(&messages, &q.recovery_arn, None),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}; output: {:#?}", process.output()));
    assert_eq!(outcome.response()["batchItemFailures"], json!([]));
    process.kill().await;
    assert_eq!(actor_items(&env, &ev).await, 1, "stored once");
    assert!(receive(&env, &q.final_url, 0).await.is_empty());
}
