//! Where the speech tests find their files: the shared fixtures and the synthetic models.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `../shared/fixtures` (or `ENCLAVE_FIXTURES`); fails the test clearly when missing.
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    assert!(
        dir.is_dir(),
        "fixtures not found at {}; set ENCLAVE_FIXTURES",
        dir.display()
    );
    dir
}

/// A synthetic model in `ENCLAVE_SYNTH_DIR` (default `~/.cache/enclave/synthetic`); a missing
/// one fails the test with the command that makes it.
pub fn synthetic(name: &str) -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/enclave/synthetic")
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "synthetic model {} missing: run `bash scripts/synth-models.sh` (it writes every \
         variant, test-q8_0 included)",
        path.display()
    );
    path
}
