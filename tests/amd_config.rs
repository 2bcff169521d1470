//! `[amd]`: the example documents every key at its default, and bad values name the key.

use enclave::config::{AmdConfig, Config, MachineAction};

#[test]
fn the_example_documents_every_amd_key_at_its_default() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.toml");
    let cfg = Config::load_with_env(Some(&example), Vec::<(String, String)>::new()).unwrap();
    assert_eq!(cfg.amd, AmdConfig::default());
    assert!(!cfg.amd.enabled, "off by default");
    assert!(
        !cfg.amd.inbound,
        "inbound calls are never screened by default"
    );
    let text = std::fs::read_to_string(&example).unwrap();
    let section = text
        .split("\n[amd]\n")
        .nth(1)
        .expect("an [amd] section")
        .split("\n[")
        .next()
        .unwrap();
    let toml::Value::Table(keys) = toml::Value::try_from(&cfg.amd).unwrap() else {
        panic!("a table");
    };
    for key in keys.keys() {
        assert!(
            section.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "amd.{key} is documented in agent.example.toml"
        );
    }
}

#[test]
fn actions_parse_and_bad_values_name_the_key() {
    let c = Config::from_toml_str(
        "a.toml",
        "[amd]\nenabled = true\naction = \"hang_up\"\nivr_action = \"leave_message\"\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    assert_eq!(c.amd.action, MachineAction::HangUp);
    assert_eq!(c.amd.ivr_action, MachineAction::LeaveMessage);
    for (toml, key) in [
        ("[amd]\naction = \"shout\"\n", "amd.action"),
        ("[amd]\nmax_greeting_ms = 100\n", "amd.max_greeting_ms"),
        (
            "[amd]\nbeep_min_hz = 2500\nbeep_max_hz = 1000\n",
            "amd.beep_max_hz",
        ),
        ("[amd]\nbeep_purity = 1.5\n", "amd.beep_purity"),
        (
            "[amd]\nbeep_min_ms = 500\nbeep_max_ms = 200\n",
            "amd.beep_max_ms",
        ),
        ("[amd]\nmax_greting_ms = 3000\n", "max_greting_ms"),
    ] {
        let err = Config::from_toml_str("a.toml", toml, Vec::<(String, String)>::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{toml}: {err}");
    }
    let env = vec![("ENCLAVE_AMD__ENABLED".to_string(), "true".to_string())];
    assert!(
        Config::from_toml_str("a.toml", "", env)
            .unwrap()
            .amd
            .enabled
    );
}
