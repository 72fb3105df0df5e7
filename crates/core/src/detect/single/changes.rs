//! Reading `changeDetails`: the `{"from": {...}, "to": {...}}` object Okta
//! attaches to a changed target, kept on the record as compact JSON text (capped,
//! so possibly cut short).

use serde_json::Value;

/// One changed attribute: its dotted path and its values before and after.
/// A side that does not name the attribute has `None`.
#[derive(Debug, Clone, PartialEq)]
struct Change {
    path: String,
    from: Option<Value>,
    to: Option<Value>,
}

impl Change {
    /// The attribute's own name, lower case: `factormode` for
    /// `actions.appSignOn.verificationMethod.factorMode`.
    fn key(&self) -> String {
        let last = self.path.rsplit('.').next().unwrap_or(&self.path);
        last.split('[').next().unwrap_or(last).to_ascii_lowercase()
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object()) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        leaf => out.push((prefix.to_owned(), leaf.clone())),
    }
}

/// The changed attributes, or `None` when the text is not a whole JSON object
/// (the record caps it).
fn parse(text: &str) -> Option<Vec<Change>> {
    let v: Value = serde_json::from_str(text).ok()?;
    let obj = v.as_object()?;
    let side = |name: &str| {
        let mut out = Vec::new();
        if let Some(v) = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
        {
            flatten("", v, &mut out);
        }
        out
    };
    let (from, to) = (side("from"), side("to"));
    let mut changes: Vec<Change> = from
        .iter()
        .map(|(path, v)| Change {
            path: path.clone(),
            from: Some(v.clone()),
            to: to.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone()),
        })
        .collect();
    for (path, v) in &to {
        if !from.iter().any(|(p, _)| p == path) {
            changes.push(Change {
                path: path.clone(),
                from: None,
                to: Some(v.clone()),
            });
        }
    }
    Some(changes)
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            matches!(
                s.trim().to_ascii_uppercase().as_str(),
                "TRUE" | "ENABLED" | "ACTIVE" | "ON" | "REQUIRED" | "YES"
            )
        }
        _ => false,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn is_mfa_key(key: &str) -> bool {
    key.contains("factor") || key.contains("mfa")
}

/// How a change removed multi-factor authentication, e.g.
/// `factorMode 2FA → 1FA`, or `None` when it did not (or cannot be told).
///
/// Recognised: `factorMode` going from `2FA` to `1FA` (Identity Engine
/// authentication policy rules); a factor or MFA requirement (`requireFactor`,
/// `mfaRequired`…) going from true or `REQUIRED` to false, another value or away.
pub(super) fn mfa_removed(text_json: &str) -> Option<String> {
    let Some(changes) = parse(text_json) else {
        return mfa_removed_in_cut_text(text_json);
    };
    for c in &changes {
        let key = c.key();
        if !is_mfa_key(&key) {
            continue;
        }
        let (from, to) = (text(c.from.as_ref()), text(c.to.as_ref()));
        let name = c.path.rsplit('.').next().unwrap_or(&c.path);
        if key == "factormode" {
            if from
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("2FA"))
                && to.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("1FA"))
            {
                return Some(format!("{name} 2FA → 1FA"));
            }
            continue;
        }
        if truthy(c.from.as_ref()) && !truthy(c.to.as_ref()) {
            let before = from.unwrap_or_default();
            let after = to.unwrap_or_else(|| "removed".to_owned());
            return Some(format!("{name} {before} → {after}"));
        }
    }
    None
}

/// The capped text is not JSON any more; `from` precedes `to` in it, so a
/// `2FA` factor mode that is followed by a `1FA` one was downgraded.
fn mfa_removed_in_cut_text(t: &str) -> Option<String> {
    let compact: String = t
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let two = compact.find("\"factormode\":\"2fa\"")?;
    compact[two..]
        .contains("\"factormode\":\"1fa\"")
        .then(|| "factorMode 2FA → 1FA".to_owned())
}

/// Whether a change turned on pushing users' Okta passwords to an app: a
/// password push or sync setting becoming true, or the `PUSH_PASSWORD_UPDATES`
/// provisioning feature appearing.
pub(super) fn password_push_enabled(text_json: &str) -> bool {
    let Some(changes) = parse(text_json) else {
        return false;
    };
    changes.iter().any(|c| {
        let key = c.key();
        let push_setting =
            key.contains("password") && (key.contains("push") || key.contains("sync"));
        let setting_on = push_setting && truthy(c.to.as_ref()) && !truthy(c.from.as_ref());
        let feature = |v: Option<&Value>| {
            text(v).is_some_and(|s| s.to_ascii_uppercase().contains("PUSH_PASSWORD"))
        };
        setting_on || (feature(c.to.as_ref()) && !feature(c.from.as_ref()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_mode_downgrade_is_mfa_removal() {
        let t = r#"{"from":{"actions":{"appSignOn":{"verificationMethod":{"factorMode":"2FA","type":"ASSURANCE"}}}},"to":{"actions":{"appSignOn":{"verificationMethod":{"factorMode":"1FA","type":"ASSURANCE"}}}}}"#;
        assert_eq!(mfa_removed(t).as_deref(), Some("factorMode 2FA → 1FA"));
        let up = r#"{"from":{"factorMode":"1FA"},"to":{"factorMode":"2FA"}}"#;
        assert_eq!(mfa_removed(up), None);
    }

    #[test]
    fn a_dropped_factor_requirement_is_mfa_removal() {
        let t = r#"{"from":{"actions":{"signon":{"requireFactor":true,"factorPromptMode":"ALWAYS"}}},"to":{"actions":{"signon":{"requireFactor":false}}}}"#;
        assert_eq!(
            mfa_removed(t).as_deref(),
            Some("requireFactor true → false")
        );
        let gone = r#"{"from":{"mfaRequired":"REQUIRED"},"to":{}}"#;
        assert_eq!(
            mfa_removed(gone).as_deref(),
            Some("mfaRequired REQUIRED → removed")
        );
        let added = r#"{"from":{"requireFactor":false},"to":{"requireFactor":true}}"#;
        assert_eq!(mfa_removed(added), None);
        let unrelated = r#"{"from":{"name":"Old","sessionLifetime":120},"to":{"name":"New","sessionLifetime":0}}"#;
        assert_eq!(mfa_removed(unrelated), None);
    }

    #[test]
    fn capped_text_is_still_read_for_factor_mode() {
        let cut = r#"{"from":{"actions":{"appSignOn":{"verificationMethod":{"factorMode":"2FA"}}}},"to":{"actions":{"appSignOn":{"verificationMethod":{"factorMode":"1FA","constra"#;
        assert!(serde_json::from_str::<Value>(cut).is_err());
        assert!(mfa_removed(cut).is_some());
        assert_eq!(
            mfa_removed(r#"{"from":{"factorMode":"1FA"},"to":{"factorMode":"2F"#),
            None
        );
    }

    #[test]
    fn password_push_setting_or_feature_turned_on() {
        assert!(password_push_enabled(
            r#"{"from":{"pushPasswordChanges":false},"to":{"pushPasswordChanges":true}}"#
        ));
        assert!(password_push_enabled(
            r#"{"from":{"features":"IMPORT_USER_SCHEMA"},"to":{"features":"IMPORT_USER_SCHEMA,PUSH_PASSWORD_UPDATES"}}"#
        ));
        assert!(!password_push_enabled(
            r#"{"from":{"pushPasswordChanges":true},"to":{"pushPasswordChanges":false}}"#
        ));
        assert!(!password_push_enabled(
            r#"{"from":{"label":"Old"},"to":{"label":"New"}}"#
        ));
        assert!(!password_push_enabled("not json"));
    }
}
