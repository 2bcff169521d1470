//! `agent say` end to end: the real binary, a synthetic voice, a WAV at the telephone rate.

use std::path::PathBuf;
use std::process::Command;

fn synth_voice(name: &str) -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_SYNTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/enclave/synthetic")
        });
    let p = dir.join(format!("{name}.onnx"));
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/synth-models.sh`",
        p.display()
    );
    p
}

#[test]
fn say_writes_an_8khz_wav_and_reports_rtf() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    let voice = synth_voice("piper-test-ru");
    let run = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args([
            "say",
            "Ваш баланс 1 250,50 ₽. Спасибо за звонок!",
            "--voice",
        ])
        .arg(&voice)
        .arg("-o")
        .arg(&out)
        .args(["--rate", "8000", "--phonemes"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("одна тысяча двести пятьдесят рублей пятьдесят копеек"),
        "{stdout}"
    );
    assert!(stdout.contains("ids:      [1, 0,"), "{stdout}");
    assert!(stdout.contains("RTF"), "{stdout}");
    let reader = hound::WavReader::open(&out).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    let secs = reader.duration() as f64 / 8000.0;
    assert!((1.5..=15.0).contains(&secs), "{secs} s");
}

#[test]
fn say_with_a_missing_voice_fails_with_a_clear_message() {
    let run = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args([
            "say",
            "hello",
            "--voice",
            "no-such-voice",
            "-o",
            "/tmp/never.wav",
        ])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("voice `no-such-voice` not found"),
        "{stderr}"
    );
}

#[test]
fn say_rejects_empty_text() {
    let voice = synth_voice("piper-test-en");
    let run = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["say", "  😀 ", "--voice"])
        .arg(&voice)
        .args(["-o", "/tmp/never.wav"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("nothing to say"));
}
