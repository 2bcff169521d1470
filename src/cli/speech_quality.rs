//! `agent bench quality-asr`: word error rate and speed on real human speech, ours (whisper.cpp)
//! next to faster-whisper on the same weights, the same audio and the same thread count, at
//! 16 kHz and through the telephone path (8 kHz slin, G.711 μ-law).

use super::bench::p50_p95;
use super::read_wav_16k;
use crate::asr::{AsrEngine, DropReason};
use crate::audio::pcm::{f32_slice_to_i16, i16_slice_to_f32};
use crate::audio::resample::{resample, StreamResampler};
use crate::audio::wav::{read_mono, write_i16};
use crate::config::AsrConfig;
use crate::quality::wer::{word_error_rate, WerStats};
use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Arguments of `agent bench quality-asr`.
#[derive(Debug, clap::Args)]
pub struct QualityAsrArgs {
    /// Corpus directory with `corpus.tsv` (`file<TAB>reference`), made by `bash scripts/asr-corpus.sh`
    /// (default `${ENCLAVE_CORPUS_DIR:-~/.cache/enclave/corpus/asr}`).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// whisper.cpp ggml models to measure (default: the real-models kit's
    /// `whisper/ggml-base-ct2.bin`); q8_0/q5_1 files from `scripts/quantize_whisper.py` too.
    #[arg(long = "model")]
    pub models: Vec<PathBuf>,
    /// faster-whisper (CTranslate2) directory of the same weights (default: the kit's
    /// `whisper/faster-whisper-base`).
    #[arg(long)]
    pub fw_model: Option<PathBuf>,
    /// faster-whisper compute types to run (comma-separated; empty = skip the peer).
    #[arg(long, default_value = "int8,float32", value_delimiter = ',')]
    pub fw_compute: Vec<String>,
    /// Python with faster-whisper installed (default: `${ENCLAVE_VENV:-~/.cache/enclave/venv}/bin/python`).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Audio paths: `16k` (as recorded), `8k` (slin 8 kHz and back up, as our transport does),
    /// `ulaw` (8 kHz through a G.711 μ-law round trip with sox).
    #[arg(long, default_value = "16k,8k,ulaw", value_delimiter = ',')]
    pub paths: Vec<String>,
    /// Beam widths (1 = greedy).
    #[arg(long, default_value = "1,5", value_delimiter = ',')]
    pub beams: Vec<usize>,
    /// `asr.dynamic_audio_ctx` settings to measure (`off`, `on`).
    #[arg(long, default_value = "off,on", value_delimiter = ',')]
    pub dynamic_ctx: Vec<String>,
    /// Threads per transcription, for both engines (comma-separated to compare).
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Timed runs per clip (after one warm-up per configuration).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Switch the repeated-segment rule of the hallucination filter off (to show what it catches).
    #[arg(long)]
    pub no_repeat_filter: bool,
    /// Decode without timestamp tokens (one pass per window; an experiment against the loop).
    #[arg(long)]
    pub no_timestamps: bool,
    /// Print each clip's hypothesis.
    #[arg(long)]
    pub verbose: bool,
    /// Also write the table (markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One clip of the corpus.
struct Clip {
    name: String,
    reference: String,
    seconds: f64,
}

/// One row of the table.
struct Row {
    engine: String,
    threads: usize,
    path: String,
    beam: usize,
    dynamic: &'static str,
    wer: WerStats,
    times_ms: Vec<f64>,
    /// Process CPU time per transcription (all threads): stable on a shared, loaded CPU where
    /// wall time is not.
    cpu_ms: Vec<f64>,
    audio_s: f64,
    repeats_dropped: usize,
    worst: String,
}

impl Row {
    /// One progress line: configuration, WER, p50/p95, RTF.
    fn line(&self) -> String {
        let (p50, p95) = p50_p95(&self.times_ms);
        let (c50, _) = p50_p95(&self.cpu_ms);
        let rtf = self.times_ms.iter().sum::<f64>() / 1000.0 / self.audio_s.max(1e-9);
        format!(
            "{} t{} {} beam {} dyn {}: WER {:.1}% ({}/{}), p50 {p50:.0} ms, p95 {p95:.0} ms, RTF {rtf:.3}, CPU p50 {c50:.0} ms",
            self.engine,
            self.threads,
            self.path,
            self.beam,
            self.dynamic,
            100.0 * self.wer.rate(),
            self.wer.errors(),
            self.wer.reference_words
        )
    }
}

fn env_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
        PathBuf::from(home).join(default)
    })
}

fn real_dir() -> PathBuf {
    env_dir("ENCLAVE_REAL_DIR", ".cache/enclave/real")
}

fn read_corpus(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let tsv = dir.join("corpus.tsv");
    let text = std::fs::read_to_string(&tsv).with_context(|| {
        format!(
            "{}: no ASR corpus; make it with `bash scripts/asr-corpus.sh`",
            tsv.display()
        )
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((file, reference)) = line.split_once('\t') else {
            bail!("{}:{}: expected `file<TAB>reference`", tsv.display(), n + 1);
        };
        out.push((dir.join(file), reference.trim().to_string()));
    }
    if out.is_empty() {
        bail!("{}: no clips", tsv.display());
    }
    Ok(out)
}

/// Spelling that differs without a listener noticing, mapped to one form before the WER (as
/// Whisper's own evaluation normaliser does): integers are written out in words ("10" → "ten",
/// the references spell numbers), "Mr." → "mister". Applied to reference and hypothesis alike.
pub fn canonical_spelling(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric());
            let lower = core.to_lowercase();
            if !core.is_empty() && core.len() <= 6 && core.chars().all(|c| c.is_ascii_digit()) {
                number_words(core.parse().unwrap_or(0))
            } else if lower == "mr" {
                "mister".to_string()
            } else if lower == "mrs" {
                "missus".to_string()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// English words of `n` ("twenty one", "three hundred five"): the TTS normaliser's cardinal,
/// hyphens as spaces (the references are written that way).
fn number_words(n: u32) -> String {
    crate::tts::normalize::en::cardinal(n as u64).replace('-', " ")
}

/// Word error rate after [`canonical_spelling`].
fn wer(reference: &str, hypothesis: &str) -> WerStats {
    word_error_rate(
        &canonical_spelling(reference),
        &canonical_spelling(hypothesis),
    )
}

/// 16 kHz → 8 kHz slin (what the caller's line carries), quantised to 16 bits.
fn to_slin8(audio_16k: &[f32]) -> anyhow::Result<Vec<i16>> {
    Ok(f32_slice_to_i16(&resample(audio_16k, 16_000, 8_000)?))
}

/// 8 kHz slin back to 16 kHz exactly as the transport's inbound side does: 20 ms frames
/// through one streaming resampler, 16-bit samples out (the tail flushed, as the caller's
/// next frames would push it out).
fn transport_upsample(slin8: &[i16]) -> anyhow::Result<Vec<f32>> {
    let mut rs = StreamResampler::new(8_000, 16_000)?;
    let mut out = Vec::new();
    for frame in slin8.chunks(160) {
        rs.process(&i16_slice_to_f32(frame), &mut out);
    }
    rs.flush(&mut out);
    Ok(i16_slice_to_f32(&f32_slice_to_i16(&out)))
}

/// G.711 μ-law round trip of 8 kHz slin with sox.
fn ulaw_round_trip(slin8: &[i16], work: &Path, name: &str) -> anyhow::Result<Vec<i16>> {
    let a = work.join(format!("{name}.slin8.wav"));
    let b = work.join(format!("{name}.ulaw.wav"));
    let c = work.join(format!("{name}.ulaw-back.wav"));
    write_i16(&a, slin8, 8_000, 1)?;
    for (args, what) in [
        (
            vec![
                a.as_os_str(),
                "-e".as_ref(),
                "u-law".as_ref(),
                b.as_os_str(),
            ],
            "encode",
        ),
        (
            vec![
                b.as_os_str(),
                "-e".as_ref(),
                "signed-integer".as_ref(),
                "-b".as_ref(),
                "16".as_ref(),
                c.as_os_str(),
            ],
            "decode",
        ),
    ] {
        // -D: no dither, so the round trip is deterministic (sox dithers by default).
        let status = Command::new("sox")
            .arg("-D")
            .args(&args)
            .status()
            .with_context(|| {
                "cannot run sox for the G.711 μ-law path: install it (`apt-get install sox`)"
            })?;
        if !status.success() {
            bail!("sox failed to {what} μ-law ({status})");
        }
    }
    let clip = read_mono(&c)?;
    Ok(f32_slice_to_i16(&clip.samples))
}

/// Writes each clip through `path` as a 16 kHz WAV (both engines read the same files).
fn prepare_path(
    path: &str,
    corpus: &[(PathBuf, String)],
    work: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (file, _) in corpus {
        let (audio, _) = read_wav_16k(file)?;
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out = match path {
            "16k" => audio,
            "8k" => transport_upsample(&to_slin8(&audio)?)?,
            "ulaw" => transport_upsample(&ulaw_round_trip(&to_slin8(&audio)?, work, &name)?)?,
            other => bail!("unknown audio path `{other}`: use 16k, 8k or ulaw"),
        };
        let dst = work.join(format!("{name}.{path}.wav"));
        write_i16(&dst, &f32_slice_to_i16(&out), 16_000, 1)?;
        files.push(dst);
    }
    Ok(files)
}

/// Runs `agent bench quality-asr`.
pub fn bench_quality_asr(cfg: &AsrConfig, args: QualityAsrArgs) -> anyhow::Result<()> {
    let corpus_dir = args
        .corpus
        .clone()
        .unwrap_or_else(|| env_dir("ENCLAVE_CORPUS_DIR", ".cache/enclave/corpus/asr"));
    let corpus = read_corpus(&corpus_dir)?;
    let models = if args.models.is_empty() {
        vec![real_dir().join("whisper/ggml-base-ct2.bin")]
    } else {
        args.models.clone()
    };
    for m in &models {
        if !m.is_file() {
            bail!(
                "{}: no whisper model; install the real-models kit with `bash scripts/real-models.sh`",
                m.display()
            );
        }
    }
    let work = WorkDir::new()?;
    let mut clips = Vec::new();
    for (file, reference) in &corpus {
        let (audio, _) = read_wav_16k(file)?;
        clips.push(Clip {
            name: file.display().to_string(),
            reference: reference.clone(),
            seconds: audio.len() as f64 / 16_000.0,
        });
    }
    let total_audio: f64 = clips.iter().map(|c| c.seconds).sum();
    let words: usize = clips
        .iter()
        .map(|c| crate::quality::wer::normalize_for_wer(&c.reference).len())
        .sum();
    println!(
        "ASR quality: {} clips of real speech ({total_audio:.1} s, {words} reference words) from {}",
        clips.len(),
        corpus_dir.display()
    );
    let mut path_files = Vec::new();
    for p in &args.paths {
        path_files.push((p.clone(), prepare_path(p, &corpus, work.path())?));
    }
    let mut rows = Vec::new();
    for &threads in &args.threads {
        for model in &models {
            rows.extend(run_ours(cfg, &args, model, threads, &clips, &path_files)?);
        }
        if args.fw_compute.iter().any(|c| !c.is_empty()) {
            rows.extend(run_peer(&args, threads, &clips, &path_files)?);
        }
    }
    let table = render(&rows, total_audio);
    println!("\n{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, &table).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn run_ours(
    cfg: &AsrConfig,
    args: &QualityAsrArgs,
    model: &Path,
    threads: usize,
    clips: &[Clip],
    path_files: &[(String, Vec<PathBuf>)],
) -> anyhow::Result<Vec<Row>> {
    let mut asr = cfg.clone();
    asr.model = model.to_path_buf();
    asr.language = "en".into();
    asr.threads_per_job = threads;
    asr.max_concurrent = 1;
    asr.best_of = 1;
    asr.temperature = 0.0;
    asr.temperature_inc = 0.0;
    asr.vad_trim = false;
    asr.validate()?;
    let engine = AsrEngine::load(&asr, None)?;
    let name = format!(
        "ours {}",
        model.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut rows = Vec::new();
    for (path, files) in path_files {
        let audio: Vec<Vec<f32>> = files
            .iter()
            .map(|f| read_wav_16k(f).map(|(a, _)| a))
            .collect::<anyhow::Result<_>>()?;
        for &beam in &args.beams {
            for dynamic in &args.dynamic_ctx {
                let mut opts = engine.default_options();
                opts.beam_size = beam.max(1);
                opts.no_timestamps = args.no_timestamps;
                opts.dynamic_audio_ctx = match dynamic.as_str() {
                    "on" => true,
                    "off" => false,
                    other => bail!("--dynamic-ctx `{other}`: use on or off"),
                };
                engine.transcribe_blocking(&audio[0], &opts)?; // warm-up
                let mut row = Row {
                    engine: name.clone(),
                    threads,
                    path: path.clone(),
                    beam,
                    dynamic: if opts.dynamic_audio_ctx { "on" } else { "off" },
                    wer: WerStats::default(),
                    times_ms: Vec::new(),
                    cpu_ms: Vec::new(),
                    audio_s: 0.0,
                    repeats_dropped: 0,
                    worst: String::new(),
                };
                let mut worst = -1.0;
                for (clip, a) in clips.iter().zip(&audio) {
                    let mut text = String::new();
                    for _ in 0..args.runs.max(1) {
                        let cpu = process_cpu_ms();
                        let tr = engine.transcribe_blocking(a, &opts)?;
                        row.cpu_ms.push(process_cpu_ms() - cpu);
                        row.times_ms.push(tr.timings.total_ms);
                        row.audio_s += clip.seconds;
                        let repeats: Vec<_> = tr
                            .dropped
                            .iter()
                            .filter(|d| d.reason == DropReason::RepeatedSegment)
                            .collect();
                        row.repeats_dropped += repeats.len();
                        text = tr.text.clone();
                        if args.no_repeat_filter {
                            // What the text would be without the rule: every segment kept or
                            // dropped only for it, in time order.
                            let mut all: Vec<_> = tr
                                .segments
                                .iter()
                                .chain(repeats.iter().map(|d| &d.segment))
                                .collect();
                            all.sort_by(|a, b| a.start.total_cmp(&b.start));
                            text = all
                                .iter()
                                .map(|s| s.text.trim())
                                .collect::<Vec<_>>()
                                .join(" ");
                        }
                    }
                    let w = wer(&clip.reference, &text);
                    if w.rate() > worst {
                        worst = w.rate();
                        row.worst = format!("{}: {}", short(&clip.name), text);
                    }
                    if args.verbose {
                        println!(
                            "  {} {path} beam {beam} dyn {dynamic} {}: WER {:.1}% | {text}",
                            row.engine,
                            short(&clip.name),
                            100.0 * w.rate()
                        );
                    }
                    row.wer = row.wer + w;
                }
                eprintln!("  done: {}", row.line());
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn run_peer(
    args: &QualityAsrArgs,
    threads: usize,
    clips: &[Clip],
    path_files: &[(String, Vec<PathBuf>)],
) -> anyhow::Result<Vec<Row>> {
    let python = args
        .python
        .clone()
        .unwrap_or_else(|| env_dir("ENCLAVE_VENV", ".cache/enclave/venv").join("bin/python"));
    let fw_model = args
        .fw_model
        .clone()
        .unwrap_or_else(|| real_dir().join("whisper/faster-whisper-base"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fw_peer.py");
    let mut rows = Vec::new();
    for compute in args.fw_compute.iter().filter(|c| !c.is_empty()) {
        for (path, files) in path_files {
            for &beam in &args.beams {
                let t = Instant::now();
                let mut child = Command::new(&python)
                    .arg(&script)
                    .args(["--model".as_ref(), fw_model.as_os_str()])
                    .args(["--compute-type", compute])
                    .args(["--threads", &threads.to_string()])
                    .args(["--beam", &beam.to_string()])
                    .args(["--runs", &args.runs.max(1).to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .with_context(|| {
                        format!(
                            "cannot run {} for the faster-whisper peer: `{} -m pip install faster-whisper` (or pass --fw-compute '' to skip it)",
                            python.display(),
                            python.display()
                        )
                    })?;
                {
                    let mut stdin = child.stdin.take().context("peer stdin")?;
                    for f in files {
                        writeln!(stdin, "{}", f.display())?;
                    }
                }
                let mut row = Row {
                    engine: format!("faster-whisper {compute}"),
                    threads,
                    path: path.clone(),
                    beam,
                    dynamic: "-",
                    wer: WerStats::default(),
                    times_ms: Vec::new(),
                    cpu_ms: Vec::new(),
                    audio_s: 0.0,
                    repeats_dropped: 0,
                    worst: String::new(),
                };
                let mut worst = -1.0;
                let stdout = child.stdout.take().context("peer stdout")?;
                let mut n = 0;
                for line in BufReader::new(stdout).lines() {
                    let v: serde_json::Value = serde_json::from_str(&line?)?;
                    let Some(text) = v.get("text").and_then(|t| t.as_str()) else {
                        continue;
                    };
                    let clip = clips
                        .get(n)
                        .context("the peer printed more results than clips")?;
                    n += 1;
                    for ms in v["ms"].as_array().into_iter().flatten() {
                        row.times_ms.push(ms.as_f64().unwrap_or(0.0));
                        row.audio_s += clip.seconds;
                    }
                    for ms in v["cpu_ms"].as_array().into_iter().flatten() {
                        row.cpu_ms.push(ms.as_f64().unwrap_or(0.0));
                    }
                    let w = wer(&clip.reference, text);
                    if w.rate() > worst {
                        worst = w.rate();
                        row.worst = format!("{}: {}", short(&clip.name), text);
                    }
                    if args.verbose {
                        println!(
                            "  {} {path} beam {beam} {}: WER {:.1}% | {text}",
                            row.engine,
                            short(&clip.name),
                            100.0 * w.rate()
                        );
                    }
                    row.wer = row.wer + w;
                }
                let status = child.wait()?;
                if !status.success() || n != clips.len() {
                    bail!(
                        "faster-whisper peer failed ({status}, {n} of {} clips); run it by hand: {} {}",
                        clips.len(),
                        python.display(),
                        script.display()
                    );
                }
                eprintln!(
                    "  done: {} (peer process {:.0} s)",
                    row.line(),
                    t.elapsed().as_secs_f64()
                );
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// CPU time this process has used so far (all threads), milliseconds.
fn process_cpu_ms() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass; no other effects.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// A scratch directory for the prepared audio, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> anyhow::Result<WorkDir> {
        let dir =
            std::env::temp_dir().join(format!("enclave-quality-asr-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(WorkDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn short(name: &str) -> String {
    Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn render(rows: &[Row], total_audio: f64) -> String {
    let mut s = String::new();
    s.push_str(
        "| engine | threads | audio | beam | dyn ctx | WER % | errors/words | p50 ms | p95 ms | RTF | CPU p50 ms | CPU p95 ms | CPU RTF | repeats dropped |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (p50, p95) = p50_p95(&r.times_ms);
        let rtf = r.times_ms.iter().sum::<f64>() / 1000.0 / r.audio_s.max(1e-9);
        let (c50, c95) = p50_p95(&r.cpu_ms);
        let crtf = r.cpu_ms.iter().sum::<f64>() / 1000.0 / r.audio_s.max(1e-9);
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} | {}/{} | {:.0} | {:.0} | {:.3} | {:.0} | {:.0} | {:.3} | {} |\n",
            r.engine,
            r.threads,
            r.path,
            r.beam,
            r.dynamic,
            100.0 * r.wer.rate(),
            r.wer.errors(),
            r.wer.reference_words,
            p50,
            p95,
            rtf,
            c50,
            c95,
            crtf,
            r.repeats_dropped
        ));
    }
    s.push_str(&format!(
        "\n{total_audio:.1} s of audio per configuration; WER after canonical spelling (digits as words, Mr. = mister) on both sides; times are per clip (whole transcription, mel included; ours without the VAD trim, like the peer); wall time on a shared CPU varies with the load, CPU time (the process's, all threads) much less.\n"
    ));
    s.push_str("Worst clip per row:\n");
    for r in rows {
        s.push_str(&format!(
            "  {} t{} {} beam {} dyn {}: {}\n",
            r.engine, r.threads, r.path, r.beam, r.dynamic, r.worst
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_is_canonical_on_both_sides() {
        assert_eq!(
            canonical_spelling("Go forward 10 meters."),
            "Go forward ten meters."
        );
        assert_eq!(canonical_spelling("4 Queen"), "four Queen");
        assert_eq!(number_words(0), "zero");
        assert_eq!(number_words(21), "twenty one");
        assert_eq!(number_words(305), "three hundred five");
        assert_eq!(number_words(12_040), "twelve thousand forty");
        assert_eq!(canonical_spelling("And Mr. John"), "And mister John");
        assert_eq!(wer("ten of clubs", "10 of clubs").errors(), 0);
        assert_eq!(wer("five five", "5 5").errors(), 0);
    }

    #[test]
    fn telephone_path_keeps_length_and_level() {
        let tone: Vec<f32> = (0..16_000)
            .map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16_000.0).sin())
            .collect();
        let back = transport_upsample(&to_slin8(&tone).unwrap()).unwrap();
        assert!(
            (back.len() as i64 - tone.len() as i64).abs() <= 2,
            "{}",
            back.len()
        );
        let rms = |v: &[f32]| (v.iter().map(|s| s * s).sum::<f32>() / v.len() as f32).sqrt();
        let (a, b) = (rms(&tone[800..15_000]), rms(&back[800..15_000]));
        assert!((a - b).abs() < 0.02 * a, "{a} vs {b}");
    }
}
