//! Silero VAD v5/v6 through ONNX Runtime: one model per process, recurrent state per stream.
//!
//! The model (`silero_vad.onnx`) takes `input` f32 [1, 64 + 512] — the last 64 samples of the
//! previous window (the "context" the reference `OnnxWrapper` prepends) followed by a new
//! 512-sample window at 16 kHz — `state` f32 [2, 1, 128] and `sr` i64 scalar, and returns
//! `output` [1, 1] (speech probability) and `stateN` (the next state). ort's `Session::run`
//! needs `&mut`, so a small pool of sessions is shared by all streams; the state and context
//! live in each [`SileroStream`].

use super::VadError;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Samples per window at 16 kHz (32 ms).
pub const WINDOW: usize = 512;
/// Samples of the previous window prepended to each input (16 kHz).
pub const CONTEXT: usize = 64;
/// The only sample rate this wrapper feeds the model.
pub const SAMPLE_RATE: u32 = 16_000;
const STATE_LEN: usize = 2 * 128;

/// A loaded Silero model: a pool of ONNX sessions, shared by every call.
pub struct SileroModel {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    path: PathBuf,
}

impl std::fmt::Debug for SileroModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroModel")
            .field("path", &self.path)
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl SileroModel {
    /// Loads `path` into `n_sessions` single-threaded sessions and checks its signature.
    pub fn load(path: &Path, n_sessions: usize) -> Result<Arc<SileroModel>, VadError> {
        crate::onnx::environment()?;
        if !path.is_file() {
            return Err(VadError::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let load_err = |message: String| VadError::ModelLoad {
            path: path.to_path_buf(),
            message,
        };
        let mut sessions = Vec::new();
        for _ in 0..n_sessions.max(1) {
            let mut builder = crate::onnx::session_builder(crate::onnx::OnnxUse::Vad)
                .map_err(load_err)?
                .with_intra_threads(1)
                .map_err(|e| load_err(e.to_string()))?
                .with_inter_threads(1)
                .map_err(|e| load_err(e.to_string()))?;
            let session = builder
                .commit_from_file(path)
                .map_err(|e| load_err(e.to_string()))?;
            check_signature(&session).map_err(load_err)?;
            sessions.push(Mutex::new(session));
        }
        Ok(Arc::new(SileroModel {
            sessions,
            next: AtomicUsize::new(0),
            path: path.to_path_buf(),
        }))
    }

    /// The file this model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new stream with fresh recurrent state (one per call).
    pub fn stream(self: &Arc<Self>) -> SileroStream {
        SileroStream {
            model: Arc::clone(self),
            state: vec![0.0; STATE_LEN],
            input: vec![0.0; CONTEXT + WINDOW],
        }
    }

    /// Runs one window: `input` is context + window, `state` is replaced by the next state.
    fn run(&self, input: &[f32], state: &mut [f32]) -> Result<f32, VadError> {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // Take a free session if there is one; otherwise wait for ours in round-robin order.
        let mut guard = None;
        for i in 0..n {
            if let Ok(g) = self.sessions[(start + i) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut session = match guard {
            Some(g) => g,
            None => self.sessions[start % n]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        let sr = [SAMPLE_RATE as i64];
        let run_err = |e: ort::Error| VadError::Inference(e.to_string());
        let inputs = ort::inputs![
            "input" => TensorRef::from_array_view(([1usize, CONTEXT + WINDOW], input)).map_err(run_err)?,
            "state" => TensorRef::from_array_view(([2usize, 1, 128], &*state)).map_err(run_err)?,
            "sr" => TensorRef::from_array_view(((), &sr[..])).map_err(run_err)?,
        ];
        let outputs = session.run(inputs).map_err(run_err)?;
        let (_, prob) = outputs["output"]
            .try_extract_tensor::<f32>()
            .map_err(run_err)?;
        let (_, next) = outputs["stateN"]
            .try_extract_tensor::<f32>()
            .map_err(run_err)?;
        if next.len() != STATE_LEN || prob.is_empty() {
            return Err(VadError::Inference(format!(
                "unexpected output sizes: probability {}, state {}",
                prob.len(),
                next.len()
            )));
        }
        state.copy_from_slice(next);
        Ok(prob[0])
    }
}

pub(super) fn check_signature(session: &Session) -> Result<(), String> {
    let names = |outlets: &[ort::value::Outlet]| -> Vec<String> {
        outlets.iter().map(|o| o.name().to_string()).collect()
    };
    let inputs = names(session.inputs());
    let outputs = names(session.outputs());
    for want in ["input", "state", "sr"] {
        if !inputs.iter().any(|n| n == want) {
            return Err(format!(
                "not a Silero VAD v5/v6 model: inputs are {inputs:?}, expected input/state/sr \
                 (use silero_vad.onnx from snakers4/silero-vad v5 or later)"
            ));
        }
    }
    for want in ["output", "stateN"] {
        if !outputs.iter().any(|n| n == want) {
            return Err(format!(
                "not a Silero VAD v5/v6 model: outputs are {outputs:?}, expected output/stateN"
            ));
        }
    }
    Ok(())
}

/// Per-call Silero state: the recurrent state and the 64-sample context.
pub struct SileroStream {
    model: Arc<SileroModel>,
    state: Vec<f32>,
    /// Context (first 64) + current window (last 512), reused across calls.
    input: Vec<f32>,
}

impl std::fmt::Debug for SileroStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroStream").finish_non_exhaustive()
    }
}

impl SileroStream {
    /// Speech probability of the next 512-sample window (16 kHz, f32 in [-1, 1]).
    pub fn process_window(&mut self, window: &[f32]) -> Result<f32, VadError> {
        if window.len() != WINDOW {
            return Err(VadError::BadWindow { len: window.len() });
        }
        self.input[CONTEXT..].copy_from_slice(window);
        let p = self.model.run(&self.input, &mut self.state)?;
        // The last 64 samples of this input become the next window's context.
        self.input.copy_within(WINDOW.., 0);
        Ok(p)
    }

    /// Advances over a window without running the model (a pre-filter judged it silent):
    /// the context moves on, the recurrent state is kept.
    pub fn skip_window(&mut self, window: &[f32]) {
        if window.len() >= CONTEXT {
            self.input[..CONTEXT].copy_from_slice(&window[window.len() - CONTEXT..]);
        }
    }

    /// Forgets everything heard (new call / new file).
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|x| *x = 0.0);
        self.input.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// Speech probability of every full 512-sample window of `audio` (16 kHz), in order.
pub fn probabilities(model: &Arc<SileroModel>, audio: &[f32]) -> Result<Vec<f32>, VadError> {
    let mut stream = model.stream();
    audio
        .chunks_exact(WINDOW)
        .map(|w| stream.process_window(w))
        .collect()
}
