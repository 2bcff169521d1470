//! The voicemail beep: a bank of Goertzel filters over 20 ms frames and a tracker that accepts
//! one steady frequency at a steady level for a beep's length.
//!
//! Each frame's strongest frequency is found by the bank (20 Hz apart), then refined by a
//! second search ±20 Hz around it in 2 Hz steps and a parabola through the best three. A
//! frame is *tonal* when that frequency holds at least `purity` of the frame's whole energy: a
//! beep holds ~0.99 of it even 20 dB over white noise; voiced speech spreads its energy over
//! many harmonics (though a vowel whose formant sits on one harmonic can put 0.9 into it, as
//! JFK's "so" in jfk.wav does). A beep is a run of tonal frames at ONE frequency — within
//! ±max(6 Hz, 0.6 %) of the run's mean, where a voice's harmonic glides with its pitch — and
//! one level (±6 dB), lasting `min..=max`.
//! Works on any rate; in calls on the 16 kHz audio the transport makes, which for a G.711 call
//! is 8 kHz μ-law upsampled (the quantisation noise sits ~35 dB under the tone).

use std::f32::consts::TAU;
use std::time::Duration;

/// Beep detection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BeepParams {
    /// Lowest beep frequency (Hz).
    pub min_hz: f32,
    /// Highest beep frequency (Hz).
    pub max_hz: f32,
    /// Shortest beep.
    pub min: Duration,
    /// Longest beep (a longer tone is a dial tone, a fax, not a beep).
    pub max: Duration,
    /// Share of a frame's energy in the beep's frequency (0..1).
    pub purity: f32,
    /// Quietest frame that can be a beep (dBFS).
    pub min_dbfs: f32,
}

impl Default for BeepParams {
    fn default() -> Self {
        BeepParams {
            min_hz: 400.0,
            max_hz: 2000.0,
            min: Duration::from_millis(150),
            max: Duration::from_millis(1500),
            purity: 0.85,
            min_dbfs: -40.0,
        }
    }
}

/// A beep that was heard (media times of the stream pushed in).
#[derive(Debug, Clone, PartialEq)]
pub struct Beep {
    /// Its start.
    pub start: Duration,
    /// Its end.
    pub end: Duration,
    /// Its frequency (Hz, mean of its frames).
    pub hz: f32,
    /// Its level (dBFS, mean of its frames).
    pub dbfs: f32,
}

/// One analysed frame: the strongest frequency of the bank, its share of the energy, the level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTone {
    /// The strongest filter's frequency (Hz).
    pub hz: f32,
    /// Its share of the frame's energy (0..~1).
    pub purity: f32,
    /// The frame's level (dBFS).
    pub dbfs: f32,
}

/// Spacing of the filter bank (Hz): with 20 ms frames a tone between two filters still
/// shows ≥ 0.87 of its energy.
const BANK_STEP_HZ: f32 = 20.0;
/// Frames a beep may drop inside (a glitch, a packet-loss concealment frame).
const MAX_MISSES: u32 = 1;

#[derive(Debug, Clone)]
struct Run {
    start: u64,
    end: u64,
    hz_sum: f32,
    db_sum: f32,
    frames: u32,
    misses: u32,
}

impl Run {
    fn mean_db(&self) -> f32 {
        self.db_sum / self.frames as f32
    }

    fn mean_hz(&self) -> f32 {
        self.hz_sum / self.frames as f32
    }
}

/// Streaming beep detector: push audio of any length, get the beeps that ended.
#[derive(Debug, Clone)]
pub struct ToneDetector {
    params: BeepParams,
    rate: u32,
    frame: usize,
    buf: Vec<f32>,
    /// Samples consumed into whole frames so far.
    pos: u64,
    /// (frequency, 2·cos ω) per filter.
    bank: Vec<(f32, f32)>,
    run: Option<Run>,
}

impl ToneDetector {
    /// A detector for audio at `rate` Hz (frames of 20 ms).
    pub fn new(params: BeepParams, rate: u32) -> ToneDetector {
        let frame = (rate / 50) as usize;
        let mut bank = Vec::new();
        let mut hz = params.min_hz;
        let top = params.max_hz.min(rate as f32 / 2.0 - BANK_STEP_HZ);
        while hz <= top + 0.01 {
            bank.push((hz, 2.0 * (TAU * hz / rate as f32).cos()));
            hz += BANK_STEP_HZ;
        }
        ToneDetector {
            params,
            rate,
            frame,
            buf: Vec::with_capacity(frame),
            pos: 0,
            bank,
            run: None,
        }
    }

    fn time(&self, samples: u64) -> Duration {
        Duration::from_nanos(samples * 1_000_000_000 / self.rate as u64)
    }

    /// True while a steady tone has lasted at least 100 ms (a beep may be under way: its
    /// frames are not speech).
    pub fn tone_active(&self) -> bool {
        self.run.as_ref().is_some_and(|r| {
            r.misses == 0 && self.time(r.end - r.start) >= Duration::from_millis(100)
        })
    }

    /// Feeds audio; returns the beeps that ended in it.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Beep> {
        let mut beeps = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.frame - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == self.frame {
                let frame = std::mem::take(&mut self.buf);
                let tone = self.analyse(&frame);
                self.buf = frame;
                self.buf.clear();
                let start = self.pos;
                self.pos += self.frame as u64;
                if let Some(b) = self.track(start, tone) {
                    beeps.push(b);
                }
            }
        }
        beeps
    }

    /// End of the stream: a beep still running ends here.
    pub fn finish(&mut self) -> Option<Beep> {
        let run = self.run.take()?;
        self.accept(&run)
    }

    /// The strongest frequency of one frame, its share of the energy and the frame's level.
    pub fn analyse(&self, frame: &[f32]) -> FrameTone {
        let n = frame.len().max(1) as f32;
        let mean = frame.iter().sum::<f32>() / n;
        let energy: f32 = frame.iter().map(|s| (s - mean) * (s - mean)).sum();
        let dbfs = 10.0 * (energy / n + 1e-12).log10() + 3.01;
        if energy <= 1e-9 {
            return FrameTone {
                hz: 0.0,
                purity: 0.0,
                dbfs,
            };
        }
        let power = |coeff: f32| {
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &x in frame {
                let s = (x - mean) + coeff * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0)
        };
        let (mut coarse_hz, mut coarse_p) = (0.0, 0.0f32);
        for &(hz, coeff) in &self.bank {
            let p = power(coeff);
            if p > coarse_p {
                coarse_p = p;
                coarse_hz = hz;
            }
        }
        // Refine: 2 Hz steps within ±20 Hz, then a parabola through the best three.
        let step = 2.0;
        let fine: Vec<(f32, f32)> = (-10..=10)
            .map(|k| {
                let hz = coarse_hz + k as f32 * step;
                (hz, power(2.0 * (TAU * hz / self.rate as f32).cos()))
            })
            .collect();
        let (j, &(mut hz, mut p)) = fine
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .expect("21 filters");
        if j > 0 && j + 1 < fine.len() {
            let (a, b, c) = (fine[j - 1].1, fine[j].1, fine[j + 1].1);
            let denom = a - 2.0 * b + c;
            if denom < 0.0 {
                let delta = (0.5 * (a - c) / denom).clamp(-0.5, 0.5);
                hz += delta * step;
                p = b - 0.25 * (a - c) * delta;
            }
        }
        FrameTone {
            hz,
            purity: 2.0 * p.max(coarse_p) / (n * energy),
            dbfs,
        }
    }

    fn tonal(&self, t: &FrameTone) -> bool {
        t.purity >= self.params.purity && t.dbfs >= self.params.min_dbfs
    }

    fn fits(run: &Run, t: &FrameTone) -> bool {
        let mean = run.mean_hz();
        (t.hz - mean).abs() <= (0.006 * mean).max(6.0) && (t.dbfs - run.mean_db()).abs() <= 6.0
    }

    fn track(&mut self, start: u64, t: FrameTone) -> Option<Beep> {
        let end = start + self.frame as u64;
        let tonal = self.tonal(&t);
        if let Some(run) = self.run.as_mut() {
            if tonal && Self::fits(run, &t) {
                run.end = end;
                run.hz_sum += t.hz;
                run.db_sum += t.dbfs;
                run.frames += 1;
                run.misses = 0;
                return None;
            }
            if !tonal && run.misses < MAX_MISSES {
                run.misses += 1;
                return None;
            }
            let run = self.run.take().expect("checked");
            let beep = self.accept(&run);
            if tonal {
                self.run = Some(Run::new(start, end, &t));
            }
            return beep;
        }
        if tonal {
            self.run = Some(Run::new(start, end, &t));
        }
        None
    }

    fn accept(&self, run: &Run) -> Option<Beep> {
        let len = self.time(run.end - run.start);
        // Only whole frames inside the tone pass (a frame half tone, half silence holds half
        // its energy): a tone of `min` shows at least `min` - 20 ms of them.
        let slack = self.time(self.frame as u64);
        let long_enough = len + Duration::from_millis(10) >= self.params.min.saturating_sub(slack);
        (long_enough && len <= self.params.max + slack).then(|| Beep {
            start: self.time(run.start),
            end: self.time(run.end),
            hz: run.hz_sum / run.frames as f32,
            dbfs: run.mean_db(),
        })
    }
}

impl Run {
    fn new(start: u64, end: u64, t: &FrameTone) -> Run {
        Run {
            start,
            end,
            hz_sum: t.hz,
            db_sum: t.dbfs,
            frames: 1,
            misses: 0,
        }
    }
}

/// A sine tone of `hz` for `ms` at `rate`, peak `amplitude`, with 5 ms ramps (what a voicemail
/// beep is; used by tests and the benchmark set).
pub fn sine(hz: f32, ms: u32, rate: u32, amplitude: f32) -> Vec<f32> {
    let n = (rate as u64 * ms as u64 / 1000) as usize;
    let ramp = (rate / 200) as usize;
    (0..n)
        .map(|i| {
            let edge = (i.min(n - 1 - i) as f32 / ramp.max(1) as f32).min(1.0);
            amplitude * edge * (TAU * hz * i as f32 / rate as f32).sin()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, amplitude: f32, seed: u64) -> Vec<f32> {
        let mut x = seed.max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                amplitude * ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    fn beeps_in(audio: &[f32], rate: u32) -> Vec<Beep> {
        let mut d = ToneDetector::new(BeepParams::default(), rate);
        let mut out = Vec::new();
        for chunk in audio.chunks(rate as usize / 50 + 7) {
            out.extend(d.push(chunk));
        }
        out.extend(d.finish());
        out
    }

    #[test]
    fn finds_beeps_across_the_band_with_their_timing() {
        for hz in [440.0, 613.0, 850.0, 1000.0, 1400.0, 1990.0] {
            for ms in [150, 400, 1200] {
                let mut audio = vec![0.0; 16_000];
                audio.extend(sine(hz, ms, 16_000, 0.3));
                audio.extend(vec![0.0; 8_000]);
                let beeps = beeps_in(&audio, 16_000);
                assert_eq!(beeps.len(), 1, "{hz} Hz {ms} ms: {beeps:?}");
                let b = &beeps[0];
                assert!((b.hz - hz).abs() <= 20.0, "{hz}: {b:?}");
                assert!(b.start.as_millis().abs_diff(1000) <= 20, "{b:?}");
                let len = (b.end - b.start).as_millis() as u64;
                assert!(len.abs_diff(ms as u64) <= 40, "{hz} Hz {ms} ms: {b:?}");
            }
        }
    }

    #[test]
    fn beep_in_noise_and_through_mu_law_is_found() {
        let mut audio = noise(16_000, 0.02, 3);
        let mut b = sine(1000.0, 300, 16_000, 0.2);
        for (s, n) in b.iter_mut().zip(noise(4800, 0.03, 5)) {
            *s += n;
        }
        audio.extend(b);
        audio.extend(noise(16_000, 0.02, 9));
        let phone = crate::amd::set::telephone(&audio, 16_000).unwrap();
        assert_eq!(beeps_in(&phone, 16_000).len(), 1);
        // 8 kHz directly.
        let narrow = crate::audio::resample(&audio, 16_000, 8_000).unwrap();
        assert_eq!(beeps_in(&narrow, 8_000).len(), 1);
    }

    #[test]
    fn noise_silence_too_short_too_long_and_out_of_band_are_not_beeps() {
        assert!(beeps_in(&noise(48_000, 0.3, 1), 16_000).is_empty());
        assert!(beeps_in(&vec![0.0; 48_000], 16_000).is_empty());
        assert!(beeps_in(&sine(1000.0, 60, 16_000, 0.3), 16_000).is_empty());
        assert!(beeps_in(&sine(425.0, 4000, 16_000, 0.3), 16_000).is_empty());
        assert!(beeps_in(&sine(3000.0, 400, 16_000, 0.3), 16_000).is_empty());
        assert!(beeps_in(&sine(1000.0, 400, 16_000, 0.001), 16_000).is_empty());
    }

    #[test]
    fn a_dual_tone_or_a_gliding_tone_is_not_a_beep() {
        // DTMF "5" (770 + 1336 Hz): no single frequency holds the energy.
        let a = sine(770.0, 300, 16_000, 0.2);
        let b = sine(1336.0, 300, 16_000, 0.2);
        let dtmf: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert!(beeps_in(&dtmf, 16_000).is_empty());
        // A vowel-like glide: 500 → 900 Hz over 400 ms.
        let glide: Vec<f32> = (0..6400)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                0.3 * (TAU * (500.0 * t + 500.0 * t * t)).sin()
            })
            .collect();
        assert!(beeps_in(&glide, 16_000).is_empty());
    }

    #[test]
    fn voiced_speech_like_harmonics_are_not_beeps() {
        // 120 Hz pulse-like voice: 20 harmonics with a formant near 700 Hz.
        let voice: Vec<f32> = (0..32_000)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let f0 = 120.0 + 10.0 * (TAU * 3.0 * t).sin();
                (1..=20)
                    .map(|k| {
                        let f = k as f32 * 120.0;
                        let g = 1.0 / (1.0 + ((f - 700.0) / 250.0).powi(2)) + 0.3 / k as f32;
                        g * (TAU * k as f32 * f0 * t).sin()
                    })
                    .sum::<f32>()
                    * 0.05
            })
            .collect();
        assert!(beeps_in(&voice, 16_000).is_empty());
    }
}
