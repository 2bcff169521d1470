//! `deploy/k8s/`: every manifest passes a Kubernetes schema linter (`kubernetes-validate
//! --strict`, offline schemas from PyPI), the linter is shown to reject a bad one, and the
//! manifests agree with the agent: probes on routes the metrics listener serves, ports and the
//! embedded `agent.toml` the agent itself accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL: &str = "bash scripts/setup.sh --deps (or: ~/.cache/enclave/venv/bin/pip install \
                       kubernetes-validate==1.37.0)";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn k8s_dir() -> PathBuf {
    repo().join("deploy/k8s")
}

/// The linter: on PATH or in the project's venv. Missing, the test fails with the install command.
fn linter() -> PathBuf {
    let venv = std::env::var_os("ENCLAVE_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/enclave/venv")));
    let mut candidates: Vec<PathBuf> = venv
        .into_iter()
        .map(|v| v.join("bin/kubernetes-validate"))
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("kubernetes-validate")));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("kubernetes-validate is not installed; install it with {INSTALL}")
        })
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .expect("deploy/k8s exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        // kustomize's own file is not a Kubernetes resource (the linter has no schema for it).
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

fn lint(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(linter())
        .args(["--strict", "--quiet", "-k", "1.30.0"])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn read(name: &str) -> String {
    std::fs::read_to_string(k8s_dir().join(name)).unwrap()
}

#[test]
fn every_manifest_passes_the_schema_linter_and_the_linter_can_fail() {
    let files = manifests();
    assert!(files.len() >= 5, "{files:?}");
    let (ok, out) = lint(&files);
    assert!(
        ok,
        "kubernetes-validate --strict rejected deploy/k8s:\n{out}"
    );
    // The same linter on a misspelt field (a GPU limit under `resource:`) must fail.
    let bad = tempfile::tempdir().unwrap();
    let path = bad.path().join("bad.yaml");
    let broken =
        read("deployment.yaml").replacen("          resources:\n", "          resource:\n", 1);
    assert_ne!(broken, read("deployment.yaml"));
    std::fs::write(&path, broken).unwrap();
    let (ok, out) = lint(&[path]);
    assert!(!ok, "the linter accepted a misspelt field: {out}");
    assert!(out.contains("resource"), "{out}");
}

#[test]
fn kustomization_lists_every_manifest() {
    let k = read("kustomization.yaml");
    for f in manifests() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            k.contains(&format!("- {name}")),
            "kustomization.yaml misses {name}"
        );
    }
}

#[test]
fn the_deployment_asks_for_a_gpu_and_probes_routes_the_agent_serves() {
    let d = read("deployment.yaml");
    assert!(d.contains("nvidia.com/gpu: 1"), "no GPU resource");
    let http = std::fs::read_to_string(repo().join("src/metrics/http.rs")).unwrap();
    for route in ["/livez", "/readyz"] {
        assert!(d.contains(&format!("path: {route}")), "no probe on {route}");
        assert!(
            http.contains(&format!("\"{route}\" =>")),
            "src/metrics/http.rs does not serve {route}"
        );
    }
    // The ports the pod declares are the ones its config listens on.
    let c = read("configmap.yaml");
    assert!(c.contains("listen = \"0.0.0.0:9092\"") && d.contains("containerPort: 9092"));
    assert!(c.contains("listen = \"0.0.0.0:9093\"") && d.contains("containerPort: 9093"));
    let s = read("service.yaml");
    assert!(s.contains("port: 9092") && s.contains("port: 9093"), "{s}");
}

/// The `agent.toml` inside the ConfigMap (its `agent.toml: |` block).
fn embedded_config() -> String {
    let c = read("configmap.yaml");
    let start = c.find("agent.toml: |\n").expect("agent.toml key") + "agent.toml: |\n".len();
    c[start..]
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_embedded_agent_toml_is_accepted_by_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, embedded_config()).unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
        cmd.arg("--config").arg(&path).args(["config", "check"]);
        cmd.env_remove("ENCLAVE_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // Every key is known and in range; the GPU requests are judged by the policy below.
    let (ok, out) = run(&[("ENCLAVE_GPU__MODE", "off")]);
    assert!(ok, "{out}");
    assert!(out.contains("n_gpu_layers = 999"), "{out}");
    if !cfg!(feature = "cuda") {
        // The pod's config on a CPU build is refused, as it must be.
        let (ok, out) = run(&[]);
        assert!(!ok, "{out}");
        assert!(out.contains("scripts/build-cuda.sh"), "{out}");
    }
}
