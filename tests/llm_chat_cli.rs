//! `agent chat` end to end: the real binary, piped stdin, a real model.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn fixtures() -> PathBuf {
    std::env::var_os("ENCLAVE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"))
}

fn synth(name: &str) -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/enclave/synthetic")
        });
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "missing {}: run `bash scripts/synth-models.sh --tiny`",
        p.display()
    );
    p
}

fn chat(args: &[&str], input: &str) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("chat")
        .args(args)
        .env("ENCLAVE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn chat_answers_each_piped_line_with_timings() {
    let model = fixtures().join("llm/stories260K.gguf");
    let (out, err, ok) = chat(
        &[
            "--model",
            model.to_str().unwrap(),
            "--template",
            "qwen2.5",
            "--max-tokens",
            "24",
            "--system",
            "You tell stories.",
            "--show-chunks",
        ],
        "Once upon a time\n\nThe dog\n",
    );
    assert!(ok, "stderr: {err}");
    assert_eq!(out.matches("agent> ").count(), 2, "{out}");
    assert_eq!(
        out.matches("[timing] round 1: first token").count(),
        2,
        "{out}"
    );
    assert!(out.contains("[chunk]"), "{out}");
    // Turn 2 reuses turn 1's KV cache.
    let reused: Vec<usize> = out
        .lines()
        .filter_map(|l| l.split('(').nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(reused.len(), 2, "{out}");
    assert_eq!(reused[0], 0);
    assert!(reused[1] > 100, "{out}");
}

#[test]
fn chat_shows_forced_tool_calls_and_results() {
    let model = synth("qwen2-tiny.gguf");
    let (out, err, ok) = chat(
        &[
            "--model",
            model.to_str().unwrap(),
            "--tool-choice",
            "required",
            "--max-tokens",
            "80",
        ],
        "What time is it?\n",
    );
    assert!(ok, "stderr: {err}");
    assert!(out.contains("[tool call] "), "{out}");
    assert!(out.contains("[tool result] "), "{out}");
    assert!(
        ["get_time", "end_call", "transfer_to_human"]
            .iter()
            .any(|t| out.contains(&format!("[tool call] {t}("))),
        "{out}"
    );
}

#[test]
fn chat_without_a_model_is_a_clear_error() {
    let (_, err, ok) = chat(&[], "hi\n");
    assert!(!ok);
    assert!(
        err.contains("llm.model") && err.contains("--model"),
        "{err}"
    );
}
