//! Event type → [`Category`]. Okta's event types are dotted names with stable
//! prefixes; the most specific prefix wins.

use crate::record::Category;

const RULES: &[(&str, Category)] = &[
    ("user.session.impersonation", Category::Admin),
    ("user.session.start", Category::SignIn),
    ("user.session.end", Category::Session),
    ("user.session.", Category::Session),
    ("user.authentication.sso", Category::Sso),
    ("user.authentication.auth_via_mfa", Category::Mfa),
    ("user.authentication.auth_via_idp", Category::SignIn),
    ("user.authentication.auth_via_social", Category::SignIn),
    ("user.authentication.", Category::SignIn),
    ("user.mfa.", Category::Mfa),
    ("user.account.privilege.", Category::Admin),
    ("user.account.lock", Category::Security),
    ("user.account.report_suspicious", Category::Security),
    ("user.account.", Category::UserLifecycle),
    ("user.lifecycle.", Category::UserLifecycle),
    ("user.risk.", Category::Security),
    ("user.", Category::UserLifecycle),
    ("group.privilege.", Category::Admin),
    ("group.", Category::UserLifecycle),
    ("iam.", Category::Admin),
    ("policy.evaluate_sign_on", Category::SignIn),
    ("policy.", Category::Policy),
    ("zone.", Category::Policy),
    ("security.", Category::Security),
    ("app.oauth2.", Category::App),
    ("app.", Category::App),
    ("application.", Category::App),
    ("system.api_token.", Category::Admin),
    ("system.idp.", Category::Admin),
    ("system.mfa.", Category::Policy),
    ("system.log_stream.", Category::Admin),
    ("system.", Category::System),
    ("core.user_auth.", Category::SignIn),
];

pub fn categorize(event_type: &str) -> Category {
    let lower = event_type.to_ascii_lowercase();
    RULES
        .iter()
        .find(|(prefix, _)| lower.starts_with(prefix))
        .map(|(_, c)| *c)
        .unwrap_or(Category::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_prefixes_win() {
        assert_eq!(categorize("user.session.start"), Category::SignIn);
        assert_eq!(
            categorize("user.session.impersonation.grant"),
            Category::Admin
        );
        assert_eq!(categorize("user.mfa.okta_verify.deny_push"), Category::Mfa);
        assert_eq!(
            categorize("user.authentication.auth_via_mfa"),
            Category::Mfa
        );
        assert_eq!(categorize("user.authentication.sso"), Category::Sso);
        assert_eq!(categorize("user.account.privilege.grant"), Category::Admin);
        assert_eq!(categorize("policy.rule.update"), Category::Policy);
        assert_eq!(categorize("policy.evaluate_sign_on"), Category::SignIn);
        assert_eq!(
            categorize("system.org.rate_limit.violation"),
            Category::System
        );
        assert_eq!(categorize("something.new"), Category::Other);
    }
}
