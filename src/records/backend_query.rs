//! [`RecordsReader`]: the console's reads on whichever database the store writes —
//! [`super::query`] (SQLite) or [`super::query_postgres`] — on a read connection's thread.

use super::query::{CallDetail, CallFilter, CallPage, CallStats};
use super::{query, query_postgres, BackendThread, RecordStore, RecordsBackend, RecordsError};
use crate::config::RecordsBackendKind;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// A cloneable read handle on a records database (SQLite or PostgreSQL): what the HTTP API
/// and tooling read call history through, so they work the same on both backends.
#[derive(Debug, Clone)]
pub struct RecordsReader {
    thread: Arc<BackendThread>,
    label: PathBuf,
    kind: RecordsBackendKind,
}

impl RecordsReader {
    pub(super) fn new(thread: BackendThread, label: PathBuf, kind: RecordsBackendKind) -> Self {
        RecordsReader {
            thread: Arc::new(thread),
            label,
            kind,
        }
    }

    /// Which database this reads.
    pub fn backend_kind(&self) -> RecordsBackendKind {
        self.kind
    }

    /// The database file (SQLite) or the redacted connection URL (PostgreSQL).
    pub fn label(&self) -> &std::path::Path {
        &self.label
    }

    /// Runs `f` with the read connection on its thread (blocks the caller like any read).
    pub fn read<R, F>(&self, f: F) -> Result<R, RecordsError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn RecordsBackend) -> Result<R, RecordsError> + Send + 'static,
    {
        self.thread.run(f)?
    }

    fn read_query<R, S, P>(
        &self,
        what: &'static str,
        sqlite: S,
        postgres: P,
    ) -> Result<R, RecordsError>
    where
        R: Send + 'static,
        S: FnOnce(&rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
        P: FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    {
        let label = self.label.display().to_string();
        self.read(move |b| {
            if let Some(c) = b.as_sqlite() {
                return sqlite(c).map_err(|e| RecordsError::Db {
                    path: PathBuf::from(&label),
                    what: what.into(),
                    source: e,
                });
            }
            match b.as_postgres() {
                Some(c) => postgres(c).map_err(|source| RecordsError::Postgres {
                    target: label,
                    what: what.into(),
                    source,
                }),
                None => Err(RecordsError::Closed),
            }
        })
    }

    /// One page of calls matching `f` (newest first) and the total, on either backend.
    pub fn list_calls(&self, f: &CallFilter) -> Result<CallPage, RecordsError> {
        let (a, b) = (f.clone(), f.clone());
        self.read_query(
            "list calls",
            move |c| query::list_calls(c, &a),
            move |c| query_postgres::list_calls(c, &b),
        )
    }

    /// One call with its turns, on either backend.
    pub fn call_detail(&self, uuid: &Uuid) -> Result<Option<CallDetail>, RecordsError> {
        let uuid = *uuid;
        self.read_query(
            "read call",
            move |c| query::call_detail(c, &uuid),
            move |c| query_postgres::call_detail(c, &uuid),
        )
    }

    /// The dashboard's figures for calls started in `[from_ms, to_ms)`, on either backend.
    pub fn call_stats(&self, from_ms: i64, to_ms: i64) -> Result<CallStats, RecordsError> {
        self.read_query(
            "call stats",
            move |c| query::call_stats(c, from_ms, to_ms),
            move |c| query_postgres::call_stats(c, from_ms, to_ms),
        )
    }
}

impl RecordStore {
    /// One page of calls matching `f` (newest first) and the total, on either backend.
    pub fn list_calls(&self, f: &CallFilter) -> Result<CallPage, RecordsError> {
        self.reader.list_calls(f)
    }

    /// One call with its turns, on either backend.
    pub fn call_detail(&self, uuid: &Uuid) -> Result<Option<CallDetail>, RecordsError> {
        self.reader.call_detail(uuid)
    }

    /// The dashboard's figures for calls started in `[from_ms, to_ms)`, on either backend.
    pub fn call_stats(&self, from_ms: i64, to_ms: i64) -> Result<CallStats, RecordsError> {
        self.reader.call_stats(from_ms, to_ms)
    }
}
