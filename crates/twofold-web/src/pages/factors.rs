//! Pages of the factors beyond the app: recovery codes (the second step with one, a new
//! set, the one-time display) and security keys (removal; registering and signing in are
//! the browser's ceremonies, driven by `static/webauthn.js` over the JSON API).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use twofold_app::Error;
use twofold_app::sign_in::{CurrentSession, PendingSignIn};

use super::admin::ConfirmPage;
use super::form::{CodeForm, CsrfForm, PasswordForm};
use super::{Chrome, PageError, render};
use crate::AppState;
use crate::client::Client;
use crate::error::{classify, message};
use crate::session::{PagePending, PageUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/recovery-code", get(show_recovery_code).post(submit_recovery_code))
        .route("/me/recovery-codes", get(show_regenerate).post(submit_regenerate))
        .route("/me/security-keys/{id}/remove", get(show_remove_key).post(submit_remove_key))
}

#[derive(Template)]
#[template(path = "recovery_code.html")]
struct RecoveryCodePage {
    chrome: Chrome,
    error: Option<String>,
}

fn recovery_code_page(pending: &PendingSignIn, status: StatusCode, error: Option<String>) -> Response {
    render(status, &RecoveryCodePage { chrome: Chrome::anonymous(pending.csrf_token.clone()), error })
}

async fn show_recovery_code(PagePending(pending): PagePending) -> Response {
    recovery_code_page(&pending, StatusCode::OK, None)
}

async fn submit_recovery_code(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PagePending(pending): PagePending,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.submit_recovery_code(&pending, &form.code, &ctx).await {
        Ok(done) => super::two_factor::signed_in_redirect(&state, jar, done),
        Err(Error::Unauthenticated) => Redirect::to("/login").into_response(),
        Err(e) => recovery_code_page(&pending, classify(&e).0, Some(message(&e))),
    }
}

/// The one screen that ever shows a set of codes.
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(super) struct RecoveryCodesPage {
    pub chrome: Chrome,
    pub codes: Vec<String>,
    /// The codes as a text file, for the Download link (a `data:` URL).
    pub download: String,
}

impl RecoveryCodesPage {
    pub fn new(session: &CurrentSession, codes: Vec<String>) -> Self {
        let text = format!("{} recovery codes for {}\n\n{}\n", "Twofold", session.user.email, codes.join("\n"));
        let download = format!("data:text/plain;charset=utf-8,{}", crate::percent::encode(&text));
        RecoveryCodesPage { chrome: Chrome::signed_in(session), codes, download }
    }
}

fn regenerate_page(session: &CurrentSession, status: StatusCode, error: Option<String>) -> Response {
    let page = ConfirmPage {
        chrome: Chrome::signed_in(session),
        title: "New recovery codes",
        explanation: "Make ten new recovery codes. The codes you have now stop working at once.".into(),
        action: "/me/recovery-codes".into(),
        button: "Make new codes",
        back: format!("/users/{}", session.user.id),
        error,
    };
    render(status, &page)
}

async fn show_regenerate(PageUser(session): PageUser) -> Response {
    regenerate_page(&session, StatusCode::OK, None)
}

async fn submit_regenerate(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    match state.app.regenerate_recovery_codes(&session.user, &form.password, &ctx).await {
        Ok(codes) => render(StatusCode::CREATED, &RecoveryCodesPage::new(&session, codes)),
        Err(e) => regenerate_page(&session, classify(&e).0, Some(message(&e))),
    }
}

fn remove_key_page(session: &CurrentSession, id: i64, status: StatusCode, error: Option<String>) -> Response {
    let page = ConfirmPage {
        chrome: Chrome::signed_in(session),
        title: "Remove security key",
        explanation: "This key will no longer sign you in. If it is your last way to pass the second step, two-factor authentication turns off.".into(),
        action: format!("/me/security-keys/{id}/remove"),
        button: "Remove key",
        back: format!("/users/{}", session.user.id),
        error,
    };
    render(status, &page)
}

async fn show_remove_key(PageUser(session): PageUser, Path(id): Path<String>) -> Response {
    match crate::path_id::parse(&id) {
        Some(id) => remove_key_page(&session, id, StatusCode::OK, None),
        None => PageError::signed_in(&session, Error::NotFound("No such security key.")),
    }
}

async fn submit_remove_key(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    let Some(id) = crate::path_id::parse(&id) else {
        return PageError::signed_in(&session, Error::NotFound("No such security key."));
    };
    match state.app.remove_security_key(&session.user, id, &form.password, &ctx).await {
        Ok(()) => Redirect::to(&format!("/users/{}?key_removed=1", session.user.id)).into_response(),
        Err(e @ Error::NotFound(_)) => PageError::signed_in(&session, e),
        Err(e) => remove_key_page(&session, id, classify(&e).0, Some(message(&e))),
    }
}
