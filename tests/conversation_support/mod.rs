//! Helpers for the conversation tests: a config on the synthetic models, an in-process agent
//! (real AudioSocket server on 127.0.0.1:0 + the conversation stack), caller audio, and
//! reading what came back.
#![allow(dead_code)]

use enclave::app::Stack;
use enclave::config::Config;
use enclave::metrics::Metrics;
use enclave::pipeline::CallHandler;
use enclave::transport::{Server, ServerStats};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Agent audio arrives at 8 kHz (the simulated caller talks slin 8 kHz).
pub const AGENT_RATE: f64 = 8000.0;

/// `/work/shared/fixtures` unless `ENCLAVE_FIXTURES_DIR` says otherwise.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("ENCLAVE_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/fixtures"))
}

/// The synthetic model directory (`scripts/synth-models.sh` fills it).
pub fn synth_dir() -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/enclave/synthetic")
        });
    for f in ["whisper-test.bin", "piper-test-en.onnx", "qwen2-tiny.gguf"] {
        assert!(
            dir.join(f).is_file(),
            "synthetic model {} is missing: run `bash scripts/synth-models.sh`",
            dir.join(f).display()
        );
    }
    dir
}

/// A config on the tiny synthetic models and the real Silero VAD; `extra` is appended
/// (later keys of a section must not repeat earlier ones: pass whole extra sections, or
/// use `overrides` for single keys).
pub fn config_text(tmp: &Path, extra: &str) -> String {
    let synth = synth_dir();
    let fixtures = fixtures_dir();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
handler = "conversation"
max_calls = 8
shutdown_grace_secs = 2

[asr]
model = "{whisper}"
language = "en"
beam_size = 1
best_of = 1
temperature_inc = 0.0
max_tokens = 12
vad_trim = false
# Random weights: with the short (dynamic) encoder window the test model decodes no text at all.
dynamic_audio_ctx = false
drop_no_speech_prob = 1.0
drop_avg_logprob = -100.0
no_speech_threshold = 1.0
logprob_threshold = -100.0
quiet_dbfs = -100.0

[vad]
silero_model = "{silero}"

[tts]
voice_en = "{voice}"

[metrics]
enabled = false

[records]
db_path = "{db}"
recordings_dir = "{rec}"
{extra}
"#,
        whisper = synth.join("whisper-test.bin").display(),
        silero = fixtures.join("vad/silero_vad.onnx").display(),
        voice = synth.join("piper-test-en.onnx").display(),
        db = tmp.join("calls.sqlite3").display(),
        rec = tmp.join("recordings").display(),
    )
}

/// The `[llm]` and `[conversation]` sections most tests use.
pub fn llm_and_conversation(llm_extra: &str, conversation_extra: &str) -> String {
    // Generous budgets: 2 shared cores run several calls at once in the test suite. A test
    // about budgets sets its own.
    let budgets = if conversation_extra.contains("budget_ms") {
        ""
    } else {
        "asr_budget_ms = 20000\nllm_budget_ms = 20000\ntts_budget_ms = 20000\n"
    };
    let max_tokens = if llm_extra.contains("max_tokens") {
        ""
    } else {
        "max_tokens = 20"
    };
    format!(
        r#"
[llm]
model = "{model}"
{max_tokens}
# Random weights answer greedy decoding with whitespace; sampling gives words.
temperature = 0.8
seed = 7
context_per_call = 1024
max_parallel = 4
{llm_extra}

[conversation]
language = "en"
disclosure = "-"
reprompt_after_secs = 0.0
{budgets}{conversation_extra}
"#,
        model = synth_dir().join("qwen2-tiny.gguf").display(),
    )
}

/// An agent running in this process.
pub struct TestAgent {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub stats: Arc<ServerStats>,
    pub db: PathBuf,
    pub shutdown: CancellationToken,
    pub services: CancellationToken,
    pub server: tokio::task::JoinHandle<()>,
    pub stack: Option<Stack>,
    pub config: Config,
}

impl TestAgent {
    /// Stops accepting, waits for calls to end, closes the records.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        if let Some(stack) = self.stack.take() {
            stack.shutdown().await;
        }
        self.services.cancel();
    }
}

/// Starts the conversation stack and an AudioSocket server on 127.0.0.1:0.
pub async fn start_agent(config_toml: &str) -> TestAgent {
    start_agent_with(config_toml, None).await
}

/// [`start_agent`] with an end-of-turn model (a scripted fake) given to the engines.
pub async fn start_agent_with(
    config_toml: &str,
    end_of_turn: Option<Arc<dyn enclave::vad::EndOfTurnModel>>,
) -> TestAgent {
    // Logs for a failing test: ENCLAVE_TEST_LOG=enclave=debug cargo test …
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENCLAVE_TEST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let config = Config::from_toml_str("test.toml", config_toml, Vec::<(String, String)>::new())
        .unwrap_or_else(|e| panic!("test config: {e}"));
    let metrics = Arc::new(Metrics::new());
    let services = CancellationToken::new();
    let stack = Stack::start_with(&config, Arc::clone(&metrics), services.clone(), end_of_turn)
        .await
        .unwrap_or_else(|e| panic!("conversation stack: {e}"));
    let server = Server::bind(config.server.clone()).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let stats = server.stats();
    let shutdown = CancellationToken::new();
    let handler: Arc<dyn CallHandler> = Arc::new(stack.handler.clone());
    let task = tokio::spawn(server.run(handler, shutdown.clone()));
    TestAgent {
        addr,
        metrics,
        stats,
        db: config.records.db_path.clone(),
        shutdown,
        services,
        server: task,
        stack: Some(stack),
        config,
    }
}

/// The JFK clip (16 kHz) from `from_s` to `to_s`.
pub fn jfk(from_s: f64, to_s: f64) -> Vec<f32> {
    let clip = enclave::audio::wav::read_mono(&fixtures_dir().join("audio/jfk.wav"))
        .expect("audio/jfk.wav");
    assert_eq!(clip.sample_rate, 16_000);
    let a = (from_s * 16_000.0) as usize;
    let b = ((to_s * 16_000.0) as usize).min(clip.samples.len());
    clip.samples[a..b].to_vec()
}

/// `secs` of silence at 16 kHz.
pub fn silence(secs: f64) -> Vec<f32> {
    vec![0.0; (secs * 16_000.0) as usize]
}

/// Times (s) of the first and last 20 ms frames louder than -35 dBFS.
pub fn voiced_span(audio: &[f32], rate: f64) -> Option<(f64, f64)> {
    enclave::sim::bench_calls::voiced_span(audio, rate as u32)
}

/// Recorded agent audio (i16 at 8 kHz) as f32.
pub fn to_f32(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|&s| s as f32 / 32768.0).collect()
}

/// True when the recorded agent audio has audible frames between `from_s` and `to_s`
/// (seconds from its first frame).
pub fn audible_between(recorded: &[i16], from_s: f64, to_s: f64) -> bool {
    let a = ((from_s * AGENT_RATE) as usize).min(recorded.len());
    let b = ((to_s * AGENT_RATE) as usize).min(recorded.len());
    recorded[a..b]
        .chunks(160)
        .any(|c| c.iter().map(|&s| (s as i32).abs()).max().unwrap_or(0) > 300)
}

/// Reads the call's record, waiting for the writer to have flushed it (bounded).
pub async fn load_call(agent: &TestAgent, uuid: &uuid::Uuid) -> enclave::records::StoredCall {
    let db = agent.db.clone();
    let uuid = *uuid;
    tokio::task::spawn_blocking(move || read_call(&db, &uuid).expect("the call has a record"))
        .await
        .unwrap()
}

/// Reads a call's record straight from the database file (another connection, as an
/// operator's tool would).
pub fn read_call(db: &Path, uuid: &uuid::Uuid) -> Option<enclave::records::StoredCall> {
    let conn = rusqlite::Connection::open(db).expect("open records db");
    enclave::records::load_call(&conn, db, uuid).expect("read records")
}

/// The fake Asterisk manager's reading side: the next action block (`Key: Value` lines up to
/// a blank line) in wire order, `None` when the client closed the connection.
pub async fn read_ami_action<R>(rd: &mut R) -> Option<Vec<(String, String)>>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::AsyncBufReadExt;
    let mut fields = Vec::new();
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Some(fields);
        }
        let (k, v) = line.split_once(": ").expect("Key: Value line");
        fields.push((k.to_string(), v.to_string()));
    }
}
