//! Who may do what to whom. Every route, page and command asks these functions; a page
//! hides a button by asking the same function that the route enforces.

use crate::Role;
use thiserror::Error;

/// The facts about a person that permissions depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    pub account_id: i64,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Denied {
    /// The target lives in another account: answered as if it did not exist (SEC-27).
    #[error("No such person.")]
    NotFound,
    #[error("You are not allowed to do this.")]
    Forbidden,
    /// Nobody but the Owner touches the Owner's sign-in settings.
    #[error("The Account Owner's two-factor authentication cannot be changed by anyone else.")]
    OwnerProtected,
}

type Verdict = Result<(), Denied>;

fn same_account(actor: &Person, target: &Person) -> Verdict {
    if actor.account_id == target.account_id { Ok(()) } else { Err(Denied::NotFound) }
}

/// Seeing the list of the account's people.
pub fn may_list_people(actor: &Person) -> Verdict {
    if actor.role.is_manager() { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Opening a person's profile: your own, or anyone's in your account if you manage it.
pub fn may_view_person(actor: &Person, target: &Person) -> Verdict {
    same_account(actor, target)?;
    if actor.id == target.id || actor.role.is_manager() { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Inviting a new person with `role`. Only the Owner makes Administrators, so that an
/// Administrator cannot mint peers; nobody invites a second Owner.
pub fn may_invite(actor: &Person, role: Role) -> Verdict {
    match (actor.role, role) {
        (_, Role::Owner) => Err(Denied::Forbidden),
        (Role::Owner, _) => Ok(()),
        (Role::Admin, Role::User) => Ok(()),
        _ => Err(Denied::Forbidden),
    }
}

/// Promoting a User to Administrator and back is the Owner's alone; the Owner's own role
/// changes only by a transfer of ownership.
pub fn may_change_role(actor: &Person, target: &Person, new_role: Role) -> Verdict {
    same_account(actor, target)?;
    if actor.role != Role::Owner {
        return Err(Denied::Forbidden);
    }
    if target.role == Role::Owner {
        return Err(Denied::OwnerProtected);
    }
    if new_role == Role::Owner {
        return Err(Denied::Forbidden);
    }
    Ok(())
}

/// Turning off someone's two-factor authentication: your own always; Owners and
/// Administrators for the Administrators and Users of their account; never the Owner's
/// by anyone else (SEC-26).
pub fn may_disable_two_factor(actor: &Person, target: &Person) -> Verdict {
    same_account(actor, target)?;
    if actor.id == target.id {
        return Ok(());
    }
    if target.role == Role::Owner {
        return Err(Denied::OwnerProtected);
    }
    if actor.role.is_manager() { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Unlocking a person's locked second factor, or signing them out everywhere: the same
/// people who may turn their 2FA off.
pub fn may_manage_sign_in(actor: &Person, target: &Person) -> Verdict {
    may_disable_two_factor(actor, target)
}

/// Requiring 2FA of everyone, and the grace period: the Owner's alone.
pub fn may_set_policy(actor: &Person) -> Verdict {
    if actor.role == Role::Owner { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Handing the account to an Administrator: the Owner only, and only to an Administrator.
pub fn may_transfer_ownership(actor: &Person, target: &Person) -> Verdict {
    same_account(actor, target)?;
    match (actor.role, target.role) {
        (Role::Owner, Role::Admin) => Ok(()),
        _ => Err(Denied::Forbidden),
    }
}

/// Reading the account's audit log.
pub fn may_view_audit(actor: &Person) -> Verdict {
    may_list_people(actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Person = Person { id: 1, account_id: 10, role: Role::Owner };
    const ADMIN: Person = Person { id: 2, account_id: 10, role: Role::Admin };
    const ADMIN2: Person = Person { id: 5, account_id: 10, role: Role::Admin };
    const USER: Person = Person { id: 3, account_id: 10, role: Role::User };
    const USER2: Person = Person { id: 6, account_id: 10, role: Role::User };
    const STRANGER: Person = Person { id: 4, account_id: 20, role: Role::User };

    #[test]
    fn sec_26_nobody_disables_the_owners_two_factor_but_the_owner() {
        assert_eq!(may_disable_two_factor(&OWNER, &OWNER), Ok(()));
        assert_eq!(may_disable_two_factor(&ADMIN, &OWNER), Err(Denied::OwnerProtected));
        assert_eq!(may_disable_two_factor(&USER, &OWNER), Err(Denied::OwnerProtected));
    }

    #[test]
    fn sec_26_managers_disable_admins_and_users_users_only_their_own() {
        for actor in [OWNER, ADMIN] {
            assert_eq!(may_disable_two_factor(&actor, &ADMIN2), Ok(()));
            assert_eq!(may_disable_two_factor(&actor, &USER), Ok(()));
        }
        assert_eq!(may_disable_two_factor(&USER, &USER), Ok(()));
        assert_eq!(may_disable_two_factor(&USER, &USER2), Err(Denied::Forbidden));
        assert_eq!(may_disable_two_factor(&USER, &ADMIN), Err(Denied::Forbidden));
    }

    #[test]
    fn sec_27_other_accounts_look_like_nothing() {
        for actor in [OWNER, ADMIN, USER] {
            assert_eq!(may_view_person(&actor, &STRANGER), Err(Denied::NotFound));
            assert_eq!(may_disable_two_factor(&actor, &STRANGER), Err(Denied::NotFound));
            assert_eq!(may_change_role(&actor, &STRANGER, Role::Admin), Err(Denied::NotFound));
        }
    }

    #[test]
    fn only_the_owner_promotes_and_demotes() {
        assert_eq!(may_change_role(&OWNER, &USER, Role::Admin), Ok(()));
        assert_eq!(may_change_role(&OWNER, &ADMIN, Role::User), Ok(()));
        assert_eq!(may_change_role(&ADMIN, &USER, Role::Admin), Err(Denied::Forbidden));
        assert_eq!(may_change_role(&USER, &USER, Role::Admin), Err(Denied::Forbidden));
        assert_eq!(may_change_role(&OWNER, &OWNER, Role::User), Err(Denied::OwnerProtected));
        assert_eq!(may_change_role(&OWNER, &ADMIN, Role::Owner), Err(Denied::Forbidden));
    }

    #[test]
    fn invitations_follow_the_role_ladder() {
        assert_eq!(may_invite(&OWNER, Role::Admin), Ok(()));
        assert_eq!(may_invite(&OWNER, Role::User), Ok(()));
        assert_eq!(may_invite(&ADMIN, Role::User), Ok(()));
        assert_eq!(may_invite(&ADMIN, Role::Admin), Err(Denied::Forbidden));
        assert_eq!(may_invite(&USER, Role::User), Err(Denied::Forbidden));
        assert_eq!(may_invite(&OWNER, Role::Owner), Err(Denied::Forbidden));
    }

    #[test]
    fn only_the_owner_sets_policy_and_hands_over_to_an_administrator() {
        assert_eq!(may_set_policy(&OWNER), Ok(()));
        assert_eq!(may_set_policy(&ADMIN), Err(Denied::Forbidden));
        assert_eq!(may_transfer_ownership(&OWNER, &ADMIN), Ok(()));
        assert_eq!(may_transfer_ownership(&OWNER, &USER), Err(Denied::Forbidden));
        assert_eq!(may_transfer_ownership(&ADMIN, &ADMIN2), Err(Denied::Forbidden));
        assert_eq!(may_transfer_ownership(&OWNER, &STRANGER), Err(Denied::NotFound));
    }

    #[test]
    fn users_see_only_their_own_profile() {
        assert_eq!(may_view_person(&USER, &USER), Ok(()));
        assert_eq!(may_view_person(&USER, &ADMIN), Err(Denied::Forbidden));
        assert_eq!(may_view_person(&ADMIN, &OWNER), Ok(()));
        assert_eq!(may_list_people(&USER), Err(Denied::Forbidden));
        assert_eq!(may_list_people(&ADMIN), Ok(()));
    }
}
