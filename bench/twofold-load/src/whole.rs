//! The whole sign-in as one person sees it: the password, then the code from the app, on
//! one connection, one sign-in at a time (no queueing behind other people's requests).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::client::{Call, Connection};
use crate::load::Bounds;
use crate::people::{PASSWORD, People};
use crate::stats::Recorder;

/// Signs `who` in one after another until they run out or `bounds` end; each latency is
/// from sending the password to the answer of the code.
pub async fn one_at_a_time(addr: SocketAddr, people: &People, who: &[usize], bounds: Bounds) -> (Recorder, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(bounds.seconds);
    let mut conn = Connection::new(addr);
    let mut rec = Recorder::default();
    for &person in who.iter().take(usize::try_from(bounds.max_requests).unwrap_or(usize::MAX)) {
        if Instant::now() >= deadline {
            break;
        }
        let from = Instant::now();
        match sign_in(&mut conn, people, person).await {
            Ok(()) => rec.ok(from.elapsed()),
            Err(e) => rec.transport_error(&format!("{e:#}")),
        }
    }
    (rec, started.elapsed())
}

async fn sign_in(conn: &mut Connection, people: &People, person: usize) -> Result<()> {
    let body = serde_json::json!({ "email": people.email(person), "password": PASSWORD }).to_string();
    let (status, answer, cookie) = conn.send_for_cookie(&Call::post_json("/api/v1/login", body)).await?;
    if status != 200 {
        bail!("password step answered {status}");
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    if answer["status"] != "second_factor_required" {
        bail!("password step answered {}", answer["status"]);
    }
    let csrf = answer["csrf_token"].as_str().context("no csrf_token")?.to_owned();
    let mut call = Call::post_json("/api/v1/login/totp", format!(r#"{{"code":"{}"}}"#, people.take_code(person)));
    call.cookie = Some(cookie.context("no session cookie")?);
    call.csrf = Some(csrf);
    let (status, _) = conn.send(&call).await?;
    if status != 200 {
        bail!("code step answered {status}");
    }
    Ok(())
}
