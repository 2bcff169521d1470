//! What the box has: the NVIDIA driver (`libcuda.so.1`, opened with `dlopen` so a CPU build
//! and a CUDA build probe the same way, and neither needs the driver to start), its devices,
//! in CUDA builds ggml's backend registry, and ONNX Runtime's CUDA execution provider.

use super::Requests;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;

/// One CUDA device the driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuDevice {
    /// Driver index.
    pub index: u32,
    /// Marketing name, e.g. `NVIDIA H200`.
    pub name: String,
    /// Compute capability, e.g. (9, 0).
    pub compute: (i32, i32),
    /// Device memory in bytes.
    pub memory_bytes: u64,
}

impl fmt::Display for GpuDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} (sm_{}{}, {:.1} GiB)",
            self.index,
            self.name,
            self.compute.0,
            self.compute.1,
            self.memory_bytes as f64 / (1u64 << 30) as f64
        )
    }
}

/// Why there is no usable GPU: what exactly the probe saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuUnavailable {
    /// The driver library cannot be loaded.
    #[error(
        "the NVIDIA driver is not installed or not visible (cannot load libcuda.so.1: {0}); in a \
         container, run it with the NVIDIA runtime (`--device nvidia.com/gpu=all`)"
    )]
    DriverMissing(String),
    /// A driver function is missing (a broken or foreign libcuda).
    #[error("libcuda.so.1 lacks `{0}`: not a usable NVIDIA driver")]
    DriverBroken(String),
    /// `cuInit` failed.
    #[error("the NVIDIA driver failed to initialise: {name} ({code})")]
    InitFailed {
        /// CUresult code.
        code: i32,
        /// Its name, e.g. `CUDA_ERROR_NO_DEVICE`.
        name: String,
    },
    /// The driver reports no device.
    #[error("the NVIDIA driver reports 0 devices{}", visible_devices.as_ref().map(|v| format!(" (CUDA_VISIBLE_DEVICES={v:?})")).unwrap_or_default())]
    NoDevices {
        /// `CUDA_VISIBLE_DEVICES`, when set.
        visible_devices: Option<String>,
    },
    /// The driver is older than the CUDA this binary was built with.
    #[error(
        "the NVIDIA driver supports CUDA {}.{} but this build needs CUDA {}.{}: update the driver \
         (CUDA 13 needs ≥ 580) or build against an older toolkit",
        driver.0, driver.1, needed.0, needed.1
    )]
    DriverTooOld {
        /// What the driver supports.
        driver: (i32, i32),
        /// What the build's runtime needs.
        needed: (i32, i32),
    },
    /// The driver sees devices but ggml's CUDA backend registered none.
    #[error("the driver reports {driver_devices} device(s) but ggml's CUDA backend found none: {detail}")]
    GgmlNoDevice {
        /// Devices the driver reported.
        driver_devices: usize,
        /// What the CUDA runtime said.
        detail: String,
    },
    /// Nothing was probed (a caller bug, kept as an error rather than a silent CPU).
    #[error("the GPU was not probed")]
    NotProbed,
}

/// Why ONNX Runtime cannot run the CUDA execution provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnnxCudaUnavailable {
    /// The ONNX Runtime library cannot be loaded at all.
    #[error("ONNX Runtime is unavailable: {0}")]
    Runtime(String),
    /// The loaded library is the CPU build.
    #[error(
        "the ONNX Runtime library in use ({path}) is the CPU build (no CUDAExecutionProvider); point \
         ORT_DYLIB_PATH at libonnxruntime.so from the `onnxruntime-gpu` wheel (`pip download \
         --no-deps onnxruntime-gpu==1.31.1`, unzip, onnxruntime/capi/) with its CUDA 13 and cuDNN 9 \
         libraries (nvidia-* wheels) on LD_LIBRARY_PATH"
    )]
    CpuOnlyRuntime {
        /// The library file.
        path: String,
    },
    /// The provider is compiled in but could not be registered (its libraries, the device).
    #[error("ONNX Runtime's CUDA execution provider failed to register: {0}")]
    Register(String),
    /// Not probed.
    #[error("ONNX Runtime's CUDA execution provider was not probed")]
    NotProbed,
}

/// Probes what `requests` need: the driver and devices always, ONNX Runtime only when an ONNX
/// engine asks (loading it costs a moment and is not needed otherwise).
pub fn probe(requests: Requests) -> super::Probe {
    let devices = driver_devices().and_then(check_ggml);
    let onnx_cuda = if (requests.tts || requests.vad) && devices.is_ok() {
        Some(crate::onnx::probe_cuda_ep())
    } else {
        None
    };
    super::Probe { devices, onnx_cuda }
}

type CuResult = c_int;

/// The driver's devices, through `dlopen("libcuda.so.1")`.
pub fn driver_devices() -> Result<Vec<GpuDevice>, GpuUnavailable> {
    // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is never closed (the CUDA
    // runtime loads the same library later), so the function pointers stay valid.
    unsafe {
        let handle = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            return Err(GpuUnavailable::DriverMissing(dl_error()));
        }
        let sym = |name: &CStr| -> Result<*mut c_void, GpuUnavailable> {
            let p = libc::dlsym(handle, name.as_ptr());
            if p.is_null() {
                Err(GpuUnavailable::DriverBroken(
                    name.to_string_lossy().into_owned(),
                ))
            } else {
                Ok(p)
            }
        };
        let cu_init: extern "C" fn(u32) -> CuResult = std::mem::transmute(sym(c"cuInit")?);
        let cu_driver_version: extern "C" fn(*mut c_int) -> CuResult =
            std::mem::transmute(sym(c"cuDriverGetVersion")?);
        let cu_count: extern "C" fn(*mut c_int) -> CuResult =
            std::mem::transmute(sym(c"cuDeviceGetCount")?);
        let cu_get: extern "C" fn(*mut c_int, c_int) -> CuResult =
            std::mem::transmute(sym(c"cuDeviceGet")?);
        let cu_name: extern "C" fn(*mut c_char, c_int, c_int) -> CuResult =
            std::mem::transmute(sym(c"cuDeviceGetName")?);
        let cu_mem: extern "C" fn(*mut usize, c_int) -> CuResult =
            std::mem::transmute(sym(c"cuDeviceTotalMem_v2")?);
        let cu_attr: extern "C" fn(*mut c_int, c_int, c_int) -> CuResult =
            std::mem::transmute(sym(c"cuDeviceGetAttribute")?);
        let cu_err_name: Option<extern "C" fn(CuResult, *mut *const c_char) -> CuResult> =
            sym(c"cuGetErrorName")
                .ok()
                .map(|p| std::mem::transmute::<*mut c_void, _>(p));
        let err_name = |code: CuResult| -> String {
            let mut p: *const c_char = std::ptr::null();
            match cu_err_name {
                Some(f) if f(code, &mut p) == 0 && !p.is_null() => {
                    CStr::from_ptr(p).to_string_lossy().into_owned()
                }
                _ => format!("CUresult {code}"),
            }
        };
        let visible_devices = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let r = cu_init(0);
        if r == 100 {
            // CUDA_ERROR_NO_DEVICE
            return Err(GpuUnavailable::NoDevices { visible_devices });
        }
        if r != 0 {
            return Err(GpuUnavailable::InitFailed {
                code: r,
                name: err_name(r),
            });
        }
        let mut version = 0;
        if cu_driver_version(&mut version) == 0 {
            if let Some(needed) = build_cuda_version() {
                let driver = (version / 1000, (version % 1000) / 10);
                // Minor-version compatibility: any driver of the same major runs the build.
                if driver.0 < needed.0 {
                    return Err(GpuUnavailable::DriverTooOld { driver, needed });
                }
            }
        }
        let mut count = 0;
        let r = cu_count(&mut count);
        if r != 0 {
            return Err(GpuUnavailable::InitFailed {
                code: r,
                name: err_name(r),
            });
        }
        if count <= 0 {
            return Err(GpuUnavailable::NoDevices { visible_devices });
        }
        let mut out = Vec::new();
        for i in 0..count {
            let mut dev = 0;
            if cu_get(&mut dev, i) != 0 {
                continue;
            }
            let mut name = [0 as c_char; 256];
            cu_name(name.as_mut_ptr(), name.len() as c_int, dev);
            let mut mem = 0usize;
            cu_mem(&mut mem, dev);
            let (mut major, mut minor) = (0, 0);
            cu_attr(&mut major, 75, dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
            cu_attr(&mut minor, 76, dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
            out.push(GpuDevice {
                index: i as u32,
                name: CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned(),
                compute: (major, minor),
                memory_bytes: mem as u64,
            });
        }
        Ok(out)
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns a thread-local NUL-terminated string or null.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown dlopen error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// The CUDA runtime version this binary was built with (CUDA builds only).
#[cfg(feature = "cuda")]
fn build_cuda_version() -> Option<(i32, i32)> {
    extern "C" {
        fn cudaRuntimeGetVersion(v: *mut c_int) -> c_int;
    }
    let mut v = 0;
    // SAFETY: plain out-parameter call into the statically linked CUDA runtime.
    (unsafe { cudaRuntimeGetVersion(&mut v) } == 0).then(|| (v / 1000, (v % 1000) / 10))
}

#[cfg(not(feature = "cuda"))]
fn build_cuda_version() -> Option<(i32, i32)> {
    None
}

/// In a CUDA build, ggml must see the devices the driver sees (its registry is what Whisper and
/// llama.cpp offload to); otherwise the runtime's error says why.
#[cfg(feature = "cuda")]
fn check_ggml(devices: Vec<GpuDevice>) -> Result<Vec<GpuDevice>, GpuUnavailable> {
    use llama_cpp_sys_2 as sys;
    extern "C" {
        fn cudaGetDeviceCount(n: *mut c_int) -> c_int;
        fn cudaGetErrorString(e: c_int) -> *const c_char;
    }
    // SAFETY: ggml's registry is a process-wide singleton, safe to query at any time; the CUDA
    // runtime calls take out-parameters.
    unsafe {
        let gpus = (0..sys::ggml_backend_dev_count())
            .map(|i| sys::ggml_backend_dev_get(i))
            .filter(|d| sys::ggml_backend_dev_type(*d) == sys::GGML_BACKEND_DEVICE_TYPE_GPU)
            .count();
        if gpus > 0 {
            return Ok(devices);
        }
        let mut n = 0;
        let e = cudaGetDeviceCount(&mut n);
        let detail = if e == 0 {
            format!("the CUDA runtime sees {n} device(s)")
        } else {
            CStr::from_ptr(cudaGetErrorString(e))
                .to_string_lossy()
                .into_owned()
        };
        Err(GpuUnavailable::GgmlNoDevice {
            driver_devices: devices.len(),
            detail,
        })
    }
}

#[cfg(not(feature = "cuda"))]
fn check_ggml(devices: Vec<GpuDevice>) -> Result<Vec<GpuDevice>, GpuUnavailable> {
    Ok(devices)
}
