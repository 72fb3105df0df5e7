//! Gap-fill learns an hour's uuids from the `by_hour` index's sort key alone.
//! Measured here on a 200,000-event hour, in process (moto would take minutes
//! to serve it): the heap held at peak while pages of 1,000 items go through
//! the projected path, against decoding the whole records as before. The
//! moto path is exercised by `tests/tests/poll_e2e.rs` (gap-fill).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use okta_itdr_aws::activity::{decode_record, uuid_of_hour_item};
use okta_itdr_core::record::{ActivityRecord, Interner, Role};
use okta_itdr_core::testkit::{normalizer, Ev};
use okta_itdr_core::time::parse_rfc3339_ms;

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

type Item = HashMap<String, AttributeValue>;

/// Heap bytes held at the peak of `f`, above what was held before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
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
    let uuid = |i: usize| format!("{i:08x}-0000-4000-8000-000000000000");
    let sk = |i: usize| format!("2026-11-10T10:{:02}:00.000Z#{}", i % 60, uuid(i));
    // A page as DynamoDB returns it: whole items, or only `hour_sk`.
    let full_page = |p: usize| -> Vec<Item> {
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
    };
    let projected_page = |p: usize| -> Vec<Item> {
        (p * PAGE..(p + 1) * PAGE)
            .map(|i| HashMap::from([("hour_sk".to_owned(), AttributeValue::S(sk(i)))]))
            .collect()
    };
    let pages = EVENTS / PAGE;

    let (projected, projected_peak) = peak_of(|| {
        let mut uuids = HashSet::new();
        for p in 0..pages {
            uuids.extend(projected_page(p).iter().filter_map(uuid_of_hour_item));
        }
        uuids
    });
    let (decoded, decoded_peak) = peak_of(|| {
        let mut interner = Interner::default();
        let mut records = Vec::new();
        for p in 0..pages {
            for item in full_page(p) {
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
