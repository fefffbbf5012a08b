//! The OpenID Provider's endpoints: discovery and keys here, the flows in their own files.
//! They answer in OAuth's words (`{"error": …, "error_description": …}`) where OAuth says
//! so, and with pages where a person is looking.

mod authorize;
mod logout;
mod token;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use twofold_app::domain::oidc::{ACR_PASSWORD, ACR_TWO_FACTOR, SCOPES};
use twofold_app::oidc::OAuthError;

use crate::AppState;

/// Paths that carry no cookie session (the clients authenticate themselves): the session
/// middleware skips them, and so does the cross-site check (browsers of single-page apps
/// call them from the app's origin by design).
pub fn is_sessionless(path: &str) -> bool {
    path.starts_with("/.well-known/")
        || matches!(path, "/oauth2/token" | "/oauth2/revoke" | "/oauth2/userinfo" | "/oauth2/jwks")
}

/// Paths another site's page may POST to: the token endpoints, and an authorization
/// request sent as a form.
pub fn accepts_cross_site_post(path: &str) -> bool {
    is_sessionless(path) || path == "/oauth2/authorize"
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth2/jwks", get(jwks))
        .route("/oauth2/authorize", get(authorize::by_query).post(authorize::by_form))
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/revoke", post(token::revoke))
        .route("/oauth2/userinfo", get(token::userinfo).post(token::userinfo))
        .route("/oauth2/logout", get(logout::ask).post(logout::confirm))
}

/// OpenID Connect Discovery 1.0 §3: everything a certified client reads.
async fn discovery(State(state): State<AppState>) -> Response {
    let iss = state.app.issuer();
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    let document = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "userinfo_endpoint": format!("{iss}/oauth2/userinfo"),
        "jwks_uri": format!("{iss}/oauth2/jwks"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "end_session_endpoint": format!("{iss}/oauth2/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "azp", "sid",
            "email", "email_verified", "name", "preferred_username", "account", "role", "groups"
        ],
        "acr_values_supported": [ACR_TWO_FACTOR, ACR_PASSWORD],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    });
    cacheable(Json(document).into_response())
}

async fn jwks(State(state): State<AppState>) -> Response {
    match state.app.jwks().await {
        Ok(keys) => cacheable(Json(keys).into_response()),
        Err(e) => oauth_error(OAuthError::from(e)),
    }
}

/// Public documents: relying parties may cache them a few minutes (an unknown `kid` makes
/// them fetch the keys again, so a rotation is picked up at once).
fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// A page that tells the person what happened and offers one link: the OAuth faults that
/// are not redirected, and the ends of a sign-out.
fn message(status: StatusCode, heading: &str, text: String, next: (&'static str, &'static str)) -> Response {
    let page = crate::pages::MessagePage {
        chrome: crate::pages::Chrome::anonymous(String::new()),
        heading: heading.into(),
        text,
        next_href: next.0,
        next_label: next.1,
    };
    crate::pages::render(status, &page)
}

/// Token responses and errors are never cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An OAuth error as RFC 6749 §5.2 shapes it; `invalid_client` with Basic's challenge.
pub fn oauth_error(e: OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, Json(json!({ "error": e.error, "error_description": e.description }))).into_response();
    if e.error == "invalid_client" {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"twofold\""));
    }
    no_store(response)
}
