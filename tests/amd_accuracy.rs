//! Answering-machine detection accuracy on the fixed subset of the benchmark set
//! (`enclave::amd::set::test_subset`: human answers of one to four words in clean, rumble,
//! babble and white noise, "Yes … speaking … hello" word by word, voicemail greetings with and
//! without a beep, IVR menus), spoken by the real Piper voice of the real-models kit, through
//! the 8 kHz G.711 μ-law path, replayed as a call runs it (real Silero VAD, real Whisper base
//! transcripts). `agent bench amd` runs the whole set and prints the numbers.
//!
//! Never skips: without the kit it fails with the command that installs it.

use enclave::amd::set::{self, Truth, RATE};
use enclave::amd::AmdParams;
use enclave::asr::AsrEngine;
use enclave::config::Config;
use enclave::vad::{Endpointer, SileroModel};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

fn kit_file(rel: &str) -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_REAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/enclave/real")
        });
    let path = dir.join(rel);
    assert!(
        path.is_file(),
        "{} is missing from the real-models kit; run: bash scripts/real-models.sh",
        path.display()
    );
    path
}

fn trim(samples: &[f32]) -> Vec<f32> {
    let loud = |s: &f32| s.abs() > 0.003;
    let first = samples
        .iter()
        .position(loud)
        .unwrap_or(0)
        .saturating_sub(320);
    let last = samples
        .iter()
        .rposition(loud)
        .map_or(samples.len(), |l| (l + 320).min(samples.len()));
    samples[first..last.max(first)].to_vec()
}

#[test]
fn the_fixed_subset_is_classified_with_no_human_called_a_machine() {
    let config = Config::default();
    let silero = SileroModel::load(&kit_file("vad/silero_vad.onnx"), 1).expect("Silero");
    let mut asr_cfg = config.asr.clone();
    asr_cfg.language = "en".into();
    asr_cfg.beam_size = 1;
    asr_cfg.best_of = 1;
    let asr = AsrEngine::load_path(
        &kit_file("whisper/ggml-base-ct2.bin"),
        &asr_cfg,
        Some(Arc::clone(&silero)),
    )
    .expect("Whisper base");
    let voice = kit_file("tts/en_US-joe-medium.onnx");
    let tts = enclave::tts::setup::engine(&config, &voice.to_string_lossy(), None, None)
        .expect("Piper voice");

    let specs = set::test_subset();
    let mut spoken: HashMap<String, Vec<f32>> = HashMap::new();
    for text in set::texts(&specs) {
        let f = tts.synthesize(text).expect("synthesis");
        let f = enclave::audio::resample(&f, tts.sample_rate(), RATE).unwrap();
        spoken.insert(text.to_string(), trim(&f));
    }
    let mut speak =
        |t: &str| -> anyhow::Result<Vec<f32>> { Ok(spoken.get(t).cloned().expect("synthesised")) };
    let params = AmdParams::from_config(&config.amd);
    let mut vad_cfg = config.vad.clone();
    vad_cfg.trailing_silence_ms = config.conversation.end_of_turn_short_ms;
    let opts = asr.default_options();
    let mut wrong = Vec::new();
    let mut lines = Vec::new();
    let (mut humans_as_machines, mut machines_right, mut machines) = (0, 0, 0);
    for (i, spec) in specs.iter().enumerate() {
        let composed = set::compose(spec, &mut speak, i as u64 + 1).unwrap();
        let audio = set::telephone(&composed.audio, RATE).unwrap();
        let mut vad = Endpointer::new(&vad_cfg, Some(&silero)).unwrap();
        let mut transcribe =
            |a: &[f32]| -> anyhow::Result<String> { Ok(asr.transcribe_blocking(a, &opts)?.text) };
        let r = set::replay(
            &spec.name,
            spec.truth,
            &audio,
            &params,
            &mut vad,
            config.vad.threshold,
            Some(&mut transcribe),
        )
        .unwrap();
        let said = r.decision.as_ref().map_or("none".into(), |d| {
            format!(
                "{} ({}, {} ms)",
                d.verdict.as_str(),
                d.reason,
                d.at.as_millis()
            )
        });
        lines.push(format!("{}: {said} {:?}", spec.name, r.transcripts));
        if !r.correct() {
            wrong.push(format!("{}: {said}", spec.name));
        }
        match spec.truth {
            Truth::Human => {
                if r.decision.as_ref().is_some_and(|d| d.is_machine()) {
                    humans_as_machines += 1;
                }
            }
            Truth::Machine => {
                machines += 1;
                if r.correct() {
                    machines_right += 1;
                }
            }
        }
    }
    let all = lines.join("\n");
    assert_eq!(
        humans_as_machines, 0,
        "no person is called a machine:\n{all}"
    );
    assert!(
        machines_right + 1 >= machines,
        "at most one machine missed ({machines_right}/{machines}):\n{all}"
    );
    assert!(
        wrong.len() <= 1,
        "at least {} of {} right; wrong: {wrong:?}\n{all}",
        specs.len() - 1,
        specs.len()
    );
}
