//! The audit log page: the account's events, filtered by person, event type and dates,
//! a page at a time, with links to export the same selection. Owners and Administrators
//! only; the filter form is a GET (it changes nothing), so it needs no CSRF token.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use twofold_app::audit::{Event, Filter, FilterInput, Named};
use twofold_app::sign_in::CurrentSession;

use super::{Chrome, PageError, render};
use crate::AppState;
use crate::client::Client;
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(audit))
}

/// Events per page.
const PAGE_SIZE: i64 = 50;

/// The filter form's fields, as typed.
#[derive(Debug, Deserialize, Default)]
pub struct AuditForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

impl AuditForm {
    fn input(&self) -> FilterInput<'_> {
        FilterInput {
            user_id: Some(&self.user_id),
            event: Some(&self.event),
            from: Some(&self.from),
            to: Some(&self.to),
            before: Some(&self.before),
            limit: None,
        }
    }

    /// The filters (without paging) as a query string, for the export and paging links.
    fn filters(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("user_id", self.user_id.trim()),
            ("event", self.event.trim()),
            ("from", self.from.trim()),
            ("to", self.to.trim()),
        ]
    }
}

struct PersonOption {
    id: i64,
    label: String,
    selected: bool,
}

/// One event as the table shows it.
struct Row {
    time: String,
    event: String,
    actor: String,
    target: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    people: Vec<PersonOption>,
    event_types: Vec<String>,
    event: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    older_href: Option<String>,
    csv_href: String,
    json_href: String,
    error: Option<String>,
}

async fn audit(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    form: Result<Query<AuditForm>, QueryRejection>,
) -> Response {
    let actor = &session.user;
    // Asking for the choices first is also the permission check: Users get a 403 page.
    let (people, event_types) = match state.app.audit_choices(actor, &ctx).await {
        Ok(found) => found,
        Err(e) => return PageError::signed_in(&session, e),
    };
    let (form, form_error) = match form {
        Ok(Query(form)) => (form, None),
        Err(e) => (AuditForm::default(), Some(e.body_text())),
    };
    let mut page = empty_page(&session, &form, &people, event_types);
    let parsed = match form_error {
        Some(message) => Err(message),
        None => Filter::parse(&form.input()).map_err(|e| e.to_string()),
    };
    let filter = match parsed {
        Ok(filter) => filter,
        Err(message) => {
            page.error = Some(message);
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let filter = Filter { limit: Some(PAGE_SIZE + 1), ..filter };
    let mut events = match state.app.audit_search(actor, &filter, &ctx).await {
        Ok(events) => events,
        Err(e) => return PageError::signed_in(&session, e),
    };
    // One more than a page was asked for: its presence says there is an older page.
    if events.len() as i64 > PAGE_SIZE {
        events.truncate(PAGE_SIZE as usize);
        page.older_href = events.last().map(|last| {
            let before = last.id.to_string();
            let mut pairs = form.filters();
            pairs.push(("before", &before));
            format!("/audit?{}", query_string(&pairs))
        });
    }
    let names: HashMap<i64, &str> = people.iter().map(|p| (p.id, p.name.as_str())).collect();
    page.rows = events.iter().map(|e| row(e, &names)).collect();
    render(StatusCode::OK, &page)
}

/// The page with its form filled in as submitted, and no events yet.
fn empty_page(session: &CurrentSession, form: &AuditForm, people: &[Named], event_types: Vec<String>) -> AuditPage {
    let selected = form.user_id.trim().parse::<i64>().ok();
    let export = |format: &str| {
        let mut pairs = vec![("format", format)];
        pairs.extend(form.filters());
        format!("/api/v1/audit-events/export?{}", query_string(&pairs))
    };
    AuditPage {
        chrome: Chrome::signed_in(session),
        people: people
            .iter()
            .map(|p| PersonOption {
                id: p.id,
                label: format!("{} ({})", p.name, p.email),
                selected: Some(p.id) == selected,
            })
            .collect(),
        event_types: suggestions(event_types),
        event: form.event.trim().into(),
        from: form.from.trim().into(),
        to: form.to.trim().into(),
        rows: Vec::new(),
        older_href: None,
        csv_href: export("csv"),
        json_href: export("json"),
        error: None,
    }
}

/// The account's event types, and the prefix of each family (`sign_in.`) before them.
fn suggestions(types: Vec<String>) -> Vec<String> {
    let prefixes: BTreeSet<String> =
        types.iter().filter_map(|t| t.split_once('.').map(|(family, _)| format!("{family}."))).collect();
    prefixes.into_iter().chain(types).collect()
}

fn row(e: &Event, names: &HashMap<i64, &str>) -> Row {
    let name = |id: Option<i64>| match id {
        None => "—".to_string(),
        Some(id) => names.get(&id).map_or_else(|| format!("#{id}"), |n| n.to_string()),
    };
    let detail = e.detail.to_string();
    Row {
        time: utc_seconds(e.created_at),
        event: e.event.clone(),
        actor: name(e.actor_user_id),
        target: name(e.target_user_id),
        ip: e.ip.clone().unwrap_or_else(|| "—".into()),
        detail: if detail.chars().count() > 200 {
            format!("{}…", detail.chars().take(200).collect::<String>())
        } else {
            detail
        },
    }
}

/// A Unix time to the second, in UTC.
fn utc_seconds(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// `k=v&…` with the values percent-encoded, leaving out blank ones.
fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
