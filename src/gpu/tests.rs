//! The policy matrix: build × mode × requests × probe.

use super::*;

const CPU_BUILD: Build = Build { ggml_cuda: false };
const CUDA_BUILD: Build = Build { ggml_cuda: true };

fn h200() -> GpuDevice {
    GpuDevice {
        index: 0,
        name: "NVIDIA H200".into(),
        compute: (9, 0),
        memory_bytes: 141 << 30,
    }
}

fn gpu_box(onnx: Option<Result<(), OnnxCudaUnavailable>>) -> Probe {
    Probe {
        devices: Ok(vec![h200()]),
        onnx_cuda: onnx,
    }
}

fn no_driver() -> Probe {
    Probe {
        devices: Err(GpuUnavailable::DriverMissing(
            "libcuda.so.1: cannot open shared object file".into(),
        )),
        onnx_cuda: None,
    }
}

fn asr_llm() -> Requests {
    Requests {
        asr: true,
        llm_layers: 999,
        ..Requests::default()
    }
}

fn onnx_only() -> Requests {
    Requests {
        tts: true,
        vad: true,
        ..Requests::default()
    }
}

#[test]
fn nothing_requested_is_cpu_in_every_mode_and_needs_no_probe() {
    for mode in [GpuMode::Required, GpuMode::Auto, GpuMode::Off] {
        for build in [CPU_BUILD, CUDA_BUILD] {
            let plan = decide(mode, build, Requests::default(), None).unwrap();
            assert_eq!(plan, GpuPlan::cpu());
        }
    }
}

#[test]
fn cpu_build_asked_to_offload_fails_in_required_and_auto_naming_the_setting_and_the_build() {
    for mode in [GpuMode::Required, GpuMode::Auto] {
        let err = decide(mode, CPU_BUILD, asr_llm(), Some(&gpu_box(None))).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, GpuError::BuildWithoutCuda { .. }), "{err:?}");
        assert!(text.contains("asr.use_gpu"), "{text}");
        assert!(text.contains("llm.n_gpu_layers"), "{text}");
        assert!(text.contains("scripts/build-cuda.sh"), "{text}");
    }
}

#[test]
fn off_runs_everything_on_cpu_and_says_what_it_ignored() {
    let all = Requests {
        asr: true,
        llm_layers: 20,
        tts: true,
        vad: false,
    };
    let plan = decide(GpuMode::Off, CPU_BUILD, all, None).unwrap();
    assert!(!plan.uses_gpu());
    assert_eq!(plan.notes.len(), 1);
    assert!(plan.notes[0].contains("asr.use_gpu"), "{:?}", plan.notes);
    assert!(plan.notes[0].contains("tts.use_gpu"), "{:?}", plan.notes);
}

#[test]
fn cuda_build_without_driver_fails_when_required_and_names_the_driver() {
    let err = decide(GpuMode::Required, CUDA_BUILD, asr_llm(), Some(&no_driver())).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GpuError::NoUsableGpu { .. }), "{err:?}");
    assert!(text.contains("libcuda.so.1"), "{text}");
    assert!(text.contains("mode = \"auto\""), "{text}");
}

#[test]
fn cuda_build_without_driver_falls_back_only_in_auto_with_a_note() {
    let plan = decide(GpuMode::Auto, CUDA_BUILD, asr_llm(), Some(&no_driver())).unwrap();
    assert!(!plan.uses_gpu());
    assert_eq!(plan.notes.len(), 1);
    assert!(
        plan.notes[0].contains("falls back to the CPU"),
        "{:?}",
        plan.notes
    );
    assert!(plan.notes[0].contains("libcuda.so.1"), "{:?}", plan.notes);
}

#[test]
fn zero_devices_is_its_own_reason() {
    let probe = Probe {
        devices: Err(GpuUnavailable::NoDevices {
            visible_devices: Some(String::new()),
        }),
        onnx_cuda: None,
    };
    let err = decide(GpuMode::Required, CUDA_BUILD, asr_llm(), Some(&probe)).unwrap_err();
    assert!(err.to_string().contains("0 devices"), "{err}");
    assert!(err.to_string().contains("CUDA_VISIBLE_DEVICES"), "{err}");
    // An empty device list from a probe counts the same as "no devices".
    let empty = Probe {
        devices: Ok(vec![]),
        onnx_cuda: None,
    };
    let err = decide(GpuMode::Required, CUDA_BUILD, asr_llm(), Some(&empty)).unwrap_err();
    assert!(err.to_string().contains("0 devices"), "{err}");
}

#[test]
fn cuda_build_on_a_gpu_box_offloads_what_was_asked() {
    let plan = decide(
        GpuMode::Required,
        CUDA_BUILD,
        asr_llm(),
        Some(&gpu_box(None)),
    )
    .unwrap();
    assert_eq!(plan.asr, Device::Cuda);
    assert_eq!(plan.llm_layers, 999);
    assert_eq!(plan.tts, Device::Cpu);
    assert_eq!(plan.devices, vec![h200()]);
    assert!(plan.notes.is_empty());
    assert!(plan.summary().contains("H200"), "{}", plan.summary());
}

#[test]
fn onnx_gpu_needs_no_cuda_build_but_a_gpu_runtime() {
    // ONNX Runtime is loaded at run time: a CPU build of the agent can use onnxruntime-gpu.
    let plan = decide(
        GpuMode::Required,
        CPU_BUILD,
        onnx_only(),
        Some(&gpu_box(Some(Ok(())))),
    )
    .unwrap();
    assert_eq!((plan.tts, plan.vad), (Device::Cuda, Device::Cuda));
    assert_eq!((plan.asr, plan.llm_layers), (Device::Cpu, 0));
}

#[test]
fn cpu_only_onnx_runtime_fails_even_in_auto() {
    let cpu_ort = Some(Err(OnnxCudaUnavailable::CpuOnlyRuntime {
        path: "/x/libonnxruntime.so".into(),
    }));
    for mode in [GpuMode::Required, GpuMode::Auto] {
        let err = decide(
            mode,
            CPU_BUILD,
            onnx_only(),
            Some(&gpu_box(cpu_ort.clone())),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("tts.use_gpu"), "{text}");
        assert!(text.contains("onnxruntime-gpu"), "{text}");
    }
}

#[test]
fn onnx_provider_that_fails_to_register_falls_back_only_in_auto() {
    let broken = Some(Err(OnnxCudaUnavailable::Register(
        "libcudnn.so.9: cannot open shared object file".into(),
    )));
    let err = decide(
        GpuMode::Required,
        CPU_BUILD,
        onnx_only(),
        Some(&gpu_box(broken.clone())),
    )
    .unwrap_err();
    assert!(err.to_string().contains("libcudnn.so.9"), "{err}");
    let plan = decide(
        GpuMode::Auto,
        CPU_BUILD,
        onnx_only(),
        Some(&gpu_box(broken)),
    )
    .unwrap();
    assert_eq!((plan.tts, plan.vad), (Device::Cpu, Device::Cpu));
    assert!(plan.notes[0].contains("libcudnn.so.9"), "{:?}", plan.notes);
}

#[test]
fn mixed_requests_keep_the_ggml_offload_when_only_onnx_falls_back() {
    let req = Requests {
        asr: true,
        llm_layers: 999,
        tts: true,
        vad: false,
    };
    let broken = Some(Err(OnnxCudaUnavailable::Register("no cudnn".into())));
    let plan = decide(GpuMode::Auto, CUDA_BUILD, req, Some(&gpu_box(broken))).unwrap();
    assert_eq!(
        (plan.asr, plan.llm_layers, plan.tts),
        (Device::Cuda, 999, Device::Cpu)
    );
}

#[test]
fn a_missing_probe_is_an_error_not_a_cpu() {
    let err = decide(GpuMode::Required, CUDA_BUILD, asr_llm(), None).unwrap_err();
    assert!(err.to_string().contains("not probed"), "{err}");
}

#[test]
fn check_build_is_what_config_validation_refuses() {
    let mut config = Config::default();
    assert!(check_build(&config, CPU_BUILD).is_ok());
    config.llm.n_gpu_layers = 999;
    let err = check_build(&config, CPU_BUILD).unwrap_err();
    assert!(err.to_string().contains("llm.n_gpu_layers"), "{err}");
    assert!(check_build(&config, CUDA_BUILD).is_ok());
    config.gpu.mode = GpuMode::Off;
    assert!(check_build(&config, CPU_BUILD).is_ok());
    // ONNX requests are not a build question.
    let mut config = Config::default();
    config.tts.use_gpu = true;
    assert!(check_build(&config, CPU_BUILD).is_ok());
}

#[test]
fn apply_rewrites_the_config_to_the_plan() {
    let mut config = Config::default();
    config.asr.use_gpu = true;
    config.llm.n_gpu_layers = 999;
    config.tts.use_gpu = true;
    apply(&GpuPlan::cpu(), &mut config);
    assert!(!config.asr.use_gpu && !config.tts.use_gpu);
    assert_eq!(config.llm.n_gpu_layers, 0);
    assert_eq!(
        crate::onnx::target(crate::onnx::OnnxUse::Tts),
        crate::onnx::ExecutionTarget::Cpu
    );
}
