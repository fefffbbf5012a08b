//! The Webhooks page of the Apps tab: the Owner adds a receiver (with their password),
//! sends a test, reads each attempt, and deletes it. The JSON twin is `api/webhooks.rs`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use twofold_app::proof::Confirmation;
use twofold_app::{Error, RequestContext};

use super::admin::id_of;
use super::form::{CsrfForm, PlainForm};
use super::{Chrome, PageError, render, when};
use crate::AppState;
use crate::client::Client;
use crate::error::message;
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps/webhooks", get(show).post(add))
        .route("/apps/webhooks/{id}/test", post(test))
        .route("/apps/webhooks/{id}/delete", post(delete))
}

/// One attempt as the page lists it.
pub struct AttemptRow {
    event_id: String,
    event: String,
    attempt: i64,
    status: String,
    at: String,
    error: String,
}

pub struct HookRow {
    id: i64,
    url: String,
    events: String,
    attempts: Vec<AttemptRow>,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    hooks: Vec<HookRow>,
    /// A secret just made, shown this once.
    new_secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

/// What the page says after an action.
#[derive(Default)]
struct Said {
    new_secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

async fn page(state: &AppState, user: &PageUser, ctx: &RequestContext, said: Said) -> Response {
    let actor = &user.0.user;
    let hooks = match state.app.webhooks(actor, ctx).await {
        Ok(hooks) => hooks,
        Err(e) => return PageError::signed_in(&user.0, e),
    };
    let mut rows = Vec::new();
    for hook in hooks {
        let attempts = match state.app.webhook_deliveries(actor, hook.id, ctx).await {
            Ok(found) => found,
            Err(e) => return PageError::signed_in(&user.0, e),
        };
        let attempts = attempts
            .into_iter()
            .take(10)
            .map(|d| AttemptRow {
                event_id: d.message_id,
                event: d.event,
                attempt: d.attempt,
                status: d.status.map_or("no answer".into(), |s| s.to_string()),
                at: when(Some(d.at)),
                error: d.error.unwrap_or_default(),
            })
            .collect();
        rows.push(HookRow { id: hook.id, url: hook.url, events: hook.events.join(", "), attempts });
    }
    let status = if said.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = WebhooksPage {
        chrome: Chrome::signed_in(&user.0),
        hooks: rows,
        new_secret: said.new_secret,
        notice: said.notice,
        error: said.error,
    };
    render(status, &page)
}

async fn show(State(state): State<AppState>, user: PageUser, Client(ctx): Client) -> Response {
    page(&state, &user, &ctx, Said::default()).await
}

#[derive(Debug, Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    url: String,
    /// Event names separated by commas or spaces, or `*`.
    #[serde(default)]
    events: String,
    #[serde(default)]
    password: String,
}

crate::has_csrf!(WebhookForm);

async fn add(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<WebhookForm>,
) -> Response {
    let events: Vec<&str> = form.events.split([',', ' ', '\n']).filter(|e| !e.trim().is_empty()).collect();
    let made =
        state.app.create_webhook(&user.0.user, &form.url, &events, Confirmation::Password(&form.password), &ctx).await;
    match made {
        Ok(made) => {
            let notice = Some(format!("Webhook to {} added.", made.webhook.url));
            page(&state, &user, &ctx, Said { new_secret: Some(made.secret), notice, error: None }).await
        }
        Err(e @ (Error::Invalid { .. } | Error::InvalidCredentials | Error::Conflict { .. })) => {
            page(&state, &user, &ctx, Said { error: Some(message(&e)), ..Said::default() }).await
        }
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn test(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(id) => state.app.test_webhook(&user.0.user, id, &ctx).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(event_id) => {
            let notice = Some(format!("A test event ({event_id}) is on its way; its attempts appear below."));
            page(&state, &user, &ctx, Said { notice, ..Said::default() }).await
        }
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn delete(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let result = match id_of(&id) {
        Ok(id) => state.app.delete_webhook(&user.0.user, id, &ctx).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            page(&state, &user, &ctx, Said { notice: Some("The webhook was deleted.".into()), ..Said::default() }).await
        }
        Err(e) => PageError::signed_in(&user.0, e),
    }
}
