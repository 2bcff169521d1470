//! The GPU benchmark's model generator (`scripts/synth_gpu_models.py`, python3 standard library
//! only, run on the GPU box) writes files the real engines load and run: a Whisper file that
//! whisper.cpp transcribes with (it looks tokens up by text, which once crashed it) and a Q4_K
//! Qwen2 GGUF that llama.cpp prefills and decodes. Tiny shapes here; the GPU box makes the
//! production ones with the same code.

use std::path::Path;
use std::process::Command;

fn generate(kind: &str, shape: &str, out: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/synth_gpu_models.py");
    let st = Command::new("python3")
        .arg(script)
        .args([kind, "--shape", shape, "--out"])
        .arg(out)
        .status()
        .expect("python3 is needed (bash scripts/setup.sh --deps installs it)");
    assert!(st.success(), "synth_gpu_models.py {kind} failed");
}

fn jfk() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/audio/jfk.wav");
    assert!(p.is_file(), "fixture missing: {p:?}");
    p
}

#[test]
fn the_whisper_file_transcribes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("whisper-tiny.bin");
    generate("whisper", "tiny", &model);
    let out = Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("transcribe")
        .arg("--model")
        .arg(&model)
        .args(["--language", "en", "--max-tokens", "8"])
        .arg(jfk())
        .env_remove("ENCLAVE_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("terminate called"), "{stderr}");
}

#[test]
fn the_gguf_prefills_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("qwen-tiny.gguf");
    generate("gguf", "tiny", &model);
    let out = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["bench", "llm", "--model"])
        .arg(&model)
        .args([
            "--parallel",
            "1",
            "--prompt-tokens",
            "16",
            "--gen-tokens",
            "4",
            "--reps",
            "1",
        ])
        .env_remove("ENCLAVE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("(2 layers"), "{stdout}");
    assert!(
        stdout.contains("decode, 1 sequence(s): aggregate"),
        "{stdout}"
    );
}
