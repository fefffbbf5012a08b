//! The support operators' pages: sign-in with mandatory TOTP, finding a person, granting
//! and revoking SMS recovery, and the queue of recovery requests (SEC-29).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::domain::recovery::REQUEST_TARGET_SECONDS;
use twofold_app::support::{OperatorSession, PersonCard};
use twofold_app::two_factor::Enrolment;
use twofold_app::{Error, RequestContext};

use super::form::{CodeForm, PlainForm, new_form_token};
use super::{render, when};
use crate::client::Client;
use crate::error::{classify, message};
use crate::operator::{Operator, OperatorPending, SupportForm};
use crate::session::tokens_match;
use crate::{AppState, cookies};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/support", get(home))
        .route("/support/login", get(show_login).post(submit_login))
        .route("/support/code", get(show_code).post(submit_code))
        .route("/support/logout", post(logout))
        .route("/support/people", get(lookup))
        .route("/support/people/{id}", get(person))
        .route("/support/people/{id}/grant", post(grant))
        .route("/support/people/{id}/revoke", post(revoke))
        .route("/support/requests/{id}", get(request))
        .route("/support/requests/{id}/take", post(take))
        .route("/support/requests/{id}/decide", post(decide))
}

#[derive(Template)]
#[template(path = "support_login.html")]
struct LoginPage {
    operator: Option<String>,
    csrf_token: String,
    step_code: bool,
    enrolment: Option<Enrolment>,
    error: Option<String>,
}

async fn show_login(State(state): State<AppState>, jar: CookieJar) -> Response {
    let (jar, token) = new_form_token(&state.app, jar);
    let page = LoginPage { operator: None, csrf_token: token, step_code: false, enrolment: None, error: None };
    (jar, render(StatusCode::OK, &page)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn submit_login(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = jar.get(cookies::form_token_name(&state.app)).map(|c| c.value().to_owned()).unwrap_or_default();
    if expected.is_empty() || !tokens_match(&form.csrf_token, &expected) {
        return super::form::refuse(StatusCode::FORBIDDEN, "This form expired. Reload the page and try again.");
    }
    match state.app.operator_sign_in(&form.email, &form.password, &ctx).await {
        Ok(new) => (jar.add(cookies::operator(&state.app, new.token)), Redirect::to("/support/code")).into_response(),
        Err(e) => {
            let page = LoginPage {
                operator: None,
                csrf_token: expected,
                step_code: false,
                enrolment: None,
                error: Some(message(&e)),
            };
            render(classify(&e).0, &page)
        }
    }
}

async fn code_page(state: &AppState, pending: &OperatorSession, error: Option<String>) -> Response {
    match state.app.operator_enrolment(pending).await {
        Ok(enrolment) => {
            let status = error.as_ref().map_or(StatusCode::OK, |_| StatusCode::UNAUTHORIZED);
            let page =
                LoginPage { operator: None, csrf_token: pending.csrf_token.clone(), step_code: true, enrolment, error };
            render(status, &page)
        }
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

async fn show_code(State(state): State<AppState>, OperatorPending(pending): OperatorPending) -> Response {
    code_page(&state, &pending, None).await
}

async fn submit_code(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    OperatorPending(pending): OperatorPending,
    SupportForm(form): SupportForm<CodeForm>,
) -> Response {
    match state.app.operator_submit_totp(&pending, &form.code, &ctx).await {
        Ok(new) => (jar.add(cookies::operator(&state.app, new.token)), Redirect::to("/support")).into_response(),
        Err(e) => code_page(&state, &pending, Some(message(&e))).await,
    }
}

async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    Operator(op): Operator,
    SupportForm(_): SupportForm<PlainForm>,
) -> Response {
    let _ = state.app.operator_sign_out(&op).await;
    (jar.add(cookies::removal(&state.app, cookies::operator_name(&state.app))), Redirect::to("/support/login"))
        .into_response()
}

struct QueueLine {
    id: i64,
    person: String,
    account: String,
    age: String,
    due: String,
    overdue: bool,
    status: String,
}

#[derive(Template)]
#[template(path = "support_home.html")]
struct HomePage {
    operator: Option<String>,
    csrf_token: String,
    queue: Vec<QueueLine>,
    error: Option<String>,
}

fn age(now: i64, then: i64) -> String {
    let minutes = (now - then).max(0) / 60;
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

async fn home_page(state: &AppState, op: &OperatorSession, error: Option<String>) -> Response {
    let now = state.app.now();
    let queue = match state.app.support_queue(op.actor()).await {
        Ok(queue) => queue,
        // A page, not JSON, also when the database is unreachable.
        Err(e) => {
            let page = HomePage {
                operator: Some(op.operator_name().to_owned()),
                csrf_token: op.csrf_token.clone(),
                queue: Vec::new(),
                error: Some(message(&e)),
            };
            return render(classify(&e).0, &page);
        }
    };
    let mut lines = Vec::with_capacity(queue.len());
    for (row, user) in queue {
        let account = state.app.account_name(user.account_id).await.unwrap_or_default();
        let due_at = row.created_at + REQUEST_TARGET_SECONDS;
        lines.push(QueueLine {
            id: row.id,
            person: format!("{} <{}>", user.name, user.email),
            account,
            age: age(now, row.created_at),
            due: when(Some(due_at)),
            overdue: now > due_at,
            status: row.status,
        });
    }
    let status = error.as_ref().map_or(StatusCode::OK, |_| StatusCode::NOT_FOUND);
    let page = HomePage {
        operator: Some(op.operator_name().to_owned()),
        csrf_token: op.csrf_token.clone(),
        queue: lines,
        error,
    };
    render(status, &page)
}

async fn home(State(state): State<AppState>, Operator(op): Operator) -> Response {
    home_page(&state, &op, None).await
}

struct CardView {
    id: i64,
    name: String,
    email: String,
    account: String,
    role: &'static str,
    two_factor: String,
    phone: String,
    grant: String,
    grant_active: bool,
    events: Vec<(String, String)>,
}

impl CardView {
    fn new(c: PersonCard) -> Self {
        let grant = match (&c.grant, c.grant_active) {
            (Some(g), true) => format!("Enabled until {} ({})", when(Some(g.expires_at)), g.reason),
            (Some(g), false) => format!("Expired at {}", when(Some(g.expires_at))),
            (None, _) => "Not enabled".into(),
        };
        Self {
            id: c.user.id,
            name: c.user.name,
            email: c.user.email,
            account: c.account_name,
            role: c.user.role.label(),
            two_factor: c.two_factor_since.map_or_else(|| "Off".into(), |t| format!("On since {}", when(Some(t)))),
            phone: c.phone.unwrap_or_else(|| "None verified".into()),
            grant,
            grant_active: c.grant_active,
            events: c.recent_events.into_iter().map(|e| (when(Some(e.created_at)), e.event)).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "support_person.html")]
struct PersonPage {
    operator: Option<String>,
    csrf_token: String,
    card: CardView,
    notice: Option<String>,
    error: Option<String>,
}

fn person_page(
    op: &OperatorSession,
    card: PersonCard,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.0);
    let page = PersonPage {
        operator: Some(op.operator_name().to_owned()),
        csrf_token: op.csrf_token.clone(),
        card: CardView::new(card),
        notice,
        error: error.map(|e| e.1),
    };
    render(status, &page)
}

#[derive(Debug, Deserialize, Default)]
pub struct LookupQuery {
    #[serde(default)]
    email: String,
}

async fn lookup(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    query: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let email = query.map(|q| q.0.email).unwrap_or_default();
    match state.app.support_lookup(op.actor(), &email, &ctx).await {
        Ok(card) => person_page(&op, card, None, None),
        Err(e) => home_page(&state, &op, Some(message(&e))).await,
    }
}

fn id_of(raw: &str) -> Option<i64> {
    crate::path_id::parse(raw)
}

async fn person(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    Path(id): Path<String>,
) -> Response {
    match id_of(&id) {
        Some(id) => match state.app.support_person(op.actor(), id, &ctx).await {
            Ok(card) => person_page(&op, card, None, None),
            Err(e) => home_page(&state, &op, Some(message(&e))).await,
        },
        None => home_page(&state, &op, Some("No such person.".into())).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    hours: String,
}

async fn grant(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    Path(id): Path<String>,
    SupportForm(form): SupportForm<GrantForm>,
) -> Response {
    let Some(id) = id_of(&id) else { return home_page(&state, &op, Some("No such person.".into())).await };
    let hours = form.hours.trim().parse::<i64>().ok();
    let result = state.app.grant_sms_recovery(op.actor(), id, &form.reason, hours, None, &ctx).await;
    after_change(&state, &op, id, result.map(|_| "SMS recovery is enabled. The person was told by SMS."), &ctx).await
}

async fn revoke(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    Path(id): Path<String>,
    SupportForm(_): SupportForm<PlainForm>,
) -> Response {
    let Some(id) = id_of(&id) else { return home_page(&state, &op, Some("No such person.".into())).await };
    let result = state.app.revoke_sms_recovery(op.actor(), id, &ctx).await;
    after_change(&state, &op, id, result.map(|()| "SMS recovery is revoked."), &ctx).await
}

async fn after_change(
    state: &AppState,
    op: &OperatorSession,
    id: i64,
    result: Result<&'static str, Error>,
    ctx: &RequestContext,
) -> Response {
    let card = match state.app.support_person(op.actor(), id, ctx).await {
        Ok(card) => card,
        Err(e) => return home_page(state, op, Some(message(&e))).await,
    };
    match result {
        Ok(notice) => person_page(op, card, Some(notice.into()), None),
        Err(e) => person_page(op, card, None, Some((classify(&e).0, message(&e)))),
    }
}

#[derive(Template)]
#[template(path = "support_request.html")]
struct RequestPage {
    operator: Option<String>,
    csrf_token: String,
    id: i64,
    user_id: i64,
    person: String,
    account: String,
    role: &'static str,
    age: String,
    due: String,
    status: String,
    contact: String,
    message: String,
    can_take: bool,
    can_decide: bool,
    error: Option<String>,
}

async fn request_page(
    state: &AppState,
    op: &OperatorSession,
    id: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    let Some(id) = id_of(id) else { return home_page(state, op, Some("No such request.".into())).await };
    let (row, user) = match state.app.support_request(op.actor(), id).await {
        Ok(found) => found,
        Err(e) => return home_page(state, op, Some(message(&e))).await,
    };
    let now = state.app.now();
    let page = RequestPage {
        operator: Some(op.operator_name().to_owned()),
        csrf_token: op.csrf_token.clone(),
        id: row.id,
        user_id: user.id,
        person: format!("{} <{}>", user.name, user.email),
        account: state.app.account_name(user.account_id).await.unwrap_or_default(),
        role: user.role.label(),
        age: format!("{} ago", age(now, row.created_at)),
        due: when(Some(row.created_at + REQUEST_TARGET_SECONDS)),
        can_take: row.status == "open",
        can_decide: row.status == "taken" && row.operator_id == Some(op.operator_id()),
        status: row.status,
        contact: row.contact,
        message: row.message,
        error: error.as_ref().map(|e| e.1.clone()),
    };
    render(error.map_or(StatusCode::OK, |e| e.0), &page)
}

async fn request(State(state): State<AppState>, Operator(op): Operator, Path(id): Path<String>) -> Response {
    request_page(&state, &op, &id, None).await
}

async fn take(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    Path(id): Path<String>,
    SupportForm(_): SupportForm<PlainForm>,
) -> Response {
    let result = match id_of(&id) {
        Some(n) => state.app.take_request(op.actor(), n, &ctx).await,
        None => Err(Error::NotFound("No such request.")),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/support/requests/{id}")).into_response(),
        Err(e) => request_page(&state, &op, &id, Some((classify(&e).0, message(&e)))).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    identity_check: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    decision: String,
}

async fn decide(
    State(state): State<AppState>,
    Client(ctx): Client,
    Operator(op): Operator,
    Path(id): Path<String>,
    SupportForm(form): SupportForm<DecideForm>,
) -> Response {
    let grant = form.decision == "grant";
    let result = match id_of(&id) {
        Some(n) => state.app.decide_request(op.actor(), n, grant, &form.identity_check, &form.reason, &ctx).await,
        None => Err(Error::NotFound("No such request.")),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/support/requests/{id}")).into_response(),
        Err(e) => request_page(&state, &op, &id, Some((classify(&e).0, message(&e)))).await,
    }
}

crate::has_csrf!(GrantForm, DecideForm);
