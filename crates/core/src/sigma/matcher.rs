//! Selections: maps of field conditions (all must hold), lists of such maps
//! (any), or keyword lists (any string anywhere in the event).

use std::net::IpAddr;

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use super::{MAX_PATTERN_CHARS, MAX_REGEX_BYTES};

#[derive(Debug)]
pub enum Selection {
    /// Any of these groups; within a group, every field condition.
    Groups(Vec<Vec<FieldCondition>>),
    Keywords(Vec<Matcher>),
}

/// An event type a rule is limited to (lower case): exactly, or by prefix.
impl Selection {
    /// Its regular expressions: what the rule set's budget counts.
    pub(super) fn regexes(&self) -> Vec<&Regex> {
        fn of(m: &Matcher) -> Option<&Regex> {
            match m {
                Matcher::Regex(r) => Some(r),
                _ => None,
            }
        }
        match self {
            Selection::Groups(groups) => groups
                .iter()
                .flatten()
                .flat_map(|c| match &c.test {
                    Test::Values { matchers, .. } => matchers.iter().filter_map(of).collect(),
                    Test::Exists(_) => Vec::new(),
                })
                .collect(),
            Selection::Keywords(matchers) => matchers.iter().filter_map(of).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeKey {
    Exact(String),
    Prefix(String),
}

#[derive(Debug)]
pub struct FieldCondition {
    path: FieldPath,
    test: Test,
}

/// A field path, compared without regard to letter case.
#[derive(Debug)]
pub(super) struct FieldPath {
    /// Lower-case segments: what a key must equal, ignoring case.
    lower: Vec<String>,
    /// Each segment as Okta spells it (`displayMessage` for `displaymessage`),
    /// else as the rule wrote it: tried first, as one hash lookup, before
    /// comparing every key of the object. It is what keeps fifty rules within
    /// ingest's budget.
    keys: Vec<String>,
}

/// Okta LogEvent keys in their own spelling, by lower case.
const OKTA_KEYS: &[&str] = &[
    "eventType",
    "displayMessage",
    "legacyEventType",
    "uuid",
    "published",
    "severity",
    "version",
    "actor",
    "client",
    "device",
    "authenticationContext",
    "securityContext",
    "debugContext",
    "outcome",
    "target",
    "transaction",
    "request",
    "id",
    "type",
    "alternateId",
    "displayName",
    "detailEntry",
    "userAgent",
    "rawUserAgent",
    "os",
    "browser",
    "zone",
    "ipAddress",
    "geographicalContext",
    "city",
    "state",
    "country",
    "postalCode",
    "geolocation",
    "lat",
    "lon",
    "authenticationProvider",
    "credentialProvider",
    "credentialType",
    "issuer",
    "interface",
    "authenticationStep",
    "externalSessionId",
    "rootSessionId",
    "asNumber",
    "asOrg",
    "isp",
    "domain",
    "isProxy",
    "debugData",
    "result",
    "reason",
    "detail",
    "ipChain",
    "changeDetails",
    "behaviors",
    "dtHash",
    "requestUri",
    "requestId",
    "threatSuspected",
    "risk",
    "url",
    "factor",
    "logOnlySecurityData",
    "privilegeGranted",
    "grantType",
    "grantedScopes",
    "clientId",
];

impl FieldPath {
    pub(super) fn parse(name: &str) -> FieldPath {
        let segments: Vec<&str> = name.split('.').collect();
        FieldPath {
            lower: segments.iter().map(|s| s.to_ascii_lowercase()).collect(),
            keys: segments
                .iter()
                .map(|s| {
                    OKTA_KEYS
                        .iter()
                        .find(|k| k.eq_ignore_ascii_case(s))
                        .map_or_else(|| (*s).to_owned(), |k| (*k).to_owned())
                })
                .collect(),
        }
    }
}

#[derive(Debug)]
enum Test {
    Exists(bool),
    /// Any of the values (all of them with `all`).
    Values {
        all: bool,
        matchers: Vec<Matcher>,
    },
}

#[derive(Debug)]
pub enum Matcher {
    Null,
    Bool(bool),
    Number(f64),
    /// Lower-case text compared by `op`.
    Text(Op, String),
    Regex(Regex),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

impl Selection {
    pub fn compile(body: &Value) -> Result<Selection, String> {
        match body {
            Value::Object(map) => Ok(Selection::Groups(vec![group(map)?])),
            Value::Array(items) if items.iter().all(Value::is_object) => Ok(Selection::Groups(
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(group)
                    .collect::<Result<_, _>>()?,
            )),
            Value::Array(items) => Ok(Selection::Keywords(
                items
                    .iter()
                    .map(|v| value_matcher(v, Op::Contains))
                    .collect::<Result<_, _>>()?,
            )),
            Value::String(_) => Ok(Selection::Keywords(vec![value_matcher(
                body,
                Op::Contains,
            )?])),
            _ => Err("must be a map, a list of maps or a list of keywords".into()),
        }
    }

    /// The event types this selection can match, when every one of its groups
    /// requires `eventType` to equal one of a few values: what lets a rule set
    /// skip rules that cannot match an event.
    pub fn event_types(&self) -> Option<Vec<TypeKey>> {
        let Selection::Groups(groups) = self else {
            return None;
        };
        let mut types = Vec::new();
        for g in groups {
            let literal = g.iter().find_map(|c| match &c.test {
                Test::Values {
                    all: false,
                    matchers,
                } if c.path.lower.len() == 1 && c.path.lower[0] == "eventtype" => matchers
                    .iter()
                    .map(|m| match m {
                        Matcher::Text(Op::Equals, t) => Some(TypeKey::Exact(t.clone())),
                        Matcher::Text(Op::StartsWith, t) => Some(TypeKey::Prefix(t.clone())),
                        _ => None,
                    })
                    .collect::<Option<Vec<TypeKey>>>(),
                _ => None,
            })?;
            types.extend(literal);
        }
        Some(types)
    }

    pub fn matches(&self, event: &Value) -> bool {
        match self {
            Selection::Groups(groups) => groups.iter().any(|g| g.iter().all(|c| c.matches(event))),
            Selection::Keywords(ms) => {
                let mut leaves = Vec::new();
                all_leaves(event, &mut leaves);
                ms.iter().any(|m| leaves.iter().any(|v| m.matches(v)))
            }
        }
    }
}

fn group(map: &Map<String, Value>) -> Result<Vec<FieldCondition>, String> {
    map.iter().map(|(k, v)| field(k, v)).collect()
}

fn field(key: &str, value: &Value) -> Result<FieldCondition, String> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() {
        return Err(format!("{key:?} names no field"));
    }
    let path = FieldPath::parse(name);
    let (mut op, mut all, mut re, mut cidr, mut exists) = (Op::Equals, false, false, false, false);
    for m in parts {
        match m.to_ascii_lowercase().as_str() {
            "contains" => op = Op::Contains,
            "startswith" => op = Op::StartsWith,
            "endswith" => op = Op::EndsWith,
            "all" => all = true,
            "re" => re = true,
            "cidr" => cidr = true,
            "exists" => exists = true,
            other => return Err(format!("modifier {other:?} is not supported")),
        }
    }
    if exists {
        let want = match value {
            Value::Bool(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(format!("{key}: exists takes true or false")),
        };
        return Ok(FieldCondition {
            path,
            test: Test::Exists(want),
        });
    }
    let values: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        v => vec![v],
    };
    if values.is_empty() {
        return Err(format!("{key}: an empty list matches nothing"));
    }
    let matchers = values
        .into_iter()
        .map(|v| {
            if re {
                regex_matcher(v)
            } else if cidr {
                cidr_matcher(v)
            } else {
                value_matcher(v, op)
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {e}"))?;
    Ok(FieldCondition {
        path,
        test: Test::Values { all, matchers },
    })
}

fn bounded(s: &str) -> Result<&str, String> {
    if s.chars().count() > MAX_PATTERN_CHARS {
        Err(format!(
            "a value longer than {MAX_PATTERN_CHARS} characters"
        ))
    } else {
        Ok(s)
    }
}

fn value_matcher(v: &Value, op: Op) -> Result<Matcher, String> {
    match v {
        Value::Null => Ok(Matcher::Null),
        Value::Bool(b) => Ok(Matcher::Bool(*b)),
        Value::Number(n) if op == Op::Equals => Ok(Matcher::Number(n.as_f64().unwrap_or(f64::NAN))),
        Value::Number(n) => Ok(Matcher::Text(op, n.to_string())),
        Value::String(s) => {
            let s = bounded(s)?;
            if has_wildcard(s) {
                wildcard_matcher(s, op)
            } else {
                Ok(Matcher::Text(op, unescape(s).to_lowercase()))
            }
        }
        _ => Err("a value must be text, a number, a boolean or null".into()),
    }
}

fn has_wildcard(s: &str) -> bool {
    let mut escaped = false;
    for c in s.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '*' | '?' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('*' | '?' | '\\')) {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// A value with `*` or `?` becomes an anchored, case-insensitive regex.
fn wildcard_matcher(s: &str, op: Op) -> Result<Matcher, String> {
    let mut pattern = String::from("(?is)");
    if matches!(op, Op::Equals | Op::StartsWith) {
        pattern.push('^');
    }
    let mut escaped = false;
    for c in s.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '*' if !escaped => pattern.push_str(".*"),
            '?' if !escaped => pattern.push('.'),
            c => {
                escaped = false;
                pattern.push_str(&regex::escape(&c.to_string()));
            }
        }
    }
    if matches!(op, Op::Equals | Op::EndsWith) {
        pattern.push('$');
    }
    build_regex(&pattern).map(Matcher::Regex)
}

fn build_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|e| format!("regular expression refused: {e}"))
}

fn regex_matcher(v: &Value) -> Result<Matcher, String> {
    let s = v.as_str().ok_or("re takes text")?;
    build_regex(bounded(s)?).map(Matcher::Regex)
}

fn cidr_matcher(v: &Value) -> Result<Matcher, String> {
    let s = v.as_str().ok_or("cidr takes text")?;
    let (ip, bits) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a network"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits: u8 = if bits.is_empty() {
        max
    } else {
        bits.parse()
            .ok()
            .filter(|b| *b <= max)
            .ok_or(format!("{s:?} is not a network"))?
    };
    Ok(Matcher::Cidr(ip, bits))
}

impl FieldCondition {
    fn matches(&self, event: &Value) -> bool {
        match &self.test {
            Test::Exists(want) => self.path.any(event, &mut |v| !v.is_null()) == *want,
            Test::Values { all, matchers } => {
                let one = |m: &Matcher| {
                    let mut seen = false;
                    let hit = self.path.any(event, &mut |v| {
                        seen = true;
                        m.matches(v)
                    });
                    hit || (!seen && matches!(m, Matcher::Null))
                };
                if *all {
                    matchers.iter().all(one)
                } else {
                    matchers.iter().any(one)
                }
            }
        }
    }
}

/// Longest field value a match carries for a correlation.
pub const MAX_CARRIED_CHARS: usize = 256;

impl FieldPath {
    /// Whether `f` holds for some value at the path.
    fn any(&self, v: &Value, f: &mut dyn FnMut(&Value) -> bool) -> bool {
        any_leaf(v, &self.lower, &self.keys, f)
    }

    /// The first value at the path, as text: what a correlation groups or
    /// counts by. Objects and nulls are no value.
    pub(super) fn first_value(&self, event: &Value) -> Option<String> {
        let mut found = None;
        self.any(event, &mut |v| {
            found = match v {
                Value::String(s) => Some(s.chars().take(MAX_CARRIED_CHARS).collect()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            found.is_some()
        });
        found
    }
}

/// Whether `f` holds for some value at a path; keys compare without regard to
/// case, and arrays on the way (and at the end) offer every element. Visits
/// in place: evaluation allocates nothing for ASCII text. An object holding the
/// key as Okta spells it is taken to hold no other spelling of it: Okta's
/// events never do.
fn any_leaf(
    v: &Value,
    lower: &[String],
    keys: &[String],
    f: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|i| any_leaf(i, lower, keys, f)),
        _ if lower.is_empty() => f(v),
        // Okta's objects hold a dozen keys or fewer: comparing them is cheaper
        // than hashing the one looked for.
        Value::Object(map) => match map.iter().find(|(k, _)| **k == keys[0]).map(|(_, c)| c) {
            Some(child) => any_leaf(child, &lower[1..], &keys[1..], f),
            None => map.iter().any(|(k, child)| {
                k.eq_ignore_ascii_case(&lower[0]) && any_leaf(child, &lower[1..], &keys[1..], f)
            }),
        },
        _ => false,
    }
}

fn all_leaves<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| all_leaves(i, out)),
        Value::Object(map) => map.values().for_each(|i| all_leaves(i, out)),
        v => out.push(v),
    }
}

impl Matcher {
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Matcher::Null, v) => v.is_null(),
            (Matcher::Bool(b), Value::Bool(x)) => b == x,
            (Matcher::Bool(b), Value::String(s)) => {
                s.eq_ignore_ascii_case(if *b { "true" } else { "false" })
            }
            (Matcher::Number(n), Value::Number(x)) => x.as_f64() == Some(*n),
            (Matcher::Number(n), Value::String(s)) => s.trim().parse::<f64>().ok() == Some(*n),
            (Matcher::Text(op, want), Value::String(s)) => text_matches(*op, s, want),
            (Matcher::Text(op, want), Value::Bool(b)) => text_matches(*op, &b.to_string(), want),
            (Matcher::Text(op, want), Value::Number(n)) => text_matches(*op, &n.to_string(), want),
            (Matcher::Regex(re), Value::String(s)) => re.is_match(s),
            (Matcher::Regex(re), Value::Bool(b)) => re.is_match(&b.to_string()),
            (Matcher::Regex(re), Value::Number(n)) => re.is_match(&n.to_string()),
            (Matcher::Cidr(net, bits), Value::String(s)) => s
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_network(ip, *net, *bits)),
            _ => false,
        }
    }
}

/// Case-insensitive comparison of event text with a lower-case value. Okta's
/// values are ASCII almost always: those compare without allocating, which is
/// what keeps fifty rules within ingest's budget.
fn text_matches(op: Op, text: &str, want: &str) -> bool {
    if !(text.is_ascii() && want.is_ascii()) {
        let text = text.to_lowercase();
        return match op {
            Op::Equals => text == want,
            Op::Contains => text.contains(want),
            Op::StartsWith => text.starts_with(want),
            Op::EndsWith => text.ends_with(want),
        };
    }
    let (t, w) = (text.as_bytes(), want.as_bytes());
    match op {
        Op::Equals => t.eq_ignore_ascii_case(w),
        Op::StartsWith => t.len() >= w.len() && t[..w.len()].eq_ignore_ascii_case(w),
        Op::EndsWith => t.len() >= w.len() && t[t.len() - w.len()..].eq_ignore_ascii_case(w),
        Op::Contains => w.is_empty() || t.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w)),
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}
