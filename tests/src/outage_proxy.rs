//! An HTTP proxy in front of moto for failures moto cannot produce. It forwards
//! every request unchanged, except that while an outage is on it answers
//! DynamoDB writes with `500 InternalServerError` as DynamoDB does when it is
//! unavailable. It also counts the writes that reached DynamoDB, per item key,
//! so a test can show that no key is hot.
//!
//! One request per connection (`Connection: close` both ways): simple, and the
//! SDK's HTTP client reconnects as it would after any closed connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WRITES: &[&str] = &[
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.DeleteItem",
    "DynamoDB_20120810.BatchWriteItem",
    "DynamoDB_20120810.TransactWriteItems",
];

const UNAVAILABLE: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#;

#[derive(Default)]
struct State {
    outage: AtomicBool,
    refused: AtomicU64,
    /// (pk, sk) of PutItem requests forwarded to DynamoDB → how many.
    puts: Mutex<HashMap<(String, String), u64>>,
}

pub struct OutageProxy {
    address: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl OutageProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free local port.
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = format!("http://{}", listener.local_addr().expect("proxy address"));
        let state = Arc::new(State::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (state, upstream) = (shared.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, &state).await;
                });
            }
        });
        OutageProxy {
            address,
            state,
            task,
        }
    }

    /// The endpoint URL to give an SDK client.
    pub fn endpoint(&self) -> &str {
        &self.address
    }

    /// DynamoDB writes fail while `on`.
    pub fn set_outage(&self, on: bool) {
        self.state.outage.store(on, Ordering::SeqCst);
    }

    /// Writes refused so far.
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// PutItem requests that reached DynamoDB, per (pk, sk).
    pub fn puts_per_key(&self) -> HashMap<(String, String), u64> {
        self.state
            .puts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, upstream: &str, state: &State) -> std::io::Result<()> {
    let (head, body) = read_request(&mut client).await?;
    let target = header(&head, "x-amz-target").unwrap_or_default();
    if WRITES.contains(&target.as_str()) && state.outage.load(Ordering::SeqCst) {
        state.refused.fetch_add(1, Ordering::SeqCst);
        let response = format!(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{UNAVAILABLE}",
            UNAVAILABLE.len()
        );
        client.write_all(response.as_bytes()).await?;
        return client.shutdown().await;
    }
    if target == "DynamoDB_20120810.PutItem" {
        if let Ok(doc) = serde_json::from_slice::<Value>(&body) {
            let key = |name: &str| {
                doc["Item"][name]["S"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            *state
                .puts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((key("pk"), key("sk")))
                .or_default() += 1;
        }
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&with_close(&head)).await?;
    server.write_all(&body).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    let split = find(&response, b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(response.len());
    client.write_all(&with_close(&response[..split])).await?;
    client.write_all(&response[split..]).await?;
    client.shutdown().await
}

async fn read_request(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = buf[..head_end].to_vec();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((head, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// The head with any `Connection` header replaced by `connection: close`.
fn with_close(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut lines: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .filter(|l| {
            !l.split_once(':')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"))
        })
        .collect();
    lines.push("connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}
