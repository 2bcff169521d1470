//! Text side of the dialog: chat templates with tools (exact prompts written by hand from the
//! templates' semantics), tool-call parsing of hand-written replies, the sentence chunker and
//! the markup filter, grammar building, and `[llm]` validation.

use enclave::config::Config;
use enclave::dialog::chunker::{MarkupFilter, SentenceChunker};
use enclave::dialog::grammar::tool_call_grammar;
use enclave::dialog::template::{ChatTemplate, ToolFormat, LLAMA3_1_TEMPLATE, QWEN2_5_TEMPLATE};
use enclave::dialog::toolcall_parse::parse_reply;
use enclave::dialog::{ChatMessage, ToolCall, ToolSpec};
use serde_json::json;

fn order_tool() -> ToolSpec {
    ToolSpec {
        name: "order_status".into(),
        description: "Look up an order".into(),
        parameters: json!({
            "type": "object",
            "properties": {"order_id": {"type": "string", "description": "Order number"}},
            "required": ["order_id"]
        }),
    }
}

fn conversation_with_tool_result() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("You are a bank assistant."),
        ChatMessage::user("Where is order 42?"),
        ChatMessage::assistant_tool_calls(
            "",
            vec![ToolCall {
                name: "order_status".into(),
                arguments: json!({"order_id": "42"}),
            }],
        ),
        ChatMessage::tool("order_status", r#"{"status": "shipped"}"#),
    ]
}

const QWEN_SYSTEM_WITH_TOOL: &str = "<|im_start|>system\nYou are a bank assistant.\n\n# Tools\n\n\
You may call one or more functions to assist with the user query.\n\n\
You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n\
{\"type\": \"function\", \"function\": {\"name\": \"order_status\", \"description\": \"Look up an order\", \
\"parameters\": {\"type\": \"object\", \"properties\": {\"order_id\": {\"type\": \"string\", \
\"description\": \"Order number\"}}, \"required\": [\"order_id\"]}}}\n</tools>\n\n\
For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": \
<args-json-object>}\n</tool_call><|im_end|>\n";

#[test]
fn qwen_template_renders_tools_and_generation_prompt() {
    let t = ChatTemplate::new(QWEN2_5_TEMPLATE, "", "<|im_end|>").unwrap();
    assert_eq!(t.tool_format(), ToolFormat::Hermes);
    let messages = vec![
        ChatMessage::system("You are a bank assistant."),
        ChatMessage::user("Where is order 42?"),
    ];
    let got = t.render(&messages, &[order_tool()], true).unwrap();
    let want = format!(
        "{QWEN_SYSTEM_WITH_TOOL}<|im_start|>user\nWhere is order 42?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(got, want);
}

#[test]
fn qwen_template_renders_tool_calls_and_results() {
    let t = ChatTemplate::new(QWEN2_5_TEMPLATE, "", "<|im_end|>").unwrap();
    let got = t
        .render(&conversation_with_tool_result(), &[order_tool()], true)
        .unwrap();
    let want = format!(
        "{QWEN_SYSTEM_WITH_TOOL}<|im_start|>user\nWhere is order 42?<|im_end|>\n\
<|im_start|>assistant\n<tool_call>\n{{\"name\": \"order_status\", \"arguments\": {{\"order_id\": \"42\"}}}}\n</tool_call><|im_end|>\n\
<|im_start|>user\n<tool_response>\n{{\"status\": \"shipped\"}}\n</tool_response><|im_end|>\n\
<|im_start|>assistant\n"
    );
    assert_eq!(got, want);
}

#[test]
fn qwen_template_without_tools_or_system_uses_default_system() {
    let t = ChatTemplate::new(QWEN2_5_TEMPLATE, "", "<|im_end|>").unwrap();
    let got = t
        .render(
            &[ChatMessage::user("Hi"), ChatMessage::assistant("Hello!")],
            &[],
            false,
        )
        .unwrap();
    assert_eq!(
        got,
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
    );
}

const LLAMA_TOOL_JSON: &str = r#"{
    "type": "function",
    "function": {
        "name": "order_status",
        "description": "Look up an order",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {
                    "type": "string",
                    "description": "Order number"
                }
            },
            "required": [
                "order_id"
            ]
        }
    }
}"#;

#[test]
fn llama31_template_puts_tools_in_first_user_message() {
    let t = ChatTemplate::new(LLAMA3_1_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>").unwrap();
    assert_eq!(t.tool_format(), ToolFormat::Llama3Json);
    let messages = vec![
        ChatMessage::system("You are a bank assistant."),
        ChatMessage::user("Where is order 42?"),
    ];
    let got = t.render(&messages, &[order_tool()], true).unwrap();
    let want = format!(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n\
Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n\
You are a bank assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n\
Given the following functions, please respond with a JSON for a function call with its proper \
arguments that best answers the given prompt.\n\n\
Respond in the format {{\"name\": function name, \"parameters\": dictionary of argument name and its \
value}}.Do not use variables.\n\n{LLAMA_TOOL_JSON}\n\n\
Where is order 42?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(got, want);
}

#[test]
fn llama31_template_renders_call_and_ipython_result() {
    let t = ChatTemplate::new(LLAMA3_1_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>")
        .unwrap()
        .with_date_string("21 Nov 2026");
    let got = t
        .render(&conversation_with_tool_result(), &[order_tool()], false)
        .unwrap();
    assert!(got.contains("Today Date: 21 Nov 2026\n\n"), "{got}");
    // The official template JSON-encodes string tool results (a string is iterable in Jinja).
    assert!(
        got.ends_with(
            "Where is order 42?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n\
{\"name\": \"order_status\", \"parameters\": {\"order_id\": \"42\"}}<|eot_id|>\
<|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"status\\\": \\\"shipped\\\"}\"<|eot_id|>"
        ),
        "{got}"
    );
}

#[test]
fn template_raise_exception_becomes_an_error() {
    let t = ChatTemplate::new(LLAMA3_1_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>").unwrap();
    let call = ToolCall {
        name: "order_status".into(),
        arguments: json!({"order_id": "1"}),
    };
    let messages = vec![
        ChatMessage::user("x"),
        ChatMessage::assistant_tool_calls("", vec![call.clone(), call]),
    ];
    let err = t.render(&messages, &[], false).unwrap_err().to_string();
    assert!(err.contains("only supports single tool-calls"), "{err}");
}

#[test]
fn python_string_methods_work_in_templates() {
    let src = "{{ messages[0].content.strip().split(',')[1] }}|{{ messages[0].content.startswith('  a') }}|{{ {'k': 1}.items() | list | length }}";
    let t = ChatTemplate::new(src, "", "").unwrap();
    let got = t
        .render(&[ChatMessage::user("  a,b,c  ")], &[], false)
        .unwrap();
    assert_eq!(got, "b|True|1"); // Jinja prints Python booleans
}

#[test]
fn broken_template_is_a_clear_error() {
    let err = ChatTemplate::new("{% if %}", "", "")
        .unwrap_err()
        .to_string();
    assert!(err.contains("chat template"), "{err}");
}

#[test]
fn parses_hermes_calls_with_text_around() {
    let reply = "Let me check that.\n<tool_call>\n{\"name\": \"order_status\", \"arguments\": {\"order_id\": \"42\"}}\n</tool_call>";
    let p = parse_reply(reply, ToolFormat::Hermes);
    assert_eq!(p.content, "Let me check that.");
    assert_eq!(p.calls.len(), 1);
    assert_eq!(p.calls[0].name, "order_status");
    assert_eq!(p.calls[0].arguments, json!({"order_id": "42"}));
    assert!(p.errors.is_empty());

    let around = "Sure. <tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call> One moment.<|im_end|>";
    let p = parse_reply(around, ToolFormat::Hermes);
    assert_eq!(p.calls.len(), 1);
    assert_eq!(p.content, "Sure.  One moment.");
}

#[test]
fn parses_several_calls_and_string_arguments() {
    let reply = "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n\
<tool_call>\n{\"name\": \"b\", \"arguments\": \"{\\\"y\\\": [1, 2]}\"}\n</tool_call>";
    let p = parse_reply(reply, ToolFormat::Hermes);
    assert_eq!(p.calls.len(), 2);
    assert_eq!(p.calls[1].name, "b");
    assert_eq!(p.calls[1].arguments, json!({"y": [1, 2]}));
    assert!(p.content.is_empty());
}

#[test]
fn malformed_calls_are_reported_not_returned() {
    let reply = "<tool_call>\n{\"name\": \"order_status\", \"arguments\": {\"order_id\": }\n</tool_call>\n\
<tool_call>{\"arguments\": {}}</tool_call><tool_call>{\"name\": \"ok\", \"arguments\": {}}</tool_call>";
    let p = parse_reply(reply, ToolFormat::Hermes);
    assert_eq!(p.calls.len(), 1);
    assert_eq!(p.calls[0].name, "ok");
    assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
    assert!(p.errors[0].contains("invalid JSON"));
    assert!(p.errors[1].contains("name"));
}

#[test]
fn truncated_closer_still_parses_the_complete_call() {
    let p = parse_reply(
        "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool",
        ToolFormat::Hermes,
    );
    assert_eq!(p.calls.len(), 1);
}

#[test]
fn parses_llama3_json_calls_and_think_blocks() {
    let p = parse_reply(
        "{\"name\": \"get_time\", \"parameters\": {}}",
        ToolFormat::Llama3Json,
    );
    assert_eq!(p.calls.len(), 1);
    assert_eq!(p.calls[0].arguments, json!({}));
    let p = parse_reply(
        "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"q\": \"x\"}}; {\"name\": \"b\", \"parameters\": {}}",
        ToolFormat::Llama3Json,
    );
    assert_eq!(
        p.calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let p = parse_reply("Your order {is} shipped.", ToolFormat::Llama3Json);
    assert!(p.calls.is_empty());
    assert_eq!(p.content, "Your order {is} shipped.");
    let p = parse_reply(
        "<think>user wants time</think>It is noon.",
        ToolFormat::Hermes,
    );
    assert_eq!(p.content, "It is noon.");
}

fn chunk_all(pieces: &[&str]) -> Vec<String> {
    chunk_with(SentenceChunker::sentences_only(), pieces)
}

fn chunk_with(mut c: SentenceChunker, pieces: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for p in pieces {
        out.extend(c.push(p));
    }
    out.extend(c.finish());
    out
}

fn chunk_by_chars(text: &str) -> Vec<String> {
    let pieces: Vec<String> = text.chars().map(String::from).collect();
    chunk_all(&pieces.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn english_sentences_with_abbreviations_and_numbers() {
    let text = "Hello Dr. Smith. The price is 3.14 dollars, e.g. for apples. Really?! Yes... and no. Fine.";
    let want = [
        "Hello Dr. Smith.",
        "The price is 3.14 dollars, e.g. for apples.",
        "Really?!",
        "Yes... and no.",
        "Fine.",
    ];
    assert_eq!(chunk_by_chars(text), want);
    assert_eq!(chunk_all(&[text]), want);
}

#[test]
fn russian_sentences_with_abbreviations() {
    let text = "Встреча в 10 ч. утра, т.е. завтра. Адрес: ул. Ленина, д. 5. Это в г. Москве! \
Цена 3.14 руб. Хорошо? И т.д. Потом решим.";
    let want = [
        "Встреча в 10 ч. утра, т.е. завтра.",
        "Адрес: ул. Ленина, д. 5.",
        "Это в г. Москве!",
        "Цена 3.14 руб.",
        "Хорошо?",
        "И т.д.",
        "Потом решим.",
    ];
    assert_eq!(chunk_by_chars(text), want);
}

#[test]
fn quotes_lists_and_initials() {
    assert_eq!(
        chunk_by_chars("Он сказал: «Привет.» Потом ушёл. А. С. Пушкин писал стихи."),
        [
            "Он сказал: «Привет.»",
            "Потом ушёл.",
            "А. С. Пушкин писал стихи."
        ]
    );
    assert_eq!(
        chunk_by_chars("Options:\n1. Check the order\n2. Call back later"),
        ["Options:", "1. Check the order", "2. Call back later"]
    );
    assert_eq!(
        chunk_by_chars("She said \"Go.\" Then left."),
        ["She said \"Go.\"", "Then left."]
    );
}

/// Token-like pieces: a space starts a new piece (" word"), punctuation is its own piece.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        if (ch == ' ' || ch.is_ascii_punctuation()) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(ch);
    }
    out.push(cur);
    out
}

fn clause_chunks(text: &str) -> Vec<String> {
    let t = tokens(text);
    let pieces: Vec<&str> = t.iter().map(String::as_str).collect();
    let streamed = chunk_with(SentenceChunker::new(), &pieces);
    assert_eq!(
        chunk_with(SentenceChunker::new(), &[text]),
        streamed,
        "whole text and streamed tokens chunk alike"
    );
    streamed
}

#[test]
fn the_first_chunk_ends_at_a_clause_once_it_has_four_words() {
    assert_eq!(
        clause_chunks("Sure, I have checked your order, it ships on Monday. Anything else, sir?"),
        [
            "Sure, I have checked your order,",
            "it ships on Monday.",
            "Anything else, sir?"
        ]
    );
    assert_eq!(
        clause_chunks("I found your booking and it is confirmed for ten. Thanks."),
        [
            "I found your booking",
            "and it is confirmed for ten.",
            "Thanks."
        ]
    );
    assert_eq!(
        clause_chunks("The total comes to 1,500 dollars - due on 3.5 weeks from now."),
        [
            "The total comes to 1,500 dollars -",
            "due on 3.5 weeks from now."
        ]
    );
    assert_eq!(
        clause_chunks("Write to john.smith@example.com, e.g. today: we answer fast."),
        [
            "Write to john.smith@example.com, e.g. today:",
            "we answer fast."
        ]
    );
    // A short first sentence is released whole; later clauses never split.
    assert_eq!(
        clause_chunks(
            "Hello! Your order, which you placed on May 5, has shipped, and it comes soon."
        ),
        [
            "Hello!",
            "Your order, which you placed on May 5, has shipped, and it comes soon."
        ]
    );
}

#[test]
fn russian_first_clauses() {
    assert_eq!(
        clause_chunks("Да, я проверила ваш заказ, он придёт в понедельник. Что-нибудь ещё?"),
        [
            "Да, я проверила ваш заказ,",
            "он придёт в понедельник.",
            "Что-нибудь ещё?"
        ]
    );
    assert_eq!(
        clause_chunks("Ваша запись на 10:30 подтверждена и мы ждём вас. До встречи."),
        [
            "Ваша запись на 10:30 подтверждена",
            "и мы ждём вас.",
            "До встречи."
        ]
    );
    assert_eq!(
        clause_chunks("Сумма 1,5 тыс. руб. к оплате — до 3.5 числа, т.е. завтра."),
        [
            "Сумма 1,5 тыс. руб. к оплате —",
            "до 3.5 числа, т.е. завтра."
        ]
    );
    // Fewer than four words before every clause mark: the sentence stays whole.
    assert_eq!(
        clause_chunks("Нет, но спасибо. Хорошо."),
        ["Нет, но спасибо.", "Хорошо."]
    );
}

#[test]
fn a_clause_is_released_as_soon_as_the_next_word_starts() {
    let mut c = SentenceChunker::new();
    assert!(c.push("Yes, I can book that").is_empty());
    assert!(c.push(",").is_empty());
    assert!(c.push(" ").is_empty(), "the next word decides");
    assert_eq!(c.push("f"), ["Yes, I can book that,"]);
    assert!(
        c.push("or you, and then").is_empty(),
        "later chunks are sentences"
    );
    assert_eq!(c.finish().as_deref(), Some("for you, and then"));
    let mut only = SentenceChunker::sentences_only();
    assert!(only.push("Yes, I can book that, for you").is_empty());
}

#[test]
fn a_sentence_is_released_as_soon_as_the_next_word_starts() {
    let mut c = SentenceChunker::new();
    assert!(c.push("Your order has shipped").is_empty());
    assert!(c.push(".").is_empty());
    assert!(c.push(" ").is_empty());
    assert_eq!(c.push("I"), ["Your order has shipped."]);
    assert_eq!(c.push("t arrives Monday!").len(), 0);
    assert_eq!(c.finish().as_deref(), Some("It arrives Monday!"));
    assert_eq!(c.finish(), None);
}

#[test]
fn markup_filter_hides_tool_calls_think_and_special_tokens() {
    let text = "<think>check order</think>Sure, one moment.<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call> Done, 2 < 3.<|im_end|>";
    let mut whole = MarkupFilter::new(false);
    let mut a = whole.push(text);
    a.push_str(&whole.finish());
    assert_eq!(a, "Sure, one moment. Done, 2 < 3.");
    let mut f = MarkupFilter::new(false);
    let mut b = String::new();
    for ch in text.chars() {
        b.push_str(&f.push(&ch.to_string()));
    }
    b.push_str(&f.finish());
    assert_eq!(b, a);
    let mut llama = MarkupFilter::new(true);
    assert_eq!(
        llama.push(" {\"name\": \"get_time\", \"parameters\": {}}"),
        ""
    );
    let mut llama = MarkupFilter::new(true);
    assert_eq!(llama.push("It is {noon}."), "It is {noon}.");
}

#[test]
fn tool_grammar_covers_every_declared_tool() {
    let tools = vec![
        order_tool(),
        ToolSpec {
            name: "book".into(),
            description: "Book a slot".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "day": {"enum": ["mon", "tue"]},
                    "people": {"type": "integer", "minimum": 1},
                    "notes": {"type": ["string", "null"]},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
                },
                "required": ["day"]
            }),
        },
    ];
    let g = tool_call_grammar(&tools, ToolFormat::Hermes).unwrap();
    assert!(g.starts_with("root ::= "), "{g}");
    assert!(g.contains(r#""<tool_call>\n""#), "{g}");
    assert!(g.contains(r#""\"order_status\"""#), "{g}");
    assert!(g.contains(r#""\"mon\"""#), "{g}");
    let bad = ToolSpec {
        name: "x".into(),
        description: String::new(),
        parameters: json!({"type": "object", "properties": {"a": {"$ref": "#/defs/a"}}}),
    };
    let err = tool_call_grammar(&[bad], ToolFormat::Hermes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.a") && err.contains("$ref"), "{err}");
}

const HTTP_TOOL_TOML: &str = r#"
[llm]
tool_allowed_hosts = ["127.0.0.1", "crm.internal"]

[[llm.http_tools]]
name = "order_status"
description = "Order status by number"
url = "http://crm.internal:8080/orders/{order_id}"
response_fields = ["/status", "/eta"]
parameters = { type = "object", properties = { order_id = { type = "string" } }, required = ["order_id"] }
"#;

#[test]
fn config_accepts_allowlisted_http_tools() {
    let cfg = Config::from_toml_str("test", HTTP_TOOL_TOML, Vec::new()).unwrap();
    assert_eq!(cfg.llm.http_tools.len(), 1);
    assert_eq!(cfg.llm.http_tools[0].method, "GET");
    assert_eq!(cfg.llm.http_tools[0].timeout_ms, 3000);
}

#[test]
fn config_refuses_a_host_outside_the_allowlist() {
    let text = HTTP_TOOL_TOML.replace("crm.internal:8080", "example.com");
    let err = Config::from_toml_str("test", &text, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("llm.http_tools[0].url"), "{err}");
    assert!(
        err.contains("example.com") && err.contains("tool_allowed_hosts"),
        "{err}"
    );
}

#[test]
fn config_refuses_bad_tools() {
    let dup = format!(
        "{HTTP_TOOL_TOML}\n{}",
        &HTTP_TOOL_TOML[HTTP_TOOL_TOML.find("[[llm").unwrap()..]
    );
    let err = Config::from_toml_str("test", &dup, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("declared twice"), "{err}");
    let bad_ptr = HTTP_TOOL_TOML.replace("\"/eta\"", "\"eta\"");
    let err = Config::from_toml_str("test", &bad_ptr, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("JSON pointer"), "{err}");
    let err = Config::from_toml_str(
        "test",
        "[llm]\nbuiltin_tools = [\"launch_rocket\"]",
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("launch_rocket"), "{err}");
    let err = Config::from_toml_str("test", "[llm]\nmax_parallel = 0", Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("llm.max_parallel"), "{err}");
}

#[test]
fn example_config_llm_section_matches_the_defaults() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/agent.example.toml"))
        .unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut only_llm = toml::Table::new();
    only_llm.insert("llm".into(), table["llm"].clone());
    let cfg =
        Config::from_toml_str("agent.example.toml", &only_llm.to_string(), Vec::new()).unwrap();
    assert_eq!(cfg.llm, enclave::config::LlmConfig::default());
}

/// Qwen3's official template (thinking, multi-step tools): exercises `namespace`, reversed
/// slices and the Python string methods (`startswith`, `split`, `lstrip('\n')`, `strip('\n')`).
const QWEN3_TEMPLATE: &str = r##"{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"##;

#[test]
fn qwen3_template_with_thinking_and_tool_history() {
    let t = ChatTemplate::new(QWEN3_TEMPLATE, "", "<|im_end|>").unwrap();
    assert_eq!(t.tool_format(), ToolFormat::Hermes);
    let messages = vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("Time?"),
        ChatMessage::assistant_tool_calls(
            "<think>\nuser wants time\n</think>\n\nChecking.",
            vec![ToolCall {
                name: "get_time".into(),
                arguments: json!({}),
            }],
        ),
        ChatMessage::tool("get_time", r#"{"time": "12:00"}"#),
    ];
    let got = t.render(&messages, &[], true).unwrap();
    assert_eq!(
        got,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nTime?<|im_end|>\n\
<|im_start|>assistant\n<think>\nuser wants time\n</think>\n\nChecking.\n\
<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call><|im_end|>\n\
<|im_start|>user\n<tool_response>\n{\"time\": \"12:00\"}\n</tool_response><|im_end|>\n\
<|im_start|>assistant\n"
    );
}
