//! The audit export as CSV (the quoting is `crate::csv`'s).

use super::ExportRow;
use crate::csv::line;

const HEADER: [&str; 10] =
    ["id", "time_utc", "event", "actor_user_id", "actor", "target_user_id", "target", "ip", "user_agent", "detail"];

/// The header row and one row per event.
pub fn document(rows: &[ExportRow]) -> String {
    let mut out = line(HEADER.iter().map(|h| h.to_string()));
    for r in rows {
        let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        out.push_str(&line([
            r.id.to_string(),
            r.time_utc.clone(),
            r.event.clone(),
            id(r.actor_user_id),
            r.actor.clone().unwrap_or_default(),
            id(r.target_user_id),
            r.target.clone().unwrap_or_default(),
            r.ip.clone().unwrap_or_default(),
            r.user_agent.clone().unwrap_or_default(),
            r.detail.to_string(),
        ]));
    }
    out
}
