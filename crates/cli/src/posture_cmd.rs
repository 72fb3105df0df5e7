//! `okta-itdr posture`: reads the org's identity inventory from the Okta
//! Management API (read-only) and runs the posture checks. A table for people,
//! or one OCSF Compliance Finding per check with `--format json`. Failing
//! checks are the output, not an error: the exit status is 0 unless the
//! inventory could not be read at all.

use std::io::Write;
use std::sync::atomic::Ordering;

use okta_itdr_core::posture::{self, checks, CheckResult, Inventory, Part, PostureConfig, Verdict};
use okta_itdr_okta::InventoryOptions;

use crate::args::{Format, PostureArgs};
use crate::error::CliError;
use crate::fetch_source::{client, now_ms};
use crate::output::Table;
use crate::replay_cmd::Io;

pub fn run(args: &PostureArgs, io: Io<'_>) -> Result<Vec<CheckResult>, CliError> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadConfig {
                path: path.clone(),
                source,
            })?;
            PostureConfig::from_json(&text).map_err(CliError::Okta)?
        }
        None => PostureConfig::default(),
    };
    let client = client(&args.okta, &args.okta_options)?;
    writeln!(
        io.err,
        "reading the identity inventory of {} (read-only)",
        client.org()
    )?;
    let inventory = read_inventory(&client, config.mfa_grace_days)??;
    let stats = client.stats();
    writeln!(
        io.err,
        "{}; {} requests, {} rate-limit waits ({:.1} s)",
        summary(&inventory),
        stats.requests.load(Ordering::Relaxed),
        stats.rate_waits.load(Ordering::Relaxed),
        stats.rate_wait_ms.load(Ordering::Relaxed) as f64 / 1000.0
    )?;
    let results = posture::evaluate(&inventory, &config);
    match Format::resolve(args.format, io.stdout_terminal) {
        Format::Table => table(&results, io.out)?,
        Format::Json => {
            let version = env!("CARGO_PKG_VERSION");
            for r in &results {
                let finding = posture::ocsf::compliance_finding(
                    r,
                    &inventory.org,
                    inventory.fetched_at,
                    version,
                );
                serde_json::to_writer(&mut *io.out, &finding).map_err(std::io::Error::from)?;
                io.out.write_all(b"\n")?;
            }
        }
    }
    io.out.flush()?;
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    writeln!(
        io.err,
        "{} checks: {} pass, {} fail, {} unknown",
        results.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Unknown)
    )?;
    Ok(results)
}

/// `42 users, 3 admins, …; unknown: devices, API tokens`.
fn summary(inv: &Inventory) -> String {
    fn n<T>(p: &Part<Vec<T>>, what: &str, unknown: &mut Vec<String>) -> Option<String> {
        match p {
            Part::Known(v) => Some(format!("{} {what}", v.len())),
            Part::Unknown(_) => {
                unknown.push(what.to_owned());
                None
            }
        }
    }
    let mut unknown = Vec::new();
    let mut parts: Vec<String> = [
        n(&inv.users, "users", &mut unknown),
        n(&inv.admins, "admins", &mut unknown),
        n(&inv.devices, "devices", &mut unknown),
        n(&inv.api_tokens, "API tokens", &mut unknown),
        n(&inv.service_apps, "service apps", &mut unknown),
        n(&inv.log_streams, "log streams", &mut unknown),
        n(&inv.zones, "network zones", &mut unknown),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (known, what) in [
        (inv.groups.known().is_some(), "groups"),
        (inv.factors.known().is_some(), "factors"),
        (inv.threat_insight.known().is_some(), "ThreatInsight"),
        (inv.session_rules.known().is_some(), "session policies"),
        (inv.password_policies.known().is_some(), "password policies"),
    ] {
        if !known {
            unknown.push(what.to_owned());
        }
    }
    if !unknown.is_empty() {
        parts.push(format!("not readable: {}", unknown.join(", ")));
    }
    format!("inventory: {}", parts.join(", "))
}

fn table(results: &[CheckResult], w: &mut dyn Write) -> std::io::Result<()> {
    let mut t = Table::new(&["CHECK", "VERDICT", "FAILING", "DETAIL"]);
    for r in results {
        t.row(vec![
            r.id.to_owned(),
            r.verdict.label().to_uppercase(),
            if r.verdict == Verdict::Fail {
                r.subjects.len().to_string()
            } else {
                "-".to_owned()
            },
            r.note.clone(),
        ]);
    }
    t.write(w)?;
    for r in results.iter().filter(|r| r.verdict == Verdict::Fail) {
        let title = checks::meta(r.id).map_or(r.id, |m| m.title);
        writeln!(w, "\n{} ({}): {}", r.id, r.subjects.len(), title)?;
        for s in &r.subjects {
            writeln!(w, "  {}  {}  {}", s.name, s.uid, s.detail)?;
        }
    }
    Ok(())
}

/// Reads the org's identity inventory now: `Err` when no runtime could be
/// started, `Ok(Err)` when Okta could not be read.
fn read_inventory(
    client: &okta_itdr_okta::OktaClient,
    mfa_grace_days: u32,
) -> std::io::Result<Result<Inventory, okta_itdr_core::source::SourceError>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = InventoryOptions {
        now: now_ms(),
        mfa_grace_days,
        factors_until: None,
    };
    Ok(runtime.block_on(client.inventory(&options)))
}

/// The inventory `replay --okta` enriches its alerts with. Best effort: alerts
/// are worth having without it, so a failure is reported and the replay goes on.
pub fn inventory_for_enrichment(
    client: &okta_itdr_okta::OktaClient,
    err: &mut dyn Write,
) -> Result<Option<Inventory>, CliError> {
    writeln!(
        err,
        "reading the identity inventory of {} to enrich the alerts (--no-enrich skips it)",
        client.org()
    )?;
    match read_inventory(client, PostureConfig::default().mfa_grace_days)? {
        Ok(inv) => {
            writeln!(err, "{}", summary(&inv))?;
            Ok(Some(inv))
        }
        Err(e) => {
            writeln!(err, "okta-itdr: alerts are not enriched: {e}")?;
            Ok(None)
        }
    }
}
