//! The shapes the API answers with.

use serde::{Deserialize, Serialize};
use twofold_app::Person;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `owner`, `admin` or `user`.
    pub role: String,
    pub two_factor_enabled: bool,
    /// False until an invited person has chosen a password, and while deactivated.
    pub active: bool,
    /// `invited`, `active` or `deactivated`.
    pub status: &'static str,
    pub last_sign_in_at: Option<i64>,
    /// The names of their groups (in the list of the account's people).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl UserView {
    pub fn new(u: &Person, two_factor_enabled_at: Option<i64>) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.as_str().into(),
            two_factor_enabled: two_factor_enabled_at.is_some(),
            active: u.is_active(),
            status: u.status.as_str(),
            last_sign_in_at: u.last_sign_in_at,
            groups: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorView {
    pub enabled: bool,
    /// Unused recovery codes left (never the codes).
    pub recovery_codes_left: u32,
    /// Security keys and passkeys registered.
    pub security_keys: u32,
    /// The verified phone number, masked.
    pub phone: Option<String>,
    pub enabled_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub account: AccountView,
    pub two_factor: TwoFactorView,
    /// How strongly this session is signed in (SEC-46).
    pub session: SessionStrengthView,
    pub csrf_token: String,
}

/// The session's part of `GET /api/v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionStrengthView {
    /// How this session signed in: `password`, `totp`, `sms`, `recovery_code`, `webauthn`,
    /// `passkey` or `remembered`.
    pub method: String,
    /// `one_factor` or `two_factor`.
    pub assurance: String,
    /// When this session signed in (Unix seconds).
    pub signed_in_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignInView {
    /// `signed_in` or `second_factor_required`.
    pub status: String,
    pub csrf_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i64>,
    /// With `invalid_code`: how far the phone's clock seems off (positive = fast).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_offset_seconds: Option<i64>,
}

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorView {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordBody {
    pub password: String,
}
