//! The `[metrics]` section: defaults bind loopback:9093, loading, port 0 refused.

use enclave::config::{Config, MetricsConfig};

#[test]
fn defaults_bind_loopback_9093_and_are_enabled() {
    let c = MetricsConfig::default();
    c.validate().unwrap();
    assert!(c.enabled);
    assert!(c.listen.ip().is_loopback());
    assert_eq!(c.listen.port(), 9093);
}

#[test]
fn section_loads_and_port_zero_is_refused_when_enabled() {
    let c = Config::from_toml_str(
        "t.toml",
        "[metrics]\nlisten = \"0.0.0.0:9100\"\n",
        Vec::new(),
    )
    .unwrap();
    assert_eq!(c.metrics.listen.port(), 9100);
    let err = Config::from_toml_str(
        "t.toml",
        "[metrics]\nlisten = \"127.0.0.1:0\"\n",
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("metrics.listen"), "{err}");
    Config::from_toml_str(
        "t.toml",
        "[metrics]\nenabled = false\nlisten = \"127.0.0.1:0\"\n",
        Vec::new(),
    )
    .unwrap();
    let err = Config::from_toml_str(
        "t.toml",
        "[metrics]\nlisten = \"not an address\"\n",
        Vec::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("listen"), "{err}");
}
