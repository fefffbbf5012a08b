//! The one-time links: first-account setup and invitations.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use twofold_app::setup::NewAccount;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::auth::signed_in_response;
use super::views::{ErrorView, PasswordBody, SignInView, UserView};
use crate::AppState;
use crate::client::Client;
use crate::error::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(setup)).routes(routes!(accept_invitation))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetupBody {
    account_name: String,
    owner_name: String,
    owner_email: String,
    password: String,
}

/// Creates the first account and its Owner with the setup link printed at first start, and signs the Owner in.
#[utoipa::path(post, path = "/api/v1/setup/{token}", tag = "setup", request_body = SetupBody,
    params(("token" = String, Path, description = "The token of the setup link")),
    responses((status = 200, body = SignInView), (status = 404, description = "`link_invalid`", body = ErrorView), (status = 410, description = "`link_expired`: an account exists, so the setup link has ended", body = ErrorView), (status = 422, body = ErrorView)))]
async fn setup(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<SetupBody>,
) -> ApiResult<Response> {
    let new = NewAccount {
        account_name: &body.account_name,
        owner_name: &body.owner_name,
        owner_email: &body.owner_email,
        password: &body.password,
    };
    let session = state.app.complete_setup(&token, &new, &ctx).await?;
    Ok(signed_in_response(&state, jar, session))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedView {
    user: UserView,
}

/// Sets the invited person's password; they then sign in as usual.
#[utoipa::path(post, path = "/api/v1/invitations/{token}", tag = "setup", request_body = PasswordBody,
    params(("token" = String, Path, description = "The token of the invitation link")),
    responses((status = 200, body = AcceptedView), (status = 404, description = "`link_invalid`", body = ErrorView), (status = 422, description = "`weak_password`", body = ErrorView)))]
async fn accept_invitation(
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Json<AcceptedView>> {
    let user = state.app.accept_invitation(&token, &body.password, &ctx).await?;
    Ok(Json(AcceptedView { user: UserView::new(&user, None) }))
}
