//! The decode loop: one thread owns the llama.cpp context and, every step, puts the work of all
//! active calls into ONE batch — prompt chunks of calls that are prefilling and one token for
//! each call that is generating (continuous batching, like llama-server's parallel slots).
//!
//! Calls are sessions; the context has a fixed pool of sequences (`max_parallel`). A session
//! keeps its sequence between turns, so its KV cache survives and a new prompt is compared
//! with the tokens already in the cache and only the differing suffix is evaluated. When more
//! sessions want to generate than there are sequences, the least recently used idle sequence
//! is taken over (its owner re-evaluates its prompt on its next turn), and requests wait for a
//! free sequence when all are busy — so calls are not limited to the number of sequences.

use super::super::engine::{FinishReason, GenStats};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// A grammar constraint for one request.
#[derive(Debug, Clone)]
pub struct GrammarSpec {
    /// GBNF text with a `root` rule.
    pub text: String,
    /// Lazy: only enforced once a trigger pattern/token appears.
    pub lazy: bool,
    /// Regex trigger patterns (lazy only); the grammar is fed from the first capture group.
    pub patterns: Vec<String>,
    /// Trigger tokens (lazy only).
    pub trigger_tokens: Vec<LlamaToken>,
}

/// How to pick tokens.
#[derive(Debug, Clone)]
pub struct SamplingSpec {
    /// 0 = greedy.
    pub temperature: f32,
    /// Top-k (0 = off).
    pub top_k: u32,
    /// Top-p (1.0 = off).
    pub top_p: f32,
    /// Seed of the random sampler.
    pub seed: u32,
    /// Optional grammar.
    pub grammar: Option<GrammarSpec>,
}

/// What the scheduler sends back for one request.
#[derive(Debug)]
pub enum RawEvent {
    /// Generated text (complete UTF-8, stop strings removed).
    Piece(String),
    /// Finished.
    Done(GenStats),
    /// Failed; no `Done` follows.
    Error(String),
}

/// One generation request of a session.
#[derive(Debug)]
pub struct Request {
    /// Session (call) id.
    pub session: u64,
    /// The whole prompt; the cached prefix is reused.
    pub prompt: Vec<LlamaToken>,
    /// Sampling settings.
    pub sampling: SamplingSpec,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Stop strings (not included in the output).
    pub stop: Vec<String>,
    /// Where events go.
    pub events: UnboundedSender<RawEvent>,
    /// Set to stop generating (barge-in).
    pub cancel: Arc<AtomicBool>,
    /// Set to end the generation normally before its limit (the reply guard ended it).
    pub stop_early: Arc<AtomicBool>,
    /// When the request was made (for time to first token).
    pub submitted: Instant,
    /// Lets its token steps wait while a caller elsewhere waits on foreground work (a
    /// transcription, a first sentence's audio) and this call has audio ahead; `None` never
    /// waits.
    pub deferral: Option<crate::priority::Deferral>,
}

/// Messages to the scheduler thread.
#[derive(Debug)]
pub enum Command {
    /// Start (or queue) a generation.
    Generate(Box<Request>),
    /// The call ended: forget its cache.
    Release {
        /// Session id.
        session: u64,
    },
    /// Stop the thread.
    Shutdown,
}

enum Phase {
    Idle,
    Prefill,
    Generate,
}

struct Active {
    req: Request,
    sampler: TokenSampler,
    pending: Vec<LlamaToken>,
    reused: usize,
    last_token: LlamaToken,
    generated: u32,
    utf8: Vec<u8>,
    text: String,
    emitted: usize,
    first_token_at: Option<Instant>,
}

struct Slot {
    /// Session whose KV cache this sequence holds.
    owner: Option<u64>,
    /// Scheduler tick of the last request started here (for LRU take-over).
    last_used: u64,
    /// Tokens whose KV entries are in the cache for this sequence, in order.
    cached: Vec<LlamaToken>,
    phase: Phase,
    active: Option<Active>,
    queue: VecDeque<Request>,
}

/// The scheduler's fixed sizes.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerLimits {
    /// Tokens per decode call.
    pub n_batch: usize,
    /// KV capacity of one sequence.
    pub ctx_per_seq: usize,
    /// Number of sequences.
    pub n_seq: usize,
}

/// Runs the decode loop until `Shutdown` or the command channel closes.
pub fn run(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    rx: Receiver<Command>,
    limits: SchedulerLimits,
) {
    let mut slots: Vec<Slot> = (0..limits.n_seq)
        .map(|_| Slot {
            owner: None,
            last_used: 0,
            cached: Vec::new(),
            phase: Phase::Idle,
            active: None,
            queue: VecDeque::new(),
        })
        .collect();
    let mut batch = LlamaBatch::new(limits.n_batch, 1);
    let mut next_prefill = 0usize;
    let mut waiting: VecDeque<Request> = VecDeque::new();
    let mut tick = 0u64;
    loop {
        let busy = !waiting.is_empty()
            || slots
                .iter()
                .any(|s| s.active.is_some() || !s.queue.is_empty());
        let mut commands = Vec::new();
        if !busy {
            match rx.recv() {
                Ok(c) => commands.push(c),
                Err(_) => return,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(c) => commands.push(c),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if commands.is_empty() && !busy {
                        return;
                    }
                    break;
                }
            }
        }
        for cmd in commands {
            match cmd {
                Command::Shutdown => return,
                Command::Release { session } => {
                    waiting.retain(|r| {
                        let mine = r.session == session;
                        if mine {
                            let _ = r.events.send(RawEvent::Error("call released".into()));
                        }
                        !mine
                    });
                    if let Some(seq) = slots.iter().position(|s| s.owner == Some(session)) {
                        let slot = &mut slots[seq];
                        if let Some(a) = slot.active.take() {
                            let _ = a.req.events.send(RawEvent::Error("call released".into()));
                        }
                        for r in slot.queue.drain(..) {
                            let _ = r.events.send(RawEvent::Error("call released".into()));
                        }
                        // The cache stays: the next call that gets this sequence reuses the
                        // common prefix (system prompt and tools are the same for every call)
                        // and `start` drops everything after it.
                        slot.owner = None;
                        slot.phase = Phase::Idle;
                    }
                }
                Command::Generate(req) => waiting.push_back(*req),
            }
        }
        // Give waiting requests a sequence: their own, a free one, or the least recently used
        // idle one (taken over: only the prefix its cache shares with the new prompt is kept).
        let mut still_waiting = VecDeque::new();
        while let Some(req) = waiting.pop_front() {
            if let Some(slot) = slots.iter_mut().find(|s| s.owner == Some(req.session)) {
                slot.queue.push_back(req);
                continue;
            }
            let idle = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.active.is_none() && s.queue.is_empty())
                .min_by_key(|(_, s)| {
                    // Free before taken over; then the cache sharing the longest prefix with
                    // this prompt (usually the system prompt and tools); then least recent.
                    let shared = s
                        .cached
                        .iter()
                        .zip(&req.prompt)
                        .take_while(|(a, b)| a == b)
                        .count();
                    (s.owner.is_some(), std::cmp::Reverse(shared), s.last_used)
                })
                .map(|(i, _)| i);
            match idle {
                Some(seq) => {
                    // Taken over or free: its cached tokens are kept, and `start` reuses
                    // the prefix they share with this call's prompt (the system prompt and
                    // tools) and drops the rest.
                    let slot = &mut slots[seq];
                    slot.owner = Some(req.session);
                    slot.queue.push_back(req);
                }
                None => still_waiting.push_back(req),
            }
        }
        waiting = still_waiting;
        crate::metrics::engines::llm_waiting(
            waiting.len() + slots.iter().map(|s| s.queue.len()).sum::<usize>(),
        );
        // Start queued requests on idle slots.
        for (seq, slot) in slots.iter_mut().enumerate() {
            while slot.active.is_none() {
                let Some(req) = slot.queue.pop_front() else {
                    break;
                };
                tick += 1;
                slot.last_used = tick;
                start(model, ctx, seq as i32, slot, req, limits);
            }
        }
        let stepped = step(
            model,
            ctx,
            &mut slots,
            &mut batch,
            limits,
            &mut next_prefill,
        );
        if let Stepped::AllDeferred(deferral) = stepped {
            // Nothing else to decode: sleep until the foreground work ends instead of
            // spinning; new requests wait at most this long.
            deferral.wait(DEFERRED_POLL);
        }
    }
}

/// Longest sleep of a scheduler whose every generation is deferred (a new request can wait
/// this long before it is seen).
const DEFERRED_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// What one step did.
enum Stepped {
    /// It decoded a batch, or had nothing at all to do.
    Ran,
    /// Every generating sequence waited for foreground work and there was nothing else.
    AllDeferred(crate::priority::Deferral),
}

/// Prepares a request: reuses the cached prefix, builds the sampler.
fn start(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    seq: i32,
    slot: &mut Slot,
    req: Request,
    limits: SchedulerLimits,
) {
    if req.cancel.load(Ordering::Relaxed) {
        let _ = req
            .events
            .send(RawEvent::Done(GenStats::cancelled_before_start(
                req.prompt.len(),
            )));
        return;
    }
    if req.prompt.is_empty() {
        let _ = req.events.send(RawEvent::Error("empty prompt".into()));
        return;
    }
    if req.prompt.len() + 1 > limits.ctx_per_seq {
        let _ = req.events.send(RawEvent::Error(format!(
            "prompt of {} tokens does not fit the {}-token context of a call; raise \
             llm.context_per_call or shorten the history",
            req.prompt.len(),
            limits.ctx_per_seq
        )));
        return;
    }
    let sampler = match build_sampler(model, &req.sampling) {
        Ok(s) => s,
        Err(e) => {
            let _ = req.events.send(RawEvent::Error(e));
            return;
        }
    };
    let mut common = slot
        .cached
        .iter()
        .zip(&req.prompt)
        .take_while(|(a, b)| a == b)
        .count();
    if common == req.prompt.len() {
        if req.max_tokens == 0 {
            // A prefill whose prompt is cached already: nothing to do.
            let _ = req.events.send(RawEvent::Done(GenStats {
                reused_tokens: common,
                finish: FinishReason::Length,
                ..GenStats::cancelled_before_start(req.prompt.len())
            }));
            return;
        }
        common -= 1; // the last prompt token must be evaluated to get logits
    }
    let removed = ctx
        .clear_kv_cache_seq(Some(seq as u32), Some(common as u32), None)
        .unwrap_or(false);
    if !removed {
        let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
        common = 0;
    }
    slot.cached.truncate(common);
    slot.phase = Phase::Prefill;
    slot.active = Some(Active {
        pending: req.prompt[common..].to_vec(),
        reused: common,
        sampler,
        req,
        last_token: LlamaToken(0),
        generated: 0,
        utf8: Vec::new(),
        text: String::new(),
        emitted: 0,
        first_token_at: None,
    });
}

/// A sampler chain plus an optional grammar, applied the way llama.cpp's common sampler does:
/// sample without the grammar first and run the (expensive, whole-vocabulary) grammar pass
/// only when that token is not allowed.
struct TokenSampler {
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
}

impl TokenSampler {
    fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> Option<LlamaToken> {
        let Some(grammar) = self.grammar.as_mut() else {
            return Some(self.chain.sample(ctx, idx));
        };
        let mut cur = ctx.token_data_array_ith(idx);
        cur.apply_sampler(&mut self.chain);
        let first = cur.selected_token()?;
        let mut single =
            LlamaTokenDataArray::new(vec![LlamaTokenData::new(first, 1.0, 0.0)], false);
        single.apply_sampler(grammar);
        let token = if single.data[0].logit().is_finite() {
            first
        } else {
            let mut cur = ctx.token_data_array_ith(idx);
            cur.apply_sampler(grammar);
            if !cur.data.iter().any(|d| d.logit().is_finite()) {
                return None; // the grammar allows nothing
            }
            cur.apply_sampler(&mut self.chain);
            cur.selected_token()?
        };
        grammar.accept(token);
        self.chain.accept(token);
        Some(token)
    }
}

fn build_sampler(model: &LlamaModel, spec: &SamplingSpec) -> Result<TokenSampler, String> {
    let grammar = match &spec.grammar {
        Some(g) => {
            let grammar = if g.lazy {
                LlamaSampler::grammar_lazy_patterns(
                    model,
                    &g.text,
                    "root",
                    &g.patterns,
                    &g.trigger_tokens,
                )
            } else {
                LlamaSampler::grammar(model, &g.text, "root")
            };
            Some(grammar.map_err(|e| format!("tool-call grammar rejected by llama.cpp: {e}"))?)
        }
        None => None,
    };
    let mut chain = Vec::new();
    if spec.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if spec.top_k > 0 {
            chain.push(LlamaSampler::top_k(spec.top_k as i32));
        }
        if spec.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(spec.top_p, 1));
        }
        chain.push(LlamaSampler::temp(spec.temperature));
        chain.push(LlamaSampler::dist(spec.seed));
    }
    Ok(TokenSampler {
        chain: LlamaSampler::chain_simple(chain),
        grammar,
    })
}

/// One decode step over all active sequences.
fn step(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    slots: &mut [Slot],
    batch: &mut LlamaBatch<'_>,
    limits: SchedulerLimits,
    next_prefill: &mut usize,
) -> Stepped {
    // Cancelled and stopped requests finish before spending compute on them.
    for slot in slots.iter_mut() {
        let (cancelled, stopped) = slot.active.as_ref().map_or((false, false), |a| {
            (
                a.req.cancel.load(Ordering::Relaxed),
                a.req.stop_early.load(Ordering::Relaxed),
            )
        });
        if cancelled {
            finish(slot, FinishReason::Cancelled);
        } else if stopped {
            finish(slot, FinishReason::Stop);
        }
    }
    batch.clear();
    // (slot index, batch index of its logits); generating sequences first: one token each.
    let mut outputs: Vec<(usize, i32)> = Vec::new();
    let mut added: Vec<(usize, Vec<LlamaToken>)> = Vec::new();
    let mut deferred = None;
    for (i, slot) in slots.iter_mut().enumerate() {
        if let (Phase::Generate, Some(a)) = (&slot.phase, &slot.active) {
            if let Some(d) = a.req.deferral.as_ref().filter(|d| d.should_wait()) {
                deferred = Some(d.clone());
                continue;
            }
            let pos = slot.cached.len() as i32;
            if batch.add(a.last_token, pos, &[i as i32], true).is_err() {
                break;
            }
            outputs.push((i, batch.n_tokens() - 1));
            added.push((i, vec![a.last_token]));
        }
    }
    // Prompt chunks fill the rest of the batch, round-robin so no call starves.
    let n = slots.len();
    let mut budget = limits.n_batch.saturating_sub(batch.n_tokens() as usize);
    for k in 0..n {
        if budget == 0 {
            break;
        }
        let i = (*next_prefill + k) % n;
        let slot = &mut slots[i];
        let Some(a) = slot.active.as_mut() else {
            continue;
        };
        if !matches!(slot.phase, Phase::Prefill) {
            continue;
        }
        let take = a.pending.len().min(budget);
        let base = slot.cached.len();
        let chunk: Vec<LlamaToken> = a.pending.drain(..take).collect();
        let last_chunk = a.pending.is_empty();
        // A prefill-only request (`max_tokens == 0`) needs no logits: it only fills the cache.
        let sample_after = a.req.max_tokens > 0;
        for (j, tok) in chunk.iter().enumerate() {
            let want_logits = sample_after && last_chunk && j + 1 == chunk.len();
            let _ = batch.add(*tok, (base + j) as i32, &[i as i32], want_logits);
            if want_logits {
                outputs.push((i, batch.n_tokens() - 1));
            }
        }
        budget -= take;
        added.push((i, chunk));
    }
    *next_prefill = (*next_prefill + 1) % n.max(1);
    if let Some(d) = &deferred {
        crate::metrics::engines::llm_deferred_step(batch.n_tokens() == 0);
        if batch.n_tokens() == 0 {
            return Stepped::AllDeferred(d.clone());
        }
    }
    if batch.n_tokens() == 0 {
        return Stepped::Ran;
    }
    let decode_started = std::time::Instant::now();
    let decoded = ctx.decode(batch);
    crate::metrics::engines::llm_step(
        added.len(),
        batch.n_tokens() as usize,
        limits.n_seq,
        decode_started.elapsed(),
    );
    if let Err(e) = decoded {
        let msg = format!("llama_decode failed: {e}");
        for (i, _) in &added {
            let slot = &mut slots[*i];
            if let Some(a) = slot.active.take() {
                let _ = a.req.events.send(RawEvent::Error(msg.clone()));
            }
            slot.phase = Phase::Idle;
            slot.cached.clear();
            let _ = ctx.clear_kv_cache_seq(Some(*i as u32), None, None);
        }
        return Stepped::Ran;
    }
    for (i, toks) in added {
        slots[i].cached.extend(toks);
        let slot = &mut slots[i];
        let prefilled = matches!(slot.phase, Phase::Prefill)
            && slot
                .active
                .as_ref()
                .is_some_and(|a| a.req.max_tokens == 0 && a.pending.is_empty());
        if prefilled {
            finish(slot, FinishReason::Length);
        }
    }
    for (i, idx) in outputs {
        let slot = &mut slots[i];
        let Some(a) = slot.active.as_mut() else {
            continue;
        };
        let Some(token) = a.sampler.sample(ctx, idx) else {
            finish(slot, FinishReason::Stop);
            continue;
        };
        if a.first_token_at.is_none() {
            a.first_token_at = Some(Instant::now());
        }
        slot.phase = Phase::Generate;
        if model.vocab().is_eog(token) {
            finish(slot, FinishReason::Stop);
            continue;
        }
        a.generated += 1;
        a.last_token = token;
        let piece = model.vocab().token_to_piece(token, false, None);
        a.utf8.extend_from_slice(&piece);
        let valid = take_utf8(&mut a.utf8);
        a.text.push_str(&valid);
        if let Some(stop_at) = find_stop(&a.text, a.emitted, &a.req.stop) {
            a.text.truncate(stop_at);
            emit(a, a.text.len());
            finish(slot, FinishReason::Stop);
            continue;
        }
        let hold = stop_holdback(&a.text, &a.req.stop);
        emit(a, a.text.len() - hold);
        if a.generated >= a.req.max_tokens || slot.cached.len() + 1 >= limits.ctx_per_seq {
            finish(slot, FinishReason::Length);
        }
    }
    Stepped::Ran
}

fn emit(a: &mut Active, upto: usize) {
    if upto > a.emitted {
        let piece = a.text[a.emitted..upto].to_string();
        a.emitted = upto;
        let _ = a.req.events.send(RawEvent::Piece(piece));
    }
}

fn finish(slot: &mut Slot, reason: FinishReason) {
    slot.phase = Phase::Idle;
    let Some(mut a) = slot.active.take() else {
        return;
    };
    if !a.utf8.is_empty() && reason != FinishReason::Cancelled {
        let rest = String::from_utf8_lossy(&a.utf8).into_owned();
        a.text.push_str(&rest);
    }
    if reason != FinishReason::Cancelled {
        let len = a.text.len();
        emit(&mut a, len);
    } else {
        a.text.truncate(a.emitted);
    }
    let now = Instant::now();
    let stats = GenStats {
        prompt_tokens: a.req.prompt.len(),
        reused_tokens: a.reused,
        generated_tokens: a.generated as usize,
        time_to_first_token: a.first_token_at.map(|t| t - a.req.submitted),
        total: now - a.req.submitted,
        finish: reason,
        text: a.text,
        guard: None,
    };
    let _ = a.req.events.send(RawEvent::Done(stats));
}

/// Takes the longest valid UTF-8 prefix out of `buf` (invalid bytes become U+FFFD).
fn take_utf8(buf: &mut Vec<u8>) -> String {
    match std::str::from_utf8(buf) {
        Ok(s) => {
            let s = s.to_string();
            buf.clear();
            s
        }
        Err(e) => {
            let valid = e.valid_up_to();
            let mut out = String::from_utf8_lossy(&buf[..valid]).into_owned();
            match e.error_len() {
                Some(bad) => {
                    out.push('\u{FFFD}');
                    buf.drain(..valid + bad);
                    out.push_str(&take_utf8(buf));
                }
                None => {
                    buf.drain(..valid);
                }
            }
            out
        }
    }
}

/// Byte position of the earliest stop string that ends after `emitted`.
fn find_stop(text: &str, emitted: usize, stops: &[String]) -> Option<usize> {
    let longest = stops.iter().map(String::len).max()?;
    let mut from = emitted.saturating_sub(longest);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text[from..].find(s.as_str()).map(|p| p + from))
        .min()
}

/// Bytes at the end of `text` that could be the start of a stop string.
fn stop_holdback(text: &str, stops: &[String]) -> usize {
    let mut hold = 0;
    for s in stops {
        for len in (1..s.len()).rev() {
            if len <= hold {
                break;
            }
            if s.is_char_boundary(len) && text.ends_with(&s[..len]) {
                hold = len;
                break;
            }
        }
    }
    hold
}
