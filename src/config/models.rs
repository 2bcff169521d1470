//! `[models]`: where model files live and how they are verified.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of `[models]`: where model files live and how they are verified.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Directory holding the model files (`agent download-models` writes here; the systemd
    /// unit and the container set `/var/lib/enclave/models`).
    pub dir: PathBuf,
    /// Extra catalogue file merged over the built-in one (same-named models and profiles
    /// replace the built-in ones). Unset: the built-in catalogue only.
    pub catalogue: Option<PathBuf>,
    /// Profile `agent download-models` installs when neither `--profile` nor `--only` is given.
    pub profile: String,
    /// Replaces the origin of every download URL (internal Artifactory / Nexus), e.g.
    /// `https://nexus.corp/repository/hf`. `--mirror` and `ENCLAVE_MODELS_MIRROR` win over it.
    pub mirror: Option<String>,
    /// Proxy URL for downloads (`http://`, `https://` or `socks5://`). Unset: the standard
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` environment variables apply.
    pub proxy: Option<String>,
    /// Files downloaded in parallel (1–32).
    pub jobs: usize,
    /// Retries per file after a transient error (connection reset, 5xx, timeout), 0–20.
    pub retries: u32,
    /// Seconds without any data before a download attempt times out (1–3600).
    pub read_timeout_s: u64,
    /// Accept catalogue entries without a known size/sha256. Keep false in production.
    pub allow_unverified: bool,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: PathBuf::from("models/cache"),
            catalogue: None,
            profile: "cpu-small".into(),
            mirror: None,
            proxy: None,
            jobs: 4,
            retries: 5,
            read_timeout_s: 60,
            allow_unverified: false,
        }
    }
}

impl ModelsConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("models.dir", "must not be empty"));
        }
        if self.profile.trim().is_empty() {
            return Err(ConfigError::invalid(
                "models.profile",
                "must name a catalogue profile, e.g. `cpu-small` or `gpu`",
            ));
        }
        if let Some(m) = &self.mirror {
            if !(m.starts_with("http://") || m.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    "models.mirror",
                    "must be an http:// or https:// URL, e.g. https://nexus.corp/repository/hf",
                ));
            }
        }
        if let Some(p) = &self.proxy {
            let ok = ["http://", "https://", "socks5://", "socks5h://"]
                .iter()
                .any(|s| p.starts_with(s));
            if !ok {
                return Err(ConfigError::invalid(
                    "models.proxy",
                    "must be an http://, https:// or socks5:// URL",
                ));
            }
        }
        if !(1..=32).contains(&self.jobs) {
            return Err(ConfigError::invalid("models.jobs", "must be 1–32"));
        }
        if self.retries > 20 {
            return Err(ConfigError::invalid("models.retries", "must be 0–20"));
        }
        if !(1..=3600).contains(&self.read_timeout_s) {
            return Err(ConfigError::invalid(
                "models.read_timeout_s",
                "must be 1–3600 seconds",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_the_key() {
        ModelsConfig::default().validate().unwrap();
        let bad = ModelsConfig {
            jobs: 0,
            ..Default::default()
        };
        assert!(format!("{:?}", bad.validate().unwrap_err()).contains("models.jobs"));
        let bad = ModelsConfig {
            mirror: Some("ftp://x".into()),
            ..Default::default()
        };
        assert!(format!("{:?}", bad.validate().unwrap_err()).contains("models.mirror"));
    }
}
