//! Detections on sign-ins, sessions and Okta's own threat signals.

use super::describe::{
    actor_label, is_one_of, known, object_label, origin, person, reason_contains, target,
    type_ends_with, user_label,
};
use crate::detect::{DetectConfig, DetectionMeta, Finding, FindingPrincipal};
use crate::record::{ActivityRecord, Category, IdentityKind, Text};

// --- fastpass_phishing_blocked ------------------------------------------------

const FASTPASS_DECLINED: &str = "FastPass declined phishing attempt";

pub(super) fn fastpass_phishing_blocked(r: &ActivityRecord) -> bool {
    is_one_of(r, &["user.authentication.auth_via_mfa"])
        && r.event.outcome.is_failure()
        && reason_contains(r, FASTPASS_DECLINED)
}

pub(super) fn fastpass_phishing_blocked_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let summary = format!(
        "Okta FastPass refused to sign {} in to a phishing site{}: the user was sent to an adversary-in-the-middle page",
        actor_label(r),
        origin(r)
    );
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("reason", FASTPASS_DECLINED)
}

// --- threatinsight_threat -----------------------------------------------------

pub(super) fn threatinsight_threat(r: &ActivityRecord) -> bool {
    is_one_of(r, &["security.threat.detected"])
}

pub(super) fn threatinsight_threat_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let threat = known(r.event.reason.as_deref()).unwrap_or("a threat");
    let source = match (
        known(r.network.ip.as_deref()),
        known(r.network.country.as_deref()),
    ) {
        (Some(ip), Some(country)) => format!("{ip} ({country})"),
        (Some(ip), None) => ip.to_owned(),
        _ => actor_label(r).to_owned(),
    };
    let summary = format!(
        "Okta ThreatInsight flagged requests from {source}: {threat} (outcome {})",
        r.event.outcome.as_str()
    );
    // ThreatInsight names the source address as the actor when no user is known.
    let ip_actor = r
        .actor
        .kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("IP address"));
    let principal = match known(r.network.ip.as_deref()) {
        Some(ip) if ip_actor => FindingPrincipal::ip(ip),
        _ => FindingPrincipal::of_record(r),
    };
    Finding::from_record(meta, principal, r, summary)
        .fact("threat", threat)
        .fact("outcome", r.event.outcome.as_str())
}

// --- user_reported_suspicious_activity ----------------------------------------

pub(super) fn user_reported_suspicious_activity(r: &ActivityRecord) -> bool {
    is_one_of(r, &["user.account.report_suspicious_activity_by_enduser"])
}

pub(super) fn user_reported_suspicious_activity_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let summary = format!(
        "{} reported an account activity notification as not theirs{}",
        actor_label(r),
        origin(r)
    );
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
}

// --- proxy_sign_in ------------------------------------------------------------

pub(super) fn proxy_sign_in(r: &ActivityRecord) -> bool {
    is_one_of(r, &["user.session.start"]) && r.event.outcome.is_success() && r.network.proxy
}

pub(super) fn proxy_sign_in_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let network = known(r.network.as_org.as_deref())
        .map(|o| format!(", network {o}"))
        .unwrap_or_default();
    let summary = format!(
        "{} signed in through an anonymising proxy{}{network}",
        actor_label(r),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary);
    if let Some(asn) = r.network.asn {
        f = f.fact("asn", asn);
    }
    if let Some(org) = known(r.network.as_org.as_deref()) {
        f = f.fact("as_org", org);
    }
    f
}

// --- proxy_sign_in_failed -----------------------------------------------------

/// A failed attempt through Tor or a proxy: weak alone (the same person's typo
/// behind Private Relay looks alike), so the catalog has it add risk, and an
/// hour's attempts for one principal are one finding.
pub(super) fn proxy_sign_in_failed(r: &ActivityRecord) -> bool {
    is_one_of(r, &["user.session.start"]) && r.event.outcome.is_failure() && r.network.proxy
}

pub(super) fn proxy_sign_in_failed_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let network = known(r.network.as_org.as_deref())
        .map(|o| format!(", network {o}"))
        .unwrap_or_default();
    let because = known(r.event.reason.as_deref())
        .map(|why| format!(" ({why})"))
        .unwrap_or_default();
    let summary = format!(
        "A sign-in as {} through an anonymising proxy failed{because}{}{network}",
        actor_label(r),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary);
    if let Some(reason) = known(r.event.reason.as_deref()) {
        f = f.fact("reason", reason);
    }
    if let Some(asn) = r.network.asn {
        f = f.fact("asn", asn);
    }
    if let Some(org) = known(r.network.as_org.as_deref()) {
        f = f.fact("as_org", org);
    }
    f
}

// --- sign_in_from_restricted_country -------------------------------------------

/// A successful interactive sign-in of a user, to Okta or through an inbound
/// identity provider, from a country on the org's restricted list. Judged on
/// Okta's geolocation of the client, as every place-based detection here is.
pub(super) fn sign_in_from_restricted_country(config: &DetectConfig, r: &ActivityRecord) -> bool {
    !config.restricted_countries.is_empty()
        && r.identity_kind == IdentityKind::User
        && r.event.outcome.is_success()
        && is_one_of(
            r,
            &["user.session.start", "user.authentication.auth_via_IDP"],
        )
        && known(r.network.country.as_deref()).is_some_and(|c| config.restricted_country(c))
}

pub(super) fn sign_in_from_restricted_country_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let country = known(r.network.country.as_deref()).unwrap_or("a restricted country");
    let through = if is_one_of(r, &["user.authentication.auth_via_IDP"]) {
        " through an inbound identity provider"
    } else {
        ""
    };
    let proxy = if r.network.proxy {
        " (the address is a proxy Okta flagged)"
    } else {
        ""
    };
    let from = known(r.network.ip.as_deref())
        .map(|ip| format!(" from {ip}"))
        .unwrap_or_default();
    let summary = format!(
        "{} signed in{through}{from} in {country}, a country on the org's restricted list{proxy}",
        actor_label(r),
    );
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("country", country)
        .fact("event_type", r.event.event_type.as_str())
        .fact("proxy", r.network.proxy)
}

// --- admin_console_new_device_and_ip ------------------------------------------

const ADMIN_CONSOLE: &str = "Okta Admin Console";

pub(super) fn targets_admin_console(r: &ActivityRecord) -> bool {
    r.targets.iter().any(|t| {
        let is_app = t
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("AppInstance"));
        let named = [t.name.as_deref(), t.login.as_deref()]
            .into_iter()
            .flatten()
            .any(|n| n.trim().eq_ignore_ascii_case(ADMIN_CONSOLE));
        is_app && named
    })
}

pub(super) fn admin_console_new_device_and_ip(r: &ActivityRecord) -> bool {
    is_one_of(r, &["policy.evaluate_sign_on"])
        && targets_admin_console(r)
        && r.risk.behavior("New Device")
        && r.risk.behavior("New IP")
}

pub(super) fn admin_console_new_device_and_ip_finding(
    meta: &DetectionMeta,
    r: &ActivityRecord,
) -> Finding {
    let summary = format!(
        "{} reached the Okta Admin Console from a device and an IP Okta had not seen for them{} (policy outcome {})",
        actor_label(r),
        origin(r),
        r.event.outcome.as_str()
    );
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary).fact(
        "behaviors",
        r.risk
            .behaviors
            .iter()
            .map(Text::as_str)
            .collect::<Vec<_>>(),
    )
}

// --- password_in_username -----------------------------------------------------

/// The normaliser flags the record and keeps only a keyed hash of the typed text,
/// so neither the predicate nor the finding can repeat it.
pub(super) fn password_in_username(r: &ActivityRecord) -> bool {
    r.username_secret_like
        && matches!(r.category, Category::SignIn | Category::Mfa)
        && !r.event.outcome.is_success()
}

pub(super) fn password_in_username_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let summary = format!(
        "A failed sign-in{} was made with a username that looks like a password; the typed text is not kept, but raw Okta logs hold it",
        origin(r)
    );
    Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("outcome", r.event.outcome.as_str())
}

// --- refresh_token_reuse ------------------------------------------------------

pub(super) fn refresh_token_reuse(r: &ActivityRecord) -> bool {
    is_one_of(
        r,
        &[
            "app.oauth2.as.token.detect_reuse",
            "app.oauth2.token.detect_reuse",
        ],
    )
}

pub(super) fn refresh_token_reuse_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let user = target(r, "User").map(user_label);
    let of_user = user.map(|u| format!(" issued to {u}")).unwrap_or_default();
    let summary = format!(
        "A rotated OAuth refresh token{of_user} was presented again to {}{}",
        actor_label(r),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary);
    if let Some(user) = user {
        f = f.fact("user", user);
    }
    if let Some(id) = known(r.details.client_id.as_deref()) {
        f = f.fact("client_id", id);
    }
    f
}

// --- user_risk_high -----------------------------------------------------------

/// The level as the record holds it: `HIGH`, or Java-map text cut at the next
/// key (`HIGH, DETECTIONNAME=…`).
pub(super) fn risk_is_high(level: Option<&str>) -> bool {
    level
        .and_then(|l| l.split([',', ' ', '}']).find(|s| !s.is_empty()))
        .is_some_and(|l| l.eq_ignore_ascii_case("HIGH"))
}

pub(super) fn user_risk_high(r: &ActivityRecord) -> bool {
    is_one_of(r, &["user.risk.detect", "user.risk.change"])
        && risk_is_high(r.risk.risk_level.as_deref())
}

pub(super) fn user_risk_high_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let principal = person(r);
    let reasons = known(r.risk.risk_reasons.as_deref());
    let because = reasons.map(|x| format!(": {x}")).unwrap_or_default();
    let summary = format!("Okta raised {}'s risk to HIGH{because}", principal.label());
    let mut f = Finding::from_record(meta, principal, r, summary).fact("risk_level", "HIGH");
    if let Some(reasons) = reasons {
        f = f.fact("risk_reasons", reasons);
    }
    f
}

// --- account_locked -----------------------------------------------------------

pub(super) fn account_locked(r: &ActivityRecord) -> bool {
    is_one_of(r, &["user.account.lock", "user.account.lock.limit"])
}

pub(super) fn account_locked_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let principal = person(r);
    let summary = format!(
        "{}'s account was locked after failed sign-ins{}",
        principal.label(),
        origin(r)
    );
    let mut f = Finding::from_record(meta, principal, r, summary)
        .fact("event_type", r.event.event_type.as_str());
    if let Some(reason) = known(r.event.reason.as_deref()) {
        f = f.fact("reason", reason);
    }
    f
}

// --- rate_limit_violation -----------------------------------------------------

/// `system.org.rate_limit.violation`, `system.operation.rate_limit.violation`,
/// `system.client.concurrency_rate_limit.violation`… and the legacy concurrency
/// event. Warnings and notifications are not violations, nor is an app
/// integration hitting a third party's limit.
pub(super) fn rate_limit_violation(r: &ActivityRecord) -> bool {
    type_ends_with(r, "rate_limit.violation")
        || is_one_of(r, &["core.concurrency.org.limit.violation"])
}

pub(super) fn rate_limit_violation_finding(meta: &DetectionMeta, r: &ActivityRecord) -> Finding {
    let scope = r.event.event_type.split('.').nth(1).unwrap_or("org");
    let on = r
        .targets
        .iter()
        .find(|t| {
            t.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("URL Pattern"))
        })
        .map(|t| format!(" on {}", object_label(t)))
        .unwrap_or_default();
    let summary = format!(
        "{} exceeded an Okta {scope} rate limit{on}{}",
        actor_label(r),
        origin(r)
    );
    let mut f = Finding::from_record(meta, FindingPrincipal::of_record(r), r, summary)
        .fact("event_type", r.event.event_type.as_str());
    if let Some(reason) = known(r.event.reason.as_deref()) {
        f = f.fact("reason", reason);
    }
    f
}
