//! The authorization endpoint's HTTP face: the request as a query (GET) or a form (POST);
//! faults that cannot be sent back are a page, the rest redirects.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use twofold_app::domain::oidc::request::AuthorizeParams;
use twofold_app::oidc::authorize::AuthorizeAnswer;

use crate::client::Client;
use crate::pages::PageError;
use crate::session::AnySession;
use crate::{AppState, percent};

pub async fn by_query(
    State(state): State<AppState>,
    AnySession(session): AnySession,
    Client(ctx): Client,
    query: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    match query {
        Ok(Query(params)) => answer(&state, params, session, &ctx).await,
        Err(_) => unreadable(),
    }
}

pub async fn by_form(
    State(state): State<AppState>,
    AnySession(session): AnySession,
    Client(ctx): Client,
    form: Result<Form<AuthorizeParams>, FormRejection>,
) -> Response {
    match form {
        Ok(Form(params)) => answer(&state, params, session, &ctx).await,
        Err(_) => unreadable(),
    }
}

async fn answer(
    state: &AppState,
    params: AuthorizeParams,
    session: Option<twofold_app::sign_in::CurrentSession>,
    ctx: &twofold_app::RequestContext,
) -> Response {
    match state.app.authorize(&params, session.as_ref(), ctx).await {
        Ok(AuthorizeAnswer::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(AuthorizeAnswer::SignIn { return_to, fresh }) => {
            // A fresh sign-in shows the form even to a signed-in browser; the session it
            // opens replaces the old one (nothing ends on this GET).
            let fresh = if fresh { "fresh=1&" } else { "" };
            Redirect::to(&format!("/login?{fresh}rd={}", percent::encode(&return_to))).into_response()
        }
        Ok(AuthorizeAnswer::EnableTwoFactor { return_to }) => {
            Redirect::to(&format!("/me/two-factor/enable?rd={}", percent::encode(&return_to))).into_response()
        }
        Ok(AuthorizeAnswer::Refused(why)) => refused(why.message()),
        Ok(AuthorizeAnswer::Failed(e)) => refused(&format!("{} ({})", e.description, e.error)),
        Err(e) => PageError::anonymous(e),
    }
}

fn unreadable() -> Response {
    refused("The sign-in request could not be read: each parameter may be sent once.")
}

/// A request that cannot be answered to the application: the person is told, and goes
/// nowhere else (no redirect to an unverified address).
fn refused(text: &str) -> Response {
    let text = format!("{text} Tell the application's administrator.");
    super::message(StatusCode::BAD_REQUEST, "Sign-in could not start", text, ("/", "Go to Twofold"))
}
