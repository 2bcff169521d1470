//! Call records against a real SQLite file: the shared call-records suite
//! (`records_suite`, also run on PostgreSQL by `records_postgres.rs`) plus SQLite's own
//! checks (WAL, file layout).

mod records_suite;

use enclave::config::RecordsConfig;
use enclave::records::{CallRecorder, RecordStore, Role, SCHEMA_VERSION};
use records_suite::{turn, Db};
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use uuid::Uuid;

fn cfg() -> RecordsConfig {
    RecordsConfig::default()
}

/// The suite's view of SQLite: every `fresh()` is a new file in one temp dir.
struct Sqlite {
    dir: tempfile::TempDir,
    n: AtomicU32,
}

fn sqlite() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().unwrap(),
        n: AtomicU32::new(0),
    }
}

impl Db for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn fresh(&self) -> (RecordsConfig, PathBuf) {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let cfg = RecordsConfig {
            db_path: self.dir.path().join(format!("c{n}.sqlite3")),
            ..RecordsConfig::default()
        };
        let scratch = self.dir.path().join(format!("s{n}"));
        std::fs::create_dir_all(&scratch).unwrap();
        (cfg, scratch)
    }

    fn scalar(&self, cfg: &RecordsConfig, sql: &str) -> i64 {
        let conn = Connection::open(&cfg.db_path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn execute(&self, cfg: &RecordsConfig, sql: &str) {
        let conn = Connection::open(&cfg.db_path).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn raw_contains(&self, cfg: &RecordsConfig, needle: &str) -> bool {
        let mut wal = cfg.db_path.clone().into_os_string();
        wal.push("-wal");
        [cfg.db_path.clone(), PathBuf::from(wal)]
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    }

    fn block_writes(&self, cfg: &RecordsConfig) -> Box<dyn FnOnce() + Send> {
        // A write lock from another connection: the writer thread stalls on busy_timeout.
        let blocker = Connection::open(&cfg.db_path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        Box::new(move || blocker.execute_batch("COMMIT").unwrap())
    }
}

#[tokio::test]
async fn new_database_has_schema_version_wal_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/calls.sqlite3");
    let store = RecordStore::open(&path, &cfg()).unwrap();
    store.close().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    for table in [
        "calls",
        "turns",
        "campaigns",
        "campaign_contacts",
        "campaign_attempts",
        "do_not_call",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "table {table} missing");
    }
}

#[tokio::test]
async fn recorder_path_is_none_without_recordings_dir() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(&dir.path().join("c.sqlite3"), &cfg()).unwrap();
    assert!(store.recorder(&Uuid::new_v4()).is_none());
    assert!(CallRecorder::create(dir.path(), "../evil", 8000).is_err());
    assert!(CallRecorder::create(dir.path(), "abc", 44100).is_err());
}

#[tokio::test]
async fn disabled_writer_discards_without_counting_drops() {
    let w = enclave::records::RecordWriter::disabled();
    assert!(w.is_disabled());
    assert!(!w.turn_completed(turn(Uuid::new_v4(), 0, Role::Caller, "x", 0)));
    w.flush().await.unwrap();
    assert_eq!(w.dropped(), 0);
    assert_eq!(w.purge_now().await.unwrap(), Default::default());
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_migrate_again() {
    records_suite::reopening_keeps_data_and_does_not_migrate_again(&sqlite()).await;
}

#[tokio::test]
async fn database_from_a_newer_build_is_refused_with_a_clear_error() {
    records_suite::database_from_a_newer_build_is_refused_with_a_clear_error(&sqlite()).await;
}

#[tokio::test]
async fn call_with_turns_and_tool_calls_round_trips() {
    records_suite::call_with_turns_and_tool_calls_round_trips(&sqlite()).await;
}

#[tokio::test]
async fn every_outcome_is_stored_and_read_back() {
    records_suite::every_outcome_is_stored_and_read_back(&sqlite()).await;
}

#[tokio::test]
async fn turn_without_call_start_still_gets_a_call_row() {
    records_suite::turn_without_call_start_still_gets_a_call_row(&sqlite()).await;
}

#[tokio::test]
async fn redaction_applies_to_text_and_tool_calls_when_enabled() {
    records_suite::redaction_applies_to_text_and_tool_calls_when_enabled(&sqlite()).await;
}

#[tokio::test]
async fn redaction_off_stores_text_verbatim() {
    records_suite::redaction_off_stores_text_verbatim(&sqlite()).await;
}

#[tokio::test]
async fn retention_purge_removes_old_calls_turns_and_recordings_only() {
    records_suite::retention_purge_removes_old_calls_turns_and_recordings_only(&sqlite()).await;
}

#[tokio::test]
async fn full_queue_drops_and_counts_instead_of_blocking() {
    records_suite::full_queue_drops_and_counts_instead_of_blocking(&sqlite()).await;
}

#[tokio::test]
async fn retention_task_purges_periodically_until_cancelled() {
    records_suite::retention_task_purges_periodically_until_cancelled(&sqlite()).await;
}

#[tokio::test]
async fn subscribers_hear_each_write_after_it_is_committed() {
    records_suite::subscribers_hear_each_write_after_it_is_committed(&sqlite()).await;
}
