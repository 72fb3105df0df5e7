//! Fetch throughput: the client reading 100,000 System Log events in pages of
//! 1,000 from a loopback server that serves pre-rendered pages (realistic 2.4 KB
//! LogEvents, `Link: rel="next"`, rate-limit headers), against a baseline in the
//! same process: parsing the same page bytes into `serde_json::Value`. The ratio
//! cancels out the machine; requests per million events come from the count.
//!
//! `cargo bench -p okta-itdr-okta --bench fetch`

use std::sync::Arc;
use std::time::{Duration, Instant};

use okta_itdr_core::source::LogSource;
use okta_itdr_okta::{ClientConfig, Credentials, OktaClient, OrgUrl, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVENTS: usize = 100_000;
const PAGE: usize = 1_000;

fn sample_event() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/signin-success.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON");
    doc["detail"].clone()
}

fn pages() -> Vec<Vec<u8>> {
    let template = sample_event();
    let start = 1_795_000_000_000i64;
    (0..EVENTS / PAGE)
        .map(|p| {
            let events: Vec<serde_json::Value> = (0..PAGE)
                .map(|i| {
                    let n = p * PAGE + i;
                    let mut e = template.clone();
                    e["uuid"] = format!("00000000-0000-4000-8000-{n:012x}").into();
                    e["published"] =
                        okta_itdr_core::time::format_rfc3339_ms(start + n as i64 * 100).into();
                    e
                })
                .collect();
            serde_json::to_vec(&events).expect("page")
        })
        .collect()
}

async fn serve(listener: tokio::net::TcpListener, pages: Arc<Vec<Vec<u8>>>) {
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (pages, base) = (pages.clone(), base.clone());
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf);
            let page: usize = head
                .split_once("after=")
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let mut response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nx-rate-limit-limit: 100000\r\nx-rate-limit-remaining: 99999\r\nx-rate-limit-reset: 4102444800\r\n",
                pages[page].len()
            );
            if page + 1 < pages.len() {
                response.push_str(&format!(
                    "link: <{base}/api/v1/logs?limit={PAGE}&after={}>; rel=\"next\"\r\n",
                    page + 1
                ));
            }
            response.push_str("\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.write_all(&pages[page]).await;
            let _ = stream.shutdown().await;
        });
    }
}

fn main() {
    let pages = Arc::new(pages());
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Baseline: parse the same bytes into Value, page by page.
    let t = Instant::now();
    let mut parsed = 0usize;
    for page in pages.iter() {
        let v: Vec<serde_json::Value> = serde_json::from_slice(page).expect("page");
        parsed += v.len();
    }
    let baseline = t.elapsed();
    assert_eq!(parsed, EVENTS);

    let (fetched, requests, elapsed) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let org = OrgUrl::parse(&format!("http://{}", listener.local_addr().expect("addr")))
            .expect("org");
        tokio::spawn(serve(listener, pages.clone()));
        let client = OktaClient::new(
            org,
            Credentials::ApiToken(Secret::new("bench")),
            ClientConfig {
                timeout: Duration::from_secs(30),
                ..ClientConfig::default()
            },
        )
        .expect("client");
        let t = Instant::now();
        let mut page = client
            .first_page(0, i64::MAX / 2)
            .await
            .expect("first page");
        let mut fetched = 0usize;
        loop {
            fetched += page.events.len();
            match page.next.take() {
                Some(next) => page = client.next_page(&next).await.expect("page"),
                None => break,
            }
        }
        let requests = client
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed);
        (fetched, requests, t.elapsed())
    });
    assert_eq!(fetched, EVENTS);
    let rate = EVENTS as f64 / elapsed.as_secs_f64();
    let base_rate = EVENTS as f64 / baseline.as_secs_f64();
    println!(
        "fetch: {EVENTS} events ({:.0} MiB) in pages of {PAGE}: {:.2} s, {rate:.0} events/s; \
         parsing the same bytes into Value: {base_rate:.0} events/s; ratio {:.2}x the parse rate; \
         {requests} requests = {:.0} per million events",
        bytes as f64 / 1048576.0,
        elapsed.as_secs_f64(),
        rate / base_rate,
        requests as f64 * 1e6 / EVENTS as f64
    );
}
