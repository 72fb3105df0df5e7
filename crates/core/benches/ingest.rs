//! Parse + normalise cost per event, as a ratio to parsing the same bytes into a
//! `serde_json::Value` in the same run; and the stored item size distribution.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use okta_itdr_core::event::LogEvent;
use okta_itdr_core::ingest::check_envelope;
use okta_itdr_core::sigma::RuleSet;
use okta_itdr_testkit::normalizer;

/// The benchmark's fifty custom rules (see `okta_itdr_testkit::rules`).
fn fifty_rules() -> RuleSet {
    let texts = okta_itdr_testkit::rules::fifty_rule_files();
    RuleSet::parse(texts.iter().map(|(f, t)| (f.as_str(), t.as_str()))).expect("valid rules")
}

/// Mean time per event of `f` over `rounds` passes of `values`; cloning the
/// values each event is given (what the Lambda runtime hands ingest) is not timed.
fn per_value(
    f: impl Fn(serde_json::Value),
    values: &[serde_json::Value],
    rounds: usize,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let batch = values.to_vec();
        let start = Instant::now();
        for v in batch {
            f(v);
        }
        total += start.elapsed();
    }
    total / (rounds * values.len()) as u32
}

/// The `detail` of every Okta event under events/, as bytes.
fn sample_details() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = okta_itdr_testkit::sample_log_events()
        .iter()
        .map(|d| serde_json::to_vec(d).expect("serialisable"))
        .collect();
    out.sort();
    out
}

fn per_event(f: impl Fn(&[u8]), events: &[Vec<u8>], rounds: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..rounds {
        for e in events {
            f(e);
        }
    }
    start.elapsed() / (rounds * events.len()) as u32
}

fn bench(c: &mut Criterion) {
    let events = sample_details();
    let bytes: usize = events.iter().map(Vec::len).sum();
    let norm = normalizer();

    // A direct ratio from one interleaved measurement, printed for the README.
    let rounds = 200;
    let baseline = per_event(
        |b| {
            drop(black_box(
                serde_json::from_slice::<serde_json::Value>(b).expect("json"),
            ))
        },
        &events,
        rounds,
    );
    let ours = per_event(
        |b| {
            drop(black_box(
                norm.normalize(&LogEvent::from_slice(b).expect("event")),
            ))
        },
        &events,
        rounds,
    );
    println!(
        "ingest: {} events, mean {} bytes; serde_json::Value {:?}/event, parse+normalise {:?}/event, ratio {:.2}x",
        events.len(),
        bytes / events.len(),
        baseline,
        ours,
        ours.as_secs_f64() / baseline.as_secs_f64()
    );

    // Ingest with fifty custom rules loaded against ingest without: the same
    // detail values, normalised either way; with rules they are evaluated first.
    let rules = fifty_rules();
    let values: Vec<serde_json::Value> = events
        .iter()
        .map(|b| serde_json::from_slice(b).expect("json"))
        .collect();
    let matched = values
        .iter()
        .filter(|v| !rules.evaluate(v).is_empty())
        .count();
    // Interleaved round by round, so a shared machine's drift (other load,
    // frequency scaling) falls on both sides alike.
    let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        without += per_value(
            |v| {
                drop(black_box(
                    norm.normalize(&LogEvent::from_value(v).expect("event")),
                ))
            },
            &values,
            1,
        );
        with += per_value(
            |v| {
                let matches = rules.evaluate(&v);
                let mut event = LogEvent::from_value(v).expect("event");
                event.rule_matches = matches;
                drop(black_box(norm.normalize(&event)))
            },
            &values,
            1,
        );
    }
    let (without, with) = (without / rounds as u32, with / rounds as u32);
    println!(
        "ingest with {} custom rules: {:?}/event against {:?}/event without, ratio {:.2}x ({} of {} events match a rule)",
        rules.len(),
        with,
        without,
        with.as_secs_f64() / without.as_secs_f64(),
        matched,
        values.len()
    );

    // The same, over the ingest handler's own CPU per event: the delivered
    // EventBridge JSON parsed, the envelope checked, the rules evaluated, the
    // event normalised and its DynamoDB items encoded. Request signing and the
    // HTTP exchange come on top of both sides and are left out.
    let envelopes: Vec<Vec<u8>> = events
        .iter()
        .map(|d| {
            let detail: serde_json::Value = serde_json::from_slice(d).expect("json");
            serde_json::to_vec(&serde_json::json!({
                "version": "0", "id": "bench", "detail-type": "SystemLog",
                "source": "aws.partner/okta.com/acme/okta-itdr", "account": "123456789012",
                "time": "2026-11-10T10:00:00Z", "region": "us-east-1", "resources": [],
                "detail": detail,
            }))
            .expect("serialisable")
        })
        .collect();
    let handle = |b: &[u8], rules: Option<&RuleSet>| {
        let mut envelope: serde_json::Value = serde_json::from_slice(b).expect("json");
        check_envelope(
            envelope["source"].as_str(),
            envelope["detail-type"].as_str(),
        )
        .expect("okta");
        let detail = envelope["detail"].take();
        let matches = rules.map(|r| r.evaluate(&detail)).unwrap_or_default();
        let mut event = LogEvent::from_value(detail).expect("event");
        event.rule_matches = matches;
        let records = norm.normalize(&event);
        for r in &records {
            black_box(r.encode());
        }
        records
    };
    let (mut plain, mut ruled) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        plain += per_event(|b| drop(handle(b, None)), &envelopes, 1);
        ruled += per_event(|b| drop(handle(b, Some(&rules))), &envelopes, 1);
    }
    println!(
        "ingest handler path with {} custom rules: {:?}/event against {:?}/event without, ratio {:.2}x",
        rules.len(),
        ruled / rounds as u32,
        plain / rounds as u32,
        ruled.as_secs_f64() / plain.as_secs_f64(),
    );

    // The fast path's cost on events that match none of its detections (all
    // but a handful): the handler path with the candidate check on the
    // normalised records, against without it. Matching events go on to state
    // reads and a publish, which this leaves out: they are rare by design.
    let fast = okta_itdr_core::detect::DetectConfig::default();
    let quiet: Vec<Vec<u8>> = envelopes
        .iter()
        .filter(|b| okta_itdr_core::detect::fast::candidates(&fast, &handle(b, None)).is_empty())
        .cloned()
        .collect();
    let (mut without_fast, mut with_fast) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        without_fast += per_event(|b| drop(handle(b, None)), &quiet, 1);
        with_fast += per_event(
            |b| {
                let records = handle(b, None);
                black_box(okta_itdr_core::detect::fast::candidates(&fast, &records));
            },
            &quiet,
            1,
        );
    }
    println!(
        "ingest handler path with the fast-path check: {:?}/event against {:?}/event without, ratio {:.3}x ({} of {} events match nothing fast)",
        with_fast / rounds as u32,
        without_fast / rounds as u32,
        with_fast.as_secs_f64() / without_fast.as_secs_f64(),
        quiet.len(),
        envelopes.len(),
    );

    let mut sizes: Vec<usize> = events
        .iter()
        .flat_map(|b| norm.normalize(&LogEvent::from_slice(b).expect("event")))
        // The DynamoDB item: keys and attribute names (pk, sk, hour_pk, hour_sk,
        // expires_at ≈ 250 bytes) plus the stored record.
        .map(|r| r.encode().len() + 250)
        .collect();
    sizes.sort_unstable();
    let pct = |p: usize| sizes[(sizes.len() - 1) * p / 100];
    println!(
        "item size over {} records: p50 {} B, p90 {} B, p99 {} B, max {} B; {:.1}% under 1 KB",
        sizes.len(),
        pct(50),
        pct(90),
        pct(99),
        sizes[sizes.len() - 1],
        100.0 * sizes.iter().filter(|s| **s <= 1024).count() as f64 / sizes.len() as f64
    );

    let mut g = c.benchmark_group("ingest");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for e in &events {
                black_box(serde_json::from_slice::<serde_json::Value>(e).expect("json"));
            }
        })
    });
    g.bench_function("normalise_with_50_rules", |b| {
        b.iter_batched(
            || values.clone(),
            |batch| {
                for v in batch {
                    let matches = rules.evaluate(&v);
                    let mut event = LogEvent::from_value(v).expect("event");
                    event.rule_matches = matches;
                    black_box(norm.normalize(&event));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("normalise_without_rules", |b| {
        b.iter_batched(
            || values.clone(),
            |batch| {
                for v in batch {
                    black_box(norm.normalize(&LogEvent::from_value(v).expect("event")));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("parse_and_normalise", |b| {
        b.iter(|| {
            for e in &events {
                black_box(norm.normalize(&LogEvent::from_slice(e).expect("event")));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
