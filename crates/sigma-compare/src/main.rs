//! Runs SigmaHQ's rules through okta-itdr's Sigma evaluator and through
//! rsigma-eval behind the same port (`okta_itdr_core::sigma::RuleEngine`):
//! parse, Okta evaluation, tested semantics and ingest cost.
//!
//! `cargo run --release --ignore-rust-version --manifest-path crates/sigma-compare/Cargo.toml -- /tmp/sigmahq`
//! (rsigma-eval 0.26 declares Rust 1.96; it builds with 1.95). `ROUNDS=N` sets the cost rounds (200).

mod rsigma_port;

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use okta_itdr_core::event::LogEvent;
use okta_itdr_core::ingest::check_envelope;
use okta_itdr_core::sigma::{RuleEngine, RuleSet};
use okta_itdr_testkit::normalizer;
use rsigma_port::Rsigma;
use serde_json::{json, Map, Value};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: sigma-compare SIGMAHQ_CHECKOUT (the folder holding rules/, rules-*/)");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files = sigmahq_files(Path::new(&dir));
    let details = okta_itdr_testkit::sample_log_events();
    parse_stage(&files);
    okta_stage(&files, &repo, &details);
    semantics_stage();
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    cost_stage(&details, rounds);
}

// ---------------------------------------------------------------- inputs

/// Every `*.yml` under `rules/` and `rules-*/` of a SigmaHQ checkout (or
/// under the folder itself when it has neither), as (relative path, text).
fn sigmahq_files(dir: &Path) -> Vec<(String, String)> {
    let mut roots: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("rules folder is readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == "rules" || n.starts_with("rules-"))
        })
        .collect();
    if roots.is_empty() {
        roots.push(dir.to_owned());
    }
    let mut out = Vec::new();
    for root in roots {
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)
                .expect("readable")
                .filter_map(Result::ok)
            {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if okta_itdr_core::sigma::is_rule_file(&p.to_string_lossy()) {
                    let text = std::fs::read_to_string(&p).expect("rule text");
                    let rel = p
                        .strip_prefix(dir)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned();
                    out.push((rel, text));
                }
            }
        }
    }
    out.sort();
    out
}

fn yaml_docs(text: &str) -> Vec<Map<String, Value>> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_multiple_with_options::<Value>(text, options)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| match d {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn is_okta(text: &str) -> bool {
    yaml_docs(text).iter().any(|d| {
        d.get("logsource")
            .and_then(|l| l.get("product"))
            .and_then(Value::as_str)
            .is_some_and(|p| p.eq_ignore_ascii_case("okta"))
    })
}

fn ours(file: &str, text: &str) -> Result<RuleSet, Vec<String>> {
    RuleSet::parse([(file, text)]).map_err(|errs| errs.into_iter().map(|e| e.reason).collect())
}

fn theirs(file: &str, text: &str) -> Result<Rsigma, Vec<String>> {
    Rsigma::parse([(file, text)]).map_err(|errs| {
        errs.into_iter()
            .map(|e| e.split_once(": ").map_or(e.clone(), |(_, r)| r.to_owned()))
            .collect()
    })
}

// ---------------------------------------------------------------- a. parse

fn product_only(reason: &str) -> bool {
    reason.contains("not okta") || reason.contains("no logsource.product")
}

fn classify_ours(reason: &str) -> String {
    if product_only(reason) {
        return "logsource not okta (by design)".into();
    }
    if let Some(rest) = reason.split("modifier \"").nth(1) {
        let name = rest.split('"').next().unwrap_or_default();
        return format!("unsupported modifier `{name}`");
    }
    let groups: &[(&str, &str)] = &[
        ("aggregations", "`| count()` aggregation"),
        ("timeframe", "`timeframe` (old aggregation)"),
        ("bytes, more than", "rule file > 64 KiB"),
        ("longer than 1024", "value > 1,024 characters"),
        ("size limit", "regex over 256 KiB compiled"),
        ("regular expression refused", "regex syntax (regex crate)"),
        ("over the budget", "regex budget of the set"),
        ("not YAML", "not YAML"),
        ("empty list", "empty value list"),
        ("condition", "condition syntax"),
        ("correlation", "correlation"),
    ];
    for (needle, group) in groups {
        if reason.contains(needle) {
            return (*group).into();
        }
    }
    let short: String = reason.chars().take(60).collect();
    format!("other: {short}")
}

fn classify_rsigma(reason: &str) -> String {
    let lower = reason.to_ascii_lowercase();
    if let Some(i) = lower.find("modifier") {
        let tail: String = reason[i..].chars().take(60).collect();
        return format!("modifier: {tail}");
    }
    let groups: &[(&str, &str)] = &[
        ("correlation", "correlation"),
        ("regex", "regex"),
        ("condition", "condition"),
        ("yaml", "YAML"),
    ];
    for (needle, group) in groups {
        if lower.contains(needle) {
            let short: String = reason.chars().take(80).collect();
            return format!("{group}: {short}");
        }
    }
    let short: String = reason.chars().take(80).collect();
    format!("other: {short}")
}

/// The rule with every detection document's `logsource.product` set to okta:
/// what lets our parser judge a non-Okta rule's detection section.
fn as_okta(text: &str) -> String {
    yaml_docs(text)
        .into_iter()
        .map(|mut d| {
            if !d.contains_key("correlation") {
                let ls = d
                    .entry("logsource")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(ls) = ls {
                    ls.insert("product".into(), "okta".into());
                }
            }
            serde_json::to_string(&Value::Object(d)).expect("json")
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn parse_stage(files: &[(String, String)]) {
    let n = files.len();
    let (mut ours_ok, mut ours_det_ok, mut theirs_ok) = (0, 0, 0);
    let mut ours_why: BTreeMap<String, usize> = BTreeMap::new();
    let mut ours_det_why: BTreeMap<String, usize> = BTreeMap::new();
    let mut theirs_why: BTreeMap<String, usize> = BTreeMap::new();
    let mut both = [[0usize; 2]; 2];
    let mut only_theirs_refuses: Vec<String> = Vec::new();
    let mut notable: Vec<String> = Vec::new();
    let mut by_product: BTreeMap<String, usize> = BTreeMap::new();
    let start = Instant::now();
    let mut t_ours = Duration::ZERO;
    let mut t_theirs = Duration::ZERO;
    for (file, text) in files {
        let t = Instant::now();
        let o = ours(file, text);
        let det = match &o {
            Ok(_) => Ok(()),
            Err(errs) if errs.iter().all(|e| product_only(e)) => {
                ours(file, &as_okta(text)).map(|_| ())
            }
            Err(errs) => Err(errs.clone()),
        };
        t_ours += t.elapsed();
        match &o {
            Ok(_) => ours_ok += 1,
            Err(errs) => {
                let first = errs.iter().find(|e| !product_only(e)).unwrap_or(&errs[0]);
                *ours_why.entry(classify_ours(first)).or_default() += 1;
                if errs.iter().all(|e| product_only(e)) {
                    let product = yaml_docs(text)
                        .first()
                        .and_then(|d| {
                            d.get("logsource")?
                                .get("product")?
                                .as_str()
                                .map(str::to_owned)
                        })
                        .unwrap_or_else(|| "(none: category/service only)".into());
                    *by_product.entry(product).or_default() += 1;
                }
            }
        }
        match &det {
            Ok(()) => ours_det_ok += 1,
            Err(errs) => {
                let why = classify_ours(&errs[0]);
                if !why.contains("windash") && !why.contains("expand") {
                    notable.push(format!("{file}: {}", errs[0]));
                }
                *ours_det_why.entry(why).or_default() += 1
            }
        }
        let t = Instant::now();
        let r = theirs(file, text);
        t_theirs += t.elapsed();
        match &r {
            Ok(_) => theirs_ok += 1,
            Err(errs) => *theirs_why.entry(classify_rsigma(&errs[0])).or_default() += 1,
        }
        both[det.is_ok() as usize][r.is_ok() as usize] += 1;
        if det.is_ok() && r.is_err() {
            only_theirs_refuses.push(format!("{file}: {}", r.as_ref().err().unwrap()[0]));
        }
    }
    println!("\n## a. Parse: {n} SigmaHQ rule files (rules/, rules-*/), one file at a time");
    println!("| | accepted | refused |");
    println!("|---|---|---|");
    println!("| okta-itdr, as written | {ours_ok} | {} |", n - ours_ok);
    println!(
        "| okta-itdr, detection section (logsource.product set to okta) | {ours_det_ok} | {} |",
        n - ours_det_ok
    );
    println!(
        "| rsigma-eval 0.26.0 (parse + compile) | {theirs_ok} | {} |",
        n - theirs_ok
    );
    println!(
        "both accept {}, only okta-itdr {}, only rsigma {}, neither {}",
        both[1][1], both[1][0], both[0][1], both[0][0]
    );
    println!("parse time (all files, single-threaded): okta-itdr {t_ours:?} (incl. second pass), rsigma {t_theirs:?}; stage {:?}", start.elapsed());
    let show = |title: &str, m: &BTreeMap<String, usize>| {
        println!("\n{title}");
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, c) in v {
            println!("  {c:5}  {k}");
        }
    };
    show("okta-itdr, as written: refusals by reason", &ours_why);
    show(
        "  of which logsource-only refusals, by product",
        &by_product,
    );
    show(
        "okta-itdr, detection section: refusals by reason",
        &ours_det_why,
    );
    show("rsigma-eval: refusals by reason", &theirs_why);
    println!("\nour detection-section refusals other than windash/expand:");
    for l in &notable {
        println!("  {l}");
    }
    println!(
        "\nfiles our parser accepts (detection section) and rsigma refuses: {}",
        only_theirs_refuses.len()
    );
    for l in only_theirs_refuses.iter().take(20) {
        println!("  {l}");
    }
}

// ---------------------------------------------------------------- b. Okta evaluation

/// Okta's own spelling of keys, for fields a rule writes in lower case.
const OKTA_SPELLING: &[&str] = &[
    "eventType",
    "legacyEventType",
    "displayMessage",
    "securityContext",
    "isProxy",
    "debugContext",
    "debugData",
    "requestUri",
    "behaviors",
    "logOnlySecurityData",
    "alternateId",
    "displayName",
    "ipAddress",
    "outcome",
    "result",
    "reason",
    "target",
    "actor",
    "client",
];

fn okta_key(seg: &str) -> String {
    OKTA_SPELLING
        .iter()
        .find(|k| k.eq_ignore_ascii_case(seg))
        .map_or_else(|| seg.to_owned(), |k| (*k).to_owned())
}

/// Sets a dotted path in a LogEvent the way Okta lays it out: `target` is a
/// list (a decoy User first, the rule's target after it).
fn set_path(v: &mut Value, segs: &[&str], value: Value) {
    let Some((seg, rest)) = segs.split_first() else {
        *v = value;
        return;
    };
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let map = v.as_object_mut().expect("object");
    let key = map
        .keys()
        .find(|k| k.eq_ignore_ascii_case(seg))
        .cloned()
        .unwrap_or_else(|| okta_key(seg));
    let slot = map.entry(key.clone()).or_insert(Value::Null);
    if key == "target" && !rest.is_empty() {
        if !slot.is_array() || slot.as_array().is_some_and(Vec::is_empty) {
            *slot = json!([
                {"id": "00ub0oNGTSWTBKOLGLNR", "type": "User", "alternateId": "bob@acme.com", "displayName": "Bob Smith", "detailEntry": null},
                {"id": "0oa1gjh63g214q0Hq0g4", "type": "AppInstance", "alternateId": "Target", "displayName": "Target", "detailEntry": null}
            ]);
        }
        let last = slot
            .as_array_mut()
            .and_then(|a| a.last_mut())
            .expect("element");
        set_path(last, rest, value);
        return;
    }
    set_path(slot, rest, value);
}

struct FieldSpec {
    path: String,
    mods: Vec<String>,
    values: Vec<Value>,
}

fn specs(sel: &Value) -> Vec<FieldSpec> {
    let map = match sel {
        Value::Object(m) => m.clone(),
        Value::Array(items) => match items.first() {
            Some(Value::Object(m)) => m.clone(),
            _ => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    map.iter()
        .map(|(k, v)| {
            let mut parts = k.split('|');
            let path = parts.next().unwrap_or_default().to_owned();
            FieldSpec {
                path,
                mods: parts.map(str::to_ascii_lowercase).collect(),
                values: match v {
                    Value::Array(a) => a.clone(),
                    v => vec![v.clone()],
                },
            }
        })
        .collect()
}

/// A value of the event that satisfies (`hit`) or fails the field condition;
/// `None` when it cannot be made from the rule alone.
fn field_value(f: &FieldSpec, hit: bool) -> Option<Value> {
    let first = f.values.first()?;
    let text = match first {
        Value::String(s) => s.clone(),
        Value::Bool(b) => return Some(Value::Bool(if hit { *b } else { !*b })),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let has = |m: &str| f.mods.iter().any(|x| x == m);
    if has("expand") {
        return None;
    }
    if has("re") {
        // Hand-made samples for the patterns the Okta rules use.
        return Some(Value::String(if hit {
            if text.contains("@") {
                "alice@acme.com".into()
            } else {
                text.trim_start_matches('^').replace(".*", "x")
            }
        } else {
            "Summer2026!".into()
        }));
    }
    if has("cidr") {
        let net = text.split('/').next()?;
        let ip = if hit {
            let mut o: Vec<String> = net.split('.').map(str::to_owned).collect();
            if let Some(l) = o.last_mut() {
                *l = "7".into();
            }
            o.join(".")
        } else {
            "203.0.113.9".into()
        };
        return Some(Value::String(ip));
    }
    if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
        // Okta's booleans are JSON booleans (securityContext.isProxy).
        let b = text.eq_ignore_ascii_case("true");
        return Some(Value::Bool(if hit { b } else { !b }));
    }
    let all = has("all");
    let joined = if all {
        f.values
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text.clone()
    };
    let s = if has("contains") {
        if hit {
            format!("{{New Device={joined}, x}} /api/v1/{joined}/x")
        } else {
            "{New Device=NEGATIVE} /api/v1/x".into()
        }
    } else if has("startswith") {
        if hit {
            format!("{joined}_mfa")
        } else {
            format!("other.{joined}")
        }
    } else if has("endswith") {
        if hit {
            format!("x{joined}")
        } else {
            format!("{joined}.other")
        }
    } else if hit {
        joined
    } else if let Some((head, _)) = text.rsplit_once('.') {
        format!("{head}.other_action")
    } else {
        format!("Not {text}")
    };
    Some(Value::String(s))
}

struct Case {
    label: &'static str,
    event: Value,
    expected: bool,
}

/// A matching event, a near miss (the first field of every positive
/// selection fails) and, for a rule with a filter, the match with the filter
/// satisfied. `Err` names what could not be built.
fn cases(text: &str, base: &Value) -> Result<Vec<Case>, String> {
    let doc = yaml_docs(text).into_iter().next().ok_or("no document")?;
    let det = doc
        .get("detection")
        .and_then(Value::as_object)
        .ok_or("no detection")?;
    let (mut positive, mut filters) = (Vec::new(), Vec::new());
    for (name, body) in det.iter().filter(|(k, _)| *k != "condition") {
        if name.starts_with("filter") {
            filters.push(specs(body));
        } else {
            positive.push(specs(body));
        }
    }
    let mut hit = base.clone();
    for f in filters.iter().flatten() {
        let v = field_value(f, false).ok_or(format!("filter {} not buildable", f.path))?;
        set_path(&mut hit, &f.path.split('.').collect::<Vec<_>>(), v);
    }
    for f in positive.iter().flatten() {
        let v = field_value(f, true).ok_or(format!("{} not buildable", f.path))?;
        set_path(&mut hit, &f.path.split('.').collect::<Vec<_>>(), v);
    }
    let mut miss = hit.clone();
    for sel in &positive {
        if let Some(f) = sel.first() {
            let v = field_value(f, false).ok_or(format!("{} not buildable", f.path))?;
            set_path(&mut miss, &f.path.split('.').collect::<Vec<_>>(), v);
        }
    }
    let mut out = vec![
        Case {
            label: "match",
            event: hit.clone(),
            expected: true,
        },
        Case {
            label: "near miss",
            event: miss,
            expected: false,
        },
    ];
    if let Some(filter) = filters.first() {
        let mut filtered = hit;
        for f in filter {
            let v = field_value(f, true).ok_or(format!("filter {} not buildable", f.path))?;
            set_path(&mut filtered, &f.path.split('.').collect::<Vec<_>>(), v);
        }
        out.push(Case {
            label: "filtered",
            event: filtered,
            expected: false,
        });
    }
    Ok(out)
}

fn fired(engine: &dyn RuleEngine, v: &Value) -> bool {
    !engine.evaluate(v).is_empty()
}

fn okta_stage(files: &[(String, String)], repo: &Path, details: &[Value]) {
    let base = serde_json::from_str::<Value>(
        &std::fs::read_to_string(repo.join("events/signin-success.json")).expect("sample"),
    )
    .expect("json")["detail"]
        .clone();
    let mut okta: Vec<(String, String)> =
        files.iter().filter(|(_, t)| is_okta(t)).cloned().collect();
    let mut ours_rules: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(repo.join("tests/rules/okta")).expect("tests/rules/okta") {
        let p = entry.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("rule");
        let name = format!(
            "tests/rules/okta/{}",
            p.file_name().unwrap().to_string_lossy()
        );
        ours_rules.push((name, text));
    }
    ours_rules.sort();
    okta.extend(ours_rules.iter().cloned());
    println!(
        "\n## b. Okta rules: {} ({} SigmaHQ with product okta, {} of tests/rules/okta)",
        okta.len(),
        okta.len() - ours_rules.len(),
        ours_rules.len()
    );
    println!("| rule | case | expected | okta-itdr | rsigma + adapter | rsigma as is |");
    println!("|---|---|---|---|---|---|");
    let (mut n, mut agree, mut ours_right, mut theirs_right, mut plain_right) = (0, 0, 0, 0, 0);
    let mut refused = Vec::new();
    let mut both_sets: Vec<(String, String)> = Vec::new();
    for (file, text) in &okta {
        let short = file.rsplit('/').next().unwrap_or(file);
        let o = ours(file, text);
        let r = theirs(file, text);
        if let Err(e) = &o {
            refused.push(format!("{short}: okta-itdr refuses: {}", e[0]));
        }
        if let Err(e) = &r {
            refused.push(format!("{short}: rsigma refuses: {}", e[0]));
        }
        let (Ok(o), Ok(r)) = (o, r) else { continue };
        both_sets.push((file.clone(), text.clone()));
        let mut plain = theirs(file, text).expect("parsed once");
        plain.case_insensitive = false;
        let cs = match cases(text, &base) {
            Ok(cs) => cs,
            Err(e) => {
                refused.push(format!("{short}: no events built: {e}"));
                continue;
            }
        };
        for c in cs {
            let (a, b, p) = (
                fired(&o, &c.event),
                fired(&r, &c.event),
                fired(&plain, &c.event),
            );
            n += 1;
            agree += usize::from(a == b);
            ours_right += usize::from(a == c.expected);
            theirs_right += usize::from(b == c.expected);
            plain_right += usize::from(p == c.expected);
            let mark = |x: bool| {
                if x == c.expected {
                    format!("{x}")
                } else {
                    format!("**{x}**")
                }
            };
            println!(
                "| {short} | {} | {} | {} | {} | {} |",
                c.label,
                c.expected,
                mark(a),
                mark(b),
                mark(p)
            );
        }
    }
    println!(
        "\ncases {n}: engines agree {agree}; as expected: okta-itdr {ours_right}, rsigma + adapter {theirs_right}, rsigma as is {plain_right}"
    );
    for l in &refused {
        println!("  {l}");
    }

    // Every rule both accept, as one set, over the sample events: SigmaHQ's
    // and ours apart (two of ours reuse SigmaHQ ids).
    let (theirs_set, tests_set): (Vec<_>, Vec<_>) = both_sets
        .into_iter()
        .partition(|(f, _)| !f.starts_with("tests/"));
    over_samples("SigmaHQ Okta rules", &theirs_set, details);
    over_samples("tests/rules/okta", &tests_set, details);
}

fn over_samples(label: &str, set: &[(String, String)], details: &[Value]) {
    let files = || set.iter().map(|(f, t)| (f.as_str(), t.as_str()));
    let o = RuleSet::parse(files()).expect("set");
    let r = Rsigma::parse(files()).expect("set");
    let mut plain = Rsigma::parse(files()).expect("set");
    plain.case_insensitive = false;
    let ids = |m: Vec<std::sync::Arc<okta_itdr_core::sigma::RuleMatch>>| -> BTreeSet<String> {
        m.into_iter()
            .map(|m| m.file.rsplit('/').next().unwrap_or_default().to_owned())
            .collect()
    };
    let (mut same, mut diff, mut diff_plain, mut m_o, mut m_r, mut m_p) = (0, 0, 0, 0, 0, 0);
    let mut examples = Vec::new();
    for (i, d) in details.iter().enumerate() {
        let (a, b, p) = (
            ids(o.evaluate(d)),
            ids(r.evaluate(d)),
            ids(plain.evaluate(d)),
        );
        m_o += a.len();
        m_r += b.len();
        m_p += p.len();
        if a == b {
            same += 1;
        } else {
            diff += 1;
            if examples.len() < 10 {
                examples.push(format!(
                    "event {i} ({}): okta-itdr {a:?}, rsigma {b:?}",
                    d["eventType"]
                ));
            }
        }
        if a != p {
            diff_plain += 1;
        }
    }
    println!(
        "\n{label}: {} rules both accept over {} sample events: identical matches on {same} events, different on {diff}; \
         matches okta-itdr {m_o}, rsigma + adapter {m_r}, rsigma as is {m_p} (differs from okta-itdr on {diff_plain} events)",
        set.len(),
        details.len()
    );
    for e in examples {
        println!("  {e}");
    }
}

// ---------------------------------------------------------------- c. semantics

fn rule(id: &str, detection: &str) -> String {
    format!("title: {id}\nid: {id}\nlogsource:\n  product: okta\ndetection:\n{detection}\nlevel: medium\n")
}

fn semantics_stage() {
    println!("\n## c. Tested semantics");
    println!("| case | okta-itdr | rsigma + adapter | rsigma as is |");
    println!("|---|---|---|---|");
    let ev = json!({
        "eventType": "user.session.start",
        "displayMessage": "User login to Okta",
        "actor": {"alternateId": "Alice@Acme.com"},
        "securityContext": {"isProxy": true},
        "outcome": {"result": "SUCCESS"},
        "debugContext": {"debugData": {"risk": 42}},
        "target": [
            {"type": "User", "displayName": "Bob"},
            {"type": "AppInstance", "displayName": "Okta Admin Console"}
        ]
    });
    let checks: Vec<(&str, String, bool)> = vec![
        (
            "`eventtype` matches `eventType`",
            rule(
                "ci1",
                "  sel:\n    eventtype: user.session.start\n  condition: sel",
            ),
            true,
        ),
        (
            "`securitycontext.isproxy: 'true'` matches `true`",
            rule(
                "ci2",
                "  sel:\n    securitycontext.isproxy: 'true'\n  condition: sel",
            ),
            true,
        ),
        (
            "`securityContext.isProxy: 'true'` matches `true`",
            rule(
                "b1",
                "  sel:\n    securityContext.isProxy: 'true'\n  condition: sel",
            ),
            true,
        ),
        (
            "`isProxy: true` (boolean) matches `true`",
            rule(
                "b2",
                "  sel:\n    securityContext.isProxy: true\n  condition: sel",
            ),
            true,
        ),
        (
            "`target.displayName` any element (2nd)",
            rule(
                "a1",
                "  sel:\n    target.displayName: 'Okta Admin Console'\n  condition: sel",
            ),
            true,
        ),
        (
            "value case-insensitive (`alice@acme.com`)",
            rule(
                "v1",
                "  sel:\n    actor.alternateId: alice@acme.com\n  condition: sel",
            ),
            true,
        ),
        (
            "`re` case-sensitive (`^alice`)",
            rule(
                "v2",
                "  sel:\n    actor.alternateId|re: '^alice'\n  condition: sel",
            ),
            false,
        ),
        (
            "number matches its text (`'42'`)",
            rule(
                "v3",
                "  sel:\n    debugContext.debugData.risk: '42'\n  condition: sel",
            ),
            true,
        ),
        (
            "wildcard `user.session.*`",
            rule(
                "v4",
                "  sel:\n    eventType: 'user.session.*'\n  condition: sel",
            ),
            true,
        ),
        (
            "keyword anywhere (`login to okta`)",
            rule(
                "v5",
                "  keywords:\n    - 'login to okta'\n  condition: keywords",
            ),
            true,
        ),
        (
            "`cidr` on an absent field",
            rule(
                "v6",
                "  sel:\n    client.ipAddress|cidr: 10.0.0.0/8\n  condition: sel",
            ),
            false,
        ),
        (
            "`exists: false`",
            rule(
                "v7",
                "  sel:\n    client.ipAddress|exists: false\n  condition: sel",
            ),
            true,
        ),
    ];
    for (label, text, expected) in &checks {
        let o = ours("x.yml", text);
        let r = theirs("x.yml", text);
        let show = |res: Option<bool>| match res {
            None => "refused".to_owned(),
            Some(x) if x == *expected => format!("{x}"),
            Some(x) => format!("**{x}**"),
        };
        let plain = theirs("x.yml", text).ok().map(|mut p| {
            p.case_insensitive = false;
            fired(&p, &ev)
        });
        println!(
            "| {label} (expected {expected}) | {} | {} | {} |",
            show(o.as_ref().ok().map(|o| fired(o, &ev))),
            show(r.as_ref().ok().map(|r| fired(r, &ev))),
            show(plain)
        );
    }

    println!("\nLimits (okta-itdr constants in sigma/mod.rs): refused or accepted");
    println!("| input | okta-itdr | rsigma-eval |");
    println!("|---|---|---|");
    let verdict = |r: Result<(), Vec<String>>| match r {
        Ok(()) => "accepted".to_owned(),
        Err(e) => format!("refused ({})", e[0].chars().take(70).collect::<String>()),
    };
    let one = |label: &str, files: Vec<(String, String)>| {
        let o = RuleSet::parse(files.iter().map(|(f, t)| (f.as_str(), t.as_str())))
            .map(|_| ())
            .map_err(|e| e.into_iter().map(|e| e.reason).collect());
        let r = Rsigma::parse(files.iter().map(|(f, t)| (f.as_str(), t.as_str()))).map(|_| ());
        println!("| {label} | {} | {} |", verdict(o), verdict(r));
    };
    let pad = "x".repeat(70 * 1024);
    one(
        "rule file of 70 KiB (MAX_RULE_BYTES 64 KiB)",
        vec![(
            "big.yml".into(),
            format!(
                "description: {pad}\n{}",
                rule("big", "  sel:\n    eventType: a\n  condition: sel")
            ),
        )],
    );
    let long = "a".repeat(2000);
    one(
        "value of 2,000 characters (MAX_PATTERN_CHARS 1,024)",
        vec![(
            "long.yml".into(),
            rule(
                "long",
                &format!("  sel:\n    displayMessage|contains: '{long}'\n  condition: sel"),
            ),
        )],
    );
    for n in [10, 20, 40, 300] {
        one(
            &format!("`re: '\\w{{{n}}}'` (MAX_REGEX_BYTES 256 KiB compiled; the regex crate's default is 10 MiB)"),
            vec![("re.yml".into(), rule("re", &format!("  sel:\n    displayMessage|re: '\\w{{{n}}}'\n  condition: sel")))],
        );
    }
    let many: String = (0..1001).map(|i| format!("      - '^u{i}x'\n")).collect();
    one(
        "1,001 regular expressions in a set (MAX_REGEXES 1,000)",
        vec![(
            "many.yml".into(),
            rule(
                "many",
                &format!("  sel:\n    actor.alternateId|re:\n{many}  condition: sel"),
            ),
        )],
    );
    let text_budget: Vec<(String, String)> = (0..300)
        .map(|i| {
            let p = format!("^{}{i}", "a".repeat(1000));
            (
                format!("t{i}.yml"),
                rule(
                    &format!("t{i}"),
                    &format!("  sel:\n    displayMessage|re: '{p}'\n  condition: sel"),
                ),
            )
        })
        .collect();
    one(
        "300 regexes of 1,000 characters (MAX_REGEX_TEXT 256 KiB)",
        text_budget,
    );
    let deep = format!("{}sel{}", "(".repeat(40), ")".repeat(40));
    one(
        "condition 40 parentheses deep (ours: 32)",
        vec![(
            "deep.yml".into(),
            rule(
                "deep",
                &format!("  sel:\n    eventType: a\n  condition: {deep}"),
            ),
        )],
    );

    // Linear-time regex on both sides (both use the regex crate).
    let text = rule(
        "redos",
        "  sel:\n    displayMessage|re: '(a+)+$'\n  condition: sel",
    );
    let big = json!({"eventType": "x", "displayMessage": format!("{}!", "a".repeat(50_000))});
    let o = ours("r.yml", &text).expect("ours");
    let r = theirs("r.yml", &text).expect("theirs");
    let t = Instant::now();
    let a = fired(&o, &big);
    let to = t.elapsed();
    let t = Instant::now();
    let b = fired(&r, &big);
    let tr = t.elapsed();
    println!("| `(a+)+$` on 50,000 characters | {a} in {to:?} | {b} in {tr:?} |");
}

// ---------------------------------------------------------------- d. ingest cost

/// CPU time of this thread: what the measurement counts, so that other
/// processes on a shared machine do not add their time to either side.
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "thread CPU clock");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of one pass; cloning the values (what the runtime hands ingest)
/// is not counted.
fn pass(f: &dyn Fn(Value), values: &[Value]) -> Duration {
    let batch = values.to_vec();
    let start = cpu_now();
    for v in batch {
        f(v);
    }
    cpu_now() - start
}

fn cost_stage(details: &[Value], rounds: usize) {
    let texts = okta_itdr_testkit::rules::fifty_rule_files();
    let files = || texts.iter().map(|(f, t)| (f.as_str(), t.as_str()));
    let ours = RuleSet::parse(files()).expect("fifty rules");
    let theirs = Rsigma::parse(files()).expect("fifty rules");
    let mut plain = Rsigma::parse(files()).expect("fifty rules");
    plain.case_insensitive = false;
    let mut bloom = Rsigma::parse(files()).expect("fifty rules");
    bloom.set_bloom_prefilter(true);
    let norm = normalizer();
    let count = |e: &dyn RuleEngine| details.iter().map(|d| e.evaluate(d).len()).sum::<usize>();
    println!(
        "\n## d. Ingest cost: {} rules over {} sample events, {rounds} rounds, interleaved, thread CPU per event; matches: okta-itdr {}, rsigma + adapter {}, rsigma as is {}, rsigma + adapter + bloom {}",
        ours.len(),
        details.len(),
        count(&ours),
        count(&theirs),
        count(&plain),
        count(&bloom)
    );
    let ingest = |engine: Option<&dyn RuleEngine>, v: Value| {
        let matches = engine.map(|e| e.evaluate(&v)).unwrap_or_default();
        let mut event = LogEvent::from_value(v).expect("event");
        event.rule_matches = matches;
        drop(black_box(norm.normalize(&event)))
    };
    println!("| run | parse to Value | normalise, no rules | + okta-itdr | + rsigma + adapter | + rsigma as is | + rsigma + adapter + bloom | okta-itdr / no rules | rsigma + adapter / no rules | rsigma + adapter / okta-itdr |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let bytes: Vec<Vec<u8>> = details
        .iter()
        .map(|d| serde_json::to_vec(d).expect("json"))
        .collect();
    for run in 1..=3 {
        let mut t = [Duration::ZERO; 6];
        for _ in 0..rounds {
            let start = cpu_now();
            for b in &bytes {
                drop(black_box(serde_json::from_slice::<Value>(b).expect("json")));
            }
            t[0] += cpu_now() - start;
            t[1] += pass(&|v| ingest(None, v), details);
            t[2] += pass(&|v| ingest(Some(&ours), v), details);
            t[3] += pass(&|v| ingest(Some(&theirs), v), details);
            t[4] += pass(&|v| ingest(Some(&plain), v), details);
            t[5] += pass(&|v| ingest(Some(&bloom), v), details);
        }
        let per = |d: Duration| d / (rounds * details.len()) as u32;
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "| {run} | {:?} | {:?} | {:?} | {:?} | {:?} | {:?} | {:.2}× | {:.2}× | {:.2}× |",
            per(t[0]),
            per(t[1]),
            per(t[2]),
            per(t[3]),
            per(t[4]),
            per(t[5]),
            r(t[2], t[1]),
            r(t[3], t[1]),
            r(t[3], t[2])
        );
    }
    // The ingest handler's in-process path (the README's budget line): the
    // delivered EventBridge JSON parsed, the envelope checked, the rules
    // evaluated, the event normalised and its DynamoDB items encoded.
    let envelopes: Vec<Vec<u8>> = details
        .iter()
        .map(|d| {
            serde_json::to_vec(&json!({
                "version": "0", "id": "bench", "detail-type": "SystemLog",
                "source": "aws.partner/okta.com/acme/okta-itdr", "account": "123456789012",
                "time": "2026-11-10T10:00:00Z", "region": "us-east-1", "resources": [],
                "detail": d,
            }))
            .expect("serialisable")
        })
        .collect();
    let handle = |b: &[u8], engine: Option<&dyn RuleEngine>| {
        let mut envelope: Value = serde_json::from_slice(b).expect("json");
        check_envelope(
            envelope["source"].as_str(),
            envelope["detail-type"].as_str(),
        )
        .expect("okta");
        let detail = envelope["detail"].take();
        let matches = engine.map(|e| e.evaluate(&detail)).unwrap_or_default();
        let mut event = LogEvent::from_value(detail).expect("event");
        event.rule_matches = matches;
        for r in &norm.normalize(&event) {
            black_box(r.encode());
        }
    };
    println!("\nhandler path (parse envelope, check, evaluate, normalise, encode), thread CPU per event:");
    println!("| run | no rules | + okta-itdr | + rsigma + adapter | okta-itdr / no rules | rsigma + adapter / no rules | rsigma + adapter / okta-itdr |");
    println!("|---|---|---|---|---|---|---|");
    for run in 1..=3 {
        let mut t = [Duration::ZERO; 3];
        for _ in 0..rounds {
            for (i, eng) in [None, Some(&ours as &dyn RuleEngine), Some(&theirs)]
                .into_iter()
                .enumerate()
            {
                let start = cpu_now();
                for b in &envelopes {
                    handle(b, eng);
                }
                t[i] += cpu_now() - start;
            }
        }
        let per = |d: Duration| d / (rounds * details.len()) as u32;
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "| {run} | {:?} | {:?} | {:?} | {:.2}× | {:.2}× | {:.2}× |",
            per(t[0]),
            per(t[1]),
            per(t[2]),
            r(t[1], t[0]),
            r(t[2], t[0]),
            r(t[2], t[1])
        );
    }

    // Rule evaluation alone, per event.
    let mut e = [Duration::ZERO; 3];
    for _ in 0..rounds {
        for (i, eng) in [&ours as &dyn RuleEngine, &theirs, &plain]
            .iter()
            .enumerate()
        {
            let start = cpu_now();
            for d in details {
                drop(black_box(eng.evaluate(d)));
            }
            e[i] += cpu_now() - start;
        }
    }
    let per = |d: Duration| d / (rounds * details.len()) as u32;
    println!(
        "evaluation alone, CPU per event: okta-itdr {:?}, rsigma + adapter {:?}, rsigma as is {:?}",
        per(e[0]),
        per(e[1]),
        per(e[2])
    );
}
