//! GPU policy: which engines run on the GPU, decided once at start-up, loudly.
//!
//! The engines ask (`asr.use_gpu`, `llm.n_gpu_layers`, `tts.use_gpu`, `vad.use_gpu`), `[gpu] mode`
//! says how strictly, the build says what is compiled in, and [`probe`] says what the box has.
//! [`decide`] turns those four into a [`GpuPlan`] or a [`GpuError`] that names the setting and the
//! fix — a pure function, unit-tested over the whole matrix. Nothing falls back to the CPU unless
//! `mode = "auto"` said it may, and then with a warning that says why.

pub mod probe;

use crate::config::{Config, ConfigError, GpuMode};
pub use probe::{GpuDevice, GpuUnavailable, OnnxCudaUnavailable};

/// The command that makes a CUDA build (named in every "this build has no CUDA" error).
pub const CUDA_BUILD_HINT: &str =
    "build one with `bash scripts/build-cuda.sh` (cargo build --release --features cuda)";

/// What this binary was compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Build {
    /// ggml's CUDA backend (the `cuda` feature): Whisper and the LLM can offload.
    pub ggml_cuda: bool,
}

impl Build {
    /// This binary.
    pub fn current() -> Build {
        Build {
            ggml_cuda: cfg!(feature = "cuda"),
        }
    }
}

/// What the engines ask for, from the config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// `asr.use_gpu`.
    pub asr: bool,
    /// `llm.n_gpu_layers` (0 = none).
    pub llm_layers: u32,
    /// `tts.use_gpu` (ONNX Runtime's CUDA execution provider for Piper).
    pub tts: bool,
    /// `vad.use_gpu` (ONNX Runtime's CUDA execution provider for Silero).
    pub vad: bool,
}

impl Requests {
    /// The requests `config` makes.
    pub fn of(config: &Config) -> Requests {
        Requests {
            asr: config.asr.use_gpu,
            llm_layers: config.llm.n_gpu_layers,
            tts: config.tts.use_gpu,
            vad: config.vad.use_gpu,
        }
    }

    /// The ggml engines (Whisper, llama.cpp) that ask, as their config keys.
    pub fn ggml_settings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.asr {
            out.push("asr.use_gpu = true");
        }
        if self.llm_layers > 0 {
            out.push("llm.n_gpu_layers > 0");
        }
        out
    }

    /// The ONNX engines (Piper, Silero) that ask, as their config keys.
    pub fn onnx_settings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.tts {
            out.push("tts.use_gpu = true");
        }
        if self.vad {
            out.push("vad.use_gpu = true");
        }
        out
    }

    /// Whether anything asks for the GPU at all.
    pub fn any(&self) -> bool {
        self.asr || self.llm_layers > 0 || self.tts || self.vad
    }
}

/// What the box has, as far as the requests needed to look.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The NVIDIA driver and its devices (`libcuda.so.1`), and in CUDA builds ggml's view of them.
    pub devices: Result<Vec<GpuDevice>, GpuUnavailable>,
    /// ONNX Runtime's CUDA execution provider; `None` when no ONNX engine asked.
    pub onnx_cuda: Option<Result<(), OnnxCudaUnavailable>>,
}

/// Where one engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// On the CPU.
    Cpu,
    /// On the (first) CUDA GPU.
    Cuda,
}

/// The decision: where each engine runs, and what to tell the operator about it.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPlan {
    /// Whisper.
    pub asr: Device,
    /// llama.cpp layers to offload (0 = CPU).
    pub llm_layers: u32,
    /// Piper.
    pub tts: Device,
    /// Silero.
    pub vad: Device,
    /// The GPUs found (empty when none was looked for or none is usable).
    pub devices: Vec<GpuDevice>,
    /// Warnings to log: fallbacks (`auto`) and requests switched off (`off`).
    pub notes: Vec<String>,
}

impl GpuPlan {
    /// Everything on the CPU.
    pub fn cpu() -> GpuPlan {
        GpuPlan {
            asr: Device::Cpu,
            llm_layers: 0,
            tts: Device::Cpu,
            vad: Device::Cpu,
            devices: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Whether any engine runs on the GPU.
    pub fn uses_gpu(&self) -> bool {
        self.asr == Device::Cuda
            || self.llm_layers > 0
            || self.tts == Device::Cuda
            || self.vad == Device::Cuda
    }

    /// One line per engine, for `agent config check` and the start-up log.
    pub fn summary(&self) -> String {
        let d = |d: Device| match d {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        };
        let llm = if self.llm_layers > 0 {
            format!("cuda ({} layers)", self.llm_layers)
        } else {
            "cpu".into()
        };
        let devices = if self.devices.is_empty() {
            "none".to_string()
        } else {
            self.devices
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        };
        format!(
            "asr={} llm={} tts={} vad={}; gpus: {}",
            d(self.asr),
            llm,
            d(self.tts),
            d(self.vad),
            devices
        )
    }
}

/// Why the GPU requests cannot be met: always names the setting and the way out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    /// Whisper/LLM offload asked of a binary built without the `cuda` feature.
    #[error(
        "{settings} asks for the GPU, but this `agent` was built without CUDA (no `cuda` \
         feature); {CUDA_BUILD_HINT}, or set the setting back to the CPU, or `[gpu] mode = \"off\"`"
    )]
    BuildWithoutCuda {
        /// The config keys that ask.
        settings: String,
    },
    /// No usable GPU and `mode = "required"`.
    #[error(
        "{settings} asks for the GPU and `[gpu] mode = \"required\"`, but there is no usable \
         GPU: {reason}. Fix the driver/device, or set `[gpu] mode = \"auto\"` to fall back to \
         the CPU (with a warning), or `\"off\"`"
    )]
    NoUsableGpu {
        /// The config keys that ask.
        settings: String,
        /// What the probe found.
        reason: GpuUnavailable,
    },
    /// ONNX Runtime cannot run CUDA and `mode = "required"` (or the library has no CUDA at all).
    #[error(
        "{settings} asks for ONNX Runtime's CUDA execution provider, but {reason}. Set \
         `[gpu] mode = \"auto\"` to fall back to the CPU (with a warning), or `\"off\"`"
    )]
    OnnxCuda {
        /// The config keys that ask.
        settings: String,
        /// What the probe found.
        reason: OnnxCudaUnavailable,
    },
}

impl From<GpuError> for ConfigError {
    fn from(e: GpuError) -> Self {
        let key = match &e {
            GpuError::BuildWithoutCuda { settings }
            | GpuError::NoUsableGpu { settings, .. }
            | GpuError::OnnxCuda { settings, .. } => settings
                .split([' ', ','])
                .next()
                .unwrap_or("gpu.mode")
                .to_string(),
        };
        ConfigError::invalid(&key, e.to_string())
    }
}

/// The part of the policy that needs no probe (run by `Config::validate`, so `agent config
/// check` and every command refuse it): a build without CUDA asked to offload Whisper or the LLM.
pub fn check_build(config: &Config, build: Build) -> Result<(), GpuError> {
    let requests = Requests::of(config);
    if config.gpu.mode == GpuMode::Off || build.ggml_cuda {
        return Ok(());
    }
    let settings = requests.ggml_settings();
    if settings.is_empty() {
        return Ok(());
    }
    Err(GpuError::BuildWithoutCuda {
        settings: settings.join(", "),
    })
}

/// The decision (pure): build × mode × requests × what the box has → a plan or an error.
pub fn decide(
    mode: GpuMode,
    build: Build,
    requests: Requests,
    probe: Option<&Probe>,
) -> Result<GpuPlan, GpuError> {
    let mut plan = GpuPlan::cpu();
    if !requests.any() {
        return Ok(plan);
    }
    let all: Vec<&str> = requests
        .ggml_settings()
        .into_iter()
        .chain(requests.onnx_settings())
        .collect();
    if mode == GpuMode::Off {
        plan.notes.push(format!(
            "[gpu] mode = \"off\": {} ignored, every engine runs on the CPU",
            all.join(", ")
        ));
        return Ok(plan);
    }
    let ggml = requests.ggml_settings();
    if !ggml.is_empty() && !build.ggml_cuda {
        return Err(GpuError::BuildWithoutCuda {
            settings: ggml.join(", "),
        });
    }
    let Some(probe) = probe else {
        return Err(GpuError::NoUsableGpu {
            settings: all.join(", "),
            reason: GpuUnavailable::NotProbed,
        });
    };
    let devices = match &probe.devices {
        Ok(d) if !d.is_empty() => d.clone(),
        Ok(_) => {
            return fallback_or_err(
                mode,
                plan,
                &all,
                GpuUnavailable::NoDevices {
                    visible_devices: None,
                },
            )
        }
        Err(reason) => return fallback_or_err(mode, plan, &all, reason.clone()),
    };
    plan.devices = devices;
    if requests.asr {
        plan.asr = Device::Cuda;
    }
    plan.llm_layers = requests.llm_layers;
    let onnx = requests.onnx_settings();
    if !onnx.is_empty() {
        let verdict = probe
            .onnx_cuda
            .clone()
            .unwrap_or(Err(OnnxCudaUnavailable::NotProbed));
        match verdict {
            Ok(()) => {
                plan.tts = if requests.tts {
                    Device::Cuda
                } else {
                    Device::Cpu
                };
                plan.vad = if requests.vad {
                    Device::Cuda
                } else {
                    Device::Cpu
                };
            }
            // A CPU-only ONNX Runtime is a deployment choice like a CPU build: no box fixes it.
            Err(reason @ OnnxCudaUnavailable::CpuOnlyRuntime { .. }) => {
                return Err(GpuError::OnnxCuda {
                    settings: onnx.join(", "),
                    reason,
                })
            }
            Err(reason) if mode == GpuMode::Auto => plan.notes.push(format!(
                "[gpu] mode = \"auto\": {} falls back to the CPU: {reason}",
                onnx.join(", ")
            )),
            Err(reason) => {
                return Err(GpuError::OnnxCuda {
                    settings: onnx.join(", "),
                    reason,
                })
            }
        }
    }
    Ok(plan)
}

fn fallback_or_err(
    mode: GpuMode,
    mut plan: GpuPlan,
    settings: &[&str],
    reason: GpuUnavailable,
) -> Result<GpuPlan, GpuError> {
    if mode == GpuMode::Auto {
        plan.notes.push(format!(
            "[gpu] mode = \"auto\": {} falls back to the CPU: no usable GPU: {reason}",
            settings.join(", ")
        ));
        return Ok(plan);
    }
    Err(GpuError::NoUsableGpu {
        settings: settings.join(", "),
        reason,
    })
}

/// Probes what `requests` need (nothing when they ask for nothing or `mode` is off), decides,
/// logs the notes, and rewrites `config` so every engine loads where the plan says; the ONNX
/// engines' execution provider is set in `crate::onnx`. Every CLI command goes through this.
pub fn prepare(config: &mut Config) -> Result<GpuPlan, GpuError> {
    let requests = Requests::of(config);
    let probe = if requests.any() && config.gpu.mode != GpuMode::Off {
        Some(probe::probe(requests))
    } else {
        None
    };
    let plan = decide(config.gpu.mode, Build::current(), requests, probe.as_ref())?;
    for note in &plan.notes {
        tracing::warn!("{note}");
    }
    if plan.uses_gpu() {
        tracing::info!(plan = %plan.summary(), "gpu: engines placed");
    }
    apply(&plan, config);
    Ok(plan)
}

/// A command-line offload (`agent chat|bench llm --n-gpu-layers N`) is a GPU request like the
/// config's, with no `[gpu] mode` to soften it: met, or refused with the reason.
pub fn cli_llm_layers(flag: &str, layers: u32) -> Result<u32, GpuError> {
    if layers == 0 {
        return Ok(0);
    }
    let requests = Requests {
        llm_layers: layers,
        ..Requests::default()
    };
    let probe = Build::current().ggml_cuda.then(|| probe::probe(requests));
    decide(
        GpuMode::Required,
        Build::current(),
        requests,
        probe.as_ref(),
    )
    .map(|plan| plan.llm_layers)
    .map_err(|e| match e {
        GpuError::BuildWithoutCuda { .. } => GpuError::BuildWithoutCuda {
            settings: format!("{flag} {layers}"),
        },
        GpuError::NoUsableGpu { reason, .. } => GpuError::NoUsableGpu {
            settings: format!("{flag} {layers}"),
            reason,
        },
        other => other,
    })
}

/// Makes `config` and the ONNX session factory follow `plan`.
pub fn apply(plan: &GpuPlan, config: &mut Config) {
    config.asr.use_gpu = plan.asr == Device::Cuda;
    config.llm.n_gpu_layers = plan.llm_layers;
    config.tts.use_gpu = plan.tts == Device::Cuda;
    config.vad.use_gpu = plan.vad == Device::Cuda;
    let target = |d: Device| match d {
        Device::Cpu => crate::onnx::ExecutionTarget::Cpu,
        Device::Cuda => crate::onnx::ExecutionTarget::Cuda { device_id: 0 },
    };
    crate::onnx::set_target(crate::onnx::OnnxUse::Tts, target(plan.tts));
    crate::onnx::set_target(crate::onnx::OnnxUse::Vad, target(plan.vad));
    // A CUDA build whose plan is all-CPU hides the devices from the CUDA runtime before ggml
    // starts it: with 0 offloaded layers llama.cpp would still run big prompt batches on a GPU
    // it finds ("op offload"), which `off` / a fallback must not do.
    if cfg!(feature = "cuda")
        && !plan.uses_gpu()
        && std::env::var_os("CUDA_VISIBLE_DEVICES").is_none()
    {
        std::env::set_var("CUDA_VISIBLE_DEVICES", "");
    }
}

#[cfg(test)]
mod tests;
