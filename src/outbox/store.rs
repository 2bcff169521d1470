//! The delivery bookkeeping in `outbox_deliveries`: what each sink still owes, attempts,
//! retry times, acknowledgements, dead letters, and pruning of what every sink has done.
//!
//! A row `(event_id, sink)` exists once a sink has tried the event. Delivered: `delivered_at`
//! set. Dead-lettered (permanent failure, or `max_attempts` used up): `delivered_at` NULL and
//! `next_attempt_at` = [`DEAD_LETTER`], `last_error` says why (schema v3 has no column of its
//! own for it; see the notes). Everything else without a done row is pending.

use super::StoredEvent;
use rusqlite::{params, Connection};
use serde_json::Value;

/// `next_attempt_at` of a dead-lettered event: never attempted again.
pub const DEAD_LETTER: i64 = i64::MAX;

/// An event a sink still has to deliver, with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    /// The event.
    pub event: StoredEvent,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix ms before which it must not be tried again (0: now).
    pub next_attempt_at: i64,
}

/// Up to `limit` events after `after_seq` that `sink` has neither delivered nor
/// dead-lettered, oldest first.
pub fn pending(
    conn: &Connection,
    sink: &str,
    after_seq: i64,
    limit: usize,
) -> rusqlite::Result<Vec<PendingEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.seq, o.event_id, o.kind, o.key, o.payload, o.created_at,
                coalesce(d.attempts, 0), coalesce(d.next_attempt_at, 0)
         FROM outbox o LEFT JOIN outbox_deliveries d ON d.event_id = o.event_id AND d.sink = ?1
         WHERE o.seq > ?2 AND d.delivered_at IS NULL AND coalesce(d.next_attempt_at, 0) != ?3
         ORDER BY o.seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![sink, after_seq, DEAD_LETTER, limit as i64], |r| {
        let payload: String = r.get(4)?;
        Ok(PendingEvent {
            event: StoredEvent {
                seq: r.get(0)?,
                event_id: r.get(1)?,
                kind: r.get(2)?,
                key: r.get(3)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
                created_at: r.get(5)?,
            },
            attempts: r.get::<_, i64>(6)?.clamp(0, u32::MAX as i64) as u32,
            next_attempt_at: r.get(7)?,
        })
    })?;
    rows.collect()
}

/// How many events after `after_seq` `sink` still owes.
pub fn pending_count(conn: &Connection, sink: &str, after_seq: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT count(*) FROM outbox o
         LEFT JOIN outbox_deliveries d ON d.event_id = o.event_id AND d.sink = ?1
         WHERE o.seq > ?2 AND d.delivered_at IS NULL AND coalesce(d.next_attempt_at, 0) != ?3",
    )?
    .query_row(params![sink, after_seq, DEAD_LETTER], |r| r.get(0))
}

/// Records that `sink` delivered `event_ids` at `now_ms` (one transaction).
pub fn mark_delivered(
    conn: &mut Connection,
    sink: &str,
    event_ids: &[&str],
    now_ms: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO outbox_deliveries (event_id, sink, attempts, next_attempt_at, delivered_at)
             VALUES (?1, ?2, 1, 0, ?3)
             ON CONFLICT (event_id, sink) DO UPDATE SET attempts = attempts + 1,
                 delivered_at = excluded.delivered_at, next_attempt_at = 0",
        )?;
        for id in event_ids {
            stmt.execute(params![id, sink, now_ms])?;
        }
    }
    tx.commit()
}

/// Records a failed attempt of `sink` at `event_id`: the error, and when to try again
/// ([`DEAD_LETTER`]: never). Returns the attempts made so far.
pub fn mark_failed(
    conn: &Connection,
    sink: &str,
    event_id: &str,
    error: &str,
    next_attempt_at: i64,
) -> rusqlite::Result<u32> {
    conn.prepare_cached(
        "INSERT INTO outbox_deliveries (event_id, sink, attempts, next_attempt_at, last_error)
         VALUES (?1, ?2, 1, ?3, ?4)
         ON CONFLICT (event_id, sink) DO UPDATE SET attempts = attempts + 1,
             next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error
         RETURNING attempts",
    )?
    .query_row(params![event_id, sink, next_attempt_at, error], |r| {
        r.get::<_, i64>(0)
    })
    .map(|a| a.clamp(0, u32::MAX as i64) as u32)
}

/// Dead-lettered events of `sink`: `(event_id, attempts, last_error)`, oldest first.
pub fn dead_letters(conn: &Connection, sink: &str) -> rusqlite::Result<Vec<(String, u32, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.event_id, d.attempts, coalesce(d.last_error, '') FROM outbox_deliveries d
         JOIN outbox o ON o.event_id = d.event_id
         WHERE d.sink = ?1 AND d.delivered_at IS NULL AND d.next_attempt_at = ?2 ORDER BY o.seq",
    )?;
    let rows = stmt.query_map(params![sink, DEAD_LETTER], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u32, r.get(2)?))
    })?;
    rows.collect()
}

/// Makes `sink`'s dead letters pending again (after the receiver was fixed); returns how many.
/// Call [`super::wake`] afterwards (or restart the agent) so the worker looks back for them.
pub fn requeue_dead_letters(conn: &Connection, sink: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE outbox_deliveries SET next_attempt_at = 0, attempts = 0
         WHERE sink = ?1 AND delivered_at IS NULL AND next_attempt_at = ?2",
        params![sink, DEAD_LETTER],
    )
}

/// Deletes events created before `cutoff_ms` that every sink in `sinks` has delivered or
/// dead-lettered (with no sinks configured: every such event). Their delivery rows go with
/// them (`ON DELETE CASCADE`). Returns how many events were deleted.
pub fn prune(conn: &mut Connection, cutoff_ms: i64, sinks: &[&str]) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut deleted = 0;
    if sinks.is_empty() {
        deleted = tx.execute(
            "DELETE FROM outbox WHERE created_at < ?1",
            params![cutoff_ms],
        )?;
    } else {
        let ids: Vec<String> = {
            let mut stmt = tx.prepare("SELECT event_id FROM outbox WHERE created_at < ?1")?;
            let rows = stmt.query_map(params![cutoff_ms], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut done = tx.prepare(
            "SELECT count(*) FROM outbox_deliveries WHERE event_id = ?1 AND sink = ?2
             AND (delivered_at IS NOT NULL OR next_attempt_at = ?3)",
        )?;
        let mut delete = tx.prepare("DELETE FROM outbox WHERE event_id = ?1")?;
        for id in &ids {
            let mut all = true;
            for sink in sinks {
                let n: i64 = done.query_row(params![id, sink, DEAD_LETTER], |r| r.get(0))?;
                if n == 0 {
                    all = false;
                    break;
                }
            }
            if all {
                deleted += delete.execute(params![id])?;
            }
        }
        drop(done);
        drop(delete);
    }
    tx.commit()?;
    Ok(deleted)
}
