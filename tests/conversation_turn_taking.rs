//! The call loop's deciders, without models: scripted event sequences through
//! [`TurnTaking`] (end of the caller's turn, speculative transcription, merge, retract),
//! [`BargeIn`] (protect window, minimum speech), [`Timers`] (re-prompts, budgets), the ASR
//! budget and the call outcomes.

use enclave::conversation::barge_in::{BargeIn, BargeInAction, BargeInConfig};
use enclave::conversation::budget::StageBudget;
use enclave::conversation::ending::{outcome, Ending, Stop};
use enclave::conversation::timers::{TickState, TimerAction, Timers, TimersConfig};
use enclave::conversation::turn_taking::{
    dangling, silence_needed, EndReason, TurnAction, TurnInput, TurnTaking, TurnTakingConfig,
};
use enclave::pipeline::LostReason;
use enclave::records::CallOutcome;
use std::time::Duration;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// `secs` of 16 kHz audio, all samples `v` (to tell utterances apart after a merge).
fn audio(secs: f64, v: f32) -> Vec<f32> {
    vec![v; (secs * 16_000.0) as usize]
}

fn machine(model: bool) -> TurnTaking {
    TurnTaking::new(TurnTakingConfig::from_ms(200, 800, model))
}

fn utterance(a: Vec<f32>, end_ms: u64) -> TurnInput {
    TurnInput::Utterance {
        audio: a,
        end: ms(end_ms),
        forced: false,
    }
}

fn quiet(now_ms: u64) -> TurnInput {
    TurnInput::MediaTime {
        now: ms(now_ms),
        in_speech: false,
    }
}

fn transcript(id: u64, text: &str) -> TurnInput {
    TurnInput::Transcript {
        id,
        text: text.into(),
    }
}

fn answers(actions: &[TurnAction]) -> Vec<(u64, String, EndReason)> {
    actions
        .iter()
        .filter_map(|a| match a {
            TurnAction::Answer { id, text, reason } => Some((*id, text.clone(), *reason)),
            _ => None,
        })
        .collect()
}

/// The id and audio of the one `Transcribe` in `actions`.
fn transcribed(actions: &[TurnAction]) -> (u64, Vec<f32>) {
    let t: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            TurnAction::Transcribe { id, audio, .. } => Some((*id, audio.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(t.len(), 1, "{actions:?}");
    t.into_iter().next().unwrap()
}

#[test]
fn a_thinking_pause_then_more_speech_is_merged_and_never_answered_in_half() {
    // "My order number is … 4 5 7": the model says not finished at the pause.
    let mut tt = machine(true);
    let first = tt.on(utterance(audio(1.0, 0.1), 1200));
    let (id1, a1) = transcribed(&first);
    assert_eq!(a1.len(), 16_000);
    assert!(
        first
            .iter()
            .any(|a| matches!(a, TurnAction::AskModel { id, .. } if *id == id1)),
        "{first:?}"
    );
    assert!(tt
        .on(TurnInput::Verdict {
            id: id1,
            finished: Some(false)
        })
        .is_empty());
    assert!(answers(&tt.on(transcript(id1, "My order number is"))).is_empty());
    // Less than the long silence later, the caller goes on.
    assert!(answers(&tt.on(quiet(1500))).is_empty());
    let went_on = tt.on(TurnInput::SpeechStart);
    assert_eq!(went_on, vec![TurnAction::Discard { id: id1 }]);
    // The next utterance carries both parts.
    let second = tt.on(utterance(audio(0.5, 0.2), 2600));
    let (id2, a2) = transcribed(&second);
    assert_ne!(id1, id2);
    assert_eq!(a2.len(), 16_000 + 8_000, "merged audio");
    assert_eq!(a2[0], 0.1);
    assert_eq!(*a2.last().unwrap(), 0.2);
    // A late transcript of the dropped half is ignored.
    assert!(tt.on(transcript(id1, "My order number is")).is_empty());
    tt.on(TurnInput::Verdict {
        id: id2,
        finished: Some(true),
    });
    let done = tt.on(transcript(id2, "My order number is 4 5 7"));
    assert_eq!(
        answers(&done),
        vec![(
            id2,
            "My order number is 4 5 7".to_string(),
            EndReason::Model
        )]
    );
}

#[test]
fn a_true_end_is_answered_at_the_short_pause_when_the_model_says_finished() {
    let mut tt = machine(true);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1200)));
    // The transcript first, then the verdict: the answer comes with the verdict, long
    // before the long silence.
    assert!(answers(&tt.on(transcript(id, "what time do you open"))).is_empty());
    let a = tt.on(TurnInput::Verdict {
        id,
        finished: Some(true),
    });
    assert_eq!(answers(&a).len(), 1);
    assert_eq!(answers(&a)[0].2, EndReason::Model);
    // Not answered twice.
    assert!(answers(&tt.on(quiet(5000))).is_empty());
}

#[test]
fn a_transcript_stopping_on_a_dangling_word_waits_even_when_the_model_says_finished() {
    for model in [true, false] {
        let mut tt = machine(model);
        let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
        if model {
            tt.on(TurnInput::Verdict {
                id,
                finished: Some(true),
            });
        }
        // Whisper puts a full stop after a thinking pause; the last word says it goes on.
        assert!(answers(&tt.on(transcript(id, "My order number is."))).is_empty());
        assert!(answers(&tt.on(quiet(1599))).is_empty());
        let a = tt.on(quiet(1600));
        assert_eq!(answers(&a)[0].2, EndReason::LongSilence, "model {model}");
    }
    assert!(dangling("I'd like to... um"));
    assert!(dangling("Мне нужно записаться на"));
    assert!(!dangling("Four five seven."));
    assert!(!dangling("I think so."));
    assert!(!dangling(""));
}

#[test]
fn not_finished_waits_for_the_long_silence() {
    let mut tt = machine(true);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    tt.on(TurnInput::Verdict {
        id,
        finished: Some(false),
    });
    // Even a transcript that ends a sentence waits: the model outranks punctuation.
    assert!(answers(&tt.on(transcript(id, "I need."))).is_empty());
    // Long silence 800 ms, the utterance ended at the 200 ms pause: 600 ms more.
    assert!(answers(&tt.on(quiet(1599))).is_empty());
    // Still speaking (an open, unconfirmed utterance) does not end the turn.
    let speaking = tt.on(TurnInput::MediaTime {
        now: ms(1700),
        in_speech: true,
    });
    assert!(answers(&speaking).is_empty());
    let a = tt.on(quiet(1720));
    assert_eq!(
        answers(&a),
        vec![(id, "I need.".to_string(), EndReason::LongSilence)]
    );
}

#[test]
fn without_a_model_punctuation_decides() {
    let mut tt = machine(false);
    let acts = tt.on(utterance(audio(1.0, 0.1), 1000));
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, TurnAction::AskModel { .. })),
        "{acts:?}"
    );
    let (id, _) = transcribed(&acts);
    let a = tt.on(transcript(id, "What time do you open?"));
    assert_eq!(answers(&a)[0].2, EndReason::Punctuation);

    let mut tt = machine(false);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    assert!(answers(&tt.on(transcript(id, "my order number is"))).is_empty());
    assert_eq!(answers(&tt.on(quiet(1600)))[0].2, EndReason::LongSilence);
}

#[test]
fn a_failing_model_falls_back_to_punctuation() {
    let mut tt = machine(true);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    assert!(
        answers(&tt.on(transcript(id, "Thank you."))).is_empty(),
        "verdict awaited"
    );
    let a = tt.on(TurnInput::Verdict { id, finished: None });
    assert_eq!(answers(&a)[0].2, EndReason::Punctuation);
}

#[test]
fn a_slow_model_never_holds_the_turn_past_the_long_silence() {
    let mut tt = machine(true);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    tt.on(transcript(id, "hello"));
    assert_eq!(answers(&tt.on(quiet(1600)))[0].2, EndReason::LongSilence);
    // Its verdict, when it finally comes, changes nothing.
    assert!(tt
        .on(TurnInput::Verdict {
            id,
            finished: Some(true)
        })
        .is_empty());
}

/// The combined rule's machine: short 200, medium 500, long 1000 ms, with a model.
fn tiers(require_punctuation: bool) -> TurnTaking {
    TurnTaking::new(TurnTakingConfig {
        require_punctuation,
        ..TurnTakingConfig::from_ms3(200, 500, 1000, true)
    })
}

/// Runs one utterance ending at 1000 ms (the short pause) through `tt` with the model's
/// verdict and the transcript; returns when (media ms) and why the turn was answered,
/// ticking 10 ms at a time up to 3 s.
fn answered_at(mut tt: TurnTaking, finished: Option<bool>, text: &str) -> Option<(u64, EndReason)> {
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    let mut got = answers(&tt.on(TurnInput::Verdict { id, finished }));
    got.extend(answers(&tt.on(transcript(id, text))));
    if let Some((_, _, why)) = got.first() {
        return Some((1000, *why));
    }
    for now in (1010..=3000).step_by(10) {
        if let Some((_, _, why)) = answers(&tt.on(quiet(now))).first() {
            return Some((now, *why));
        }
    }
    None
}

#[test]
fn the_short_pause_needs_the_model_and_the_words_one_of_them_the_medium_silence() {
    // Both agree (finished, no dangling word): at the short pause.
    assert_eq!(
        answered_at(tiers(false), Some(true), "what time do you open"),
        Some((1000, EndReason::Model))
    );
    // Only the punctuation says finished: the medium silence (500 ms after the speech,
    // 300 ms after the short pause) ...
    assert_eq!(
        answered_at(tiers(false), Some(false), "I need a taxi to the airport."),
        Some((1300, EndReason::MediumSilence))
    );
    // ... neither: the long silence.
    assert_eq!(
        answered_at(tiers(false), Some(false), "I need a taxi to the airport"),
        Some((1800, EndReason::LongSilence))
    );
    // A dangling last word outranks everything, the model and Whisper's full stop too.
    assert_eq!(
        answered_at(tiers(false), Some(true), "My order number is."),
        Some((1800, EndReason::LongSilence))
    );
    // No model: punctuation at once, else the long silence (the medium tier needs a model).
    let no_model = || TurnTaking::new(TurnTakingConfig::from_ms3(200, 500, 1000, false));
    assert_eq!(
        answered_at(no_model(), None, "Thank you."),
        Some((1000, EndReason::Punctuation))
    );
    assert_eq!(
        answered_at(no_model(), None, "thank you"),
        Some((1800, EndReason::LongSilence))
    );
}

#[test]
fn with_required_punctuation_a_finished_without_a_full_stop_waits_the_medium_silence() {
    assert_eq!(
        answered_at(tiers(true), Some(true), "What time do you open?"),
        Some((1000, EndReason::Model))
    );
    assert_eq!(
        answered_at(tiers(true), Some(true), "what time do you open"),
        Some((1300, EndReason::MediumSilence))
    );
    assert_eq!(
        answered_at(tiers(true), Some(false), "what time do you open"),
        Some((1800, EndReason::LongSilence))
    );
    // The same three through the pure rule the benchmark uses.
    let cfg = TurnTakingConfig {
        require_punctuation: true,
        ..TurnTakingConfig::from_ms3(200, 500, 1000, true)
    };
    assert_eq!(
        silence_needed(&cfg, Some(true), "Yes."),
        (ms(200), EndReason::Model)
    );
    assert_eq!(
        silence_needed(&cfg, Some(true), "yes"),
        (ms(500), EndReason::MediumSilence)
    );
    assert_eq!(
        silence_needed(&cfg, Some(false), "and"),
        (ms(1000), EndReason::LongSilence)
    );
}

#[test]
fn caller_speech_during_the_medium_silence_merges_and_the_silence_starts_again() {
    let mut tt = tiers(false);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    tt.on(TurnInput::Verdict {
        id,
        finished: Some(false),
    });
    assert!(answers(&tt.on(transcript(id, "Four five."))).is_empty());
    assert!(answers(&tt.on(quiet(1290))).is_empty());
    // The caller goes on 290 ms into the wait: the turn is dropped and merged.
    let acts = tt.on(TurnInput::SpeechStart);
    assert_eq!(acts, vec![TurnAction::Discard { id }]);
    let (id2, merged) = transcribed(&tt.on(utterance(audio(0.5, 0.2), 2500)));
    assert_eq!(merged.len(), 24_000);
    tt.on(TurnInput::Verdict {
        id: id2,
        finished: Some(false),
    });
    tt.on(transcript(id2, "Four five seven."));
    // The medium silence counts from the new utterance's end, not the first one's.
    assert!(answers(&tt.on(quiet(2799))).is_empty());
    assert_eq!(
        answers(&tt.on(quiet(2800))),
        vec![(id2, "Four five seven.".into(), EndReason::MediumSilence)]
    );
}

#[test]
fn speech_after_the_answer_but_before_it_is_heard_retracts_it() {
    let mut tt = machine(true);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    tt.on(TurnInput::Verdict {
        id,
        finished: Some(true),
    });
    assert_eq!(
        answers(&tt.on(transcript(id, "my number is four five"))).len(),
        1
    );
    assert_eq!(tt.answered(), Some(id));
    // The model was wrong: the caller goes on before any answer audio played.
    assert_eq!(
        tt.on(TurnInput::SpeechStart),
        vec![TurnAction::Retract { id }]
    );
    let (_, merged) = transcribed(&tt.on(utterance(audio(0.5, 0.2), 2000)));
    assert_eq!(merged.len(), 24_000);
}

#[test]
fn speech_after_the_answer_was_heard_is_a_new_turn() {
    let mut tt = machine(false);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    assert_eq!(answers(&tt.on(transcript(id, "Hello."))).len(), 1);
    tt.on(TurnInput::ReplyCommitted { id });
    assert_eq!(tt.answered(), None);
    assert!(tt.on(TurnInput::SpeechStart).is_empty());
    let (_, next) = transcribed(&tt.on(utterance(audio(0.5, 0.2), 3000)));
    assert_eq!(next.len(), 8_000, "not merged with the answered turn");
}

#[test]
fn an_empty_transcript_is_ignored_and_a_forced_cut_is_answered() {
    let mut tt = machine(true);
    let (id, _) = transcribed(&tt.on(utterance(audio(0.3, 0.1), 500)));
    assert_eq!(tt.on(transcript(id, "  ")), vec![TurnAction::Ignore { id }]);
    assert_eq!(tt.pending(), None);
    assert_eq!(tt.carried_samples(), 0);

    let acts = tt.on(TurnInput::Utterance {
        audio: audio(1.0, 0.1),
        end: ms(30_000),
        forced: true,
    });
    assert!(!acts
        .iter()
        .any(|a| matches!(a, TurnAction::AskModel { .. })));
    let (id, _) = transcribed(&acts);
    assert_eq!(
        answers(&tt.on(transcript(id, "and so on")))[0].2,
        EndReason::Forced
    );
}

#[test]
fn the_model_sees_only_the_last_eight_seconds() {
    let mut tt = machine(true);
    let acts = tt.on(utterance(audio(12.0, 0.1), 12_000));
    let asked = acts
        .iter()
        .find_map(|a| match a {
            TurnAction::AskModel { audio, .. } => Some(audio.len()),
            _ => None,
        })
        .unwrap();
    assert_eq!(asked, 8 * 16_000);
}

#[test]
fn an_abandoned_turn_frees_the_machine() {
    let mut tt = machine(false);
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    tt.on(TurnInput::Abandoned { id });
    assert_eq!(tt.pending(), None);
    assert!(
        tt.on(TurnInput::SpeechStart).is_empty(),
        "nothing to discard"
    );
}

fn barge(enabled: bool) -> BargeIn {
    BargeIn::new(BargeInConfig {
        enabled,
        min_speech: ms(40),
        protect: ms(250),
    })
}

/// Feeds 20 ms caller frames from `from_ms` to `to_ms`; the first non-`None` action and when.
fn frames(b: &mut BargeIn, from_ms: u64, to_ms: u64, voiced: bool) -> Option<(u64, BargeInAction)> {
    let mut t = from_ms;
    while t < to_ms {
        t += 20;
        let a = b.on_caller_audio(ms(t), ms(20), voiced, true);
        if a != BargeInAction::None {
            return Some((t, a));
        }
    }
    None
}

#[test]
fn barge_in_inside_the_protect_window_is_ignored() {
    let mut b = barge(true);
    b.agent_started(ms(1000));
    // The caller (or the agent's echo) speaks 60 ms into the agent's reply.
    let first = frames(&mut b, 1040, 1200, true);
    assert_eq!(first.map(|f| f.1), Some(BargeInAction::Protected));
    let mut cut = None;
    for t in (1220..=1400).step_by(20) {
        let a = b.on_caller_audio(ms(t), ms(20), true, true);
        if a == BargeInAction::Cut {
            cut = Some(t);
            break;
        }
        assert_ne!(
            a,
            BargeInAction::None,
            "speech goes on, still protected at {t}"
        );
    }
    assert_eq!(
        cut,
        Some(1260),
        "cut at the first frame after the 250 ms window"
    );
}

#[test]
fn barge_in_outside_the_protect_window_cuts_after_the_minimum_speech() {
    let mut b = barge(true);
    b.agent_started(ms(0));
    assert_eq!(frames(&mut b, 500, 1000, false), None);
    // 20 ms of speech is not enough; 40 ms is.
    assert_eq!(
        b.on_caller_audio(ms(1020), ms(20), true, true),
        BargeInAction::None
    );
    assert_eq!(
        b.on_caller_audio(ms(1040), ms(20), true, true),
        BargeInAction::Cut
    );
    // Once cut, the agent is silent: no second cut.
    assert_eq!(frames(&mut b, 1040, 2000, true), None);
    assert!(!b.agent_talking());
}

#[test]
fn a_click_between_silences_never_cuts() {
    let mut b = barge(true);
    b.agent_started(ms(0));
    for t in (500..2000).step_by(40) {
        assert_eq!(
            b.on_caller_audio(ms(t), ms(20), true, true),
            BargeInAction::None
        );
        assert_eq!(
            b.on_caller_audio(ms(t + 20), ms(20), false, true),
            BargeInAction::None
        );
    }
}

#[test]
fn no_cut_when_disabled_or_when_the_agent_is_silent() {
    let mut b = barge(false);
    b.agent_started(ms(0));
    assert_eq!(frames(&mut b, 500, 1500, true), None);
    let mut b = barge(true);
    assert_eq!(frames(&mut b, 500, 1500, true), None, "agent never spoke");
    b.agent_started(ms(1500));
    // The playout ran dry: the agent is no longer talking.
    assert_eq!(
        b.on_caller_audio(ms(2000), ms(20), true, false),
        BargeInAction::None
    );
    assert!(!b.agent_talking());
}

#[test]
fn asr_budget_fits_a_slow_box_and_queued_work() {
    let b = StageBudget::new(ms(3000), true);
    assert_eq!(
        b.budget(3.0, 0),
        ms(3000),
        "the floor before any measurement"
    );
    // Whisper base, beam 5, on a small CPU: 3.9 s for a 3 s utterance (issue 9).
    b.observe(3.0, ms(3900), 0);
    let one = b.budget(3.0, 0);
    assert!(one > ms(3900), "{one:?}");
    assert!(b.budget(3.0, 3) >= one * 3, "queued behind three others");
    assert!(b.budget(10.0, 0) >= one, "longer audio never gets less");
    let fixed = StageBudget::new(ms(3000), false);
    fixed.observe(3.0, ms(3900), 0);
    assert_eq!(fixed.budget(3.0, 3), ms(3000));
    let fast = StageBudget::new(ms(3000), true);
    fast.observe(3.0, ms(100), 0);
    assert_eq!(fast.budget(3.0, 0), ms(3000), "a fast box keeps the floor");
}

#[test]
fn outcomes_are_honest() {
    let none: &[String] = &[];
    let reset = Stop::Lost(LostReason::Reset("connection reset by peer".into()));
    assert_eq!(
        outcome(None, &reset, none),
        (CallOutcome::CallerHangup, None)
    );
    assert_eq!(
        outcome(None, &Stop::CallerHangup, none),
        (CallOutcome::CallerHangup, None)
    );
    let (o, e) = outcome(
        None,
        &Stop::Lost(LostReason::ProtocolError("unknown kind 0x42".into())),
        none,
    );
    assert_eq!(o, CallOutcome::ProtocolError);
    assert!(e.unwrap().contains("unknown kind 0x42"));
    assert_eq!(outcome(None, &Stop::Agent, none).0, CallOutcome::Shutdown);
    let confirmed = Ending::Transfer {
        reason: "asked".into(),
        confirmed: true,
    };
    assert_eq!(
        outcome(Some(&confirmed), &Stop::Agent, none).0,
        CallOutcome::Transferred
    );
    // A hand-over still waiting for Asterisk is not a transfer.
    let waiting = Ending::Transfer {
        reason: "asked".into(),
        confirmed: false,
    };
    assert_eq!(
        outcome(Some(&waiting), &Stop::CallerHangup, none).0,
        CallOutcome::CallerHangup
    );
    // A failed hand-over earlier in the call is in the error.
    let (o, e) = outcome(
        None,
        &Stop::CallerHangup,
        &["hand-over failed: no channel for uuid".to_string()],
    );
    assert_eq!(o, CallOutcome::CallerHangup);
    assert_eq!(e.as_deref(), Some("hand-over failed: no channel for uuid"));
}

#[test]
fn the_example_config_documents_the_conversation_defaults() {
    use enclave::config::Config;
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let cfg = Config::load_with_env(Some(&example), Vec::<(String, String)>::new()).unwrap();
    assert_eq!(cfg.conversation, Config::default().conversation);
    let text = std::fs::read_to_string(&example).unwrap();
    for key in [
        "handover_failed",
        "end_of_turn_model",
        "end_of_turn_model_threshold",
        "end_of_turn_medium_ms",
        "end_of_turn_require_punctuation",
        "adaptive_budgets",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "{key} is documented in agent.example.toml"
        );
    }
    // No model by default; a relative path is inside [models] dir.
    let dir = std::path::Path::new("/srv/models");
    assert_eq!(cfg.conversation.end_of_turn_model_path(dir), None);
    let mut c = cfg.conversation.clone();
    c.end_of_turn_model = "turn/smart-turn-v3.2-cpu.onnx".into();
    assert_eq!(
        c.end_of_turn_model_path(dir).unwrap(),
        dir.join("turn/smart-turn-v3.2-cpu.onnx")
    );
    c.end_of_turn_model_threshold = 1.5;
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("end_of_turn_model_threshold"), "{err}");
    // The medium silence lies between the short and the long one.
    let mut c = cfg.conversation.clone();
    c.end_of_turn_medium_ms = c.end_of_turn_ms + 1;
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("end_of_turn_medium_ms"), "{err}");
    c.end_of_turn_medium_ms = c.end_of_turn_short_ms - 1;
    assert!(c.validate().is_err());
    // 0 = no medium tier: lowering end_of_turn_ms alone stays valid, and medium = long.
    c.end_of_turn_medium_ms = 0;
    c.end_of_turn_ms = 500;
    c.validate().unwrap();
    let t = TurnTakingConfig::from_conversation(&c, true);
    assert_eq!(t.medium_silence, t.long_silence);
    // The call's machine takes all three silences and the punctuation switch from the config.
    let mut c = cfg.conversation.clone();
    c.end_of_turn_short_ms = 200;
    c.end_of_turn_medium_ms = 500;
    c.end_of_turn_ms = 1000;
    c.end_of_turn_require_punctuation = true;
    let t = TurnTakingConfig::from_conversation(&c, true);
    assert_eq!(
        (t.short_pause, t.medium_silence, t.long_silence),
        (ms(200), ms(500), ms(1000))
    );
    assert!(t.require_punctuation && t.model);
}

fn tick(elapsed_s: u64, llm_waiting_ms: Option<u64>, quiet: bool, idle_s: u64) -> TickState {
    TickState {
        elapsed: Duration::from_secs(elapsed_s),
        llm_waiting: llm_waiting_ms.map(ms),
        llm_budget: ms(4000),
        quiet,
        idle: Duration::from_secs(idle_s),
    }
}

#[test]
fn silence_reprompts_then_gives_up_and_speech_resets_the_count() {
    let mut t = Timers::new(TimersConfig {
        max_call: Some(Duration::from_secs(900)),
        reprompt_after: Some(Duration::from_secs(8)),
        hangup_after_reprompts: 2,
    });
    assert_eq!(t.on_tick(tick(10, None, true, 7)), TimerAction::None);
    assert_eq!(
        t.on_tick(tick(10, None, false, 30)),
        TimerAction::None,
        "not quiet"
    );
    assert_eq!(t.on_tick(tick(11, None, true, 8)), TimerAction::Reprompt);
    t.caller_spoke();
    assert_eq!(t.on_tick(tick(30, None, true, 8)), TimerAction::Reprompt);
    assert_eq!(t.on_tick(tick(40, None, true, 8)), TimerAction::Reprompt);
    assert_eq!(t.on_tick(tick(50, None, true, 8)), TimerAction::GiveUp);
}

#[test]
fn the_llm_budget_and_the_call_length_end_things() {
    let mut t = Timers::new(TimersConfig {
        max_call: Some(Duration::from_secs(60)),
        reprompt_after: None,
        hangup_after_reprompts: 0,
    });
    assert_eq!(t.on_tick(tick(5, Some(3999), false, 0)), TimerAction::None);
    assert_eq!(
        t.on_tick(tick(5, Some(4000), false, 0)),
        TimerAction::LlmOverBudget
    );
    assert_eq!(
        t.on_tick(tick(5, None, true, 100)),
        TimerAction::None,
        "no re-prompts"
    );
    assert_eq!(t.on_tick(tick(60, None, true, 0)), TimerAction::MaxLength);
}

#[test]
fn an_early_transcript_waits_for_the_short_pause_and_is_discarded_if_the_caller_goes_on() {
    // Transcribed after 100 ms of silence, answered only after the 200 ms short pause.
    let early =
        || TurnTaking::new(TurnTakingConfig::from_ms(200, 800, true).transcribing_after_ms(100));
    let mut tt = early();
    assert_eq!(tt.on(TurnInput::SpeechStart), vec![]);
    // The utterance is reported at 1000 ms media time, 100 ms after the last speech.
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    assert!(answers(&tt.on(TurnInput::Verdict {
        id,
        finished: Some(true)
    }))
    .is_empty());
    assert!(answers(&tt.on(transcript(id, "What time do you open?"))).is_empty());
    assert!(answers(&tt.on(quiet(1050))).is_empty(), "150 ms of silence");
    assert!(answers(&tt.on(quiet(1090))).is_empty(), "190 ms of silence");
    assert_eq!(
        answers(&tt.on(quiet(1100))),
        vec![(id, "What time do you open?".into(), EndReason::Model)]
    );

    // The caller goes on 50 ms after the early report: nothing was answered, the audio is
    // kept for the next utterance.
    let mut tt = early();
    let (id, _) = transcribed(&tt.on(utterance(audio(1.0, 0.1), 1000)));
    tt.on(TurnInput::Verdict {
        id,
        finished: Some(true),
    });
    tt.on(transcript(id, "My order number is 45."));
    assert!(answers(&tt.on(quiet(1050))).is_empty());
    assert_eq!(
        tt.on(TurnInput::SpeechStart),
        vec![TurnAction::Discard { id }]
    );
    assert_eq!(tt.carried_samples(), 16_000);

    // Without an early pause (0), or one longer than the short pause, the report comes at
    // the short pause itself.
    for ms in [0, 500] {
        let cfg = TurnTakingConfig::from_ms(200, 800, true).transcribing_after_ms(ms);
        assert_eq!(cfg.vad_trailing_ms(), 200);
    }
}
