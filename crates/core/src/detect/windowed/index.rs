//! One pass over the analysed records: what each record counts toward (a set
//! of flags, from the same predicates [`super::counts`] answers with), and the
//! flagged records of every identity, in time order.
//!
//! An hour holds millions of records, each its own heap allocations: reading
//! every record once, and afterwards only the records a detection needs, is
//! what keeps an hour's analysis fast.

use std::collections::HashMap;
use std::ops::Range;

use super::super::Analysis;
use super::{
    apps, baseline_new, failed_sign_in, lockout, mfa, reset, session, successful_sign_in, travel,
};
use crate::record::{ActivityRecord, Role};

pub(super) const FAILED_SIGN_IN: u16 = 1;
pub(super) const SIGN_IN: u16 = 1 << 1;
pub(super) const PUSH_DENIAL: u16 = 1 << 2;
pub(super) const MFA_APPROVAL: u16 = 1 << 3;
pub(super) const SESSION_USE: u16 = 1 << 4;
pub(super) const LOCATED_SIGN_IN: u16 = 1 << 5;
pub(super) const COUNTRY_SIGN_IN: u16 = 1 << 6;
pub(super) const LOCKOUT: u16 = 1 << 7;
pub(super) const FACTOR_RESET: u16 = 1 << 8;
pub(super) const ADMIN_ACCESS: u16 = 1 << 9;
pub(super) const APP_SSO: u16 = 1 << 10;
pub(super) const UNAUTHORIZED_APP: u16 = 1 << 11;
pub(super) const TOKEN_USE: u16 = 1 << 12;

/// The flags of one record: each flag is one predicate of a family, tried only
/// on the event types it can accept (every predicate checks the type itself;
/// the dispatch only spares trying the others).
pub(super) fn classify(r: &ActivityRecord) -> u16 {
    let mut flags = 0;
    let mut check = |flag: u16, yes: bool| {
        if yes {
            flags |= flag;
        }
    };
    match r.event.event_type.as_str() {
        "user.session.start" => {
            check(FAILED_SIGN_IN, failed_sign_in(r));
            check(SIGN_IN, successful_sign_in(r));
            check(LOCATED_SIGN_IN, travel::counts(r));
            check(COUNTRY_SIGN_IN, baseline_new::counts_for_country(r));
        }
        "user.authentication.auth_via_mfa"
        | "user.mfa.okta_verify"
        | "user.mfa.okta_verify.deny_push" => {
            check(PUSH_DENIAL, mfa::is_push_denial(r));
            check(MFA_APPROVAL, mfa::is_mfa_approval(r));
        }
        "user.authentication.sso" => {
            check(APP_SSO, apps::counts_for_rapid_access(r));
            check(ADMIN_ACCESS, reset::access_subject(r).is_some());
        }
        "policy.evaluate_sign_on"
        | "user.session.access_admin_app"
        | "user.account.privilege.grant" => {
            check(ADMIN_ACCESS, reset::access_subject(r).is_some());
        }
        "user.mfa.factor.reset_all" | "user.mfa.factor.deactivate" => {
            check(FACTOR_RESET, reset::reset_target(r).is_some());
        }
        "user.account.lock" | "user.account.lock.limit" => check(LOCKOUT, lockout::counts(r)),
        "app.generic.unauth_app_access_attempt" => {
            check(UNAUTHORIZED_APP, apps::counts_for_unauthorized(r));
        }
        _ => {}
    }
    check(SESSION_USE, session::counts(r));
    check(TOKEN_USE, baseline_new::counts_for_token(r));
    flags
}

/// Every predicate tried on every record: what [`classify`] must agree with.
#[cfg(test)]
pub(super) fn classify_exhaustively(r: &ActivityRecord) -> u16 {
    type Check = (u16, fn(&ActivityRecord) -> bool);
    let checks: [Check; 13] = [
        (FAILED_SIGN_IN, failed_sign_in),
        (SIGN_IN, successful_sign_in),
        (PUSH_DENIAL, mfa::is_push_denial),
        (MFA_APPROVAL, mfa::is_mfa_approval),
        (SESSION_USE, session::counts),
        (LOCATED_SIGN_IN, travel::counts),
        (COUNTRY_SIGN_IN, baseline_new::counts_for_country),
        (LOCKOUT, lockout::counts),
        (FACTOR_RESET, |r| reset::reset_target(r).is_some()),
        (ADMIN_ACCESS, |r| reset::access_subject(r).is_some()),
        (APP_SSO, apps::counts_for_rapid_access),
        (UNAUTHORIZED_APP, apps::counts_for_unauthorized),
        (TOKEN_USE, baseline_new::counts_for_token),
    ];
    checks
        .iter()
        .filter(|(_, check)| check(r))
        .fold(0, |flags, (flag, _)| flags | flag)
}

/// An identity's flagged records.
#[derive(Default)]
pub(super) struct Timeline {
    /// Flags of all its records, and of those in the hour.
    pub flags: u16,
    pub hour_flags: u16,
    /// Record positions, in time order.
    pub positions: Vec<u32>,
}

impl Timeline {
    /// How many of its records have any of `flags`.
    pub fn count(&self, ix: &Index<'_>, flags: u16) -> usize {
        self.positions
            .iter()
            .filter(|&&p| ix.flags[p as usize] & flags != 0)
            .count()
    }

    /// The positions of its records with any of `flags`.
    pub fn with(&self, ix: &Index<'_>, flags: u16) -> Vec<u32> {
        self.positions
            .iter()
            .copied()
            .filter(|&p| ix.flags[p as usize] & flags != 0)
            .collect()
    }
}

pub(super) struct Index<'a> {
    /// Flags by record position; zero for records that are not actor records.
    pub flags: Vec<u16>,
    pub identities: HashMap<&'a str, Timeline>,
    /// Positions of the analysed hour's records.
    pub hour: Range<usize>,
}

impl<'a> Index<'a> {
    pub fn build(a: &Analysis<'a>) -> Self {
        let start = a.records.partition_point(|r| r.published < a.hour.start());
        let end = a.records.partition_point(|r| r.published < a.hour.end());
        let mut flags = Vec::with_capacity(a.records.len());
        let mut identities: HashMap<&'a str, Timeline> = HashMap::new();
        for (pos, r) in a.records.iter().enumerate() {
            let f = if r.role == Role::Actor {
                classify(r)
            } else {
                0
            };
            flags.push(f);
            if f != 0 {
                let t = identities.entry(r.identity.as_str()).or_default();
                t.flags |= f;
                if pos >= start && pos < end {
                    t.hour_flags |= f;
                }
                t.positions.push(pos as u32);
            }
        }
        Index {
            flags,
            identities,
            hour: start..end,
        }
    }

    /// Positions of the records with any of `flags`, in time order.
    pub fn positions(&self, flags: u16) -> impl Iterator<Item = usize> + '_ {
        self.flags
            .iter()
            .enumerate()
            .filter(move |(_, f)| **f & flags != 0)
            .map(|(p, _)| p)
    }

    /// Positions in the analysed hour of the records with any of `flags`.
    pub fn in_hour(&self, flags: u16) -> impl Iterator<Item = usize> + '_ {
        self.hour
            .clone()
            .filter(move |&p| self.flags[p] & flags != 0)
    }

    /// Identities with records of any of `flags` in the hour.
    pub fn active(&self, flags: u16) -> impl Iterator<Item = (&'a str, &Timeline)> + '_ {
        self.identities
            .iter()
            .filter(move |(_, t)| t.hour_flags & flags != 0)
            .map(|(id, t)| (*id, t))
    }
}
