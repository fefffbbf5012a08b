//! `/Users` and `/Groups`: list, read, create, replace, patch, delete. One handler per
//! operation, told which kind of resource by its route.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query as RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use twofold_app::RequestContext;
use twofold_app::domain::scim::Page;
use twofold_app::tokens::TokenCaller;

use super::{Directory, Query, Scim, ScimBody, ScimResult, base_url, list_response};
use crate::AppState;
use crate::client::Client;

/// Which resources a route serves.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Users,
    Groups,
}

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for kind in [Kind::Users, Kind::Groups] {
        let at = match kind {
            Kind::Users => "/scim/v2/Users",
            Kind::Groups => "/scim/v2/Groups",
        };
        router = router
            .route(at, get(move |s, d, q| list(kind, s, d, q)).post(move |s, d, c, b| create(kind, s, d, c, b)))
            .route(&format!("{at}/.search"), post(move |s, d, b| search(kind, s, d, b)))
            .route(
                &format!("{at}/{{id}}"),
                get(move |s, d, p, q| read(kind, s, d, p, q))
                    .put(move |s, d, c, p, b| replace(kind, s, d, c, p, b))
                    .patch(move |s, d, c, p, b| change(kind, s, d, c, p, b))
                    .delete(move |s, d, c, p| delete(kind, s, d, c, p)),
            );
    }
    router
}

type Params = RawQuery<HashMap<String, String>>;

/// 201 with the resource and its `Location`.
fn created(resource: Value) -> Response {
    let location =
        resource.pointer("/meta/location").and_then(|l| l.as_str()).and_then(|l| HeaderValue::from_str(l).ok());
    let mut response = Scim(StatusCode::CREATED, resource).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn matching(kind: Kind, state: &AppState, caller: &TokenCaller, query: Query) -> ScimResult {
    let page = Page::of(query.number("startIndex")?, query.number("count")?);
    let (filter, base) = (query.get("filter"), base_url(state));
    let found = match kind {
        Kind::Users => state.app.scim_users(caller, filter, page, &base).await?,
        Kind::Groups => state.app.scim_groups(caller, filter, page, &base).await?,
    };
    Ok(list_response(found, &query))
}

async fn list(
    kind: Kind,
    State(state): State<AppState>,
    Directory(caller): Directory,
    RawQuery(p): Params,
) -> ScimResult {
    matching(kind, &state, &caller, Query::of(p)).await
}

/// `POST /.search` (RFC 7644 §3.4.3): the query in the body, out of URLs and logs.
async fn search(
    kind: Kind,
    State(state): State<AppState>,
    Directory(caller): Directory,
    ScimBody(b): ScimBody,
) -> ScimResult {
    matching(kind, &state, &caller, Query::of_search(&b)?).await
}

async fn read(
    kind: Kind,
    State(state): State<AppState>,
    Directory(caller): Directory,
    Path(id): Path<String>,
    RawQuery(params): Params,
) -> ScimResult {
    let base = base_url(&state);
    let resource = match kind {
        Kind::Users => state.app.scim_user(&caller, &id, &base).await?,
        Kind::Groups => state.app.scim_group(&caller, &id, &base).await?,
    };
    Ok(Scim(StatusCode::OK, Query::of(params).project(resource)))
}

async fn create(
    kind: Kind,
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    ScimBody(body): ScimBody,
) -> ScimResult<Response> {
    let base = base_url(&state);
    let resource = match kind {
        Kind::Users => state.app.scim_create_user(&caller, &body, &base, &ctx).await?,
        Kind::Groups => state.app.scim_create_group(&caller, &body, &base, &ctx).await?,
    };
    Ok(created(resource))
}

/// PUT (`whole`) or PATCH of one resource.
async fn write(
    kind: Kind,
    whole: bool,
    state: &AppState,
    caller: &TokenCaller,
    ctx: &RequestContext,
    id: &str,
    body: &Value,
) -> ScimResult {
    let base = base_url(state);
    let app = &state.app;
    let resource = match (kind, whole) {
        (Kind::Users, true) => app.scim_replace_user(caller, id, body, &base, ctx).await?,
        (Kind::Users, false) => app.scim_patch_user(caller, id, body, &base, ctx).await?,
        (Kind::Groups, true) => app.scim_replace_group(caller, id, body, &base, ctx).await?,
        (Kind::Groups, false) => app.scim_patch_group(caller, id, body, &base, ctx).await?,
    };
    Ok(Scim(StatusCode::OK, resource))
}

async fn replace(
    kind: Kind,
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    write(kind, true, &state, &caller, &ctx, &id, &body).await
}

async fn change(
    kind: Kind,
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    write(kind, false, &state, &caller, &ctx, &id, &body).await
}

async fn delete(
    kind: Kind,
    State(state): State<AppState>,
    Directory(caller): Directory,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> ScimResult<StatusCode> {
    match kind {
        Kind::Users => state.app.scim_delete_user(&caller, &id, &ctx).await?,
        Kind::Groups => state.app.scim_delete_group(&caller, &id, &ctx).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}
