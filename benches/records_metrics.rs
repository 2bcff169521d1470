//! Infrastructure costs: call-record writes (enqueue cost on the call path, committed turns/s)
//! and metrics (observe cost, /metrics render time).
//!
//! Run: `cargo bench --bench records_metrics`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use enclave::config::RecordsConfig;
use enclave::metrics::{Metrics, Stage};
use enclave::records::{RecordStore, Role, ToolCallRecord, TurnLatencies, TurnRecord};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use uuid::Uuid;

fn turn(uuid: Uuid, seq: u32) -> TurnRecord {
    TurnRecord {
        call_uuid: uuid,
        seq,
        role: if seq.is_multiple_of(2) {
            Role::Caller
        } else {
            Role::Agent
        },
        text: "Здравствуйте! Я хотел бы узнать остаток по карте, номер 4111 1111 1111 1111.".into(),
        started_at: SystemTime::now(),
        ended_at: SystemTime::now(),
        latencies: TurnLatencies {
            endpointing_ms: Some(200),
            asr_ms: Some(150),
            llm_ttft_ms: Some(80),
            llm_first_sentence_ms: Some(300),
            tts_first_audio_ms: Some(60),
            turn_latency_ms: Some(700),
        },
        interrupted: false,
        tool_calls: vec![ToolCallRecord {
            name: "get_balance".into(),
            arguments: serde_json::json!({"card": "4111111111111111"}),
            result: serde_json::json!({"balance": 1234.5}),
            duration_ms: 12,
        }],
    }
}

fn records(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RecordsConfig {
        redact_digits: true,
        ..Default::default()
    };
    cfg.queue_capacity = 100_000;
    let store = RecordStore::open_with_metrics(
        &dir.path().join("bench.sqlite3"),
        &cfg,
        Arc::new(Metrics::new()),
    )
    .unwrap();
    let w = store.writer();
    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Elements(1));
    // Committed turns per second: enqueue a batch, wait until the writer has committed it.
    g.bench_function("turn_committed", |b| {
        b.iter_custom(|iters| {
            let uuid = Uuid::new_v4();
            let t0 = Instant::now();
            for seq in 0..iters {
                assert!(w.turn_completed(turn(uuid, seq as u32)));
            }
            rt.block_on(w.flush()).unwrap();
            t0.elapsed()
        })
    });
    // What the call's task pays per turn (queueing only).
    g.bench_function("turn_enqueue", |b| {
        b.iter_custom(|iters| {
            let uuid = Uuid::new_v4();
            let turns: Vec<_> = (0..iters).map(|s| turn(uuid, s as u32)).collect();
            let t0 = Instant::now();
            for t in turns {
                w.turn_completed(t);
            }
            let d = t0.elapsed();
            rt.block_on(w.flush()).unwrap();
            d
        })
    });
    g.finish();
}

fn metrics(c: &mut Criterion) {
    let m = Arc::new(Metrics::new());
    for i in 0..20 {
        m.tool_call(&format!("tool{i}"), "ok");
        m.error(&format!("stage{i}"));
    }
    let mut g = c.benchmark_group("metrics");
    g.bench_function("observe_stage", |b| {
        b.iter(|| m.observe_stage(Stage::Asr, Duration::from_millis(123)))
    });
    g.bench_function("render", |b| b.iter(|| m.render()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = records, metrics
}
criterion_main!(benches);
