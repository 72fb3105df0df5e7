//! The HTTP fault proxy in front of moto (the only one: [`crate::outage_proxy`]
//! is a rule on it), for failures moto cannot produce: a
//! request the rule picks is refused with a given status and body, or held back
//! for a while; every other request goes through to moto unchanged.
//!
//! It speaks just enough HTTP/1.1 for the AWS SDK: requests with a
//! `Content-Length` body, one upstream connection per request.
//!
//! [`FaultProxy::one_at_a_time`] forwards requests one after another. moto
//! evaluates a conditional write without a lock, so two concurrent writes of
//! one item can both pass their condition; DynamoDB never lets them. Tests of
//! concurrent runs go through it to get DynamoDB's atomic conditional writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    Forward,
    /// Forwards after a pause (a slow dependency).
    Delay(Duration),
    /// Answers itself, never reaching moto.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
}

type Rule = dyn Fn(&str, &[u8]) -> Action + Send + Sync;

pub struct FaultProxy {
    address: String,
    refused: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free localhost port and forwards to `upstream`
    /// (`http://host:port`). `rule` sees each request's head and body.
    pub async fn start(
        upstream: &str,
        rule: impl Fn(&str, &[u8]) -> Action + Send + Sync + 'static,
    ) -> Self {
        Self::launch(upstream, rule, None).await
    }

    /// Forwards every request, one at a time.
    pub async fn one_at_a_time(upstream: &str) -> Self {
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        Self::launch(upstream, |_, _| Action::Forward, Some(gate)).await
    }

    async fn launch(
        upstream: &str,
        rule: impl Fn(&str, &[u8]) -> Action + Send + Sync + 'static,
        gate: Option<Arc<tokio::sync::Mutex<()>>>,
    ) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = format!("http://{}", listener.local_addr().expect("proxy address"));
        let refused = Arc::new(AtomicU64::new(0));
        let rule: Arc<Rule> = Arc::new(rule);
        let counter = refused.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (upstream, rule, counter) = (upstream.clone(), rule.clone(), counter.clone());
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &upstream, rule, counter, gate).await;
                });
            }
        });
        FaultProxy {
            address,
            refused,
            task,
        }
    }

    /// The endpoint URL to give an SDK client.
    pub fn url(&self) -> &str {
        &self.address
    }

    /// Requests answered by the proxy itself so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    stream: TcpStream,
    upstream: &str,
    rule: Arc<Rule>,
    refused: Arc<AtomicU64>,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let end = line == "\r\n";
            head.push_str(&line);
            if end {
                break;
            }
        }
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        match rule(&head, &body) {
            Action::Respond {
                status,
                content_type,
                body,
            } => {
                refused.fetch_add(1, Ordering::Relaxed);
                let response = format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                write.write_all(response.as_bytes()).await?;
            }
            action => {
                if let Action::Delay(d) = action {
                    tokio::time::sleep(d).await;
                }
                let response = match &gate {
                    Some(gate) => {
                        let _turn = gate.lock().await;
                        forward(upstream, &head, &body).await?
                    }
                    None => forward(upstream, &head, &body).await?,
                };
                write.write_all(&response).await?;
            }
        }
        write.flush().await?;
    }
}

/// Sends one request upstream with `Connection: close` and returns the whole
/// response, its own `Connection` header replaced so the client keeps its
/// connection to the proxy.
async fn forward(upstream: &str, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut conn = TcpStream::connect(upstream).await?;
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    conn.write_all(out.as_bytes()).await?;
    conn.write_all(body).await?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(response.len());
    let (resp_head, resp_body) = response.split_at(split);
    let resp_head = String::from_utf8_lossy(resp_head);
    let mut fixed = String::new();
    let mut has_length = false;
    for line in resp_head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("transfer-encoding:") {
            continue;
        }
        has_length |= lower.starts_with("content-length:");
        fixed.push_str(line);
        fixed.push_str("\r\n");
    }
    if !has_length {
        fixed.push_str(&format!("Content-Length: {}\r\n", resp_body.len()));
    }
    fixed.push_str("\r\n");
    let mut bytes = fixed.into_bytes();
    bytes.extend_from_slice(resp_body);
    Ok(bytes)
}
