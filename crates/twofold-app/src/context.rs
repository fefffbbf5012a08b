//! Where a request came from, for the audit log.

/// The facts about a request that the audit log records with every event (SEC-30).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestContext {
    /// For actions taken from the command line on this machine.
    pub fn cli() -> Self {
        Self { ip: None, user_agent: Some("twofold-cli".into()) }
    }

    /// Clips the user agent: it is attacker-controlled and only informative.
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| ua.chars().filter(|c| !c.is_control()).take(256).collect());
        Self { ip, user_agent }
    }
}
