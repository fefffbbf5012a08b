//! A client of the real binary's JSON API, for tests that run `twofold serve` (browser and
//! command-line tests): setup, sign-in, invitations and 2FA enrolment by API, so that each
//! test spends its steps on what it is about.

use twofold_app::domain::otp::{self, Secret};

use super::PASSWORD;
use super::server::Server;

/// Creates the account through the setup link; answers an API client signed in as its Owner.
pub async fn create_account(server: &Server) -> Api {
    let token = server.setup_link().expect("setup link").rsplit('/').next().unwrap().to_string();
    let body = serde_json::json!({ "account_name": "Acme", "owner_name": "Ada Owner", "owner_email": "ada@acme.test", "password": PASSWORD });
    let r = crate::support::client(false)
        .post(format!("{}/api/v1/setup/{token}", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    api_sign_in(server, "ada@acme.test").await.0
}

/// The code an authenticator app shows `ahead` seconds from now (the server runs on the
/// real clock; a code one step ahead is inside the accepted window and never a replay of
/// the code that just confirmed enrolment).
pub fn code_at(secret: &Secret, ahead: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    otp::current_code(&otp::TotpParams::default(), secret, now + ahead)
}

/// An API client signed in as the Owner created by `create_account`.
pub struct Api {
    pub client: reqwest::Client,
    pub csrf: String,
}

pub async fn api_sign_in(server: &Server, email: &str) -> (Api, serde_json::Value) {
    let client = crate::support::client(true);
    let r: serde_json::Value = client
        .post(format!("{}/api/v1/login", server.base))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (Api { client, csrf: r["csrf_token"].as_str().unwrap().to_string() }, r)
}

impl Api {
    pub async fn post(&self, server: &Server, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = self
            .client
            .post(format!("{}{path}", server.base))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await;
        r.unwrap().json().await.unwrap_or_default()
    }

    pub async fn put(&self, server: &Server, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = self
            .client
            .put(format!("{}{path}", server.base))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await;
        r.unwrap().json().await.unwrap_or_default()
    }

    pub async fn get(&self, server: &Server, path: &str) -> serde_json::Value {
        let r = self.client.get(format!("{}{path}", server.base)).send().await;
        r.unwrap().json().await.unwrap_or_default()
    }
}

pub async fn invite(server: &Server, owner: &Api, email: &str, role: &str) -> serde_json::Value {
    let r =
        owner.post(server, "/api/v1/users", serde_json::json!({ "email": email, "name": "Pat", "role": role })).await;
    let token = r["invitation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let client = crate::support::client(false);
    let url = format!("{}/api/v1/invitations/{token}", server.base);
    client.post(url).json(&serde_json::json!({ "password": PASSWORD })).send().await.unwrap();
    r
}

/// Turns 2FA on for `email` through the API, reading the SMS from the file outbox.
pub async fn enable_by_api(server: &Server, email: &str, phone: &str) -> Secret {
    let (api, _) = api_sign_in(server, email).await;
    let before =
        std::fs::read_to_string(server.data_dir().join("sms-outbox.jsonl")).unwrap_or_default().lines().count();
    let secret = enrol_up_to_the_phone_code(server, &api, phone).await;
    let sms = server.sms_code_to(phone, before).await;
    let done =
        api.post(server, "/api/v1/me/two-factor/enrollment/phone/verify", serde_json::json!({ "code": sms })).await;
    assert_eq!(done["enabled"], true, "{done}");
    secret
}

/// The wizard by API up to Step 4's SMS: the key, its first code, the number (which queues
/// the verification SMS). Answers the key.
pub async fn enrol_up_to_the_phone_code(server: &Server, api: &Api, phone: &str) -> Secret {
    let e = api.post(server, "/api/v1/me/two-factor/enrollment", serde_json::json!({})).await;
    let secret = Secret::from_base32(e["secret"].as_str().unwrap()).unwrap();
    api.post(server, "/api/v1/me/two-factor/enrollment/code", serde_json::json!({ "code": code_at(&secret, 0) })).await;
    api.post(server, "/api/v1/me/two-factor/enrollment/phone", serde_json::json!({ "phone": phone })).await;
    secret
}
