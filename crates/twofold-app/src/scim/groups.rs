//! SCIM Groups: the directory's groups and their members, as the Users tab's groups.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use twofold_domain::Role;
use twofold_domain::scim::resource::{GroupFields, group_fields, group_json};
use twofold_domain::scim::{Page, filter, patch};
use twofold_store::scim::{self, ScimGroupRow};
use twofold_store::{Conn, StoreError, commit, groups, users};

use super::{ListPage, id_of, page_of, require_scope, taken};
use crate::access::ManageGroups;
use crate::audit::Parties;
use crate::tokens::TokenCaller;
use crate::{App, Error, RequestContext, Result};

/// Most members a group may be sent with at once (as the Users tab's API allows).
const MAX_MEMBERS: usize = 10_000;

fn render(row: &ScimGroupRow, base: &str) -> Value {
    let fields = GroupFields { display_name: row.name.clone(), external_id: row.external_id.clone(), members: vec![] };
    group_json(row.id, &fields, &row.members, row.created_at, row.modified_at, base)
}

async fn one(conn: &mut Conn, account_id: i64, id: i64) -> Result<ScimGroupRow> {
    scim::groups(conn, account_id, Some(id)).await?.pop().ok_or(Error::NotFound("No such group."))
}

fn name_taken(e: StoreError) -> Error {
    match e {
        StoreError::Unique(_) => taken("The displayName"),
        other => other.into(),
    }
}

impl App {
    /// `GET /Groups`, filtered in memory (an account has tens of groups, not thousands).
    pub async fn scim_groups(
        &self,
        caller: &TokenCaller,
        filter: Option<&str>,
        page: Page,
        base: &str,
    ) -> Result<ListPage> {
        require_scope(caller)?;
        let filter = filter.filter(|f| !f.trim().is_empty()).map(filter::parse).transpose()?;
        let mut conn = self.store().conn().await?;
        let rows = scim::groups(&mut conn, caller.user.account_id, None).await?;
        let resources = rows.iter().map(|row| render(row, base));
        Ok(page_of(resources.filter(|r| filter.as_ref().is_none_or(|f| f.matches(r))).collect(), page))
    }

    /// `GET /Groups/{id}`.
    pub async fn scim_group(&self, caller: &TokenCaller, id: &str, base: &str) -> Result<Value> {
        require_scope(caller)?;
        let mut conn = self.store().conn().await?;
        Ok(render(&one(&mut conn, caller.user.account_id, id_of(id)?).await?, base))
    }

    /// `POST /Groups`.
    pub async fn scim_create_group(
        &self,
        caller: &TokenCaller,
        body: &Value,
        base: &str,
        ctx: &RequestContext,
    ) -> Result<Value> {
        require_scope(caller)?;
        let actor = self.allow(&caller.user, ManageGroups, ctx).await?.actor();
        let fields = group_fields(body)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let id = groups::create(&mut tx, actor.account_id, &fields.display_name, now)
            .await?
            .ok_or_else(|| taken("The displayName"))?;
        scim::set_group(&mut tx, id, &fields.display_name, fields.external_id.as_deref(), now).await?;
        let members = self.set_scim_members(&mut tx, caller, id, &BTreeSet::new(), &fields.members).await?;
        // The audit events last: they lock the account's chain until commit.
        let detail = json!({ "group_id": id, "name": fields.display_name, "via": "scim" });
        self.record(&mut tx, now, ctx, Parties::actor(actor), "group.created", detail).await?;
        if let Some(detail) = members {
            self.record(&mut tx, now, ctx, Parties::actor(actor), "group.members_changed", detail).await?;
        }
        let row = one(&mut tx, actor.account_id, id).await?;
        commit(tx).await?;
        Ok(render(&row, base))
    }

    /// `PUT /Groups/{id}`: its name, directory id and all its members (none when left out).
    pub async fn scim_replace_group(
        &self,
        caller: &TokenCaller,
        id: &str,
        body: &Value,
        base: &str,
        ctx: &RequestContext,
    ) -> Result<Value> {
        self.scim_change_group(caller, id, base, ctx, |_| group_fields(body).map_err(Error::from)).await
    }

    /// `PATCH /Groups/{id}`: Entra ID and Okta add and remove members one by one this way.
    pub async fn scim_patch_group(
        &self,
        caller: &TokenCaller,
        id: &str,
        body: &Value,
        base: &str,
        ctx: &RequestContext,
    ) -> Result<Value> {
        self.scim_change_group(caller, id, base, ctx, |mut resource| {
            patch::apply(&mut resource, body)?;
            group_fields(&resource).map_err(Error::from)
        })
        .await
    }

    async fn scim_change_group(
        &self,
        caller: &TokenCaller,
        id: &str,
        base: &str,
        ctx: &RequestContext,
        fields_from: impl FnOnce(Value) -> Result<GroupFields>,
    ) -> Result<Value> {
        require_scope(caller)?;
        let actor = self.allow(&caller.user, ManageGroups, ctx).await?.actor();
        let id = id_of(id)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let row = one(&mut tx, actor.account_id, id).await?;
        let fields = fields_from(render(&row, base))?;
        let renamed = fields.display_name != row.name || fields.external_id != row.external_id;
        if renamed {
            scim::set_group(&mut tx, id, &fields.display_name, fields.external_id.as_deref(), now)
                .await
                .map_err(name_taken)?;
        }
        let current: BTreeSet<i64> = row.members.iter().copied().collect();
        let members = self.set_scim_members(&mut tx, caller, id, &current, &fields.members).await?;
        let after = one(&mut tx, actor.account_id, id).await?;
        // The audit events last: they lock the account's chain until commit.
        if renamed {
            let detail = json!({ "group_id": id, "from": row.name, "name": fields.display_name, "via": "scim" });
            self.record(&mut tx, now, ctx, Parties::actor(actor), "group.renamed", detail).await?;
        }
        if let Some(detail) = members {
            self.record(&mut tx, now, ctx, Parties::actor(actor), "group.members_changed", detail).await?;
        }
        let row = after;
        commit(tx).await?;
        Ok(render(&row, base))
    }

    /// Makes the group's members `wanted` (ids as sent) by adding and removing only the
    /// difference, so that two directory changes at once both land; answers the change for
    /// the audit log. The Owner's own membership is never SCIM's to change: it stays as it
    /// is whatever the directory sends.
    async fn set_scim_members(
        &self,
        tx: &mut Conn,
        caller: &TokenCaller,
        group_id: i64,
        current: &BTreeSet<i64>,
        wanted: &[String],
    ) -> Result<Option<Value>> {
        if wanted.is_empty() && current.is_empty() {
            return Ok(None);
        }
        if wanted.len() > MAX_MEMBERS {
            let message = format!("A group has at most {MAX_MEMBERS} members.");
            return Err(Error::Invalid { code: "invalidValue", message });
        }
        let people = users::in_account(tx, caller.user.account_id).await?;
        let owner = people.iter().find(|u| u.role == Role::Owner).map(|u| u.id);
        let ids_of_people: BTreeSet<i64> = people.iter().map(|u| u.id).collect();
        let mut ids = BTreeSet::new();
        for typed in wanted {
            let id = typed.parse::<i64>().ok().filter(|id| ids_of_people.contains(id)).ok_or_else(|| {
                Error::Invalid { code: "invalidValue", message: format!("No user {typed:?} in this account.") }
            })?;
            ids.insert(id);
        }
        let not_owner = |id: &i64| Some(*id) != owner;
        let added: Vec<i64> = ids.difference(current).copied().filter(not_owner).collect();
        let removed: Vec<i64> = current.difference(&ids).copied().filter(not_owner).collect();
        for &user_id in &added {
            groups::add_member(tx, group_id, user_id).await?;
        }
        for &user_id in &removed {
            groups::remove_member(tx, group_id, user_id).await?;
        }
        if added.is_empty() && removed.is_empty() {
            return Ok(None);
        }
        Ok(Some(json!({ "group_id": group_id, "added": added, "removed": removed, "via": "scim" })))
    }

    /// `DELETE /Groups/{id}`.
    pub async fn scim_delete_group(&self, caller: &TokenCaller, id: &str, ctx: &RequestContext) -> Result<()> {
        require_scope(caller)?;
        self.delete_group(&caller.user, id_of(id)?, ctx).await
    }
}
