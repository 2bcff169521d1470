//! Schema migrations on a real SQLite file: a database written by an older build (schema v1,
//! whose outcome CHECK has no `protocol_error`) keeps every call and turn, and then accepts
//! the new outcome.

use enclave::config::RecordsConfig;
use enclave::records::{CallEnd, CallOutcome, RecordStore, SCHEMA_VERSION};
use rusqlite::Connection;
use std::time::SystemTime;
use uuid::Uuid;

/// The v1 schema exactly as the first release created it.
const V1: &str = r#"
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version (version) VALUES (1);
    CREATE TABLE calls (
        uuid            TEXT PRIMARY KEY NOT NULL,
        caller_id       TEXT,
        started_at      INTEGER NOT NULL,
        ended_at        INTEGER,
        duration_ms     INTEGER,
        outcome         TEXT CHECK (outcome IN ('completed','transferred','caller_hangup',
                                'agent_hangup','error','timeout','shutdown')),
        transfer_target TEXT,
        language        TEXT,
        models          TEXT NOT NULL DEFAULT '{}',
        error           TEXT
    );
    CREATE INDEX calls_started_at ON calls (started_at);
    CREATE TABLE turns (
        id                    INTEGER PRIMARY KEY AUTOINCREMENT,
        call_uuid             TEXT NOT NULL REFERENCES calls (uuid) ON DELETE CASCADE,
        seq                   INTEGER NOT NULL,
        role                  TEXT NOT NULL CHECK (role IN ('caller','agent','tool')),
        text                  TEXT NOT NULL,
        started_at            INTEGER NOT NULL,
        ended_at              INTEGER NOT NULL,
        endpointing_ms        INTEGER,
        asr_ms                INTEGER,
        llm_ttft_ms           INTEGER,
        llm_first_sentence_ms INTEGER,
        tts_first_audio_ms    INTEGER,
        turn_latency_ms       INTEGER,
        interrupted           INTEGER NOT NULL DEFAULT 0,
        tool_calls            TEXT NOT NULL DEFAULT '[]',
        UNIQUE (call_uuid, seq)
    );
"#;

#[tokio::test]
async fn a_v1_database_migrates_keeping_every_row_and_takes_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.sqlite3");
    let old = Uuid::new_v4();
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL").unwrap();
        conn.execute_batch(V1).unwrap();
        conn.execute(
            "INSERT INTO calls (uuid, caller_id, started_at, ended_at, duration_ms, outcome, models)
             VALUES (?1, '+100', 1000, 5000, 4000, 'caller_hangup', '{\"asr\":\"w\"}')",
            [old.to_string()],
        )
        .unwrap();
        for seq in 0..3 {
            conn.execute(
                "INSERT INTO turns (call_uuid, seq, role, text, started_at, ended_at)
                 VALUES (?1, ?2, 'caller', 'hello', 1000, 2000)",
                rusqlite::params![old.to_string(), seq],
            )
            .unwrap();
        }
        // The old CHECK really refuses the new outcome (else this test proves nothing).
        assert!(conn
            .execute("UPDATE calls SET outcome = 'protocol_error'", [])
            .is_err());
    }

    let store = RecordStore::open(&db, &RecordsConfig::default()).unwrap();
    let kept = store.load_call(&old).unwrap().expect("old call kept");
    assert_eq!(kept.outcome, Some(CallOutcome::CallerHangup));
    assert_eq!(kept.turns.len(), 3, "turns survive the calls table rebuild");
    assert_eq!(kept.caller_id.as_deref(), Some("+100"));

    let new = Uuid::new_v4();
    let w = store.writer();
    assert!(w.call_ended(CallEnd {
        uuid: new,
        ended_at: SystemTime::now(),
        outcome: CallOutcome::ProtocolError,
        transfer_target: None,
        language: None,
        error: Some("bad frame kind 0x42".into()),
    }));
    w.flush().await.unwrap();
    let stored = store.load_call(&new).unwrap().expect("new call");
    assert_eq!(stored.outcome, Some(CallOutcome::ProtocolError));
    store.close().await.unwrap();

    let conn = Connection::open(&db).unwrap();
    let v: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 5);
    // The cascade still works on the rebuilt table.
    conn.execute_batch("PRAGMA foreign_keys=ON").unwrap();
    conn.execute("DELETE FROM calls WHERE uuid = ?1", [old.to_string()])
        .unwrap();
    let left: i64 = conn
        .query_row("SELECT count(*) FROM turns", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "ON DELETE CASCADE survived the migration");
}
