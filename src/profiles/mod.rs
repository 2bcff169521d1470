//! Agent profiles: several named agents (prompt, greeting, language, voice, tools, budgets,
//! transfer target) in one process, sharing the loaded models.
//!
//! A profile is a set of overrides over agent.toml ([`Profile::apply`]): what it leaves out
//! comes from `[conversation]`, `[llm]` and `[tts]`, and the result is validated exactly like
//! agent.toml (errors name the key path, `profiles.sales.greeting`). Profiles live in their own
//! TOML file (`[profiles] file`, `[profiles.NAME]` tables) so the API can rewrite it
//! atomically ([`ProfilesFile::write_atomic`]) without touching agent.toml.
//!
//! Selection: plain AudioSocket carries only the call's uuid, so the dialplan chooses a
//! profile by the port it connects to — each profile may declare `listen = "127.0.0.1:PORT"`,
//! and `[profiles] default` answers on `[server] listen` ([`registry`], [`listeners`]).

pub mod build;
pub mod handler;
pub mod registry;
mod transcriber;

pub use build::EngineBuilder;
pub use handler::{LiveCall, LiveCalls, LiveTurn, ProfileCallHandler};
pub use registry::{BuildHandler, ProfileRegistry, ProfileSnapshot, RegistryError};

use crate::config::{Config, ConfigError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The name agent.toml's own settings go by when `[profiles] default` is "".
pub const BASE_PROFILE: &str = "default";

/// Whether `name` is a valid profile name: 1-32 of `a-z 0-9 _ -`, starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// One agent persona: overrides of agent.toml's settings (every field optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Free text for people (shown in the console).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// AudioSocket address this profile's calls come to (one port per profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `ru` or `en`: Whisper's language, the voice and the built-in phrases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Piper voice (name or path); default `[tts] voice_ru`/`voice_en` for the language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// The LLM's system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// `[conversation] disclosure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<String>,
    /// `[conversation] greeting`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// `[conversation] apology`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apology: Option<String>,
    /// `[conversation] transfer_notice`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_notice: Option<String>,
    /// `[conversation] reprompt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reprompt: Option<String>,
    /// `[conversation] goodbye`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodbye: Option<String>,
    /// `[conversation] handover_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover_failed: Option<String>,
    /// Tools offered, by name: a subset of agent.toml's `builtin_tools` and `http_tools`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// `[conversation] transfer_target`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_target: Option<String>,
    /// `[conversation] operator_digit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_digit: Option<String>,
    /// `[conversation] transfer_on_failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_on_failure: Option<bool>,
    /// `[conversation] reprompt_after_secs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reprompt_after_secs: Option<f64>,
    /// `[conversation] hangup_after_reprompts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hangup_after_reprompts: Option<u32>,
    /// `[conversation] max_call_secs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_call_secs: Option<u64>,
    /// `[conversation] asr_budget_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asr_budget_ms: Option<u64>,
    /// `[conversation] llm_budget_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_budget_ms: Option<u64>,
    /// `[conversation] tts_budget_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tts_budget_ms: Option<u64>,
    /// `[llm] temperature`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// `[llm] max_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// One validation problem, with the dotted key path it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileError {
    /// E.g. `profiles.sales.greeting`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key `{}`: {}", self.key, self.message)
    }
}

impl Profile {
    /// agent.toml's settings with this profile's overrides: the configuration its calls run with.
    pub fn apply(&self, base: &Config) -> Config {
        let mut c = base.clone();
        let conv = &mut c.conversation;
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field { conv.$field = v.clone(); }
            )*};
        }
        set!(
            language,
            disclosure,
            greeting,
            apology,
            transfer_notice,
            reprompt,
            goodbye,
            handover_failed,
            transfer_target,
            operator_digit,
            transfer_on_failure,
            reprompt_after_secs,
            hangup_after_reprompts,
            max_call_secs,
            asr_budget_ms,
            llm_budget_ms,
            tts_budget_ms
        );
        if let Some(p) = &self.system_prompt {
            c.llm.system_prompt = p.clone();
        }
        if let Some(t) = self.temperature {
            c.llm.temperature = t;
        }
        if let Some(t) = self.max_tokens {
            c.llm.max_tokens = t;
        }
        if let Some(tools) = &self.tools {
            c.llm.builtin_tools.retain(|b| tools.contains(b));
            c.llm.http_tools.retain(|h| tools.contains(&h.name));
        }
        if let Some(v) = &self.voice {
            if c.conversation.language == "ru" {
                c.tts.voice_ru = v.clone();
            } else {
                c.tts.voice_en = v.clone();
            }
        }
        c
    }

    /// Checks this profile (named `name`) against agent.toml: the same validation as the
    /// config, plus what only a profile can get wrong (unknown tools). Errors name
    /// `profiles.NAME.KEY`.
    pub fn validate(&self, name: &str, base: &Config) -> Result<(), ProfileError> {
        let key = |k: &str| format!("profiles.{name}.{k}");
        if !valid_name(name) {
            return Err(ProfileError {
                key: format!("profiles.{name}"),
                message: "a profile name is 1-32 of a-z 0-9 _ -, starting with a letter or digit"
                    .into(),
            });
        }
        if let Some(tools) = &self.tools {
            for (i, t) in tools.iter().enumerate() {
                let known = base.llm.builtin_tools.contains(t)
                    || base.llm.http_tools.iter().any(|h| &h.name == t);
                if !known {
                    let mut names: Vec<&str> =
                        base.llm.builtin_tools.iter().map(String::as_str).collect();
                    names.extend(base.llm.http_tools.iter().map(|h| h.name.as_str()));
                    return Err(ProfileError {
                        key: key(&format!("tools[{i}]")),
                        message: format!(
                            "`{t}` is not a tool of agent.toml; configured: {}",
                            names.join(", ")
                        ),
                    });
                }
            }
        }
        if let Some(v) = &self.voice {
            if v.trim().is_empty() {
                return Err(ProfileError {
                    key: key("voice"),
                    message: "a Piper voice name or .onnx path; leave it out for the default"
                        .into(),
                });
            }
        }
        if let Some(l) = self.listen {
            if l.port() == 0 {
                return Err(ProfileError {
                    key: key("listen"),
                    message:
                        "port 0 picks a random port the dialplan cannot know; give a fixed one"
                            .into(),
                });
            }
        }
        let effective = self.apply(base);
        effective
            .conversation
            .validate()
            .map_err(|e| map_key(e, name))?;
        effective.llm.validate().map_err(|e| map_key(e, name))?;
        Ok(())
    }
}

/// `conversation.greeting` → `profiles.NAME.greeting` (the profile's own key).
fn map_key(e: ConfigError, name: &str) -> ProfileError {
    match e {
        ConfigError::Key { key, message, .. } => {
            let field = key.split_once('.').map_or(key.as_str(), |(_, f)| f);
            let field = match field {
                "builtin_tools" | "http_tools" => "tools",
                f => f,
            };
            ProfileError {
                key: format!("profiles.{name}.{field}"),
                message,
            }
        }
        other => ProfileError {
            key: format!("profiles.{name}"),
            message: other.to_string(),
        },
    }
}

/// The profiles file: `[profiles.NAME]` tables.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProfilesFile {
    /// Profiles by name.
    pub profiles: BTreeMap<String, Profile>,
}

/// Why the profiles file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProfilesFileError {
    /// Reading or writing failed.
    #[error("profiles file {path}: {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file does not parse or does not validate.
    #[error("profiles file {path}: {}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        errors: Vec<ProfileError>,
    },
}

impl ProfilesFile {
    /// Parses TOML text (unknown keys are errors naming their path).
    pub fn from_toml(text: &str) -> Result<ProfilesFile, Vec<ProfileError>> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            vec![ProfileError {
                key: if path == "." {
                    "<top level>".into()
                } else {
                    path
                },
                message: e.into_inner().message().trim_end().to_string(),
            }]
        })
    }

    /// Reads `path`; a missing file is an empty set of profiles.
    pub fn load(path: &Path) -> Result<ProfilesFile, ProfilesFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(ProfilesFileError::Io {
                    path: path.into(),
                    what: "read",
                    source,
                })
            }
        };
        Self::from_toml(&text).map_err(|errors| ProfilesFileError::Invalid {
            path: path.into(),
            errors,
        })
    }

    /// Every problem of these profiles against agent.toml (empty = valid): each profile as
    /// [`Profile::validate`], `[profiles] default` naming a profile, and no two profiles (or a
    /// profile and `[server] listen`) on one address.
    pub fn validate(&self, base: &Config) -> Vec<ProfileError> {
        let mut errors: Vec<ProfileError> = self
            .profiles
            .iter()
            .filter_map(|(name, p)| p.validate(name, base).err())
            .collect();
        let default = &base.profiles.default;
        if !default.is_empty() && !self.profiles.contains_key(default) {
            errors.push(ProfileError {
                key: "profiles".into(),
                message: format!(
                    "[profiles] default in agent.toml names `{default}`, which is not in the file"
                ),
            });
        }
        let mut seen: BTreeMap<SocketAddr, String> = BTreeMap::new();
        for (name, p) in &self.profiles {
            let Some(addr) = p.listen else { continue };
            let is_default = name == default;
            if is_default && addr != base.server.listen {
                errors.push(ProfileError {
                    key: format!("profiles.{name}.listen"),
                    message: format!(
                        "`{name}` is [profiles] default, which answers on [server] listen ({}); \
                         leave listen out",
                        base.server.listen
                    ),
                });
                continue;
            }
            if addr == base.server.listen && !is_default {
                errors.push(ProfileError {
                    key: format!("profiles.{name}.listen"),
                    message: format!(
                        "{addr} is [server] listen, where the default profile answers; give this \
                         profile its own port"
                    ),
                });
            }
            if let Some(other) = seen.insert(addr, name.clone()) {
                errors.push(ProfileError {
                    key: format!("profiles.{name}.listen"),
                    message: format!("{addr} is also the address of profile `{other}`"),
                });
            }
        }
        errors
    }

    /// The file's TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render profiles: {e}\n"))
    }

    /// Writes the file so that a reader (or a crash) sees either the old or the new file,
    /// whole: a temporary file in the same directory, fsync, rename over, fsync the directory.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ProfilesFileError> {
        let io = |what, source| ProfilesFileError::Io {
            path: path.into(),
            what,
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io("create its directory", e))?;
        let name = path.file_name().map_or_else(
            || "profiles.toml".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let body = format!(
            "# Agent profiles (written by the Enclave API; see agent.example.toml [profiles]).\n{}",
            self.to_toml()
        );
        let result = (|| {
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| io("create a temporary file", e))?;
            f.write_all(body.as_bytes()).map_err(|e| io("write", e))?;
            f.sync_all().map_err(|e| io("fsync", e))?;
            drop(f);
            std::fs::rename(&tmp, path).map_err(|e| io("rename over", e))?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// A short content version (the API's ETag): changes whenever the profiles do.
    pub fn version(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.to_toml().as_bytes());
        hex::encode(&digest[..8])
    }
}
