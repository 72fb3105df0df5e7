//! The System Log source port: pages of raw LogEvents for a bounded time window,
//! read oldest first. The Okta API adapter implements it; the CLI's `fetch` and
//! `replay --okta` and the `poll` function drive it.

use std::future::Future;

use crate::time::Millis;

/// Where the next page of a query is. Okta hands it out as the `Link: rel="next"`
/// URL; it is opaque and only ever replayed as given, never built. It carries no
/// credential, so it may be stored as a resumable cursor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct NextPage(pub String);

/// One page: the LogEvents as the API returned them (JSON text, one per event,
/// in `published` order) and where the following page is, if there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub events: Vec<String>,
    pub next: Option<NextPage>,
}

/// Why a source could not deliver a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The credentials were refused (401).
    Unauthorized,
    /// Authenticated but not allowed: a missing scope or admin role (403).
    Forbidden,
    /// The org URL does not serve the System Log API (404, DNS failure).
    NotFound,
    /// The rate limit stays exhausted for longer than the caller will wait.
    RateLimited,
    /// 5xx, timeouts, connection failures that outlasted the retries.
    Unavailable,
    /// A response that is not what the API documents.
    BadResponse,
    /// Bad configuration: an org URL that is not https, an unreadable key.
    Config,
}

/// A source failure. The message never holds a credential, token or assertion.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub kind: SourceErrorKind,
    pub message: String,
}

impl SourceError {
    pub fn new(kind: SourceErrorKind, message: impl Into<String>) -> Self {
        SourceError {
            kind,
            message: message.into(),
        }
    }

    /// Whether a later run may succeed without anyone changing anything.
    pub fn transient(&self) -> bool {
        matches!(
            self.kind,
            SourceErrorKind::RateLimited | SourceErrorKind::Unavailable
        )
    }
}

/// A System Log: bounded queries over `published`, `[since, until)`, oldest first.
pub trait LogSource: Send + Sync {
    /// The first page of the events published in `[since, until)`.
    fn first_page(
        &self,
        since: Millis,
        until: Millis,
    ) -> impl Future<Output = Result<Page, SourceError>> + Send;

    /// The page a previous page pointed to.
    fn next_page(&self, next: &NextPage) -> impl Future<Output = Result<Page, SourceError>> + Send;
}

impl<T: LogSource> LogSource for std::sync::Arc<T> {
    fn first_page(
        &self,
        since: Millis,
        until: Millis,
    ) -> impl Future<Output = Result<Page, SourceError>> + Send {
        (**self).first_page(since, until)
    }
    fn next_page(&self, next: &NextPage) -> impl Future<Output = Result<Page, SourceError>> + Send {
        (**self).next_page(next)
    }
}
