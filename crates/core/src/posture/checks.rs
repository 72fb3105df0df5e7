//! The posture checks. Each reads parts of the inventory and ends pass, fail
//! (with every failing subject) or unknown: a part the credentials could not
//! read, or an inventory with nothing to judge where a real org always has
//! something (users, administrators, policies), is never a pass.

use crate::detect::Severity;
use crate::time::{Millis, DAY};

use super::config::PostureConfig;
use super::model::{Admin, Inventory, Part, User};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Unknown,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

/// What a check is, for the catalog, the table and the finding.
#[derive(Debug, Clone, Copy)]
pub struct CheckMeta {
    pub id: &'static str,
    pub title: &'static str,
    /// The severity of a failure.
    pub severity: Severity,
    /// The guidance it follows (DISA STIG rule, Okta HealthInsight).
    pub sources: &'static [&'static str],
    pub remediation: &'static str,
}

/// A failing user, token, app, policy or setting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Subject {
    pub uid: String,
    pub name: String,
    /// `user`, `api_token`, `application`, `policy_rule`, `policy`, `log_stream`, `org`.
    pub kind: &'static str,
    /// Why it fails, e.g. `factors: push, sms`.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub verdict: Verdict,
    /// How many subjects were examined.
    pub evaluated: usize,
    pub subjects: Vec<Subject>,
    /// For unknown: what could not be read. Otherwise what was examined.
    pub note: String,
}

pub const CHECKS: &[CheckMeta] = &[
    CheckMeta {
        id: "admin_mfa_not_phishing_resistant",
        title: "Administrator without a phishing-resistant factor",
        severity: Severity::High,
        sources: &[
            "DISA Okta IDaaS STIG V-273191 (Admin Console: non-phishable authenticators only), V-273193 (Admin Console: MFA)",
            "Okta HealthInsight: enable MFA for Okta administration access",
        ],
        remediation: "Enrol every administrator in FIDO2/WebAuthn or Okta FastPass and require it in the Okta Admin Console's authentication policy.",
    },
    CheckMeta {
        id: "user_without_mfa",
        title: "Active user with no second factor after the grace period",
        severity: Severity::Medium,
        sources: &[
            "DISA Okta IDaaS STIG V-273190 (Dashboard: non-phishable authenticators only)",
        ],
        remediation: "Require enrolment of a second factor (authenticator enrolment policy) and follow up with the listed users.",
    },
    CheckMeta {
        id: "super_admin_count_high",
        title: "More Super Administrators than the threshold",
        severity: Severity::Medium,
        sources: &["Okta HealthInsight: limit the number of Super Administrators"],
        remediation: "Give administrators the narrowest standard or custom role that fits their work.",
    },
    CheckMeta {
        id: "dormant_admin",
        title: "Administrator without a sign-in for the threshold period",
        severity: Severity::Medium,
        sources: &[
            "DISA Okta IDaaS STIG V-273188 (disable accounts after 35 days of inactivity)",
        ],
        remediation: "Remove the admin roles of dormant administrators, or deactivate them.",
    },
    CheckMeta {
        id: "api_token_network_unrestricted",
        title: "API token usable from any network",
        severity: Severity::Medium,
        sources: &["Okta documentation: API token network restrictions"],
        remediation: "Restrict each API token to the network zones of its integration (Security > API > Tokens), or replace it with an OAuth service app.",
    },
    CheckMeta {
        id: "api_token_owned_by_super_admin",
        title: "API token acting as a Super Administrator",
        severity: Severity::High,
        sources: &["Okta documentation: an API token acts with the permissions of the admin who created it"],
        remediation: "Recreate the token as a dedicated service account with the narrowest role, or use an OAuth service app with read scopes.",
    },
    CheckMeta {
        id: "service_app_admin_scopes",
        title: "Service app granted Okta API write (manage) scopes",
        severity: Severity::Medium,
        sources: &["Okta: grant service apps the least Okta API scopes they need"],
        remediation: "Revoke okta.*.manage grants a service app does not need (Applications > the app > Okta API Scopes).",
    },
    CheckMeta {
        id: "threatinsight_not_blocking",
        title: "Okta ThreatInsight does not block suspicious IPs",
        severity: Severity::Medium,
        sources: &["Okta documentation: Configure Okta ThreatInsight (log and enforce)"],
        remediation: "Set Security > General > Okta ThreatInsight to \"Log and enforce security based on threat level\".",
    },
    CheckMeta {
        id: "log_stream_inactive",
        title: "No active System Log stream",
        severity: Severity::High,
        sources: &[
            "okta-itdr ingests the System Log through the AWS EventBridge log stream",
        ],
        remediation: "Activate the AWS EventBridge log stream (Reports > Log Streaming) that feeds okta-itdr.",
    },
    CheckMeta {
        id: "admin_console_session_too_long",
        title: "Global session idle or lifetime longer than allowed",
        severity: Severity::Medium,
        sources: &[
            "DISA Okta IDaaS STIG V-273186 (15-minute idle), V-273203 (18-hour lifetime), V-273187 (Admin Console idle)",
        ],
        remediation: "In each global session policy rule, set the maximum idle time to 15 minutes and the maximum session lifetime to 18 hours.",
    },
    CheckMeta {
        id: "password_policy_weak",
        title: "Password policy with a short minimum length or no lockout",
        severity: Severity::Medium,
        sources: &[
            "DISA Okta IDaaS STIG V-273195 (15-character minimum), V-273189 (lock out after three failed attempts)",
        ],
        remediation: "Set the minimum length to 15 characters and a lockout after a few failed attempts in every active password policy.",
    },
    CheckMeta {
        id: "anonymizer_not_blocked",
        title: "No network zone blocks anonymising proxies",
        severity: Severity::Medium,
        sources: &["Okta documentation: dynamic network zones blocking anonymizers"],
        remediation: "Create an active dynamic (or enhanced dynamic) blocklist zone for all anonymizers, including Tor.",
    },
];

pub fn meta(id: &str) -> Option<&'static CheckMeta> {
    CHECKS.iter().find(|c| c.id == id)
}

/// Every check over `inv`, in catalog order.
pub fn evaluate(inv: &Inventory, config: &PostureConfig) -> Vec<CheckResult> {
    CHECKS
        .iter()
        .map(|m| {
            let outcome = match m.id {
                "admin_mfa_not_phishing_resistant" => admin_mfa(inv),
                "user_without_mfa" => user_without_mfa(inv, config),
                "super_admin_count_high" => super_admins(inv, config),
                "dormant_admin" => dormant_admin(inv, config),
                "api_token_network_unrestricted" => token_network(inv),
                "api_token_owned_by_super_admin" => token_super_admin(inv),
                "service_app_admin_scopes" => service_app_scopes(inv),
                "threatinsight_not_blocking" => threatinsight(inv),
                "log_stream_inactive" => log_streams(inv),
                "admin_console_session_too_long" => sessions(inv, config),
                "password_policy_weak" => passwords(inv, config),
                "anonymizer_not_blocked" => anonymizers(inv),
                _ => Err(format!("no evaluation for {}", m.id)),
            };
            match outcome {
                Ok((evaluated, subjects, note)) => CheckResult {
                    id: m.id,
                    verdict: if subjects.is_empty() {
                        Verdict::Pass
                    } else {
                        Verdict::Fail
                    },
                    evaluated,
                    subjects,
                    note,
                },
                Err(reason) => CheckResult {
                    id: m.id,
                    verdict: Verdict::Unknown,
                    evaluated: 0,
                    subjects: Vec::new(),
                    note: reason,
                },
            }
        })
        .collect()
}

/// `(examined, failing subjects, note)`, or why the check cannot be judged.
type Outcome = Result<(usize, Vec<Subject>, String), String>;

fn need<'a, T>(part: &'a Part<T>, what: &str) -> Result<&'a T, String> {
    match part {
        Part::Known(t) => Ok(t),
        Part::Unknown(reason) => Err(format!("{what} could not be read: {reason}")),
    }
}

/// The org's active administrators; none visible means the roles were not
/// really readable (every org has a Super Administrator).
fn admins(inv: &Inventory) -> Result<Vec<(&Admin, &User)>, String> {
    let admins = need(&inv.admins, "admin role assignments")?;
    let users = need(&inv.users, "users")?;
    let list: Vec<(&Admin, &User)> = admins
        .iter()
        .filter_map(|a| users.iter().find(|u| u.id == a.user_id).map(|u| (a, u)))
        .filter(|(_, u)| u.is_active())
        .collect();
    if list.is_empty() {
        return Err("no active administrator is visible (every org has a Super Administrator): the role assignments were not readable".to_owned());
    }
    Ok(list)
}

fn user_subject(u: &User, detail: String) -> Subject {
    Subject {
        uid: u.id.clone(),
        name: u.login.clone(),
        kind: "user",
        detail,
    }
}

fn roles_of(a: &Admin) -> String {
    let mut r: Vec<&str> = a.roles.iter().map(|r| r.role_type.as_str()).collect();
    r.sort_unstable();
    r.dedup();
    r.join(", ")
}

fn admin_mfa(inv: &Inventory) -> Outcome {
    let admins = admins(inv)?;
    let factors = need(&inv.factors, "factors")?;
    let mut failing = Vec::new();
    for (a, u) in &admins {
        let Some(list) = factors.get(&u.id) else {
            return Err(format!(
                "the factors of administrator {} were not read",
                u.login
            ));
        };
        if !list
            .iter()
            .any(|f| f.is_active() && f.is_phishing_resistant())
        {
            let mut types: Vec<&str> = list
                .iter()
                .filter(|f| f.is_active())
                .map(|f| f.factor_type.as_str())
                .collect();
            types.sort_unstable();
            let types = if types.is_empty() {
                "none".to_owned()
            } else {
                types.join(", ")
            };
            failing.push(user_subject(
                u,
                format!("roles: {}; active factors: {types}", roles_of(a)),
            ));
        }
    }
    Ok((
        admins.len(),
        failing,
        format!("{} administrators", admins.len()),
    ))
}

fn user_without_mfa(inv: &Inventory, config: &PostureConfig) -> Outcome {
    let users = need(&inv.users, "users")?;
    let factors = need(&inv.factors, "factors")?;
    let cutoff = inv.fetched_at - i64::from(config.mfa_grace_days) * DAY;
    // Past the grace period: created before the cutoff (unknown creation counts as old).
    let due: Vec<&User> = users
        .iter()
        .filter(|u| u.is_active() && u.created.is_none_or(|c| c <= cutoff))
        .collect();
    if due.is_empty() {
        return Err(format!(
            "no active user older than {} days is visible",
            config.mfa_grace_days
        ));
    }
    let mut failing = Vec::new();
    for u in &due {
        let Some(list) = factors.get(&u.id) else {
            return Err(format!("the factors of {} were not read", u.login));
        };
        if !list.iter().any(|f| f.is_active() && f.is_mfa()) {
            failing.push(user_subject(
                u,
                format!(
                    "no active second factor, account created {}",
                    date(u.created)
                ),
            ));
        }
    }
    Ok((
        due.len(),
        failing,
        format!(
            "{} active users older than {} days",
            due.len(),
            config.mfa_grace_days
        ),
    ))
}

fn super_admins(inv: &Inventory, config: &PostureConfig) -> Outcome {
    let admins = admins(inv)?;
    let supers: Vec<&User> = admins
        .iter()
        .filter(|(a, _)| a.is_super_admin())
        .map(|(_, u)| *u)
        .collect();
    let note = format!(
        "{} active Super Administrators (at most {})",
        supers.len(),
        config.max_super_admins
    );
    let failing = if supers.len() > config.max_super_admins {
        supers
            .iter()
            .map(|u| user_subject(u, "Super Administrator".to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    Ok((supers.len(), failing, note))
}

fn dormant_admin(inv: &Inventory, config: &PostureConfig) -> Outcome {
    let admins = admins(inv)?;
    let cutoff = inv.fetched_at - i64::from(config.dormant_admin_days) * DAY;
    let failing = admins
        .iter()
        .filter(|(_, u)| match u.last_login {
            Some(t) => t < cutoff,
            // Never signed in: dormant once the account itself is that old.
            None => u.created.is_none_or(|c| c < cutoff),
        })
        .map(|(a, u)| {
            user_subject(
                u,
                format!(
                    "roles: {}; last sign-in {}",
                    roles_of(a),
                    u.last_login.map_or("never".to_owned(), |t| date(Some(t)))
                ),
            )
        })
        .collect();
    Ok((
        admins.len(),
        failing,
        format!(
            "{} administrators, dormant after {} days",
            admins.len(),
            config.dormant_admin_days
        ),
    ))
}

fn token_network(inv: &Inventory) -> Outcome {
    let tokens = need(&inv.api_tokens, "API tokens")?;
    let failing = tokens
        .iter()
        .filter(|t| t.network_connection.as_deref().unwrap_or("ANYWHERE") == "ANYWHERE")
        .map(|t| Subject {
            uid: t.id.clone(),
            name: t.name.clone(),
            kind: "api_token",
            detail: format!("network: any; acts as user {}", t.user_id),
        })
        .collect();
    Ok((
        tokens.len(),
        failing,
        format!("{} API tokens", tokens.len()),
    ))
}

fn token_super_admin(inv: &Inventory) -> Outcome {
    let tokens = need(&inv.api_tokens, "API tokens")?;
    if tokens.is_empty() {
        return Ok((0, Vec::new(), "no API tokens".to_owned()));
    }
    let admins = admins(inv)?;
    let failing = tokens
        .iter()
        .filter(|t| {
            admins
                .iter()
                .any(|(a, u)| u.id == t.user_id && a.is_super_admin())
        })
        .map(|t| {
            let owner = inv
                .user(&t.user_id)
                .map_or(t.user_id.as_str(), |u| &u.login);
            Subject {
                uid: t.id.clone(),
                name: t.name.clone(),
                kind: "api_token",
                detail: format!("acts as Super Administrator {owner}"),
            }
        })
        .collect();
    Ok((
        tokens.len(),
        failing,
        format!("{} API tokens", tokens.len()),
    ))
}

fn service_app_scopes(inv: &Inventory) -> Outcome {
    let apps = need(&inv.service_apps, "applications")?;
    let active: Vec<_> = apps.iter().filter(|a| a.status == "ACTIVE").collect();
    let mut failing = Vec::new();
    for app in &active {
        let Some(scopes) = &app.scopes else {
            return Err(format!(
                "the scope grants of app {} were not read",
                app.label
            ));
        };
        let mut manage: Vec<&str> = scopes
            .iter()
            .map(String::as_str)
            .filter(|s| s.starts_with("okta.") && s.ends_with(".manage"))
            .collect();
        manage.sort_unstable();
        if !manage.is_empty() {
            failing.push(Subject {
                uid: app.id.clone(),
                name: app.label.clone(),
                kind: "application",
                detail: format!("scopes: {}", manage.join(", ")),
            });
        }
    }
    Ok((
        active.len(),
        failing,
        format!("{} active service apps", active.len()),
    ))
}

fn org_subject(name: &str, detail: String) -> Subject {
    Subject {
        uid: name.to_owned(),
        name: name.to_owned(),
        kind: "org",
        detail,
    }
}

fn threatinsight(inv: &Inventory) -> Outcome {
    let t = need(&inv.threat_insight, "the ThreatInsight configuration")?;
    let failing = if t.action == "block" {
        Vec::new()
    } else {
        vec![org_subject(
            &inv.org,
            format!("ThreatInsight action: {}", t.action),
        )]
    };
    Ok((1, failing, format!("action {}", t.action)))
}

fn log_streams(inv: &Inventory) -> Outcome {
    let streams = need(&inv.log_streams, "log streams")?;
    let mut failing: Vec<Subject> = streams
        .iter()
        .filter(|s| s.status != "ACTIVE")
        .map(|s| Subject {
            uid: s.id.clone(),
            name: s.name.clone(),
            kind: "log_stream",
            detail: format!("{} stream is {}", s.stream_type, s.status),
        })
        .collect();
    if !streams.iter().any(|s| s.status == "ACTIVE") && failing.is_empty() {
        failing.push(org_subject(
            &inv.org,
            "no log stream is configured".to_owned(),
        ));
    }
    Ok((
        streams.len(),
        failing,
        format!("{} log streams", streams.len()),
    ))
}

fn sessions(inv: &Inventory, config: &PostureConfig) -> Outcome {
    let rules = need(&inv.session_rules, "global session policies")?;
    if rules.is_empty() {
        return Err("no active global session policy rule is visible".to_owned());
    }
    let failing = rules
        .iter()
        .filter_map(|r| {
            let mut why = Vec::new();
            match r.idle_minutes {
                Some(i) if i <= config.max_session_idle_minutes => {}
                i => why.push(format!(
                    "idle {} min (max {})",
                    i.map_or("unset".to_owned(), |i| i.to_string()),
                    config.max_session_idle_minutes
                )),
            }
            match r.lifetime_minutes {
                Some(l) if l > 0 && l <= config.max_session_lifetime_minutes => {}
                l => why.push(format!(
                    "lifetime {} (max {} min)",
                    match l {
                        Some(0) | None => "unlimited".to_owned(),
                        Some(l) => format!("{l} min"),
                    },
                    config.max_session_lifetime_minutes
                )),
            }
            (!why.is_empty()).then(|| Subject {
                uid: format!("{}/{}", r.policy, r.rule),
                name: format!("{} / {}", r.policy, r.rule),
                kind: "policy_rule",
                detail: why.join("; "),
            })
        })
        .collect();
    Ok((
        rules.len(),
        failing,
        format!("{} session rules", rules.len()),
    ))
}

fn passwords(inv: &Inventory, config: &PostureConfig) -> Outcome {
    let policies = need(&inv.password_policies, "password policies")?;
    if policies.is_empty() {
        return Err("no active password policy is visible".to_owned());
    }
    let failing = policies
        .iter()
        .filter_map(|p| {
            let mut why = Vec::new();
            let min = p.min_length.unwrap_or(0);
            if min < config.min_password_length {
                why.push(format!(
                    "minimum length {min} (at least {})",
                    config.min_password_length
                ));
            }
            if p.lockout_attempts.unwrap_or(0) == 0 {
                why.push("no lockout".to_owned());
            }
            (!why.is_empty()).then(|| Subject {
                uid: p.id.clone(),
                name: p.name.clone(),
                kind: "policy",
                detail: why.join("; "),
            })
        })
        .collect();
    Ok((
        policies.len(),
        failing,
        format!("{} password policies", policies.len()),
    ))
}

fn anonymizers(inv: &Inventory) -> Outcome {
    let zones = need(&inv.zones, "network zones")?;
    let failing = if zones.iter().any(|z| z.blocks_anonymizers()) {
        Vec::new()
    } else {
        vec![org_subject(
            &inv.org,
            "no active blocklist zone covers Tor and other anonymizers".to_owned(),
        )]
    };
    Ok((
        zones.len(),
        failing,
        format!("{} network zones", zones.len()),
    ))
}

fn date(t: Option<Millis>) -> String {
    match t {
        Some(t) => crate::time::format_rfc3339_ms(t)
            .get(..10)
            .unwrap_or_default()
            .to_owned(),
        None => "unknown".to_owned(),
    }
}
