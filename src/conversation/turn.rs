//! One agent turn, as a task: transcribe → (wait for the call loop's go) → LLM streams →
//! each complete sentence is synthesised and queued at once → done.
//!
//! The task reports every step to the call loop, which owns timing, barge-in and records.
//! Cancelling (barge-in, hang-up, over budget) stops the LLM through its [`CancelHandle`] and
//! the transcription and synthesis behind it, and stops queuing audio; the conversation comes
//! back in [`TurnMsg::Finished`] either way. A stage over its budget cancels its own work too.

use super::traits::Converse;
use super::turn_taking::UtteranceId;
use super::Shared;
use crate::cancel::CancelHandle;
use crate::dialog::chunker::SentenceChunker;
use crate::dialog::session::{TurnEvent, TurnSummary};
use crate::pipeline::{PlayId, Playout};
use crate::records::ToolCallRecord;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What a turn task tells its call loop.
#[derive(Debug)]
pub(crate) enum TurnMsg {
    /// The utterance's transcript (the task now waits for [`TurnGo`]).
    Transcript {
        /// Recognised text (empty: nothing was said).
        text: String,
        /// Transcription time.
        asr: Duration,
        /// Language Whisper used or detected.
        language: String,
    },
    /// First text from the LLM.
    FirstToken {
        /// When it came.
        at: Instant,
    },
    /// A sentence was synthesised and queued for playing.
    Sentence {
        /// Its playout item.
        id: PlayId,
        /// What it says.
        text: String,
        /// When the LLM released it.
        released: Instant,
        /// Synthesis time.
        tts: Duration,
        /// Its audio at the voice's rate, in [-1, 1] (for the call recording).
        audio: Arc<Vec<f32>>,
    },
    /// A tool ran.
    Tool(ToolCallRecord),
    /// A stage failed or ran over its budget.
    Failed {
        /// `asr`, `llm` or `tts`.
        stage: &'static str,
        /// What happened.
        error: String,
    },
    /// The task is over; the conversation comes back.
    Finished {
        /// The conversation, for the next turn.
        conversation: Box<dyn Converse>,
        /// The LLM's account of the turn (None when it never ran).
        summary: Option<TurnSummary>,
    },
}

/// The call loop's answer to a transcript: go on to the LLM, or drop the turn (the caller
/// went on speaking and the utterance will be merged into the next one).
pub(crate) type TurnGo = oneshot::Sender<bool>;

/// A running turn task.
pub(crate) struct TurnTask {
    /// The caller's utterance this turn answers.
    pub(crate) id: UtteranceId,
    /// Stops the LLM and further audio.
    pub(crate) cancel: CancelHandle,
    /// Steps, in order.
    pub(crate) msgs: mpsc::UnboundedReceiver<TurnMsg>,
    /// Sends the go/drop decision once the transcript is in.
    pub(crate) go: Option<TurnGo>,
    /// Replaced by a newer utterance or cut by barge-in: its messages are ignored but for
    /// `Finished`, which hands the conversation back.
    pub(crate) superseded: bool,
    /// What the caller heard of this turn's reply before a barge-in, to be put into the
    /// history in place of the full reply once the conversation comes back.
    pub(crate) heard: Option<String>,
    /// Its answer was retracted unheard: the history forgets the turn once it comes back.
    pub(crate) forget: bool,
}

/// Starts a turn on utterance `id`'s `audio` (16 kHz), transcribed within `asr_budget`.
/// `conversation` is handed back in `Finished`.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    conversation: Box<dyn Converse>,
    id: UtteranceId,
    audio: Vec<f32>,
    asr_budget: Duration,
    out: Playout,
) -> TurnTask {
    let (tx, msgs) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = oneshot::channel();
    let cancel = CancelHandle::new();
    let task_cancel = cancel.clone();
    tokio::spawn(async move {
        let mut conversation = conversation;
        let summary = run(
            &shared,
            conversation.as_mut(),
            Utterance { audio, asr_budget },
            out,
            task_cancel,
            go_rx,
            &tx,
        )
        .await;
        let _ = tx.send(TurnMsg::Finished {
            conversation,
            summary,
        });
    });
    TurnTask {
        id,
        cancel,
        msgs,
        go: Some(go_tx),
        superseded: false,
        heard: None,
        forget: false,
    }
}

/// The caller's utterance and how long its transcription may take.
struct Utterance {
    audio: Vec<f32>,
    asr_budget: Duration,
}

async fn run(
    shared: &Arc<Shared>,
    conversation: &mut dyn Converse,
    utterance: Utterance,
    out: Playout,
    cancel: CancelHandle,
    go: oneshot::Receiver<bool>,
    tx: &mpsc::UnboundedSender<TurnMsg>,
) -> Option<TurnSummary> {
    let cfg = &shared.config.conversation;
    let Utterance { audio, asr_budget } = utterance;
    let started = Instant::now();
    let audio_s = audio.len() as f64 / 16_000.0;
    let engines = &shared.engines;
    let ahead = shared.asr_in_flight.fetch_add(1, Ordering::SeqCst)
        / engines.transcribe.max_concurrent().max(1);
    // The caller waits on the transcript: later sentences of other calls give way.
    let foreground = shared.priority.foreground();
    let asr = engines.transcribe.transcribe(audio, cancel.clone());
    let result = tokio::time::timeout(asr_budget, asr).await;
    drop(foreground);
    shared.asr_in_flight.fetch_sub(1, Ordering::SeqCst);
    let heard = match result {
        Ok(Ok(h)) => {
            shared.asr_budget.observe(audio_s, started.elapsed(), ahead);
            h
        }
        Ok(Err(e)) => {
            let _ = tx.send(TurnMsg::Failed {
                stage: "asr",
                error: e.to_string(),
            });
            return None;
        }
        Err(_) => {
            // Stop the transcription behind the budget, not only the wait for it.
            cancel.cancel();
            let _ = tx.send(TurnMsg::Failed {
                stage: "asr",
                error: format!("no transcript within {} ms", asr_budget.as_millis()),
            });
            return None;
        }
    };
    let text = heard.text.trim().to_string();
    let _ = tx.send(TurnMsg::Transcript {
        text: text.clone(),
        asr: started.elapsed(),
        language: heard.language.clone(),
    });
    if text.is_empty() {
        return None;
    }
    let mut go = go;
    let go = match go.try_recv() {
        Ok(decided) => Ok(decided),
        Err(oneshot::error::TryRecvError::Closed) => Err(()),
        Err(oneshot::error::TryRecvError::Empty) => {
            // The answer decision waits (end-of-turn model, long silence): put the prompt
            // with this transcript into the KV cache meanwhile. A wrong guess (the caller
            // goes on) costs only this compute.
            if cfg.speculative_prefill {
                conversation.prefill(&text);
            }
            go.await.map_err(|_| ())
        }
    };
    if !matches!(go, Ok(true)) || cancel.is_cancelled() {
        return None;
    }

    // Sentences go to a synthesis task as the LLM releases them, so the first one plays
    // while the rest of the reply is still being generated.
    let (sentence_tx, mut sentence_rx) = mpsc::unbounded_channel::<(String, Instant)>();
    // Audio ahead of the caller: sentences released to TTS and not yet queued, and what is
    // queued. With enough of it, this call's next sentences may give way to work another
    // caller (or this one's first audio) waits on; with less, the synthesis is foreground.
    let ahead = AudioAhead::new(out.clone(), cfg.llm_defer_ahead_ms);
    if cfg.llm_defer_ahead_ms > 0 {
        let ahead = ahead.clone();
        conversation.set_deferral(Some(crate::priority::Deferral::new(
            Arc::clone(&shared.priority),
            move || ahead.is_enough(),
        )));
    }
    let synth_ahead = ahead.clone();
    let tts_shared = Arc::clone(shared);
    let tts_tx = tx.clone();
    let tts_cancel = cancel.clone();
    let tts_budget = Duration::from_millis(cfg.tts_budget_ms);
    let synth = tokio::spawn(async move {
        let tts = &tts_shared.engines.synthesize;
        while let Some((sentence, released)) = sentence_rx.recv().await {
            if tts_cancel.is_cancelled() {
                break;
            }
            let t0 = Instant::now();
            let deadline = tokio::time::Instant::now() + tts_budget;
            // Each piece plays as soon as it is ready (the first clause of a long sentence
            // first), the budget covering the whole sentence.
            let mut pieces = tts.synthesize_pieces(sentence.clone(), tts_cancel.clone());
            let mut failed = false;
            loop {
                // Foreground while the caller would otherwise hear a gap.
                let foreground =
                    (!synth_ahead.has_queued()).then(|| tts_shared.priority.foreground());
                let next = tokio::time::timeout_at(deadline, pieces.recv()).await;
                drop(foreground);
                let piece = match next {
                    Ok(Some(Ok(p))) => p,
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        let _ = tts_tx.send(TurnMsg::Failed {
                            stage: "tts",
                            error: e.to_string(),
                        });
                        failed = true;
                        break;
                    }
                    Err(_) => {
                        tts_cancel.cancel();
                        let _ = tts_tx.send(TurnMsg::Failed {
                            stage: "tts",
                            error: format!(
                                "sentence not synthesised within {} ms",
                                tts_budget.as_millis()
                            ),
                        });
                        failed = true;
                        break;
                    }
                };
                if tts_cancel.is_cancelled() {
                    break;
                }
                if piece.audio.is_empty() {
                    continue;
                }
                match out.play(piece.audio.clone(), tts.sample_rate()) {
                    Ok(id) => {
                        let _ = tts_tx.send(TurnMsg::Sentence {
                            id,
                            text: piece.text,
                            released,
                            tts: t0.elapsed(),
                            audio: Arc::new(piece.audio),
                        });
                    }
                    Err(_) => {
                        failed = true; // the call is over
                        break;
                    }
                }
            }
            synth_ahead.sentence_done();
            if failed {
                break;
            }
        }
    });

    let mut chunker = SentenceChunker::new();
    let mut first_token = true;
    // A slow LLM: the first chunk goes to TTS after a few words even without a clause end.
    let slow_after =
        (cfg.first_chunk_wait_ms > 0).then(|| Duration::from_millis(cfg.first_chunk_wait_ms));
    let first_words = cfg.first_chunk_words;
    let mut first_text_at: Option<Instant> = None;
    let mut tool_started: Option<(crate::dialog::ToolCall, Instant)> = None;
    let tools_tx = tx.clone();
    let result = conversation
        .user_turn(
            &text,
            cancel.clone(),
            Box::new(|event| match event {
                TurnEvent::Text(piece) => {
                    if first_token && !piece.trim().is_empty() {
                        first_token = false;
                        let now = Instant::now();
                        first_text_at = Some(now);
                        let _ = tools_tx.send(TurnMsg::FirstToken { at: now });
                    }
                    for sentence in chunker.push(&piece) {
                        ahead.sentence_released();
                        let _ = sentence_tx.send((sentence, Instant::now()));
                    }
                    let slow = slow_after
                        .zip(first_text_at)
                        .is_some_and(|(wait, t)| t.elapsed() >= wait);
                    if slow && !chunker.released_any() {
                        if let Some(chunk) = chunker.release_first_words(first_words) {
                            ahead.sentence_released();
                            let _ = sentence_tx.send((chunk, Instant::now()));
                        }
                    }
                }
                TurnEvent::ToolCall(call) => tool_started = Some((call, Instant::now())),
                TurnEvent::ToolResult { name, result } => {
                    let (arguments, took) = match tool_started.take() {
                        Some((call, t0)) if call.name == name => (call.arguments, t0.elapsed()),
                        _ => (serde_json::Value::Null, Duration::ZERO),
                    };
                    let _ = tools_tx.send(TurnMsg::Tool(ToolCallRecord {
                        name,
                        arguments,
                        result: serde_json::from_str(&result)
                            .unwrap_or(serde_json::Value::String(result)),
                        duration_ms: took.as_millis() as u64,
                    }));
                }
            }),
        )
        .await;
    conversation.set_deferral(None);
    if let Some(rest) = chunker.finish() {
        ahead.sentence_released();
        let _ = sentence_tx.send((rest, Instant::now()));
    }
    drop(sentence_tx);
    let _ = synth.await;
    match result {
        Ok(summary) => Some(summary),
        Err(e) => {
            let _ = tx.send(TurnMsg::Failed {
                stage: "llm",
                error: e.to_string(),
            });
            None
        }
    }
}

/// A reply's audio ahead of the caller: sentences released to TTS and not yet queued, and the
/// audio queued to play (what decides whether its later sentences may give way).
#[derive(Debug, Clone)]
struct AudioAhead {
    out: Playout,
    /// Sentences sent to the synthesis task and not yet fully queued.
    synthesising: Arc<std::sync::atomic::AtomicUsize>,
    /// Queued audio that counts as enough (ms).
    enough_ms: u64,
}

impl AudioAhead {
    fn new(out: Playout, enough_ms: u32) -> AudioAhead {
        AudioAhead {
            out,
            synthesising: Arc::default(),
            enough_ms: u64::from(enough_ms),
        }
    }

    fn sentence_released(&self) {
        self.synthesising.fetch_add(1, Ordering::SeqCst);
    }

    fn sentence_done(&self) {
        // Never below zero: a sentence released after the synthesis task ended is not counted
        // down, and one counted down twice must not wrap.
        let _ = self
            .synthesising
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// At least `enough_ms` of audio queued.
    fn has_queued(&self) -> bool {
        let rate = u64::from(self.out.call_rate().max(1));
        self.out.queued_samples() as u64 * 1000 >= self.enough_ms * rate
    }

    /// Whether the caller has audio coming without the LLM: a sentence being synthesised or
    /// enough queued.
    fn is_enough(&self) -> bool {
        self.synthesising.load(Ordering::SeqCst) > 0 || self.has_queued()
    }
}

#[cfg(test)]
mod tests {
    use super::AudioAhead;
    use crate::pipeline::Playout;

    #[test]
    fn audio_ahead_counts_sentences_being_synthesised_and_queued_audio() {
        let out = Playout::new(8_000);
        let ahead = AudioAhead::new(out.clone(), 600);
        assert!(!ahead.is_enough(), "nothing coming");
        ahead.sentence_released();
        assert!(ahead.is_enough(), "a sentence is being synthesised");
        assert!(!ahead.has_queued());
        ahead.sentence_done();
        ahead.sentence_done(); // never below zero
        assert!(!ahead.is_enough());
        out.play(vec![0.1; 4_000], 8_000).unwrap(); // 500 ms
        assert!(!ahead.is_enough(), "less than 600 ms queued");
        out.play(vec![0.1; 1_600], 8_000).unwrap(); // 700 ms in all
        assert!(ahead.has_queued() && ahead.is_enough());
        out.clear();
        assert!(!ahead.is_enough());
    }
}
