//! Who may do what to whom. Every route, page and command asks these functions; a page
//! hides a button by asking the same function that the route enforces.

use crate::Role;
use thiserror::Error;

/// The facts about a person that permissions depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
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

fn same_account(actor: &Facts, target: &Facts) -> Verdict {
    if actor.account_id == target.account_id { Ok(()) } else { Err(Denied::NotFound) }
}

/// Seeing the list of the account's people.
pub fn may_list_people(actor: &Facts) -> Verdict {
    if actor.role.is_manager() { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Opening a person's profile: your own, or anyone's in your account if you manage it.
pub fn may_view_person(actor: &Facts, target: &Facts) -> Verdict {
    same_account(actor, target)?;
    if actor.id == target.id || actor.role.is_manager() { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Inviting a new person with `role`. Only the Owner makes Administrators, so that an
/// Administrator cannot mint peers; nobody invites a second Owner.
pub fn may_invite(actor: &Facts, role: Role) -> Verdict {
    match (actor.role, role) {
        (_, Role::Owner) => Err(Denied::Forbidden),
        (Role::Owner, _) => Ok(()),
        (Role::Admin, Role::User) => Ok(()),
        _ => Err(Denied::Forbidden),
    }
}

/// Promoting a User to Administrator and back is the Owner's alone; the Owner's own role
/// changes only by a transfer of ownership.
pub fn may_change_role(actor: &Facts, target: &Facts, new_role: Role) -> Verdict {
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
pub fn may_disable_two_factor(actor: &Facts, target: &Facts) -> Verdict {
    same_account(actor, target)?;
    if actor.id == target.id {
        return Ok(());
    }
    if target.role == Role::Owner {
        return Err(Denied::OwnerProtected);
    }
    if actor.role.is_manager() { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Signing a person out everywhere: the same people who may turn their 2FA off.
pub fn may_manage_sign_in(actor: &Facts, target: &Facts) -> Verdict {
    may_disable_two_factor(actor, target)
}

/// Unlocking a second factor locked after 100 wrong codes: Owners and Administrators for
/// the people they manage (never the Owner's but by the Owner); a User cannot unlock their
/// own, or the lock would not stop someone holding their session (SEC-34). Support can
/// unlock anyone, from outside the account.
pub fn may_unlock_two_factor(actor: &Facts, target: &Facts) -> Verdict {
    may_disable_two_factor(actor, target)?;
    if actor.role.is_manager() { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Unlocking, resetting or removing a support operator: another operator, or the shell on
/// the server (`actor` is `None`); never oneself, so that a stolen operator session cannot
/// clear its own lock or outlast its owner.
pub fn may_manage_operator(actor: Option<i64>, target: i64) -> Verdict {
    if actor == Some(target) { Err(Denied::Forbidden) } else { Ok(()) }
}

/// Making, filling and deleting the account's groups: the Owner and Administrators, who
/// manage its people.
pub fn may_manage_groups(actor: &Facts) -> Verdict {
    may_list_people(actor)
}

/// Deactivating, reactivating and removing a person: the Owner for Administrators and
/// Users, an Administrator for Users; never the Owner, never oneself (someone else must
/// see that a manager leaves).
pub fn may_deactivate(actor: &Facts, target: &Facts) -> Verdict {
    same_account(actor, target)?;
    if target.role == Role::Owner {
        return Err(Denied::OwnerProtected);
    }
    match (actor.role, target.role) {
        _ if actor.id == target.id => Err(Denied::Forbidden),
        (Role::Owner, _) | (Role::Admin, Role::User) => Ok(()),
        _ => Err(Denied::Forbidden),
    }
}

/// What `actor` may do on `target`'s profile: computed from the same functions that guard
/// the routes, so a page never shows a button its route would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub disable_two_factor: bool,
    pub unlock_two_factor: bool,
    pub sign_out_everywhere: bool,
    pub make_admin: bool,
    pub make_user: bool,
    pub transfer_ownership: bool,
    pub deactivate: bool,
}

impl Capabilities {
    pub fn of(actor: &Facts, target: &Facts) -> Self {
        use crate::Role;
        Capabilities {
            disable_two_factor: may_disable_two_factor(actor, target).is_ok(),
            unlock_two_factor: may_unlock_two_factor(actor, target).is_ok(),
            sign_out_everywhere: may_manage_sign_in(actor, target).is_ok(),
            make_admin: target.role == Role::User && may_change_role(actor, target, Role::Admin).is_ok(),
            make_user: target.role == Role::Admin && may_change_role(actor, target, Role::User).is_ok(),
            transfer_ownership: may_transfer_ownership(actor, target).is_ok(),
            deactivate: may_deactivate(actor, target).is_ok(),
        }
    }
}

/// Requiring 2FA of everyone, and the grace period: the Owner's alone.
pub fn may_set_policy(actor: &Facts) -> Verdict {
    if actor.role == Role::Owner { Ok(()) } else { Err(Denied::Forbidden) }
}

/// Reading the 2FA policy: the Owner, who sets it, and Administrators, who run people's
/// sign-in under it. Users learn what it asks of them in the wizard and on their profile.
pub fn may_read_policy(actor: &Facts) -> Verdict {
    may_list_people(actor)
}

/// Handing the account to an Administrator: the Owner only, and only to an Administrator.
pub fn may_transfer_ownership(actor: &Facts, target: &Facts) -> Verdict {
    same_account(actor, target)?;
    match (actor.role, target.role) {
        (Role::Owner, Role::Admin) => Ok(()),
        _ => Err(Denied::Forbidden),
    }
}

/// Registering, re-keying and removing the account's OpenID Connect applications: the
/// Owner's alone, since an application signs in any of the account's people.
pub fn may_manage_apps(actor: &Facts) -> Verdict {
    may_set_policy(actor)
}

/// Reading the account's audit log.
pub fn may_view_audit(actor: &Facts) -> Verdict {
    may_list_people(actor)
}

/// The Overview (adoption, policy, activity, what needs attention) and the people export:
/// those who see the people and the audit log it is made of.
pub fn may_view_overview(actor: &Facts) -> Verdict {
    may_view_audit(actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Facts = Facts { id: 1, account_id: 10, role: Role::Owner };
    const ADMIN: Facts = Facts { id: 2, account_id: 10, role: Role::Admin };
    const ADMIN2: Facts = Facts { id: 5, account_id: 10, role: Role::Admin };
    const USER: Facts = Facts { id: 3, account_id: 10, role: Role::User };
    const USER2: Facts = Facts { id: 6, account_id: 10, role: Role::User };
    const STRANGER: Facts = Facts { id: 4, account_id: 20, role: Role::User };

    #[test]
    fn owners_and_administrators_see_the_overview_users_do_not() {
        assert_eq!(may_view_overview(&OWNER), Ok(()));
        assert_eq!(may_view_overview(&ADMIN), Ok(()));
        assert_eq!(may_view_overview(&USER), Err(Denied::Forbidden));
    }

    #[test]
    fn only_the_owner_manages_the_accounts_applications() {
        assert_eq!(may_manage_apps(&OWNER), Ok(()));
        assert_eq!(may_manage_apps(&ADMIN), Err(Denied::Forbidden));
        assert_eq!(may_manage_apps(&USER), Err(Denied::Forbidden));
    }

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
    fn the_owner_and_administrators_read_the_policy_users_do_not() {
        assert_eq!(may_read_policy(&OWNER), Ok(()));
        assert_eq!(may_read_policy(&ADMIN), Ok(()));
        assert_eq!(may_read_policy(&USER), Err(Denied::Forbidden));
    }

    #[test]
    fn sec_34_a_user_cannot_unlock_their_own_factor() {
        assert_eq!(may_unlock_two_factor(&USER, &USER), Err(Denied::Forbidden));
        assert_eq!(may_unlock_two_factor(&USER, &USER2), Err(Denied::Forbidden));
        assert_eq!(may_unlock_two_factor(&ADMIN, &USER), Ok(()));
        assert_eq!(may_unlock_two_factor(&ADMIN, &ADMIN), Ok(()));
        assert_eq!(may_unlock_two_factor(&OWNER, &OWNER), Ok(()));
        assert_eq!(may_unlock_two_factor(&ADMIN, &OWNER), Err(Denied::OwnerProtected));
        assert_eq!(may_unlock_two_factor(&ADMIN, &STRANGER), Err(Denied::NotFound));
        // The profile asks the same function.
        assert!(!Capabilities::of(&USER, &USER).unlock_two_factor);
        assert!(Capabilities::of(&USER, &USER).sign_out_everywhere);
        assert!(Capabilities::of(&ADMIN, &USER).unlock_two_factor);
    }

    #[test]
    fn sec_34_operators_are_managed_by_others_or_the_shell() {
        assert_eq!(may_manage_operator(Some(1), 2), Ok(()));
        assert_eq!(may_manage_operator(None, 2), Ok(()));
        assert_eq!(may_manage_operator(Some(2), 2), Err(Denied::Forbidden));
    }

    #[test]
    fn capabilities_follow_the_role_ladder() {
        let owner_on_user = Capabilities::of(&OWNER, &USER);
        assert!(owner_on_user.make_admin && !owner_on_user.make_user && !owner_on_user.transfer_ownership);
        let owner_on_admin = Capabilities::of(&OWNER, &ADMIN);
        assert!(owner_on_admin.make_user && owner_on_admin.transfer_ownership);
        assert_eq!(Capabilities::of(&ADMIN, &OWNER), Capabilities::default());
    }

    #[test]
    fn users_see_only_their_own_profile() {
        assert_eq!(may_view_person(&USER, &USER), Ok(()));
        assert_eq!(may_view_person(&USER, &ADMIN), Err(Denied::Forbidden));
        assert_eq!(may_view_person(&ADMIN, &OWNER), Ok(()));
        assert_eq!(may_list_people(&USER), Err(Denied::Forbidden));
        assert_eq!(may_list_people(&ADMIN), Ok(()));
    }

    #[test]
    fn people_leave_by_the_owner_or_an_administrator_never_the_owner_never_oneself() {
        assert_eq!(may_deactivate(&OWNER, &ADMIN), Ok(()));
        assert_eq!(may_deactivate(&OWNER, &USER), Ok(()));
        assert_eq!(may_deactivate(&ADMIN, &USER), Ok(()));
        assert_eq!(may_deactivate(&ADMIN, &ADMIN2), Err(Denied::Forbidden));
        assert_eq!(may_deactivate(&ADMIN, &OWNER), Err(Denied::OwnerProtected));
        assert_eq!(may_deactivate(&OWNER, &OWNER), Err(Denied::OwnerProtected));
        assert_eq!(may_deactivate(&ADMIN, &ADMIN), Err(Denied::Forbidden));
        assert_eq!(may_deactivate(&USER, &USER2), Err(Denied::Forbidden));
        let stranger = Facts { id: 99, account_id: 11, role: Role::User };
        assert_eq!(may_deactivate(&OWNER, &stranger), Err(Denied::NotFound));
    }
}
