//! The `twilio` provider: Twilio's Messages API, one form POST per message.

use serde::Deserialize;

use super::{OutgoingSms, SmsProvider};
use crate::http::{self, Timeouts};
use crate::{SendError, SendFuture, Sent};

/// Where Twilio's API lives; `TWOFOLD_TWILIO_BASE_URL` replaces it in tests.
pub const TWILIO_DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// How much of Twilio's explanation of a refusal goes into the error.
const MAX_DETAIL_CHARS: usize = 200;

/// Sends through `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`.
pub struct TwilioProvider {
    client: reqwest::Client,
    messages_url: reqwest::Url,
    account_sid: String,
    auth_token: String,
    from: String,
}

/// The fields we use of Twilio's Message resource.
#[derive(Deserialize)]
struct Message {
    sid: Option<String>,
    status: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioProvider {
    /// Checks the settings; errors name the faulty setting, never the token.
    pub fn new(
        account_sid: &str,
        auth_token: &str,
        from: &str,
        base_url: &str,
        timeouts: Timeouts,
    ) -> Result<Self, String> {
        // The sid goes into the URL path: letters and digits only keep it from changing the path.
        if account_sid.is_empty() || !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("the Twilio account SID must be non-empty letters and digits (AC…)".to_owned());
        }
        if auth_token.is_empty() {
            return Err("the Twilio auth token is empty".to_owned());
        }
        if from.trim().is_empty() {
            return Err("the Twilio sender (`from`) is empty".to_owned());
        }
        let base = http::parse_url("the Twilio base URL", base_url)?;
        let messages_url =
            format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", base.as_str().trim_end_matches('/'));
        let messages_url = http::parse_url("the Twilio base URL", &messages_url)?;
        Ok(TwilioProvider {
            client: http::client(timeouts)?,
            messages_url,
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            from: from.to_owned(),
        })
    }

    async fn send_one(&self, sms: &OutgoingSms) -> Result<Sent, SendError> {
        let request = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[("To", sms.to.as_str()), ("From", self.from.as_str()), ("Body", sms.body.as_str())]);
        let answer = http::execute("twilio", request).await;
        let outcome = answer.and_then(|answer| http::classify("twilio", answer, refusal_detail));
        let body = match outcome {
            Ok(body) => body,
            Err(error) => {
                tracing::debug!(outbox_id = sms.id, provider = "twilio", error = %error, "SMS not sent");
                return Err(error);
            }
        };
        // A 2xx means Twilio accepted the message, whatever the body says. A body we cannot
        // read still counts as sent: reporting a failure would make the caller retry, and the
        // person would get the message twice.
        let sent = match serde_json::from_slice::<Message>(&body) {
            Ok(message) => Sent {
                provider_message_id: message.sid,
                status: message.status.unwrap_or_else(|| "unknown".to_owned()),
            },
            Err(_) => Sent { provider_message_id: None, status: "unknown".to_owned() },
        };
        tracing::debug!(outbox_id = sms.id, provider = "twilio", status = %sent.status, "SMS handed to Twilio");
        Ok(sent)
    }
}

/// Twilio's own words for a refusal ("The 'To' number … is not a valid phone number. (code
/// 21211)"), cut to [`MAX_DETAIL_CHARS`].
fn refusal_detail(body: &[u8]) -> Option<String> {
    let error: TwilioError = serde_json::from_slice(body).ok()?;
    let detail = match (error.message, error.code) {
        (Some(message), Some(code)) => format!("{message} (code {code})"),
        (Some(message), None) => message,
        (None, Some(code)) => format!("code {code}"),
        (None, None) => return None,
    };
    Some(http::truncate(&detail, MAX_DETAIL_CHARS))
}

impl SmsProvider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> SendFuture<'a> {
        Box::pin(self.send_one(sms))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::extract::{Form, State};
    use axum::http::{HeaderMap, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;

    use super::*;
    use crate::test_support;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "twilio-auth-token";

    fn sms() -> OutgoingSms {
        OutgoingSms { id: 17, to: "+15550001111".into(), body: "Your Twofold code is 123456".into() }
    }

    fn provider(addr: SocketAddr, timeouts: Timeouts) -> TwilioProvider {
        TwilioProvider::new(SID, TOKEN, "+15559990000", &format!("http://{addr}/"), timeouts).unwrap()
    }

    /// A stand-in for Twilio that answers every POST with `status` and `body` (and the
    /// headers given), whatever the path.
    async fn fake_twilio(status: u16, headers: &[(&'static str, &'static str)], body: impl Into<String>) -> SocketAddr {
        let headers: Vec<(&'static str, &'static str)> = headers.to_vec();
        let body: String = body.into();
        let answer = move || {
            let mut response = (StatusCode::from_u16(status).unwrap(), body.clone()).into_response();
            for (name, value) in &headers {
                response.headers_mut().insert(*name, value.parse().unwrap());
            }
            response
        };
        test_support::serve(Router::new().fallback(post(move || std::future::ready(answer())))).await
    }

    #[derive(Debug, Clone)]
    struct Seen {
        path: String,
        headers: HeaderMap,
        form: HashMap<String, String>,
    }

    async fn record(
        State(seen): State<Arc<Mutex<Vec<Seen>>>>,
        uri: Uri,
        headers: HeaderMap,
        Form(form): Form<HashMap<String, String>>,
    ) -> Response {
        seen.lock().unwrap().push(Seen { path: uri.path().to_owned(), headers, form });
        let json = r#"{"sid": "SM00000000000000000000000000000001", "status": "queued", "to": "+15550001111"}"#;
        (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], json).into_response()
    }

    #[tokio::test]
    async fn sends_a_form_post_with_basic_auth_and_reads_the_sid() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = test_support::serve(Router::new().fallback(post(record)).with_state(seen.clone())).await;

        let sent = provider(addr, Timeouts::default()).send(&sms()).await.unwrap();
        assert_eq!(
            sent,
            Sent { provider_message_id: Some("SM00000000000000000000000000000001".into()), status: "queued".into() }
        );

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let request = &seen[0];
        assert_eq!(request.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
        let expected_auth = format!("Basic {}", data_encoding::BASE64.encode(format!("{SID}:{TOKEN}").as_bytes()));
        assert_eq!(request.headers[header::AUTHORIZATION], expected_auth.as_str());
        assert_eq!(request.headers[header::CONTENT_TYPE], "application/x-www-form-urlencoded");
        let expected: HashMap<String, String> =
            [("To", "+15550001111"), ("From", "+15559990000"), ("Body", "Your Twofold code is 123456")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        assert_eq!(request.form, expected);
    }

    #[tokio::test]
    async fn too_many_requests_is_transient_with_retry_after() {
        let body = r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#;
        let addr = fake_twilio(429, &[("retry-after", "7")], body).await;
        let err = provider(addr, Timeouts::default()).send(&sms()).await.unwrap_err();
        assert!(
            matches!(err, SendError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn server_error_is_transient() {
        let addr = fake_twilio(500, &[], "oops").await;
        let err = provider(addr, Timeouts::default()).send(&sms()).await.unwrap_err();
        assert_eq!(
            err,
            SendError::Transient { reason: "twilio answered 500 Internal Server Error".into(), retry_after: None }
        );
    }

    #[tokio::test]
    async fn bad_request_is_permanent_with_twilios_message() {
        let body = r#"{"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
        let addr = fake_twilio(400, &[("content-type", "application/json")], body).await;
        let err = provider(addr, Timeouts::default()).send(&sms()).await.unwrap_err();
        assert_eq!(
            err,
            SendError::Permanent {
                reason: "twilio refused the message (400 Bad Request): \
                         The 'To' number +1555 is not a valid phone number. (code 21211)"
                    .into()
            }
        );
    }

    #[tokio::test]
    async fn a_long_refusal_is_truncated_and_a_bare_one_is_still_permanent() {
        let long = format!(r#"{{"code": 21211, "message": "{}"}}"#, "x".repeat(5_000));
        let addr = fake_twilio(400, &[], long).await;
        let SendError::Permanent { reason } = provider(addr, Timeouts::default()).send(&sms()).await.unwrap_err()
        else {
            panic!("not permanent")
        };
        assert!(reason.chars().count() < 300, "{}", reason.len());

        let addr = fake_twilio(401, &[], "<html>Unauthorized</html>").await;
        let err = provider(addr, Timeouts::default()).send(&sms()).await.unwrap_err();
        assert_eq!(err, SendError::Permanent { reason: "twilio refused the message (401 Unauthorized)".into() });
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_transient_within_the_timeout() {
        let addr = test_support::silent_server().await;
        let timeouts = Timeouts { connect: Duration::from_millis(300), request: Duration::from_millis(300) };
        let started = Instant::now();
        let err = provider(addr, timeouts).send(&sms()).await.unwrap_err();
        assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_garbage_success_body_still_counts_as_sent() {
        let addr = fake_twilio(200, &[], "this is not json {").await;
        let sent = provider(addr, Timeouts::default()).send(&sms()).await.unwrap();
        assert_eq!(sent, Sent { provider_message_id: None, status: "unknown".into() });
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let addr = test_support::closed_port();
        let err = provider(addr, Timeouts::default()).send(&sms()).await.unwrap_err();
        assert!(matches!(err, SendError::Transient { retry_after: None, .. }), "{err:?}");
        assert!(err.to_string().contains("could not connect"), "{err}");
    }

    #[tokio::test]
    async fn errors_never_show_the_token_or_the_body() {
        for addr in [test_support::closed_port(), fake_twilio(400, &[], "{}").await] {
            let err = provider(addr, Timeouts::default()).send(&sms()).await.unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(TOKEN) && !shown.contains("123456"), "{shown}");
        }
    }
}
