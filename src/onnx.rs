//! Finding and loading the ONNX Runtime shared library (ort's `load-dynamic`), with clear errors.
//!
//! ort panics at first use when it cannot find the library; every caller goes through
//! [`ensure_runtime`] instead, which searches the usual places and says how to fix a miss.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable naming the library file, as ort itself reads it.
pub const ENV_ORT_DYLIB: &str = "ORT_DYLIB_PATH";

/// Environment variable that turns ONNX Runtime's 1DS telemetry off completely.
///
/// ONNX Runtime ≥ 1.29 on Linux ships a 1DS uploader (`OneDsTelemetry`) that, at the first
/// environment, writes a device id to `~/.cache/Microsoft/DeveloperTools/.onnxruntime/` and
/// resolves `mobile.events.data.microsoft.com`. Measured with strace on 1.31.1: the C API's
/// `DisableTelemetryEvents` (ort's `with_telemetry(false)`) does NOT stop it (the DNS queries
/// still go out); this variable, read when the environment is created, does (no connect, no
/// file).
pub const ENV_ORT_DISABLE_TELEMETRY: &str = "ORT_DISABLE_TELEMETRY";

/// Sets [`ENV_ORT_DISABLE_TELEMETRY`]`=1` for this process (whatever it was), before ONNX
/// Runtime creates its environment. The earlier the better (the environment is process-wide
/// state): the CLI calls it at start, [`ensure_runtime`] again before loading.
pub fn disable_telemetry() {
    if std::env::var_os(ENV_ORT_DISABLE_TELEMETRY).as_deref() != Some(std::ffi::OsStr::new("1")) {
        std::env::set_var(ENV_ORT_DISABLE_TELEMETRY, "1");
    }
}

/// Why ONNX Runtime is unavailable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OnnxRuntimeError {
    /// No library file was found in any searched place.
    #[error(
        "ONNX Runtime library not found (searched: {searched}). Install it with \
         `bash scripts/setup.sh --deps` or set ORT_DYLIB_PATH=/path/to/libonnxruntime.so.1.32.0"
    )]
    NotFound {
        /// The places that were looked at.
        searched: String,
    },
    /// A file was found but could not be loaded as ONNX Runtime.
    #[error("ONNX Runtime library {path} could not be loaded: {message}")]
    Load {
        /// The file.
        path: PathBuf,
        /// What ort said.
        message: String,
    },
}

/// The loaded library and the process-wide ONNX Runtime environment. ort keeps only a weak
/// reference to the environment, so it is held here for the life of the process.
static RUNTIME: OnceLock<Result<(PathBuf, ort::environment::Environment), OnnxRuntimeError>> =
    OnceLock::new();

/// Places searched for the library, in order.
pub fn candidate_paths() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(ENV_ORT_DYLIB) {
        out.push(PathBuf::from(p));
        return out;
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join("libonnxruntime.so"));
            out.push(dir.join("../lib/libonnxruntime.so"));
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        out.push(Path::new(&home).join(".local/share/enclave/onnxruntime/libonnxruntime.so"));
    }
    out.push(PathBuf::from("/usr/local/lib/enclave/libonnxruntime.so"));
    out.push(PathBuf::from("/usr/lib/enclave/libonnxruntime.so"));
    out.push(PathBuf::from("/usr/local/lib/libonnxruntime.so"));
    out.push(PathBuf::from("/usr/lib/x86_64-linux-gnu/libonnxruntime.so"));
    out
}

/// Finds the library file without loading it.
pub fn find_runtime() -> Result<PathBuf, OnnxRuntimeError> {
    let candidates = candidate_paths();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| OnnxRuntimeError::NotFound {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Loads ONNX Runtime once per process; later calls return the first result.
pub fn ensure_runtime() -> Result<PathBuf, OnnxRuntimeError> {
    RUNTIME
        .get_or_init(|| {
            let path = find_runtime()?;
            // Telemetry off at its real switch (see ENV_ORT_DISABLE_TELEMETRY), and through the
            // API too (which alone is not enough).
            disable_telemetry();
            let loaded = std::panic::catch_unwind(|| {
                ort::init_from(&path)
                    .map_err(|e| e.to_string())?
                    .with_name("enclave")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| e.to_string())
            });
            match loaded {
                Ok(Ok(env)) => Ok((path, env)),
                Ok(Err(e)) => Err(OnnxRuntimeError::Load { path, message: e }),
                Err(_) => Err(OnnxRuntimeError::Load {
                    path,
                    message: "ort panicked while loading it (wrong file or version < 1.24?)".into(),
                }),
            }
        })
        .as_ref()
        .map(|(path, _)| path.clone())
        .map_err(Clone::clone)
}

/// The process-wide ONNX Runtime environment (loading the library first if needed): what
/// `ort::session::Session::builder` takes.
pub fn environment() -> Result<&'static ort::environment::Environment, OnnxRuntimeError> {
    ensure_runtime()?;
    match RUNTIME.get() {
        Some(Ok((_, env))) => Ok(env),
        Some(Err(e)) => Err(e.clone()),
        None => unreachable!("ensure_runtime initialises RUNTIME"),
    }
}

/// Which engine an ONNX session serves (each has its own execution target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnnxUse {
    /// Piper voices.
    Tts,
    /// Silero VAD (sessions and the batched worker).
    Vad,
    /// Anything else (smart-turn): always the CPU.
    Other,
}

/// Where the sessions of one [`OnnxUse`] run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionTarget {
    /// ONNX Runtime's CPU provider (the default).
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider on this device; a session that cannot get it
    /// fails to build (never a silent CPU session).
    Cuda {
        /// CUDA device index.
        device_id: i32,
    },
}

/// The targets `crate::gpu::apply` chose, for Tts and Vad.
static TARGETS: std::sync::Mutex<[ExecutionTarget; 2]> =
    std::sync::Mutex::new([ExecutionTarget::Cpu, ExecutionTarget::Cpu]);

/// Sets where new sessions of `purpose` run (`crate::gpu::apply` calls it at start-up).
pub fn set_target(purpose: OnnxUse, target: ExecutionTarget) {
    let mut t = TARGETS.lock().unwrap_or_else(|p| p.into_inner());
    match purpose {
        OnnxUse::Tts => t[0] = target,
        OnnxUse::Vad => t[1] = target,
        OnnxUse::Other => {}
    }
}

/// Where new sessions of `purpose` run.
pub fn target(purpose: OnnxUse) -> ExecutionTarget {
    let t = TARGETS.lock().unwrap_or_else(|p| p.into_inner());
    match purpose {
        OnnxUse::Tts => t[0],
        OnnxUse::Vad => t[1],
        OnnxUse::Other => ExecutionTarget::Cpu,
    }
}

/// The one place ONNX sessions are started: a builder on the process environment with the
/// execution provider of `purpose` registered (CUDA with `error_on_failure`, so a session
/// that cannot run on the GPU fails loudly instead of quietly running on the CPU).
pub fn session_builder(purpose: OnnxUse) -> Result<ort::session::builder::SessionBuilder, String> {
    let env = environment().map_err(|e| e.to_string())?;
    let builder = ort::session::Session::builder(env).map_err(|e| e.to_string())?;
    match target(purpose) {
        ExecutionTarget::Cpu => Ok(builder),
        ExecutionTarget::Cuda { device_id } => builder
            .with_execution_providers([cuda_ep(device_id)])
            .map_err(|e| format!("CUDA execution provider (device {device_id}): {e}")),
    }
}

fn cuda_ep(device_id: i32) -> ort::ep::ExecutionProviderDispatch {
    ort::ep::CUDA::default()
        .with_device_id(device_id)
        .build()
        .error_on_failure()
}

/// Whether ONNX Runtime can run its CUDA execution provider here: the library must have it
/// compiled in (the `onnxruntime-gpu` build) and registering it must succeed (its CUDA and
/// cuDNN libraries load, the device opens).
pub fn probe_cuda_ep() -> Result<(), crate::gpu::OnnxCudaUnavailable> {
    use crate::gpu::OnnxCudaUnavailable as U;
    use ort::ep::ExecutionProvider;
    let path = ensure_runtime().map_err(|e| U::Runtime(e.to_string()))?;
    let compiled_in = ort::ep::CUDA::is_available().map_err(|e| U::Register(e.to_string()))?;
    if !compiled_in {
        return Err(U::CpuOnlyRuntime {
            path: path.display().to_string(),
        });
    }
    let env = environment().map_err(|e| U::Runtime(e.to_string()))?;
    let mut builder =
        ort::session::Session::builder(env).map_err(|e| U::Register(e.to_string()))?;
    cuda_ep(0)
        .register(&mut builder)
        .map_err(|e| U::Register(e.to_string()))
}
