//! A small Lambda Runtime API emulator: the HTTP interface a custom runtime
//! polls for invocations and posts results to.
//!
//! - `GET /2018-06-01/runtime/invocation/next` serves the next queued event,
//!   waiting for one, with the `Lambda-Runtime-*` headers.
//! - `POST /2018-06-01/runtime/invocation/<id>/response` and `/error` complete it.
//! - `POST /2018-06-01/runtime/init/error` records an initialisation failure.
//!
//! HTTP/1.1 with keep-alive; request bodies by `Content-Length` or chunked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const PREFIX: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's response body.
    Response(Value),
    /// `/error`: the `Lambda-Runtime-Function-Error-Type` header and the body
    /// (`{"errorType", "errorMessage"}`).
    Error { error_type: String, body: Value },
}

impl Outcome {
    pub fn response(&self) -> &Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error { body, .. } => {
                panic!("expected a response, the invocation failed: {body}")
            }
        }
    }

    pub fn error(&self) -> (&str, &Value) {
        match self {
            Outcome::Error { error_type, body } => (error_type, body),
            Outcome::Response(v) => panic!("expected an error, the invocation succeeded: {v}"),
        }
    }
}

struct Queued {
    request_id: String,
    payload: Vec<u8>,
}

struct Shared {
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
    served: AtomicU64,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    queue: mpsc::UnboundedSender<Queued>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the Runtime API emulator");
        let addr = listener.local_addr().expect("local address");
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            next: tokio::sync::Mutex::new(rx),
            waiting: Mutex::default(),
            init_error: Mutex::default(),
            served: AtomicU64::new(0),
        });
        let state = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, state).await;
                });
            }
        });
        RuntimeApi {
            addr,
            queue,
            shared,
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues one invocation and waits for its outcome.
    pub async fn invoke(&self, payload: &Value, timeout: Duration) -> Result<Outcome, String> {
        static SEQ: AtomicU64 = AtomicU64::new(1);
        let request_id = format!(
            "8476a536-e9f4-11e8-9739-{:012x}",
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id.clone(), tx);
        let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        self.queue
            .send(Queued {
                request_id: request_id.clone(),
                payload,
            })
            .map_err(|_| "the emulator stopped".to_owned())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(format!("invocation {request_id} was dropped")),
            Err(_) => Err(format!(
                "invocation {request_id} got no result within {timeout:?}"
            )),
        }
    }

    /// What the function posted to `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<Value> {
        self.shared
            .init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits up to `timeout` for an `/init/error` report.
    pub async fn wait_init_error(&self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Some(v) = self.init_error() {
                return Some(v);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Invocations handed out so far.
    pub fn served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).await?;
            body.extend_from_slice(&chunk);
            line.clear();
            reader.read_line(&mut line).await?;
        }
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        body = vec![0; len];
        reader.read_exact(&mut body).await?;
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

async fn respond(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).await?;
    writer.write_all(body).await?;
    writer.flush().await
}

async fn serve(stream: TcpStream, state: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(req) = read_request(&mut reader).await? {
        let accepted = br#"{"status":"OK"}"#;
        match (req.method.as_str(), req.path.strip_prefix(PREFIX)) {
            ("GET", Some("/invocation/next")) => {
                let next = state.next.lock().await.recv().await;
                let Some(q) = next else { return Ok(()) };
                state.served.fetch_add(1, Ordering::Relaxed);
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() + 30_000)
                    .unwrap_or(0);
                let headers = [
                    ("Lambda-Runtime-Aws-Request-Id", q.request_id.clone()),
                    ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:okta-itdr-e2e".to_owned()),
                    ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0".to_owned()),
                ];
                respond(&mut write, "200 OK", &headers, &q.payload).await?;
            }
            ("POST", Some(rest))
                if rest.starts_with("/invocation/")
                    && (rest.ends_with("/response") || rest.ends_with("/error")) =>
            {
                let trimmed = rest.trim_start_matches("/invocation/");
                let (id, kind) = trimmed.rsplit_once('/').unwrap_or((trimmed, ""));
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&req.body).into_owned())
                });
                let outcome = if kind == "response" {
                    Outcome::Response(body)
                } else {
                    let error_type = req
                        .headers
                        .get("lambda-runtime-function-error-type")
                        .cloned()
                        .unwrap_or_default();
                    Outcome::Error { error_type, body }
                };
                let waiter = state
                    .waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(outcome);
                        respond(&mut write, "202 Accepted", &[], accepted).await?;
                    }
                    None => {
                        respond(
                            &mut write,
                            "400 Bad Request",
                            &[],
                            br#"{"errorMessage":"unknown request id"}"#,
                        )
                        .await?
                    }
                }
            }
            ("POST", Some("/init/error")) => {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                let error_type = req
                    .headers
                    .get("lambda-runtime-function-error-type")
                    .cloned()
                    .unwrap_or_default();
                *state.init_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(serde_json::json!({"errorType": error_type, "body": body}));
                respond(&mut write, "202 Accepted", &[], accepted).await?;
            }
            _ => {
                respond(
                    &mut write,
                    "404 Not Found",
                    &[],
                    br#"{"errorMessage":"not found"}"#,
                )
                .await?
            }
        }
    }
    Ok(())
}
