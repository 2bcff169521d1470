//! Chat templates: the model's own Jinja template (GGUF `tokenizer.chat_template`) rendered with
//! minijinja, tools included, plus the Python/Jinja helpers Hugging Face templates rely on
//! (`tojson` with Python's separators, `raise_exception`, `strftime_now`, string and dict methods).

use super::{ChatMessage, DialogError, Role, ToolSpec};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::Arc;

/// Qwen2.5 Instruct's official chat template (ChatML, `<tool_call>` tool calls).
pub const QWEN2_5_TEMPLATE: &str = include_str!("templates/qwen2_5.jinja");
/// Llama 3.1 Instruct's official chat template (JSON tool calls, `ipython` tool role).
pub const LLAMA3_1_TEMPLATE: &str = include_str!("templates/llama3_1.jinja");
/// Gemma 3 turns (`<start_of_turn>user`/`model`), system text and tools (plain text, Hermes
/// `<tool_call>` syntax) prefixed to the first user turn: for Gemma GGUFs without a template.
pub const GEMMA3_TEMPLATE: &str = include_str!("templates/gemma3.jinja");

/// How a model family writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (Qwen2.5/Qwen3, Hermes).
    Hermes,
    /// A bare `{"name": …, "parameters": {…}}` reply, optionally after `<|python_tag|>` (Llama 3.x).
    Llama3Json,
}

impl ToolFormat {
    /// Guesses the format from the template text.
    pub fn detect(template: &str) -> ToolFormat {
        if template.contains("<tool_call>") {
            ToolFormat::Hermes
        } else if template.contains("<|python_tag|>") || template.contains("\"parameters\": ") {
            ToolFormat::Llama3Json
        } else {
            ToolFormat::Hermes
        }
    }
}

/// A compiled chat template with the special-token strings it needs.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
    tool_format: ToolFormat,
    /// Fixed date for templates that print one (tests); `None` = today.
    date_string: Option<String>,
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token`/`eos_token` are the strings templates may print.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, DialogError> {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(false);
        env.set_trim_blocks(false);
        env.add_filter("tojson", tojson_filter);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.set_unknown_method_callback(python_methods);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| DialogError::Template(format!("template does not compile: {e:#}")))?;
        Ok(ChatTemplate {
            env,
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
            tool_format: ToolFormat::detect(source),
            date_string: None,
        })
    }

    /// Fixes the date templates print (`date_string`), for reproducible prompts.
    pub fn with_date_string(mut self, date: impl Into<String>) -> Self {
        self.date_string = Some(date.into());
        self
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How this model family writes tool calls.
    pub fn tool_format(&self) -> ToolFormat {
        self.tool_format
    }

    /// Renders a conversation (and tools) into the prompt text.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        add_generation_prompt: bool,
    ) -> Result<String, DialogError> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| DialogError::Template(e.to_string()))?;
        let messages: Vec<Value> = messages.iter().map(message_value).collect();
        let tools_value = if tools.is_empty() {
            Value::from(())
        } else {
            Value::from(tools.iter().map(tool_value).collect::<Vec<_>>())
        };
        let mut ctx: Vec<(&str, Value)> = vec![
            ("messages", Value::from(messages)),
            ("tools", tools_value),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
        ];
        if let Some(date) = &self.date_string {
            ctx.push(("date_string", Value::from(date.as_str())));
        }
        let ctx: std::collections::BTreeMap<&str, Value> = ctx.into_iter().collect();
        tmpl.render(ctx)
            .map_err(|e| DialogError::Template(format!("rendering failed: {e:#}")))
    }
}

/// A map that keeps insertion order (minijinja's own maps are sorted without `preserve_order`).
#[derive(Debug)]
struct OrderedMap(Vec<(String, Value)>);

impl Object for OrderedMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.0
                .iter()
                .map(|(k, _)| Value::from(k.as_str()))
                .collect(),
        )
    }
}

fn ordered(pairs: Vec<(&str, Value)>) -> Value {
    Value::from_object(OrderedMap(
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    ))
}

/// Where a JSON Schema key goes when printed: the order the official examples use.
fn schema_key_rank(key: &str) -> u8 {
    match key {
        "type" => 0,
        "name" => 1,
        "description" => 2,
        "enum" => 3,
        "properties" => 4,
        "items" => 5,
        "required" => 6,
        _ => 7,
    }
}

/// Converts JSON into a template value, ordering object keys like JSON Schema examples do.
pub(crate) fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(json_to_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by_key(|k| (schema_key_rank(k), k.as_str()));
            ordered(
                keys.into_iter()
                    .map(|k| (k.as_str(), json_to_value(&o[k])))
                    .collect(),
            )
        }
    }
}

/// The OpenAI/Hugging Face shape of a tool: `{"type": "function", "function": {…}}`.
fn tool_value(tool: &ToolSpec) -> Value {
    ordered(vec![
        ("type", Value::from("function")),
        (
            "function",
            ordered(vec![
                ("name", Value::from(tool.name.as_str())),
                ("description", Value::from(tool.description.as_str())),
                ("parameters", json_to_value(&tool.parameters)),
            ]),
        ),
    ])
}

fn message_value(m: &ChatMessage) -> Value {
    let mut pairs = vec![
        ("role", Value::from(m.role.as_str())),
        ("content", Value::from(m.content.as_str())),
    ];
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| {
                ordered(vec![
                    ("type", Value::from("function")),
                    (
                        "function",
                        ordered(vec![
                            ("name", Value::from(c.name.as_str())),
                            ("arguments", json_to_value(&c.arguments)),
                        ]),
                    ),
                ])
            })
            .collect();
        pairs.push(("tool_calls", Value::from(calls)));
    }
    if m.role == Role::Tool {
        if let Some(name) = &m.name {
            pairs.push(("name", Value::from(name.as_str())));
        }
    }
    ordered(pairs)
}

/// `tojson` as Hugging Face defines it: Python's `json.dumps(x, ensure_ascii=False, indent=…)`.
fn tojson_filter(value: &Value, kwargs: minijinja::value::Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    python_json(value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

/// Writes `value` the way Python's `json.dumps` does (separators `", "`/`": "`).
pub(crate) fn python_json(
    value: &Value,
    indent: Option<usize>,
    level: usize,
    out: &mut String,
) -> Result<(), Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let text = value.to_string();
            out.push_str(&text);
        }
        ValueKind::String => python_string(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                python_json(item, indent, level + 1, out)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                python_string(&key.to_string(), out);
                out.push_str(": ");
                let item = value.get_item(key)?;
                python_json(&item, indent, level + 1, out)?;
            }
            newline(out, level);
            out.push('}');
        }
        _ => python_string(&value.to_string(), out),
    }
    Ok(())
}

/// A JSON string literal as Python writes it with `ensure_ascii=False`.
pub(crate) fn python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(fmt)`: the current UTC date/time; supports `%d %m %Y %y %b %B %H %M %S %%`.
fn strftime_now(fmt: String) -> Result<Value, Error> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(Value::from(format_utc(secs, &fmt)))
}

/// Formats a Unix time (UTC) with a small strftime subset.
pub fn format_utc(unix_secs: i64, fmt: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('b') => out.push_str(&month_name[..3]),
            Some('B') => out.push_str(month_name),
            Some('H') => out.push_str(&format!("{:02}", secs / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", secs % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Python string and dict methods that Hugging Face templates call.
fn python_methods(_: &State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let arg_str = |i: usize| args.get(i).and_then(|v| v.as_str().map(str::to_string));
    if let Some(s) = value.as_str() {
        let chars_arg = arg_str(0);
        let strip_set = |c: char| match &chars_arg {
            Some(set) => set.contains(c),
            None => c.is_whitespace(),
        };
        return match method {
            "strip" => Ok(Value::from(s.trim_matches(strip_set))),
            "lstrip" => Ok(Value::from(s.trim_start_matches(strip_set))),
            "rstrip" => Ok(Value::from(s.trim_end_matches(strip_set))),
            "upper" => Ok(Value::from(s.to_uppercase())),
            "lower" => Ok(Value::from(s.to_lowercase())),
            "startswith" | "endswith" => {
                let candidates: Vec<String> = match args.first() {
                    Some(v) if v.kind() == ValueKind::Seq => v
                        .try_iter()?
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    Some(v) => v.as_str().map(str::to_string).into_iter().collect(),
                    None => return Err(Error::new(ErrorKind::MissingArgument, method.to_string())),
                };
                let hit = candidates.iter().any(|c| {
                    if method == "startswith" {
                        s.starts_with(c.as_str())
                    } else {
                        s.ends_with(c.as_str())
                    }
                });
                Ok(Value::from(hit))
            }
            "split" => {
                let max = args.get(1).and_then(|v| i64::try_from(v.clone()).ok());
                let parts: Vec<Value> = match (arg_str(0), max) {
                    (Some(sep), Some(n)) if n >= 0 => s
                        .splitn(n as usize + 1, sep.as_str())
                        .map(Value::from)
                        .collect(),
                    (Some(sep), _) => s.split(sep.as_str()).map(Value::from).collect(),
                    (None, _) => s.split_whitespace().map(Value::from).collect(),
                };
                Ok(Value::from(parts))
            }
            "replace" => match (arg_str(0), arg_str(1)) {
                (Some(a), Some(b)) => Ok(Value::from(s.replace(a.as_str(), b.as_str()))),
                _ => Err(Error::new(ErrorKind::MissingArgument, "replace(old, new)")),
            },
            "find" => Ok(Value::from(
                arg_str(0)
                    .and_then(|n| s.find(n.as_str()))
                    .map_or(-1, |b| s[..b].chars().count() as i64),
            )),
            "count" => Ok(Value::from(
                arg_str(0).map_or(0, |n| s.matches(n.as_str()).count()),
            )),
            "title" | "capitalize" => {
                let mut c = s.chars();
                Ok(Value::from(match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("string has no method {method}"),
            )),
        };
    }
    if value.kind() == ValueKind::Map {
        return match method {
            "items" => {
                let mut pairs = Vec::new();
                for key in value.try_iter()? {
                    let item = value.get_item(&key)?;
                    pairs.push(Value::from(vec![key, item]));
                }
                Ok(Value::from(pairs))
            }
            "keys" => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
            "values" => {
                let mut vals = Vec::new();
                for key in value.try_iter()? {
                    vals.push(value.get_item(&key)?);
                }
                Ok(Value::from(vals))
            }
            "get" => {
                let key = args.first().cloned().unwrap_or(Value::UNDEFINED);
                let item = value.get_item(&key)?;
                if item.is_undefined() {
                    Ok(args.get(1).cloned().unwrap_or(Value::from(())))
                } else {
                    Ok(item)
                }
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("dict has no method {method}"),
            )),
        };
    }
    Err(Error::new(
        ErrorKind::UnknownMethod,
        format!("{} has no method {method}", value.kind()),
    ))
}

#[cfg(test)]
mod tests {
    //! The Gemma template against prompts written by hand from Gemma 3's turn format.
    use super::*;
    use crate::dialog::ToolCall;
    use serde_json::json;

    fn gemma() -> ChatTemplate {
        ChatTemplate::new(GEMMA3_TEMPLATE, "<bos>", "<eos>").unwrap()
    }

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

    #[test]
    fn gemma_prefixes_system_and_tools_to_the_first_user_turn() {
        let t = gemma();
        assert_eq!(t.tool_format(), ToolFormat::Hermes);
        let messages = [
            ChatMessage::system("You are a bank assistant."),
            ChatMessage::user("Where is order 42?"),
        ];
        let got = t.render(&messages, &[order_tool()], true).unwrap();
        let want = "<bos><start_of_turn>user\nYou are a bank assistant.\n\n\
You can call these functions:\n\
- order_status: Look up an order\n  arguments: {\"type\": \"object\", \"properties\": \
{\"order_id\": {\"type\": \"string\", \"description\": \"Order number\"}}, \"required\": [\"order_id\"]}\n\n\
To call one, reply with only:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n\
</tool_call>\n\nWhere is order 42?<end_of_turn>\n<start_of_turn>model\n";
        assert_eq!(got, want);
    }

    #[test]
    fn gemma_renders_model_turns_without_a_system_role() {
        let messages = [
            ChatMessage::system("  Be brief. "),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello!"),
            ChatMessage::user("Bye"),
        ];
        let got = gemma().render(&messages, &[], false).unwrap();
        assert_eq!(
            got,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n\
<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n"
        );
        let got = gemma()
            .render(&[ChatMessage::user("Hi")], &[], true)
            .unwrap();
        assert_eq!(
            got,
            "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn gemma_renders_tool_calls_and_results_as_hermes_text() {
        let messages = [
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
            ChatMessage::tool("order_status", r#"{"eta": "Friday"}"#),
        ];
        let got = gemma().render(&messages, &[], true).unwrap();
        assert_eq!(
            got,
            "<bos><start_of_turn>user\nYou are a bank assistant.\n\nWhere is order 42?<end_of_turn>\n\
<start_of_turn>model\n<tool_call>\n{\"name\": \"order_status\", \"arguments\": {\"order_id\": \"42\"}}\n\
</tool_call><end_of_turn>\n<start_of_turn>user\n<tool_response>\n{\"status\": \"shipped\"}\n</tool_response>\n\
<tool_response>\n{\"eta\": \"Friday\"}\n</tool_response><end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn gemma_tolerates_roles_that_do_not_alternate() {
        // A failed turn can leave two caller messages in a row; the official template raises here.
        let messages = [ChatMessage::user("Hello?"), ChatMessage::user("Anyone?")];
        let got = gemma().render(&messages, &[], true).unwrap();
        assert_eq!(
            got,
            "<bos><start_of_turn>user\nHello?<end_of_turn>\n<start_of_turn>user\nAnyone?<end_of_turn>\n\
<start_of_turn>model\n"
        );
        // System text with no caller turn yet still reaches the model.
        let got = gemma()
            .render(&[ChatMessage::system("Be brief.")], &[], true)
            .unwrap();
        assert_eq!(
            got,
            "<bos><start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn gemma_is_a_built_in_template_name() {
        for name in ["gemma", "Gemma3", "gemma-3"] {
            let source = crate::dialog::engine::resolve_template_setting(name).unwrap();
            assert_eq!(source, GEMMA3_TEMPLATE, "{name}");
        }
    }
}
