//! Air-gapped bundles (bundle → import on a fresh directory, tampering, unsafe tar entries)
//! and the start-up check `verify_configured`.

mod models_support;

use enclave::models::bundle::{create_bundle, import_bundle, BundleError, ImportOptions};
use enclave::models::catalogue::Catalogue;
use enclave::models::download::{download_all, DownloadOptions, Plan, ProxySetting};
use enclave::models::lock::LockWait;
use enclave::models::progress::ProgressMode;
use enclave::models::verify::{verify_configured, HashCache};
use models_support::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn opts() -> DownloadOptions {
    DownloadOptions {
        proxy: ProxySetting::Direct,
        retries: 0,
        read_timeout: Duration::from_secs(10),
        progress: ProgressMode::Quiet,
        lock_wait: LockWait::Fail,
        ..DownloadOptions::default()
    }
}

/// Downloads the whole `test` profile from a local server into a new directory.
async fn installed() -> (tempfile::TempDir, Catalogue) {
    let server = TestServer::start().await;
    serve_all(&server);
    let cat = test_catalogue();
    let dir = tempfile::tempdir().unwrap();
    let models = cat.select(Some("test"), &[], false).unwrap();
    download_all(&Plan::new(dir.path(), &models, Some(&server.base)), &opts())
        .await
        .unwrap();
    (dir, cat)
}

fn bundle(dir: &Path, cat: &Catalogue, out: &Path) {
    let models = cat.select(Some("test"), &[], false).unwrap();
    let summary = create_bundle(dir, &models, out).unwrap();
    assert_eq!(summary.manifest.files.len(), 4);
    assert_eq!(summary.manifest_sha256.len(), 64);
}

/// Every regular entry of a tar: (path, data offset in the tar, size).
fn entries(tar_path: &Path) -> Vec<(String, u64, u64)> {
    let mut archive = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.raw_file_position(),
                e.size(),
            )
        })
        .collect()
}

#[tokio::test]
async fn bundle_then_import_into_a_fresh_directory() {
    let (src, cat) = installed().await;
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("enclave-models.tar");
    bundle(src.path(), &cat, &tar_path);
    let names: Vec<String> = entries(&tar_path).into_iter().map(|e| e.0).collect();
    assert_eq!(names[0], "MANIFEST.toml");
    assert_eq!(names[1], "MANIFEST.toml.sha256");
    assert!(names.contains(&"files/piper/en_US-test-medium.onnx.json".to_string()));

    let fresh = tempfile::tempdir().unwrap();
    let target = fresh.path().join("models");
    let report = import_bundle(&tar_path, &target, &cat, &ImportOptions::default()).unwrap();
    assert_eq!(report.installed.len(), 4);
    for rel in [
        "vad/test_silero.onnx",
        "llm/stories260K.gguf",
        "piper/en_US-test-medium.onnx",
        "piper/en_US-test-medium.onnx.json",
    ] {
        assert!(
            std::fs::read(target.join(rel)).unwrap()
                == std::fs::read(src.path().join(rel)).unwrap(),
            "{rel} differs after import"
        );
    }
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".import-")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging dir not removed: {leftovers:?}"
    );

    // Importing again installs nothing; pinning the manifest hash works; a wrong pin fails.
    let again = import_bundle(
        &tar_path,
        &target,
        &cat,
        &ImportOptions {
            manifest_sha256: Some(report.manifest_sha256.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((again.installed.len(), again.already_present.len()), (0, 4));
    let err = import_bundle(
        &tar_path,
        &target,
        &cat,
        &ImportOptions {
            manifest_sha256: Some("0".repeat(64)),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("--manifest-sha256"), "{err}");
}

#[tokio::test]
async fn a_tampered_file_in_the_bundle_is_rejected_by_name_and_nothing_is_installed() {
    let (src, cat) = installed().await;
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("b.tar");
    bundle(src.path(), &cat, &tar_path);
    let (_, offset, size) = entries(&tar_path)
        .into_iter()
        .find(|e| e.0 == "files/llm/stories260K.gguf")
        .unwrap();
    let mut bytes = std::fs::read(&tar_path).unwrap();
    bytes[(offset + size / 2) as usize] ^= 0x01;
    std::fs::write(&tar_path, &bytes).unwrap();

    let target = tempfile::tempdir().unwrap();
    let err = import_bundle(&tar_path, target.path(), &cat, &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(err, BundleError::Tampered { ref file, .. } if file == "llm/stories260K.gguf"),
        "{err}"
    );
    assert!(err.to_string().contains("llm/stories260K.gguf"), "{err}");
    for rel in ["vad/test_silero.onnx", "llm/stories260K.gguf"] {
        assert!(
            !target.path().join(rel).exists(),
            "{rel} installed from a rejected bundle"
        );
    }
}

/// Rewrites a bundle with one file replaced and a consistent, re-hashed manifest: only the
/// catalogue can catch this.
fn forge(src_tar: &Path, out: &Path, victim: &str, new_data: &[u8]) {
    let mut archive = tar::Archive::new(std::fs::File::open(src_tar).unwrap());
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.push((name, data));
    }
    let victim_entry = format!("files/{victim}");
    let old = files
        .iter()
        .find(|f| f.0 == victim_entry)
        .unwrap()
        .1
        .clone();
    let mut manifest = String::from_utf8(files[0].1.clone()).unwrap();
    manifest = manifest
        .replace(&sha256_hex(&old), &sha256_hex(new_data))
        .replace(
            &format!("size = {}", old.len()),
            &format!("size = {}", new_data.len()),
        );
    let sum = format!("{}  MANIFEST.toml\n", sha256_hex(manifest.as_bytes()));
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    for (name, data) in files {
        let data = match name.as_str() {
            "MANIFEST.toml" => manifest.clone().into_bytes(),
            "MANIFEST.toml.sha256" => sum.clone().into_bytes(),
            n if n == victim_entry => new_data.to_vec(),
            _ => data,
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, &name, data.as_slice()).unwrap();
    }
    builder.finish().unwrap();
}

#[tokio::test]
async fn a_consistent_but_forged_bundle_is_rejected_by_the_catalogue() {
    let (src, cat) = installed().await;
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("b.tar");
    bundle(src.path(), &cat, &tar_path);
    let forged = work.path().join("forged.tar");
    forge(
        &tar_path,
        &forged,
        "vad/test_silero.onnx",
        b"not a model at all",
    );
    let target = tempfile::tempdir().unwrap();
    let err = import_bundle(&forged, target.path(), &cat, &ImportOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("vad/test_silero.onnx") && msg.contains("catalogue"),
        "{msg}"
    );
    assert!(!target.path().join("vad/test_silero.onnx").exists());
}

/// A tar with one entry whose raw header name is `name` (bypassing the tar crate's checks).
fn tar_with_raw_entry(out: &Path, name: &[u8], kind: tar::EntryType, link: Option<&str>) {
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(if link.is_some() { 0 } else { 4 });
    h.set_mode(0o644);
    h.set_entry_type(kind);
    if let Some(target) = link {
        h.set_link_name(target).unwrap();
    }
    h.set_cksum();
    let data: &[u8] = if link.is_some() { b"" } else { b"evil" };
    builder.append(&h, data).unwrap();
    builder.finish().unwrap();
}

#[test]
fn path_traversal_links_and_absolute_paths_in_a_bundle_are_rejected() {
    let cat = test_catalogue();
    let work = tempfile::tempdir().unwrap();
    let cases: [(&[u8], tar::EntryType, Option<&str>, &str); 4] = [
        (
            b"files/../../escaped",
            tar::EntryType::Regular,
            None,
            "inside the models directory",
        ),
        (
            b"/etc/cron.d/x",
            tar::EntryType::Regular,
            None,
            "not under files/",
        ),
        (
            b"files/vad/link",
            tar::EntryType::Symlink,
            Some("/etc/passwd"),
            "regular files only",
        ),
        (
            b"files/vad/hard",
            tar::EntryType::Link,
            Some("/etc/shadow"),
            "regular files only",
        ),
    ];
    for (i, (name, kind, link, why)) in cases.into_iter().enumerate() {
        let tar_path = work.path().join(format!("evil{i}.tar"));
        tar_with_raw_entry(&tar_path, name, kind, link);
        let target = work.path().join(format!("models{i}"));
        let err = import_bundle(&tar_path, &target, &cat, &ImportOptions::default()).unwrap_err();
        assert!(matches!(err, BundleError::UnsafeEntry { .. }), "{err}");
        assert!(err.to_string().contains(why), "{err}");
        assert!(!work.path().join("escaped").exists());
    }
}

#[tokio::test]
async fn verify_configured_refuses_corrupt_and_missing_models_with_the_fixing_command() {
    let (dir, cat) = installed().await;
    let model = dir.path().join("llm/stories260K.gguf");
    let voice = dir.path().join("piper/en_US-test-medium.onnx");
    let vad = dir.path().join("vad/test_silero.onnx");
    let mut cache = HashCache::open(dir.path());
    let configured = [
        ("llm.model", model.as_path()),
        ("tts.voice", voice.as_path()),
        ("vad.model", vad.as_path()),
    ];
    verify_configured(&configured, &cat, &mut cache).unwrap();

    // Same size, one byte changed: only the sha256 can tell (the mtime change defeats the cache).
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[4242] ^= 0x20;
    std::fs::write(&model, &bytes).unwrap();
    // A voice without its .onnx.json is not loadable either.
    std::fs::remove_file(dir.path().join("piper/en_US-test-medium.onnx.json")).unwrap();
    let mut cache = HashCache::open(dir.path());
    let err = verify_configured(&configured, &cat, &mut cache).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.problems.len(), 2, "{msg}");
    let d = dir.path().display();
    assert!(msg.contains("sha256 mismatch"), "{msg}");
    assert!(
        msg.contains(&format!(
            "fix: agent download-models --only test.llm --dir {d}"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("en_US-test-medium.onnx.json") && msg.contains("missing"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "fix: agent download-models --only test.voice --dir {d}"
        )),
        "{msg}"
    );

    // A file the catalogue does not know: missing → refused and said so; present → accepted.
    let custom = dir.path().join("llm/my-finetune.gguf");
    let err = verify_configured(&[("llm.model", custom.as_path())], &cat, &mut cache).unwrap_err();
    assert!(
        err.to_string().contains("not in the model catalogue"),
        "{err}"
    );
    std::fs::write(&custom, b"GGUF").unwrap();
    verify_configured(&[("llm.model", custom.as_path())], &cat, &mut cache).unwrap();

    // Running the fixing command's equivalent repairs it.
    let server = TestServer::start().await;
    serve_all(&server);
    let models = cat
        .select(None, &["test.llm".into(), "test.voice".into()], false)
        .unwrap();
    download_all(&Plan::new(dir.path(), &models, Some(&server.base)), &opts())
        .await
        .unwrap();
    verify_configured(&configured, &cat, &mut HashCache::open(dir.path())).unwrap();
}
