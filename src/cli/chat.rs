//! `agent chat`: a text REPL against the dialog model, prompt and tools; and `agent bench llm`.

use crate::config::ToolChoice;
use crate::dialog::bench;
use crate::dialog::chunker::SentenceChunker;
use crate::dialog::engine::{CancelHandle, EngineOptions, GenParams, LlmEngine};
use crate::dialog::session::{Conversation, TurnEvent};
use crate::dialog::tools::ToolRegistry;
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `agent chat`.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// GGUF model (overrides `llm.model`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// System prompt (overrides `llm.system_prompt`).
    #[arg(long)]
    pub system: Option<String>,
    /// Chat template: `qwen2.5`, `llama3.1`, a file, or template text (overrides `llm.chat_template`).
    #[arg(long)]
    pub template: Option<String>,
    /// Most tokens per reply (overrides `llm.max_tokens`).
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Tool mode (overrides `llm.tool_choice`).
    #[arg(long, value_enum)]
    pub tool_choice: Option<ToolChoice>,
    /// Also print the sentence chunks as the speech stage would receive them.
    #[arg(long)]
    pub show_chunks: bool,
    /// Most sentences per reply (overrides `llm.max_reply_sentences`; 0 = no limit).
    #[arg(long)]
    pub max_reply_sentences: Option<u32>,
    /// Turn the repetition guard off (to see what the raw model does).
    #[arg(long)]
    pub no_repetition_guard: bool,
}

/// Runs the REPL: one caller turn per stdin line; works with piped input.
pub fn run(config: Option<&Path>, args: ChatArgs) -> anyhow::Result<()> {
    let full = super::load_config(config)?;
    // A relative `llm.model` is inside `[models] dir`, as `serve` reads it.
    let model = crate::conversation::engines::ModelPaths::of(&full).llm;
    let mut cfg = full.llm;
    cfg.model = model;
    if let Some(t) = args.template {
        cfg.chat_template = Some(t);
        cfg.chat_template_override = true;
    }
    if let Some(n) = args.max_tokens {
        cfg.max_tokens = n;
    }
    if let Some(tc) = args.tool_choice {
        cfg.tool_choice = tc;
    }
    if let Some(n) = args.max_reply_sentences {
        cfg.max_reply_sentences = n;
    }
    if args.no_repetition_guard {
        cfg.stop_repetition = false;
    }
    let system = args.system.unwrap_or_else(|| cfg.system_prompt.clone());
    let opts = EngineOptions::from_config(&cfg, args.model.as_deref())?;
    let engine = LlmEngine::load(&opts)?;
    let tools = Arc::new(ToolRegistry::from_config(&cfg)?);
    let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "model {} | tools: {} | tool_choice {:?} | Ctrl-D to quit",
            opts.model_path.display(),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
            cfg.tool_choice
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut conv = Conversation::new(
        engine.session()?,
        &system,
        tools,
        GenParams::from_config(&cfg),
        cfg.max_tool_rounds,
    );
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    loop {
        if interactive {
            eprint!("you> ");
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        write!(out, "agent> ")?;
        out.flush()?;
        let mut chunker = SentenceChunker::new();
        let mut chunks = Vec::new();
        let summary = runtime.block_on(conv.user_turn(line, CancelHandle::new(), |e| {
            let mut out = std::io::stdout();
            match e {
                TurnEvent::Text(t) => {
                    let _ = write!(out, "{t}");
                    chunks.extend(chunker.push(&t));
                }
                TurnEvent::ToolCall(c) => {
                    let _ = write!(out, "\n  [tool call] {}({})", c.name, c.arguments);
                }
                TurnEvent::ToolResult { name, result } => {
                    let _ = write!(out, "\n  [tool result] {name}: {result}\nagent> ");
                }
            }
            let _ = out.flush();
        }))?;
        chunks.extend(chunker.finish());
        writeln!(out)?;
        if args.show_chunks {
            for c in &chunks {
                writeln!(out, "  [chunk] {c}")?;
            }
        }
        for a in &summary.actions {
            writeln!(out, "  [action] {a:?}")?;
        }
        for (i, r) in summary.rounds.iter().enumerate() {
            writeln!(
                out,
                "  [timing] round {}: first token {} ms, {:.1} tokens/s, {} generated, prompt {} tokens ({} reused){}",
                i + 1,
                r.time_to_first_token.unwrap_or_default().as_millis(),
                r.tokens_per_second(),
                r.generated_tokens,
                r.prompt_tokens,
                r.reused_tokens,
                r.guard
                    .map(|g| format!(", stopped by the reply guard ({})", g.as_str()))
                    .unwrap_or_default()
            )?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Arguments of `agent bench llm`.
#[derive(Debug, clap::Args)]
pub struct BenchLlmArgs {
    /// GGUF model (default: the synthetic Qwen2-0.5B-shape model from `scripts/synth_gguf.py`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Prompt length for time to first token.
    #[arg(long, default_value_t = 500)]
    pub prompt_tokens: usize,
    /// Tokens generated per sequence in the throughput runs.
    #[arg(long, default_value_t = 32)]
    pub gen_tokens: u32,
    /// Concurrent sequence counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub parallel: Vec<usize>,
    /// Repetitions of the time-to-first-token measurements.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: u32,
    /// GPU layers (needs a `cuda` build).
    #[arg(long, default_value_t = 0)]
    pub n_gpu_layers: u32,
    /// Instead: real chat turns (needs a chat model) — first chunk to TTS clause-first vs
    /// sentences-only, what the reply guard did, and turn 2 with a speculative prefill.
    #[arg(long)]
    pub replies: bool,
    /// Chat template for `--replies` when the GGUF has none (e.g. `gemma`).
    #[arg(long)]
    pub template: Option<String>,
    /// System prompt for `--replies`.
    #[arg(
        long,
        default_value = "You are the receptionist of Open Door dental clinic. Answer the caller in one or two short sentences."
    )]
    pub system: String,
    /// Sampling temperature for `--replies` (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Turn the reply guard off for `--replies` (to see what the raw model does).
    #[arg(long)]
    pub no_guard: bool,
    /// `--replies`: the call's slow-LLM cut of the first chunk, after this long (ms) since
    /// the first text (`[conversation] first_chunk_wait_ms`; 0 = never) ...
    #[arg(long, default_value_t = 200)]
    pub first_chunk_wait_ms: u64,
    /// ... and this many words (`[conversation] first_chunk_words`).
    #[arg(long, default_value_t = 4)]
    pub first_chunk_words: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `agent bench llm`.
pub fn bench_llm(_config: Option<&Path>, args: BenchLlmArgs) -> anyhow::Result<()> {
    let model = match args.model.clone() {
        Some(m) => m,
        None => {
            let dir = std::env::var_os("ENCLAVE_SYNTH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default())
                        .join(".cache/enclave/synthetic")
                });
            let p = dir.join("qwen2-0_5b.gguf");
            anyhow::ensure!(
                p.is_file(),
                "{} not found: run `bash scripts/synth-models.sh` (or pass --model)",
                p.display()
            );
            p
        }
    };
    if args.replies {
        return bench_replies(&model, &args);
    }
    let max_par = args.parallel.iter().copied().max().unwrap_or(1).max(2);
    let mut opts = EngineOptions::new(&model);
    opts.max_parallel = max_par as u32;
    opts.context_per_call = ((args.prompt_tokens + 128).div_ceil(256) * 256) as u32;
    opts.batch_size = 512;
    opts.threads = args.threads;
    opts.n_gpu_layers = crate::gpu::cli_llm_layers("--n-gpu-layers", args.n_gpu_layers)?;
    let engine = LlmEngine::load(&opts)?;
    println!(
        "model {} ({} layers, {} MB), threads {}, context/call {}",
        model.display(),
        engine.model().n_layer(),
        engine.model().size() / 1_000_000,
        if args.threads == 0 {
            "all".to_string()
        } else {
            args.threads.to_string()
        },
        engine.context_per_call()
    );
    let t = bench::ttft(&engine, args.prompt_tokens, args.reps)?;
    let (p50, p95) = bench::percentiles(t.clone());
    println!(
        "time to first token, {}-token prompt: p50 {:.0} ms, p95 {:.0} ms ({:.0} prompt tokens/s)",
        args.prompt_tokens,
        ms(p50),
        ms(p95),
        args.prompt_tokens as f64 / p50.as_secs_f64()
    );
    let mut single = None;
    for &n in &args.parallel {
        let r = bench::concurrent_decode(&engine, n, 24, args.gen_tokens)?;
        let base = *single.get_or_insert(r.aggregate_tps);
        println!(
            "decode, {n} sequence(s): aggregate {:.1} tokens/s, per sequence {:.1} tokens/s, batching gain {:.2}x over 1 sequence; token gap p50 {:.0} ms, p95 {:.0} ms",
            r.aggregate_tps,
            r.per_sequence_tps,
            r.aggregate_tps / base,
            ms(r.inter_token.0),
            ms(r.inter_token.1)
        );
    }
    let (with, without, reused) = bench::kv_reuse(&engine, args.prompt_tokens, args.reps.min(2))?;
    let (w50, _) = bench::percentiles(with);
    let (f50, _) = bench::percentiles(without);
    println!(
        "turn 2 time to first token: with KV reuse {:.0} ms ({reused} tokens reused), without {:.0} ms, saving {:.0}%",
        ms(w50),
        ms(f50),
        100.0 * (1.0 - w50.as_secs_f64() / f50.as_secs_f64().max(1e-9))
    );
    Ok(())
}

/// `agent bench llm --replies`.
fn bench_replies(model: &Path, args: &BenchLlmArgs) -> anyhow::Result<()> {
    use crate::dialog::bench_reply;
    let mut opts = EngineOptions::new(model);
    opts.max_parallel = 2;
    opts.context_per_call = 2048;
    opts.threads = args.threads;
    opts.n_gpu_layers = crate::gpu::cli_llm_layers("--n-gpu-layers", args.n_gpu_layers)?;
    opts.chat_template = args.template.clone();
    let engine = LlmEngine::load(&opts)?;
    anyhow::ensure!(
        engine.template().is_some(),
        "{} has no chat template: pass --template (e.g. gemma, qwen2.5)",
        model.display()
    );
    let d = crate::config::LlmConfig::default();
    let mut params = GenParams::from_config(&d);
    params.temperature = args.temperature;
    params.tool_choice = ToolChoice::None;
    if args.no_guard {
        params.reply_limits = crate::dialog::guard::ReplyLimits::off();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let runs = runtime.block_on(bench_reply::replies(
        &engine,
        &args.system,
        bench_reply::CALLER_TURNS,
        &params,
        (
            if args.first_chunk_wait_ms == 0 {
                Duration::MAX
            } else {
                Duration::from_millis(args.first_chunk_wait_ms)
            },
            args.first_chunk_words,
        ),
    ))?;
    println!(
        "model {} | guard {:?} | max_tokens {}",
        model.display(),
        params.reply_limits,
        params.max_tokens
    );
    println!("tokens→1st chunk (clause / sentence / +slow cut) | ms (clause / sentence / +slow cut) | generated | guard | first chunk | slow-cut first chunk | reply");
    let mut slow_ms = Vec::new();
    let mut saved_tokens = Vec::new();
    let mut saved_ms = Vec::new();
    let mut clause_ms = Vec::new();
    let mut sentence_ms = Vec::new();
    for r in &runs {
        let (ct, st) = (
            r.clause_first_tokens.unwrap_or(0),
            r.sentence_first_tokens.unwrap_or(0),
        );
        let (ca, sa) = (
            r.clause_first_at.unwrap_or_default(),
            r.sentence_first_at.unwrap_or_default(),
        );
        saved_tokens.push(st.saturating_sub(ct) as f64);
        saved_ms.push(ms(sa.saturating_sub(ca)));
        clause_ms.push(ca);
        sentence_ms.push(sa);
        let (wt, wa) = (
            r.slow_first_tokens.unwrap_or(0),
            r.slow_first_at.unwrap_or_default(),
        );
        slow_ms.push(wa);
        println!(
            "{ct:>3} / {st:>3} / {wt:>3} | {:>6.0} / {:>6.0} / {:>6.0} | {:>3} | {:<10} | {:?} | {:?} | {:?}",
            ms(ca),
            ms(sa),
            ms(wa),
            r.generated,
            r.guard.unwrap_or("-"),
            r.first_chunk,
            r.slow_first_chunk,
            r.reply
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (c50, c95) = bench::percentiles(clause_ms);
    let (s50, s95) = bench::percentiles(sentence_ms);
    let (w50, w95) = bench::percentiles(slow_ms);
    println!(
        "first chunk released: clause-first p50 {:.0} ms p95 {:.0} ms, sentences-only p50 {:.0} ms p95 {:.0} ms; \
         earlier by {:.1} tokens / {:.0} ms on average",
        ms(c50),
        ms(c95),
        ms(s50),
        ms(s95),
        mean(&saved_tokens),
        mean(&saved_ms)
    );
    println!(
        "first chunk released: clause-first + slow-LLM cut ({} words after {} ms) p50 {:.0} ms p95 {:.0} ms",
        args.first_chunk_words,
        args.first_chunk_wait_ms,
        ms(w50),
        ms(w95)
    );
    let (with, without, extra) =
        runtime.block_on(bench_reply::prefill_gain(&engine, &args.system, args.reps))?;
    let (w50, _) = bench::percentiles(with);
    let (f50, _) = bench::percentiles(without);
    println!(
        "turn 2 time to first token: with speculative prefill {:.0} ms ({extra} more tokens reused), without {:.0} ms",
        ms(w50),
        ms(f50)
    );
    Ok(())
}
