//! webrtc-vad (the GMM detector from WebRTC): microseconds per frame, 0/1 decisions.

use super::VadError;

/// Samples in one 20 ms frame at 16 kHz, the frame size this wrapper uses.
pub const FRAME: usize = 320;

/// One webrtc-vad instance (per call: it keeps adaptive noise estimates).
pub struct WebrtcVad {
    inner: webrtc_vad::Vad,
    pcm: Vec<i16>,
}

// SAFETY: `webrtc_vad::Vad` owns a heap-allocated C `Fvad` with no thread affinity and no
// shared references; it is only used through `&mut self`, so moving it between threads is sound.
unsafe impl Send for WebrtcVad {}

impl std::fmt::Debug for WebrtcVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebrtcVad").finish_non_exhaustive()
    }
}

impl WebrtcVad {
    /// A 16 kHz detector with aggressiveness `mode` 0..=3.
    pub fn new(mode: u8) -> WebrtcVad {
        use webrtc_vad::{SampleRate, Vad, VadMode};
        let mode = match mode {
            0 => VadMode::Quality,
            1 => VadMode::LowBitrate,
            2 => VadMode::Aggressive,
            _ => VadMode::VeryAggressive,
        };
        WebrtcVad {
            inner: Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, mode),
            pcm: Vec::with_capacity(FRAME),
        }
    }

    /// Whether a 10, 20 or 30 ms frame of 16 kHz audio (f32 in [-1, 1]) holds voice.
    pub fn is_voice(&mut self, frame: &[f32]) -> Result<bool, VadError> {
        if !matches!(frame.len(), 160 | 320 | 480) {
            return Err(VadError::BadWindow { len: frame.len() });
        }
        // webrtc-vad takes 16-bit PCM: convert here, at the engine's edge, with the wire's
        // conversion (audio that came in as 16 bits goes back to the very same samples).
        self.pcm.clear();
        self.pcm
            .extend(frame.iter().map(|&s| crate::audio::pcm::f32_to_i16(s)));
        self.inner
            .is_voice_segment(&self.pcm)
            .map_err(|()| VadError::Inference("webrtc-vad rejected the frame".into()))
    }

    /// Fraction of the 20 ms frames in `window` (any multiple of 160 samples) that hold voice,
    /// as a 0..=1 "probability"; trailing samples that do not fill a 10 ms frame are ignored.
    pub fn voiced_fraction(&mut self, window: &[f32]) -> Result<f32, VadError> {
        let mut voiced = 0usize;
        let mut total = 0usize;
        let mut rest = window;
        while rest.len() >= 160 {
            let n = if rest.len() >= FRAME { FRAME } else { 160 };
            if self.is_voice(&rest[..n])? {
                voiced += 1;
            }
            total += 1;
            rest = &rest[n..];
        }
        Ok(if total == 0 {
            0.0
        } else {
            voiced as f32 / total as f32
        })
    }
}
