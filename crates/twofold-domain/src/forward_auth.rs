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
    /// Only members of at least one of these groups (by name) may pass; none means anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub two_factor: TwoFactorRule,
}

/// The rules of this instance, checked once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(Vec<Rule>);

/// The person behind a signed-in session, as the decision needs them: their role and
/// account, and the session's strength from the one assurance answer (SEC-46).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visitor<'a> {
    pub role: Role,
    pub account_id: i64,
    pub strength: Strength,
    /// The names of their groups.
    pub groups: &'a [String],
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
    Group,
    /// The path could be read more than one way (SEC-49): refused, whatever the rules.
    AmbiguousPath,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoRule => "no_rule",
            Refusal::Role => "role",
            Refusal::Account => "account",
            Refusal::Group => "group",
            Refusal::AmbiguousPath => "ambiguous_path",
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
            if let Some(prefix) = rule.path_prefix.as_deref().filter(|p| read_path(p).is_none()) {
                return Err(format!(
                    "forward_auth rule for {}: path_prefix {prefix:?} could be read more than one way (see docs/forward-auth.md)",
                    rule.host
                ));
            }
            if rule.roles.as_ref().is_some_and(Vec::is_empty)
                || rule.accounts.as_ref().is_some_and(Vec::is_empty)
                || rule.groups.as_ref().is_some_and(Vec::is_empty)
            {
                return Err(format!(
                    "forward_auth rule for {}: an empty roles, accounts or groups list lets nobody in",
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

    /// The rule for a request: the one of its host with the longest matching path prefix,
    /// the path read once (see [`read_path`]): `/%61dmin`, `//admin` and `/ADMIN` are
    /// `/admin`. A path another reader could see differently is refused (SEC-49).
    pub fn decide_rule(&self, host: &str, path: &str) -> Result<Option<&Rule>, Refusal> {
        let path = read_path(path).ok_or(Refusal::AmbiguousPath)?;
        Ok(self.rule_for_read(host, &path))
    }

    /// [`Rules::decide_rule`], for a path known to read one way (`None` otherwise).
    pub fn rule_for(&self, host: &str, path: &str) -> Option<&Rule> {
        self.decide_rule(host, path).ok().flatten()
    }

    fn rule_for_read(&self, host: &str, path: &str) -> Option<&Rule> {
        let host = host_without_port(host);
        self.0
            .iter()
            .filter(|r| r.host.eq_ignore_ascii_case(host))
            .filter(|r| r.path_prefix.as_deref().is_none_or(|p| path_has_prefix(path, &prefix_path(p))))
            .max_by_key(|r| r.path_prefix.as_deref().map_or(0, |p| prefix_path(p).trim_end_matches('/').len()))
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
    if rule.groups.as_ref().is_some_and(|groups| !groups.iter().any(|g| visitor.groups.contains(g))) {
        return Decision::Forbidden(Refusal::Group);
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

/// A path read once, the one way every reader agrees on, or `None` when a proxy, Twofold
/// and the application could read it differently (SEC-49). Normalising "better" than the
/// application is the hole: Twofold would judge one path and the application serve another.
/// So the query is cut off and percent-escapes decoded once, and the path is refused when,
/// before or after that decode, it holds a backslash, a `;` (matrix parameters), a `%`
/// (double encoding), an encoded `/`, `\` or `.`, a `.` or `..` segment, a control
/// character or invalid UTF-8. What is left is compared in lower case with empty segments
/// dropped, which can only make a stricter rule match (`//ADMIN` is `/admin`).
pub fn read_path(raw: &str) -> Option<String> {
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    if raw.contains(['\\', ';']) || has_encoded(raw, &["2f", "5c", "2e", "25"]) {
        return None;
    }
    let decoded = percent_decode(raw)?;
    if decoded.contains(['\\', ';', '%', '?', '#'])
        || decoded.chars().any(|c| c.is_control() || looks_like_separator(c))
    {
        return None;
    }
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." | ".." => return None,
            // Windows and some frameworks strip a segment's trailing dots and spaces.
            other if other.ends_with(['.', ' ']) => return None,
            other => segments.push(other),
        }
    }
    Some(format!("/{}", segments.join("/")).to_lowercase())
}

/// Characters that Unicode normalisation (NFKC) folds into a dot or a slash, which an
/// application that normalises would read as one: fullwidth and small forms, the one-dot
/// leader, the division and fraction slashes.
fn looks_like_separator(c: char) -> bool {
    matches!(c, '\u{FF0E}' | '\u{FF0F}' | '\u{FE52}' | '\u{2024}' | '\u{2215}' | '\u{2044}' | '\u{FF3C}' | '\u{FE68}')
}

/// A rule's own `path_prefix`, compared in the same form (it was checked at start).
fn prefix_path(prefix: &str) -> String {
    read_path(prefix).unwrap_or_else(|| prefix.to_lowercase())
}

/// Whether `raw` holds one of these percent-escapes (lower-case hex, any case in `raw`).
fn has_encoded(raw: &str, escapes: &[&str]) -> bool {
    let lower = raw.to_ascii_lowercase();
    escapes.iter().any(|e| lower.contains(&format!("%{e}")))
}

/// Percent-escapes decoded once; `None` when the bytes are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
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
    String::from_utf8(out).ok()
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
            groups: None,
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

    const USER: Visitor<'static> = Visitor {
        role: Role::User,
        account_id: 7,
        groups: &[],
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
        for path in ["/admin", "/admin/", "/ADMIN/users", "/%61dmin", "//admin", "/admin?x=1", "/admin#top"] {
            let rule = rules.rule_for("wiki.example.test", path).unwrap();
            assert_eq!(rule.path_prefix.as_deref(), Some("/admin"), "{path}");
        }
        assert_eq!(rules.rule_for("wiki.example.test", "/administrator").unwrap().path_prefix, None);
        assert_eq!(rules.rule_for("wiki.example.test", "/caf%C3%A9/menu").unwrap().path_prefix, None);
    }

    #[test]
    fn sec_49_a_path_that_could_be_read_two_ways_is_refused_whatever_the_rules() {
        let rules = rules();
        for path in [
            // The four spellings that climbed out of /admin in Twofold's reading only.
            "/admin/secret/..;/..;/x",
            "/admin/secret/%252e%252e/%252e%252e/x",
            "/admin/secret%5C..%5C..%5Cx",
            "/admin/secret%2F..%2F..%2Fx",
            // And their kin: each is read one way by some reader and another by the next.
            "/%2561dmin",
            "/./admin",
            "/x/../admin",
            "/x/%2e%2e/admin",
            "/admin;jsessionid=1",
            "/admin%3Bx",
            "\\admin",
            "/admin%2fusers",
            "/%ZZ",
            "/100%",
            "/a%00b",
            "/%FF",
            "/a%3Fb",
            "/public/\u{FF0E}\u{FF0E}/admin",
            "/public/%EF%BC%8E%EF%BC%8E/admin",
            "/admin./x",
            "/admin%20/x",
        ] {
            assert_eq!(rules.decide_rule("wiki.example.test", path), Err(Refusal::AmbiguousPath), "{path}");
            assert_eq!(rules.rule_for("wiki.example.test", path), None, "{path}");
        }
        assert_eq!(read_path("/A//b/c/"), Some("/a/b/c".into()));
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
        assert!(Rules::new(vec![rule("wiki.example.test", Some("/a%2Fb"), None)]).is_err());
        assert!(Rules::new(vec![rule("wiki.example.test", Some("/x/./y"), None)]).is_err());
        assert!(Rules::new(vec![rule("wiki.example.test", None, Some(vec![]))]).is_err());
    }

    #[test]
    fn a_rule_with_groups_lets_in_their_members_only() {
        let mut r = rule("wiki.example.test", None, None);
        r.groups = Some(vec!["eng".into(), "ops".into()]);
        assert_eq!(decide(Some(&r), Some(&USER)), Decision::Forbidden(Refusal::Group));
        let ops = ["ops".to_string()];
        assert_eq!(decide(Some(&r), Some(&Visitor { groups: &ops, ..USER })), Decision::Allow);
        r.groups = Some(Vec::new());
        assert!(Rules::new(vec![r]).is_err(), "an empty list lets nobody in");
    }
}
