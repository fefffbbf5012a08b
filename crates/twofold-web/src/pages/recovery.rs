//! The person's recovery pages: SMS sign-in while support's grant is active, "Lost your
//! device?", and the page after an SMS sign-in that leads to setting 2FA up again.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::domain::Role;
use twofold_app::sign_in::PendingSignIn;

use super::form::{CodeForm, CsrfForm, PlainForm};
use super::two_factor::DeliveryView;
use super::{Chrome, PageError, render};
use crate::client::Client;
use crate::error::{classify, message};
use crate::session::{PagePending, PageUser};
use crate::{AppState, cookies};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/sms", get(show_sms).post(send_sms))
        .route("/login/sms/verify", axum::routing::post(verify_sms))
        .route("/login/lost-device", get(show_lost).post(submit_request))
        .route("/recovery", get(after_sms_sign_in))
}

#[derive(Template)]
#[template(path = "sms_sign_in.html")]
struct SmsPage {
    chrome: Chrome,
    delivery: Option<DeliveryView>,
    error: Option<String>,
}

async fn sms_page(state: &AppState, pending: &PendingSignIn, error: Option<(StatusCode, String)>) -> Response {
    let chrome = Chrome::anonymous(pending.csrf_token.clone());
    let delivery = match state.app.sign_in_sms_delivery(pending).await {
        Ok(d) => d.map(|d| DeliveryView::new(d, state.app.now())),
        Err(e) => return PageError::new(e, chrome).into_response(),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    render(status, &SmsPage { chrome, delivery, error: error.map(|e| e.1) })
}

async fn show_sms(State(state): State<AppState>, PagePending(pending): PagePending) -> Response {
    sms_page(&state, &pending, None).await
}

/// Sends the code; pressed again, it is Resend (a new code voids the old one).
async fn send_sms(
    State(state): State<AppState>,
    Client(ctx): Client,
    PagePending(pending): PagePending,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    match state.app.send_sign_in_sms(&pending, &ctx).await {
        Ok(_) => Redirect::to("/login/sms").into_response(),
        Err(e) => sms_page(&state, &pending, Some((classify(&e).0, message(&e)))).await,
    }
}

async fn verify_sms(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PagePending(pending): PagePending,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.verify_sign_in_sms(&pending, &form.code, &ctx).await {
        Ok(session) => {
            (jar.add(cookies::session(&state.app, session.token)), Redirect::to("/recovery")).into_response()
        }
        Err(e) => sms_page(&state, &pending, Some((classify(&e).0, message(&e)))).await,
    }
}

/// A request as its author sees it.
pub struct RequestLine {
    age: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "lost_device.html")]
struct LostPage {
    chrome: Chrome,
    is_owner: bool,
    helpers: Vec<(String, &'static str)>,
    request: Option<RequestLine>,
    can_request: bool,
    sms_active: bool,
    notice: Option<String>,
    error: Option<String>,
}

async fn lost_page(
    state: &AppState,
    pending: &PendingSignIn,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let chrome = Chrome::anonymous(pending.csrf_token.clone());
    let info = match state.app.lost_device(pending).await {
        Ok(info) => info,
        Err(e) => return PageError::new(e, chrome).into_response(),
    };
    let now = state.app.now();
    let request = info.request.as_ref().map(|r| RequestLine {
        age: match (now - r.created_at) / 3600 {
            0 => "less than an hour ago".into(),
            h => format!("{h} hours ago"),
        },
        status: match r.status.as_str() {
            "open" => "waiting for support",
            "taken" => "support is checking your identity",
            "granted" => "granted: use SMS to sign in",
            _ => "declined: contact support",
        },
    });
    let can_request = !info.sms_recovery_active
        && !info.request.as_ref().is_some_and(|r| matches!(r.status.as_str(), "open" | "taken"));
    let page = LostPage {
        chrome,
        is_owner: info.role == Role::Owner,
        helpers: info.helpers.into_iter().map(|(name, role)| (name, role.label())).collect(),
        request,
        can_request,
        sms_active: info.sms_recovery_active,
        notice,
        error: error.as_ref().map(|e| e.1.clone()),
    };
    render(error.map_or(StatusCode::OK, |e| e.0), &page)
}

async fn show_lost(State(state): State<AppState>, PagePending(pending): PagePending) -> Response {
    lost_page(&state, &pending, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    contact: String,
}

async fn submit_request(
    State(state): State<AppState>,
    Client(ctx): Client,
    PagePending(pending): PagePending,
    CsrfForm(form): CsrfForm<RequestForm>,
) -> Response {
    match state.app.request_recovery(&pending, &form.message, &form.contact, &ctx).await {
        Ok(_) => {
            let notice = "Your request is with support. Come back to this page to see where it stands.".to_string();
            lost_page(&state, &pending, Some(notice), None).await
        }
        Err(e) => lost_page(&state, &pending, None, Some((classify(&e).0, message(&e)))).await,
    }
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    chrome: Chrome,
}

async fn after_sms_sign_in(PageUser(session): PageUser) -> Response {
    render(StatusCode::OK, &RecoveryPage { chrome: Chrome::signed_in(&session) })
}

crate::has_csrf!(RequestForm);
