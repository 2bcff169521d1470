//! smart-turn v3 (Pipecat's audio end-of-turn model, a Whisper-tiny encoder with a
//! classifier) as a [`crate::vad::EndOfTurnModel`].
//!
//! The ONNX graph takes `input_features` f32 `[batch, 80, 800]` — Whisper log-mel features
//! of the last 8 s of 16 kHz audio ([`crate::audio::mel`]) — and returns `[batch, 1]`, the
//! probability (already a sigmoid) that the speaker has finished. One blocking worker thread
//! owns the session and serves every call: at each step it takes all requests waiting,
//! computes their features and runs them as one batch ([`super::batch`]).

use super::batch::{self, BatchSender, BatchStats};
use super::end_of_turn::{EndOfTurnError, EndOfTurnModel};
use crate::audio::mel::{self, N_MELS, SMART_TURN_FRAMES};
use crate::metrics::jobs::{job, Engine};
use futures::future::BoxFuture;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};
use std::sync::Arc;
// futures' oneshot, not tokio's: the blocking forms `block_on` it, and inside a tokio runtime
// tokio's channels obey the task budget, which a nested executor never refills (it spins).
use futures::channel::oneshot;

/// The shipped model's file name (Pipecat 1.14's `smart-turn-v3.2-cpu.onnx`).
pub const MODEL_FILE: &str = "smart-turn-v3.2-cpu.onnx";
/// sha256 of that file (MODELS.md §3).
pub const MODEL_SHA256: &str = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f";
const FEATURES: usize = N_MELS * SMART_TURN_FRAMES;

/// Why smart-turn could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SmartTurnError {
    /// ONNX Runtime is not available.
    #[error(transparent)]
    Runtime(#[from] crate::onnx::OnnxRuntimeError),
    /// The model file does not exist.
    #[error(
        "smart-turn model {path} not found. Install it with `bash scripts/real-models.sh` \
         (it ships in the pipecat-ai wheel as pipecat/audio/turn/smart_turn/data/{MODEL_FILE}), \
         or leave the end-of-turn model unset to use the silence + punctuation rule"
    )]
    ModelMissing {
        /// The path that was given.
        path: PathBuf,
    },
    /// The file exists but is not a usable smart-turn model.
    #[error(
        "smart-turn model {path}: cannot load: {message} (expected {MODEL_FILE}, sha256 {MODEL_SHA256})"
    )]
    ModelLoad {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The worker thread could not be started.
    #[error("smart-turn: cannot start its worker thread: {0}")]
    Worker(std::io::Error),
}

/// How the model runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SmartTurnOptions {
    /// Probability at or above which the turn counts as finished.
    pub threshold: f32,
    /// Most requests in one batched step.
    pub max_batch: usize,
    /// ONNX Runtime intra-op threads of the one session.
    pub threads: usize,
}

impl Default for SmartTurnOptions {
    fn default() -> Self {
        SmartTurnOptions {
            threshold: 0.5,
            max_batch: 8,
            threads: 1,
        }
    }
}

impl SmartTurnOptions {
    /// The options `[conversation]` configures.
    pub fn from_config(cfg: &crate::config::ConversationConfig) -> SmartTurnOptions {
        SmartTurnOptions {
            threshold: cfg.end_of_turn_model_threshold,
            ..SmartTurnOptions::default()
        }
    }
}

struct Request {
    audio: Vec<f32>,
    reply: oneshot::Sender<Result<f32, EndOfTurnError>>,
}

/// smart-turn v3 loaded on its worker thread; share it (`Arc`) between all calls.
pub struct SmartTurn {
    tx: BatchSender<Request>,
    stats: Arc<BatchStats>,
    path: PathBuf,
    threshold: f32,
}

impl std::fmt::Debug for SmartTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartTurn")
            .field("path", &self.path)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl SmartTurn {
    /// Loads `path`, checks its signature and starts the worker.
    pub fn load(path: &Path, opts: &SmartTurnOptions) -> Result<Arc<SmartTurn>, SmartTurnError> {
        crate::onnx::environment()?;
        if !path.is_file() {
            return Err(SmartTurnError::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let load_err = |message: String| SmartTurnError::ModelLoad {
            path: path.to_path_buf(),
            message,
        };
        let mut builder = crate::onnx::session_builder(crate::onnx::OnnxUse::Other)
            .map_err(load_err)?
            .with_intra_threads(opts.threads.max(1))
            .map_err(|e| load_err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| load_err(e.to_string()))?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| load_err(e.to_string()))?;
        check_signature(&session).map_err(load_err)?;
        let stats = Arc::new(BatchStats::new("enclave_turn_model"));
        let mut session = session;
        let (tx, _worker) = batch::spawn(
            "smart-turn",
            opts.max_batch,
            Arc::clone(&stats),
            move |batch: Vec<Request>| step(&mut session, batch),
        )
        .map_err(SmartTurnError::Worker)?;
        Ok(Arc::new(SmartTurn {
            tx,
            stats,
            path: path.to_path_buf(),
            threshold: opts.threshold,
        }))
    }

    /// The model `[conversation] end_of_turn_model` names (relative to `[models] dir`), or `None` when
    /// it is unset (the call then keeps the silence + punctuation rule).
    pub fn from_config(
        config: &crate::config::Config,
    ) -> Result<Option<Arc<SmartTurn>>, SmartTurnError> {
        match config
            .conversation
            .end_of_turn_model_path(&config.models.dir)
        {
            None => Ok(None),
            Some(path) => {
                SmartTurn::load(&path, &SmartTurnOptions::from_config(&config.conversation))
                    .map(Some)
            }
        }
    }

    /// The file this model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The worker's step-time metrics (`enclave_turn_model_*`).
    pub fn stats(&self) -> &Arc<BatchStats> {
        &self.stats
    }

    /// Blocking prediction for tools and benchmarks (never call it on the async runtime).
    pub fn predict_blocking(&self, audio_16k: Vec<f32>) -> Result<f32, EndOfTurnError> {
        futures::executor::block_on(self.finished_probability(audio_16k))
    }
}

impl EndOfTurnModel for SmartTurn {
    fn finished_probability(
        &self,
        audio_16k: Vec<f32>,
    ) -> BoxFuture<'static, Result<f32, EndOfTurnError>> {
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.send(Request {
            audio: audio_16k,
            reply,
        });
        Box::pin(async move {
            if sent.is_err() {
                return Err(EndOfTurnError("the smart-turn worker has stopped".into()));
            }
            rx.await.unwrap_or_else(|_| {
                Err(EndOfTurnError(
                    "the smart-turn worker dropped the request".into(),
                ))
            })
        })
    }

    fn threshold(&self) -> f32 {
        self.threshold
    }
}

/// One worker step: features for every request, one batched run, one answer each.
fn step(session: &mut Session, batch: Vec<Request>) {
    // Counted as running from features to probabilities, and released before anyone hears
    // the answer, so a caller that got its answer never sees its job still counted.
    let job_guard = job(Engine::Turn);
    let n = batch.len();
    let mel = mel::shared();
    let mut features = Vec::with_capacity(n * FEATURES);
    let mut replies = Vec::with_capacity(n);
    for req in batch {
        features.extend_from_slice(&mel.smart_turn_features(&req.audio).data);
        replies.push(req.reply);
    }
    let result = run(session, n, &features);
    drop(job_guard);
    match result {
        Ok(probs) => {
            for (reply, p) in replies.into_iter().zip(probs) {
                let _ = reply.send(Ok(p));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(EndOfTurnError(e.clone())));
            }
        }
    }
}

fn run(session: &mut Session, n: usize, features: &[f32]) -> Result<Vec<f32>, String> {
    let err = |e: ort::Error| format!("inference failed: {e}");
    let input =
        TensorRef::from_array_view(([n, N_MELS, SMART_TURN_FRAMES], features)).map_err(err)?;
    let outputs = session
        .run(ort::inputs!["input_features" => input])
        .map_err(err)?;
    let (_, probs) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
    if probs.len() != n {
        return Err(format!(
            "expected {n} probabilities, the model returned {}",
            probs.len()
        ));
    }
    Ok(probs
        .iter()
        .map(|p| {
            if p.is_finite() {
                p.clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect())
}

fn check_signature(session: &Session) -> Result<(), String> {
    let inputs: Vec<String> = session
        .inputs()
        .iter()
        .map(|o| o.name().to_string())
        .collect();
    if inputs != ["input_features"] || session.outputs().len() != 1 {
        return Err(format!(
            "not a smart-turn v3 model: inputs are {inputs:?} and {} output(s), expected one \
             input `input_features` [batch, 80, 800] and one output",
            session.outputs().len()
        ));
    }
    Ok(())
}
