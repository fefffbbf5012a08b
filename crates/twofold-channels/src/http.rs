//! The HTTP client the Twilio and webhook providers share, and the reading of their answers.
//!
//! Both providers classify an answer the same way: 2xx delivered; 429 and 5xx worth
//! retrying (with the server's Retry-After, if any); anything else will never work as sent;
//! timeouts and connection failures worth retrying.

use std::sync::Once;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::SendError;

/// How long to wait for a TCP + TLS connection to a provider.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one whole request may take, answer included. The outbox worker retries after it,
/// so a stuck provider holds a worker for at most this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of an answer's body we read: enough for any provider's JSON, and a bound on what
/// a misbehaving webhook receiver can make us buffer.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Timeouts of a provider's HTTP client; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: CONNECT_TIMEOUT, request: REQUEST_TIMEOUT }
    }
}

/// Installs rustls' *ring* crypto provider as the process default, once.
///
/// reqwest is built with `rustls-no-provider` so that aws-lc-rs (a C build) stays out of the
/// tree; reqwest then panics when a client is built before some provider is installed. The
/// providers in this crate call this themselves; other code in the same process that builds a
/// `reqwest::Client` (tests, say) should call it first too. Another provider installed earlier
/// is kept: `install_default` then fails, which is fine.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for one provider. Redirects are not followed: a provider URL that redirects is
/// misconfigured, and following it would resend credentials and the message elsewhere.
pub(crate) fn client(timeouts: Timeouts) -> Result<reqwest::Client, String> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("twofold-sms/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A client whose connections to `host` go to `addresses` only, the ones already checked
/// (webhooks, SEC-51): no second DNS lookup between the check and the connection.
pub(crate) fn pinned_client(
    timeouts: Timeouts,
    host: &str,
    addresses: &[std::net::SocketAddr],
) -> Result<reqwest::Client, String> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve_to_addrs(host, addresses)
        .user_agent(concat!("twofold-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Checks a provider URL from the configuration: absolute, http or https, with a host.
pub(crate) fn parse_url(what: &str, url: &str) -> Result<reqwest::Url, String> {
    // The URL is not quoted back: it may carry a password or a token.
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{what} is not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{what} must be an http:// or https:// URL with a host"));
    }
    Ok(parsed)
}

/// A provider's answer, its body read up to [`MAX_ANSWER_BYTES`].
pub(crate) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Sends a request and reads the answer. Errors here are the ones without an answer.
pub(crate) async fn execute(provider: &str, request: reqwest::RequestBuilder) -> Result<Answer, SendError> {
    let mut response = request.send().await.map_err(|e| transport_error(provider, &e))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
                body.extend(chunk.iter().take(room));
                if body.len() >= MAX_ANSWER_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            // The status line is what decides; a body cut short (a timeout while reading it)
            // only loses detail. For a 2xx this matters: the message was accepted, and
            // reporting a failure would make the caller send it again.
            Err(_) => break,
        }
    }
    Ok(Answer { status, retry_after, body })
}

/// Classifies an answer: `Ok(body)` for a 2xx, else the failure. `detail` may pull the
/// provider's own explanation out of a refusal's body.
pub(crate) fn classify(
    provider: &str,
    answer: Answer,
    detail: impl FnOnce(&[u8]) -> Option<String>,
) -> Result<Vec<u8>, SendError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(answer.body);
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(SendError::Transient {
            reason: format!("{provider} answered {status}"),
            retry_after: answer.retry_after,
        });
    }
    let reason = match detail(&answer.body) {
        Some(detail) => format!("{provider} refused the message ({status}): {detail}"),
        None if status.is_redirection() => format!("{provider} answered {status} (redirects are not followed)"),
        None => format!("{provider} refused the message ({status})"),
    };
    Err(SendError::Permanent { reason })
}

/// Retry-After in its delta-seconds form. The HTTP-date form is rare from APIs and is ignored:
/// the caller's own backoff applies then.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A failure before any answer arrived.
fn transport_error(provider: &str, error: &reqwest::Error) -> SendError {
    // A request that could not even be built will not build next time either.
    if error.is_builder() {
        return SendError::permanent(format!("{provider}: cannot build the request ({})", root_cause(error)));
    }
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // The root cause ("Connection refused", "dns error…") helps an operator and, unlike
    // reqwest's own message, does not quote the URL, which may carry a token.
    SendError::transient(format!("{provider}: {what} ({})", root_cause(error)))
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<u64>) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn answers_are_classified_by_status() {
        assert_eq!(classify("p", answer(200, None), |_| None), Ok(b"{}".to_vec()));
        assert_eq!(classify("p", answer(204, None), |_| None), Ok(b"{}".to_vec()));
        assert_eq!(
            classify("p", answer(429, Some(3)), |_| None),
            Err(SendError::Transient {
                reason: "p answered 429 Too Many Requests".into(),
                retry_after: Some(Duration::from_secs(3))
            })
        );
        assert!(matches!(classify("p", answer(500, None), |_| None), Err(SendError::Transient { .. })));
        assert!(matches!(classify("p", answer(503, None), |_| None), Err(SendError::Transient { .. })));
        for status in [301, 400, 401, 403, 404, 422] {
            assert!(
                matches!(classify("p", answer(status, None), |_| None), Err(SendError::Permanent { .. })),
                "{status}"
            );
        }
        assert_eq!(
            classify("p", answer(400, None), |_| Some("bad number".into())),
            Err(SendError::permanent("p refused the message (400 Bad Request): bad number"))
        );
    }

    #[test]
    fn retry_after_takes_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…");
        assert_eq!(truncate("ééééé", 2), "éé…");
    }

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("u", "https://a.example/x").is_ok());
        assert!(parse_url("u", "http://127.0.0.1:9/x").is_ok());
        assert!(parse_url("u", "a.example/x").is_err());
        assert!(parse_url("u", "mailto:x@a.example").is_err());
        assert!(parse_url("u", "file:///tmp/x").is_err());
    }
}
