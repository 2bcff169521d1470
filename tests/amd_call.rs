//! Answering-machine screening in the real call loop, over real TCP with scripted engines
//! (the real Silero VAD; a scripted transcript of the greeting; a tone for the agent's voice):
//! a voicemail gets the message after its beep, a person who answers with three words hears
//! the greeting after their pause, an IVR is hung up on, and inbound calls are not screened.

mod conversation_support;

use conversation_support::*;
use enclave::amd::{AmdAction, Reason, Verdict, VerdictBoard};
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
use enclave::sim::{place_call, CallEndReason, CallOptions, CallReport};
use enclave::transport::Server;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Transcribes every utterance as the same text.
struct FixedAsr(&'static str);

impl Transcribe for FixedAsr {
    fn transcribe(
        &self,
        _audio: Vec<f32>,
        _cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Heard, EngineError>> {
        let text = self.0.to_string();
        Box::pin(async move {
            Ok(Heard {
                text,
                language: "en".into(),
            })
        })
    }
}

/// A 440 Hz tone, 80 ms per word, at 16 kHz.
fn tone(text: &str) -> Vec<f32> {
    let n = text.split_whitespace().count().max(1) * 1280;
    (0..n)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 8000.0 / 32768.0)
        .collect()
}

struct ToneVoice;

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

#[derive(Debug)]
struct Quiet;

impl Converse for Quiet {
    fn user_turn<'a>(
        &'a mut self,
        text: &'a str,
        _cancel: CancelHandle,
        mut on_event: Box<dyn FnMut(TurnEvent) + Send + 'a>,
    ) -> BoxFuture<'a, Result<TurnSummary, EngineError>> {
        Box::pin(async move {
            let reply = format!("You said: {text}");
            on_event(TurnEvent::Text(reply.clone()));
            Ok(TurnSummary {
                reply,
                ..Default::default()
            })
        })
    }

    fn replace_last_reply(&mut self, _heard: &str) {}

    fn last_caller_text(&self) -> Option<String> {
        None
    }
}

struct Quiets;

impl StartConversation for Quiets {
    fn start(&self) -> Result<Box<dyn Converse>, EngineError> {
        Ok(Box::new(Quiet))
    }
}

const MESSAGE: &str =
    "This is the clinic calling about your appointment tomorrow. Please call us back.";

struct Agent {
    addr: std::net::SocketAddr,
    db: std::path::PathBuf,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    records: RecordStore,
}

async fn start(
    tmp: &std::path::Path,
    amd: &str,
    asr: &'static str,
    board: Arc<VerdictBoard>,
) -> Agent {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENCLAVE_TEST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let extra = format!(
        "{}\n[amd]\nenabled = true\nmessage = \"{MESSAGE}\"\n{amd}\n",
        llm_and_conversation("", "greeting = \"Hello, this is the clinic.\"")
    );
    let toml = config_text(tmp, &extra);
    let config = Config::from_toml_str("test.toml", &toml, Vec::<(String, String)>::new())
        .unwrap_or_else(|e| panic!("test config: {e}"));
    let metrics = Arc::new(Metrics::new());
    let silero = enclave::vad::SileroModel::load(&config.vad.silero_model, 1).expect("Silero");
    let engines = CallEngines {
        transcribe: Arc::new(FixedAsr(asr)),
        synthesize: Arc::new(ToneVoice),
        converse: Arc::new(Quiets),
        silero: Some(silero),
        vad_worker: None,
        end_of_turn: None,
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
    assert!(handler.set_machine_detection(board));
    let server = Server::bind(config.server.clone()).await.expect("bind");
    let addr = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let handler: Arc<dyn CallHandler> = Arc::new(handler);
    let task = tokio::spawn(server.run(handler, shutdown.clone()));
    Agent {
        addr,
        db: config.records.db_path.clone(),
        shutdown,
        server: task,
        records,
    }
}

impl Agent {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        let _ = self.records.close().await;
    }
}

fn beep(hz: f32, ms: u32) -> Vec<f32> {
    enclave::amd::tone::sine(hz, ms, 16_000, 0.3)
}

/// The first and last audible 20 ms frames of what the agent sent (s from its first frame).
fn audible_span(report: &CallReport) -> Option<(f64, f64)> {
    voiced_span(&to_f32(&report.recorded), AGENT_RATE)
}

async fn call(agent: &Agent, uuid: uuid::Uuid, audio: Vec<f32>, linger: f64) -> CallReport {
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    opts.linger = Duration::from_secs_f64(linger);
    place_call(opts).await.expect("call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_gets_the_message_after_its_beep() {
    let tmp = tempfile::tempdir().unwrap();
    let board = Arc::new(VerdictBoard::new());
    let agent = start(
        tmp.path(),
        "",
        "Hi, you have reached John. Please leave a message after the tone.",
        Arc::clone(&board),
    )
    .await;
    let uuid = uuid::Uuid::new_v4();
    board.expect(uuid);
    // 0.3 s, the "greeting" (2 s of speech), 0.6 s, a 1 kHz beep of 400 ms, then silence.
    let mut audio = silence(0.3);
    audio.extend(jfk(0.2, 2.2));
    audio.extend(silence(0.6));
    let beep_start = audio.len() as f64 / 16_000.0;
    audio.extend(beep(1000.0, 400));
    let beep_end = audio.len() as f64 / 16_000.0;
    audio.extend(silence(6.0));
    let report = call(&agent, uuid, audio, 2.0).await;
    let got = board
        .wait_report(&uuid, Duration::from_secs(10))
        .await
        .expect("a report");
    let db = agent.db.clone();
    agent.stop().await;

    let decision = got.decision.clone().expect("a verdict");
    assert!(decision.is_machine(), "{got:?}");
    assert_eq!(
        decision.reason,
        Reason::VoicemailPhrase("leave message".into()),
        "{got:?}"
    );
    let beep_at = got.beep_at.expect("the beep was heard").as_secs_f64();
    assert!(
        (beep_at - beep_start).abs() < 0.08,
        "beep at {beep_at} s, sent at {beep_start} s"
    );
    let AmdAction::LeftMessage { at } = got.action else {
        panic!("the message was left: {got:?}");
    };
    assert!(
        at.as_secs_f64() >= beep_end,
        "message at {at:?}, beep ended {beep_end} s"
    );
    assert_eq!(report.ended, CallEndReason::AgentHangup, "{report}");
    let (first, last) = audible_span(&report).expect("the agent spoke");
    assert!(
        first >= beep_end,
        "nothing was said over the greeting or the beep: first audio at {first:.2} s\n{report}"
    );
    // The message (13 words × 80 ms) played to its end before the hang-up.
    assert!(last - first >= 0.9, "{first:.2}..{last:.2}\n{report}");
    let rec = read_call(&db, &uuid).expect("record");
    let agents: Vec<&str> = rec
        .turns
        .iter()
        .filter(|t| t.role == Role::Agent)
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(
        agents,
        [MESSAGE],
        "only the message, no greeting: {:?}",
        rec.turns
    );
    assert_eq!(
        rec.outcome,
        Some(enclave::records::CallOutcome::AgentHangup),
        "{rec:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_answers_with_three_words_hears_the_greeting_after_the_pause() {
    let tmp = tempfile::tempdir().unwrap();
    let board = Arc::new(VerdictBoard::new());
    let agent = start(tmp.path(), "", "Yes, speaking, hello.", Arc::clone(&board)).await;
    let uuid = uuid::Uuid::new_v4();
    board.expect(uuid);
    let mut audio = silence(0.3);
    audio.extend(jfk(0.2, 2.2));
    let speech_end = 0.3 + 1.95;
    audio.extend(silence(4.0));
    let report = call(&agent, uuid, audio, 1.0).await;
    let got = board
        .wait_report(&uuid, Duration::from_secs(10))
        .await
        .expect("a report");
    agent.stop().await;
    let decision = got.decision.clone().expect("a verdict");
    assert_eq!(decision.verdict, Verdict::Human, "{got:?}");
    assert!(
        matches!(decision.reason, Reason::ShortGreeting { .. }),
        "{got:?}"
    );
    assert_eq!(got.action, AmdAction::Converse);
    let (first, _) = audible_span(&report).expect("the greeting played");
    assert!(
        first >= speech_end + 0.8,
        "the greeting waits for the person's pause: first audio at {first:.2} s\n{report}"
    );
    assert!(
        first <= speech_end + 3.0,
        "but not for long: {first:.2} s\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ivr_menu_is_hung_up_on() {
    let tmp = tempfile::tempdir().unwrap();
    let board = Arc::new(VerdictBoard::new());
    let agent = start(
        tmp.path(),
        "",
        "For sales, press one. For support, press two.",
        Arc::clone(&board),
    )
    .await;
    let uuid = uuid::Uuid::new_v4();
    board.expect(uuid);
    let mut audio = silence(0.3);
    audio.extend(jfk(0.2, 2.2));
    audio.extend(silence(0.5));
    audio.extend(jfk(0.2, 2.2));
    audio.extend(silence(5.0));
    let report = call(&agent, uuid, audio, 1.0).await;
    let got = board
        .wait_report(&uuid, Duration::from_secs(10))
        .await
        .expect("a report");
    agent.stop().await;
    let decision = got.decision.clone().expect("a verdict");
    assert!(decision.is_machine() && decision.is_ivr(), "{got:?}");
    assert_eq!(got.action, AmdAction::HungUp);
    assert_eq!(report.ended, CallEndReason::AgentHangup, "{report}");
    assert!(
        audible_span(&report).is_none(),
        "nothing said to the menu\n{report}"
    );
    assert!(
        report.recorded.len() as f64 / AGENT_RATE < 5.0,
        "hung up soon after the verdict\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_calls_are_not_screened() {
    let tmp = tempfile::tempdir().unwrap();
    let board = Arc::new(VerdictBoard::new());
    let agent = start(tmp.path(), "", "Hello?", Arc::clone(&board)).await;
    // Not announced to the board: an inbound call.
    let uuid = uuid::Uuid::new_v4();
    let mut audio = silence(2.0);
    audio.extend(jfk(0.2, 1.0));
    let report = call(&agent, uuid, audio, 1.0).await;
    agent.stop().await;
    let (first, _) = audible_span(&report).expect("the greeting played");
    assert!(first < 1.0, "greeted at once: {first:.2} s\n{report}");
    assert!(board.report(&uuid).is_none());
    assert!(board.decision(&uuid).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_greeting_then_a_beep_is_a_machine_after_all() {
    // "Hello." (short, no phrase: a person by its length), then the beep 1.3 s later: the
    // verdict is revised, the greeting stopped, the message left after the beep.
    let tmp = tempfile::tempdir().unwrap();
    let board = Arc::new(VerdictBoard::new());
    let agent = start(tmp.path(), "", "Hello.", Arc::clone(&board)).await;
    let uuid = uuid::Uuid::new_v4();
    board.expect(uuid);
    let mut audio = silence(0.3);
    audio.extend(jfk(0.2, 1.0));
    audio.extend(silence(1.3));
    let beep_end = audio.len() as f64 / 16_000.0 + 0.4;
    audio.extend(beep(1400.0, 400));
    audio.extend(silence(6.0));
    let report = call(&agent, uuid, audio, 2.0).await;
    let got = board
        .wait_report(&uuid, Duration::from_secs(10))
        .await
        .expect("a report");
    let db = agent.db.clone();
    agent.stop().await;
    let decision = got.decision.clone().expect("a verdict");
    assert!(matches!(decision.reason, Reason::Beep { .. }), "{got:?}");
    let AmdAction::LeftMessage { at } = got.action else {
        panic!("the message was left: {got:?}");
    };
    assert!(
        at.as_secs_f64() >= beep_end,
        "message at {at:?}, beep ended {beep_end} s"
    );
    assert_eq!(report.ended, CallEndReason::AgentHangup, "{report}");
    let rec = read_call(&db, &uuid).expect("record");
    let agents: Vec<&str> = rec
        .turns
        .iter()
        .filter(|t| t.role == Role::Agent)
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(agents.last().copied(), Some(MESSAGE), "{:?}", rec.turns);
}
