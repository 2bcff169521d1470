//! A lock file per models directory, so that two downloads (or a download and an import)
//! never write the same files at once.

use fs4::fs_std::FileExt;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the lock file inside a models directory.
pub const LOCK_FILE: &str = ".enclave-models.lock";

/// What to do when another process holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Fail at once with an error naming the holder.
    Fail,
    /// Wait up to this long, then fail.
    Wait(Duration),
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "another `agent` process ({holder}) is installing models into {dir} (lock file {lock}); \
         wait for it to finish, or pass --lock-wait SECONDS to wait"
    )]
    Busy {
        /// The models directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as written in the lock file.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot use lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// An exclusive lock on a models directory; released on drop (and by the kernel if the
/// process dies, so a crash never leaves a stale lock).
#[derive(Debug)]
pub struct DirLock {
    file: std::fs::File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock of `dir` (created if needed), waiting as `wait` says. `on_wait` is
    /// called once with the holder's description when the lock is busy and we wait.
    pub fn acquire(
        dir: &Path,
        wait: LockWait,
        on_wait: impl FnOnce(&str),
    ) -> Result<DirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut on_wait = Some(on_wait);
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            match FileExt::try_lock_exclusive(&file) {
                Ok(()) => break,
                Err(e) if e.kind() == fs4::lock_contended_error().kind() => {
                    let holder = read_holder(&path);
                    let limit = match wait {
                        LockWait::Fail => Duration::ZERO,
                        LockWait::Wait(d) => d,
                    };
                    if started.elapsed() >= limit {
                        return Err(LockError::Busy {
                            dir: dir.to_path_buf(),
                            lock: path.clone(),
                            holder,
                        });
                    }
                    if let Some(f) = on_wait.take() {
                        f(&holder);
                    }
                    // Polling (not a blocking flock) so the wait has an upper bound.
                    std::thread::sleep(pause.min(limit.saturating_sub(started.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(io(e)),
            }
        }
        let mut lock = DirLock { file, path };
        lock.write_holder();
        Ok(lock)
    }

    fn write_holder(&mut self) {
        let text = format!(
            "pid {} since {}\n",
            std::process::id(),
            super::download::timestamp()
        );
        let _ = self.file.set_len(0);
        let _ = self.file.rewind();
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.flush();
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_holder(path: &Path) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let text = text.trim();
    if text.is_empty() {
        "unknown pid".into()
    } else {
        text.to_string()
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}
