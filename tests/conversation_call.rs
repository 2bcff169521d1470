//! Whole calls over real TCP: the simulated Asterisk (`agent call`'s engine) against the
//! conversation handler on the synthetic models (same formats and architectures as the real
//! Whisper / Qwen2 / Piper, random weights) and the real Silero VAD.
//!
//! With random weights the words are nonsense; what is asserted is the behaviour: timing on the
//! wire, barge-in, records, metrics, hand-over, failure handling.

mod conversation_support;

use conversation_support::*;
use enclave::pipeline::{CallEvent, CallHandler, CallInfo, LostReason, Playout};
use enclave::records::{CallOutcome, Role};
use enclave::sim::{place_call, CallEndReason, CallOptions};
use std::time::{Duration, Instant};

fn call_options(agent: &TestAgent, audio: Vec<f32>) -> (CallOptions, uuid::Uuid) {
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    (opts, uuid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_call_greets_answers_and_records_every_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_text(
        tmp.path(),
        &llm_and_conversation("", "greeting = \"Hello, how can I help?\""),
    );
    let agent = start_agent(&cfg).await;
    // 2.5 s of silence (the greeting plays), 3 s of real speech, then silence.
    let mut audio = silence(2.5);
    audio.extend(jfk(0.0, 3.0));
    let (speech_start, speech_end) = voiced_span(&audio, 16_000.0).expect("speech in the clip");
    audio.extend(silence(0.5));
    let (mut opts, uuid) = call_options(&agent, audio);
    // Room for the tiny LLM on a loaded box (its first token took 5 s at load 15 here).
    opts.linger = Duration::from_secs(15);
    let report = place_call(opts).await.expect("call");
    let turn_count = agent.metrics.render();
    let stats = agent.stats.clone();
    let db_agent_metrics = agent.metrics.clone();
    let call_record = {
        let agent_db = agent.db.clone();
        agent.stop().await;
        read_call(&agent_db, &uuid).expect("call record")
    };

    // The call's recording: caller on the left, agent on the right, aligned by media time.
    let wav = tmp.path().join("recordings").join(format!("{uuid}.wav"));
    let mut reader = hound::WavReader::open(&wav).expect("call recording");
    assert_eq!(reader.spec().channels, 2);
    let rate = reader.spec().sample_rate as f64;
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    let left: Vec<f32> = samples
        .iter()
        .step_by(2)
        .map(|&s| s as f32 / 32768.0)
        .collect();
    let right: Vec<f32> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| s as f32 / 32768.0)
        .collect();
    let (caller_from, _) = voiced_span(&left, rate).expect("caller audio on the left");
    assert!(
        (caller_from - speech_start).abs() < 0.15,
        "caller speech at {caller_from:.2} s in the recording, {speech_start:.2} s sent"
    );
    let (agent_from, agent_to) = voiced_span(&right, rate).expect("agent audio on the right");
    assert!(agent_from < 1.0, "greeting at {agent_from:.2} s");
    assert!(agent_to > speech_end, "the answer is recorded too");

    // The greeting is on the wire within a second of pick-up.
    let first = report.first_non_silent_ms.expect("agent spoke");
    assert!(first < 1000.0, "greeting took {first} ms");
    assert!(
        speech_start > 2.0,
        "the caller's speech starts after the greeting"
    );
    // An answer came after the caller stopped speaking.
    let recorded = &report.recorded;
    assert!(
        audible_between(
            recorded,
            speech_end + 0.2,
            recorded.len() as f64 / AGENT_RATE
        ),
        "no answer audio after the caller's speech; report:\n{report}"
    );
    assert_eq!(report.ended, CallEndReason::CallerHangup);
    assert_eq!(stats.active_calls(), 0);

    // The record: greeting, the caller's turn, the answer, with latencies; the call's end.
    assert_eq!(call_record.outcome, Some(CallOutcome::CallerHangup));
    assert!(call_record.ended_at_ms.is_some());
    assert!(call_record.models.asr.as_deref() == Some("whisper-test.bin"));
    let roles: Vec<Role> = call_record.turns.iter().map(|t| t.role).collect();
    assert_eq!(roles.first(), Some(&Role::Agent), "{:?}", call_record.turns);
    assert_eq!(call_record.turns[0].text, "Hello, how can I help?");
    let caller = call_record
        .turns
        .iter()
        .find(|t| t.role == Role::Caller)
        .expect("a caller turn");
    assert!(!caller.text.is_empty());
    assert!(caller.latencies.asr_ms.is_some());
    let answer = call_record
        .turns
        .iter()
        .find(|t| t.role == Role::Agent && t.seq > caller.seq)
        .expect("an agent answer after the caller's turn");
    let latency = answer
        .latencies
        .turn_latency_ms
        .expect("turn latency measured");

    // The latency users feel, measured on the wire by the caller: end of its speech → the
    // first audible answer frame. The agent's own figure (from what its pacer wrote to the
    // socket) must agree with it.
    let answer_onset = (0..recorded.len() / 160)
        .map(|i| i as f64 * 0.02)
        .find(|&t| t > speech_end && audible_between(recorded, t, t + 0.02))
        .expect("answer onset");
    let first_frame_s = report.first_audio_ms.unwrap() / 1000.0;
    let wire_latency_ms = (answer_onset + first_frame_s - speech_end) * 1000.0;
    assert!(
        (wire_latency_ms - latency as f64).abs() < 200.0,
        "agent says {latency} ms, the wire says {wire_latency_ms:.0} ms"
    );
    assert!(
        turn_count.contains("enclave_turn_latency_seconds_count 1"),
        "{turn_count}"
    );
    assert_eq!(db_agent_metrics.calls_total(CallOutcome::CallerHangup), 1);
    assert_eq!(db_agent_metrics.calls_active(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_silences_the_agent_within_100ms_and_marks_the_turn_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let greeting = "Hello and welcome to the automated service line of the city clinic. I can \
                    help you with appointments, test results and questions about your visit.";
    let cfg = config_text(
        tmp.path(),
        &llm_and_conversation("", &format!("greeting = \"{greeting}\"")),
    );
    let agent = start_agent(&cfg).await;
    let mut audio = silence(1.5);
    audio.extend(jfk(0.0, 3.0));
    let (onset, _) = voiced_span(&audio, 16_000.0).unwrap();
    let (mut opts, uuid) = call_options(&agent, audio);
    opts.hangup_after = Some(Duration::from_secs_f64(onset + 1.5));
    let report = place_call(opts).await.expect("call");
    let metrics = agent.metrics.clone();
    let db = agent.db.clone();
    agent.stop().await;

    // The greeting was still playing when the caller spoke.
    let first = report.first_non_silent_ms.unwrap() / 1000.0;
    assert!(first < onset, "{report}");
    let last = report.last_non_silent_ms.expect("agent spoke") / 1000.0;
    let stop_ms = (last - onset) * 1000.0;
    eprintln!(
        "barge-in: the agent's last speech frame came {stop_ms:.0} ms after the caller's onset"
    );
    assert!(
        stop_ms <= 100.0,
        "agent kept talking {stop_ms:.0} ms after the caller's speech began\n{report}"
    );
    assert!(
        stop_ms > -200.0,
        "agent stopped before the caller spoke?\n{report}"
    );
    assert!(metrics.render().contains("enclave_barge_ins_total 1"));
    let call = read_call(&db, &uuid).unwrap();
    let greeting_turn = &call.turns[0];
    assert_eq!(greeting_turn.role, Role::Agent);
    assert!(greeting_turn.interrupted, "{:?}", call.turns);
    assert!(
        greeting_turn.text.len() < greeting.len(),
        "only what was played is kept: {:?}",
        greeting_turn.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hangup_mid_answer_cancels_all_work() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_text(
        tmp.path(),
        &llm_and_conversation("max_tokens = 200", "greeting = \"-\""),
    );
    let agent = start_agent(&cfg).await;
    let runtime = tokio::runtime::Handle::current();
    let tasks_before = runtime.metrics().num_alive_tasks();
    let mut audio = silence(0.3);
    audio.extend(jfk(0.0, 2.5));
    let (_, speech_end) = voiced_span(&audio, 16_000.0).unwrap();
    let (mut opts, uuid) = call_options(&agent, audio);
    // Hang up while the agent is transcribing / thinking / starting to answer.
    opts.hangup_after = Some(Duration::from_secs_f64(speech_end + 0.5));
    let report = place_call(opts).await.expect("call");
    assert_eq!(report.ended, CallEndReason::CallerHangup);
    tokio::time::timeout(Duration::from_secs(10), agent.stats.wait_until_idle())
        .await
        .expect("the call ends after the caller hangs up");
    // Every task of the call (turn, synthesis, transcription) has ended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tasks = runtime.metrics().num_alive_tasks();
    while tasks > tasks_before && tokio::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        tasks = runtime.metrics().num_alive_tasks();
    }
    assert!(
        tasks <= tasks_before,
        "{tasks} tasks alive, {tasks_before} before the call"
    );
    assert_eq!(agent.metrics.calls_active(), 0);
    let db = agent.db.clone();
    agent.stop().await;
    let call = read_call(&db, &uuid).unwrap();
    assert_eq!(call.outcome, Some(CallOutcome::CallerHangup));
}

/// A connection reset is a caller hang-up in the record; a protocol error is an error with
/// its reason. The call loop is driven directly with the events the transport sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_are_recorded_honestly() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_text(tmp.path(), &llm_and_conversation("", "greeting = \"-\""));
    let agent = start_agent(&cfg).await;
    let handler = agent.stack.as_ref().unwrap().handler.clone();
    let mut uuids = Vec::new();
    for reason in [
        LostReason::Reset("connection reset by peer".into()),
        LostReason::ProtocolError("unknown frame kind 0x42".into()),
    ] {
        let uuid = uuid::Uuid::new_v4();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let info = CallInfo {
            uuid,
            peer: "127.0.0.1:1".parse().unwrap(),
            started: Instant::now(),
        };
        let call = handler.run(info, rx, Playout::new(8000));
        tx.send(CallEvent::Lost(reason.clone())).await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("the call ends when its connection is lost");
        match reason {
            LostReason::Reset(_) => {
                assert_eq!(ended, enclave::pipeline::CallOutcome::CallerHungUp)
            }
            LostReason::ProtocolError(_) => assert!(
                matches!(ended, enclave::pipeline::CallOutcome::Failed(ref e) if e.contains("0x42")),
                "{ended:?}"
            ),
        }
        uuids.push(uuid);
    }
    let metrics = agent.metrics.clone();
    let db = agent.db.clone();
    agent.stop().await;
    let reset = read_call(&db, &uuids[0]).unwrap();
    assert_eq!(reset.outcome, Some(CallOutcome::CallerHangup));
    assert_eq!(reset.error, None);
    let broken = read_call(&db, &uuids[1]).unwrap();
    assert_eq!(broken.outcome, Some(CallOutcome::ProtocolError));
    assert!(broken
        .error
        .as_deref()
        .unwrap_or("")
        .contains("unknown frame kind 0x42"));
    assert_eq!(metrics.calls_total(CallOutcome::CallerHangup), 1);
    assert_eq!(metrics.calls_total(CallOutcome::ProtocolError), 1);
    assert_eq!(metrics.calls_total(CallOutcome::Shutdown), 0);
}
