//! `agent serve` refuses to start on a missing or corrupt model, naming the command that
//! fixes it, before it loads anything.

use std::process::Command;

fn serve_with(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        config.replace("{dir}", &dir.path().display().to_string()),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("models/whisper")).unwrap();
    // A file with the catalogue's name for Whisper base q5_1, but not its content.
    std::fs::write(
        dir.path().join("models/whisper/ggml-base-q5_1.bin"),
        b"this is not a whisper model",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args([
            "--config",
            path.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("ENCLAVE_CONFIG")
        .output()
        .expect("run agent serve");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_a_corrupt_model_with_the_fixing_command() {
    let (code, stderr) = serve_with(
        "[server]\nhandler = \"conversation\"\n[models]\ndir = \"{dir}/models\"\n\
         [metrics]\nenabled = false\n[records]\nenabled = false\n\
         [llm]\nmodel = \"llm/qwen2.5-1.5b-instruct-q4_k_m.gguf\"\n",
    );
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("asr.model"), "{stderr}");
    assert!(stderr.contains("ggml-base-q5_1.bin"), "{stderr}");
    assert!(
        stderr.contains("agent download-models --only whisper.base-q5_1"),
        "{stderr}"
    );
    // Every problem at once: the missing LLM and voice too.
    assert!(stderr.contains("llm.model"), "{stderr}");
    assert!(stderr.contains("tts.voice_ru"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn verify_configured_checks_what_serve_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[models]\ndir = \"{}/models\"\n[llm]\nmodel = \"llm/qwen2.5-1.5b-instruct-q4_k_m.gguf\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("models/whisper")).unwrap();
    std::fs::write(
        dir.path().join("models/whisper/ggml-base-q5_1.bin"),
        b"not a model",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args([
            "--config",
            path.to_str().unwrap(),
            "models",
            "verify",
            "--configured",
        ])
        .env_remove("ENCLAVE_CONFIG")
        .output()
        .expect("run agent models verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for key in ["asr.model", "vad.silero_model", "llm.model", "tts.voice_ru"] {
        assert!(stderr.contains(key), "{key} not checked: {stderr}");
    }
    assert!(
        stderr.contains("agent download-models --only whisper.base-q5_1"),
        "{stderr}"
    );
}
