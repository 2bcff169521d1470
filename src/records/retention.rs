//! Retention: deleting calls, turns and recordings older than `records.retention_days`, on
//! any backend (the backend deletes the rows, this module the files).

use super::backend::RecordsBackend;
use super::recorder::recording_path;
use super::types::unix_ms;
use super::RecordsError;
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
    backend: &mut dyn RecordsBackend,
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
    let deleted = backend.delete_calls_before(cutoff_ms)?;
    let (uuids, calls, turns) = (deleted.uuids, deleted.calls, deleted.turns);

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
