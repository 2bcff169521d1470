//! Model files: the catalogue, verified downloads, air-gapped bundles.
//!
//! - [`catalogue`]: every model the agent can use (compiled in, overridable by a file);
//! - [`download`]: `agent download-models` (parallel, resumable, size + sha256 verified);
//! - [`verify`]: checks of installed files and the start-up check [`verify_configured`];
//! - [`bundle`]: `agent models bundle` / `import` for air-gapped boxes;
//! - [`lock`], [`progress`]: the directory lock and the progress display.

pub mod bundle;
pub mod catalogue;
pub mod download;
pub mod lock;
pub mod progress;
pub mod verify;

pub use catalogue::{Catalogue, ModelEntry, ModelFile, ModelKind};
pub use download::{download_all, DownloadOptions, Plan, Report};
pub use verify::{verify_configured, HashCache, ModelCheckError};
