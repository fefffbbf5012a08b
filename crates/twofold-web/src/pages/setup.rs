//! The setup page (first account) and the invitation page (choose a password).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::Error;
use twofold_app::setup::NewAccount;

use super::form::{CsrfForm, PasswordForm, form_token};
use super::{Chrome, PageError, render};
use crate::client::Client;
use crate::error::{classify, message};
use crate::session::AnySession;
use crate::{AppState, cookies};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/setup/{token}", get(show_setup).post(submit_setup))
        .route("/invitations/{token}", get(show_invitation).post(submit_invitation))
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    account_name: String,
    owner_name: String,
    owner_email: String,
    error: Option<String>,
}

async fn show_setup(
    State(state): State<AppState>,
    any: AnySession,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    // 404 for a link that never worked, 410 once an account exists (SEC-54).
    if let Err(e) = state.app.check_setup_link(&token).await {
        return PageError::anonymous(e);
    }
    let (jar, csrf) = form_token(&state.app, jar, any.0.as_ref());
    let page = SetupPage {
        chrome: Chrome::anonymous(csrf),
        token,
        account_name: String::new(),
        owner_name: String::new(),
        owner_email: String::new(),
        error: None,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    csrf_token: String,
    account_name: String,
    owner_name: String,
    owner_email: String,
    password: String,
}

async fn submit_setup(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<SetupForm>,
) -> Response {
    let new = NewAccount {
        account_name: &form.account_name,
        owner_name: &form.owner_name,
        owner_email: &form.owner_email,
        password: &form.password,
    };
    match state.app.complete_setup(&token, &new, &ctx).await {
        Ok(session) => {
            let jar = jar.add(cookies::session(&state.app, session.token));
            (jar, Redirect::to("/home")).into_response()
        }
        Err(e @ (Error::LinkInvalid | Error::SetupLinkEnded)) => PageError::anonymous(e),
        Err(e) => {
            let page = SetupPage {
                chrome: Chrome::anonymous(form.csrf_token.clone()),
                token,
                account_name: clip(&form.account_name),
                owner_name: clip(&form.owner_name),
                owner_email: clip(&form.owner_email),
                error: Some(message(&e)),
            };
            render(classify(&e).0, &page)
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(254).collect()
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    chrome: Chrome,
    token: String,
    account_name: String,
    email: String,
    role_label: &'static str,
    error: Option<String>,
}

async fn invitation_page(
    state: &AppState,
    token: String,
    csrf: String,
    error: Option<String>,
) -> Result<InvitationPage, Error> {
    let person = state.app.invitation(&token).await?;
    let account_name = state.app.account_name(person.account_id).await?;
    Ok(InvitationPage {
        chrome: Chrome::anonymous(csrf),
        token,
        account_name,
        email: person.email,
        role_label: person.role.label(),
        error,
    })
}

async fn show_invitation(
    State(state): State<AppState>,
    any: AnySession,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    let (jar, csrf) = form_token(&state.app, jar, any.0.as_ref());
    match invitation_page(&state, token, csrf, None).await {
        Ok(page) => (jar, render(StatusCode::OK, &page)).into_response(),
        Err(e) => PageError::anonymous(e),
    }
}

async fn submit_invitation(
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    match state.app.accept_invitation(&token, &form.password, &ctx).await {
        Ok(_) => Redirect::to("/login?password_set=1").into_response(),
        Err(e @ Error::Invalid { .. }) => {
            match invitation_page(&state, token, form.csrf_token.clone(), Some(message(&e))).await {
                Ok(page) => render(classify(&e).0, &page),
                Err(e) => PageError::anonymous(e),
            }
        }
        Err(e) => PageError::anonymous(e),
    }
}

crate::has_csrf!(SetupForm);
