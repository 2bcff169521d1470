//! Air-gapped installs: `agent models bundle` writes a tar of verified model files plus a
//! manifest on a connected machine; `agent models import` checks every byte against the
//! manifest *and* this binary's catalogue on the offline box before installing anything.
//!
//! Layout of a bundle: `MANIFEST.toml`, `MANIFEST.toml.sha256` (`sha256sum -c` format), and
//! `files/<path in the models dir>`. There is no signature: the trust anchor is the catalogue
//! compiled into the `agent` binary (every file must match its pinned sha256), so a bundle
//! cannot smuggle in a file the binary does not already know. The manifest hash catches
//! accidental damage and can be pinned with `--manifest-sha256` (printed at bundle time, to be
//! sent out of band); sign the tar with the site's own tooling (gpg, minisign) if required.

use super::catalogue::{check_relative_path, Catalogue, ModelEntry};
use super::download::{sync_dir, timestamp};
use super::lock::{DirLock, LockError, LockWait};
use super::verify::{check_file, CheckDepth, FileState, HashCache};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Name of the manifest inside a bundle.
pub const MANIFEST: &str = "MANIFEST.toml";
/// Name of the manifest's checksum file inside a bundle.
pub const MANIFEST_SHA256: &str = "MANIFEST.toml.sha256";
/// Directory of the model files inside a bundle.
const FILES_DIR: &str = "files/";
/// Largest manifest accepted (a guard against a hostile tar).
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// One file listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Catalogue model name.
    pub model: String,
    /// Path inside the models directory (and under `files/` in the tar).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256, lower-case hex.
    pub sha256: String,
}

/// `MANIFEST.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub format: u32,
    /// When the bundle was written (UTC).
    pub created: String,
    /// Version of the agent that wrote it.
    pub agent_version: String,
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// Why a bundle could not be written or imported.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Local I/O.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file to bundle is missing or does not verify.
    #[error(
        "cannot bundle {}: {state}; run `agent download-models --only {model}` first", .path.display()
    )]
    NotInstalled {
        /// The model.
        model: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        state: String,
    },
    /// A tar entry that must not be extracted (path traversal, link, device…).
    #[error("bundle rejected: unsafe entry `{entry}`: {reason}")]
    UnsafeEntry {
        /// The entry's path as stored.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// A file's bytes do not match the manifest or the catalogue.
    #[error("bundle rejected: {file}: {reason}")]
    Tampered {
        /// The file (path inside the models dir).
        file: String,
        /// What does not match.
        reason: String,
    },
    /// The manifest is missing, damaged or does not match its checksum.
    #[error("bundle rejected: {0}")]
    Manifest(String),
    /// Another process holds the models directory.
    #[error(transparent)]
    Lock(#[from] LockError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `create_bundle` wrote.
#[derive(Debug, Clone)]
pub struct BundleSummary {
    /// The manifest written.
    pub manifest: Manifest,
    /// sha256 of `MANIFEST.toml` (pin it with `import --manifest-sha256`).
    pub manifest_sha256: String,
    /// Size of the tar.
    pub bytes: u64,
}

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Writes `models` (installed in `dir`) into the tar `out`, verifying every byte on the way.
pub fn create_bundle(
    dir: &Path,
    models: &[&ModelEntry],
    out: &Path,
) -> Result<BundleSummary, BundleError> {
    let mut cache = HashCache::open(dir);
    let mut files = Vec::new();
    for model in models {
        for f in &model.files {
            let path = dir.join(&f.path);
            let state = check_file(&path, f, &mut cache, CheckDepth::Quick).map_err(io(&path))?;
            let not_installed = |state: String| BundleError::NotInstalled {
                model: model.name.clone(),
                path: path.clone(),
                state,
            };
            let sha256 = match (state, &f.sha256) {
                (FileState::Ok { .. }, Some(h)) => h.to_ascii_lowercase(),
                // Unverified catalogue entry: the manifest records what is on disk.
                (FileState::Unverifiable, _) | (FileState::Ok { .. }, None) => {
                    super::verify::sha256_file(&path).map_err(io(&path))?.1
                }
                (bad, _) => return Err(not_installed(bad.to_string())),
            };
            let size = std::fs::metadata(&path).map_err(io(&path))?.len();
            files.push(ManifestFile {
                model: model.name.clone(),
                path: f.path.clone(),
                size,
                sha256,
            });
        }
    }
    let manifest = Manifest {
        format: 1,
        created: timestamp(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        files,
    };
    let manifest_text = toml::to_string_pretty(&manifest)
        .map_err(|e| BundleError::Manifest(format!("cannot render manifest: {e}")))?;
    let manifest_sha256 = hex::encode(Sha256::digest(manifest_text.as_bytes()));

    let tmp = PathBuf::from(format!("{}.tmp-{}", out.display(), std::process::id()));
    let result = write_tar(dir, &manifest, &manifest_text, &manifest_sha256, &tmp);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(io(out))?;
    let bytes = std::fs::metadata(out).map_err(io(out))?.len();
    Ok(BundleSummary {
        manifest,
        manifest_sha256,
        bytes,
    })
}

fn write_tar(
    dir: &Path,
    manifest: &Manifest,
    manifest_text: &str,
    manifest_sha256: &str,
    tmp: &Path,
) -> Result<(), BundleError> {
    let file = std::fs::File::create(tmp).map_err(io(tmp))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut append = |name: &str, size: u64, data: &mut dyn Read| {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data).map_err(io(tmp))
    };
    append(
        MANIFEST,
        manifest_text.len() as u64,
        &mut manifest_text.as_bytes(),
    )?;
    let sum = format!("{manifest_sha256}  {MANIFEST}\n");
    append(MANIFEST_SHA256, sum.len() as u64, &mut sum.as_bytes())?;
    for f in &manifest.files {
        let path = dir.join(&f.path);
        let src = std::fs::File::open(&path).map_err(io(&path))?;
        let mut reader = HashingReader {
            inner: src.take(f.size),
            hasher: Sha256::new(),
            len: 0,
        };
        append(&format!("{FILES_DIR}{}", f.path), f.size, &mut reader)?;
        let actual = hex::encode(reader.hasher.finalize());
        if reader.len != f.size || actual != f.sha256 {
            return Err(BundleError::NotInstalled {
                model: f.model.clone(),
                path,
                state: format!(
                    "changed while bundling (sha256 {actual}, expected {})",
                    f.sha256
                ),
            });
        }
    }
    let mut inner = tar.into_inner().map_err(io(tmp))?;
    inner.flush().map_err(io(tmp))?;
    inner
        .into_inner()
        .map_err(|e| BundleError::Io {
            path: tmp.to_path_buf(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io(tmp))
}

/// What `import_bundle` did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Files moved into the models directory.
    pub installed: Vec<PathBuf>,
    /// Files that were already installed with the same content.
    pub already_present: Vec<PathBuf>,
    /// sha256 of the bundle's manifest.
    pub manifest_sha256: String,
}

/// Removes the staging directory however the import ends.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options of `import_bundle`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Accept files whose catalogue entry has no sha256.
    pub allow_unverified: bool,
    /// Require the manifest to have this sha256 (sent out of band).
    pub manifest_sha256: Option<String>,
}

/// Verifies the bundle `tar_path` against its manifest and `catalogue`, then installs its
/// files into `dir` with atomic renames. Nothing is installed unless everything verifies.
pub fn import_bundle(
    tar_path: &Path,
    dir: &Path,
    catalogue: &Catalogue,
    opts: &ImportOptions,
) -> Result<ImportReport, BundleError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Staging inside `dir`: same filesystem, so the final renames are atomic.
    let staging = Staging(dir.join(format!(".import-{}-{}", std::process::id(), timestamp())));
    std::fs::create_dir_all(&staging.0).map_err(io(&staging.0))?;

    let file = std::fs::File::open(tar_path).map_err(io(tar_path))?;
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut manifest_sum: Option<Vec<u8>> = None;
    let mut extracted: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for entry in archive.entries().map_err(io(tar_path))? {
        let mut entry = entry.map_err(io(tar_path))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_entry = |reason: &str| BundleError::UnsafeEntry {
            entry: name.clone(),
            reason: reason.to_string(),
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory => continue,
            other => {
                return Err(unsafe_entry(&format!(
                    "entry type {other:?}; bundles hold regular files only"
                )))
            }
        }
        if name == MANIFEST || name == MANIFEST_SHA256 {
            if entry.size() > MAX_MANIFEST_BYTES {
                return Err(unsafe_entry("manifest too large"));
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(io(tar_path))?;
            let slot = if name == MANIFEST {
                &mut manifest_bytes
            } else {
                &mut manifest_sum
            };
            if slot.replace(bytes).is_some() {
                return Err(unsafe_entry("appears twice"));
            }
            continue;
        }
        let rel = name
            .strip_prefix(FILES_DIR)
            .ok_or_else(|| unsafe_entry("not under files/ and not the manifest"))?
            .to_string();
        check_relative_path(&rel).map_err(|reason| unsafe_entry(&reason))?;
        if extracted.contains_key(&rel) {
            return Err(unsafe_entry("appears twice"));
        }
        let target = staging.0.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = std::fs::File::create(&target).map_err(io(&target))?;
        let mut reader = HashingReader {
            inner: &mut entry,
            hasher: Sha256::new(),
            len: 0,
        };
        std::io::copy(&mut reader, &mut out).map_err(io(&target))?;
        out.sync_all().map_err(io(&target))?;
        extracted.insert(rel, (reader.len, hex::encode(reader.hasher.finalize())));
    }

    let manifest_bytes =
        manifest_bytes.ok_or_else(|| BundleError::Manifest(format!("no {MANIFEST} in the tar")))?;
    let manifest_sha256 = hex::encode(Sha256::digest(&manifest_bytes));
    let recorded = manifest_sum
        .as_deref()
        .map(|b| {
            String::from_utf8_lossy(b)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .ok_or_else(|| BundleError::Manifest(format!("no {MANIFEST_SHA256} in the tar")))?;
    if !recorded.eq_ignore_ascii_case(&manifest_sha256) {
        return Err(BundleError::Manifest(format!(
            "{MANIFEST} has sha256 {manifest_sha256}, but {MANIFEST_SHA256} says {recorded}"
        )));
    }
    if let Some(pinned) = &opts.manifest_sha256 {
        if !pinned.eq_ignore_ascii_case(&manifest_sha256) {
            return Err(BundleError::Manifest(format!(
                "{MANIFEST} has sha256 {manifest_sha256}, not the {pinned} given with --manifest-sha256"
            )));
        }
    }
    let manifest: Manifest = std::str::from_utf8(&manifest_bytes)
        .ok()
        .and_then(|t| toml::from_str(t).ok())
        .ok_or_else(|| BundleError::Manifest(format!("{MANIFEST} is not a valid manifest")))?;
    if manifest.format != 1 {
        return Err(BundleError::Manifest(format!(
            "manifest format {} is not supported (expected 1)",
            manifest.format
        )));
    }

    for f in &manifest.files {
        let tampered = |reason: String| BundleError::Tampered {
            file: f.path.clone(),
            reason,
        };
        let (size, sha) = extracted
            .remove(&f.path)
            .ok_or_else(|| tampered("listed in the manifest but missing from the tar".into()))?;
        if size != f.size || !sha.eq_ignore_ascii_case(&f.sha256) {
            return Err(tampered(format!(
                "content does not match the manifest (size {size} vs {}, sha256 {sha} vs {})",
                f.size, f.sha256
            )));
        }
        let (model, known) = catalogue.find_by_path(&f.path).ok_or_else(|| {
            tampered(
                "not in this agent's model catalogue (pass --catalogue with a file that lists it)"
                    .into(),
            )
        })?;
        if model.name != f.model {
            return Err(tampered(format!(
                "the manifest says model `{}`, the catalogue says `{}`",
                f.model, model.name
            )));
        }
        match (&known.sha256, known.size) {
            (Some(want), Some(want_size)) => {
                if !want.eq_ignore_ascii_case(&sha) || want_size != size {
                    return Err(tampered(format!(
                        "content does not match the catalogue (sha256 {sha}, catalogue {want})"
                    )));
                }
            }
            _ if opts.allow_unverified => {}
            _ => {
                return Err(tampered(
                    "the catalogue has no verified size/sha256 for it (pass --allow-unverified)"
                        .into(),
                ))
            }
        }
    }
    if let Some(extra) = extracted.keys().next() {
        return Err(BundleError::Tampered {
            file: extra.clone(),
            reason: "in the tar but not listed in the manifest".into(),
        });
    }

    let _lock = DirLock::acquire(
        dir,
        LockWait::Wait(std::time::Duration::from_secs(600)),
        |h| eprintln!("another run ({h}) is installing models here; waiting for it…"),
    )?;
    let mut cache = HashCache::open(dir);
    let mut report = ImportReport {
        manifest_sha256,
        ..Default::default()
    };
    for f in &manifest.files {
        let dest = dir.join(&f.path);
        let staged = staging.0.join(&f.path);
        let expected = super::catalogue::ModelFile {
            path: f.path.clone(),
            url: String::new(),
            size: Some(f.size),
            sha256: Some(f.sha256.clone()),
        };
        if check_file(&dest, &expected, &mut cache, CheckDepth::Cached)
            .map(|s| matches!(s, FileState::Ok { .. }))
            .unwrap_or(false)
        {
            report.already_present.push(dest);
            continue;
        }
        if dest.exists() {
            let moved = super::download::move_aside(&dest, &dest).map_err(io(&dest))?;
            tracing::warn!(file = %dest.display(), moved_to = %moved.display(), "replaced a bad installed file");
        }
        let parent = dest.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        std::fs::rename(&staged, &dest).map_err(io(&dest))?;
        sync_dir(parent).map_err(io(parent))?;
        cache.insert(&dest, &f.sha256);
        report.installed.push(dest);
    }
    let _ = cache.save();
    Ok(report)
}
