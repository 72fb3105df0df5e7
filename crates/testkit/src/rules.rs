//! The custom rules the ingest-cost benchmark and the Sigma engine comparison
//! load: fifty rules in the shapes SigmaHQ's Okta rules take (event type
//! lists, behaviours, networks, messages, targets, one regular expression),
//! thirty of them indexable by event type.

/// The fifty rules as (file name, YAML text).
pub fn fifty_rule_files() -> Vec<(String, String)> {
    let types = [
        "user.session.start",
        "user.mfa.factor.deactivate",
        "policy.lifecycle.update",
        "user.account.privilege.grant",
        "system.api_token.create",
        "application.lifecycle.update",
        "user.authentication.sso",
        "group.user_membership.add",
        "system.log_stream.lifecycle.deactivate",
        "user.session.access_admin_app",
    ];
    (0..50)
        .map(|i| {
            let t = types[i % types.len()];
            let u = types[(i + 3) % types.len()];
            let detection = match i % 5 {
                0 => format!("  selection:\n    eventtype:\n      - {t}\n      - {u}\n  condition: selection"),
                1 => format!("  selection:\n    eventType: {t}\n    debugContext.debugData.behaviors|contains: 'New Geo-Location=POSITIVE'\n  condition: selection"),
                2 => format!("  selection:\n    eventType|startswith: {}\n  filter:\n    client.ipAddress|cidr:\n      - 10.0.0.0/8\n      - 192.168.0.0/16\n  condition: selection and not filter", &t[..t.len() / 2]),
                3 => format!("  selection:\n    displayMessage|contains: 'rule {i}'\n    outcome.result: SUCCESS\n  condition: selection"),
                _ if i == 49 => "  selection:\n    actor.alternateId|re: '^svc-[a-z]+@'\n  condition: selection".to_owned(),
                _ => format!("  sel_target:\n    target.displayName: 'App {i}'\n  sel_actor:\n    actor.alternateId|endswith: '@contractor{i}.example'\n  condition: 1 of sel_*"),
            };
            (
                format!("rule{i}.yml"),
                format!("title: Rule {i}\nid: bench-{i}\nlogsource:\n  product: okta\ndetection:\n{detection}\nlevel: medium\ntags:\n  - attack.t1078.004\n"),
            )
        })
        .collect()
}
