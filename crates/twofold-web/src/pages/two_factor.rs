//! The second-factor pages: the code after the password, the enrolment wizard (a pop-up
//! over the profile), turning 2FA off, and revoking remembered browsers.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::Error;
use twofold_app::domain::policy::Requirement;
use twofold_app::sign_in::{NewSessionToken, PendingSignIn};
use twofold_app::sms::Delivery;
use twofold_app::two_factor::Enrolment;

use super::form::{CodeForm, CsrfForm, PasswordForm, PlainForm};
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
        .route("/me/two-factor/enable/phone", get(wizard_phone).post(wizard_send_phone))
        .route("/me/two-factor/enable/phone/resend", post(wizard_resend))
        .route("/me/two-factor/enable/phone/verify", post(wizard_verify_phone))
        .route("/me/phone", get(show_phone_change).post(submit_phone_change))
        .route("/me/phone/verify", post(verify_phone_change))
        .route("/me/two-factor/disable", get(show_disable).post(submit_disable))
        .route("/me/devices/{id}/revoke", post(revoke_device))
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct CodePage {
    chrome: Chrome,
    /// The name the authenticator app shows next to the code (the configured issuer).
    issuer: String,
    error: Option<String>,
    /// Support granted SMS recovery: offer "Use SMS as your secondary verification method?".
    sms_available: bool,
    /// The app's code form (absent for a person with only security keys).
    totp_available: bool,
    /// "Use a security key".
    webauthn_available: bool,
    /// "Use a recovery code", while codes remain.
    recovery_code_available: bool,
}

async fn code_page(state: &AppState, pending: &PendingSignIn, error: Option<(StatusCode, String)>) -> Response {
    let methods = match state.app.second_factor_methods(pending.user.id).await {
        Ok(methods) => methods,
        Err(e) => return PageError::new(e, Chrome::anonymous(pending.csrf_token.clone())).into_response(),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    let page = CodePage {
        chrome: Chrome::anonymous(pending.csrf_token.clone()),
        issuer: state.app.config().issuer.clone(),
        error: error.map(|e| e.1),
        sms_available: methods.contains(&"sms"),
        totp_available: methods.contains(&"totp"),
        webauthn_available: methods.contains(&"webauthn"),
        recovery_code_available: methods.contains(&"recovery_code"),
    };
    render(status, &page)
}

async fn show_code(State(state): State<AppState>, PagePending(pending): PagePending) -> Response {
    code_page(&state, &pending, None).await
}

async fn submit_code(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PagePending(pending): PagePending,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.submit_totp(&pending, &form.code, &ctx).await {
        Ok(done) => signed_in_redirect(&state, jar, done),
        Err(Error::Unauthenticated) => Redirect::to("/login").into_response(),
        Err(e) => code_page(&state, &pending, Some((classify(&e).0, message(&e)))).await,
    }
}

/// A second step just passed: the new session's cookie (and the remembered browser's,
/// when asked for), then home.
pub(super) fn signed_in_redirect(state: &AppState, jar: CookieJar, done: NewSessionToken) -> Response {
    let mut jar = jar.add(cookies::session(&state.app, done.token));
    if let Some(device) = done.device_token {
        jar = jar.add(cookies::device(&state.app, device));
    }
    (jar, Redirect::to("/continue")).into_response()
}

#[derive(Template)]
#[template(path = "wizard.html")]
struct WizardPage {
    chrome: Chrome,
    /// The name the authenticator app shows next to the code (the configured issuer).
    issuer: String,
    user_id: i64,
    step: u8,
    enrolment: Option<Enrolment>,
    delivery: Option<DeliveryView>,
    error: Option<String>,
    /// Why the account asks for this, when its policy requires 2FA.
    policy_note: Option<String>,
    can_skip: bool,
}

fn wizard(
    state: &AppState,
    user: &PageUser,
    step: u8,
    enrolment: Option<Enrolment>,
    error: Option<String>,
) -> WizardPage {
    let (policy_note, can_skip) = match user.0.requirement() {
        Requirement::Met => (None, false),
        Requirement::DueBy { deadline } => (
            Some(format!("Your account requires two-factor authentication from {}.", super::when(Some(deadline)))),
            true,
        ),
        Requirement::Overdue => {
            (Some("Your account requires two-factor authentication. Set it up to continue.".into()), false)
        }
    };
    WizardPage {
        chrome: Chrome::signed_in(&user.0),
        issuer: state.app.config().issuer.clone(),
        user_id: user.0.user.id,
        step,
        enrolment,
        delivery: None,
        error,
        policy_note,
        can_skip,
    }
}

/// Where an SMS code stands, in words: "sent 4 minutes ago, still pending" or "delivered".
pub struct DeliveryView {
    pub sent_to: String,
    pub ago: String,
    pub status_text: &'static str,
}

impl DeliveryView {
    pub fn new(d: Delivery, now: i64) -> Self {
        let minutes = (now - d.requested_at).max(0) / 60;
        let ago = match minutes {
            0 => "just now".to_string(),
            1 => "1 minute ago".to_string(),
            n => format!("{n} minutes ago"),
        };
        let status_text = match (d.status.as_str(), d.provider_status.as_deref()) {
            ("sent", Some("delivered")) => "Delivered.",
            ("sent", _) => "Handed to the SMS network; it should arrive shortly.",
            ("failed", _) => "Sending failed. Check the number, or use Resend.",
            _ => "Still pending: waiting to be sent.",
        };
        Self { sent_to: d.sent_to, ago, status_text }
    }
}

/// With 2FA already on there is nothing to enrol: back to the profile.
async fn unless_enabled(state: &AppState, user: &PageUser) -> Result<(), Response> {
    match state.app.two_factor_status(user.0.user.id).await {
        Ok(status) if status.factors.totp.is_enabled() => {
            Err(Redirect::to(&format!("/users/{}", user.0.user.id)).into_response())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(PageError::signed_in(&user.0, e)),
    }
}

async fn wizard_intro(
    State(state): State<AppState>,
    user: PageUser,
    jar: CookieJar,
    query: Result<axum::extract::Query<super::return_to::RdQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = unless_enabled(&state, &user).await {
        return r;
    }
    // Sent by forward auth to turn 2FA on: back to the application afterwards.
    let rd = query.ok().and_then(|q| q.0.rd);
    let jar = super::return_to::remember(&state.app, jar, rd.as_deref());
    (jar, render(StatusCode::OK, &wizard(&state, &user, 0, None, None))).into_response()
}

async fn wizard_app(State(state): State<AppState>, user: PageUser) -> Response {
    if let Err(r) = unless_enabled(&state, &user).await {
        return r;
    }
    render(StatusCode::OK, &wizard(&state, &user, 1, None, None))
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
        Err(Error::Conflict { code: "already_enabled", .. }) => {
            Redirect::to(&format!("/users/{}", user.0.user.id)).into_response()
        }
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn wizard_key(State(state): State<AppState>, user: PageUser) -> Response {
    match state.app.pending_enrolment(&user.0.user).await {
        Ok(Some(enrolment)) => render(StatusCode::OK, &wizard(&state, &user, 2, Some(enrolment), None)),
        Ok(None) => Redirect::to("/me/two-factor/enable/app").into_response(),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn wizard_code(State(state): State<AppState>, user: PageUser) -> Response {
    match state.app.pending_enrolment(&user.0.user).await {
        Ok(Some(_)) => render(StatusCode::OK, &wizard(&state, &user, 3, None, None)),
        Ok(None) => Redirect::to("/me/two-factor/enable/app").into_response(),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn wizard_confirm(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.confirm_enrolment(&user.0.user, &form.code, &ctx).await {
        Ok(()) => Redirect::to("/me/two-factor/enable/phone").into_response(),
        Err(e @ Error::Conflict { .. }) => PageError::signed_in(&user.0, e),
        Err(e) => render(classify(&e).0, &wizard(&state, &user, 3, None, Some(message(&e)))),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct OtherQuery {
    #[serde(default)]
    other: Option<String>,
}

/// Step 4: the number form, or (once a code was sent) the code form with the delivery status.
async fn phone_step(state: &AppState, user: &PageUser, fresh_form: bool, error: Option<String>) -> Response {
    let status = match state.app.two_factor_status(user.0.user.id).await {
        Ok(status) => status,
        Err(e) => return PageError::signed_in(&user.0, e),
    };
    if !status.factors.totp.awaits_phone() {
        let to = if status.factors.totp.is_enabled() {
            format!("/users/{}", user.0.user.id)
        } else {
            "/me/two-factor/enable/app".into()
        };
        return Redirect::to(&to).into_response();
    }
    let delivery = if fresh_form {
        None
    } else {
        match state.app.enrolment_phone_delivery(&user.0.user).await {
            Ok(d) => d.map(|d| DeliveryView::new(d, state.app.now())),
            Err(e) => return PageError::signed_in(&user.0, e),
        }
    };
    let status = error.as_ref().map_or(StatusCode::OK, |_| StatusCode::UNPROCESSABLE_ENTITY);
    let mut page = wizard(state, user, 4, None, error);
    page.delivery = delivery;
    render(status, &page)
}

async fn wizard_phone(
    State(state): State<AppState>,
    user: PageUser,
    query: Result<Query<OtherQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let other = query.map(|q| q.0.other.is_some()).unwrap_or(false);
    phone_step(&state, &user, other, None).await
}

#[derive(Debug, Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: String,
}

/// A refusal shown on the same page: the message, with a status that says what it was.
fn with_error(e: &Error) -> (StatusCode, String) {
    (classify(e).0, message(e))
}

async fn wizard_send_phone(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<PhoneForm>,
) -> Response {
    match state.app.send_enrolment_phone_code(&user.0.user, &form.phone, &ctx).await {
        Ok(_) => Redirect::to("/me/two-factor/enable/phone").into_response(),
        Err(e) => {
            let (status, text) = with_error(&e);
            let mut r = phone_step(&state, &user, true, Some(text)).await;
            *r.status_mut() = status;
            r
        }
    }
}

async fn wizard_resend(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    match state.app.resend_enrolment_phone_code(&user.0.user, &ctx).await {
        Ok(_) => Redirect::to("/me/two-factor/enable/phone").into_response(),
        Err(e) => {
            let (status, text) = with_error(&e);
            let mut r = phone_step(&state, &user, false, Some(text)).await;
            *r.status_mut() = status;
            r
        }
    }
}

async fn wizard_verify_phone(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.verify_enrolment_phone(&user.0, &form.code, &ctx).await {
        // The wizard's last screen: the recovery codes, shown this once.
        Ok(Some(codes)) => render(StatusCode::OK, &super::factors::RecoveryCodesPage::new(&user.0, codes)),
        Ok(None) => Redirect::to("/continue?to=profile").into_response(),
        Err(e) => {
            let (status, text) = with_error(&e);
            let mut r = phone_step(&state, &user, false, Some(text)).await;
            *r.status_mut() = status;
            r
        }
    }
}

#[derive(Template)]
#[template(path = "phone_change.html")]
struct PhoneChangePage {
    chrome: Chrome,
    user_id: i64,
    current: String,
    delivery: Option<DeliveryView>,
    error: Option<String>,
}

async fn phone_change_page(
    state: &AppState,
    user: &PageUser,
    fresh: bool,
    error: Option<String>,
) -> Result<PhoneChangePage, Error> {
    let current = state.app.masked_phone(user.0.user.id).await?.unwrap_or_else(|| "not set".into());
    let delivery = if fresh {
        None
    } else {
        state.app.phone_change_delivery(&user.0).await?.map(|d| DeliveryView::new(d, state.app.now()))
    };
    Ok(PhoneChangePage { chrome: Chrome::signed_in(&user.0), user_id: user.0.user.id, current, delivery, error })
}

async fn show_phone_change(
    State(state): State<AppState>,
    user: PageUser,
    query: Result<Query<OtherQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let fresh = query.map(|q| q.0.other.is_some()).unwrap_or(false);
    match phone_change_page(&state, &user, fresh, None).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn submit_phone_change(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<PhoneForm>,
) -> Response {
    match state.app.start_phone_change(&user.0, &form.password, &form.phone, &ctx).await {
        Ok(_) => Redirect::to("/me/phone").into_response(),
        Err(e) => match phone_change_page(&state, &user, true, Some(message(&e))).await {
            Ok(page) => render(classify(&e).0, &page),
            Err(e) => PageError::signed_in(&user.0, e),
        },
    }
}

async fn verify_phone_change(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Response {
    match state.app.confirm_phone_change(&user.0, &form.code, &ctx).await {
        Ok(_) => Redirect::to(&format!("/users/{}?phone_changed=1", user.0.user.id)).into_response(),
        Err(e) => match phone_change_page(&state, &user, false, Some(message(&e))).await {
            Ok(page) => render(classify(&e).0, &page),
            Err(e) => PageError::signed_in(&user.0, e),
        },
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
    render(StatusCode::OK, &DisablePage { chrome: Chrome::signed_in(&user.0), user_id: user.0.user.id, error: None })
}

async fn submit_disable(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    match state.app.disable_own_two_factor(&user.0.user, &form.password, &ctx).await {
        Ok(()) => Redirect::to(&format!("/users/{}?two_factor=off", user.0.user.id)).into_response(),
        Err(e) => {
            let page =
                DisablePage { chrome: Chrome::signed_in(&user.0), user_id: user.0.user.id, error: Some(message(&e)) };
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
    let Some(id) = crate::path_id::parse(&id) else {
        return PageError::signed_in(&user.0, Error::NotFound("No such remembered device."));
    };
    match state.app.revoke_device(&user.0.user, id, &ctx).await {
        Ok(()) => Redirect::to(&format!("/users/{}?device_revoked=1", user.0.user.id)).into_response(),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

crate::has_csrf!(PhoneForm);
