//! Custom rules in the deployment: the functions that see raw events (ingest,
//! poll) and the one that runs correlations (detect) get the rules' location,
//! and may read exactly that S3 folder: list it (as the code lists it) and get
//! its objects, nothing else of the bucket.

use okta_itdr_aws::config::{self, IngestSettings, Secret};
use okta_itdr_aws::rules::RulesLocation;
use serde_yaml::Value as Yaml;

use super::resource;
use okta_itdr_e2e::template;

const FUNCTIONS: [&str; 3] = ["IngestFunction", "PollFunction", "DetectFunction"];

fn tag<'a>(v: &'a Yaml, name: &str) -> Option<&'a Yaml> {
    match v {
        Yaml::Tagged(t) if t.tag == name => Some(&t.value),
        _ => None,
    }
}

/// Evaluates the intrinsic functions the rules statements use (`Ref`, `Sub`,
/// `Select`, `Split`), with `CustomRulesUri` set to `uri`, in partition `aws`.
fn eval(v: &Yaml, uri: &str) -> Yaml {
    if let Some(name) = tag(v, "Ref").and_then(Yaml::as_str) {
        return Yaml::String(match name {
            "CustomRulesUri" => uri.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            other => panic!("unexpected !Ref {other}"),
        });
    }
    if let Some(args) = tag(v, "Split") {
        let sep = args[0].as_str().expect("Split delimiter is text");
        let text = eval(&args[1], uri);
        return Yaml::Sequence(
            text.as_str()
                .expect("Split of text")
                .split(sep)
                .map(|p| Yaml::String(p.to_owned()))
                .collect(),
        );
    }
    if let Some(args) = tag(v, "Select") {
        let i = args[0].as_u64().expect("Select index") as usize;
        let list = eval(&args[1], uri);
        return list[i].clone();
    }
    if let Some(args) = tag(v, "Sub") {
        let (text, vars) = match args {
            Yaml::String(s) => (s.clone(), None),
            Yaml::Sequence(s) => (s[0].as_str().unwrap().to_owned(), Some(&s[1])),
            other => panic!("Sub of {other:?}"),
        };
        let mut out = text.replace("${AWS::Partition}", "aws");
        for (k, value) in vars.and_then(Yaml::as_mapping).into_iter().flatten() {
            let value = eval(value, uri);
            out = out.replace(
                &format!("${{{}}}", k.as_str().unwrap()),
                value.as_str().unwrap(),
            );
        }
        assert!(!out.contains("${"), "unresolved Sub: {out}");
        return Yaml::String(out);
    }
    match v {
        Yaml::Mapping(m) => {
            Yaml::Mapping(m.iter().map(|(k, v)| (k.clone(), eval(v, uri))).collect())
        }
        Yaml::Sequence(s) => Yaml::Sequence(s.iter().map(|v| eval(v, uri)).collect()),
        other => other.clone(),
    }
}

/// The function's statements that exist only with `HasCustomRules`,
/// evaluated: inline ones, and those of the managed policies its `Policies`
/// attach under that condition.
fn rules_statements(function: &str, uri: &str) -> Vec<Yaml> {
    let policies = resource(function)["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten();
    let conditional = |v: &'static Yaml| {
        let args = tag(v, "If").filter(|args| args[0].as_str() == Some("HasCustomRules"))?;
        assert!(
            tag(&args[2], "Ref").and_then(Yaml::as_str) == Some("AWS::NoValue"),
            "{function}: without rules, no statement"
        );
        Some(&args[1])
    };
    let inline = policies
        .clone()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
        .filter_map(conditional);
    let attached = policies.filter_map(conditional).flat_map(|p| {
        let id = tag(p, "Ref")
            .and_then(Yaml::as_str)
            .unwrap_or_else(|| panic!("{function}: a policy with rules is a !Ref to one"));
        let policy = resource(id);
        assert_eq!(policy["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
        assert_eq!(
            policy["Condition"].as_str(),
            Some("HasCustomRules"),
            "{id} exists only with rules"
        );
        for other in ["Roles", "Users", "Groups"] {
            assert!(
                policy["Properties"][other].is_null(),
                "{id} is attached only by the functions that load the rules"
            );
        }
        policy["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id} has statements"))
    });
    inline.chain(attached).map(|s| eval(s, uri)).collect()
}

fn allowed_pattern() -> regex::Regex {
    let p = template()["Parameters"]["CustomRulesUri"]["AllowedPattern"]
        .as_str()
        .expect("CustomRulesUri has an AllowedPattern");
    regex::Regex::new(p).expect("AllowedPattern is a regular expression")
}

#[test]
fn the_rules_location_parameter_accepts_only_folders_the_code_reads() {
    let param = &template()["Parameters"]["CustomRulesUri"];
    assert_eq!(param["Default"].as_str(), Some(""), "no rules by default");
    let pattern = allowed_pattern();
    for ok in [
        "",
        "s3://acme-security/okta-rules/",
        "s3://acme.sec-2/rules_v2/",
    ] {
        assert!(pattern.is_match(ok), "{ok:?} is refused");
        if !ok.is_empty() {
            RulesLocation::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
    // A folder without its slash would take its siblings' objects too; a
    // deeper folder cannot be scoped by the template's string functions.
    for refused in [
        "s3://acme-security/okta-rules",
        "s3://acme-security/",
        "s3://acme-security/a/b/",
        "https://acme-security.s3.amazonaws.com/okta-rules/",
        "s3://Acme/okta-rules/",
        // Wildcards and other characters IAM gives a meaning would widen the
        // functions' S3 permissions, which are built from the folder.
        "s3://acme-security/*/",
        "s3://acme-security/okta*/",
        "s3://acme-security/okta?/",
        "s3://acme-security/okta$/",
        "s3://acme-security/(okta)/",
    ] {
        assert!(!pattern.is_match(refused), "{refused:?} is accepted");
    }
}

#[test]
fn functions_that_use_rules_get_their_location() {
    for function in FUNCTIONS {
        let env = &resource(function)["Properties"]["Environment"]["Variables"];
        assert_eq!(
            tag(&env[config::CUSTOM_RULES_BUCKET_OWNER], "Ref").and_then(Yaml::as_str),
            Some("AWS::AccountId"),
            "{function}: the expected owner of the rules bucket"
        );
        assert_eq!(
            tag(&env[config::CUSTOM_RULES_URI], "Ref").and_then(Yaml::as_str),
            Some("CustomRulesUri"),
            "{function}"
        );
    }
    // Empty means none; a location is parsed as the code reads it.
    let lookup = |uri: &'static str| {
        move |name: &str| match name {
            config::ACTIVITY_TABLE => Some("activity".to_owned()),
            config::CUSTOM_RULES_URI => Some(uri.to_owned()),
            _ => None,
        }
    };
    let key = || Secret::new("k".repeat(32));
    let none = IngestSettings::from_lookup(lookup(""), key()).unwrap();
    assert_eq!(none.custom_rules, None);
    let some = IngestSettings::from_lookup(lookup("s3://acme-security/okta-rules/"), key())
        .unwrap()
        .custom_rules
        .expect("a location");
    assert_eq!(some.prefix, "okta-rules/");
    let err = IngestSettings::from_lookup(lookup("s3://acme-security/okta-rules"), key())
        .unwrap_err()
        .to_string();
    assert!(err.contains(config::CUSTOM_RULES_URI), "{err}");
}

#[test]
fn functions_may_read_exactly_the_rules_folder() {
    let uri = "s3://acme-security/okta-rules/";
    let at = RulesLocation::parse(uri).unwrap();
    for function in FUNCTIONS {
        let statements = rules_statements(function, uri);
        assert_eq!(statements.len(), 2, "{function}: list and read");
        let find = |sid: &str| {
            statements
                .iter()
                .find(|s| s["Sid"].as_str() == Some(sid))
                .unwrap_or_else(|| panic!("{function}: no statement {sid}"))
        };
        let list = find("ListCustomRules");
        assert_eq!(list["Effect"].as_str(), Some("Allow"));
        assert_eq!(list["Action"].as_str(), Some("s3:ListBucket"));
        assert_eq!(
            list["Resource"].as_str(),
            Some("arn:aws:s3:::acme-security")
        );
        // The code lists with exactly this prefix; any other listing is denied.
        let prefix = &list["Condition"]["StringEquals"]["s3:prefix"];
        assert_eq!(prefix.as_str(), Some(at.prefix.as_str()), "{function}");

        let read = find("ReadCustomRules");
        assert_eq!(read["Effect"].as_str(), Some("Allow"));
        assert_eq!(read["Action"].as_str(), Some("s3:GetObject"));
        assert_eq!(
            read["Resource"].as_str(),
            Some("arn:aws:s3:::acme-security/okta-rules/*")
        );
    }
}
