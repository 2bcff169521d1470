//! The profiles file: parsing, validation with key paths, overrides over agent.toml, atomic writes.

use enclave::config::Config;
use enclave::profiles::*;

fn base() -> Config {
    Config::from_toml_str("t.toml", "[conversation]\nlanguage = \"en\"\n", Vec::new()).unwrap()
}

fn parse(text: &str) -> ProfilesFile {
    ProfilesFile::from_toml(text).expect("parses")
}

#[test]
fn names() {
    assert!(valid_name("sales") && valid_name("a") && valid_name("2nd-line_ru"));
    assert!(!valid_name("") && !valid_name("Sales") && !valid_name("-x") && !valid_name("a b"));
    assert!(!valid_name(&"a".repeat(33)));
}

#[test]
fn a_profile_overrides_only_what_it_sets() {
    let f = parse(
        r#"
[profiles.sales]
listen = "127.0.0.1:9102"
language = "ru"
greeting = "Отдел продаж"
system_prompt = "Sell."
tools = ["end_call"]
llm_budget_ms = 2500
voice = "ru_RU-irina-medium"
"#,
    );
    let b = base();
    assert!(f.validate(&b).is_empty(), "{:?}", f.validate(&b));
    let c = f.profiles["sales"].apply(&b);
    assert_eq!(c.conversation.language, "ru");
    assert_eq!(c.conversation.greeting, "Отдел продаж");
    assert_eq!(c.conversation.llm_budget_ms, 2500);
    assert_eq!(c.llm.system_prompt, "Sell.");
    assert_eq!(c.llm.builtin_tools, vec!["end_call".to_string()]);
    assert_eq!(c.tts.voice_ru, "ru_RU-irina-medium");
    assert_eq!(c.tts.voice_en, b.tts.voice_en);
    // Untouched settings stay agent.toml's.
    assert_eq!(
        c.conversation.transfer_target,
        b.conversation.transfer_target
    );
    assert_eq!(c.conversation.asr_budget_ms, b.conversation.asr_budget_ms);
    assert_eq!(c.llm.temperature, b.llm.temperature);
}

#[test]
fn errors_name_the_key_path() {
    let b = base();
    let cases = [
        ("[profiles.s]\nlanguage = \"de\"\n", "profiles.s.language"),
        (
            "[profiles.s]\nllm_budget_ms = 5\n",
            "profiles.s.llm_budget_ms",
        ),
        (
            "[profiles.s]\ntransfer_target = \"SIP/1234\"\n",
            "profiles.s.transfer_target",
        ),
        (
            "[profiles.s]\ntools = [\"end_call\", \"rm_rf\"]\n",
            "profiles.s.tools[1]",
        ),
        (
            "[profiles.s]\noperator_digit = \"12\"\n",
            "profiles.s.operator_digit",
        ),
        (
            "[profiles.s]\nlisten = \"127.0.0.1:0\"\n",
            "profiles.s.listen",
        ),
        ("[profiles.Bad]\n", "profiles.Bad"),
    ];
    for (text, key) in cases {
        let errs = parse(text).validate(&b);
        assert_eq!(errs.len(), 1, "{text}: {errs:?}");
        assert_eq!(errs[0].key, key, "{text}: {errs:?}");
    }
    // Parse errors name the path too.
    let e = ProfilesFile::from_toml("[profiles.s]\ngreting = \"hi\"\n").unwrap_err();
    assert!(e[0].key.contains("profiles.s"), "{e:?}");
    assert!(e[0].message.contains("greting"), "{e:?}");
    let e = ProfilesFile::from_toml("[profiles.s]\nmax_call_secs = \"long\"\n").unwrap_err();
    assert_eq!(e[0].key, "profiles.s.max_call_secs", "{e:?}");
}

#[test]
fn two_profiles_cannot_share_a_port() {
    let b = base();
    let f = parse(
        "[profiles.a]\nlisten = \"127.0.0.1:9102\"\n[profiles.b]\nlisten = \"127.0.0.1:9102\"\n\
         [profiles.c]\nlisten = \"127.0.0.1:9092\"\n",
    );
    let keys: Vec<String> = f.validate(&b).into_iter().map(|e| e.key).collect();
    assert!(keys.contains(&"profiles.b.listen".to_string()), "{keys:?}");
    assert!(keys.contains(&"profiles.c.listen".to_string()), "{keys:?}");
}

#[test]
fn written_atomically_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("profiles.toml");
    assert_eq!(ProfilesFile::load(&path).unwrap(), ProfilesFile::default());
    let f = parse("[profiles.a]\ngreeting = \"Hi\"\nreprompt_after_secs = 3.5\n");
    f.write_atomic(&path).unwrap();
    assert_eq!(ProfilesFile::load(&path).unwrap(), f);
    let mut g = f.clone();
    g.profiles.get_mut("a").unwrap().greeting = Some("Hello".into());
    assert_ne!(f.version(), g.version());
    g.write_atomic(&path).unwrap();
    assert_eq!(ProfilesFile::load(&path).unwrap(), g);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("profiles.toml")]);
}
