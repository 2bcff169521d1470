//! The `agent` binary: a thin shell over [`enclave::cli`].

fn main() -> std::process::ExitCode {
    enclave::cli::main()
}
