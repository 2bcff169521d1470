//! When is the caller's turn over? A pure state machine: it takes the VAD's utterance events,
//! media time, the end-of-turn model's verdicts and transcripts, and returns [`TurnAction`]s
//! for the call loop to apply. No clocks, no models, no I/O: tests script it event by event.
//!
//! The rule, at each short pause (the VAD's trailing silence, ~200 ms): transcribe at once
//! (speculatively) and, with an end-of-turn model, ask it; then wait for the silence
//! [`silence_needed`] gives for what they say (see there: the short pause when the model says
//! *finished* and the transcript agrees, a medium silence when only one of them does, the
//! long silence otherwise; without a model, the transcript's punctuation decides);
//! - the caller speaks again before the answer is decided → discard the speculative
//!   transcript and merge the audio into the next utterance;
//! - the caller speaks again after the answer was decided but before any of it was heard →
//!   retract the answer and merge as well: the caller never hears an answer to half a
//!   sentence.

use std::time::Duration;

/// Number of an utterance handed out by [`TurnTaking`] (merged utterances get a new one).
pub type UtteranceId = u64;

/// Sample rate of the audio [`TurnTaking`] carries (the pipeline's 16 kHz).
const RATE: usize = 16_000;

/// Timing of the turn-taking rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnTakingConfig {
    /// The VAD's trailing silence that ends an utterance: it is transcribed (and the model
    /// asked) then, speculatively. At most `short_pause`.
    pub vad_pause: Duration,
    /// The silence after the last speech that ends the turn when the evidence says finished
    /// (the short pause).
    pub short_pause: Duration,
    /// Total silence after speech that ends the turn when only one of the end-of-turn model
    /// and the transcript's punctuation says the caller finished (see [`silence_needed`]).
    pub medium_silence: Duration,
    /// Total silence after speech that ends the turn whatever the transcript or the model say.
    pub long_silence: Duration,
    /// The model's *finished* ends the turn at the short pause only when the transcript also
    /// ends a sentence (else it waits for the medium silence).
    pub require_punctuation: bool,
    /// An end-of-turn model is available (ask it at each short pause).
    pub model: bool,
    /// How much audio (the utterance's tail) the model is given.
    pub model_window: Duration,
}

impl TurnTakingConfig {
    /// Two silences only (no medium tier: it equals the long one; the model's *finished*
    /// needs no punctuation); `model` says whether an end-of-turn model is loaded.
    pub fn from_ms(short_ms: u32, long_ms: u32, model: bool) -> TurnTakingConfig {
        TurnTakingConfig::from_ms3(short_ms, long_ms, long_ms, model)
    }

    /// Short, medium and long silences (ms; each at least the one before it).
    pub fn from_ms3(short_ms: u32, medium_ms: u32, long_ms: u32, model: bool) -> TurnTakingConfig {
        let medium_ms = medium_ms.max(short_ms);
        TurnTakingConfig {
            vad_pause: Duration::from_millis(short_ms as u64),
            short_pause: Duration::from_millis(short_ms as u64),
            medium_silence: Duration::from_millis(medium_ms as u64),
            long_silence: Duration::from_millis(long_ms.max(medium_ms) as u64),
            require_punctuation: false,
            model,
            model_window: Duration::from_secs_f32(crate::vad::end_of_turn::END_OF_TURN_WINDOW_SECS),
        }
    }

    /// The same timing, with utterances reported (and transcribed) after `ms` of silence;
    /// 0 or anything at or above the short pause: at the short pause.
    pub fn transcribing_after_ms(mut self, ms: u32) -> TurnTakingConfig {
        let early = Duration::from_millis(ms as u64);
        self.vad_pause = if ms == 0 {
            self.short_pause
        } else {
            early.min(self.short_pause)
        };
        self
    }

    /// The VAD's trailing silence (ms) this timing needs (see [`TurnTakingConfig::vad_pause`]).
    pub fn vad_trailing_ms(&self) -> u32 {
        self.vad_pause.as_millis() as u32
    }

    /// From `[conversation]`; `model` says whether an end-of-turn model is loaded.
    pub fn from_conversation(
        cfg: &crate::config::ConversationConfig,
        model: bool,
    ) -> TurnTakingConfig {
        TurnTakingConfig {
            require_punctuation: cfg.end_of_turn_require_punctuation,
            ..TurnTakingConfig::from_ms3(
                cfg.end_of_turn_short_ms,
                match cfg.end_of_turn_medium_ms {
                    0 => cfg.end_of_turn_ms,
                    medium => medium,
                },
                cfg.end_of_turn_ms,
                model,
            )
        }
        .transcribing_after_ms(cfg.end_of_turn_transcribe_ms)
    }
}

/// What happened, as the call loop sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnInput {
    /// The VAD confirmed caller speech.
    SpeechStart,
    /// The VAD ended an utterance at a short pause (or cut it at its maximum length: `forced`).
    Utterance {
        /// Its 16 kHz audio.
        audio: Vec<f32>,
        /// Media time just after its last sample.
        end: Duration,
        /// Cut at the maximum length rather than ended by silence.
        forced: bool,
    },
    /// Caller audio has been analysed up to `now`; `in_speech` while the VAD has an utterance open.
    MediaTime {
        /// Media time.
        now: Duration,
        /// An utterance is open.
        in_speech: bool,
    },
    /// The end-of-turn model's answer for an utterance: `Some(finished)`, or `None` when it failed.
    Verdict {
        /// The utterance asked about.
        id: UtteranceId,
        /// Finished (true), not finished (false), or no answer (None).
        finished: Option<bool>,
    },
    /// The utterance's transcript (trimmed; empty: nothing was said).
    Transcript {
        /// The utterance.
        id: UtteranceId,
        /// Its text.
        text: String,
    },
    /// The answered turn is safe from retraction: its first audio was heard, or it ended
    /// (finished, failed, or handed over) without any.
    ReplyCommitted {
        /// The utterance answered.
        id: UtteranceId,
    },
    /// The utterance's turn failed before an answer (e.g. ASR over budget): forget it.
    Abandoned {
        /// The utterance.
        id: UtteranceId,
    },
}

/// Why the caller's turn was judged over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The end-of-turn model said finished.
    Model,
    /// The transcript ends a sentence (no model, or it failed).
    Punctuation,
    /// The medium silence passed and one of the model and the punctuation said finished.
    MediumSilence,
    /// The long silence passed.
    LongSilence,
    /// The utterance was cut at its maximum length.
    Forced,
}

/// What the call loop is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnAction {
    /// Start transcribing this audio (speculatively: the answer waits for [`TurnAction::Answer`]).
    Transcribe {
        /// The utterance (merged with what came before it, if the caller went on).
        id: UtteranceId,
        /// Its audio.
        audio: Vec<f32>,
        /// Media time of its end.
        end: Duration,
    },
    /// Ask the end-of-turn model about the tail of the utterance.
    AskModel {
        /// The utterance.
        id: UtteranceId,
        /// Its last [`TurnTakingConfig::model_window`] of audio.
        audio: Vec<f32>,
    },
    /// The caller went on before the answer was decided: drop this turn (its audio is merged).
    Discard {
        /// The utterance dropped.
        id: UtteranceId,
    },
    /// The caller went on after the answer was decided but before any of it was heard:
    /// cancel the answer (its audio is merged into the next utterance).
    Retract {
        /// The utterance whose answer is cancelled.
        id: UtteranceId,
    },
    /// Nothing was said: drop the turn quietly.
    Ignore {
        /// The utterance.
        id: UtteranceId,
    },
    /// The caller's turn is over: answer this transcript.
    Answer {
        /// The utterance.
        id: UtteranceId,
        /// Its transcript.
        text: String,
        /// Why now.
        reason: EndReason,
    },
}

/// The end-of-turn model's view of a pending utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Asked, no answer yet.
    Asked,
    /// Finished.
    Finished,
    /// Not finished.
    NotFinished,
    /// No model, or it failed.
    Unavailable,
}

/// An utterance whose transcript or verdict is awaited, not yet answered.
#[derive(Debug)]
struct Pending {
    id: UtteranceId,
    audio: Vec<f32>,
    end: Duration,
    forced: bool,
    transcript: Option<String>,
    verdict: Verdict,
    /// Silence after the last speech so far (the VAD's pause at first; it grows only while
    /// no utterance is open).
    silence: Duration,
}

/// Where the caller's turn stands.
#[derive(Debug)]
enum State {
    /// Nothing pending.
    Listening,
    /// Transcribing / asking the model; not answered.
    Pending(Pending),
    /// Answered; retractable until its first audio is heard.
    Answered { id: UtteranceId, audio: Vec<f32> },
}

/// The turn-taking state machine of one call.
#[derive(Debug)]
pub struct TurnTaking {
    cfg: TurnTakingConfig,
    state: State,
    /// Audio of a discarded or retracted utterance, merged into the next one.
    carry: Vec<f32>,
    next_id: UtteranceId,
}

impl TurnTaking {
    /// A machine in the listening state.
    pub fn new(cfg: TurnTakingConfig) -> TurnTaking {
        TurnTaking {
            cfg,
            state: State::Listening,
            carry: Vec::new(),
            next_id: 1,
        }
    }

    /// The timing it runs with.
    pub fn config(&self) -> &TurnTakingConfig {
        &self.cfg
    }

    /// The utterance awaiting an answer decision, if any.
    pub fn pending(&self) -> Option<UtteranceId> {
        match &self.state {
            State::Pending(p) => Some(p.id),
            _ => None,
        }
    }

    /// The utterance answered and still retractable, if any.
    pub fn answered(&self) -> Option<UtteranceId> {
        match &self.state {
            State::Answered { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// Samples waiting to be merged into the next utterance.
    pub fn carried_samples(&self) -> usize {
        self.carry.len()
    }

    /// Applies one input; returns what to do, in order.
    pub fn on(&mut self, input: TurnInput) -> Vec<TurnAction> {
        let mut actions = Vec::new();
        match input {
            TurnInput::SpeechStart => self.caller_went_on(&mut actions),
            TurnInput::Utterance { audio, end, forced } => {
                // An utterance without a SpeechStart first (after a forced cut) still means
                // the caller went on.
                self.caller_went_on(&mut actions);
                let mut merged = std::mem::take(&mut self.carry);
                merged.extend_from_slice(&audio);
                let id = self.next_id;
                self.next_id += 1;
                actions.push(TurnAction::Transcribe {
                    id,
                    audio: merged.clone(),
                    end,
                });
                let verdict = if self.cfg.model && !forced {
                    let window = (self.cfg.model_window.as_secs_f64() * RATE as f64) as usize;
                    let tail = merged[merged.len().saturating_sub(window)..].to_vec();
                    actions.push(TurnAction::AskModel { id, audio: tail });
                    Verdict::Asked
                } else {
                    Verdict::Unavailable
                };
                self.state = State::Pending(Pending {
                    id,
                    audio: merged,
                    end,
                    forced,
                    transcript: None,
                    verdict,
                    silence: self.cfg.vad_pause,
                });
            }
            TurnInput::MediaTime { now, in_speech } => {
                let reported = self.cfg.vad_pause;
                if let State::Pending(p) = &mut self.state {
                    if !in_speech {
                        p.silence = p.silence.max(reported + now.saturating_sub(p.end));
                    }
                }
                self.decide(&mut actions);
            }
            TurnInput::Verdict { id, finished } => {
                if let State::Pending(p) = &mut self.state {
                    if p.id == id && p.verdict == Verdict::Asked {
                        p.verdict = match finished {
                            Some(true) => Verdict::Finished,
                            Some(false) => Verdict::NotFinished,
                            None => Verdict::Unavailable,
                        };
                    }
                }
                self.decide(&mut actions);
            }
            TurnInput::Transcript { id, text } => {
                if let State::Pending(p) = &mut self.state {
                    if p.id == id {
                        let text = text.trim().to_string();
                        if text.is_empty() {
                            actions.push(TurnAction::Ignore { id });
                            self.state = State::Listening;
                        } else {
                            p.transcript = Some(text);
                        }
                    }
                }
                self.decide(&mut actions);
            }
            TurnInput::ReplyCommitted { id } | TurnInput::Abandoned { id } => match &self.state {
                State::Answered { id: a, .. } if *a == id => self.state = State::Listening,
                State::Pending(p) if p.id == id => self.state = State::Listening,
                _ => {}
            },
        }
        actions
    }

    /// The caller speaks again: whatever was not yet heard is dropped and merged.
    fn caller_went_on(&mut self, actions: &mut Vec<TurnAction>) {
        match std::mem::replace(&mut self.state, State::Listening) {
            State::Listening => {}
            State::Pending(p) => {
                actions.push(TurnAction::Discard { id: p.id });
                self.carry = p.audio;
            }
            State::Answered { id, audio } => {
                actions.push(TurnAction::Retract { id });
                self.carry = audio;
            }
        }
    }

    /// Answers the pending utterance once the rule allows.
    fn decide(&mut self, actions: &mut Vec<TurnAction>) {
        let State::Pending(p) = &self.state else {
            return;
        };
        let Some(text) = &p.transcript else {
            return;
        };
        let reason = if p.forced {
            Some(EndReason::Forced)
        } else {
            let model = match p.verdict {
                Verdict::Finished => Some(true),
                // While the model is still thinking, wait as for "not finished": a slow
                // model never holds the turn past the silence that rule allows.
                Verdict::NotFinished | Verdict::Asked => Some(false),
                Verdict::Unavailable => None,
            };
            let (needed, reason) = silence_needed(&self.cfg, model, text);
            (p.silence >= needed).then_some(reason)
        };
        let Some(reason) = reason else {
            return;
        };
        let State::Pending(p) = std::mem::replace(&mut self.state, State::Listening) else {
            unreachable!("checked above");
        };
        actions.push(TurnAction::Answer {
            id: p.id,
            text: p.transcript.unwrap_or_default(),
            reason,
        });
        self.state = State::Answered {
            id: p.id,
            audio: p.audio,
        };
    }
}

/// How much silence after the caller's last speech ends the turn, and why, given what the
/// end-of-turn model said (`Some(finished)`; `None`: no model, or it failed) and the
/// speculative transcript of the turn so far. Evidence is weighed, most decisive first:
/// - a transcript that stops on a word no sentence ends with ("my order number is",
///   "I'd like to … um", see [`dangling`]) is a thinking pause whatever the prosody: the
///   long silence;
/// - no model: a transcript ending a sentence ends the turn at the short pause, else the
///   long silence;
/// - the model says *finished* (and, with `require_punctuation`, the transcript ends a
///   sentence): the short pause, i.e. at once;
/// - only one of the model and the punctuation says finished: the medium silence;
/// - neither: the long silence.
pub fn silence_needed(
    cfg: &TurnTakingConfig,
    model: Option<bool>,
    text: &str,
) -> (Duration, EndReason) {
    let long = (cfg.long_silence, EndReason::LongSilence);
    if dangling(text) {
        return long;
    }
    let punctuation = ends_sentence(text);
    match model {
        None if punctuation => (cfg.short_pause, EndReason::Punctuation),
        None => long,
        Some(true) if punctuation || !cfg.require_punctuation => {
            (cfg.short_pause, EndReason::Model)
        }
        Some(finished) if (finished || punctuation) && cfg.medium_silence < cfg.long_silence => {
            (cfg.medium_silence, EndReason::MediumSilence)
        }
        Some(_) => long,
    }
}

/// Words an English or Russian sentence does not end with: articles, prepositions,
/// conjunctions, copulas, possessives, fillers. A turn whose transcript stops on one is not
/// over, whatever the end-of-turn model or Whisper's punctuation say.
const DANGLING: &[&str] = &[
    "a",
    "an",
    "the",
    "my",
    "your",
    "our",
    "their",
    "his",
    "her",
    "its",
    "to",
    "of",
    "for",
    "from",
    "with",
    "at",
    "in",
    "on",
    "by",
    "about",
    "into",
    "and",
    "or",
    "but",
    "because",
    "if",
    "is",
    "are",
    "was",
    "were",
    "be",
    "am",
    "i'm",
    "i'd",
    "i",
    "um",
    "uh",
    "erm",
    "er",
    "hmm",
    "than",
    "и",
    "или",
    "но",
    "а",
    "в",
    "на",
    "с",
    "к",
    "по",
    "для",
    "от",
    "до",
    "из",
    "у",
    "о",
    "мой",
    "моя",
    "моё",
    "мои",
    "эээ",
    "ээ",
    "ну",
    "чтобы",
];

/// True when the transcript's last word cannot end a sentence (see [`DANGLING`]).
pub fn dangling(text: &str) -> bool {
    let last = text
        .split_whitespace()
        .next_back()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
        .to_lowercase();
    !last.is_empty() && DANGLING.contains(&last.as_str())
}

/// True when the transcript ends a sentence (the fallback rule without a model).
pub fn ends_sentence(text: &str) -> bool {
    text.trim_end().ends_with(['.', '?', '!', '…'])
}
