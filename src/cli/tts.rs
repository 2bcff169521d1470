//! `agent say`: text to a WAV file with a Piper voice; `agent bench tts`: synthesis speed.

use crate::audio::resample::StreamResampler;
use crate::config::Config;
use crate::tts::Tts;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `agent say`.
#[derive(Debug, clap::Args)]
pub struct SayArgs {
    /// The text to speak (Russian or English; numbers, dates, money are read out).
    pub text: String,
    /// Voice: a path to a Piper `.onnx` or a voice name. Default: `[tts] voice_ru` for text
    /// with Cyrillic letters, else `voice_en`.
    #[arg(long)]
    pub voice: Option<String>,
    /// Output WAV file (16-bit mono).
    #[arg(long, short = 'o', default_value = "say.wav")]
    pub output: PathBuf,
    /// Resample to this rate (e.g. 8000 for telephony); default: the voice's own rate.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Speaker id of a multi-speaker voice.
    #[arg(long)]
    pub speaker: Option<i64>,
    /// Speaking rate: phoneme durations × this (larger = slower).
    #[arg(long)]
    pub length_scale: Option<f32>,
    /// Print each sentence's normalised text, phonemes and ids.
    #[arg(long)]
    pub phonemes: bool,
    /// Cut a first sentence longer than this at its first clause, so the first audio comes
    /// sooner; 0 synthesises whole sentences.
    #[arg(long, default_value_t = crate::tts::engine::DEFAULT_FIRST_PIECE_CHARS)]
    pub first_piece_chars: usize,
}

/// Loads a voice by path or name with the `[tts]` settings.
pub(super) fn load_engine(
    config: &Config,
    voice: &str,
    speaker: Option<i64>,
    length_scale: Option<f32>,
) -> anyhow::Result<Tts> {
    Ok(crate::tts::setup::engine(
        config,
        voice,
        speaker,
        length_scale,
    )?)
}

/// Speaks the text into a file.
pub fn say(config: Option<&Path>, args: SayArgs) -> anyhow::Result<()> {
    let config = super::load_config(config)?;
    let voice_name = args.voice.clone().unwrap_or_else(|| {
        let cyrillic = args
            .text
            .chars()
            .any(|c| ('\u{400}'..='\u{4ff}').contains(&c));
        if cyrillic {
            config.tts.voice_ru.clone()
        } else {
            config.tts.voice_en.clone()
        }
    });
    let load_start = Instant::now();
    let tts = load_engine(&config, &voice_name, args.speaker, args.length_scale)?
        .with_first_piece_chars(args.first_piece_chars);
    let load_secs = load_start.elapsed().as_secs_f64();
    let voice_rate = tts.sample_rate();
    let out_rate = args.rate.unwrap_or(voice_rate);
    let mut resampler = StreamResampler::new(voice_rate, out_rate)
        .with_context(|| format!("cannot resample {voice_rate} Hz to {out_rate} Hz"))?;

    if args.phonemes {
        for sentence in tts.pieces(&args.text)? {
            println!("text:     {sentence}");
            for part in tts.phonemize(&sentence)? {
                println!("phonemes: {}", part.phonemes);
                println!("ids:      {:?}", part.ids);
                if !part.missing.is_empty() {
                    println!("missing:  {:?}", part.missing);
                }
            }
        }
    }

    let start = Instant::now();
    let mut first_audio = None;
    let mut voice_samples = 0usize;
    let mut out_f32 = Vec::new();
    let mut sentences = 0;
    for chunk in tts.synthesize_stream(&args.text)? {
        let chunk = chunk?;
        first_audio.get_or_insert(start.elapsed().as_secs_f64());
        sentences += 1;
        voice_samples += chunk.samples.len();
        resampler.process(&chunk.samples, &mut out_f32);
    }
    resampler.flush(&mut out_f32);
    let synth_secs = start.elapsed().as_secs_f64();
    // 16 bits only here, at the file.
    crate::audio::wav::write_mono_f32(&args.output, &out_f32, out_rate)?;
    let duration = voice_samples as f64 / voice_rate as f64;
    println!(
        "wrote {} ({} Hz, {:.2} s, {sentences} sentence(s)); voice {} ({} Hz), loaded in {:.2} s",
        args.output.display(),
        out_rate,
        out_f32.len() as f64 / out_rate as f64,
        tts.voice().path.display(),
        voice_rate,
        load_secs
    );
    println!(
        "synthesis {:.3} s, first audio after {:.3} s, RTF {:.3}",
        synth_secs,
        first_audio.unwrap_or(0.0),
        if duration > 0.0 {
            synth_secs / duration
        } else {
            0.0
        }
    );
    Ok(())
}

mod bench;
mod quality;
pub use bench::{bench, BenchTtsArgs};
pub use quality::{bench_quality, BenchQualityTtsArgs};
