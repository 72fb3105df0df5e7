//! The `Authorization` header. SSWS: the API token as is. OAuth 2.0 service app:
//! an access token from the org authorization server's token endpoint
//! (`/oauth2/v1/token`, client credentials, scope `okta.logs.read`), obtained with
//! a client assertion (RS256, `iss` = `sub` = client id, `aud` = the token
//! endpoint, `exp` five minutes ahead, a fresh `jti`), cached until shortly
//! before it expires and dropped when the API answers 401. The inventory asks
//! for one token per read scope: Okta refuses a whole token request when one
//! requested scope is not granted, and a missing scope must cost only its part.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use okta_itdr_core::source::{SourceError, SourceErrorKind};
use tokio::sync::Mutex;

use crate::credentials::Credentials;
use crate::org::OrgUrl;
use crate::secret::Secret;

pub const SCOPE: &str = "okta.logs.read";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Okta accepts assertions that expire at most an hour ahead; five minutes is plenty.
const ASSERTION_LIFETIME_S: i64 = 300;
/// Renew this long before the access token's `expires_in` runs out.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

struct Cached {
    header: Secret,
    expires: Instant,
}

pub struct Auth {
    credentials: Credentials,
    token_url: String,
    /// Access tokens by scope.
    cached: Mutex<HashMap<&'static str, Cached>>,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(serde::Deserialize)]
struct OAuthError {
    error: Option<String>,
}

impl Auth {
    pub fn new(credentials: Credentials, org: &OrgUrl) -> Self {
        Auth {
            credentials,
            token_url: org.join("/oauth2/v1/token"),
            cached: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_oauth(&self) -> bool {
        matches!(self.credentials, Credentials::ServiceApp { .. })
    }

    /// The header value for a request that needs `scope` (OAuth; an API token
    /// carries its admin's rights whatever the scope).
    pub async fn header_for(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
        scope: &'static str,
    ) -> Result<Secret, SourceError> {
        let (client_id, pem, key_id) = match &self.credentials {
            Credentials::ApiToken(token) => {
                return Ok(Secret::new(format!("SSWS {}", token.expose())))
            }
            Credentials::ServiceApp {
                client_id,
                private_key_pem,
                key_id,
            } => (client_id, private_key_pem, key_id),
        };
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.get(scope) {
            if Instant::now() < c.expires {
                return Ok(c.header.clone());
            }
        }
        let assertion = self.assertion(client_id, pem, key_id.as_deref())?;
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.expose()),
        ];
        let response = http
            .post(&self.token_url)
            .header("accept", "application/json")
            .form(&form)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                SourceError::new(
                    SourceErrorKind::Unavailable,
                    format!("token request to {}: {}", self.token_url, transport(&e)),
                )
            })?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let code = serde_json::from_slice::<OAuthError>(&body)
                .ok()
                .and_then(|e| e.error)
                .unwrap_or_else(|| "no error code".to_owned());
            let kind = match status.as_u16() {
                // The app works, it lacks this one grant: that part is unknown.
                400 if code == "invalid_scope" => SourceErrorKind::Forbidden,
                400 | 401 => SourceErrorKind::Unauthorized,
                403 => SourceErrorKind::Forbidden,
                404 => SourceErrorKind::NotFound,
                429 => SourceErrorKind::RateLimited,
                _ => SourceErrorKind::Unavailable,
            };
            let hint = match code.as_str() {
                "invalid_client" => ": the client id, key or key id was not accepted",
                "invalid_scope" => ": the app was not granted okta.logs.read",
                "invalid_dpop_proof" | "use_dpop_nonce" => {
                    ": the app requires DPoP; turn off \"Require Demonstrating Proof of Possession\" for it"
                }
                _ => "",
            };
            return Err(SourceError::new(
                kind,
                format!(
                    "the token endpoint refused service app {client_id} (HTTP {}, {code}){hint}",
                    status.as_u16()
                ),
            ));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            SourceError::new(
                SourceErrorKind::BadResponse,
                "the token endpoint's answer has no access_token",
            )
        })?;
        let kind = token.token_type.as_deref().unwrap_or("Bearer");
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(SourceError::new(
                SourceErrorKind::BadResponse,
                format!("the token endpoint issued a {kind} token; only Bearer is supported (turn off DPoP for the app)"),
            ));
        }
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        let header = Secret::new(format!("Bearer {}", token.access_token));
        cached.insert(
            scope,
            Cached {
                header: header.clone(),
                expires: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
            },
        );
        Ok(header)
    }

    /// Forgets the access token after a 401: it expired or was revoked early.
    pub async fn invalidate(&self) {
        self.cached.lock().await.clear();
    }

    fn assertion(
        &self,
        client_id: &str,
        pem: &Secret,
        key_id: Option<&str>,
    ) -> Result<Secret, SourceError> {
        let bad_key = || {
            SourceError::new(
                SourceErrorKind::Config,
                "the service app's private key is not a usable RSA key",
            )
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose().as_bytes())
            .map_err(|_| bad_key())?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = key_id.map(str::to_owned);
        let now = now_s();
        let claims = Claims {
            iss: client_id,
            sub: client_id,
            aud: &self.token_url,
            iat: now,
            exp: now + ASSERTION_LIFETIME_S,
            jti: random_id(),
        };
        jsonwebtoken::encode(&header, &claims, &key)
            .map(Secret::new)
            .map_err(|_| bad_key())
    }
}

/// A transport error without the URL's query (never secret, but long) or a body.
pub fn transport(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body was cut short"
    } else {
        "request failed"
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// 128 random bits, hex: the assertion's `jti`, so Okta can refuse a replay.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // aws-lc's system RNG; failing here means the OS has no entropy source.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
