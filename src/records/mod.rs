//! Call records: one SQLite row per call and per turn (WAL, off the audio path), optional WAV recordings.
//!
//! [`RecordStore::open`] opens and migrates the database, purges expired records, and starts
//! the one writer thread that owns the connection. Calls write through a [`RecordWriter`]
//! (cheap to clone, never blocks; see `writer.rs` for the drop-on-full tradeoff). Each
//! completed turn is committed in its own transaction as soon as the writer reaches it, so a
//! crash loses at most the turn in progress and whatever was still queued.

pub mod query;
mod recorder;
mod redact;
mod retention;
pub mod schema;
mod types;
mod writer;

pub use recorder::{recording_path, CallRecorder, RecordingStats};
pub use redact::{redact_digits, redact_json, REDACTED};
pub use retention::PurgeStats;
pub use schema::SCHEMA_VERSION;
pub use types::{
    unix_ms, CallEnd, CallOutcome, CallStart, ModelsUsed, Role, StoredCall, StoredTurn,
    ToolCallRecord, TurnLatencies, TurnRecord,
};
pub use writer::{RecordEvent, RecordWriter};

use crate::config::RecordsConfig;
use crate::metrics::Metrics;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use writer::{Command, WriterSettings};

/// How often the retention task purges.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// What went wrong with call records.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// SQLite failed.
    #[error("records database {path}: {what}: {source}")]
    Db {
        /// Database file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The schema is unusable (newer than this build, WAL refused).
    #[error("records database: {0}")]
    Schema(String),
    /// A file or thread could not be created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A recording could not be written.
    #[error("call recording: {0}")]
    Recording(String),
    /// The writer thread has stopped (store closed).
    #[error("the call records writer has stopped")]
    Closed,
    /// A stored value could not be read back.
    #[error("records database: corrupt value in {0}")]
    Corrupt(String),
}

impl RecordsError {
    fn db(path: &Path, what: &str, source: rusqlite::Error) -> Self {
        RecordsError::Db {
            path: path.to_path_buf(),
            what: what.to_string(),
            source,
        }
    }
}

/// An open records database with its writer thread.
#[derive(Debug)]
pub struct RecordStore {
    path: PathBuf,
    writer: RecordWriter,
    reader: Mutex<Connection>,
    recordings_dir: Option<PathBuf>,
    recording_sample_rate: u32,
    retention_days: u32,
    events: tokio::sync::broadcast::Sender<RecordEvent>,
}

/// How many committed-write announcements a subscriber may fall behind.
pub const EVENTS_CAPACITY: usize = 1024;

impl RecordStore {
    /// Opens (creating and migrating) the database at `path`, purges records older than
    /// `cfg.retention_days`, and starts the writer thread. Blocking: call it at startup or in
    /// `spawn_blocking`. Drop counts go to the process-wide [`crate::metrics::global`].
    pub fn open(path: &Path, cfg: &RecordsConfig) -> Result<RecordStore, RecordsError> {
        Self::open_with_metrics(path, cfg, Arc::clone(crate::metrics::global()))
    }

    /// Like [`RecordStore::open`], counting into the given metrics.
    pub fn open_with_metrics(
        path: &Path,
        cfg: &RecordsConfig,
        metrics: Arc<Metrics>,
    ) -> Result<RecordStore, RecordsError> {
        let busy = Duration::from_millis(cfg.busy_timeout_ms);
        let mut conn = schema::open_connection(path, busy)?;
        retention::purge(
            &mut conn,
            SystemTime::now(),
            cfg.retention_days,
            cfg.recordings_dir.as_deref(),
        )?;
        let reader = schema::open_connection(path, busy)?;
        let (tx, rx) = tokio::sync::mpsc::channel(cfg.queue_capacity.max(1));
        let (events, _) = tokio::sync::broadcast::channel(EVENTS_CAPACITY);
        let settings = WriterSettings {
            redact_min_digits: cfg.redact_digits.then_some(cfg.redact_min_digits),
            retention_days: cfg.retention_days,
            recordings_dir: cfg.recordings_dir.clone(),
            db_label: path.display().to_string(),
            events: events.clone(),
        };
        let thread_metrics = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("enclave-records".into())
            .spawn(move || writer::run_writer(conn, rx, settings, thread_metrics))
            .map_err(|source| RecordsError::Io {
                what: "cannot start the records writer thread".into(),
                source,
            })?;
        Ok(RecordStore {
            path: path.to_path_buf(),
            writer: RecordWriter {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
                metrics,
                disabled: false,
            },
            reader: Mutex::new(reader),
            recordings_dir: cfg.recordings_dir.clone(),
            recording_sample_rate: cfg.recording_sample_rate,
            retention_days: cfg.retention_days,
            events,
        })
    }

    /// Announcements of what the writer has committed, from now on. A slow subscriber that
    /// falls more than [`EVENTS_CAPACITY`] events behind gets `Lagged` and should re-read the
    /// database.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RecordEvent> {
        self.events.subscribe()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle for writing records (clone it into every call).
    pub fn writer(&self) -> RecordWriter {
        self.writer.clone()
    }

    /// A recorder for call `uuid` when `records.recordings_dir` is set, else `None`.
    pub fn recorder(&self, uuid: &Uuid) -> Option<Result<CallRecorder, RecordsError>> {
        let dir = self.recordings_dir.as_ref()?;
        Some(CallRecorder::create(
            dir,
            &uuid.to_string(),
            self.recording_sample_rate,
        ))
    }

    /// Starts a task that purges expired records every [`PURGE_INTERVAL`] until `cancel`
    /// (none when retention is 0). The purge runs on the writer thread, in order with writes.
    pub fn spawn_retention_task(
        &self,
        cancel: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.spawn_retention_task_every(PURGE_INTERVAL, cancel)
    }

    /// Like [`RecordStore::spawn_retention_task`] with another interval (tests).
    pub fn spawn_retention_task_every(
        &self,
        interval: Duration,
        cancel: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.retention_days == 0 {
            return None;
        }
        let tx = self.writer.tx.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is immediate; open() has just purged
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {
                        let cmd = Command::Purge { now: SystemTime::now(), done: None };
                        if tx.send(cmd).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }))
    }

    /// Reads a call and its turns back (tests, `agent` tooling).
    pub fn load_call(&self, uuid: &Uuid) -> Result<Option<StoredCall>, RecordsError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        load_call(&conn, &self.path, uuid)
    }

    /// Commits everything queued, then stops the writer thread.
    pub async fn close(self) -> Result<(), RecordsError> {
        self.writer.flush().await?;
        let _ = self.writer.tx.send(Command::Shutdown).await;
        Ok(())
    }
}

impl Drop for RecordStore {
    fn drop(&mut self) {
        // The writer finishes what is queued before it sees this, then stops.
        let _ = self.writer.tx.try_send(Command::Shutdown);
    }
}

/// Reads one call and its turns from an open connection.
pub fn load_call(
    conn: &Connection,
    path: &Path,
    uuid: &Uuid,
) -> Result<Option<StoredCall>, RecordsError> {
    let key = uuid.to_string();
    let db = |what: &str, e| RecordsError::db(path, what, e);
    let call = conn
        .query_row(
            "SELECT caller_id, started_at, ended_at, duration_ms, outcome, transfer_target, language, models, error
             FROM calls WHERE uuid = ?1",
            params![key],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()
        .map_err(|e| db("read call", e))?;
    let Some((
        caller_id,
        started_at_ms,
        ended_at_ms,
        duration_ms,
        outcome,
        transfer_target,
        language,
        models,
        error,
    )) = call
    else {
        return Ok(None);
    };
    let outcome = match outcome {
        Some(o) => Some(
            CallOutcome::parse(&o)
                .ok_or_else(|| RecordsError::Corrupt(format!("calls.outcome `{o}`")))?,
        ),
        None => None,
    };
    let models = serde_json::from_str(&models)
        .map_err(|e| RecordsError::Corrupt(format!("calls.models: {e}")))?;
    let mut stmt = conn
        .prepare(
            "SELECT seq, role, text, started_at, ended_at, endpointing_ms, asr_ms, llm_ttft_ms,
                    llm_first_sentence_ms, tts_first_audio_ms, turn_latency_ms, interrupted, tool_calls
             FROM turns WHERE call_uuid = ?1 ORDER BY seq",
        )
        .map_err(|e| db("read turns", e))?;
    let rows = stmt
        .query_map(params![key], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                TurnLatencies {
                    endpointing_ms: r.get(5)?,
                    asr_ms: r.get(6)?,
                    llm_ttft_ms: r.get(7)?,
                    llm_first_sentence_ms: r.get(8)?,
                    tts_first_audio_ms: r.get(9)?,
                    turn_latency_ms: r.get(10)?,
                },
                r.get::<_, bool>(11)?,
                r.get::<_, String>(12)?,
            ))
        })
        .map_err(|e| db("read turns", e))?;
    let mut turns = Vec::new();
    for row in rows {
        let (seq, role, text, started_at_ms, ended_at_ms, latencies, interrupted, tool_calls) =
            row.map_err(|e| db("read turns", e))?;
        turns.push(StoredTurn {
            seq,
            role: Role::parse(&role)
                .ok_or_else(|| RecordsError::Corrupt(format!("turns.role `{role}`")))?,
            text,
            started_at_ms,
            ended_at_ms,
            latencies,
            interrupted,
            tool_calls: serde_json::from_str(&tool_calls)
                .map_err(|e| RecordsError::Corrupt(format!("turns.tool_calls: {e}")))?,
        });
    }
    Ok(Some(StoredCall {
        uuid: *uuid,
        caller_id,
        started_at_ms,
        ended_at_ms,
        duration_ms,
        outcome,
        transfer_target,
        language,
        models,
        error,
        turns,
    }))
}
