//! API tokens (SEC-50): the Owner makes, lists and revokes the account's tokens. These
//! routes take a signed-in session only: a token never makes or sees tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use twofold_app::tokens::{ApiToken, NewApiToken};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::ErrorView;
use crate::AppState;
use crate::client::Client;
use crate::error::ApiResult;
use crate::path_id::PathId;
use crate::session::ApiUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    id: i64,
    name: String,
    /// `people:read`, `people:write`, `groups:write`, `audit:read`, `scim`, `webhooks`.
    scopes: Vec<&'static str>,
    created_by: i64,
    created_at: i64,
    expires_at: i64,
    last_used_at: Option<i64>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            scopes: t.scopes.iter().map(|s| s.as_str()).collect(),
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenView {
    /// Shown this once: keep it secret. Send it as `Authorization: Bearer tf_…`.
    token: String,
    #[serde(flatten)]
    details: TokenView,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenBody {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[schema(max_items = 6)]
    scopes: Vec<String>,
    /// 1–366 days; 90 when left out.
    expires_in_days: Option<i64>,
    /// The Owner's password, to confirm.
    #[schema(max_length = 1024)]
    password: String,
}

/// The account's API tokens, newest first (the Owner's; never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "apps", security(("session" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = state.app.api_tokens(&session.user, &ctx).await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

/// Makes an API token (the Owner, with their password); the token is shown once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "apps", security(("session" = []), ("csrf" = [])),
    request_body = TokenBody,
    responses(
        (status = 201, body = CreatedTokenView),
        (status = 401, description = "`invalid_credentials`: the password did not match", body = ErrorView),
        (status = 403, body = ErrorView),
        (status = 422, description = "`invalid_name`, `invalid_scope` or `invalid_expiry`", body = ErrorView),
    ))]
async fn create(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<(StatusCode, Json<CreatedTokenView>)> {
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    let new = NewApiToken { name: &body.name, scopes: &scopes, expires_in_days: body.expires_in_days };
    let created = state.app.create_api_token(&session.user, &new, &body.password, &ctx).await?;
    Ok((StatusCode::CREATED, Json(CreatedTokenView { token: created.raw, details: TokenView::from(&created.token) })))
}

/// Revokes a token: refused at its next request, on every instance.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "apps", security(("session" = []), ("csrf" = [])),
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked"), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn revoke(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.app.revoke_api_token(&session.user, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
