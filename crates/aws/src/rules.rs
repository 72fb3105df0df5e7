//! Custom Sigma rules from the deployment's S3 prefix (`CustomRulesUri`), read
//! once per cold start by the functions that see raw events (ingest and poll).
//!
//! The prefix's own `*.yml`/`*.yaml` objects are the rule set, as a directory's
//! files are for `okta-itdr replay --rules`: objects under deeper prefixes are
//! not read, nor is anything else. Any rule that cannot be read or is invalid
//! refuses start-up with `s3://bucket/prefix/FILE: reason`: a function never
//! runs with a rule silently missing.

use std::fmt;
use std::sync::Arc;

use aws_sdk_s3::error::DisplayErrorContext;
use okta_itdr_core::sigma::{is_rule_file, RuleError, RuleSet, MAX_RULE_BYTES};

/// More rule objects than this under the prefix is refused: each is one S3
/// read at start-up, and a prefix that large is a mistake in `CustomRulesUri`.
pub const MAX_RULE_FILES: usize = 500;

/// Where the rules are: `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesLocation {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
    /// The account the bucket must belong to (`ExpectedBucketOwner`).
    pub owner: Option<String>,
}

impl RulesLocation {
    /// Parses `s3://bucket/prefix/`. The prefix names a folder, so it must end
    /// in `/`: `s3://bucket/rules` would also take `rules-old/`'s objects.
    pub fn parse(uri: &str) -> Result<Self, String> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{uri:?} is not an s3:// URI (expected s3://bucket/prefix/)"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(format!("{uri:?}: {bucket:?} is not an S3 bucket name"));
        }
        if !prefix.is_empty() && !prefix.ends_with('/') {
            return Err(format!(
                "{uri:?}: the prefix must end with '/' (s3://{bucket}/{prefix}/)"
            ));
        }
        // The functions' S3 permissions are built from the prefix: a wildcard
        // in it would widen them.
        if prefix.contains(['*', '?']) {
            return Err(format!("{uri:?}: the prefix holds a wildcard (* or ?)"));
        }
        if prefix.starts_with('/') || prefix.contains("//") {
            return Err(format!("{uri:?}: the prefix has an empty folder name"));
        }
        Ok(RulesLocation {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            owner: None,
        })
    }

    /// The location, read only if the bucket belongs to `owner`.
    pub fn owned_by(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }

    /// The URI of one object of the prefix, by its name under the prefix.
    pub fn uri_of(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.bucket, self.prefix)
    }
}

impl fmt::Display for RulesLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Why the rules could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RulesError {
    /// Listing the prefix failed (no such bucket, access denied, S3 down).
    #[error("reading custom rules from {location}: {reason}")]
    Unreadable { location: String, reason: String },
    /// Rules that cannot be read or are invalid, each as `FILE: reason`.
    #[error("{}", lines(.0))]
    Invalid(Vec<RuleError>),
}

fn lines(errors: &[RuleError]) -> String {
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("invalid custom rules: {}", all.join("; "))
}

/// Reads and compiles every rule of the prefix.
pub async fn load(client: &aws_sdk_s3::Client, at: &RulesLocation) -> Result<RuleSet, RulesError> {
    let unreadable = |reason: String| RulesError::Unreadable {
        location: at.to_string(),
        reason,
    };
    let mut objects = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&at.bucket)
        .prefix(&at.prefix)
        .set_expected_bucket_owner(at.owner.clone())
        // The prefix's own objects; deeper "folders" come back as common prefixes.
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| unreadable(DisplayErrorContext(&e).to_string()))?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let name = &key[at.prefix.len().min(key.len())..];
            if is_rule_file(name) {
                objects.push((name.to_owned(), object.size().unwrap_or(0)));
            }
        }
    }
    if objects.len() > MAX_RULE_FILES {
        return Err(unreadable(format!(
            "{} rule files, more than the {MAX_RULE_FILES} allowed",
            objects.len()
        )));
    }
    objects.sort();
    let mut texts = Vec::with_capacity(objects.len());
    let mut errors = Vec::new();
    for (name, size) in objects {
        let refused = |reason: String| RuleError {
            file: at.uri_of(&name),
            reason,
        };
        if usize::try_from(size).map_or(true, |s| s > MAX_RULE_BYTES) {
            errors.push(refused(format!(
                "{size} bytes, larger than the {MAX_RULE_BYTES} a rule may be"
            )));
            continue;
        }
        match read(client, at, &name).await {
            Ok(text) => texts.push((name, text)),
            Err(reason) => errors.push(refused(reason)),
        }
    }
    if !errors.is_empty() {
        return Err(RulesError::Invalid(errors));
    }
    RuleSet::parse(texts.iter().map(|(n, t)| (n.as_str(), t.as_str()))).map_err(|errors| {
        // The rule keeps its file name for findings (as the CLI's does); the
        // operator is told where it is.
        RulesError::Invalid(
            errors
                .into_iter()
                .map(|e| RuleError {
                    file: at.uri_of(&e.file),
                    reason: e.reason,
                })
                .collect(),
        )
    })
}

async fn read(
    client: &aws_sdk_s3::Client,
    at: &RulesLocation,
    name: &str,
) -> Result<String, String> {
    let object = client
        .get_object()
        .bucket(&at.bucket)
        .key(format!("{}{name}", at.prefix))
        .set_expected_bucket_owner(at.owner.clone())
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| format!("reading the object: {e}"))?
        .into_bytes();
    if bytes.len() > MAX_RULE_BYTES {
        return Err(format!(
            "{} bytes, larger than the {MAX_RULE_BYTES} a rule may be",
            bytes.len()
        ));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".to_owned())
}

/// The S3 client the rules are read with. Under an endpoint override (a local
/// emulator) objects are addressed by path: `bucket.127.0.0.1` does not
/// resolve. Against AWS, virtual-hosted addressing as the SDK defaults.
pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The configured rules, or none when `CustomRulesUri` is not set.
pub async fn load_configured(
    sdk: &aws_config::SdkConfig,
    at: Option<&RulesLocation>,
) -> Result<Option<Arc<RuleSet>>, RulesError> {
    let Some(at) = at else { return Ok(None) };
    let rules = load(&client(sdk), at).await?;
    tracing::info!(location = %at, rules = rules.len(), "custom rules loaded");
    Ok(Some(Arc::new(rules)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_a_bucket_and_a_folder_prefix() {
        let at = RulesLocation::parse("s3://acme-sec/okta-itdr/rules/").unwrap();
        assert_eq!(at.bucket, "acme-sec");
        assert_eq!(at.prefix, "okta-itdr/rules/");
        assert_eq!(at.to_string(), "s3://acme-sec/okta-itdr/rules/");
        assert_eq!(
            at.uri_of("proxy.yml"),
            "s3://acme-sec/okta-itdr/rules/proxy.yml"
        );
        let root = RulesLocation::parse("s3://acme-sec/").unwrap();
        assert_eq!(root.prefix, "");
        assert_eq!(RulesLocation::parse("s3://acme-sec").unwrap(), root);
    }

    #[test]
    fn a_location_that_is_not_a_folder_of_a_bucket_is_refused() {
        for (uri, says) in [
            (
                "https://acme-sec.s3.amazonaws.com/rules/",
                "not an s3:// URI",
            ),
            ("s3://acme-sec/rules", "must end with '/'"),
            ("s3://Acme_Sec/rules/", "not an S3 bucket name"),
            ("s3://ab/rules/", "not an S3 bucket name"),
            ("s3:///rules/", "not an S3 bucket name"),
            ("s3://acme-sec//rules/", "empty folder name"),
            ("s3://acme-sec/rules//", "empty folder name"),
            ("s3://acme-sec/*/", "wildcard"),
            ("s3://acme-sec/rules?/", "wildcard"),
        ] {
            let err = RulesLocation::parse(uri).unwrap_err();
            assert!(err.contains(says), "{uri}: {err}");
        }
    }

    #[test]
    fn invalid_rules_are_reported_each_with_its_file() {
        let err = RulesError::Invalid(vec![
            RuleError {
                file: "s3://b/p/a.yml".into(),
                reason: "no detection".into(),
            },
            RuleError {
                file: "s3://b/p/b.yml".into(),
                reason: "id x is also the id of a.yml".into(),
            },
        ]);
        assert_eq!(
            err.to_string(),
            "invalid custom rules: s3://b/p/a.yml: no detection; s3://b/p/b.yml: id x is also the id of a.yml"
        );
    }
}
