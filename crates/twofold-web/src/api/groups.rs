//! The account's groups: list, make, fill and delete them (Owner and Administrators).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use twofold_app::groups::Group;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::ErrorView;
use crate::AppState;
use crate::caller::{ApiCaller, GroupsWrite, PeopleRead};
use crate::client::Client;
use crate::error::ApiResult;
use crate::path_id::PathId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(delete)).routes(routes!(set_members))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    id: i64,
    name: String,
    created_at: i64,
    /// The members' person ids, ascending.
    user_ids: Vec<i64>,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        GroupView { id: g.id, name: g.name, created_at: g.created_at, user_ids: g.members }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupBody {
    /// 1–64 letters, digits, spaces, `-`, `_` or `.`.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MembersBody {
    /// Every member of the group afterwards (the account's people only).
    #[schema(max_items = 10000)]
    user_ids: Vec<i64>,
}

/// The account's groups with their members, by name.
#[utoipa::path(get, path = "/api/v1/groups", tag = "people", security(("session" = []), ("token" = ["people:read"])),
    responses((status = 200, body = Vec<GroupView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list(
    State(state): State<AppState>,
    caller: ApiCaller<PeopleRead>,
    Client(ctx): Client,
) -> ApiResult<Json<Vec<GroupView>>> {
    let groups = state.app.groups(&caller.user, &ctx).await?;
    Ok(Json(groups.into_iter().map(GroupView::from).collect()))
}

/// Makes a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "people", security(("session" = []), ("csrf" = []), ("token" = ["groups:write"])),
    request_body = GroupBody,
    responses(
        (status = 201, body = GroupView),
        (status = 403, body = ErrorView),
        (status = 409, description = "`name_taken`", body = ErrorView),
        (status = 422, description = "`invalid_name`", body = ErrorView),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: ApiCaller<GroupsWrite>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let group = state.app.create_group(&caller.user, &body.name, &ctx).await?;
    Ok((StatusCode::CREATED, Json(group.into())))
}

/// Deletes a group; its members stay.
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "people", security(("session" = []), ("csrf" = []), ("token" = ["groups:write"])),
    params(("id" = i64, Path, description = "The group's id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn delete(
    State(state): State<AppState>,
    caller: ApiCaller<GroupsWrite>,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.app.delete_group(&caller.user, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets who is in a group.
#[utoipa::path(put, path = "/api/v1/groups/{id}/members", tag = "people", security(("session" = []), ("csrf" = []), ("token" = ["groups:write"])),
    request_body = MembersBody, params(("id" = i64, Path, description = "The group's id")),
    responses(
        (status = 200, body = GroupView),
        (status = 403, body = ErrorView),
        (status = 404, body = ErrorView),
        (status = 422, description = "`unknown_person`: an id that is not one of the account's people", body = ErrorView),
    ))]
async fn set_members(
    State(state): State<AppState>,
    caller: ApiCaller<GroupsWrite>,
    Client(ctx): Client,
    PathId(id): PathId,
    ApiJson(body): ApiJson<MembersBody>,
) -> ApiResult<Json<GroupView>> {
    let group = state.app.set_group_members(&caller.user, id, &body.user_ids, &ctx).await?;
    Ok(Json(group.into()))
}
