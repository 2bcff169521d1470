//! `agent bench quality-tts`: TTS intelligibility. Every sentence of a call-centre set is
//! spoken by our Piper engine and by the reference `piper` (PyPI `piper-tts`) on the same
//! voice, at the voice's rate and through the telephone path (8 kHz, and a G.711 μ-law round
//! trip with sox), then transcribed by faster-whisper in the same run. Prints WER per
//! category (canonicalised identically for both systems, [`crate::quality::canonical`]) and
//! synthesis time (p50/p95, RTF, ours/piper).

use super::load_engine;
use crate::audio::resample::resample;
use crate::audio::wav;
use crate::quality::{canonical_wer, word_error_rate, WerStats};
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Arguments of `agent bench quality-tts`.
#[derive(Debug, clap::Args)]
pub struct BenchQualityTtsArgs {
    /// Sentence set: `category<TAB>sentence` per line, `#` comments.
    #[arg(long, default_value = "benches/data/tts_sentences.tsv")]
    pub sentences: PathBuf,
    /// Piper voice (path or name). Default: the real-model kit's en_US-joe-medium.
    #[arg(long)]
    pub voice: Option<String>,
    /// Python with PyPI `piper-tts` and `faster-whisper`. Default: $ENCLAVE_PYTHON, else
    /// ~/.cache/enclave/venv/bin/python.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// faster-whisper (CTranslate2) model directory. Default: the kit's faster-whisper-base.
    #[arg(long)]
    pub whisper_model: Option<PathBuf>,
    /// Beam size of the transcriber.
    #[arg(long, default_value_t = 5)]
    pub beam: usize,
    /// CPU threads of the transcriber.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Only the first N sentences (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where the audio and transcripts are kept (default: a fresh directory under /tmp).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Score the transcripts of an earlier run again (its `transcripts.tsv`), without
    /// synthesising or transcribing: for a changed canonicaliser. Prints no timings.
    #[arg(long)]
    pub rescore: Option<PathBuf>,
}

/// One sentence of the set.
#[derive(Debug, Clone)]
struct Sentence {
    category: String,
    text: String,
}

fn read_sentences(path: &Path) -> anyhow::Result<Vec<Sentence>> {
    let body = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the sentence set {} (run from the repository root or pass --sentences)",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for (n, line) in body.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((category, text)) = line.split_once('\t') else {
            bail!(
                "{}:{}: expected `category<TAB>sentence`",
                path.display(),
                n + 1
            );
        };
        out.push(Sentence {
            category: category.trim().to_string(),
            text: text.trim().to_string(),
        });
    }
    if out.is_empty() {
        bail!("{}: no sentences", path.display());
    }
    Ok(out)
}

fn real_dir() -> PathBuf {
    std::env::var_os("ENCLAVE_REAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/enclave/real"))
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
}

fn pct(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

/// Synthesises every sentence with the reference piper: load time, per-sentence seconds.
const PIPER_SCRIPT: &str = r#"
import json, sys, time, wave
t0 = time.perf_counter()
from piper import PiperVoice
t1 = time.perf_counter()
model, out_dir = sys.argv[1], sys.argv[2]
texts = json.load(sys.stdin)
t2 = time.perf_counter()
v = PiperVoice.load(model)
load = time.perf_counter() - t2
list(v.synthesize(texts[0]))  # warm-up, as ours
times = []
for i, text in enumerate(texts):
    t = time.perf_counter()
    chunks = list(v.synthesize(text))
    times.append(time.perf_counter() - t)
    with wave.open(f"{out_dir}/{i:03}.wav", "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(chunks[0].sample_rate)
        for c in chunks:
            w.writeframes(c.audio_int16_bytes)
print(json.dumps({"import_s": t1 - t0, "load_s": load, "times": times}))
"#;

/// Transcribes a list of WAV files with faster-whisper, model loaded once.
const WHISPER_SCRIPT: &str = r#"
import json, sys, time
from faster_whisper import WhisperModel
model_dir, beam, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = json.load(sys.stdin)
m = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
out = []
t = time.perf_counter()
for p in paths:
    segs, _ = m.transcribe(p, language="en", beam_size=beam, condition_on_previous_text=False,
                           without_timestamps=True, vad_filter=False)
    out.append(" ".join(s.text.strip() for s in segs))
print(json.dumps({"texts": out, "secs": time.perf_counter() - t}))
"#;

fn run_python(
    python: &Path,
    script: &str,
    args: &[&str],
    stdin: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    child
        .stdin
        .take()
        .context("stdin of the Python helper")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "{} failed: {}\n(install the peers with `{} -m pip install piper-tts==1.8.0 faster-whisper`)",
            python.display(),
            err.lines().last().unwrap_or(""),
            python.display()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).with_context(|| format!("unexpected helper output: {last:?}"))
}

/// The telephone paths of one 22 kHz file: 8 kHz (our resampler), then μ-law there and back.
fn telephone(src: &Path, out8: &Path, out_ulaw: &Path) -> anyhow::Result<()> {
    let clip = wav::read_mono(src)?;
    let narrow = resample(&clip.samples, clip.sample_rate, 8000)?;
    wav::write_mono_f32(out8, &narrow, 8000)?;
    let ulaw = out_ulaw.with_extension("ul.wav");
    for (from, to, enc) in [
        (out8, ulaw.as_path(), &["-e", "u-law"][..]),
        (
            ulaw.as_path(),
            out_ulaw,
            &["-e", "signed-integer", "-b", "16"][..],
        ),
    ] {
        // -D: no dither, so both systems' audio goes through the exact G.711 mapping.
        let status = Command::new("sox")
            .args(["-q", "-D"])
            .arg(from)
            .args(enc)
            .arg(to)
            .status()
            .context("cannot run sox (install it: `apt-get install sox`)")?;
        if !status.success() {
            bail!("sox failed on {}", from.display());
        }
    }
    let _ = std::fs::remove_file(&ulaw);
    Ok(())
}

const VARIANTS: [&str; 6] = [
    "ours_22k",
    "piper_22k",
    "ours_8k",
    "piper_8k",
    "ours_ulaw",
    "piper_ulaw",
];

/// WER per category, in total (canonical) and in total (plain), per variant.
type Scores = (
    BTreeMap<String, Vec<WerStats>>,
    Vec<WerStats>,
    Vec<WerStats>,
);

/// Per-category and total WER of every variant; writes `transcripts.tsv` into `out` when given.
fn score(sentences: &[Sentence], hyps: &[String], out: Option<&Path>) -> anyhow::Result<Scores> {
    let n = sentences.len();
    let mut table: BTreeMap<String, Vec<WerStats>> = BTreeMap::new();
    let mut total = vec![WerStats::default(); VARIANTS.len()];
    let mut plain = vec![WerStats::default(); VARIANTS.len()];
    let mut log = String::from("variant\tcategory\treference\ttranscript\tcanonical_errors\n");
    for (v, d) in VARIANTS.iter().enumerate() {
        for (i, s) in sentences.iter().enumerate() {
            let hyp = &hyps[v * n + i];
            let w = canonical_wer(&s.text, hyp);
            let row = table
                .entry(s.category.clone())
                .or_insert_with(|| vec![WerStats::default(); VARIANTS.len()]);
            row[v] = row[v] + w;
            total[v] = total[v] + w;
            plain[v] = plain[v] + word_error_rate(&s.text, hyp);
            log.push_str(&format!(
                "{d}\t{}\t{}\t{hyp}\t{}\n",
                s.category,
                s.text,
                w.errors()
            ));
        }
    }
    if let Some(out) = out {
        std::fs::write(out.join("transcripts.tsv"), log)?;
    }
    Ok((table, total, plain))
}

fn print_table(
    sentences: &[Sentence],
    table: &BTreeMap<String, Vec<WerStats>>,
    total: &[WerStats],
    plain: &[WerStats],
) {
    println!(
        "WER % (canonical: numbers, dates, codes, symbols written either way count as the same words)"
    );
    println!(
        "{:<14} {:>3} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "category", "n", "ours 22k", "piper 22k", "ours 8k", "piper 8k", "ours μlaw", "piper μlaw"
    );
    let fmt = |w: &WerStats| format!("{:.1}", w.rate() * 100.0);
    let line = |name: &str, count: usize, row: &[WerStats]| {
        println!(
            "{:<14} {:>3} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            name,
            count,
            fmt(&row[0]),
            fmt(&row[1]),
            fmt(&row[2]),
            fmt(&row[3]),
            fmt(&row[4]),
            fmt(&row[5])
        )
    };
    for (cat, row) in table {
        let count = sentences.iter().filter(|s| &s.category == cat).count();
        line(cat, count, row);
    }
    line("ALL", sentences.len(), total);
    line("ALL (plain)", sentences.len(), plain);
}

/// `--rescore`: the sentences and transcripts of an earlier run, scored again.
fn rescore(path: &Path) -> anyhow::Result<()> {
    let body = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (a run's transcripts.tsv)", path.display()))?;
    let mut by_variant: BTreeMap<String, Vec<(Sentence, String)>> = BTreeMap::new();
    for line in body.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            bail!("{}: bad line {line:?}", path.display());
        }
        by_variant.entry(f[0].to_string()).or_default().push((
            Sentence {
                category: f[1].to_string(),
                text: f[2].to_string(),
            },
            f[3].to_string(),
        ));
    }
    let first = by_variant
        .get(VARIANTS[0])
        .context("no ours_22k rows in the transcripts")?;
    let sentences: Vec<Sentence> = first.iter().map(|(s, _)| s.clone()).collect();
    let mut hyps = Vec::new();
    for v in VARIANTS {
        let rows = by_variant
            .get(v)
            .with_context(|| format!("no {v} rows in the transcripts"))?;
        if rows.len() != sentences.len() {
            bail!("{v}: {} rows for {} sentences", rows.len(), sentences.len());
        }
        hyps.extend(rows.iter().map(|(_, h)| h.clone()));
    }
    let (table, total, plain) = score(&sentences, &hyps, None)?;
    println!(
        "TTS intelligibility, rescored from {} ({} sentences; timings: see the original run)",
        path.display(),
        sentences.len()
    );
    print_table(&sentences, &table, &total, &plain);
    Ok(())
}

/// Runs the benchmark and prints the table.
pub fn bench_quality(config: Option<&Path>, args: BenchQualityTtsArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.rescore {
        return rescore(path);
    }
    let mut config = super::super::load_config(config)?;
    config.tts.cache_mb = 0; // every sentence is synthesised, none looked up
    let mut sentences = read_sentences(&args.sentences)?;
    if let Some(n) = args.limit {
        sentences.truncate(n.max(1));
    }
    let voice = args.voice.clone().unwrap_or_else(|| {
        real_dir()
            .join("tts/en_US-joe-medium.onnx")
            .display()
            .to_string()
    });
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var_os("ENCLAVE_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| home().join(".cache/enclave/venv/bin/python"));
    let whisper = args
        .whisper_model
        .clone()
        .unwrap_or_else(|| real_dir().join("whisper/faster-whisper-base"));
    if !whisper.join("model.bin").is_file() {
        bail!(
            "no faster-whisper model at {} (install the kit: `bash scripts/real-models.sh`, or pass --whisper-model)",
            whisper.display()
        );
    }
    let out = args.out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("enclave-quality-tts-{}", std::process::id()))
    });
    let dirs = [
        "ours_22k",
        "piper_22k",
        "ours_8k",
        "piper_8k",
        "ours_ulaw",
        "piper_ulaw",
    ];
    for d in dirs {
        std::fs::create_dir_all(out.join(d))
            .with_context(|| format!("cannot create {}", out.join(d).display()))?;
    }

    // Ours: load, warm up, then every sentence as the agent would say it (normaliser included).
    let t = Instant::now();
    let tts = load_engine(&config, &voice, None, None)?;
    let our_load = t.elapsed().as_secs_f64();
    let rate = tts.sample_rate();
    let _ = tts.synthesize(&sentences[0].text)?;
    let mut our_times = Vec::new();
    let mut our_audio = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        let t = Instant::now();
        let samples = tts.synthesize(&s.text)?;
        our_times.push(t.elapsed().as_secs_f64());
        our_audio.push(samples.len() as f64 / rate as f64);
        wav::write_mono_f32(&out.join(format!("ours_22k/{i:03}.wav")), &samples, rate)?;
    }

    // The reference piper on the raw sentences (it has no normaliser of its own: espeak-ng
    // reads the digits and symbols, which is what a user of the CLI gets).
    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
    let piper_dir = out.join("piper_22k");
    let piper = run_python(
        &python,
        PIPER_SCRIPT,
        &[
            &tts.voice().path.to_string_lossy(),
            &piper_dir.to_string_lossy(),
        ],
        &serde_json::to_string(&texts)?,
    )?;
    let piper_times: Vec<f64> = serde_json::from_value(piper["times"].clone())?;
    let piper_load = piper["load_s"].as_f64().unwrap_or(f64::NAN);
    let piper_import = piper["import_s"].as_f64().unwrap_or(f64::NAN);
    let mut piper_audio = Vec::new();
    for i in 0..sentences.len() {
        piper_audio.push(wav::read_mono(&piper_dir.join(format!("{i:03}.wav")))?.duration_secs());
    }

    // Telephone paths for both systems, the same code for each.
    let mut paths = Vec::new();
    for sys in ["ours", "piper"] {
        for i in 0..sentences.len() {
            let src = out.join(format!("{sys}_22k/{i:03}.wav"));
            let p8 = out.join(format!("{sys}_8k/{i:03}.wav"));
            let pu = out.join(format!("{sys}_ulaw/{i:03}.wav"));
            telephone(&src, &p8, &pu)?;
        }
    }
    for d in VARIANTS {
        for i in 0..sentences.len() {
            paths.push(out.join(format!("{d}/{i:03}.wav")).display().to_string());
        }
    }
    eprintln!(
        "transcribing {} files with faster-whisper (beam {}, {} threads)…",
        paths.len(),
        args.beam,
        args.threads
    );
    let asr = run_python(
        &python,
        WHISPER_SCRIPT,
        &[
            &whisper.to_string_lossy(),
            &args.beam.to_string(),
            &args.threads.to_string(),
        ],
        &serde_json::to_string(&paths)?,
    )?;
    let hyps: Vec<String> = serde_json::from_value(asr["texts"].clone())?;
    if hyps.len() != paths.len() {
        bail!("{} transcripts for {} files", hyps.len(), paths.len());
    }

    let (table, total, plain) = score(&sentences, &hyps, Some(&out))?;
    println!(
        "TTS intelligibility: {} sentences, voice {}, transcribed by faster-whisper ({}, beam {}, int8)",
        sentences.len(),
        tts.voice().path.display(),
        whisper.display(),
        args.beam
    );
    print_table(&sentences, &table, &total, &plain);
    let rtf = |t: &[f64], a: &[f64]| -> Vec<f64> { t.iter().zip(a).map(|(t, a)| t / a).collect() };
    let (our_rtf, piper_rtf) = (rtf(&our_times, &our_audio), rtf(&piper_times, &piper_audio));
    let our_sum: f64 = our_times.iter().sum();
    let piper_sum: f64 = piper_times.iter().sum();
    println!("synthesis per sentence (warm, cache off):");
    println!(
        "  ours   p50 {:.0} ms  p95 {:.0} ms  RTF p50 {:.3}  total {:.2} s  load {:.2} s",
        pct(&our_times, 0.5) * 1e3,
        pct(&our_times, 0.95) * 1e3,
        pct(&our_rtf, 0.5),
        our_sum,
        our_load
    );
    println!(
        "  piper  p50 {:.0} ms  p95 {:.0} ms  RTF p50 {:.3}  total {:.2} s  load {:.2} s (+ import {:.2} s)",
        pct(&piper_times, 0.5) * 1e3,
        pct(&piper_times, 0.95) * 1e3,
        pct(&piper_rtf, 0.5),
        piper_sum,
        piper_load,
        piper_import
    );
    println!(
        "  ours/piper: total time {:.2}x, RTF p50 {:.2}x",
        our_sum / piper_sum,
        pct(&our_rtf, 0.5) / pct(&piper_rtf, 0.5)
    );
    println!(
        "transcription {:.1} s; audio and transcripts in {}",
        asr["secs"].as_f64().unwrap_or(f64::NAN),
        out.display()
    );
    Ok(())
}
