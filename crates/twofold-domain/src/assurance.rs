//! How strongly a session is signed in, and whether that meets what a consumer asks
//! (SEC-46). The one answer pages, the API, the OpenID Connect provider and forward auth
//! ask; SAML and RADIUS ask it too. Pure: the caller brings what the session did (its
//! [`SignInMethod`]), what the person has now (a second factor or not) and the account's
//! policy.
//!
//! ```text
//!  method ─┐                                  ┌─ two_factor  (method proved a factor AND the person has one now)
//!          ├─ assess ─▶ Strength { assurance ─┤
//!  has 2FA ┘            requirement (policy) ─┘  └─ one_factor  (anything else)
//!
//!  Strength::meets(need):  met | sign in again (the person has a factor) | set up 2FA first
//! ```
//! A session that passed a factor keeps no credit once its person has none (2FA was turned
//! off); a session made with the password alone gains none when its person turns 2FA on
//! elsewhere. The session that enrols a factor in the wizard records [`SignInMethod::Enrolled`]:
//! it entered a code from the factor, so it is two-factor from then on.

use crate::oidc::SignInMethod;
use crate::policy::{self, Requirement};

/// How many factors this session proved that still count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assurance {
    OneFactor,
    TwoFactor,
}

impl Assurance {
    pub fn as_str(self) -> &'static str {
        match self {
            Assurance::OneFactor => "one_factor",
            Assurance::TwoFactor => "two_factor",
        }
    }
}

/// What a consumer asks of a signed-in session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any signed-in session (the account's overdue policy still applies).
    SignedIn,
    /// A session that passed a second factor: an application, a rule or a request said so.
    TwoFactor,
}

/// The answer to "does this session meet the need".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Met,
    /// The person has a second factor but this session did not pass it: sign in again.
    SignInAgain,
    /// The person has no second factor: the wizard first.
    SetUpTwoFactor,
}

/// The account's 2FA policy as the answer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyFacts {
    /// When the Owner made 2FA required, if they did.
    pub required_since: Option<i64>,
    pub grace_days: i64,
}

/// Everything known about a session's strength: how it signed in, what that is worth now,
/// and what the account's policy asks of its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strength {
    pub method: SignInMethod,
    pub assurance: Assurance,
    pub requirement: Requirement,
    /// Whether the person has a second factor now (the app or a security key).
    pub has_two_factor: bool,
}

/// The one function that decides a session's strength.
pub fn assess(method: SignInMethod, has_two_factor: bool, policy: PolicyFacts, now: i64) -> Strength {
    let assurance = if has_two_factor && method.is_two_factor() { Assurance::TwoFactor } else { Assurance::OneFactor };
    let requirement = policy::requirement(policy.required_since, policy.grace_days, has_two_factor, now);
    Strength { method, assurance, requirement, has_two_factor }
}

impl Strength {
    /// Whether the session meets `need`, counting the account's overdue policy as a need
    /// for two factors.
    pub fn meets(&self, need: Need) -> Outcome {
        let wants_two_factor = need == Need::TwoFactor || self.requirement == Requirement::Overdue;
        if !wants_two_factor || self.assurance == Assurance::TwoFactor {
            Outcome::Met
        } else if self.has_two_factor {
            Outcome::SignInAgain
        } else {
            Outcome::SetUpTwoFactor
        }
    }

    pub fn is_two_factor(&self) -> bool {
        self.assurance == Assurance::TwoFactor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const NO_POLICY: PolicyFacts = PolicyFacts { required_since: None, grace_days: 0 };

    #[test]
    fn sec_46_a_password_session_stays_one_factor_after_its_person_turns_two_factor_on() {
        let before = assess(SignInMethod::Password, false, NO_POLICY, NOW);
        assert_eq!(before.assurance, Assurance::OneFactor);
        let after = assess(SignInMethod::Password, true, NO_POLICY, NOW);
        assert_eq!(after.assurance, Assurance::OneFactor);
        assert_eq!(after.meets(Need::TwoFactor), Outcome::SignInAgain);
        assert_eq!(after.meets(Need::SignedIn), Outcome::Met);
    }

    #[test]
    fn sec_46_the_session_that_enrols_a_factor_is_two_factor() {
        let enrolled = assess(SignInMethod::Enrolled, true, NO_POLICY, NOW);
        assert_eq!(enrolled.assurance, Assurance::TwoFactor);
        assert_eq!(enrolled.meets(Need::TwoFactor), Outcome::Met);
    }

    #[test]
    fn sec_46_a_factor_passed_counts_only_while_the_person_has_one() {
        for method in SignInMethod::ALL.into_iter().filter(|m| m.is_two_factor()) {
            assert_eq!(assess(method, true, NO_POLICY, NOW).assurance, Assurance::TwoFactor, "{method:?}");
            let turned_off = assess(method, false, NO_POLICY, NOW);
            assert_eq!(turned_off.assurance, Assurance::OneFactor, "{method:?}");
            assert_eq!(turned_off.meets(Need::TwoFactor), Outcome::SetUpTwoFactor);
        }
    }

    #[test]
    fn sec_46_an_overdue_policy_asks_two_factors_of_every_consumer() {
        let policy = PolicyFacts { required_since: Some(NOW - 10 * 86_400), grace_days: 7 };
        let overdue = assess(SignInMethod::Password, false, policy, NOW);
        assert_eq!(overdue.requirement, Requirement::Overdue);
        assert_eq!(overdue.meets(Need::SignedIn), Outcome::SetUpTwoFactor);
        let in_grace = assess(SignInMethod::Password, false, PolicyFacts { grace_days: 30, ..policy }, NOW);
        assert!(matches!(in_grace.requirement, Requirement::DueBy { .. }));
        assert_eq!(in_grace.meets(Need::SignedIn), Outcome::Met);
        assert_eq!(in_grace.meets(Need::TwoFactor), Outcome::SetUpTwoFactor);
        let compliant = assess(SignInMethod::Totp, true, policy, NOW);
        assert_eq!(compliant.requirement, Requirement::Met);
        assert_eq!(compliant.meets(Need::TwoFactor), Outcome::Met);
    }

    #[test]
    fn assurance_names_match_the_contract() {
        assert_eq!(Assurance::OneFactor.as_str(), "one_factor");
        assert_eq!(Assurance::TwoFactor.as_str(), "two_factor");
    }
}
