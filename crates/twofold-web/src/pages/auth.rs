//! The sign-in page and signing out.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::Error;
use twofold_app::sign_in::{NextStep, PasswordAttempt};

use super::form::{CsrfForm, form_token};
use super::{Chrome, render};
use crate::client::Client;
use crate::error::message;
use crate::session::{AnySession, PageUser};
use crate::{AppState, cookies};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/login", get(show_login).post(submit_login))
        .route("/logout", post(logout))
}

async fn root(session: Option<PageUser>) -> Redirect {
    if session.is_some() { Redirect::to("/home") } else { Redirect::to("/login") }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    remember_device: bool,
    error: Option<String>,
    notice: Option<String>,
    /// The application this sign-in is for (an OpenID Connect request waits for it).
    app_name: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    signed_out: Option<String>,
    #[serde(default)]
    password_set: Option<String>,
    #[serde(default)]
    password_reset: Option<String>,
    /// Where a protected application wants the person back (forward auth).
    #[serde(default)]
    rd: Option<String>,
    /// Sign in again although signed in (an application asked for a fresh sign-in).
    #[serde(default)]
    fresh: Option<String>,
}

async fn show_login(
    State(state): State<AppState>,
    session: Option<PageUser>,
    any: AnySession,
    jar: CookieJar,
    query: Result<axum::extract::Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    if session.is_some() && q.fresh.is_none() {
        // Signed in already: straight back to a protected application that sent them here.
        let to = q.rd.as_deref().and_then(|rd| state.app.return_url(rd)).unwrap_or("/home");
        return Redirect::to(to).into_response();
    }
    let jar = super::return_to::remember(&state.app, jar, q.rd.as_deref());
    let app_name = match q.rd.as_deref() {
        Some(rd) => state.app.app_signing_in_to(rd).await,
        None => None,
    };
    let notice = if q.signed_out.is_some() {
        Some("You are signed out.".to_string())
    } else if q.password_set.is_some() {
        Some("Your password is set. Sign in with it now.".to_string())
    } else if q.password_reset.is_some() {
        Some("Your password is changed and every session was signed out. Sign in with it now; your code is still asked for.".to_string())
    } else {
        None
    };
    let (jar, token) = form_token(&state.app, jar, any.0.as_ref());
    let page = LoginPage {
        chrome: Chrome::anonymous(token),
        email: String::new(),
        remember_device: false,
        error: None,
        notice,
        app_name,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    email: String,
    password: String,
    #[serde(default)]
    remember_device: Option<String>,
}

async fn submit_login(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    AnySession(previous): AnySession,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Response {
    let remember_device = form.remember_device.is_some();
    let (device, known) = cookies::password_step_cookies(&state.app, &jar);
    let attempt = PasswordAttempt {
        email: &form.email,
        password: &form.password,
        remember_device,
        device_token: device.as_deref(),
        known_browser: known.as_deref(),
        previous: previous.as_ref(),
    };
    match state.app.sign_in_with_password(&attempt, &ctx).await {
        Ok(new) => {
            let next = match new.next {
                NextStep::SecondFactor => "/login/code",
                NextStep::SetUpTwoFactor => "/me/two-factor/enable",
                NextStep::Continue => "/continue",
            };
            let jar = cookies::add_password_step_cookies(&state.app, jar, &new)
                .add(cookies::session(&state.app, new.token))
                .remove(cookies::removal(&state.app, cookies::form_token_name(&state.app)));
            (jar, Redirect::to(next)).into_response()
        }
        Err(e) => {
            let status = crate::error::classify(&e).0;
            let app_name = match super::return_to::kept(&state.app, &jar) {
                Some(rd) => state.app.app_signing_in_to(&rd).await,
                None => None,
            };
            let page = LoginPage {
                chrome: Chrome::anonymous(form.csrf_token.clone()),
                email: form.email.chars().take(254).collect(),
                remember_device,
                error: Some(message(&e)),
                notice: None,
                app_name,
            };
            if matches!(e, Error::Internal(_) | Error::Unavailable) {
                tracing::warn!("sign-in page could not complete");
            }
            render(status, &page)
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    AnySession(session): AnySession,
    CsrfForm(form): CsrfForm<LogoutForm>,
) -> Response {
    if let Some(current) = session
        && let Err(e) = state.app.sign_out(&current, &ctx).await
    {
        return super::PageError::signed_in(&current, e);
    }
    let jar = super::return_to::forget(&state.app, jar.add(cookies::session_removal(&state.app)));
    // Signed out from a protected application: back to it (it will ask for sign-in again).
    let to = form.rd.as_deref().and_then(|rd| state.app.return_url(rd)).unwrap_or("/login?signed_out=1");
    (jar, Redirect::to(to)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    rd: Option<String>,
}

crate::has_csrf!(LoginForm, LogoutForm);
