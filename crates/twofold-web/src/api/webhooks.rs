//! Webhooks (SEC-51): the Owner, or a token with the `webhooks` scope, points the account's
//! events at receivers, sends a test, and reads each attempt.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use twofold_app::webhooks::Webhook;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::ErrorView;
use crate::AppState;
use crate::caller::{ApiCaller, Webhooks};
use crate::client::Client;
use crate::error::ApiResult;
use crate::path_id::PathId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
        .routes(routes!(test))
        .routes(routes!(deliveries))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    id: i64,
    url: String,
    /// Audit event names, or `["*"]`.
    events: Vec<String>,
    created_at: i64,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        WebhookView { id: w.id, url: w.url, events: w.events, created_at: w.created_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookView {
    /// The signing secret (`whsec_…`), shown this once: give it to the receiver's Standard
    /// Webhooks library.
    secret: String,
    #[serde(flatten)]
    webhook: WebhookView,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookBody {
    /// `https://…` (http to loopback only where the instance allows it).
    #[schema(max_length = 2000)]
    url: String,
    /// Audit event names (`two_factor.disabled`, `person.deactivated`…) or `["*"]`.
    #[schema(max_items = 100)]
    events: Vec<String>,
    /// The Owner's password, to confirm (not with a token).
    #[schema(max_length = 1024)]
    password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` header: the same on every attempt of one event.
    event_id: String,
    #[serde(rename = "type")]
    event: String,
    attempt: i64,
    /// The receiver's HTTP status, or null when it did not answer.
    status: Option<i64>,
    at: i64,
    error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestView {
    /// The `webhook-id` the test is sent with.
    event_id: String,
}

/// The account's webhooks (never their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "apps", security(("session" = []), ("token" = ["webhooks"])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list(
    State(state): State<AppState>,
    caller: ApiCaller<Webhooks>,
    Client(ctx): Client,
) -> ApiResult<Json<Vec<WebhookView>>> {
    let hooks = state.app.webhooks(&caller.user, &ctx).await?;
    Ok(Json(hooks.into_iter().map(WebhookView::from).collect()))
}

/// Makes a webhook; its signing secret is answered once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "apps", security(("session" = []), ("csrf" = []), ("token" = ["webhooks"])),
    request_body = WebhookBody,
    responses(
        (status = 201, body = CreatedWebhookView),
        (status = 401, description = "`invalid_credentials`: the password did not match", body = ErrorView),
        (status = 403, body = ErrorView),
        (status = 409, description = "`too_many_webhooks`", body = ErrorView),
        (status = 422, description = "`invalid_url` (not https, or an internal address: SEC-51), `invalid_events`, `password_required`", body = ErrorView),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: ApiCaller<Webhooks>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<WebhookBody>,
) -> ApiResult<(StatusCode, Json<CreatedWebhookView>)> {
    let confirmation = caller.confirmation(body.password.as_deref())?;
    let events: Vec<&str> = body.events.iter().map(String::as_str).collect();
    let made = state.app.create_webhook(&caller.user, &body.url, &events, confirmation, &ctx).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhookView { secret: made.secret, webhook: made.webhook.into() })))
}

/// Deletes a webhook; what it had queued is not sent.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "apps", security(("session" = []), ("csrf" = []), ("token" = ["webhooks"])),
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn delete(
    State(state): State<AppState>,
    caller: ApiCaller<Webhooks>,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.app.delete_webhook(&caller.user, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a `webhook.test` event to this webhook (through the outbox, like any event).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "apps", security(("session" = []), ("csrf" = []), ("token" = ["webhooks"])),
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 202, body = TestView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn test(
    State(state): State<AppState>,
    caller: ApiCaller<Webhooks>,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<(StatusCode, Json<TestView>)> {
    let event_id = state.app.test_webhook(&caller.user, id, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(TestView { event_id })))
}

/// Every attempt of the webhook's newest 100, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "apps", security(("session" = []), ("token" = ["webhooks"])),
    params(("id" = i64, Path, description = "The webhook's id")),
    responses((status = 200, body = Vec<DeliveryView>), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn deliveries(
    State(state): State<AppState>,
    caller: ApiCaller<Webhooks>,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    let rows = state.app.webhook_deliveries(&caller.user, id, &ctx).await?;
    Ok(Json(
        rows.into_iter()
            .map(|d| DeliveryView {
                event_id: d.message_id,
                event: d.event,
                attempt: d.attempt,
                status: d.status,
                at: d.at,
                error: d.error,
            })
            .collect(),
    ))
}
