//! The `[records]` section: defaults, TOML loading, range errors naming the key.

use enclave::config::{Config, RecordsConfig};

#[test]
fn defaults_are_valid_and_keep_everything_unredacted_without_recordings() {
    let c = RecordsConfig::default();
    c.validate().unwrap();
    assert!(c.enabled);
    assert_eq!(c.retention_days, 0);
    assert!(!c.redact_digits);
    assert_eq!(c.redact_min_digits, 4);
    assert!(c.recordings_dir.is_none());
}

#[test]
fn section_loads_from_toml() {
    let text = "[records]\ndb_path = \"/var/lib/enclave/calls.db\"\nrecordings_dir = \"/var/lib/enclave/rec\"\nrecording_sample_rate = 16000\nretention_days = 30\nredact_digits = true\nredact_min_digits = 5\n";
    let c = Config::from_toml_str("t.toml", text, Vec::new())
        .unwrap()
        .records;
    assert_eq!(c.db_path.to_str(), Some("/var/lib/enclave/calls.db"));
    assert_eq!(
        c.recordings_dir.unwrap().to_str(),
        Some("/var/lib/enclave/rec")
    );
    assert_eq!(
        (
            c.recording_sample_rate,
            c.retention_days,
            c.redact_min_digits
        ),
        (16000, 30, 5)
    );
    assert!(c.redact_digits);
}

#[test]
fn bad_values_name_the_key_and_what_is_allowed() {
    for (text, key, hint) in [
        (
            "recording_sample_rate = 44100",
            "records.recording_sample_rate",
            "8000 or 16000",
        ),
        (
            "redact_min_digits = 0",
            "records.redact_min_digits",
            "1..=32",
        ),
        ("queue_capacity = 1", "records.queue_capacity", "16..="),
        ("db_path = \"\"", "records.db_path", "must not be empty"),
        (
            "retention_days = 100000",
            "records.retention_days",
            "0 keeps",
        ),
    ] {
        let err = Config::from_toml_str("t.toml", &format!("[records]\n{text}\n"), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains(key) && err.contains(hint), "{text}: {err}");
    }
    let err =
        Config::from_toml_str("t.toml", "[records]\nredact = true\n", Vec::new()).unwrap_err();
    assert!(err.to_string().contains("redact"), "{err}");
}

#[test]
fn environment_overrides_records_keys() {
    let env = vec![(
        "ENCLAVE_RECORDS__RETENTION_DAYS".to_string(),
        "7".to_string(),
    )];
    let c = Config::from_toml_str("t.toml", "", env).unwrap();
    assert_eq!(c.records.retention_days, 7);
}

/// agent.example.toml documents the defaults of the sections h6 owns: `[records]`,
/// `[server]` (incl. the per-call bounds) and `[metrics]` parse from it equal to
/// `Config::default()`.
#[test]
fn the_example_documents_the_defaults_of_records_server_and_metrics() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let cfg =
        enclave::config::Config::load_with_env(Some(&example), Vec::<(String, String)>::new())
            .unwrap();
    let defaults = enclave::config::Config::default();
    assert_eq!(cfg.records, defaults.records, "[records]");
    assert_eq!(cfg.server, defaults.server, "[server]");
    assert_eq!(cfg.metrics, defaults.metrics, "[metrics]");
}
