//! Reply-shaping benchmark (`agent bench llm --replies`): on real chat turns, how much sooner
//! the clause-first chunker releases the first chunk to TTS than a sentences-only chunker
//! (tokens and milliseconds after the request), what the reply guard did (sentences, tokens,
//! stops), and the turn-2 time to first token with and without a speculative prefill.

use super::chunker::SentenceChunker;
use super::engine::{CancelHandle, GenParams, LlmEngine};
use super::guard::ReplyLimits;
use super::session::{Conversation, TurnEvent};
use super::tools::ToolRegistry;
use super::DialogError;
use crate::config::ToolChoice;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Caller turns of a phone line (English and Russian).
pub const CALLER_TURNS: &[&str] = &[
    "Hi, I would like to book an appointment for a cleaning next week.",
    "Can you tell me your opening hours on Saturday?",
    "I need to cancel my appointment on Monday, something came up.",
    "How much does a filling cost, and do you take insurance?",
    "My tooth hurts a lot since yesterday, what should I do?",
    "Where exactly is the clinic, is there parking nearby?",
    "Здравствуйте, я хочу записаться к стоматологу на завтра.",
    "Сколько стоит чистка зубов?",
];

/// One turn's measurements.
#[derive(Debug, Clone)]
pub struct ReplyRun {
    /// Tokens streamed before the clause-first chunker released its first chunk.
    pub clause_first_tokens: Option<usize>,
    /// The same for a sentences-only chunker.
    pub sentence_first_tokens: Option<usize>,
    /// Time from the request to those releases.
    pub clause_first_at: Option<Duration>,
    /// Time from the request to the sentences-only release.
    pub sentence_first_at: Option<Duration>,
    /// The first chunk the clause-first chunker released.
    pub first_chunk: String,
    /// Tokens before the call's chunker released its first chunk: clause-first, and a slow
    /// LLM's cut after a few words (`SentenceChunker::release_first_words`).
    pub slow_first_tokens: Option<usize>,
    /// Time from the request to that release.
    pub slow_first_at: Option<Duration>,
    /// The first chunk it released.
    pub slow_first_chunk: String,
    /// Spoken reply.
    pub reply: String,
    /// Tokens generated.
    pub generated: usize,
    /// Why the guard stopped the reply, if it did.
    pub guard: Option<&'static str>,
}

/// Runs each caller turn as the first turn of a fresh conversation and measures it.
pub async fn replies(
    engine: &Arc<LlmEngine>,
    system: &str,
    turns: &[&str],
    params: &GenParams,
    slow_cut: (Duration, usize),
) -> Result<Vec<ReplyRun>, DialogError> {
    let mut out = Vec::new();
    for turn in turns {
        let mut conv = Conversation::new(
            engine.session()?,
            system,
            Arc::new(ToolRegistry::empty()),
            params.clone(),
            1,
        );
        let mut clause = SentenceChunker::new();
        let mut sentence = SentenceChunker::sentences_only();
        let mut slow = SentenceChunker::new();
        let mut first_text: Option<Instant> = None;
        let mut tokens = 0usize;
        let mut run = ReplyRun {
            clause_first_tokens: None,
            sentence_first_tokens: None,
            clause_first_at: None,
            sentence_first_at: None,
            first_chunk: String::new(),
            slow_first_tokens: None,
            slow_first_at: None,
            slow_first_chunk: String::new(),
            reply: String::new(),
            generated: 0,
            guard: None,
        };
        let t0 = Instant::now();
        let summary = conv
            .user_turn(turn, CancelHandle::new(), |e| {
                if let TurnEvent::Text(t) = e {
                    tokens += 1;
                    let c = clause.push(&t);
                    if run.clause_first_tokens.is_none() && !c.is_empty() {
                        run.clause_first_tokens = Some(tokens);
                        run.clause_first_at = Some(t0.elapsed());
                        run.first_chunk = c[0].clone();
                    }
                    if run.sentence_first_tokens.is_none() && !sentence.push(&t).is_empty() {
                        run.sentence_first_tokens = Some(tokens);
                        run.sentence_first_at = Some(t0.elapsed());
                    }
                    // What a call does (conversation::turn): clause-first, and after
                    // `slow_cut.0` since the first text a cut after `slow_cut.1` words.
                    if first_text.is_none() && !t.trim().is_empty() {
                        first_text = Some(Instant::now());
                    }
                    let mut got = slow.push(&t).into_iter().next();
                    let late = first_text.is_some_and(|f| f.elapsed() >= slow_cut.0);
                    if got.is_none() && late && !slow.released_any() {
                        got = slow.release_first_words(slow_cut.1);
                    }
                    if let (None, Some(chunk)) = (&run.slow_first_tokens, got) {
                        run.slow_first_tokens = Some(tokens);
                        run.slow_first_at = Some(t0.elapsed());
                        run.slow_first_chunk = chunk;
                    }
                }
            })
            .await?;
        // A reply that never completed a chunk is released at its end, by both chunkers.
        let end = t0.elapsed();
        if let Some(rest) = clause.finish() {
            if run.clause_first_tokens.is_none() {
                run.first_chunk = rest;
            }
        }
        run.clause_first_tokens.get_or_insert(tokens);
        run.clause_first_at.get_or_insert(end);
        if let Some(rest) = slow.finish() {
            if run.slow_first_tokens.is_none() {
                run.slow_first_chunk = rest;
            }
        }
        run.slow_first_tokens.get_or_insert(tokens);
        run.slow_first_at.get_or_insert(end);
        run.sentence_first_tokens.get_or_insert(tokens);
        run.sentence_first_at.get_or_insert(end);
        run.reply = summary.reply.clone();
        run.generated = summary.rounds.iter().map(|r| r.generated_tokens).sum();
        run.guard = summary
            .rounds
            .iter()
            .find_map(|r| r.guard.map(|g| g.as_str()));
        out.push(run);
    }
    Ok(out)
}

/// Turn-2 time to first token after turn 1, with a speculative prefill of the first half of
/// the turn-2 text and without: (with, without, extra tokens reused thanks to the prefill).
pub async fn prefill_gain(
    engine: &Arc<LlmEngine>,
    system: &str,
    reps: usize,
) -> Result<(Vec<Duration>, Vec<Duration>, usize), DialogError> {
    let mut params = GenParams::greedy(4);
    params.tool_choice = ToolChoice::None;
    params.reply_limits = ReplyLimits::off();
    let turn2 = "I would also like to ask whether you have any appointments available on \
                 Saturday morning, because during the week I work until six in the evening \
                 and I cannot leave the office early, so a weekend slot would be ideal.";
    let half = &turn2[..turn2.len() * 2 / 3];
    let half = &half[..half.rfind(' ').unwrap_or(half.len())];
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut extra = 0;
    for r in 0..reps {
        let mut reused = [0usize; 2];
        for (k, speculate) in [true, false].into_iter().enumerate() {
            let mut conv = Conversation::new(
                engine.session()?,
                system,
                Arc::new(ToolRegistry::empty()),
                params.clone(),
                1,
            );
            conv.user_turn(
                CALLER_TURNS[r % CALLER_TURNS.len()],
                CancelHandle::new(),
                |_| {},
            )
            .await?;
            if speculate {
                conv.prefill(half)?;
                // The caller is still talking: the prefill runs meanwhile.
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            let s = conv.user_turn(turn2, CancelHandle::new(), |_| {}).await?;
            let stats = &s.rounds[0];
            reused[k] = stats.reused_tokens;
            let ttft = stats.time_to_first_token.unwrap_or_default();
            if speculate {
                with.push(ttft);
            } else {
                without.push(ttft);
            }
        }
        extra = reused[0].saturating_sub(reused[1]);
    }
    Ok((with, without, extra))
}
