//! Home, the Users tab of "Users, Plans and Billing", and people's profiles.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use twofold_app::Person;
use twofold_app::domain::factors::SecondFactors;
use twofold_app::domain::person::PersonStatus;
use twofold_app::{Error, RequestContext};

use twofold_app::domain::policy::Requirement;
use twofold_app::domain::{Role, permissions::Denied};
use twofold_app::people::{NewPerson, PersonSummary};
use twofold_app::sign_in::CurrentSession;

use super::form::CsrfForm;
use super::{Chrome, PageError, render, when};
use crate::AppState;
use crate::client::Client;
use crate::error::message;
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/home", get(home))
        .route("/users", get(users).post(invite))
        .route("/users/{id}", get(profile))
        .route("/users/{id}/role", post(change_role))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    notices: Vec<String>,
    user_id: i64,
    name: String,
    account_name: String,
    role_label: &'static str,
    /// Owners and Administrators find the Overview first.
    sees_overview: bool,
}

async fn home(State(state): State<AppState>, PageUser(session): PageUser) -> Response {
    let account_name = match state.app.account_name(session.user.account_id).await {
        Ok(name) => name,
        Err(e) => return PageError::signed_in(&session, e),
    };
    let u = &session.user;
    let notices = match state.app.take_notices(u).await {
        Ok(notices) => notices.into_iter().map(|n| n.text).collect(),
        Err(e) => return PageError::signed_in(&session, e),
    };
    let page = HomePage {
        notices,
        user_id: u.id,
        name: u.name.clone(),
        account_name,
        role_label: u.role.label(),
        sees_overview: state.app.sees_overview(u),
        chrome: Chrome::signed_in(&session),
    };
    render(StatusCode::OK, &page)
}

/// One person as the Users tab and profile show them.
struct PersonView {
    id: i64,
    name: String,
    email: String,
    role_label: &'static str,
    two_factor: String,
    phone: String,
    /// Set when the account requires 2FA and this person has not complied.
    non_compliance: Option<String>,
    /// The second-factor methods they have, e.g. "App, 2 security keys, 8 recovery codes".
    methods: String,
    last_sign_in: String,
}

/// The Users tab's words for a person's methods.
fn methods_text(f: &SecondFactors) -> String {
    let mut parts = Vec::new();
    if f.totp.is_enabled() {
        parts.push("App".to_string());
    }
    match f.security_keys {
        0 => {}
        1 => parts.push("1 security key".into()),
        n => parts.push(format!("{n} security keys")),
    }
    if f.is_on() {
        parts.push(format!("{} recovery codes", f.recovery_codes_left));
    }
    parts.join(", ")
}

impl PersonView {
    fn new(u: &Person, two_factor_since: Option<i64>) -> Self {
        let two_factor = match (u.status, two_factor_since) {
            (PersonStatus::Invited, _) => "Invited".to_string(),
            (PersonStatus::Deactivated { .. }, _) => "Deactivated".to_string(),
            (PersonStatus::Active { .. }, Some(since)) => format!("On since {}", when(Some(since))),
            (PersonStatus::Active { .. }, None) => "Off".to_string(),
        };
        Self {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            role_label: u.role.label(),
            two_factor,
            phone: String::new(),
            non_compliance: None,
            methods: String::new(),
            last_sign_in: when(u.last_sign_in_at),
        }
    }

    fn from_summary(p: &PersonSummary) -> Self {
        let non_compliance = match p.requirement {
            Requirement::Met => None,
            Requirement::DueBy { deadline } => Some(format!("Required by {}", when(Some(deadline)))),
            Requirement::Overdue => Some("Required: overdue".to_string()),
        };
        Self {
            phone: p.phone.clone().unwrap_or_default(),
            non_compliance,
            methods: methods_text(&p.factors),
            ..Self::new(&p.user, p.two_factor_since)
        }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    is_owner: bool,
    /// Whether the Security policy tab is shown (Owner and Administrators).
    reads_policy: bool,
    /// Whether the Overview tab is shown (Owner and Administrators).
    views_overview: bool,
    /// Open recovery requests about the account's people: (name, status, since).
    recovery_requests: Vec<(String, String, String)>,
    people: Vec<PersonView>,
    invite_roles: Vec<(&'static str, &'static str)>,
    invitation_url: Option<String>,
    /// The Groups section, for those who manage groups.
    manages_groups: bool,
    groups: Vec<GroupSection>,
    notice: Option<String>,
    error: Option<String>,
}

/// A group on the Users tab: its members, and who could be added.
struct GroupSection {
    id: i64,
    name: String,
    members: Vec<(i64, String)>,
    addable: Vec<(i64, String)>,
}

impl GroupSection {
    fn new(group: &twofold_app::groups::Group, people: &[PersonSummary]) -> Self {
        let (members, addable): (Vec<_>, Vec<_>) =
            people.iter().map(|p| (p.user.id, p.user.name.clone())).partition(|(id, _)| group.members.contains(id));
        GroupSection { id: group.id, name: group.name.clone(), members, addable }
    }
}

async fn users_page(state: &AppState, session: &CurrentSession, ctx: &RequestContext) -> Result<UsersPage, Error> {
    let tab = state.app.users_tab(&session.user, ctx).await?;
    Ok(UsersPage {
        chrome: Chrome::signed_in(session),
        is_owner: tab.manages_account,
        reads_policy: tab.reads_policy,
        views_overview: tab.views_overview,
        recovery_requests: tab
            .recovery_requests
            .into_iter()
            .map(|r| (r.person_name, r.status, when(Some(r.created_at))))
            .collect(),
        people: tab.people.iter().map(PersonView::from_summary).collect(),
        invite_roles: tab.invite_roles.into_iter().map(|r| (r.as_str(), r.label())).collect(),
        invitation_url: None,
        manages_groups: tab.manages_groups,
        groups: tab.groups.iter().map(|g| GroupSection::new(g, &tab.people)).collect(),
        notice: None,
        error: None,
    })
}

#[derive(Debug, Default, Deserialize)]
struct UsersQuery {
    #[serde(default)]
    removed: Option<String>,
}

async fn users(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    query: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let removed = query.is_ok_and(|q| q.0.removed.is_some());
    match users_page(&state, &session, &ctx).await {
        Ok(mut page) => {
            if removed {
                page.notice = Some("The person is removed from the account.".into());
            }
            render(StatusCode::OK, &page)
        }
        Err(e) => PageError::signed_in(&session, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf_token: String,
    email: String,
    name: String,
    role: String,
}

async fn invite(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Response {
    let result = match Role::parse(&form.role) {
        Some(role) => {
            state.app.invite(&session.user, &NewPerson { email: &form.email, name: &form.name, role }, &ctx).await
        }
        None => Err(Error::invalid("invalid_role", "Choose Administrator or User.")),
    };
    let mut page = match users_page(&state, &session, &ctx).await {
        Ok(page) => page,
        Err(e) => return PageError::signed_in(&session, e),
    };
    match result {
        Ok(invitation) => {
            page.notice = Some(format!("Invitation sent to {}.", invitation.user.email));
            page.invitation_url = Some(invitation.url);
            render(StatusCode::CREATED, &page)
        }
        Err(e) => {
            let status = crate::error::classify(&e).0;
            page.error = Some(message(&e));
            render(status, &page)
        }
    }
}

/// A remembered browser as the profile lists it.
struct DeviceView {
    id: i64,
    browser: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    person: PersonView,
    is_self: bool,
    two_factor_on: bool,
    /// The authenticator app is on (else the wizard is offered, also beside a key).
    app_on: bool,
    recovery_codes_left: u32,
    recovery_codes_low: bool,
    security_key_count: u32,
    security_keys: Vec<KeyView>,
    can_disable: bool,
    can_unlock: bool,
    can_sign_out: bool,
    can_transfer: bool,
    /// "Deactivate" or "Reactivate", when the viewer may.
    can_deactivate: bool,
    /// When the person was deactivated, if they are.
    deactivated: Option<String>,
    phone: Option<String>,
    devices: Vec<DeviceView>,
    /// The role button the viewer may press: (new role, label).
    role_change: Option<(&'static str, &'static str)>,
    notice: Option<String>,
    error: Option<String>,
}

/// A security key as the profile lists it.
struct KeyView {
    id: i64,
    name: String,
    created: String,
    last_used: String,
    passkey: bool,
}

#[derive(Debug, Deserialize, Default)]
pub struct ProfileQuery {
    #[serde(default)]
    key_removed: Option<String>,
    #[serde(default)]
    role_changed: Option<String>,
    #[serde(default)]
    two_factor: Option<String>,
    #[serde(default)]
    device_revoked: Option<String>,
    #[serde(default)]
    phone_changed: Option<String>,
    #[serde(default)]
    unlocked: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
    #[serde(default)]
    active: Option<String>,
}

async fn profile(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    query: Result<Query<ProfileQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let chrome = Chrome::signed_in(&session);
    let Some(id) = crate::path_id::parse(&id) else {
        return PageError::new(Error::Denied(Denied::NotFound), chrome).into_response();
    };
    let profile = match state.app.profile(&session.user, id, &ctx).await {
        Ok(profile) => profile,
        Err(e) => return PageError::new(e, chrome).into_response(),
    };
    let (person, status, caps) = (&profile.person, profile.two_factor, profile.capabilities);
    let role_change = if caps.make_admin {
        Some((Role::Admin.as_str(), "Make Administrator"))
    } else if caps.make_user {
        Some((Role::User.as_str(), "Make User"))
    } else {
        None
    };
    let is_self = person.id == session.user.id;
    let (devices, keys) = if is_self {
        match tokio::try_join!(state.app.devices(person), state.app.security_keys(person)) {
            Ok(both) => both,
            Err(e) => return PageError::new(e, chrome).into_response(),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let q = query.map(|q| q.0).unwrap_or_default();
    let notice = if q.role_changed.is_some() {
        Some(format!("{} is now {}.", person.name, person.role.label()))
    } else if q.two_factor.as_deref() == Some("on") {
        Some("Two-factor authentication is on. From now on you sign in with a code from your app.".into())
    } else if q.two_factor.as_deref() == Some("off") {
        Some("Two-factor authentication is off.".into())
    } else if q.unlocked.is_some() {
        Some(format!("{} can sign in with codes again.", person.name))
    } else if q.signed_out.is_some() {
        Some(format!("{} is signed out everywhere.", person.name))
    } else if q.active.as_deref() == Some("0") {
        Some(format!("{} is deactivated and signed out everywhere.", person.name))
    } else if q.active.as_deref() == Some("1") {
        Some(format!("{} can sign in again.", person.name))
    } else if q.phone_changed.is_some() {
        Some("Your mobile number is changed. We told your previous number by SMS.".into())
    } else if q.key_removed.is_some() {
        Some("The security key is removed.".into())
    } else if q.device_revoked.is_some() {
        Some("That browser will ask for a code at its next sign-in.".into())
    } else {
        None
    };
    let page = ProfilePage {
        chrome,
        person: PersonView::new(person, status.enabled_at()),
        is_self,
        two_factor_on: status.factors.is_on(),
        app_on: status.factors.totp.is_enabled(),
        recovery_codes_left: status.factors.recovery_codes_left,
        recovery_codes_low: status.factors.recovery_codes_low(),
        security_key_count: status.factors.security_keys,
        security_keys: keys
            .into_iter()
            .map(|k| KeyView {
                id: k.id,
                name: k.name,
                created: when(Some(k.created_at)),
                last_used: when(k.last_used_at),
                passkey: k.passkey,
            })
            .collect(),
        // Buttons come from the capabilities the app computed with the routes' own rules.
        can_disable: !is_self && status.factors.is_on() && caps.disable_two_factor,
        can_unlock: status.locked && caps.unlock_two_factor,
        can_sign_out: !is_self && caps.sign_out_everywhere,
        can_transfer: caps.transfer_ownership,
        can_deactivate: caps.deactivate,
        deactivated: match person.status {
            PersonStatus::Deactivated { since } => Some(when(Some(since))),
            _ => None,
        },
        phone: profile.phone.clone(),
        devices: devices
            .into_iter()
            .map(|d| DeviceView {
                id: d.id,
                browser: d
                    .user_agent
                    .map(|ua| ua.chars().take(80).collect())
                    .unwrap_or_else(|| "Unknown browser".into()),
                created: when(Some(d.created_at)),
                last_used: when(Some(d.last_used_at)),
            })
            .collect(),
        role_change,
        notice,
        error: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf_token: String,
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Response {
    let chrome = Chrome::signed_in(&session);
    let (Some(id), Some(role)) = (crate::path_id::parse(&id), Role::parse(&form.role)) else {
        return PageError::new(Error::Denied(Denied::NotFound), chrome).into_response();
    };
    match state.app.change_role(&session.user, id, role, &ctx).await {
        Ok(_) => Redirect::to(&format!("/users/{id}?role_changed=1")).into_response(),
        Err(e) => PageError::new(e, chrome).into_response(),
    }
}

crate::has_csrf!(InviteForm, RoleForm);
