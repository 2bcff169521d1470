//! Verifying model files: size always, sha256 on demand, with a hash cache keyed by
//! (path, size, mtime) so that a start-up check does not re-hash gigabytes every time.

use super::catalogue::{Catalogue, ModelEntry, ModelFile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Name of the hash cache file inside a models directory.
pub const HASH_CACHE_FILE: &str = ".enclave-hashes.json";

/// sha256 (lower-case hex) and length of a whole file.
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex::encode(hasher.finalize())))
}

/// One remembered hash: valid while the file keeps this size and mtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CachedHash {
    size: u64,
    mtime_s: u64,
    mtime_ns: u32,
    sha256: String,
}

/// sha256 results remembered per file, stored as JSON in the models directory.
#[derive(Debug)]
pub struct HashCache {
    path: PathBuf,
    entries: BTreeMap<String, CachedHash>,
    dirty: bool,
}

fn mtime_of(meta: &std::fs::Metadata) -> (u64, u32) {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| (d.as_secs(), d.subsec_nanos()))
        .unwrap_or((0, 0))
}

fn cache_key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

impl HashCache {
    /// Opens the cache of `models_dir` (empty when absent or unreadable: it is only a cache).
    pub fn open(models_dir: &Path) -> HashCache {
        let path = models_dir.join(HASH_CACHE_FILE);
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        HashCache {
            path,
            entries,
            dirty: false,
        }
    }

    /// A cache that is never written (for callers without a writable directory).
    pub fn in_memory() -> HashCache {
        HashCache {
            path: PathBuf::new(),
            entries: BTreeMap::new(),
            dirty: false,
        }
    }

    /// The remembered sha256 of `path`, if its size and mtime are unchanged.
    pub fn get(&self, path: &Path, meta: &std::fs::Metadata) -> Option<&str> {
        let (mtime_s, mtime_ns) = mtime_of(meta);
        self.entries
            .get(&cache_key(path))
            .filter(|c| c.size == meta.len() && c.mtime_s == mtime_s && c.mtime_ns == mtime_ns)
            .map(|c| c.sha256.as_str())
    }

    /// Remembers the sha256 of `path` as it is now.
    pub fn insert(&mut self, path: &Path, sha256: &str) {
        if let Ok(meta) = std::fs::metadata(path) {
            let (mtime_s, mtime_ns) = mtime_of(&meta);
            self.entries.insert(
                cache_key(path),
                CachedHash {
                    size: meta.len(),
                    mtime_s,
                    mtime_ns,
                    sha256: sha256.to_string(),
                },
            );
            self.dirty = true;
        }
    }

    /// Forgets `path`.
    pub fn remove(&mut self, path: &Path) {
        if self.entries.remove(&cache_key(path)).is_some() {
            self.dirty = true;
        }
    }

    /// Writes the cache atomically (temp file + rename) if it changed. Failure to write is
    /// not fatal for callers: the next check just hashes again.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty || self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(&self.entries).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}

/// How much checking to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDepth {
    /// Size only.
    Quick,
    /// Size, and sha256 only if the cache already has it (never hashes: for listings).
    CacheOnly,
    /// Size, and sha256 unless the cache vouches for this (size, mtime).
    Cached,
    /// Size and a fresh sha256 of every byte.
    Full,
}

/// The result of checking one file against its catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Size (and sha256, where checked) match.
    Ok {
        /// True when the sha256 was checked (freshly or through the cache).
        hash_checked: bool,
    },
    /// No file at that path.
    Missing,
    /// The size differs.
    WrongSize {
        /// Size in the catalogue.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// The sha256 differs.
    WrongHash {
        /// sha256 in the catalogue.
        expected: String,
        /// sha256 on disk.
        actual: String,
    },
    /// The catalogue has no size/sha256 for this file: present, but cannot be verified.
    Unverifiable,
}

impl FileState {
    /// True for a file that may be loaded.
    pub fn is_ok(&self) -> bool {
        matches!(self, FileState::Ok { .. } | FileState::Unverifiable)
    }
}

impl fmt::Display for FileState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileState::Ok { hash_checked: true } => f.write_str("ok (size + sha256)"),
            FileState::Ok {
                hash_checked: false,
            } => f.write_str("ok (size only)"),
            FileState::Missing => f.write_str("missing"),
            FileState::WrongSize { expected, actual } => {
                write!(f, "wrong size: {actual} bytes, expected {expected}")
            }
            FileState::WrongHash { expected, actual } => {
                write!(f, "sha256 mismatch: found {actual}, expected {expected}")
            }
            FileState::Unverifiable => f.write_str("present, unverified (no sha256 in catalogue)"),
        }
    }
}

/// Checks `path` against `expected`, using and updating `cache`.
pub fn check_file(
    path: &Path,
    expected: &ModelFile,
    cache: &mut HashCache,
    depth: CheckDepth,
) -> std::io::Result<FileState> {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Ok(FileState::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(e),
    };
    if let Some(size) = expected.size {
        if meta.len() != size {
            return Ok(FileState::WrongSize {
                expected: size,
                actual: meta.len(),
            });
        }
    }
    let Some(want) = expected.sha256.as_deref() else {
        return Ok(FileState::Unverifiable);
    };
    if depth == CheckDepth::Quick {
        return Ok(FileState::Ok {
            hash_checked: false,
        });
    }
    let cached = if depth == CheckDepth::Full {
        None
    } else {
        cache.get(path, &meta).map(str::to_string)
    };
    let actual = match cached {
        Some(h) => h,
        None if depth == CheckDepth::CacheOnly => {
            return Ok(FileState::Ok {
                hash_checked: false,
            })
        }
        None => {
            let (_, h) = sha256_file(path)?;
            cache.insert(path, &h);
            h
        }
    };
    if actual.eq_ignore_ascii_case(want) {
        Ok(FileState::Ok { hash_checked: true })
    } else {
        // The cache keeps the actual hash: a listing then shows the mismatch without re-hashing.
        Ok(FileState::WrongHash {
            expected: want.to_string(),
            actual,
        })
    }
}

/// One configured model file that may not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelProblem {
    /// The config key that names the file (e.g. `asr.model`).
    pub role: String,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
    /// The command that fixes it, when the file is in the catalogue.
    pub fix: Option<String>,
}

/// Configured model files that are missing or corrupt; `agent serve` refuses to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCheckError {
    /// Every problem found (all are reported at once).
    pub problems: Vec<ModelProblem>,
}

impl fmt::Display for ModelCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} model file(s) cannot be used:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {} = {}: {}", p.role, p.path.display(), p.reason)?;
            match &p.fix {
                Some(fix) => write!(f, "\n    fix: {fix}")?,
                None => write!(
                    f,
                    "\n    this file is not in the model catalogue, so `agent download-models` \
                     cannot fetch it; point {} at an existing file or add the model to a \
                     catalogue file (`[models] catalogue`)",
                    p.role
                )?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ModelCheckError {}

/// The command that (re)installs `model` so that `file` ends up at `path`.
pub fn fix_command(model: &ModelEntry, file: &ModelFile, path: &Path) -> String {
    let shown = path.to_string_lossy();
    let suffix = format!("/{}", file.path);
    match shown.strip_suffix(&suffix) {
        Some(dir) => format!(
            "agent download-models --only {} --dir {}",
            model.name,
            if dir.is_empty() { "/" } else { dir }
        ),
        None => format!(
            "agent download-models --only {} --dir <models dir>, then point the config at \
             <models dir>/{} (this file is not in the catalogue's layout)",
            model.name, file.path
        ),
    }
}

/// Start-up check for `agent serve`: every configured model file exists, has its catalogue
/// size, and (through the hash cache) its catalogue sha256. Files are matched to the catalogue
/// by file name; a model's other files (a Piper voice's `.onnx.json`) are checked beside it.
/// A present file that is not in the catalogue is accepted with a warning.
pub fn verify_configured(
    files: &[(&str, &Path)],
    catalogue: &Catalogue,
    cache: &mut HashCache,
) -> Result<(), ModelCheckError> {
    let mut problems = Vec::new();
    for (role, path) in files {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((model, file)) = catalogue.find_by_file_name(&file_name) else {
            if path.is_file() {
                tracing::warn!(
                    role,
                    path = %path.display(),
                    "model file is not in the catalogue: loading it without verification"
                );
            } else {
                problems.push(ModelProblem {
                    role: role.to_string(),
                    path: path.to_path_buf(),
                    reason: "file does not exist".into(),
                    fix: None,
                });
            }
            continue;
        };
        let mut to_check = vec![(path.to_path_buf(), file)];
        if let Some(parent) = path.parent() {
            for sibling in model.files.iter().filter(|f| f.path != file.path) {
                to_check.push((parent.join(sibling.file_name()), sibling));
            }
        }
        for (p, f) in to_check {
            let reason = match check_file(&p, f, cache, CheckDepth::Cached) {
                Ok(state) if state.is_ok() => continue,
                Ok(state) => state.to_string(),
                Err(e) => format!("cannot read: {e}"),
            };
            problems.push(ModelProblem {
                role: role.to_string(),
                path: p.clone(),
                reason: format!("{reason} (model {})", model.name),
                fix: Some(fix_command(model, file, path)),
            });
        }
    }
    let _ = cache.save();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ModelCheckError { problems })
    }
}

/// The state of one catalogue model in a models directory.
#[derive(Debug, Clone)]
pub struct InstalledModel {
    /// The catalogue entry.
    pub model: ModelEntry,
    /// Each file: path on disk, size on disk (if present), state.
    pub files: Vec<(PathBuf, Option<u64>, FileState)>,
}

impl InstalledModel {
    /// True when every file is present and checks out.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(|(_, _, s)| s.is_ok())
    }
}

/// Checks every catalogue model with at least one file present in `dir`.
pub fn scan_installed(
    dir: &Path,
    catalogue: &Catalogue,
    cache: &mut HashCache,
    depth: CheckDepth,
) -> std::io::Result<Vec<InstalledModel>> {
    let mut out = Vec::new();
    for model in &catalogue.models {
        let present = model.files.iter().any(|f| dir.join(&f.path).is_file());
        if !present {
            continue;
        }
        let mut files = Vec::new();
        for f in &model.files {
            let p = dir.join(&f.path);
            let size = std::fs::metadata(&p).ok().map(|m| m.len());
            let state = check_file(&p, f, cache, depth)?;
            files.push((p, size, state));
        }
        out.push(InstalledModel {
            model: model.clone(),
            files,
        });
    }
    let _ = cache.save();
    Ok(out)
}
