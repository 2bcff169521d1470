//! ENCLAVE PATCH of whisper-rs-sys 0.15.0's build script (see README.md beside this file).
//!
//! Upstream builds whisper.cpp together with its own vendored ggml and links both statically.
//! llama-cpp-sys-2 does the same with a different ggml version, and a binary holding both
//! silently resolves every ggml symbol to one copy while whisper.cpp was compiled against the
//! other copy's headers. Here whisper.cpp is built against llama-cpp-sys-2's ggml instead
//! (`WHISPER_USE_SYSTEM_GGML=ON`), bindings are generated against that ggml's headers, and
//! only `libwhisper.a` is linked: ggml comes from llama-cpp-sys-2, once.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=build.rs");

    // Set by llama-cpp-sys-2's build script (`cargo:ggml_cmake_dir=…`), visible to us
    // because we depend on it (`links = "llama"`).
    let ggml_cmake_dir = PathBuf::from(env::var("DEP_LLAMA_GGML_CMAKE_DIR").expect(
        "DEP_LLAMA_GGML_CMAKE_DIR is not set: llama-cpp-sys-2 >= 0.1.154 must be built first \
         (it is a dependency of this patched crate)",
    ));
    // <out>/lib/cmake -> <out>/include holds llama.h, ggml.h and friends.
    let llama_prefix = ggml_cmake_dir
        .parent()
        .and_then(Path::parent)
        .expect("ggml cmake dir has a prefix")
        .to_path_buf();
    let llama_include = llama_prefix.join("include");

    let bindings = bindgen::Builder::default()
        .rust_edition(bindgen::RustEdition::Edition2021)
        .rust_target(bindgen::RustTarget::stable(88, 0).expect("rust target"))
        .header(manifest.join("wrapper.h").display().to_string())
        .clang_arg(format!("-I{}", manifest.join("whisper.cpp/include").display()))
        .clang_arg(format!("-I{}", llama_include.display()))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on whisper.h + llama-cpp-sys-2's ggml.h");
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    if env::var("DOCS_RS").is_ok() {
        return;
    }

    // whisper.cpp is always compiled optimised: a debug whisper is unusably slow.
    let mut config = cmake::Config::new(manifest.join("whisper.cpp"));
    config
        .profile("Release")
        .define("BUILD_SHARED_LIBS", "OFF")
        .define("WHISPER_USE_SYSTEM_GGML", "ON")
        .define("ggml_DIR", ggml_cmake_dir.join("ggml"))
        .define("CMAKE_PREFIX_PATH", &llama_prefix)
        .define("WHISPER_ALL_WARNINGS", "OFF")
        .define("WHISPER_ALL_WARNINGS_3RD_PARTY", "OFF")
        .define("WHISPER_BUILD_TESTS", "OFF")
        .define("WHISPER_BUILD_EXAMPLES", "OFF")
        .define("WHISPER_BUILD_SERVER", "OFF")
        .out_dir(out.join("cmake"))
        .pic(true);
    let destination = config.build();

    for dir in ["lib", "lib64"] {
        println!("cargo:rustc-link-search=native={}", destination.join(dir).display());
    }
    println!("cargo:rustc-link-lib=static=whisper");
    // ggml (and the C++ runtime, OpenMP) are linked by llama-cpp-sys-2.
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:WHISPER_CPP_VERSION=1.8.3");
}
