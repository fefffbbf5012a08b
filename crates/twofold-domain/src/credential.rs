//! Where an authenticator-app credential stands, decoded from its timestamps in one place
//! (as kanidm projects everything from one credential-state enum).
//!
//! ```text
//!   None ──issue key──▶ KeyIssued ──app code──▶ AppConfirmed ──phone code──▶ Enabled
//!     ▲                    │ restart: new key        │ restart: new key          │
//!     └────────────────────┴─────────────────────────┴────── turn off ───────────┘
//! ```
//! Operators skip the phone: their first code goes from `KeyIssued` to `Enabled`.

/// The state of one person's (or operator's) authenticator app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpState {
    /// No key was ever issued, or 2FA was turned off.
    None,
    /// The wizard issued a key at this time; no code has proved it yet.
    KeyIssued { at: i64 },
    /// A code from the app proved the key (Step 3); the phone is still to be verified.
    AppConfirmed { at: i64 },
    /// Two-factor authentication is on.
    Enabled { since: i64 },
}

impl TotpState {
    /// From the credential row's times; `None` when there is no row.
    pub fn from_times(created_at: Option<i64>, confirmed_at: Option<i64>, enabled_at: Option<i64>) -> Self {
        match (created_at, confirmed_at, enabled_at) {
            (_, _, Some(since)) => TotpState::Enabled { since },
            (_, Some(at), None) => TotpState::AppConfirmed { at },
            (Some(at), None, None) => TotpState::KeyIssued { at },
            (None, None, None) => TotpState::None,
        }
    }

    pub fn enabled_since(self) -> Option<i64> {
        match self {
            TotpState::Enabled { since } => Some(since),
            _ => None,
        }
    }

    pub fn is_enabled(self) -> bool {
        self.enabled_since().is_some()
    }

    /// Step 3 is done, Step 4 (the phone) is next.
    pub fn awaits_phone(self) -> bool {
        matches!(self, TotpState::AppConfirmed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_decodes_from_its_times() {
        assert_eq!(TotpState::from_times(None, None, None), TotpState::None);
        assert_eq!(TotpState::from_times(Some(1), None, None), TotpState::KeyIssued { at: 1 });
        assert_eq!(TotpState::from_times(Some(1), Some(2), None), TotpState::AppConfirmed { at: 2 });
        assert_eq!(TotpState::from_times(Some(1), Some(2), Some(3)), TotpState::Enabled { since: 3 });
        // Operators' first code enables without a phone step.
        assert_eq!(TotpState::from_times(Some(1), None, Some(3)), TotpState::Enabled { since: 3 });
    }

    #[test]
    fn questions_pages_ask() {
        let pending = TotpState::AppConfirmed { at: 2 };
        assert!(pending.awaits_phone() && !pending.is_enabled());
        assert!(!TotpState::KeyIssued { at: 1 }.awaits_phone());
        assert_eq!(TotpState::Enabled { since: 3 }.enabled_since(), Some(3));
        assert!(!TotpState::None.is_enabled());
    }
}
