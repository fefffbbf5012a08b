//! Forgotten and changed passwords as pages: "Forgot your password?" from the login page,
//! the page a reset link opens, and "Change password" from the profile.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::Error;

use super::form::{CsrfForm, PasswordForm, form_token};
use super::{Chrome, MessagePage, PageError, render};
use crate::AppState;
use crate::api::passwords::RESET_REQUESTED;
use crate::client::Client;
use crate::error::{classify, message};
use crate::session::{AnySession, PageUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/password-reset", get(show_request).post(submit_request))
        .route("/password-reset/{token}", get(show_reset).post(submit_reset))
        .route("/me/password", get(show_change).post(submit_change))
}

#[derive(Template)]
#[template(path = "password_forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    email: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

async fn show_request(State(state): State<AppState>, any: AnySession, jar: CookieJar) -> Response {
    let (jar, csrf) = form_token(&state.app, jar, any.0.as_ref());
    (jar, render(StatusCode::OK, &ForgotPage { chrome: Chrome::anonymous(csrf), email: String::new(), error: None }))
        .into_response()
}

async fn submit_request(
    State(state): State<AppState>,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> Response {
    match state.app.request_password_reset(&form.email, &ctx).await {
        Ok(()) => render(
            StatusCode::OK,
            &MessagePage {
                chrome: Chrome::anonymous(String::new()),
                heading: "Check your email".into(),
                text: RESET_REQUESTED.into(),
                next_href: "/login",
                next_label: "Back to sign-in",
            },
        ),
        Err(e @ Error::Invalid { .. }) => {
            let email = form.email.chars().take(254).collect();
            let page = ForgotPage { chrome: Chrome::anonymous(form.csrf_token), email, error: Some(message(&e)) };
            render(classify(&e).0, &page)
        }
        Err(e) => PageError::anonymous(e),
    }
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    chrome: Chrome,
    token: String,
    email: String,
    error: Option<String>,
}

async fn reset_page(state: &AppState, token: String, csrf: String, error: Option<String>) -> Result<ResetPage, Error> {
    let person = state.app.password_reset_link(&token).await?;
    Ok(ResetPage { chrome: Chrome::anonymous(csrf), token, email: person.email, error })
}

async fn show_reset(
    State(state): State<AppState>,
    any: AnySession,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    let (jar, csrf) = form_token(&state.app, jar, any.0.as_ref());
    match reset_page(&state, token, csrf, None).await {
        Ok(page) => (jar, render(StatusCode::OK, &page)).into_response(),
        Err(e) => PageError::anonymous(e),
    }
}

async fn submit_reset(
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    match state.app.reset_password(&token, &form.password, &ctx).await {
        Ok(_) => Redirect::to("/login?password_reset=1").into_response(),
        Err(e @ Error::Invalid { .. }) => {
            match reset_page(&state, token, form.csrf_token.clone(), Some(message(&e))).await {
                Ok(page) => render(classify(&e).0, &page),
                Err(e) => PageError::anonymous(e),
            }
        }
        Err(e) => PageError::anonymous(e),
    }
}

#[derive(Template)]
#[template(path = "password_change.html")]
struct ChangePage {
    chrome: Chrome,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn show_change(PageUser(session): PageUser) -> Response {
    render(StatusCode::OK, &ChangePage { chrome: Chrome::signed_in(&session), error: None })
}

async fn submit_change(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<ChangeForm>,
) -> Response {
    match state.app.change_password(&session, &form.current_password, &form.new_password, &ctx).await {
        Ok(()) => render(
            StatusCode::OK,
            &MessagePage {
                chrome: Chrome::signed_in(&session),
                heading: "Password changed".into(),
                text: "Your password is changed. Your other sessions and remembered browsers were signed out.".into(),
                next_href: "/home",
                next_label: "Back to Home",
            },
        ),
        Err(e @ (Error::Invalid { .. } | Error::InvalidCredentials)) => {
            let page = ChangePage { chrome: Chrome::signed_in(&session), error: Some(message(&e)) };
            render(classify(&e).0, &page)
        }
        Err(e) => PageError::signed_in(&session, e),
    }
}

crate::has_csrf!(EmailForm, ChangeForm);
