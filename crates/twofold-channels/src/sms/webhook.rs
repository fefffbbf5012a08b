//! The `webhook` provider: a JSON POST, signed with HMAC-SHA256, to the operator's own SMS
//! gateway. The receiver's side is described in `docs/sms-webhook.md`.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use super::{OutgoingSms, SmsProvider};
use crate::http::{self, Timeouts};
use crate::{SendError, SendFuture, Sent};

/// Sends `{"id", "to", "body"}` with `X-Twofold-Timestamp`, `X-Twofold-Signature` and
/// `Idempotency-Key` headers.
pub struct WebhookProvider {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
}

#[derive(Serialize)]
struct Request<'a> {
    id: i64,
    to: &'a str,
    body: &'a str,
}

/// The receiver's optional answer: `{"message_id": "…"}`.
#[derive(Deserialize)]
struct Ack {
    message_id: Option<String>,
}

/// `v1=` and the lowercase hex HMAC-SHA256, keyed with `secret`, of `"{timestamp}.{body}"`.
///
/// The timestamp is inside the signed bytes so that a captured request cannot be replayed
/// later with a fresh timestamp; the `v1=` prefix leaves room for another scheme.
pub fn webhook_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails; were it to, the empty signature
    // would be refused by the receiver rather than crash the sender.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return "v1=".to_owned();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes()))
}

impl WebhookProvider {
    /// Checks the settings; errors never quote the URL (it may carry a token) or the secret.
    pub fn new(url: &str, secret: &[u8], timeouts: Timeouts) -> Result<Self, String> {
        let url = http::parse_url("the SMS webhook URL", url)?;
        if secret.is_empty() {
            return Err("the SMS webhook secret is empty".to_owned());
        }
        if url.scheme() == "http" && !is_loopback(&url) {
            tracing::warn!("the SMS webhook URL is plain http: sign-in codes cross the network unencrypted");
        }
        Ok(WebhookProvider { client: http::client(timeouts)?, url, secret: secret.to_vec() })
    }

    async fn send_one(&self, sms: &OutgoingSms) -> Result<Sent, SendError> {
        let body = serde_json::to_vec(&Request { id: sms.id, to: &sms.to, body: &sms.body })
            .map_err(|e| SendError::permanent(format!("webhook: cannot encode the message ({e})")))?;
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = webhook_signature(&self.secret, timestamp, &body);
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Twofold-Timestamp", timestamp.to_string())
            .header("X-Twofold-Signature", signature)
            // The same for every attempt at one outbox row, so that a receiver can drop the
            // repeat that follows a lost answer.
            .header("Idempotency-Key", format!("twofold-sms-{}", sms.id))
            .body(body);
        let answer = http::execute("webhook", request).await;
        // The receiver's answer body is not quoted in errors: it is not ours to log, and an
        // echoing receiver would put the code in our logs.
        let outcome = answer.and_then(|answer| http::classify("webhook", answer, |_| None));
        let body = match outcome {
            Ok(body) => body,
            Err(error) => {
                tracing::debug!(outbox_id = sms.id, provider = "webhook", error = %error, "SMS not sent");
                return Err(error);
            }
        };
        // Any 2xx is delivery; the id is a courtesy, so an empty or odd body is fine.
        let provider_message_id = serde_json::from_slice::<Ack>(&body).ok().and_then(|ack| ack.message_id);
        tracing::debug!(outbox_id = sms.id, provider = "webhook", status = "accepted", "SMS handed to the webhook");
        Ok(Sent { provider_message_id, status: "accepted".to_owned() })
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmsProvider for WebhookProvider {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> SendFuture<'a> {
        Box::pin(self.send_one(sms))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;

    use super::*;
    use crate::test_support;

    const SECRET: &[u8] = b"whsec-test-secret";

    fn sms() -> OutgoingSms {
        OutgoingSms { id: 4242, to: "+15550001111".into(), body: "Your Twofold code is 123456".into() }
    }

    fn provider(addr: SocketAddr) -> WebhookProvider {
        WebhookProvider::new(&format!("http://{addr}/sms"), SECRET, Timeouts::default()).unwrap()
    }

    /// What a receiver does (docs/sms-webhook.md): recompute the HMAC over the timestamp
    /// header, a dot and the raw body, compare in constant time, and refuse old timestamps.
    fn receiver_accepts(secret: &[u8], headers: &HeaderMap, raw_body: &[u8], now: i64) -> bool {
        let (Some(timestamp), Some(signature)) = (
            headers.get("x-twofold-timestamp").and_then(|v| v.to_str().ok()),
            headers.get("x-twofold-signature").and_then(|v| v.to_str().ok()),
        ) else {
            return false;
        };
        let Ok(sent_at) = timestamp.parse::<i64>() else {
            return false;
        };
        if (now - sent_at).abs() > 300 {
            return false;
        }
        let Some(hex) = signature.strip_prefix("v1=") else {
            return false;
        };
        let Ok(tag) = data_encoding::HEXLOWER.decode(hex.as_bytes()) else {
            return false;
        };
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(raw_body);
        mac.verify_slice(&tag).is_ok()
    }

    #[derive(Clone, Default)]
    struct Receiver {
        seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    }

    async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let verified = receiver_accepts(SECRET, &headers, &body, now);
        receiver.seen.lock().unwrap().push((headers, body));
        if verified {
            (StatusCode::OK, r#"{"message_id": "gw-1"}"#)
        } else {
            (StatusCode::UNAUTHORIZED, "bad signature")
        }
    }

    #[tokio::test]
    async fn sec_18_webhook_requests_are_signed() {
        let receiver = Receiver::default();
        let addr = test_support::serve(Router::new().route("/sms", post(receive)).with_state(receiver.clone())).await;

        let sent = provider(addr).send(&sms()).await.unwrap();
        assert_eq!(sent, Sent { provider_message_id: Some("gw-1".into()), status: "accepted".into() });

        let (headers, body) = receiver.seen.lock().unwrap()[0].clone();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json, serde_json::json!({"id": 4242, "to": "+15550001111", "body": "Your Twofold code is 123456"}));
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["idempotency-key"], "twofold-sms-4242");

        // The signature binds the secret, the timestamp and every byte of the body.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        assert!(receiver_accepts(SECRET, &headers, &body, now));
        assert!(!receiver_accepts(b"another secret", &headers, &body, now));
        let mut tampered = body.to_vec();
        tampered.extend_from_slice(b" ");
        assert!(!receiver_accepts(SECRET, &headers, &tampered, now));
        let mut other_time = headers.clone();
        let ts: i64 = headers["x-twofold-timestamp"].to_str().unwrap().parse().unwrap();
        other_time.insert("x-twofold-timestamp", (ts - 1).to_string().parse().unwrap());
        assert!(!receiver_accepts(SECRET, &other_time, &body, now));
        // A replay more than five minutes later is refused.
        assert!(!receiver_accepts(SECRET, &headers, &body, ts + 301));

        // A receiver with another secret refuses: a permanent failure, not a retry loop.
        let err = WebhookProvider::new(&format!("http://{addr}/sms"), b"wrong secret", Timeouts::default())
            .unwrap()
            .send(&sms())
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // Computed independently with Python's hmac module (the snippet in docs/sms-webhook.md).
        let body = br#"{"id":42,"to":"+15551234567","body":"Your Twofold code is 123456"}"#;
        assert_eq!(webhook_signature(b"whsec_example", 1_700_000_000, body), KNOWN_SIGNATURE);
    }

    const KNOWN_SIGNATURE: &str = "v1=014af88cf66f2b956b9dad98c75de5218f3212a87fbb496073e331956e280198";

    #[tokio::test]
    async fn a_bare_success_has_no_message_id() {
        let addr = test_support::serve(Router::new().route("/sms", post(|| async { StatusCode::NO_CONTENT }))).await;
        let sent = provider(addr).send(&sms()).await.unwrap();
        assert_eq!(sent, Sent { provider_message_id: None, status: "accepted".into() });
    }

    #[tokio::test]
    async fn unavailable_is_transient() {
        let router =
            Router::new().route("/sms", post(|| async { (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "30")]) }));
        let addr = test_support::serve(router).await;
        let err = provider(addr).send(&sms()).await.unwrap_err();
        assert_eq!(
            err,
            SendError::Transient {
                reason: "webhook answered 503 Service Unavailable".into(),
                retry_after: Some(std::time::Duration::from_secs(30))
            }
        );
    }

    #[tokio::test]
    async fn not_found_is_permanent() {
        // No route at /sms: axum answers 404.
        let addr = test_support::serve(Router::new().route("/other", post(|| async { "ok" }))).await;
        let err = provider(addr).send(&sms()).await.unwrap_err();
        assert_eq!(err, SendError::Permanent { reason: "webhook refused the message (404 Not Found)".into() });
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let err = provider(test_support::closed_port()).send(&sms()).await.unwrap_err();
        assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
    }
}
