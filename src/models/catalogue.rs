//! The model catalogue: every model the agent can use, with pinned URLs, sizes and sha256.
//!
//! The built-in catalogue (`models/catalogue.toml`) is compiled into the binary; a file can
//! extend or override it (`[models] catalogue`, `--catalogue`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

/// The catalogue shipped in the binary (`models/catalogue.toml`).
pub const BUILTIN_CATALOGUE: &str = include_str!("../../models/catalogue.toml");

/// What a model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Speech recognition (Whisper ggml).
    Asr,
    /// Dialog model (GGUF for llama.cpp).
    Llm,
    /// Text-to-speech (Piper ONNX + its JSON config).
    Tts,
    /// Voice activity detection (Silero ONNX).
    Vad,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Asr => "asr",
            ModelKind::Llm => "llm",
            ModelKind::Tts => "tts",
            ModelKind::Vad => "vad",
        })
    }
}

/// One file of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Path inside the models directory, relative, `/`-separated (e.g. `whisper/ggml-base.bin`).
    pub path: String,
    /// Canonical download URL with a pinned revision.
    pub url: String,
    /// Size in bytes; `None` makes the entry unverified.
    #[serde(default)]
    pub size: Option<u64>,
    /// Lower-case hex sha256; `None` makes the entry unverified.
    #[serde(default)]
    pub sha256: Option<String>,
}

impl ModelFile {
    /// True when both size and sha256 are known, so the file can be verified.
    pub fn is_verified(&self) -> bool {
        self.size.is_some() && self.sha256.is_some()
    }

    /// The file name (last path component).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// One model: a name, what it is, and its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Unique name, e.g. `whisper.base` (what `--only` takes).
    pub name: String,
    /// What the model is for.
    pub kind: ModelKind,
    /// Languages (`multilingual`, `any`, or locale codes such as `ru_RU`).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Licence of the weights.
    #[serde(default)]
    pub license: String,
    /// One line for `agent models list`.
    #[serde(default)]
    pub description: String,
    /// The files; all of them make up the model (a Piper voice is `.onnx` + `.onnx.json`).
    pub files: Vec<ModelFile>,
}

impl ModelEntry {
    /// True when every file has a known size and sha256.
    pub fn is_verified(&self) -> bool {
        self.files.iter().all(ModelFile::is_verified)
    }

    /// Total size of the known file sizes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().filter_map(|f| f.size).sum()
    }
}

/// A named set of models (`cpu-small`, `gpu`, `voices-ru`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// One line for `--help` and `agent models list`.
    #[serde(default)]
    pub description: String,
    /// Model names.
    pub models: Vec<String>,
}

/// The whole catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Format version (1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Models, in catalogue order.
    #[serde(default)]
    pub models: Vec<ModelEntry>,
}

fn default_version() -> u32 {
    1
}

/// Why a catalogue or a selection from it is not usable.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// A catalogue file could not be read.
    #[error("cannot read model catalogue {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A catalogue is not valid TOML or has unknown keys.
    #[error("model catalogue {origin}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// Parser message with line and column.
        message: String,
    },
    /// A catalogue parses but is inconsistent.
    #[error("model catalogue {origin}: {message}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `--profile` names no profile.
    #[error("unknown profile `{name}`; known profiles: {known}")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// `--only` names no model.
    #[error("unknown model `{name}`; see `agent models list --all` for the catalogue")]
    UnknownModel {
        /// The name asked for.
        name: String,
    },
    /// The selection contains models without a known size or sha256.
    #[error(
        "model(s) {names} have no verified size/sha256 in the catalogue; refusing to install \
         unverified files (pass --allow-unverified to accept them anyway)"
    )]
    Unverified {
        /// Comma-separated model names.
        names: String,
    },
}

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Catalogue {
        // The built-in text is tested (`builtin_catalogue_is_valid`), so this cannot fail at
        // run time unless the file was edited without running the tests.
        Catalogue::parse("<built-in>", BUILTIN_CATALOGUE)
            .unwrap_or_else(|e| panic!("built-in model catalogue is broken: {e}"))
    }

    /// The built-in catalogue merged with an optional override file.
    pub fn load(override_file: Option<&Path>) -> Result<Catalogue, CatalogueError> {
        let mut catalogue = Catalogue::builtin();
        if let Some(path) = override_file {
            let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
                path: path.display().to_string(),
                source,
            })?;
            // Validated only after merging: its profiles may name built-in models.
            let extra: Catalogue = toml::from_str(&text).map_err(|e| CatalogueError::Parse {
                origin: path.display().to_string(),
                message: e.to_string().trim_end().to_string(),
            })?;
            catalogue.merge(extra);
            catalogue.validate(&format!("<built-in> + {}", path.display()))?;
        }
        Ok(catalogue)
    }

    /// Parses and validates catalogue text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Catalogue, CatalogueError> {
        let catalogue: Catalogue = toml::from_str(text).map_err(|e| CatalogueError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        catalogue.validate(origin)?;
        Ok(catalogue)
    }

    /// Adds `other` over `self`: same-named models and profiles are replaced.
    pub fn merge(&mut self, other: Catalogue) {
        for model in other.models {
            match self.models.iter_mut().find(|m| m.name == model.name) {
                Some(existing) => *existing = model,
                None => self.models.push(model),
            }
        }
        self.profiles.extend(other.profiles);
    }

    /// Checks names, paths, hashes, URLs and profile references.
    pub fn validate(&self, origin: &str) -> Result<(), CatalogueError> {
        let invalid = |message: String| CatalogueError::Invalid {
            origin: origin.to_string(),
            message,
        };
        if self.version != 1 {
            return Err(invalid(format!(
                "version {} is not supported (this agent reads version 1)",
                self.version
            )));
        }
        let mut names = BTreeSet::new();
        let mut paths = BTreeMap::new();
        for model in &self.models {
            if model.name.is_empty() || model.name.contains(char::is_whitespace) {
                return Err(invalid(format!(
                    "model name `{}` is empty or has spaces",
                    model.name
                )));
            }
            if !names.insert(model.name.as_str()) {
                return Err(invalid(format!("model `{}` is listed twice", model.name)));
            }
            if model.files.is_empty() {
                return Err(invalid(format!("model `{}` has no files", model.name)));
            }
            for file in &model.files {
                let at = format!("model `{}`, file `{}`", model.name, file.path);
                check_relative_path(&file.path).map_err(|m| invalid(format!("{at}: {m}")))?;
                if let Some(other) = paths.insert(file.path.as_str(), model.name.as_str()) {
                    return Err(invalid(format!("{at}: path also used by model `{other}`")));
                }
                if !(file.url.starts_with("https://") || file.url.starts_with("http://")) {
                    return Err(invalid(format!(
                        "{at}: url must start with https:// or http://"
                    )));
                }
                if let Some(hash) = &file.sha256 {
                    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(invalid(format!(
                            "{at}: sha256 must be 64 hex digits (got `{hash}`)"
                        )));
                    }
                }
            }
        }
        for (profile_name, profile) in &self.profiles {
            for model in &profile.models {
                if !names.contains(model.as_str()) {
                    return Err(invalid(format!(
                        "profile `{profile_name}` names unknown model `{model}`"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The model with this name.
    pub fn model(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The model and file whose catalogue path ends with `path`'s file name (how a configured
    /// file is matched to the catalogue).
    pub fn find_by_file_name(&self, file_name: &str) -> Option<(&ModelEntry, &ModelFile)> {
        self.models.iter().find_map(|m| {
            m.files
                .iter()
                .find(|f| f.file_name() == file_name)
                .map(|f| (m, f))
        })
    }

    /// The model and file with exactly this catalogue path.
    pub fn find_by_path(&self, rel_path: &str) -> Option<(&ModelEntry, &ModelFile)> {
        self.models
            .iter()
            .find_map(|m| m.files.iter().find(|f| f.path == rel_path).map(|f| (m, f)))
    }

    /// Resolves `--profile` / `--only` into models, refusing unverified ones unless allowed.
    /// `only` wins over `profile` when non-empty.
    pub fn select(
        &self,
        profile: Option<&str>,
        only: &[String],
        allow_unverified: bool,
    ) -> Result<Vec<&ModelEntry>, CatalogueError> {
        let names: Vec<&str> = if !only.is_empty() {
            only.iter().map(String::as_str).collect()
        } else {
            let name = profile.unwrap_or("cpu-small");
            let p = self
                .profiles
                .get(name)
                .ok_or_else(|| CatalogueError::UnknownProfile {
                    name: name.to_string(),
                    known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
                })?;
            p.models.iter().map(String::as_str).collect()
        };
        let mut selected: Vec<&ModelEntry> = Vec::new();
        for name in names {
            let model = self
                .model(name)
                .ok_or_else(|| CatalogueError::UnknownModel {
                    name: name.to_string(),
                })?;
            if !selected.iter().any(|m| m.name == model.name) {
                selected.push(model);
            }
        }
        let unverified: Vec<&str> = selected
            .iter()
            .filter(|m| !m.is_verified())
            .map(|m| m.name.as_str())
            .collect();
        if !unverified.is_empty() && !allow_unverified {
            return Err(CatalogueError::Unverified {
                names: unverified.join(", "),
            });
        }
        Ok(selected)
    }
}

/// A catalogue path must stay inside the models directory.
pub(crate) fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.contains('\\') || path.contains('\0') {
        return Err("path must be non-empty, `/`-separated, without backslashes".into());
    }
    let p = Path::new(path);
    for component in p.components() {
        match component {
            Component::Normal(_) => {}
            _ => return Err(
                "path must be relative and stay inside the models directory (no `/`, `..`, `.`)"
                    .into(),
            ),
        }
    }
    Ok(())
}

/// Replaces the origin (`scheme://host[:port]`) of `url` with `mirror` (which may carry a path
/// prefix, e.g. `https://nexus.corp/repository/hf`).
pub fn apply_mirror(url: &str, mirror: &str) -> String {
    let rest = url.split_once("://").map(|(_, after)| after).unwrap_or(url);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    format!("{}{}", mirror.trim_end_matches('/'), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_is_valid() {
        let c = Catalogue::parse("<built-in>", BUILTIN_CATALOGUE).unwrap();
        assert!(c.models.len() >= 20);
        assert!(c.profiles.contains_key("cpu-small") && c.profiles.contains_key("gpu"));
        // Everything shipped is verified: nothing in MODELS.md lacks a hash.
        assert!(c.models.iter().all(ModelEntry::is_verified));
        let voice = c.model("piper.ru_RU-irina-medium").unwrap();
        assert_eq!(voice.files.len(), 2, "a Piper voice is .onnx + .onnx.json");
        assert!(voice.files[1].url.ends_with(".onnx.json"));
    }

    #[test]
    fn unverified_entries_are_refused_unless_allowed() {
        let text = r#"
            [[models]]
            name = "x.unverified"
            kind = "asr"
            [[models.files]]
            path = "x/model.bin"
            url = "https://example.org/model.bin"
            size = 10
        "#;
        let c = Catalogue::parse("t", text).unwrap();
        let only = vec!["x.unverified".to_string()];
        let err = c.select(None, &only, false).unwrap_err();
        assert!(err.to_string().contains("--allow-unverified"), "{err}");
        assert_eq!(c.select(None, &only, true).unwrap().len(), 1);
    }

    #[test]
    fn bad_catalogues_are_rejected_with_the_reason() {
        let base = |path: &str, hash: &str| {
            format!(
                "[[models]]\nname = \"a\"\nkind = \"vad\"\n[[models.files]]\npath = \"{path}\"\n\
                 url = \"https://e.org/a\"\nsize = 1\nsha256 = \"{hash}\"\n"
            )
        };
        let good_hash = "0".repeat(64);
        let err = Catalogue::parse("t", &base("../etc/passwd", &good_hash)).unwrap_err();
        assert!(
            err.to_string().contains("inside the models directory"),
            "{err}"
        );
        let err = Catalogue::parse("t", &base("/abs", &good_hash)).unwrap_err();
        assert!(err.to_string().contains("relative"), "{err}");
        let err = Catalogue::parse("t", &base("a.bin", "xyz")).unwrap_err();
        assert!(err.to_string().contains("64 hex digits"), "{err}");
        let err = Catalogue::parse("t", "[profiles.p]\nmodels = [\"nope\"]\n").unwrap_err();
        assert!(err.to_string().contains("unknown model `nope`"), "{err}");
    }

    #[test]
    fn override_replaces_and_extends() {
        let mut c = Catalogue::builtin();
        let n = c.models.len();
        let extra = Catalogue::parse(
            "t",
            "[[models]]\nname = \"whisper.base\"\nkind = \"asr\"\n[[models.files]]\n\
             path = \"whisper/custom.bin\"\nurl = \"https://e.org/c\"\n\
             [profiles.tiny]\nmodels = [\"whisper.base\"]\n",
        )
        .unwrap();
        c.merge(extra);
        c.validate("merged").unwrap();
        assert_eq!(c.models.len(), n);
        assert_eq!(
            c.model("whisper.base").unwrap().files[0].path,
            "whisper/custom.bin"
        );
        assert!(c.profiles.contains_key("tiny") && c.profiles.contains_key("gpu"));
    }

    #[test]
    fn mirror_replaces_the_origin_only() {
        let url = "https://huggingface.co/Qwen/X/resolve/abc/x.gguf";
        assert_eq!(
            apply_mirror(url, "http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/Qwen/X/resolve/abc/x.gguf"
        );
        assert_eq!(
            apply_mirror(url, "https://nexus.corp/repository/hf"),
            "https://nexus.corp/repository/hf/Qwen/X/resolve/abc/x.gguf"
        );
    }
}
