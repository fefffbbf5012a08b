//! Forward authentication: which rule covers a request a reverse proxy asks about, and
//! whether the person behind the session may pass (SEC-43). Pure: the caller brings the
//! request's host and path as the proxy described them, and the person as the store found
//! them.

use serde::{Deserialize, Serialize};

use crate::Role;
use crate::assurance::{Need, Outcome, Strength};

/// Whether a rule asks for two-factor authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TwoFactorRule {
    #[default]
    Required,
    Optional,
}

/// One `[[forward_auth.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The protected host, without port (`wiki.example.com`), compared case-insensitively.
    pub host: String,
    /// Only requests whose path starts with this (`/admin`); none means the whole host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Who may pass; none means every role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Role>>,
    /// Which accounts' people may pass; none means every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<i64>>,
    #[serde(default)]
    pub two_factor: TwoFactorRule,
}

/// The rules of this instance, checked once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(Vec<Rule>);

/// The person behind a signed-in session, as the decision needs them: their role and
/// account, and the session's strength from the one assurance answer (SEC-46).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visitor {
    pub role: Role,
    pub account_id: i64,
    pub strength: Strength,
}

/// What the proxy is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Not signed in (or only half): to the login page, then back.
    SignIn,
    /// Signed in, but more weakly than the rule asks while the person has a second factor:
    /// to the login page for a fresh sign-in, then back.
    SignInAgain,
    /// Signed in without the second factor a rule asks for: to the wizard, then back.
    SetUpTwoFactor,
    /// No rule names the host, or the rule leaves this person out.
    Forbidden(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoRule,
    Role,
    Account,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoRule => "no_rule",
            Refusal::Role => "role",
            Refusal::Account => "account",
        }
    }
}

impl Rules {
    /// Lower-cases hosts and refuses rules that could never match or would match by accident.
    pub fn new(rules: Vec<Rule>) -> Result<Rules, String> {
        let mut checked = Vec::with_capacity(rules.len());
        for mut rule in rules {
            rule.host = rule.host.trim().to_ascii_lowercase();
            let host_ok = !rule.host.is_empty()
                && rule.host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !rule.host.starts_with('.')
                && !rule.host.ends_with('.');
            if !host_ok {
                return Err(format!(
                    "forward_auth rule host {:?} is not a host name (no scheme, port or path)",
                    rule.host
                ));
            }
            if rule.path_prefix.as_deref().is_some_and(|p| !p.starts_with('/')) {
                return Err(format!("forward_auth rule for {}: path_prefix must start with /", rule.host));
            }
            if rule.roles.as_ref().is_some_and(Vec::is_empty) || rule.accounts.as_ref().is_some_and(Vec::is_empty) {
                return Err(format!(
                    "forward_auth rule for {}: an empty roles or accounts list lets nobody in",
                    rule.host
                ));
            }
            checked.push(rule);
        }
        Ok(Rules(checked))
    }

    /// The protected hosts, each once.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self.0.iter().map(|r| r.host.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rule for a request: the one of its host with the longest matching path prefix.
    /// The path is compared as an application might read it (see [`canonical_path`]), so
    /// that `/%61dmin`, `//admin`, `/x/../admin`, `/ADMIN` or `/admin;x` are still `/admin`.
    pub fn rule_for(&self, host: &str, path: &str) -> Option<&Rule> {
        let host = host_without_port(host);
        let path = canonical_path(path);
        self.0
            .iter()
            .filter(|r| r.host.eq_ignore_ascii_case(host))
            .filter(|r| r.path_prefix.as_deref().is_none_or(|p| path_has_prefix(&path, &canonical_path(p))))
            .max_by_key(|r| r.path_prefix.as_deref().map_or(0, str::len))
    }

    /// Whether a rule names this host: the only hosts `rd` may send people to (SEC-43).
    pub fn names_host(&self, host: &str) -> bool {
        let host = host_without_port(host);
        self.0.iter().any(|r| r.host.eq_ignore_ascii_case(host))
    }

    /// Where the login page may send someone back to: an absolute http(s) URL whose host a
    /// rule names; anything else is ignored (no open redirect).
    pub fn return_url<'a>(&self, rd: &'a str) -> Option<&'a str> {
        let rest = rd.strip_prefix("https://").or_else(|| rd.strip_prefix("http://"))?;
        let authority = rest.split(['/', '?', '#']).next()?;
        if authority.contains('@') || authority.contains('\\') || rd.chars().any(|c| c.is_control() || c == ' ') {
            return None;
        }
        self.names_host(authority).then_some(rd)
    }
}

/// The decision for a visitor (none: not signed in) under a rule (none: no rule).
pub fn decide(rule: Option<&Rule>, visitor: Option<&Visitor>) -> Decision {
    let Some(rule) = rule else {
        return Decision::Forbidden(Refusal::NoRule);
    };
    let Some(visitor) = visitor else {
        return Decision::SignIn;
    };
    if rule.roles.as_ref().is_some_and(|roles| !roles.contains(&visitor.role)) {
        return Decision::Forbidden(Refusal::Role);
    }
    if rule.accounts.as_ref().is_some_and(|accounts| !accounts.contains(&visitor.account_id)) {
        return Decision::Forbidden(Refusal::Account);
    }
    let need = match rule.two_factor {
        TwoFactorRule::Required => Need::TwoFactor,
        TwoFactorRule::Optional => Need::SignedIn,
    };
    match visitor.strength.meets(need) {
        Outcome::Met => Decision::Allow,
        Outcome::SignInAgain => Decision::SignInAgain,
        Outcome::SetUpTwoFactor => Decision::SetUpTwoFactor,
    }
}

/// `app.example.com:8443` → `app.example.com`; `[::1]:80` → `[::1]`.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h)
}

/// `/admin` covers `/admin` and `/admin/x`, not `/administrator` (both canonical).
fn path_has_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty() || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A path the way the most lenient application behind the proxy could read it, so that no
/// spelling slips past a stricter rule: the query cut off, percent-escapes decoded (twice,
/// for double encoding), backslashes as slashes, `;parameters` dropped from each segment,
/// empty and `.` segments skipped, `..` resolved, and lower case.
pub fn canonical_path(raw: &str) -> String {
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(&percent_decode(raw));
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split(['/', '\\']) {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/")).to_lowercase()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::assurance::{Assurance, PolicyFacts, assess};
    use crate::oidc::SignInMethod;
    use crate::policy::Requirement;

    fn rule(host: &str, prefix: Option<&str>, roles: Option<Vec<Role>>) -> Rule {
        Rule {
            host: host.into(),
            path_prefix: prefix.map(Into::into),
            roles,
            accounts: None,
            two_factor: TwoFactorRule::Required,
        }
    }

    fn rules() -> Rules {
        Rules::new(vec![
            rule("Wiki.Example.test", None, None),
            rule("wiki.example.test", Some("/admin"), Some(vec![Role::Owner, Role::Admin])),
            Rule {
                accounts: Some(vec![7]),
                two_factor: TwoFactorRule::Optional,
                ..rule("tools.example.test", None, None)
            },
        ])
        .unwrap()
    }

    const NO_POLICY: PolicyFacts = PolicyFacts { required_since: None, grace_days: 0 };

    fn strength(method: SignInMethod, has_two_factor: bool) -> Strength {
        assess(method, has_two_factor, NO_POLICY, 1_000)
    }

    const USER: Visitor = Visitor {
        role: Role::User,
        account_id: 7,
        strength: Strength {
            method: SignInMethod::Totp,
            assurance: Assurance::TwoFactor,
            requirement: Requirement::Met,
            has_two_factor: true,
        },
    };

    #[test]
    fn the_longest_prefix_of_the_host_decides() {
        let rules = rules();
        assert_eq!(rules.rule_for("wiki.example.test:8080", "/page").unwrap().path_prefix, None);
        assert_eq!(rules.rule_for("WIKI.example.test", "/admin/users").unwrap().path_prefix.as_deref(), Some("/admin"));
        assert_eq!(rules.rule_for("wiki.example.test", "/administrator").unwrap().path_prefix, None);
        assert!(rules.rule_for("other.example.test", "/").is_none());
    }

    #[test]
    fn sec_43_a_host_without_a_rule_and_people_a_rule_leaves_out_are_refused() {
        let rules = rules();
        assert_eq!(
            decide(rules.rule_for("other.example.test", "/"), Some(&USER)),
            Decision::Forbidden(Refusal::NoRule)
        );
        assert_eq!(
            decide(rules.rule_for("wiki.example.test", "/admin"), Some(&USER)),
            Decision::Forbidden(Refusal::Role)
        );
        let admin = Visitor { role: Role::Admin, ..USER };
        assert_eq!(decide(rules.rule_for("wiki.example.test", "/admin"), Some(&admin)), Decision::Allow);
        let elsewhere = Visitor { account_id: 8, ..USER };
        assert_eq!(
            decide(rules.rule_for("tools.example.test", "/"), Some(&elsewhere)),
            Decision::Forbidden(Refusal::Account)
        );
        assert_eq!(decide(rules.rule_for("wiki.example.test", "/"), None), Decision::SignIn);
    }

    #[test]
    fn sec_43_no_spelling_of_a_path_slips_past_its_rule() {
        let rules = rules();
        for path in [
            "/admin",
            "/admin/",
            "/ADMIN/users",
            "/%61dmin",
            "/%2561dmin",
            "//admin",
            "/./admin",
            "/x/../admin",
            "/admin;jsessionid=1",
            "\\admin",
            "/admin%2fusers",
            "/admin?x=1",
        ] {
            let rule = rules.rule_for("wiki.example.test", path).unwrap();
            assert_eq!(rule.path_prefix.as_deref(), Some("/admin"), "{path}");
        }
        assert_eq!(canonical_path("/a/b/../../../etc"), "/etc");
        assert_eq!(rules.rule_for("wiki.example.test", "/administrator").unwrap().path_prefix, None);
    }

    #[test]
    fn two_factor_is_required_unless_a_rule_says_optional() {
        let rules = rules();
        let without = Visitor { strength: strength(SignInMethod::Password, false), ..USER };
        assert_eq!(decide(rules.rule_for("wiki.example.test", "/"), Some(&without)), Decision::SetUpTwoFactor);
        assert_eq!(decide(rules.rule_for("tools.example.test", "/"), Some(&without)), Decision::Allow);
    }

    #[test]
    fn sec_46_a_password_session_of_a_person_who_has_two_factor_now_signs_in_again() {
        let rules = rules();
        let older = Visitor { strength: strength(SignInMethod::Password, true), ..USER };
        assert_eq!(decide(rules.rule_for("wiki.example.test", "/"), Some(&older)), Decision::SignInAgain);
        assert_eq!(decide(rules.rule_for("tools.example.test", "/"), Some(&older)), Decision::Allow);
    }

    #[test]
    fn sec_46_an_overdue_policy_sends_even_an_optional_rule_to_the_wizard() {
        let rules = rules();
        let policy = PolicyFacts { required_since: Some(0), grace_days: 0 };
        let overdue = Visitor { strength: assess(SignInMethod::Password, false, policy, 1_000), ..USER };
        assert_eq!(decide(rules.rule_for("tools.example.test", "/"), Some(&overdue)), Decision::SetUpTwoFactor);
    }

    #[test]
    fn sec_43_rd_goes_only_to_hosts_a_rule_names() {
        let rules = rules();
        assert_eq!(rules.return_url("https://wiki.example.test/page?a=1"), Some("https://wiki.example.test/page?a=1"));
        assert_eq!(rules.return_url("http://wiki.example.test:8080/"), Some("http://wiki.example.test:8080/"));
        for bad in [
            "https://evil.test/",
            "//wiki.example.test/",
            "/relative",
            "javascript:alert(1)",
            "https://wiki.example.test@evil.test/",
            "https://evil.test\\@wiki.example.test/",
            "https://wiki.example.test.evil.test/",
            "https://wiki.example.test/\r\nSet-Cookie: x",
        ] {
            assert_eq!(rules.return_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn rules_that_cannot_work_are_refused_at_start() {
        assert!(Rules::new(vec![rule("https://wiki.example.test", None, None)]).is_err());
        assert!(Rules::new(vec![rule("wiki.example.test:443", None, None)]).is_err());
        assert!(Rules::new(vec![rule("wiki.example.test", Some("admin"), None)]).is_err());
        assert!(Rules::new(vec![rule("wiki.example.test", None, Some(vec![]))]).is_err());
    }
}
