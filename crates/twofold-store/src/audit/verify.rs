//! Walking every audit chain to find where it was tampered with.
//!
//! Each chain is read in `seq` order, up to the place its head had when the walk began
//! (a head and its newest row commit together, so rows appended meanwhile are left for
//! the next run instead of looking like forgeries). Every row must hold the next place,
//! point at the previous row's hash and hash to what it says; the last row must be the
//! one the head names, which is how deleting the newest rows shows. Links are checked in
//! the version they name (keyed or not, see [`super::chain`]); once a chain is keyed, an
//! unkeyed link, or a chain whose newest link is unkeyed, is a break: that is what a
//! rewrite by someone without the keyring looks like.

use std::collections::BTreeMap;
use std::fmt;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::chain::{self, GENESIS, Link};
use crate::secret_box::SecretBox;
use crate::{Conn, Result};

/// Rows read per query, so that a long chain never sits in memory whole.
const BATCH: i64 = 1000;

/// What a walk over every chain found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub chains: u64,
    /// Events whose link checked out.
    pub events: u64,
    /// The first broken link of each broken chain.
    pub breaks: Vec<Break>,
}

impl Report {
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// The first place where a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The account id, or 0 for events without an account.
    pub chain: i64,
    /// The offending row, when there is one to name (a deleted row has none).
    pub row_id: Option<i64>,
    /// The place in the chain where it breaks.
    pub seq: i64,
    pub problem: Problem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The row's contents no longer hash to its hash: edited after it was written.
    Edited,
    /// The row does not point at the hash of the row before it.
    Relinked,
    /// No row holds this place: deleted.
    Missing,
    /// Two rows claim this place.
    Duplicate,
    /// The head counts more events than the rows: the newest were deleted.
    TailMissing { head_seq: i64 },
    /// The last row is not the one the head names.
    HeadMismatch,
    /// Rows without a head row: the head was removed.
    NoHead,
    /// A row without a place, written after the chain began: inserted behind the log's
    /// back or stripped of its link.
    Unchained,
    /// An unkeyed link where a keyed one is due: after a keyed link, or as the newest link
    /// of a chain (the chain was rewritten by someone without the keyring).
    Unkeyed,
    /// The event a checkpoint names at this place has another hash: rewritten since.
    CheckpointMismatch,
    /// The chain no longer reaches the place a checkpoint names: cut back since.
    CheckpointMissing,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.chain == 0 {
            write!(f, "chain 0 (events without an account)")?;
        } else {
            write!(f, "chain of account {}", self.chain)?;
        }
        let (seq, row) = (self.seq, self.row_id.unwrap_or_default());
        match self.problem {
            Problem::Edited => write!(f, ": row {row} (seq {seq}) was changed after it was written"),
            Problem::Relinked => write!(f, ": row {row} (seq {seq}) does not follow the row before it"),
            Problem::Missing => write!(f, ": the row at seq {seq} is missing (deleted)"),
            Problem::Duplicate => write!(f, ": row {row} repeats seq {seq}"),
            Problem::TailMissing { head_seq } => {
                write!(f, ": the rows end before seq {seq} but the chain counts {head_seq} (the newest were deleted)")
            }
            Problem::HeadMismatch => write!(f, ": row {row} (seq {seq}) is not the last row the chain recorded"),
            Problem::NoHead => write!(f, ": its head is missing (deleted)"),
            Problem::Unchained => write!(f, ": row {row} has no place in the chain although written after it began"),
            Problem::Unkeyed => {
                write!(f, ": row {row} (seq {seq}) is not keyed although the chain is (rewritten without the key)")
            }
            Problem::CheckpointMismatch => {
                write!(f, ": row {row} (seq {seq}) differs from the checkpoint (the chain was rewritten since)")
            }
            Problem::CheckpointMissing => write!(f, ": seq {seq}, named by the checkpoint, is gone"),
        }
    }
}

/// A chain's head: how many events it counts and the hash of the newest.
#[derive(Debug, Clone)]
struct Head {
    seq: i64,
    last_hash: String,
}

/// Walks every chain; answers the first break of each.
pub async fn verify(conn: &mut Conn, key: &SecretBox) -> Result<Report> {
    let mut report = Report::default();
    for (chain, head) in chains(conn).await? {
        report.chains += 1;
        let (events, broken) = verify_chain(conn, key, chain, head.as_ref()).await?;
        report.events += events;
        report.breaks.extend(broken);
    }
    Ok(report)
}

/// Every chain with a head or a linked row, and its head if it has one.
async fn chains(conn: &mut Conn) -> Result<BTreeMap<i64, Option<Head>>> {
    let heads: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT chain, seq, last_hash FROM audit_chain_heads").fetch_all(&mut *conn).await?;
    let linked: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT COALESCE(account_id, 0) FROM audit_events WHERE seq IS NOT NULL")
            .fetch_all(&mut *conn)
            .await?;
    let mut chains: BTreeMap<i64, Option<Head>> = linked.into_iter().map(|c| (c, None)).collect();
    for (chain, seq, last_hash) in heads {
        chains.insert(chain, Some(Head { seq, last_hash }));
    }
    Ok(chains)
}

/// One row as the walk needs it.
struct Linked {
    id: i64,
    seq: i64,
    actor: Option<i64>,
    target: Option<i64>,
    event: String,
    detail: String,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: i64,
    prev_hash: Option<String>,
    hash: Option<String>,
}

fn linked(r: &AnyRow) -> Result<Linked> {
    Ok(Linked {
        id: r.try_get(0)?,
        seq: r.try_get(1)?,
        actor: r.try_get(2)?,
        target: r.try_get(3)?,
        event: r.try_get(4)?,
        detail: r.try_get(5)?,
        ip: r.try_get(6)?,
        user_agent: r.try_get(7)?,
        created_at: r.try_get(8)?,
        prev_hash: r.try_get(9)?,
        hash: r.try_get(10)?,
    })
}

/// Where the walk along one chain stands.
struct Walk<'k> {
    key: &'k SecretBox,
    keyed: bool,
    chain: i64,
    next_seq: i64,
    prev_hash: String,
    first_id: Option<i64>,
    last_id: Option<i64>,
    events: u64,
}

impl<'k> Walk<'k> {
    fn new(key: &'k SecretBox, chain: i64) -> Self {
        Self {
            key,
            keyed: false,
            chain,
            next_seq: 1,
            prev_hash: GENESIS.into(),
            first_id: None,
            last_id: None,
            events: 0,
        }
    }

    fn broken(&self, row_id: Option<i64>, seq: i64, problem: Problem) -> Break {
        Break { chain: self.chain, row_id, seq, problem }
    }

    /// Checks the next row; moves on past it when it holds.
    fn step(&mut self, row: &Linked) -> Result<(), Break> {
        if row.seq > self.next_seq {
            return Err(self.broken(None, self.next_seq, Problem::Missing));
        }
        if row.seq < self.next_seq {
            return Err(self.broken(Some(row.id), row.seq, Problem::Duplicate));
        }
        if row.prev_hash.as_deref() != Some(self.prev_hash.as_str()) {
            return Err(self.broken(Some(row.id), row.seq, Problem::Relinked));
        }
        let link = Link {
            chain: self.chain,
            seq: row.seq,
            actor: row.actor,
            target: row.target,
            event: &row.event,
            detail: &row.detail,
            ip: row.ip.as_deref(),
            user_agent: row.user_agent.as_deref(),
            created_at: row.created_at,
        };
        let stored = row.hash.as_deref().unwrap_or_default();
        if self.keyed && !chain::is_keyed(stored) {
            return Err(self.broken(Some(row.id), row.seq, Problem::Unkeyed));
        }
        if !chain::holds(self.key, &self.prev_hash, &link, stored) {
            return Err(self.broken(Some(row.id), row.seq, Problem::Edited));
        }
        self.keyed = chain::is_keyed(stored);
        self.prev_hash = stored.to_owned();
        self.next_seq += 1;
        self.first_id.get_or_insert(row.id);
        self.last_id = Some(row.id);
        self.events += 1;
        Ok(())
    }

    /// After the last row: does the head agree?
    fn finish(&self, head: Option<&Head>) -> Result<(), Break> {
        let last_seq = self.next_seq - 1;
        match head {
            None if self.events > 0 => Err(self.broken(None, last_seq, Problem::NoHead)),
            None => Ok(()),
            Some(h) if h.seq > last_seq => {
                Err(self.broken(None, self.next_seq, Problem::TailMissing { head_seq: h.seq }))
            }
            Some(h) if h.last_hash != self.prev_hash => Err(self.broken(self.last_id, last_seq, Problem::HeadMismatch)),
            Some(_) if self.events > 0 && !self.keyed => Err(self.broken(self.last_id, last_seq, Problem::Unkeyed)),
            Some(_) => Ok(()),
        }
    }
}

/// Walks one chain; answers how many events held and the first break, if any.
async fn verify_chain(
    conn: &mut Conn,
    key: &SecretBox,
    chain: i64,
    head: Option<&Head>,
) -> Result<(u64, Option<Break>)> {
    let mut walk = Walk::new(key, chain);
    let up_to = head.map_or(i64::MAX, |h| h.seq);
    let (mut after_seq, mut after_id) = (0_i64, 0_i64);
    loop {
        let rows = sqlx::query(
            "SELECT id, seq, actor_user_id, target_user_id, event, detail, ip, user_agent, created_at, prev_hash, hash
             FROM audit_events
             WHERE COALESCE(account_id, 0) = $1 AND seq IS NOT NULL AND seq <= $2
               AND (seq > $3 OR (seq = $3 AND id > $4))
             ORDER BY seq, id LIMIT $5",
        )
        .bind(chain)
        .bind(up_to)
        .bind(after_seq)
        .bind(after_id)
        .bind(BATCH)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows.iter().map(linked) {
            let row = row?;
            if let Err(broken) = walk.step(&row) {
                return Ok((walk.events, Some(broken)));
            }
            (after_seq, after_id) = (row.seq, row.id);
        }
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    if let Err(broken) = walk.finish(head) {
        return Ok((walk.events, Some(broken)));
    }
    Ok((walk.events, unchained(conn, &walk).await?))
}

/// A row of this chain without a place, newer than the chain's first linked row.
async fn unchained(conn: &mut Conn, walk: &Walk<'_>) -> Result<Option<Break>> {
    let Some(first_id) = walk.first_id else {
        return Ok(None);
    };
    let stray: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(id) FROM audit_events WHERE COALESCE(account_id, 0) = $1 AND seq IS NULL AND id > $2",
    )
    .bind(walk.chain)
    .bind(first_id)
    .fetch_one(conn)
    .await?;
    Ok(stray.map(|id| walk.broken(Some(id), 0, Problem::Unchained)))
}
