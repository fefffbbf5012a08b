//! Sign-in, sign-out and the signed-in person.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use twofold_app::domain::session::Stage;
use twofold_app::sign_in::{NewSessionToken, PasswordAttempt};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::{AccountView, ErrorView, MeView, SessionStrengthView, SignInView, TwoFactorView, UserView};
use crate::AppState;
use crate::client::Client;
use crate::cookies;
use crate::error::ApiResult;
use crate::session::{AnySession, ApiUser, current};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout)).routes(routes!(me))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    email: String,
    password: String,
    /// The "Remember for 30 days" box.
    #[serde(default)]
    remember_device: bool,
}

/// Answers a new session: the cookies (session, and the remembered device when one was
/// just made), and the body the sign-in routes share.
pub fn signed_in_response(state: &AppState, jar: CookieJar, new: NewSessionToken) -> Response {
    let jar = jar.add(cookies::session(&state.app, new.token.clone()));
    let jar = cookies::add_password_step_cookies(&state.app, jar, &new);
    let body = match new.stage {
        Stage::SignedIn => SignInView {
            status: "signed_in".into(),
            csrf_token: new.csrf_token,
            user: Some(UserView::new(&new.user, new.two_factor_since)),
            methods: None,
        },
        Stage::SecondFactor => SignInView {
            status: "second_factor_required".into(),
            csrf_token: new.csrf_token,
            user: None,
            methods: Some(new.methods.iter().map(|m| (*m).to_string()).collect()),
        },
    };
    (jar, Json(body)).into_response()
}

/// The password step.
#[utoipa::path(post, path = "/api/v1/login", tag = "sign-in", request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in, or the second factor is required", body = SignInView),
        (status = 401, description = "`invalid_credentials`", body = ErrorView),
        (status = 429, description = "Too many attempts for this email or from this address (`Retry-After` says when to try again)", body = ErrorView),
    ))]
async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    AnySession(previous): AnySession,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let (device, known) = cookies::password_step_cookies(&state.app, &jar);
    let attempt = PasswordAttempt {
        email: &body.email,
        password: &body.password,
        remember_device: body.remember_device,
        device_token: device.as_deref(),
        known_browser: known.as_deref(),
        previous: previous.as_ref(),
    };
    let new = state.app.sign_in_with_password(&attempt, &ctx).await?;
    Ok(signed_in_response(&state, jar, new))
}

/// Ends the session on the server.
#[utoipa::path(post, path = "/api/v1/logout", tag = "sign-in", responses((status = 204, description = "Signed out")))]
async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    if let Some(session) = current(&parts) {
        crate::session::require_csrf_header(&parts, &session.csrf_token)?;
        state.app.sign_out(session, &ctx).await?;
    }
    let jar = jar.add(cookies::session_removal(&state.app));
    Ok((jar, StatusCode::NO_CONTENT).into_response())
}

/// The signed-in person, their account, 2FA state and CSRF token.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("session" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ErrorView)))]
async fn me(State(state): State<AppState>, ApiUser(session): ApiUser, Client(ctx): Client) -> ApiResult<Json<MeView>> {
    let user = &session.user;
    let account_name = state.app.account_name(user.account_id).await?;
    let profile = state.app.profile(user, user.id, &ctx).await?;
    let (enabled_at, phone) = (profile.two_factor.enabled_at(), profile.phone);
    let factors = profile.two_factor.factors;
    Ok(Json(MeView {
        id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role.as_str().into(),
        account: AccountView { id: user.account_id, name: account_name },
        two_factor: TwoFactorView {
            enabled: enabled_at.is_some(),
            recovery_codes_left: factors.recovery_codes_left,
            security_keys: factors.security_keys,
            phone,
            enabled_at,
        },
        session: SessionStrengthView {
            method: session.strength.method.public_name().into(),
            assurance: session.strength.assurance.as_str().into(),
            signed_in_at: session.signed_in_at(),
        },
        csrf_token: session.csrf_token.clone(),
    }))
}
