//! Risk-based alerting: which findings of an hour page someone, and which ride
//! along as context.
//!
//! Every finding is kept. A finding of a detection that [`Risk::Alerts`] is
//! published unless learned context explains it ([`context::explain`]); then,
//! like the findings of detections that [`Risk::Contributes`], it adds weight to
//! its principal's risk. A contributing finding that context explains adds
//! none. A principal whose findings in the hour reach the configured threshold
//! is published too.
//!
//! Findings of one incident publish as one alert: findings about the same
//! principal, or sharing an evidence event (the per-user lockouts inside a mass
//! lockout, the spray from an IP and the sign-in it led to), form a group; the
//! group's strongest published finding leads, and every other member is listed
//! in its `related` (OCSF `finding_info.related_analytics` and `related_events`).

pub mod accuracy;
pub mod chain;
pub mod context;
pub mod ledger;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use super::catalog::{self, Risk, DEMOTED_WEIGHT};
use super::{Analysis, Finding, Related, Severity};
use context::Lookup;
pub use ledger::{Ledger, LedgerEntry};

/// What becomes of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Published as an alert (with its group's other findings as `related`).
    Publish,
    /// Listed in the published alert with this uid.
    Grouped { into: String },
    /// Kept, adding `weight` to its principal's risk; published by nothing.
    Contributes { weight: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub finding: Finding,
    pub verdict: Verdict,
    /// Whether the finding would page on its own, whatever its group: a
    /// grouped finding that would is published itself when its group's lead
    /// turns out to be a repeat or already delivered (grouping never swallows).
    pub alone: bool,
    /// The risk it adds to its principal while it pages no one.
    pub weight: u32,
}

/// One finding's standing before grouping.
struct Assessed {
    finding: Finding,
    alerts: bool,
    weight: u32,
    /// Learned context explained it (or the deployment is still learning).
    explained: bool,
}

/// Detections whose judgement rests on learned context (the org's networks and
/// proxies, the user's places and devices): in a deployment's learning period,
/// before that context exists, they add risk instead of paging alone.
const CONTEXT_JUDGED: &[&str] = &[
    "proxy_sign_in",
    "impossible_travel",
    "shared_device_token",
    "mass_credential_reset",
];

/// Detections whose subject is the very network or place the org's context
/// judges (a proxy, a far-away gateway): their findings do not keep a sign-in
/// from teaching, or an org's own SASE or VPN could never be learned. Any
/// other finding (a spray, a stolen session, push bombing) does.
const JUDGED_BY_CONTEXT: &[&str] = &[
    "proxy_sign_in",
    "proxy_sign_in_failed",
    "impossible_travel",
    "new_country",
];

/// Whether the evidence of a finding of this detection may still teach the
/// org's context.
pub fn teaches_despite(detection: &str) -> bool {
    JUDGED_BY_CONTEXT.contains(&detection)
}

/// Whether a detection's finding pages on its own, with the finding's own
/// facts applied: an enrolment after a reset from a network *and* a device the
/// user never used is the takeover itself, not a hint of one.
fn risk_of(a: &Analysis<'_>, f: &Finding) -> Risk {
    if f.detection == "factor_enrolled_after_reset_new_network"
        && f.facts.get("new_device").and_then(|v| v.as_bool()) == Some(true)
    {
        return Risk::Alerts;
    }
    catalog::find(&f.detection)
        .map(|m| a.config.risk(m))
        .unwrap_or(Risk::Alerts)
}

/// Decides, for the findings of one analysed hour, which are published and
/// which are kept as contributors. `ledgers` holds the principals' findings of
/// earlier (or, for a re-analysed hour, later) hours: their unpaged weight adds
/// to the hour's, and a published alert lists them. Pure: the same hour and
/// ledgers give the same decisions.
pub fn decide(
    a: &Analysis<'_>,
    findings: Vec<Finding>,
    ledgers: &HashMap<String, Ledger>,
) -> Vec<Decision> {
    if findings.is_empty() {
        return Vec::new();
    }
    let lookup = Lookup::new(a, &findings);
    let learning = !lookup.org.established;
    let mut assessed: Vec<Assessed> = findings
        .into_iter()
        .map(|mut finding| {
            let risk = risk_of(a, &finding);
            let mut why = context::explain(&finding, &lookup);
            // Nothing critical is explained away: context may be wrong, and a
            // critical finding is where being wrong costs most. What context
            // says lowers it to high; it still pages.
            if finding.severity >= Severity::Critical && !why.is_empty() {
                finding
                    .facts
                    .insert("context".into(), std::mem::take(&mut why).into());
                finding
                    .facts
                    .insert("severity_lowered_from".into(), finding.severity.label().into());
                finding.severity = Severity::High;
            }
            if learning
                && why.is_empty()
                && risk == Risk::Alerts
                && CONTEXT_JUDGED.contains(&finding.detection.as_str())
                && finding.severity < Severity::Critical
            {
                why.push("the deployment is still learning the org's networks, proxies and travel (its first week); until then this detection adds risk instead of paging alone".into());
            }
            // A low-signal finding that context explains (a failed sign-in
            // through the user's own relay, a new country reached through the
            // org's VPN) is no signal left: kept, listed, weightless. An
            // explained finding that would page alone keeps a weight.
            let (alerts, weight) = match risk {
                Risk::Alerts if why.is_empty() => (true, a.config.risk_threshold),
                Risk::Alerts => (false, DEMOTED_WEIGHT),
                Risk::Contributes(w) if why.is_empty() => (false, w),
                Risk::Contributes(_) => (false, 0),
            };
            let explained = !why.is_empty();
            if explained {
                finding.facts.insert("context".into(), why.into());
            }
            Assessed {
                finding,
                alerts,
                weight,
                explained,
            }
        })
        .collect();

    // A principal's risk: the hour's findings and its ledger's unpaged ones.
    let window = i64::from(a.config.risk_window_hours) * crate::time::HOUR;
    let (start, end) = (a.hour.start(), a.hour.end());
    let deciding: HashSet<String> = assessed.iter().map(|x| x.finding.uid()).collect();
    let mut present: HashMap<&str, HashSet<&str>> = HashMap::new();
    for x in &assessed {
        present
            .entry(x.finding.principal.identity.as_str())
            .or_default()
            .insert(x.finding.detection.as_str());
    }
    let mut risk: HashMap<String, u32> = HashMap::new();
    for x in &assessed {
        let id = x.finding.principal.identity.as_str();
        let entry = risk.entry(id.to_owned()).or_insert_with(|| {
            ledgers.get(id).map_or(0, |l| {
                l.unpaged_weight(start, end, window, &deciding, &present[id])
            })
        });
        *entry += x.weight;
    }
    let threshold = a.config.risk_threshold;
    let over: Vec<bool> = assessed
        .iter()
        .map(|x| x.alerts || risk[&x.finding.principal.identity] >= threshold)
        .collect();
    for (x, over) in assessed.iter_mut().zip(&over) {
        if *over && !x.alerts {
            let total = risk[&x.finding.principal.identity];
            x.finding.facts.insert("risk".into(), total.into());
        }
    }

    let groups = groups(&assessed);
    let mut verdicts: Vec<Option<Verdict>> = vec![None; assessed.len()];
    let mut leads: Vec<(usize, Vec<usize>)> = Vec::new();
    for members in groups.values() {
        // The lead: a finding that alerts on its own before one published on
        // accumulated risk, then the more severe, then the earlier.
        let lead = members
            .iter()
            .copied()
            .filter(|&i| over[i])
            .max_by(|&i, &j| {
                let key = |k: usize| {
                    let x = &assessed[k];
                    (x.alerts, x.finding.severity, x.weight, std::cmp::Reverse(k))
                };
                key(i).cmp(&key(j))
            });
        match lead {
            Some(lead) => {
                let uid = assessed[lead].finding.uid();
                for &i in members {
                    verdicts[i] = Some(if i == lead {
                        Verdict::Publish
                    } else {
                        Verdict::Grouped { into: uid.clone() }
                    });
                }
                leads.push((lead, members.clone()));
            }
            None => {
                for &i in members {
                    verdicts[i] = Some(Verdict::Contributes {
                        weight: assessed[i].weight,
                    });
                }
            }
        }
    }

    // A lead carries its principals' earlier findings, and the severity the
    // whole chain implies.
    for (lead, members) in &leads {
        let mut principals: Vec<&str> = members
            .iter()
            .map(|&i| assessed[i].finding.principal.identity.as_str())
            .collect();
        principals.sort_unstable();
        principals.dedup();
        let earlier: Vec<&LedgerEntry> = principals
            .iter()
            .filter_map(|p| ledgers.get(*p))
            .flat_map(|l| l.around(start, end, window, &deciding))
            .collect();
        let chain = chain::implied(
            members
                .iter()
                .filter(|&&i| !assessed[i].explained)
                .map(|&i| assessed[i].finding.detection.as_str())
                .chain(
                    earlier
                        .iter()
                        .filter(|e| e.paged || e.weight > 0)
                        .map(|e| e.detection.as_str()),
                ),
        );
        let f = &mut assessed[*lead].finding;
        // A critical finding context lowered keeps its lowering: its own steps
        // are the chain.
        let lowered = f.facts.contains_key("severity_lowered_from");
        if let Some((severity, why)) = chain.filter(|_| !lowered) {
            if severity > f.severity {
                f.facts
                    .insert("severity_raised_from".into(), f.severity.label().into());
                f.severity = severity;
            }
            f.facts.insert("chain".into(), why.into());
        }
        f.related.extend(earlier.iter().map(|e| e.related()));
    }

    let related: Vec<Related> = assessed
        .iter()
        .map(|x| Related {
            detection: x.finding.detection.clone(),
            uid: x.finding.uid(),
            severity: x.finding.severity,
            summary: x.finding.summary.clone(),
            evidence: x.finding.evidence.clone(),
        })
        .collect();
    let mut decisions: Vec<Decision> = assessed
        .into_iter()
        .zip(verdicts)
        .map(|(x, v)| Decision {
            finding: x.finding,
            verdict: v.expect("every finding is in a group"),
            alone: x.alerts,
            weight: x.weight,
        })
        .collect();
    let leads: HashMap<String, usize> = decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| d.verdict == Verdict::Publish)
        .map(|(i, d)| (d.finding.uid(), i))
        .collect();
    for (i, rel) in related.into_iter().enumerate() {
        if let Verdict::Grouped { into } = &decisions[i].verdict {
            let lead = leads[into];
            decisions[lead].finding.related.push(rel);
        }
    }
    decisions
}

/// Learns the hour into the org's own context (created on first use); returns
/// whether it changed and needs saving. Sign-ins that are evidence of any of
/// the hour's findings teach nothing: a phishing proxy relaying its victims'
/// sign-ins, or a spray that succeeds, must not make its network the org's.
pub fn learn_org(
    learned: &mut Option<context::OrgLearned>,
    in_hour: &[&crate::record::ActivityRecord],
    hour: crate::time::Hour,
    config: &super::DetectConfig,
    evidence: &HashSet<String>,
) -> bool {
    let learned = learned.get_or_insert_with(|| context::OrgLearned::new(hour.start()));
    let org = &mut learned.seen;
    let mut changed = org.count_active(in_hour, hour);
    let keep = org.users_needed(config);
    for r in in_hour {
        if evidence.contains(&r.uuid.to_string()) {
            continue;
        }
        changed |= org.observe(r, keep);
    }
    if changed {
        org.prune(hour.end() - i64::from(config.baseline_days) * crate::time::DAY);
        learned.last_seen = learned.last_seen.max(hour.start());
    }
    changed
}

/// Groups of finding indexes: connected by a shared principal or evidence event.
fn groups(assessed: &[Assessed]) -> std::collections::BTreeMap<usize, Vec<usize>> {
    let mut parent: Vec<usize> = (0..assessed.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_by_key: HashMap<&str, usize> = HashMap::new();
    for (i, x) in assessed.iter().enumerate() {
        let keys = std::iter::once(x.finding.principal.identity.as_str())
            .chain(x.finding.evidence.iter().map(String::as_str));
        for key in keys {
            match first_by_key.get(key) {
                Some(&j) => {
                    let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                    parent[ri.max(rj)] = ri.min(rj);
                }
                None => {
                    first_by_key.insert(key, i);
                }
            }
        }
    }
    let mut out: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..assessed.len() {
        let r = root(&mut parent, i);
        out.entry(r).or_default().push(i);
    }
    out
}
