//! The UDP loop and the checks every datagram passes before a use case sees it: a known
//! client by source address, a valid Message-Authenticator (required unless the client is
//! registered as legacy), and no second check of a retransmission (SEC-53).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use twofold_app::radius::{FirstSight, RadiusAnswer, RadiusClient, RadiusRequest};
use twofold_app::{App, RequestContext};
use twofold_domain::radius::packet::{MAX_PACKET, encode_reply, reveal_password, verify_signature};
use twofold_domain::radius::{Attribute, Code, Packet, Signature, attr, request_key};

/// Requests answered at once; past this, datagrams are dropped (the client retransmits).
/// A password check holds one for 20–50 ms of Argon2, which runs one or two at a time.
const MAX_IN_FLIGHT: usize = 512;

/// `Proxy-State` (RFC 2865 §5.33): copied unchanged into the answer.
const PROXY_STATE: u8 = 33;

/// Serves RADIUS on `socket` until `shutdown` completes.
pub async fn serve(app: App, socket: UdpSocket, shutdown: impl Future<Output = ()>) {
    let socket = Arc::new(socket);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut buf = vec![0u8; MAX_PACKET + 1];
    tokio::pin!(shutdown);
    loop {
        let (n, from) = tokio::select! {
            () = &mut shutdown => break,
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(e) => {
                    tracing::debug!(error = %e, "RADIUS receive failed");
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            dropped("overloaded");
            continue;
        };
        let datagram = buf.get(..n).unwrap_or_default().to_vec();
        let (app, socket) = (app.clone(), socket.clone());
        tokio::spawn(async move {
            let _slot = slot;
            if let Some(reply) = answer(&app, &datagram, from).await
                && let Err(e) = socket.send_to(&reply, from).await
            {
                tracing::debug!(error = %e, "RADIUS reply not sent");
            }
        });
    }
}

/// Counts a datagram dropped without an answer, by why (`/metrics`).
fn dropped(reason: &'static str) {
    metrics::counter!("twofold_radius_dropped_total", "reason" => reason).increment(1);
}

/// The reply to one datagram from `from`, or `None` when it gets none.
pub async fn answer(app: &App, datagram: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let Ok(request) = Packet::decode(datagram) else {
        dropped("malformed");
        return None;
    };
    if request.code != Code::AccessRequest {
        dropped("not_access_request");
        return None;
    }
    let client = match app.radius_client_for(from.ip()).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            dropped("unknown_client");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "RADIUS clients could not be read");
            dropped("unavailable");
            return None;
        }
    };
    match verify_signature(datagram, client.secret()) {
        Signature::Valid => {}
        Signature::Absent if client.legacy_no_message_authenticator => {}
        Signature::Absent => {
            dropped("missing_message_authenticator");
            return None;
        }
        Signature::Invalid => {
            dropped("bad_authenticator");
            return None;
        }
    }
    let key = request_key(client.id, from, request.identifier, &request.authenticator);
    match app.radius_sighting(&key).await {
        Ok(FirstSight::New) => {}
        Ok(FirstSight::Again(reply)) => {
            metrics::counter!("twofold_radius_retransmissions_total").increment(1);
            return Some(reply);
        }
        Ok(FirstSight::InFlight) => {
            dropped("in_flight");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "RADIUS request could not be recorded");
            dropped("unavailable");
            return None;
        }
    }
    match decide(app, &client, &request, from).await {
        Ok(answer) => {
            let reply = encode(&answer, &request, client.secret());
            if let Err(e) = app.radius_answered(&key, &reply).await {
                // Its retransmissions are then answered afresh rather than dropped as in flight.
                tracing::warn!(error = %e, "RADIUS answer not kept for retransmissions");
                app.radius_unanswered(&key).await;
            }
            let kind = match answer {
                RadiusAnswer::Accept { .. } => "accept",
                RadiusAnswer::Challenge { .. } => "challenge",
                RadiusAnswer::Reject => "reject",
            };
            metrics::counter!("twofold_radius_answers_total", "answer" => kind).increment(1);
            Some(reply)
        }
        Err(e) => {
            tracing::warn!(error = %e, "RADIUS request left unanswered: the store failed");
            app.radius_unanswered(&key).await;
            dropped("unavailable");
            None
        }
    }
}

/// Reads the request's credentials and asks the use case. What Twofold does not speak
/// (CHAP, EAP) and what cannot be read is refused like everything else.
async fn decide(
    app: &App,
    client: &RadiusClient,
    request: &Packet,
    from: SocketAddr,
) -> twofold_app::Result<RadiusAnswer> {
    let unsupported = request.count(attr::CHAP_PASSWORD) + request.count(attr::EAP_MESSAGE) > 0;
    let user_name = request.text(attr::USER_NAME);
    let password = request
        .first(attr::USER_PASSWORD)
        .and_then(|hidden| reveal_password(hidden, client.secret(), &request.authenticator))
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let (Some(user_name), Some(password), false) = (user_name, password.as_deref(), unsupported) else {
        return Ok(RadiusAnswer::Reject);
    };
    let request = RadiusRequest {
        user_name,
        password,
        state: request.first(attr::STATE),
        station: request.text(attr::CALLING_STATION_ID),
    };
    let ctx = RequestContext::new(Some(from.ip().to_string()), Some(&format!("radius:{}", client.name)));
    app.radius_access(client, &request, &ctx).await
}

/// The answer on the wire: Message-Authenticator first, the Response Authenticator, and
/// the request's Proxy-State copied back.
fn encode(answer: &RadiusAnswer, request: &Packet, secret: &[u8]) -> Vec<u8> {
    let proxy_state = request.attributes.iter().filter(|a| a.kind == PROXY_STATE).cloned();
    let (code, mut attributes) = match answer {
        RadiusAnswer::Accept { class, message } => (
            Code::AccessAccept,
            vec![Attribute::text(attr::REPLY_MESSAGE, message), Attribute::text(attr::CLASS, class)],
        ),
        RadiusAnswer::Challenge { state, message } => (
            Code::AccessChallenge,
            vec![Attribute::bytes(attr::STATE, state), Attribute::text(attr::REPLY_MESSAGE, message)],
        ),
        RadiusAnswer::Reject => (Code::AccessReject, Vec::new()),
    };
    attributes.extend(proxy_state);
    encode_reply(code, request, &attributes, secret)
}
