//! `[gpu]`: what to do when an engine asks for the GPU (the policy itself is `crate::gpu`).

use serde::{Deserialize, Serialize};

/// How GPU requests of the engines (`asr.use_gpu`, `llm.n_gpu_layers`, `tts.use_gpu`,
/// `vad.use_gpu`) are honoured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuMode {
    /// A requested GPU must be usable, or start-up fails saying why (the default: a GPU
    /// request is never dropped without the operator having said so).
    #[default]
    Required,
    /// Use the GPU where it is usable; otherwise run that engine on the CPU, with a warning
    /// that says why. A build without CUDA still fails: no box makes it usable.
    Auto,
    /// Everything on the CPU, whatever the engines ask for (logged once at start-up).
    Off,
}

impl GpuMode {
    /// The spelling in `agent.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            GpuMode::Required => "required",
            GpuMode::Auto => "auto",
            GpuMode::Off => "off",
        }
    }
}

/// Settings of `[gpu]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpuConfig {
    /// `required`, `auto` or `off` (see [`GpuMode`]).
    pub mode: GpuMode,
}
