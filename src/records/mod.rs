//! Call records: one row per call and per turn (off the audio path) in SQLite (WAL) or
//! PostgreSQL, optional WAV recordings.
//!
//! [`RecordStore::open`] (SQLite) / [`RecordStore::open_configured`] (either, by
//! `records.backend`) opens and migrates the database, purges expired records, and starts
//! the one writer thread that owns the connection. Everything but the SQL itself is shared
//! by both databases: see [`backend`]. Calls write through a [`RecordWriter`]
//! (cheap to clone, never blocks; see `writer.rs` for the drop-on-full tradeoff). Each
//! completed turn is committed in its own transaction as soon as the writer reaches it, so a
//! crash loses at most the turn in progress and whatever was still queued.

pub mod backend;
mod backend_postgres;
mod backend_query;
mod backend_sqlite;
pub mod query;
mod query_postgres;
mod recorder;
mod redact;
mod retention;
pub mod schema;
pub mod schema_postgres;
mod types;
mod writer;

pub use backend::{BackendThread, DeletedRows, RecordsBackend};
pub use backend_postgres::PostgresBackend;
pub use backend_query::RecordsReader;
pub use backend_sqlite::{load_call, SqliteBackend};

pub use recorder::{recording_path, CallRecorder, RecordingStats};
pub use redact::{redact_digits, redact_json, REDACTED};
pub use retention::PurgeStats;
pub use schema::SCHEMA_VERSION;
pub use types::{
    unix_ms, CallEnd, CallOutcome, CallStart, ModelsUsed, Role, StoredCall, StoredTurn,
    ToolCallRecord, TurnLatencies, TurnRecord,
};
pub use writer::{RecordEvent, RecordWriter};

use crate::config::{RecordsBackendKind, RecordsConfig};
use crate::metrics::Metrics;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
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
    /// PostgreSQL failed.
    #[error("records database {target}: {what}: {}", postgres_detail(.source))]
    Postgres {
        /// Where (host, port, database; no password).
        target: String,
        /// What was being done.
        what: String,
        /// The client's error (with the server's message, when it sent one).
        source: postgres::Error,
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

/// The server's message (severity, SQLSTATE, text) or the client's error with its causes:
/// `postgres::Error`'s own `Display` says only "db error".
fn postgres_detail(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
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
pub struct RecordStore {
    path: PathBuf,
    kind: RecordsBackendKind,
    writer: RecordWriter,
    reader: RecordsReader,
    /// Opens another connection to the same database (for [`RecordStore::new_reader`]).
    open: OpenBackend,
    recordings_dir: Option<PathBuf>,
    recording_sample_rate: u32,
    retention_days: u32,
    events: tokio::sync::broadcast::Sender<RecordEvent>,
}

/// Opens one more connection to a store's database.
type OpenBackend = Arc<dyn Fn() -> Result<Box<dyn RecordsBackend>, RecordsError> + Send + Sync>;

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
        let db = path.to_path_buf();
        let open = move || -> Result<Box<dyn RecordsBackend>, RecordsError> {
            let conn = schema::open_connection(&db, busy)?;
            Ok(Box::new(SqliteBackend::new(conn, &db)))
        };
        Self::open_backend(
            RecordsBackendKind::Sqlite,
            path.to_path_buf(),
            Arc::new(open),
            cfg,
            metrics,
        )
    }

    /// Opens the database `cfg.backend` names: SQLite at `cfg.db_path`, or PostgreSQL at
    /// `cfg.postgres_url`. Blocking, like [`RecordStore::open`].
    pub fn open_configured(
        cfg: &RecordsConfig,
        metrics: Arc<Metrics>,
    ) -> Result<RecordStore, RecordsError> {
        match cfg.backend {
            RecordsBackendKind::Sqlite => Self::open_with_metrics(&cfg.db_path, cfg, metrics),
            RecordsBackendKind::Postgres => {
                let url = cfg.postgres_url.clone().ok_or_else(|| {
                    RecordsError::Schema(
                        "records.backend = \"postgres\" needs records.postgres_url".into(),
                    )
                })?;
                Self::open_postgres(&url, cfg, metrics)
            }
        }
    }

    /// Opens (creating the tables and migrating) the PostgreSQL database at `url`, shared
    /// safely with other agents (migrations take an advisory lock). Blocking.
    pub fn open_postgres(
        url: &str,
        cfg: &RecordsConfig,
        metrics: Arc<Metrics>,
    ) -> Result<RecordStore, RecordsError> {
        let lock_timeout = Duration::from_millis(cfg.busy_timeout_ms);
        let url = url.to_string();
        let label = PathBuf::from(crate::config::redact_url_password(&url));
        let ca_file = cfg.postgres_ca_file.clone();
        let open = move || -> Result<Box<dyn RecordsBackend>, RecordsError> {
            Ok(Box::new(PostgresBackend::connect_with(
                &url,
                ca_file.as_deref(),
                lock_timeout,
            )?))
        };
        Self::open_backend(
            RecordsBackendKind::Postgres,
            label,
            Arc::new(open),
            cfg,
            metrics,
        )
    }

    /// Starts the writer thread (which opens, migrates and purges) and the reader thread,
    /// each with its own connection from `open`.
    fn open_backend(
        kind: RecordsBackendKind,
        path: PathBuf,
        open: OpenBackend,
        cfg: &RecordsConfig,
        metrics: Arc<Metrics>,
    ) -> Result<RecordStore, RecordsError> {
        let (tx, rx) = tokio::sync::mpsc::channel(cfg.queue_capacity.max(1));
        let (events, _) = tokio::sync::broadcast::channel(EVENTS_CAPACITY);
        let mut settings = WriterSettings {
            redact_min_digits: cfg.redact_digits.then_some(cfg.redact_min_digits),
            retention_days: cfg.retention_days,
            recordings_dir: cfg.recordings_dir.clone(),
            db_label: path.display().to_string(),
            events: events.clone(),
        };
        let thread_metrics = Arc::clone(&metrics);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let open_writer = Arc::clone(&open);
        std::thread::Builder::new()
            .name("enclave-records".into())
            .spawn(move || {
                let opened = open_writer().and_then(|mut backend| {
                    retention::purge(
                        backend.as_mut(),
                        SystemTime::now(),
                        settings.retention_days,
                        settings.recordings_dir.as_deref(),
                    )?;
                    Ok(backend)
                });
                match opened {
                    Ok(backend) => {
                        settings.db_label = backend.label().to_string();
                        let _ = ready_tx.send(Ok(()));
                        writer::run_writer(backend, rx, settings, thread_metrics);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|source| RecordsError::Io {
                what: "cannot start the records writer thread".into(),
                source,
            })?;
        ready_rx.recv().map_err(|_| RecordsError::Closed)??;
        let open_reader = Arc::clone(&open);
        let reader = BackendThread::spawn("enclave-records-reader", move || open_reader())?;
        let reader = RecordsReader::new(reader, path.clone(), kind);
        Ok(RecordStore {
            open,
            path,
            kind,
            writer: RecordWriter {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
                metrics,
                disabled: false,
            },
            reader,
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

    /// The database file (SQLite), or the connection URL with its password redacted
    /// (PostgreSQL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which database this store writes.
    pub fn backend_kind(&self) -> RecordsBackendKind {
        self.kind
    }

    /// Runs `f` with the store's read connection, on its own thread (safe to call from async
    /// code; it blocks like any database read). Queries for tooling and the console hang here.
    pub fn read<R, F>(&self, f: F) -> Result<R, RecordsError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn RecordsBackend) -> Result<R, RecordsError> + Send + 'static,
    {
        self.reader.read(f)
    }

    /// The store's read connection as a cloneable handle (shared with [`RecordStore::read`]).
    pub fn reader(&self) -> RecordsReader {
        self.reader.clone()
    }

    /// A read handle on a connection of its own, on a new thread named `thread` (the console's,
    /// so its queries never wait behind tooling's). Blocking: it connects.
    pub fn new_reader(&self, thread: &str) -> Result<RecordsReader, RecordsError> {
        let open = Arc::clone(&self.open);
        let t = BackendThread::spawn(thread, move || open())?;
        Ok(RecordsReader::new(t, self.path.clone(), self.kind))
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
        let uuid = *uuid;
        self.read(move |b| b.load_call(&uuid))
    }

    /// Commits everything queued, then stops the writer thread.
    pub async fn close(self) -> Result<(), RecordsError> {
        self.writer.flush().await?;
        let _ = self.writer.tx.send(Command::Shutdown).await;
        Ok(())
    }
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Drop for RecordStore {
    fn drop(&mut self) {
        // The writer finishes what is queued before it sees this, then stops.
        let _ = self.writer.tx.try_send(Command::Shutdown);
    }
}
