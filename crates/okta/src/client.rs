//! The System Log client: bounded queries (`since`, `until`,
//! `sortOrder=ASCENDING`, `limit`), the next page only ever from `Link:
//! rel="next"`, a timeout per query, backoff on 5xx and timeouts, the rate-limit
//! share, and a 429 (`E0000047`) that waits until the reported reset.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use okta_itdr_core::backoff::Backoff;
use okta_itdr_core::source::{LogSource, NextPage, Page, SourceError, SourceErrorKind};
use okta_itdr_core::time::{format_rfc3339_ms, Millis};
use serde_json::value::RawValue;

use crate::auth::{transport, Auth};
use crate::credentials::Credentials;
use crate::link::next_link;
use crate::org::OrgUrl;
use crate::rate::{Budget, Reading};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Events per page; Okta's maximum for `/api/v1/logs` is 1,000.
    pub page_size: u32,
    /// The share of each rate-limit window this client may use (0 < share ≤ 1).
    pub rate_share: f64,
    /// One query, headers and body.
    pub timeout: Duration,
    /// Attempts of one query on 5xx, timeouts and connection failures.
    pub attempts: u32,
    /// The first backoff; it doubles per attempt.
    pub backoff: Duration,
    /// The longest single wait for the rate limit before giving up with
    /// [`SourceErrorKind::RateLimited`].
    pub max_rate_wait: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            page_size: 1000,
            rate_share: 0.5,
            timeout: Duration::from_secs(30),
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_rate_wait: Duration::from_secs(120),
        }
    }
}

/// What the client did, for progress lines and metrics.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub pages: AtomicU64,
    pub events: AtomicU64,
    pub retries: AtomicU64,
    pub rate_waits: AtomicU64,
    pub rate_wait_ms: AtomicU64,
}

pub struct OktaClient {
    org: OrgUrl,
    http: reqwest::Client,
    auth: Auth,
    config: ClientConfig,
    /// One budget per rate-limit bucket: Okta limits each endpoint group apart.
    budgets: Mutex<HashMap<&'static str, Budget>>,
    stats: ClientStats,
}

/// A response the retry loop did not absorb: a 200, or a refusal to report.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub links: Vec<String>,
}

/// The System Log's rate-limit bucket.
const LOGS_BUCKET: &str = "/api/v1/logs";

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OktaError {
    error_code: Option<String>,
    error_summary: Option<String>,
}

impl OktaClient {
    pub fn new(
        org: OrgUrl,
        credentials: Credentials,
        config: ClientConfig,
    ) -> Result<Self, SourceError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("okta-itdr/", env!("CARGO_PKG_VERSION")))
            // A next link must stay on the org; a redirect could take the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout)
            .build()
            .map_err(|_| {
                SourceError::new(SourceErrorKind::Config, "cannot build the HTTP client")
            })?;
        let auth = Auth::new(credentials, &org);
        Ok(OktaClient {
            budgets: Mutex::new(HashMap::new()),
            org,
            http,
            auth,
            config,
            stats: ClientStats::default(),
        })
    }

    pub fn org(&self) -> &OrgUrl {
        &self.org
    }

    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// A page of the Management API was read.
    pub(crate) fn count_page(&self) {
        self.stats.pages.fetch_add(1, Ordering::Relaxed);
    }

    fn logs_url(&self, since: Millis, until: Millis) -> Result<url::Url, SourceError> {
        let mut url = url::Url::parse(&self.org.join("/api/v1/logs"))
            .map_err(|_| SourceError::new(SourceErrorKind::Config, "bad org URL"))?;
        url.query_pairs_mut()
            .append_pair("since", &format_rfc3339_ms(since))
            .append_pair("until", &format_rfc3339_ms(until))
            .append_pair("sortOrder", "ASCENDING")
            .append_pair("limit", &self.config.page_size.to_string());
        Ok(url)
    }

    async fn sleep(&self, ms: Millis, rate: bool) -> Result<(), SourceError> {
        if ms <= 0 {
            return Ok(());
        }
        if rate {
            if ms as u128 > self.config.max_rate_wait.as_millis() {
                return Err(SourceError::new(
                    SourceErrorKind::RateLimited,
                    format!(
                        "the Okta rate limit is exhausted for another {} s, longer than the {} s this run waits",
                        (ms + 999) / 1000,
                        self.config.max_rate_wait.as_secs()
                    ),
                ));
            }
            self.stats.rate_waits.fetch_add(1, Ordering::Relaxed);
            self.stats
                .rate_wait_ms
                .fetch_add(ms as u64, Ordering::Relaxed);
            tracing::info!(
                wait_ms = ms,
                "waiting for the Okta rate-limit window to reset"
            );
        }
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        Ok(())
    }

    fn budget<R>(&self, bucket: &'static str, f: impl FnOnce(&mut Budget) -> R) -> R {
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        let share = self.config.rate_share;
        f(budgets.entry(bucket).or_insert_with(|| Budget::new(share)))
    }

    /// One page at `url`, with the retries, waits and re-authentication it needs.
    async fn get_page(&self, url: url::Url) -> Result<Page, SourceError> {
        let answer = self.request(url, crate::auth::SCOPE, LOGS_BUCKET).await?;
        match answer.status {
            200 => self.page(&answer.body, &answer.links),
            status => Err(self.refusal(status, &answer.body)),
        }
    }

    /// A GET of `url` in rate-limit `bucket` with a token for `scope`: waits for
    /// the rate-limit share, retries 5xx and transport failures with backoff,
    /// waits out a 429, re-authenticates once on a 401. Returns a 200 or the
    /// refusal it ends with.
    pub(crate) async fn request(
        &self,
        url: url::Url,
        scope: &'static str,
        bucket: &'static str,
    ) -> Result<Answer, SourceError> {
        let mut failures = 0u32;
        let mut reauthenticated = false;
        loop {
            let wait = self.budget(bucket, |b| b.wait_before_request(now_ms()));
            self.sleep(wait, true).await?;
            let header = self
                .auth
                .header_for(&self.http, self.config.timeout, scope)
                .await?;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .get(url.clone())
                .header("accept", "application/json")
                .header("authorization", header.expose())
                .timeout(self.config.timeout)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    self.retry_or_fail(&mut failures, transport(&e)).await?;
                    continue;
                }
            };
            let status = response.status().as_u16();
            let reading = Reading::from_headers(response.headers());
            self.budget(bucket, |b| b.observe(reading));
            let links: Vec<String> = response
                .headers()
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            // The body is part of the query's time budget: a hang mid-body times out too.
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    self.retry_or_fail(&mut failures, transport(&e)).await?;
                    continue;
                }
            };
            match status {
                401 if self.auth.is_oauth() && !reauthenticated => {
                    reauthenticated = true;
                    self.auth.invalidate().await;
                }
                429 => {
                    let wait = Budget::wait_after_429(reading, now_ms());
                    tracing::warn!(
                        error_code = okta_code(&body).as_deref().unwrap_or("none"),
                        wait_ms = wait,
                        "Okta answered 429"
                    );
                    self.sleep(wait, true).await?;
                }
                500..=599 => {
                    self.retry_or_fail(&mut failures, &format!("HTTP {status}"))
                        .await?
                }
                _ => {
                    return Ok(Answer {
                        status,
                        body: body.into(),
                        links,
                    })
                }
            }
        }
    }

    async fn retry_or_fail(&self, failures: &mut u32, what: &str) -> Result<(), SourceError> {
        *failures += 1;
        if *failures >= self.config.attempts {
            return Err(SourceError::new(
                SourceErrorKind::Unavailable,
                format!(
                    "the Okta API at {} failed {} times (last: {what})",
                    self.org, failures
                ),
            ));
        }
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        // Doubling from the configured wait, at most 64 times it.
        let policy = Backoff::new(self.config.backoff, self.config.backoff.saturating_mul(64));
        let backoff = Millis::try_from(policy.delay(*failures).as_millis()).unwrap_or(Millis::MAX);
        tracing::warn!(
            attempt = *failures,
            backoff_ms = backoff,
            what,
            "retrying the Okta API request"
        );
        self.sleep(backoff, false).await
    }

    fn refusal(&self, status: u16, body: &[u8]) -> SourceError {
        let detail = okta_detail(body);
        let (kind, text) = match status {
            401 => (
                SourceErrorKind::Unauthorized,
                "the credentials were refused".to_owned(),
            ),
            403 => (
                SourceErrorKind::Forbidden,
                "access denied: the service app needs the okta.logs.read scope granted and an admin role that can read the System Log (Read-only Administrator or above); an API token's admin needs the same role".to_owned(),
            ),
            404 => (
                SourceErrorKind::NotFound,
                format!("{} has no System Log API: is this the org URL (https://<org>.okta.com)?", self.org),
            ),
            _ => (
                SourceErrorKind::BadResponse,
                format!("unexpected HTTP {status} from the System Log API"),
            ),
        };
        SourceError::new(kind, format!("{text} (HTTP {status}{detail})"))
    }

    fn page(&self, body: &[u8], links: &[String]) -> Result<Page, SourceError> {
        let raw: Vec<Box<RawValue>> = serde_json::from_slice(body).map_err(|_| {
            SourceError::new(
                SourceErrorKind::BadResponse,
                "the System Log API returned something other than a JSON array of events",
            )
        })?;
        let events: Vec<String> = raw
            .into_iter()
            .map(|r| String::from(Box::<str>::from(r)))
            .collect();
        let next = match next_link(links.iter().map(String::as_str)) {
            // An empty page ends a bounded query whatever the links say.
            Some(_) if events.is_empty() => None,
            Some(link) => {
                let parsed = url::Url::parse(&link).map_err(|_| {
                    SourceError::new(SourceErrorKind::BadResponse, "the next link is not a URL")
                })?;
                if !self.org.same_origin(&parsed) {
                    return Err(SourceError::new(
                        SourceErrorKind::BadResponse,
                        format!("the next link leaves {}; not following it", self.org),
                    ));
                }
                Some(NextPage(link))
            }
            None => None,
        };
        self.stats.pages.fetch_add(1, Ordering::Relaxed);
        self.stats
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(Page { events, next })
    }
}

impl LogSource for OktaClient {
    async fn first_page(&self, since: Millis, until: Millis) -> Result<Page, SourceError> {
        let url = self.logs_url(since, until)?;
        self.get_page(url).await
    }

    async fn next_page(&self, next: &NextPage) -> Result<Page, SourceError> {
        let url = url::Url::parse(&next.0).map_err(|_| {
            SourceError::new(SourceErrorKind::BadResponse, "the next link is not a URL")
        })?;
        if !self.org.same_origin(&url) {
            return Err(SourceError::new(
                SourceErrorKind::Config,
                format!("the stored next link is not on {}", self.org),
            ));
        }
        self.get_page(url).await
    }
}

fn okta_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<OktaError>(body).ok()?.error_code
}

/// `, E0000011: Invalid token provided` from an Okta error body, if it has one.
pub(crate) fn okta_detail(body: &[u8]) -> String {
    match serde_json::from_slice::<OktaError>(body) {
        Ok(OktaError {
            error_code: Some(code),
            error_summary,
        }) => match error_summary {
            Some(s) => format!(", {code}: {}", s.chars().take(200).collect::<String>()),
            None => format!(", {code}"),
        },
        _ => String::new(),
    }
}

fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or_default()
}
