//! The LLM engine: the GGUF model loaded once per process, one shared llama.cpp context whose
//! sequences are the calls, and the scheduler thread that decodes them together.

use super::batch::scheduler::{self, Command, RawEvent, SchedulerLimits};
use super::chunker::MarkupFilter;
use super::guard::{GuardStop, ReplyGuard, ReplyLimits};
use super::session::Session;
use super::template::{ChatTemplate, ToolFormat, LLAMA3_1_TEMPLATE, QWEN2_5_TEMPLATE};
use super::toolcall_parse::parse_reply;
use super::{DialogError, ToolCall};
use crate::config::{LlmConfig, ToolChoice};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();

/// The process-wide llama.cpp backend, initialised on first use (safe to call from many
/// tests in one process; tolerates someone else having initialised it).
pub fn backend() -> &'static LlamaBackend {
    BACKEND.get_or_init(|| {
        // SAFETY: installs a plain C callback with no user data; it only reads `text`.
        // llama_log_set also sets ggml's logger (shared with whisper.cpp, which may install
        // its own; either way the lines go to `tracing`).
        unsafe { llama_cpp_sys_2::llama_log_set(Some(llama_log), std::ptr::null_mut()) };
        match LlamaBackend::init() {
            Ok(b) => b,
            // Already initialised elsewhere in this process: the C side is ready.
            Err(_) => LlamaBackend {},
        }
    })
}

/// llama.cpp/ggml log lines into `tracing` (target `llama.cpp`): errors at warn level, all
/// the rest (model loading, context set-up, the progress dots) at debug, never raw stderr.
/// llama.cpp writes some lines in pieces (a message without `\n`, then `CONT` pieces); the
/// pieces are joined per thread and each complete line is one event.
unsafe extern "C" fn llama_log(
    level: llama_cpp_sys_2::ggml_log_level,
    text: *const std::os::raw::c_char,
    _user: *mut std::os::raw::c_void,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the call.
    let text = unsafe { std::ffi::CStr::from_ptr(text) }.to_string_lossy();
    LOG_LINES.with(|lines| {
        let Ok(mut lines) = lines.try_borrow_mut() else {
            return;
        };
        for (level, line) in lines.push(level, &text) {
            emit_llama_line(level, &line);
        }
    });
}

fn emit_llama_line(level: llama_cpp_sys_2::ggml_log_level, line: &str) {
    if level == llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR {
        tracing::warn!(target: "llama.cpp", "{line}");
    } else {
        tracing::debug!(target: "llama.cpp", "{line}");
    }
}

thread_local! {
    static LOG_LINES: std::cell::RefCell<LogLines> = const {
        std::cell::RefCell::new(LogLines { level: 0, pending: String::new() })
    };
}

/// Joins llama.cpp's log pieces into lines.
#[derive(Debug, Default)]
pub struct LogLines {
    level: llama_cpp_sys_2::ggml_log_level,
    pending: String,
}

impl LogLines {
    /// Feeds one callback's text; returns the complete lines (level, text without `\n`).
    pub fn push(
        &mut self,
        level: llama_cpp_sys_2::ggml_log_level,
        text: &str,
    ) -> Vec<(llama_cpp_sys_2::ggml_log_level, String)> {
        let mut out = Vec::new();
        if level != llama_cpp_sys_2::GGML_LOG_LEVEL_CONT {
            // A new message: whatever was pending without a newline is a line of its own.
            if !self.pending.trim().is_empty() {
                out.push((self.level, std::mem::take(&mut self.pending)));
            }
            self.pending.clear();
            self.level = level;
        }
        self.pending.push_str(text);
        while let Some(nl) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=nl).collect();
            let line = line.trim_end();
            if !line.trim().is_empty() {
                out.push((self.level, line.to_string()));
            }
        }
        out.retain(|(_, l)| !l.trim().is_empty());
        for (_, l) in &mut out {
            let trimmed = l.trim_end().len();
            l.truncate(trimmed);
        }
        out
    }
}

/// How to load the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// GGUF file.
    pub model_path: PathBuf,
    /// Layers on the GPU.
    pub n_gpu_layers: u32,
    /// KV tokens per call.
    pub context_per_call: u32,
    /// Calls decoded at once.
    pub max_parallel: u32,
    /// Tokens per decode step.
    pub batch_size: u32,
    /// CPU threads (0 = all cores).
    pub threads: u32,
    /// Fallback (or override) chat template: built-in name, file or text.
    pub chat_template: Option<String>,
    /// Use `chat_template` even if the GGUF has one.
    pub chat_template_override: bool,
}

impl EngineOptions {
    /// Options from `[llm]`, with the model path given explicitly (`--model`) or from config.
    pub fn from_config(cfg: &LlmConfig, model: Option<&Path>) -> Result<Self, DialogError> {
        let model_path = model
            .map(Path::to_path_buf)
            .or_else(|| cfg.model.clone())
            .ok_or_else(|| DialogError::ModelLoad {
                path: String::new(),
                message: "no model: set llm.model in the config or pass --model".into(),
            })?;
        Ok(EngineOptions {
            model_path,
            n_gpu_layers: cfg.n_gpu_layers,
            context_per_call: cfg.context_per_call,
            max_parallel: cfg.max_parallel,
            batch_size: cfg.batch_size.max(cfg.max_parallel),
            threads: cfg.threads,
            chat_template: cfg.chat_template.clone(),
            chat_template_override: cfg.chat_template_override,
        })
    }

    /// Defaults for a model file (tests, benchmarks).
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        let d = LlmConfig::default();
        EngineOptions {
            model_path: model_path.into(),
            n_gpu_layers: 0,
            context_per_call: d.context_per_call,
            max_parallel: d.max_parallel,
            batch_size: d.batch_size,
            threads: 0,
            chat_template: None,
            chat_template_override: false,
        }
    }
}

/// Generation settings of one request.
#[derive(Debug, Clone)]
pub struct GenParams {
    /// Most tokens.
    pub max_tokens: u32,
    /// 0 = greedy.
    pub temperature: f32,
    /// Top-k (0 = off).
    pub top_k: u32,
    /// Top-p (1.0 = off).
    pub top_p: f32,
    /// Sampling seed.
    pub seed: u32,
    /// Extra stop strings.
    pub stop: Vec<String>,
    /// Tool calling mode (chat generation only).
    pub tool_choice: ToolChoice,
    /// Constrain tool calls with the grammar. `false` keeps the tools in the prompt (same
    /// prompt prefix, so the KV cache is reused) without forcing or checking calls.
    pub tool_grammar: bool,
    /// Spoken-length cap and repetition guard of chat replies ([`ReplyGuard`]).
    pub reply_limits: ReplyLimits,
}

impl GenParams {
    /// Greedy decoding of at most `max_tokens`.
    pub fn greedy(max_tokens: u32) -> Self {
        GenParams {
            max_tokens,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
            tool_choice: ToolChoice::Auto,
            tool_grammar: true,
            reply_limits: ReplyLimits::off(),
        }
    }

    /// Settings from `[llm]`.
    pub fn from_config(cfg: &LlmConfig) -> Self {
        GenParams {
            max_tokens: cfg.max_tokens,
            temperature: cfg.temperature as f32,
            top_k: cfg.top_k,
            top_p: cfg.top_p as f32,
            seed: cfg.seed,
            stop: Vec::new(),
            tool_choice: cfg.tool_choice,
            tool_grammar: true,
            reply_limits: ReplyLimits {
                max_sentences: cfg.max_reply_sentences,
                max_tokens: cfg.max_reply_tokens,
                stop_repetition: cfg.stop_repetition,
            },
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or a stop string.
    Stop,
    /// `max_tokens` or the call's context is full.
    Length,
    /// Cancelled (barge-in) or the stream was dropped.
    Cancelled,
}

/// Numbers of one generation.
#[derive(Debug, Clone)]
pub struct GenStats {
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Prompt tokens taken from the call's KV cache instead of being evaluated.
    pub reused_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// From request to first sampled token.
    pub time_to_first_token: Option<Duration>,
    /// From request to the end.
    pub total: Duration,
    /// Why it ended.
    pub finish: FinishReason,
    /// Everything generated (raw, markup included, stop strings removed).
    pub text: String,
    /// Set when the reply guard stopped a chat reply (then `finish` is `Stop`).
    pub guard: Option<GuardStop>,
}

impl GenStats {
    pub(crate) fn cancelled_before_start(prompt_tokens: usize) -> Self {
        GenStats {
            prompt_tokens,
            reused_tokens: 0,
            generated_tokens: 0,
            time_to_first_token: None,
            total: Duration::ZERO,
            finish: FinishReason::Cancelled,
            text: String::new(),
            guard: None,
        }
    }

    /// Generated tokens per second after the first token.
    pub fn tokens_per_second(&self) -> f64 {
        let gen_time = self
            .total
            .saturating_sub(self.time_to_first_token.unwrap_or_default());
        if self.generated_tokens <= 1 || gen_time.is_zero() {
            return 0.0;
        }
        (self.generated_tokens - 1) as f64 / gen_time.as_secs_f64()
    }
}

/// What a generation stream yields.
#[derive(Debug, Clone)]
pub enum GenEvent {
    /// Text as produced (for chat generation: visible text only, markup removed).
    Token(String),
    /// A parsed tool call (chat generation, after the reply ends).
    ToolCall(ToolCall),
    /// The end, with numbers.
    Done(GenStats),
    /// A failure; nothing follows.
    Error(String),
}

pub use crate::cancel::CancelHandle;

/// A running generation: a stream of [`GenEvent`]s. Dropping it cancels the generation.
#[derive(Debug)]
pub struct Generation {
    rx: tokio::sync::mpsc::UnboundedReceiver<RawEvent>,
    cancel: CancelHandle,
    /// Set for chat generations: markup filter and tool-call format.
    chat: Option<(MarkupFilter, ToolFormat)>,
    /// Chat generations: the spoken-length cap and repetition guard.
    guard: Option<ReplyGuard>,
    /// Tells the scheduler to stop early (the guard ended the reply; not a cancel).
    stop: Arc<AtomicBool>,
    queued: VecDeque<GenEvent>,
    finished: bool,
    /// Oldest history messages left out of the prompt because the context was full.
    pub trimmed_messages: usize,
    /// Tool-call blocks in the reply that could not be parsed (chat generation).
    pub tool_call_errors: Vec<String>,
}

impl Generation {
    pub(crate) fn new(
        rx: tokio::sync::mpsc::UnboundedReceiver<RawEvent>,
        cancel: CancelHandle,
        chat: Option<(MarkupFilter, ToolFormat)>,
        limits: ReplyLimits,
        stop: Arc<AtomicBool>,
        trimmed_messages: usize,
    ) -> Self {
        let guard = (chat.is_some() && limits.is_on()).then(|| ReplyGuard::new(limits));
        Generation {
            rx,
            cancel,
            chat,
            guard,
            stop,
            queued: VecDeque::new(),
            finished: false,
            trimmed_messages,
            tool_call_errors: Vec::new(),
        }
    }

    /// A handle that cancels this generation from elsewhere (barge-in).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// The next event; `None` after `Done`/`Error`.
    pub async fn next(&mut self) -> Option<GenEvent> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Some(e);
            }
            if self.finished {
                return None;
            }
            let raw = self.rx.recv().await;
            self.handle(raw);
        }
    }

    /// Like [`Generation::next`], blocking the thread (not for use inside an async runtime).
    pub fn blocking_next(&mut self) -> Option<GenEvent> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Some(e);
            }
            if self.finished {
                return None;
            }
            let raw = self.rx.blocking_recv();
            self.handle(raw);
        }
    }

    fn handle(&mut self, raw: Option<RawEvent>) {
        match raw {
            None => {
                self.finished = true;
                self.queued
                    .push_back(GenEvent::Error("LLM engine stopped".into()));
            }
            Some(RawEvent::Piece(p)) => match &mut self.chat {
                Some((filter, _)) => {
                    let visible = filter.push(&p);
                    self.speak(visible, false);
                }
                None => self.queued.push_back(GenEvent::Token(p)),
            },
            Some(RawEvent::Error(e)) => {
                self.finished = true;
                self.queued.push_back(GenEvent::Error(e));
            }
            Some(RawEvent::Done(mut stats)) => {
                self.finished = true;
                if let Some((filter, _)) = &mut self.chat {
                    let rest = filter.finish();
                    self.speak(rest, stats.finish != FinishReason::Cancelled);
                }
                stats.guard = self.guard.as_ref().and_then(ReplyGuard::stopped);
                if let Some(reason) = stats.guard {
                    tracing::debug!(
                        reason = reason.as_str(),
                        tokens = stats.generated_tokens,
                        "reply guard ended the reply"
                    );
                }
                if let Some((_, format)) = &self.chat {
                    if stats.finish != FinishReason::Cancelled {
                        let parsed = parse_reply(&stats.text, *format);
                        self.tool_call_errors = parsed.errors;
                        for call in parsed.calls {
                            self.queued.push_back(GenEvent::ToolCall(call));
                        }
                    }
                }
                self.queued.push_back(GenEvent::Done(stats));
            }
        }
    }
}

impl Generation {
    /// Passes visible text through the guard (if any) to the consumer; `end` flushes what the
    /// guard held back. Stops the scheduler once the guard ends the reply.
    fn speak(&mut self, visible: String, end: bool) {
        let mut out = match &mut self.guard {
            Some(g) => g.push(&visible),
            None => visible,
        };
        if let Some(g) = &mut self.guard {
            if end {
                out.push_str(&g.finish());
            }
            if g.stopped().is_some() {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
        if !out.is_empty() {
            self.queued.push_back(GenEvent::Token(out));
        }
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.cancel();
        }
    }
}

/// The loaded model plus its scheduler: one per process, shared by all calls.
pub struct LlmEngine {
    model: Arc<LlamaModel>,
    commands: Mutex<mpsc::Sender<Command>>,
    next_session: std::sync::atomic::AtomicU64,
    template: Option<ChatTemplate>,
    limits: SchedulerLimits,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for LlmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmEngine")
            .field("limits", &self.limits)
            .finish()
    }
}

impl LlmEngine {
    /// Loads the model, creates the shared context and starts the scheduler thread.
    pub fn load(opts: &EngineOptions) -> Result<Arc<LlmEngine>, DialogError> {
        let path_str = opts.model_path.display().to_string();
        let load_err = |message: String| DialogError::ModelLoad {
            path: path_str.clone(),
            message,
        };
        if !opts.model_path.is_file() {
            return Err(load_err(
                "file not found; check llm.model / --model (models are installed with \
                 `agent download-models`)"
                    .into(),
            ));
        }
        let params = LlamaModelParams::default().with_n_gpu_layers(opts.n_gpu_layers);
        let model =
            LlamaModel::load_from_file(backend(), &opts.model_path, &params).map_err(|e| {
                load_err(format!(
                    "llama.cpp could not load it ({e}); is it a valid GGUF?"
                ))
            })?;
        let model = Arc::new(model);
        let template = select_template(&model, opts)?;
        let n_seq = opts.max_parallel.max(1);
        let n_batch = opts.batch_size.max(n_seq);
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get() as i32)
        } else {
            opts.threads as i32
        };
        let n_ctx = opts.context_per_call.saturating_mul(n_seq);
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(n_batch.min(512))
            .with_n_seq_max(n_seq)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let (tx, rx) = mpsc::channel::<Command>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<SchedulerLimits, String>>();
        let thread_model = model.clone();
        let thread = std::thread::Builder::new()
            .name("llm-scheduler".into())
            .spawn(move || {
                let model = thread_model;
                let mut ctx = match model.new_context(backend(), ctx_params) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot create the context: {e}")));
                        return;
                    }
                };
                let limits = SchedulerLimits {
                    n_batch: ctx.n_batch() as usize,
                    ctx_per_seq: ctx.n_ctx() as usize / n_seq as usize,
                    n_seq: n_seq as usize,
                };
                let _ = ready_tx.send(Ok(limits));
                scheduler::run(&model, &mut ctx, rx, limits);
            })
            .map_err(|e| load_err(format!("cannot start the scheduler thread: {e}")))?;
        let limits = ready_rx
            .recv()
            .map_err(|_| load_err("scheduler thread died during start".into()))?
            .map_err(load_err)?;
        tracing::info!(
            model = %opts.model_path.display(),
            n_ctx,
            n_seq,
            n_batch,
            threads,
            template = template.is_some(),
            "LLM engine ready"
        );
        Ok(Arc::new(LlmEngine {
            model,
            commands: Mutex::new(tx),
            next_session: std::sync::atomic::AtomicU64::new(1),
            template,
            limits,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// A new call. Any number of calls may exist; `max_parallel` of them generate at once
    /// (others wait for a sequence), and an idle call keeps its KV cache until its sequence is
    /// needed by another call.
    pub fn session(self: &Arc<Self>) -> Result<Session, DialogError> {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        Ok(Session::new(self.clone(), id))
    }

    /// Sequences decoded at once.
    pub fn max_parallel(&self) -> usize {
        self.limits.n_seq
    }

    /// The chat template in use, if any.
    pub fn template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }

    /// KV capacity of one call, in tokens.
    pub fn context_per_call(&self) -> usize {
        self.limits.ctx_per_seq
    }

    /// The model.
    pub fn model(&self) -> &LlamaModel {
        &self.model
    }

    /// Tokenizes prompt text (special tokens parsed); adds BOS if the model wants one and the
    /// text does not already start with it.
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let bos_text =
            String::from_utf8_lossy(&vocab.token_to_piece(vocab.bos(), true, None)).into_owned();
        let add_bos =
            vocab.should_add_bos() && (bos_text.is_empty() || !text.starts_with(&bos_text));
        let mut tokens = vocab.tokenize(text.as_bytes(), false, true);
        if add_bos {
            tokens.insert(0, vocab.bos());
        }
        tokens
    }

    /// Text of tokens (special tokens rendered).
    pub fn detokenize(&self, tokens: &[LlamaToken]) -> String {
        let vocab = self.model.vocab();
        let mut bytes = Vec::new();
        for t in tokens {
            bytes.extend(vocab.token_to_piece(*t, true, None));
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub(crate) fn send(&self, cmd: Command) -> Result<(), DialogError> {
        self.commands
            .lock()
            .map_err(|_| DialogError::Engine("engine lock poisoned".into()))?
            .send(cmd)
            .map_err(|_| DialogError::Engine("the scheduler thread has stopped".into()))
    }

    pub(crate) fn release_session(&self, session: u64) {
        let _ = self.send(Command::Release { session });
    }
}

impl Drop for LlmEngine {
    fn drop(&mut self) {
        let _ = self.send(Command::Shutdown);
        if let Ok(mut t) = self.thread.lock() {
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

/// Resolves `llm.chat_template`: a built-in name, a file, or the template text itself.
pub fn resolve_template_setting(setting: &str) -> Result<String, DialogError> {
    match setting.trim().to_ascii_lowercase().as_str() {
        "qwen2.5" | "qwen2_5" | "qwen" | "chatml" => return Ok(QWEN2_5_TEMPLATE.to_string()),
        "llama3.1" | "llama3_1" | "llama3" => return Ok(LLAMA3_1_TEMPLATE.to_string()),
        _ => {}
    }
    if setting.contains("{%") || setting.contains("{{") {
        return Ok(setting.to_string());
    }
    std::fs::read_to_string(setting).map_err(|e| {
        DialogError::Template(format!(
            "llm.chat_template {setting:?} is not a built-in name (qwen2.5, llama3.1), not \
             template text, and not a readable file: {e}"
        ))
    })
}

fn select_template(
    model: &LlamaModel,
    opts: &EngineOptions,
) -> Result<Option<ChatTemplate>, DialogError> {
    let from_gguf = model
        .meta_val_str("tokenizer.chat_template")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let configured = opts
        .chat_template
        .as_deref()
        .map(resolve_template_setting)
        .transpose()?;
    let source = if opts.chat_template_override {
        configured.or(from_gguf)
    } else {
        from_gguf.or(configured)
    };
    let Some(source) = source else {
        return Ok(None);
    };
    let vocab = model.vocab();
    let text =
        |t: LlamaToken| String::from_utf8_lossy(&vocab.token_to_piece(t, true, None)).into_owned();
    let template = ChatTemplate::new(&source, &text(vocab.bos()), &text(vocab.eos()))?;
    Ok(Some(template))
}

#[cfg(test)]
mod tests {
    use super::LogLines;
    use llama_cpp_sys_2::{GGML_LOG_LEVEL_CONT, GGML_LOG_LEVEL_INFO, GGML_LOG_LEVEL_WARN};

    #[test]
    fn log_pieces_become_whole_lines() {
        let mut l = LogLines::default();
        assert!(l
            .push(GGML_LOG_LEVEL_INFO, "llama_model_load: loading")
            .is_empty());
        assert!(l.push(GGML_LOG_LEVEL_CONT, ".").is_empty());
        assert!(l.push(GGML_LOG_LEVEL_CONT, ".").is_empty());
        assert_eq!(
            l.push(GGML_LOG_LEVEL_CONT, " done\n"),
            [(
                GGML_LOG_LEVEL_INFO,
                "llama_model_load: loading.. done".to_string()
            )]
        );
        assert_eq!(
            l.push(GGML_LOG_LEVEL_WARN, "a\nb\n\n"),
            [
                (GGML_LOG_LEVEL_WARN, "a".to_string()),
                (GGML_LOG_LEVEL_WARN, "b".to_string())
            ]
        );
        // A message left without a newline is flushed by the next one.
        assert!(l.push(GGML_LOG_LEVEL_INFO, "dangling").is_empty());
        assert_eq!(
            l.push(GGML_LOG_LEVEL_WARN, "next\n"),
            [
                (GGML_LOG_LEVEL_INFO, "dangling".to_string()),
                (GGML_LOG_LEVEL_WARN, "next".to_string())
            ]
        );
    }
}
