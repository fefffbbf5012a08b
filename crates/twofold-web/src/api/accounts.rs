//! Accounts made by API: a SaaS back end, holding an instance token with
//! `accounts:write`, creates a customer's account and its Owner at sign-up (SEC-50).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use twofold_app::setup::NewAccountByApi;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::ErrorView;
use crate::AppState;
use crate::caller::InstanceBearer;
use crate::client::Client;
use crate::error::ApiResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OwnerBody {
    #[schema(max_length = 254)]
    email: String,
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountBody {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    owner: OwnerBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    id: i64,
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    id: i64,
    email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccountView {
    account: AccountView,
    owner: OwnerView,
    /// The Owner's invitation link, shown once; the Owner is also mailed one.
    invitation_url: String,
}

/// Creates an account and its Owner, who is mailed an invitation to choose a password
/// (instance token with `accounts:write`; no session and no account token).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", security(("token" = [])),
    request_body = AccountBody,
    responses(
        (status = 201, body = CreatedAccountView),
        (status = 401, description = "`invalid_token`: no live instance token", body = ErrorView),
        (status = 403, description = "`insufficient_scope`", body = ErrorView),
        (status = 409, description = "`email_taken`", body = ErrorView),
        (status = 422, description = "`invalid_account_name`, `invalid_name` or `invalid_email`", body = ErrorView),
    ))]
async fn create(
    State(state): State<AppState>,
    InstanceBearer(caller): InstanceBearer,
    Client(ctx): Client,
    ApiJson(body): ApiJson<AccountBody>,
) -> ApiResult<(StatusCode, Json<CreatedAccountView>)> {
    let new = NewAccountByApi { name: &body.name, owner_email: &body.owner.email, owner_name: &body.owner.name };
    let made = state.app.create_account_by_api(&caller, &new, &ctx).await?;
    let view = CreatedAccountView {
        account: AccountView { id: made.account_id, name: made.account_name },
        owner: OwnerView { id: made.owner.id, email: made.owner.email },
        invitation_url: made.invitation_url,
    };
    Ok((StatusCode::CREATED, Json(view)))
}
