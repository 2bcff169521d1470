//! Tools the model can call: built-ins (transfer, hang up, time) and configured HTTP endpoints.
//! A failing tool never fails the call: its error becomes a `{"error": …}` result the model sees.

pub mod builtin;
pub mod http;
pub mod validate;

pub use validate::validate_args;

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
        for (i, t) in cfg.http_tools.iter().enumerate() {
            let tool = http::HttpTool::new(t.clone(), cfg.tool_allowed_hosts.clone())?;
            // The tool-call grammar must be able to express its parameters (config checked
            // that they are a JSON Schema object; this checks the keywords it uses).
            crate::dialog::grammar::GrammarBuilder::new()
                .schema_rule(&tool.spec().parameters, &t.name)
                .map_err(|e| DialogError::Tool(format!("llm.http_tools[{i}].parameters: {e}")))?;
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

    /// Runs a call. Unknown tools, schema-invalid arguments and arguments the schema does not
    /// declare (JSON Schema would allow them unless `additionalProperties` is false; a tool
    /// never receives what its author did not declare) become error results.
    pub async fn execute(&self, call: &ToolCall) -> ToolOutcome {
        let Some((spec, tool)) = self.tools.iter().find(|(s, _)| s.name == call.name) else {
            return ToolOutcome::error(format!("unknown tool {:?}", call.name));
        };
        if let Err(e) = validate_args(&spec.parameters, &call.arguments, "arguments") {
            return ToolOutcome::error(format!("invalid arguments for {}: {e}", call.name));
        }
        if let Some(extra) = undeclared_argument(&spec.parameters, &call.arguments) {
            return ToolOutcome::error(format!(
                "invalid arguments for {}: arguments.{extra} is not a declared property",
                call.name
            ));
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

/// The first top-level argument `schema` does not declare, unless the schema explicitly allows
/// extra properties (`additionalProperties` true or a schema).
fn undeclared_argument(schema: &Value, args: &Value) -> Option<String> {
    let allows_extra = schema
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false));
    if allows_extra {
        return None;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    args.as_object()?
        .keys()
        .find(|k| !props.is_some_and(|p| p.contains_key(*k)))
        .cloned()
}
