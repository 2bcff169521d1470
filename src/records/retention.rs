//! Retention: deleting calls, turns and recordings older than `records.retention_days`.

use super::recorder::recording_path;
use super::types::unix_ms;
use super::RecordsError;
use rusqlite::{params, Connection};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Calls deleted.
    pub calls: usize,
    /// Turns deleted.
    pub turns: usize,
    /// Recording files deleted.
    pub recordings: usize,
}

/// Deletes calls that started more than `retention_days` before `now`, their turns and their
/// recordings, and recordings older than that with no call row (orphans). `0` days keeps all.
pub fn purge(
    conn: &mut Connection,
    now: SystemTime,
    retention_days: u32,
    recordings_dir: Option<&Path>,
) -> Result<PurgeStats, RecordsError> {
    if retention_days == 0 {
        return Ok(PurgeStats::default());
    }
    let cutoff = now
        .checked_sub(Duration::from_secs(u64::from(retention_days) * 86_400))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let cutoff_ms = unix_ms(cutoff);
    let label = Path::new("records");
    let db = |what: &str, e: rusqlite::Error| RecordsError::db(label, what, e);
    let tx = conn.transaction().map_err(|e| db("begin purge", e))?;
    let uuids: Vec<String> = {
        let mut stmt = tx
            .prepare("SELECT uuid FROM calls WHERE started_at < ?1")
            .map_err(|e| db("select old calls", e))?;
        let rows = stmt
            .query_map(params![cutoff_ms], |r| r.get::<_, String>(0))
            .map_err(|e| db("select old calls", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| db("select old calls", e))?
    };
    let turns = tx
        .execute(
            "DELETE FROM turns WHERE call_uuid IN (SELECT uuid FROM calls WHERE started_at < ?1)",
            params![cutoff_ms],
        )
        .map_err(|e| db("delete old turns", e))?;
    let calls = tx
        .execute(
            "DELETE FROM calls WHERE started_at < ?1",
            params![cutoff_ms],
        )
        .map_err(|e| db("delete old calls", e))?;
    tx.commit().map_err(|e| db("commit purge", e))?;

    let mut recordings = 0;
    if let Some(dir) = recordings_dir {
        for uuid in &uuids {
            if std::fs::remove_file(recording_path(dir, uuid)).is_ok() {
                recordings += 1;
            }
        }
        recordings += purge_orphan_recordings(dir, cutoff);
    }
    if calls + recordings > 0 {
        tracing::info!(
            calls,
            turns,
            recordings,
            retention_days,
            "old call records purged"
        );
    }
    Ok(PurgeStats {
        calls,
        turns,
        recordings,
    })
}

/// Removes `*.wav` files in `dir` last modified before `cutoff`.
fn purge_orphan_recordings(dir: &Path, cutoff: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wav") {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(|m| m < cutoff)
            .unwrap_or(false);
        if old && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}
