//! `agent download-models`: parallel, resumable, verified downloads into a models directory.
//!
//! Each file streams into `<file>.part` while its sha256 is computed; on a retry or a later
//! run the `.part` prefix is hashed and the rest requested with `Range` (a server that ignores
//! the range, answers another range, or 416 makes us start over). A finished file is checked
//! (size + sha256), fsynced and renamed into place; a bad one is moved aside to
//! `<file>.corrupt-<timestamp>` and never loaded. A lock file keeps two runs apart.

use super::catalogue::{apply_mirror, ModelEntry};
use super::lock::{DirLock, LockError, LockWait};
use super::progress::{human_bytes, FileProgress, Progress, ProgressMode};
use super::verify::{check_file, CheckDepth, FileState, HashCache};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;

/// One file to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFile {
    /// Catalogue model name (what `--only` takes).
    pub model: String,
    /// Path inside the models directory.
    pub rel_path: String,
    /// URL to fetch (mirror already applied).
    pub url: String,
    /// Expected size, if known.
    pub size: Option<u64>,
    /// Expected sha256, if known.
    pub sha256: Option<String>,
}

/// What to download and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The models directory.
    pub dir: PathBuf,
    /// The files, in order.
    pub files: Vec<PlannedFile>,
}

impl Plan {
    /// Every file of `models`, with `mirror` (if any) replacing each URL's origin.
    pub fn new(dir: &Path, models: &[&ModelEntry], mirror: Option<&str>) -> Plan {
        let files = models
            .iter()
            .flat_map(|m| {
                m.files.iter().map(|f| PlannedFile {
                    model: m.name.clone(),
                    rel_path: f.path.clone(),
                    url: match mirror {
                        Some(mirror) if !mirror.is_empty() => apply_mirror(&f.url, mirror),
                        _ => f.url.clone(),
                    },
                    size: f.size,
                    sha256: f.sha256.clone(),
                })
            })
            .collect();
        Plan {
            dir: dir.to_path_buf(),
            files,
        }
    }
}

/// Which proxy to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySetting {
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` from the environment.
    System,
    /// Direct connections only.
    Direct,
    /// This proxy URL for everything (`NO_PROXY` still honoured).
    Url(String),
}

/// How to download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Files downloaded at once.
    pub jobs: usize,
    /// Proxy choice.
    pub proxy: ProxySetting,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for response headers or for the next body chunk.
    pub read_timeout: Duration,
    /// Retries per file after a transient error (connection reset, 5xx, timeout).
    pub retries: u32,
    /// First retry delay; doubled each retry (plus jitter), capped at 60 s.
    pub backoff: Duration,
    /// How progress is shown.
    pub progress: ProgressMode,
    /// What to do when another run holds the directory lock.
    pub lock_wait: LockWait,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            jobs: 4,
            proxy: ProxySetting::System,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            retries: 5,
            backoff: Duration::from_secs(1),
            progress: ProgressMode::Auto,
            lock_wait: LockWait::Wait(Duration::from_secs(3600)),
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Already installed and verified: nothing fetched.
    AlreadyPresent,
    /// Fetched (`resumed_from` bytes were already in the `.part` file).
    Downloaded {
        /// Bytes received in this run.
        bytes: u64,
        /// Bytes reused from an earlier interrupted download.
        resumed_from: u64,
    },
}

/// One file of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Catalogue model name.
    pub model: String,
    /// Installed path.
    pub path: PathBuf,
    /// What happened.
    pub outcome: FileOutcome,
}

/// The result of a successful run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every planned file, in plan order.
    pub files: Vec<FileReport>,
    /// Bytes received over the network.
    pub bytes_downloaded: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Why one file could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// 404 / 410.
    #[error("{url}: not found (HTTP {status}); check the URL or --mirror")]
    NotFound {
        /// URL asked.
        url: String,
        /// Status received.
        status: u16,
    },
    /// Another non-success status (after retries for 5xx).
    #[error("{url}: HTTP {status}{hint}")]
    HttpStatus {
        /// URL asked.
        url: String,
        /// Status received.
        status: u16,
        /// What it usually means.
        hint: &'static str,
    },
    /// An HTML page instead of a model (login page, proxy error page, wrong URL).
    #[error(
        "{url}: the server sent an HTML page, not a model file (a login or proxy error page, \
         or a wrong URL/mirror); nothing was installed"
    )]
    Html {
        /// URL asked.
        url: String,
    },
    /// The size differs from the catalogue.
    #[error("{url}: size mismatch: expected {expected} bytes, got {actual}{}", kept(.kept_at))]
    SizeMismatch {
        /// URL asked.
        url: String,
        /// Catalogue size.
        expected: u64,
        /// What the server announced or sent.
        actual: String,
        /// Where the bad bytes were moved, if any were written.
        kept_at: Option<PathBuf>,
    },
    /// The sha256 differs from the catalogue.
    #[error(
        "{url}: sha256 mismatch: expected {expected}, got {actual}; the file was NOT installed \
         and was moved aside to {}", .kept_at.display()
    )]
    ChecksumMismatch {
        /// URL asked.
        url: String,
        /// Catalogue sha256.
        expected: String,
        /// sha256 of what arrived.
        actual: String,
        /// Where the bad file now is.
        kept_at: PathBuf,
    },
    /// No response or no data for `read_timeout`, after retries.
    #[error(
        "{url}: timed out: no data for {} s (after {attempts} attempt(s)){}",
        .after.as_secs_f32(), resumable(*.partial)
    )]
    Timeout {
        /// URL asked.
        url: String,
        /// The read timeout.
        after: Duration,
        /// Attempts made.
        attempts: u32,
        /// True when a `.part` file is kept for the next run.
        partial: bool,
    },
    /// Connection errors, after retries.
    #[error("{url}: network error after {attempts} attempt(s): {message}{}", resumable(*.partial))]
    Network {
        /// URL asked.
        url: String,
        /// The underlying error chain.
        message: String,
        /// Attempts made.
        attempts: u32,
        /// True when a `.part` file is kept for the next run.
        partial: bool,
    },
    /// ENOSPC while writing.
    #[error("{}: disk full while writing; free space and run again (the partial file is kept)", .path.display())]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// Other local I/O errors.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn resumable(partial: bool) -> &'static str {
    if partial {
        "; the partial file is kept and the next run resumes it"
    } else {
        ""
    }
}

fn kept(at: &Option<PathBuf>) -> String {
    match at {
        Some(p) => format!(
            "; the file was NOT installed and was moved aside to {}",
            p.display()
        ),
        None => "; nothing was installed".into(),
    }
}

/// A failed file in a run.
#[derive(Debug)]
pub struct FileFailure {
    /// Catalogue model name.
    pub model: String,
    /// Target path.
    pub path: PathBuf,
    /// Why.
    pub error: FileError,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Another run holds the directory.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Not enough free space for what is left to fetch.
    #[error(
        "not enough disk space in {}: {} needed, {} available; free space or use --dir",
        .dir.display(), human_bytes(*.needed), human_bytes(*.available)
    )]
    DiskSpace {
        /// The models directory.
        dir: PathBuf,
        /// Bytes still to fetch.
        needed: u64,
        /// Bytes available to us.
        available: u64,
    },
    /// A local I/O error outside any one file.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The HTTP client could not be built (bad proxy URL).
    #[error("cannot set up HTTP client: {0}")]
    Client(String),
    /// Some files failed (the others are installed).
    #[error("{}", files_message(.0))]
    Files(Vec<FileFailure>),
}

fn files_message(failures: &[FileFailure]) -> String {
    let mut s = format!("{} file(s) failed:", failures.len());
    for f in failures {
        s.push_str(&format!(
            "\n  - {} ({}): {}",
            f.model,
            f.path.display(),
            f.error
        ));
    }
    s
}

/// UTC timestamp `YYYYMMDDTHHMMSSZ` (for `.corrupt-*` names and the lock file).
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Moves a bad file aside to `<dest>.corrupt-<timestamp>` and returns the new path.
pub fn move_aside(bad: &Path, dest: &Path) -> std::io::Result<PathBuf> {
    let base = format!("{}.corrupt-{}", dest.display(), timestamp());
    let mut target = PathBuf::from(&base);
    let mut n = 2;
    while target.exists() {
        target = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    std::fs::rename(bad, &target)?;
    Ok(target)
}

/// `<dest>.part`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// fsync a directory so a rename in it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Downloads every file of `plan` that is not already installed and verified.
pub async fn download_all(plan: &Plan, opts: &DownloadOptions) -> Result<Report, DownloadError> {
    let started = Instant::now();
    let dir = plan.dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| DownloadError::Io {
        path: dir.clone(),
        source,
    })?;
    let lock_wait = opts.lock_wait;
    let lock_dir = dir.clone();
    let quiet = opts.progress == ProgressMode::Quiet;
    let _lock = tokio::task::spawn_blocking(move || {
        DirLock::acquire(&lock_dir, lock_wait, |holder| {
            if !quiet {
                eprintln!("another run ({holder}) is installing models here; waiting for it…");
            }
        })
    })
    .await
    .map_err(|e| DownloadError::Client(format!("lock task failed: {e}")))??;

    // Check what is already there (hashing may take seconds per GiB: off the async threads).
    let check_plan = plan.clone();
    let (mut cache, states) = tokio::task::spawn_blocking(move || {
        let mut cache = HashCache::open(&check_plan.dir);
        let states: Vec<_> = check_plan
            .files
            .iter()
            .map(|f| existing_state(&check_plan.dir, f, &mut cache))
            .collect();
        (cache, states)
    })
    .await
    .map_err(|e| DownloadError::Client(format!("check task failed: {e}")))?;

    let mut reports: Vec<Option<FileReport>> = vec![None; plan.files.len()];
    let mut todo = Vec::new();
    for (i, (file, state)) in plan.files.iter().zip(states).enumerate() {
        let dest = dir.join(&file.rel_path);
        match state {
            Ok(true) => {
                reports[i] = Some(FileReport {
                    model: file.model.clone(),
                    path: dest,
                    outcome: FileOutcome::AlreadyPresent,
                })
            }
            Ok(false) => todo.push(i),
            Err(source) => return Err(DownloadError::Io { path: dest, source }),
        }
    }

    let needed: u64 = todo
        .iter()
        .map(|&i| {
            let f = &plan.files[i];
            let have = std::fs::metadata(part_path(&dir.join(&f.rel_path)))
                .map(|m| m.len())
                .unwrap_or(0);
            f.size.unwrap_or(0).saturating_sub(have)
        })
        .sum();
    if needed > 0 {
        let available = fs4::available_space(&dir).map_err(|source| DownloadError::Io {
            path: dir.clone(),
            source,
        })?;
        if needed > available {
            return Err(DownloadError::DiskSpace {
                dir,
                needed,
                available,
            });
        }
    }

    let client = build_client(opts)?;
    let total: u64 = todo.iter().filter_map(|&i| plan.files[i].size).sum();
    let progress = Progress::new(opts.progress, total, todo.len());
    let results: Vec<(usize, FetchResult)> = futures::stream::iter(todo.into_iter().map(|i| {
        let client = client.clone();
        let progress = progress.clone();
        let file = &plan.files[i];
        let dest = dir.join(&file.rel_path);
        async move { (i, fetch_file(&client, file, &dest, opts, &progress).await) }
    }))
    .buffer_unordered(opts.jobs.max(1))
    .collect()
    .await;
    progress.finish();

    let mut failures = Vec::new();
    let mut bytes_downloaded = 0;
    for (i, result) in results {
        let file = &plan.files[i];
        let dest = dir.join(&file.rel_path);
        match result {
            Ok((outcome, sha)) => {
                if let Some(sha) = sha {
                    cache.insert(&dest, &sha);
                }
                if let FileOutcome::Downloaded { bytes, .. } = outcome {
                    bytes_downloaded += bytes;
                }
                reports[i] = Some(FileReport {
                    model: file.model.clone(),
                    path: dest,
                    outcome,
                });
            }
            Err(error) => failures.push(FileFailure {
                model: file.model.clone(),
                path: dest,
                error,
            }),
        }
    }
    let _ = cache.save();
    if !failures.is_empty() {
        failures.sort_by(|a, b| a.path.cmp(&b.path));
        return Err(DownloadError::Files(failures));
    }
    Ok(Report {
        files: reports.into_iter().flatten().collect(),
        bytes_downloaded,
        elapsed: started.elapsed(),
    })
}

/// `Ok(true)`: installed and verified; `Ok(false)`: must be fetched (a bad file is moved aside).
fn existing_state(dir: &Path, file: &PlannedFile, cache: &mut HashCache) -> std::io::Result<bool> {
    let dest = dir.join(&file.rel_path);
    let expected = super::catalogue::ModelFile {
        path: file.rel_path.clone(),
        url: file.url.clone(),
        size: file.size,
        sha256: file.sha256.clone(),
    };
    match check_file(&dest, &expected, cache, CheckDepth::Cached)? {
        FileState::Ok { .. } | FileState::Unverifiable => Ok(true),
        FileState::Missing => Ok(false),
        bad => {
            let moved = move_aside(&dest, &dest)?;
            cache.remove(&dest);
            tracing::warn!(
                file = %dest.display(),
                moved_to = %moved.display(),
                "installed file is bad ({bad}); moved aside, downloading again"
            );
            Ok(false)
        }
    }
}

fn build_client(opts: &DownloadOptions) -> Result<reqwest::Client, DownloadError> {
    let builder = reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .user_agent(concat!("enclave-agent/", env!("CARGO_PKG_VERSION")));
    let builder = match &opts.proxy {
        ProxySetting::System => builder,
        ProxySetting::Direct => builder.no_proxy(),
        ProxySetting::Url(url) => builder.proxy(
            reqwest::Proxy::all(url)
                .map_err(|e| DownloadError::Client(format!("bad proxy URL `{url}`: {e}")))?
                .no_proxy(reqwest::NoProxy::from_env()),
        ),
    };
    builder
        .build()
        .map_err(|e| DownloadError::Client(error_chain(&e)))
}

/// An error and its sources on one line (reqwest hides the useful part in the sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// What fetching one file gave: the outcome and the sha256 of what was installed.
type FetchResult = Result<(FileOutcome, Option<String>), FileError>;

/// Why one attempt failed: retry or give up.
enum AttemptError {
    Transient(Transient),
    Fatal(FileError),
}

enum Transient {
    Timeout,
    Network(String),
    Status(u16),
}

impl From<FileError> for AttemptError {
    fn from(e: FileError) -> Self {
        AttemptError::Fatal(e)
    }
}

async fn fetch_file(
    client: &reqwest::Client,
    file: &PlannedFile,
    dest: &Path,
    opts: &DownloadOptions,
    progress: &Progress,
) -> FetchResult {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|source| FileError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut attempt = 0u32;
    let mut bar: Option<FileProgress> = None;
    loop {
        attempt += 1;
        match fetch_once(client, file, dest, opts, progress, &mut bar).await {
            Ok(done) => {
                if let Some(bar) = &bar {
                    bar.done("installed, size and sha256 verified");
                }
                return Ok(done);
            }
            Err(AttemptError::Fatal(e)) => {
                if let Some(bar) = &bar {
                    bar.failed();
                }
                return Err(e);
            }
            Err(AttemptError::Transient(t)) => {
                let what = match &t {
                    Transient::Timeout => format!("no data for {:?}", opts.read_timeout),
                    Transient::Network(m) => m.clone(),
                    Transient::Status(s) => format!("HTTP {s}"),
                };
                if attempt > opts.retries {
                    let partial = std::fs::metadata(part_path(dest)).is_ok_and(|m| m.len() > 0);
                    let e = match t {
                        Transient::Timeout => FileError::Timeout {
                            url: file.url.clone(),
                            after: opts.read_timeout,
                            attempts: attempt,
                            partial,
                        },
                        Transient::Network(message) => FileError::Network {
                            url: file.url.clone(),
                            message,
                            attempts: attempt,
                            partial,
                        },
                        Transient::Status(status) => FileError::HttpStatus {
                            url: file.url.clone(),
                            status,
                            hint: " (server error; try again later or use --mirror)",
                        },
                    };
                    if let Some(bar) = &bar {
                        bar.failed();
                    }
                    return Err(e);
                }
                let exp = opts.backoff.saturating_mul(1 << (attempt - 1).min(16));
                let jitter = exp.mul_f64(rand::random::<f64>() * 0.25);
                let delay = (exp + jitter).min(Duration::from_secs(60));
                let resume = match std::fs::metadata(part_path(dest)) {
                    Ok(m) if m.len() > 0 => format!(", resuming at {}", human_bytes(m.len())),
                    _ => String::new(),
                };
                progress.println(&format!(
                    "{}: {what}; retry {attempt}/{} in {:.1} s{resume}",
                    file.rel_path,
                    opts.retries,
                    delay.as_secs_f32()
                ));
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn io_err(path: &Path, source: std::io::Error) -> FileError {
    if source.kind() == std::io::ErrorKind::StorageFull
        || source.raw_os_error() == Some(libc::ENOSPC)
    {
        FileError::DiskFull {
            path: path.to_path_buf(),
        }
    } else {
        FileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// sha256 state of the first `len` bytes of `path`.
async fn hash_prefix(path: &Path, len: u64) -> std::io::Result<Sha256> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = std::fs::File::open(&path)?.take(len);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher)
    })
    .await
    .map_err(std::io::Error::other)?
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    from: u64,
    opts: &DownloadOptions,
) -> Result<reqwest::Response, AttemptError> {
    let mut req = client.get(url);
    if from > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
    }
    match tokio::time::timeout(opts.connect_timeout + opts.read_timeout, req.send()).await {
        Err(_) => Err(AttemptError::Transient(Transient::Timeout)),
        Ok(Err(e)) if e.is_timeout() => Err(AttemptError::Transient(Transient::Timeout)),
        Ok(Err(e)) => Err(AttemptError::Transient(Transient::Network(error_chain(&e)))),
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// `bytes START-END/TOTAL` → (START, TOTAL or None for `*`).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = if total.trim() == "*" {
        None
    } else {
        Some(total.trim().parse().ok()?)
    };
    Some((start.trim().parse().ok()?, total))
}

fn looks_like_html(prefix: &[u8]) -> bool {
    let trimmed: Vec<u8> = prefix
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(16)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    trimmed.starts_with(b"<!doctype") || trimmed.starts_with(b"<html")
}

async fn fetch_once(
    client: &reqwest::Client,
    file: &PlannedFile,
    dest: &Path,
    opts: &DownloadOptions,
    progress: &Progress,
    bar: &mut Option<FileProgress>,
) -> Result<(FileOutcome, Option<String>), AttemptError> {
    let part = part_path(dest);
    let url = file.url.as_str();
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if matches!(file.size, Some(size) if have > size) {
        std::fs::remove_file(&part).map_err(|e| io_err(&part, e))?;
        have = 0;
    }
    let mut hasher = if have > 0 {
        hash_prefix(&part, have)
            .await
            .map_err(|e| io_err(&part, e))?
    } else {
        Sha256::new()
    };
    if bar.is_none() {
        *bar = Some(progress.file(&file.rel_path, file.size, have));
    }
    let bar_ref = bar.as_ref().expect("set above");
    let resumed_from = have;
    let mut written = 0u64;
    if file.size != Some(have) || have == 0 {
        let mut resp = send(client, url, have, opts).await?;
        let mut status = resp.status().as_u16();
        // A range we cannot use: start over from byte 0 in this attempt.
        let range_ok = match status {
            206 => resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range)
                .is_some_and(|(start, total)| {
                    start == have && (total.is_none() || file.size.is_none() || total == file.size)
                }),
            _ => true,
        };
        if have > 0 && (status == 416 || !range_ok) {
            tracing::warn!(
                url,
                status,
                "server did not honour the Range request; restarting"
            );
            drop(resp);
            bar_ref.restart(have);
            have = 0;
            hasher = Sha256::new();
            resp = send(client, url, 0, opts).await?;
            status = resp.status().as_u16();
        }
        match status {
            200 | 206 => {}
            404 | 410 => {
                return Err(FileError::NotFound {
                    url: url.into(),
                    status,
                }
                .into())
            }
            408 | 429 | 500..=599 => {
                return Err(AttemptError::Transient(Transient::Status(status)))
            }
            401 | 403 => return Err(FileError::HttpStatus {
                url: url.into(),
                status,
                hint: " (access denied: the mirror or proxy needs credentials, or blocks this URL)",
            }
            .into()),
            _ => {
                return Err(FileError::HttpStatus {
                    url: url.into(),
                    status,
                    hint: "",
                }
                .into())
            }
        }
        if status == 200 && have > 0 {
            // The server ignored Range and sends the whole file: use it from byte 0.
            tracing::info!(
                url,
                "server ignored the Range request; downloading from the start"
            );
            bar_ref.restart(have);
            have = 0;
            hasher = Sha256::new();
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("text/html") {
            return Err(FileError::Html { url: url.into() }.into());
        }
        if let (Some(size), Some(len)) = (file.size, resp.content_length()) {
            if have + len != size {
                // A wrong length is often an error page served as a file: say which.
                let mut stream = resp.bytes_stream();
                if let Ok(Some(Ok(first))) =
                    tokio::time::timeout(opts.read_timeout, stream.next()).await
                {
                    if looks_like_html(&first) {
                        return Err(FileError::Html { url: url.into() }.into());
                    }
                }
                return Err(FileError::SizeMismatch {
                    url: url.into(),
                    expected: size,
                    actual: format!("{} (Content-Length)", have + len),
                    kept_at: None,
                }
                .into());
            }
        }
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(have == 0)
            .append(have > 0)
            .open(&part)
            .await
            .map_err(|e| io_err(&part, e))?;
        let mut stream = resp.bytes_stream();
        let mut sniffed = have > 0;
        loop {
            let next = tokio::time::timeout(opts.read_timeout, stream.next()).await;
            let chunk = match next {
                Err(_) => {
                    let _ = out.flush().await;
                    return Err(AttemptError::Transient(Transient::Timeout));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    let _ = out.flush().await;
                    return Err(AttemptError::Transient(Transient::Network(error_chain(&e))));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            if !sniffed && !chunk.is_empty() {
                sniffed = true;
                if looks_like_html(&chunk) {
                    drop(out);
                    let _ = std::fs::remove_file(&part);
                    return Err(FileError::Html { url: url.into() }.into());
                }
            }
            if let Some(size) = file.size {
                if have + written + chunk.len() as u64 > size {
                    drop(out);
                    let kept_at = move_aside(&part, dest).ok();
                    return Err(FileError::SizeMismatch {
                        url: url.into(),
                        expected: size,
                        actual: format!("more than {size}"),
                        kept_at,
                    }
                    .into());
                }
            }
            out.write_all(&chunk).await.map_err(|e| io_err(&part, e))?;
            hasher.update(&chunk);
            written += chunk.len() as u64;
            bar_ref.inc(chunk.len() as u64);
        }
        out.flush().await.map_err(|e| io_err(&part, e))?;
        out.sync_all().await.map_err(|e| io_err(&part, e))?;
        drop(out);
    }
    let total = have + written;
    if let Some(size) = file.size {
        if total != size {
            let kept_at = move_aside(&part, dest).ok();
            return Err(FileError::SizeMismatch {
                url: url.into(),
                expected: size,
                actual: total.to_string(),
                kept_at,
            }
            .into());
        }
    }
    let actual = hex::encode(hasher.finalize());
    if let Some(expected) = &file.sha256 {
        if !actual.eq_ignore_ascii_case(expected) {
            let kept_at = move_aside(&part, dest).map_err(|e| io_err(&part, e))?;
            return Err(FileError::ChecksumMismatch {
                url: url.into(),
                expected: expected.clone(),
                actual,
                kept_at,
            }
            .into());
        }
    }
    std::fs::rename(&part, dest).map_err(|e| io_err(dest, e))?;
    if let Some(parent) = dest.parent() {
        sync_dir(parent).map_err(|e| io_err(parent, e))?;
    }
    Ok((
        FileOutcome::Downloaded {
            bytes: written,
            resumed_from: if have == 0 { 0 } else { resumed_from },
        },
        Some(actual),
    ))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fetched = self
            .files
            .iter()
            .filter(|r| matches!(r.outcome, FileOutcome::Downloaded { .. }))
            .count();
        write!(
            f,
            "{} file(s): {fetched} downloaded ({}), {} already installed and verified; {:.1} s",
            self.files.len(),
            human_bytes(self.bytes_downloaded),
            self.files.len() - fetched,
            self.elapsed.as_secs_f32()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range("bytes x-9/10"), None);
    }

    #[test]
    fn html_sniffing() {
        assert!(looks_like_html(b"  \n<!DOCTYPE html><html>"));
        assert!(looks_like_html(b"<HTML><body>"));
        assert!(!looks_like_html(b"GGUF\x03\x00\x00\x00"));
    }

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 16, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[8] == b'T',
            "{t}"
        );
    }
}
