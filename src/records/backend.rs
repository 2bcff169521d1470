//! The storage seam under the call records: what the writer thread and the readers ask of a
//! database, implemented once for SQLite (`backend_sqlite.rs`) and once for PostgreSQL
//! (`backend_postgres.rs`).
//!
//! Everything above the trait is shared: the bounded queue and drop accounting
//! (`writer.rs`), redaction (done before a turn reaches the backend, so both databases only
//! ever see redacted text), retention (the backend deletes rows, `retention.rs` removes the
//! files), the committed-write broadcast and [`super::RecordStore`]'s API.
//!
//! Threading: a backend is owned by one thread and never used from an async task. The
//! writer thread owns one; reads go through a [`BackendThread`], a second connection on its
//! own thread. That matters for PostgreSQL: the `postgres` client drives a private Tokio
//! runtime and may neither block in nor be dropped inside an async context.

use super::types::{CallEnd, CallStart, StoredCall, TurnRecord};
use super::RecordsError;
use std::sync::mpsc;
use uuid::Uuid;

/// Rows one retention purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedRows {
    /// Uuids of the deleted calls (their recordings are removed next).
    pub uuids: Vec<String>,
    /// Calls deleted.
    pub calls: usize,
    /// Turns deleted.
    pub turns: usize,
}

/// One database holding call records: the operations the writer and readers need.
///
/// Each write is atomic on its own (a turn with its fallback call row is one transaction),
/// and every write is idempotent where a retry or a second agent could repeat it (`calls`
/// rows are upserted by uuid).
pub trait RecordsBackend: Send {
    /// Where the records live, for logs and errors (no password).
    fn label(&self) -> &str;

    /// Creates or refreshes the call row.
    fn insert_call(&mut self, call: &CallStart) -> Result<(), RecordsError>;

    /// Writes one turn (`text` and `tool_calls_json` as stored: already redacted) in its own
    /// transaction, with a minimal call row if the call's start was never written.
    fn insert_turn(
        &mut self,
        turn: &TurnRecord,
        text: &str,
        tool_calls_json: &str,
    ) -> Result<(), RecordsError>;

    /// Writes how the call ended (creating a minimal row if its start was never written).
    fn update_call_end(&mut self, end: &CallEnd) -> Result<(), RecordsError>;

    /// Deletes calls that started before `cutoff_ms` (unix ms) and their turns, in one
    /// transaction.
    fn delete_calls_before(&mut self, cutoff_ms: i64) -> Result<DeletedRows, RecordsError>;

    /// Reads one call and its turns.
    fn load_call(&mut self, uuid: &Uuid) -> Result<Option<StoredCall>, RecordsError>;

    /// The schema version stored in the database.
    fn schema_version(&mut self) -> Result<i64, RecordsError>;

    /// The SQLite connection, when this backend is SQLite (dialect-specific queries such as
    /// the console's listing and search run on it through [`super::RecordStore::read`]).
    fn as_sqlite(&mut self) -> Option<&mut rusqlite::Connection> {
        None
    }

    /// The PostgreSQL client, when this backend is PostgreSQL.
    fn as_postgres(&mut self) -> Option<&mut postgres::Client> {
        None
    }
}

type Job = Box<dyn FnOnce(&mut dyn RecordsBackend) + Send>;

/// A backend on its own thread: callers (async tasks included) hand it closures and wait.
///
/// Dropping the handle ends the thread, which drops the connection there.
#[derive(Debug)]
pub struct BackendThread {
    tx: mpsc::Sender<Job>,
    label: String,
}

impl BackendThread {
    /// Opens a backend with `open` on a new thread named `name` and keeps it there.
    /// Blocks until `open` has finished and returns its error, if any.
    pub fn spawn<F>(name: &str, open: F) -> Result<BackendThread, RecordsError>
    where
        F: FnOnce() -> Result<Box<dyn RecordsBackend>, RecordsError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut backend = match open() {
                    Ok(b) => {
                        let _ = ready_tx.send(Ok(b.label().to_string()));
                        b
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(backend.as_mut());
                }
            })
            .map_err(|source| RecordsError::Io {
                what: format!("cannot start the {name} thread"),
                source,
            })?;
        let label = ready_rx.recv().map_err(|_| RecordsError::Closed)??;
        Ok(BackendThread { tx, label })
    }

    /// Where the records live.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs `f` on the backend's thread and returns its result (blocking the caller).
    pub fn run<R, F>(&self, f: F) -> Result<R, RecordsError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn RecordsBackend) -> R + Send + 'static,
    {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        self.tx
            .send(Box::new(move |b: &mut dyn RecordsBackend| {
                let _ = done_tx.send(f(b));
            }))
            .map_err(|_| RecordsError::Closed)?;
        done_rx.recv().map_err(|_| RecordsError::Closed)
    }
}
