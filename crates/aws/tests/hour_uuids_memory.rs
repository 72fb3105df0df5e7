//! Gap-fill learns an hour's uuids from the `by_hour` index's sort key alone.
//! Measured here on a 200,000-event hour: the adapter's own `hour_uuids` runs
//! against a DynamoDB client whose Query answers come from `aws-smithy-mocks`
//! (moto would take minutes to serve that hour), in pages of 1,000 items per
//! shard as DynamoDB pages them, with whole items unless the query projects.
//! The heap held at peak is compared with decoding the whole records as
//! before. The moto path is exercised by `tests/tests/poll_e2e.rs` (gap-fill).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, RuleMode};
use okta_itdr_aws::activity::{decode_record, DynamoActivityStore};
use okta_itdr_core::ports::ActivityStore;
use okta_itdr_core::record::{ActivityRecord, Interner, Role};
use okta_itdr_core::time::parse_rfc3339_ms;
use okta_itdr_testkit::{normalizer, Ev};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const EVENTS: usize = 200_000;
const PAGE: usize = 1_000;
const SHARDS: u16 = 4;

type Item = HashMap<String, AttributeValue>;

/// Heap bytes held at the peak of `f`, above what was held before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
}

fn uuid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-000000000000")
}

fn sk(i: usize) -> String {
    format!("2026-11-10T10:{:02}:00.000Z#{}", i % 60, uuid(i))
}

/// Page `p` as DynamoDB returns it: whole items of `template` re-identified.
fn full_page(template: &ActivityRecord, p: usize) -> Vec<Item> {
    (p * PAGE..(p + 1) * PAGE)
        .map(|i| {
            let mut r = template.clone();
            r.uuid = okta_itdr_core::record::Uuid::parse(&uuid(i));
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S("U#00ualice".into())),
                ("sk".to_owned(), AttributeValue::S(sk(i))),
                ("hour_pk".to_owned(), AttributeValue::S("H#x".into())),
                ("hour_sk".to_owned(), AttributeValue::S(sk(i))),
                ("rec".to_owned(), AttributeValue::B(Blob::new(r.encode()))),
                ("expires_at".to_owned(), AttributeValue::N("1".into())),
            ])
        })
        .collect()
}

/// Page `p` projected to `hour_sk`.
fn projected_page(p: usize) -> Vec<Item> {
    (p * PAGE..(p + 1) * PAGE)
        .map(|i| HashMap::from([("hour_sk".to_owned(), AttributeValue::S(sk(i)))]))
        .collect()
}

#[test]
fn a_busy_hours_uuids_take_a_fraction_of_its_records() {
    let start = parse_rfc3339_ms("2026-11-10T10:00:00Z").unwrap();
    // Realistic records: one sign-in's actor record, encoded as stored.
    let template: ActivityRecord = normalizer()
        .normalize(
            &okta_itdr_core::event::LogEvent::from_value(
                Ev::new("user.session.start")
                    .user("00ualice", "alice@acme.com")
                    .at_ms(start)
                    .json,
            )
            .unwrap(),
        )
        .into_iter()
        .find(|r| r.role == Role::Actor)
        .expect("an actor record");
    let pages = EVENTS / PAGE;

    // DynamoDB's answer to the adapter's Query: the shard's pages in turn
    // (the page number rides in LastEvaluatedKey), whole items unless the
    // query asks for `hour_sk` only.
    let pages_per_shard = pages / SHARDS as usize;
    let served = std::sync::Arc::new(template.clone());
    let whole_pages = std::sync::Arc::new(AtomicUsize::new(0));
    let whole = whole_pages.clone();
    let query = mock!(aws_sdk_dynamodb::Client::query).then_compute_output(move |q| {
        let shard = q
            .expression_attribute_values()
            .and_then(|v| v.get(":p"))
            .and_then(|v| v.as_s().ok())
            .and_then(|p| p.rsplit('#').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let page = q
            .exclusive_start_key()
            .and_then(|k| k.get("page"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let p = shard * pages_per_shard + page;
        let items = if q.projection_expression() == Some("hour_sk") {
            projected_page(p)
        } else {
            whole.fetch_add(1, Ordering::Relaxed);
            full_page(&served, p)
        };
        let mut out = QueryOutput::builder().set_items(Some(items));
        if page + 1 < pages_per_shard {
            out = out.last_evaluated_key("page", AttributeValue::N((page + 1).to_string()));
        }
        out.build()
    });
    let interceptor = MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .with_rule(&query);
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "mock"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    );
    let store = DynamoActivityStore::new(client, "activity", SHARDS);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hour = okta_itdr_core::time::Hour::of(start);
    let (projected, projected_peak) = peak_of(|| {
        runtime
            .block_on(store.hour_uuids(hour))
            .expect("hour_uuids")
    });
    assert_eq!(query.num_calls(), pages, "every page of every shard read");
    assert_eq!(
        whole_pages.load(Ordering::Relaxed),
        0,
        "the adapter asks for the sort key only"
    );

    let (decoded, decoded_peak) = peak_of(|| {
        let mut interner = Interner::default();
        let mut records = Vec::new();
        for p in 0..pages {
            for item in full_page(&template, p) {
                let mut r = decode_record(&item["rec"]).unwrap();
                interner.intern(&mut r);
                records.push(r);
            }
        }
        records
            .iter()
            .map(|r| r.uuid.to_string())
            .collect::<HashSet<_>>()
    });
    assert_eq!(projected.len(), EVENTS);
    assert_eq!(projected, decoded, "the same uuids");
    let mb = |b: usize| b as f64 / 1_048_576.0;
    println!(
        "{EVENTS} events: keys only {:.1} MB at peak, whole records {:.1} MB ({:.1}x)",
        mb(projected_peak),
        mb(decoded_peak),
        decoded_peak as f64 / projected_peak as f64
    );
    // Well inside a 256 MB function, and far below decoding every record.
    assert!(mb(projected_peak) < 64.0, "{:.1} MB", mb(projected_peak));
    assert!(decoded_peak > 2 * projected_peak);
}
