//! Liveness, readiness and Prometheus metrics, and the request counter behind them.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics_text))
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Longest a readiness check waits for the database: under the one second a load
/// balancer's health check commonly allows, so that it sees "not ready", not a timeout.
const READY_WITHIN: Duration = Duration::from_millis(800);

/// The database answers: a load balancer may send traffic here.
async fn readyz(State(state): State<AppState>) -> Response {
    let why = match tokio::time::timeout(READY_WITHIN, state.app.store().ping()).await {
        Ok(Ok(())) => return Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms", READY_WITHIN.as_millis()),
    };
    tracing::warn!(error = %why, "readiness check failed");
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database_unreachable" }))).into_response()
}

/// Prometheus text; with `metrics_token` set, only for `Authorization: Bearer <token>`
/// (the counters tell an outsider how sign-ins and guesses go).
async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = state.web.metrics_token.as_deref() {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let matches = sent.len() == expected.len() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()));
        if !matches {
            let refusal = (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "metrics need a token\n");
            return refusal.into_response();
        }
    }
    state.metrics.render().into_response()
}

/// Counts requests and their latency by route pattern (never by raw path, which may hold
/// tokens) and status.
pub async fn count_request(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("twofold_http_requests_total", &labels).increment(1);
    metrics::histogram!("twofold_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}
