//! One TOML file (`agent.toml`) plus `ENCLAVE_…` environment overrides, validated at start.
//!
//! Every section lives in its own file and is `deny_unknown_fields`: a typo is an error that
//! names the file and the key, never a silent default.

mod amd;
mod ami;
mod api;
mod asr;
mod campaign;
mod conversation;
mod events;
mod gpu;
mod llm;
mod metrics;
mod models;
mod profiles;
mod records;
mod server;
mod summary;
mod tts;
mod vad;

pub use amd::{AmdConfig, MachineAction};
pub use ami::AmiConfig;
pub use api::{ApiConfig, MIN_TOKEN_LEN};
pub use asr::{AsrConfig, WHISPER_LANGUAGES};
pub use campaign::CampaignConfig;
pub use conversation::{ConversationConfig, Phrases};
pub use events::EventsConfig;
pub use gpu::{GpuConfig, GpuMode};
pub use llm::{check_tool_url, HttpToolConfig, LlmConfig, ToolChoice, BUILTIN_TOOL_NAMES};
pub use metrics::MetricsConfig;
pub use models::ModelsConfig;
pub use profiles::ProfilesConfig;

pub use records::{redact_url_password, RecordsBackendKind, RecordsConfig};
pub use server::{HandlerKind, ServerConfig};
pub use summary::SummaryConfig;
pub use tts::TtsConfig;
pub use vad::{VadBackend, VadConfig};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Prefix of environment variables that override config keys: `ENCLAVE_SERVER__LISTEN`
/// sets `[server] listen`; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "ENCLAVE_";

/// Environment variable holding the config file path (same as `--config`).
pub const ENV_CONFIG_PATH: &str = "ENCLAVE_CONFIG";

/// The agent's whole configuration: one struct per `[section]` of `agent.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the AudioSocket listener and call lifecycle.
    pub server: ServerConfig,
    /// `[asr]`: Whisper speech recognition.
    pub asr: AsrConfig,
    /// `[vad]`: voice activity detection and endpointing.
    pub vad: VadConfig,
    /// `[tts]`: Piper text-to-speech.
    pub tts: TtsConfig,
    /// `[llm]`: the llama.cpp dialog model.
    pub llm: LlmConfig,
    /// `[models]`: where model files live and how they are verified.
    pub models: ModelsConfig,
    /// `[conversation]`: greeting, turn-taking, barge-in, budgets, hand-over.
    pub conversation: ConversationConfig,
    /// `[records]`: call records (SQLite), recordings, retention, redaction.
    pub records: RecordsConfig,
    /// `[metrics]`: Prometheus metrics and health endpoints.
    pub metrics: MetricsConfig,
    /// `[ami]`: Asterisk Manager Interface, for hand-over to a human.
    pub ami: AmiConfig,
    /// `[gpu]`: whether GPU requests of the engines must be met, may fall back, or are off.
    pub gpu: GpuConfig,
    /// `[campaign]`: the outbound dialler for campaigns.
    pub campaign: CampaignConfig,
    /// `[amd]`: answering-machine and IVR detection on outbound calls.
    pub amd: AmdConfig,
    /// `[api]`: the HTTP API and web console, and its credentials.
    pub api: ApiConfig,
    /// `[profiles]`: the agent profiles file.
    pub profiles: ProfilesConfig,
    /// `[events]`: delivery of result events to a webhook and Kafka.
    pub events: EventsConfig,
    /// `[summary]`: post-call summary and outcome, hand-over summary.
    pub summary: SummaryConfig,
}

/// Why a configuration could not be loaded: always names the file and, where known, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File that was asked for.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}: not valid TOML: {message}")]
    Syntax {
        /// File that failed.
        path: String,
        /// Parser message with line and column.
        message: String,
    },
    /// A key is unknown or its value has the wrong type.
    #[error("{origin}: key `{key}`: {message}")]
    Key {
        /// File (or environment variable) the bad value came from.
        origin: String,
        /// Dotted key path, e.g. `server.listen`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An environment override could not be applied.
    #[error("environment variable {var}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// Shorthand for a validation error on a key.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Key {
            origin: "config".into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads `path` (if given; defaults otherwise), applies `ENCLAVE_…` overrides from the
    /// process environment, and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (origin, text) = match path {
            Some(p) => (
                p.display().to_string(),
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
            ),
            None => ("<defaults>".to_string(), String::new()),
        };
        Self::from_toml_str(&origin, &text, env)
    }

    /// Parses TOML text, applies overrides, validates. `origin` names the source in errors.
    pub fn from_toml_str(
        origin: &str,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: origin.to_string(),
                    message: e.to_string().trim_end().to_string(),
                })?;
        // Check the file alone first, so an error names the file, not an env variable.
        deserialize(origin, toml::Value::Table(table.clone()))?;
        let mut overridden = Vec::new();
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
            .collect();
        env.sort();
        for (var, value) in env {
            apply_env_override(&mut table, &var, &value)?;
            overridden.push(var);
        }
        let origin = if overridden.is_empty() {
            origin.to_string()
        } else {
            format!("{origin} + environment ({})", overridden.join(", "))
        };
        let config = deserialize(&origin, toml::Value::Table(table))?;
        config.validate().map_err(|e| match e {
            ConfigError::Key { key, message, .. } => ConfigError::Key {
                origin: origin.clone(),
                key,
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Checks values that parse but make no sense (ranges, combinations, files).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.asr.validate()?;
        self.vad.validate()?;
        self.tts.validate()?;
        self.llm.validate()?;
        self.models.validate()?;
        self.conversation.validate()?;
        self.records.validate()?;
        self.metrics.validate()?;
        self.ami.validate()?;
        crate::gpu::check_build(self, crate::gpu::Build::current())?;
        self.campaign.validate()?;
        self.amd.validate()?;
        self.api.validate()?;
        self.profiles.validate()?;
        self.events.validate()?;
        self.summary.validate()?;
        Ok(())
    }

    /// The effective configuration as TOML (what `agent config check` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

fn deserialize(origin: &str, value: toml::Value) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Key {
            origin: origin.to_string(),
            key: if key == "." {
                "<top level>".into()
            } else {
                key
            },
            message: e.into_inner().to_string(),
        }
    })
}

/// `ENCLAVE_SERVER__MAX_CALLS=50` → `server.max_calls = 50`. The value is read as a TOML
/// value when it parses as one (`50`, `true`, `["ru","en"]`), else as a string.
fn apply_env_override(table: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::Env {
            var: var.into(),
            message: "empty key segment; use ENCLAVE_SECTION__KEY".into(),
        });
    }
    let parsed: toml::Value = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut cur = table;
    for seg in &path[..path.len() - 1] {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
            var: var.into(),
            message: format!("`{seg}` is not a table in the config"),
        })?;
    }
    cur.insert(path[path.len() - 1].clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests;

/// CPU cores this process may use (1 when unknown): what the `0 = automatic` thread and
/// session counts of `[asr]`, `[vad]` and `[llm]` are derived from.
pub(crate) fn cpu_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
