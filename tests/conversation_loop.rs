//! The whole call loop over real TCP with scripted engines behind the conversation's traits
//! (no Whisper, no LLM, no Piper; the real Silero VAD): what the caller hears and what the
//! record says when the caller pauses mid-sentence, and that a budget timeout cancels the
//! work behind it.

mod conversation_support;

use conversation_support::*;
use enclave::cancel::CancelHandle;
use enclave::config::Config;
use enclave::conversation::traits::{
    Converse, EngineError, Heard, StartConversation, Synthesize, Transcribe,
};
use enclave::conversation::{CallEngines, ConversationHandler, PhraseAudio};
use enclave::dialog::session::{TurnEvent, TurnSummary};
use enclave::metrics::Metrics;
use enclave::pipeline::CallHandler;
use enclave::records::{ModelsUsed, RecordStore, Role};
use enclave::sim::{place_call, CallOptions};
use enclave::transport::Server;
use enclave::vad::{EndOfTurnError, EndOfTurnModel};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Transcribes by length: audio longer than `whole` samples is the whole sentence, anything
/// shorter is its first part (no final punctuation). `stall` never answers until cancelled.
struct ScriptedAsr {
    whole: usize,
    stall: bool,
    calls: AtomicUsize,
    cancels: Mutex<Vec<CancelHandle>>,
}

impl Transcribe for ScriptedAsr {
    fn transcribe(
        &self,
        audio_16k: Vec<f32>,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Heard, EngineError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.cancels.lock().unwrap().push(cancel.clone());
        let text = if audio_16k.len() > self.whole {
            "My order number is 4 5 7."
        } else {
            // Not a dangling word (turn-taking would wait for more whatever the model says),
            // not a sentence end: only a model's "finished" answers it.
            "My order number is 4 5"
        };
        let stall = self.stall;
        Box::pin(async move {
            if stall {
                // Work that only stops when cancelled (as a cancellable Whisper job does).
                while !cancel.is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                return Err(EngineError("cancelled".into()));
            }
            Ok(Heard {
                text: text.into(),
                language: "en".into(),
            })
        })
    }
}

/// A tone, 80 ms per word, at 16 kHz.
struct ToneVoice;

fn tone(text: &str) -> Vec<f32> {
    let n = text.split_whitespace().count().max(1) * 1280;
    (0..n)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 8000.0 / 32768.0)
        .collect()
}

impl Synthesize for ToneVoice {
    fn sample_rate(&self) -> u32 {
        16_000
    }

    fn synthesize(
        &self,
        text: String,
        _cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Vec<f32>, EngineError>> {
        Box::pin(async move { Ok(tone(&text)) })
    }
}

/// Repeats what it was told: "You said: …", after thinking for `delay` (stops if cancelled).
#[derive(Debug, Default)]
struct Parrot {
    delay: Duration,
    heard: Vec<String>,
}

impl Converse for Parrot {
    fn user_turn<'a>(
        &'a mut self,
        text: &'a str,
        cancel: CancelHandle,
        mut on_event: Box<dyn FnMut(TurnEvent) + Send + 'a>,
    ) -> BoxFuture<'a, Result<TurnSummary, EngineError>> {
        Box::pin(async move {
            self.heard.push(text.to_string());
            // Simulated generation time (an LLM's prefill), then the reply unless cancelled.
            tokio::time::sleep(self.delay).await;
            if cancel.is_cancelled() {
                return Ok(TurnSummary {
                    cancelled: true,
                    ..Default::default()
                });
            }
            let reply = format!("You said: {text}");
            for word in reply.split_inclusive(' ') {
                on_event(TurnEvent::Text(word.to_string()));
            }
            Ok(TurnSummary {
                reply,
                ..Default::default()
            })
        })
    }

    fn replace_last_reply(&mut self, _heard: &str) {}

    fn last_caller_text(&self) -> Option<String> {
        self.heard.last().cloned()
    }

    fn forget_last_turn(&mut self) {
        self.heard.pop();
        FORGOTTEN.fetch_add(1, Ordering::SeqCst);
    }

    fn prefill(&mut self, partial_caller_text: &str) {
        PREFILLED
            .lock()
            .unwrap()
            .push(partial_caller_text.to_string());
    }
}

/// Transcripts the call loop asked the conversation to prefill while the answer waited.
static PREFILLED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Turns forgotten by any parrot (a retracted answer's history is dropped).
static FORGOTTEN: AtomicUsize = AtomicUsize::new(0);

struct Parrots {
    delay: Duration,
}

impl StartConversation for Parrots {
    fn start(&self) -> Result<Box<dyn Converse>, EngineError> {
        Ok(Box::new(Parrot {
            delay: self.delay,
            heard: Vec::new(),
        }))
    }
}

/// An end-of-turn model that is always sure the caller has finished (wrong at a thinking
/// pause).
struct AlwaysFinished;

impl EndOfTurnModel for AlwaysFinished {
    fn finished_probability(
        &self,
        _audio_16k: Vec<f32>,
    ) -> BoxFuture<'static, Result<f32, EndOfTurnError>> {
        Box::pin(async { Ok(1.0) })
    }
}

struct LoopAgent {
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    db: std::path::PathBuf,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    records: RecordStore,
}

async fn start(tmp: &std::path::Path, conversation: &str, asr: Arc<ScriptedAsr>) -> LoopAgent {
    start_with(tmp, conversation, asr, Duration::ZERO, None).await
}

async fn start_with(
    tmp: &std::path::Path,
    conversation: &str,
    asr: Arc<ScriptedAsr>,
    thinking: Duration,
    end_of_turn: Option<Arc<dyn EndOfTurnModel>>,
) -> LoopAgent {
    // Logs for a failing test: ENCLAVE_TEST_LOG=enclave=debug cargo test …
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENCLAVE_TEST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let toml = config_text(tmp, &llm_and_conversation("", conversation));
    let config = Config::from_toml_str("test.toml", &toml, Vec::<(String, String)>::new())
        .unwrap_or_else(|e| panic!("test config: {e}"));
    let metrics = Arc::new(Metrics::new());
    let silero = enclave::vad::SileroModel::load(&config.vad.silero_model, 1).expect("Silero");
    let engines = CallEngines {
        transcribe: asr,
        synthesize: Arc::new(ToneVoice),
        converse: Arc::new(Parrots { delay: thinking }),
        silero: Some(silero),
        vad_worker: None,
        end_of_turn,
        models: ModelsUsed::default(),
    };
    let phrases =
        PhraseAudio::synthesize_with(&config.conversation.phrases(), 16_000, |t| Ok(tone(t)))
            .unwrap();
    let records =
        RecordStore::open_with_metrics(&config.records.db_path, &config.records, metrics.clone())
            .expect("records");
    let handler = ConversationHandler::with_engines(
        config.clone(),
        engines,
        phrases,
        Some(records.writer()),
        None,
        Arc::clone(&metrics),
    );
    let server = Server::bind(config.server.clone()).await.expect("bind");
    let addr = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let handler: Arc<dyn CallHandler> = Arc::new(handler);
    let task = tokio::spawn(server.run(handler, shutdown.clone()));
    LoopAgent {
        addr,
        metrics,
        db: config.records.db_path.clone(),
        shutdown,
        server: task,
        records,
    }
}

impl LoopAgent {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        let _ = self.records.close().await;
    }
}

/// "My order number is … 4 5 7" with a thinking pause; asserts that only the whole sentence
/// is ever answered and recorded.
async fn thinking_pause_call(thinking: Duration, end_of_turn: Option<Arc<dyn EndOfTurnModel>>) {
    let tmp = tempfile::tempdir().unwrap();
    // "My order number is … 4 5 7": speech, a 600 ms thinking pause (longer than the 300 ms
    // short pause, shorter than the 1 s long silence), more speech, then silence.
    // jfk.wav: "And so my fellow Americans" is 0.3–2.15 s, "ask not" 3.25–3.7 s.
    let first = jfk(0.2, 2.2);
    let second = jfk(3.2, 3.75);
    // The first part alone (with the VAD's 200 ms on each side) is shorter than this; the
    // merged utterance (both parts) is longer.
    let whole = first.len() + 8_000;
    let asr = Arc::new(ScriptedAsr {
        whole,
        stall: false,
        calls: AtomicUsize::new(0),
        cancels: Mutex::new(Vec::new()),
    });
    let agent = start_with(
        tmp.path(),
        "greeting = \"-\"\nend_of_turn_short_ms = 300\nend_of_turn_ms = 1000",
        Arc::clone(&asr),
        thinking,
        end_of_turn,
    )
    .await;
    let mut audio = silence(0.5);
    audio.extend(&first);
    audio.extend(silence(0.6));
    audio.extend(&second);
    audio.extend(silence(1.5));
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    opts.linger = Duration::from_secs(2);
    let report = place_call(opts).await.expect("call");
    let db = agent.db.clone();
    agent.stop().await;

    let call = read_call(&db, &uuid).expect("record");
    let callers: Vec<&str> = call
        .turns
        .iter()
        .filter(|t| t.role == Role::Caller)
        .map(|t| t.text.as_str())
        .collect();
    let agents: Vec<&str> = call
        .turns
        .iter()
        .filter(|t| t.role == Role::Agent)
        .map(|t| t.text.as_str())
        .collect();
    assert!(
        asr.calls.load(Ordering::SeqCst) >= 2,
        "the first half was transcribed speculatively at the pause"
    );
    assert_eq!(callers, ["My order number is 4 5 7."], "{:?}", call.turns);
    assert_eq!(
        agents,
        ["You said: My order number is 4 5 7."],
        "only the whole sentence is answered\n{report}"
    );
    assert!(
        audible_between(
            &report.recorded,
            0.0,
            report.recorded.len() as f64 / AGENT_RATE
        ),
        "the answer was heard\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thinking_pause_is_merged_and_the_caller_never_hears_half_an_answer() {
    // No model: the first part does not end a sentence, so the agent waits; the caller goes
    // on within the long silence and both parts are answered together.
    thinking_pause_call(Duration::ZERO, None).await;
    // While it waited, the half sentence's prompt was prefilled speculatively.
    assert!(
        PREFILLED
            .lock()
            .unwrap()
            .iter()
            .any(|t| t == "My order number is 4 5"),
        "prefilled: {:?}",
        PREFILLED.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_finished_verdict_is_retracted_before_the_caller_hears_it() {
    // The model wrongly says "finished" at the pause, so the first part is answered; the
    // answer takes 1.5 s to think, the caller goes on after 0.6 s: the answer is retracted
    // before any of it plays, and the merged sentence is answered instead.
    let before = FORGOTTEN.load(Ordering::SeqCst);
    thinking_pause_call(Duration::from_millis(1500), Some(Arc::new(AlwaysFinished))).await;
    assert!(
        FORGOTTEN.load(Ordering::SeqCst) > before,
        "the retracted half sentence was taken out of the conversation's history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asr_budget_timeout_cancels_the_transcription_and_apologises_once() {
    let tmp = tempfile::tempdir().unwrap();
    let asr = Arc::new(ScriptedAsr {
        whole: 0,
        stall: true,
        calls: AtomicUsize::new(0),
        cancels: Mutex::new(Vec::new()),
    });
    let agent = start(
        tmp.path(),
        "greeting = \"-\"\napology = \"Sorry about that.\"\nasr_budget_ms = 200\n\
         adaptive_budgets = false\ntransfer_on_failure = true",
        Arc::clone(&asr),
    )
    .await;
    let mut audio = silence(0.3);
    audio.extend(jfk(0.2, 2.2));
    audio.extend(silence(2.5));
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    opts.linger = Duration::from_secs(2);
    let report = place_call(opts).await.expect("call");
    let metrics = agent.metrics.clone();
    let db = agent.db.clone();
    agent.stop().await;

    let cancels = asr.cancels.lock().unwrap().clone();
    assert!(!cancels.is_empty(), "transcription started");
    assert!(
        cancels.iter().all(|c| c.is_cancelled()),
        "every transcription behind a timeout was cancelled"
    );
    assert!(metrics.errors_total("asr") >= 1);
    let call = read_call(&db, &uuid).expect("record");
    let said = call
        .turns
        .iter()
        .filter(|t| t.role == Role::Agent)
        .map(|t| t.text.clone())
        .collect::<Vec<_>>()
        .join(" | ");
    assert_eq!(
        said.matches("Sorry about that.").count(),
        1,
        "{said}\n{report}"
    );
}
