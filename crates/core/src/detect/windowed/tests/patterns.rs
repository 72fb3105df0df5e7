//! The windowed detections of push phishing, shared devices, mass changes,
//! message floods, enrolment after a reset, new admins and dormant accounts:
//! what fires, and the benign look-alike that must not.

use super::*;
use serde_json::json;

// ------------------------------------------------- push_request_location_mismatch

fn push_sent(name: &str, time: Millis) -> Ev {
    user(Ev::new("system.push.send_factor_verify_push"), name)
        .session("102phish", "idxphish")
        .at_ms(time)
}

fn push_approved(name: &str, time: Millis) -> Ev {
    user(Ev::new("user.authentication.auth_via_mfa"), name)
        .session("102phish", "idxphish")
        .debug("factor", json!("OKTA_VERIFY_PUSH"))
        .at_ms(time)
}

#[test]
fn a_push_requested_abroad_and_approved_at_home_is_real_time_phishing() {
    let mut lab = Lab::new();
    lab.add(amsterdam(push_sent("bob", plus(&t("10:10:00"), 0))));
    lab.add(push_approved("bob", plus(&t("10:10:00"), 1)));
    let f = only(&lab.hour(&t("10:30:00")), "push_request_location_mismatch");
    assert_eq!(f.principal.identity, "00ubob");
    assert!(
        f.summary
            .contains("requested from Netherlands, approved from United States"),
        "{}",
        f.summary
    );
    assert_eq!(f.evidence.len(), 2);
}

#[test]
fn a_push_requested_through_tor_is_a_mismatch_even_in_the_same_country() {
    let mut lab = Lab::new();
    lab.add(berlin_tor(push_sent("bob", plus(&t("10:10:00"), 0))).from(
        "185.220.101.47",
        "Boston",
        "United States",
        42.36,
        -71.05,
        60729,
        "tor",
    ));
    lab.add(push_approved("bob", plus(&t("10:10:00"), 1)));
    only(&lab.hour(&t("10:30:00")), "push_request_location_mismatch");
}

#[test]
fn a_phone_on_a_mobile_network_approving_its_own_laptop_s_push_is_not_a_mismatch() {
    let mut lab = Lab::new();
    lab.add(push_sent("bob", plus(&t("10:10:00"), 0)));
    lab.add(push_approved("bob", plus(&t("10:10:00"), 1)).from(
        "172.56.20.9",
        "Oakland",
        "United States",
        37.8,
        -122.27,
        21928,
        "t-mobile",
    ));
    // Nor is an approval long after the push, nor one in another session.
    lab.add(amsterdam(push_sent("carol", plus(&t("10:20:00"), 0))).session("s-c", "r-c"));
    lab.add(push_approved("carol", plus(&t("10:20:00"), 30)).session("s-c", "r-c"));
    lab.add(amsterdam(push_sent("dave", plus(&t("10:20:00"), 0))).session("s-d1", "r-d"));
    lab.add(push_approved("dave", plus(&t("10:20:00"), 1)).session("s-d2", "r-d"));
    none(&lab.hour(&t("10:30:00")), "push_request_location_mismatch");
}

// ------------------------------------------------------------ shared_device_token

#[test]
fn one_device_token_signing_in_five_users_is_shared_attack_infrastructure() {
    let mut lab = Lab::new();
    for (i, name) in ["ann", "ben", "cat", "dan", "eve"].iter().enumerate() {
        lab.add(amsterdam(sign_in(name)).at_ms(plus(&t("10:00:00"), 7 * i as i64)));
    }
    let f = only(&lab.hour(&t("10:30:00")), "shared_device_token");
    assert_eq!(f.principal.identity, "device:dt-attacker");
    assert_eq!(f.facts["distinct_users"], 5);
}

#[test]
fn four_users_on_one_kiosk_or_one_user_many_times_is_not_a_shared_token() {
    let mut lab = Lab::new();
    for (i, name) in ["ann", "ben", "cat", "dan"].iter().enumerate() {
        lab.add(sign_in(name).at_ms(plus(&t("10:00:00"), 5 * i as i64)));
    }
    for i in 0..10 {
        lab.add(
            sign_in("alice")
                .debug("dtHash", json!("dt-alice-own"))
                .at_ms(plus(&t("10:00:00"), 3 * i)),
        );
    }
    // Five users, but spread over more than an hour.
    lab.add(sign_in("fay").at_ms(plus(&t("10:00:00"), -65)));
    // Five users failing on one device is a spray, not this.
    for name in ["gus", "hal", "ida", "jon", "kim"] {
        lab.add(amsterdam(failed_sign_in(name)).at_ms(plus(&t("10:20:00"), 1)));
    }
    none(&lab.hour(&t("10:30:00")), "shared_device_token");
}

// ------------------------------------------------------ mass deactivation / reset

fn on_user(ev: Ev, victim: &str) -> Ev {
    user(ev, "mallory").target(
        "User",
        &format!("00u{victim}"),
        &format!("{victim}@acme.com"),
        victim,
    )
}

const TEN: [&str; 10] = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"];

#[test]
fn one_actor_deactivating_ten_users_in_half_an_hour_is_mass_deactivation() {
    let mut lab = Lab::new();
    for (i, v) in TEN.iter().enumerate() {
        let kind = ["user.lifecycle.deactivate", "user.lifecycle.suspend"][i % 2];
        lab.add(on_user(Ev::new(kind), v).at_ms(plus(&t("10:05:00"), 2 * i as i64)));
    }
    let f = only(&lab.hour(&t("10:30:00")), "mass_account_deactivation");
    assert_eq!(f.principal.identity, "00umallory");
    assert_eq!(f.facts["distinct_users"], 10);
}

#[test]
fn nine_deactivations_okta_s_own_automation_or_one_user_ten_times_are_not_mass() {
    let mut lab = Lab::new();
    for (i, v) in TEN[..9].iter().enumerate() {
        lab.add(
            on_user(Ev::new("user.lifecycle.deactivate"), v).at_ms(plus(&t("10:05:00"), i as i64)),
        );
    }
    for i in 0..10 {
        lab.add(on_user(Ev::new("user.lifecycle.suspend"), "u0").at_ms(plus(&t("10:05:00"), i)));
    }
    for (i, v) in TEN.iter().enumerate() {
        lab.add(
            Ev::new("user.lifecycle.deactivate")
                .actor(json!({"id": "0oa-okta", "type": "SystemPrincipal", "alternateId": "system@okta.com", "displayName": "Okta System"}))
                .target("User", &format!("00u{v}"), v, v)
                .at_ms(plus(&t("10:05:00"), i as i64)),
        );
    }
    none(&lab.hour(&t("10:30:00")), "mass_account_deactivation");
}

#[test]
fn one_actor_resetting_five_users_credentials_is_mass_credential_reset() {
    let mut lab = Lab::new();
    let kinds = [
        "user.account.reset_password",
        "user.mfa.factor.reset_all",
        "user.account.expire_password",
        "user.mfa.factor.deactivate",
        "user.account.reset_password",
    ];
    for (i, (v, kind)) in TEN.iter().zip(kinds).enumerate() {
        lab.add(on_user(Ev::new(kind), v).at_ms(plus(&t("10:05:00"), 3 * i as i64)));
    }
    let f = only(&lab.hour(&t("10:30:00")), "mass_credential_reset");
    assert_eq!(f.facts["distinct_users"], 5);
}

#[test]
fn a_help_desk_resetting_four_users_or_users_resetting_their_own_is_not_mass() {
    let mut lab = Lab::new();
    for (i, v) in TEN[..4].iter().enumerate() {
        lab.add(
            on_user(Ev::new("user.account.reset_password"), v)
                .at_ms(plus(&t("10:05:00"), i as i64)),
        );
    }
    for (i, name) in ["ann", "ben", "cat", "dan", "eve", "fay"]
        .iter()
        .enumerate()
    {
        let own = user(Ev::new("user.mfa.factor.deactivate"), name).target(
            "User",
            &format!("00u{name}"),
            &format!("{name}@acme.com"),
            name,
        );
        lab.add(own.at_ms(plus(&t("10:05:00"), i as i64)));
    }
    none(&lab.hour(&t("10:30:00")), "mass_credential_reset");
}

// ----------------------------------------------------- verification_message_flood

fn message(kind: &str, time: Millis) -> Ev {
    user(Ev::new(kind), "bob").at_ms(time)
}

#[test]
fn five_reset_and_verification_messages_in_a_quarter_hour_are_a_flood() {
    let mut lab = Lab::new();
    let kinds = [
        "system.email.password_reset.sent_message",
        "system.sms.send_password_reset_message",
        "system.sms.send_factor_verify_message",
        "system.email.account_unlock.sent_message",
        "system.sms.send_factor_verify_message",
    ];
    for (i, kind) in kinds.iter().enumerate() {
        lab.add(message(kind, plus(&t("10:05:00"), 2 * i as i64)));
    }
    let f = only(&lab.hour(&t("10:30:00")), "verification_message_flood");
    assert_eq!(f.principal.identity, "00ubob");
    assert_eq!(f.facts["messages"], 5);
}

#[test]
fn a_few_codes_or_messages_spread_over_the_day_are_not_a_flood() {
    let mut lab = Lab::new();
    for i in 0..4 {
        lab.add(message(
            "system.sms.send_factor_verify_message",
            plus(&t("10:05:00"), i),
        ));
    }
    for i in 0..5 {
        lab.add(
            message(
                "system.email.password_reset.sent_message",
                plus(&t("10:05:00"), 20 * i),
            )
            .user("00ucarol", "carol@acme.com"),
        );
    }
    // New-device notifications are not verification messages.
    for i in 0..6 {
        lab.add(
            user(
                Ev::new("system.email.new_device_notification.sent_message"),
                "dave",
            )
            .at_ms(plus(&t("10:05:00"), i)),
        );
    }
    none(&lab.hour(&t("10:59:00")), "verification_message_flood");
}

// ------------------------------------------ factor_enrolled_after_reset_new_network

fn reset_by_help_desk(victim: &str, time: Millis) -> Ev {
    user(Ev::new("user.mfa.factor.reset_all"), "helpdesk")
        .target(
            "User",
            &format!("00u{victim}"),
            &format!("{victim}@acme.com"),
            victim,
        )
        .at_ms(time)
}

fn enrol(name: &str, time: Millis) -> Ev {
    user(Ev::new("user.mfa.factor.activate"), name).at_ms(time)
}

#[test]
fn enrolling_a_factor_from_a_new_network_hours_after_a_reset_fires() {
    let mut lab = Lab::new();
    lab.baseline(known("00ubob", 30, &t("10:00:00")));
    lab.add(reset_by_help_desk("bob", at(&t("06:10:00"))));
    lab.add(amsterdam(enrol("bob", at(&t("10:20:00")))));
    let f = only(
        &lab.hour(&t("10:30:00")),
        "factor_enrolled_after_reset_new_network",
    );
    assert_eq!(f.principal.identity, "00ubob");
    assert_eq!(f.facts["asn"], 14061);
    assert_eq!(f.anchor, at(&t("06:10:00")));
    assert!(
        f.summary
            .contains("helpdesk@acme.com reset the MFA factors of bob@acme.com"),
        "{}",
        f.summary
    );
}

#[test]
fn re_enrolling_at_home_after_a_reset_or_enrolling_without_one_does_not_fire() {
    let mut lab = Lab::new();
    lab.baseline(known("00ubob", 30, &t("10:00:00")));
    lab.baseline(known("00ucarol", 30, &t("10:00:00")));
    lab.baseline(known("00udave", 30, &t("10:00:00")));
    // bob: reset, then enrols from his usual network.
    lab.add(reset_by_help_desk("bob", at(&t("09:10:00"))));
    lab.add(enrol("bob", at(&t("10:20:00"))));
    // carol: a new network, but no reset (a new phone added on a trip).
    lab.add(amsterdam(enrol("carol", at(&t("10:20:00")))));
    // dave: a reset 13 hours earlier is outside the window.
    lab.add(reset_by_help_desk("dave", at(&t("10:20:00")) - 13 * HOUR));
    lab.add(amsterdam(enrol("dave", at(&t("10:20:00")))));
    none(
        &lab.hour(&t("10:30:00")),
        "factor_enrolled_after_reset_new_network",
    );
}

// ---------------------------------------------------------- new_user_granted_admin

fn created(victim: &str, kind: &str, time: Millis) -> Ev {
    user(Ev::new(kind), "frank")
        .target(
            "User",
            &format!("00u{victim}"),
            &format!("{victim}@acme.com"),
            victim,
        )
        .at_ms(time)
}

fn granted(victim: &str, time: Millis) -> Ev {
    created(victim, "user.account.privilege.grant", time)
        .debug("privilegeGranted", json!("Super administrator"))
}

#[test]
fn an_account_created_then_made_admin_hours_later_fires() {
    let mut lab = Lab::new();
    lab.add(created("zed", "user.lifecycle.create", at(&t("06:30:00"))));
    lab.add(granted("zed", at(&t("10:15:00"))));
    let f = only(&lab.hour(&t("10:30:00")), "new_user_granted_admin");
    assert_eq!(f.principal.identity, "00uzed");
    assert_eq!(f.facts["role"], "Super administrator");
    assert_eq!(f.anchor, at(&t("06:30:00")));
    // Activation counts as the account's start too.
    let mut lab = Lab::new();
    lab.add(created(
        "yan",
        "user.lifecycle.activate",
        at(&t("10:01:00")),
    ));
    lab.add(granted("yan", at(&t("10:02:00"))));
    only(&lab.hour(&t("10:30:00")), "new_user_granted_admin");
}

#[test]
fn a_long_standing_user_made_admin_or_a_new_user_not_made_admin_does_not_fire() {
    let mut lab = Lab::new();
    lab.add(created(
        "old",
        "user.lifecycle.create",
        at(&t("10:15:00")) - 7 * HOUR,
    ));
    lab.add(granted("old", at(&t("10:15:00"))));
    lab.add(created("new", "user.lifecycle.create", at(&t("10:05:00"))));
    lab.add(created(
        "new",
        "group.user_membership.add",
        at(&t("10:06:00")),
    ));
    none(&lab.hour(&t("10:30:00")), "new_user_granted_admin");
}

// --------------------------------------------------------- dormant_account_sign_in

fn last_seen(identity: &str, days_ago: i64, now: &str) -> Baseline {
    let mut b = known(identity, 400, now);
    b.last_seen = at(now) - days_ago * DAY;
    b
}

#[test]
fn a_sign_in_after_forty_days_without_activity_is_dormant() {
    let mut lab = Lab::new();
    lab.baseline(last_seen("00ubob", 40, &t("10:00:00")));
    lab.add(sign_in("bob").at(&t("10:12:00")));
    lab.add(sign_in("bob").at(&t("10:40:00")));
    let f = only(&lab.hour(&t("10:30:00")), "dormant_account_sign_in");
    assert_eq!(f.facts["dormant_days"], 40);
    // An inbound-IdP sign-in counts as a sign-in.
    let mut lab = Lab::new();
    lab.baseline(last_seen("00ucarol", 31, &t("10:00:00")));
    lab.add(user(Ev::new("user.authentication.auth_via_IDP"), "carol").at(&t("10:12:00")));
    only(&lab.hour(&t("10:30:00")), "dormant_account_sign_in");
}

#[test]
fn a_sign_in_after_a_holiday_a_failure_or_an_unknown_identity_is_not_dormant() {
    let mut lab = Lab::new();
    lab.baseline(last_seen("00ubob", 20, &t("10:00:00")));
    lab.add(sign_in("bob").at(&t("10:12:00")));
    lab.baseline(last_seen("00ucarol", 60, &t("10:00:00")));
    lab.add(failed_sign_in("carol").at(&t("10:12:00")));
    lab.add(sign_in("newcomer").at(&t("10:12:00")));
    none(&lab.hour(&t("10:30:00")), "dormant_account_sign_in");
}

#[test]
fn the_dormancy_period_is_configurable() {
    let mut lab = Lab::with_config(r#"{"thresholds": {"dormant_account_sign_in.days": 14}}"#);
    lab.baseline(last_seen("00ubob", 20, &t("10:00:00")));
    lab.add(sign_in("bob").at(&t("10:12:00")));
    only(&lab.hour(&t("10:30:00")), "dormant_account_sign_in");
}
