//! Helpers for the API tests: a real SQLite records store filled with generated calls, an
//! API server on 127.0.0.1:0 over it, and an HTTP client.
#![allow(dead_code)]

use enclave::api::{ApiServer, ApiSources, ApiState};
use enclave::config::{ApiConfig, RecordsConfig};
use enclave::metrics::{Metrics, Readiness};
use enclave::profiles::LiveCalls;
use enclave::records::{
    CallEnd, CallOutcome, CallStart, ModelsUsed, RecordStore, Role, TurnLatencies, TurnRecord,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A bearer token the test API accepts.
pub const TOKEN: &str = "test-token-0123456789abcdef0123456789";
/// The console password of the test API.
pub const PASSWORD: &str = "correct horse battery staple";

/// The API's config for tests: token + password, port 0.
pub fn api_config() -> ApiConfig {
    ApiConfig {
        enabled: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: vec![TOKEN.into()],
        password_hash: enclave::api::auth::hash_password(PASSWORD).unwrap(),
        login_attempts_per_minute: 5,
        ..ApiConfig::default()
    }
}

/// A records store in `dir` (recordings in `dir/recordings`).
pub fn open_store(dir: &Path) -> (RecordStore, RecordsConfig) {
    let cfg = RecordsConfig {
        db_path: dir.join("calls.sqlite3"),
        recordings_dir: Some(dir.join("recordings")),
        ..RecordsConfig::default()
    };
    let store = RecordStore::open_with_metrics(&cfg.db_path, &cfg, Arc::new(Metrics::new()))
        .expect("open records");
    (store, cfg)
}

/// A generated call.
#[derive(Debug, Clone)]
pub struct GenCall {
    pub uuid: Uuid,
    pub caller_id: String,
    pub started_ms: i64,
    pub outcome: Option<CallOutcome>,
    pub caller_text: String,
    pub latency_ms: u32,
}

pub fn at_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

/// Writes `call` through the real writer: start, a caller turn, an agent turn with latency, end.
pub fn write_call(store: &RecordStore, c: &GenCall) {
    let w = store.writer();
    assert!(w.call_started(CallStart {
        uuid: c.uuid,
        caller_id: Some(c.caller_id.clone()),
        started_at: at_ms(c.started_ms),
        language: Some("en".into()),
        models: ModelsUsed::default(),
        profile: None,
    }));
    assert!(w.turn_completed(TurnRecord {
        call_uuid: c.uuid,
        seq: 0,
        role: Role::Caller,
        text: c.caller_text.clone(),
        started_at: at_ms(c.started_ms + 1000),
        ended_at: at_ms(c.started_ms + 2000),
        latencies: TurnLatencies::default(),
        interrupted: false,
        tool_calls: Vec::new(),
    }));
    assert!(w.turn_completed(TurnRecord {
        call_uuid: c.uuid,
        seq: 1,
        role: Role::Agent,
        text: "Sure, one moment.".into(),
        started_at: at_ms(c.started_ms + 2500),
        ended_at: at_ms(c.started_ms + 4000),
        latencies: TurnLatencies {
            turn_latency_ms: Some(c.latency_ms),
            asr_ms: Some(100),
            ..TurnLatencies::default()
        },
        interrupted: false,
        tool_calls: vec![enclave::records::ToolCallRecord {
            name: "get_time".into(),
            arguments: serde_json::json!({}),
            result: serde_json::json!({"time": "12:00"}),
            duration_ms: 3,
        }],
    }));
    if let Some(outcome) = c.outcome {
        assert!(w.call_ended(CallEnd {
            uuid: c.uuid,
            ended_at: at_ms(c.started_ms + 5000),
            outcome,
            transfer_target: (outcome == CallOutcome::Transferred).then(|| "operators".into()),
            language: None,
            error: None,
        }));
    }
}

/// A running API over a store.
pub struct TestApi {
    pub addr: SocketAddr,
    pub store: RecordStore,
    pub recordings: PathBuf,
    pub live: LiveCalls,
    cancel: CancellationToken,
    server: Option<ApiServer>,
}

impl TestApi {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(s) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), s.join())
                .await
                .expect("API server stops");
        }
    }
}

/// Starts the API over a fresh store in `dir` (no profiles).
pub async fn start_api(dir: &Path, cfg: ApiConfig) -> TestApi {
    let (store, rcfg) = open_store(dir);
    let live = LiveCalls::new();
    let state = ApiState::new(
        &cfg,
        ApiSources {
            records: Some(store.new_reader("test-api-records").expect("API reader")),
            recordings_dir: rcfg.recordings_dir.clone(),
            events: Some(store.subscribe()),
            live: live.clone(),
            profiles: None,
            campaigns_db: Some(rcfg.db_path.clone()),
            readiness: Readiness::new(),
            metrics: Arc::new(Metrics::new()),
            models: ModelsUsed::default(),
        },
    )
    .expect("API state");
    let cancel = CancellationToken::new();
    let server = ApiServer::start(&cfg, Arc::new(state), cancel.clone())
        .await
        .expect("API starts");
    TestApi {
        addr: server.local_addr(),
        store,
        recordings: rcfg.recordings_dir.unwrap(),
        live,
        cancel,
        server: Some(server),
    }
}

/// `GET url` with bearer `token`: asserts 200 and returns the JSON body (the API tests', the
/// profile tests' and the PostgreSQL console test's one way of reading an answer).
pub async fn get_json_as(c: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "GET {url}");
    r.json().await.unwrap()
}

/// A client that keeps no cookies by itself (the tests pass them explicitly).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .build()
        .unwrap()
}
