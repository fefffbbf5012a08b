//! The token, revocation and userinfo endpoints: called by applications' servers (or a
//! public client's code), never by a person's browser session.

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use serde::Deserialize;
use twofold_app::oidc::OAuthError;
use twofold_app::oidc::clients::ClientAuth;
use twofold_app::oidc::tokens::TokenRequest;

use super::{no_store, oauth_error};
use crate::AppState;
use crate::client::Client;

/// The client's credentials from HTTP Basic (RFC 6749 §2.3.1: both parts form-encoded) or
/// from the body; both at once is refused.
fn client_auth(
    headers: &HeaderMap,
    body_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<ClientAuth, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let Some(encoded) = basic else {
        return Ok(ClientAuth { client_id: body_id.map(str::to_owned), secret: body_secret.map(str::to_owned) });
    };
    if body_secret.is_some() {
        return Err(OAuthError::invalid_request("Authenticate the client one way only."));
    }
    let decoded = BASE64.decode(encoded.trim().as_bytes()).map_err(|_| OAuthError::invalid_client())?;
    let text = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = text.split_once(':').ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = (form_decode(id)?, form_decode(secret)?);
    if body_id.is_some_and(|b| b != id) {
        return Err(OAuthError::invalid_request("client_id differs from the authenticated client."));
    }
    Ok(ClientAuth { client_id: Some(id), secret: Some(secret) })
}

fn form_decode(part: &str) -> Result<String, OAuthError> {
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| OAuthError::invalid_client())
}

fn form_error(rejection: FormRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return oauth_error(OAuthError::new(413, "invalid_request", "The request is too large."));
    }
    let why = match rejection {
        FormRejection::InvalidFormContentType(_) => "Send the parameters as application/x-www-form-urlencoded.",
        _ => "The parameters could not be read (each may be sent once).",
    };
    oauth_error(OAuthError::invalid_request(why))
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let req = match form {
        Ok(Form(req)) => req,
        Err(rejection) => return form_error(rejection),
    };
    let auth = match client_auth(&headers, req.client_id.as_deref(), req.client_secret.as_deref()) {
        Ok(auth) => auth,
        Err(e) => return oauth_error(e),
    };
    match state.app.token(&auth, &req, &ctx).await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(e) => oauth_error(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009: 200 whether or not the token was known.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return form_error(rejection),
    };
    let auth = match client_auth(&headers, form.client_id.as_deref(), form.client_secret.as_deref()) {
        Ok(auth) => auth,
        Err(e) => return oauth_error(e),
    };
    match state.app.revoke(&auth, form.token.as_deref(), &ctx).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => oauth_error(e),
    }
}

/// OpenID Connect Core §5.3, with the access token in the Authorization header (RFC 6750).
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let result = match bearer {
        Some(token) => state.app.userinfo(token.trim()).await,
        None => Err(OAuthError::invalid_token()),
    };
    match result {
        Ok(claims) => no_store(Json(claims).into_response()),
        Err(e) if e.status == 401 => {
            let mut response = oauth_error(e);
            let challenge = HeaderValue::from_static("Bearer error=\"invalid_token\"");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
            response
        }
        Err(e) => oauth_error(e),
    }
}
