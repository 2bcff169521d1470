//! Build script: only the CUDA build needs it. PyPI's CUDA wheels ship cuBLAS as shared
//! libraries only, so `scripts/build-cuda.sh` sets `ENCLAVE_CUBLAS_DYNAMIC=1` and the binary
//! links `libcublas.so.13`/`libcublasLt.so.13` (llama-cpp-sys-2 asks for the static archives,
//! which that script's toolkit root provides as empty stand-ins).

fn main() {
    println!("cargo:rerun-if-env-changed=ENCLAVE_CUBLAS_DYNAMIC");
    println!("cargo:rerun-if-env-changed=CUDA_PATH");
    let cuda = std::env::var_os("CARGO_FEATURE_CUDA").is_some();
    let dynamic = std::env::var("ENCLAVE_CUBLAS_DYNAMIC").is_ok_and(|v| v == "1");
    if cuda && dynamic {
        if let Ok(root) = std::env::var("CUDA_PATH") {
            println!("cargo:rustc-link-search=native={root}/lib64");
        }
        println!("cargo:rustc-link-lib=dylib=cublas");
        println!("cargo:rustc-link-lib=dylib=cublasLt");
    }
}
