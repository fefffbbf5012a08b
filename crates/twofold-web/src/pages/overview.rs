//! The Overview page (Users, Plans and Billing → Overview): the same answer as
//! `GET /api/v1/account/overview`, with its charts drawn here as SVG.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use twofold_app::domain::overview::{DayActivity, date_of};
use twofold_app::overview::{Adoption, Attention, Listed, PolicyLine};

use super::{Chrome, PageError, charts, render, when};
use crate::AppState;
use crate::client::Client;
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new().route("/overview", get(show))
}

/// A security event as the list shows it, with the audit log filtered to its kind.
struct RecentEvent {
    event: String,
    when: String,
    filter: String,
}

/// One day of the activity table.
struct DayRow {
    date: String,
    succeeded: i64,
    failed: i64,
    locked: i64,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    is_owner: bool,
    adoption: Adoption,
    /// Whole percent of active people with 2FA.
    percent: usize,
    policy_required: bool,
    overdue: Listed<PolicyLine>,
    in_grace: Listed<PolicyLine>,
    days: Vec<DayRow>,
    totals: (i64, i64, i64),
    activity_chart: String,
    trend_chart: String,
    /// (first day, its count), (last day, its count) of the trend, for the sentence under it.
    trend_ends: Option<((String, i64), (String, i64))>,
    attention: Attention,
    recent: Vec<RecentEvent>,
    generated: String,
}

fn rows(days: &[DayActivity]) -> Vec<DayRow> {
    days.iter()
        .rev()
        .map(|d| DayRow { date: date_of(d.day), succeeded: d.succeeded, failed: d.failed, locked: d.locked })
        .collect()
}

async fn show(State(state): State<AppState>, user: PageUser, Client(ctx): Client) -> Response {
    let o = match state.app.overview(&user.0.user, &ctx).await {
        Ok(o) => o,
        Err(e) => return PageError::signed_in(&user.0, e),
    };
    let a = &o.adoption;
    let percent = a.percent();
    let totals = o.activity.iter().fold((0, 0, 0), |t, d| (t.0 + d.succeeded, t.1 + d.failed, t.2 + d.locked));
    let trend_ends = match (a.trend.first(), a.trend.last()) {
        (Some(f), Some(l)) => Some(((date_of(f.0), f.1), (date_of(l.0), l.1))),
        _ => None,
    };
    let page = OverviewPage {
        chrome: Chrome::signed_in(&user.0),
        is_owner: user.0.user.role == twofold_app::domain::Role::Owner,
        percent,
        policy_required: o.policy_required,
        days: rows(&o.activity),
        totals,
        activity_chart: charts::activity(&o.activity),
        trend_chart: charts::trend(&a.trend, a.active as i64),
        trend_ends,
        recent: o
            .recent
            .iter()
            .map(|e| RecentEvent {
                event: e.event.clone(),
                when: when(Some(e.created_at)),
                filter: format!("/audit?event={}", crate::percent::encode(&e.event)),
            })
            .collect(),
        generated: when(Some(o.generated_at)),
        adoption: o.adoption,
        overdue: o.overdue,
        in_grace: o.in_grace,
        attention: o.attention,
    };
    render(StatusCode::OK, &page)
}
