//! The org URL: `https://` only, except plain `http://` on a loopback address.

use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OrgUrlError {
    #[error("org URL {0:?} is not a URL")]
    Invalid(String),
    #[error(
        "org URL {0:?} must use https:// (plain http:// is accepted only for loopback addresses)"
    )]
    NotHttps(String),
    #[error("org URL {0:?} must be the org's base URL, without a path, query or credentials")]
    NotBase(String),
}

/// An Okta org's base URL, e.g. `https://acme.okta.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUrl(url::Url);

impl OrgUrl {
    pub fn parse(text: &str) -> Result<Self, OrgUrlError> {
        let trimmed = text.trim().trim_end_matches('/');
        let url = url::Url::parse(trimmed).map_err(|_| OrgUrlError::Invalid(text.to_owned()))?;
        let Some(host) = url.host_str() else {
            return Err(OrgUrlError::Invalid(text.to_owned()));
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(host) => {}
            _ => return Err(OrgUrlError::NotHttps(text.to_owned())),
        }
        if (url.path() != "/" && !url.path().is_empty())
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(OrgUrlError::NotBase(redact_userinfo(&url)));
        }
        Ok(OrgUrl(url))
    }

    /// `https://acme.okta.com` (no trailing slash).
    pub fn base(&self) -> String {
        self.0.as_str().trim_end_matches('/').to_owned()
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Whether `other` is on this org's origin: the only place a bearer token goes.
    pub fn same_origin(&self, other: &url::Url) -> bool {
        self.0.origin() == other.origin()
    }
}

impl std::fmt::Display for OrgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base())
    }
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn redact_userinfo(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        assert_eq!(
            OrgUrl::parse("https://acme.okta.com/").unwrap().base(),
            "https://acme.okta.com"
        );
        assert!(OrgUrl::parse("http://127.0.0.1:8080").is_ok());
        assert!(OrgUrl::parse("http://[::1]:8080").is_ok());
        assert!(OrgUrl::parse("http://localhost:1").is_ok());
        for bad in [
            "http://acme.okta.com",
            "http://10.0.0.1",
            "ftp://acme.okta.com",
        ] {
            assert!(
                matches!(OrgUrl::parse(bad), Err(OrgUrlError::NotHttps(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            OrgUrl::parse("acme.okta.com"),
            Err(OrgUrlError::Invalid(_) | OrgUrlError::NotHttps(_))
        ));
    }

    #[test]
    fn a_path_or_userinfo_is_refused_without_echoing_a_password() {
        assert!(matches!(
            OrgUrl::parse("https://acme.okta.com/api/v1"),
            Err(OrgUrlError::NotBase(_))
        ));
        let err = OrgUrl::parse("https://u:hunter2pw@acme.okta.com").unwrap_err();
        assert!(!err.to_string().contains("hunter2pw"), "{err}");
    }
}
