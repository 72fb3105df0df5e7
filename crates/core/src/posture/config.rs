//! The checks' thresholds. Defaults follow DISA's Okta IDaaS STIG where it sets
//! a number, Okta HealthInsight otherwise.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostureConfig {
    /// `user_without_mfa`: days a new account may go without a factor.
    pub mfa_grace_days: u32,
    /// `super_admin_count_high`: more Super Administrators than this fails.
    pub max_super_admins: usize,
    /// `dormant_admin`: an admin without a sign-in for this many days.
    pub dormant_admin_days: u32,
    /// `admin_console_session_too_long`: the longest idle time, minutes.
    pub max_session_idle_minutes: u32,
    /// `admin_console_session_too_long`: the longest session, minutes.
    pub max_session_lifetime_minutes: u32,
    /// `password_policy_weak`: the shortest acceptable minimum length.
    pub min_password_length: u32,
}

impl Default for PostureConfig {
    fn default() -> Self {
        PostureConfig {
            mfa_grace_days: 14,
            max_super_admins: 5,
            dormant_admin_days: 35,
            max_session_idle_minutes: 15,
            max_session_lifetime_minutes: 18 * 60,
            min_password_length: 15,
        }
    }
}

impl PostureConfig {
    /// The JSON of `--config`; unknown keys are refused so a typo is not ignored.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("posture configuration: {e}"))
    }
}
