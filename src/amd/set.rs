//! The accuracy set: human answers and machine greetings to be spoken by a real voice, built
//! into call audio (lead silence, beeps, line noise, the 8 kHz G.711 μ-law telephone path),
//! and the replay that runs a clip through the detector the way a call does (20 ms chunks,
//! the call's VAD, transcripts arriving as late as the ASR really took).
//!
//! Used by `agent bench amd` (all of it) and `tests/amd_accuracy.rs` (a fixed subset).

use super::decider::{AmdOutput, AmdParams};
use super::detector::AmdDetector;
use super::{tone, Decision};
use crate::audio::resample;
use crate::vad::{Endpointer, VadEvent};
use std::time::{Duration, Instant};

/// Rate of the clips (what the call loop hands the detector).
pub const RATE: u32 = 16_000;

/// What really answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// A person.
    Human,
    /// A voicemail greeting or an IVR menu.
    Machine,
}

/// A piece of a clip.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Silence (line noise only), ms.
    Silence(u32),
    /// Text spoken as one utterance.
    Say(&'static str),
    /// A voicemail beep: frequency (Hz), length (ms).
    Beep(f32, u32),
}

/// Background noise mixed under the whole clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// None (μ-law quantisation only).
    Clean,
    /// White noise at this SNR (dB, against the speech).
    White(f32),
    /// Low rumble (street, car) at this SNR.
    Rumble(f32),
    /// Reversed speech (a TV, people in the room) at this SNR.
    Babble(f32),
}

/// One clip of the set.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipSpec {
    /// A name to report.
    pub name: String,
    /// What answered.
    pub truth: Truth,
    /// What is heard, in order.
    pub parts: Vec<Part>,
    /// Background noise.
    pub noise: Noise,
}

/// People answering: one to four words.
pub const HUMAN_ANSWERS: &[&str] = &[
    "Hello?",
    "Hello.",
    "Yes?",
    "Yes.",
    "Yeah?",
    "Hi.",
    "Hello, yes?",
    "Yes, speaking.",
    "Speaking.",
    "Hi, who's this?",
    "Who's calling?",
    "Hello, who is it?",
    "Good morning.",
    "Yes, hello?",
    "Hey, what's up?",
    "Hi there.",
    "Hello, Anna speaking.",
    "This is Mark.",
    "Yes, speaking, hello.",
    "Hello? Hello?",
];

/// Voicemail greetings, short to long (about 1–20 s spoken).
pub const VOICEMAIL_GREETINGS: &[&str] = &[
    "Please leave a message.",
    "Hi, you've reached Mark. Leave a message.",
    "Hello, you have reached the voicemail of John Smith. I am not available right now. \
     Please leave your name and number after the tone, and I will call you back.",
    "The person you are calling is not available. Please record your message after the tone. \
     When you are finished, hang up, or press pound for more options.",
    "Thank you for calling Sunrise Dental. Our office is currently closed. Our hours are \
     Monday to Friday, nine to five. Please leave a message and we will return your call on \
     the next business day.",
    "Hi, this is Sarah. I can't come to the phone right now. Leave me a message and I'll get \
     back to you.",
    "You have reached five five five, one two three four. Nobody is available to take your \
     call. Please leave a message after the beep.",
    "Thank you for calling Sunrise Dental. Our office is currently closed. Our hours are \
     Monday to Friday, nine to five. If this is an emergency, please hang up and dial nine one \
     one. Otherwise, leave your name, your number, and a short message, and we will call you \
     back as soon as we can.",
];

/// Short greetings that only a beep gives away.
pub const BEEP_ONLY_GREETINGS: &[&str] = &[
    "Hey, it's Dave. Talk after the beep.",
    "Sorry I missed your call.",
];

/// IVR menus and queue announcements.
pub const IVR_MENUS: &[&str] = &[
    "Thank you for calling City Bank. For account balances, press one. For card services, \
     press two. To speak with a representative, press zero.",
    "Welcome to Acme support. Your call is important to us. Please listen carefully, as our \
     menu options have changed. For sales, press one. For technical support, press two.",
    "Hello, and thank you for calling. If you know your party's extension, you may dial it at \
     any time. For the directory, press nine.",
    "Your call is important to us. Please stay on the line, and the next available agent will \
     be with you shortly.",
];

const BEEP_HZ: &[f32] = &[440.0, 600.0, 850.0, 1000.0, 1400.0];
const BEEP_MS: &[u32] = &[200, 400, 600, 1000];

/// The whole set: 62 human answers and 36 machines.
pub fn full_set() -> Vec<ClipSpec> {
    let mut set = Vec::new();
    for (i, text) in HUMAN_ANSWERS.iter().enumerate() {
        let conditions = [
            (Noise::Clean, 300, vec![Part::Silence(3000)]),
            (
                Noise::Rumble(15.0),
                700,
                vec![
                    Part::Silence(2500),
                    Part::Say("Hello?"),
                    Part::Silence(2000),
                ],
            ),
            (
                if i % 2 == 0 {
                    Noise::White(20.0)
                } else {
                    Noise::Babble(20.0)
                },
                500,
                vec![Part::Silence(3000)],
            ),
        ];
        for (noise, lead, after) in conditions {
            let mut parts = vec![Part::Silence(lead), Part::Say(text)];
            parts.extend(after);
            set.push(ClipSpec {
                name: format!("human: {text} ({})", noise_name(noise)),
                truth: Truth::Human,
                parts,
                noise,
            });
        }
    }
    // "Yes … speaking … hello" word by word: Asterisk's AMD() calls this a machine.
    for noise in [Noise::Clean, Noise::White(20.0)] {
        set.push(ClipSpec {
            name: format!("human: Yes … speaking … hello ({})", noise_name(noise)),
            truth: Truth::Human,
            parts: vec![
                Part::Silence(400),
                Part::Say("Yes."),
                Part::Silence(450),
                Part::Say("Speaking."),
                Part::Silence(450),
                Part::Say("Hello?"),
                Part::Silence(3000),
            ],
            noise,
        });
    }
    let mut k = 0;
    let mut beep = || {
        k += 1;
        Part::Beep(BEEP_HZ[k % BEEP_HZ.len()], BEEP_MS[(k * 3) % BEEP_MS.len()])
    };
    for (i, text) in VOICEMAIL_GREETINGS.iter().enumerate() {
        for variant in 0..3 {
            let noise = if variant == 2 {
                Noise::White(25.0)
            } else {
                Noise::Clean
            };
            let mut parts = vec![Part::Silence(200 + 150 * (i as u32 % 4)), Part::Say(text)];
            if variant > 0 {
                parts.push(Part::Silence(300 + 250 * ((i + variant) as u32 % 3)));
                parts.push(beep());
            }
            parts.push(Part::Silence(4000));
            set.push(ClipSpec {
                name: format!(
                    "voicemail {i}{} ({})",
                    if variant > 0 { " + beep" } else { "" },
                    noise_name(noise)
                ),
                truth: Truth::Machine,
                parts,
                noise,
            });
        }
    }
    for (i, text) in BEEP_ONLY_GREETINGS.iter().enumerate() {
        for variant in 0..2 {
            set.push(ClipSpec {
                name: format!("short voicemail {i} + beep v{variant}"),
                truth: Truth::Machine,
                parts: vec![
                    Part::Silence(300),
                    Part::Say(text),
                    Part::Silence(400 + 300 * variant),
                    beep(),
                    Part::Silence(4000),
                ],
                noise: if variant == 1 {
                    Noise::Rumble(20.0)
                } else {
                    Noise::Clean
                },
            });
        }
    }
    for (i, text) in IVR_MENUS.iter().enumerate() {
        for noise in [Noise::Clean, Noise::White(25.0)] {
            set.push(ClipSpec {
                name: format!("ivr {i} ({})", noise_name(noise)),
                truth: Truth::Machine,
                parts: vec![Part::Silence(250), Part::Say(text), Part::Silence(3000)],
                noise,
            });
        }
    }
    set
}

/// The fixed subset `tests/amd_accuracy.rs` asserts on: every kind of clip once.
pub fn test_subset() -> Vec<ClipSpec> {
    let all = full_set();
    let pick = [
        "human: Hello? (clean)",
        "human: Yes, speaking. (rumble 15 dB)",
        "human: Hi, who's this? (babble 20 dB)",
        "human: Yes … speaking … hello (clean)",
        "human: Hello, Anna speaking. (white 20 dB)",
        "human: Yes, speaking, hello. (clean)",
        "voicemail 0 (clean)",
        "voicemail 2 + beep (clean)",
        "voicemail 4 + beep (white 25 dB)",
        "short voicemail 0 + beep v0",
        "ivr 0 (clean)",
        "ivr 3 (white 25 dB)",
    ];
    pick.iter()
        .map(|name| {
            all.iter()
                .find(|c| c.name == *name)
                .unwrap_or_else(|| panic!("no clip named {name}"))
                .clone()
        })
        .collect()
}

fn noise_name(n: Noise) -> String {
    match n {
        Noise::Clean => "clean".into(),
        Noise::White(db) => format!("white {db:.0} dB"),
        Noise::Rumble(db) => format!("rumble {db:.0} dB"),
        Noise::Babble(db) => format!("babble {db:.0} dB"),
    }
}

/// Every text the set speaks (to synthesise once each).
pub fn texts(set: &[ClipSpec]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in set {
        for p in &c.parts {
            if let Part::Say(t) = p {
                if !out.contains(t) {
                    out.push(t);
                }
            }
        }
    }
    // The babble is made of machine greetings.
    for t in &VOICEMAIL_GREETINGS[2..5] {
        if !out.contains(t) {
            out.push(t);
        }
    }
    out
}

/// A deterministic noise source (xorshift), uniform in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// A clip's audio and where its beep is.
#[derive(Debug, Clone)]
pub struct Composed {
    /// 16 kHz audio (before the telephone path).
    pub audio: Vec<f32>,
    /// Start and end of the beep, if the clip has one.
    pub beep: Option<(Duration, Duration)>,
}

/// Builds a clip's 16 kHz audio (before the telephone path) from spoken texts; `speak`
/// returns a text's audio at [`RATE`], trimmed of silence.
pub fn compose(
    spec: &ClipSpec,
    speak: &mut dyn FnMut(&str) -> anyhow::Result<Vec<f32>>,
    seed: u64,
) -> anyhow::Result<Composed> {
    let at = |n: usize| Duration::from_nanos(n as u64 * 1_000_000_000 / RATE as u64);
    let mut beep = None;
    let mut audio = Vec::new();
    let mut speech_rms = Vec::new();
    for p in &spec.parts {
        match p {
            Part::Silence(ms) => audio.extend(vec![0.0; (RATE * ms / 1000) as usize]),
            Part::Say(t) => {
                let s = speak(t)?;
                speech_rms.push(rms(&s));
                audio.extend(s);
            }
            Part::Beep(hz, ms) => {
                let start = at(audio.len());
                audio.extend(tone::sine(*hz, *ms, RATE, 0.35));
                beep = Some((start, at(audio.len())));
            }
        }
    }
    let level = speech_rms.iter().copied().fold(0.0, f32::max).max(0.01);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let noise: Vec<f32> = match spec.noise {
        Noise::Clean => vec![0.0; audio.len()],
        Noise::White(_) => (0..audio.len()).map(|_| rng.next()).collect(),
        Noise::Rumble(_) => {
            let mut y = 0.0f32;
            (0..audio.len())
                .map(|_| {
                    y = 0.995 * y + 0.05 * rng.next();
                    y
                })
                .collect()
        }
        Noise::Babble(_) => {
            let mut voices = Vec::new();
            for (i, t) in VOICEMAIL_GREETINGS[2..5].iter().enumerate() {
                let mut v = speak(t)?;
                v.reverse();
                let shift = (seed as usize * 7919 + i * 16_000) % v.len().max(1);
                v.rotate_left(shift);
                voices.push(v);
            }
            (0..audio.len())
                .map(|j| voices.iter().map(|v| v[j % v.len()]).sum())
                .collect()
        }
    };
    let snr = match spec.noise {
        Noise::Clean => 0.0,
        Noise::White(db) | Noise::Rumble(db) | Noise::Babble(db) => db,
    };
    let gain = if rms(&noise) > 0.0 {
        level / rms(&noise) / 10f32.powf(snr / 20.0)
    } else {
        0.0
    };
    for (a, n) in audio.iter_mut().zip(&noise) {
        *a = (*a + gain * n).clamp(-1.0, 1.0);
    }
    Ok(Composed { audio, beep })
}

/// G.711 μ-law encoding of one sample.
pub fn mulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut s = sample as i32;
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while s & mask == 0 && exponent > 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// G.711 μ-law decoding of one byte.
pub fn mulaw_decode(byte: u8) -> i16 {
    let u = !byte as i32;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 7;
    let mantissa = u & 0x0F;
    let s = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if sign != 0 { -s } else { s }) as i16
}

/// The telephone path: `rate` → 8 kHz → G.711 μ-law → back → 16 kHz (what the call loop gets
/// from a G.711 call through Asterisk and the transport's resampler).
pub fn telephone(audio: &[f32], rate: u32) -> Result<Vec<f32>, crate::audio::ResampleError> {
    let narrow = resample(audio, rate, 8000)?;
    let coded: Vec<f32> = narrow
        .iter()
        .map(|&s| {
            let q = mulaw_decode(mulaw_encode(crate::audio::pcm::f32_to_i16(s)));
            crate::audio::pcm::i16_to_f32(q)
        })
        .collect();
    resample(&coded, 8000, RATE)
}

/// What the detector made of one clip.
#[derive(Debug, Clone)]
pub struct ClipOutcome {
    /// The clip's name.
    pub name: String,
    /// What answered.
    pub truth: Truth,
    /// The verdict (`None`: none by the end of the clip).
    pub decision: Option<Decision>,
    /// Transcripts received before the verdict, in order.
    pub transcripts: Vec<String>,
    /// Wall time of each transcription (ms).
    pub asr_ms: Vec<f64>,
    /// When the message would start (media time), for machines.
    pub speak_at: Option<Duration>,
}

impl ClipOutcome {
    /// True when the verdict matches the truth.
    pub fn correct(&self) -> bool {
        match (self.truth, &self.decision) {
            (Truth::Human, Some(d)) => d.verdict == super::Verdict::Human,
            (Truth::Machine, Some(d)) => d.is_machine(),
            _ => false,
        }
    }
}

/// Transcribes one utterance (16 kHz) for [`replay`].
pub type TranscribeFn<'a> = &'a mut dyn FnMut(&[f32]) -> anyhow::Result<String>;

/// Most utterances transcribed per call before a verdict.
pub const MAX_TRANSCRIPTS: usize = 3;

/// Runs a clip (16 kHz) through a fresh detector the way the call loop does: 20 ms chunks,
/// `vad` (a fresh endpointer with the call's settings) for the speech flag and utterances,
/// `transcribe` (if any) on each utterance that ends before the verdict, its transcript
/// arriving at the utterance's end + the wall time the transcription took.
pub fn replay(
    name: &str,
    truth: Truth,
    audio: &[f32],
    params: &AmdParams,
    vad: &mut Endpointer,
    vad_threshold: f32,
    mut transcribe: Option<TranscribeFn<'_>>,
) -> anyhow::Result<ClipOutcome> {
    let mut det = AmdDetector::new(params.clone(), RATE);
    let mut due: Vec<(Duration, String)> = Vec::new();
    let mut out = ClipOutcome {
        name: name.to_string(),
        truth,
        decision: None,
        transcripts: Vec::new(),
        asr_ms: Vec::new(),
        speak_at: None,
    };
    let mut started = 0;
    let handle = |outputs: Vec<AmdOutput>, out: &mut ClipOutcome| {
        for o in outputs {
            match o {
                AmdOutput::Decided(d) | AmdOutput::Revised(d) => out.decision = Some(d),
                AmdOutput::SpeakNow { at, .. } => out.speak_at = Some(at),
                AmdOutput::GaveUp { .. } => {}
            }
        }
    };
    for chunk in audio.chunks((RATE / 50) as usize) {
        let events = vad.push(chunk)?;
        let voiced = vad.last_probability() >= vad_threshold;
        let outputs = det.push(chunk, voiced);
        handle(outputs, &mut out);
        let now = det.now();
        for e in events {
            if let (VadEvent::EndOfUtterance { audio, .. }, Some(asr)) = (e, transcribe.as_mut()) {
                if det.decision().is_none() && started < MAX_TRANSCRIPTS {
                    started += 1;
                    det.transcript_pending();
                    let t0 = Instant::now();
                    let text = asr(&audio).unwrap_or_default();
                    let took = t0.elapsed();
                    out.asr_ms.push(took.as_secs_f64() * 1000.0);
                    due.push((now + took, text));
                }
            }
        }
        due.sort_by_key(|(at, _)| *at);
        while due.first().is_some_and(|(at, _)| *at <= now) {
            let (_, text) = due.remove(0);
            if out.decision.is_none() {
                out.transcripts.push(text.clone());
            }
            let outputs = det.transcript(&text);
            handle(outputs, &mut out);
        }
        if det.decider().is_done() {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mu_law_round_trips_within_its_quantisation() {
        for s in [
            0i16, 1, -1, 100, -100, 1000, -1000, 12_345, -12_345, 32_000, -32_000,
        ] {
            let back = mulaw_decode(mulaw_encode(s));
            let err = (back as i32 - s as i32).abs();
            assert!(err <= (s as i32).abs() / 16 + 8, "{s} -> {back}");
        }
        // Known G.711 code points: 0 encodes as 0xFF, full scale negative as 0x00.
        assert_eq!(mulaw_encode(0), 0xFF);
        assert_eq!(mulaw_encode(i16::MIN), 0x00);
    }

    #[test]
    fn the_set_has_what_the_issue_asks_for() {
        let set = full_set();
        let humans = set.iter().filter(|c| c.truth == Truth::Human).count();
        let machines = set.len() - humans;
        assert!(
            humans >= 60 && machines >= 30,
            "{humans} humans, {machines} machines"
        );
        let beeps: Vec<f32> = set
            .iter()
            .flat_map(|c| c.parts.iter())
            .filter_map(|p| match p {
                Part::Beep(hz, _) => Some(*hz),
                _ => None,
            })
            .collect();
        assert!(beeps.iter().any(|&h| h <= 440.0) && beeps.iter().any(|&h| h >= 1400.0));
        assert_eq!(test_subset().len(), 12);
        for t in texts(&set) {
            if HUMAN_ANSWERS.contains(&t) {
                assert!(t.split_whitespace().count() <= 4, "{t}");
            }
        }
    }
}
