//! Answering-machine screening of an outbound call (see [`crate::amd`]).
//!
//! A screened call does not greet at once: the callee's audio goes to the detector (with the
//! VAD's speech flag; the first utterances are transcribed for voicemail/IVR phrases) and not
//! to turn-taking. A human (or no verdict) → the greeting plays and the conversation starts as
//! usual. A machine → `[amd] action`: the configured message is spoken after the beep (or
//! after the greeting ends) and the agent hangs up, or it hangs up at once. The verdict and
//! what was done go to the [`MachineDetection`] hook (the campaign), which also says which
//! calls are outbound: inbound calls are never screened unless `[amd] inbound` says so.

use super::*;
use crate::amd::{
    AmdAction, AmdDetector, AmdOutput, AmdParams, AmdReport, Decision, MachineDetection,
    VerdictBoard,
};
use crate::cancel::CancelHandle;
use crate::config::MachineAction;
use std::sync::OnceLock;

/// What all calls share for screening: the campaign's hook and the message audio
/// (synthesised once, on the first machine).
#[derive(Default)]
pub(crate) struct AmdShared {
    pub(crate) hook: OnceLock<Arc<dyn MachineDetection>>,
    message: tokio::sync::OnceCell<Arc<Vec<f32>>>,
    /// The board used when `[amd] inbound` screens calls no hook asked for.
    board: OnceLock<Arc<VerdictBoard>>,
}

/// What screening tasks report back to the call loop.
pub(super) enum AmdMsg {
    /// A transcript of the greeting (empty when the transcription failed).
    Transcript(String),
    /// The message audio, or why it could not be made.
    Message(Result<Arc<Vec<f32>>, String>),
}

/// Where screening stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Listening for the verdict.
    Listening,
    /// A machine: waiting for the end of its greeting (and for the message audio).
    Waiting,
    /// The message is playing, or the agent hung up.
    Acted,
    /// A human (or undecided): the conversation runs as on any call.
    Done,
}

/// One call's screening.
pub(super) struct Screening {
    detector: AmdDetector,
    hook: Arc<dyn MachineDetection>,
    stage: Stage,
    action: MachineAction,
    cue_reached: bool,
    message: Option<Arc<Vec<f32>>>,
    transcripts: usize,
    cancel: CancelHandle,
    tx: mpsc::UnboundedSender<AmdMsg>,
    rx: mpsc::UnboundedReceiver<AmdMsg>,
    acted: AmdAction,
}

impl Screening {
    /// Screening for this call, if `[amd]` is enabled and the call is to be screened.
    pub(super) fn start(shared: &Arc<Shared>, info: &CallInfo) -> Option<Screening> {
        let cfg = &shared.config.amd;
        if !cfg.enabled {
            return None;
        }
        let hook: Arc<dyn MachineDetection> = match shared.amd.hook.get() {
            Some(h) if h.screen(&info.uuid) => Arc::clone(h),
            _ if cfg.inbound => shared
                .amd
                .board
                .get_or_init(|| Arc::new(VerdictBoard::screening_all()))
                .clone(),
            _ => return None,
        };
        info!("screening the call for an answering machine");
        let (tx, rx) = mpsc::unbounded_channel();
        Some(Screening {
            detector: AmdDetector::new(
                AmdParams::from_config(cfg),
                crate::pipeline::HANDLER_RATE_HZ,
            ),
            hook,
            stage: Stage::Listening,
            action: cfg.action,
            cue_reached: false,
            message: None,
            transcripts: 0,
            cancel: CancelHandle::new(),
            tx,
            rx,
            acted: AmdAction::CallEnded,
        })
    }

    /// True while the callee's audio belongs to screening, not to the conversation.
    pub(super) fn holds_call(&self) -> bool {
        self.stage != Stage::Done
    }
}

/// The next screening message; pending forever without screening.
pub(super) async fn recv(amd: &mut Option<Screening>) -> AmdMsg {
    match amd.as_mut() {
        Some(s) => match s.rx.recv().await {
            Some(m) => m,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

impl Call {
    /// True while screening owns the call (no greeting, no turn-taking, no re-prompts).
    pub(super) fn screening(&self) -> bool {
        self.amd.as_ref().is_some_and(Screening::holds_call)
    }

    /// Caller audio to the detector (utterances to the ASR for phrases while listening);
    /// true while screening owns the call (the conversation does not see the audio). After a
    /// human verdict the detector still listens for `revise_window_ms` (a late beep).
    pub(super) fn amd_on_audio(
        &mut self,
        samples: &[f32],
        voiced: bool,
        events: &[VadEvent],
    ) -> bool {
        let Some(s) = self.amd.as_mut() else {
            return false;
        };
        if s.stage == Stage::Done && s.detector.decider().is_done() {
            return false;
        }
        let outputs = s.detector.push(samples, voiced);
        if s.stage == Stage::Listening {
            for event in events {
                if let VadEvent::EndOfUtterance { audio, .. } = event {
                    let audio = audio.clone();
                    if s.transcripts < crate::amd::set::MAX_TRANSCRIPTS {
                        s.transcripts += 1;
                        s.detector.transcript_pending();
                        let job = self
                            .shared
                            .engines
                            .transcribe
                            .transcribe(audio, s.cancel.clone());
                        let tx = s.tx.clone();
                        tokio::spawn(async move {
                            let text = match job.await {
                                Ok(heard) => heard.text,
                                Err(e) => {
                                    tracing::debug!(error = %e, "greeting transcription failed");
                                    String::new()
                                }
                            };
                            let _ = tx.send(AmdMsg::Transcript(text));
                        });
                    }
                }
            }
        }
        let holds = s.holds_call();
        self.on_amd_outputs(outputs);
        holds
    }

    /// A screening task reported.
    pub(super) fn on_amd_msg(&mut self, msg: AmdMsg) {
        let Some(s) = self.amd.as_mut() else {
            return;
        };
        match msg {
            AmdMsg::Transcript(text) => {
                tracing::debug!(%text, "greeting transcript");
                let outputs = s.detector.transcript(&text);
                self.on_amd_outputs(outputs);
            }
            AmdMsg::Message(Ok(audio)) => {
                s.message = Some(audio);
                if s.cue_reached {
                    self.leave_message();
                }
            }
            AmdMsg::Message(Err(e)) => {
                warn!(error = %e, "cannot synthesise the voicemail message; hanging up");
                self.errors.push(format!("voicemail message: {e}"));
                self.amd_hang_up();
            }
        }
    }

    fn on_amd_outputs(&mut self, outputs: Vec<AmdOutput>) {
        for o in outputs {
            match o {
                AmdOutput::Decided(d) => self.on_amd_decision(d),
                AmdOutput::Revised(d) => self.on_amd_revised(d),
                AmdOutput::SpeakNow { at, cue } => {
                    info!(
                        at_ms = at.as_millis() as u64,
                        ?cue,
                        "the machine's greeting is over"
                    );
                    if let Some(s) = self.amd.as_mut().filter(|s| s.stage == Stage::Waiting) {
                        s.cue_reached = true;
                        if s.message.is_some() {
                            self.leave_message();
                        }
                    }
                }
                AmdOutput::GaveUp { at } => {
                    info!(
                        at_ms = at.as_millis() as u64,
                        "the machine's greeting never ended"
                    );
                    if self.amd.as_ref().is_some_and(|s| s.stage == Stage::Waiting) {
                        self.amd_hang_up();
                    }
                }
            }
        }
    }

    fn on_amd_decision(&mut self, d: Decision) {
        let Some(s) = self.amd.as_mut() else {
            return;
        };
        info!(
            verdict = d.verdict.as_str(),
            reason = %d.reason,
            at_ms = d.at.as_millis() as u64,
            "answering-machine verdict"
        );
        s.hook.decided(&self.info.uuid, &d);
        if !d.is_machine() {
            s.stage = Stage::Done;
            s.acted = AmdAction::Converse;
            s.cancel.cancel();
            // Whatever the VAD holds belongs to the greeting, not to the first turn.
            self.endpointer.reset();
            self.idle_since = Instant::now();
            let phrases = self.shared.phrases.clone();
            let greeting = self.greeting.clone();
            for phrase in [&phrases.disclosure, &greeting].into_iter().flatten() {
                self.say(phrase);
            }
            return;
        }
        s.cancel.cancel();
        s.action = if d.is_ivr() {
            self.shared.config.amd.ivr_action
        } else {
            self.shared.config.amd.action
        };
        let text = self.shared.config.amd.message.trim().to_string();
        if s.action == MachineAction::HangUp || text.is_empty() {
            self.amd_hang_up();
            return;
        }
        s.stage = Stage::Waiting;
        let tx = s.tx.clone();
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let made = shared
                .amd
                .message
                .get_or_try_init(|| async {
                    shared
                        .engines
                        .synthesize
                        .synthesize(text, CancelHandle::new())
                        .await
                        .map(Arc::new)
                        .map_err(|e| e.to_string())
                })
                .await
                .cloned();
            let _ = tx.send(AmdMsg::Message(made));
        });
    }

    /// A machine after all (a beep soon after the "person" verdict): stop the greeting and
    /// whatever the conversation started, then act as on any machine.
    fn on_amd_revised(&mut self, d: Decision) {
        if self.ending.is_some() {
            return;
        }
        info!(reason = %d.reason, "a machine after all; stopping the greeting");
        self.out.clear();
        self.barge.agent_stopped();
        self.supersede_turn();
        self.queued = None;
        self.reply = None;
        self.caller_turn = None;
        if let Some(s) = self.amd.as_mut() {
            s.stage = Stage::Listening;
        }
        self.on_amd_decision(d);
    }

    /// Speaks the message to the machine, then hangs up once it was played.
    fn leave_message(&mut self) {
        let Some(s) = self.amd.as_mut().filter(|s| s.stage == Stage::Waiting) else {
            return;
        };
        let Some(audio) = s.message.clone() else {
            return;
        };
        s.stage = Stage::Acted;
        s.acted = AmdAction::LeftMessage {
            at: s.detector.now(),
        };
        let rate = self.shared.engines.synthesize.sample_rate();
        match self.out.play(audio.to_vec(), rate) {
            Ok(id) => {
                if let Some(rec) = &mut self.recording {
                    rec.agent_item(id, Arc::clone(&audio), rate);
                }
                info!("leaving the voicemail message");
                let text = self.shared.config.amd.message.clone();
                self.record_turn(
                    Role::Agent,
                    &text,
                    SystemTime::now(),
                    TurnLatencies::default(),
                    false,
                    Vec::new(),
                );
            }
            Err(e) => warn!(error = %e, "cannot play the voicemail message"),
        }
        self.out.hangup_after_drain();
        self.ending = Some(Ending::Hangup {
            outcome: RecordOutcome::AgentHangup,
        });
    }

    fn amd_hang_up(&mut self) {
        if let Some(s) = self.amd.as_mut() {
            s.stage = Stage::Acted;
            s.acted = AmdAction::HungUp;
        }
        info!("hanging up on the machine");
        self.out.hangup_after_drain();
        self.ending = Some(Ending::Hangup {
            outcome: RecordOutcome::AgentHangup,
        });
    }

    /// The call ended: tell the hook what screening found and did.
    pub(super) fn amd_finish(&mut self) {
        let Some(s) = self.amd.take() else {
            return;
        };
        s.cancel.cancel();
        let d = s.detector.decider();
        let report = AmdReport {
            decision: d.decision().cloned(),
            beep_at: d.beep_at(),
            action: s.acted.clone(),
            transcript: d.transcript().to_string(),
        };
        info!(
            result = report.attempt_result(),
            action = ?report.action,
            "answering-machine screening finished"
        );
        s.hook.finished(&self.info.uuid, &report);
    }
}
