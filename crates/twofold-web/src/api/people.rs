//! The account's people: list, view, invite, change roles.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use twofold_app::domain::Role;
use twofold_app::people::NewPerson;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::{ErrorView, UserView};
use crate::AppState;
use crate::caller::{ApiCaller, PeopleRead, PeopleWrite};
use crate::client::Client;
use crate::error::{ApiError, ApiResult};
use crate::path_id::PathId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, invite))
        .routes(routes!(show, set_active, remove))
        .routes(routes!(change_role))
}

/// The people of the caller's account (Owner and Administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "people", security(("session" = []), ("token" = ["people:read"])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list(
    State(state): State<AppState>,
    caller: ApiCaller<PeopleRead>,
    Client(ctx): Client,
) -> ApiResult<Json<Vec<UserView>>> {
    let people = state.app.people(&caller.user, &ctx).await?;
    let view = |p: &twofold_app::people::PersonSummary| UserView {
        groups: Some(p.groups.clone()),
        ..UserView::new(&p.user, p.two_factor_since)
    };
    Ok(Json(people.iter().map(view).collect()))
}

/// A person's profile: your own, or anyone's in your account if you are its Owner or an Administrator.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "people", security(("session" = []), ("token" = ["people:read"])),
    params(("id" = i64, Path, description = "The person's id")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn show(
    State(state): State<AppState>,
    caller: ApiCaller<PeopleRead>,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<Json<UserView>> {
    let profile = state.app.profile(&caller.user, id, &ctx).await?;
    Ok(Json(UserView::new(&profile.person, profile.two_factor.enabled_at())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ActiveBody {
    /// `false` deactivates the person, `true` reactivates them.
    active: bool,
    /// The caller's own password, to confirm (sessions; a token needs none).
    #[schema(max_length = 1024)]
    password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmBody {
    /// The caller's own password, to confirm (sessions; a token needs none).
    #[schema(max_length = 1024)]
    password: Option<String>,
}

/// Deactivates or reactivates a person (the Owner for Administrators and Users, an
/// Administrator for Users; never the Owner). Deactivation ends their sessions,
/// remembered browsers and applications' tokens at once; reactivation restores sign-in.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "people", security(("session" = []), ("csrf" = []), ("token" = ["people:write"])),
    request_body = ActiveBody, params(("id" = i64, Path, description = "The person's id")),
    responses(
        (status = 200, body = UserView),
        (status = 401, description = "`invalid_credentials`: the caller's password did not match", body = ErrorView),
        (status = 403, description = "`owner_protected` or `forbidden`", body = ErrorView),
        (status = 404, description = "No such person in your account", body = ErrorView),
        (status = 409, description = "`already_deactivated` or `not_deactivated`", body = ErrorView),
    ))]
async fn set_active(
    State(state): State<AppState>,
    caller: ApiCaller<PeopleWrite>,
    Client(ctx): Client,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ActiveBody>,
) -> ApiResult<Json<UserView>> {
    let confirmation = caller.confirmation(body.password.as_deref())?;
    let person = state.app.set_person_active(&caller.user, id, body.active, confirmation, &ctx).await?;
    let status = state.app.two_factor_status(person.id).await?;
    Ok(Json(UserView::new(&person, status.enabled_at())))
}

/// Removes a person from the account (the same people who may deactivate them). Their
/// sessions, second factors and applications' tokens go with them; the audit log keeps
/// its events, naming them.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "people", security(("session" = []), ("csrf" = []), ("token" = ["people:write"])),
    request_body = ConfirmBody, params(("id" = i64, Path, description = "The person's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`invalid_credentials`: the caller's password did not match", body = ErrorView),
        (status = 403, description = "`owner_protected` or `forbidden`", body = ErrorView),
        (status = 404, description = "No such person in your account", body = ErrorView),
    ))]
async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller<PeopleWrite>,
    Client(ctx): Client,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> ApiResult<StatusCode> {
    let confirmation = caller.confirmation(body.password.as_deref())?;
    state.app.remove_person(&caller.user, id, confirmation, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteBody {
    #[schema(max_length = 254)]
    email: String,
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// `admin` or `user`.
    #[schema(pattern = "^(admin|user)$")]
    role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    user: UserView,
    /// Give this link to the person; it sets their password and works once, for 7 days.
    invitation_url: String,
}

/// Invites a person to the caller's account.
#[utoipa::path(post, path = "/api/v1/users", tag = "people", security(("session" = []), ("csrf" = []), ("token" = ["people:write"])), request_body = InviteBody,
    responses((status = 201, body = InvitationView), (status = 403, body = ErrorView), (status = 409, description = "`email_taken`", body = ErrorView), (status = 422, body = ErrorView)))]
async fn invite(
    State(state): State<AppState>,
    caller: ApiCaller<PeopleWrite>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<InviteBody>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let role = parse_role(&body.role)?;
    let new = NewPerson { email: &body.email, name: &body.name, role };
    let invitation = state.app.invite(&caller.user, &new, &ctx).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView { user: UserView::new(&invitation.user, None), invitation_url: invitation.url }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleBody {
    /// `admin` or `user`.
    role: String,
}

/// Promotes a User to Administrator or back (the Owner only).
#[utoipa::path(put, path = "/api/v1/users/{id}/role", tag = "people", security(("session" = []), ("csrf" = []), ("token" = ["people:write"])), request_body = RoleBody,
    params(("id" = i64, Path, description = "The person's id")),
    responses((status = 200, body = UserView), (status = 403, description = "`forbidden` or `owner_protected`", body = ErrorView), (status = 404, body = ErrorView)))]
async fn change_role(
    State(state): State<AppState>,
    caller: ApiCaller<PeopleWrite>,
    Client(ctx): Client,
    PathId(id): PathId,
    ApiJson(body): ApiJson<RoleBody>,
) -> ApiResult<Json<UserView>> {
    let role = parse_role(&body.role)?;
    let person = state.app.change_role(&caller.user, id, role, &ctx).await?;
    let since = state.app.two_factor_status(person.id).await?.enabled_at();
    Ok(Json(UserView::new(&person, since)))
}

fn parse_role(raw: &str) -> ApiResult<Role> {
    Role::parse(raw).ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_role", "The role must be \"admin\" or \"user\".")
    })
}
