//! Checkpoints: each chain's head at a moment, signed with a key from the keyring, to be
//! kept outside the database. Checked against the database later, they reveal a rewrite
//! even of a whole chain with its head, which the chain alone cannot show to someone who
//! trusts the database: the event a checkpoint names must still be there, with its hash.

use serde::{Deserialize, Serialize};

use super::verify::{Break, Problem};
use crate::secret_box::SecretBox;
use crate::{Conn, Result};

/// What a checkpoint file says it is.
pub const FORMAT: &str = "twofold-audit-checkpoint/v1";

/// The label of the checkpoint's MAC (no other keyed hash shares it).
const MAC_LABEL: &str = "twofold/audit-checkpoint/v1";

/// One chain's head: its place and the hash of the event there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    /// The account id, or 0 for events without an account.
    pub chain: i64,
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub format: String,
    /// Unix seconds.
    pub created_at: i64,
    pub chains: Vec<ChainPoint>,
    /// HMAC-SHA256 over the fields above, keyed from the keyring (`k<id>:<hex>`).
    pub signature: String,
}

impl Checkpoint {
    /// What the signature covers: every field, one line each, in a fixed order.
    fn signed_text(format: &str, created_at: i64, chains: &[ChainPoint]) -> String {
        let mut text = format!("{format}\n{created_at}\n");
        for c in chains {
            text.push_str(&format!("{} {} {}\n", c.chain, c.seq, c.hash));
        }
        text
    }

    pub fn sign(key: &SecretBox, created_at: i64, chains: Vec<ChainPoint>) -> Checkpoint {
        let signature = key.mac(MAC_LABEL, Self::signed_text(FORMAT, created_at, &chains).as_bytes());
        Checkpoint { format: FORMAT.into(), created_at, chains, signature }
    }

    /// Whether this keyring signed it, as it is.
    pub fn is_authentic(&self, key: &SecretBox) -> bool {
        self.format == FORMAT
            && key.verify_mac(
                MAC_LABEL,
                Self::signed_text(&self.format, self.created_at, &self.chains).as_bytes(),
                &self.signature,
            )
    }
}

/// Every chain's head now, signed.
pub async fn take(conn: &mut Conn, key: &SecretBox, now: i64) -> Result<Checkpoint> {
    let heads: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT chain, seq, last_hash FROM audit_chain_heads WHERE seq > 0 ORDER BY chain")
            .fetch_all(&mut *conn)
            .await?;
    let chains = heads.into_iter().map(|(chain, seq, hash)| ChainPoint { chain, seq, hash }).collect();
    Ok(Checkpoint::sign(key, now, chains))
}

/// Where the database no longer agrees with an authentic checkpoint: the first
/// disagreement of each chain it names.
pub async fn compare(conn: &mut Conn, checkpoint: &Checkpoint) -> Result<Vec<Break>> {
    let mut breaks = Vec::new();
    for point in &checkpoint.chains {
        let found: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT id, hash FROM audit_events WHERE COALESCE(account_id, 0) = $1 AND seq = $2 ORDER BY id LIMIT 1",
        )
        .bind(point.chain)
        .bind(point.seq)
        .fetch_optional(&mut *conn)
        .await?;
        let problem = match &found {
            None => Some(Problem::CheckpointMissing),
            Some((_, hash)) if hash.as_deref() != Some(point.hash.as_str()) => Some(Problem::CheckpointMismatch),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            breaks.push(Break { chain: point.chain, row_id: found.map(|(id, _)| id), seq: point.seq, problem });
        }
    }
    Ok(breaks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret_box::Keyring;

    fn key() -> SecretBox {
        SecretBox::new(Keyring::generate().unwrap())
    }

    fn points() -> Vec<ChainPoint> {
        vec![
            ChainPoint { chain: 0, seq: 3, hash: "k1:aa".into() },
            ChainPoint { chain: 7, seq: 12, hash: "k1:bb".into() },
        ]
    }

    #[test]
    fn sec_30_a_checkpoint_is_authentic_only_as_signed_and_under_its_keyring() {
        let k = key();
        let c = Checkpoint::sign(&k, 1_800_000_000, points());
        assert!(c.is_authentic(&k));
        assert!(!c.is_authentic(&key()), "another keyring");
        let mut moved = c.clone();
        moved.chains[1].seq = 11;
        assert!(!moved.is_authentic(&k), "a changed place");
        let mut rehashed = c.clone();
        rehashed.chains[0].hash = "k1:ab".into();
        assert!(!rehashed.is_authentic(&k), "a changed hash");
        let mut dropped = c.clone();
        dropped.chains.pop();
        assert!(!dropped.is_authentic(&k), "a chain left out");
        let mut older = c;
        older.created_at -= 1;
        assert!(!older.is_authentic(&k));
    }

    #[test]
    fn a_checkpoint_round_trips_through_json_and_refuses_unknown_fields() {
        let c = Checkpoint::sign(&key(), 5, points());
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&text).unwrap(), c);
        let extra = text.replacen('{', r#"{"extra":1,"#, 1);
        assert!(serde_json::from_str::<Checkpoint>(&extra).is_err());
    }
}
