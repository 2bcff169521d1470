//! The operator's hand-over summary end to end: a call over real TCP (scripted ASR and LLM
//! behind the conversation's traits, the real Silero VAD), the caller says what they want,
//! then presses 0; the `AGENT_SUMMARY` the fake Asterisk manager receives (exact AMI text
//! protocol) says what the caller wanted — not `the caller pressed 0; caller:`.

mod conversation_support;

use conversation_support::*;
use enclave::ami::{AmiClient, AmiSettings};
use enclave::cancel::CancelHandle;
use enclave::config::{Config, SummaryConfig};
use enclave::conversation::traits::{
    Converse, EngineError, Heard, StartConversation, Synthesize, Transcribe,
};
use enclave::conversation::{CallEngines, ConversationHandler, PhraseAudio};
use enclave::dialog::session::{TurnEvent, TurnSummary};
use enclave::metrics::Metrics;
use enclave::pipeline::CallHandler;
use enclave::records::ModelsUsed;
use enclave::sim::{place_call, CallOptions};
use enclave::summary::Summarizer;
use enclave::transport::Server;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const CHANNEL: &str = "PJSIP/100-00000001";
const SAID: &str = "I was charged twice for order 457 and I want a refund.";

struct ScriptedAsr;

impl Transcribe for ScriptedAsr {
    fn transcribe(
        &self,
        _audio: Vec<f32>,
        _cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Heard, EngineError>> {
        Box::pin(async {
            Ok(Heard {
                text: SAID.into(),
                language: "en".into(),
            })
        })
    }
}

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

/// Answers every turn with one sentence; remembers what the caller said.
#[derive(Debug, Default)]
struct Clerk {
    heard: Vec<String>,
}

impl Converse for Clerk {
    fn user_turn<'a>(
        &'a mut self,
        text: &'a str,
        _cancel: CancelHandle,
        mut on_event: Box<dyn FnMut(TurnEvent) + Send + 'a>,
    ) -> BoxFuture<'a, Result<TurnSummary, EngineError>> {
        Box::pin(async move {
            self.heard.push(text.to_string());
            let reply = "Let me check that.".to_string();
            on_event(TurnEvent::Text(reply.clone()));
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
}

struct Clerks;

impl StartConversation for Clerks {
    fn start(&self) -> Result<Box<dyn Converse>, EngineError> {
        Ok(Box::new(Clerk::default()))
    }
}

/// A fake Asterisk manager: accepts the login, announces `CHANNEL` for `uuid` (the dialplan's
/// `Set(AS_UUID=…)`), answers `Setvar` and `Ping`; records every `Setvar` as (variable, value).
async fn fake_ami(uuid: uuid::Uuid) -> (u16, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let setvars: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = Arc::clone(&setvars);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let (rd, mut wr) = sock.into_split();
                let mut rd = BufReader::new(rd);
                wr.write_all(b"Asterisk Call Manager/7.0.3\r\n")
                    .await
                    .unwrap();
                loop {
                    let Some(fields) = conversation_support::read_ami_action(&mut rd).await else {
                        return;
                    };
                    let get = |k: &str| {
                        fields
                            .iter()
                            .find(|(f, _)| f.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let id = get("ActionID");
                    let reply = match get("Action").to_ascii_lowercase().as_str() {
                        "login" => format!(
                            "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
                             Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n\
                             Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: {CHANNEL}\r\n\
                             Uniqueid: 1763712000.1\r\nVariable: AS_UUID\r\nValue: {uuid}\r\n\r\n"
                        ),
                        "setvar" => {
                            seen.lock().unwrap().push((get("Variable"), get("Value")));
                            format!("Response: Success\r\nActionID: {id}\r\nMessage: Variable Set\r\n\r\n")
                        }
                        "ping" => format!(
                            "Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1763712000.000000\r\n\r\n"
                        ),
                        _ => format!(
                            "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"
                        ),
                    };
                    if wr.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, setvars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_hears_what_the_caller_wanted() {
    let tmp = tempfile::tempdir().unwrap();
    let uuid = uuid::Uuid::new_v4();
    let (port, setvars) = fake_ami(uuid).await;
    let ami = format!(
        "\n[ami]\nenabled = true\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"enclave\"\nsecret = \"s3cret\"\naction_timeout_ms = 2000\n"
    );
    let toml = config_text(
        tmp.path(),
        &(llm_and_conversation("", "greeting = \"Hi.\"") + &ami),
    );
    let config = Config::from_toml_str("test.toml", &toml, Vec::<(String, String)>::new())
        .unwrap_or_else(|e| panic!("test config: {e}"));
    let metrics = Arc::new(Metrics::new());
    let silero = enclave::vad::SileroModel::load(&config.vad.silero_model, 1).expect("Silero");
    let engines = CallEngines {
        transcribe: Arc::new(ScriptedAsr),
        synthesize: Arc::new(ToneVoice),
        converse: Arc::new(Clerks),
        silero: Some(silero),
        vad_worker: None,
        end_of_turn: None,
        models: ModelsUsed::default(),
    };
    let phrases =
        PhraseAudio::synthesize_with(&config.conversation.phrases(), 16_000, |t| Ok(tone(t)))
            .unwrap();
    let cancel = CancellationToken::new();
    let client = AmiClient::start(
        AmiSettings::from_config(&config.ami).unwrap(),
        cancel.clone(),
    );
    let handler = ConversationHandler::with_engines(
        config.clone(),
        engines,
        phrases,
        None,
        Some(client),
        Arc::clone(&metrics),
    );
    // No LLM: the caller's own words (what an overloaded box falls back to).
    handler.set_summarizer(Arc::new(Summarizer::new(
        None,
        &SummaryConfig::default(),
        Arc::clone(&metrics),
    )));
    let server = Server::bind(config.server.clone()).await.expect("bind");
    let addr = server.local_addr().unwrap();
    let handler: Arc<dyn CallHandler> = Arc::new(handler);
    let task = tokio::spawn(server.run(handler, cancel.clone()));

    // The caller speaks (answered), then presses 0 well after the answer.
    let mut audio = silence(0.8);
    audio.extend(jfk(0.0, 2.5));
    audio.extend(silence(6.0));
    let mut opts = CallOptions::new(addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    opts.dtmf = vec![('0', 7.0)];
    opts.linger = Duration::from_secs(20);
    let report = place_call(opts).await.expect("call");
    cancel.cancel();
    let _ = task.await;

    let vars = setvars.lock().unwrap().clone();
    let summary = vars
        .iter()
        .find(|(k, _)| k == "AGENT_SUMMARY")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no AGENT_SUMMARY set: {vars:?}\n{report}"));
    assert_eq!(
        summary,
        format!("the caller pressed 0. Caller said: \"{SAID}\""),
        "{report}"
    );
    assert_eq!(enclave::summary::metrics::total(true, false), 1);
    assert!(enclave::metrics::global()
        .render()
        .contains("enclave_summaries_total{kind=\"handover\",source=\"extractive\"} 1"));
}
