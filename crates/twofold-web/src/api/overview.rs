//! The Overview as JSON (the page is `pages/overview.rs`), and the people export.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use twofold_app::domain::overview::{date_of, day_of};
use twofold_app::domain::policy::Requirement;
use twofold_app::overview::{Named, Overview, PolicyLine};
use twofold_app::people::PersonSummary;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::EventView;
use super::views::ErrorView;
use crate::AppState;
use crate::client::Client;
use crate::csv;
use crate::error::ApiResult;
use crate::session::ApiUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview)).routes(routes!(people_csv))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonRef {
    id: i64,
    name: String,
}

impl From<Named> for PersonRef {
    fn from(n: Named) -> Self {
        PersonRef { id: n.id, name: n.name }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ByFactor {
    authenticator_app: usize,
    /// A security key or passkey.
    security_key: usize,
    /// People with 2FA and three recovery codes or fewer left.
    recovery_codes_low: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrendPoint {
    /// `YYYY-MM-DD` (UTC).
    date: String,
    with_two_factor: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeopleView {
    /// People who chose their password (open invitations are not counted).
    active: usize,
    with_two_factor: usize,
    by_factor: ByFactor,
    /// People with 2FA at the end of each of the last 90 days, oldest first.
    trend: Vec<TrendPoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overdue {
    id: i64,
    name: String,
    days_over: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InGrace {
    id: i64,
    name: String,
    days_left: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyStateView {
    required: bool,
    /// The first 50, most overdue first.
    overdue: Vec<Overdue>,
    /// How many are overdue in all.
    overdue_total: usize,
    /// The first 50, fewest days left first.
    in_grace: Vec<InGrace>,
    in_grace_total: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    /// `YYYY-MM-DD` (UTC).
    date: String,
    succeeded: i64,
    /// Wrong passwords, codes, recovery codes and security-key answers.
    failed: i64,
    /// Second factors locked after too many wrong codes.
    locked: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    id: i64,
    name: String,
    status: String,
    created_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    id: i64,
    name: String,
    key_name: String,
    passkey: bool,
    added_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppUseView {
    client_id: String,
    name: String,
    /// Sign-ins through it in the last 30 days.
    sign_ins: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttentionView {
    /// The first 50.
    locked: Vec<PersonRef>,
    locked_total: usize,
    recovery_requests: Vec<RequestView>,
    /// People with 2FA and no verified phone for recovery (the first 50).
    without_phone: Vec<PersonRef>,
    without_phone_total: usize,
    /// Security keys and passkeys added in the last 7 days.
    new_security_keys: Vec<KeyView>,
    /// The applications signed in to most in 30 days.
    applications: Vec<AppUseView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewView {
    generated_at: i64,
    people: PeopleView,
    policy: PolicyStateView,
    /// The last 30 days, oldest first.
    sign_ins: Vec<DayView>,
    needs_attention: AttentionView,
    /// The newest security events (at most ten).
    recent_events: Vec<EventView>,
}

fn line(p: PolicyLine) -> (i64, String, i64) {
    (p.person.id, p.person.name, p.days)
}

impl From<Overview> for OverviewView {
    fn from(o: Overview) -> Self {
        let a = o.adoption;
        let attention = o.attention;
        OverviewView {
            generated_at: o.generated_at,
            people: PeopleView {
                active: a.active,
                with_two_factor: a.with_two_factor,
                by_factor: ByFactor {
                    authenticator_app: a.authenticator_app,
                    security_key: a.security_key,
                    recovery_codes_low: a.recovery_codes_low,
                },
                trend: a
                    .trend
                    .into_iter()
                    .map(|(day, with_two_factor)| TrendPoint { date: date_of(day), with_two_factor })
                    .collect(),
            },
            policy: PolicyStateView {
                required: o.policy_required,
                overdue_total: o.overdue.total,
                overdue: o
                    .overdue
                    .shown
                    .into_iter()
                    .map(line)
                    .map(|(id, name, days_over)| Overdue { id, name, days_over })
                    .collect(),
                in_grace_total: o.in_grace.total,
                in_grace: o
                    .in_grace
                    .shown
                    .into_iter()
                    .map(line)
                    .map(|(id, name, days_left)| InGrace { id, name, days_left })
                    .collect(),
            },
            sign_ins: o
                .activity
                .into_iter()
                .map(|d| DayView { date: date_of(d.day), succeeded: d.succeeded, failed: d.failed, locked: d.locked })
                .collect(),
            needs_attention: AttentionView {
                locked_total: attention.locked.total,
                locked: attention.locked.shown.into_iter().map(PersonRef::from).collect(),
                recovery_requests: attention
                    .recovery_requests
                    .into_iter()
                    .map(|r| RequestView {
                        id: r.person.id,
                        name: r.person.name,
                        status: r.status,
                        created_at: r.created_at,
                    })
                    .collect(),
                without_phone_total: attention.without_phone.total,
                without_phone: attention.without_phone.shown.into_iter().map(PersonRef::from).collect(),
                new_security_keys: attention
                    .new_keys
                    .into_iter()
                    .map(|k| KeyView {
                        id: k.person.id,
                        name: k.person.name,
                        key_name: k.name,
                        passkey: k.passkey,
                        added_at: k.added_at,
                    })
                    .collect(),
                applications: attention
                    .top_apps
                    .into_iter()
                    .map(|a| AppUseView { client_id: a.client_id, name: a.name, sign_ins: a.sign_ins })
                    .collect(),
            },
            recent_events: o.recent.into_iter().map(EventView::from).collect(),
        }
    }
}

/// Who is protected, what the policy waits for, 30 days of sign-ins, what needs attention
/// (Owners and Administrators).
#[utoipa::path(get, path = "/api/v1/account/overview", tag = "administration", security(("session" = [])),
    responses(
        (status = 200, body = OverviewView),
        (status = 401, description = "`unauthenticated`", body = ErrorView),
        (status = 403, description = "`forbidden`: Users do not see the Overview", body = ErrorView),
    ))]
async fn overview(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
) -> ApiResult<Json<OverviewView>> {
    Ok(Json(state.app.overview(&session.user, &ctx).await?.into()))
}

/// The account's people with their 2FA state and factors, as CSV (UTF-8, CRLF lines, a
/// header row), for the Owner's own reports.
#[utoipa::path(get, path = "/api/v1/account/people.csv", tag = "administration", security(("session" = [])),
    responses(
        (status = 200, description = "`text/csv`: name, email, role, status, two_factor, since, authenticator_app, security_keys, recovery_codes_left, phone (masked), policy", content_type = "text/csv", body = String),
        (status = 401, description = "`unauthenticated`", body = ErrorView),
        (status = 403, description = "`forbidden`", body = ErrorView),
    ))]
async fn people_csv(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
) -> ApiResult<Response> {
    let body = people_document(&state.app.people_export(&session.user, &ctx).await?);
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"people.csv\""),
        (header::CACHE_CONTROL, "no-store"),
    ];
    Ok((headers, body).into_response())
}

const PEOPLE_HEADER: [&str; 11] = [
    "name",
    "email",
    "role",
    "status",
    "two_factor",
    "since",
    "authenticator_app",
    "security_keys",
    "recovery_codes_left",
    "phone",
    "policy",
];

/// The people list as CSV: a header row and one row per person, dates as `YYYY-MM-DD` (UTC),
/// phones masked as on the pages.
fn people_document(people: &[PersonSummary]) -> String {
    let date = |t: i64| date_of(day_of(t));
    let mut out = csv::line(PEOPLE_HEADER.iter().map(|h| (*h).to_owned()));
    for p in people {
        let status = p.user.status.as_str();
        let policy = match p.requirement {
            Requirement::Met => "met".to_owned(),
            Requirement::DueBy { deadline } => format!("due {}", date(deadline)),
            Requirement::Overdue => "overdue".to_owned(),
        };
        out.push_str(&csv::line([
            p.user.name.clone(),
            p.user.email.clone(),
            p.user.role.as_str().to_owned(),
            status.to_owned(),
            if p.factors.is_on() { "on" } else { "off" }.to_owned(),
            p.two_factor_since.map(date).unwrap_or_default(),
            if p.factors.totp.enabled_since().is_some() { "yes" } else { "no" }.to_owned(),
            p.factors.security_keys.to_string(),
            p.factors.recovery_codes_left.to_string(),
            p.phone.clone().unwrap_or_default(),
            policy,
        ]));
    }
    out
}
