//! Guards the one-ggml build (vendor/whisper-rs-sys/README.md): whisper.cpp and llama.cpp must
//! share llama-cpp-sys-2's ggml. Two ggml copies link without any error and corrupt memory
//! later, so this checks the link inputs cargo actually used (`nm` on the static libraries).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/` of the build being checked: this test run's own (derived from the agent
/// binary cargo built for it), or the one `ENCLAVE_GGML_CHECK_DIR` names — how
/// `scripts/build-cuda.sh` checks the CUDA build (`…/cuda-target/release`) with this test.
fn profile_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ENCLAVE_GGML_CHECK_DIR") {
        return PathBuf::from(dir);
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_agent"));
    exe.parent().expect("binary has a directory").to_path_buf()
}

/// Newest build-script `output` file of a `-sys` crate (older hashes can linger in target/).
fn build_output(crate_prefix: &str) -> (PathBuf, String) {
    let build = profile_dir().join("build");
    let mut outputs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&build)
        .expect("target/<profile>/build exists")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix(crate_prefix)
                .is_some_and(|rest| rest.starts_with('-') && rest[1..].len() == 16)
        })
        .map(|e| e.path().join("output"))
        .filter(|p| p.is_file())
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    outputs.sort();
    let (_, path) = outputs
        .pop()
        .unwrap_or_else(|| panic!("no build-script output for {crate_prefix} in {build:?}"));
    let text = std::fs::read_to_string(&path).expect("read build output");
    (path, text)
}

fn static_libs(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| {
            l.strip_prefix("cargo:rustc-link-lib=")
                .or_else(|| l.strip_prefix("cargo::rustc-link-lib="))
        })
        .map(|l| l.trim_start_matches("static=").to_string())
        .collect()
}

#[test]
fn whisper_links_no_ggml_of_its_own() {
    let (path, out) = build_output("whisper-rs-sys");
    let libs = static_libs(&out);
    assert!(
        libs.iter().any(|l| l == "whisper"),
        "{path:?} does not link whisper: {libs:?}"
    );
    let ggml: Vec<_> = libs.iter().filter(|l| l.starts_with("ggml")).collect();
    assert!(
        ggml.is_empty(),
        "whisper-rs-sys links its own ggml again ({ggml:?}) in {path:?}"
    );
    let out_dir = path.parent().unwrap().join("out");
    let stray = find_files(&out_dir, "libggml");
    assert!(
        stray.is_empty(),
        "whisper-rs-sys built a ggml of its own: {stray:?}"
    );
}

#[test]
fn llama_provides_the_only_ggml() {
    let (path, out) = build_output("llama-cpp-sys-2");
    let libs = static_libs(&out);
    assert!(libs.iter().any(|l| l == "ggml-base"), "{path:?}: {libs:?}");
    assert!(
        out.contains("ggml_cmake_dir="),
        "llama-cpp-sys-2 no longer exports ggml_cmake_dir"
    );
}

/// Directories a build script told the linker to search.
fn search_dirs(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|l| {
            l.strip_prefix("cargo:rustc-link-search=")
                .or_else(|| l.strip_prefix("cargo::rustc-link-search="))
        })
        .map(|l| {
            let dir = PathBuf::from(
                l.strip_prefix("native=")
                    .or_else(|| l.strip_prefix("all="))
                    .unwrap_or(l),
            );
            // A target directory copied from elsewhere keeps the old absolute paths in its
            // build-script outputs: look for the same `build/<crate-hash>/…` here.
            if dir.is_dir() {
                return dir;
            }
            let text = dir.to_string_lossy().to_string();
            match text.split_once("/build/") {
                Some((_, rest)) => profile_dir().join("build").join(rest),
                None => dir,
            }
        })
        .collect()
}

/// Symbols `nm` lists for `lib` as `(kind, name)`, e.g. `("T", "ggml_init")`.
fn nm_symbols(lib: &Path) -> Vec<(String, String)> {
    let out = Command::new("nm")
        .arg("--defined-only")
        .arg(lib)
        .output()
        .unwrap_or_else(|e| panic!("`nm` (binutils) is needed for this test: {e}"));
    assert!(out.status.success(), "nm failed on {lib:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace().rev();
            let name = cols.next()?;
            let kind = cols.next()?;
            Some((kind.to_string(), name.to_string()))
        })
        .collect()
}

/// Every static library the two `-sys` crates handed to the linker, by crate.
fn link_inputs() -> Vec<(&'static str, PathBuf)> {
    let mut inputs = Vec::new();
    for krate in ["whisper-rs-sys", "llama-cpp-sys-2"] {
        let (path, out) = build_output(krate);
        let dirs = search_dirs(&out);
        for lib in static_libs(&out) {
            let file = format!("lib{lib}.a");
            if let Some(found) = dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()) {
                inputs.push((krate, found));
            } else if out.contains(&format!("static={lib}")) {
                panic!("{path:?} links static {lib} but {file} is in none of {dirs:?}");
            }
        }
    }
    inputs
}

/// The link inputs themselves: exactly one static library defines ggml's entry points (two
/// copies would link silently — the linker takes the first — and corrupt memory later), and
/// the whisper and llama code that calls them is there. (Checking the linked binary instead
/// cannot fail: a linked binary never holds two definitions of one symbol.)
#[test]
fn exactly_one_link_input_defines_ggml() {
    let inputs = link_inputs();
    assert!(!inputs.is_empty(), "no static link inputs found");
    let mut ggml_defs = Vec::new();
    let mut whisper = false;
    let mut llama = false;
    for (krate, lib) in &inputs {
        let syms = nm_symbols(lib);
        let defines = |name: &str| syms.iter().any(|(k, n)| n == name && k == "T");
        if defines("ggml_init") {
            ggml_defs.push(format!("{krate}: {}", lib.display()));
        }
        whisper |= defines("whisper_init_from_file_with_params_no_state");
        llama |= defines("llama_model_load_from_file");
    }
    assert_eq!(
        ggml_defs.len(),
        1,
        "ggml_init must be defined by exactly one link input, found: {ggml_defs:#?}"
    );
    assert!(
        ggml_defs[0].starts_with("llama-cpp-sys-2"),
        "the one ggml must be llama-cpp-sys-2's: {ggml_defs:?}"
    );
    assert!(
        whisper,
        "no link input defines whisper's entry point: {inputs:?}"
    );
    assert!(
        llama,
        "no link input defines llama's entry point: {inputs:?}"
    );
}

fn find_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(find_files(&p, prefix));
        } else if e.file_name().to_string_lossy().starts_with(prefix) {
            found.push(p);
        }
    }
    found
}

/// In a CUDA build the GPU backend is part of the one ggml: exactly one link input defines the
/// CUDA backend's entry point, and it is llama-cpp-sys-2's (whisper.cpp offloads through it).
/// A CPU build has none, and this checks that no CUDA backend crept in unasked.
#[test]
fn the_cuda_backend_is_in_the_one_ggml_or_absent() {
    let (_, llama_out) = build_output("llama-cpp-sys-2");
    let cuda_build = static_libs(&llama_out).iter().any(|l| l == "ggml-cuda");
    let mut defs = Vec::new();
    for (krate, lib) in link_inputs() {
        if nm_symbols(&lib)
            .iter()
            .any(|(k, n)| k == "T" && n == "ggml_backend_cuda_init")
        {
            defs.push(format!("{krate}: {}", lib.display()));
        }
    }
    if cuda_build {
        assert_eq!(
            defs.len(),
            1,
            "ggml_backend_cuda_init defined by: {defs:#?}"
        );
        assert!(defs[0].starts_with("llama-cpp-sys-2"), "{defs:?}");
    } else {
        assert!(
            defs.is_empty(),
            "a CPU build links a CUDA backend: {defs:#?}"
        );
    }
}
