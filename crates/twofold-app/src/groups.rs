//! The account's groups: made, filled and deleted by its Owner and Administrators, read
//! by applications (the OIDC `groups` claim, forward auth's `Remote-Groups` and rules).

use serde_json::json;
use twofold_domain::group;
use twofold_domain::person::Person;
use twofold_store::{commit, groups, users};

use crate::access::{ListPeople, ManageGroups};
use crate::audit::Parties;
use crate::{App, Error, RequestContext, Result};

/// A group as pages and the API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub members: Vec<i64>,
}

impl From<groups::GroupRow> for Group {
    fn from(g: groups::GroupRow) -> Self {
        Group { id: g.id, name: g.name, created_at: g.created_at, members: g.members }
    }
}

/// Most people one request may put in a group.
const MAX_MEMBERS_AT_ONCE: usize = 10_000;

impl App {
    /// The account's groups, for those who see its people.
    pub async fn groups(&self, actor: &Person, ctx: &RequestContext) -> Result<Vec<Group>> {
        self.allow(actor, ListPeople, ctx).await?;
        let mut conn = self.store().conn().await?;
        Ok(groups::in_account(&mut conn, actor.account_id).await?.into_iter().map(Group::from).collect())
    }

    pub async fn create_group(&self, actor: &Person, name: &str, ctx: &RequestContext) -> Result<Group> {
        self.allow(actor, ManageGroups, ctx).await?;
        let name = group::parse_name(name).map_err(|e| Error::invalid("invalid_name", e))?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let Some(id) = groups::create(&mut tx, actor.account_id, &name, now).await? else {
            return Err(Error::conflict("name_taken", "The account has a group with that name."));
        };
        self.record(&mut tx, now, ctx, Parties::actor(actor), "group.created", json!({ "group_id": id, "name": name }))
            .await?;
        commit(tx).await?;
        Ok(Group { id, name, created_at: now, members: Vec::new() })
    }

    pub async fn delete_group(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<()> {
        self.allow(actor, ManageGroups, ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let Some(name) = groups::delete(&mut tx, actor.account_id, id).await? else {
            return Err(Error::NotFound("No such group."));
        };
        self.record(&mut tx, now, ctx, Parties::actor(actor), "group.deleted", json!({ "group_id": id, "name": name }))
            .await?;
        commit(tx).await?;
        Ok(())
    }

    /// Replaces a group's members; every id must be one of the account's people (another
    /// account's, or nobody's, is refused as if it did not exist: SEC-27).
    pub async fn set_group_members(
        &self,
        actor: &Person,
        id: i64,
        user_ids: &[i64],
        ctx: &RequestContext,
    ) -> Result<Group> {
        self.allow(actor, ManageGroups, ctx).await?;
        if user_ids.len() > MAX_MEMBERS_AT_ONCE {
            return Err(Error::invalid("too_many", "At most 10,000 people at once."));
        }
        let mut wanted = user_ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !groups::exists(&mut tx, actor.account_id, id).await? {
            return Err(Error::NotFound("No such group."));
        }
        let people: Vec<i64> = users::in_account(&mut tx, actor.account_id).await?.into_iter().map(|u| u.id).collect();
        if let Some(stranger) = wanted.iter().find(|id| !people.contains(id)) {
            return Err(Error::invalid("unknown_person", format!("No person {stranger} in this account.")));
        }
        groups::set_members(&mut tx, id, &wanted).await?;
        let detail = json!({ "group_id": id, "members": wanted });
        self.record(&mut tx, now, ctx, Parties::actor(actor), "group.members_changed", detail).await?;
        let group = groups::in_account(&mut tx, actor.account_id).await?.into_iter().find(|g| g.id == id);
        commit(tx).await?;
        group.map(Group::from).ok_or(Error::NotFound("No such group."))
    }

    /// Adds one person to a group (the Users tab's "Add to group"), or takes them out, in
    /// one statement each: two managers changing one group at once both land, where
    /// reading the members and writing them all back would lose one change.
    pub async fn change_group_member(
        &self,
        actor: &Person,
        id: i64,
        user_id: i64,
        member: bool,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.allow(actor, ManageGroups, ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !groups::exists(&mut tx, actor.account_id, id).await? {
            return Err(Error::NotFound("No such group."));
        }
        let person = users::by_id(&mut tx, user_id).await?.filter(|u| u.account_id == actor.account_id);
        if person.is_none() {
            return Err(Error::invalid("unknown_person", format!("No person {user_id} in this account.")));
        }
        let (event, changed) = if member {
            groups::add_member(&mut tx, id, user_id).await?;
            ("group.member_added", true)
        } else {
            ("group.member_removed", groups::remove_member(&mut tx, id, user_id).await?)
        };
        if changed {
            let detail = json!({ "group_id": id, "user_id": user_id });
            self.record(&mut tx, now, ctx, Parties::actor(actor), event, detail).await?;
        }
        commit(tx).await?;
        Ok(())
    }

    /// The names of a person's groups, for the applications they sign in to.
    pub(crate) async fn group_names(&self, conn: &mut twofold_store::Conn, user_id: i64) -> Result<Vec<String>> {
        Ok(groups::names_of(conn, user_id).await?)
    }
}
