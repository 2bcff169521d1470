//! JSON Schema → GBNF (llama.cpp's grammar format), and the tool-call grammar built from the
//! declared tools: every call the grammar admits is valid JSON naming a declared tool with
//! arguments that match its schema.
//!
//! Supported schema keywords: `type` (string, integer, number, boolean, null, array, object, or a
//! list of them), `properties`, `required`, `items`, `minItems`/`maxItems`, `enum`, `const`,
//! `anyOf`/`oneOf`, `minLength`/`maxLength`, `minimum >= 0` (no minus sign). Unsupported
//! keywords (`$ref`, `pattern`, `allOf`) are refused with an error naming the tool and path,
//! never silently ignored where they would change validity. Strings and arrays get an upper
//! bound (256 characters, 32 items unless the schema says otherwise) so a generation always
//! terminates inside the token budget.

use super::template::ToolFormat;
use super::{DialogError, ToolSpec};
use serde_json::Value;

/// Longest string a grammar admits when the schema sets no `maxLength`.
pub const DEFAULT_MAX_STRING_CHARS: u64 = 256;
/// Most array items a grammar admits when the schema sets no `maxItems`.
pub const DEFAULT_MAX_ITEMS: u64 = 32;
/// Most tool calls in one reply.
pub const MAX_CALLS_PER_REPLY: usize = 3;

const PRIMITIVES: &[(&str, &str)] = &[
    ("space", r#"" "?"#),
    (
        "char",
        r#"[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])"#,
    ),
    ("integer", r#""-"? ("0" | [1-9] [0-9]{0,15}) space"#),
    ("uinteger", r#"("0" | [1-9] [0-9]{0,15}) space"#),
    (
        "number",
        r#""-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})? space"#,
    ),
    ("boolean", r#"("true" | "false") space"#),
    ("null", r#""null" space"#),
    ("string", r#""\"" char{0,256} "\"" space"#),
    (
        "value",
        r#"object | array | string | number | boolean | null"#,
    ),
    (
        "object",
        r#""{" space ( string ":" space value ("," space string ":" space value){0,31} )? "}" space"#,
    ),
    (
        "array",
        r#""[" space ( value ("," space value){0,31} )? "]" space"#,
    ),
];

/// Builds a GBNF grammar rule by rule.
#[derive(Debug, Default)]
pub struct GrammarBuilder {
    rules: Vec<(String, String)>,
}

impl GrammarBuilder {
    /// A builder with the primitive rules (`space`, `string`, `number`, `value`, …).
    pub fn new() -> Self {
        let mut b = GrammarBuilder::default();
        for (name, body) in PRIMITIVES {
            b.rules.push((name.to_string(), body.to_string()));
        }
        b
    }

    /// Adds a rule under a unique name derived from `hint`; returns the name.
    pub fn add_rule(&mut self, hint: &str, body: String) -> String {
        let base: String = hint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let base = if base.is_empty() {
            "r".to_string()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 1;
        while self.rules.iter().any(|(k, _)| *k == name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        self.rules.push((name.clone(), body));
        name
    }

    /// Sets (or replaces) the `root` rule.
    pub fn set_root(&mut self, body: String) {
        self.rules.retain(|(k, _)| k != "root");
        self.rules.insert(0, ("root".to_string(), body));
    }

    /// The grammar text.
    pub fn build(&self) -> String {
        let mut out = String::new();
        for (name, body) in &self.rules {
            out.push_str(name);
            out.push_str(" ::= ");
            out.push_str(body);
            out.push('\n');
        }
        out
    }

    /// Returns a rule name (or inline expression) matching JSON valid against `schema`.
    /// `path` names the place in errors (e.g. `order_status.order_id`).
    pub fn schema_rule(&mut self, schema: &Value, path: &str) -> Result<String, DialogError> {
        let obj = match schema {
            Value::Bool(true) => return Ok("value".into()),
            Value::Object(o) => o,
            _ => {
                return Err(DialogError::Schema(format!(
                    "{path}: a schema must be a JSON object, got {schema}"
                )))
            }
        };
        for unsupported in ["$ref", "allOf", "pattern", "patternProperties", "not"] {
            if obj.contains_key(unsupported) {
                return Err(DialogError::Schema(format!(
                    "{path}: keyword `{unsupported}` is not supported; describe the value with \
                     type/properties/enum/anyOf instead"
                )));
            }
        }
        if let Some(c) = obj.get("const") {
            return Ok(json_literal(c));
        }
        if let Some(e) = obj.get("enum") {
            let values = e.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                DialogError::Schema(format!("{path}: `enum` must be a non-empty array"))
            })?;
            let alts: Vec<String> = values.iter().map(json_literal).collect();
            return Ok(format!("({})", alts.join(" | ")));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = obj.get(key) {
                let alts = alts.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                    DialogError::Schema(format!("{path}: `{key}` must be a non-empty array"))
                })?;
                let mut names = Vec::new();
                for (i, alt) in alts.iter().enumerate() {
                    names.push(self.schema_rule(alt, &format!("{path}.{key}[{i}]"))?);
                }
                return Ok(format!("({})", names.join(" | ")));
            }
        }
        match obj.get("type") {
            None => {
                if obj.contains_key("properties") {
                    self.object_rule(obj, path)
                } else {
                    Ok("value".into())
                }
            }
            Some(Value::String(t)) => self.typed_rule(t, obj, path),
            Some(Value::Array(types)) => {
                let mut alts = Vec::new();
                for t in types {
                    let t = t.as_str().ok_or_else(|| {
                        DialogError::Schema(format!("{path}: `type` list must hold strings"))
                    })?;
                    alts.push(self.typed_rule(t, obj, path)?);
                }
                Ok(format!("({})", alts.join(" | ")))
            }
            Some(other) => Err(DialogError::Schema(format!(
                "{path}: `type` must be a string or a list, got {other}"
            ))),
        }
    }

    fn typed_rule(
        &mut self,
        t: &str,
        obj: &serde_json::Map<String, Value>,
        path: &str,
    ) -> Result<String, DialogError> {
        match t {
            "string" => {
                let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                let max = obj
                    .get("maxLength")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_MAX_STRING_CHARS)
                    .max(min);
                if min == 0 && max == DEFAULT_MAX_STRING_CHARS {
                    return Ok("string".into());
                }
                Ok(self.add_rule(
                    &format!("{path}-string"),
                    format!(r#""\"" char{{{min},{max}}} "\"" space"#),
                ))
            }
            "integer" => {
                let non_negative = obj
                    .get("minimum")
                    .and_then(Value::as_f64)
                    .is_some_and(|m| m >= 0.0);
                Ok(if non_negative { "uinteger" } else { "integer" }.into())
            }
            "number" => Ok("number".into()),
            "boolean" => Ok("boolean".into()),
            "null" => Ok("null".into()),
            "array" => {
                let item = match obj.get("items") {
                    Some(items) => self.schema_rule(items, &format!("{path}[]"))?,
                    None => "value".into(),
                };
                let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let max = obj
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_MAX_ITEMS)
                    .max(min)
                    .max(1);
                let body = if min == 0 {
                    format!(
                        r#""[" space ( {item} ("," space {item}){{0,{}}} )? "]" space"#,
                        max - 1
                    )
                } else {
                    format!(
                        r#""[" space {item} ("," space {item}){{{},{}}} "]" space"#,
                        min - 1,
                        max - 1
                    )
                };
                Ok(self.add_rule(&format!("{path}-array"), body))
            }
            "object" => self.object_rule(obj, path),
            other => Err(DialogError::Schema(format!(
                "{path}: unknown type `{other}`; allowed: string, integer, number, boolean, null, \
                 array, object"
            ))),
        }
    }

    /// An object with exactly the declared properties: required ones always, optional ones
    /// maybe, in declaration order, commas placed correctly whatever subset appears.
    fn object_rule(
        &mut self,
        obj: &serde_json::Map<String, Value>,
        path: &str,
    ) -> Result<String, DialogError> {
        let props = match obj.get("properties") {
            Some(Value::Object(p)) => p,
            Some(_) => {
                return Err(DialogError::Schema(format!(
                    "{path}: `properties` must be an object"
                )))
            }
            None => {
                let body = r#""{" space "}" space"#.to_string();
                return Ok(
                    if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
                        self.add_rule(&format!("{path}-empty"), body)
                    } else {
                        "object".into()
                    },
                );
            }
        };
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for r in &required {
            if !props.contains_key(*r) {
                return Err(DialogError::Schema(format!(
                    "{path}: required property `{r}` is not declared in `properties`"
                )));
            }
        }
        let mut kvs = Vec::new();
        for (key, sub) in props {
            let value = self.schema_rule(sub, &format!("{path}.{key}"))?;
            let key_text = serde_json::to_string(key).unwrap_or_default();
            let kv = format!(r#"{} space ":" space {value}"#, gbnf_string(&key_text));
            kvs.push((kv, required.contains(&key.as_str())));
        }
        if kvs.is_empty() {
            return Ok(self.add_rule(&format!("{path}-empty"), r#""{" space "}" space"#.into()));
        }
        // tail(i, after_first): properties i.. given whether one was already written.
        let n = kvs.len();
        let mut names: Vec<[String; 2]> = vec![[String::new(), String::new()]; n + 1];
        for i in (0..n).rev() {
            for after_first in [false, true] {
                let comma = if after_first { r#""," space "# } else { "" };
                let (kv, req) = &kvs[i];
                let next_after = if i + 1 < n {
                    format!(" {}", names[i + 1][1])
                } else {
                    String::new()
                };
                let next_same = if i + 1 < n {
                    names[i + 1][usize::from(after_first)].clone()
                } else {
                    String::new()
                };
                let body = if *req {
                    format!("{comma}{kv}{next_after}")
                } else if next_same.is_empty() {
                    format!("({comma}{kv}{next_after})?")
                } else {
                    format!("({comma}{kv}{next_after} | {next_same})")
                };
                names[i][usize::from(after_first)] = self.add_rule(
                    &format!("{path}-p{i}{}", if after_first { "n" } else { "f" }),
                    body,
                );
            }
        }
        Ok(self.add_rule(
            &format!("{path}-obj"),
            format!(r#""{{" space {} "}}" space"#, names[0][0]),
        ))
    }
}

/// A GBNF literal matching exactly the compact JSON text of `v`.
pub fn json_literal(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    format!("{} space", gbnf_string(&text))
}

/// Quotes `s` as a GBNF string literal.
pub fn gbnf_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The grammar for tool calls in `format`: the opener (if the format has one), one call object
/// per declared tool with schema-valid arguments, the closer; up to [`MAX_CALLS_PER_REPLY`].
pub fn tool_call_grammar(tools: &[ToolSpec], format: ToolFormat) -> Result<String, DialogError> {
    if tools.is_empty() {
        return Err(DialogError::Schema("no tools declared".into()));
    }
    let mut b = GrammarBuilder::new();
    let args_key = match format {
        ToolFormat::Hermes => "arguments",
        ToolFormat::Llama3Json => "parameters",
    };
    let mut alts = Vec::new();
    for tool in tools {
        let args = b.schema_rule(&tool.parameters, &tool.name)?;
        let body = format!(
            r#""{{" space "\"name\"" space ":" space {} "," space "\"{args_key}\"" space ":" space {args} "}}""#,
            json_literal(&Value::from(tool.name.as_str())),
        );
        alts.push(b.add_rule(&format!("call-{}", tool.name), body));
    }
    let call = b.add_rule("call", alts.join(" | "));
    match format {
        ToolFormat::Hermes => {
            let block = b.add_rule(
                "tool-call-block",
                format!(r#""<tool_call>\n" {call} "\n</tool_call>""#),
            );
            b.set_root(format!(
                r#"{block} ("\n" {block}){{0,{}}}"#,
                MAX_CALLS_PER_REPLY - 1
            ));
        }
        ToolFormat::Llama3Json => b.set_root(call),
    }
    Ok(b.build())
}

/// What starts a tool call in `format`: regex trigger patterns for the lazy grammar (the
/// grammar is fed from the first capture group), and the literal opener text.
pub fn tool_call_triggers(format: ToolFormat) -> (Vec<String>, &'static str) {
    match format {
        ToolFormat::Hermes => (vec!["(<tool_call>)".to_string()], "<tool_call>"),
        ToolFormat::Llama3Json => (vec![r"^\s*(\{)[\s\S]*$".to_string()], "{"),
    }
}
