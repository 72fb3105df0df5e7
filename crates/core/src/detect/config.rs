//! Detector configuration: which detections run, their thresholds, and the
//! run's bounds. Read from JSON so the Lambda and the CLI take the same file.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::catalog::{self, DetectionMeta, Risk};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("unknown detection {0:?}")]
    UnknownDetection(String),
    #[error("unknown threshold {0:?} (expected <detection>.<name>)")]
    UnknownThreshold(String),
    #[error("threshold {0} must be a positive number, got {1}")]
    BadThreshold(String, f64),
    #[error("invalid detector configuration: {0}")]
    Invalid(String),
}

/// Seven days: longer than the recovery queue keeps retrying an event (about
/// four days), so whatever recovery stores is still analysed.
pub const DEFAULT_LATE_HORIZON_HOURS: u32 = 7 * 24;

/// What pages alone from one event and cannot wait for the hour: tampering
/// with the log stream this system reads, admin rights granted, MFA removed
/// org-wide or from a policy, a new identity provider, Okta's own high-risk
/// detections, a service app with admin scopes, support impersonation.
pub const DEFAULT_FAST_PATH: &[&str] = &[
    "log_stream_tampering",
    "admin_role_granted",
    "mfa_disabled_org_wide",
    "security_policy_weakened",
    "idp_created_or_modified",
    "okta_itp_detection",
    "user_risk_high",
    "service_app_admin_scope_grant",
    "support_impersonation",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Detection ids that do not run.
    pub disabled: BTreeSet<String>,
    /// `<detection>.<threshold>` → value, overriding the catalog default.
    pub thresholds: BTreeMap<String, f64>,
    /// History kept per identity for the "new X" detections.
    pub baseline_days: u32,
    /// An identity younger than this has no baseline to judge "new" against.
    pub baseline_min_days: u32,
    /// Repeats of a detection for a principal within this period update the
    /// delivered alert instead of sending another.
    pub suppression_hours: u32,
    /// Hours analysed on the first run.
    pub first_run_hours: u32,
    /// Hours analysed per run at most, so a catch-up fits the Lambda timeout.
    pub max_hours_per_run: u32,
    /// Event hours older than this are not re-checked for late arrivals. A week
    /// by default, so events recovered after a multi-day outage are analysed;
    /// it must not exceed the activity retention (the records would be gone).
    pub late_horizon_hours: u32,
    /// Evidence event uuids listed in an alert, at most.
    pub max_evidence: usize,
    /// Publish attempts of one finding before it is quarantined.
    pub max_delivery_attempts: u32,
    /// The wait after the first failed publish; it doubles with every further
    /// failure, up to a day. Runs are hourly, so the default retries on the
    /// next run (a run's clock is its schedule: exactly an hour later).
    pub delivery_retry_minutes: u32,
    /// A delivery claimed and never confirmed after this long is in doubt: the
    /// publish may have happened, so it is quarantined rather than resent. At
    /// least the detect function's timeout.
    pub delivery_lease_minutes: u32,
    /// The risk of one incident at which its findings publish as one alert.
    pub risk_threshold: u32,
    /// `<detection>` → risk weight, overriding the catalog: a detection given a
    /// weight contributes risk instead of alerting on its own.
    pub risk_weights: BTreeMap<String, u32>,
    /// Detections that alert on their own even where the catalog has them
    /// contribute risk.
    pub always_alert: BTreeSet<String>,
    /// Distinct users signing in successfully from a network (an IPv4 /24, an
    /// IPv6 /48) that make it one of the org's own: an office, VPN or SASE egress.
    pub org_network_users: u32,
    /// The share of the org's active users (the busiest recent day's) that
    /// must sign in from a network to make it the org's, when more than
    /// `org_network_users` (at most 15 users).
    pub org_network_share: f64,
    /// Distinct days on which a network or proxy provider must have taught
    /// before it is the org's: a phishing proxy relaying a morning of sign-ins
    /// does not earn it.
    pub org_network_days: u32,
    /// How long a principal's findings add up (the risk ledger), in hours.
    pub risk_window_hours: u32,
    /// Countries, as Okta names them in `client.geographicalContext.country`
    /// (`Russia`, `Iran`, `North Korea`), a successful sign-in from which is
    /// reported by `sign_in_from_restricted_country`; compared ignoring case.
    /// Empty by default, so that detection never fires: which countries an org
    /// cannot have its people sign in from (sanctions, policy) is its own call.
    pub restricted_countries: Vec<String>,
    /// Single-event detections the ingest function publishes as soon as their
    /// event is stored, when the finding is high or critical and would page
    /// on its own: seconds instead of the next hourly run. The hourly run
    /// never publishes them again.
    pub fast_path: BTreeSet<String>,
    /// Custom rules of level high or critical take the fast path too.
    pub fast_path_custom_rules: bool,
    /// The custom Sigma correlation rules, from the rules the deployment (or
    /// `replay --rules`) loads; not part of the JSON configuration.
    #[serde(skip)]
    pub correlations: std::sync::Arc<[crate::sigma::Correlation]>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            disabled: BTreeSet::new(),
            thresholds: BTreeMap::new(),
            baseline_days: 30,
            baseline_min_days: 7,
            suppression_hours: 24,
            first_run_hours: 24,
            max_hours_per_run: 12,
            late_horizon_hours: DEFAULT_LATE_HORIZON_HOURS,
            max_evidence: 50,
            max_delivery_attempts: 5,
            delivery_retry_minutes: 55,
            delivery_lease_minutes: 15,
            risk_threshold: 100,
            risk_weights: BTreeMap::new(),
            always_alert: BTreeSet::new(),
            org_network_users: 5,
            org_network_share: 0.01,
            org_network_days: 4,
            risk_window_hours: 24,
            restricted_countries: Vec::new(),
            fast_path: DEFAULT_FAST_PATH.iter().map(|s| (*s).to_owned()).collect(),
            fast_path_custom_rules: true,
            correlations: std::sync::Arc::from([]),
        }
    }
}

impl DetectConfig {
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let cfg: DetectConfig =
            serde_json::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for id in self
            .disabled
            .iter()
            .chain(self.risk_weights.keys())
            .chain(&self.always_alert)
        {
            catalog::find(id).ok_or_else(|| ConfigError::UnknownDetection(id.clone()))?;
        }
        for id in &self.fast_path {
            catalog::find(id).ok_or_else(|| ConfigError::UnknownDetection(id.clone()))?;
            if !super::single::per_event(id) {
                return Err(ConfigError::Invalid(format!(
                    "fast_path: {id:?} is not a detection that fires on one event alone"
                )));
            }
        }
        for (key, value) in &self.thresholds {
            let (id, name) = key
                .split_once('.')
                .ok_or_else(|| ConfigError::UnknownThreshold(key.clone()))?;
            let meta =
                catalog::find(id).ok_or_else(|| ConfigError::UnknownDetection(id.to_owned()))?;
            if !meta.thresholds.iter().any(|(n, _)| *n == name) {
                return Err(ConfigError::UnknownThreshold(key.clone()));
            }
            if !(value.is_finite() && *value > 0.0) {
                return Err(ConfigError::BadThreshold(key.clone(), *value));
            }
        }
        if self.risk_threshold == 0 || self.org_network_users < 2 {
            return Err(ConfigError::Invalid(
                "risk_threshold must be at least 1 and org_network_users at least 2".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.org_network_share)
            || self.org_network_days == 0
            || self.org_network_days as usize > super::alerting::context::MAX_DAYS
        {
            return Err(ConfigError::Invalid(format!(
                "org_network_share must be between 0 and 1 and org_network_days between 1 and {}",
                super::alerting::context::MAX_DAYS
            )));
        }
        if self.risk_window_hours == 0 || self.risk_window_hours > 7 * 24 {
            return Err(ConfigError::Invalid(
                "risk_window_hours must be between 1 and 168".into(),
            ));
        }
        if self.max_hours_per_run == 0 || self.first_run_hours == 0 {
            return Err(ConfigError::Invalid(
                "max_hours_per_run and first_run_hours must be at least 1".into(),
            ));
        }
        // Okta writes country names, never ISO codes: `RU` or `` would silently
        // never match.
        if let Some(bad) = self
            .restricted_countries
            .iter()
            .find(|c| c.trim().chars().count() <= 3)
        {
            return Err(ConfigError::Invalid(format!(
                "restricted_countries: {bad:?} is not a country name; write it as Okta's System Log does (\"Russia\", \"Iran\")"
            )));
        }
        if self.max_delivery_attempts == 0 || self.delivery_lease_minutes == 0 {
            return Err(ConfigError::Invalid(
                "max_delivery_attempts and delivery_lease_minutes must be at least 1".into(),
            ));
        }
        Ok(())
    }

    pub fn enabled(&self, id: &str) -> bool {
        !self.disabled.contains(id)
    }

    /// A threshold's configured value, else the catalog default.
    pub fn threshold(&self, id: &str, name: &str) -> f64 {
        if let Some(v) = self.thresholds.get(&format!("{id}.{name}")) {
            return *v;
        }
        catalog::find(id)
            .and_then(|m| m.thresholds.iter().find(|(n, _)| *n == name))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("detection {id} has no threshold {name}: a catalog bug"))
    }

    /// How a detection's findings reach a person, with configuration applied.
    pub fn risk(&self, meta: &DetectionMeta) -> Risk {
        if self.always_alert.contains(meta.id) {
            return Risk::Alerts;
        }
        match self.risk_weights.get(meta.id) {
            Some(w) => Risk::Contributes(*w),
            None => meta.risk,
        }
    }

    /// Whether a country, as the record names it, is on the restricted list.
    pub fn restricted_country(&self, country: &str) -> bool {
        let country = country.trim();
        self.restricted_countries
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(country))
    }

    /// The effective thresholds of a detection, for display.
    pub fn thresholds_of(&self, meta: &DetectionMeta) -> Vec<(&'static str, f64)> {
        meta.thresholds
            .iter()
            .map(|(n, _)| (*n, self.threshold(meta.id, n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_validation() {
        let cfg = DetectConfig::from_json(
            r#"{"disabled":["account_locked"],"thresholds":{"brute_force_user.failures":15}}"#,
        )
        .unwrap();
        assert!(!cfg.enabled("account_locked"));
        assert!(cfg.enabled("brute_force_ip"));
        assert_eq!(cfg.threshold("brute_force_user", "failures"), 15.0);
        assert_eq!(cfg.threshold("brute_force_ip", "failures"), 20.0);
        assert_eq!(
            DetectConfig::from_json(r#"{"disabled":["nope"]}"#).unwrap_err(),
            ConfigError::UnknownDetection("nope".into())
        );
        assert!(matches!(
            DetectConfig::from_json(r#"{"thresholds":{"brute_force_user.nope":1}}"#),
            Err(ConfigError::UnknownThreshold(_))
        ));
        assert!(matches!(
            DetectConfig::from_json(r#"{"thresholds":{"brute_force_user.failures":-1}}"#),
            Err(ConfigError::BadThreshold(..))
        ));
        let cfg = DetectConfig::from_json(
            r#"{"risk_weights":{"proxy_sign_in":25},"always_alert":["new_country"]}"#,
        )
        .unwrap();
        let risk = |id| cfg.risk(catalog::find(id).unwrap());
        assert_eq!(risk("proxy_sign_in"), Risk::Contributes(25));
        assert_eq!(risk("new_country"), Risk::Alerts);
        assert_eq!(risk("mfa_factor_reset"), Risk::Contributes(30));
        assert_eq!(
            DetectConfig::from_json(r#"{"risk_weights":{"nope":1}}"#).unwrap_err(),
            ConfigError::UnknownDetection("nope".into())
        );
        assert!(matches!(
            DetectConfig::from_json(r#"{"typo":1}"#),
            Err(ConfigError::Invalid(_))
        ));
    }
}
