//! `[llm]`: the llama.cpp dialog model and its tools.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whether and how the model must call tools.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides; a tool call, once started, is grammar-constrained (lazy grammar).
    #[default]
    Auto,
    /// Every reply is a tool call (grammar from the first token).
    Required,
    /// Tools are not offered.
    None,
}

/// Settings of `[llm]`: the llama.cpp dialog model and its tools.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// GGUF model file. Unset: no dialog model (`agent chat` then needs `--model`).
    pub model: Option<PathBuf>,
    /// Layers offloaded to the GPU (0 = CPU only; 999 = all). Needs a `cuda` build.
    pub n_gpu_layers: u32,
    /// Context (KV cache) tokens per call; the shared context holds `context_per_call × max_parallel`.
    pub context_per_call: u32,
    /// Calls decoded at once (llama.cpp sequences sharing each decode step). More calls may
    /// exist: they wait for a free sequence, and idle calls' KV caches are taken over (LRU).
    pub max_parallel: u32,
    /// Tokens per decode step (prompt chunks of all calls plus one token per generating call).
    pub batch_size: u32,
    /// CPU threads for decoding; 0 = half the cores (at least 1) when serving calls, where
    /// the LLM shares them with Whisper and Piper and ggml's spinning threads collapse on an
    /// oversubscribed CPU, and all cores in `agent chat` and the LLM benchmarks.
    pub threads: u32,
    /// Chat template: a built-in name (`qwen2.5`, `llama3.1`), a file path, or template text.
    /// Used when the GGUF has no `tokenizer.chat_template`, or always with `chat_template_override`.
    pub chat_template: Option<String>,
    /// Use `chat_template` even when the GGUF has its own template.
    pub chat_template_override: bool,
    /// System prompt of every call.
    pub system_prompt: String,
    /// Sampling temperature; 0 = greedy.
    pub temperature: f64,
    /// Top-k sampling (0 = off).
    pub top_k: u32,
    /// Top-p (nucleus) sampling (1.0 = off).
    pub top_p: f64,
    /// Most tokens per reply.
    pub max_tokens: u32,
    /// Most sentences per spoken reply (0 = no limit); the reply is cut at a sentence end.
    pub max_reply_sentences: u32,
    /// Most tokens of spoken text per reply (0 = no limit).
    pub max_reply_tokens: u32,
    /// Stop a reply that repeats a sentence or loops over the same words.
    pub stop_repetition: bool,
    /// Sampling seed (fixed for reproducible tests).
    pub seed: u32,
    /// Whether tools are offered and whether a call is forced.
    pub tool_choice: ToolChoice,
    /// Most tool rounds (call → result → continue) per caller turn.
    pub max_tool_rounds: u32,
    /// Built-in tools offered: any of `transfer_to_human`, `end_call`, `get_time`.
    pub builtin_tools: Vec<String>,
    /// Hosts HTTP tools may call (exact host names or IPs). Any other host is refused when the
    /// config is loaded and again at call time.
    pub tool_allowed_hosts: Vec<String>,
    /// HTTP tools (`[[llm.http_tools]]`): order status, booking, CRM, 1C …
    pub http_tools: Vec<HttpToolConfig>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            // What `agent download-models --profile cpu-small` installs into `[models] dir`.
            model: Some(PathBuf::from("llm/qwen2.5-1.5b-instruct-q4_k_m.gguf")),
            n_gpu_layers: 0,
            context_per_call: 4096,
            max_parallel: 8,
            batch_size: 512,
            threads: 0,
            chat_template: None,
            chat_template_override: false,
            system_prompt: "You are a helpful, brief phone assistant. Answer in one or two short \
                            sentences, in the caller's language."
                .into(),
            temperature: 0.7,
            top_k: 40,
            top_p: 0.95,
            max_tokens: 256,
            max_reply_sentences: 3,
            max_reply_tokens: 100,
            stop_repetition: true,
            seed: 42,
            tool_choice: ToolChoice::Auto,
            max_tool_rounds: 4,
            builtin_tools: vec![
                "transfer_to_human".into(),
                "end_call".into(),
                "get_time".into(),
            ],
            tool_allowed_hosts: Vec::new(),
            http_tools: Vec::new(),
        }
    }
}

/// An HTTP endpoint the model may call as a tool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    /// Tool name the model sees (`[A-Za-z0-9_-]+`).
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments (a TOML table, or a JSON string).
    #[serde(default = "empty_object_schema")]
    pub parameters: serde_json::Value,
    /// HTTP method: GET (arguments as query parameters) or POST/PUT/PATCH/DELETE (JSON body).
    #[serde(default = "default_method")]
    pub method: String,
    /// URL; `{arg}` placeholders are replaced by (URL-encoded) arguments, which then leave the
    /// query/body. The host must be in `tool_allowed_hosts`.
    pub url: String,
    /// Extra request headers (e.g. an internal API token).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// JSON pointers (`/status`, `/order/eta`) of the response fields given to the model; empty
    /// = the whole response.
    #[serde(default)]
    pub response_fields: Vec<String>,
    /// Longest response body read, in bytes; longer bodies are an error result.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn empty_object_schema() -> serde_json::Value {
    serde_json::json!({"type": "object", "properties": {}})
}
fn default_method() -> String {
    "GET".into()
}
fn default_timeout_ms() -> u64 {
    3000
}
fn default_max_response_bytes() -> usize {
    65_536
}

/// Names of the built-in tools.
pub const BUILTIN_TOOL_NAMES: &[&str] = &["transfer_to_human", "end_call", "get_time"];

impl HttpToolConfig {
    /// The parameters schema, parsing it if it was given as a JSON string.
    pub fn parameters_schema(&self) -> Result<serde_json::Value, String> {
        match &self.parameters {
            serde_json::Value::String(s) => {
                serde_json::from_str(s).map_err(|e| format!("`parameters` is not valid JSON: {e}"))
            }
            v => Ok(v.clone()),
        }
    }
}

/// Checks that `url` is http(s) with a host on `allowed`; returns the host.
pub fn check_tool_url(url: &str, allowed: &[String]) -> Result<String, String> {
    let parsed = reqwest::Url::parse(&url.replace(['{', '}'], ""))
        .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?}: only http and https are allowed"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if !allowed.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return Err(format!(
            "host {host:?} of {url:?} is not in llm.tool_allowed_hosts {allowed:?}; add it there \
             if this internal service may be called"
        ));
    }
    Ok(host)
}

fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl LlmConfig {
    /// Decoding threads of the LLM that serves calls: `threads`, or half the cores (≥ 1).
    pub fn threads_serving_calls(&self) -> u32 {
        if self.threads > 0 {
            return self.threads;
        }
        (super::cpu_cores() / 2).max(1) as u32
    }

    /// Range checks, tool names, schemas and the HTTP host allowlist.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.context_per_call < 256 || self.context_per_call > 1 << 20 {
            return Err(ConfigError::invalid(
                "llm.context_per_call",
                format!(
                    "{} is out of range; allowed 256..=1048576",
                    self.context_per_call
                ),
            ));
        }
        if self.max_parallel == 0 || self.max_parallel > 256 {
            return Err(ConfigError::invalid("llm.max_parallel", "allowed 1..=256"));
        }
        if self.batch_size < 32 || self.batch_size > 8192 {
            return Err(ConfigError::invalid("llm.batch_size", "allowed 32..=8192"));
        }
        if !(0.0..=5.0).contains(&self.temperature) {
            return Err(ConfigError::invalid("llm.temperature", "allowed 0.0..=5.0"));
        }
        if !(0.0..=1.0).contains(&self.top_p) || self.top_p == 0.0 {
            return Err(ConfigError::invalid("llm.top_p", "allowed (0.0, 1.0]"));
        }
        if self.max_tokens == 0 || self.max_tokens > self.context_per_call {
            return Err(ConfigError::invalid(
                "llm.max_tokens",
                "must be at least 1 and at most llm.context_per_call",
            ));
        }
        if self.max_reply_sentences > 100 {
            return Err(ConfigError::invalid(
                "llm.max_reply_sentences",
                "allowed 0..=100 (0 = no limit)",
            ));
        }
        if self.max_tool_rounds == 0 || self.max_tool_rounds > 16 {
            return Err(ConfigError::invalid(
                "llm.max_tool_rounds",
                "allowed 1..=16",
            ));
        }
        for b in &self.builtin_tools {
            if !BUILTIN_TOOL_NAMES.contains(&b.as_str()) {
                return Err(ConfigError::invalid(
                    "llm.builtin_tools",
                    format!("unknown built-in tool {b:?}; allowed: {BUILTIN_TOOL_NAMES:?}"),
                ));
            }
        }
        let mut names: Vec<&str> = self.builtin_tools.iter().map(String::as_str).collect();
        for (i, t) in self.http_tools.iter().enumerate() {
            let key = |field: &str| format!("llm.http_tools[{i}].{field}");
            if !valid_tool_name(&t.name) {
                return Err(ConfigError::invalid(
                    &key("name"),
                    format!("{:?}: use 1-64 of A-Z a-z 0-9 _ -", t.name),
                ));
            }
            if names.contains(&t.name.as_str()) {
                return Err(ConfigError::invalid(
                    &key("name"),
                    format!("tool {:?} is declared twice", t.name),
                ));
            }
            names.push(&t.name);
            if !matches!(
                t.method.to_ascii_uppercase().as_str(),
                "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
            ) {
                return Err(ConfigError::invalid(
                    &key("method"),
                    format!("{:?}; allowed GET, POST, PUT, PATCH, DELETE", t.method),
                ));
            }
            check_tool_url(&t.url, &self.tool_allowed_hosts)
                .map_err(|m| ConfigError::invalid(&key("url"), m))?;
            if t.timeout_ms == 0 || t.timeout_ms > 60_000 {
                return Err(ConfigError::invalid(
                    &key("timeout_ms"),
                    "allowed 1..=60000",
                ));
            }
            for p in &t.response_fields {
                if !p.is_empty() && !p.starts_with('/') {
                    return Err(ConfigError::invalid(
                        &key("response_fields"),
                        format!("{p:?} is not a JSON pointer; write it like \"/order/status\""),
                    ));
                }
            }
            let schema = t
                .parameters_schema()
                .map_err(|m| ConfigError::invalid(&key("parameters"), m))?;
            if schema.get("type").and_then(|v| v.as_str()) != Some("object") {
                return Err(ConfigError::invalid(
                    &key("parameters"),
                    "must be a JSON Schema with \"type\": \"object\"",
                ));
            }
            // Whether the grammar compiler supports every keyword is checked where the
            // tools are built (`ToolRegistry::from_config`): config imports no engine.
        }
        Ok(())
    }
}
