//! Guards the one-ggml build (vendor/whisper-rs-sys/README.md): whisper.cpp and llama.cpp must
//! share llama-cpp-sys-2's ggml. Two ggml copies link without any error and corrupt memory
//! later, so this checks the link inputs cargo actually used, and the final binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/` of this test run, derived from the agent binary cargo built for it.
fn profile_dir() -> PathBuf {
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

#[test]
fn binary_has_one_ggml_and_both_engines() {
    let exe = env!("CARGO_BIN_EXE_agent");
    let nm = Command::new("nm").arg("--defined-only").arg(exe).output();
    let Ok(nm) = nm else {
        panic!("`nm` (binutils) is needed for this test");
    };
    assert!(nm.status.success(), "nm failed on {exe}");
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let count = |name: &str| {
        symbols
            .lines()
            .filter(|l| l.split_whitespace().last() == Some(name))
            .count()
    };
    assert_eq!(
        count("ggml_init"),
        1,
        "ggml_init defined {} times",
        count("ggml_init")
    );
    assert_eq!(count("whisper_init_from_file_with_params_no_state"), 1);
    assert_eq!(count("llama_model_load_from_file"), 1);
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
