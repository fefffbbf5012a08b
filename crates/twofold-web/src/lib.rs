//! Twofold's HTTP face: server-rendered pages and their JSON twins under `/api/v1`, both
//! thin over `twofold-app`. One router, one error type per face, one session extractor.

mod api;
mod caller;
mod client;
mod cookies;
mod csv;
mod error;
mod health;
mod oidc;
mod operator;
pub(crate) mod pages;
mod path_id;
mod scim;
use twofold_domain::percent;
mod security;
mod session;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::timeout::TimeoutLayer;
use twofold_app::App;

pub use api::openapi_document;

/// Largest request body accepted anywhere: every form and JSON body here is small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Settings of the HTTP face.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Take the client address from the last `X-Forwarded-For` hop (behind a proxy you run).
    pub trust_forwarded_for: bool,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>` (SEC-54).
    pub metrics_token: Option<String>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub web: Arc<WebConfig>,
    metrics: PrometheusHandle,
    /// Computed once from the configuration (the protected hosts are in it).
    csp: axum::http::HeaderValue,
}

impl AppState {
    pub fn new(app: App, web: WebConfig) -> Self {
        let csp = security::content_security_policy(&app.config().forward_auth.hosts());
        Self { app, web: Arc::new(web), metrics: metrics_handle(), csp }
    }
}

/// One Prometheus recorder per process, however many routers (tests build many).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (by an embedding program); then
            // this handle renders an empty page rather than failing start-up.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The whole application: pages, API, health, with the security layers around them.
pub fn router(state: AppState) -> Router {
    let (api, _doc) = api::router().split_for_parts();
    Router::new()
        .merge(oidc::router())
        .merge(scim::router())
        .merge(pages::router())
        .merge(api)
        .merge(health::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::load))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::check_origin))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::headers))
        .layer(axum::middleware::from_fn(health::count_request))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .with_state(state)
}
