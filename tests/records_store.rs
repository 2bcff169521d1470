//! Call records against a real SQLite file: schema, round trip, WAL, redaction, retention, drops.

use enclave::config::RecordsConfig;
use enclave::metrics::Metrics;
use enclave::records::{
    recording_path, CallEnd, CallOutcome, CallRecorder, CallStart, ModelsUsed, RecordEvent,
    RecordStore, RecordsError, Role, ToolCallRecord, TurnLatencies, TurnRecord, SCHEMA_VERSION,
};
use rusqlite::Connection;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

fn cfg() -> RecordsConfig {
    RecordsConfig::default()
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn start(uuid: Uuid, started_ms: u64) -> CallStart {
    CallStart {
        uuid,
        caller_id: Some("+74951234567".into()),
        started_at: at(started_ms),
        language: Some("ru".into()),
        models: ModelsUsed {
            asr: Some("whisper-small".into()),
            llm: Some("qwen2.5-3b".into()),
            tts: Some("ru_RU-irina-medium".into()),
            vad: Some("silero".into()),
        },
    }
}

fn turn(uuid: Uuid, seq: u32, role: Role, text: &str, started_ms: u64) -> TurnRecord {
    TurnRecord {
        call_uuid: uuid,
        seq,
        role,
        text: text.into(),
        started_at: at(started_ms),
        ended_at: at(started_ms + 1500),
        latencies: TurnLatencies {
            endpointing_ms: Some(200),
            asr_ms: Some(120),
            llm_ttft_ms: Some(90),
            llm_first_sentence_ms: Some(300),
            tts_first_audio_ms: Some(60),
            turn_latency_ms: Some(640),
        },
        interrupted: seq % 2 == 1,
        tool_calls: Vec::new(),
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
async fn reopening_keeps_data_and_does_not_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.sqlite3");
    let uuid = Uuid::new_v4();
    let store = RecordStore::open(&path, &cfg()).unwrap();
    store.writer().call_started(start(uuid, 1_000));
    store.close().await.unwrap();
    let store = RecordStore::open(&path, &cfg()).unwrap();
    assert!(store.load_call(&uuid).unwrap().is_some());
    let conn = Connection::open(&path).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn database_from_a_newer_build_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.sqlite3");
    drop(RecordStore::open(&path, &cfg()).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE schema_version SET version = ?1",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    drop(conn);
    let err = RecordStore::open(&path, &cfg()).unwrap_err();
    assert!(matches!(err, RecordsError::Schema(_)), "{err:?}");
    assert!(err.to_string().contains("newer Enclave"), "{err}");
}

#[tokio::test]
async fn call_with_turns_and_tool_calls_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(&dir.path().join("c.sqlite3"), &cfg()).unwrap();
    let w = store.writer();
    let uuid = Uuid::new_v4();
    assert!(w.call_started(start(uuid, 10_000)));
    w.turn_completed(turn(
        uuid,
        0,
        Role::Caller,
        "Здравствуйте, хочу узнать баланс",
        10_500,
    ));
    let mut agent = turn(uuid, 1, Role::Agent, "Сейчас проверю.", 12_000);
    agent.tool_calls.push(ToolCallRecord {
        name: "get_balance".into(),
        arguments: json!({"account": "main"}),
        result: json!({"balance": 42.5}),
        duration_ms: 35,
    });
    w.turn_completed(agent.clone());
    w.call_ended(CallEnd {
        uuid,
        ended_at: at(70_000),
        outcome: CallOutcome::Transferred,
        transfer_target: Some("operators".into()),
        language: None,
        error: None,
    });
    w.flush().await.unwrap();
    let call = store.load_call(&uuid).unwrap().expect("call stored");
    assert_eq!(call.caller_id.as_deref(), Some("+74951234567"));
    assert_eq!(call.started_at_ms, 10_000);
    assert_eq!(call.ended_at_ms, Some(70_000));
    assert_eq!(call.duration_ms, Some(60_000));
    assert_eq!(call.outcome, Some(CallOutcome::Transferred));
    assert_eq!(call.transfer_target.as_deref(), Some("operators"));
    assert_eq!(call.language.as_deref(), Some("ru"));
    assert_eq!(call.models.llm.as_deref(), Some("qwen2.5-3b"));
    assert_eq!(call.turns.len(), 2);
    assert_eq!(call.turns[0].role, Role::Caller);
    assert_eq!(call.turns[0].text, "Здравствуйте, хочу узнать баланс");
    assert!(!call.turns[0].interrupted);
    let t1 = &call.turns[1];
    assert_eq!((t1.seq, t1.role, t1.interrupted), (1, Role::Agent, true));
    assert_eq!(t1.latencies, agent.latencies);
    assert_eq!(t1.started_at_ms, 12_000);
    assert_eq!(t1.ended_at_ms, 13_500);
    assert_eq!(t1.tool_calls, agent.tool_calls);
    assert!(store.load_call(&Uuid::new_v4()).unwrap().is_none());
}

#[tokio::test]
async fn every_outcome_is_stored_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(&dir.path().join("c.sqlite3"), &cfg()).unwrap();
    let w = store.writer();
    let mut ids = Vec::new();
    for outcome in CallOutcome::ALL {
        let uuid = Uuid::new_v4();
        w.call_started(start(uuid, 1_000));
        w.call_ended(CallEnd {
            uuid,
            ended_at: at(2_000),
            outcome,
            transfer_target: None,
            language: Some("en".into()),
            error: (outcome == CallOutcome::Error).then(|| "asr failed".into()),
        });
        ids.push((uuid, outcome));
    }
    w.flush().await.unwrap();
    for (uuid, outcome) in ids {
        let c = store.load_call(&uuid).unwrap().unwrap();
        assert_eq!(c.outcome, Some(outcome));
        assert_eq!(
            c.language.as_deref(),
            Some("en"),
            "end language overrides start"
        );
        assert_eq!(c.error.is_some(), outcome == CallOutcome::Error);
    }
}

#[tokio::test]
async fn turn_without_call_start_still_gets_a_call_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(&dir.path().join("c.sqlite3"), &cfg()).unwrap();
    let uuid = Uuid::new_v4();
    store
        .writer()
        .turn_completed(turn(uuid, 0, Role::Caller, "hello", 5_000));
    store.writer().flush().await.unwrap();
    let c = store.load_call(&uuid).unwrap().unwrap();
    assert_eq!(c.started_at_ms, 5_000);
    assert_eq!(c.turns.len(), 1);
}

#[tokio::test]
async fn redaction_applies_to_text_and_tool_calls_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg();
    c.redact_digits = true;
    let store = RecordStore::open(&dir.path().join("c.sqlite3"), &c).unwrap();
    let uuid = Uuid::new_v4();
    let mut t = turn(
        uuid,
        0,
        Role::Caller,
        "карта 4111 1111 1111 1111, телефон +7 (495) 123-45-67",
        0,
    );
    t.tool_calls.push(ToolCallRecord {
        name: "check_card".into(),
        arguments: json!({"card": "4111111111111111"}),
        result: json!("card 4111 ok"),
        duration_ms: 3,
    });
    store.writer().turn_completed(t);
    store.writer().flush().await.unwrap();
    let stored = store.load_call(&uuid).unwrap().unwrap();
    assert_eq!(stored.turns[0].text, "карта [digits], телефон [digits]");
    assert_eq!(
        stored.turns[0].tool_calls[0].arguments,
        json!({"card": "[digits]"})
    );
    assert_eq!(
        stored.turns[0].tool_calls[0].result,
        json!("card [digits] ok")
    );
    // The raw file holds no trace of the number.
    drop(store);
    let raw = std::fs::read(dir.path().join("c.sqlite3-wal")).unwrap_or_default();
    let raw_db = std::fs::read(dir.path().join("c.sqlite3")).unwrap();
    for bytes in [raw, raw_db] {
        assert!(
            !bytes.windows(4).any(|w| w == b"4111"),
            "card digits leaked to disk"
        );
    }
}

#[tokio::test]
async fn redaction_off_stores_text_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(&dir.path().join("c.sqlite3"), &cfg()).unwrap();
    let uuid = Uuid::new_v4();
    store
        .writer()
        .turn_completed(turn(uuid, 0, Role::Caller, "4111 1111 1111 1111", 0));
    store.writer().flush().await.unwrap();
    assert_eq!(
        store.load_call(&uuid).unwrap().unwrap().turns[0].text,
        "4111 1111 1111 1111"
    );
}

#[tokio::test]
async fn retention_purge_removes_old_calls_turns_and_recordings_only() {
    let dir = tempfile::tempdir().unwrap();
    let rec_dir = dir.path().join("rec");
    let db = dir.path().join("c.sqlite3");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let day = 86_400_000u64;
    let (old, fresh) = (Uuid::new_v4(), Uuid::new_v4());
    {
        let mut c = cfg();
        c.recordings_dir = Some(rec_dir.clone());
        let store = RecordStore::open(&db, &c).unwrap();
        let w = store.writer();
        w.call_started(start(old, now_ms - 40 * day));
        w.turn_completed(turn(old, 0, Role::Caller, "old", now_ms - 40 * day));
        w.turn_completed(turn(old, 1, Role::Agent, "old reply", now_ms - 40 * day));
        w.call_started(start(fresh, now_ms - 2 * day));
        w.turn_completed(turn(fresh, 0, Role::Caller, "fresh", now_ms - 2 * day));
        for uuid in [old, fresh] {
            let r = store.recorder(&uuid).unwrap().unwrap();
            r.caller(Duration::ZERO, &[1i16; 160]);
            r.close().await.unwrap();
        }
        // An orphan recording (no call row) older than the retention window.
        let orphan = rec_dir.join("orphan.wav");
        std::fs::write(&orphan, b"RIFF").unwrap();
        let f = std::fs::File::options().write(true).open(&orphan).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(40 * 86_400))
            .unwrap();
        // Retention 0 (this store): purge removes nothing.
        assert_eq!(w.purge_now().await.unwrap(), Default::default());
        store.close().await.unwrap();
    }
    let mut c = cfg();
    c.recordings_dir = Some(rec_dir.clone());
    c.retention_days = 30;
    // Open purges at once.
    let store = RecordStore::open(&db, &c).unwrap();
    assert!(store.load_call(&old).unwrap().is_none());
    let kept = store.load_call(&fresh).unwrap().unwrap();
    assert_eq!(kept.turns.len(), 1);
    assert!(!recording_path(&rec_dir, &old.to_string()).exists());
    assert!(recording_path(&rec_dir, &fresh.to_string()).exists());
    assert!(!rec_dir.join("orphan.wav").exists());
    let conn = Connection::open(&db).unwrap();
    let turns: i64 = conn
        .query_row("SELECT count(*) FROM turns", [], |r| r.get(0))
        .unwrap();
    assert_eq!(turns, 1);
    // A second purge through the writer finds nothing more.
    assert_eq!(store.writer().purge_now().await.unwrap().calls, 0);
}

#[tokio::test]
async fn full_queue_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite3");
    let mut c = cfg();
    c.queue_capacity = 16;
    let metrics = Arc::new(Metrics::new());
    let store = RecordStore::open_with_metrics(&db, &c, Arc::clone(&metrics)).unwrap();
    // Hold a write lock from another connection so the writer thread stalls on busy_timeout.
    let blocker = Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let w = store.writer();
    let uuid = Uuid::new_v4();
    let t0 = std::time::Instant::now();
    let mut accepted = 0;
    for seq in 0..200 {
        if w.turn_completed(turn(uuid, seq, Role::Caller, "x", 0)) {
            accepted += 1;
        }
    }
    let elapsed = t0.elapsed();
    assert!(
        elapsed < Duration::from_millis(200),
        "enqueueing blocked for {elapsed:?}"
    );
    assert!(accepted <= 17, "accepted {accepted} with capacity 16");
    assert_eq!(w.dropped(), 200 - accepted);
    assert_eq!(metrics.records_dropped_total(), 200 - accepted);
    blocker.execute_batch("COMMIT").unwrap();
    w.flush().await.unwrap();
    let stored = store.load_call(&uuid).unwrap().unwrap();
    assert_eq!(stored.turns.len() as u64, accepted);
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
async fn retention_task_purges_periodically_until_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg();
    c.retention_days = 30;
    let store = RecordStore::open(&dir.path().join("c.sqlite3"), &c).unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let (old, fresh) = (Uuid::new_v4(), Uuid::new_v4());
    let w = store.writer();
    w.call_started(start(old, now_ms - 31 * 86_400_000));
    w.call_started(start(fresh, now_ms));
    w.flush().await.unwrap();
    assert!(
        store.load_call(&old).unwrap().is_some(),
        "written after the purge at open"
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = store
        .spawn_retention_task_every(Duration::from_millis(20), cancel.clone())
        .expect("retention > 0 starts a task");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.load_call(&old).unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the task never purged"
        );
        w.flush().await.unwrap();
    }
    assert!(store.load_call(&fresh).unwrap().is_some());
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    // Retention 0: no task at all.
    let keep = RecordStore::open(&dir.path().join("k.sqlite3"), &cfg()).unwrap();
    assert!(keep
        .spawn_retention_task(tokio_util::sync::CancellationToken::new())
        .is_none());
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
async fn subscribers_hear_each_write_after_it_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let store = RecordStore::open(&db, &RecordsConfig::default()).unwrap();
    let mut events = store.subscribe();
    let w = store.writer();
    let uuid = Uuid::new_v4();
    let t0 = SystemTime::now();
    assert!(w.call_started(CallStart {
        uuid,
        caller_id: Some("100".into()),
        started_at: t0,
        language: None,
        models: ModelsUsed::default(),
    }));
    assert!(w.turn_completed(TurnRecord {
        call_uuid: uuid,
        seq: 0,
        role: Role::Caller,
        text: "hello".into(),
        started_at: t0,
        ended_at: t0,
        latencies: TurnLatencies::default(),
        interrupted: false,
        tool_calls: vec![],
    }));
    assert!(w.call_ended(CallEnd {
        uuid,
        ended_at: SystemTime::now(),
        outcome: CallOutcome::Completed,
        transfer_target: None,
        language: None,
        error: None,
    }));
    assert!(
        matches!(events.recv().await.unwrap(), RecordEvent::CallStarted { uuid: u, .. } if u == uuid)
    );
    match events.recv().await.unwrap() {
        RecordEvent::TurnCommitted { text, seq, .. } => {
            assert_eq!((text.as_str(), seq), ("hello", 0))
        }
        other => panic!("expected the turn, got {other:?}"),
    }
    assert!(matches!(
        events.recv().await.unwrap(),
        RecordEvent::CallEnded {
            outcome: CallOutcome::Completed,
            ..
        }
    ));
    // Announced after the commit: the call is complete in the database by now.
    let call = store.load_call(&uuid).unwrap().expect("call stored");
    assert_eq!(call.turns.len(), 1);
}
