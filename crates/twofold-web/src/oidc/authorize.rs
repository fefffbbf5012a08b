//! The authorization endpoint's HTTP face: the request as a query (GET) or a form (POST);
//! faults that cannot be sent back are a page, the rest redirects.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use twofold_app::domain::oidc::request::AuthorizeParams;
use twofold_app::oidc::authorize::AuthorizeAnswer;

use crate::client::Client;
use crate::pages::{Chrome, MessagePage, PageError, render};
use crate::session::AnySession;
use crate::{AppState, cookies, percent};

pub async fn by_query(
    State(state): State<AppState>,
    AnySession(session): AnySession,
    Client(ctx): Client,
    jar: CookieJar,
    query: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    match query {
        Ok(Query(params)) => answer(&state, params, session, &ctx, jar).await,
        Err(_) => unreadable(),
    }
}

pub async fn by_form(
    State(state): State<AppState>,
    AnySession(session): AnySession,
    Client(ctx): Client,
    jar: CookieJar,
    form: Result<Form<AuthorizeParams>, FormRejection>,
) -> Response {
    match form {
        Ok(Form(params)) => answer(&state, params, session, &ctx, jar).await,
        Err(_) => unreadable(),
    }
}

async fn answer(
    state: &AppState,
    params: AuthorizeParams,
    session: Option<twofold_app::sign_in::CurrentSession>,
    ctx: &twofold_app::RequestContext,
    jar: CookieJar,
) -> Response {
    match state.app.authorize(&params, session.as_ref(), ctx).await {
        Ok(AuthorizeAnswer::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(AuthorizeAnswer::SignIn { return_to }) => {
            // A session ended for a fresh sign-in leaves a dead cookie: drop it too.
            let jar = if session.is_some() { jar.add(cookies::session_removal(&state.app)) } else { jar };
            let to = format!("/login?rd={}", percent::encode(&return_to));
            (jar, Redirect::to(&to)).into_response()
        }
        Ok(AuthorizeAnswer::EnableTwoFactor { return_to }) => {
            Redirect::to(&format!("/me/two-factor/enable?rd={}", percent::encode(&return_to))).into_response()
        }
        Ok(AuthorizeAnswer::Refused(why)) => refused(why.message()),
        Err(e) => PageError::anonymous(e),
    }
}

fn unreadable() -> Response {
    refused("The sign-in request could not be read: each parameter may be sent once.")
}

/// A request that cannot be answered to the application: the person is told, and goes
/// nowhere else (no redirect to an unverified address).
fn refused(text: &str) -> Response {
    let page = MessagePage {
        chrome: Chrome::anonymous(String::new()),
        heading: "Sign-in could not start".into(),
        text: format!("{text} Tell the application's administrator."),
        next_href: "/",
        next_label: "Go to Twofold",
    };
    render(StatusCode::BAD_REQUEST, &page)
}
