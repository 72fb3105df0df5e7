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
pub mod context;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use super::catalog::{self, Risk, DEMOTED_WEIGHT};
use super::{Analysis, Finding, Related};
use context::Lookup;

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
}

/// One finding's standing before grouping.
struct Assessed {
    finding: Finding,
    alerts: bool,
    weight: u32,
}

/// Decides, for the findings of one analysed hour, which are published and
/// which are kept as contributors. Pure: the same hour gives the same decisions.
pub fn decide(a: &Analysis<'_>, findings: Vec<Finding>) -> Vec<Decision> {
    if findings.is_empty() {
        return Vec::new();
    }
    let lookup = Lookup::new(a, &findings);
    let mut assessed: Vec<Assessed> = findings
        .into_iter()
        .map(|mut finding| {
            let risk = catalog::find(&finding.detection)
                .map(|m| a.config.risk(m))
                .unwrap_or(Risk::Alerts);
            let why = context::explain(&finding, &lookup);
            // A low-signal finding that context explains (a failed sign-in
            // through the user's own relay, a new country reached through the
            // org's VPN) is no signal left: kept, listed, weightless.
            let (alerts, weight) = match risk {
                Risk::Alerts if why.is_empty() => (true, a.config.risk_threshold),
                Risk::Alerts => (false, DEMOTED_WEIGHT),
                Risk::Contributes(w) if why.is_empty() => (false, w),
                Risk::Contributes(_) => (false, 0),
            };
            if !why.is_empty() {
                finding.facts.insert("context".into(), why.into());
            }
            Assessed {
                finding,
                alerts,
                weight,
            }
        })
        .collect();

    // A principal's risk in the hour: a principal at or over the threshold
    // publishes its strongest finding.
    let mut risk: HashMap<String, u32> = HashMap::new();
    for x in &assessed {
        *risk
            .entry(x.finding.principal.identity.clone())
            .or_default() += x.weight;
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

/// Learns the hour into the org's own baseline (created on first use); returns
/// whether it changed and needs saving.
pub fn learn_org(
    baselines: &mut HashMap<String, super::Baseline>,
    in_hour: &[&crate::record::ActivityRecord],
    hour: crate::time::Hour,
    config: &super::DetectConfig,
) -> bool {
    let b = baselines
        .entry(context::ORG.to_owned())
        .or_insert_with(|| super::Baseline::new(context::ORG, hour.start()));
    let org = b.org.get_or_insert_with(Default::default);
    let min_users = config.org_network_users as usize;
    let mut changed = false;
    for r in in_hour {
        changed |= org.observe(r, min_users);
    }
    if changed {
        org.prune(hour.end() - i64::from(config.baseline_days) * crate::time::DAY);
        b.last_seen = b.last_seen.max(hour.start());
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
