//! The real `agent` binary: `download-models` with `--mirror` and `--catalogue` against a
//! local server, then `models list` / `models verify` / `models bundle` / `models import`.

mod models_support;

use models_support::*;
use std::path::Path;
use std::process::{Command, Output};

fn agent(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
    cmd.args(args)
        .env_remove("ENCLAVE_CONFIG")
        .env_remove("ENCLAVE_MODELS_MIRROR")
        .env_remove("ENCLAVE_MODELS__DIR")
        .env("NO_PROXY", "127.0.0.1,localhost");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("cannot run the agent binary")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_ok(args: &[&str], envs: &[(&str, &str)]) -> (String, String) {
    let out = agent(args, envs);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "agent {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_download_models_list_verify_bundle_import() {
    let server = TestServer::start().await;
    serve_all(&server);
    let tmp = tempfile::tempdir().unwrap();
    let catalogue = tmp.path().join("catalogue.toml");
    std::fs::write(&catalogue, test_catalogue_text()).unwrap();
    let dir = tmp.path().join("models");
    let (cat, d) = (catalogue.to_str().unwrap(), dir.to_str().unwrap());

    let base = server.base.clone();
    let (_, stderr) = tokio::task::spawn_blocking({
        let (cat, d, base) = (cat.to_string(), d.to_string(), base.clone());
        move || {
            run_ok(
                &[
                    "download-models",
                    "--catalogue",
                    &cat,
                    "--profile",
                    "test",
                    "--mirror",
                    &base,
                    "--dir",
                    &d,
                    "--progress",
                    "lines",
                    "--jobs",
                    "2",
                ],
                &[],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        stderr.contains("profile `test`: 3 model(s), 4 file(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("4 file(s): 4 downloaded"), "{stderr}");
    assert_eq!(server.seen().len(), 4);
    assert!(
        std::fs::read(dir.join("vad/test_silero.onnx")).unwrap() == fixture("vad/silero_vad.onnx")
    );

    // Second run, mirror from the environment: verifies through the cache, fetches nothing.
    let (_, stderr) = tokio::task::spawn_blocking({
        let (cat, d, base) = (cat.to_string(), d.to_string(), base.clone());
        move || {
            run_ok(
                &[
                    "download-models",
                    "--catalogue",
                    &cat,
                    "--only",
                    "test.vad,test.llm",
                    "--dir",
                    &d,
                ],
                &[("ENCLAVE_MODELS_MIRROR", &base)],
            )
        }
    })
    .await
    .unwrap();
    assert!(
        stderr.contains("0 downloaded") && stderr.contains("2 already installed"),
        "{stderr}"
    );
    assert_eq!(server.seen().len(), 4, "second run must not download");

    let (stdout, _) = run_ok(&["models", "list", "--catalogue", cat, "--dir", d], &[]);
    assert!(
        stdout.contains("test.voice") && stdout.contains("verified (size + sha256"),
        "{stdout}"
    );
    let (stdout, _) = run_ok(&["models", "verify", "--catalogue", cat, "--dir", d], &[]);
    assert!(
        stdout.contains("3 model(s) verified (size + full sha256)"),
        "{stdout}"
    );

    // Bundle on the "connected" side (already downloaded), import on a fresh directory.
    let tar = tmp.path().join("enclave-models.tar");
    let fresh = tmp.path().join("offline");
    let (stdout, _) = tokio::task::spawn_blocking({
        let (cat, d, base, tar) = (cat.to_string(), d.to_string(), base.clone(), tar.clone());
        move || {
            run_ok(
                &[
                    "models",
                    "bundle",
                    "--catalogue",
                    &cat,
                    "--profile",
                    "test",
                    "--dir",
                    &d,
                    "--mirror",
                    &base,
                    "-o",
                    tar.to_str().unwrap(),
                ],
                &[],
            )
        }
    })
    .await
    .unwrap();
    let sha = stdout
        .lines()
        .find_map(|l| l.strip_prefix("manifest sha256: "))
        .unwrap_or_else(|| panic!("no manifest sha256 printed:\n{stdout}"))
        .to_string();
    let (stdout, _) = run_ok(
        &[
            "models",
            "import",
            tar.to_str().unwrap(),
            "--catalogue",
            cat,
            "--dir",
            fresh.to_str().unwrap(),
            "--manifest-sha256",
            &sha,
        ],
        &[],
    );
    assert!(stdout.contains("4 installed"), "{stdout}");

    // The standard proxy variables apply (no --mirror: the catalogue host does not resolve,
    // only the proxy = our server can answer).
    let http_catalogue = tmp.path().join("http-catalogue.toml");
    std::fs::write(
        &http_catalogue,
        test_catalogue_text().replace("https://models.invalid", "http://models.invalid"),
    )
    .unwrap();
    let before = server.seen().len();
    let via_proxy = tmp.path().join("via-proxy");
    tokio::task::spawn_blocking({
        let (cat, d, base) = (
            http_catalogue.to_str().unwrap().to_string(),
            via_proxy.to_str().unwrap().to_string(),
            base.clone(),
        );
        move || {
            run_ok(
                &[
                    "download-models",
                    "--catalogue",
                    &cat,
                    "--only",
                    "test.vad",
                    "--dir",
                    &d,
                ],
                &[("HTTP_PROXY", &base), ("http_proxy", &base)],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(server.seen().len(), before + 1);
    assert!(via_proxy.join("vad/test_silero.onnx").is_file());

    // Corrupt one file: verify fails with the fixing command; so does an unknown model.
    corrupt(&dir.join("llm/stories260K.gguf"));
    let out = agent(&["models", "verify", "--catalogue", cat, "--dir", d], &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.contains("BAD test.llm"), "{stdout}");
    assert!(
        stderr.contains(&format!("agent download-models --only test.llm --dir {d}")),
        "{stderr}"
    );
    let out = agent(
        &[
            "download-models",
            "--catalogue",
            cat,
            "--only",
            "nope",
            "--dir",
            d,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("unknown model `nope`"),
        "{:?}",
        text(&out)
    );
}

fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[100] ^= 0xFF;
    std::fs::write(path, bytes).unwrap();
}
