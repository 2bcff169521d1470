//! `agent bench asr` and `agent bench vad`: p50/p95 and real-time factor of the ears.

use super::{read_wav_16k, synth_dir};
use crate::asr::AsrEngine;
use crate::config::{AsrConfig, VadConfig};
use crate::vad::{silero, Endpointer, SileroModel, WebrtcVad};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `agent bench asr`.
#[derive(Debug, clap::Args)]
pub struct BenchAsrArgs {
    /// Speech to transcribe (16 kHz or any rate; resampled).
    #[arg(long)]
    pub audio: PathBuf,
    /// Whisper models to compare (default: the synthetic tiny and base shapes).
    #[arg(long = "model")]
    pub models: Vec<PathBuf>,
    /// Timed runs per model (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Beam width (1 = greedy).
    #[arg(long, default_value_t = 1)]
    pub beam: usize,
    /// Token cap per segment. Random-weight models never emit end-of-text, so without a cap
    /// they decode 224 tokens per window; ~32 matches what a real model emits for 11 s of speech.
    #[arg(long, default_value_t = 32)]
    pub max_tokens: usize,
    /// Threads per transcription (default: `[asr] threads_per_job`).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Encode only the audio's length (+1 s) instead of a 30 s window (`asr.dynamic_audio_ctx`).
    #[arg(long)]
    pub dynamic_audio_ctx: bool,
    /// Also run this many transcriptions at once through the async API (the worker pool bounds
    /// how many decode together; the rest queue): wall time, latency and queue wait p50/p95.
    #[arg(long, default_value_t = 0)]
    pub concurrent: usize,
    /// Silero model for the VAD trim (omit to decode whole files).
    #[arg(long)]
    pub vad_model: Option<PathBuf>,
}

/// Arguments of `agent bench vad`.
#[derive(Debug, clap::Args)]
pub struct BenchVadArgs {
    /// Audio to analyse (resampled to 16 kHz).
    #[arg(long)]
    pub audio: PathBuf,
    /// Silero ONNX model (default: `[vad] silero_model`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Passes over the audio.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// (p50, p95) of `values` (nearest rank).
pub fn p50_p95(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (rank(0.50), rank(0.95))
}

/// Runs `agent bench asr`.
pub fn bench_asr(cfg: &AsrConfig, args: BenchAsrArgs) -> anyhow::Result<()> {
    let (audio, _) = read_wav_16k(&args.audio)?;
    let seconds = audio.len() as f64 / 16_000.0;
    let models = if args.models.is_empty() {
        vec![
            synth_dir().join("whisper-tiny.bin"),
            synth_dir().join("whisper-base.bin"),
        ]
    } else {
        args.models.clone()
    };
    let silero = match &args.vad_model {
        Some(p) => Some(SileroModel::load(p, 1)?),
        None => None,
    };
    println!(
        "ASR benchmark: {} ({seconds:.2} s), {} runs, beam {}, max_tokens {}, VAD trim {}, dynamic audio_ctx {}",
        args.audio.display(),
        args.runs,
        args.beam,
        args.max_tokens,
        if silero.is_some() { "on" } else { "off" },
        args.dynamic_audio_ctx
    );
    for model in models {
        bench_one_model(cfg, &args, &model, &audio, seconds, silero.clone())?;
    }
    Ok(())
}

fn bench_one_model(
    cfg: &AsrConfig,
    args: &BenchAsrArgs,
    model: &Path,
    audio: &[f32],
    seconds: f64,
    silero: Option<std::sync::Arc<SileroModel>>,
) -> anyhow::Result<()> {
    let mut asr = cfg.clone();
    asr.model = model.to_path_buf();
    asr.language = "en".into();
    asr.beam_size = args.beam.max(1);
    asr.best_of = 1;
    asr.temperature_inc = 0.0;
    asr.max_tokens = args.max_tokens;
    asr.vad_trim = silero.is_some();
    asr.dynamic_audio_ctx = args.dynamic_audio_ctx;
    if let Some(t) = args.threads {
        asr.threads_per_job = t;
    }
    asr.validate()?;
    let t = Instant::now();
    let engine = AsrEngine::load(&asr, silero)?;
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let opts = engine.default_options();
    engine.transcribe_blocking(audio, &opts)?; // warm-up: state allocation, caches
    let (mut total, mut raw, mut mel, mut enc, mut dec, mut trim, mut ours) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..args.runs.max(1) {
        let tr = engine.transcribe_blocking(audio, &opts)?;
        total.push(tr.timings.total_ms);
        mel.push(tr.timings.mel_ms);
        enc.push(tr.timings.encode_ms);
        dec.push(tr.timings.decode_ms);
        trim.push(tr.timings.vad_trim_ms);
        ours.push(tr.timings.total_ms - tr.timings.engine_ms - tr.timings.vad_trim_ms);
        // The same audio the pipeline decoded, through the raw engine call alone.
        let decoded = match tr.speech_range {
            Some((s, e)) => &audio[(s * 16_000.0) as usize..(e * 16_000.0) as usize],
            None => audio,
        };
        raw.push(engine.raw_full_ms(decoded, &opts)?);
    }
    let info = engine.info();
    println!(
        "\n{} ({}, {} layers+{}, state {}, {:.0} MB weights, {} threads): load {load_ms:.0} ms",
        model.display(),
        info.size_name,
        info.hparams.n_audio_layer,
        info.hparams.n_text_layer,
        info.hparams.n_audio_state,
        info.weight_bytes as f64 / 1e6,
        asr.effective_threads_per_job()
    );
    let row = |name: &str, v: &[f64]| {
        let (p50, p95) = p50_p95(v);
        println!(
            "  {name:<26} p50 {p50:8.1} ms  p95 {p95:8.1} ms   RTF p50 {:.3}  p95 {:.3}",
            p50 / 1000.0 / seconds,
            p95 / 1000.0 / seconds
        );
    };
    row("pipeline (transcribe)", &total);
    row("raw state.full", &raw);
    row("  vad trim", &trim);
    row("  mel (+lang detect)", &mel);
    row("  encode", &enc);
    row("  decode", &dec);
    row("  ours (total-full-trim)", &ours);
    let (tp50, _) = p50_p95(&total);
    let (rp50, _) = p50_p95(&raw);
    println!(
        "  pipeline - raw (p50, separate runs, noisy on a shared CPU): {:+.1} ms",
        tp50 - rp50
    );
    if args.concurrent > 0 {
        bench_concurrent(&engine, audio, seconds, args.concurrent)?;
    }
    Ok(())
}

/// `n` transcriptions submitted at once through the async API.
fn bench_concurrent(
    engine: &std::sync::Arc<AsrEngine>,
    audio: &[f32],
    seconds: f64,
    n: usize,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let start = Instant::now();
    let results = rt.block_on(async {
        let calls = (0..n).map(|_| {
            let engine = std::sync::Arc::clone(engine);
            let audio = audio.to_vec();
            let opts = engine.default_options();
            tokio::spawn(async move { engine.transcribe(audio, opts).await })
        });
        futures::future::join_all(calls).await
    });
    let wall = start.elapsed().as_secs_f64();
    let mut latency = Vec::new();
    let mut queue = Vec::new();
    for r in results {
        let tr = r??;
        latency.push(tr.timings.total_ms);
        queue.push(tr.timings.queue_ms);
    }
    let (l50, l95) = p50_p95(&latency);
    let (q50, q95) = p50_p95(&queue);
    println!(
        "  {n} at once (max_concurrent {}): wall {:.0} ms = {:.2} s of audio per s; latency p50 {l50:.0} p95 {l95:.0} ms; queue wait p50 {q50:.0} p95 {q95:.0} ms",
        engine.max_concurrent(),
        wall * 1000.0,
        n as f64 * seconds / wall
    );
    Ok(())
}

/// Runs `agent bench vad`.
pub fn bench_vad(cfg: &VadConfig, args: BenchVadArgs) -> anyhow::Result<()> {
    let (audio, _) = read_wav_16k(&args.audio)?;
    let seconds = audio.len() as f64 / 16_000.0;
    let model_path = args.model.clone().unwrap_or(cfg.silero_model.clone());
    let model = SileroModel::load(&model_path, 1)?;
    println!(
        "VAD benchmark: {} ({seconds:.2} s), {} passes",
        args.audio.display(),
        args.runs
    );
    let runs = args.runs.max(1);
    // Warm-up pass: ONNX Runtime allocates its arenas on the first runs.
    silero::probabilities(&model, &audio)?;

    let mut silero_us = Vec::new();
    let mut silero_pass = Vec::new();
    for _ in 0..runs {
        let mut stream = model.stream();
        let pass = Instant::now();
        for w in audio.chunks_exact(silero::WINDOW) {
            let t = Instant::now();
            stream.process_window(w)?;
            silero_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        silero_pass.push(pass.elapsed().as_secs_f64());
    }
    let mut webrtc_us = Vec::new();
    let mut webrtc_pass = Vec::new();
    for _ in 0..runs {
        let mut v = WebrtcVad::new(cfg.webrtc_mode);
        let pass = Instant::now();
        for f in audio.chunks_exact(320) {
            let t = Instant::now();
            v.is_voice(f)?;
            webrtc_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        webrtc_pass.push(pass.elapsed().as_secs_f64());
    }
    let mut ep_us = Vec::new();
    let mut ep_pass = Vec::new();
    for _ in 0..runs {
        let mut ep = Endpointer::new(cfg, Some(&model))?;
        let pass = Instant::now();
        for f in audio.chunks(320) {
            let t = Instant::now();
            ep.push(f)?;
            ep_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        ep.finish();
        ep_pass.push(pass.elapsed().as_secs_f64());
    }
    let row = |name: &str, per: &[f64], pass: &[f64]| {
        let (p50, p95) = p50_p95(per);
        let (r50, r95) = p50_p95(pass);
        println!(
            "  {name:<34} p50 {p50:8.1} µs  p95 {p95:8.1} µs   RTF p50 {:.5}  p95 {:.5}",
            r50 / seconds,
            r95 / seconds
        );
    };
    row("Silero, per 512-sample window", &silero_us, &silero_pass);
    row("webrtc-vad, per 20 ms frame", &webrtc_us, &webrtc_pass);
    row("Endpointer (Silero), per 20 ms", &ep_us, &ep_pass);

    // ort's Session::run needs &mut: streams share a pool of sessions. 4 streams at once over
    // pools of 1 and 4 sessions show what the lock costs.
    for sessions in [1usize, 4] {
        let pool = SileroModel::load(&model_path, sessions)?;
        silero::probabilities(&pool, &audio)?;
        let start = Instant::now();
        std::thread::scope(|s| -> anyhow::Result<()> {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| silero::probabilities(&pool, &audio)))
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("VAD thread panicked"))??;
            }
            Ok(())
        })?;
        let wall = start.elapsed().as_secs_f64();
        println!(
            "  4 streams at once, {sessions} session(s): wall {:.1} ms for {:.0} s of audio (RTF per stream {:.5})",
            wall * 1000.0,
            4.0 * seconds,
            wall / seconds
        );
    }
    Ok(())
}
