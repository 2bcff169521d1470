//! Budgets over real TCP with a Whisper of real base shapes (slow on a small CPU), in their
//! own test binary so their CPU load does not disturb the timing of the other call tests:
//! an engine failure yields the apology, not silence; an over-budget stage apologises once and
//! keeps the caller; a budget fitted to the box answers instead of apologising.

mod conversation_support;

use conversation_support::*;
use enclave::records::{CallOutcome, Role};
use enclave::sim::{place_call, CallEndReason, CallOptions};
use std::time::Duration;

fn call_options(agent: &TestAgent, audio: Vec<f32>) -> (CallOptions, uuid::Uuid) {
    let uuid = uuid::Uuid::new_v4();
    let mut opts = CallOptions::new(agent.addr);
    opts.uuid = Some(uuid);
    opts.audio = Some((audio, 16_000));
    (opts, uuid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_failure_yields_the_apology_not_silence() {
    let tmp = tempfile::tempdir().unwrap();
    // Whisper with real base shapes cannot transcribe 2.5 s within 100 ms on this machine:
    // the ASR stage runs over its budget.
    let base = synth_dir().join("whisper-base.bin");
    assert!(
        base.is_file(),
        "run `bash scripts/synth-models.sh` (whisper-base.bin)"
    );
    let cfg = config_text(
        tmp.path(),
        &llm_and_conversation(
            "",
            "greeting = \"-\"\napology = \"Sorry, something went wrong.\"\n\
             asr_budget_ms = 100\nadaptive_budgets = false\ntransfer_on_failure = false",
        ),
    )
    .replace(
        &synth_dir().join("whisper-test.bin").display().to_string(),
        &base.display().to_string(),
    );
    let agent = start_agent(&cfg).await;
    let mut audio = silence(0.3);
    audio.extend(jfk(0.0, 2.5));
    let (_, speech_end) = voiced_span(&audio, 16_000.0).unwrap();
    audio.extend(silence(0.5));
    let (mut opts, uuid) = call_options(&agent, audio);
    opts.linger = Duration::from_secs(3);
    let report = place_call(opts).await.expect("call");
    let metrics = agent.metrics.clone();
    let db = agent.db.clone();
    agent.stop().await;
    assert!(
        audible_between(
            &report.recorded,
            speech_end,
            report.recorded.len() as f64 / AGENT_RATE
        ),
        "silence after an engine failure\n{report}"
    );
    assert!(metrics.errors_total("asr") >= 1);
    let call = read_call(&db, &uuid).unwrap();
    assert!(
        call.turns
            .iter()
            .any(|t| t.role == Role::Agent && t.text.contains("Sorry, something went wrong.")),
        "{:?}",
        call.turns
    );
}

/// The issue-9 failure: an over-budget stage with a hand-over that cannot happen (no AMI).
/// The caller hears the apology once (not "Sorry… Sorry… Goodbye!"), is kept on the line with
/// the call-back offer, and the record says the hand-over failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_budget_stage_apologises_once_and_keeps_the_caller() {
    let tmp = tempfile::tempdir().unwrap();
    let base = synth_dir().join("whisper-base.bin");
    assert!(
        base.is_file(),
        "run `bash scripts/synth-models.sh` (whisper-base.bin)"
    );
    let cfg = config_text(
        tmp.path(),
        &llm_and_conversation(
            "",
            "greeting = \"-\"\napology = \"Sorry, something went wrong.\"\n\
             handover_failed = \"We will call you back.\"\n\
             asr_budget_ms = 100\nadaptive_budgets = false\ntransfer_on_failure = true",
        ),
    )
    .replace(
        &synth_dir().join("whisper-test.bin").display().to_string(),
        &base.display().to_string(),
    );
    let agent = start_agent(&cfg).await;
    let mut audio = silence(0.3);
    audio.extend(jfk(0.0, 2.5));
    audio.extend(silence(0.5));
    let (mut opts, uuid) = call_options(&agent, audio);
    opts.linger = Duration::from_secs(5);
    let report = place_call(opts).await.expect("call");
    let metrics = agent.metrics.clone();
    let db = agent.db.clone();
    agent.stop().await;
    assert_eq!(
        report.ended,
        CallEndReason::CallerHangup,
        "the agent kept the caller\n{report}"
    );
    assert!(metrics.errors_total("asr") >= 1);
    assert_eq!(metrics.handover_failures_total(), 1);
    let call = read_call(&db, &uuid).unwrap();
    let said: Vec<&str> = call
        .turns
        .iter()
        .filter(|t| t.role == Role::Agent)
        .map(|t| t.text.as_str())
        .collect();
    let all = said.join(" | ");
    assert_eq!(
        all.matches("Sorry, something went wrong.").count(),
        1,
        "the apology is said once: {all}"
    );
    assert!(all.contains("We will call you back."), "{all}");
    assert!(!all.contains("Goodbye"), "{all}");
    assert_eq!(call.outcome, Some(CallOutcome::CallerHangup));
    assert!(
        call.error
            .as_deref()
            .unwrap_or("")
            .contains("[ami] is not enabled"),
        "{:?}",
        call.error
    );
}

/// The same slow Whisper with the budget fitted to the box: measured at start-up,
/// the budget allows what a transcription really costs here, so the caller gets an answer
/// (late, on a busy CPU) rather than an apology.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fitted_budget_answers_a_slow_transcription_instead_of_apologising() {
    let tmp = tempfile::tempdir().unwrap();
    let base = synth_dir().join("whisper-base.bin");
    assert!(
        base.is_file(),
        "run `bash scripts/synth-models.sh` (whisper-base.bin)"
    );
    let cfg = config_text(
        tmp.path(),
        &llm_and_conversation(
            "",
            "greeting = \"-\"\napology = \"Sorry, something went wrong.\"\n\
             asr_budget_ms = 100\nllm_budget_ms = 20000\ntts_budget_ms = 20000\n\
             adaptive_budgets = true\ntransfer_on_failure = false",
        ),
    )
    .replace(
        &synth_dir().join("whisper-test.bin").display().to_string(),
        &base.display().to_string(),
    );
    let agent = start_agent(&cfg).await;
    let budget = agent.stack.as_ref().unwrap().handler.asr_budget(2.5);
    eprintln!("ASR budget fitted at start-up for 2.5 s of audio: {budget:?}");
    assert!(
        budget > Duration::from_millis(100),
        "the start-up measurement raised the 100 ms floor: {budget:?}"
    );
    let mut audio = silence(0.3);
    audio.extend(jfk(0.0, 2.5));
    audio.extend(silence(0.5));
    let (mut opts, uuid) = call_options(&agent, audio);
    opts.linger = Duration::from_secs(25);
    let report = place_call(opts).await.expect("call");
    let metrics = agent.metrics.clone();
    let db = agent.db.clone();
    agent.stop().await;
    assert_eq!(metrics.errors_total("asr"), 0, "{report}");
    let call = read_call(&db, &uuid).unwrap();
    let caller = call
        .turns
        .iter()
        .find(|t| t.role == Role::Caller)
        .unwrap_or_else(|| panic!("the caller's turn was transcribed: {:?}", call.turns));
    assert!(
        caller.latencies.asr_ms.unwrap_or(0) > 100,
        "slower than the floor budget"
    );
    assert!(
        call.turns
            .iter()
            .all(|t| !t.text.contains("Sorry, something went wrong.")),
        "{:?}",
        call.turns
    );
    assert!(
        call.turns
            .iter()
            .any(|t| t.role == Role::Agent && t.seq > caller.seq),
        "answered: {:?}",
        call.turns
    );
}
