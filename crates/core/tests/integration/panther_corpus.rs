//! Panther's Okta rule tests as a peer corpus: 72 cases for 32 of Panther's Okta
//! rules, each an Okta LogEvent and whether Panther's rule matches it on its own
//! (`shared/peer-tests/panther-okta/`, next to the repository).
//!
//! The corpus is not part of the repository. It is read from
//! `$OKTA_ITDR_PANTHER_CORPUS`, else from `../shared/peer-tests/panther-okta/tests.jsonl`
//! beside the repository. When neither exists these tests print one line and
//! pass, so a fresh clone's test command passes; with `CI` set (or with the
//! variable naming a file that is not there) a missing corpus fails them.
//!
//! [`MAPPING`] says, for every rule of the corpus, which of our detections
//! corresponds, or why none does. For each mapped rule our per-event match
//! ([`matches_event`]: for single-event detections, that the detection fires; for
//! windowed ones, that the event counts toward the window) must agree with
//! Panther's on every case.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use okta_itdr_core::detect::{catalog, matches_event, DetectConfig, Kind};
use okta_itdr_core::event::{EventError, LogEvent};
use okta_itdr_core::record::{ActivityRecord, Role};
use okta_itdr_testkit::normalizer;
use serde_json::{json, Value};

/// Which of our detections corresponds to a Panther rule.
#[derive(Debug, Clone, Copy)]
enum Mapping {
    /// This detection's per-event match must equal Panther's on every case.
    Ours(&'static str),
    /// No detection of ours corresponds; the reason says why.
    None(&'static str),
}

use Mapping::Ours;

const MAPPING: &[(&str, Mapping)] = &[
    ("Okta.APIKeyCreated", Ours("api_token_created")),
    ("Okta.APIKeyRevoked", Mapping::None("revoking an API token removes access; it is not a threat signal, and it stays on the actor's timeline")),
    ("Okta.AdminRoleAssigned", Ours("admin_role_granted")),
    // Panther matches every sign-in attempt through a proxy; its cases are all
    // failures, proxy_sign_in_failed's half (proxy_sign_in has the successes).
    ("Okta.Anonymizing.VPN.Login", Ours("proxy_sign_in_failed")),
    ("Okta.App.Unauthorized.Access.Attempt", Ours("unauthorized_app_access_burst")),
    ("Okta.Global.MFA.Disabled", Ours("mfa_disabled_org_wide")),
    // Panther matches group.privilege.grant whatever its outcome; its one
    // positive case is a FAILURE, a refused grant. Grants that took effect are
    // admin_role_granted's.
    ("Okta.Group.Admin.Role.Assigned", Ours("admin_role_grant_refused")),
    ("Okta.Identity.Provider.Created.Modified", Ours("idp_created_or_modified")),
    // Informational in Panther; every successful sign-in, through Okta or an
    // inbound identity provider, is what dormant_account_sign_in judges.
    ("Okta.Identity.Provider.SignIn", Ours("dormant_account_sign_in")),
    ("Okta.Login.Success", Ours("dormant_account_sign_in")),
    ("Okta.Login.Without.Push.Marker", Mapping::None("needs an org-specific marker that the org's own tooling adds to user agents; there is no such setting here")),
    ("Okta.New.Behavior.Accessing.Admin.Console", Ours("admin_console_new_device_and_ip")),
    ("Okta.Org2org.Creation.Modification", Ours("org2org_app_change")),
    ("Okta.Password.Extraction.via.SCIM", Ours("scim_password_push_enabled")),
    ("Okta.PasswordAccess", Ours("app_password_revealed")),
    ("Okta.Phishing.Attempt.Blocked.FastPass", Ours("fastpass_phishing_blocked")),
    ("Okta.Rate.Limits", Ours("rate_limit_violation")),
    ("Okta.Refresh.Access.Token.Reuse", Ours("refresh_token_reuse")),
    // Informational in Panther; every SSO to a named app counts toward rapid_app_access.
    ("Okta.SSO.to.AWS", Ours("rapid_app_access")),
    ("Okta.Support.Access", Ours("support_impersonation")),
    ("Okta.Support.Reset", Ours("okta_support_reset")),
    ("Okta.ThreatInsight.Security.Threat.Detected", Ours("threatinsight_threat")),
    ("Okta.User.Account.Locked", Ours("account_locked")),
    ("Okta.User.MFA.Factor.Suspend", Mapping::None("Panther's rule is suspend-only and uses a reset_all as its non-matching case; mfa_factor_reset deliberately covers suspend, deactivate and reset_all alike")),
    ("Okta.User.MFA.Reset.All", Ours("mfa_factor_reset")),
    ("Okta.User.MFA.Reset.Single", Ours("mfa_factor_reset")),
    ("Okta.User.Reported.Suspicious.Activity", Ours("user_reported_suspicious_activity")),
    ("Standard.BruteForceByIP", Ours("brute_force_ip")),
    ("Standard.BruteForceByUser", Ours("brute_force_user")),
    ("Standard.ImpossibleTravel.Login", Ours("impossible_travel")),
    ("Standard.MFADisabled", Mapping::None("Panther leaves out a user resetting their own factor, which another of its rules (Okta.User.MFA.Reset.Single) reports on the same event; mfa_factor_reset reports it too, with the fact by_self")),
    // Compared with Panther's default list configured (see [`PANTHER_ROGUE_STATES`]).
    ("Standard.SignInFromRogueState", Ours("sign_in_from_restricted_country")),
];

/// Panther's `ROGUE_STATES` (`CN`, `IR`, `RU`), as Okta names those countries:
/// the list its rule ships with. Ours ships with none.
const PANTHER_ROGUE_STATES: &[&str] = &["China", "Iran", "Russia"];

/// Our configuration with Panther's defaults where Panther has a setting we
/// leave to the org.
fn panther_config() -> DetectConfig {
    DetectConfig {
        restricted_countries: PANTHER_ROGUE_STATES
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        ..DetectConfig::default()
    }
}

/// Published time given to logs that have none (some of Panther's test logs).
const INJECTED_PUBLISHED: &str = "2024-01-01T00:00:00.000Z";

struct Case {
    line: usize,
    rule: String,
    test: String,
    expected: bool,
    log: Value,
}

/// Names the corpus file; when set, the file must exist.
const CORPUS_VAR: &str = "OKTA_ITDR_PANTHER_CORPUS";

fn corpus_path() -> (PathBuf, bool) {
    match std::env::var_os(CORPUS_VAR) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), true),
        _ => (
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/peer-tests/panther-okta/tests.jsonl"),
            std::env::var_os("CI").is_some_and(|v| !v.is_empty()),
        ),
    }
}

/// The corpus cases, or `None` (after one line on stderr) when the corpus is
/// absent and nothing requires it.
fn corpus() -> Option<Vec<Case>> {
    let (path, required) = corpus_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "Panther peer corpus not found at {}: conformance suite not run (set {CORPUS_VAR} to its tests.jsonl)",
                path.display()
            );
            return None;
        }
        Err(e) => panic!(
            "the Panther peer corpus is required here but cannot be read: {} ({e}). Set {CORPUS_VAR} \
             to its tests.jsonl, or place it at <repository>/../shared/peer-tests/panther-okta/tests.jsonl",
            path.display()
        ),
    };
    let cases: Vec<Case> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", path.display(), i + 1));
            let field = |k: &str| {
                v.get(k)
                    .unwrap_or_else(|| panic!("{}:{}: no {k}", path.display(), i + 1))
            };
            Case {
                line: i + 1,
                rule: field("panther_rule")
                    .as_str()
                    .expect("panther_rule is text")
                    .to_owned(),
                test: field("test").as_str().unwrap_or_default().to_owned(),
                expected: field("expected").as_bool().expect("expected is a boolean"),
                log: field("log").clone(),
            }
        })
        .collect();
    assert!(
        cases.len() >= 72,
        "the Panther peer corpus at {} has {} cases, expected 72",
        path.display(),
        cases.len()
    );
    Some(cases)
}

fn has_text(log: &Value, key: &str) -> bool {
    log.get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// The log with a uuid (derived from its line) and a published time where
/// Panther's test leaves them out.
fn completed(case: &Case) -> Value {
    let mut log = case.log.clone();
    if !has_text(&log, "uuid") {
        log["uuid"] = json!(format!("panther-corpus-line-{}", case.line));
    }
    if !has_text(&log, "published") {
        log["published"] = json!(INJECTED_PUBLISHED);
    }
    log
}

fn actor_record(case: &Case) -> ActivityRecord {
    let event = LogEvent::from_value(completed(case))
        .unwrap_or_else(|e| panic!("line {} ({} / {}): {e}", case.line, case.rule, case.test));
    let record = normalizer().normalize(&event).remove(0);
    assert_eq!(record.role, Role::Actor);
    record
}

fn mapping() -> BTreeMap<&'static str, Mapping> {
    MAPPING.iter().copied().collect()
}

#[test]
fn the_mapping_names_every_rule_of_the_corpus_once() {
    let Some(cases) = corpus() else { return };
    let rules: BTreeSet<String> = cases.into_iter().map(|c| c.rule).collect();
    assert_eq!(
        rules.len(),
        32,
        "the corpus should hold 32 rules: {rules:?}"
    );
    assert_eq!(mapping().len(), MAPPING.len(), "a rule is mapped twice");
    let mapped: BTreeSet<String> = MAPPING.iter().map(|(r, _)| (*r).to_owned()).collect();
    let unmapped: Vec<_> = rules.difference(&mapped).collect();
    let unknown: Vec<_> = mapped.difference(&rules).collect();
    assert!(
        unmapped.is_empty(),
        "rules of the corpus missing from MAPPING: {unmapped:?}"
    );
    assert!(
        unknown.is_empty(),
        "MAPPING names rules the corpus does not have: {unknown:?}"
    );
    let ours = MAPPING.iter().filter(|(_, m)| matches!(m, Ours(_))).count();
    assert_eq!(
        ours, 28,
        "mapped rules: keep the README's Panther table in step"
    );
    for (rule, m) in MAPPING {
        match m {
            Ours(id) => assert!(
                catalog::find(id).is_some(),
                "{rule} maps to {id}, which is not in the catalog"
            ),
            Mapping::None(reason) => assert!(
                reason.len() > 20,
                "{rule}: say why none of ours corresponds"
            ),
        }
    }
}

#[test]
fn every_log_parses_once_it_has_a_uuid_and_a_time() {
    let Some(cases) = corpus() else { return };
    let mut failures = Vec::new();
    for case in cases {
        let (has_uuid, has_published) = (
            has_text(&case.log, "uuid"),
            has_text(&case.log, "published"),
        );
        if has_uuid && has_published {
            if let Err(e) = LogEvent::from_value(case.log.clone()) {
                failures.push(format!(
                    "line {} ({} / {}): as given: {e}",
                    case.line, case.rule, case.test
                ));
            }
        }
        // Without a time an event has no place on any timeline: the model
        // requires one, and says so rather than guessing.
        if !has_published {
            let mut with_uuid = completed(&case);
            with_uuid
                .as_object_mut()
                .expect("a log is an object")
                .remove("published");
            let got = LogEvent::from_value(with_uuid);
            if got != Err(EventError::Missing("published")) {
                failures.push(format!(
                    "line {} ({} / {}): without published: {got:?}",
                    case.line, case.rule, case.test
                ));
            }
        }
        if let Err(e) = LogEvent::from_value(completed(&case)) {
            failures.push(format!(
                "line {} ({} / {}): completed: {e}",
                case.line, case.rule, case.test
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus logs do not parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Compares our per-event match with Panther's on every case of the mapped
/// rules whose detection is of `kind`; prints every disagreement.
fn agreement(kind: Kind) {
    let config = panther_config();
    let mapping = mapping();
    let mut compared = 0;
    let mut disagreements = Vec::new();
    let Some(cases) = corpus() else { return };
    for case in cases {
        let Some(Ours(id)) = mapping.get(case.rule.as_str()).copied() else {
            continue;
        };
        if catalog::find(id).map(|m| m.kind) != Some(kind) {
            continue;
        }
        compared += 1;
        let record = actor_record(&case);
        let ours = matches_event(&config, id, &record);
        if ours != case.expected {
            disagreements.push(format!(
                "line {:>2} {} / {:?}: Panther {}, {id} {} (eventType {}, outcome {}{})",
                case.line,
                case.rule,
                case.test,
                case.expected,
                ours,
                record.event.event_type,
                record.event.outcome.as_str(),
                record
                    .event
                    .reason
                    .as_deref()
                    .map(|r| format!(", reason {r:?}"))
                    .unwrap_or_default(),
            ));
        }
    }
    assert!(
        compared > 0,
        "no case of the corpus maps to a {kind:?} detection"
    );
    for d in &disagreements {
        eprintln!("disagreement: {d}");
    }
    assert!(
        disagreements.is_empty(),
        "{} of {compared} corpus cases disagree with Panther ({kind:?} detections):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn single_event_detections_agree_with_panther() {
    agreement(Kind::Single);
}

#[test]
fn windowed_detections_count_what_panther_matches() {
    agreement(Kind::Windowed);
}
