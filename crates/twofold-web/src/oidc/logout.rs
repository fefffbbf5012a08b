//! RP-initiated logout's HTTP face: GET from the application (asks unless its hint names
//! this very session), POST from the confirmation form.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::oidc::logout::{LogoutAnswer, LogoutParams};

use crate::client::Client;
use crate::pages::form::CsrfForm;
use crate::pages::return_to::{leaving, linking};
use crate::pages::{Chrome, PageError, render};
use crate::session::AnySession;
use crate::{AppState, cookies};

#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct AskPage {
    chrome: Chrome,
    app_name: Option<String>,
    client_id: String,
    post_logout_redirect_uri: String,
    state: String,
}

pub async fn ask(
    State(state): State<AppState>,
    AnySession(session): AnySession,
    Client(ctx): Client,
    jar: CookieJar,
    query: Result<Query<LogoutParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else { return refused("The sign-out request could not be read.") };
    let answer = state.app.end_session(&params, session.as_ref(), false, &ctx).await;
    respond(&state, answer, &params, session.as_ref(), jar)
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

crate::has_csrf!(ConfirmForm);

pub async fn confirm(
    State(state): State<AppState>,
    AnySession(session): AnySession,
    Client(ctx): Client,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Response {
    let params = LogoutParams {
        id_token_hint: None,
        client_id: form.client_id,
        post_logout_redirect_uri: form.post_logout_redirect_uri,
        state: form.state,
    };
    let answer = state.app.end_session(&params, session.as_ref(), true, &ctx).await;
    respond(&state, answer, &params, session.as_ref(), jar)
}

fn respond(
    state: &AppState,
    answer: twofold_app::Result<LogoutAnswer>,
    params: &LogoutParams,
    session: Option<&twofold_app::sign_in::CurrentSession>,
    jar: CookieJar,
) -> Response {
    match answer {
        Ok(LogoutAnswer::Done { then, automatic }) => {
            let jar = jar.add(cookies::session_removal(&state.app));
            // A page that moves on, not a redirect: the confirmation is a form, and the
            // application's address is not in the CSP's form-action.
            let page = match then {
                Some(url) if automatic => leaving("Signed out", &url),
                Some(url) => linking("You are signed out", &url),
                None => signed_out(),
            };
            (jar, page).into_response()
        }
        Ok(LogoutAnswer::Ask { app_name, client_id }) => {
            let Some(current) = session else { return signed_out() };
            let page = AskPage {
                chrome: Chrome::signed_in(current),
                app_name,
                client_id: client_id.unwrap_or_default(),
                post_logout_redirect_uri: params.post_logout_redirect_uri.clone().unwrap_or_default(),
                state: params.state.clone().unwrap_or_default(),
            };
            render(StatusCode::OK, &page)
        }
        Ok(LogoutAnswer::Refused(why)) => refused(why),
        Err(e) => PageError::anonymous(e),
    }
}

fn signed_out() -> Response {
    let text = "You are signed out of Twofold.".to_owned();
    super::message(StatusCode::OK, "Signed out", text, ("/login", "Sign in again"))
}

fn refused(text: &str) -> Response {
    let heading = "Sign-out could not be completed";
    super::message(StatusCode::BAD_REQUEST, heading, text.to_owned(), ("/", "Go to Twofold"))
}
