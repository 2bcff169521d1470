//! The call-records test suite, written once against [`RecordStore`]'s API and run on every
//! backend: `tests/records_store.rs` runs it on SQLite, `tests/records_postgres.rs` on a real
//! PostgreSQL. What differs per database (making an empty one, raw SQL, holding a lock) is
//! behind [`Db`].
#![allow(dead_code)]

use enclave::config::RecordsConfig;
use enclave::metrics::Metrics;
use enclave::records::{
    recording_path, CallEnd, CallOutcome, CallStart, ModelsUsed, RecordEvent, RecordStore,
    RecordsError, Role, StoredCall, ToolCallRecord, TurnLatencies, TurnRecord,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// One kind of database the suite runs on.
pub trait Db: Sync {
    /// `sqlite` or `postgres`.
    fn name(&self) -> &'static str;
    /// Settings for a new, empty database (and a scratch directory for recordings).
    fn fresh(&self) -> (RecordsConfig, PathBuf);
    /// One integer from raw SQL on the database of `cfg` (`SELECT count(*) …`).
    fn scalar(&self, cfg: &RecordsConfig, sql: &str) -> i64;
    /// Runs raw SQL on the database of `cfg`.
    fn execute(&self, cfg: &RecordsConfig, sql: &str);
    /// Whether the stored bytes of the database contain `needle` anywhere (files, all rows).
    fn raw_contains(&self, cfg: &RecordsConfig, needle: &str) -> bool;
    /// Holds a lock that stalls record writes (the table `turns`) until the returned closure runs.
    fn block_writes(&self, cfg: &RecordsConfig) -> Box<dyn FnOnce() + Send>;
}

/// Opens a store on `cfg` from async code (opening is blocking by contract).
pub async fn open(cfg: &RecordsConfig) -> RecordStore {
    open_with(cfg, Arc::new(Metrics::new())).await
}

/// [`open`] counting into `metrics`.
pub async fn open_with(cfg: &RecordsConfig, metrics: Arc<Metrics>) -> RecordStore {
    try_open(cfg, metrics).await.unwrap()
}

/// [`open`] returning the error.
pub async fn try_open(
    cfg: &RecordsConfig,
    metrics: Arc<Metrics>,
) -> Result<RecordStore, RecordsError> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || RecordStore::open_configured(&cfg, metrics))
        .await
        .unwrap()
}

pub fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn start(uuid: Uuid, started_ms: u64) -> CallStart {
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
        profile: Some("clinic".into()),
    }
}

pub fn turn(uuid: Uuid, seq: u32, role: Role, text: &str, started_ms: u64) -> TurnRecord {
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

/// Every case, in order (a backend test runs this; the SQLite file runs them one by one).
pub async fn run_all(db: &dyn Db) {
    reopening_keeps_data_and_does_not_migrate_again(db).await;
    database_from_a_newer_build_is_refused_with_a_clear_error(db).await;
    call_with_turns_and_tool_calls_round_trips(db).await;
    every_outcome_is_stored_and_read_back(db).await;
    turn_without_call_start_still_gets_a_call_row(db).await;
    redaction_applies_to_text_and_tool_calls_when_enabled(db).await;
    redaction_off_stores_text_verbatim(db).await;
    retention_purge_removes_old_calls_turns_and_recordings_only(db).await;
    full_queue_drops_and_counts_instead_of_blocking(db).await;
    retention_task_purges_periodically_until_cancelled(db).await;
    subscribers_hear_each_write_after_it_is_committed(db).await;
}

pub async fn reopening_keeps_data_and_does_not_migrate_again(db: &dyn Db) {
    let (cfg, _) = db.fresh();
    let uuid = Uuid::new_v4();
    let store = open(&cfg).await;
    store.writer().call_started(start(uuid, 1_000));
    store.close().await.unwrap();
    let store = open(&cfg).await;
    assert!(store.load_call(&uuid).unwrap().is_some(), "{}", db.name());
    // Dialect-specific reads (the console's queries) reach the right connection.
    let key = uuid.to_string();
    let count = store
        .read(move |b| {
            let n: i64 = if let Some(c) = b.as_sqlite() {
                c.query_row("SELECT count(*) FROM calls WHERE uuid = ?1", [&key], |r| {
                    r.get(0)
                })
                .unwrap()
            } else {
                let c = b.as_postgres().expect("sqlite or postgres");
                c.query_one("SELECT count(*) FROM calls WHERE uuid = $1", &[&key])
                    .unwrap()
                    .get(0)
            };
            Ok(n)
        })
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(db.scalar(&cfg, "SELECT count(*) FROM schema_version"), 1);
    assert_eq!(
        db.scalar(&cfg, "SELECT max(version) FROM schema_version"),
        expected_version(db)
    );
}

/// The schema version a backend writes.
pub fn expected_version(db: &dyn Db) -> i64 {
    match db.name() {
        "postgres" => enclave::records::schema_postgres::SCHEMA_VERSION_POSTGRES,
        _ => enclave::records::SCHEMA_VERSION,
    }
}

pub async fn database_from_a_newer_build_is_refused_with_a_clear_error(db: &dyn Db) {
    let (cfg, _) = db.fresh();
    open(&cfg).await.close().await.unwrap();
    db.execute(
        &cfg,
        &format!(
            "UPDATE schema_version SET version = {}",
            expected_version(db) + 1
        ),
    );
    let err = try_open(&cfg, Arc::new(Metrics::new())).await.unwrap_err();
    assert!(matches!(err, RecordsError::Schema(_)), "{err:?}");
    assert!(err.to_string().contains("newer Enclave"), "{err}");
}

pub async fn call_with_turns_and_tool_calls_round_trips(db: &dyn Db) {
    let (cfg, _) = db.fresh();
    let store = open(&cfg).await;
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

pub async fn every_outcome_is_stored_and_read_back(db: &dyn Db) {
    let (cfg, _) = db.fresh();
    let store = open(&cfg).await;
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

pub async fn turn_without_call_start_still_gets_a_call_row(db: &dyn Db) {
    let (cfg, _) = db.fresh();
    let store = open(&cfg).await;
    let uuid = Uuid::new_v4();
    store
        .writer()
        .turn_completed(turn(uuid, 0, Role::Caller, "hello", 5_000));
    store.writer().flush().await.unwrap();
    let c = store.load_call(&uuid).unwrap().unwrap();
    assert_eq!(c.started_at_ms, 5_000);
    assert_eq!(c.turns.len(), 1);
}

pub async fn redaction_applies_to_text_and_tool_calls_when_enabled(db: &dyn Db) {
    let (mut cfg, _) = db.fresh();
    cfg.redact_digits = true;
    let store = open(&cfg).await;
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
    store.close().await.unwrap();
    // The database itself holds no trace of the number.
    assert!(
        !db.raw_contains(&cfg, "4111"),
        "{}: card digits leaked to the database",
        db.name()
    );
}

pub async fn redaction_off_stores_text_verbatim(db: &dyn Db) {
    let (cfg, _) = db.fresh();
    let store = open(&cfg).await;
    let uuid = Uuid::new_v4();
    store
        .writer()
        .turn_completed(turn(uuid, 0, Role::Caller, "4111 1111 1111 1111", 0));
    store.writer().flush().await.unwrap();
    assert_eq!(
        store.load_call(&uuid).unwrap().unwrap().turns[0].text,
        "4111 1111 1111 1111"
    );
    store.close().await.unwrap();
    assert!(db.raw_contains(&cfg, "4111"), "the raw check sees text");
}

pub async fn retention_purge_removes_old_calls_turns_and_recordings_only(db: &dyn Db) {
    let (mut c, scratch) = db.fresh();
    let rec_dir = scratch.join("rec");
    let now_ms = now_ms();
    let day = 86_400_000u64;
    let (old, fresh) = (Uuid::new_v4(), Uuid::new_v4());
    c.recordings_dir = Some(rec_dir.clone());
    {
        let store = open(&c).await;
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
    c.retention_days = 30;
    // Open purges at once.
    let store = open(&c).await;
    assert!(store.load_call(&old).unwrap().is_none());
    let kept = store.load_call(&fresh).unwrap().unwrap();
    assert_eq!(kept.turns.len(), 1);
    assert!(!recording_path(&rec_dir, &old.to_string()).exists());
    assert!(recording_path(&rec_dir, &fresh.to_string()).exists());
    assert!(!rec_dir.join("orphan.wav").exists());
    assert_eq!(db.scalar(&c, "SELECT count(*) FROM turns"), 1);
    // A second purge through the writer finds nothing more.
    assert_eq!(store.writer().purge_now().await.unwrap().calls, 0);
}

pub async fn full_queue_drops_and_counts_instead_of_blocking(db: &dyn Db) {
    let (mut c, _) = db.fresh();
    c.queue_capacity = 16;
    let metrics = Arc::new(Metrics::new());
    let store = open_with(&c, Arc::clone(&metrics)).await;
    // Hold a lock from another connection so the writer thread stalls on it.
    let release = db.block_writes(&c);
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
    release();
    w.flush().await.unwrap();
    let stored = store.load_call(&uuid).unwrap().unwrap();
    assert_eq!(stored.turns.len() as u64, accepted);
}

pub async fn retention_task_purges_periodically_until_cancelled(db: &dyn Db) {
    let (mut c, _) = db.fresh();
    c.retention_days = 30;
    let store = open(&c).await;
    let now_ms = now_ms();
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
    let (keep_cfg, _) = db.fresh();
    let keep = open(&keep_cfg).await;
    assert!(keep
        .spawn_retention_task(tokio_util::sync::CancellationToken::new())
        .is_none());
}

pub async fn subscribers_hear_each_write_after_it_is_committed(db: &dyn Db) {
    let (cfg, _) = db.fresh();
    let store = open(&cfg).await;
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
        profile: None,
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

/// A fixed history (fixed uuids and times, every outcome, turns with tool calls, redaction
/// on, a dropped call start, a purge) written to a fresh database and read back, to compare
/// backends value for value.
pub async fn scenario_snapshot(db: &dyn Db) -> Vec<StoredCall> {
    let (mut cfg, _) = db.fresh();
    cfg.redact_digits = true;
    cfg.retention_days = 30;
    let store = open(&cfg).await;
    let w = store.writer();
    let base = now_ms() / 86_400_000 * 86_400_000 - 86_400_000; // yesterday 00:00 UTC
    let mut uuids = Vec::new();
    for (i, outcome) in CallOutcome::ALL.into_iter().enumerate() {
        let uuid = Uuid::from_u128(0x1000 + i as u128);
        uuids.push(uuid);
        let t0 = base + i as u64 * 60_000;
        if i != 3 {
            let mut s = start(uuid, t0);
            s.language = (i % 2 == 0).then(|| "ru".to_string());
            w.call_started(s);
        }
        for seq in 0..(i as u32 % 4 + 1) {
            let role = [Role::Caller, Role::Agent, Role::Tool][seq as usize % 3];
            let mut t = turn(
                uuid,
                seq,
                role,
                &format!("turn {seq}: номер 8-916-123-45-67, code 12"),
                t0 + 1000 * u64::from(seq),
            );
            if seq == 1 {
                t.latencies.asr_ms = None;
                t.tool_calls.push(ToolCallRecord {
                    name: "lookup".into(),
                    arguments: json!({"phone": 89161234567u64, "n": 3}),
                    result: json!({"ok": true, "list": ["a", 12345]}),
                    duration_ms: 7,
                });
            }
            w.turn_completed(t);
        }
        w.call_ended(CallEnd {
            uuid,
            ended_at: at(t0 + 30_000 + i as u64),
            outcome,
            transfer_target: (outcome == CallOutcome::Transferred).then(|| "ops".into()),
            language: (i == 1).then(|| "en".into()),
            error: (outcome == CallOutcome::Error).then(|| "tts failed".into()),
        });
    }
    // One call past retention: gone after the purge.
    let expired = Uuid::from_u128(0x2000);
    w.call_started(start(expired, base - 40 * 86_400_000));
    w.turn_completed(turn(
        expired,
        0,
        Role::Caller,
        "old",
        base - 40 * 86_400_000,
    ));
    let purged = w.purge_now().await.unwrap();
    assert_eq!((purged.calls, purged.turns), (1, 1), "{}", db.name());
    uuids.push(expired);
    w.flush().await.unwrap();
    let mut out = Vec::new();
    for uuid in uuids {
        if let Some(c) = store.load_call(&uuid).unwrap() {
            out.push(c);
        }
    }
    store.close().await.unwrap();
    out
}
