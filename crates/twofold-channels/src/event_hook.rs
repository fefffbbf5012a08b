//! Webhooks that carry an account's events to its own receivers (SEC-51). The receiver's
//! URL comes from a customer, so the address is checked after DNS resolution, the
//! connection is pinned to the address that was checked (a second lookup cannot swap in
//! an internal one), and redirects are not followed.

use std::net::{IpAddr, SocketAddr};

use crate::http::{self, Timeouts};
use crate::{SendError, Sent};

/// One signed event on its way to a receiver.
#[derive(Debug, Clone)]
pub struct EventHook {
    pub url: String,
    pub message_id: String,
    pub timestamp: i64,
    pub body: String,
    pub signature: String,
}

/// What an attempt came to: the receiver's status when it answered, and the outcome.
#[derive(Debug)]
pub struct Attempt {
    pub status: Option<u16>,
    pub outcome: Result<Sent, SendError>,
}

impl Attempt {
    fn unanswered(error: SendError) -> Attempt {
        Attempt { status: None, outcome: Err(error) }
    }
}

/// Longest wait for the receiver's name to resolve.
const DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Decides whether `host`, resolved to an address, may be reached.
pub type AddressRule<'a> = dyn Fn(&str, IpAddr) -> bool + Send + Sync + 'a;

/// The addresses `host:port` resolves to (an IP literal is its own).
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, SendError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // A resolver that does not answer must not hold a request or a worker for long.
    let lookup = tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((bare, port)))
        .await
        .map_err(|_| SendError::transient("the receiver's name did not resolve in time"))?;
    let found = lookup.map_err(|e| SendError::transient(format!("the receiver's name did not resolve: {e}")))?;
    Ok(found.collect())
}

/// A receiver's URL as checked: its scheme, and whether every address is loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub scheme: String,
    pub loopback: bool,
}

/// Checks a receiver's URL now: http(s) with a host, resolving only to addresses `allowed`
/// accepts. The answer is a sentence for the person who typed the URL.
pub async fn check(url: &str, allowed: &AddressRule<'_>) -> Result<Checked, String> {
    let parsed = http::parse_url("The URL", url)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("The URL must not carry a user name or password.".into());
    }
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Err("The URL needs a host.".into());
    };
    let addresses = resolve(host, port).await.map_err(|_| format!("{host} does not resolve."))?;
    if addresses.is_empty() {
        return Err(format!("{host} does not resolve."));
    }
    if addresses.iter().any(|a| !allowed(host, a.ip())) {
        return Err(format!("{host} is an internal address; webhooks go to public receivers only."));
    }
    Ok(Checked { scheme: parsed.scheme().to_owned(), loopback: addresses.iter().all(|a| a.ip().is_loopback()) })
}

/// Sends one event: POST with the Standard Webhooks headers, to an address `allowed` accepts.
pub async fn deliver(hook: &EventHook, allowed: &AddressRule<'_>, timeouts: Timeouts) -> Attempt {
    let url = match http::parse_url("the webhook URL", &hook.url) {
        Ok(url) => url,
        Err(e) => return Attempt::unanswered(SendError::permanent(e)),
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Attempt::unanswered(SendError::permanent("the webhook URL has no host"));
    };
    let addresses = match resolve(host, port).await {
        Ok(found) if !found.is_empty() => found,
        Ok(_) => return Attempt::unanswered(SendError::transient("the receiver's name has no address")),
        Err(e) => return Attempt::unanswered(e),
    };
    // Every address must be allowed: a name that also resolves inside is refused whole.
    // The address itself is not said: the log is shown to the account, and naming the
    // internal address a name resolves to would map the inside for whoever set the name.
    if addresses.iter().any(|a| !allowed(host, a.ip())) {
        let reason = format!("{host} resolves to an internal address (SEC-51)");
        return Attempt::unanswered(SendError::permanent(reason));
    }
    let client = match http::pinned_client(timeouts, host, &addresses) {
        Ok(client) => client,
        Err(e) => return Attempt::unanswered(SendError::transient(e)),
    };
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &hook.message_id)
        .header("webhook-timestamp", hook.timestamp.to_string())
        .header("webhook-signature", &hook.signature)
        .body(hook.body.clone());
    let answer = match http::execute("the receiver", request).await {
        Ok(answer) => answer,
        Err(e) => return Attempt::unanswered(e),
    };
    let status = Some(answer.status.as_u16());
    let outcome = http::classify("the receiver", answer, |_| None)
        .map(|_| Sent { provider_message_id: Some(hook.message_id.clone()), status: "delivered".into() });
    Attempt { status, outcome }
}
