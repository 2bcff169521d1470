//! What the playout reports: latency on the wire, finished replies, the call record's turns.

use super::*;

impl Call {
    pub(super) fn on_progress(&mut self, progress: &PlayoutProgress) {
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
    pub(super) fn maybe_finish_reply(&mut self, progress: &PlayoutProgress) {
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

    pub(super) fn finish_reply(&mut self, reply: Reply, text: String, interrupted: bool) {
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
}
