//! `agent transcribe` and `agent vad`: the speech-recognition side from the command line.
//! Their benchmarks (`agent bench asr|vad`) live in `speech_bench.rs`.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::asr::{AsrEngine, Transcript};
use crate::config::Config;
use crate::vad::{detect_segments, SileroModel, VadBackend};

/// Arguments of `agent transcribe`.
#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// WAV files (any rate, any channel count; resampled to 16 kHz mono).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Whisper ggml model (default: `[asr] model`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// `ru`, `en`, … or `auto` (default: `[asr] language`).
    #[arg(long)]
    pub language: Option<String>,
    /// Beam width, 1 = greedy (default: `[asr] beam_size`).
    #[arg(long)]
    pub beam: Option<usize>,
    /// Initial prompt: domain words, names, spelling.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Maximum tokens per segment (0 = whisper.cpp's default).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Silero model for the VAD trim (default: `[vad] silero_model`).
    #[arg(long)]
    pub vad_model: Option<PathBuf>,
    /// Decode the whole file without the VAD trim.
    #[arg(long)]
    pub no_vad_trim: bool,
    /// One JSON object per file (segments, words, timings) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `agent vad`.
#[derive(Debug, clap::Args)]
pub struct VadArgs {
    /// WAV file (any rate; resampled to 16 kHz mono).
    pub file: PathBuf,
    /// `silero` or `webrtc` (default: `[vad] backend`).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Silero ONNX model (default: `[vad] silero_model`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Speech probability threshold (default: `[vad] threshold`).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `--backend` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    /// Silero VAD (ONNX).
    Silero,
    /// webrtc-vad.
    Webrtc,
}

/// Reads any WAV file as 16 kHz mono f32; returns the samples and the file's own rate.
pub(crate) fn read_wav_16k(path: &Path) -> anyhow::Result<(Vec<f32>, u32)> {
    let clip = crate::audio::wav::read_mono(path)?;
    let rate = clip.sample_rate;
    let samples = if rate == 16_000 {
        clip.samples
    } else {
        crate::audio::resample(&clip.samples, rate, 16_000).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot resample {rate} Hz to 16 kHz: {e}",
                path.display()
            )
        })?
    };
    Ok((samples, rate))
}

/// `${ENCLAVE_SYNTH_DIR:-$HOME/.cache/enclave/synthetic}`.
pub(crate) fn synth_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ENCLAVE_SYNTH_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/enclave/synthetic")
}

/// Loads Silero if the file exists (the ASR trim is optional: without it, whole files are decoded).
fn optional_silero(path: &Path) -> anyhow::Result<Option<Arc<SileroModel>>> {
    if !path.is_file() {
        tracing::warn!(path = %path.display(), "Silero model not found: decoding without the VAD trim");
        return Ok(None);
    }
    Ok(Some(SileroModel::load(path, 1)?))
}

/// Transcribes files.
pub fn transcribe(config: Option<&Path>, args: TranscribeArgs) -> anyhow::Result<()> {
    let cfg: Config = super::load_config(config)?;
    let mut asr = cfg.asr.clone();
    asr.model = args
        .model
        .clone()
        .unwrap_or(cfg.asr.model_path(&cfg.models.dir));
    if let Some(l) = &args.language {
        asr.language = l.clone();
    }
    if let Some(b) = args.beam {
        asr.beam_size = b.max(1);
    }
    if let Some(p) = &args.prompt {
        asr.initial_prompt = p.clone();
    }
    if let Some(t) = args.max_tokens {
        asr.max_tokens = t;
    }
    asr.vad_trim = asr.vad_trim && !args.no_vad_trim;
    asr.validate()?;
    let vad_path = args
        .vad_model
        .clone()
        .unwrap_or(cfg.vad.silero_model_path(&cfg.models.dir));
    let silero = if asr.vad_trim {
        optional_silero(&vad_path)?
    } else {
        None
    };
    let t = std::time::Instant::now();
    let engine = AsrEngine::load(&asr, silero)?;
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let opts = engine.default_options();
    for file in &args.files {
        let (audio, rate) = read_wav_16k(file)?;
        let tr = engine
            .transcribe_blocking(&audio, &opts)
            .with_context(|| format!("transcribing {}", file.display()))?;
        if args.json {
            let v = serde_json::json!({
                "file": file, "input_rate": rate, "model": engine.path(),
                "model_load_ms": load_ms, "rtf": tr.rtf(), "transcript": tr,
            });
            println!("{v}");
        } else {
            print_transcript(file, &tr);
        }
    }
    Ok(())
}

fn print_transcript(file: &Path, tr: &Transcript) {
    println!("{}:", file.display());
    let text = match (tr.text.is_empty(), tr.no_speech) {
        (false, _) => tr.text.as_str(),
        (true, true) => "<no speech found by VAD>",
        (true, false) => "<no text: every segment failed the hallucination filter>",
    };
    println!("  text: {text}");
    println!(
        "  language: {}{}",
        tr.language,
        if tr.language_detected {
            " (detected)"
        } else {
            ""
        }
    );
    let t = &tr.timings;
    println!(
        "  audio {:.2} s, total {:.0} ms, RTF {:.3} (vad trim {:.0} ms, mel {:.0}, encode {:.0}, decode {:.0}, whisper_full {:.0} ms)",
        tr.audio_seconds, t.total_ms, tr.rtf(), t.vad_trim_ms, t.mel_ms, t.encode_ms, t.decode_ms, t.engine_ms
    );
    for s in &tr.segments {
        println!(
            "  [{:7.2} → {:7.2}] p={:.2} {}",
            s.start,
            s.end,
            s.confidence,
            s.text.trim()
        );
    }
    if !tr.dropped.is_empty() {
        println!(
            "  dropped by the hallucination filter: {}",
            tr.dropped.len()
        );
    }
}

/// Prints speech segments.
pub fn vad(config: Option<&Path>, args: VadArgs) -> anyhow::Result<()> {
    let cfg: Config = super::load_config(config)?;
    let mut vad = cfg.vad.clone();
    vad.silero_model = cfg.vad.silero_model_path(&cfg.models.dir);
    if let Some(b) = args.backend {
        vad.backend = match b {
            BackendArg::Silero => VadBackend::Silero,
            BackendArg::Webrtc => VadBackend::Webrtc,
        };
    }
    if let Some(m) = &args.model {
        vad.silero_model = m.clone();
    }
    if let Some(t) = args.threshold {
        vad.threshold = t;
        vad.neg_threshold = vad.neg_threshold.min(t);
    }
    vad.validate()?;
    let silero = match vad.backend {
        VadBackend::Silero => Some(SileroModel::load(&vad.silero_model, 1)?),
        VadBackend::Webrtc => None,
    };
    let (audio, _) = read_wav_16k(&args.file)?;
    let t = std::time::Instant::now();
    let segments = detect_segments(&vad, silero.as_ref(), &audio)?;
    let elapsed = t.elapsed().as_secs_f64();
    let seconds = audio.len() as f64 / 16_000.0;
    if args.json {
        let v = serde_json::json!({
            "file": args.file, "backend": vad.backend, "audio_seconds": seconds,
            "rtf": elapsed / seconds.max(1e-9), "segments": segments,
        });
        println!("{v}");
    } else {
        for s in &segments {
            println!("{:.3}\t{:.3}", s.start, s.end);
        }
        eprintln!(
            "{} segment(s) in {:.2} s of audio; {:?} took {:.1} ms (RTF {:.4})",
            segments.len(),
            seconds,
            vad.backend,
            elapsed * 1000.0,
            elapsed / seconds.max(1e-9)
        );
    }
    Ok(())
}

#[path = "speech_bench.rs"]
mod bench;
pub use bench::{BenchAsrArgs, BenchVadArgs};
#[path = "speech_quality.rs"]
mod quality;
pub use quality::QualityAsrArgs;

/// `agent bench quality-asr`.
pub fn bench_quality_asr(config: Option<&Path>, args: QualityAsrArgs) -> anyhow::Result<()> {
    let cfg: Config = super::load_config(config)?;
    quality::bench_quality_asr(&cfg.asr, args)
}

/// `agent bench asr`.
pub fn bench_asr(config: Option<&Path>, args: BenchAsrArgs) -> anyhow::Result<()> {
    let cfg: Config = super::load_config(config)?;
    bench::bench_asr(&cfg.asr, args)
}

/// `agent bench vad`.
pub fn bench_vad(config: Option<&Path>, args: BenchVadArgs) -> anyhow::Result<()> {
    let cfg: Config = super::load_config(config)?;
    let mut vad = cfg.vad.clone();
    vad.silero_model = cfg.vad.silero_model_path(&cfg.models.dir);
    bench::bench_vad(&vad, args)
}
