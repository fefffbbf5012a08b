//! A person as every layer above the store sees them: who they are and whether their
//! invitation was accepted, never their password hash.

use crate::Role;
use crate::permissions::Facts;

/// Whether a person can sign in yet. Decided from one field (`activated_at`), here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonStatus {
    /// Invited; the link to choose a password has not been used.
    Invited,
    /// Chose a password at this time.
    Active { since: i64 },
    /// Deactivated by an Owner or Administrator at this time: signs in nowhere until
    /// reactivated.
    Deactivated { since: i64 },
}

impl PersonStatus {
    pub fn from_activated_at(activated_at: Option<i64>) -> Self {
        Self::of(activated_at, None)
    }

    /// From when the person chose a password and when they were deactivated, if they were.
    pub fn of(activated_at: Option<i64>, deactivated_at: Option<i64>) -> Self {
        match (activated_at, deactivated_at) {
            (_, Some(since)) => PersonStatus::Deactivated { since },
            (Some(since), None) => PersonStatus::Active { since },
            (None, None) => PersonStatus::Invited,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PersonStatus::Invited => "invited",
            PersonStatus::Active { .. } => "active",
            PersonStatus::Deactivated { .. } => "deactivated",
        }
    }

    pub fn is_deactivated(self) -> bool {
        matches!(self, PersonStatus::Deactivated { .. })
    }

    pub fn is_active(self) -> bool {
        matches!(self, PersonStatus::Active { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    pub account_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: PersonStatus,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

impl Person {
    /// The facts permissions are decided on.
    pub fn facts(&self) -> Facts {
        Facts { id: self.id, account_id: self.account_id, role: self.role }
    }

    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }

    pub fn is_deactivated(&self) -> bool {
        self.status.is_deactivated()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_comes_from_the_activation_time_alone() {
        assert_eq!(PersonStatus::from_activated_at(None), PersonStatus::Invited);
        assert_eq!(PersonStatus::from_activated_at(Some(5)), PersonStatus::Active { since: 5 });
        assert!(!PersonStatus::Invited.is_active());
        assert_eq!(PersonStatus::of(Some(5), Some(9)), PersonStatus::Deactivated { since: 9 });
        assert!(!PersonStatus::of(Some(5), Some(9)).is_active());
        assert_eq!(PersonStatus::of(Some(5), None).as_str(), "active");
    }
}
