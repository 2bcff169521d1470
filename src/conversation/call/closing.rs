//! Timers, DTMF, hand-over and the end of the call: re-prompts, budgets, AMI results, outcomes.

use super::*;

impl Call {
    pub(super) fn on_dtmf(&mut self, digit: char) {
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

    pub(super) fn on_tick(&mut self) {
        if self.ending.is_some() || self.screening() {
            return;
        }
        let turn_live = self.turn.as_ref().is_some_and(|t| !t.superseded);
        let llm_waiting = self
            .reply
            .as_ref()
            .filter(|r| r.sentences.is_empty() && !r.generated && turn_live)
            .and_then(|r| r.llm_started)
            .map(|s| s.elapsed());
        let quiet = self.turn.is_none()
            && self.queued.is_none()
            && self.reply.is_none()
            && self.out.queued_samples() == 0
            && !self.endpointer.in_speech();
        let state = TickState {
            elapsed: self.info.started.elapsed(),
            llm_waiting,
            llm_budget: self.shared.llm_budget.budget(1.0, 0),
            quiet,
            idle: self.idle_since.elapsed(),
        };
        match self.timers.on_tick(state) {
            TimerAction::None => {}
            TimerAction::MaxLength => {
                info!("maximum call length reached");
                self.begin_ending(Ending::Hangup {
                    outcome: RecordOutcome::AgentHangup,
                });
            }
            TimerAction::LlmOverBudget => {
                warn!(
                    budget_ms = self.shared.llm_budget.budget(1.0, 0).as_millis() as u64,
                    "no reply sentence within the LLM budget"
                );
                self.shared.metrics.error("llm");
                self.fail_turn();
            }
            TimerAction::Reprompt => {
                let reprompt = self.shared.phrases.reprompt.clone();
                self.say(&reprompt);
                self.idle_since = Instant::now();
            }
            TimerAction::GiveUp => {
                info!(
                    reprompts = self.timers.reprompts(),
                    "caller silent; hanging up"
                );
                self.begin_ending(Ending::Hangup {
                    outcome: RecordOutcome::Timeout,
                });
            }
        }
    }

    /// Starts ending the call: no new turns; say the closing phrase; set the AMI result
    /// (hanging up once Asterisk confirmed it); hang up once everything queued was played.
    pub(super) fn begin_ending(&mut self, ending: Ending) {
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
                let mut summary = self.summary_line(&reason);
                let summarizer = self.shared.summarizer.get().cloned();
                let transcript = self.conversation.as_ref().map(|c| c.transcript());
                let why = reason.clone();
                let tx = self.handover_tx.clone();
                tokio::spawn(async move {
                    // What the caller wanted (time-bounded), while the transfer notice plays.
                    if let (Some(s), Some(lines)) = (summarizer, transcript) {
                        summary = s.handover_line(&why, &lines).await;
                    }
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
    pub(super) fn on_handover(&mut self, result: Result<(), String>) {
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
    pub(super) fn handover_failed(&mut self, error: String) {
        self.shared.metrics.handover_failed();
        self.shared.metrics.error("ami");
        self.errors.push(error);
        self.apologise();
        let offer = self.shared.phrases.handover_failed.clone();
        self.say(&offer);
    }

    /// Says the apology, unless it was said since the caller's last answered turn.
    pub(super) fn apologise(&mut self) {
        if !self.apologised {
            self.apologised = true;
            let apology = self.shared.phrases.apology.clone();
            self.say(&apology);
        }
    }

    /// One line for `AGENT_SUMMARY`: why, and what the caller last said.
    pub(super) fn summary_line(&self, reason: &str) -> String {
        let last_caller = self
            .conversation
            .as_ref()
            .and_then(|c| c.last_caller_text())
            .unwrap_or_default();
        format!("{reason}; caller: {last_caller}")
    }

    pub(super) fn record_turn(
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

    pub(super) async fn finish(&mut self, stop: Stop) -> CallOutcome {
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
        self.amd_finish();
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
