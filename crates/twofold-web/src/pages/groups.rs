//! The Groups section of the Users tab: make a group, add and remove members, delete it.
//! Every form comes back to the Users tab.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;
use twofold_app::Error;
use twofold_app::domain::permissions::Denied;

use super::PageError;
use super::form::{CsrfForm, PlainForm};
use crate::AppState;
use crate::client::Client;
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/groups", post(create))
        .route("/groups/{id}/delete", post(delete))
        .route("/groups/{id}/members", post(add_member))
        .route("/groups/{id}/members/{user_id}/remove", post(remove_member))
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    user_id: String,
}

crate::has_csrf!(NameForm, MemberForm);

fn id_of(raw: &str) -> Result<i64, Error> {
    crate::path_id::parse(raw).ok_or(Error::Denied(Denied::NotFound))
}

fn back(user: &PageUser, result: Result<(), Error>) -> Response {
    match result {
        Ok(()) => Redirect::to("/users#groups-title").into_response(),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn create(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Response {
    let result = state.app.create_group(&user.0.user, &form.name, &ctx).await.map(drop);
    back(&user, result)
}

async fn delete(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(id) => state.app.delete_group(&user.0.user, id, &ctx).await,
        Err(e) => Err(e),
    };
    back(&user, result)
}

/// The members the group has now, with `change` applied.
async fn change_members(
    state: &AppState,
    user: &PageUser,
    ctx: &twofold_app::RequestContext,
    group: &str,
    change: impl FnOnce(&mut Vec<i64>),
) -> Result<(), Error> {
    let id = id_of(group)?;
    let groups = state.app.groups(&user.0.user, ctx).await?;
    let mut members = groups.into_iter().find(|g| g.id == id).ok_or(Error::NotFound("No such group."))?.members;
    change(&mut members);
    state.app.set_group_members(&user.0.user, id, &members, ctx).await.map(drop)
}

async fn add_member(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Response {
    let result = match id_of(&form.user_id) {
        Ok(person) => change_members(&state, &user, &ctx, &id, |m| m.push(person)).await,
        Err(e) => Err(e),
    };
    back(&user, result)
}

async fn remove_member(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path((id, person)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let result = match id_of(&person) {
        Ok(person) => change_members(&state, &user, &ctx, &id, |m| m.retain(|x| *x != person)).await,
        Err(e) => Err(e),
    };
    back(&user, result)
}
