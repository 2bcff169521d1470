//! Silero VAD off the async runtime: one blocking worker thread owns one ONNX session and
//! runs every call's pending 512-sample window in one batched step.
//!
//! Silero v5/v6 is batch-capable: `input` `[B, 64 + 512]`, `state` `[2, B, 128]`, and each
//! row's result is exactly what a batch-of-one run gives (checked by `tests/vad_worker.rs`).
//! Each call keeps its own recurrent state and context in a [`BatchedSileroStream`] and ships
//! them with every window, so the worker itself is stateless and no call can see another's.

use super::batch::{self, BatchSender, BatchStats};
use super::silero::{check_signature, CONTEXT, SAMPLE_RATE, WINDOW};
use super::VadError;
use crate::metrics::jobs::{job, Engine};
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};
use std::sync::Arc;
// futures' oneshot, not tokio's: the blocking forms `block_on` it, and inside a tokio runtime
// tokio's channels obey the task budget, which a nested executor never refills (it spins).
use futures::channel::oneshot;

const STATE_HALF: usize = 128;
const STATE_LEN: usize = 2 * STATE_HALF;
const INPUT_LEN: usize = CONTEXT + WINDOW;

/// What one window of one stream sends: context + window, and that stream's state.
struct WindowRequest {
    input: Vec<f32>,
    state: Vec<f32>,
    reply: oneshot::Sender<Result<(f32, Vec<f32>), VadError>>,
}

/// The shared Silero worker (one per process; `Arc` it into every call).
pub struct VadWorker {
    tx: BatchSender<WindowRequest>,
    stats: Arc<BatchStats>,
    path: PathBuf,
}

impl std::fmt::Debug for VadWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VadWorker")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl VadWorker {
    /// Loads `path` into one session on a new worker thread batching up to `max_batch` windows.
    pub fn load(path: &Path, max_batch: usize) -> Result<Arc<VadWorker>, VadError> {
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
        let mut builder = crate::onnx::session_builder(crate::onnx::OnnxUse::Vad)
            .map_err(load_err)?
            .with_intra_threads(1)
            .map_err(|e| load_err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| load_err(e.to_string()))?;
        let mut session = builder
            .commit_from_file(path)
            .map_err(|e| load_err(e.to_string()))?;
        check_signature(&session).map_err(load_err)?;
        let stats = Arc::new(BatchStats::new("enclave_vad"));
        let (tx, _worker) = batch::spawn(
            "silero-vad",
            max_batch,
            Arc::clone(&stats),
            move |batch: Vec<WindowRequest>| step(&mut session, batch),
        )
        .map_err(|e| load_err(format!("cannot start the VAD worker thread: {e}")))?;
        Ok(Arc::new(VadWorker {
            tx,
            stats,
            path: path.to_path_buf(),
        }))
    }

    /// The file the model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The worker's step-time metrics (`enclave_vad_*`).
    pub fn stats(&self) -> &Arc<BatchStats> {
        &self.stats
    }

    /// A new stream with fresh recurrent state (one per call).
    pub fn stream(self: &Arc<Self>) -> BatchedSileroStream {
        BatchedSileroStream {
            worker: Arc::clone(self),
            state: vec![0.0; STATE_LEN],
            input: vec![0.0; INPUT_LEN],
        }
    }
}

/// Per-call Silero state for the batched worker.
pub struct BatchedSileroStream {
    worker: Arc<VadWorker>,
    state: Vec<f32>,
    /// Context (first 64) + current window (last 512).
    input: Vec<f32>,
}

impl std::fmt::Debug for BatchedSileroStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedSileroStream")
            .finish_non_exhaustive()
    }
}

impl BatchedSileroStream {
    /// Speech probability of the next 512-sample window, computed on the worker.
    ///
    /// Cancel-safe: the state and context change only once the answer is in, so a future
    /// dropped mid-way leaves the stream as it was and the same window can be sent again.
    pub async fn process_window(&mut self, window: &[f32]) -> Result<f32, VadError> {
        if window.len() != WINDOW {
            return Err(VadError::BadWindow { len: window.len() });
        }
        self.input[CONTEXT..].copy_from_slice(window);
        let (reply, rx) = oneshot::channel();
        self.worker
            .tx
            .send(WindowRequest {
                input: self.input.clone(),
                state: self.state.clone(),
                reply,
            })
            .map_err(|_| VadError::Inference("the VAD worker has stopped".into()))?;
        let (p, next) = rx
            .await
            .map_err(|_| VadError::Inference("the VAD worker dropped the window".into()))??;
        self.state = next;
        self.input.copy_within(WINDOW.., 0);
        Ok(p)
    }

    /// Blocking form of [`Self::process_window`] (never call it on the async runtime).
    pub fn process_window_blocking(&mut self, window: &[f32]) -> Result<f32, VadError> {
        futures::executor::block_on(self.process_window(window))
    }

    /// Advances over a window without running the model (a pre-filter judged it silent).
    pub fn skip_window(&mut self, window: &[f32]) {
        if window.len() >= CONTEXT {
            self.input[..CONTEXT].copy_from_slice(&window[window.len() - CONTEXT..]);
        }
    }

    /// Forgets everything heard.
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|x| *x = 0.0);
        self.input.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// One step: all waiting windows as one `[B, 576]` run.
fn step(session: &mut Session, batch: Vec<WindowRequest>) {
    // Released before the answers go out (see smart_turn::step).
    let job_guard = job(Engine::Vad);
    let n = batch.len();
    let mut input = Vec::with_capacity(n * INPUT_LEN);
    // State is [2, B, 128]: both halves of every stream, layer-major.
    let mut state = vec![0f32; n * STATE_LEN];
    for (b, req) in batch.iter().enumerate() {
        input.extend_from_slice(&req.input);
        for layer in 0..2 {
            let dst = layer * n * STATE_HALF + b * STATE_HALF;
            state[dst..dst + STATE_HALF]
                .copy_from_slice(&req.state[layer * STATE_HALF..(layer + 1) * STATE_HALF]);
        }
    }
    let result = run(session, n, &input, &state);
    drop(job_guard);
    match result {
        Ok((probs, next)) => {
            for (b, req) in batch.into_iter().enumerate() {
                let mut own = vec![0f32; STATE_LEN];
                for layer in 0..2 {
                    let src = layer * n * STATE_HALF + b * STATE_HALF;
                    own[layer * STATE_HALF..(layer + 1) * STATE_HALF]
                        .copy_from_slice(&next[src..src + STATE_HALF]);
                }
                let _ = req.reply.send(Ok((probs[b], own)));
            }
        }
        Err(message) => {
            for req in batch {
                let _ = req.reply.send(Err(VadError::Inference(message.clone())));
            }
        }
    }
}

fn run(
    session: &mut Session,
    n: usize,
    input: &[f32],
    state: &[f32],
) -> Result<(Vec<f32>, Vec<f32>), String> {
    let err = |e: ort::Error| e.to_string();
    let sr = [SAMPLE_RATE as i64];
    let inputs = ort::inputs![
        "input" => TensorRef::from_array_view(([n, INPUT_LEN], input)).map_err(err)?,
        "state" => TensorRef::from_array_view(([2usize, n, STATE_HALF], state)).map_err(err)?,
        "sr" => TensorRef::from_array_view(((), &sr[..])).map_err(err)?,
    ];
    let outputs = session.run(inputs).map_err(err)?;
    let (_, prob) = outputs["output"].try_extract_tensor::<f32>().map_err(err)?;
    let (_, next) = outputs["stateN"].try_extract_tensor::<f32>().map_err(err)?;
    if prob.len() != n || next.len() != n * STATE_LEN {
        return Err(format!(
            "unexpected output sizes for a batch of {n}: probability {}, state {}",
            prob.len(),
            next.len()
        ));
    }
    Ok((prob.to_vec(), next.to_vec()))
}
