//! The dialog brain: llama.cpp LLM, chat templates, tool calling, sentence chunking for speech.
//!
//! One [`engine::LlmEngine`] per process loads the GGUF once and runs a scheduler thread that
//! decodes every active call's sequence in one shared batch (continuous batching). Each call
//! gets a [`engine::Session`] (its own KV-cache sequence) and usually a
//! [`session::Conversation`] on top (history, tools, tool loop).

pub mod batch;
pub mod bench;
pub mod bench_reply;
pub mod chunker;
pub mod engine;
pub mod gbnf_match;
pub mod grammar;
pub mod grammar_numeric;
pub mod guard;
pub mod session;
pub mod template;
pub mod toolcall_parse;
pub mod tools;

use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The caller.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// The role name chat templates expect.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool call the model made: which tool, with which JSON arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Name of a declared tool.
    pub name: String,
    /// Arguments object (valid against the tool's schema when grammar-constrained).
    pub arguments: serde_json::Value,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who said it.
    pub role: Role,
    /// Text (for a tool message: the tool's JSON result as text).
    pub content: String,
    /// Tool calls the assistant made in this message (assistant only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Tool name (tool messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::plain(Role::System, text)
    }
    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::plain(Role::User, text)
    }
    /// An assistant message without tool calls.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, text)
    }
    /// An assistant message carrying tool calls.
    pub fn assistant_tool_calls(text: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        ChatMessage {
            tool_calls: calls,
            ..Self::plain(Role::Assistant, text)
        }
    }
    /// A tool result message.
    pub fn tool(name: impl Into<String>, result: impl Into<String>) -> Self {
        ChatMessage {
            name: Some(name.into()),
            ..Self::plain(Role::Tool, result)
        }
    }
    fn plain(role: Role, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: text.into(),
            tool_calls: Vec::new(),
            name: None,
        }
    }
}

/// A tool the model may call: name, description and JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Function name (`[A-Za-z0-9_-]+`).
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// Errors of the dialog module.
#[derive(Debug, thiserror::Error)]
pub enum DialogError {
    /// The model file could not be loaded.
    #[error("cannot load LLM model {path}: {message}")]
    ModelLoad {
        /// File that was asked for.
        path: String,
        /// What went wrong and how to fix it.
        message: String,
    },
    /// The chat template is missing or broken.
    #[error("chat template: {0}")]
    Template(String),
    /// A JSON schema could not be turned into a grammar.
    #[error("tool schema: {0}")]
    Schema(String),
    /// The engine cannot take the request (no free sequence, prompt too long, engine stopped).
    #[error("LLM engine: {0}")]
    Engine(String),
    /// A tool definition or call is invalid.
    #[error("tool: {0}")]
    Tool(String),
}
