use super::*;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn defaults_are_valid_and_bind_loopback() {
    let c = Config::from_toml_str("t.toml", "", no_env()).unwrap();
    assert!(c.server.listen.ip().is_loopback());
    assert_eq!(c.server.listen.port(), 9092);
}

#[test]
fn unknown_key_names_file_and_key() {
    let err = Config::from_toml_str("agent.toml", "[server]\nlisten_addr = \"x\"\n", no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("agent.toml"), "{err}");
    assert!(err.contains("server"), "{err}");
    assert!(err.contains("listen_addr"), "{err}");
    assert!(err.contains("expected one of"), "{err}");
}

#[test]
fn wrong_type_names_key() {
    let err = Config::from_toml_str("a.toml", "[server]\nmax_calls = \"many\"\n", no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.max_calls"), "{err}");
}

#[test]
fn syntax_error_names_file() {
    let err = Config::from_toml_str("a.toml", "[server\n", no_env())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("a.toml"), "{err}");
}

#[test]
fn range_error_names_key_and_allowed_values() {
    let err = Config::from_toml_str("a.toml", "[server]\nplayout_lead_ms = 500\n", no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.playout_lead_ms"), "{err}");
    assert!(err.contains("0..=60"), "{err}");
    // The early transcription pause is 0 or at least 40 ms (one above the short pause
    // means at the short pause).
    let err = Config::from_toml_str(
        "a.toml",
        "[conversation]\nend_of_turn_transcribe_ms = 20\n",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("conversation.end_of_turn_transcribe_ms"),
        "{err}"
    );
    let err = Config::from_toml_str("a.toml", "[vad]\nquiet_below_peak_db = 3\n", no_env())
        .unwrap_err()
        .to_string();
    assert!(err.contains("vad.quiet_below_peak_db"), "{err}");
    let err = Config::from_toml_str(
        "a.toml",
        "[conversation]\nllm_defer_ahead_ms = 50\n",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("conversation.llm_defer_ahead_ms"), "{err}");
    for ok in [
        "[conversation]\nllm_defer_ahead_ms = 0\n",
        "[conversation]\nllm_defer_ahead_ms = 600\n",
        "[conversation]\nend_of_turn_transcribe_ms = 120\n",
        "[conversation]\nend_of_turn_short_ms = 100\nend_of_turn_transcribe_ms = 120\n",
        "[vad]\nquiet_below_peak_db = 0\n",
    ] {
        Config::from_toml_str("a.toml", ok, no_env()).unwrap();
    }
}

#[test]
fn env_overrides_file_values() {
    let env = vec![
        ("ENCLAVE_SERVER__MAX_CALLS".to_string(), "7".to_string()),
        (
            "ENCLAVE_SERVER__LISTEN".to_string(),
            "127.0.0.1:7000".to_string(),
        ),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let c = Config::from_toml_str("a.toml", "[server]\nmax_calls = 3\n", env).unwrap();
    assert_eq!(c.server.max_calls, 7);
    assert_eq!(c.server.listen.port(), 7000);
}

#[test]
fn bad_env_override_names_variable() {
    let env = vec![("ENCLAVE_SERVER__MAX_CALS".to_string(), "7".to_string())];
    let err = Config::from_toml_str("a.toml", "", env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ENCLAVE_SERVER__MAX_CALS"), "{err}");
    assert!(err.contains("max_cals"), "{err}");
}

#[test]
fn effective_config_round_trips() {
    let c = Config::from_toml_str("a.toml", "[server]\nmax_calls = 5\n", no_env()).unwrap();
    let again = Config::from_toml_str("b.toml", &c.to_toml(), no_env()).unwrap();
    assert_eq!(c, again);
}
