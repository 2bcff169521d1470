//! One call's loop: it only waits for events and applies what the pure deciders say.
//!
//! Caller audio goes through the VAD into [`TurnTaking`] (when is the caller's turn over?) and
//! [`BargeIn`] (may the caller cut the agent now?); their [`TurnAction`]s and
//! [`BargeInAction`]s are applied here: start a turn task, discard or retract it, answer,
//! cut the playout. Everything is driven by events: caller audio (media time), the turn
//! task's steps, end-of-turn verdicts, hand-over results and what the playout reports went on
//! the wire. The only timer is a coarse tick for wall-clock limits (silence re-prompt, maximum
//! call length, the LLM budget), never for synchronisation.

mod closing;
mod echo;
mod playback;
mod turns;

// Answering-machine screening (outbound calls).
pub(crate) mod amd;

use super::barge_in::{BargeIn, BargeInAction, BargeInConfig};
use super::ending::{outcome, Ending, Stop};
use super::phrases::Phrase;
use super::played::played_text;
use super::reply::{CallerTurn, Reply};
use super::timers::{TickState, TimerAction, Timers, TimersConfig};
use super::traits::Converse;
use super::turn::{self, TurnMsg, TurnTask};
use super::turn_taking::{TurnAction, TurnInput, TurnTaking, TurnTakingConfig, UtteranceId};
use super::Shared;
use crate::dialog::session::TurnSummary;
use crate::dialog::tools::CallAction;
use crate::metrics::{ActiveCall, Stage};
use crate::pipeline::{
    AudioChunk, CallEvent, CallInfo, CallOutcome, ItemState, PlayId, Playout, PlayoutProgress,
};
use crate::records::{
    CallEnd, CallOutcome as RecordOutcome, CallStart, Role, ToolCallRecord, TurnLatencies,
    TurnRecord,
};
use crate::vad::{Endpointer, VadEvent};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

/// An end-of-turn model's answer: the utterance, and finished / not / no answer.
type Verdict = (UtteranceId, Option<bool>);

/// Running per-call state.
struct Call {
    shared: Arc<Shared>,
    info: CallInfo,
    out: Playout,
    endpointer: Endpointer,
    /// Hands the agent's written frames to the endpointer's echo gate.
    echo: echo::EchoFeed,
    turn_taking: TurnTaking,
    barge: BargeIn,
    conversation: Option<Box<dyn Converse>>,
    turn: Option<TurnTask>,
    /// An utterance to transcribe as soon as the conversation is back from the last turn.
    queued: Option<(UtteranceId, Vec<f32>)>,
    reply: Option<Reply>,
    /// The caller's answered turn, not yet written (it can still be retracted).
    caller_turn: Option<CallerTurn>,
    seq: u32,
    /// Wall clock of the last moment the agent or the caller was active, for re-prompts.
    idle_since: Instant,
    timers: Timers,
    ending: Option<Ending>,
    /// What went wrong during the call, for `CallEnd.error`.
    errors: Vec<String>,
    /// The apology was said since the caller's last answered turn (it is never said twice).
    apologised: bool,
    language: String,
    metrics: Option<ActiveCall>,
    /// This call's own script (an outbound campaign's), if any.
    script: Option<super::traits::CallScript>,
    /// The greeting this call says (the script's, else the configured one), kept for a
    /// screened call that greets only once a person answered.
    greeting: Option<Phrase>,
    recording: Option<super::recording::Recording>,
    verdict_tx: mpsc::UnboundedSender<Verdict>,
    handover_tx: mpsc::UnboundedSender<Result<(), String>>,
    /// Answering-machine screening (outbound calls only; see `amd`).
    amd: Option<amd::Screening>,
}

/// Runs one call to its end.
pub(super) async fn run(
    shared: Arc<Shared>,
    info: CallInfo,
    events: mpsc::Receiver<CallEvent>,
    out: Playout,
) -> CallOutcome {
    let span = tracing::info_span!("call", uuid = %info.uuid);
    async move {
        let (verdict_tx, verdicts) = mpsc::unbounded_channel();
        let (handover_tx, handovers) = mpsc::unbounded_channel();
        let mut call = match Call::new(
            Arc::clone(&shared),
            info.clone(),
            out.clone(),
            verdict_tx,
            handover_tx,
        ) {
            Ok(call) => call,
            Err(e) => {
                warn!(error = %e, "cannot start the conversation; playing the apology");
                let _ = out.play(
                    shared.phrases.apology.audio.to_vec(),
                    shared.phrases.rate_hz,
                );
                out.hangup_after_drain();
                return CallOutcome::Failed(e);
            }
        };
        call.run(events, verdicts, handovers).await
    }
    .instrument(span)
    .await
}

/// Synthesises a per-call phrase (an outbound greeting); `None` (the configured greeting
/// plays instead) when synthesis fails or comes at another rate than the fixed phrases.
async fn synthesize_phrase(shared: Arc<Shared>, text: String) -> Option<Phrase> {
    let tts = &shared.engines.synthesize;
    if tts.sample_rate() != shared.phrases.rate_hz {
        return None;
    }
    match tts
        .synthesize(text.clone(), crate::cancel::CancelHandle::new())
        .await
    {
        Ok(audio) if !audio.is_empty() => Some(Phrase {
            text,
            audio: Arc::new(audio),
        }),
        Ok(_) => None,
        Err(e) => {
            warn!(error = %e, "the call's own greeting could not be synthesised");
            None
        }
    }
}

impl Call {
    fn new(
        shared: Arc<Shared>,
        info: CallInfo,
        out: Playout,
        verdict_tx: mpsc::UnboundedSender<Verdict>,
        handover_tx: mpsc::UnboundedSender<Result<(), String>>,
    ) -> Result<Call, String> {
        let cfg = &shared.config.conversation;
        let turn_cfg =
            TurnTakingConfig::from_conversation(cfg, shared.engines.end_of_turn.is_some());
        let mut vad = shared.config.vad.clone();
        // The VAD ends an utterance at the short pause (or sooner, to transcribe early);
        // turn-taking decides whether that is the end of the caller's turn.
        vad.trailing_silence_ms = turn_cfg.vad_trailing_ms();
        // Silero runs on the one shared VAD worker (off the async runtime, batched across
        // calls) when it is loaded; otherwise inline on this call's own session stream.
        let mut endpointer = match &shared.engines.vad_worker {
            Some(worker) => Endpointer::with_worker(&vad, worker),
            None => {
                Endpointer::new(&vad, shared.engines.silero.as_ref()).map_err(|e| e.to_string())?
            }
        };
        if cfg.echo_gate {
            endpointer.enable_echo_gate(crate::vad::EchoGateConfig {
                max_delay: Duration::from_millis(cfg.echo_gate_max_delay_ms as u64),
                erl_db: cfg.echo_gate_erl_db,
            });
        }
        let echo = echo::EchoFeed::new(info.started);
        let turn_taking = TurnTaking::new(turn_cfg);
        let barge = BargeIn::new(BargeInConfig::from_conversation(cfg));
        let timers = Timers::new(TimersConfig::from_conversation(cfg));
        let script = shared.scripts.as_ref().and_then(|s| s.script(&info.uuid));
        let conversation = match script.as_ref().and_then(|s| s.instructions.as_deref()) {
            Some(extra) => shared.engines.converse.start_with_instructions(extra),
            None => shared.engines.converse.start(),
        }
        .map_err(|e| e.to_string())?;
        let language = cfg.language.clone();
        let metrics = Some(shared.metrics.call_started());
        if let Some(records) = &shared.records {
            records.call_started(CallStart {
                uuid: info.uuid,
                caller_id: None,
                started_at: SystemTime::now(),
                language: Some(language.clone()),
                models: shared.engines.models.clone(),
                profile: shared.profile.clone(),
            });
        }
        let recording =
            super::recording::Recording::start(&shared.config.records, &info.uuid, info.started);
        let amd = amd::Screening::start(&shared, &info);
        Ok(Call {
            amd,
            recording,
            shared,
            info,
            out,
            endpointer,
            echo,
            turn_taking,
            barge,
            conversation: Some(conversation),
            turn: None,
            queued: None,
            reply: None,
            caller_turn: None,
            seq: 0,
            idle_since: Instant::now(),
            timers,
            ending: None,
            errors: Vec::new(),
            apologised: false,
            language,
            metrics,
            script,
            greeting: None,
            verdict_tx,
            handover_tx,
        })
    }

    async fn run(
        &mut self,
        mut events: mpsc::Receiver<CallEvent>,
        mut verdicts: mpsc::UnboundedReceiver<Verdict>,
        mut handovers: mpsc::UnboundedReceiver<Result<(), String>>,
    ) -> CallOutcome {
        let mut progress = self.out.progress();
        let phrases = self.shared.phrases.clone();
        let greeting = match self.script.as_ref().and_then(|s| s.greeting.clone()) {
            Some(text) => synthesize_phrase(Arc::clone(&self.shared), text).await,
            None => None,
        }
        .or_else(|| phrases.greeting.clone());
        self.greeting = greeting.clone();
        // A screened call greets once the detector says a person answered (see `amd`).
        let greet = !self.screening();
        for phrase in [&phrases.disclosure, &greeting]
            .into_iter()
            .flatten()
            .filter(|_| greet)
        {
            self.say(phrase);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(CallEvent::Audio(chunk)) => self.on_audio(chunk).await,
                    Some(CallEvent::Dtmf { digit, .. }) => self.on_dtmf(digit),
                    Some(CallEvent::Hangup) => break Stop::CallerHangup,
                    Some(CallEvent::Lost(reason)) => {
                        info!(?reason, "connection lost");
                        break Stop::Lost(reason);
                    }
                    None => break Stop::Agent,
                },
                msg = recv_turn(&mut self.turn) => self.on_turn_msg(msg),
                Some((id, finished)) = verdicts.recv() => {
                    tracing::debug!(id, ?finished, "end-of-turn verdict");
                    self.feed(TurnInput::Verdict { id, finished });
                }
                Some(result) = handovers.recv() => self.on_handover(result),
                msg = amd::recv(&mut self.amd) => self.on_amd_msg(msg),
                changed = progress.changed() => {
                    if changed.is_err() { break Stop::Agent; }
                    self.on_progress(&progress.borrow_and_update().clone());
                    if self.ending.is_some() && self.out.is_ended() { break Stop::Agent; }
                }
                _ = tick.tick() => self.on_tick(),
            }
        };
        self.finish(stop).await
    }

    /// Feeds the turn-taking machine and applies what it decides.
    fn feed(&mut self, input: TurnInput) {
        for action in self.turn_taking.on(input) {
            self.apply(action);
        }
    }

    fn apply(&mut self, action: TurnAction) {
        tracing::debug!(action = ?action_kind(&action), "turn-taking");
        match action {
            TurnAction::Transcribe { id, audio, end } => self.transcribe(id, audio, end),
            TurnAction::AskModel { id, audio } => self.ask_model(id, audio),
            TurnAction::Retract { id } => {
                if let Some(turn) = self.turn.as_mut().filter(|t| t.id == id) {
                    turn.forget = true;
                }
                self.drop_turn(id)
            }
            TurnAction::Discard { id } | TurnAction::Ignore { id } => self.drop_turn(id),
            TurnAction::Answer { id, text, reason } => {
                tracing::debug!(id, ?reason, "end of the caller's turn: answering");
                self.answer(id, text);
            }
        }
    }

    /// Queues a fixed phrase as part of the agent's current reply (or as a reply of its own).
    fn say(&mut self, phrase: &Phrase) {
        let Ok(id) = self
            .out
            .play(phrase.audio.to_vec(), self.shared.phrases.rate_hz)
        else {
            return;
        };
        if let Some(rec) = &mut self.recording {
            rec.agent_item(id, Arc::clone(&phrase.audio), self.shared.phrases.rate_hz);
        }
        self.barge.agent_started(self.endpointer.now());
        self.reply
            .get_or_insert_with(Reply::phrase)
            .sentences
            .push((id, phrase.text.clone()));
    }

    async fn on_audio(&mut self, chunk: AudioChunk) {
        let samples = &chunk.samples_16k;
        if let Some(rec) = &mut self.recording {
            rec.caller(chunk.at, samples);
        }
        self.echo.sync(&chunk, &self.out, &mut self.endpointer);
        let events = match self.endpointer.push_async(samples).await {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "VAD failed on caller audio");
                self.shared.metrics.error("vad");
                Vec::new()
            }
        };
        let voiced = self.endpointer.last_probability() >= self.shared.config.vad.threshold;
        if voiced {
            self.idle_since = Instant::now();
        }
        if self.amd_on_audio(samples, voiced, &events) {
            return;
        }
        let audible = self.out.queued_samples() > 0;
        let now = self.endpointer.now();
        if self
            .barge
            .on_caller_audio(now, chunk.duration(), voiced, audible)
            == BargeInAction::Cut
        {
            self.barge_in();
        }
        for event in events {
            match event {
                VadEvent::SpeechStart { at } => {
                    tracing::debug!(at_ms = at.as_millis() as u64, "caller speech started");
                    self.timers.caller_spoke();
                    self.feed(TurnInput::SpeechStart);
                }
                VadEvent::SpeechContinue { .. } => {}
                VadEvent::EndOfUtterance {
                    audio, end, forced, ..
                } => {
                    tracing::debug!(
                        end_ms = end.as_millis() as u64,
                        forced,
                        samples = audio.len(),
                        "utterance ended"
                    );
                    if self.ending.is_none() {
                        self.feed(TurnInput::Utterance { audio, end, forced });
                    }
                }
            }
        }
        let in_speech = self.endpointer.in_speech();
        self.feed(TurnInput::MediaTime { now, in_speech });
    }

    /// The caller spoke over the agent: stop sending speech at the next frame, cancel the
    /// turn, and keep in the history only what was played.
    fn barge_in(&mut self) {
        let cut = self.out.clear();
        self.barge.agent_stopped();
        self.shared.metrics.barge_in();
        // The turn whose answer was playing stops; a turn still waiting for its answer
        // decision belongs to turn-taking (the caller's new speech merges into it).
        if let Some(turn) = self.turn.as_mut().filter(|t| t.go.is_none()) {
            turn.cancel.cancel();
            turn.superseded = true;
        }
        info!(cut_items = cut.len(), "barge-in: agent stopped");
        if let Some(reply) = self.reply.take_if(|r| !r.sentences.is_empty()) {
            let heard = self.heard_of(&reply, &cut);
            if let Some(conv) = self.conversation.as_mut() {
                conv.replace_last_reply(&heard);
            } else if let Some(turn) = &mut self.turn {
                turn.heard = Some(heard.clone());
            }
            if let Some(id) = reply.utterance {
                self.feed(TurnInput::ReplyCommitted { id });
            }
            self.finish_reply(reply, heard, true);
        }
    }

    /// What the caller heard of `reply`: whole sentences played, the part of the one cut.
    fn heard_of(&self, reply: &Reply, cut: &[crate::pipeline::CutItem]) -> String {
        let progress = self.out.progress().borrow().clone();
        let sentences: Vec<(String, usize, usize)> = reply
            .sentences
            .iter()
            .map(|(id, text)| {
                let (sent, total) = cut
                    .iter()
                    .find(|c| c.id == *id)
                    .map(|c| (c.sent_samples, c.total_samples))
                    .or_else(|| {
                        progress
                            .items
                            .get(id)
                            .map(|p| (p.sent_samples, p.total_samples))
                    })
                    .unwrap_or((0, 1));
                (text.clone(), sent, total)
            })
            .collect();
        played_text(&sentences)
    }
}

/// A short name of a turn-taking action, for the debug log (without its audio).
fn action_kind(action: &TurnAction) -> (&'static str, UtteranceId) {
    match action {
        TurnAction::Transcribe { id, .. } => ("transcribe", *id),
        TurnAction::AskModel { id, .. } => ("ask_model", *id),
        TurnAction::Discard { id } => ("discard", *id),
        TurnAction::Retract { id } => ("retract", *id),
        TurnAction::Ignore { id } => ("ignore", *id),
        TurnAction::Answer { id, .. } => ("answer", *id),
    }
}

/// The next message of the turn in flight; pending forever when there is none.
async fn recv_turn(turn: &mut Option<TurnTask>) -> Option<TurnMsg> {
    match turn {
        Some(t) => t.msgs.recv().await,
        None => std::future::pending().await,
    }
}
