//! Parses tool calls out of a model reply (Hermes `<tool_call>` blocks, Llama 3 JSON), keeping
//! the text around them and reporting malformed calls instead of failing.

use super::template::ToolFormat;
use super::ToolCall;

/// What a reply contained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedReply {
    /// Text outside tool calls (markup and `<think>` blocks removed), trimmed.
    pub content: String,
    /// Well-formed tool calls, in order.
    pub calls: Vec<ToolCall>,
    /// Tool-call blocks that could not be parsed, with the reason.
    pub errors: Vec<String>,
}

/// Parses `text` written in `format`.
pub fn parse_reply(text: &str, format: ToolFormat) -> ParsedReply {
    let text = strip_think(text);
    match format {
        ToolFormat::Hermes => parse_hermes(&text),
        ToolFormat::Llama3Json => parse_llama3(&text),
    }
}

/// Removes `<think>…</think>` blocks (an unclosed one runs to the end).
fn strip_think(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<think>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</think>") {
            Some(end) => rest = &rest[start + end + "</think>".len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_hermes(text: &str) -> ParsedReply {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    let mut reply = ParsedReply::default();
    let mut content = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        content.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let (body, next) = match after.find(CLOSE) {
            Some(end) => (&after[..end], &after[end + CLOSE.len()..]),
            // Unclosed (the reply was cut): drop a partial closer like "</tool".
            None => {
                let cut = (1..CLOSE.len())
                    .rev()
                    .find(|&n| after.trim_end().ends_with(&CLOSE[..n]))
                    .map_or(after.len(), |n| after.trim_end().len() - n);
                (&after[..cut], "")
            }
        };
        match call_from_json(body, &["arguments", "parameters"]) {
            Ok(call) => reply.calls.push(call),
            Err(e) => reply.errors.push(format!("<tool_call> block: {e}")),
        }
        rest = next;
    }
    content.push_str(rest);
    reply.content = strip_special(&content).trim().to_string();
    reply
}

fn parse_llama3(text: &str) -> ParsedReply {
    let mut reply = ParsedReply::default();
    let trimmed = text.trim_start();
    let mut body = trimmed.strip_prefix("<|python_tag|>").unwrap_or(trimmed);
    if !body.trim_start().starts_with('{') {
        reply.content = strip_special(text).trim().to_string();
        return reply;
    }
    loop {
        // Several calls may follow each other, separated by ';' or whitespace.
        let b = body.trim_start_matches([';', ' ', '\n', '\t']);
        if !b.starts_with('{') {
            reply.content = strip_special(b).trim().to_string();
            return reply;
        }
        let mut stream = serde_json::Deserializer::from_str(b).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(v)) => {
                match call_from_value(v, &["parameters", "arguments"]) {
                    Ok(call) => reply.calls.push(call),
                    Err(e) => reply.errors.push(e),
                }
                body = &b[stream.byte_offset()..];
            }
            Some(Err(e)) => {
                reply.errors.push(format!("tool call JSON: {e}"));
                return reply;
            }
            None => return reply,
        }
    }
}

/// Parses one JSON call object; `arg_keys` are the accepted names of the arguments field.
fn call_from_json(body: &str, arg_keys: &[&str]) -> Result<ToolCall, String> {
    let body = body.trim();
    let mut stream = serde_json::Deserializer::from_str(body).into_iter::<serde_json::Value>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(format!("invalid JSON ({e}) in {body:?}")),
        None => return Err("empty tool call".into()),
    };
    let trailing = body[stream.byte_offset()..].trim();
    if !trailing.is_empty() {
        return Err(format!(
            "unexpected text after the call object: {trailing:?}"
        ));
    }
    call_from_value(value, arg_keys)
}

fn call_from_value(value: serde_json::Value, arg_keys: &[&str]) -> Result<ToolCall, String> {
    let serde_json::Value::Object(mut obj) = value else {
        return Err("tool call is not a JSON object".into());
    };
    let name = match obj.remove("name") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        _ => return Err("tool call has no \"name\" string".into()),
    };
    let arguments = arg_keys
        .iter()
        .find_map(|k| obj.remove(*k))
        .unwrap_or(serde_json::Value::Object(Default::default()));
    // Some models put the arguments object in a string.
    let arguments = match arguments {
        serde_json::Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| format!("arguments of {name} are a string that is not JSON: {e}"))?,
        other => other,
    };
    if !arguments.is_object() {
        return Err(format!("arguments of {name} are not a JSON object"));
    }
    Ok(ToolCall { name, arguments })
}

/// Removes special-token text like `<|im_end|>` from visible content.
fn strip_special(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<|") {
        match rest[start..].find("|>") {
            Some(end) => {
                out.push_str(&rest[..start]);
                rest = &rest[start + end + 2..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}
