//! One call's loop: it only waits for events and applies what the pure deciders say.
//!
//! Caller audio goes through the VAD into [`TurnTaking`] (when is the caller's turn over?) and
//! [`BargeIn`] (may the caller cut the agent now?); their [`TurnAction`]s and
//! [`BargeInAction`]s are applied here: start a turn task, discard or retract it, answer,
//! cut the playout. Everything is driven by events: caller audio (media time), the turn
//! task's steps, end-of-turn verdicts, hand-over results and what the playout reports went on
//! the wire. The only timer is a coarse tick for wall-clock limits (silence re-prompt, maximum
//! call length, the LLM budget), never for synchronisation.

use super::barge_in::{BargeIn, BargeInAction, BargeInConfig};
use super::ending::{outcome, Ending, Stop};
use super::phrases::Phrase;
use super::played::played_text;
use super::reply::{CallerTurn, Reply};
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
    reprompts: u32,
    ending: Option<Ending>,
    /// What went wrong during the call, for `CallEnd.error`.
    errors: Vec<String>,
    /// The apology was said since the caller's last answered turn (it is never said twice).
    apologised: bool,
    language: String,
    metrics: Option<ActiveCall>,
    recording: Option<super::recording::Recording>,
    verdict_tx: mpsc::UnboundedSender<Verdict>,
    handover_tx: mpsc::UnboundedSender<Result<(), String>>,
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
                let _ = out.play_i16(&shared.phrases.apology.audio, shared.phrases.rate_hz);
                out.hangup_after_drain();
                return CallOutcome::Failed(e);
            }
        };
        call.run(events, verdicts, handovers).await
    }
    .instrument(span)
    .await
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
        let mut vad = shared.config.vad.clone();
        // The VAD ends an utterance at the short pause; turn-taking decides whether that is
        // the end of the caller's turn.
        vad.trailing_silence_ms = cfg.end_of_turn_short_ms;
        let endpointer =
            Endpointer::new(&vad, shared.engines.silero.as_ref()).map_err(|e| e.to_string())?;
        let turn_taking = TurnTaking::new(TurnTakingConfig::from_ms(
            cfg.end_of_turn_short_ms,
            cfg.end_of_turn_ms,
            shared.engines.end_of_turn.is_some(),
        ));
        let barge = BargeIn::new(BargeInConfig::from_conversation(cfg));
        let conversation = shared.engines.converse.start().map_err(|e| e.to_string())?;
        let language = cfg.language.clone();
        let metrics = Some(shared.metrics.call_started());
        if let Some(records) = &shared.records {
            records.call_started(CallStart {
                uuid: info.uuid,
                caller_id: None,
                started_at: SystemTime::now(),
                language: Some(language.clone()),
                models: shared.engines.models.clone(),
            });
        }
        let recording =
            super::recording::Recording::start(&shared.config.records, &info.uuid, info.started);
        Ok(Call {
            recording,
            shared,
            info,
            out,
            endpointer,
            turn_taking,
            barge,
            conversation: Some(conversation),
            turn: None,
            queued: None,
            reply: None,
            caller_turn: None,
            seq: 0,
            idle_since: Instant::now(),
            reprompts: 0,
            ending: None,
            errors: Vec::new(),
            apologised: false,
            language,
            metrics,
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
        for phrase in [&phrases.disclosure, &phrases.greeting]
            .into_iter()
            .flatten()
        {
            self.say(phrase);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(CallEvent::Audio(chunk)) => self.on_audio(chunk),
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
            TurnAction::Discard { id } | TurnAction::Retract { id } | TurnAction::Ignore { id } => {
                self.drop_turn(id)
            }
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
            .play_i16(&phrase.audio, self.shared.phrases.rate_hz)
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

    fn on_audio(&mut self, chunk: AudioChunk) {
        let samples = chunk.samples_f32();
        if let Some(rec) = &mut self.recording {
            rec.caller(chunk.at, &samples);
        }
        let events = match self.endpointer.push(&samples) {
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
                    self.reprompts = 0;
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
        if let Some(turn) = &mut self.turn {
            turn.cancel.cancel();
            turn.superseded = true;
        }
        info!(cut_items = cut.len(), "barge-in: agent stopped");
        if let Some(reply) = self.reply.take() {
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
            let heard = played_text(&sentences);
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

    /// A new utterance (merged with what came before it): transcribe it as soon as the
    /// conversation is free.
    fn transcribe(&mut self, id: UtteranceId, audio: Vec<f32>, end: Duration) {
        // A turn still running (its answer was heard): the caller has started a new turn.
        self.supersede_turn();
        self.apologised = false;
        // `end` includes the VAD's padding after the last speech window.
        let pad = Duration::from_millis(self.shared.config.vad.pre_roll_ms as u64);
        let behind = self
            .endpointer
            .now()
            .saturating_sub(end.saturating_sub(pad));
        let now = Instant::now();
        self.reply = Some(Reply::answer(
            id,
            now.checked_sub(behind).unwrap_or(now),
            behind.as_millis() as u32,
        ));
        self.shared
            .metrics
            .observe_stage(Stage::Endpointing, behind);
        self.queued = Some((id, audio));
        self.start_turn_if_free();
    }

    /// Starts the queued utterance's turn once no other turn holds the conversation.
    fn start_turn_if_free(&mut self) {
        if self.queued.is_none() || self.turn.is_some() {
            return;
        }
        let Some(conversation) = self.conversation.take() else {
            return;
        };
        let (id, audio) = self.queued.take().expect("checked above");
        let audio_s = audio.len() as f64 / 16_000.0;
        let ahead = self
            .shared
            .asr_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
            / self.shared.engines.transcribe.max_concurrent().max(1);
        let budget = self.shared.asr_budget.budget(audio_s, ahead);
        self.turn = Some(turn::spawn(
            Arc::clone(&self.shared),
            conversation,
            id,
            audio,
            budget,
            self.out.clone(),
        ));
    }

    /// Asks the end-of-turn model about an utterance's tail, off the call loop.
    fn ask_model(&mut self, id: UtteranceId, audio: Vec<f32>) {
        let Some(model) = self.shared.engines.end_of_turn.clone() else {
            let _ = self.verdict_tx.send((id, None));
            return;
        };
        let threshold = self.shared.config.conversation.end_of_turn_model_threshold;
        let tx = self.verdict_tx.clone();
        let metrics = Arc::clone(&self.shared.metrics);
        let prediction = model.finished_probability(audio);
        tokio::spawn(async move {
            let finished = match prediction.await {
                Ok(p) => Some(p >= threshold),
                Err(e) => {
                    warn!(error = %e, "end-of-turn model failed; the silence rule decides");
                    metrics.error("turn");
                    None
                }
            };
            let _ = tx.send((id, finished));
        });
    }

    /// Cancels the running turn (if not already), so its messages are ignored.
    fn supersede_turn(&mut self) {
        if let Some(turn) = &mut self.turn {
            if !turn.superseded {
                turn.cancel.cancel();
                if let Some(go) = turn.go.take() {
                    let _ = go.send(false);
                }
                turn.superseded = true;
            }
        }
    }

    /// Drops utterance `id`'s turn: the caller went on (its audio is merged into the next
    /// utterance by turn-taking), or nothing was said.
    fn drop_turn(&mut self, id: UtteranceId) {
        if self.queued.as_ref().is_some_and(|(q, _)| *q == id) {
            self.queued = None;
        }
        if self.turn.as_ref().is_some_and(|t| t.id == id) {
            self.supersede_turn();
        }
        if let Some(reply) = self.reply.take_if(|r| r.utterance == Some(id)) {
            if !reply.sentences.is_empty() {
                // Queued but not yet heard (else it would have been committed): never play it.
                self.out.clear();
            }
        }
        self.caller_turn.take_if(|t| t.utterance == id);
    }

    /// The caller's turn is over: let the turn go on to the LLM.
    fn answer(&mut self, id: UtteranceId, text: String) {
        let Some(go) = self
            .turn
            .as_mut()
            .filter(|t| t.id == id)
            .and_then(|t| t.go.take())
        else {
            return;
        };
        let _ = go.send(true);
        let Some(reply) = &mut self.reply else {
            return;
        };
        reply.llm_started = Some(Instant::now());
        reply.caller_text = None;
        self.caller_turn = Some(CallerTurn {
            utterance: id,
            text,
            started_at: reply.started_at,
            latencies: TurnLatencies {
                asr_ms: reply.latencies.asr_ms,
                endpointing_ms: reply.latencies.endpointing_ms,
                ..Default::default()
            },
        });
    }

    /// Writes the caller's answered turn (it can no longer be retracted).
    fn commit_caller_turn(&mut self) {
        if let Some(t) = self.caller_turn.take() {
            self.record_turn(
                Role::Caller,
                &t.text,
                t.started_at,
                t.latencies,
                false,
                Vec::new(),
            );
        }
    }

    fn on_turn_msg(&mut self, msg: Option<TurnMsg>) {
        let Some(msg) = msg else {
            // The task ended without handing the conversation back (it panicked).
            warn!("turn task ended abnormally");
            self.turn = None;
            return;
        };
        let superseded = self.turn.as_ref().is_some_and(|t| t.superseded);
        let id = self.turn.as_ref().map_or(0, |t| t.id);
        if superseded && !matches!(msg, TurnMsg::Finished { .. }) {
            return;
        }
        match msg {
            TurnMsg::Transcript {
                text,
                asr,
                language,
            } => {
                tracing::debug!(%text, asr_ms = asr.as_millis() as u64, "transcript");
                self.shared.metrics.observe_stage(Stage::Asr, asr);
                if let Some(reply) = &mut self.reply {
                    reply.latencies.asr_ms = Some(asr.as_millis() as u32);
                    reply.caller_text = Some(text.clone());
                }
                if !text.is_empty() {
                    self.language = language;
                }
                self.feed(TurnInput::Transcript { id, text });
            }
            TurnMsg::FirstToken { at } => {
                tracing::debug!("first LLM token");
                if let Some(reply) = &mut self.reply {
                    if let Some(start) = reply.llm_started {
                        let d = at.saturating_duration_since(start);
                        reply.latencies.llm_ttft_ms = Some(d.as_millis() as u32);
                        self.shared.metrics.observe_stage(Stage::LlmFirstToken, d);
                    }
                }
            }
            TurnMsg::Sentence {
                id: item,
                text,
                released,
                tts,
                audio,
            } => self.on_sentence(item, text, released, tts, audio),
            TurnMsg::Tool(record) => {
                let ok = record.result.get("error").is_none();
                self.shared
                    .metrics
                    .tool_call(&record.name, if ok { "ok" } else { "error" });
                if let Some(reply) = &mut self.reply {
                    reply.tools.push(record);
                }
            }
            TurnMsg::Failed { stage, error } => {
                warn!(stage, %error, "turn failed; apologising");
                self.shared.metrics.error(stage);
                self.fail_turn();
            }
            TurnMsg::Finished {
                conversation,
                summary,
            } => {
                tracing::debug!(
                    superseded,
                    reply = summary.as_ref().map(|s| s.reply.as_str()).unwrap_or(""),
                    actions = summary.as_ref().map_or(0, |s| s.actions.len()),
                    "turn finished"
                );
                let mut conversation = conversation;
                if let Some(heard) = self.turn.as_mut().and_then(|t| t.heard.take()) {
                    conversation.replace_last_reply(&heard);
                }
                self.conversation = Some(conversation);
                self.turn = None;
                if let (Some(summary), false) = (summary, superseded) {
                    self.feed(TurnInput::ReplyCommitted { id });
                    self.commit_caller_turn();
                    self.on_summary(summary);
                }
                self.start_turn_if_free();
            }
        }
    }

    fn on_sentence(
        &mut self,
        item: PlayId,
        text: String,
        released: Instant,
        tts: Duration,
        audio: Arc<Vec<i16>>,
    ) {
        if let Some(rec) = &mut self.recording {
            rec.agent_item(item, audio, self.shared.engines.synthesize.sample_rate());
        }
        tracing::debug!(item, %text, tts_ms = tts.as_millis() as u64, "sentence queued");
        let Some(reply) = &mut self.reply else {
            // Queued after a barge-in raced it: never let it play.
            self.out.clear();
            if let Some(turn) = &mut self.turn {
                turn.superseded = true;
            }
            return;
        };
        if reply.sentences.is_empty() {
            if let Some(start) = reply.llm_started {
                let d = released.saturating_duration_since(start);
                reply.latencies.llm_first_sentence_ms = Some(d.as_millis() as u32);
                self.shared
                    .metrics
                    .observe_stage(Stage::LlmFirstSentence, d);
            }
            reply.latencies.tts_first_audio_ms = Some(tts.as_millis() as u32);
            self.shared.metrics.observe_stage(Stage::TtsFirstAudio, tts);
        }
        reply.sentences.push((item, text));
        self.barge.agent_started(self.endpointer.now());
    }

    /// A stage failed or ran over its budget: apologise once, whatever else the turn reports
    /// afterwards (its later messages are ignored).
    fn fail_turn(&mut self) {
        let failed = self.turn.as_ref().map(|t| t.id);
        if let Some(turn) = &mut self.turn {
            turn.cancel.cancel();
            if let Some(go) = turn.go.take() {
                let _ = go.send(false);
            }
            turn.superseded = true;
        }
        if let Some(id) = failed {
            self.feed(TurnInput::Abandoned { id });
        }
        self.commit_caller_turn();
        if let Some(reply) = self.reply.take() {
            if !reply.sentences.is_empty() {
                let text = reply.text();
                self.finish_reply(reply, text, true);
            }
        }
        self.out.clear();
        self.apologise();
        if self.shared.config.conversation.transfer_on_failure && self.ending.is_none() {
            self.begin_ending(Ending::Transfer {
                reason: "a stage of the agent failed".into(),
                confirmed: false,
            });
        }
    }

    fn on_summary(&mut self, summary: TurnSummary) {
        let silent = self.reply.as_ref().is_some_and(|r| r.sentences.is_empty());
        if silent && summary.actions.is_empty() && !summary.cancelled {
            // The model said nothing speakable: never leave the caller in dead air.
            warn!("the LLM reply had nothing to say; apologising");
            self.shared.metrics.error("llm");
            self.fail_turn();
            return;
        }
        if let Some(reply) = &mut self.reply {
            reply.generated = true;
        }
        for action in summary.actions {
            let ending = match action {
                CallAction::TransferToHuman { reason } => Ending::Transfer {
                    reason,
                    confirmed: false,
                },
                CallAction::EndCall { .. } => Ending::Hangup {
                    outcome: RecordOutcome::Completed,
                },
            };
            if self.ending.is_none() {
                self.begin_ending(ending);
            }
        }
        let progress = self.out.progress().borrow().clone();
        self.maybe_finish_reply(&progress);
    }

    fn on_progress(&mut self, progress: &PlayoutProgress) {
        if let Some(rec) = &mut self.recording {
            rec.on_progress(progress);
        }
        if self.out.queued_samples() == 0 && self.barge.agent_talking() {
            self.barge.agent_stopped();
            self.idle_since = Instant::now();
        }
        let mut heard = None;
        if let Some(reply) = &mut self.reply {
            if reply.measure_latency && reply.latencies.turn_latency_ms.is_none() {
                let first = reply
                    .sentences
                    .first()
                    .and_then(|(id, _)| progress.items.get(id))
                    .and_then(|p| p.first_audible_at.or(p.first_frame_at));
                if let Some(at) = first {
                    let latency = at.saturating_duration_since(reply.end_of_speech);
                    reply.latencies.turn_latency_ms = Some(latency.as_millis() as u32);
                    self.shared.metrics.observe_turn_latency(latency);
                    info!(
                        latency_ms = latency.as_millis() as u64,
                        "first reply audio on the wire"
                    );
                    heard = reply.utterance;
                }
            }
        }
        if let Some(id) = heard {
            // Heard: no longer retractable.
            self.feed(TurnInput::ReplyCommitted { id });
            self.commit_caller_turn();
        }
        self.maybe_finish_reply(progress);
    }

    /// Writes the agent turn once it has been generated and played (per `progress`).
    fn maybe_finish_reply(&mut self, progress: &PlayoutProgress) {
        let done = match &self.reply {
            Some(reply) if reply.generated => reply.sentences.iter().all(|(id, _)| {
                progress
                    .items
                    .get(id)
                    .is_none_or(|p| matches!(p.state, ItemState::Done | ItemState::Cut))
            }),
            _ => false,
        };
        if done {
            let reply = self.reply.take().expect("checked above");
            let text = reply.text();
            self.finish_reply(reply, text, false);
        }
    }

    fn finish_reply(&mut self, reply: Reply, text: String, interrupted: bool) {
        if text.is_empty() && reply.tools.is_empty() && !interrupted {
            return;
        }
        self.record_turn(
            Role::Agent,
            &text,
            reply.started_at,
            reply.latencies,
            interrupted,
            reply.tools,
        );
    }

    fn on_dtmf(&mut self, digit: char) {
        let operator = &self.shared.config.conversation.operator_digit;
        info!(%digit, "DTMF");
        if !operator.is_empty() && operator.starts_with(digit) && self.ending.is_none() {
            if let Some(turn) = &self.turn {
                turn.cancel.cancel();
            }
            self.begin_ending(Ending::Transfer {
                reason: format!("the caller pressed {digit}"),
                confirmed: false,
            });
        }
    }

    fn on_tick(&mut self) {
        if self.ending.is_some() {
            return;
        }
        let cfg = &self.shared.config.conversation;
        if cfg.max_call_secs > 0
            && self.info.started.elapsed() >= Duration::from_secs(cfg.max_call_secs)
        {
            info!("maximum call length reached");
            self.begin_ending(Ending::Hangup {
                outcome: RecordOutcome::AgentHangup,
            });
            return;
        }
        let llm_budget = Duration::from_millis(cfg.llm_budget_ms);
        let over_budget = self.reply.as_ref().is_some_and(|reply| {
            reply.sentences.is_empty()
                && !reply.generated
                && reply.llm_started.is_some_and(|s| s.elapsed() >= llm_budget)
        });
        if over_budget && self.turn.as_ref().is_some_and(|t| !t.superseded) {
            warn!(
                budget_ms = llm_budget.as_millis() as u64,
                "no reply sentence within the LLM budget"
            );
            self.shared.metrics.error("llm");
            self.fail_turn();
            return;
        }
        let (reprompt_after, hangup_after) = (cfg.reprompt_after_secs, cfg.hangup_after_reprompts);
        let quiet = self.turn.is_none()
            && self.queued.is_none()
            && self.reply.is_none()
            && self.out.queued_samples() == 0
            && !self.endpointer.in_speech();
        if quiet
            && reprompt_after > 0.0
            && self.idle_since.elapsed() >= Duration::from_secs_f64(reprompt_after)
        {
            if hangup_after > 0 && self.reprompts >= hangup_after {
                info!(reprompts = self.reprompts, "caller silent; hanging up");
                self.begin_ending(Ending::Hangup {
                    outcome: RecordOutcome::Timeout,
                });
                return;
            }
            self.reprompts += 1;
            let reprompt = self.shared.phrases.reprompt.clone();
            self.say(&reprompt);
            self.idle_since = Instant::now();
        }
    }

    /// Starts ending the call: no new turns; say the closing phrase; set the AMI result
    /// (hanging up once Asterisk confirmed it); hang up once everything queued was played.
    fn begin_ending(&mut self, ending: Ending) {
        let phrases = self.shared.phrases.clone();
        match ending {
            Ending::Transfer { reason, .. } => {
                let Some(ami) = self.shared.ami.clone() else {
                    // No AMI: the dialplan cannot be told where to go.
                    warn!(%reason, "hand-over requested but [ami] is not enabled");
                    self.handover_failed("hand-over requested but [ami] is not enabled".into());
                    return;
                };
                self.say(&phrases.transfer_notice);
                let uuid = self.info.uuid;
                let target = self.shared.config.conversation.transfer_target.clone();
                let summary = self.summary_line(&reason);
                let tx = self.handover_tx.clone();
                tokio::spawn(async move {
                    let result = ami
                        .set_call_result(&uuid, "transfer", Some(&target), &summary)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(result);
                });
                self.ending = Some(Ending::Transfer {
                    reason,
                    confirmed: false,
                });
            }
            Ending::Hangup { outcome } => {
                self.say(&phrases.goodbye);
                self.out.hangup_after_drain();
                self.ending = Some(Ending::Hangup { outcome });
            }
        }
    }

    /// Asterisk answered the hand-over: hang up into the dialplan, or keep the caller.
    fn on_handover(&mut self, result: Result<(), String>) {
        let Some(Ending::Transfer { confirmed, .. }) = &mut self.ending else {
            return;
        };
        match result {
            Ok(()) => {
                *confirmed = true;
                self.out.hangup_after_drain();
            }
            Err(e) => {
                warn!(error = %e, "could not set the hand-over variables over AMI; keeping the caller");
                self.ending = None;
                self.handover_failed(format!("hand-over failed: {e}"));
            }
        }
    }

    /// A hand-over could not be made: the caller stays on the line, hears an apology (once)
    /// and the call-back offer; the failure is recorded and counted.
    fn handover_failed(&mut self, error: String) {
        self.shared.metrics.handover_failed();
        self.shared.metrics.error("ami");
        self.errors.push(error);
        self.apologise();
        let offer = self.shared.phrases.handover_failed.clone();
        self.say(&offer);
    }

    /// Says the apology, unless it was said since the caller's last answered turn.
    fn apologise(&mut self) {
        if !self.apologised {
            self.apologised = true;
            let apology = self.shared.phrases.apology.clone();
            self.say(&apology);
        }
    }

    /// One line for `AGENT_SUMMARY`: why, and what the caller last said.
    fn summary_line(&self, reason: &str) -> String {
        let last_caller = self
            .conversation
            .as_ref()
            .and_then(|c| c.last_caller_text())
            .unwrap_or_default();
        format!("{reason}; caller: {last_caller}")
    }

    fn record_turn(
        &mut self,
        role: Role,
        text: &str,
        started_at: SystemTime,
        latencies: TurnLatencies,
        interrupted: bool,
        tool_calls: Vec<ToolCallRecord>,
    ) {
        if role == Role::Agent {
            // The caller's turn comes first in the record.
            self.commit_caller_turn();
        }
        let seq = self.seq;
        self.seq += 1;
        if let Some(records) = &self.shared.records {
            records.turn_completed(TurnRecord {
                call_uuid: self.info.uuid,
                seq,
                role,
                text: text.to_string(),
                started_at,
                ended_at: SystemTime::now(),
                latencies,
                interrupted,
                tool_calls,
            });
        }
    }

    async fn finish(&mut self, stop: Stop) -> CallOutcome {
        if let Some(turn) = self.turn.take() {
            turn.cancel.cancel();
            if let Some(go) = turn.go {
                let _ = go.send(false);
            }
        }
        self.commit_caller_turn();
        if let Some(reply) = self.reply.take() {
            let progress = self.out.progress().borrow().clone();
            let all_played = reply.sentences.iter().all(|(id, _)| {
                progress
                    .items
                    .get(id)
                    .is_none_or(|p| p.state == ItemState::Done)
            });
            if !reply.sentences.is_empty() {
                let text = reply.text();
                self.finish_reply(reply, text, !all_played);
            }
        }
        let (outcome, error) = outcome(self.ending.as_ref(), &stop, &self.errors);
        let target = matches!(outcome, RecordOutcome::Transferred)
            .then(|| self.shared.config.conversation.transfer_target.clone());
        info!(
            outcome = outcome.as_str(),
            error = error.as_deref(),
            "call ended"
        );
        if let Some(records) = &self.shared.records {
            records.call_ended(CallEnd {
                uuid: self.info.uuid,
                ended_at: SystemTime::now(),
                outcome,
                transfer_target: target,
                language: Some(self.language.clone()),
                error,
            });
        }
        if let Some(m) = self.metrics.take() {
            m.end(outcome);
        }
        if let Some(mut rec) = self.recording.take() {
            let progress = self.out.progress().borrow().clone();
            rec.on_progress(&progress);
            rec.close().await;
        }
        match (stop, &self.ending) {
            (Stop::Lost(crate::pipeline::LostReason::ProtocolError(e)), None) => {
                CallOutcome::Failed(format!("AudioSocket protocol error: {e}"))
            }
            (Stop::CallerHangup | Stop::Lost(_), None) => CallOutcome::CallerHungUp,
            _ => CallOutcome::Finished,
        }
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
