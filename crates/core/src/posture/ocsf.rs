//! One OCSF 1.3 Compliance Finding (class 2003) per check and run: the check is
//! the compliance control, its verdict the compliance status (Pass 1, Fail 3,
//! Unknown 0), and every failing subject a resource.

use serde_json::{json, Value};

use crate::alert::{OCSF_VERSION, PRODUCT};
use crate::detect::Severity;

use super::checks::{meta, CheckResult, Verdict};

/// Subjects listed in full; the count is always exact. Keeps a finding well
/// under an SNS message for orgs with thousands of failing users.
pub const MAX_RESOURCES: usize = 500;

pub fn compliance_finding(
    result: &CheckResult,
    org: &str,
    time: crate::time::Millis,
    product_version: &str,
) -> Value {
    let m = meta(result.id);
    let title = m.map_or(result.id, |m| m.title);
    let severity = match result.verdict {
        Verdict::Fail => m.map_or(Severity::Medium, |m| m.severity),
        Verdict::Pass | Verdict::Unknown => Severity::Informational,
    };
    let (status_id, status) = match result.verdict {
        Verdict::Pass => (1, "Pass"),
        Verdict::Fail => (3, "Fail"),
        Verdict::Unknown => (0, "Unknown"),
    };
    let uid = format!("posture:{}:{}:{time}", result.id, org);
    let count = result.subjects.len();
    let message = match result.verdict {
        Verdict::Pass => format!("{title}: pass ({})", result.note),
        Verdict::Fail => format!("{title}: {count} failing ({})", result.note),
        Verdict::Unknown => format!("{title}: unknown ({})", result.note),
    };
    let resources: Vec<Value> = result
        .subjects
        .iter()
        .take(MAX_RESOURCES)
        .map(
            |s| json!({"uid": s.uid, "name": s.name, "type": s.kind, "data": {"detail": s.detail}}),
        )
        .collect();
    let mut v = json!({
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200301,
        "type_name": "Compliance Finding: Create",
        "severity_id": severity.ocsf_id(),
        "severity": severity.label(),
        "status_id": 1,
        "status": "New",
        "time": time,
        "message": message,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": uid,
            "product": {"name": PRODUCT, "vendor_name": PRODUCT, "version": product_version},
            "labels": ["okta", "posture"],
        },
        "finding_info": {
            "uid": uid,
            "title": title,
            "desc": m.map(|m| m.remediation).unwrap_or_default(),
            "analytic": {"uid": result.id, "name": title, "type_id": 1, "type": "Rule"},
            "first_seen_time": time,
            "last_seen_time": time,
            "types": ["Okta posture"],
        },
        "compliance": {
            "control": result.id,
            "desc": title,
            "standards": m.map(|m| m.sources.to_vec()).unwrap_or_default(),
            "status_id": status_id,
            "status": status,
        },
        "unmapped": {
            "org": org,
            "verdict": result.verdict.label(),
            "evaluated": result.evaluated,
            "subject_count": count,
            "note": result.note,
        },
    });
    if !resources.is_empty() {
        v["resources"] = Value::Array(resources);
    }
    if let Some(m) = m {
        if result.verdict == Verdict::Fail {
            v["remediation"] = json!({"desc": m.remediation});
        }
    }
    v
}
