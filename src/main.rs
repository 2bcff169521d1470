//! The `agent` binary: a thin shell over [`enclave::cli`].

fn main() -> std::process::ExitCode {
    // Before any thread exists (setting the environment later races with getenv): ONNX
    // Runtime's telemetry off at its real switch.
    enclave::onnx::disable_telemetry();
    enclave::cli::main()
}
