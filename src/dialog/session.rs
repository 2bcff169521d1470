//! Per-call state: [`Session`] (the call's sequence in the shared context, its KV cache reused
//! across turns) and [`Conversation`] (history, tools and the tool loop on top of it).

pub use super::batch::scheduler::GrammarSpec;
use super::batch::scheduler::{Command, Request, SamplingSpec};
use super::chunker::MarkupFilter;
use super::engine::{
    CancelHandle, FinishReason, GenEvent, GenParams, GenStats, Generation, LlmEngine,
};
use super::grammar::{tool_call_grammar, tool_call_triggers};
use super::template::ToolFormat;
use super::tools::{CallAction, ToolRegistry};
use super::{ChatMessage, DialogError, Role, ToolCall, ToolSpec};
use crate::config::ToolChoice;
use std::sync::Arc;
use std::time::Instant;

/// One call in the engine: its generations run on a sequence of the shared context, which it
/// keeps between turns (KV reuse) unless the sequence is needed by another call while this one
/// is idle. Dropping it frees the sequence.
#[derive(Debug)]
pub struct Session {
    engine: Arc<LlmEngine>,
    id: u64,
    /// Given to every generation it submits (see [`Session::set_deferral`]).
    deferral: Option<crate::priority::Deferral>,
}

impl Session {
    pub(crate) fn new(engine: Arc<LlmEngine>, id: u64) -> Self {
        Session {
            engine,
            id,
            deferral: None,
        }
    }

    /// Lets this call's generations wait for foreground work while its caller has audio
    /// ahead (`None`: they never wait). Applies to generations submitted after it.
    pub fn set_deferral(&mut self, deferral: Option<crate::priority::Deferral>) {
        self.deferral = deferral;
    }

    /// This call's session id (unique per engine).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<LlmEngine> {
        &self.engine
    }

    /// Continues raw prompt text (no chat template): tokens stream out as produced.
    pub fn generate_prompt(
        &mut self,
        prompt: &str,
        params: &GenParams,
    ) -> Result<Generation, DialogError> {
        let tokens = self.engine.tokenize(prompt);
        self.submit(tokens, params, None, CancelHandle::new(), None, 0)
    }

    /// Continues raw prompt text under a grammar (strict, or lazy: free text until a trigger
    /// pattern appears, constrained from there) — structured output beyond tool calls.
    pub fn generate_constrained(
        &mut self,
        prompt: &str,
        params: &GenParams,
        grammar: GrammarSpec,
    ) -> Result<Generation, DialogError> {
        let tokens = self.engine.tokenize(prompt);
        self.submit(tokens, params, Some(grammar), CancelHandle::new(), None, 0)
    }

    /// Continues a token sequence (no template).
    pub fn generate_tokens(
        &mut self,
        tokens: Vec<llama_cpp_2::token::LlamaToken>,
        params: &GenParams,
    ) -> Result<Generation, DialogError> {
        self.submit(tokens, params, None, CancelHandle::new(), None, 0)
    }

    /// Renders `messages` (and `tools`) with the chat template and generates the reply.
    /// Tool calls are grammar-constrained (lazy with `ToolChoice::Auto`, from the first token
    /// with `Required`); visible text streams as `Token`, calls arrive as `ToolCall`.
    pub fn generate(
        &mut self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        params: &GenParams,
        cancel: CancelHandle,
    ) -> Result<Generation, DialogError> {
        let template = self.engine.template().ok_or_else(|| {
            DialogError::Template(
                "the model has no chat template; set llm.chat_template (e.g. \"qwen2.5\")".into(),
            )
        })?;
        let format = template.tool_format();
        let tools: &[ToolSpec] = if params.tool_choice == ToolChoice::None {
            &[]
        } else {
            tools
        };
        let capacity = self.engine.context_per_call();
        let budget = capacity.saturating_sub(params.max_tokens as usize + 1);
        // Drop the oldest turns after the system prompt until the prompt fits.
        let first_kept = usize::from(messages.first().is_some_and(|m| m.role == Role::System));
        let mut trimmed = 0;
        let tokens = loop {
            let mut window: Vec<ChatMessage> = messages[..first_kept].to_vec();
            window.extend_from_slice(&messages[first_kept + trimmed..]);
            let prompt = template.render(&window, tools, true)?;
            let tokens = self.engine.tokenize(&prompt);
            if tokens.len() <= budget {
                break tokens;
            }
            // Keep at least the last message; skip to the next user message so the window
            // never starts with a tool result or an assistant reply.
            let mut next = trimmed + 1;
            while first_kept + next < messages.len()
                && messages[first_kept + next].role != Role::User
            {
                next += 1;
            }
            if first_kept + next >= messages.len() {
                return Err(DialogError::Engine(format!(
                    "the prompt ({} tokens) does not fit the call context of {capacity} tokens \
                     even with the history trimmed; raise llm.context_per_call or shorten the \
                     system prompt",
                    tokens.len()
                )));
            }
            trimmed = next;
        };
        let grammar = if tools.is_empty() || !params.tool_grammar {
            None
        } else {
            let text = tool_call_grammar(tools, format)?;
            let (patterns, opener) = tool_call_triggers(format);
            let opener_tokens =
                self.engine
                    .model()
                    .vocab()
                    .tokenize(opener.as_bytes(), false, true);
            let lazy = params.tool_choice == ToolChoice::Auto;
            Some(GrammarSpec {
                text,
                lazy,
                patterns: if lazy { patterns } else { Vec::new() },
                trigger_tokens: if lazy && opener_tokens.len() == 1 && format == ToolFormat::Hermes
                {
                    opener_tokens
                } else {
                    Vec::new()
                },
            })
        };
        let mut params = params.clone();
        params
            .stop
            .extend(end_markers(format).iter().map(|s| s.to_string()));
        let filter = MarkupFilter::new(format == ToolFormat::Llama3Json && !tools.is_empty());
        self.submit(
            tokens,
            &params,
            grammar,
            cancel,
            Some((filter, format)),
            trimmed,
        )
    }

    /// Starts filling this call's KV cache with the prompt the next turn will have, as far as
    /// it is known: `messages` ending with the caller's PARTIAL user message (a speculative
    /// transcript), rendered up to the end of that text. The real turn then only evaluates
    /// what differs (the cached prefix is reused token by token, so a partial transcript that
    /// turns out different costs nothing extra). Returns a handle that stops the prefill, or
    /// `None` when there is nothing to do (no template, prompt would not fit).
    pub fn prefill(
        &mut self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        params: &GenParams,
    ) -> Result<Option<CancelHandle>, DialogError> {
        const MARK: &str = "\u{E000}enclave-prefill\u{E000}";
        let Some(template) = self.engine.template() else {
            return Ok(None);
        };
        let mut window = messages.to_vec();
        match window.last_mut() {
            Some(m) if m.role == Role::User => m.content.push_str(MARK),
            _ => {
                return Err(DialogError::Engine(
                    "prefill needs the partial user message last".into(),
                ))
            }
        }
        let tools: &[ToolSpec] = if params.tool_choice == ToolChoice::None {
            &[]
        } else {
            tools
        };
        let prompt = template.render(&window, tools, true)?;
        let Some(cut) = prompt.find(MARK) else {
            return Ok(None);
        };
        let tokens = self.engine.tokenize(&prompt[..cut]);
        let capacity = self.engine.context_per_call();
        if tokens.len() + params.max_tokens as usize + 1 > capacity {
            return Ok(None);
        }
        let mut params = params.clone();
        params.max_tokens = 0;
        let cancel = CancelHandle::new();
        let (request, _events) = self.request(tokens, &params, None, &cancel);
        self.engine.send(Command::Generate(Box::new(request)))?;
        Ok(Some(cancel))
    }

    fn request(
        &self,
        prompt: Vec<llama_cpp_2::token::LlamaToken>,
        params: &GenParams,
        grammar: Option<GrammarSpec>,
        cancel: &CancelHandle,
    ) -> (
        Request,
        tokio::sync::mpsc::UnboundedReceiver<super::batch::scheduler::RawEvent>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let request = Request {
            session: self.id,
            prompt,
            sampling: SamplingSpec {
                temperature: params.temperature,
                top_k: params.top_k,
                top_p: params.top_p,
                seed: params.seed,
                grammar,
            },
            max_tokens: params.max_tokens,
            stop: params.stop.clone(),
            events: tx,
            cancel: cancel.flag(),
            stop_early: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            submitted: Instant::now(),
            // A prefill has no caller waiting on it and nothing to defer (`max_tokens == 0`
            // never reaches the token steps); generations carry the call's deferral.
            deferral: self.deferral.clone(),
        };
        (request, rx)
    }

    fn submit(
        &mut self,
        prompt: Vec<llama_cpp_2::token::LlamaToken>,
        params: &GenParams,
        grammar: Option<GrammarSpec>,
        cancel: CancelHandle,
        chat: Option<(MarkupFilter, ToolFormat)>,
        trimmed: usize,
    ) -> Result<Generation, DialogError> {
        let (request, rx) = self.request(prompt, params, grammar, &cancel);
        let stop = request.stop_early.clone();
        self.engine.send(Command::Generate(Box::new(request)))?;
        Ok(Generation::new(
            rx,
            cancel,
            chat,
            params.reply_limits,
            stop,
            trimmed,
        ))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.engine.release_session(self.id);
    }
}

/// End-of-turn markers of a template family, as text (stop strings for models whose
/// vocabulary lacks them as special tokens).
fn end_markers(format: ToolFormat) -> &'static [&'static str] {
    match format {
        ToolFormat::Hermes => &["<|im_end|>", "<|endoftext|>"],
        ToolFormat::Llama3Json => &["<|eot_id|>", "<|eom_id|>"],
    }
}

/// What happens during a caller turn, in order.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// Visible reply text as it streams (feed it to the sentence chunker).
    Text(String),
    /// The model called a tool.
    ToolCall(ToolCall),
    /// The tool's result (JSON text, as given to the model).
    ToolResult {
        /// Tool name.
        name: String,
        /// Result JSON.
        result: String,
    },
}

/// The outcome of a caller turn.
#[derive(Debug, Clone, Default)]
pub struct TurnSummary {
    /// The final spoken reply text (all rounds, markup removed).
    pub reply: String,
    /// Tool calls made, with results.
    pub tool_calls: Vec<(ToolCall, String)>,
    /// Call actions requested by tools (transfer, hang up).
    pub actions: Vec<CallAction>,
    /// Stats of each generation round.
    pub rounds: Vec<GenStats>,
    /// The turn was cancelled (barge-in).
    pub cancelled: bool,
    /// Calls made in the last allowed round, not executed (`llm.max_tool_rounds`).
    pub dropped_calls: Vec<ToolCall>,
}

/// A call's conversation: history, tools, and the generate → call tools → continue loop.
#[derive(Debug)]
pub struct Conversation {
    session: Session,
    history: Vec<ChatMessage>,
    tools: Arc<ToolRegistry>,
    params: GenParams,
    max_tool_rounds: u32,
    /// The speculative prefill in flight, if any.
    prefill: Option<CancelHandle>,
}

impl Conversation {
    /// A conversation with a system prompt (empty = none) and tools.
    pub fn new(
        session: Session,
        system_prompt: &str,
        tools: Arc<ToolRegistry>,
        params: GenParams,
        max_tool_rounds: u32,
    ) -> Self {
        let history = if system_prompt.trim().is_empty() {
            Vec::new()
        } else {
            vec![ChatMessage::system(system_prompt)]
        };
        Conversation {
            session,
            history,
            tools,
            params,
            max_tool_rounds: max_tool_rounds.max(1),
            prefill: None,
        }
    }

    /// The history so far.
    pub fn history(&self) -> &[ChatMessage] {
        &self.history
    }

    /// Replaces the text of the last assistant reply with what the caller actually heard
    /// (after a barge-in), so the model is not told it said what was never played.
    pub fn replace_last_reply(&mut self, heard: &str) {
        if let Some(m) = self
            .history
            .iter_mut()
            .rev()
            .find(|m| m.role == Role::Assistant)
        {
            m.content = heard.to_string();
        }
    }

    /// Forgets the last caller turn and everything after it (the reply, tool calls and
    /// results): its answer was retracted before the caller heard any of it, and the merged
    /// sentence comes as the next turn. A tool's effect outside the history stays.
    pub fn forget_last_turn(&mut self) {
        if let Some(i) = self.history.iter().rposition(|m| m.role == Role::User) {
            self.history.truncate(i);
        }
        if let Some(previous) = self.prefill.take() {
            previous.cancel();
        }
    }

    /// Lets this conversation's generations wait for foreground work while its caller has
    /// audio ahead (see [`Session::set_deferral`]).
    pub fn set_deferral(&mut self, deferral: Option<crate::priority::Deferral>) {
        self.session.set_deferral(deferral);
    }

    /// The session (sequence) underneath.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Speculative prefill: while the caller is still talking (or in a short pause), decodes
    /// the next turn's prompt with `partial_user_text` (the transcript so far) into the call's
    /// KV cache, so that [`Conversation::user_turn`] with the final text only evaluates what
    /// changed. Returns at once; the turn that follows waits for the prefill to finish (it is
    /// queued on the same sequence) and reuses it. A wrong guess costs only the prefill's
    /// compute. Returns whether a prefill was started.
    pub fn prefill(&mut self, partial_user_text: &str) -> Result<bool, DialogError> {
        if let Some(previous) = self.prefill.take() {
            previous.cancel(); // superseded by a longer transcript
        }
        let mut messages = self.history.clone();
        messages.push(ChatMessage::user(partial_user_text));
        let specs = self.tools.specs();
        let handle = self.session.prefill(&messages, &specs, &self.params)?;
        let started = handle.is_some();
        self.prefill = handle;
        Ok(started)
    }

    /// Runs one caller turn: generates, executes tool calls, feeds results back and continues
    /// until the model answers in text (or `max_tool_rounds`). `cancel` stops it (barge-in);
    /// what was generated before the cancel stays in the history.
    pub async fn user_turn(
        &mut self,
        text: &str,
        cancel: CancelHandle,
        mut on_event: impl FnMut(TurnEvent),
    ) -> Result<TurnSummary, DialogError> {
        // A prefill still running is kept: this turn is queued behind it and reuses it.
        self.prefill = None;
        self.history.push(ChatMessage::user(text));
        let specs = self.tools.specs();
        let mut summary = TurnSummary::default();
        for round in 0..self.max_tool_rounds {
            let mut params = self.params.clone();
            if round > 0 && params.tool_choice == ToolChoice::Required {
                params.tool_choice = ToolChoice::Auto; // forced once; then the model decides
            }
            let last_round = round + 1 == self.max_tool_rounds;
            if last_round {
                // Answer in words: no grammar, but the same tools in the prompt so the prompt
                // prefix (and the KV cache) stays the same.
                params.tool_grammar = false;
            }
            let mut generation =
                self.session
                    .generate(&self.history, &specs, &params, cancel.clone())?;
            let trimmed = generation.trimmed_messages;
            if trimmed > 0 {
                let first =
                    usize::from(self.history.first().is_some_and(|m| m.role == Role::System));
                self.history.drain(first..first + trimmed);
            }
            let mut visible = String::new();
            let mut calls = Vec::new();
            let mut stats = None;
            while let Some(event) = generation.next().await {
                match event {
                    GenEvent::Token(t) => {
                        visible.push_str(&t);
                        on_event(TurnEvent::Text(t));
                    }
                    GenEvent::ToolCall(c) => calls.push(c),
                    GenEvent::Done(s) => stats = Some(s),
                    GenEvent::Error(e) => return Err(DialogError::Engine(e)),
                }
            }
            let stats = stats
                .ok_or_else(|| DialogError::Engine("generation ended without stats".into()))?;
            let cancelled = stats.finish == FinishReason::Cancelled;
            summary.rounds.push(stats);
            let content = visible.trim().to_string();
            if !summary.reply.is_empty() && !content.is_empty() {
                summary.reply.push(' ');
            }
            summary.reply.push_str(&content);
            if cancelled {
                summary.cancelled = true;
                if !content.is_empty() {
                    self.history.push(ChatMessage::assistant(content));
                }
                return Ok(summary);
            }
            if last_round && !calls.is_empty() {
                tracing::warn!(
                    calls = calls.len(),
                    "tool calls in the last allowed round are not executed (llm.max_tool_rounds)"
                );
                summary.dropped_calls = calls;
                self.history.push(ChatMessage::assistant(content));
                return Ok(summary);
            }
            if calls.is_empty() {
                self.history.push(ChatMessage::assistant(content));
                return Ok(summary);
            }
            self.history
                .push(ChatMessage::assistant_tool_calls(content, calls.clone()));
            for call in calls {
                on_event(TurnEvent::ToolCall(call.clone()));
                let outcome = self.tools.execute(&call).await;
                let result = outcome.result.to_string();
                on_event(TurnEvent::ToolResult {
                    name: call.name.clone(),
                    result: result.clone(),
                });
                if let Some(action) = outcome.action {
                    summary.actions.push(action);
                }
                self.history
                    .push(ChatMessage::tool(call.name.clone(), result.clone()));
                summary.tool_calls.push((call, result));
            }
            if cancel.is_cancelled() {
                summary.cancelled = true;
                return Ok(summary);
            }
        }
        Ok(summary)
    }
}
