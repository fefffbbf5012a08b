//! The support team's own page: every operator, and unlocking or resetting another one's
//! authenticator app (SEC-34: never one's own; the shell has the same commands).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use twofold_app::support::{OperatorChange, OperatorSession};

use super::{render, when};
use crate::AppState;
use crate::client::Client;
use crate::error::{classify, message};
use crate::operator::{Operator, SupportForm};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/support/operators", get(list))
        .route("/support/operators/unlock", post(unlock))
        .route("/support/operators/reset-totp", post(reset_totp))
}

/// One operator as the list shows them.
struct Line {
    email: String,
    name: String,
    enrolled: bool,
    locked: bool,
    last_sign_in: String,
    /// The viewer: no buttons on their own line.
    is_me: bool,
}

#[derive(Template)]
#[template(path = "support_operators.html")]
struct OperatorsPage {
    operator: Option<String>,
    csrf_token: String,
    operators: Vec<Line>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

async fn page(
    state: &AppState,
    op: &OperatorSession,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = match error {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    };
    let (status, operators, error) = match state.app.operators().await {
        Ok(all) => (status, all, error),
        Err(e) => (classify(&e).0, Vec::new(), Some(message(&e))),
    };
    let operators = operators
        .into_iter()
        .map(|o| Line {
            is_me: o.id == op.operator_id(),
            email: o.email,
            name: o.name,
            enrolled: o.totp.is_enabled(),
            locked: o.locked,
            last_sign_in: when(o.last_sign_in_at),
        })
        .collect();
    let page = OperatorsPage {
        operator: Some(op.operator_name().to_owned()),
        csrf_token: op.csrf_token.clone(),
        operators,
        notice,
        error,
    };
    render(status, &page)
}

async fn list(
    State(state): State<AppState>,
    Operator(op): Operator,
    done: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let notice = match done.ok().and_then(|q| q.0.done).as_deref() {
        Some("unlock") => Some("The operator can sign in again.".to_string()),
        Some("reset_totp") => Some("The operator sets up their authenticator app again at the next sign-in.".into()),
        _ => None,
    };
    page(&state, &op, notice, None).await
}

#[derive(Debug, Deserialize)]
pub struct OperatorForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
}

crate::has_csrf!(OperatorForm);

async fn change(
    state: &AppState,
    op: &OperatorSession,
    ctx: &twofold_app::RequestContext,
    form: &OperatorForm,
    change: OperatorChange,
    done: &str,
) -> Response {
    match state.app.change_operator(op.actor(), &form.email, change, ctx).await {
        Ok(()) => Redirect::to(&format!("/support/operators?done={done}")).into_response(),
        Err(e) => page(state, op, None, Some((classify(&e).0, message(&e)))).await,
    }
}

async fn unlock(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    SupportForm(form): SupportForm<OperatorForm>,
) -> Response {
    change(&state, &op, &ctx, &form, OperatorChange::Unlock, "unlock").await
}

async fn reset_totp(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    SupportForm(form): SupportForm<OperatorForm>,
) -> Response {
    change(&state, &op, &ctx, &form, OperatorChange::ResetTotp, "reset_totp").await
}
