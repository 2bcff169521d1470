//! Tools the model can call: built-ins (transfer, hang up, time) and configured HTTP endpoints.
//! A failing tool never fails the call: its error becomes a `{"error": …}` result the model sees.

pub mod builtin;
pub mod http;

use super::{DialogError, ToolCall, ToolSpec};
use crate::config::LlmConfig;
use serde_json::{json, Value};

/// Something a tool asks the call to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    /// Hand the caller over to a human operator.
    TransferToHuman {
        /// Why, as the model put it.
        reason: String,
    },
    /// Hang up after the reply.
    EndCall {
        /// Why, as the model put it.
        reason: String,
    },
}

/// The result of running a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// JSON given back to the model (an object; `{"error": …}` on failure).
    pub result: Value,
    /// Call action requested, if any.
    pub action: Option<CallAction>,
}

impl ToolOutcome {
    /// An error result.
    pub fn error(message: impl Into<String>) -> Self {
        ToolOutcome {
            result: json!({ "error": message.into() }),
            action: None,
        }
    }
}

#[derive(Debug)]
enum ToolImpl {
    Builtin(builtin::Builtin),
    Http(Box<http::HttpTool>),
}

/// The tools of a deployment, by name.
#[derive(Debug, Default)]
pub struct ToolRegistry {
    tools: Vec<(ToolSpec, ToolImpl)>,
}

impl ToolRegistry {
    /// No tools.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in and HTTP tools of `[llm]`.
    pub fn from_config(cfg: &LlmConfig) -> Result<Self, DialogError> {
        let mut reg = ToolRegistry::default();
        for name in &cfg.builtin_tools {
            let b = builtin::Builtin::from_name(name)
                .ok_or_else(|| DialogError::Tool(format!("unknown built-in tool {name:?}")))?;
            reg.tools.push((b.spec(), ToolImpl::Builtin(b)));
        }
        for t in &cfg.http_tools {
            let tool = http::HttpTool::new(t.clone(), cfg.tool_allowed_hosts.clone())?;
            reg.tools
                .push((tool.spec(), ToolImpl::Http(Box::new(tool))));
        }
        Ok(reg)
    }

    /// Adds an HTTP tool.
    pub fn add_http(&mut self, tool: http::HttpTool) {
        self.tools
            .push((tool.spec(), ToolImpl::Http(Box::new(tool))));
    }

    /// Adds a built-in tool.
    pub fn add_builtin(&mut self, b: builtin::Builtin) {
        self.tools.push((b.spec(), ToolImpl::Builtin(b)));
    }

    /// The declarations given to the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|(s, _)| s.clone()).collect()
    }

    /// Runs a call. Unknown tools and schema-invalid arguments become error results.
    pub async fn execute(&self, call: &ToolCall) -> ToolOutcome {
        let Some((spec, tool)) = self.tools.iter().find(|(s, _)| s.name == call.name) else {
            return ToolOutcome::error(format!("unknown tool {:?}", call.name));
        };
        if let Err(e) = validate_args(&spec.parameters, &call.arguments, "arguments") {
            return ToolOutcome::error(format!("invalid arguments for {}: {e}", call.name));
        }
        match tool {
            ToolImpl::Builtin(b) => b.run(&call.arguments),
            ToolImpl::Http(h) => ToolOutcome {
                result: h.call(&call.arguments).await,
                action: None,
            },
        }
    }
}

/// Checks `value` against the subset of JSON Schema the grammar supports (types, required
/// and declared properties, enum, const, items, anyOf/oneOf, string length).
pub fn validate_args(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let Some(obj) = schema.as_object() else {
        return Ok(());
    };
    if let Some(c) = obj.get("const") {
        return if c == value {
            Ok(())
        } else {
            Err(format!("{path} must be {c}"))
        };
    }
    if let Some(Value::Array(options)) = obj.get("enum") {
        return if options.contains(value) {
            Ok(())
        } else {
            Err(format!(
                "{path} must be one of {}",
                Value::Array(options.clone())
            ))
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = obj.get(key) {
            return if alts.iter().any(|a| validate_args(a, value, path).is_ok()) {
                Ok(())
            } else {
                Err(format!("{path} matches none of {key}"))
            };
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        return Err(format!("{path} must be of type {}", types.join(" or ")));
    }
    match value {
        Value::Object(map) => {
            let props = obj.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(req)) = obj.get("required") {
                for r in req.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        return Err(format!("{path}.{r} is required"));
                    }
                }
            }
            if let Some(props) = props {
                for (k, v) in map {
                    match props.get(k) {
                        Some(sub) => validate_args(sub, v, &format!("{path}.{k}"))?,
                        None => return Err(format!("{path}.{k} is not a declared property")),
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = obj.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_args(item_schema, item, &format!("{path}[{i}]"))?;
                }
            }
            if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    return Err(format!("{path} needs at least {min} items"));
                }
            }
            if let Some(max) = obj.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    return Err(format!("{path} allows at most {max} items"));
                }
            }
        }
        Value::String(s) => {
            let n = s.chars().count() as u64;
            if obj
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| n < m)
            {
                return Err(format!("{path} is too short"));
            }
            if obj
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| n > m)
            {
                return Err(format!("{path} is too long"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}
