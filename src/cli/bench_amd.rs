//! `agent bench amd`: answering-machine detection accuracy on a synthesised set (human
//! answers of one to four words, voicemail greetings of 1–20 s with and without a beep, IVR
//! menus) spoken by a real Piper voice, through the 8 kHz G.711 μ-law telephone path, replayed
//! through the detector as a call runs it (Silero VAD, Whisper transcripts arriving as late as
//! they took). Prints the confusion matrix and the decision time after the answer.

use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::amd::set::{self, ClipOutcome, Truth, RATE};
use crate::amd::{AmdParams, Verdict};
use crate::asr::AsrEngine;
use crate::vad::{Endpointer, SileroModel};

/// Arguments of `agent bench amd`.
#[derive(Debug, clap::Args)]
pub struct BenchAmdArgs {
    /// Piper voice that speaks the set (default: the real kit's en_US-joe-medium).
    #[arg(long)]
    pub voice: Option<PathBuf>,
    /// Whisper model for the greeting transcripts (default: the real kit's Whisper base).
    #[arg(long)]
    pub asr_model: Option<PathBuf>,
    /// Silero VAD model (default: the real kit's, else `[vad] silero_model`).
    #[arg(long)]
    pub silero: Option<PathBuf>,
    /// No transcripts: acoustics (greeting length, beep) only.
    #[arg(long)]
    pub no_asr: bool,
    /// Only the fixed subset the test asserts on.
    #[arg(long)]
    pub subset: bool,
    /// Print every clip's verdict.
    #[arg(long)]
    pub verbose: bool,
    /// Write the clips (after the telephone path) as WAV files into this directory.
    #[arg(long)]
    pub save_clips: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Keep the voice's audio of each text here and reuse it on the next run (same voice).
    #[arg(long)]
    pub speech_cache: Option<PathBuf>,
}

fn real_dir() -> PathBuf {
    std::env::var_os("ENCLAVE_REAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/enclave/real")
        })
}

fn existing(path: PathBuf, what: &str) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        path.is_file(),
        "{what} {} not found: install the real models with `bash scripts/real-models.sh` or \
         pass its path",
        path.display()
    );
    Ok(path)
}

/// Trims leading and trailing near-silence (under -50 dBFS), keeping 20 ms at each side.
pub(crate) fn trim(samples: &[f32]) -> Vec<f32> {
    let loud = |s: &f32| s.abs() > 0.003;
    let keep = RATE as usize / 50;
    let first = samples
        .iter()
        .position(loud)
        .unwrap_or(0)
        .saturating_sub(keep);
    let last = samples
        .iter()
        .rposition(loud)
        .map_or(samples.len(), |l| (l + keep).min(samples.len()));
    samples[first..last.max(first)].to_vec()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs the benchmark.
pub fn run(config_path: Option<&Path>, args: BenchAmdArgs) -> anyhow::Result<()> {
    let config = super::load_config(config_path)?;
    let real = real_dir();
    let voice = existing(
        args.voice
            .clone()
            .unwrap_or_else(|| real.join("tts/en_US-joe-medium.onnx")),
        "voice",
    )?;
    let silero_path = args.silero.clone().unwrap_or_else(|| {
        let kit = real.join("vad/silero_vad.onnx");
        if kit.is_file() {
            kit
        } else {
            config.vad.silero_model_path(&config.models.dir)
        }
    });
    let silero = SileroModel::load(&silero_path, 1)?;
    let asr = if args.no_asr {
        None
    } else {
        let path = existing(
            args.asr_model
                .clone()
                .unwrap_or_else(|| real.join("whisper/ggml-base-ct2.bin")),
            "Whisper model",
        )?;
        let mut asr_cfg = config.asr.clone();
        asr_cfg.language = "en".into();
        Some(AsrEngine::load_path(
            &path,
            &asr_cfg,
            Some(Arc::clone(&silero)),
        )?)
    };
    let specs = if args.subset {
        set::test_subset()
    } else {
        set::full_set()
    };
    eprintln!(
        "synthesising {} texts with {} …",
        set::texts(&specs).len(),
        voice.display()
    );
    let tts = crate::tts::setup::engine(&config, &voice.to_string_lossy(), None, None)
        .with_context(|| format!("loading voice {}", voice.display()))?;
    let mut spoken: HashMap<String, Vec<f32>> = HashMap::new();
    if let Some(dir) = &args.speech_cache {
        std::fs::create_dir_all(dir)?;
    }
    for text in set::texts(&specs) {
        let cached = args.speech_cache.as_ref().map(|dir| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (text, voice.to_string_lossy()).hash(&mut h);
            dir.join(format!("{:016x}.wav", h.finish()))
        });
        if let Some(clip) = cached
            .as_ref()
            .and_then(|p| crate::audio::wav::read_mono(p).ok())
        {
            spoken.insert(text.to_string(), clip.samples);
            continue;
        }
        let f = tts.synthesize(text)?;
        let audio = trim(&crate::audio::resample(&f, tts.sample_rate(), RATE)?);
        if let Some(p) = &cached {
            crate::audio::wav::write_mono_f32(p, &audio, RATE)?;
        }
        spoken.insert(text.to_string(), audio);
    }
    let mut speak = |t: &str| -> anyhow::Result<Vec<f32>> {
        spoken
            .get(t)
            .cloned()
            .with_context(|| format!("text not synthesised: {t}"))
    };
    let params = AmdParams::from_config(&config.amd);
    let mut vad_cfg = config.vad.clone();
    // As in a call: the VAD ends an utterance at the short pause (or the early one).
    vad_cfg.trailing_silence_ms =
        crate::conversation::turn_taking::TurnTakingConfig::from_conversation(
            &config.conversation,
            false,
        )
        .vad_trailing_ms();
    if let Some(dir) = &args.save_clips {
        std::fs::create_dir_all(dir)?;
    }
    let mut results: Vec<(ClipOutcome, Option<(f64, f64)>)> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let composed = set::compose(spec, &mut speak, i as u64 + 1)?;
        let audio = set::telephone(&composed.audio, RATE)?;
        if let Some(dir) = &args.save_clips {
            crate::audio::wav::write_mono_f32(&dir.join(format!("amd{i:03}.wav")), &audio, RATE)?;
        }
        let mut vad = Endpointer::new(&vad_cfg, Some(&silero))?;
        let mut transcribe = asr.as_ref().map(|engine| {
            let opts = engine.default_options();
            move |a: &[f32]| -> anyhow::Result<String> {
                Ok(engine.transcribe_blocking(a, &opts)?.text)
            }
        });
        let outcome = set::replay(
            &spec.name,
            spec.truth,
            &audio,
            &params,
            &mut vad,
            config.vad.threshold,
            transcribe
                .as_mut()
                .map(|f| f as &mut dyn FnMut(&[f32]) -> anyhow::Result<String>),
        )?;
        let beep = composed
            .beep
            .map(|(a, b)| (a.as_secs_f64() * 1000.0, b.as_secs_f64() * 1000.0));
        if args.verbose {
            eprintln!(
                "{:<3} {} {:<52} {:>9} {:>7} {}{}",
                i,
                if outcome.correct() { "ok " } else { "BAD" },
                spec.name,
                outcome
                    .decision
                    .as_ref()
                    .map_or("none", |d| d.verdict.as_str()),
                outcome
                    .decision
                    .as_ref()
                    .map_or(String::new(), |d| format!("{} ms", d.at.as_millis())),
                outcome
                    .decision
                    .as_ref()
                    .map_or(String::new(), |d| d.reason.to_string()),
                if outcome.transcripts.is_empty() {
                    String::new()
                } else {
                    format!(" | {:?}", outcome.transcripts)
                }
            );
        }
        results.push((outcome, beep));
    }
    print_summary(&results, &args, asr.is_some())
}

fn print_summary(
    results: &[(ClipOutcome, Option<(f64, f64)>)],
    args: &BenchAmdArgs,
    with_asr: bool,
) -> anyhow::Result<()> {
    let count = |truth: Truth, verdict: &str| {
        results
            .iter()
            .filter(|(r, _)| {
                r.truth == truth
                    && r.decision
                        .as_ref()
                        .map_or("undecided", |d| d.verdict.as_str())
                        == verdict
            })
            .count()
    };
    let humans = results
        .iter()
        .filter(|(r, _)| r.truth == Truth::Human)
        .count();
    let machines = results.len() - humans;
    let correct = results.iter().filter(|(r, _)| r.correct()).count();
    let humans_as_machines = count(Truth::Human, "machine");
    println!(
        "AMD on {} clips ({} human, {} machine), 8 kHz μ-law path, {}",
        results.len(),
        humans,
        machines,
        if with_asr {
            "Silero VAD + Whisper transcripts"
        } else {
            "Silero VAD, no transcripts"
        }
    );
    println!(
        "{:<14} {:>8} {:>8} {:>10}",
        "truth \\ said", "human", "machine", "undecided"
    );
    for (label, truth) in [("human", Truth::Human), ("machine", Truth::Machine)] {
        println!(
            "{:<14} {:>8} {:>8} {:>10}",
            label,
            count(truth, "human"),
            count(truth, "machine"),
            count(truth, "undecided")
        );
    }
    println!(
        "correct {:.1} % ({correct}/{}), humans called machines {:.1} % ({humans_as_machines}/{humans})",
        100.0 * correct as f64 / results.len().max(1) as f64,
        results.len(),
        100.0 * humans_as_machines as f64 / humans.max(1) as f64
    );
    let times = |truth: Truth| {
        let mut t: Vec<f64> = results
            .iter()
            .filter(|(r, _)| r.truth == truth)
            .filter_map(|(r, _)| r.decision.as_ref().map(|d| d.at.as_secs_f64() * 1000.0))
            .collect();
        t.sort_by(f64::total_cmp);
        t
    };
    for (label, truth) in [("human", Truth::Human), ("machine", Truth::Machine)] {
        let t = times(truth);
        println!(
            "decision time after the answer, {label}: p50 {:.0} ms, p95 {:.0} ms",
            percentile(&t, 50.0),
            percentile(&t, 95.0)
        );
    }
    let mut reasons: HashMap<(&str, &str), usize> = HashMap::new();
    for (r, _) in results {
        if let Some(d) = &r.decision {
            *reasons
                .entry((d.verdict.as_str(), d.reason.as_str()))
                .or_default() += 1;
        }
    }
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort();
    println!(
        "reasons: {}",
        reasons
            .iter()
            .map(|((v, r), n)| format!("{v}/{r} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let with_beep: Vec<_> = results.iter().filter(|(_, b)| b.is_some()).collect();
    let heard: Vec<f64> = with_beep
        .iter()
        .filter_map(|(r, b)| {
            let (start, _) = b.expect("filtered");
            r.decision
                .as_ref()
                .and_then(|d| match d.verdict {
                    Verdict::Machine { beep_at: Some(at) } => Some(at),
                    _ => None,
                })
                .map(|at| at.as_secs_f64() * 1000.0 - start)
        })
        .collect();
    let mut after_beep: Vec<f64> = with_beep
        .iter()
        .filter_map(|(r, b)| {
            r.speak_at
                .map(|s| s.as_secs_f64() * 1000.0 - b.expect("filtered").1)
        })
        .collect();
    after_beep.sort_by(f64::total_cmp);
    println!(
        "beeps: {} clips, beep in the verdict {} (start error max {:.0} ms); message starts after the beep's end: p50 {:.0} ms, p95 {:.0} ms, min {:.0} ms ({} cued)",
        with_beep.len(),
        heard.len(),
        heard.iter().map(|e| e.abs()).fold(0.0, f64::max),
        percentile(&after_beep, 50.0),
        percentile(&after_beep, 95.0),
        after_beep.first().copied().unwrap_or(f64::NAN),
        after_beep.len()
    );
    let mut asr: Vec<f64> = results.iter().flat_map(|(r, _)| r.asr_ms.clone()).collect();
    asr.sort_by(f64::total_cmp);
    if !asr.is_empty() {
        println!(
            "transcriptions: {} (p50 {:.0} ms, p95 {:.0} ms wall on this box)",
            asr.len(),
            percentile(&asr, 50.0),
            percentile(&asr, 95.0)
        );
    }
    let wrong: Vec<String> = results
        .iter()
        .filter(|(r, _)| !r.correct())
        .map(|(r, _)| {
            format!(
                "{} → {}",
                r.name,
                r.decision.as_ref().map_or("none".to_string(), |d| format!(
                    "{} ({})",
                    d.verdict.as_str(),
                    d.reason
                ))
            )
        })
        .collect();
    if !wrong.is_empty() {
        println!("wrong:\n  {}", wrong.join("\n  "));
    }
    if let Some(path) = &args.json {
        let clips: Vec<_> = results
            .iter()
            .map(|(r, beep)| {
                serde_json::json!({
                    "name": r.name,
                    "truth": format!("{:?}", r.truth).to_lowercase(),
                    "verdict": r.decision.as_ref().map(|d| d.verdict.as_str()),
                    "reason": r.decision.as_ref().map(|d| d.reason.to_string()),
                    "decided_ms": r.decision.as_ref().map(|d| d.at.as_millis() as u64),
                    "speak_at_ms": r.speak_at.map(|s| s.as_millis() as u64),
                    "beep_ms": beep,
                    "transcripts": r.transcripts,
                    "asr_ms": r.asr_ms,
                })
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&clips)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
