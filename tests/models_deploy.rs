//! Deployment files that cannot be run here (no container engine, no systemd, no Asterisk):
//! the Containerfile lint passes on the repo's file and catches broken ones; the systemd unit
//! and the Asterisk snippets keep their safety properties.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lint(containerfile: &Path, context: &Path) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo().join("scripts/check-containerfile.sh"))
        .arg(containerfile)
        .arg(context)
        .output()
        .expect("cannot run bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_containerfile_passes_the_lint() {
    let (ok, text) = lint(&repo().join("Containerfile"), &repo());
    assert!(ok, "{text}");
    assert!(text.contains("OK"), "{text}");
}

#[test]
fn the_lint_catches_root_user_missing_healthcheck_bad_copy_and_bad_stage() {
    let original = std::fs::read_to_string(repo().join("Containerfile")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(".dockerignore"), "target/\n").unwrap();
    let broken = original
        .replace("USER enclave", "USER root")
        .replace("HEALTHCHECK", "# HEALTHCHECK")
        .replace(
            "    CMD [\"agent\", \"models\", \"verify\", \"--quick\"]",
            "",
        )
        .replace("COPY --from=builder ", "COPY --from=buidler ")
        .replace("FROM ${CUDA_RUNTIME_IMAGE} AS runtime-cuda", "")
        .replace("COPY . /src", "COPY no-such-dir /src");
    let file = tmp.path().join("Containerfile");
    std::fs::write(&file, broken).unwrap();
    let (ok, text) = lint(&file, tmp.path());
    assert!(!ok, "the lint accepted a broken Containerfile:\n{text}");
    for expected in [
        "runs as root",
        "no HEALTHCHECK",
        "no stage named 'buidler'",
        "no stage named 'runtime-cuda' (VARIANT=cuda)",
        "COPY source 'no-such-dir' does not exist",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn the_systemd_unit_is_hardened_and_loopback_only() {
    let unit = std::fs::read_to_string(repo().join("scripts/enclave-agent.service")).unwrap();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for required in [
        "User=enclave",
        "Restart=on-failure",
        "Environment=ENCLAVE_CONFIG=/etc/enclave/agent.toml",
        "Environment=ENCLAVE_MODELS__DIR=/var/lib/enclave/models",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/enclave/models /var/lib/enclave/records",
        "PrivateTmp=yes",
        "LimitNOFILE=65536",
        "IPAddressDeny=any",
        "IPAddressAllow=localhost",
    ] {
        assert!(lines.contains(&required), "unit lacks `{required}`");
    }
}

#[test]
fn the_dialplan_never_dials_what_the_agent_sends() {
    let dialplan = std::fs::read_to_string(repo().join("asterisk/extensions.conf")).unwrap();
    for line in dialplan
        .lines()
        .filter(|l| !l.trim_start().starts_with(';'))
    {
        if line.contains("${AGENT_TARGET}") || line.contains("${AGENT_ACTION}") {
            // Only filtered copies or log/NoOp lines may use the raw values.
            let safe = line.contains("FILTER(")
                || line.contains("NoOp(")
                || line.contains("Log(")
                || line.contains("Set(AGENT_");
            assert!(safe, "raw agent value used in: {line}");
        }
        for app in ["Dial(", "Queue(", "VoiceMail("] {
            if let Some(i) = line.find(app) {
                let args = &line[i..];
                assert!(
                    !args.contains("${TARGET}") && !args.contains("AGENT_"),
                    "{line}"
                );
            }
        }
    }
    assert!(dialplan.contains("Set(AS_UUID=${UUID()})"));
    assert!(dialplan.contains("AudioSocket(${AS_UUID},127.0.0.1:9092)"));
    assert!(
        dialplan.contains("c(slin16)"),
        "channel driver example must set the codec"
    );
    let manager = std::fs::read_to_string(repo().join("asterisk/manager.conf")).unwrap();
    assert!(manager.contains("read = call,dialplan") && manager.contains("write = call,originate"));
    assert!(!manager
        .lines()
        .any(|l| l.starts_with("write") && (l.contains("system") || l.contains("command"))));
}

#[test]
fn the_default_profile_installs_every_model_file_the_default_config_uses() {
    // `agent download-models` then `agent serve` with defaults must find every file.
    let catalogue = enclave::models::Catalogue::builtin();
    let mut config = enclave::config::Config::default();
    config.models.dir = "/models".into();
    // The list `agent serve` (and `agent models verify --configured`) checks at start-up.
    let files = enclave::conversation::stack::configured_model_files(&config);
    assert!(
        !files.is_empty(),
        "the default config names no catalogue model"
    );
    let profile = &catalogue.profiles[&config.models.profile];
    for (key, path) in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let (model, file) = catalogue.find_by_file_name(name).unwrap();
        assert!(
            profile.models.contains(&model.name),
            "{key} uses {} (model {}), which profile `{}` does not install",
            path.display(),
            model.name,
            config.models.profile
        );
        assert_eq!(
            path,
            &Path::new("/models").join(&file.path),
            "{key}: not at the catalogue path"
        );
    }
}
