//! Whisper log-mel features in Rust (the input of smart-turn's Whisper encoder).
//!
//! Numerically this is OpenAI Whisper's `log_mel_spectrogram` (and Hugging Face's
//! `WhisperFeatureExtractor`, which Pipecat vendors for smart-turn): a centred STFT
//! (reflect padding of `n_fft / 2`, periodic Hann window, n_fft 400, hop 160) → power
//! spectrum → Slaney-scale, Slaney-normalised triangular mel filters (librosa's
//! `filters.mel(sr=16000, n_fft=400, n_mels=80)`) → `log10(max(·, 1e-10))` → the last STFT
//! frame dropped → clamped to `max − 8` → `(x + 4) / 4`. Computed in f64 like the reference
//! (numpy promotes to float64); `scripts/mel_reference.py` writes the golden values the tests
//! compare against.

use realfft::{RealFftPlanner, RealToComplex};
use std::sync::{Arc, OnceLock};

/// Sample rate the features are defined for.
pub const SAMPLE_RATE: u32 = 16_000;
/// STFT size (25 ms).
pub const N_FFT: usize = 400;
/// STFT hop (10 ms): one feature frame per hop.
pub const HOP: usize = 160;
/// Mel bands.
pub const N_MELS: usize = 80;
/// Samples smart-turn looks at: the last 8 s.
pub const SMART_TURN_SAMPLES: usize = 8 * SAMPLE_RATE as usize;
/// Feature frames smart-turn takes (`SMART_TURN_SAMPLES / HOP`).
pub const SMART_TURN_FRAMES: usize = SMART_TURN_SAMPLES / HOP;

const N_BINS: usize = N_FFT / 2 + 1;
const MEL_FLOOR: f64 = 1e-10;
/// Variance epsilon of the waveform normalisation (transformers' `do_normalize`).
const NORM_EPS: f64 = 1e-7;

/// Log-mel features, row-major `[N_MELS][frames]` (the layout of Whisper's `[80, T]` tensor).
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    /// `N_MELS * frames` values; band `m`, frame `t` is at `m * frames + t`.
    pub data: Vec<f32>,
    /// Frames (one per 10 ms hop).
    pub frames: usize,
}

impl LogMel {
    /// The value of band `mel` at `frame`.
    pub fn at(&self, mel: usize, frame: usize) -> f32 {
        self.data[mel * self.frames + frame]
    }
}

/// One triangular filter: its non-zero weights, starting at FFT bin `first`.
#[derive(Debug, Clone)]
struct MelFilter {
    first: usize,
    weights: Vec<f64>,
}

/// A reusable Whisper feature extractor (window, filters and FFT plan computed once).
pub struct WhisperMel {
    window: Vec<f64>,
    filters: Vec<MelFilter>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for WhisperMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperMel")
            .field("n_fft", &N_FFT)
            .field("hop", &HOP)
            .field("n_mels", &self.filters.len())
            .finish()
    }
}

impl Default for WhisperMel {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide extractor (its tables are immutable, so every caller can share it).
pub fn shared() -> &'static WhisperMel {
    static MEL: OnceLock<WhisperMel> = OnceLock::new();
    MEL.get_or_init(WhisperMel::new)
}

impl WhisperMel {
    /// Builds the Hann window, the 80 Slaney mel filters and the FFT plan.
    pub fn new() -> WhisperMel {
        // Periodic Hann (torch.hann_window / np.hanning(n + 1)[:-1]).
        let window = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos())
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        WhisperMel {
            window,
            filters: slaney_filters(),
            fft,
        }
    }

    /// The filter weight of `bin` in band `mel` (for tests against librosa's matrix).
    pub fn filter_weight(&self, mel: usize, bin: usize) -> f64 {
        let f = &self.filters[mel];
        if bin < f.first || bin >= f.first + f.weights.len() {
            0.0
        } else {
            f.weights[bin - f.first]
        }
    }

    /// Whisper's `log_mel_spectrogram` of 16 kHz audio: `audio.len() / HOP` frames (the last
    /// STFT frame is dropped, as Whisper does). Audio shorter than `N_FFT / 2 + 1` samples is
    /// zero-padded to that length first (reflect padding needs it).
    pub fn log_mel(&self, audio: &[f32]) -> LogMel {
        let pad = N_FFT / 2;
        let mut x: Vec<f64> = audio.iter().map(|&s| s as f64).collect();
        if x.len() <= pad {
            x.resize(pad + 1, 0.0);
        }
        let len = x.len();
        // numpy's "reflect": the edge sample itself is not repeated.
        let mut padded = Vec::with_capacity(len + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| x[i]));
        padded.extend_from_slice(&x);
        padded.extend((0..pad).map(|i| x[len - 2 - i]));
        let frames = len / HOP; // 1 + len / HOP STFT frames, the last dropped
        let mut mel = vec![0f64; N_MELS * frames];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f64; N_BINS];
        for t in 0..frames {
            let frame = &padded[t * HOP..t * HOP + N_FFT];
            for ((dst, s), w) in input.iter_mut().zip(frame).zip(&self.window) {
                *dst = s * w;
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffer sizes come from the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, f) in self.filters.iter().enumerate() {
                let bins = &power[f.first..f.first + f.weights.len()];
                let e: f64 = bins.iter().zip(&f.weights).map(|(p, w)| p * w).sum();
                mel[m * frames + t] = e.max(MEL_FLOOR).log10();
            }
        }
        let max = mel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let floor = max - 8.0;
        let data = mel
            .into_iter()
            .map(|v| ((v.max(floor) + 4.0) / 4.0) as f32)
            .collect();
        LogMel { data, frames }
    }

    /// smart-turn v3's input: the last 8 s of `audio_16k` (zero-padded at the start when
    /// shorter), normalised to zero mean and unit variance (Pipecat runs the extractor with
    /// `do_normalize=True`), as `[N_MELS][SMART_TURN_FRAMES]` log-mel features.
    pub fn smart_turn_features(&self, audio_16k: &[f32]) -> LogMel {
        let tail = &audio_16k[audio_16k.len().saturating_sub(SMART_TURN_SAMPLES)..];
        let mut x = vec![0f32; SMART_TURN_SAMPLES - tail.len()];
        x.extend_from_slice(tail);
        normalize(&mut x);
        self.log_mel(&x)
    }
}

/// Zero mean, unit variance in place (transformers' `zero_mean_unit_var_norm`, computed in
/// f64 and stored as f32 like its float32 buffer).
pub fn normalize(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let scale = 1.0 / (var + NORM_EPS).sqrt();
    for v in x.iter_mut() {
        *v = ((*v as f64 - mean) * scale) as f32;
    }
}

fn hz_to_mel(f: f64) -> f64 {
    // Slaney: linear below 1 kHz (3 per 200 Hz), logarithmic above.
    let logstep = 27.0 / 6.4f64.ln();
    if f >= 1000.0 {
        15.0 + (f / 1000.0).ln() * logstep
    } else {
        3.0 * f / 200.0
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let logstep = 6.4f64.ln() / 27.0;
    if m >= 15.0 {
        1000.0 * (logstep * (m - 15.0)).exp()
    } else {
        200.0 * m / 3.0
    }
}

/// librosa's `filters.mel(sr=16000, n_fft=400, n_mels=80, htk=False, norm="slaney")`.
fn slaney_filters() -> Vec<MelFilter> {
    let sr = SAMPLE_RATE as f64;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let points: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let fft_freq = |k: usize| k as f64 * (sr / 2.0) / (N_BINS - 1) as f64;
    (0..N_MELS)
        .map(|m| {
            let (left, centre, right) = (points[m], points[m + 1], points[m + 2]);
            let enorm = 2.0 / (right - left);
            let dense: Vec<f64> = (0..N_BINS)
                .map(|k| {
                    let f = fft_freq(k);
                    let down = (f - left) / (centre - left);
                    let up = (right - f) / (right - centre);
                    down.min(up).max(0.0) * enorm
                })
                .collect();
            let first = dense.iter().position(|w| *w > 0.0).unwrap_or(0);
            let last = dense.iter().rposition(|w| *w > 0.0).map_or(0, |l| l + 1);
            MelFilter {
                first,
                weights: dense[first..last.max(first)].to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_follows_whisper() {
        let mel = WhisperMel::new();
        assert_eq!(mel.log_mel(&vec![0.0; 16_000]).frames, 100);
        assert_eq!(mel.log_mel(&vec![0.0; 16_159]).frames, 100);
        let st = mel.smart_turn_features(&[0.1; 1000]);
        assert_eq!(st.frames, SMART_TURN_FRAMES);
        assert_eq!(st.data.len(), N_MELS * SMART_TURN_FRAMES);
    }

    #[test]
    fn every_filter_is_non_empty_and_slaney_normalised() {
        let mel = WhisperMel::new();
        for m in 0..N_MELS {
            let f = &mel.filters[m];
            assert!(!f.weights.is_empty(), "band {m} empty");
            // Slaney normalisation: peak weight = 2 / (right - left) in Hz, about 0.025-0.0004.
            let peak = f.weights.iter().copied().fold(0.0, f64::max);
            assert!(peak > 0.0 && peak < 0.03, "band {m} peak {peak}");
        }
    }

    #[test]
    fn a_pure_tone_peaks_in_the_band_holding_its_frequency() {
        let mel = WhisperMel::new();
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let lm = mel.log_mel(&tone);
        let t = lm.frames / 2;
        let best = (0..N_MELS)
            .max_by(|&a, &b| lm.at(a, t).total_cmp(&lm.at(b, t)))
            .unwrap();
        // 1 kHz is mel 15 on the Slaney scale; band centres are spaced (mel(8 kHz)) / 81.
        let centre_hz = |m: usize| mel_to_hz(hz_to_mel(8000.0) * (m + 1) as f64 / 81.0);
        assert!(
            (centre_hz(best) - 1000.0).abs() < 60.0,
            "peak band {best} centred at {} Hz",
            centre_hz(best)
        );
    }
}
