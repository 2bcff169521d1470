//! The caller's turns: starting, dropping and answering turn tasks, and what they report.

use super::*;

impl Call {
    /// A new utterance (merged with what came before it): transcribe it as soon as the
    /// conversation is free.
    pub(super) fn transcribe(&mut self, id: UtteranceId, audio: Vec<f32>, end: Duration) {
        // A turn still running (its answer was heard): the caller has started a new turn.
        self.supersede_turn();
        self.apologised = false;
        // `end` includes the VAD's padding after the last speech window: the pre-roll, or
        // less when the utterance was reported sooner (an early transcription pause).
        let pre_roll = Duration::from_millis(self.shared.config.vad.pre_roll_ms as u64);
        let pad = pre_roll.min(self.turn_taking.config().vad_pause);
        let behind = self
            .endpointer
            .now()
            .saturating_sub(end.saturating_sub(pad));
        if let Some(old) = self.reply.take() {
            // The agent was still talking (no barge-in: disabled, or inside the protect
            // window): what is queued still plays; keep it in the record rather than dropping
            // it, marked interrupted (its turn is cancelled, the rest is never generated).
            if !old.sentences.is_empty() {
                let text = old.text();
                self.finish_reply(old, text, true);
            }
        }
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
    pub(super) fn start_turn_if_free(&mut self) {
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
    pub(super) fn ask_model(&mut self, id: UtteranceId, audio: Vec<f32>) {
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
    pub(super) fn supersede_turn(&mut self) {
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
    pub(super) fn drop_turn(&mut self, id: UtteranceId) {
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
    pub(super) fn answer(&mut self, id: UtteranceId, text: String) {
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
    pub(super) fn commit_caller_turn(&mut self) {
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

    pub(super) fn on_turn_msg(&mut self, msg: Option<TurnMsg>) {
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
                if self.turn.as_ref().is_some_and(|t| t.forget) {
                    conversation.forget_last_turn();
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

    pub(super) fn on_sentence(
        &mut self,
        item: PlayId,
        text: String,
        released: Instant,
        tts: Duration,
        audio: Arc<Vec<f32>>,
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
                self.shared.llm_budget.observe(1.0, d, 0);
            }
            reply.latencies.tts_first_audio_ms = Some(tts.as_millis() as u32);
            self.shared.metrics.observe_stage(Stage::TtsFirstAudio, tts);
        }
        reply.sentences.push((item, text));
        self.barge.agent_started(self.endpointer.now());
    }

    /// A stage failed or ran over its budget: apologise once, whatever else the turn reports
    /// afterwards (its later messages are ignored).
    pub(super) fn fail_turn(&mut self) {
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

    pub(super) fn on_summary(&mut self, summary: TurnSummary) {
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
}
