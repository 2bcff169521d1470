//! The LLM engine on a real model (Karpathy's stories260K GGUF): loading, streaming, stop
//! strings, cancellation, batched decoding equal to solo decoding, KV-cache reuse, and
//! grammar-constrained tool calls.

#[path = "dialog_support/schemas.rs"]
mod schemas;

use enclave::config::ToolChoice;
use enclave::dialog::engine::{
    CancelHandle, EngineOptions, FinishReason, GenEvent, GenParams, GenStats, LlmEngine,
};
use enclave::dialog::tools::validate_args;
use enclave::dialog::{ChatMessage, ToolSpec};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

fn fixtures() -> PathBuf {
    std::env::var_os("ENCLAVE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"))
}

fn stories_path() -> PathBuf {
    let p = fixtures().join("llm/stories260K.gguf");
    assert!(
        p.is_file(),
        "missing {}: set ENCLAVE_FIXTURES to the shared fixtures directory",
        p.display()
    );
    p
}

/// One engine for the whole test binary (4 parallel sequences, Qwen2.5 fallback template).
fn engine() -> Arc<LlmEngine> {
    static ENGINE: OnceLock<Arc<LlmEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut opts = EngineOptions::new(stories_path());
            opts.max_parallel = 4;
            opts.context_per_call = 1024;
            opts.batch_size = 256;
            opts.threads = 2;
            opts.chat_template = Some("qwen2.5".into());
            LlmEngine::load(&opts).expect("stories260K loads")
        })
        .clone()
}

/// Collects a generation: (text pieces, stats).
fn collect(mut g: enclave::dialog::engine::Generation) -> (Vec<String>, GenStats) {
    let mut pieces = Vec::new();
    while let Some(e) = g.blocking_next() {
        match e {
            GenEvent::Token(t) => pieces.push(t),
            GenEvent::Done(s) => return (pieces, s),
            GenEvent::Error(e) => panic!("generation failed: {e}"),
            GenEvent::ToolCall(_) => {}
        }
    }
    panic!("stream ended without Done");
}

#[test]
fn loads_and_streams_a_story() {
    let engine = engine();
    let mut s = engine.session().unwrap();
    let (pieces, stats) = collect(
        s.generate_prompt("Once upon a time", &GenParams::greedy(40))
            .unwrap(),
    );
    assert!(pieces.len() > 5, "tokens stream one by one: {pieces:?}");
    let text: String = pieces.concat();
    assert_eq!(text, stats.text);
    assert!(
        text.split_whitespace().count() >= 5,
        "generated words: {text:?}"
    );
    assert_eq!(stats.generated_tokens, 40);
    assert_eq!(stats.finish, FinishReason::Length);
    assert!(stats.time_to_first_token.is_some());
}

#[test]
fn stop_string_ends_generation_and_is_not_emitted() {
    let engine = engine();
    let mut s = engine.session().unwrap();
    let (_, free) = collect(
        s.generate_prompt("Once upon a time", &GenParams::greedy(60))
            .unwrap(),
    );
    // Pick a word the model really produces, then stop on it.
    let word = free
        .text
        .split_whitespace()
        .nth(3)
        .expect("enough words")
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_string();
    let mut params = GenParams::greedy(60);
    params.stop = vec![format!(" {word}")];
    let (pieces, stats) = collect(s.generate_prompt("Once upon a time", &params).unwrap());
    let text = pieces.concat();
    assert_eq!(stats.finish, FinishReason::Stop);
    assert!(
        !text.contains(&format!(" {word}")),
        "{text:?} must stop before {word:?}"
    );
    assert!(
        free.text.starts_with(&text),
        "same greedy prefix: {text:?} vs {:?}",
        free.text
    );
}

#[test]
fn cancel_stops_mid_generation() {
    let engine = engine();
    let mut s = engine.session().unwrap();
    let mut g = s
        .generate_prompt("Once upon a time", &GenParams::greedy(900))
        .unwrap();
    let cancel = g.cancel_handle();
    let mut tokens = 0;
    let stats = loop {
        match g.blocking_next().expect("stream") {
            GenEvent::Token(_) => {
                tokens += 1;
                if tokens == 5 {
                    cancel.cancel();
                }
            }
            GenEvent::Done(s) => break s,
            GenEvent::Error(e) => panic!("{e}"),
            GenEvent::ToolCall(_) => {}
        }
    };
    assert_eq!(stats.finish, FinishReason::Cancelled);
    assert!(
        stats.generated_tokens < 100,
        "stopped early: {}",
        stats.generated_tokens
    );
    // The sequence is usable again right away.
    let (_, again) = collect(s.generate_prompt("The cat", &GenParams::greedy(5)).unwrap());
    assert_eq!(again.generated_tokens, 5);
}

#[test]
fn batched_sequences_match_solo_decoding() {
    let engine = engine();
    let prompts = [
        "Once upon a time, there was a little girl",
        "The dog ran to the park",
    ];
    let solo: Vec<String> = prompts
        .iter()
        .map(|p| {
            let mut s = engine.session().unwrap();
            collect(s.generate_prompt(p, &GenParams::greedy(30)).unwrap())
                .1
                .text
        })
        .collect();
    // Both at once: they share decode steps (one batch per step).
    let mut s1 = engine.session().unwrap();
    let mut s2 = engine.session().unwrap();
    let g1 = s1
        .generate_prompt(prompts[0], &GenParams::greedy(30))
        .unwrap();
    let g2 = s2
        .generate_prompt(prompts[1], &GenParams::greedy(30))
        .unwrap();
    let h = std::thread::spawn(move || collect(g2).1.text);
    let t1 = collect(g1).1.text;
    let t2 = h.join().unwrap();
    assert_eq!(t1, solo[0]);
    assert_eq!(t2, solo[1]);
    assert_ne!(t1, t2);
}

#[test]
fn second_turn_reuses_the_kv_cache() {
    let engine = engine();
    let mut s = engine.session().unwrap();
    let first = "Once upon a time, there was a little girl named Lily. She loved to play outside.";
    let (_, a) = collect(s.generate_prompt(first, &GenParams::greedy(8)).unwrap());
    // A new call may reuse a prefix another call left in its sequence, never the whole prompt.
    assert!(a.reused_tokens < a.prompt_tokens);
    let second = format!("{first}{} One day, she saw a big tree.", a.text);
    let (_, b) = collect(s.generate_prompt(&second, &GenParams::greedy(8)).unwrap());
    assert!(
        b.reused_tokens >= a.prompt_tokens,
        "turn 2 reuses at least turn 1's prompt: reused {} of {}, turn 1 had {}",
        b.reused_tokens,
        b.prompt_tokens,
        a.prompt_tokens
    );
    // Same answer as a fresh engine that evaluates everything.
    let mut opts = EngineOptions::new(stories_path());
    opts.max_parallel = 1;
    opts.context_per_call = 1024;
    let fresh_engine = LlmEngine::load(&opts).unwrap();
    let mut fresh = fresh_engine.session().unwrap();
    let (_, c) = collect(
        fresh
            .generate_prompt(&second, &GenParams::greedy(8))
            .unwrap(),
    );
    assert_eq!(c.reused_tokens, 0);
    assert_eq!(b.text, c.text);
}

fn order_tool() -> ToolSpec {
    ToolSpec {
        name: "order_status".into(),
        description: "Look up an order".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "maxLength": 12},
                "include_items": {"type": "boolean"},
                "priority": {"type": "integer", "minimum": 0}
            },
            "required": ["order_id"]
        }),
    }
}

fn time_tool() -> ToolSpec {
    ToolSpec {
        name: "get_time".into(),
        description: "Current time".into(),
        parameters: json!({"type": "object", "properties": {}}),
    }
}

#[test]
fn forced_tool_call_is_always_a_valid_call_of_a_declared_tool() {
    let engine = engine();
    let tools = vec![order_tool(), time_tool()];
    for (i, prompt) in [
        "Where is my order?",
        "Once upon a time there was a cat.",
        "Hi",
    ]
    .iter()
    .enumerate()
    {
        let mut s = engine.session().unwrap();
        let mut params = GenParams::greedy(320);
        params.temperature = 0.9;
        params.seed = 7 + i as u32;
        params.tool_choice = ToolChoice::Required;
        let messages = vec![
            ChatMessage::system("You help with orders."),
            ChatMessage::user(*prompt),
        ];
        let mut g = s
            .generate(&messages, &tools, &params, CancelHandle::new())
            .unwrap();
        let mut calls = Vec::new();
        let mut stats = None;
        let mut visible = String::new();
        while let Some(e) = g.blocking_next() {
            match e {
                GenEvent::ToolCall(c) => calls.push(c),
                GenEvent::Done(s) => stats = Some(s),
                GenEvent::Token(t) => visible.push_str(&t),
                GenEvent::Error(e) => panic!("{e}"),
            }
        }
        let stats = stats.unwrap();
        eprintln!(
            "forced call {i}: {} tokens in {:?}: {:?}",
            stats.generated_tokens, stats.total, stats.text
        );
        assert!(
            g.tool_call_errors.is_empty(),
            "{:?} in {:?}",
            g.tool_call_errors,
            stats.text
        );
        assert!(!calls.is_empty(), "a call was forced: {:?}", stats.text);
        assert!(
            visible.trim().is_empty(),
            "tool-call markup is never visible: {visible:?}"
        );
        for c in calls {
            let spec = tools
                .iter()
                .find(|t| t.name == c.name)
                .expect("declared tool");
            validate_args(&spec.parameters, &c.arguments, "arguments")
                .unwrap_or_else(|e| panic!("{e}: {:?}", stats.text));
            assert!(
                jsonschema::is_valid(&spec.parameters, &c.arguments),
                "independent validator: {:?}",
                stats.text
            );
        }
    }
}

/// Forced tool calls under schemas exercising every supported keyword (bounds, exclusive
/// bounds, enum, const, string lengths, arrays, anyOf/oneOf, type lists), sampled hot with many
/// seeds: every call must parse and be valid for the independent `jsonschema` validator.
#[test]
fn forced_calls_satisfy_every_keyword_schema_under_an_independent_validator() {
    // Schemas in the prompt take ~700 tokens: a wider context than the shared engine's.
    let engine = {
        let mut opts = EngineOptions::new(stories_path());
        opts.max_parallel = 1;
        opts.context_per_call = 2048;
        opts.threads = 2;
        opts.chat_template = Some("qwen2.5".into());
        LlmEngine::load(&opts).unwrap()
    };
    // 3 per schema by default (one takes ~10 s of CPU on this box; the grammar-level checks in
    // dialog_grammar.rs are exhaustive); ENCLAVE_TOOLCALL_GENERATIONS=24 for a long run.
    let generations: u32 = std::env::var("ENCLAVE_TOOLCALL_GENERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for (name, schema) in schemas::keyword_schemas() {
        let tool = ToolSpec {
            name: name.into(),
            description: format!("Tool exercising {name}"),
            parameters: schema.clone(),
        };
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut distinct = std::collections::BTreeSet::new();
        for seed in 0..generations {
            let mut s = engine.session().unwrap();
            let mut params = GenParams::greedy(300);
            params.temperature = 1.3;
            params.seed = 1000 + seed;
            params.tool_choice = ToolChoice::Required;
            let messages = vec![ChatMessage::user("Please do it.")];
            let g = s
                .generate(
                    &messages,
                    std::slice::from_ref(&tool),
                    &params,
                    CancelHandle::new(),
                )
                .unwrap();
            let t0 = std::time::Instant::now();
            let (calls, errors, text, finish) = collect_with_calls(g);
            eprintln!("{name} seed {seed}: {:?} {text:?}", t0.elapsed());
            // Only the last call may be cut off, by the token limit (not by the grammar).
            assert!(
                errors.is_empty() || (finish == FinishReason::Length && errors.len() == 1),
                "{name} seed {seed}: {errors:?} in {text:?}"
            );
            assert!(!calls.is_empty(), "{name} seed {seed}: no call in {text:?}");
            for c in calls {
                assert_eq!(c.name, name);
                let problems: Vec<String> = validator
                    .iter_errors(&c.arguments)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    problems.is_empty(),
                    "{name} seed {seed}: {} invalid: {problems:?}",
                    c.arguments
                );
                validate_args(&schema, &c.arguments, "arguments").unwrap();
                distinct.insert(c.arguments.to_string());
            }
        }
        eprintln!(
            "{name}: {generations} forced calls valid, {} distinct argument sets, e.g. {:?}",
            distinct.len(),
            distinct.iter().next()
        );
        assert!(
            distinct.len() as u32 >= generations.min(2),
            "{name}: sampling explores the grammar ({} distinct)",
            distinct.len()
        );
    }
}

/// Drains a chat generation: (calls, tool-call parse errors, raw text, why it ended).
fn collect_with_calls(
    mut g: enclave::dialog::engine::Generation,
) -> (
    Vec<enclave::dialog::ToolCall>,
    Vec<String>,
    String,
    FinishReason,
) {
    let mut finish = FinishReason::Stop;
    let mut calls = Vec::new();
    let mut text = String::new();
    while let Some(e) = g.blocking_next() {
        match e {
            GenEvent::ToolCall(c) => calls.push(c),
            GenEvent::Done(s) => {
                finish = s.finish;
                text = s.text
            }
            GenEvent::Error(e) => panic!("{e}"),
            GenEvent::Token(_) => {}
        }
    }
    (calls, g.tool_call_errors.clone(), text, finish)
}

#[test]
fn lazy_grammar_leaves_plain_text_alone() {
    let engine = engine();
    let mut s = engine.session().unwrap();
    let mut params = GenParams::greedy(30);
    params.tool_choice = ToolChoice::Auto;
    let messages = vec![ChatMessage::user("Once upon a time")];
    let (pieces, stats) = collect(
        s.generate(&messages, &[order_tool()], &params, CancelHandle::new())
            .unwrap(),
    );
    // The tiny story model never writes `<tool_call>`, so the grammar never triggers.
    assert!(!stats.text.contains("<tool_call>"));
    assert!(!pieces.concat().trim().is_empty());
}

#[test]
fn full_context_drops_oldest_turns_after_the_system_prompt() {
    let mut opts = EngineOptions::new(stories_path());
    opts.max_parallel = 1;
    opts.context_per_call = 256;
    opts.threads = 2;
    opts.chat_template = Some("qwen2.5".into());
    let engine = LlmEngine::load(&opts).unwrap();
    let cap = engine.context_per_call();
    let mut history = vec![ChatMessage::system("Tell stories.")];
    for i in 0..12 {
        history.push(ChatMessage::user(format!(
            "Tell me about the cat number {i}, please."
        )));
        history.push(ChatMessage::assistant(
            "The cat was happy and played in the park all day.",
        ));
    }
    history.push(ChatMessage::user("And the dog?"));
    let mut s = engine.session().unwrap();
    let g = s
        .generate(&history, &[], &GenParams::greedy(16), CancelHandle::new())
        .unwrap();
    let trimmed = g.trimmed_messages;
    let (_, stats) = collect(g);
    assert!(
        trimmed > 0 && trimmed.is_multiple_of(2),
        "whole turns dropped: {trimmed}"
    );
    assert!(
        stats.prompt_tokens + 16 < cap,
        "{} tokens fit {cap}",
        stats.prompt_tokens
    );
    assert!(stats.generated_tokens > 0);
    // A system prompt that alone does not fit is a clear error.
    let huge = vec![
        ChatMessage::system("word ".repeat(400)),
        ChatMessage::user("hi"),
    ];
    let err = s
        .generate(&huge, &[], &GenParams::greedy(16), CancelHandle::new())
        .unwrap_err();
    assert!(err.to_string().contains("llm.context_per_call"), "{err}");
}

#[tokio::test]
async fn barge_in_cancels_a_conversation_turn_and_keeps_what_was_said() {
    use enclave::dialog::session::{Conversation, TurnEvent};
    use enclave::dialog::tools::ToolRegistry;
    let engine = engine();
    let mut params = GenParams::greedy(500);
    params.tool_choice = ToolChoice::None;
    let mut conv = Conversation::new(
        engine.session().unwrap(),
        "Tell stories.",
        Arc::new(ToolRegistry::empty()),
        params,
        1,
    );
    let cancel = CancelHandle::new();
    let trigger = cancel.clone();
    let mut pieces = 0;
    let summary = conv
        .user_turn("Once upon a time", cancel, |e| {
            if let TurnEvent::Text(_) = e {
                pieces += 1;
                if pieces == 3 {
                    trigger.cancel(); // the caller starts talking
                }
            }
        })
        .await
        .unwrap();
    assert!(summary.cancelled);
    assert!(summary.rounds[0].generated_tokens < 100);
    let last = conv.history().last().unwrap();
    assert_eq!(last.role, enclave::dialog::Role::Assistant);
    assert_eq!(last.content, summary.reply);
}

#[test]
fn lazy_grammar_constrains_only_after_its_trigger() {
    use enclave::dialog::session::GrammarSpec;
    let engine = engine();
    let mut s = engine.session().unwrap();
    let prompt = "Once upon a time, there was a";
    let (_, free) = collect(s.generate_prompt(prompt, &GenParams::greedy(30)).unwrap());
    // Trigger on the model's own 4th word: text before it must stay exactly as it was.
    let word = free
        .text
        .split_whitespace()
        .nth(3)
        .expect("four words")
        .trim_matches(|c: char| !c.is_ascii_alphabetic())
        .to_string();
    assert!(!word.is_empty(), "{:?}", free.text);
    let trigger = format!(" {word}");
    let at = free.text.find(&trigger).expect("trigger in the free text");
    let grammar = |lazy: bool| GrammarSpec {
        text: format!("root ::= \"{trigger} robot named Max.\"\n"),
        lazy,
        patterns: if lazy {
            vec![format!("({trigger})")]
        } else {
            Vec::new()
        },
        trigger_tokens: Vec::new(),
    };
    let (_, lazy) = collect(
        s.generate_constrained(prompt, &GenParams::greedy(60), grammar(true))
            .unwrap(),
    );
    assert_eq!(
        lazy.text,
        format!("{}{trigger} robot named Max.", &free.text[..at]),
        "free text until the trigger, the grammar from there (free: {:?})",
        free.text
    );
    assert_eq!(
        lazy.finish,
        FinishReason::Stop,
        "a finished grammar allows only end-of-generation"
    );
    // Strict (not lazy): constrained from the first token.
    let (_, strict) = collect(
        s.generate_constrained("The dog", &GenParams::greedy(60), grammar(false))
            .unwrap(),
    );
    assert_eq!(strict.text, format!("{trigger} robot named Max."));
}

#[test]
fn llama3_style_tool_grammar_yields_parseable_calls() {
    use enclave::dialog::grammar::tool_call_grammar;
    use enclave::dialog::session::GrammarSpec;
    use enclave::dialog::template::ToolFormat;
    use enclave::dialog::toolcall_parse::parse_reply;
    let engine = engine();
    let tools = vec![order_tool(), time_tool()];
    let mut s = engine.session().unwrap();
    let mut params = GenParams::greedy(200);
    params.temperature = 0.9;
    params.seed = 11;
    let grammar = GrammarSpec {
        text: tool_call_grammar(&tools, ToolFormat::Llama3Json).unwrap(),
        lazy: false,
        patterns: Vec::new(),
        trigger_tokens: Vec::new(),
    };
    let (_, stats) = collect(
        s.generate_constrained("Once upon a time", &params, grammar)
            .unwrap(),
    );
    let parsed = parse_reply(&stats.text, ToolFormat::Llama3Json);
    assert!(
        parsed.errors.is_empty(),
        "{:?} in {:?}",
        parsed.errors,
        stats.text
    );
    assert_eq!(parsed.calls.len(), 1, "{:?}", stats.text);
    let spec = tools
        .iter()
        .find(|t| t.name == parsed.calls[0].name)
        .unwrap();
    validate_args(&spec.parameters, &parsed.calls[0].arguments, "arguments").unwrap();
}

#[test]
fn more_calls_than_sequences_wait_and_take_over_idle_caches() {
    let mut opts = EngineOptions::new(stories_path());
    opts.max_parallel = 2;
    opts.context_per_call = 512;
    opts.threads = 2;
    let small = LlmEngine::load(&opts).unwrap();
    assert_eq!(small.max_parallel(), 2);
    let prompts: Vec<String> = (0..5)
        .map(|i| format!("Once upon a time, there was a cat number {i}"))
        .collect();
    // Reference texts, one call at a time on the shared test engine.
    let solo: Vec<String> = prompts
        .iter()
        .map(|p| {
            collect(
                engine()
                    .session()
                    .unwrap()
                    .generate_prompt(p, &GenParams::greedy(12))
                    .unwrap(),
            )
            .1
            .text
        })
        .collect();
    let mut sessions: Vec<_> = (0..5).map(|_| small.session().unwrap()).collect();
    let gens: Vec<_> = sessions
        .iter_mut()
        .zip(&prompts)
        .map(|(s, p)| s.generate_prompt(p, &GenParams::greedy(12)).unwrap())
        .collect();
    let handles: Vec<_> = gens
        .into_iter()
        .map(|g| std::thread::spawn(move || collect(g).1))
        .collect();
    let texts: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().text)
        .collect();
    assert_eq!(
        texts, solo,
        "5 calls on 2 sequences give the same greedy text as solo runs"
    );
    // Call 4 ran last, so its cache is still there: turn 2 reuses it.
    let turn2 = format!("{}{} Then", prompts[4], texts[4]);
    let (_, st) = collect(
        sessions[4]
            .generate_prompt(&turn2, &GenParams::greedy(4))
            .unwrap(),
    );
    assert!(st.reused_tokens > 5, "reused {}", st.reused_tokens);
    // Call 0's sequence was taken over by later calls: it re-evaluates, with the same result.
    let turn2 = format!("{}{} Then", prompts[0], texts[0]);
    let (_, a) = collect(
        sessions[0]
            .generate_prompt(&turn2, &GenParams::greedy(6))
            .unwrap(),
    );
    let (_, b) = collect(
        engine()
            .session()
            .unwrap()
            .generate_prompt(&turn2, &GenParams::greedy(6))
            .unwrap(),
    );
    assert!(
        a.reused_tokens < a.prompt_tokens,
        "its own cache is gone: at most a prefix shared with the call that took it over"
    );
    assert_eq!(a.text, b.text);
}

#[test]
fn a_new_call_reuses_the_prefix_a_finished_call_left() {
    let mut opts = EngineOptions::new(stories_path());
    opts.max_parallel = 2;
    opts.context_per_call = 512;
    let engine = LlmEngine::load(&opts).unwrap();
    let shared = "Once upon a time, in a small town by the sea, there lived an old fisherman \
                  who had a boat, a dog and a very long beard.";
    let mut first = engine.session().unwrap();
    let (_, a) = collect(
        first
            .generate_prompt(&format!("{shared} One day"), &GenParams::greedy(4))
            .unwrap(),
    );
    drop(first); // the call ends; its sequence is free but keeps its cache
    let (_, b) = collect(
        engine
            .session()
            .unwrap()
            .generate_prompt(&format!("{shared} Every morning"), &GenParams::greedy(4))
            .unwrap(),
    );
    let prefix = engine.tokenize(shared).len();
    assert!(
        b.reused_tokens + 2 >= prefix,
        "the shared prefix ({prefix} tokens) is reused: {} (first call: {} prompt tokens)",
        b.reused_tokens,
        a.prompt_tokens
    );
    // Reuse never changes results: the same prompt on a fresh engine gives the same text.
    let (_, c) = collect(
        LlmEngine::load(&opts)
            .unwrap()
            .session()
            .unwrap()
            .generate_prompt(&format!("{shared} Every morning"), &GenParams::greedy(4))
            .unwrap(),
    );
    assert_eq!(b.text, c.text);
}

#[test]
fn bad_model_files_are_clear_errors() {
    let missing = LlmEngine::load(&EngineOptions::new("/nonexistent/model.gguf")).unwrap_err();
    assert!(missing.to_string().contains("file not found"), "{missing}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"this is not a GGUF file at all").unwrap();
    let err = LlmEngine::load(&EngineOptions::new(&junk))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("junk.gguf") && err.contains("valid GGUF"),
        "{err}"
    );
    let mut opts = EngineOptions::new(stories_path());
    opts.chat_template = Some("no-such-template".into());
    let err = LlmEngine::load(&opts).unwrap_err().to_string();
    assert!(
        err.contains("llm.chat_template") && err.contains("qwen2.5"),
        "{err}"
    );
}

/// A dedicated engine (tests that depend on which sequence holds which cache).
fn own_engine(max_parallel: u32) -> Arc<LlmEngine> {
    let mut opts = EngineOptions::new(stories_path());
    opts.max_parallel = max_parallel;
    opts.context_per_call = 1024;
    opts.threads = 2;
    opts.chat_template = Some("qwen2.5".into());
    LlmEngine::load(&opts).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_guard_cuts_a_rambling_model_at_a_sentence_end_and_stops_decoding() {
    use enclave::dialog::chunker::SentenceChunker;
    use enclave::dialog::guard::{GuardStop, ReplyLimits};
    use enclave::dialog::session::Conversation;
    use enclave::dialog::tools::ToolRegistry;
    let engine = tokio::task::spawn_blocking(|| own_engine(2)).await.unwrap();
    let turn = |limits: ReplyLimits| {
        let engine = engine.clone();
        async move {
            let mut params = GenParams::greedy(400);
            params.tool_choice = ToolChoice::None;
            params.reply_limits = limits;
            let mut conv = Conversation::new(
                engine.session().unwrap(),
                "Tell stories.",
                Arc::new(ToolRegistry::empty()),
                params,
                1,
            );
            conv.user_turn("Once upon a time", CancelHandle::new(), |_| {})
                .await
                .unwrap()
        }
    };
    let free = turn(ReplyLimits::off()).await;
    let guarded = turn(ReplyLimits {
        max_sentences: 2,
        max_tokens: 100,
        stop_repetition: true,
    })
    .await;
    let count = |text: &str| {
        let mut c = SentenceChunker::sentences_only();
        let mut n = c.push(text).len();
        n += c.finish().into_iter().count();
        n
    };
    eprintln!(
        "free: {} tokens, {} sentences; guarded: {} tokens, {:?}: {:?}",
        free.rounds[0].generated_tokens,
        count(&free.reply),
        guarded.rounds[0].generated_tokens,
        guarded.rounds[0].guard,
        guarded.reply
    );
    assert!(
        count(&free.reply) > 2,
        "the story model rambles: {:?}",
        free.reply
    );
    let stats = &guarded.rounds[0];
    assert!(stats.guard.is_some(), "{guarded:?}");
    assert!(count(&guarded.reply) <= 2, "{:?}", guarded.reply);
    assert!(
        stats.text.trim_start().starts_with(&guarded.reply),
        "the guarded reply is what the model said, cut: {:?} vs {:?}",
        guarded.reply,
        stats.text
    );
    if stats.guard == Some(GuardStop::Sentences) {
        assert!(
            guarded.reply.ends_with(['.', '!', '?', '"']),
            "cut at a sentence end: {:?}",
            guarded.reply
        );
    }
    assert!(
        stats.generated_tokens < free.rounds[0].generated_tokens,
        "decoding stopped early: {} vs {}",
        stats.generated_tokens,
        free.rounds[0].generated_tokens
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speculative_prefill_lets_the_next_turn_reuse_the_partial_transcript() {
    use enclave::dialog::session::Conversation;
    use enclave::dialog::tools::ToolRegistry;
    let engine = tokio::task::spawn_blocking(|| own_engine(2)).await.unwrap();
    let mut params = GenParams::greedy(8);
    params.tool_choice = ToolChoice::None;
    let new_conv = || {
        Conversation::new(
            engine.session().unwrap(),
            "Tell short stories.",
            Arc::new(ToolRegistry::empty()),
            params.clone(),
            1,
        )
    };
    let (mut with, mut without) = (new_conv(), new_conv());
    for c in [&mut with, &mut without] {
        c.user_turn(
            "Once upon a time there was a cat.",
            CancelHandle::new(),
            |_| {},
        )
        .await
        .unwrap();
    }
    let partial = "Tell me about the little dog who lived in the big red house near the park and";
    let full = format!("{partial} liked to run every day.");
    assert!(with.prefill(partial).unwrap(), "a prefill was started");
    let a = with
        .user_turn(&full, CancelHandle::new(), |_| {})
        .await
        .unwrap();
    let b = without
        .user_turn(&full, CancelHandle::new(), |_| {})
        .await
        .unwrap();
    let partial_tokens = engine.tokenize(partial).len();
    let (ra, rb) = (a.rounds[0].reused_tokens, b.rounds[0].reused_tokens);
    eprintln!(
        "turn 2: reused {ra} tokens with the prefill (ttft {:?}), {rb} without (ttft {:?}); \
         partial = {partial_tokens} tokens",
        a.rounds[0].time_to_first_token, b.rounds[0].time_to_first_token
    );
    assert!(
        ra + 3 >= rb + partial_tokens,
        "the partial transcript was in the cache: {ra} vs {rb} + {partial_tokens}"
    );
    assert_eq!(a.reply, b.reply, "the prefill changes nothing but speed");
    assert_eq!(a.rounds[0].prompt_tokens, b.rounds[0].prompt_tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_generation_waits_for_foreground_work_while_other_calls_decode() {
    use enclave::priority::{CpuPriority, Deferral};
    use std::time::Duration;
    let engine = tokio::task::spawn_blocking(|| own_engine(2)).await.unwrap();
    let priority = CpuPriority::new();
    // Call A has audio ahead of its caller: its later tokens may wait.
    let mut a = engine.session().unwrap();
    a.set_deferral(Some(Deferral::new(Arc::clone(&priority), || true)));
    let mut b = engine.session().unwrap();
    let job = priority.foreground();
    let mut gen_a = a
        .generate_prompt("Once upon a time", &GenParams::greedy(40))
        .unwrap();
    // Call B (nothing to defer) decodes all its tokens meanwhile, on the same scheduler.
    let gen_b = b
        .generate_prompt("The little dog", &GenParams::greedy(20))
        .unwrap();
    let (_, stats_b) = tokio::task::spawn_blocking(move || collect(gen_b))
        .await
        .unwrap();
    assert_eq!(stats_b.generated_tokens, 20, "the other call was not held");
    // A produced at most the token its prompt's evaluation sampled.
    let mut early = 0;
    while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, gen_a.next()).await {
        match event {
            GenEvent::Token(_) => early += 1,
            GenEvent::Done(s) => panic!("A finished while held: {s:?}"),
            GenEvent::Error(e) => panic!("{e}"),
            GenEvent::ToolCall(_) => {}
        }
    }
    assert!(early <= 1, "A decoded {early} tokens while held");
    // The foreground work ends: A goes on to its limit.
    drop(job);
    let (_, stats_a) = tokio::task::spawn_blocking(move || collect(gen_a))
        .await
        .unwrap();
    assert_eq!(stats_a.generated_tokens, 40);
}
