//! The Groups section of the Users tab: make a group, add and remove members, delete it.
//! Every form comes back to the Users tab.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;
use twofold_app::Error;

use super::PageError;
use super::admin::id_of;
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

async fn add_member(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Response {
    let result = match (id_of(&id), id_of(&form.user_id)) {
        (Ok(group), Ok(person)) => state.app.change_group_member(&user.0.user, group, person, true, &ctx).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
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
    let result = match (id_of(&id), id_of(&person)) {
        (Ok(group), Ok(person)) => state.app.change_group_member(&user.0.user, group, person, false, &ctx).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    back(&user, result)
}
