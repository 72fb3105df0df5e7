//! Rendering: alert and timeline tables, JSON Lines, the replay summary and the
//! detection catalog. Text from the logs is attacker-controlled: table cells are
//! stripped of control characters so nothing can drive the terminal.

use std::collections::BTreeMap;
use std::io::{self, Write};

use okta_itdr_core::alert::{alert_time, Alert, Status, StoredFinding};
use okta_itdr_core::detect::catalog::Kind;
use okta_itdr_core::detect::{DetectConfig, Severity, CATALOG};
use okta_itdr_core::record::{ActivityRecord, Role, Text};
use okta_itdr_core::replay::{ReplayStats, Sending, Via};
use okta_itdr_core::time::{format_rfc3339_ms, Millis};
use serde_json::json;

const MAX_CELL: usize = 60;
const MAX_LAST_CELL: usize = 160;

/// A plain text table: columns padded to the widest cell (capped).
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        let last = self.headers.len().saturating_sub(1);
        let cells = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| clip(&clean(&c), if i == last { MAX_LAST_CELL } else { MAX_CELL }))
            .collect();
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn write(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>, w: &mut dyn Write| -> io::Result<()> {
            let mut out = String::new();
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                if i + 1 < widths.len() {
                    out.push_str(&" ".repeat(widths[i] - cell.chars().count()));
                }
            }
            writeln!(w, "{}", out.trim_end())
        };
        line(&mut self.headers.iter().copied(), w)?;
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str), w)?;
        }
        Ok(())
    }
}

/// One line, no control characters.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Informational => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// The OCSF `message` of an alert: its one-line summary.
pub fn alert_message(a: &Alert) -> String {
    serde_json::from_str::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| a.subject.clone())
}

/// Alerts as a table, oldest first.
pub fn alerts_table(
    alerts: &[Alert],
    sending: &dyn Fn(&str) -> Option<Sending>,
    w: &mut dyn Write,
) -> io::Result<()> {
    if alerts.is_empty() {
        return writeln!(w, "No alerts.");
    }
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|a, b| {
        (a.time, &a.detection, &a.principal).cmp(&(b.time, &b.detection, &b.principal))
    });
    let mut t = Table::new(&[
        "TIME",
        "SENT",
        "SEVERITY",
        "DETECTION",
        "PRINCIPAL",
        "SUMMARY",
    ]);
    for a in sorted {
        t.row(vec![
            alert_time(a),
            sending(&a.uid).map_or_else(String::new, |s| sent_word(a, s)),
            severity_word(a.severity).to_owned(),
            detections_named(a),
            a.principal.clone(),
            alert_message(a),
        ]);
    }
    t.write(w)
}

/// How and how soon after its last event an alert was sent: `fast +0s`,
/// `11:05 +47m` (the hourly run at 11:05).
pub fn sent_word(a: &Alert, s: Sending) -> String {
    let after = (s.at - a.time).max(0) / 1000;
    let delay = if after < 120 {
        format!("+{after}s")
    } else {
        format!("+{}m", after / 60)
    };
    match s.via {
        Via::FastPath => format!("fast {delay}"),
        Via::Hourly => {
            let at = okta_itdr_core::time::format_rfc3339_ms(s.at);
            format!("{} {delay}", at.get(11..16).unwrap_or(&at))
        }
    }
}

/// Time to alert over a replay's alerts: how many each way, and the median
/// time from an alert's last event to its sending.
pub fn time_to_alert(alerts: &[(Millis, Sending)]) -> String {
    let median = |mut v: Vec<i64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let of = |via: Via| -> Vec<i64> {
        alerts
            .iter()
            .filter(|(_, s)| s.via == via)
            .map(|(t, s)| (s.at - t).max(0) / 1000)
            .collect()
    };
    let (fast, hourly) = (of(Via::FastPath), of(Via::Hourly));
    let mut parts = Vec::new();
    if !fast.is_empty() {
        parts.push(format!(
            "{} by the fast path (median {} s)",
            fast.len(),
            median(fast)
        ));
    }
    if !hourly.is_empty() {
        parts.push(format!(
            "{} by hourly runs (median {} min)",
            hourly.len(),
            median(hourly) / 60
        ));
    }
    parts.join(", ")
}

/// The alert's detection, then the contributing detections listed with it:
/// `impossible_travel+new_country`.
pub fn detections_named(a: &Alert) -> String {
    let related: Vec<String> = serde_json::from_str::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v["finding_info"]["related_analytics"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["uid"].as_str().map(str::to_owned))
        .collect();
    std::iter::once(a.detection.clone())
        .chain(related)
        .collect::<Vec<_>>()
        .join("+")
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Delivered => "published",
        Status::Suppressed => "repeat",
        Status::Contributed => "kept",
        Status::Delivering => "delivering",
        Status::Quarantined => "quarantined",
    }
}

/// Every stored finding, published or not, oldest first: what `--all-findings`
/// and the timeline show.
pub fn findings_table(findings: &[StoredFinding], w: &mut dyn Write) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(w, "No findings.");
    }
    let mut sorted: Vec<&StoredFinding> = findings.iter().collect();
    sorted.sort_by(|a, b| {
        (a.last_seen, &a.detection, &a.principal).cmp(&(b.last_seen, &b.detection, &b.principal))
    });
    let mut t = Table::new(&[
        "TIME",
        "STATUS",
        "SEVERITY",
        "DETECTION",
        "PRINCIPAL",
        "SUMMARY",
    ]);
    for f in sorted {
        t.row(vec![
            alert_time(&f.alert),
            status_word(f.status).to_owned(),
            severity_word(f.alert.severity).to_owned(),
            f.detection.clone(),
            f.alert.principal.clone(),
            alert_message(&f.alert),
        ]);
    }
    t.write(w)
}

/// Findings that paged no one, as JSON Lines after the alerts.
pub fn findings_json(findings: &[StoredFinding], w: &mut dyn Write) -> io::Result<()> {
    let mut sorted: Vec<&StoredFinding> = findings
        .iter()
        .filter(|f| f.status != Status::Delivered)
        .collect();
    sorted.sort_by(|a, b| (a.last_seen, &a.uid).cmp(&(b.last_seen, &b.uid)));
    for f in sorted {
        let finding: serde_json::Value =
            serde_json::from_str(&f.alert.body).unwrap_or(serde_json::Value::Null);
        let doc = serde_json::json!({
            "status": status_word(f.status),
            "part_of": f.grouped_into,
            "finding": finding,
        });
        serde_json::to_writer(&mut *w, &doc)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// What one replay did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub files: usize,
    pub ignored_files: usize,
    /// Records looked at: events plus skipped.
    pub records: u64,
    pub skipped: BTreeMap<&'static str, u64>,
    pub replay: ReplayStats,
    pub alerts: BTreeMap<Severity, usize>,
    /// Events that arrived after a newer one had left the reorder window.
    pub behind_window: u64,
    pub reorder_window_hours: u32,
    /// Findings kept without paging (contributors, grouped, repeats).
    pub kept: usize,
    /// Each alert's time and sending, for the time to alert.
    pub sent: Vec<(Millis, Sending)>,
}

impl Summary {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn alerts_total(&self) -> usize {
        self.alerts.values().sum()
    }
}

pub fn summary(s: &Summary, w: &mut dyn Write) -> io::Result<()> {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let files = if s.ignored_files > 0 {
        format!(
            "{} read, {} ignored (not *.json, *.jsonl, *.ndjson, or .gz of them)",
            s.files, s.ignored_files
        )
    } else {
        format!("{} read", s.files)
    };
    rows.push(("files", files));
    rows.push(("records", format!("{} read", s.records)));
    rows.push((
        "events",
        format!(
            "{} ingested, {} duplicates, {} late",
            s.replay.events, s.replay.duplicates, s.replay.late
        ),
    ));
    let skipped = if s.skipped.is_empty() {
        "0".to_owned()
    } else {
        let by: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("{} ({})", s.skipped_total(), by.join(", "))
    };
    rows.push(("skipped", skipped));
    let learned = if s.replay.learned > 0 {
        format!(", {} hours of history learned", s.replay.learned)
    } else {
        String::new()
    };
    rows.push((
        "detector",
        format!(
            "{} hourly runs, {} hours analysed{learned}",
            s.replay.runs, s.replay.hours
        ),
    ));
    let alerts = if s.alerts.is_empty() {
        "0".to_owned()
    } else {
        let by: Vec<String> = s
            .alerts
            .iter()
            .rev()
            .map(|(k, v)| format!("{} {v}", severity_word(*k)))
            .collect();
        format!("{} ({})", s.alerts_total(), by.join(", "))
    };
    rows.push(("alerts", alerts));
    if !s.sent.is_empty() {
        rows.push(("sent", time_to_alert(&s.sent)));
    }
    rows.push((
        "findings",
        format!(
            "{} kept without paging (risk contributors, listed in an alert, repeats; --all-findings)",
            s.kept
        ),
    ));
    writeln!(w, "Summary")?;
    for (k, v) in rows {
        writeln!(w, "  {k:<9} {v}")?;
    }
    if s.behind_window > 0 {
        writeln!(
            w,
            "  note: {} events were more than {} h older than events already replayed and were taken as late arrivals; is the input in time order? (--reorder-window-hours)",
            s.behind_window, s.reorder_window_hours
        )?;
    }
    Ok(())
}

/// Whether a record belongs to the timeline asked for: its identity key, or the
/// identity's login (case-insensitive) as actor, token owner or target.
pub fn timeline_matches(r: &ActivityRecord, wanted: &str) -> bool {
    let wanted = wanted.trim();
    if r.identity == wanted || r.identity.eq_ignore_ascii_case(wanted) {
        return true;
    }
    let eq = |v: &Option<Text>| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(wanted));
    match r.role {
        Role::Actor | Role::Owner => eq(&r.actor.login) || eq(&r.actor.id),
        Role::Target => r
            .targets
            .iter()
            .any(|t| t.id.as_deref() == Some(r.identity.as_str()) && eq(&t.login)),
    }
}

/// One record per event: an event can reach a timeline through two records (an
/// API token's own and its owner's).
pub fn dedup_timeline(mut records: Vec<ActivityRecord>) -> Vec<ActivityRecord> {
    records.sort_by(|a, b| (a.published, &a.uuid).cmp(&(b.published, &b.uuid)));
    records.dedup_by(|b, a| a.uuid == b.uuid);
    records
}

fn role_word(r: Role) -> &'static str {
    match r {
        Role::Actor => "actor",
        Role::Target => "target",
        Role::Owner => "token owner",
    }
}

fn join(parts: &[Option<&str>], sep: &str) -> String {
    parts
        .iter()
        .flatten()
        .filter(|p| !p.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(sep)
}

/// Who the timeline's identity is, from the Okta inventory brought up to date
/// with the replayed events (as alerts are enriched): printed above its
/// timeline by `replay --okta … --timeline`.
pub fn identity_block(
    identity: &okta_itdr_core::posture::identity::Identity,
    changes: &[String],
    w: &mut dyn Write,
) -> io::Result<()> {
    let day = |t: Option<i64>| {
        t.map(|t| format_rfc3339_ms(t)[..10].to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    writeln!(
        w,
        "Identity (Okta inventory of {})",
        day(Some(identity.fetched_at))
    )?;
    let name = identity
        .display_name
        .as_deref()
        .map(|n| format!(" ({})", clean(n)))
        .unwrap_or_default();
    writeln!(
        w,
        "  user         {}{name}, {}{}",
        clean(&identity.login),
        clean(&identity.status),
        identity
            .user_type
            .as_deref()
            .map(|t| format!(", type {}", clean(t)))
            .unwrap_or_default()
    )?;
    let roles = if identity.admin_roles.is_empty() {
        "none".to_owned()
    } else {
        identity.admin_roles.join(", ")
    };
    let unknown = if identity.admin_roles_unknown {
        " (unreadable at the last refresh: as last known)"
    } else {
        ""
    };
    writeln!(w, "  admin roles  {}{unknown}", clean(&roles))?;
    let factors = match (&identity.factor_types, identity.phishing_resistant) {
        (Some(f), p) if !f.is_empty() => format!(
            "{}; phishing-resistant: {}",
            clean(&f.join(", ")),
            match p {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            }
        ),
        (Some(_), _) => "none".to_owned(),
        (None, _) => "not read".to_owned(),
    };
    writeln!(w, "  factors      {factors}")?;
    writeln!(
        w,
        "  account      created {}, last sign-in {}",
        day(identity.created),
        day(identity.last_login)
    )?;
    writeln!(
        w,
        "  devices      {}; groups {}{}",
        identity
            .device_count
            .map_or("unknown".to_owned(), |n| n.to_string()),
        identity.group_count,
        if identity.groups.is_empty() {
            String::new()
        } else {
            format!(" ({})", clean(&identity.groups.join(", ")))
        }
    )?;
    if !changes.is_empty() {
        writeln!(w, "  since then   {}", clean(&changes.join(", ")))?;
    }
    Ok(())
}

pub fn timeline_table(records: &[ActivityRecord], w: &mut dyn Write) -> io::Result<()> {
    let Some(first) = records.first() else {
        return writeln!(w, "No activity for that identity.");
    };
    writeln!(
        w,
        "Timeline of {} ({} events)",
        clean(first.identity_label()),
        records.len()
    )?;
    let mut t = Table::new(&[
        "TIME",
        "EVENT TYPE",
        "OUTCOME",
        "ROLE",
        "IP",
        "LOCATION",
        "CLIENT",
    ]);
    for r in records {
        let n = &r.network;
        let c = &r.client;
        t.row(vec![
            format_rfc3339_ms(r.published),
            r.event.event_type.to_string(),
            r.event.outcome.as_str().to_owned(),
            role_word(r.role).to_owned(),
            n.ip.as_deref().unwrap_or_default().to_owned(),
            join(&[n.country.as_deref(), n.city.as_deref()], " / "),
            join(&[c.browser.as_deref(), c.os.as_deref()], " / "),
        ]);
    }
    t.write(w)
}

pub fn timeline_json(records: &[ActivityRecord], w: &mut dyn Write) -> io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *w, r)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

fn threshold_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

pub fn detections_table(config: &DetectConfig, w: &mut dyn Write) -> io::Result<()> {
    let mut t = Table::new(&[
        "ID",
        "SEVERITY",
        "KIND",
        "MITRE ATT&CK",
        "THRESHOLDS",
        "ENABLED",
    ]);
    for d in CATALOG {
        let thresholds: Vec<String> = config
            .thresholds_of(d)
            .iter()
            .map(|(n, v)| format!("{n}={}", threshold_text(*v)))
            .collect();
        t.row(vec![
            d.id.to_owned(),
            severity_word(d.severity).to_owned(),
            if d.kind == Kind::Single {
                "event"
            } else {
                "windowed"
            }
            .to_owned(),
            d.mitre.join(", "),
            if thresholds.is_empty() {
                "-".to_owned()
            } else {
                thresholds.join(" ")
            },
            if config.enabled(d.id) { "yes" } else { "no" }.to_owned(),
        ]);
    }
    t.write(w)
}

pub fn detections_json(config: &DetectConfig, w: &mut dyn Write) -> io::Result<()> {
    for d in CATALOG {
        let thresholds: serde_json::Map<String, serde_json::Value> = config
            .thresholds_of(d)
            .into_iter()
            .map(|(n, v)| (n.to_owned(), json!(v)))
            .collect();
        let v = json!({
            "id": d.id,
            "title": d.title,
            "description": d.description,
            "severity": severity_word(d.severity),
            "kind": if d.kind == Kind::Single { "event" } else { "windowed" },
            "mitre": d.mitre,
            "thresholds": thresholds,
            "enabled": config.enabled(d.id),
        });
        serde_json::to_writer(&mut *w, &v)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_strip_control_characters() {
        let mut t = Table::new(&["A", "BB"]);
        t.row(vec!["x\u{1b}[31m".into(), "long value".into()]);
        t.row(vec!["yyyyyy".into(), "z".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "A       BB\nx [31m  long value\nyyyyyy  z\n");
    }

    #[test]
    fn the_catalog_lists_every_detection_with_effective_thresholds() {
        let cfg = DetectConfig::from_json(
            r#"{"disabled":["account_locked"],"thresholds":{"brute_force_user.failures":15}}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        detections_json(&cfg, &mut out).unwrap();
        let rows: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(rows.len(), CATALOG.len());
        let bf = rows.iter().find(|r| r["id"] == "brute_force_user").unwrap();
        assert_eq!(bf["thresholds"]["failures"], 15.0);
        assert_eq!(
            rows.iter().find(|r| r["id"] == "account_locked").unwrap()["enabled"],
            false
        );
        let mut table = Vec::new();
        detections_table(&cfg, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("failures=15 window_minutes=60"), "{table}");
        assert_eq!(table.lines().count(), CATALOG.len() + 1);
    }
}
