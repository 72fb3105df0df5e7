//! One copy of each repeated value across the records a process holds.
//!
//! An hour of a busy org is a million records but only tens of thousands of
//! users, each with a handful of networks, devices and sessions. Decoded one by
//! one, every record owns its own copy of all of them (about 1.8 KB per record);
//! interned, a record is its uuid, its time and pointers to shared values.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

use super::{
    ActivityRecord, ClientInfo, Details, EventKind, Network, Outcome, Principal, RiskSignals, Text,
};

/// Canonical copies of record values. Interning a record replaces each of its
/// values by the copy already held, or makes its own the canonical one.
#[derive(Default)]
pub struct Interner {
    texts: HashSet<Text>,
    events: HashSet<Arc<EventKind>>,
    principals: HashSet<Arc<Principal>>,
    target_lists: HashSet<Arc<Vec<Principal>>>,
    networks: HashSet<Arc<Network>>,
    clients: HashSet<Arc<ClientInfo>>,
    risks: HashSet<Arc<RiskSignals>>,
    details: HashSet<Arc<Details>>,
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interner")
            .field("values", &self.len())
            .finish()
    }
}

impl Interner {
    /// The record with its values shared. The uuid is unique to the record and
    /// held inline.
    pub fn record(&mut self, mut r: ActivityRecord) -> ActivityRecord {
        self.intern(&mut r);
        r
    }

    pub fn intern(&mut self, r: &mut ActivityRecord) {
        text(&mut self.texts, &mut r.identity);
        share(&mut self.events, &mut r.event, |e| {
            text(&mut self.texts, &mut e.event_type);
            if let Outcome::Other(t) = &mut e.outcome {
                text(&mut self.texts, t);
            }
            opt_text(&mut self.texts, &mut e.reason);
            opt_text(&mut self.texts, &mut e.severity);
        });
        share(&mut self.principals, &mut r.actor, |p| {
            intern_principal(&mut self.texts, p)
        });
        share(&mut self.target_lists, &mut r.targets, |list| {
            for p in list.iter_mut() {
                intern_principal(&mut self.texts, p);
            }
        });
        share(&mut self.networks, &mut r.network, |n| {
            for t in [
                &mut n.ip,
                &mut n.country,
                &mut n.state,
                &mut n.city,
                &mut n.as_org,
                &mut n.zone,
            ] {
                opt_text(&mut self.texts, t);
            }
        });
        share(&mut self.clients, &mut r.client, |c| {
            for t in [
                &mut c.user_agent,
                &mut c.os,
                &mut c.browser,
                &mut c.device,
                &mut c.device_id,
                &mut c.dt_hash,
                &mut c.session_id,
                &mut c.root_session_id,
                &mut c.credential_type,
            ] {
                opt_text(&mut self.texts, t);
            }
        });
        share(&mut self.risks, &mut r.risk, |k| {
            for b in &mut k.behaviors {
                text(&mut self.texts, b);
            }
            opt_text(&mut self.texts, &mut k.risk_level);
            opt_text(&mut self.texts, &mut k.risk_reasons);
        });
        share(&mut self.details, &mut r.details, |d| {
            for t in [
                &mut d.privilege_granted,
                &mut d.grant_type,
                &mut d.scopes,
                &mut d.api_token_id,
                &mut d.client_id,
                &mut d.factor,
                &mut d.request_uri,
                &mut d.changes,
                &mut d.message,
            ] {
                opt_text(&mut self.texts, t);
            }
        });
    }

    /// Lets go of values no record outside the interner holds any more, so a
    /// long-lived interner does not keep every value it ever saw.
    pub fn forget_unused(&mut self) {
        retain_used(&mut self.events);
        retain_used(&mut self.principals);
        retain_used(&mut self.target_lists);
        retain_used(&mut self.networks);
        retain_used(&mut self.clients);
        retain_used(&mut self.risks);
        retain_used(&mut self.details);
        // Last: the groups just let go of may have held the only other reference.
        self.texts
            .retain(|t| Text::strong_count(t).is_none_or(|n| n > 1));
    }

    /// Distinct values held, for measurements.
    pub fn len(&self) -> usize {
        self.texts.len()
            + self.events.len()
            + self.principals.len()
            + self.target_lists.len()
            + self.networks.len()
            + self.clients.len()
            + self.risks.len()
            + self.details.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn text(texts: &mut HashSet<Text>, t: &mut Text) {
    match texts.get(t.as_str()) {
        Some(canonical) => *t = canonical.clone(),
        None => {
            texts.insert(t.clone());
        }
    }
}

fn opt_text(texts: &mut HashSet<Text>, t: &mut Option<Text>) {
    if let Some(t) = t {
        text(texts, t);
    }
}

fn intern_principal(texts: &mut HashSet<Text>, p: &mut Principal) {
    for t in [&mut p.id, &mut p.kind, &mut p.login, &mut p.name] {
        opt_text(texts, t);
    }
}

/// Replaces `value` by the held copy; a new value first has its own texts
/// interned (it is not shared yet, so that edits in place), then is held.
fn share<T: Clone + Eq + Hash>(
    set: &mut HashSet<Arc<T>>,
    value: &mut Arc<T>,
    intern_fields: impl FnOnce(&mut T),
) {
    if let Some(canonical) = set.get(value) {
        *value = canonical.clone();
        return;
    }
    intern_fields(Arc::make_mut(value));
    set.insert(value.clone());
}

fn retain_used<T>(set: &mut HashSet<Arc<T>>) {
    set.retain(|v| Arc::strong_count(v) > 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Ev;
    use crate::test_support::Typed;

    fn signin(uuid: &str) -> ActivityRecord {
        Ev::new("user.session.start")
            .uuid(uuid)
            .user("00u1", "ann@acme.com")
            .ip("203.0.113.7")
            .record()
    }

    #[test]
    fn equal_values_of_two_records_become_one_copy() {
        let mut i = Interner::default();
        let a = i.record(signin("u-1"));
        let b = i.record(signin("u-2"));
        assert!(Arc::ptr_eq(&a.network, &b.network));
        assert!(Arc::ptr_eq(&a.client, &b.client));
        assert!(Arc::ptr_eq(&a.actor, &b.actor));
        assert!(Text::ptr_eq(&a.identity, &b.identity));
        assert!(Arc::ptr_eq(&a.event, &b.event));
        assert_eq!(a, signin("u-1"), "interning changes no value");
    }

    #[test]
    fn texts_inside_distinct_groups_are_shared() {
        let mut i = Interner::default();
        let a = i.record(signin("u-1"));
        let mut other = signin("u-2");
        Arc::make_mut(&mut other.network).city = Some("Elsewhere".into());
        let b = i.record(other);
        assert!(!Arc::ptr_eq(&a.network, &b.network));
        let (ip_a, ip_b) = (a.network.ip.clone().unwrap(), b.network.ip.clone().unwrap());
        assert!(Text::ptr_eq(&ip_a, &ip_b));
    }

    #[test]
    fn forgetting_keeps_what_records_still_use() {
        let mut i = Interner::default();
        let kept = i.record(signin("u-1"));
        let mut gone = signin("u-2");
        Arc::make_mut(&mut gone.network).ip = Some("198.51.100.9".into());
        drop(i.record(gone));
        let before = i.len();
        i.forget_unused();
        assert!(i.len() < before);
        let again = i.record(signin("u-3"));
        assert!(Arc::ptr_eq(&kept.network, &again.network));
        assert!(!i.texts.contains("198.51.100.9"));
    }
}
