//! The second-factor pages: the code after the password, the enrolment wizard (a pop-up
//! over the profile), turning 2FA off, and revoking remembered browsers.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::Error;
use twofold_app::two_factor::Enrolment;

use super::form::{CsrfForm, HasCsrf};
use super::{Chrome, PageError, render};
use crate::client::Client;
use crate::error::{classify, message};
use crate::session::{PagePending, PageUser};
use crate::{AppState, cookies};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/code", get(show_code).post(submit_code))
        .route("/me/two-factor/enable", get(wizard_intro))
        .route("/me/two-factor/enable/app", get(wizard_app))
        .route("/me/two-factor/enable/key", get(wizard_key).post(wizard_new_key))
        .route("/me/two-factor/enable/code", get(wizard_code).post(wizard_confirm))
        .route("/me/two-factor/disable", get(show_disable).post(submit_disable))
        .route("/me/devices/{id}/revoke", post(revoke_device))
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
}

impl HasCsrf for CodeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
}

impl HasCsrf for PasswordForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Debug, Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf_token: String,
}

impl HasCsrf for PlainForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct CodePage {
    chrome: Chrome,
    error: Option<String>,
}

async fn show_code(PagePending(pending): PagePending) -> Response {
    let page = CodePage {
        chrome: Chrome::anonymous(pending.csrf_token.clone()),
        error: None,
    };
    render(StatusCode::OK, &page)
}

async fn submit_code(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PagePending(pending): PagePending,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.submit_totp(&pending, &form.code, &ctx).await {
        Ok(done) => {
            let mut jar = jar.add(cookies::session(&state.app, done.session.token));
            if let Some(device) = done.device_token {
                jar = jar.add(cookies::device(&state.app, device));
            }
            (jar, Redirect::to("/home")).into_response()
        }
        Err(Error::Unauthenticated) => Redirect::to("/login").into_response(),
        Err(e) => {
            let page = CodePage {
                chrome: Chrome::anonymous(pending.csrf_token.clone()),
                error: Some(message(&e)),
            };
            render(classify(&e).0, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "wizard.html")]
struct WizardPage {
    chrome: Chrome,
    user_id: i64,
    step: u8,
    enrolment: Option<Enrolment>,
    error: Option<String>,
}

fn wizard(user: &PageUser, step: u8, enrolment: Option<Enrolment>, error: Option<String>) -> WizardPage {
    WizardPage {
        chrome: Chrome::signed_in(&user.0),
        user_id: user.0.user.id,
        step,
        enrolment,
        error,
    }
}

/// With 2FA already on there is nothing to enrol: back to the profile.
async fn unless_enabled(state: &AppState, user: &PageUser) -> Result<(), Response> {
    match state.app.two_factor_status(user.0.user.id).await {
        Ok(status) if status.enabled_at.is_some() => {
            Err(Redirect::to(&format!("/users/{}", user.0.user.id)).into_response())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(PageError::new(e, Chrome::signed_in(&user.0)).into_response()),
    }
}

async fn wizard_intro(State(state): State<AppState>, user: PageUser) -> Response {
    if let Err(r) = unless_enabled(&state, &user).await {
        return r;
    }
    render(StatusCode::OK, &wizard(&user, 0, None, None))
}

async fn wizard_app(State(state): State<AppState>, user: PageUser) -> Response {
    if let Err(r) = unless_enabled(&state, &user).await {
        return r;
    }
    render(StatusCode::OK, &wizard(&user, 1, None, None))
}

/// Step 1's Next: a new key every time, so that leaving and starting again never reuses one.
async fn wizard_new_key(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    match state.app.start_enrolment(&user.0.user, &ctx).await {
        Ok(_) => Redirect::to("/me/two-factor/enable/key").into_response(),
        Err(Error::Conflict {
            code: "already_enabled",
            ..
        }) => Redirect::to(&format!("/users/{}", user.0.user.id)).into_response(),
        Err(e) => PageError::new(e, Chrome::signed_in(&user.0)).into_response(),
    }
}

async fn wizard_key(State(state): State<AppState>, user: PageUser) -> Response {
    match state.app.pending_enrolment(&user.0.user).await {
        Ok(Some(enrolment)) => render(StatusCode::OK, &wizard(&user, 2, Some(enrolment), None)),
        Ok(None) => Redirect::to("/me/two-factor/enable/app").into_response(),
        Err(e) => PageError::new(e, Chrome::signed_in(&user.0)).into_response(),
    }
}

async fn wizard_code(State(state): State<AppState>, user: PageUser) -> Response {
    match state.app.pending_enrolment(&user.0.user).await {
        Ok(Some(_)) => render(StatusCode::OK, &wizard(&user, 3, None, None)),
        Ok(None) => Redirect::to("/me/two-factor/enable/app").into_response(),
        Err(e) => PageError::new(e, Chrome::signed_in(&user.0)).into_response(),
    }
}

async fn wizard_confirm(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.confirm_enrolment(&user.0.user, &form.code, &ctx).await {
        Ok(()) => Redirect::to(&format!("/users/{}?two_factor=on", user.0.user.id)).into_response(),
        Err(e @ Error::Conflict { .. }) => PageError::new(e, Chrome::signed_in(&user.0)).into_response(),
        Err(e) => render(classify(&e).0, &wizard(&user, 3, None, Some(message(&e)))),
    }
}

#[derive(Template)]
#[template(path = "disable_two_factor.html")]
struct DisablePage {
    chrome: Chrome,
    user_id: i64,
    error: Option<String>,
}

async fn show_disable(user: PageUser) -> Response {
    render(
        StatusCode::OK,
        &DisablePage {
            chrome: Chrome::signed_in(&user.0),
            user_id: user.0.user.id,
            error: None,
        },
    )
}

async fn submit_disable(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    match state
        .app
        .disable_own_two_factor(&user.0.user, &form.password, &ctx)
        .await
    {
        Ok(()) => Redirect::to(&format!("/users/{}?two_factor=off", user.0.user.id)).into_response(),
        Err(e) => {
            let page = DisablePage {
                chrome: Chrome::signed_in(&user.0),
                user_id: user.0.user.id,
                error: Some(message(&e)),
            };
            render(classify(&e).0, &page)
        }
    }
}

async fn revoke_device(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
        return PageError::new(
            Error::NotFound("No such remembered device."),
            Chrome::signed_in(&user.0),
        )
        .into_response();
    };
    match state.app.revoke_device(&user.0.user, id, &ctx).await {
        Ok(()) => Redirect::to(&format!("/users/{}?device_revoked=1", user.0.user.id)).into_response(),
        Err(e) => PageError::new(e, Chrome::signed_in(&user.0)).into_response(),
    }
}
