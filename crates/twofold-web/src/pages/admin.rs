//! The security console's pages: acting on a person's sign-in from their profile, the
//! session list, and the account's 2FA policy.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use twofold_app::domain::permissions::Denied;
use twofold_app::proof::Confirmation;
use twofold_app::{Error, RequestContext};

use super::form::{CsrfForm, PasswordForm, PlainForm};
use super::{Chrome, PageError, render, when};
use crate::AppState;
use crate::client::Client;
use crate::error::{classify, message};
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{id}/two-factor/disable", get(show(Action::Disable)).post(submit_disable))
        .route("/users/{id}/two-factor/unlock", post(unlock))
        .route("/users/{id}/sign-out", post(sign_out_everywhere))
        .route("/users/{id}/ownership", get(show(Action::Transfer)).post(submit_transfer))
        .route("/users/{id}/deactivate", get(show(Action::Deactivate)).post(set_active(false)))
        .route("/users/{id}/reactivate", get(show(Action::Reactivate)).post(set_active(true)))
        .route("/users/{id}/remove", get(show(Action::Remove)).post(submit_remove))
        .route("/me/sessions", get(sessions))
        .route("/me/sessions/{id}/end", post(end_session))
        .route("/account/security", get(show_policy).post(submit_policy))
}

/// The person (or group) an id in the path names, or nobody.
pub(super) fn id_of(raw: &str) -> Result<i64, Error> {
    crate::path_id::parse(raw).ok_or(Error::Denied(Denied::NotFound))
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(super) struct ConfirmPage {
    pub chrome: Chrome,
    pub title: &'static str,
    pub explanation: String,
    pub action: String,
    pub button: &'static str,
    pub back: String,
    pub error: Option<String>,
}

/// The pop-up that confirms an action on a person with the caller's password.
async fn confirm_page(
    state: &AppState,
    user: &PageUser,
    ctx: &RequestContext,
    raw_id: &str,
    kind: Action,
    error: Option<String>,
) -> Response {
    let chrome = Chrome::signed_in(&user.0);
    let person = match id_of(raw_id) {
        Ok(id) => state.app.person(&user.0.user, id, ctx).await,
        Err(e) => Err(e),
    };
    let person = match person {
        Ok(p) => p,
        Err(e) => return PageError::new(e, chrome).into_response(),
    };
    let (title, explanation, action, button) = match kind {
        Action::Disable => (
            "Disable two-factor authentication?",
            format!(
                "{} will sign in with the password alone until they set it up again. Their sessions and remembered browsers end now, and they are told by SMS and at their next sign-in.",
                person.name
            ),
            format!("/users/{}/two-factor/disable", person.id),
            "Disable",
        ),
        Action::Transfer => (
            "Transfer ownership?",
            format!(
                "{} becomes the Account Owner and you become an Administrator. Only the new Owner can undo this.",
                person.name
            ),
            format!("/users/{}/ownership", person.id),
            "Transfer ownership",
        ),
        Action::Deactivate => (
            "Deactivate this person?",
            format!(
                "{} will not be able to sign in anywhere: their sessions, remembered browsers and applications' access end now. You can reactivate them later.",
                person.name
            ),
            format!("/users/{}/deactivate", person.id),
            "Deactivate",
        ),
        Action::Reactivate => (
            "Reactivate this person?",
            format!("{} will be able to sign in again with their password and second factor.", person.name),
            format!("/users/{}/reactivate", person.id),
            "Reactivate",
        ),
        Action::Remove => (
            "Remove this person from the account?",
            format!(
                "{} ({}) is removed with their sign-in settings and applications' access. The audit log keeps what they did. This cannot be undone: to let them back in, invite them again.",
                person.name, person.email
            ),
            format!("/users/{}/remove", person.id),
            "Remove from account",
        ),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |_| StatusCode::UNAUTHORIZED);
    let page = ConfirmPage { chrome, title, explanation, action, button, back: format!("/users/{}", person.id), error };
    render(status, &page)
}

/// After an action on person `id`: back to their profile with a notice, or the error page.
fn back_to_profile(user: &PageUser, id: &str, result: Result<(), Error>, notice: &str) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/users/{id}?{notice}")).into_response(),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

/// After a password-confirmed action: a wrong password shows the pop-up again.
async fn after_confirm(
    state: &AppState,
    user: &PageUser,
    ctx: &RequestContext,
    id: &str,
    action: Action,
    result: Result<(), Error>,
    notice: &str,
) -> Response {
    match result {
        Err(e @ Error::InvalidCredentials) => confirm_page(state, user, ctx, id, action, Some(message(&e))).await,
        other => back_to_profile(user, id, other, notice),
    }
}

#[derive(Clone, Copy)]
enum Action {
    Disable,
    Transfer,
    Deactivate,
    Reactivate,
    Remove,
}

async fn submit_disable(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(target) => state.app.disable_two_factor_of(&user.0.user, target, &form.password, &ctx).await.map(drop),
        Err(e) => Err(e),
    };
    after_confirm(&state, &user, &ctx, &id, Action::Disable, result, "two_factor=off").await
}

/// "Remove from account": back to the Users tab, since the profile is gone.
async fn submit_remove(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(target) => state.app.remove_person(&user.0.user, target, Confirmation::Password(&form.password), &ctx).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/users?removed=1").into_response(),
        Err(e @ Error::InvalidCredentials) => {
            confirm_page(&state, &user, &ctx, &id, Action::Remove, Some(message(&e))).await
        }
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

/// The pop-up that confirms `action`, as the GET handler of its route.
fn show(
    action: Action,
) -> impl Fn(State<AppState>, PageUser, Client, Path<String>) -> BoxedResponse + Clone + Send + Sync + 'static {
    move |State(state), user, Client(ctx), Path(id)| {
        Box::pin(async move { confirm_page(&state, &user, &ctx, &id, action, None).await })
    }
}

/// A handler's answer, boxed so that one function can make a handler per action.
type BoxedResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// "Deactivate" (`active: false`) and "Reactivate" on a profile, after the password.
fn set_active(
    active: bool,
) -> impl Fn(State<AppState>, PageUser, Client, Path<String>, CsrfForm<PasswordForm>) -> BoxedResponse
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(state), user, Client(ctx), Path(id), CsrfForm(form)| {
        Box::pin(async move {
            let result = match id_of(&id) {
                Ok(target) => {
                    let confirmation = Confirmation::Password(&form.password);
                    state.app.set_person_active(&user.0.user, target, active, confirmation, &ctx).await.map(drop)
                }
                Err(e) => Err(e),
            };
            let (action, notice) =
                if active { (Action::Reactivate, "active=1") } else { (Action::Deactivate, "active=0") };
            after_confirm(&state, &user, &ctx, &id, action, result, notice).await
        })
    }
}

async fn unlock(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(target) => state.app.unlock_two_factor(&user.0.user, target, &ctx).await.map(drop),
        Err(e) => Err(e),
    };
    back_to_profile(&user, &id, result, "unlocked=1")
}

async fn sign_out_everywhere(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(target) => state.app.sign_out_everywhere(&user.0.user, target, &ctx).await.map(drop),
        Err(e) => Err(e),
    };
    back_to_profile(&user, &id, result, "signed_out=1")
}

async fn submit_transfer(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(target) => state.app.transfer_ownership(&user.0.user, target, &form.password, &ctx).await.map(drop),
        Err(e) => Err(e),
    };
    after_confirm(&state, &user, &ctx, &id, Action::Transfer, result, "role_changed=1").await
}

struct SessionLine {
    id: String,
    browser: String,
    ip: String,
    created: String,
    last_seen: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    sessions: Vec<SessionLine>,
    notice: Option<String>,
}

async fn sessions(State(state): State<AppState>, user: PageUser) -> Response {
    let rows = match state.app.my_sessions(&user.0).await {
        Ok(rows) => rows,
        Err(e) => return PageError::signed_in(&user.0, e),
    };
    let sessions = rows
        .into_iter()
        .map(|s| SessionLine {
            current: s.current,
            id: s.id,
            browser: s.user_agent.map(|ua| ua.chars().take(80).collect()).unwrap_or_else(|| "Unknown browser".into()),
            ip: s.ip.unwrap_or_default(),
            created: when(Some(s.created_at)),
            last_seen: when(Some(s.last_seen_at)),
        })
        .collect();
    render(StatusCode::OK, &SessionsPage { chrome: Chrome::signed_in(&user.0), sessions, notice: None })
}

async fn end_session(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    match state.app.end_my_session(&user.0.user, &id, &ctx).await {
        Ok(()) => Redirect::to("/me/sessions").into_response(),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    chrome: Chrome,
    /// The Owner changes the policy; Administrators read it.
    can_change: bool,
    require: bool,
    grace_days: i64,
    notice: Option<String>,
    error: Option<String>,
}

async fn show_policy(State(state): State<AppState>, user: PageUser, Client(ctx): Client) -> Response {
    // The page asks the one rule the API asks (`may_read_policy`).
    match state.app.policy(&user.0.user, &ctx).await {
        Ok(p) => render(
            StatusCode::OK,
            &PolicyPage {
                chrome: Chrome::signed_in(&user.0),
                can_change: p.may_change,
                require: p.require_two_factor_since.is_some(),
                grace_days: p.grace_days,
                notice: None,
                error: None,
            },
        ),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    require_two_factor: Option<String>,
    #[serde(default)]
    grace_days: String,
}

async fn submit_policy(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<PolicyForm>,
) -> Response {
    let require = form.require_two_factor.is_some();
    let grace = form.grace_days.trim().parse::<i64>().unwrap_or(-1);
    let grace = if form.grace_days.trim().is_empty() { 0 } else { grace };
    let chrome = Chrome::signed_in(&user.0);
    match state.app.set_policy(&user.0.user, require, grace, &ctx).await {
        Ok(p) => {
            let notice = if require {
                "Two-factor authentication is now required."
            } else {
                "Two-factor authentication is optional."
            };
            let page = PolicyPage {
                chrome,
                can_change: true,
                require: p.require_two_factor_since.is_some(),
                grace_days: p.grace_days,
                notice: Some(notice.into()),
                error: None,
            };
            render(StatusCode::OK, &page)
        }
        Err(e @ Error::Denied(_)) => PageError::new(e, chrome).into_response(),
        Err(e) => {
            let page = PolicyPage {
                chrome,
                can_change: true,
                require,
                grace_days: grace.max(0),
                notice: None,
                error: Some(message(&e)),
            };
            render(classify(&e).0, &page)
        }
    }
}

crate::has_csrf!(PolicyForm);
