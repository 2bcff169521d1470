//! `agent bench turn`: end-of-turn decision delay and premature cuts, today's silence +
//! punctuation rule next to smart-turn, on a pause set spoken by a real Piper voice plus
//! jfk.wav (see `crate::sim::turn_bench`).

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::asr::AsrEngine;
use crate::conversation::turn_taking::TurnTakingConfig;
use crate::sim::turn_bench::{
    evaluate, join_fragments, summarise, ClipResult, Decider, PauseClip, Rule, RuleSummary, Timing,
    PAUSES_MS, PAUSE_SET, RATE,
};
use crate::vad::{EndOfTurnModel, SileroModel, SmartTurn, SmartTurnOptions};

/// Arguments of `agent bench turn`.
#[derive(Debug, clap::Args)]
pub struct BenchTurnArgs {
    /// Piper voice that speaks the pause set (default: the real kit's en_US-joe-medium).
    #[arg(long)]
    pub voice: Option<PathBuf>,
    /// Whisper model for the punctuation rule (default: the real kit's Whisper base).
    #[arg(long)]
    pub asr_model: Option<PathBuf>,
    /// smart-turn ONNX model (default: the real kit's smart-turn-v3.2-cpu.onnx).
    #[arg(long)]
    pub smart_turn: Option<PathBuf>,
    /// Silero VAD model (default: the real kit's, else `[vad] silero_model`).
    #[arg(long)]
    pub silero: Option<PathBuf>,
    /// Extra WAV clips of one turn each (16 kHz after resampling); default: jfk.wav from
    /// the shared fixtures when present.
    #[arg(long)]
    pub wav: Vec<PathBuf>,
    /// Passes over the pause set, each with the pauses shifted (more clips, other lengths).
    #[arg(long, default_value_t = 2)]
    pub variants: usize,
    /// smart-turn thresholds (each makes its own rules; the model runs once per pause).
    #[arg(long, value_delimiter = ',', default_value = "0.5")]
    pub threshold: Vec<f32>,
    /// Short pauses (ms) at which smart-turn runs.
    #[arg(long, value_delimiter = ',', default_value = "160,200")]
    pub smart_short_ms: Vec<u32>,
    /// Fallback silences (ms) when smart-turn says "not finished".
    #[arg(long, value_delimiter = ',', default_value = "600,1500")]
    pub smart_long_ms: Vec<u32>,
    /// Medium silences (ms) of the combined rule (`--words`): when only one of smart-turn and
    /// the punctuation says finished; each below a long silence adds a rule.
    #[arg(long, value_delimiter = ',')]
    pub smart_medium_ms: Vec<u32>,
    /// With `--words`: also the rules whose smart-turn "finished" needs the transcript to end
    /// a sentence to end the turn at the short pause.
    #[arg(long)]
    pub require_punctuation: bool,
    /// Silence (ms) after which the VAD reports the utterance and the models start, as
    /// `[conversation] end_of_turn_transcribe_ms` (0 = at the short pause): the decision is
    /// then due at the later of the short pause and the report plus the models' compute.
    #[arg(long, default_value_t = 120)]
    pub transcribe_ms: u32,
    /// Compute time that delays a decision: `wall` (this box, load included) or `cpu`
    /// (process CPU time of the model call: load-independent).
    #[arg(long, default_value = "wall", value_parser = ["wall", "cpu"])]
    pub timing: String,
    /// Decision → the answer's first audio (ms: LLM first chunk + TTS first audio), for the
    /// "heard" cut rate: an early answer the caller talks over before then is retracted
    /// unheard.
    #[arg(long, default_value_t = 600)]
    pub answer_ms: u32,
    /// Today's rule: short/long silence (ms).
    #[arg(long, value_delimiter = ',', default_value = "300,600")]
    pub silence_ms: Vec<u32>,
    /// Print every decision.
    #[arg(long)]
    pub verbose: bool,
    /// Leave out the Whisper punctuation rule (it costs a transcription per pause).
    #[arg(long)]
    pub no_asr: bool,
    /// Write the pause-set clips as WAV files into this directory (to listen to them).
    #[arg(long)]
    pub save_clips: Option<PathBuf>,
    /// How the pause set's fragments are made: `cut` (each utterance spoken as one sentence,
    /// cut at its thinking points) or `separate` (each fragment synthesised on its own, so it
    /// ends with the voice's own end-of-phrase prosody).
    #[arg(long, default_value = "cut", value_parser = ["cut", "separate"])]
    pub pieces: String,
    /// Low noise (dBFS RMS, e.g. -55) under the whole clip instead of digital silence.
    #[arg(long, allow_negative_numbers = true)]
    pub noise_dbfs: Option<f32>,
    /// Also run smart-turn with the transcript's dangling-word veto (the call's rule; costs
    /// a transcription per pause).
    #[arg(long)]
    pub words: bool,
    /// Write the summaries (and every clip's decisions) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
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

/// Trims leading and trailing near-silence (under -50 dBFS), keeping 20 ms at each side, so
/// the inserted pauses are the pauses heard.
fn trim(samples: &[f32]) -> &[f32] {
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
    &samples[first..last.max(first)]
}

/// RMS of the 10 ms frame starting at `i` (for finding the quietest cut point).
fn frame_rms(samples: &[f32], i: usize) -> f32 {
    let f = &samples[i.min(samples.len())..(i + 160).min(samples.len())];
    if f.is_empty() {
        return f32::MAX;
    }
    (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt()
}

/// Synthesises the pause set: `variants` passes, pauses cycled through [`PAUSES_MS`].
///
/// Each utterance is spoken as ONE sentence (so the fragments keep the prosody of a sentence
/// that goes on, which is what smart-turn listens to), then cut at each thinking point and
/// the pause inserted. A cut point is the quietest 10 ms within ±120 ms of where the words
/// before it end: the duration of those words synthesised alone (Piper's durations hardly
/// depend on what follows).
fn pause_set(
    config: &crate::config::Config,
    voice: &Path,
    variants: usize,
    separate: bool,
    noise_dbfs: Option<f32>,
) -> anyhow::Result<Vec<PauseClip>> {
    let tts = crate::tts::setup::engine(config, &voice.to_string_lossy(), None, None)
        .with_context(|| format!("loading voice {}", voice.display()))?;
    let speak = |text: &str| -> anyhow::Result<Vec<f32>> {
        let f = tts.synthesize(text)?;
        Ok(trim(&crate::audio::resample(&f, tts.sample_rate(), RATE)?).to_vec())
    };
    let mut fragments: Vec<Vec<Vec<f32>>> = Vec::new();
    for utterance in PAUSE_SET {
        if separate {
            let parts: Vec<Vec<f32>> = utterance
                .iter()
                .map(|f| speak(f))
                .collect::<anyhow::Result<_>>()?;
            fragments.push(parts);
            continue;
        }
        let whole = speak(&utterance.join(" "))?;
        let mut cuts = Vec::new();
        for k in 1..utterance.len() {
            let prefix = speak(&utterance[..k].join(" "))?;
            // The prefix alone ends with a little release; aim slightly before its end.
            let guess = prefix.len().saturating_sub(RATE as usize / 50);
            let span = RATE as usize * 120 / 1000;
            let lo = guess
                .saturating_sub(span)
                .max(cuts.last().copied().unwrap_or(0) + 1600);
            let hi = (guess + span).min(whole.len().saturating_sub(1600));
            let cut = (lo..hi.max(lo + 1))
                .step_by(80)
                .min_by(|&a, &b| frame_rms(&whole, a).total_cmp(&frame_rms(&whole, b)))
                .unwrap_or(guess)
                + 80;
            cuts.push(cut.min(whole.len()));
        }
        let mut parts = Vec::new();
        let mut from = 0;
        for &c in &cuts {
            parts.push(whole[from..c].to_vec());
            from = c;
        }
        parts.push(whole[from..].to_vec());
        fragments.push(parts);
    }
    let mut clips = Vec::new();
    for v in 0..variants.max(1) {
        for (i, (utterance, parts)) in PAUSE_SET.iter().zip(&fragments).enumerate() {
            let pauses: Vec<u32> = (0..parts.len().saturating_sub(1))
                .map(|j| PAUSES_MS[(i * 3 + j + v * 5) % PAUSES_MS.len()])
                .collect();
            clips.push(PauseClip {
                name: utterance
                    .iter()
                    .zip(
                        pauses
                            .iter()
                            .map(|p| format!(" …{p}ms… "))
                            .chain([String::new()]),
                    )
                    .map(|(t, p)| format!("{t}{p}"))
                    .collect(),
                audio: with_noise(join_fragments(parts, &pauses, 300, 2500), noise_dbfs, i + v),
                mid_pauses: pauses.len(),
            });
        }
    }
    Ok(clips)
}

/// Adds white noise at `dbfs` RMS (deterministic per `seed`), or nothing.
fn with_noise(mut audio: Vec<f32>, dbfs: Option<f32>, seed: usize) -> Vec<f32> {
    let Some(db) = dbfs else {
        return audio;
    };
    // Uniform noise in [-a, a] has RMS a/√3.
    let a = 10f32.powf(db / 20.0) * 3f32.sqrt();
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed as u64;
    for s in &mut audio {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *s += a * ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0);
    }
    audio
}

/// Runs the benchmark.
pub fn run(config_path: Option<&Path>, args: BenchTurnArgs) -> anyhow::Result<()> {
    let config = super::load_config(config_path)?;
    let real = real_dir();
    let voice = existing(
        args.voice
            .clone()
            .unwrap_or_else(|| real.join("tts/en_US-joe-medium.onnx")),
        "voice",
    )?;
    let asr_path = existing(
        args.asr_model
            .clone()
            .unwrap_or_else(|| real.join("whisper/ggml-base-ct2.bin")),
        "Whisper model",
    )?;
    let st_path = existing(
        args.smart_turn
            .clone()
            .unwrap_or_else(|| real.join("turn/smart-turn-v3.2-cpu.onnx")),
        "smart-turn model",
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

    eprintln!("synthesising the pause set with {} …", voice.display());
    let mut clips = pause_set(
        &config,
        &voice,
        args.variants,
        args.pieces == "separate",
        args.noise_dbfs,
    )?;
    let mut wavs = args.wav.clone();
    if wavs.is_empty() {
        let jfk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/audio/jfk.wav");
        if jfk.is_file() {
            wavs.push(jfk);
        }
    }
    for w in &wavs {
        let clip = crate::audio::wav::read_mono(w)?;
        let mut audio = crate::audio::resample(&clip.samples, clip.sample_rate, RATE)?;
        audio.extend(vec![0.0; 2500 * RATE as usize / 1000]);
        clips.push(PauseClip {
            name: w.display().to_string(),
            audio,
            // jfk.wav: four natural pauses inside one sentence (what the live Asterisk test hit).
            mid_pauses: 4,
        });
    }
    let pauses: usize = clips.iter().map(|c| c.mid_pauses).sum();
    eprintln!("{} clips, {pauses} mid-sentence pauses", clips.len());

    if let Some(dir) = &args.save_clips {
        std::fs::create_dir_all(dir)?;
        for (i, c) in clips.iter().enumerate() {
            crate::audio::wav::write_mono_f32(
                &dir.join(format!("clip{i:02}.wav")),
                &c.audio,
                RATE,
            )?;
        }
    }
    let mut asr_cfg = config.asr.clone();
    asr_cfg.language = "en".into();
    asr_cfg.beam_size = 1;
    asr_cfg.best_of = 1;
    let asr = AsrEngine::load_path(&asr_path, &asr_cfg, Some(Arc::clone(&silero)))?;
    let punct = Decider::punctuation(Arc::clone(&asr), asr.default_options());
    // The threshold is applied per rule (the decider caches the probability).
    let model = SmartTurn::load(&st_path, &SmartTurnOptions::default())?;
    let smart = Decider::model(Arc::clone(&model) as Arc<dyn EndOfTurnModel>);
    let (s_short, s_long) = match args.silence_ms[..] {
        [s, l] => (s, l),
        _ => anyhow::bail!("--silence-ms takes SHORT,LONG"),
    };
    let turn = |short: u32, medium: u32, long: u32, punct: bool| {
        TurnTakingConfig {
            require_punctuation: punct,
            ..TurnTakingConfig::from_ms3(short, medium, long, true)
        }
        .transcribing_after_ms(args.transcribe_ms)
    };
    let threshold0 = args.threshold.first().copied().unwrap_or(0.5);
    let mut rules = vec![Rule {
        turn: turn(s_short, s_long, s_long, false),
        threshold: threshold0,
        decider: Arc::new(Decider::Silence),
    }];
    if !args.no_asr {
        rules.push(Rule {
            turn: turn(s_short, s_long, s_long, false),
            threshold: threshold0,
            decider: Arc::clone(&punct),
        });
    }
    let words = Decider::model_and_words(
        Arc::clone(&model) as Arc<dyn EndOfTurnModel>,
        Arc::clone(&asr),
        asr.default_options(),
    );
    for &threshold in &args.threshold {
        for &short in &args.smart_short_ms {
            for &long in &args.smart_long_ms {
                rules.push(Rule {
                    turn: turn(short, long, long, false),
                    threshold,
                    decider: Arc::clone(&smart),
                });
                if !args.words {
                    continue;
                }
                let mediums = std::iter::once(long).chain(
                    args.smart_medium_ms
                        .iter()
                        .copied()
                        .filter(|&m| m > short && m < long),
                );
                for medium in mediums {
                    let puncts: &[bool] = if args.require_punctuation && medium < long {
                        &[false, true]
                    } else {
                        &[false]
                    };
                    for &punct in puncts {
                        rules.push(Rule {
                            turn: turn(short, medium, long, punct),
                            threshold,
                            decider: Arc::clone(&words),
                        });
                    }
                }
            }
        }
    }
    let timing = if args.timing == "cpu" {
        Timing::Cpu
    } else {
        Timing::Wall
    };

    let mut summaries: Vec<RuleSummary> = Vec::new();
    let mut details = Vec::new();
    for rule in &rules {
        let label = rule.label();
        eprintln!("rule: {label}");
        let results: Vec<ClipResult> = clips
            .iter()
            .map(|c| {
                evaluate(
                    rule,
                    c,
                    &config.vad,
                    &silero,
                    timing,
                    args.answer_ms as f64 / 1000.0,
                )
            })
            .collect::<anyhow::Result<_>>()?;
        if args.verbose {
            for r in &results {
                eprintln!("  {} (end {:.2} s)", r.name, r.true_end_s);
                for d in &r.decisions {
                    eprintln!(
                        "    {:>7.3} s +{:>4.0} ms (cpu {:>4.0}) {}{} {}",
                        d.media_s,
                        d.compute_s * 1000.0,
                        d.cpu_s * 1000.0,
                        if d.premature { "PREMATURE " } else { "" },
                        if d.by_silence { "silence" } else { "model" },
                        d.evidence
                    );
                }
            }
        }
        summaries.push(summarise(&label, &results));
        details.push(serde_json::json!({
            "rule": label,
            "clips": results.iter().map(|r| serde_json::json!({
                "name": r.name,
                "true_end_s": r.true_end_s,
                "decisions": r.decisions.iter().map(|d| serde_json::json!({
                    "media_s": d.media_s, "compute_ms": d.compute_s * 1000.0,
                    "wall_ms": d.wall_s * 1000.0, "cpu_ms": d.cpu_s * 1000.0,
                    "premature": d.premature, "heard": d.heard, "by_silence": d.by_silence, "evidence": d.evidence,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
    }

    println!(
        "timing: {} compute delays each decision, the models starting at {} of silence; \
         heard = early answer audible {} ms after it",
        args.timing,
        if args.transcribe_ms == 0 {
            "the short pause".to_string()
        } else {
            format!("{} ms (or the short pause if sooner)", args.transcribe_ms)
        },
        args.answer_ms
    );
    println!(
        "{:<36} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>7} {:>7} {:>8} {:>7}",
        "rule",
        "p50 ms",
        "p95 ms",
        "med p50",
        "med p95",
        "cut/clip",
        "cut/pause",
        "heard",
        "by sil.",
        "wall ms",
        "cpu ms"
    );
    for s in &summaries {
        println!(
            "{:<36} {:>7.0} {:>7.0} {:>7.0} {:>7.0} {:>8.1}% {:>8.1}% {:>6.1}% {:>7} {:>8.1} {:>7.1}",
            s.rule,
            s.delay_p50_ms,
            s.delay_p95_ms,
            s.media_delay_p50_ms,
            s.media_delay_p95_ms,
            s.premature_clip_rate * 100.0,
            s.premature_pause_rate * 100.0,
            s.heard_pause_rate * 100.0,
            s.ended_by_silence,
            s.compute_mean_ms,
            s.cpu_mean_ms
        );
    }
    println!(
        "{} clips ({} mid-sentence pauses); smart-turn worker: {} steps, mean batch {:.2}",
        clips.len(),
        pauses,
        model.stats().steps_total.get(),
        model.stats().mean_batch()
    );
    if let Some(path) = &args.json {
        let out = serde_json::json!({ "summaries": summaries, "details": details });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
