//! `[api]` and `[profiles]`: the example documents the defaults, validation names the key,
//! and `agent console hash-password` prints a hash the API accepts.

use enclave::config::{ApiConfig, Config, ProfilesConfig};
use std::io::Write;
use std::process::{Command, Stdio};

fn load(text: &str) -> Result<Config, String> {
    Config::from_toml_str("a.toml", text, Vec::<(String, String)>::new()).map_err(|e| e.to_string())
}

#[test]
fn example_documents_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/agent.example.toml");
    let cfg = Config::load_with_env(
        Some(std::path::Path::new(path)),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    assert_eq!(cfg.api, ApiConfig::default());
    assert_eq!(cfg.profiles, ProfilesConfig::default());
    let text = std::fs::read_to_string(path).unwrap();
    let section = |name: &str| {
        let start = text.find(&format!("\n[{name}]\n")).unwrap();
        let rest = &text[start + 1..];
        let end = rest[1..].find("\n[").map_or(rest.len(), |e| e + 1);
        rest[..end].to_string()
    };
    for (name, keys) in [
        (
            "api",
            &[
                "enabled",
                "listen",
                "tokens",
                "token_file",
                "password_hash",
                "session_ttl_secs",
                "secure_cookies",
                "login_attempts_per_minute",
                "allowed_origins",
            ][..],
        ),
        (
            "profiles",
            &["file", "default", "ami_variable", "ami_wait_ms"][..],
        ),
    ] {
        let s = section(name);
        for key in keys {
            assert!(
                s.contains(&format!("\n{key} =")) || s.contains(&format!("\n# {key} =")),
                "[{name}] {key} is documented in agent.example.toml"
            );
        }
    }
    // Off and on loopback by default.
    assert!(!cfg.api.enabled);
    assert!(cfg.api.listen.ip().is_loopback());
}

#[test]
fn config_check_never_prints_a_token() {
    let token = "0123456789abcdef0123456789-secret";
    let cfg = load(&format!("[api]\ntokens = [\"{token}\"]\n")).unwrap();
    assert!(!cfg.to_toml().contains(token));
    assert!(cfg.to_toml().contains("<redacted>"));
    assert!(!format!("{cfg:?}").contains(token));
}

#[test]
fn an_enabled_api_needs_a_credential() {
    let err = load("[api]\nenabled = true\n").unwrap_err();
    assert!(
        err.contains("api.enabled") && err.contains("hash-password"),
        "{err}"
    );
    load("[api]\nenabled = true\ntokens = [\"0123456789abcdef0123456789\"]\n").unwrap();
}

#[test]
fn bad_values_name_their_key() {
    for (text, key) in [
        ("[api]\ntokens = [\"short\"]\n", "api.tokens[0]"),
        (
            "[api]\npassword_hash = \"plaintext\"\n",
            "api.password_hash",
        ),
        ("[api]\nsession_ttl_secs = 1\n", "api.session_ttl_secs"),
        (
            "[api]\nlogin_attempts_per_minute = 0\n",
            "api.login_attempts_per_minute",
        ),
        (
            "[api]\nallowed_origins = [\"https://x.org/path\"]\n",
            "api.allowed_origins[0]",
        ),
        ("[api]\nlisen = \"127.0.0.1:1\"\n", "lisen"),
        ("[profiles]\ndefault = \"Not A Name\"\n", "profiles.default"),
        (
            "[profiles]\nami_variable = \"A-B\"\n",
            "profiles.ami_variable",
        ),
        ("[profiles]\nfile = \"\"\n", "profiles.file"),
    ] {
        let err = load(text).unwrap_err();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn hash_password_prints_a_hash_the_api_accepts() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["console", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret pass phrase\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(enclave::api::auth::verify_password(
        &hash,
        "s3cret pass phrase"
    ));
    assert!(!enclave::api::auth::verify_password(
        &hash,
        "s3cret pass phrasE"
    ));
    // And agent.toml takes it.
    load(&format!(
        "[api]\nenabled = true\npassword_hash = \"{hash}\"\n"
    ))
    .unwrap();
    // Too short a password is refused.
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["console", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    assert!(!child.wait_with_output().unwrap().status.success());
}
