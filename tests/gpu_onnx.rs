//! ONNX Runtime's CUDA execution provider, on the library the tests load (the CPU build from
//! PyPI's `onnxruntime`): the probe says it is the CPU build and how to get the GPU one, and a
//! session asked to run on CUDA fails to build instead of quietly running on the CPU.

use enclave::onnx::{self, ExecutionTarget, OnnxUse};
use std::path::Path;

fn silero() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/vad/silero_vad.onnx");
    assert!(
        p.is_file(),
        "fixture missing: {p:?} (the shared fixtures checkout)"
    );
    p
}

#[test]
fn the_cpu_runtime_has_no_cuda_provider_and_says_where_to_get_one() {
    onnx::ensure_runtime().expect("ONNX Runtime (bash scripts/setup.sh --deps)");
    match onnx::probe_cuda_ep() {
        Err(enclave::gpu::OnnxCudaUnavailable::CpuOnlyRuntime { path }) => {
            assert!(path.contains("libonnxruntime"), "{path}");
        }
        other => panic!("expected the CPU build to be named as such, got {other:?}"),
    }
    let text = onnx::probe_cuda_ep().unwrap_err().to_string();
    assert!(text.contains("onnxruntime-gpu"), "{text}");
    assert!(text.contains("ORT_DYLIB_PATH"), "{text}");
}

#[test]
fn a_session_targeted_at_cuda_fails_loudly_and_cpu_still_works() {
    onnx::ensure_runtime().expect("ONNX Runtime (bash scripts/setup.sh --deps)");
    let model = silero();
    onnx::set_target(OnnxUse::Vad, ExecutionTarget::Cuda { device_id: 0 });
    let err = enclave::vad::SileroModel::load(&model, 1).expect_err("no CUDA session on CPU ORT");
    let text = err.to_string();
    assert!(text.contains("CUDA"), "{text}");
    // The TTS target is separate and still the CPU; the VAD back on the CPU loads.
    assert_eq!(onnx::target(OnnxUse::Tts), ExecutionTarget::Cpu);
    onnx::set_target(OnnxUse::Vad, ExecutionTarget::Cpu);
    enclave::vad::SileroModel::load(&model, 1).expect("CPU session");
}
