//! The account's OpenID Connect applications (the Owner's Apps tab, as JSON).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use twofold_app::domain::oidc::jws::Alg;
use twofold_app::oidc::clients::AppInfo;
use twofold_app::oidc::clients::{CreatedApp, NewApp};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::ErrorView;
use crate::AppState;
use crate::client::Client;
use crate::error::ApiResult;
use crate::session::ApiUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add)).routes(routes!(remove)).routes(routes!(rotate_secret))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppBody {
    #[schema(min_length = 1, max_length = 100, example = "Wiki")]
    name: String,
    /// Matched exactly; https, or http only to localhost.
    #[schema(min_items = 1, max_items = 10, example = json!(["https://wiki.acme.example/oidc/callback"]))]
    redirect_uris: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 10)]
    post_logout_redirect_uris: Vec<String>,
    /// No secret (a single-page or native app): PKCE is required.
    #[serde(default)]
    public: bool,
    /// People without 2FA are led through the wizard before the application gets a code.
    #[serde(default)]
    require_two_factor: bool,
    /// How the application's ID tokens are signed (OpenID Connect Dynamic Registration
    /// §2). Default `ES256`.
    #[serde(default)]
    id_token_signed_response_alg: IdTokenAlg,
}

/// The ID-token signature algorithms Twofold offers.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
pub enum IdTokenAlg {
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "RS256")]
    Rs256,
}

impl From<IdTokenAlg> for Alg {
    fn from(alg: IdTokenAlg) -> Alg {
        match alg {
            IdTokenAlg::Es256 => Alg::Es256,
            IdTokenAlg::Rs256 => Alg::Rs256,
        }
    }
}

impl From<Alg> for IdTokenAlg {
    fn from(alg: Alg) -> IdTokenAlg {
        match alg {
            Alg::Es256 => IdTokenAlg::Es256,
            Alg::Rs256 => IdTokenAlg::Rs256,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    client_id: String,
    name: String,
    public: bool,
    require_two_factor: bool,
    id_token_signed_response_alg: IdTokenAlg,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    created_at: i64,
    secret_rotated_at: Option<i64>,
}

impl From<AppInfo> for AppView {
    fn from(row: AppInfo) -> Self {
        let f = row.facts;
        AppView {
            client_id: f.client_id,
            name: f.name,
            public: f.public,
            require_two_factor: f.require_two_factor,
            id_token_signed_response_alg: f.id_token_alg.into(),
            redirect_uris: f.redirect_uris,
            post_logout_redirect_uris: f.post_logout_redirect_uris,
            created_at: row.created_at,
            secret_rotated_at: row.secret_rotated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAppView {
    client_id: String,
    /// Shown this once; only its hash is kept. Absent for a public application.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    /// The issuer to configure in the application (its discovery document is under it).
    issuer: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    client_secret: String,
}

fn created(issuer: &str, created: CreatedApp) -> CreatedAppView {
    CreatedAppView {
        client_id: created.client.client_id,
        client_secret: created.client_secret,
        issuer: issuer.to_owned(),
    }
}

/// The account's applications (the Owner only).
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", security(("session" = [])),
    responses(
        (status = 200, body = [AppView]),
        (status = 401, description = "`unauthenticated`", body = ErrorView),
        (status = 403, description = "`forbidden`: only the Account Owner manages applications", body = ErrorView),
    ))]
async fn list(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
) -> ApiResult<Json<Vec<AppView>>> {
    let apps = state.app.apps(&session.user, &ctx).await?;
    Ok(Json(apps.into_iter().map(AppView::from).collect()))
}

/// Registers an application for the account; the secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", security(("session" = []), ("csrf" = [])), request_body = NewAppBody,
    responses(
        (status = 201, body = CreatedAppView),
        (status = 401, description = "`unauthenticated`", body = ErrorView),
        (status = 403, description = "`forbidden`", body = ErrorView),
        (status = 422, description = "`invalid_app`: a name, or a redirect URI, that cannot be used", body = ErrorView),
    ))]
async fn add(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<NewAppBody>,
) -> ApiResult<(StatusCode, Json<CreatedAppView>)> {
    let new = NewApp {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        public: body.public,
        require_two_factor: body.require_two_factor,
        id_token_alg: body.id_token_signed_response_alg.into(),
    };
    let app = state.app.add_app(&session.user, &new, &ctx).await?;
    Ok((StatusCode::CREATED, Json(created(state.app.issuer(), app))))
}

/// Removes an application; its tokens stop working at once.
#[utoipa::path(delete, path = "/api/v1/apps/{client_id}", tag = "apps", security(("session" = []), ("csrf" = [])),
    params(("client_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`unauthenticated`", body = ErrorView),
        (status = 403, description = "`forbidden`", body = ErrorView),
        (status = 404, description = "`not_found`", body = ErrorView),
    ))]
async fn remove(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    state.app.remove_app(Some(&session.user), &client_id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for a confidential application; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/apps/{client_id}/secret", tag = "apps", security(("session" = []), ("csrf" = [])),
    params(("client_id" = String, Path)),
    responses(
        (status = 200, body = SecretView),
        (status = 401, description = "`unauthenticated`", body = ErrorView),
        (status = 403, description = "`forbidden`", body = ErrorView),
        (status = 404, description = "`not_found`", body = ErrorView),
        (status = 409, description = "`public_client`: a public application has no secret", body = ErrorView),
    ))]
async fn rotate_secret(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    Path(client_id): Path<String>,
) -> ApiResult<Json<SecretView>> {
    let client_secret = state.app.rotate_app_secret(&session.user, &client_id, &ctx).await?;
    Ok(Json(SecretView { client_secret }))
}
