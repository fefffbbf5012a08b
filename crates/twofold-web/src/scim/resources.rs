//! `/Users` and `/Groups`: list, read, create, replace, patch, delete.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query as RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use twofold_app::domain::scim::Page;

use super::{Directory, Query, Scim, ScimBody, ScimResult, base_url, list_response};
use crate::AppState;
use crate::client::Client;
use twofold_app::tokens::TokenCaller;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route("/scim/v2/Users/.search", post(search_users))
        .route("/scim/v2/Groups/.search", post(search_groups))
        .route("/scim/v2/Users/{id}", get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .route("/scim/v2/Groups", get(list_groups).post(create_group))
        .route("/scim/v2/Groups/{id}", get(get_group).put(replace_group).patch(patch_group).delete(delete_group))
}

type Params = RawQuery<HashMap<String, String>>;

fn page(query: &Query) -> ScimResult<Page> {
    Ok(Page::of(query.number("startIndex")?, query.number("count")?))
}

/// 201 with the resource and its `Location`.
fn created(resource: serde_json::Value) -> Response {
    let location =
        resource.pointer("/meta/location").and_then(|l| l.as_str()).and_then(|l| HeaderValue::from_str(l).ok());
    let mut response = Scim(StatusCode::CREATED, resource).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn list_users(
    State(state): State<AppState>,
    Directory(caller): Directory,
    RawQuery(params): Params,
) -> ScimResult {
    users_matching(&state, &caller, Query::of(params)).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): the query in the body, out of URLs and logs.
async fn search_users(
    State(state): State<AppState>,
    Directory(caller): Directory,
    ScimBody(body): ScimBody,
) -> ScimResult {
    users_matching(&state, &caller, Query::of_search(&body)?).await
}

async fn search_groups(
    State(state): State<AppState>,
    Directory(caller): Directory,
    ScimBody(body): ScimBody,
) -> ScimResult {
    groups_matching(&state, &caller, Query::of_search(&body)?).await
}

async fn users_matching(state: &AppState, caller: &TokenCaller, query: Query) -> ScimResult {
    let found = state.app.scim_users(caller, query.get("filter"), page(&query)?, &base_url(state)).await?;
    Ok(list_response(found, &query))
}

async fn get_user(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Path(id): Path<String>,
    RawQuery(params): Params,
) -> ScimResult {
    let resource = state.app.scim_user(&caller, &id, &base_url(&state)).await?;
    Ok(Scim(StatusCode::OK, Query::of(params).project(resource)))
}

async fn create_user(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    Ok(created(state.app.scim_create_user(&caller, &body, &base_url(&state), &ctx).await?))
}

async fn replace_user(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    Ok(Scim(StatusCode::OK, state.app.scim_replace_user(&caller, &id, &body, &base_url(&state), &ctx).await?))
}

async fn patch_user(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    Ok(Scim(StatusCode::OK, state.app.scim_patch_user(&caller, &id, &body, &base_url(&state), &ctx).await?))
}

async fn delete_user(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> ScimResult<StatusCode> {
    state.app.scim_delete_user(&caller, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_groups(
    State(state): State<AppState>,
    Directory(caller): Directory,
    RawQuery(params): Params,
) -> ScimResult {
    groups_matching(&state, &caller, Query::of(params)).await
}

async fn groups_matching(state: &AppState, caller: &TokenCaller, query: Query) -> ScimResult {
    let found = state.app.scim_groups(caller, query.get("filter"), page(&query)?, &base_url(state)).await?;
    Ok(list_response(found, &query))
}

async fn get_group(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Path(id): Path<String>,
    RawQuery(params): Params,
) -> ScimResult {
    let resource = state.app.scim_group(&caller, &id, &base_url(&state)).await?;
    Ok(Scim(StatusCode::OK, Query::of(params).project(resource)))
}

async fn create_group(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    Ok(created(state.app.scim_create_group(&caller, &body, &base_url(&state), &ctx).await?))
}

async fn replace_group(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    Ok(Scim(StatusCode::OK, state.app.scim_replace_group(&caller, &id, &body, &base_url(&state), &ctx).await?))
}

async fn patch_group(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    Ok(Scim(StatusCode::OK, state.app.scim_patch_group(&caller, &id, &body, &base_url(&state), &ctx).await?))
}

async fn delete_group(
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> ScimResult<StatusCode> {
    state.app.scim_delete_group(&caller, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
