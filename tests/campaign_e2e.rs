//! An outbound campaign end to end over real TCP: 20 contacts, the runner dialling through a
//! fake Asterisk (AMI protocol) whose callees connect to the agent's AudioSocket port as
//! simulated callers; real SQLite, real call loop (Silero VAD, turn-taking, records). The
//! speech engines are scripted (what is under test is the campaign, not Whisper): the ASR
//! "hears" yes / no / a voicemail greeting from the loudness the callee speaks at. A scripted
//! clock moves the campaign through retries and time zones; the runner is dropped mid-call
//! and a new one takes over.

#[path = "campaign_support/mod.rs"]
mod campaign_support;
mod conversation_support;

use campaign_support::{Callee, FakeAsterisk};
use chrono::{DateTime, Utc};
use conversation_support::{config_text, jfk, llm_and_conversation};
use enclave::ami::{AmiClient, AmiSettings};
use enclave::campaign::Clock;
use enclave::campaign::{
    runner, CampaignRules, CampaignScript, CampaignState, CampaignStore, Classifier, DialSettings,
    MachineDetector, ManualClock, NewContact, RetryDelays, RunnerSettings,
};
use enclave::cancel::CancelHandle;
use enclave::config::Config;
use enclave::conversation::traits::EngineError;
use enclave::conversation::{
    CallEngines, ConversationHandler, Converse, Heard, PhraseAudio, StartConversation, Synthesize,
    Transcribe,
};
use enclave::dialog::session::TurnEvent;
use enclave::dialog::session::TurnSummary;
use enclave::metrics::Metrics;
use enclave::pipeline::CallHandler;
use enclave::records::{ModelsUsed, RecordStore, Role, StoredCall};
use enclave::transport::Server;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const YES: &str = "Yes, I will be there.";
const NO: &str = "No, I cannot come.";
const MACHINE: &str = "Hello, you have reached Anna. Please leave a message after the tone.";

/// Hears the callee's words from how loud they speak (peak of the utterance).
struct LoudnessAsr;

impl Transcribe for LoudnessAsr {
    fn transcribe(
        &self,
        audio: Vec<f32>,
        _cancel: CancelHandle,
    ) -> BoxFuture<'static, Result<Heard, EngineError>> {
        let peak = audio.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        let text = if peak > 0.7 {
            YES
        } else if peak > 0.4 {
            MACHINE
        } else {
            NO
        };
        Box::pin(async move {
            Ok(Heard {
                text: text.into(),
                language: "en".into(),
            })
        })
    }
}

/// A tone, 40 ms per word, at 16 kHz.
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

fn tone(text: &str) -> Vec<f32> {
    let n = text.split_whitespace().count().max(1) * 640;
    (0..n)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 6000.0 / 32768.0)
        .collect()
}

/// "Thank you." to everything.
#[derive(Debug, Default)]
struct Polite(Vec<String>);

impl Converse for Polite {
    fn user_turn<'a>(
        &'a mut self,
        text: &'a str,
        _cancel: CancelHandle,
        mut on_event: Box<dyn FnMut(TurnEvent) + Send + 'a>,
    ) -> BoxFuture<'a, Result<TurnSummary, EngineError>> {
        Box::pin(async move {
            self.0.push(text.to_string());
            on_event(TurnEvent::Text("Thank you.".into()));
            Ok(TurnSummary {
                reply: "Thank you.".into(),
                ..Default::default()
            })
        })
    }
    fn replace_last_reply(&mut self, _heard: &str) {}
    fn last_caller_text(&self) -> Option<String> {
        self.0.last().cloned()
    }
}

struct Politeness;

impl StartConversation for Politeness {
    fn start(&self) -> Result<Box<dyn Converse>, EngineError> {
        Ok(Box::new(Polite::default()))
    }
}

/// Stands in for the answering-machine detector (issue 12 item 4, built separately): a
/// callee that says a voicemail phrase is a machine.
struct VoicemailPhrase;

impl MachineDetector for VoicemailPhrase {
    fn is_machine(&self, call: &StoredCall) -> bool {
        call.turns
            .iter()
            .any(|t| t.role == Role::Caller && t.text.contains("leave a message"))
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The callee speaking at `peak` (1.2 s of speech, one utterance).
fn speech(peak: f32) -> Vec<f32> {
    let s = jfk(0.0, 1.2);
    let max = s.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    s.iter().map(|x| x / max * peak).collect()
}

fn answer(peak: f32) -> Callee {
    Callee::Answer {
        audio: speech(peak),
        linger_s: 1.0,
    }
}

struct Setup {
    store: Arc<CampaignStore>,
    records: RecordStore,
    fake: FakeAsterisk,
    ami: AmiClient,
    clock: Arc<ManualClock>,
    shutdown: CancellationToken,
    services: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

/// Waits (bounded) until no attempt is in flight and no due contact inside its window is
/// left undialled at the clock's current time.
async fn wait_quiet(s: &Setup, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let st = s.store.status("clinic").unwrap();
        let c = s.store.campaign("clinic").unwrap();
        let now = enclave::campaign::Clock::now(&*s.clock);
        let (cands, load) = s
            .store
            .candidates("clinic", now.timestamp_millis())
            .unwrap();
        let plan = enclave::campaign::scheduler::plan(now, &c.rules, load, &cands);
        if st.in_flight == 0 && plan.dial.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the campaign did not settle: {st:?}, due {:?}\n{:#?}",
            plan.dial,
            s.store.export_rows("clinic").unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_of_20_contacts_ends_with_the_right_result_for_each() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENCLAVE_TEST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let tmp = tempfile::tempdir().unwrap();
    let toml = config_text(
        tmp.path(),
        &llm_and_conversation(
            "",
            "greeting = \"Hello.\"\nend_of_turn_short_ms = 300\nend_of_turn_ms = 500",
        ),
    );
    let config = Config::from_toml_str("test.toml", &toml, Vec::<(String, String)>::new()).unwrap();
    let metrics = Arc::new(Metrics::new());
    let records =
        RecordStore::open_with_metrics(&config.records.db_path, &config.records, metrics.clone())
            .unwrap();
    let store = Arc::new(CampaignStore::open(&config.records.db_path).unwrap());
    // Tuesday 06:30 UTC: 09:30 in Moscow (inside 09:00–20:00), 01:30 in New York (outside).
    let clock = Arc::new(ManualClock::new(at("2026-12-01T06:30:00Z")));
    let silero = enclave::vad::SileroModel::load(&config.vad.silero_model, 1).expect("Silero");
    let engines = CallEngines {
        transcribe: Arc::new(LoudnessAsr),
        synthesize: Arc::new(ToneVoice),
        converse: Arc::new(Politeness),
        silero: Some(silero),
        vad_worker: None,
        end_of_turn: None,
        models: ModelsUsed::default(),
    };
    let phrases =
        PhraseAudio::synthesize_with(&config.conversation.phrases(), 16_000, |t| Ok(tone(t)))
            .unwrap();
    let handler = ConversationHandler::with_engines(
        config.clone(),
        engines,
        phrases,
        Some(records.writer()),
        None,
        Arc::clone(&metrics),
    )
    .with_call_scripts(Arc::new(enclave::app::outbound::OutboundScripts::new(
        Arc::clone(&store),
    )));
    let server = Server::bind(config.server.clone()).await.unwrap();
    let agent = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let handler: Arc<dyn CallHandler> = Arc::new(handler);
    let server = tokio::spawn(server.run(handler, shutdown.clone()));
    let fake = FakeAsterisk::start(agent, clock.clone()).await;
    let services = CancellationToken::new();
    let ami = AmiClient::start(
        AmiSettings {
            addr: format!("127.0.0.1:{}", fake.ami_port),
            username: "enclave".into(),
            secret: "s3cret".into(),
            events: "call,dialplan".into(),
            action_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ping_interval: Duration::from_secs(3600),
        },
        services.clone(),
    );
    let s = Setup {
        store,
        records,
        fake,
        ami,
        clock,
        shutdown,
        services,
        server,
    };

    // The contacts: (id, phone, zone, what the callee does on each attempt).
    let moscow = "Europe/Moscow";
    let ny = "America/New_York";
    let mut plan: Vec<(String, String, &str, Vec<Callee>)> = Vec::new();
    let mut add = |kind: &str, n: usize, tz: &'static str, callee: Vec<Callee>| {
        for i in 0..n {
            let k = plan.len();
            plan.push((
                format!("{kind}-{i}"),
                format!("+7900000{k:04}"),
                tz,
                callee.clone(),
            ));
        }
    };
    add("yes", 5, moscow, vec![answer(0.9)]);
    add("dnc", 1, moscow, vec![answer(0.9)]);
    add("no", 4, moscow, vec![answer(0.27)]);
    add("hangup", 2, moscow, vec![Callee::HangUp(0.6)]);
    add("busy", 2, moscow, vec![Callee::Busy]);
    add("noanswer", 2, moscow, vec![Callee::NoAnswer]);
    add("busythenyes", 1, moscow, vec![Callee::Busy, answer(0.9)]);
    add("machine", 1, moscow, vec![answer(0.55)]);
    add("nyyes", 1, ny, vec![answer(0.9)]);
    add("nyno", 1, ny, vec![answer(0.27)]);
    assert_eq!(plan.len(), 20);
    for (_, phone, _, callee) in &plan {
        s.fake.plan(phone, callee.clone());
    }
    let rules = CampaignRules {
        window_start: "09:00".into(),
        window_end: "20:00".into(),
        max_concurrent: 4,
        calls_per_minute: 100,
        max_attempts: 3,
        retry_delay_secs: RetryDelays {
            busy: 120,
            no_answer: 300,
            failed: 60,
            machine: 600,
        },
        ..Default::default()
    };
    let script = CampaignScript {
        greeting: "Hello {name}, this is the clinic.".into(),
        question: "Will you come on {appointment}?".into(),
        instructions: "Be brief.".into(),
    };
    let now_ms = s.clock.now().timestamp_millis();
    s.store
        .create_campaign("clinic", "reminder", &rules, &script, now_ms)
        .unwrap();
    let contacts: Vec<NewContact> = plan
        .iter()
        .map(|(id, phone, tz, _)| NewContact {
            external_id: id.clone(),
            phone: phone.clone(),
            time_zone: tz.to_string(),
            variables:
                serde_json::json!({"name": format!("Name {id}"), "appointment": "Friday at 10"})
                    .as_object()
                    .unwrap()
                    .clone(),
        })
        .collect();
    let report = s.store.add_contacts("clinic", &contacts, now_ms).unwrap();
    assert_eq!(report.added, 20);
    let dnc_phone = plan
        .iter()
        .find(|p| p.0.starts_with("dnc"))
        .unwrap()
        .1
        .clone();
    s.store
        .add_do_not_call(&dnc_phone, "asked not to be called", now_ms)
        .unwrap();
    s.store
        .set_state("clinic", CampaignState::Running, now_ms)
        .unwrap();

    let settings = |owner: &str| RunnerSettings {
        owner: owner.into(),
        tick: Duration::from_millis(100),
        lease: Duration::from_secs(5),
        dial: DialSettings {
            channel: "Local/{phone}@enclave-dial".into(),
            ring_timeout: Duration::from_secs(5),
            response_slack: Duration::from_secs(5),
            max_call: Duration::from_secs(120),
            record_wait: Duration::from_secs(5),
            ..Default::default()
        },
    };
    let start_runner = |owner: &str| {
        runner::spawn(
            Arc::clone(&s.store),
            s.ami.clone(),
            s.records.subscribe(),
            Classifier::keywords_only(),
            Some(Arc::new(VoicemailPhrase)),
            s.clock.clone(),
            settings(owner),
        )
    };

    // Round 1 (06:30 UTC): every Moscow contact is dialled once; New York sleeps.
    let r1 = start_runner("runner-1");
    wait_quiet(&s, "round 1").await;
    let dials = s.fake.dials();
    assert_eq!(
        dials.len(),
        17,
        "17 Moscow contacts minus the do-not-call one: {dials:?}"
    );
    assert!(
        dials.iter().all(|d| d.phone != dnc_phone),
        "the do-not-call number was dialled"
    );

    // Round 2 (+130 s): the busy retries are due. The runner is dropped (as in a crash) while
    // the busy-then-yes callee is talking, and a new runner takes over.
    s.clock.advance(Duration::from_secs(130));
    r1.wake();
    let bty = plan
        .iter()
        .find(|p| p.0.starts_with("busythenyes"))
        .unwrap()
        .1
        .clone();
    let busy: Vec<String> = plan
        .iter()
        .filter(|p| p.0.starts_with("busy-"))
        .map(|p| p.1.clone())
        .collect();
    let b2 = bty.clone();
    s.fake
        .wait_until(
            "the busy-then-yes callee answers its 2nd call",
            Duration::from_secs(60),
            move |f| f.talking().contains(&b2),
        )
        .await;
    // Both busy numbers have been refused a 2nd time and recorded before the drop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = s.store.export_rows("clinic").unwrap();
        let settled = rows
            .iter()
            .filter(|r| busy.contains(&r.phone))
            .all(|r| r.attempts == 2 && r.state == "retry");
        if settled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "busy retries not recorded: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(r1);
    // The call goes on without a runner; its lease runs out; the next runner resolves it
    // from the call record, without dialling it again.
    s.clock.advance(Duration::from_secs(6));
    let r2 = start_runner("runner-2");
    let b3 = bty.clone();
    s.fake
        .wait_until(
            "the busy-then-yes call ends",
            Duration::from_secs(60),
            move |f| !f.talking().contains(&b3),
        )
        .await;
    wait_quiet(&s, "round 2").await;
    let rows: HashMap<String, _> = s
        .store
        .export_rows("clinic")
        .unwrap()
        .into_iter()
        .map(|r| (r.external_id.clone(), r))
        .collect();
    let r = &rows["busythenyes-0"];
    assert_eq!(
        (r.state.as_str(), r.result.as_deref(), r.code, r.attempts),
        ("done", Some("confirmed"), Some(1), 2),
        "{r:?}"
    );

    // Later rounds: New York opens at 14:00 UTC (09:00 EST); retries come due.
    for step in [
        "2026-12-01T14:10:00Z",
        "2026-12-01T14:30:00Z",
        "2026-12-01T14:50:00Z",
        "2026-12-01T15:10:00Z",
    ] {
        s.clock.set(at(step));
        r2.wake();
        wait_quiet(&s, step).await;
    }
    // The runner marks the campaign finished on its next pass with nothing left.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s.store.campaign("clinic").unwrap().state != CampaignState::Finished {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not finished: {:?}",
            s.store.status("clinic").unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r2.stop().await;

    // The right result for each contact.
    let rows: HashMap<String, _> = s
        .store
        .export_rows("clinic")
        .unwrap()
        .into_iter()
        .map(|r| (r.external_id.clone(), r))
        .collect();
    let expect = |prefix: &str, state: &str, result: &str, code: i64, attempts: u32| {
        let mut n = 0;
        for (id, r) in &rows {
            if id.split('-').next() == Some(prefix) {
                n += 1;
                assert_eq!(
                    (r.state.as_str(), r.result.as_deref(), r.code, r.attempts),
                    (state, Some(result), Some(code), attempts),
                    "{id}: {r:?}"
                );
            }
        }
        assert!(n > 0, "{prefix}");
    };
    expect("yes", "done", "confirmed", 1, 1);
    expect("no", "done", "declined", 2, 1);
    expect("hangup", "done", "unrecognised", 0, 1);
    expect("busy", "failed", "busy", 0, 3);
    expect("noanswer", "failed", "no_answer", 0, 3);
    expect("busythenyes", "done", "confirmed", 1, 2);
    expect("machine", "failed", "machine", 0, 3);
    expect("nyyes", "done", "confirmed", 1, 1);
    expect("nyno", "done", "declined", 2, 1);
    expect("dnc", "dnc", "do_not_call", 0, 0);

    // Dials: one per attempt, nobody twice at once, nobody outside the window, within limits.
    let dials = s.fake.dials();
    let attempts: u32 = rows.values().map(|r| r.attempts).sum();
    assert_eq!(dials.len() as u32, attempts);
    let (per_phone, total) = s.fake.max_active();
    assert_eq!(per_phone, 1, "a number was dialled twice at once");
    assert!(total <= 4, "{total} calls at once with max_concurrent = 4");
    let c = s.store.campaign("clinic").unwrap();
    for d in &dials {
        let tz = plan.iter().find(|p| p.1 == d.phone).unwrap().2;
        assert!(
            c.rules.in_window(d.at, tz.parse().unwrap()),
            "{} dialled at {} outside its window ({tz})",
            d.phone,
            d.at
        );
        let var = |k: &str| {
            d.fields
                .iter()
                .any(|(f, v)| f == "Variable" && v.starts_with(k))
        };
        assert!(
            var("ENCLAVE_CONTACT=") && var("ENCLAVE_ATTEMPT=") && var("AS_UUID="),
            "{:?}",
            d.fields
        );
        assert!(d
            .fields
            .iter()
            .any(|(k, v)| k == "Context" && v == "enclave-outbound"));
    }

    // The outbox: exactly one result event per contact, one attempt event per dial.
    let conn = rusqlite::Connection::open(c_path(&s)).unwrap();
    let events = enclave::outbox::events_after(&conn, 0, 10_000).unwrap();
    let results: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "contact.result")
        .collect();
    assert_eq!(results.len(), 20, "{results:?}");
    let mut keys: Vec<&str> = results.iter().map(|e| e.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 20, "one result per contact");
    for e in &results {
        let r = &rows[&e.key];
        assert_eq!(e.payload["code"].as_i64(), r.code, "{e:?}");
        assert_eq!(e.payload["result"].as_str(), r.result.as_deref());
    }
    let attempt_events = events
        .iter()
        .filter(|e| e.kind == "contact.attempt")
        .count();
    assert_eq!(attempt_events as u32, attempts);

    // Answered calls carry their disposition, and the callee heard their own greeting.
    let yes_call: String = rows["yes-0"].last_call.clone().unwrap();
    let disposition: String = conn
        .query_row(
            "SELECT disposition FROM calls WHERE uuid = ?1",
            [&yes_call],
            |r| r.get(0),
        )
        .unwrap();
    let d: serde_json::Value = serde_json::from_str(&disposition).unwrap();
    assert_eq!(d["decision"], "confirmed");
    assert_eq!(d["code"], 1);
    let call = s
        .records
        .load_call(&yes_call.parse().unwrap())
        .unwrap()
        .unwrap();
    let first = call.turns.iter().find(|t| t.role == Role::Agent).unwrap();
    assert_eq!(
        first.text,
        "Hello Name yes-0, this is the clinic. Will you come on Friday at 10?"
    );

    s.shutdown.cancel();
    let _ = s.server.await;
    s.services.cancel();
    let _ = s.records.close().await;
}

fn c_path(s: &Setup) -> std::path::PathBuf {
    s.store.path().to_path_buf()
}
