//! `agent bench tts`: real-time factor of synthesis (p50/p95) against the raw model run and
//! the reference Piper (PyPI `piper-tts`, ONNX Runtime in Python) on the same voice files,
//! and time to first audio with streaming versus all at once.

use super::load_engine;
use crate::tts::Tts;
use anyhow::Context as _;
use std::path::PathBuf;
use std::time::Instant;

const TEXT_EN: &str = "Hello, thank you for calling. Your appointment is on 21.11.2026 at 14:30, \
                       and the balance is $1,250.50. Is there anything else I can help you with today?";
const TEXT_RU: &str = "Здравствуйте, спасибо за звонок. Ваша запись на 21.11.2026 в 14:30, \
                       а баланс составляет 1 250,50 ₽. Могу ли я помочь вам чем-нибудь ещё?";

/// Arguments of `agent bench tts`.
#[derive(Debug, clap::Args)]
pub struct BenchTtsArgs {
    /// Voices (paths or names), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "piper-low-en,piper-medium-en,piper-medium-ru"
    )]
    pub voices: Vec<String>,
    /// Timed runs per measurement.
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Text to speak (default: a three-sentence call-centre reply in the voice's language).
    #[arg(long)]
    pub text: Option<String>,
    /// Python with PyPI `piper-tts` installed, for the reference timing. Default:
    /// $ENCLAVE_PIPER_PYTHON, else /tmp/piper-venv/bin/python when present.
    #[arg(long)]
    pub piper_python: Option<PathBuf>,
    /// Skip the reference Piper timing.
    #[arg(long)]
    pub no_piper: bool,
    /// Calls synthesizing at once for the shared-voice measurement (0 skips it).
    #[arg(long, default_value_t = 4)]
    pub concurrent: usize,
}

fn pct(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

/// One voice's numbers.
struct VoiceBench {
    audio_secs: f64,
    rtf: Vec<f64>,
    raw_rtf: Vec<f64>,
    ttfa_stream: Vec<f64>,
    ttfa_whole: Vec<f64>,
    frontend: Vec<f64>,
}

fn bench_voice(tts: &Tts, text: &str, iterations: usize) -> anyhow::Result<VoiceBench> {
    let rate = tts.sample_rate() as f64;
    // Model inputs of every Piper sentence, for the raw session.run timing.
    let mut ids = Vec::new();
    for s in tts.sentences(text)? {
        ids.extend(tts.phonemize(&s)?.into_iter().map(|p| p.ids));
    }
    let _ = tts.synthesize(text)?; // warm-up
    let mut out = VoiceBench {
        audio_secs: 0.0,
        rtf: vec![],
        raw_rtf: vec![],
        ttfa_stream: vec![],
        ttfa_whole: vec![],
        frontend: vec![],
    };
    for _ in 0..iterations {
        let t = Instant::now();
        let audio = tts.synthesize(text)?;
        let secs = t.elapsed().as_secs_f64();
        out.audio_secs = audio.len() as f64 / rate;
        out.rtf.push(secs / out.audio_secs);
        out.ttfa_whole.push(secs);

        let t = Instant::now();
        let mut samples = 0usize;
        for sentence_ids in &ids {
            samples += tts.voice().infer(sentence_ids, tts.scales(), None)?.len();
        }
        out.raw_rtf
            .push(t.elapsed().as_secs_f64() / (samples as f64 / rate));

        let t = Instant::now();
        let mut stream = tts.synthesize_stream(text)?;
        if let Some(first) = stream.next() {
            first?;
        }
        out.ttfa_stream.push(t.elapsed().as_secs_f64());

        // Our front end alone: split, normalise, espeak-ng, ids.
        let t = Instant::now();
        for s in tts.sentences(text)? {
            tts.phonemize(&s)?;
        }
        out.frontend.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

const PIPER_SCRIPT: &str = r#"
import json, sys, time
from piper import PiperVoice
model, n, text = sys.argv[1], int(sys.argv[2]), sys.stdin.read()
v = PiperVoice.load(model)
list(v.synthesize(text))
rtf = []
for _ in range(n):
    t = time.perf_counter()
    chunks = list(v.synthesize(text))
    dt = time.perf_counter() - t
    secs = sum(len(c.audio_int16_array) for c in chunks) / chunks[0].sample_rate
    rtf.append(dt / secs)
print(json.dumps(rtf))
"#;

fn piper_reference(
    python: &PathBuf,
    model: &std::path::Path,
    text: &str,
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    use std::io::Write;
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(PIPER_SCRIPT)
        .arg(model)
        .arg(n.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!(
            "reference piper failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Runs the benchmark and prints a table.
pub fn bench(config: Option<&std::path::Path>, args: BenchTtsArgs) -> anyhow::Result<()> {
    let mut config = super::super::load_config(config)?;
    config.tts.cache_mb = 0; // a cache would time lookups, not synthesis
    let python = args.piper_python.clone().or_else(|| {
        std::env::var_os("ENCLAVE_PIPER_PYTHON")
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from("/tmp/piper-venv/bin/python")).filter(|p| p.exists()))
    });
    let n = args.iterations.max(1);
    println!(
        "{:<18} {:>6} {:>8} {:>15} {:>15} {:>15} {:>8} {:>17} {:>17}",
        "voice",
        "Hz",
        "audio s",
        "RTF p50/p95",
        "raw RTF p50/95",
        "piper RTF p50/95",
        "ours/pip",
        "TTFA stream p50",
        "TTFA whole p50"
    );
    for name in &args.voices {
        let tts = load_engine(&config, name, None, None)?;
        let text = args.text.clone().unwrap_or_else(|| {
            match tts.voice().language {
                Some(crate::tts::Language::Russian) => TEXT_RU,
                _ => TEXT_EN,
            }
            .to_string()
        });
        let b = bench_voice(&tts, &text, n)?;
        let piper = if args.no_piper {
            Err(anyhow::anyhow!("skipped (--no-piper)"))
        } else {
            match &python {
                Some(py) => {
                    // piper-tts normalises nothing: give it our normalised text, same work.
                    let normalised = tts.sentences(&text)?.join(" ");
                    piper_reference(py, &tts.voice().path, &normalised, n)
                }
                None => Err(anyhow::anyhow!(
                    "no Python with piper-tts (pass --piper-python or set ENCLAVE_PIPER_PYTHON)"
                )),
            }
        };
        let (piper_col, ratio) = match &piper {
            Ok(r) => (
                format!("{:.3}/{:.3}", pct(r, 0.5), pct(r, 0.95)),
                format!("{:.2}", pct(&b.rtf, 0.5) / pct(r, 0.5)),
            ),
            Err(_) => ("-".into(), "-".into()),
        };
        println!(
            "{:<18} {:>6} {:>8.2} {:>15} {:>15} {:>15} {:>8} {:>15.0}ms {:>15.0}ms",
            name,
            tts.sample_rate(),
            b.audio_secs,
            format!("{:.3}/{:.3}", pct(&b.rtf, 0.5), pct(&b.rtf, 0.95)),
            format!("{:.3}/{:.3}", pct(&b.raw_rtf, 0.5), pct(&b.raw_rtf, 0.95)),
            piper_col,
            ratio,
            pct(&b.ttfa_stream, 0.5) * 1e3,
            pct(&b.ttfa_whole, 0.5) * 1e3,
        );
        println!(
            "  front end (split + normalise + espeak-ng + ids) p50 {:.2} ms for the whole text",
            pct(&b.frontend, 0.5) * 1e3
        );
        if let Err(e) = piper {
            println!("  reference piper: {e:#}");
        }
    }
    println!("RTF = synthesis time / audio duration ({n} runs each; synthetic voices: real shapes, random weights).");
    if args.concurrent > 0 {
        if let Some(name) = args.voices.last() {
            concurrent(&config, name, args.text.as_deref(), args.concurrent)?;
        }
    }
    Ok(())
}

/// `calls` threads share one voice (ort's `Session::run` takes `&mut self`, so a session
/// serves one sentence at a time): aggregate RTF for several pool sizes.
fn concurrent(
    config: &crate::config::Config,
    name: &str,
    text: Option<&str>,
    calls: usize,
) -> anyhow::Result<()> {
    println!("{calls} calls at once on {name} (one voice shared; sessions x intra-op threads):");
    for (sessions, threads) in [(1, 0), (1, 1), (2, 1), (calls, 1)] {
        let mut cfg = config.clone();
        cfg.tts.sessions = sessions;
        cfg.tts.intra_threads = threads;
        let tts = load_engine(&cfg, name, None, None)?;
        let text = text.unwrap_or(match tts.voice().language {
            Some(crate::tts::Language::Russian) => TEXT_RU,
            _ => TEXT_EN,
        });
        let _ = tts.synthesize(text)?;
        let start = Instant::now();
        let handles: Vec<_> = (0..calls)
            .map(|_| {
                let tts = tts.clone();
                let text = text.to_string();
                std::thread::spawn(move || tts.synthesize(&text).map(|a| a.len()))
            })
            .collect();
        let mut samples = 0usize;
        for h in handles {
            samples += h
                .join()
                .map_err(|_| anyhow::anyhow!("synthesis thread panicked"))??;
        }
        let wall = start.elapsed().as_secs_f64();
        let audio = samples as f64 / tts.sample_rate() as f64;
        println!(
            "  sessions {sessions} x threads {}: wall {wall:.2} s for {audio:.1} s of audio, aggregate RTF {:.3}",
            if threads == 0 { "all".to_string() } else { threads.to_string() },
            wall / audio
        );
    }
    Ok(())
}
