//! JSON Schema → GBNF (llama.cpp's grammar format), and the tool-call grammar built from the
//! declared tools: every call the grammar admits is valid JSON naming a declared tool with
//! arguments that are valid against its schema (checked by an independent JSON Schema
//! validator in `tests/dialog_grammar.rs` and `tests/llm_engine.rs`).
//!
//! Supported schema keywords: `type` (string, integer, number, boolean, null, array, object, or a
//! list of them), `properties`, `required`, `additionalProperties` (only declared properties
//! are ever written), `items`, `minItems`/`maxItems`, `enum`, `const`, `anyOf`/`oneOf`,
//! `minLength`/`maxLength`, and `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`
//! exactly (see [`super::grammar_numeric`]). Keywords that would change validity but cannot be
//! expressed ([`UNSUPPORTED_KEYWORDS`]: `$ref`, `pattern`, `allOf`, `multipleOf`, …) are
//! refused with an error naming the tool and path, never silently ignored. Strings and arrays
//! get an upper bound (256 characters, 32 items unless the schema says otherwise) so a
//! generation always terminates inside the token budget. `oneOf` alternatives that overlap
//! are the one case the grammar cannot make exact: a value matching two of them is refused by
//! the validator when the tool runs.

use super::grammar_numeric;
use super::template::ToolFormat;
use super::tools::validate::{validate_args, UNSUPPORTED_KEYWORDS};
use super::{DialogError, ToolSpec};
use serde_json::{Map, Value};

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
        r#"[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-C] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} | [eEfF] [0-9a-fA-F]{3}))"#,
    ),
    ("integer", r#""-"? ("0" | [1-9] [0-9]{0,15}) space"#),
    ("uinteger", r#"("0" | [1-9] [0-9]{0,15}) space"#),
    (
        "number",
        r#""-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})? space"#,
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
        if let Some(k) = UNSUPPORTED_KEYWORDS.iter().find(|k| obj.contains_key(**k)) {
            return Err(DialogError::Schema(format!(
                "{path}: keyword `{k}` is not supported; describe the value with \
                 type/properties/enum/anyOf/minimum/maximum instead"
            )));
        }
        if let Some(c) = obj.get("const") {
            let rest = without(obj, "const");
            validate_args(&rest, c, path).map_err(|e| {
                DialogError::Schema(format!("{path}: `const` {c} contradicts the schema: {e}"))
            })?;
            return Ok(json_literal(c));
        }
        if let Some(e) = obj.get("enum") {
            let values = e.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                DialogError::Schema(format!("{path}: `enum` must be a non-empty array"))
            })?;
            // Only the values the rest of the schema admits (`type`, bounds, lengths …).
            let rest = without(obj, "enum");
            let alts: Vec<String> = values
                .iter()
                .filter(|v| validate_args(&rest, v, path).is_ok())
                .map(json_literal)
                .collect();
            if alts.is_empty() {
                return Err(DialogError::Schema(format!(
                    "{path}: no `enum` value satisfies the rest of the schema"
                )));
            }
            return Ok(format!("({})", alts.join(" | ")));
        }
        if obj.contains_key("anyOf") && obj.contains_key("oneOf") {
            return Err(DialogError::Schema(format!(
                "{path}: use either `anyOf` or `oneOf`, not both"
            )));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = obj.get(key) {
                let alts = alts.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                    DialogError::Schema(format!("{path}: `{key}` must be a non-empty array"))
                })?;
                // Keywords beside anyOf apply to every alternative: merge them in.
                let siblings = without(obj, key);
                let mut names = Vec::new();
                for (i, alt) in alts.iter().enumerate() {
                    let alt_path = format!("{path}.{key}[{i}]");
                    if let Some(merged) = merge_schemas(&siblings, alt, &alt_path)? {
                        names.push(self.schema_rule(&merged, &alt_path)?);
                    }
                }
                if names.is_empty() {
                    return Err(DialogError::Schema(format!(
                        "{path}: every `{key}` alternative is `false`"
                    )));
                }
                return Ok(format!("({})", names.join(" | ")));
            }
        }
        match obj.get("type") {
            None => {
                if ["properties", "required", "additionalProperties"]
                    .iter()
                    .any(|k| obj.contains_key(*k))
                {
                    self.object_rule(obj, path)
                } else if let Some(k) = TYPED_KEYWORDS.iter().find(|k| obj.contains_key(**k)) {
                    Err(DialogError::Schema(format!(
                        "{path}: `{k}` needs a `type` to say what it constrains"
                    )))
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
                if alts.is_empty() {
                    return Err(DialogError::Schema(format!("{path}: `type` list is empty")));
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
        obj: &Map<String, Value>,
        path: &str,
    ) -> Result<String, DialogError> {
        match t {
            "string" => {
                let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                let max = match obj.get("maxLength").and_then(Value::as_u64) {
                    Some(max) if max < min => {
                        return Err(DialogError::Schema(format!(
                            "{path}: minLength {min} is above maxLength {max}"
                        )))
                    }
                    Some(max) => max,
                    None => DEFAULT_MAX_STRING_CHARS.max(min),
                };
                if min == 0 && max == DEFAULT_MAX_STRING_CHARS {
                    return Ok("string".into());
                }
                Ok(self.add_rule(
                    &format!("{path}-string"),
                    format!(r#""\"" char{{{min},{max}}} "\"" space"#),
                ))
            }
            "integer" if grammar_numeric::has_bounds(obj) => {
                grammar_numeric::integer_rule(self, obj, path)
            }
            "integer" => Ok("integer".into()),
            "number" if grammar_numeric::has_bounds(obj) => {
                grammar_numeric::number_rule(self, obj, path)
            }
            "number" => Ok("number".into()),
            "boolean" => Ok("boolean".into()),
            "null" => Ok("null".into()),
            "array" => {
                let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let max = match obj.get("maxItems").and_then(Value::as_u64) {
                    Some(max) if max < min => {
                        return Err(DialogError::Schema(format!(
                            "{path}: minItems {min} is above maxItems {max}"
                        )))
                    }
                    Some(max) => max,
                    None => DEFAULT_MAX_ITEMS.max(min),
                };
                if max == 0 {
                    return Ok(self.add_rule(
                        &format!("{path}-array"),
                        r#""[" space "]" space"#.to_string(),
                    ));
                }
                let item = match obj.get("items") {
                    Some(items) => self.schema_rule(items, &format!("{path}[]"))?,
                    None => "value".into(),
                };
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
                if let Some(r) = obj
                    .get("required")
                    .and_then(Value::as_array)
                    .and_then(|r| r.first())
                {
                    return Err(DialogError::Schema(format!(
                        "{path}: required property {r} is not declared in `properties`"
                    )));
                }
                let open = matches!(
                    obj.get("additionalProperties"),
                    None | Some(Value::Bool(true))
                );
                // Without declared properties the grammar writes any object only when any
                // object is valid; otherwise `{}` (valid, as nothing is required).
                let body = r#""{" space "}" space"#.to_string();
                return Ok(if open {
                    "object".into()
                } else {
                    self.add_rule(&format!("{path}-empty"), body)
                });
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

/// Keywords that only make sense with a `type` (refused without one, since the generic value
/// rule would ignore them).
const TYPED_KEYWORDS: &[&str] = &[
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "maxItems",
];

/// `obj` without `key`, as a schema value.
fn without(obj: &Map<String, Value>, key: &str) -> Value {
    let mut rest = obj.clone();
    rest.remove(key);
    Value::Object(rest)
}

/// The conjunction of `base` (an object schema) and an alternative: `None` when the
/// alternative is `false` (never matches). Keys set in both must agree.
fn merge_schemas(base: &Value, alt: &Value, path: &str) -> Result<Option<Value>, DialogError> {
    let mut merged = base.as_object().cloned().unwrap_or_default();
    match alt {
        Value::Bool(true) => {}
        Value::Bool(false) => return Ok(None),
        Value::Object(a) => {
            for (k, v) in a {
                match merged.get(k) {
                    Some(existing) if existing != v => {
                        return Err(DialogError::Schema(format!(
                            "{path}: `{k}` is set both beside and inside the alternative; \
                             write it in one place"
                        )))
                    }
                    _ => {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        other => {
            return Err(DialogError::Schema(format!(
                "{path}: an alternative must be a schema object, got {other}"
            )))
        }
    }
    Ok(Some(Value::Object(merged)))
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
