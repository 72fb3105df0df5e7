//! The MITRE ATT&CK (Enterprise, v15) techniques the catalog refers to, with the
//! names and tactics an OCSF `attacks` entry carries.

pub const VERSION: &str = "15.1";

pub struct Technique {
    pub uid: &'static str,
    pub name: &'static str,
    pub tactic: (&'static str, &'static str),
}

const TECHNIQUES: &[Technique] = &[
    t("T1078", "Valid Accounts", INITIAL_ACCESS),
    t("T1078.004", "Cloud Accounts", INITIAL_ACCESS),
    t("T1090", "Proxy", COMMAND_AND_CONTROL),
    t("T1090.003", "Multi-hop Proxy", COMMAND_AND_CONTROL),
    t("T1098", "Account Manipulation", PERSISTENCE),
    t("T1098.001", "Additional Cloud Credentials", PERSISTENCE),
    t("T1098.003", "Additional Cloud Roles", PERSISTENCE),
    t("T1098.005", "Device Registration", PERSISTENCE),
    t("T1110", "Brute Force", CREDENTIAL_ACCESS),
    t("T1110.001", "Password Guessing", CREDENTIAL_ACCESS),
    t("T1110.003", "Password Spraying", CREDENTIAL_ACCESS),
    t(
        "T1111",
        "Multi-Factor Authentication Interception",
        CREDENTIAL_ACCESS,
    ),
    t("T1136", "Create Account", PERSISTENCE),
    t("T1136.003", "Cloud Account", PERSISTENCE),
    t("T1199", "Trusted Relationship", INITIAL_ACCESS),
    t(
        "T1484",
        "Domain or Tenant Policy Modification",
        DEFENSE_EVASION,
    ),
    t("T1484.002", "Trust Modification", DEFENSE_EVASION),
    t("T1499", "Endpoint Denial of Service", IMPACT),
    t("T1528", "Steal Application Access Token", CREDENTIAL_ACCESS),
    t("T1530", "Data from Cloud Storage", COLLECTION),
    t("T1531", "Account Access Removal", IMPACT),
    t("T1539", "Steal Web Session Cookie", CREDENTIAL_ACCESS),
    t(
        "T1550",
        "Use Alternate Authentication Material",
        DEFENSE_EVASION,
    ),
    t("T1550.001", "Application Access Token", DEFENSE_EVASION),
    t("T1550.004", "Web Session Cookie", DEFENSE_EVASION),
    t("T1552", "Unsecured Credentials", CREDENTIAL_ACCESS),
    t(
        "T1555",
        "Credentials from Password Stores",
        CREDENTIAL_ACCESS,
    ),
    t("T1556", "Modify Authentication Process", CREDENTIAL_ACCESS),
    t(
        "T1556.006",
        "Multi-Factor Authentication",
        CREDENTIAL_ACCESS,
    ),
    t("T1557", "Adversary-in-the-Middle", CREDENTIAL_ACCESS),
    t("T1562", "Impair Defenses", DEFENSE_EVASION),
    t("T1562.001", "Disable or Modify Tools", DEFENSE_EVASION),
    t("T1562.008", "Disable or Modify Cloud Logs", DEFENSE_EVASION),
    t("T1566", "Phishing", INITIAL_ACCESS),
    t(
        "T1621",
        "Multi-Factor Authentication Request Generation",
        CREDENTIAL_ACCESS,
    ),
];

const INITIAL_ACCESS: (&str, &str) = ("TA0001", "Initial Access");
const PERSISTENCE: (&str, &str) = ("TA0003", "Persistence");
const DEFENSE_EVASION: (&str, &str) = ("TA0005", "Defense Evasion");
const CREDENTIAL_ACCESS: (&str, &str) = ("TA0006", "Credential Access");
const COLLECTION: (&str, &str) = ("TA0009", "Collection");
const COMMAND_AND_CONTROL: (&str, &str) = ("TA0011", "Command and Control");
const IMPACT: (&str, &str) = ("TA0040", "Impact");

const fn t(
    uid: &'static str,
    name: &'static str,
    tactic: (&'static str, &'static str),
) -> Technique {
    Technique { uid, name, tactic }
}

pub fn find(uid: &str) -> Option<&'static Technique> {
    TECHNIQUES.iter().find(|t| t.uid == uid)
}

/// The OCSF `attacks[]` entry for a technique or sub-technique id.
pub fn ocsf_attack(uid: &str) -> serde_json::Value {
    let parent_uid = uid.split('.').next().unwrap_or(uid);
    let parent = find(parent_uid);
    let own = find(uid);
    let mut attack = serde_json::json!({
        "technique": {"uid": parent_uid, "name": parent.map(|p| p.name).unwrap_or(parent_uid)},
        "version": VERSION,
    });
    if let Some(tactic) = own.or(parent).map(|t| t.tactic) {
        attack["tactic"] = serde_json::json!({"uid": tactic.0, "name": tactic.1});
    }
    if uid != parent_uid {
        attack["sub_technique"] =
            serde_json::json!({"uid": uid, "name": own.map(|s| s.name).unwrap_or(uid)});
    }
    attack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::CATALOG;

    #[test]
    fn every_catalog_technique_and_its_parent_is_known() {
        for d in CATALOG {
            for m in d.mitre {
                assert!(find(m).is_some(), "{} refers to unknown {m}", d.id);
                let parent = m.split('.').next().unwrap();
                assert!(
                    find(parent).is_some(),
                    "{} refers to {m} whose parent {parent} is unknown",
                    d.id
                );
            }
        }
    }

    #[test]
    fn sub_techniques_render_under_their_parent() {
        let a = ocsf_attack("T1556.006");
        assert_eq!(a["technique"]["uid"], "T1556");
        assert_eq!(a["technique"]["name"], "Modify Authentication Process");
        assert_eq!(a["sub_technique"]["uid"], "T1556.006");
        assert_eq!(a["sub_technique"]["name"], "Multi-Factor Authentication");
        assert_eq!(a["tactic"]["uid"], "TA0006");
        let b = ocsf_attack("T1621");
        assert_eq!(
            b["technique"]["name"],
            "Multi-Factor Authentication Request Generation"
        );
        assert!(b.get("sub_technique").is_none());
    }
}
