//! A fake Okta org serving the System Log API and the org authorization server's
//! token endpoint on a loopback port, faithful to what the client relies on:
//!
//! - `GET /api/v1/logs` bounded queries: `since`/`until` over `published`,
//!   `limit` (default 100, at most 1,000), `sortOrder=ASCENDING`; the next page
//!   only through `Link: <…after=…>; rel="next"`, whose cursor is an opaque random
//!   token the server maps to its position; no next link once the window is read.
//! - `X-Rate-Limit-Limit/Remaining/Reset` (epoch seconds) on every response, a
//!   fixed window (a minute at Okta, shorter here), and once it runs out HTTP 429
//!   with error code `E0000047` until the reset.
//! - Eventual consistency: an event can be held back until the server's clock
//!   passes a given time, so it shows up only on a later query.
//! - Injected faults: a 500, a response that hangs past the client's timeout.
//! - Auth: `SSWS <token>`, or `Bearer <access token>` from `POST
//!   /oauth2/v1/token`, which verifies the client assertion's RS256 signature
//!   against the registered public key, its `iss`/`sub`/`aud`/`exp`, refuses a
//!   replayed `jti`, requires scope `okta.logs.read` and issues tokens that expire.
//! - The Management API endpoints of the inventory ([`crate::fake_inventory`]),
//!   seeded with [`FakeOkta::set_org`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Millis};

use crate::fake_inventory::{FakeOrg, InventoryRequest, OrgState};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A failure the next `/api/v1/logs` request meets instead of its answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 500 with an Okta error body.
    ServerError,
    /// Nothing at all for this long (longer than the client's timeout).
    Hang(Duration),
}

/// One `/api/v1/logs` request as the server saw it.
#[derive(Debug, Clone)]
pub struct LogRequest {
    /// The rate-limit window it fell in (its reset, epoch seconds).
    pub window: i64,
    pub status: u16,
    pub events: usize,
}

#[derive(Debug, Clone)]
pub struct FakeOktaConfig {
    /// Requests per rate-limit window to `/api/v1/logs`.
    pub rate_limit: u64,
    /// The window length in whole seconds (Okta: 60).
    pub window_secs: i64,
    pub api_token: Option<String>,
    /// A registered service app: client id and its public key (PEM).
    pub service_app: Option<(String, String)>,
    pub token_lifetime: Duration,
    /// Whether the service app was granted `okta.logs.read`.
    pub grants_logs_read: bool,
    /// False: the host is not an Okta org (every path answers 404).
    pub serves_logs: bool,
}

impl Default for FakeOktaConfig {
    fn default() -> Self {
        FakeOktaConfig {
            rate_limit: 1_000,
            window_secs: 1,
            api_token: Some("00fake-api-token-value".into()),
            service_app: None,
            token_lifetime: Duration::from_secs(3600),
            grants_logs_read: true,
            serves_logs: true,
        }
    }
}

struct StoredEvent {
    published: Millis,
    uuid: String,
    visible_from: Millis,
    json: String,
}

struct Cursor {
    until: Millis,
    limit: usize,
    after: (Millis, String),
}

#[derive(Default)]
struct State {
    events: Vec<StoredEvent>,
    cursors: HashMap<String, Cursor>,
    tokens: HashMap<String, Instant>,
    jtis: HashSet<String>,
    faults: VecDeque<Fault>,
    requests: Vec<LogRequest>,
    token_requests: u64,
    /// The scopes each issued access token carries.
    token_scopes: HashMap<String, Vec<String>>,
    org: OrgState,
    window: (i64, u64),
    /// Requests other integrations use of the window the next System Log
    /// request falls in ([`FakeOkta::consume`]).
    consumed_by_others: u64,
    clock: Option<Millis>,
    seq: u64,
}

pub struct FakeOkta {
    base: String,
    config: FakeOktaConfig,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOkta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOkta {
    pub async fn start(config: FakeOktaConfig) -> FakeOkta {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::new((base.clone(), config.clone(), state.clone()));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &shared.0, &shared.1, &shared.2).await;
                });
            }
        });
        FakeOkta {
            base,
            config,
            state,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`: the org URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    pub fn config(&self) -> &FakeOktaConfig {
        &self.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds LogEvents (they need `uuid` and `published`), visible at once.
    pub fn add_events<'a>(&self, events: impl IntoIterator<Item = &'a Value>) {
        let stored: Vec<StoredEvent> = events.into_iter().map(|e| stored(e, Millis::MIN)).collect();
        self.insert(stored);
    }

    /// Adds an event the API returns only once its clock reaches `visible_from`.
    pub fn add_event_visible_from(&self, event: &Value, visible_from: Millis) {
        self.insert(vec![stored(event, visible_from)]);
    }

    /// Sorted once per batch: an org's weeks of events are added at once.
    fn insert(&self, events: Vec<StoredEvent>) {
        let mut st = self.state();
        st.events.extend(events);
        st.events
            .sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
    }

    /// Sets the clock that decides which delayed events are visible (default:
    /// the wall clock).
    pub fn set_clock(&self, now: Millis) {
        self.state().clock = Some(now);
    }

    /// Other integrations of the org use `n` requests of the window the next
    /// System Log request falls in. Counted then, not now: with windows of a
    /// second, "now" may be the window before the request's.
    pub fn consume(&self, n: u64) {
        self.state().consumed_by_others += n;
    }

    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// Makes every issued access token expire now.
    pub fn expire_tokens(&self) {
        let past = Instant::now() - Duration::from_secs(1);
        for t in self.state().tokens.values_mut() {
            *t = past;
        }
    }

    pub fn requests(&self) -> Vec<LogRequest> {
        self.state().requests.clone()
    }

    pub fn token_requests(&self) -> u64 {
        self.state().token_requests
    }

    /// Seeds the Management API with an org's users, admins and settings.
    pub fn set_org(&self, org: FakeOrg) {
        self.state().org.org = Some(org);
    }

    /// Other integrations will have used up a Management API bucket's window
    /// (`users`, `users/{id}/factors`, …) when our next request to it arrives.
    pub fn exhaust_inventory(&self, bucket: &str) {
        self.state().org.exhaust(bucket);
    }

    /// The Management API requests, in order.
    pub fn inventory_requests(&self) -> Vec<InventoryRequest> {
        self.state().org.requests.clone()
    }

    /// The most Management API requests of one rate-limit bucket that fell in
    /// any one window.
    pub fn max_inventory_requests_per_window(&self) -> u64 {
        let mut per: HashMap<(String, i64), u64> = HashMap::new();
        for r in self.state().org.requests.iter() {
            *per.entry((r.bucket.clone(), r.window)).or_default() += 1;
        }
        per.values().copied().max().unwrap_or(0)
    }

    /// The most `/api/v1/logs` requests that fell in any one rate-limit window.
    pub fn max_requests_per_window(&self) -> u64 {
        let mut per: HashMap<i64, u64> = HashMap::new();
        for r in self.state().requests.iter() {
            *per.entry(r.window).or_default() += 1;
        }
        per.values().copied().max().unwrap_or(0)
    }
}

pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
    pub(crate) delay: Option<Duration>,
}

impl Response {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: None,
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    base: &str,
    config: &FakeOktaConfig,
    state: &Mutex<State>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let response = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        route(&request, base, config, &mut st)
    };
    if let Some(delay) = response.delay {
        tokio::time::sleep(delay).await;
    }
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(response.body.as_bytes()).await?;
    stream.shutdown().await
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let parsed = url::Url::parse(&format!("http://fake{target}")).expect("request target");
    Ok(Some(Request {
        method,
        path: parsed.path().to_owned(),
        query: parsed.query_pairs().into_owned().collect(),
        headers,
        body,
    }))
}

pub(crate) fn okta_error(status: u16, code: &str, summary: &str) -> Response {
    Response::json(
        status,
        json!({"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": "oae-fake", "errorCauses": []}),
    )
}

pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or_default()
}

fn route(req: &Request, base: &str, config: &FakeOktaConfig, st: &mut State) -> Response {
    if !config.serves_logs {
        return Response {
            status: 404,
            headers: Vec::new(),
            body: "<html>not found</html>".to_owned(),
            delay: None,
        };
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/oauth2/v1/token") => token(req, base, config, st),
        ("GET", "/api/v1/logs") => logs(req, base, config, st),
        ("GET", path) if path.starts_with("/api/v1/") => {
            let caller = caller(req, config, st);
            crate::fake_inventory::route(req, base, config.window_secs, caller, &mut st.org)
        }
        _ => okta_error(
            404,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        ),
    }
}

fn authorized(req: &Request, config: &FakeOktaConfig, st: &State) -> bool {
    let Some(auth) = req.headers.get("authorization") else {
        return false;
    };
    if let Some(token) = auth.strip_prefix("SSWS ") {
        return config.api_token.as_deref() == Some(token);
    }
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return st
            .tokens
            .get(token)
            .is_some_and(|exp| Instant::now() < *exp);
    }
    false
}

/// Who calls: `None` unauthenticated, `Some(None)` an API token (its admin's
/// rights), `Some(Some(scopes))` a bearer token's scopes.
fn caller(req: &Request, config: &FakeOktaConfig, st: &State) -> Option<Option<Vec<String>>> {
    if !authorized(req, config, st) {
        return None;
    }
    let auth = req.headers.get("authorization")?;
    match auth.strip_prefix("Bearer ") {
        Some(token) => Some(Some(
            st.token_scopes.get(token).cloned().unwrap_or_default(),
        )),
        None => Some(None),
    }
}

fn logs(req: &Request, base: &str, config: &FakeOktaConfig, st: &mut State) -> Response {
    let now_s = now_ms() / 1000;
    let window = (now_s / config.window_secs + 1) * config.window_secs;
    if st.window.0 != window {
        st.window = (window, 0);
    }
    st.window.1 += std::mem::take(&mut st.consumed_by_others);
    let record = |st: &mut State, status: u16, events: usize| {
        st.requests.push(LogRequest {
            window,
            status,
            events,
        })
    };
    let rate_headers = |st: &mut State, count: bool| {
        if count {
            st.window.1 += 1;
        }
        vec![
            (
                "x-rate-limit-limit".to_owned(),
                config.rate_limit.to_string(),
            ),
            (
                "x-rate-limit-remaining".to_owned(),
                config.rate_limit.saturating_sub(st.window.1).to_string(),
            ),
            ("x-rate-limit-reset".to_owned(), window.to_string()),
        ]
    };
    if st.window.1 >= config.rate_limit {
        let mut r = okta_error(
            429,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        );
        r.headers = rate_headers(st, false);
        record(st, 429, 0);
        return r;
    }
    let headers = rate_headers(st, true);
    if let Some(fault) = st.faults.pop_front() {
        record(st, 500, 0);
        let mut r = okta_error(500, "E0000009", "Internal Server Error");
        r.headers = headers;
        if let Fault::Hang(d) = fault {
            r.delay = Some(d);
        }
        return r;
    }
    if !authorized(req, config, st) {
        let mut r = okta_error(401, "E0000011", "Invalid token provided");
        r.headers = headers;
        record(st, 401, 0);
        return r;
    }
    let clock = st.clock.unwrap_or_else(now_ms);
    let (until, limit, after) = if let Some(token) = req.param("after") {
        match st.cursors.get(token) {
            Some(c) => (c.until, c.limit, c.after.clone()),
            None => {
                let mut r = okta_error(400, "E0000031", "Invalid search criteria.");
                r.headers = headers;
                record(st, 400, 0);
                return r;
            }
        }
    } else {
        let until = req
            .param("until")
            .and_then(parse_rfc3339_ms)
            .unwrap_or(clock);
        let since = req
            .param("since")
            .and_then(parse_rfc3339_ms)
            .unwrap_or(until - 7 * 86_400_000);
        let limit = req
            .param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100usize)
            .clamp(1, 1000);
        (until, limit, (since - 1, "\u{10ffff}".to_owned()))
    };
    // Events after the position, before until, visible now; one more than the
    // page tells whether a next link is due.
    // The events are sorted: the position is found, not scanned for.
    let first = st
        .events
        .partition_point(|e| (e.published, e.uuid.as_str()) <= (after.0, after.1.as_str()));
    let matching: Vec<&StoredEvent> = st.events[first..]
        .iter()
        .filter(|e| e.published < until && e.visible_from <= clock)
        .take(limit + 1)
        .collect();
    let more = matching.len() > limit;
    let page: Vec<&StoredEvent> = matching.into_iter().take(limit).collect();
    let body = format!(
        "[{}]",
        page.iter()
            .map(|e| e.json.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let count = page.len();
    let last = page.last().map(|e| (e.published, e.uuid.clone()));
    let mut headers = headers;
    let self_link = format!("<{base}/api/v1/logs?limit={limit}>; rel=\"self\"");
    headers.push(("link".to_owned(), self_link));
    if let (true, Some(last)) = (more, last) {
        st.seq += 1;
        let token = format!("{:x}{:08x}", st.seq, rand_u32(st.seq));
        st.cursors.insert(
            token.clone(),
            Cursor {
                until,
                limit,
                after: last,
            },
        );
        headers.push((
            "link".to_owned(),
            format!("<{base}/api/v1/logs?limit={limit}&after={token}>; rel=\"next\""),
        ));
    }
    record(st, 200, count);
    Response {
        status: 200,
        headers,
        body,
        delay: None,
    }
}

pub(crate) fn rand_u32(seed: u64) -> u32 {
    let mut x = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(now_ms() as u64);
    x ^= x >> 31;
    x as u32
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: Option<String>,
}

fn token(req: &Request, base: &str, config: &FakeOktaConfig, st: &mut State) -> Response {
    st.token_requests += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let oauth = |status: u16, error: &str| {
        Response::json(status, json!({"error": error, "error_description": error}))
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth(400, "unsupported_grant_type");
    }
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return oauth(401, "invalid_client");
    }
    let Some((client_id, public_pem)) = &config.service_app else {
        return oauth(401, "invalid_client");
    };
    let Some(assertion) = form.get("client_assertion") else {
        return oauth(401, "invalid_client");
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()) else {
        return oauth(500, "server_error");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("{base}/oauth2/v1/token")]);
    validation.set_issuer(&[client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation) else {
        return oauth(401, "invalid_client");
    };
    let claims = data.claims;
    if claims.sub != *client_id || claims.iss != *client_id {
        return oauth(401, "invalid_client");
    }
    // A replayed assertion is refused: its jti was seen before.
    if !claims.jti.is_some_and(|jti| st.jtis.insert(jti)) {
        return oauth(401, "invalid_client");
    }
    let scopes = form.get("scope").cloned().unwrap_or_default();
    let denied = st
        .org
        .org
        .as_ref()
        .map(|o| o.denied.clone())
        .unwrap_or_default();
    // Okta refuses the whole request when any requested scope is not granted.
    let granted = |s: &str| {
        if s == "okta.logs.read" {
            config.grants_logs_read
        } else {
            s.starts_with("okta.") && s.ends_with(".read") && !denied.contains(s)
        }
    };
    let requested: Vec<String> = scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if requested.is_empty() || !requested.iter().all(|s| granted(s)) {
        return oauth(400, "invalid_scope");
    }
    st.seq += 1;
    let token = format!("fake-access-{}-{:08x}", st.seq, rand_u32(st.seq));
    st.tokens
        .insert(token.clone(), Instant::now() + config.token_lifetime);
    st.token_scopes.insert(token.clone(), requested.clone());
    Response::json(
        200,
        json!({"token_type": "Bearer", "expires_in": config.token_lifetime.as_secs(), "access_token": token, "scope": requested.join(" ")}),
    )
}

/// A fresh RSA key pair for a test service app: (private PKCS#8 PEM, public SPKI PEM).
fn stored(event: &Value, visible_from: Millis) -> StoredEvent {
    StoredEvent {
        published: event["published"]
            .as_str()
            .and_then(parse_rfc3339_ms)
            .expect("a LogEvent with published"),
        uuid: event["uuid"]
            .as_str()
            .expect("a LogEvent with uuid")
            .to_owned(),
        visible_from,
        json: event.to_string(),
    }
}

pub fn rsa_key_pair() -> (String, String) {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("RSA key generation");
    let private: Pkcs8V1Der = pair.as_der().expect("PKCS#8");
    let public: PublicKeyX509Der = pair.public_key().as_der().expect("SPKI");
    (
        pem::encode(&pem::Pem::new("PRIVATE KEY", private.as_ref().to_vec())),
        pem::encode(&pem::Pem::new("PUBLIC KEY", public.as_ref().to_vec())),
    )
}

/// `published` as Okta writes it, for building events.
pub fn published(ms: Millis) -> String {
    format_rfc3339_ms(ms)
}

/// The LogEvents of the sample scenarios in `events/`, as the System Log API
/// would return them.
pub use okta_itdr_testkit::sample_log_events;
