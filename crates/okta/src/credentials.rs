//! How the client authenticates: an OAuth 2.0 service app (`private_key_jwt`,
//! recommended) or an SSWS API token. Read from one Secrets Manager secret in
//! Lambda, from environment variables, a key file or a JSON file in the CLI.

use std::path::Path;

use crate::secret::Secret;

#[derive(Clone, Debug)]
pub enum Credentials {
    /// An SSWS API token: it acts with the full rights of the admin who made it.
    ApiToken(Secret),
    /// An OAuth 2.0 service app that signs client assertions with its private key.
    ServiceApp {
        client_id: String,
        private_key_pem: Secret,
        key_id: Option<String>,
    },
}

/// Why credentials could not be read. Never carries the secret's content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("the credentials are not a JSON object with \"apiToken\" or \"clientId\", \"privateKeyPem\" and \"keyId\"")]
    Shape,
    #[error("the credentials have {0} but are missing {1}")]
    Missing(&'static str, &'static str),
    #[error("the private key is not an RSA private key in PEM form (PKCS#8 \"BEGIN PRIVATE KEY\" or PKCS#1 \"BEGIN RSA PRIVATE KEY\")")]
    BadKey,
    #[error("reading {0}: {1}")]
    File(String, String),
    #[error("no Okta credentials: set OKTA_API_TOKEN, or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY_FILE (and OKTA_KEY_ID), or pass --credentials FILE")]
    None,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDoc {
    api_token: Option<String>,
    client_id: Option<String>,
    private_key_pem: Option<String>,
    key_id: Option<String>,
}

impl Credentials {
    /// The secret's JSON: `{"apiToken": "…"}` or
    /// `{"clientId": "…", "privateKeyPem": "…", "keyId": "…"}`.
    pub fn from_json(text: &str) -> Result<Self, CredentialsError> {
        // The parse error would quote the text: drop it.
        let doc: SecretDoc = serde_json::from_str(text).map_err(|_| CredentialsError::Shape)?;
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        match (
            nonempty(doc.api_token),
            nonempty(doc.client_id),
            nonempty(doc.private_key_pem),
        ) {
            (_, Some(client_id), Some(pem)) => {
                Self::service_app(client_id, pem, nonempty(doc.key_id))
            }
            (_, Some(_), None) => Err(CredentialsError::Missing("clientId", "privateKeyPem")),
            (_, None, Some(_)) => Err(CredentialsError::Missing("privateKeyPem", "clientId")),
            (Some(token), None, None) => Ok(Credentials::ApiToken(Secret::new(token.trim()))),
            (None, None, None) => Err(CredentialsError::Shape),
        }
    }

    /// The CLI's environment: `OKTA_API_TOKEN`, or `OKTA_CLIENT_ID` with
    /// `OKTA_PRIVATE_KEY_FILE` (a PEM file) and optionally `OKTA_KEY_ID`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(client_id) = get("OKTA_CLIENT_ID") {
            let Some(path) = get("OKTA_PRIVATE_KEY_FILE") else {
                return Err(CredentialsError::Missing(
                    "OKTA_CLIENT_ID",
                    "OKTA_PRIVATE_KEY_FILE",
                ));
            };
            let pem = read_file(Path::new(&path))?;
            return Self::service_app(client_id, pem, get("OKTA_KEY_ID"));
        }
        if let Some(token) = get("OKTA_API_TOKEN") {
            return Ok(Credentials::ApiToken(Secret::new(token.trim())));
        }
        Err(CredentialsError::None)
    }

    /// A JSON file with the same content as the Secrets Manager secret.
    pub fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        Self::from_json(&read_file(path)?)
    }

    fn service_app(
        client_id: String,
        pem: String,
        key_id: Option<String>,
    ) -> Result<Self, CredentialsError> {
        // Refuse a bad key now, with a clear message, not at the first token request.
        jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| CredentialsError::BadKey)?;
        Ok(Credentials::ServiceApp {
            client_id: client_id.trim().to_owned(),
            private_key_pem: Secret::new(pem),
            key_id,
        })
    }

    /// `api token` or `service app <client id>`: what the CLI may show.
    pub fn describe(&self) -> String {
        match self {
            Credentials::ApiToken(_) => "an SSWS API token".to_owned(),
            Credentials::ServiceApp { client_id, .. } => format!("service app {client_id}"),
        }
    }
}

fn read_file(path: &Path) -> Result<String, CredentialsError> {
    std::fs::read_to_string(path)
        .map_err(|e| CredentialsError::File(path.display().to_string(), e.kind().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_token_secret() {
        let c = Credentials::from_json(r#"{"apiToken": " 00tokSECRETVALUE "}"#).unwrap();
        assert!(matches!(&c, Credentials::ApiToken(t) if t.expose() == "00tokSECRETVALUE"));
        assert!(!format!("{c:?}").contains("SECRETVALUE"));
    }

    #[test]
    fn bad_shapes_are_named_without_echoing_the_text() {
        for text in [
            "not json SECRETVALUE",
            r#"{"token": "SECRETVALUE"}"#,
            r#"["SECRETVALUE"]"#,
        ] {
            let e = Credentials::from_json(text).unwrap_err();
            assert_eq!(e, CredentialsError::Shape, "{text}");
            assert!(!e.to_string().contains("SECRETVALUE"));
        }
        assert_eq!(
            Credentials::from_json(r#"{"clientId": "0oa1"}"#).unwrap_err(),
            CredentialsError::Missing("clientId", "privateKeyPem")
        );
        let e = Credentials::from_json(
            r#"{"clientId": "0oa1", "privateKeyPem": "-----BEGIN PRIVATE KEY-----\nSECRETVALUE\n-----END PRIVATE KEY-----"}"#,
        )
        .unwrap_err();
        assert_eq!(e, CredentialsError::BadKey);
        assert!(!e.to_string().contains("SECRETVALUE"));
    }

    #[test]
    fn environment_prefers_the_service_app_and_says_what_is_missing() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(matches!(
            Credentials::from_env(env(&[("OKTA_API_TOKEN", "00t")])),
            Ok(Credentials::ApiToken(_))
        ));
        assert_eq!(
            Credentials::from_env(env(&[("OKTA_CLIENT_ID", "0oa1")])).unwrap_err(),
            CredentialsError::Missing("OKTA_CLIENT_ID", "OKTA_PRIVATE_KEY_FILE")
        );
        assert_eq!(
            Credentials::from_env(env(&[])).unwrap_err(),
            CredentialsError::None
        );
    }
}
