//! The answer classifier on a real model (Gemma 3 270M from the real-models kit): the
//! grammar makes every answer schema-valid JSON, and the word lists decide where the small
//! base model is unsure. Without the kit this fails with the command that installs it.

use enclave::campaign::classify::{answer_schema, Classifier, Decision, Source};
use enclave::dialog::engine::{EngineOptions, LlmEngine};
use enclave::records::{Role, StoredTurn, TurnLatencies};
use std::path::PathBuf;

fn gemma() -> PathBuf {
    let p = PathBuf::from(std::env::var("HOME").unwrap())
        .join(".cache/enclave/real/llm/gemma-3-270m-q4_k_m.gguf");
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/real-models.sh`",
        p.display()
    );
    p
}

fn turn(seq: u32, role: Role, text: &str) -> StoredTurn {
    StoredTurn {
        seq,
        role,
        text: text.into(),
        started_at_ms: 0,
        ended_at_ms: 0,
        latencies: TurnLatencies::default(),
        interrupted: false,
        tool_calls: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_answers_schema_valid_json_and_the_word_lists_back_it_up() {
    let mut opts = EngineOptions::new(gemma());
    opts.max_parallel = 1;
    opts.context_per_call = 1024;
    opts.threads = 2;
    let llm = LlmEngine::load(&opts).expect("Gemma 3 270M loads");
    let classifier = Classifier::with_llm(llm);
    let validator = jsonschema::validator_for(&answer_schema()).unwrap();
    let question = "Will you come to your appointment on Friday at 10?";
    let cases = [
        ("Yes, I will be there.", Decision::Confirmed),
        ("No, I cannot come, sorry.", Decision::Declined),
        ("Can we move it to another day?", Decision::Reschedule),
    ];
    for (said, keyword_decision) in cases {
        let turns = vec![
            turn(
                0,
                Role::Agent,
                &format!("Hello, this is the clinic. {question}"),
            ),
            turn(1, Role::Caller, said),
        ];
        let answer = classifier
            .ask_llm(question, &turns)
            .await
            .expect("a grammar-constrained answer always parses");
        let json = serde_json::json!({
            "decision": answer.decision.as_str(), "sure": answer.sure, "note": answer.note
        });
        assert!(validator.is_valid(&json), "{json}");
        let c = classifier.classify(question, &turns).await;
        eprintln!("{said:?}: llm {answer:?} -> {c:?}");
        // Where the model is unsure (or says unrecognised) the word lists decide.
        if !answer.sure || answer.decision == Decision::Unrecognised {
            assert_eq!((c.decision, c.source), (keyword_decision, Source::Keywords));
        } else {
            assert_eq!((c.decision, c.source), (answer.decision, Source::Llm));
        }
    }
}
