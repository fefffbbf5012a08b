//! The JSON API under `/api/v1`, documented by OpenAPI generated from the handlers
//! themselves (utoipa), so that the document cannot drift from the routes.

mod accounts;
mod admin;
mod apps;
mod audit;
mod auth;
mod authz;
mod body;
mod document;
mod groups;
mod overview;
pub mod passwords;
mod people;
mod recovery;
mod recovery_codes;
mod security_keys;
mod setup;
mod support;
mod tokens;
mod two_factor;
pub mod views;
mod webhooks;

use axum::Json;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub use body::ApiJson;

#[derive(OpenApi)]
#[openapi(
    info(title = "Twofold", description = "Two-factor authentication for multi-user SaaS accounts. Errors are `{\"error\": {\"code\", \"message\"}}`; unsafe requests made with the session cookie carry `X-CSRF-Token`."),
    modifiers(&SecurityAddon)
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("twofold_session"))),
        );
        components
            .add_security_scheme("csrf", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-CSRF-Token"))));
        // API tokens (`tf_…`, an account's or the instance's), in the Authorization header
        // only (SEC-50).
        components.add_security_scheme("token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(accounts::router())
        .merge(apps::router())
        .merge(authz::router())
        .merge(people::router())
        .merge(groups::router())
        .merge(tokens::router())
        .merge(passwords::router())
        .merge(setup::router())
        .merge(audit::router())
        .merge(two_factor::router())
        .merge(admin::router())
        .merge(overview::router())
        .merge(recovery::router())
        .merge(recovery_codes::router())
        .merge(security_keys::router())
        .merge(support::router())
        .merge(webhooks::router())
        .route("/api/openapi.json", get(serve_document))
}

/// The OpenAPI document of every API route, with the statuses every operation of its kind
/// can answer.
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(router().split_for_parts().1).unwrap_or_default();
    document::complete(&mut doc);
    doc
}

async fn serve_document() -> Json<serde_json::Value> {
    Json(openapi_document())
}
