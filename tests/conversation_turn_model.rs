//! The semantic end of turn over real TCP on the tiny models, with a scripted end-of-turn
//! model: "finished" ends the turn at the short pause, "not finished" waits for the long
//! silence and merges the pauses. (Its own binary: two 16 s calls would otherwise share the
//! CPU with the timing assertions of `conversation_call`.)

mod conversation_support;

use conversation_support::*;
use enclave::records::Role;
use enclave::sim::{place_call, CallOptions};
use enclave::vad::{EndOfTurnError, EndOfTurnModel};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn call_options(agent: &TestAgent, audio: Vec<f32>) -> (CallOptions, uuid::Uuid) {
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    (opts, uuid)
}

/// A scripted end-of-turn model: always the same answer; counts the questions.
struct ScriptedTurnModel {
    finished: bool,
    asked: AtomicUsize,
}

impl EndOfTurnModel for ScriptedTurnModel {
    fn finished_probability(
        &self,
        audio_16k: Vec<f32>,
    ) -> BoxFuture<'static, Result<f32, EndOfTurnError>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        assert!(audio_16k.len() <= 8 * 16_000, "at most the last 8 s");
        let p = if self.finished { 0.9 } else { 0.1 };
        Box::pin(async move { Ok(p) })
    }
}

/// One call with a model that always says `finished` and a 5 s long silence; returns when the
/// agent decided the caller's turn was over (ms after the end of speech: the answer's latency
/// less the LLM and TTS stages, so a slow LLM on a loaded box does not blur it), how many
/// times the model was asked, and how many caller turns were recorded.
async fn latency_with_model(finished: bool) -> (u32, usize, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_text(
        tmp.path(),
        &llm_and_conversation(
            "",
            "greeting = \"-\"\nend_of_turn_short_ms = 200\nend_of_turn_ms = 5000",
        ),
    );
    let model = Arc::new(ScriptedTurnModel {
        finished,
        asked: AtomicUsize::new(0),
    });
    let agent = start_agent_with(&cfg, Some(model.clone())).await;
    let mut audio = silence(0.3);
    audio.extend(jfk(0.0, 2.5));
    audio.extend(silence(5.5));
    let (mut opts, uuid) = call_options(&agent, audio);
    // Long enough for the tiny LLM on a loaded box after the 5 s wait.
    opts.linger = Duration::from_secs(20);
    let report = place_call(opts).await.expect("call");
    let db = agent.db.clone();
    agent.stop().await;
    let call = read_call(&db, &uuid).unwrap();
    let callers = call.turns.iter().filter(|t| t.role == Role::Caller).count();
    let answer = call
        .turns
        .iter()
        .find(|t| t.role == Role::Agent)
        .unwrap_or_else(|| panic!("no answer: {:?}\n{report}", call.turns));
    let l = &answer.latencies;
    let latency = l.turn_latency_ms.expect("answer latency measured");
    let thinking = l.llm_first_sentence_ms.unwrap_or(0) + l.tts_first_audio_ms.unwrap_or(0);
    let decided = latency.saturating_sub(thinking);
    eprintln!("finished={finished}: answer after {latency} ms, turn decided after {decided} ms");
    (decided, model.asked.load(Ordering::SeqCst), callers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_turn_model_decides_when_the_caller_is_done() {
    // "Not finished" at every pause: the agent waits for the 5 s silence, and answers the
    // whole utterance once (the pauses inside it are merged).
    let (waited, asked, callers) = latency_with_model(false).await;
    assert!(asked >= 1, "the model was asked");
    assert!(
        waited >= 4_500,
        "decided {waited} ms after the speech: before the long silence"
    );
    assert_eq!(callers, 1, "one caller turn: the pauses were merged");
    // "Finished": the turn ends at the short pause, seconds sooner.
    let (quick, asked, _) = latency_with_model(true).await;
    assert!(asked >= 1);
    assert!(
        quick + 2_000 < waited,
        "finished: {quick} ms; not finished: {waited} ms"
    );
}
