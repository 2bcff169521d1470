//! `models::download::download_all` against a real HTTP server on 127.0.0.1 with Range
//! support and injected faults, serving the shared fixture files.

mod models_support;

use enclave::models::catalogue::Catalogue;
use enclave::models::download::{
    download_all, part_path, DownloadError, DownloadOptions, FileError, FileOutcome, Plan,
    ProxySetting,
};
use enclave::models::lock::LockWait;
use enclave::models::progress::ProgressMode;
use models_support::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn opts() -> DownloadOptions {
    DownloadOptions {
        jobs: 3,
        proxy: ProxySetting::Direct,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        retries: 0,
        backoff: Duration::from_millis(10),
        progress: ProgressMode::Quiet,
        lock_wait: LockWait::Fail,
    }
}

fn plan(cat: &Catalogue, dir: &Path, only: &[&str], base: &str) -> Plan {
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let models = cat.select(Some("test"), &only, false).unwrap();
    Plan::new(dir, &models, Some(base))
}

fn single_failure(err: DownloadError) -> FileError {
    match err {
        DownloadError::Files(mut f) if f.len() == 1 => f.remove(0).error,
        other => panic!("expected exactly one failed file, got: {other}"),
    }
}

fn assert_installed(dir: &Path, rel: &str, fixture_rel: &str) {
    let got = std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel} not installed: {e}"));
    assert!(
        got == fixture(fixture_rel),
        "{rel} differs from the fixture"
    );
}

#[tokio::test]
async fn full_download_then_second_run_downloads_nothing() {
    let server = TestServer::start().await;
    serve_all(&server);
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &[], &server.base);
    assert_eq!(plan.files.len(), 4, "profile `test`: 3 models, 4 files");

    let report = download_all(&plan, &opts()).await.unwrap();
    assert!(report.files.iter().all(|f| matches!(
        f.outcome,
        FileOutcome::Downloaded {
            resumed_from: 0,
            ..
        }
    )));
    let expected: u64 = plan.files.iter().map(|f| f.size.unwrap()).sum();
    assert_eq!(report.bytes_downloaded, expected);
    assert_installed(tmp.path(), "vad/test_silero.onnx", "vad/silero_vad.onnx");
    assert_installed(tmp.path(), "llm/stories260K.gguf", "llm/stories260K.gguf");
    assert_installed(
        tmp.path(),
        "piper/en_US-test-medium.onnx.json",
        "piper/en_US-lessac-medium.onnx.json",
    );
    assert!(!part_path(&tmp.path().join("vad/test_silero.onnx")).exists());
    let requests = server.seen().len();
    assert_eq!(requests, 4);

    let again = download_all(&plan, &opts()).await.unwrap();
    assert!(again
        .files
        .iter()
        .all(|f| f.outcome == FileOutcome::AlreadyPresent));
    assert_eq!(again.bytes_downloaded, 0);
    assert_eq!(
        server.seen().len(),
        requests,
        "a second run must not touch the network"
    );
    assert!(
        tmp.path().join(".enclave-hashes.json").is_file(),
        "the hash cache lets the second run skip re-hashing"
    );
}

#[tokio::test]
async fn cut_connection_leaves_a_part_file_that_the_next_run_resumes_with_range() {
    let server = TestServer::start().await;
    let data = fixture("vad/silero_vad.onnx");
    server.route(
        "/fx/vad/silero_vad.onnx",
        data.clone(),
        Behaviour::CutFirstAfter(700_000),
    );
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);
    let dest = tmp.path().join("vad/test_silero.onnx");

    let err = single_failure(download_all(&plan, &opts()).await.unwrap_err());
    assert!(matches!(err, FileError::Network { .. }), "{err}");
    assert!(err.to_string().contains("next run resumes"), "{err}");
    assert!(!dest.exists());
    let kept = std::fs::metadata(part_path(&dest)).unwrap().len();
    assert!(
        kept > 0 && kept < data.len() as u64,
        "part file holds {kept} bytes"
    );

    let report = download_all(&plan, &opts()).await.unwrap();
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            bytes: data.len() as u64 - kept,
            resumed_from: kept
        }
    );
    let hits = server.hits("/fx/vad/silero_vad.onnx");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].range, None);
    assert_eq!(
        hits[1].range.as_deref(),
        Some(format!("bytes={kept}-").as_str())
    );
    assert_installed(tmp.path(), "vad/test_silero.onnx", "vad/silero_vad.onnx");
    assert!(!part_path(&dest).exists());
}

#[tokio::test]
async fn a_retry_in_the_same_run_resumes_after_a_cut() {
    let server = TestServer::start().await;
    server.route(
        "/fx/llm/stories260K.gguf",
        fixture("llm/stories260K.gguf"),
        Behaviour::CutFirstAfter(300_000),
    );
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.llm"], &server.base);
    let report = download_all(
        &plan,
        &DownloadOptions {
            retries: 2,
            ..opts()
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(report.files[0].outcome, FileOutcome::Downloaded { resumed_from, .. } if resumed_from > 0),
        "{:?} {:?}",
        report.files[0].outcome,
        server.seen()
    );
    let hits = server.hits("/fx/llm/stories260K.gguf");
    assert_eq!(hits.len(), 2);
    assert!(hits[1].range.as_deref().unwrap().starts_with("bytes="));
    assert_installed(tmp.path(), "llm/stories260K.gguf", "llm/stories260K.gguf");
}

#[tokio::test]
async fn a_server_that_ignores_range_restarts_from_zero() {
    let server = TestServer::start().await;
    let data = fixture("llm/stories260K.gguf");
    server.route(
        "/fx/llm/stories260K.gguf",
        data.clone(),
        Behaviour::IgnoreRange,
    );
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("llm/stories260K.gguf");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    // A stale .part whose bytes are NOT a prefix of the file: must be discarded, not kept.
    std::fs::write(part_path(&dest), vec![0xAB; 1000]).unwrap();
    let plan = plan(&cat, tmp.path(), &["test.llm"], &server.base);
    let report = download_all(&plan, &opts()).await.unwrap();
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::Downloaded {
            bytes: data.len() as u64,
            resumed_from: 0
        }
    );
    assert_eq!(
        server.hits("/fx/llm/stories260K.gguf")[0].range.as_deref(),
        Some("bytes=1000-")
    );
    assert_installed(tmp.path(), "llm/stories260K.gguf", "llm/stories260K.gguf");
}

#[tokio::test]
async fn wrong_checksum_is_moved_aside_and_never_installed() {
    let server = TestServer::start().await;
    serve_all(&server);
    let text = test_catalogue_text().replace(
        &sha256_hex(&fixture("llm/stories260K.gguf")),
        &"ab".repeat(32),
    );
    let cat = Catalogue::parse("t", &text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.llm"], &server.base);
    let dest = tmp.path().join("llm/stories260K.gguf");
    let err = single_failure(download_all(&plan, &opts()).await.unwrap_err());
    let FileError::ChecksumMismatch {
        kept_at, actual, ..
    } = &err
    else {
        panic!("expected a checksum mismatch, got {err}");
    };
    assert_eq!(actual, &sha256_hex(&fixture("llm/stories260K.gguf")));
    assert!(
        !dest.exists(),
        "a file with the wrong sha256 must not be installed"
    );
    assert!(!part_path(&dest).exists());
    let name = kept_at.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("stories260K.gguf.corrupt-"), "{name}");
    assert!(kept_at.is_file());
    assert!(err.to_string().contains("NOT installed"), "{err}");
}

#[tokio::test]
async fn wrong_size_is_refused() {
    let server = TestServer::start().await;
    serve_all(&server);
    let real = fixture("vad/silero_vad.onnx").len();
    let text = test_catalogue_text().replace(
        &format!("size = {real}\n"),
        &format!("size = {}\n", real - 1),
    );
    let cat = Catalogue::parse("t", &text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);
    let err = single_failure(download_all(&plan, &opts()).await.unwrap_err());
    assert!(
        matches!(err, FileError::SizeMismatch { expected, .. } if expected == real as u64 - 1),
        "{err}"
    );
    assert!(err.to_string().contains(&real.to_string()), "{err}");
    assert!(!tmp.path().join("vad/test_silero.onnx").exists());
}

#[tokio::test]
async fn not_found_is_a_clear_error() {
    let server = TestServer::start().await;
    server.route("/fx/vad/silero_vad.onnx", vec![], Behaviour::NotFound);
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);
    let err = single_failure(download_all(&plan, &opts()).await.unwrap_err());
    assert!(
        matches!(err, FileError::NotFound { status: 404, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}/fx/vad/silero_vad.onnx", server.base)),
        "{msg}"
    );
    assert!(msg.contains("--mirror"), "{msg}");
}

#[tokio::test]
async fn an_html_page_is_not_a_model() {
    for behaviour in [Behaviour::HtmlPage, Behaviour::HtmlBody] {
        let server = TestServer::start().await;
        server.route(
            "/fx/vad/silero_vad.onnx",
            fixture("vad/silero_vad.onnx"),
            behaviour,
        );
        let cat = test_catalogue();
        let tmp = tempfile::tempdir().unwrap();
        let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);
        let err = single_failure(download_all(&plan, &opts()).await.unwrap_err());
        assert!(matches!(err, FileError::Html { .. }), "{err}");
        assert!(err.to_string().contains("HTML page"), "{err}");
        let dest = tmp.path().join("vad/test_silero.onnx");
        assert!(!dest.exists() && !part_path(&dest).exists());
    }
}

#[tokio::test]
async fn a_stalled_server_times_out_after_retries_and_keeps_the_part() {
    let server = TestServer::start().await;
    server.route(
        "/fx/vad/silero_vad.onnx",
        fixture("vad/silero_vad.onnx"),
        Behaviour::StallAfter(4096),
    );
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);
    let o = DownloadOptions {
        read_timeout: Duration::from_millis(300),
        retries: 1,
        ..opts()
    };
    let result = tokio::time::timeout(Duration::from_secs(20), download_all(&plan, &o))
        .await
        .expect("the read timeout must end the download");
    let err = single_failure(result.unwrap_err());
    assert!(
        matches!(err, FileError::Timeout { attempts: 2, .. }),
        "{err}"
    );
    assert_eq!(server.hits("/fx/vad/silero_vad.onnx").len(), 2);
    let part = part_path(&tmp.path().join("vad/test_silero.onnx"));
    assert!(std::fs::metadata(part).unwrap().len() >= 4096);
}

#[tokio::test]
async fn transient_server_errors_are_retried_with_backoff() {
    let server = TestServer::start().await;
    server.route(
        "/fx/vad/silero_vad.onnx",
        fixture("vad/silero_vad.onnx"),
        Behaviour::FailFirst(2),
    );
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);
    let o = DownloadOptions {
        retries: 3,
        ..opts()
    };
    download_all(&plan, &o).await.unwrap();
    assert_eq!(server.hits("/fx/vad/silero_vad.onnx").len(), 3);
    assert_installed(tmp.path(), "vad/test_silero.onnx", "vad/silero_vad.onnx");

    // With fewer retries than failures the 503 is reported.
    let server = TestServer::start().await;
    server.route("/fx/vad/silero_vad.onnx", vec![1], Behaviour::FailFirst(5));
    let tmp = tempfile::tempdir().unwrap();
    let plan = self::plan(&cat, tmp.path(), &["test.vad"], &server.base);
    let err = single_failure(download_all(&plan, &opts()).await.unwrap_err());
    assert!(
        matches!(err, FileError::HttpStatus { status: 503, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn not_enough_disk_space_fails_before_any_request() {
    let server = TestServer::start().await;
    serve_all(&server);
    let real = fixture("vad/silero_vad.onnx").len();
    let text =
        test_catalogue_text().replace(&format!("size = {real}\n"), "size = 4000000000000000\n");
    let cat = Catalogue::parse("t", &text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);
    let err = download_all(&plan, &opts()).await.unwrap_err();
    assert!(matches!(err, DownloadError::DiskSpace { .. }), "{err}");
    assert!(err.to_string().contains("not enough disk space"), "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn a_second_concurrent_run_fails_clearly_or_waits_and_finds_the_file() {
    let server = TestServer::start().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    server.route(
        "/fx/vad/silero_vad.onnx",
        fixture("vad/silero_vad.onnx"),
        Behaviour::Gated(gate.clone()),
    );
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.vad"], &server.base);

    let first = tokio::spawn({
        let plan = plan.clone();
        async move { download_all(&plan, &opts()).await }
    });
    // The first run holds the lock once its request reached the server.
    assert_eq!(server.next_arrival().await, "/fx/vad/silero_vad.onnx");

    let err = download_all(&plan, &opts()).await.unwrap_err();
    assert!(matches!(err, DownloadError::Lock(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("another `agent` process") && msg.contains("pid"),
        "{msg}"
    );

    let waiting = tokio::spawn({
        let plan = plan.clone();
        let o = DownloadOptions {
            lock_wait: LockWait::Wait(Duration::from_secs(30)),
            ..opts()
        };
        async move { download_all(&plan, &o).await }
    });
    gate.notify_one();
    let first = first.await.unwrap().unwrap();
    let second = waiting.await.unwrap().unwrap();
    assert!(matches!(
        first.files[0].outcome,
        FileOutcome::Downloaded { .. }
    ));
    assert_eq!(second.files[0].outcome, FileOutcome::AlreadyPresent);
    assert_eq!(
        server.hits("/fx/vad/silero_vad.onnx").len(),
        1,
        "one download only"
    );
    assert_installed(tmp.path(), "vad/test_silero.onnx", "vad/silero_vad.onnx");
}

#[tokio::test]
async fn a_corrupt_installed_file_is_moved_aside_and_fetched_again() {
    let server = TestServer::start().await;
    serve_all(&server);
    let cat = test_catalogue();
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(&cat, tmp.path(), &["test.llm"], &server.base);
    download_all(&plan, &opts()).await.unwrap();
    let dest = tmp.path().join("llm/stories260K.gguf");
    let mut bytes = std::fs::read(&dest).unwrap();
    bytes[1000] ^= 0xFF;
    std::fs::write(&dest, &bytes).unwrap();

    let report = download_all(&plan, &opts()).await.unwrap();
    assert!(matches!(
        report.files[0].outcome,
        FileOutcome::Downloaded { .. }
    ));
    assert_installed(tmp.path(), "llm/stories260K.gguf", "llm/stories260K.gguf");
    let aside: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(
        aside.len(),
        1,
        "the corrupt file is kept aside for inspection"
    );
}

#[tokio::test]
async fn downloads_go_through_an_explicit_http_proxy() {
    // The test server acts as the proxy: it receives absolute-form requests for a host that
    // does not resolve, so success proves the proxy was used.
    let server = TestServer::start().await;
    serve_all(&server);
    let text = test_catalogue_text().replace("https://models.invalid", "http://models.invalid");
    let cat = Catalogue::parse("t", &text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let models = cat.select(None, &["test.vad".to_string()], false).unwrap();
    let plan = Plan::new(tmp.path(), &models, None);
    assert!(plan.files[0].url.starts_with("http://models.invalid/"));
    let o = DownloadOptions {
        proxy: ProxySetting::Url(server.base.clone()),
        ..opts()
    };
    download_all(&plan, &o).await.unwrap();
    assert_eq!(server.hits("/fx/vad/silero_vad.onnx").len(), 1);
    assert_installed(tmp.path(), "vad/test_silero.onnx", "vad/silero_vad.onnx");
}
