//! SCIM Users: people provisioned, updated, deactivated and removed by the directory.

use std::collections::HashMap;

use serde_json::{Value, json};
use twofold_domain::Role;
use twofold_domain::person::Person;
use twofold_domain::scim::resource::{UserFields, UserView, forget_derived_name, user_fields, user_json};
use twofold_domain::scim::{Page, filter, patch};
use twofold_store::scim::{self, ScimUserRow, UserChange, UserKey};
use twofold_store::users::{self, NewUser};
use twofold_store::{Conn, StoreError, commit};

use super::{ListPage, id_of, page_of, require_scope, taken};
use crate::access::{Deactivate, Invite};
use crate::audit::Parties;
use crate::proof::Confirmation;
use crate::tokens::TokenCaller;
use crate::{App, Error, RequestContext, Result};

fn fields_of(row: &ScimUserRow) -> UserFields {
    UserFields {
        user_name: row.user_name.clone(),
        email: row.email.clone(),
        name: row.name.clone(),
        given_name: row.given_name.clone(),
        family_name: row.family_name.clone(),
        active: row.active,
        external_id: row.external_id.clone(),
    }
}

/// Which side of a uniqueness conflict the directory hit.
fn conflict(e: StoreError) -> Error {
    match e {
        StoreError::Unique(what) if what.contains("scim_user_name") => taken("The userName"),
        StoreError::Unique(_) => taken("The email address"),
        other => other.into(),
    }
}

impl App {
    /// People as User resources, with their groups.
    async fn user_resources(
        &self,
        conn: &mut Conn,
        account_id: i64,
        rows: &[ScimUserRow],
        base: &str,
    ) -> Result<Vec<Value>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut groups: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
        for (user_id, group_id, name) in scim::groups_of(conn, account_id, &ids).await? {
            groups.entry(user_id).or_default().push((group_id, name));
        }
        Ok(rows
            .iter()
            .map(|row| {
                let fields = fields_of(row);
                let theirs = groups.get(&row.id).map(Vec::as_slice).unwrap_or_default();
                let view = UserView {
                    id: row.id,
                    fields: &fields,
                    created_at: row.created_at,
                    modified_at: row.modified_at,
                    groups: theirs,
                };
                user_json(&view, base)
            })
            .collect())
    }

    async fn user_resource(&self, conn: &mut Conn, account_id: i64, id: i64, base: &str) -> Result<Value> {
        let row = scim::user(conn, account_id, id).await?.ok_or(Error::NotFound("No such user."))?;
        let mut one = self.user_resources(conn, account_id, &[row], base).await?;
        one.pop().ok_or(Error::NotFound("No such user."))
    }

    /// `GET /Users`: a page of the account's people, filtered. An `eq` on userName,
    /// externalId or emails.value is looked up by index; other filters read everyone.
    pub async fn scim_users(
        &self,
        caller: &TokenCaller,
        filter: Option<&str>,
        page: Page,
        base: &str,
    ) -> Result<ListPage> {
        require_scope(caller)?;
        let account_id = caller.user.account_id;
        let mut conn = self.store().conn().await?;
        let Some(text) = filter.filter(|f| !f.trim().is_empty()) else {
            let (total, rows) =
                scim::users_page(&mut conn, account_id, page.offset() as i64, page.count as i64).await?;
            let resources = self.user_resources(&mut conn, account_id, &rows, base).await?;
            return Ok(ListPage { total: total as usize, start_index: page.start_index, resources });
        };
        let filter = filter::parse(text)?;
        let by = |attr| filter.required_eq(attr);
        let rows = if let Some(v) = by("userName") {
            scim::users_by(&mut conn, account_id, UserKey::UserName, v).await?
        } else if let Some(v) = by("externalId") {
            scim::users_by(&mut conn, account_id, UserKey::ExternalId, v).await?
        } else if let Some(v) = by("emails.value").or_else(|| by("emails")) {
            scim::users_by(&mut conn, account_id, UserKey::Email, v).await?
        } else if let Some(id) = by("id").and_then(|v| v.parse().ok()) {
            scim::user(&mut conn, account_id, id).await?.into_iter().collect()
        } else {
            scim::all_users(&mut conn, account_id).await?
        };
        let resources = self.user_resources(&mut conn, account_id, &rows, base).await?;
        Ok(page_of(resources.into_iter().filter(|r| filter.matches(r)).collect(), page))
    }

    /// `GET /Users/{id}`.
    pub async fn scim_user(&self, caller: &TokenCaller, id: &str, base: &str) -> Result<Value> {
        require_scope(caller)?;
        let mut conn = self.store().conn().await?;
        self.user_resource(&mut conn, caller.user.account_id, id_of(id)?, base).await
    }

    /// `POST /Users`: a new User (never an Administrator), invited by mail when active.
    pub async fn scim_create_user(
        &self,
        caller: &TokenCaller,
        body: &Value,
        base: &str,
        ctx: &RequestContext,
    ) -> Result<Value> {
        require_scope(caller)?;
        let actor = &caller.user;
        self.allow(actor, Invite(Role::User), ctx).await?;
        let fields = user_fields(body, true)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let new = NewUser {
            account_id: actor.account_id,
            email: &fields.email,
            name: &fields.name,
            role: Role::User,
            password_hash: None,
            now,
        };
        let id = users::insert(&mut tx, &new).await.map_err(conflict)?;
        scim::set_user(&mut tx, &change(id, &fields, now)).await.map_err(conflict)?;
        let person = users::by_id(&mut tx, id).await?.ok_or(Error::NotFound("No such user."))?.into_person();
        let parties = Parties::on(actor, &person);
        // Read before the audit events, which lock the account's chain until commit.
        let mut resource = self.user_resource(&mut tx, actor.account_id, id, base).await?;
        if fields.active {
            let sent = self.send_invitation(&mut tx, &person, Some(actor), now).await?;
            let detail =
                json!({ "email": person.email, "role": person.role, "outbox_id": sent.outbox_id, "via": "scim" });
            self.record(&mut tx, now, ctx, parties, "invitation.created", detail).await?;
        } else {
            let detail = json!({ "email": person.email, "role": person.role, "via": "scim" });
            self.record(&mut tx, now, ctx, parties, "person.provisioned", detail).await?;
            self.apply_active(&mut tx, &person, false, parties, ctx, now).await?;
            if let Some(object) = resource.as_object_mut() {
                object.insert("active".into(), Value::Bool(false));
            }
        }
        commit(tx).await?;
        Ok(resource)
    }

    /// `PUT /Users/{id}`: the directory's whole view of the person.
    pub async fn scim_replace_user(
        &self,
        caller: &TokenCaller,
        id: &str,
        body: &Value,
        base: &str,
        ctx: &RequestContext,
    ) -> Result<Value> {
        self.scim_change_user(caller, id, base, ctx, |_, active| user_fields(body, active).map_err(Error::from)).await
    }

    /// `PATCH /Users/{id}`: operations on the person's resource.
    pub async fn scim_patch_user(
        &self,
        caller: &TokenCaller,
        id: &str,
        body: &Value,
        base: &str,
        ctx: &RequestContext,
    ) -> Result<Value> {
        self.scim_change_user(caller, id, base, ctx, |mut resource, active| {
            forget_derived_name(&mut resource);
            patch::apply(&mut resource, body)?;
            user_fields(&resource, active).map_err(Error::from)
        })
        .await
    }

    /// Reads the person, lets `fields_from` say what they should be (from their resource
    /// as it is), and writes the difference: names, addresses, and deactivation.
    async fn scim_change_user(
        &self,
        caller: &TokenCaller,
        id: &str,
        base: &str,
        ctx: &RequestContext,
        fields_from: impl FnOnce(Value, bool) -> Result<UserFields>,
    ) -> Result<Value> {
        require_scope(caller)?;
        let actor = &caller.user;
        let id = id_of(id)?;
        let target = self.scim_target(actor, id, ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let row = scim::user(&mut tx, actor.account_id, id).await?.ok_or(Error::NotFound("No such user."))?;
        // The row just read is the resource as it is: rendered, not read a second time.
        let mut rendered = self.user_resources(&mut tx, actor.account_id, std::slice::from_ref(&row), base).await?;
        let current = rendered.pop().ok_or(Error::NotFound("No such user."))?;
        let fields = fields_from(current, row.active)?;
        let before = fields_of(&row);
        let parties = Parties::on(actor, &target);
        let changed = changed_names(&before, &fields);
        if !changed.is_empty() {
            scim::set_user(&mut tx, &change(id, &fields, now)).await.map_err(conflict)?;
        }
        // Read before the audit events: appending them locks the account's chain until
        // commit, and every SCIM change of the account waits on that lock.
        let mut resource = self.user_resource(&mut tx, actor.account_id, id, base).await?;
        if before.active != fields.active {
            self.apply_active(&mut tx, &target, fields.active, parties, ctx, now).await?;
            if let Some(object) = resource.as_object_mut() {
                object.insert("active".into(), Value::Bool(fields.active));
            }
        }
        if !changed.is_empty() {
            let detail = json!({ "changed": changed, "via": "scim" });
            self.record(&mut tx, now, ctx, parties, "person.updated", detail).await?;
        }
        commit(tx).await?;
        Ok(resource)
    }

    /// `DELETE /Users/{id}`: removes the person, as "Remove from account" does.
    pub async fn scim_delete_user(&self, caller: &TokenCaller, id: &str, ctx: &RequestContext) -> Result<()> {
        require_scope(caller)?;
        let id = id_of(id)?;
        self.scim_target(&caller.user, id, ctx).await?;
        self.remove_person(&caller.user, id, Confirmation::Token(caller), ctx).await
    }

    /// The person a change names, if the token's maker may deactivate them (the Owner is
    /// never SCIM's: 403 `owner_protected`).
    async fn scim_target(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<Person> {
        Ok(self.allow_on(actor, Deactivate, id, ctx).await?.into_target())
    }
}

fn change<'a>(id: i64, fields: &'a UserFields, now: i64) -> UserChange<'a> {
    let same = fields.user_name == fields.email;
    UserChange {
        id,
        email: &fields.email,
        name: &fields.name,
        scim_user_name: (!same).then_some(fields.user_name.as_str()),
        given_name: fields.given_name.as_deref(),
        family_name: fields.family_name.as_deref(),
        external_id: fields.external_id.as_deref(),
        now,
    }
}

/// The attributes that differ, for the audit log (names only).
fn changed_names(before: &UserFields, after: &UserFields) -> Vec<&'static str> {
    let pairs = [
        ("userName", before.user_name != after.user_name),
        ("email", before.email != after.email),
        ("name", before.name != after.name),
        ("givenName", before.given_name != after.given_name),
        ("familyName", before.family_name != after.family_name),
        ("externalId", before.external_id != after.external_id),
    ];
    pairs.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name).collect()
}
