//! What `okta-itdr learn` saves and `replay --state` starts from: the
//! baselines and the org's context learned from history, and the time the
//! history ends. JSON, written whole to a temporary file then renamed, so a
//! crash never leaves half a state.

use std::path::Path;

use okta_itdr_core::detect::alerting::context::{
    LegacyOrgBaseline, OrgLearned, LEGACY_ORG_IDENTITY,
};
use okta_itdr_core::detect::Baseline;
use okta_itdr_core::time::{format_rfc3339_ms, parse_rfc3339_ms, Millis};
use serde::{Deserialize, Serialize};

use crate::error::CliError;

const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct LearnedState {
    pub version: u32,
    /// The end of the learned history (RFC 3339): a replay from this state
    /// starts here.
    pub learned_until: String,
    pub baselines: Vec<Baseline>,
    /// The org's learned context. States written before it had a field of its
    /// own hold it as the baseline of [`LEGACY_ORG_IDENTITY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<OrgLearned>,
}

impl LearnedState {
    pub fn new(until: Millis, (baselines, org): (Vec<Baseline>, Option<OrgLearned>)) -> Self {
        LearnedState {
            version: VERSION,
            learned_until: format_rfc3339_ms(until),
            baselines,
            org,
        }
    }

    pub fn until(&self) -> Millis {
        parse_rfc3339_ms(&self.learned_until).unwrap_or(Millis::MIN)
    }

    pub fn read(path: &Path) -> Result<Self, CliError> {
        let refuse = |why: String| CliError::State(format!("{}: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| refuse(e.to_string()))?;
        let mut state: LearnedState = serde_json::from_str(&text)
            .map_err(|e| refuse(format!("not a state written by okta-itdr learn ({e})")))?;
        if state.org.is_none()
            && state
                .baselines
                .iter()
                .any(|b| b.identity == LEGACY_ORG_IDENTITY)
        {
            state.org = legacy_org(&text);
            state
                .baselines
                .retain(|b| b.identity != LEGACY_ORG_IDENTITY);
        }
        if state.version != VERSION {
            return Err(refuse(format!(
                "state version {} is not {VERSION}: learn it again",
                state.version
            )));
        }
        if parse_rfc3339_ms(&state.learned_until).is_none() {
            return Err(refuse("learned_until is not an RFC 3339 time".into()));
        }
        Ok(state)
    }

    pub fn write(&self, path: &Path) -> Result<(), CliError> {
        let refuse = |e: std::io::Error| CliError::State(format!("{}: {e}", path.display()));
        let text = serde_json::to_vec(self)
            .map_err(|e| CliError::State(format!("{}: {e}", path.display())))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, text).map_err(refuse)?;
        std::fs::rename(&tmp, path).map_err(refuse)
    }
}

/// The org's context from a state written before it had a field of its own.
fn legacy_org(text: &str) -> Option<OrgLearned> {
    #[derive(Deserialize)]
    struct Earlier {
        baselines: Vec<serde_json::Value>,
    }
    let earlier: Earlier = serde_json::from_str(text).ok()?;
    let doc = earlier
        .baselines
        .into_iter()
        .find(|b| b["identity"] == LEGACY_ORG_IDENTITY)?;
    serde_json::from_value::<LegacyOrgBaseline>(doc)
        .ok()
        .map(OrgLearned::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let at = parse_rfc3339_ms("2026-11-01T00:00:00Z").unwrap();
        let mut org = OrgLearned::new(at - 9 * okta_itdr_core::time::DAY);
        org.seen.active.insert(20_000, 12);
        let state = LearnedState::new(
            at,
            (vec![Baseline::new("00ua", at - 1000)], Some(org.clone())),
        );
        state.write(&path).unwrap();
        let back = LearnedState::read(&path).unwrap();
        assert_eq!(back.until(), at);
        assert_eq!(back.baselines, state.baselines);
        assert_eq!(back.org, Some(org.clone()));

        // Written before the org's context had a field of its own: it was the
        // baseline of a made-up identity, and reads as the org's context.
        let mut earlier = serde_json::to_value(&state).unwrap();
        earlier.as_object_mut().unwrap().remove("org");
        earlier["baselines"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "identity": LEGACY_ORG_IDENTITY,
                "first_seen": org.first_seen,
                "last_seen": org.last_seen,
                "org": org.seen,
            }));
        std::fs::write(&path, earlier.to_string()).unwrap();
        let back = LearnedState::read(&path).unwrap();
        assert_eq!(back.org, Some(org));
        assert_eq!(back.baselines, state.baselines);
        std::fs::write(&path, "{}").unwrap();
        let err = LearnedState::read(&path).unwrap_err().to_string();
        assert!(err.contains("okta-itdr learn"), "{err}");
        let err = LearnedState::read(&dir.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.json"), "{err}");
    }
}
