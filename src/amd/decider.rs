//! The AMD state machine: speech/silence per frame, beeps, transcripts in; a verdict and, for
//! a machine, the moment to speak the message out. Pure (media time only, no clock, no audio),
//! so every rule is tested with scripted events.
//!
//! Rules, in the order they can fire:
//! - a beep (a steady single tone) → machine, at once;
//! - a voicemail or IVR phrase in a transcript → machine;
//! - talking for more than `max_greeting` (pauses shorter than `after_greeting_silence` do
//!   not end the greeting) → machine;
//! - a greeting no longer than `max_greeting` followed by `after_greeting_silence` of
//!   silence → human (waiting up to `transcript_wait` more for a transcript being made);
//! - nobody spoke for `max_initial_silence`, or no verdict by `max_decision` → undecided.
//!
//! A human (or undecided) verdict stays open for `revise_window`: a beep or a machine phrase
//! heard then revises it to a machine ([`AmdOutput::Revised`]) — a short voicemail greeting
//! ("Leave a message." … beep) looks like a person until its beep.
//!
//! After a machine verdict it keeps listening for the end of the greeting: a beep that ended
//! (`after_beep` of quiet after it) or `message_after_silence` of silence cues the message;
//! `max_message_wait` without either gives up.

use super::phrases::{self, PhraseKind};
use super::tone::{Beep, BeepParams};
use super::{Decision, Reason, Verdict};
use std::time::Duration;

/// Detection settings (from `[amd]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AmdParams {
    /// A greeting longer than this is a machine.
    pub max_greeting: Duration,
    /// Silence after a short greeting that makes it a human.
    pub after_greeting_silence: Duration,
    /// Nobody spoke for this long: undecided.
    pub max_initial_silence: Duration,
    /// No verdict by then: undecided.
    pub max_decision: Duration,
    /// Extra wait for a pending transcript before a human verdict.
    pub transcript_wait: Duration,
    /// Voiced audio needed before it counts as the greeting's start.
    pub min_speech: Duration,
    /// Gap inside a run of voiced frames that still counts as the same run.
    pub voiced_gap: Duration,
    /// Voiced frames this far (dB) under the loudest voiced frame so far are background
    /// (a TV, people in the room), not the greeting — unless they follow louder speech
    /// within `background_hold` (the soft end of a word, a fricative).
    pub background_db: f32,
    /// See `background_db`.
    pub background_hold: Duration,
    /// The beep.
    pub beep: BeepParams,
    /// Without a beep, silence after the greeting that cues the message.
    pub message_after_silence: Duration,
    /// Quiet after a beep before the message starts.
    pub after_beep: Duration,
    /// Longest wait for the message cue after a machine verdict.
    pub max_message_wait: Duration,
    /// How long a human/undecided verdict can still be revised by a beep or a phrase.
    pub revise_window: Duration,
}

impl Default for AmdParams {
    fn default() -> Self {
        AmdParams::from_config(&crate::config::AmdConfig::default())
    }
}

impl AmdParams {
    /// The parameters `[amd]` sets.
    pub fn from_config(c: &crate::config::AmdConfig) -> AmdParams {
        let ms = |v: u32| Duration::from_millis(v as u64);
        AmdParams {
            max_greeting: ms(c.max_greeting_ms),
            after_greeting_silence: ms(c.after_greeting_silence_ms),
            max_initial_silence: ms(c.max_initial_silence_ms),
            max_decision: ms(c.max_decision_ms),
            transcript_wait: ms(c.transcript_wait_ms),
            min_speech: ms(c.min_speech_ms),
            voiced_gap: Duration::from_millis(200),
            background_db: 15.0,
            background_hold: Duration::from_millis(300),
            beep: BeepParams {
                min_hz: c.beep_min_hz as f32,
                max_hz: c.beep_max_hz as f32,
                min: ms(c.beep_min_ms),
                max: ms(c.beep_max_ms),
                purity: c.beep_purity,
                min_dbfs: c.beep_min_dbfs,
            },
            message_after_silence: ms(c.message_after_silence_ms),
            after_beep: Duration::from_millis(150),
            max_message_wait: ms(c.max_message_wait_ms),
            revise_window: ms(c.revise_window_ms),
        }
    }
}

/// What the decider is told.
#[derive(Debug, Clone, PartialEq)]
pub enum AmdInput {
    /// A frame of audio ended at media time `end`; `voiced` from the VAD, `tone` while the
    /// tone detector follows a steady tone (its frames are not speech).
    Frame {
        /// Media time of the frame's end.
        end: Duration,
        /// The frame's length.
        len: Duration,
        /// The VAD heard speech in it.
        voiced: bool,
        /// A steady tone is under way.
        tone: bool,
        /// The frame's level (dBFS).
        dbfs: f32,
    },
    /// A beep ended.
    Beep(Beep),
    /// An utterance is being transcribed (its transcript will follow).
    TranscriptPending,
    /// A transcript (empty when nothing was heard or the transcription failed).
    Transcript(String),
}

/// What the greeting's end was cued by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cue {
    /// The beep ended.
    Beep {
        /// Its frequency (Hz).
        hz: f32,
    },
    /// Silence after the greeting (no beep).
    Silence,
}

/// What the decider says.
#[derive(Debug, Clone, PartialEq)]
pub enum AmdOutput {
    /// The verdict (said once).
    Decided(Decision),
    /// A human/undecided verdict was wrong: a machine after all (a late beep or phrase).
    Revised(Decision),
    /// A machine's greeting is over: speak the message now (said once).
    SpeakNow {
        /// Media time of the cue.
        at: Duration,
        /// What cued it.
        cue: Cue,
    },
    /// A machine's greeting did not end within `max_message_wait` (said once).
    GaveUp {
        /// Media time.
        at: Duration,
    },
}

/// The state machine (one per screened call).
#[derive(Debug, Clone)]
pub struct Decider {
    p: AmdParams,
    now: Duration,
    /// The open run of voiced frames: start, voiced time in it, end of its last voiced frame.
    run: Option<(Duration, Duration, Duration)>,
    /// Start of the greeting (the first run that reached `min_speech`).
    greeting_start: Option<Duration>,
    /// End of the last voiced frame of a confirmed run.
    last_voiced: Option<Duration>,
    /// Level of the loudest voiced frame so far (dBFS).
    peak_db: f32,
    /// End of the last voiced frame within `background_db` of the peak.
    last_foreground: Option<Duration>,
    pending: u32,
    decision: Option<Decision>,
    beep: Option<Beep>,
    first_beep_at: Option<Duration>,
    transcript: String,
    done: bool,
}

impl Decider {
    /// A decider at the answer (media time zero).
    pub fn new(p: AmdParams) -> Decider {
        Decider {
            p,
            now: Duration::ZERO,
            run: None,
            greeting_start: None,
            last_voiced: None,
            peak_db: f32::NEG_INFINITY,
            last_foreground: None,
            pending: 0,
            decision: None,
            beep: None,
            first_beep_at: None,
            transcript: String::new(),
            done: false,
        }
    }

    /// The verdict, once made.
    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// The first beep's start, if one was heard.
    pub fn beep_at(&self) -> Option<Duration> {
        self.first_beep_at
    }

    /// The transcripts received, joined.
    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    /// Transcripts asked for and not yet received.
    pub fn pending_transcripts(&self) -> u32 {
        self.pending
    }

    /// Media time of the last input.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// True once the decider has nothing more to say (a human/undecided verdict, or a
    /// machine's cue or give-up).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn decide(&mut self, verdict: Verdict, reason: Reason, out: &mut Vec<AmdOutput>) {
        let machine = matches!(verdict, Verdict::Machine { .. });
        let d = Decision {
            verdict,
            reason,
            at: self.now,
        };
        match &self.decision {
            None => {
                self.decision = Some(d.clone());
                out.push(AmdOutput::Decided(d));
            }
            // Machine evidence while a human verdict is still open: revise it.
            Some(prev) if machine && !prev.is_machine() && !self.done => {
                self.decision = Some(d.clone());
                out.push(AmdOutput::Revised(d));
            }
            Some(_) => {}
        }
    }

    /// Applies one input; returns what it caused, in order.
    pub fn on(&mut self, input: AmdInput) -> Vec<AmdOutput> {
        let mut out = Vec::new();
        if self.done {
            if let AmdInput::Transcript(t) = input {
                self.add_transcript(&t);
            }
            return out;
        }
        match input {
            AmdInput::Frame {
                end,
                len,
                voiced,
                tone,
                dbfs,
            } => {
                self.now = end;
                let voiced = voiced && !tone;
                if voiced {
                    self.peak_db = self.peak_db.max(dbfs);
                }
                let loud = dbfs >= self.peak_db - self.p.background_db;
                if voiced && loud {
                    self.last_foreground = Some(end);
                }
                let held = self
                    .last_foreground
                    .is_some_and(|at| end.saturating_sub(at) <= self.p.background_hold);
                self.frame(end, len, voiced && (loud || held));
                self.rules(&mut out);
            }
            AmdInput::Beep(beep) => {
                self.first_beep_at.get_or_insert(beep.start);
                let hz = beep.hz;
                let at = beep.start;
                self.beep = Some(beep);
                self.decide(
                    Verdict::Machine { beep_at: Some(at) },
                    Reason::Beep { hz },
                    &mut out,
                );
            }
            AmdInput::TranscriptPending => self.pending += 1,
            AmdInput::Transcript(text) => {
                self.pending = self.pending.saturating_sub(1);
                self.add_transcript(&text);
                if let Some((kind, phrase)) = phrases::find(&text) {
                    let reason = match kind {
                        PhraseKind::Voicemail => Reason::VoicemailPhrase(phrase.to_string()),
                        PhraseKind::Ivr => Reason::IvrPhrase(phrase.to_string()),
                    };
                    let beep_at = self.first_beep_at;
                    self.decide(Verdict::Machine { beep_at }, reason, &mut out);
                }
                self.rules(&mut out);
            }
        }
        out
    }

    fn add_transcript(&mut self, text: &str) {
        let text = text.trim();
        if !text.is_empty() {
            if !self.transcript.is_empty() {
                self.transcript.push(' ');
            }
            self.transcript.push_str(text);
        }
    }

    /// Tracks runs of voiced frames; a run counts once it holds `min_speech` of voice.
    fn frame(&mut self, end: Duration, len: Duration, voiced: bool) {
        let start = end.saturating_sub(len);
        if let Some((_, _, last)) = self.run {
            if start.saturating_sub(last) > self.p.voiced_gap {
                self.run = None;
            }
        }
        if !voiced {
            return;
        }
        let run = self.run.get_or_insert((start, Duration::ZERO, end));
        run.1 += len;
        run.2 = end;
        let (run_start, voiced_len, _) = *run;
        if voiced_len >= self.p.min_speech.max(len) {
            self.greeting_start.get_or_insert(run_start);
            self.last_voiced = Some(end);
        }
    }

    fn rules(&mut self, out: &mut Vec<AmdOutput>) {
        let now = self.now;
        if self.decision.is_none() {
            match (self.greeting_start, self.last_voiced) {
                (Some(start), Some(last)) => {
                    let talking = self.run.is_some_and(|(_, _, end)| end == now);
                    let span = last.saturating_sub(start);
                    let silence = now.saturating_sub(last);
                    if talking && span > self.p.max_greeting {
                        self.decide(
                            Verdict::Machine { beep_at: None },
                            Reason::LongGreeting {
                                speech_ms: span.as_millis() as u32,
                            },
                            out,
                        );
                    } else if silence >= self.p.after_greeting_silence
                        && (self.pending == 0
                            || silence >= self.p.after_greeting_silence + self.p.transcript_wait)
                    {
                        self.decide(
                            Verdict::Human,
                            Reason::ShortGreeting {
                                speech_ms: span.as_millis() as u32,
                            },
                            out,
                        );
                    }
                }
                _ if now >= self.p.max_initial_silence && self.run.is_none() => {
                    self.decide(Verdict::Undecided, Reason::NoSpeech, out);
                }
                _ => {}
            }
            if self.decision.is_none() && now >= self.p.max_decision {
                self.decide(Verdict::Undecided, Reason::Timeout, out);
            }
            if self.decision.is_none() {
                return;
            }
        }
        if self.done {
            return;
        }
        if let Some(d) = self.decision.as_ref().filter(|d| !d.is_machine()) {
            if now.saturating_sub(d.at) >= self.p.revise_window {
                self.done = true;
            }
            return;
        }
        // A machine: wait for the end of its greeting.
        let decided_at = self.decision.as_ref().map_or(now, |d| d.at);
        let quiet_since = self.last_voiced.unwrap_or(Duration::ZERO);
        if let Some(beep) = &self.beep {
            if quiet_since <= beep.end + self.p.voiced_gap && now >= beep.end + self.p.after_beep {
                self.done = true;
                out.push(AmdOutput::SpeakNow {
                    at: now,
                    cue: Cue::Beep { hz: beep.hz },
                });
                return;
            }
        }
        let talking = self.run.is_some_and(|(_, _, end)| end == now);
        let heard_greeting = self.greeting_start.is_some() || self.beep.is_some();
        if heard_greeting
            && !talking
            && now.saturating_sub(quiet_since) >= self.p.message_after_silence
            && self
                .beep
                .as_ref()
                .is_none_or(|b| now >= b.end + self.p.after_beep)
        {
            self.done = true;
            out.push(AmdOutput::SpeakNow {
                at: now,
                cue: Cue::Silence,
            });
            return;
        }
        if now.saturating_sub(decided_at) >= self.p.max_message_wait {
            self.done = true;
            out.push(AmdOutput::GaveUp { at: now });
        }
    }
}

#[cfg(test)]
#[path = "decider_tests.rs"]
mod tests;
