//! One call's loop: listen (VAD) → end of turn → a turn task → play → listen, with barge-in,
//! re-prompts, budgets, hand-over and the call record.
//!
//! Everything is driven by events: caller audio (media time), the turn task's steps, and what
//! the playout reports went on the wire. The only timer is a coarse tick for wall-clock limits
//! (silence re-prompt, maximum call length, the LLM budget), never for synchronisation.

use super::phrases::Phrase;
use super::played::played_text;
use super::turn::{self, TurnMsg, TurnTask};
use super::Shared;
use crate::dialog::session::{Conversation, TurnSummary};
use crate::dialog::tools::CallAction;
use crate::metrics::{ActiveCall, Stage};
use crate::pipeline::{AudioChunk, CallEvent, CallInfo, CallOutcome, ItemState, PlayId, Playout};
use crate::records::{
    CallEnd, CallOutcome as RecordOutcome, CallStart, Role, ToolCallRecord, TurnLatencies,
    TurnRecord,
};
use crate::vad::{Endpointer, VadEvent};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

/// How the call is to end, once what is queued has been played.
#[derive(Debug, Clone)]
enum Ending {
    /// Hand over to a human (AMI variables, then hang up into the dialplan).
    Transfer { reason: String },
    /// Hang up with this outcome.
    Hangup { outcome: RecordOutcome },
}

/// The agent's reply in progress: what was queued, and its timing.
struct Reply {
    /// Played items of the reply with their text, in order.
    sentences: Vec<(PlayId, String)>,
    /// When the caller stopped speaking (wall clock, estimated from media time).
    end_of_speech: Instant,
    /// The caller's transcript, recorded when the turn goes on to the LLM.
    caller_text: Option<String>,
    /// When the LLM was given the transcript.
    llm_started: Option<Instant>,
    latencies: TurnLatencies,
    started_at: SystemTime,
    tools: Vec<ToolCallRecord>,
    /// No more sentences will come (the turn task finished, or a fixed phrase).
    generated: bool,
    /// A reply to the caller's speech, whose latency is measured (not a fixed phrase).
    measure_latency: bool,
}

impl Reply {
    /// A reply made only of fixed phrases (greeting, re-prompt, apology).
    fn phrase() -> Reply {
        let now = Instant::now();
        Reply {
            sentences: Vec::new(),
            end_of_speech: now,
            caller_text: None,
            llm_started: None,
            latencies: TurnLatencies::default(),
            started_at: SystemTime::now(),
            tools: Vec::new(),
            generated: true,
            measure_latency: false,
        }
    }

    /// What the agent said (or queued) in this reply.
    fn text(&self) -> String {
        let parts: Vec<&str> = self.sentences.iter().map(|(_, s)| s.as_str()).collect();
        parts.join(" ")
    }
}

/// Running per-call state.
struct Call {
    shared: Arc<Shared>,
    info: CallInfo,
    out: Playout,
    endpointer: Endpointer,
    conversation: Option<Conversation>,
    turn: Option<TurnTask>,
    /// Audio of an utterance dropped because the caller went on: merged into the next one.
    carry_audio: Vec<f32>,
    /// A new utterance waits in `carry_audio` for the superseded turn to hand back the
    /// conversation.
    start_when_free: bool,
    /// The transcript is in but does not end a sentence: go on at this media time unless
    /// the caller speaks again.
    awaiting_until: Option<Duration>,
    /// Media time of the end of the utterance being handled.
    utterance_end: Duration,
    reply: Option<Reply>,
    seq: u32,
    /// Caller speech (at the VAD threshold) in a row, for barge-in.
    speech_run: Duration,
    /// When the agent started talking after being silent.
    talking_since: Option<Instant>,
    /// Wall clock of the last moment the agent or the caller was active, for re-prompts.
    idle_since: Instant,
    reprompts: u32,
    ending: Option<Ending>,
    language: String,
    metrics: Option<ActiveCall>,
    recording: Option<super::recording::Recording>,
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
        let mut call = match Call::new(Arc::clone(&shared), info.clone(), out.clone()) {
            Ok(call) => call,
            Err(e) => {
                warn!(error = %e, "cannot start the conversation; playing the apology");
                play_phrase_on(&out, &shared.phrases.apology, shared.phrases.rate_hz);
                out.hangup_after_drain();
                return CallOutcome::Failed(e);
            }
        };
        call.run(events).await
    }
    .instrument(span)
    .await
}

fn play_phrase_on(out: &Playout, phrase: &Phrase, rate: u32) -> Option<PlayId> {
    out.play_i16(&phrase.audio, rate).ok()
}

impl Call {
    fn new(shared: Arc<Shared>, info: CallInfo, out: Playout) -> Result<Call, String> {
        let mut vad = shared.config.vad.clone();
        // The VAD ends an utterance at the short silence; the call decides whether that is
        // the end of the caller's turn (see `on_transcript`).
        vad.trailing_silence_ms = shared.config.conversation.end_of_turn_short_ms;
        let endpointer =
            Endpointer::new(&vad, shared.engines.silero.as_ref()).map_err(|e| e.to_string())?;
        let session = shared.engines.llm.session().map_err(|e| e.to_string())?;
        let conversation = Conversation::new(
            session,
            &shared.config.llm.system_prompt,
            Arc::clone(&shared.engines.tools),
            crate::dialog::engine::GenParams::from_config(&shared.config.llm),
            shared.config.llm.max_tool_rounds,
        );
        let language = shared.config.conversation.language.clone();
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
            conversation: Some(conversation),
            turn: None,
            carry_audio: Vec::new(),
            start_when_free: false,
            awaiting_until: None,
            utterance_end: Duration::ZERO,
            reply: None,
            seq: 0,
            speech_run: Duration::ZERO,
            talking_since: None,
            idle_since: Instant::now(),
            reprompts: 0,
            ending: None,
            language,
            metrics,
        })
    }

    async fn run(&mut self, mut events: mpsc::Receiver<CallEvent>) -> CallOutcome {
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
        let mut caller_hung_up = false;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(CallEvent::Audio(chunk)) => self.on_audio(chunk),
                    Some(CallEvent::Dtmf { digit, .. }) => self.on_dtmf(digit),
                    Some(CallEvent::Hangup) | Some(CallEvent::Lost(_)) => { caller_hung_up = true; break; }
                    None => break,
                },
                msg = recv_turn(&mut self.turn) => self.on_turn_msg(msg).await,
                changed = progress.changed() => {
                    if changed.is_err() { break; }
                    self.on_progress(&progress.borrow_and_update().clone());
                    if self.ending.is_some() && self.out.is_ended() { break; }
                }
                _ = tick.tick() => self.on_tick(),
            }
        }
        self.finish(caller_hung_up).await
    }

    /// Queues a fixed phrase as part of the agent's current reply (or as a reply of its own).
    fn say(&mut self, phrase: &Phrase) {
        let Some(id) = play_phrase_on(&self.out, phrase, self.shared.phrases.rate_hz) else {
            return;
        };
        if let Some(rec) = &mut self.recording {
            rec.agent_item(id, Arc::clone(&phrase.audio), self.shared.phrases.rate_hz);
        }
        self.talking_since.get_or_insert_with(Instant::now);
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
        let cfg = &self.shared.config.conversation;
        let (barge_in, min_speech, protect) = (
            cfg.barge_in,
            Duration::from_millis(cfg.barge_in_min_speech_ms as u64),
            Duration::from_millis(cfg.barge_in_protect_ms as u64),
        );
        if self.endpointer.last_probability() >= self.shared.config.vad.threshold {
            self.speech_run += chunk.duration();
            self.idle_since = Instant::now();
        } else {
            self.speech_run = Duration::ZERO;
        }
        if barge_in
            && self.agent_talking()
            && self.speech_run >= min_speech
            && self.talking_since.is_some_and(|t| t.elapsed() >= protect)
        {
            self.barge_in();
        }
        for event in events {
            match event {
                VadEvent::SpeechStart { at } => {
                    tracing::debug!(at_ms = at.as_millis() as u64, "caller speech started");
                    self.reprompts = 0;
                    if self.awaiting_until.take().is_some() {
                        // The caller went on after a pause that did not end a sentence: the
                        // utterance so far joins the next one.
                        self.drop_turn_for_merge();
                    }
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
                    self.on_utterance(audio, end)
                }
            }
        }
        if let Some(until) = self.awaiting_until {
            if self.endpointer.now() >= until && !self.endpointer.in_speech() {
                self.awaiting_until = None;
                self.go_on();
            }
        }
    }

    fn agent_talking(&self) -> bool {
        self.out.queued_samples() > 0
    }

    /// The caller spoke over the agent: stop sending speech at the next frame, cancel the
    /// turn, and keep in the history only what was played.
    fn barge_in(&mut self) {
        let cut = self.out.clear();
        self.talking_since = None;
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
            self.finish_reply(reply, heard, true);
        }
    }

    fn on_utterance(&mut self, audio: Vec<f32>, end: Duration) {
        if self.ending.is_some() {
            return;
        }
        let mut merged = std::mem::take(&mut self.carry_audio);
        if let Some(turn) = &mut self.turn {
            if !turn.superseded {
                // A turn still in flight. If it had not gone on to the LLM yet, the caller
                // said more: answer everything together. Otherwise this is a new turn.
                turn.cancel.cancel();
                if let Some(go) = turn.go.take() {
                    let _ = go.send(false);
                    merged.extend_from_slice(&turn.audio);
                }
                turn.superseded = true;
            }
        }
        merged.extend_from_slice(&audio);
        // `end` includes the VAD's padding after the last speech window.
        let pad = Duration::from_millis(self.shared.config.vad.pre_roll_ms as u64);
        let behind = self
            .endpointer
            .now()
            .saturating_sub(end.saturating_sub(pad));
        let now = Instant::now();
        self.utterance_end = end;
        self.awaiting_until = None;
        self.reply = Some(Reply {
            sentences: Vec::new(),
            end_of_speech: now.checked_sub(behind).unwrap_or(now),
            caller_text: None,
            llm_started: None,
            latencies: TurnLatencies {
                endpointing_ms: Some(behind.as_millis() as u32),
                ..Default::default()
            },
            started_at: SystemTime::now(),
            tools: Vec::new(),
            generated: false,
            measure_latency: true,
        });
        self.shared
            .metrics
            .observe_stage(Stage::Endpointing, behind);
        self.carry_audio = merged;
        self.start_when_free = true;
        self.start_turn_if_free();
    }

    /// Starts the waiting utterance's turn once no other turn holds the conversation.
    fn start_turn_if_free(&mut self) {
        if !self.start_when_free || self.turn.is_some() {
            return;
        }
        let Some(conversation) = self.conversation.take() else {
            return;
        };
        self.start_when_free = false;
        let audio = std::mem::take(&mut self.carry_audio);
        self.turn = Some(turn::spawn(
            Arc::clone(&self.shared),
            conversation,
            audio,
            self.out.clone(),
        ));
    }

    /// The caller went on after a pause that did not end a sentence: drop the turn in
    /// flight, keeping its audio for the next utterance.
    fn drop_turn_for_merge(&mut self) {
        if let Some(turn) = &mut self.turn {
            if !turn.superseded {
                turn.cancel.cancel();
                if let Some(go) = turn.go.take() {
                    let _ = go.send(false);
                }
                turn.superseded = true;
                self.carry_audio = turn.audio.clone();
            }
        }
        self.reply = None;
    }

    /// The caller's turn is over: record it and let the turn go on to the LLM.
    fn go_on(&mut self) {
        let Some(go) = self.turn.as_mut().and_then(|t| t.go.take()) else {
            return;
        };
        let _ = go.send(true);
        tracing::debug!("end of the caller's turn: answering");
        let Some(reply) = &mut self.reply else {
            return;
        };
        reply.llm_started = Some(Instant::now());
        let text = reply.caller_text.take().unwrap_or_default();
        let started = reply.started_at;
        let latencies = TurnLatencies {
            asr_ms: reply.latencies.asr_ms,
            endpointing_ms: reply.latencies.endpointing_ms,
            ..Default::default()
        };
        self.record_turn(Role::Caller, &text, started, latencies, false, Vec::new());
    }

    async fn on_turn_msg(&mut self, msg: Option<TurnMsg>) {
        let Some(msg) = msg else {
            // The task ended without handing the conversation back (it panicked).
            warn!("turn task ended abnormally");
            self.turn = None;
            return;
        };
        let cfg = self.shared.config.conversation.clone();
        let superseded = self.turn.as_ref().is_some_and(|t| t.superseded);
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
                }
                if text.is_empty() {
                    self.go_refuse();
                    self.reply = None;
                    return;
                }
                self.language = language;
                if let Some(reply) = &mut self.reply {
                    reply.caller_text = Some(text.clone());
                }
                let ends_sentence = text.trim_end().ends_with(['.', '?', '!', '…']);
                // The long trailing silence, counted from the utterance's end.
                let until = self.utterance_end
                    + Duration::from_millis((cfg.end_of_turn_ms - cfg.end_of_turn_short_ms) as u64);
                if ends_sentence || self.endpointer.now() >= until {
                    self.go_on();
                } else {
                    self.awaiting_until = Some(until);
                }
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
                id,
                text,
                released,
                tts,
                audio,
            } => {
                if let Some(rec) = &mut self.recording {
                    rec.agent_item(id, audio, self.shared.engines.tts.sample_rate());
                }
                tracing::debug!(id, %text, tts_ms = tts.as_millis() as u64, "sentence queued");
                if let Some(reply) = &mut self.reply {
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
                    reply.sentences.push((id, text));
                    self.talking_since.get_or_insert_with(Instant::now);
                } else {
                    // Queued after a barge-in raced it: never let it play.
                    self.out.clear();
                    if let Some(turn) = &mut self.turn {
                        turn.superseded = true;
                    }
                }
            }
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
                if let Some(turn) = &self.turn {
                    turn.cancel.cancel();
                }
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
                let mut conversation = *conversation;
                if let Some(heard) = self.turn.as_mut().and_then(|t| t.heard.take()) {
                    conversation.replace_last_reply(&heard);
                }
                self.conversation = Some(conversation);
                self.turn = None;
                if let (Some(summary), false) = (summary, superseded) {
                    self.on_summary(summary);
                }
                self.start_turn_if_free();
            }
        }
    }

    fn go_refuse(&mut self) {
        if let Some(turn) = &mut self.turn {
            if let Some(go) = turn.go.take() {
                let _ = go.send(false);
            }
        }
    }

    fn fail_turn(&mut self) {
        if let Some(reply) = self.reply.take() {
            if !reply.sentences.is_empty() {
                let text = reply.text();
                self.finish_reply(reply, text, true);
            }
        }
        self.out.clear();
        let apology = self.shared.phrases.apology.clone();
        self.say(&apology);
        if self.shared.config.conversation.transfer_on_failure && self.ending.is_none() {
            self.begin_ending(Ending::Transfer {
                reason: "a stage of the agent failed".into(),
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
                CallAction::TransferToHuman { reason } => Ending::Transfer { reason },
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

    fn on_progress(&mut self, progress: &crate::pipeline::PlayoutProgress) {
        if let Some(rec) = &mut self.recording {
            rec.on_progress(progress);
        }
        if !self.agent_talking() && self.talking_since.take().is_some() {
            self.idle_since = Instant::now();
        }
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
                }
            }
        }
        self.maybe_finish_reply(progress);
    }

    /// Writes the agent turn once it has been generated and played (per `progress`).
    fn maybe_finish_reply(&mut self, progress: &crate::pipeline::PlayoutProgress) {
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
            });
        }
    }

    fn on_tick(&mut self) {
        if self.ending.is_some() {
            return;
        }
        let cfg = self.shared.config.conversation.clone();
        if cfg.max_call_secs > 0
            && self.info.started.elapsed() >= Duration::from_secs(cfg.max_call_secs)
        {
            info!("maximum call length reached");
            self.begin_ending(Ending::Hangup {
                outcome: RecordOutcome::AgentHangup,
            });
            return;
        }
        if let Some(reply) = &self.reply {
            if let Some(start) = reply.llm_started {
                if reply.sentences.is_empty()
                    && !reply.generated
                    && start.elapsed() >= Duration::from_millis(cfg.llm_budget_ms)
                {
                    warn!(
                        budget_ms = cfg.llm_budget_ms,
                        "no reply sentence within the LLM budget"
                    );
                    self.shared.metrics.error("llm");
                    if let Some(turn) = &self.turn {
                        turn.cancel.cancel();
                    }
                    self.fail_turn();
                    return;
                }
            }
        }
        let quiet = self.turn.is_none()
            && self.reply.is_none()
            && !self.agent_talking()
            && !self.endpointer.in_speech();
        if quiet
            && cfg.reprompt_after_secs > 0.0
            && self.idle_since.elapsed() >= Duration::from_secs_f64(cfg.reprompt_after_secs)
        {
            if cfg.hangup_after_reprompts > 0 && self.reprompts >= cfg.hangup_after_reprompts {
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

    /// Starts ending the call: no new turns; say the closing phrase; set the AMI result;
    /// hang up once everything queued has been played.
    fn begin_ending(&mut self, ending: Ending) {
        let phrases = self.shared.phrases.clone();
        let ami = self.shared.ami.clone();
        let uuid = self.info.uuid;
        let out = self.out.clone();
        let target = self.shared.config.conversation.transfer_target.clone();
        let ending = match ending {
            Ending::Transfer { reason } if ami.is_some() => {
                self.say(&phrases.transfer_notice);
                let ami = ami.expect("checked");
                let summary = self.summary_line(&reason);
                tokio::spawn(async move {
                    if let Err(e) = ami
                        .set_call_result(&uuid, "transfer", Some(&target), &summary)
                        .await
                    {
                        warn!(error = %e, "could not set the hand-over variables over AMI; hanging up");
                    }
                    out.hangup_after_drain();
                });
                Ending::Transfer { reason }
            }
            Ending::Transfer { reason } => {
                // No AMI: the dialplan cannot be told where to go. Apologise and hang up.
                warn!(%reason, "hand-over requested but [ami] is not enabled; apologising and hanging up");
                self.say(&phrases.apology);
                self.say(&phrases.goodbye);
                out.hangup_after_drain();
                Ending::Hangup {
                    outcome: RecordOutcome::AgentHangup,
                }
            }
            Ending::Hangup { outcome } => {
                self.say(&phrases.goodbye);
                out.hangup_after_drain();
                Ending::Hangup { outcome }
            }
        };
        self.ending = Some(ending);
    }

    /// One line for `AGENT_SUMMARY`: why, and what the caller last said.
    fn summary_line(&self, reason: &str) -> String {
        let last_caller = self
            .conversation
            .as_ref()
            .and_then(|c| {
                c.history()
                    .iter()
                    .rev()
                    .find(|m| m.role == crate::dialog::Role::User)
                    .map(|m| m.content.clone())
            })
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

    async fn finish(&mut self, caller_hung_up: bool) -> CallOutcome {
        if let Some(turn) = self.turn.take() {
            turn.cancel.cancel();
            if let Some(go) = turn.go {
                let _ = go.send(false);
            }
        }
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
        let (outcome, target) = match (&self.ending, caller_hung_up) {
            (Some(Ending::Transfer { .. }), _) => (
                RecordOutcome::Transferred,
                Some(self.shared.config.conversation.transfer_target.clone()),
            ),
            (Some(Ending::Hangup { outcome }), _) => (*outcome, None),
            (None, true) => (RecordOutcome::CallerHangup, None),
            (None, false) => (RecordOutcome::Shutdown, None),
        };
        info!(outcome = outcome.as_str(), "call ended");
        if let Some(records) = &self.shared.records {
            records.call_ended(CallEnd {
                uuid: self.info.uuid,
                ended_at: SystemTime::now(),
                outcome,
                transfer_target: target,
                language: Some(self.language.clone()),
                error: None,
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
        if caller_hung_up && self.ending.is_none() {
            CallOutcome::CallerHungUp
        } else {
            CallOutcome::Finished
        }
    }
}

/// The next message of the turn in flight; pending forever when there is none.
async fn recv_turn(turn: &mut Option<TurnTask>) -> Option<TurnMsg> {
    match turn {
        Some(t) => t.msgs.recv().await,
        None => std::future::pending().await,
    }
}
