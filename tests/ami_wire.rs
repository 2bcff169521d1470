//! AMI message encoding, summary sanitising, extension-name checks and the `[ami]` section.

use enclave::ami::{
    check_name, encode_action, sanitize_summary, AmiError, AmiSettings, Message, SUMMARY_MAX_BYTES,
};
use enclave::config::{AmiConfig, Config};
use std::time::Duration;

#[test]
fn action_encoding_is_action_then_actionid_then_fields_with_crlf() {
    let bytes = encode_action(
        "Setvar",
        "enclave-7",
        &[
            ("Channel", "PJSIP/100-00000001"),
            ("Variable", "A"),
            ("Value", ""),
        ],
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "Action: Setvar\r\nActionID: enclave-7\r\nChannel: PJSIP/100-00000001\r\nVariable: A\r\nValue: \r\n\r\n"
    );
}

#[test]
fn cr_or_lf_in_a_value_is_refused_not_injected() {
    for bad in ["x\r\nAction: Hangup", "x\nAction: Hangup", "x\r"] {
        let err = encode_action("Setvar", "enclave-1", &[("Value", bad)]).unwrap_err();
        assert!(
            matches!(&err, AmiError::InvalidField { field, .. } if field == "Value"),
            "{err:?}"
        );
    }
    assert!(encode_action("Setvar", "id", &[("Bad Key", "v")]).is_err());
    assert!(encode_action("Setvar", "id", &[("", "v")]).is_err());
}

#[test]
fn message_lookup_is_case_insensitive_and_keeps_colons_in_values() {
    let mut m = Message::default();
    for line in [
        "Response: Success",
        "ActionID: enclave-3",
        "Value: a:b: c",
        "raw output line",
    ] {
        m.push_line(line).unwrap();
    }
    assert_eq!(m.response(), Some("Success"));
    assert_eq!(m.get("actionid"), Some("enclave-3"));
    assert_eq!(m.get("VALUE"), Some("a:b: c"));
    assert_eq!(m.event(), None);
    assert_eq!(m.fields().len(), 4);
}

#[test]
fn summary_is_one_line_collapsed_and_capped_on_a_char_boundary() {
    assert_eq!(sanitize_summary("  a\r\nb\t\tc \u{0}d  "), "a b c d");
    assert_eq!(sanitize_summary(""), "");
    let long = "я".repeat(1000); // 2 bytes each
    let s = sanitize_summary(&long);
    assert!(s.len() <= SUMMARY_MAX_BYTES && s.len() >= SUMMARY_MAX_BYTES - 1);
    assert!(s.chars().all(|c| c == 'я'));
    assert!(!sanitize_summary("x\u{2028}y\u{85}z").contains(['\u{2028}', '\u{85}']));
}

#[test]
fn action_and_target_must_be_extension_names() {
    for ok in [
        "transfer",
        "voicemail",
        "done",
        "operators_ru",
        "+74951234567",
        "100",
        "*97",
        "a.b-c",
    ] {
        check_name("AGENT_TARGET", ok).unwrap();
    }
    for bad in [
        "",
        "PJSIP/500",
        "500,30,g",
        "a b",
        "x)",
        "${EVIL}",
        &"a".repeat(65),
    ] {
        let err = check_name("AGENT_TARGET", bad).unwrap_err();
        assert!(err.to_string().contains("extension name"), "{bad}: {err}");
    }
}

#[test]
fn config_defaults_are_off_loopback_5038() {
    let c = AmiConfig::default();
    assert!(!c.enabled);
    assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 5038));
    c.validate().unwrap();
}

#[test]
fn enabled_config_needs_user_and_exactly_one_secret() {
    let base = AmiConfig {
        enabled: true,
        username: "agent".into(),
        ..Default::default()
    };
    let err = base.validate().unwrap_err().to_string();
    assert!(err.contains("ami.secret"), "{err}");
    let both = AmiConfig {
        secret: "x".into(),
        secret_file: Some("/run/secrets/ami".into()),
        ..base.clone()
    };
    assert!(both
        .validate()
        .unwrap_err()
        .to_string()
        .contains("not both"));
    let no_user = AmiConfig {
        username: String::new(),
        secret: "x".into(),
        ..base.clone()
    };
    assert!(no_user
        .validate()
        .unwrap_err()
        .to_string()
        .contains("ami.username"));
    AmiConfig {
        secret: "x".into(),
        ..base
    }
    .validate()
    .unwrap();
}

#[test]
fn secret_file_is_read_trimmed_and_secret_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ami.secret");
    std::fs::write(&file, "  hunter2  \nignored\n").unwrap();
    let cfg = AmiConfig {
        enabled: true,
        username: "agent".into(),
        secret_file: Some(file),
        action_timeout_ms: 1500,
        ..Default::default()
    };
    cfg.validate().unwrap();
    let s = AmiSettings::from_config(&cfg).unwrap();
    assert_eq!(s.secret, "hunter2");
    assert_eq!(s.addr, "127.0.0.1:5038");
    assert_eq!(s.action_timeout, Duration::from_millis(1500));
    assert!(!format!("{s:?}").contains("hunter2"));

    let inline = AmiConfig {
        secret: "hunter2".into(),
        secret_file: None,
        ..cfg.clone()
    };
    assert!(!format!("{inline:?}").contains("hunter2"));
    let printed = toml::to_string(&inline).unwrap();
    assert!(
        !printed.contains("hunter2") && printed.contains("<redacted>"),
        "{printed}"
    );

    let missing = AmiConfig {
        secret_file: Some(dir.path().join("nope")),
        ..cfg
    };
    let err = AmiSettings::from_config(&missing).unwrap_err().to_string();
    assert!(
        err.contains("ami.secret_file") && err.contains("nope"),
        "{err}"
    );
}

#[test]
fn ami_section_loads_from_toml_and_typos_are_errors() {
    let text = "[ami]\nenabled = true\nhost = \"10.0.0.5\"\nport = 5039\nusername = \"agent\"\nsecret = \"pw\"\naction_timeout_ms = 2000\nreconnect_max_backoff_ms = 10000\n";
    let c = Config::from_toml_str("t.toml", text, Vec::new()).unwrap();
    assert_eq!((c.ami.host.as_str(), c.ami.port), ("10.0.0.5", 5039));
    let err = Config::from_toml_str("t.toml", "[ami]\nsecrett = \"x\"\n", Vec::new()).unwrap_err();
    assert!(err.to_string().contains("secrett"), "{err}");
    let err =
        Config::from_toml_str("t.toml", "[ami]\naction_timeout_ms = 5\n", Vec::new()).unwrap_err();
    assert!(err.to_string().contains("ami.action_timeout_ms"), "{err}");
}

#[test]
fn channel_map_is_bounded_and_entries_expire() {
    use enclave::ami::ChannelMap;
    let map = ChannelMap::new(Duration::from_secs(3600), 2);
    let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
    for (i, id) in ids.iter().enumerate() {
        map.insert(*id, format!("PJSIP/{i}"));
    }
    assert_eq!(map.len(), 2);
    assert_eq!(map.get(&ids[0]), None, "oldest evicted");
    assert_eq!(map.get(&ids[2]).as_deref(), Some("PJSIP/2"));

    let expired = ChannelMap::new(Duration::ZERO, 10);
    expired.insert(ids[0], "PJSIP/0".into());
    assert_eq!(expired.get(&ids[0]), None, "past its TTL");

    // A Hangup of another channel leaves the mapping alone; its own removes it.
    let m = ChannelMap::default();
    m.insert(ids[1], "PJSIP/1".into());
    let hangup = |ch: &str| {
        Message::from_fields(vec![
            ("Event".into(), "Hangup".into()),
            ("Channel".into(), ch.into()),
        ])
    };
    m.observe(&hangup("PJSIP/9"));
    assert!(m.get(&ids[1]).is_some());
    m.observe(&hangup("PJSIP/1"));
    assert!(m.is_empty());
}

#[test]
fn line_codec_splits_crlf_lines_across_reads_and_bounds_line_length() {
    use enclave::ami::{LineCodec, MAX_LINE_BYTES};
    use tokio_util::codec::Decoder;
    let mut codec = LineCodec::default();
    let mut buf = bytes::BytesMut::from(&b"Response: Succ"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"ess\r\nActionID: 1\r\n\r\nbare\nJos\xE9\r\n");
    let lines: Vec<String> = std::iter::from_fn(|| codec.decode(&mut buf).unwrap()).collect();
    assert_eq!(
        lines,
        [
            "Response: Success",
            "ActionID: 1",
            "",
            "bare",
            "Jos\u{FFFD}"
        ]
    );
    let mut long = bytes::BytesMut::from(&vec![b'a'; MAX_LINE_BYTES + 1][..]);
    assert!(codec.decode(&mut long).is_err());
    // The same over-long line arriving in one read together with its newline is refused
    // too (it used to be accepted: the limit was only checked while no newline was seen).
    let mut codec = LineCodec::default();
    let mut one_read = bytes::BytesMut::from(&vec![b'a'; MAX_LINE_BYTES + 10][..]);
    one_read.extend_from_slice(b"\r\n");
    assert!(codec.decode(&mut one_read).is_err());
    // A line of exactly the limit still passes.
    let mut codec = LineCodec::default();
    let mut at_limit = bytes::BytesMut::from(&vec![b'b'; MAX_LINE_BYTES][..]);
    at_limit.extend_from_slice(b"\n");
    assert_eq!(
        codec.decode(&mut at_limit).unwrap().map(|l| l.len()),
        Some(MAX_LINE_BYTES)
    );
}
