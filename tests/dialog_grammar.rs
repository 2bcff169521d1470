//! The tool grammar against an INDEPENDENT JSON Schema validator (the `jsonschema` crate):
//! every text a schema's grammar admits must be valid against the schema (soundness), bounded
//! integers must be admitted exactly when valid (exactness), bounded numbers exactly on a
//! decimal grid, and our own validator must agree with `jsonschema` on every candidate value.
//! Grammars are checked with the GBNF recogniser, without a model; `llm_engine.rs` checks
//! what a model generates under the same grammars.

#[path = "dialog_support/schemas.rs"]
mod schemas;

use enclave::dialog::gbnf_match::Grammar;
use enclave::dialog::grammar::GrammarBuilder;
use enclave::dialog::tools::validate_args;
use serde_json::{json, Value};

fn grammar_for(schema: &Value) -> Grammar {
    let mut b = GrammarBuilder::new();
    let rule = b
        .schema_rule(schema, "t")
        .unwrap_or_else(|e| panic!("{schema}: {e}"));
    b.set_root(rule);
    let text = b.build();
    Grammar::parse(&text).unwrap_or_else(|e| panic!("{e} in\n{text}"))
}

fn independent(schema: &Value) -> jsonschema::Validator {
    jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

/// Soundness on `candidates` (texts of JSON values) and validator agreement; returns how many
/// the grammar admitted.
fn check_sound(schema: &Value, candidates: &[String]) -> usize {
    let g = grammar_for(schema);
    let v = independent(schema);
    let mut admitted = 0;
    for text in candidates {
        let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let valid = v.is_valid(&value);
        assert_eq!(
            validate_args(schema, &value, "v").is_ok(),
            valid,
            "our validator disagrees with jsonschema on {text} for {schema}"
        );
        if g.matches("root", text) {
            admitted += 1;
            assert!(valid, "grammar admits invalid {text} for {schema}");
        }
    }
    admitted
}

#[test]
fn bounded_integers_are_exact() {
    let schemas = [
        json!({"type": "integer", "minimum": 0}),
        json!({"type": "integer", "minimum": 1, "maximum": 12}),
        json!({"type": "integer", "minimum": -3, "maximum": 250}),
        json!({"type": "integer", "minimum": -1000, "maximum": -17}),
        json!({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 4}),
        json!({"type": "integer", "exclusiveMaximum": -5}),
        json!({"type": "integer", "exclusiveMinimum": 99}),
        json!({"type": "integer", "minimum": 1.5, "maximum": 7.5}),
        json!({"type": "integer", "minimum": -7.5, "exclusiveMaximum": -1.5}),
        json!({"type": "integer", "maximum": 1037}),
        json!({"type": "integer", "minimum": 5, "exclusiveMinimum": 5, "maximum": 10}),
        json!({"type": "integer", "minimum": 1990, "maximum": 2031}),
    ];
    let mut texts: Vec<String> = (-1200..=2100).map(|v: i64| v.to_string()).collect();
    texts.extend(["9999999999999999", "-9999999999999999", "1000000000000000"].map(String::from));
    for schema in &schemas {
        let g = grammar_for(schema);
        let v = independent(schema);
        for text in &texts {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                g.matches("root", text),
                v.is_valid(&value),
                "{text} for {schema}"
            );
            assert_eq!(
                validate_args(schema, &value, "v").is_ok(),
                v.is_valid(&value)
            );
        }
        assert!(!g.matches("root", "-0") || v.is_valid(&json!(0)));
        assert!(!g.matches("root", "01"), "no leading zeros");
    }
}

/// Decimal texts on a grid around the interesting bounds, in several spellings.
fn number_texts() -> Vec<String> {
    let mut out = Vec::new();
    for i in -4100..=4100i64 {
        let x = i as f64 / 100.0;
        out.push(format!("{x}"));
        out.push(format!("{x:.2}"));
        out.push(format!("{x:.3}"));
    }
    for i in -60..=1600i64 {
        out.push(i.to_string());
        out.push(format!("{i}.5"));
        out.push(format!("{i}.000001"));
        out.push(format!("{i}.999999"));
    }
    out.extend(
        [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "0.1",
            "0.25",
            "0.2499999",
            "0.250001",
            "2.5",
            "2.4999",
            "100.0",
            "100.000001",
            "1500",
            "1500.5",
            "-40.5",
            "-40.500001",
            "-0.1",
            "-0.099999",
            "-0.100001",
            "1e2",
            "2.5e-1",
        ]
        .map(String::from),
    );
    out.sort();
    out.dedup();
    out
}

#[test]
fn bounded_numbers_are_sound_and_exact_on_a_decimal_grid() {
    let schemas = [
        json!({"type": "number", "minimum": 0, "maximum": 1500}),
        json!({"type": "number", "exclusiveMinimum": 0, "maximum": 100}),
        json!({"type": "number", "minimum": 0.25, "exclusiveMaximum": 2.5}),
        json!({"type": "number", "minimum": -40.5, "maximum": -0.1}),
        json!({"type": "number", "exclusiveMinimum": -3.75, "exclusiveMaximum": 3.75}),
        json!({"type": "number", "minimum": 12.125}),
        json!({"type": "number", "exclusiveMaximum": -0.5}),
        json!({"type": "number", "minimum": 7, "maximum": 7}),
    ];
    let texts = number_texts();
    for schema in &schemas {
        let g = grammar_for(schema);
        let v = independent(schema);
        let mut admitted = 0;
        for text in &texts {
            let value: Value = serde_json::from_str(text).unwrap();
            let valid = v.is_valid(&value);
            assert_eq!(validate_args(schema, &value, "v").is_ok(), valid, "{text}");
            let matched = g.matches("root", text);
            if matched {
                admitted += 1;
                assert!(valid, "grammar admits invalid {text} for {schema}");
            }
            // Exact on plain decimals: no exponent, no "-0" spelling of zero, at most six
            // fraction digits (what the grammar writes).
            let negative_zero = text.starts_with('-') && value.as_f64() == Some(0.0);
            let fraction_digits = text.split_once('.').map_or(0, |(_, f)| f.len());
            let plain = !text.contains('e') && !negative_zero && fraction_digits <= 6;
            if plain && valid {
                assert!(matched, "grammar refuses valid {text} for {schema}");
            }
        }
        assert!(admitted > 0, "{schema} admits something");
    }
}

fn string_texts() -> Vec<String> {
    let mut out = Vec::new();
    for n in 0..=10 {
        out.push(serde_json::to_string(&"a".repeat(n)).unwrap());
        out.push(serde_json::to_string(&"ж".repeat(n)).unwrap());
        // Escapes count as one character each.
        out.push(format!("\"{}\"", "\\u00e9".repeat(n)));
        out.push(format!("\"{}\"", "\\n".repeat(n)));
    }
    out
}

#[test]
fn strings_enums_consts_and_alternatives_are_sound() {
    let mut candidates = string_texts();
    candidates.extend(
        [
            "true",
            "false",
            "null",
            "0",
            "1",
            "9",
            "10",
            "11",
            "17",
            "-2",
            "3",
            "23",
            "24",
            "1.5",
            "1990",
            "2031",
            "2032",
            "-6",
            "-41",
            "100",
            "250",
            "0.3",
            "2.25",
            "-0.5",
            "99.5",
            "\"mon\"",
            "\"fri\"",
            "\"callback\"",
            "\"noon\"",
            "\"ru\"",
            "\"de\"",
            "[]",
            "[1]",
            "[1, 2, 3]",
            "[1,2,3,4]",
            "[10]",
            "{}",
        ]
        .map(String::from),
    );
    for (name, schema) in schemas::keyword_schemas() {
        for (prop, sub) in schema["properties"].as_object().unwrap() {
            let admitted = check_sound(sub, &candidates);
            assert!(admitted > 0, "{name}.{prop} admits one of the candidates");
        }
    }
    // Enum and const values the schema admits are all admitted by the grammar.
    let g =
        grammar_for(&json!({"type": "integer", "enum": [9, 10, 11, "noon", 17], "maximum": 11}));
    for (text, ok) in [
        ("9", true),
        ("10", true),
        ("11", true),
        ("17", false),
        ("\"noon\"", false),
    ] {
        assert_eq!(g.matches("root", text), ok, "{text}");
    }
    let g = grammar_for(&json!({"type": "string", "minLength": 6, "maxLength": 8}));
    assert!(g.matches("root", "\"A1B2C3\""));
    assert!(!g.matches("root", "\"A1B2C\""));
    assert!(!g.matches("root", "\"A1B2C3D4E\""));
    assert!(
        !g.matches("root", r#""\ud800abcdef""#),
        "a lone surrogate escape is not JSON serde can read"
    );
}

#[test]
fn whole_argument_objects_are_sound() {
    // The grammar writes properties in declaration order (serde_json keeps them sorted).
    let objects = [
        json!({"people": 2, "floor": -3, "year": 2026}),
        json!({"people": 13, "floor": 0, "year": 2026}),
        json!({"pin_tries": 3, "below": -6, "above": 100, "half": 7}),
        json!({"pin_tries": 4, "below": -6, "above": 100, "half": 7}),
        json!({"amount": 1500, "percent": 0.5, "rate": 0.25, "temperature": -40.5}),
        json!({"amount": 1500, "percent": 0, "rate": 0.25, "temperature": -40.5}),
        json!({"day": "mon", "slot": 11, "mode": "callback", "lang": "ru"}),
        json!({"day": "mon", "slot": 17, "mode": "callback", "lang": "ru"}),
        json!({"order_id": "A1B2C3", "initials": "JS", "note": "hi"}),
        json!({"order_id": "A1B2C3", "initials": "JSX", "note": "hi"}),
        json!({"ids": [1, 2], "when": "now", "pick": true, "level": null}),
        json!({"ids": [1, 2], "when": 24, "level": 0}),
    ];
    let candidates: Vec<String> = objects.iter().map(Value::to_string).collect();
    let mut admitted = 0;
    for (_, schema) in schemas::keyword_schemas() {
        admitted += check_sound(&schema, &candidates);
    }
    assert_eq!(
        admitted,
        objects.len() / 2,
        "each valid example is admitted by its grammar"
    );
}

#[test]
fn schemas_the_grammar_cannot_honour_are_refused() {
    for (schema, expect) in [
        (json!({"type": "integer", "multipleOf": 5}), "multipleOf"),
        (json!({"type": "string", "pattern": "^[0-9]+$"}), "pattern"),
        (json!({"type": "array", "uniqueItems": true}), "uniqueItems"),
        (
            json!({"type": "integer", "minimum": 5, "exclusiveMinimum": true}),
            "draft-4",
        ),
        (
            json!({"type": "integer", "minimum": 5, "maximum": 4}),
            "no integer",
        ),
        (
            json!({"type": "number", "minimum": 1, "exclusiveMaximum": 1}),
            "no number",
        ),
        (
            json!({"type": "string", "minLength": 5, "maxLength": 4}),
            "minLength",
        ),
        (json!({"maximum": 4}), "needs a `type`"),
        (json!({"enum": ["a"], "type": "integer"}), "no `enum` value"),
        (json!({"const": 5, "maximum": 4}), "contradicts"),
    ] {
        let err = GrammarBuilder::new()
            .schema_rule(&schema, "t")
            .expect_err(&schema.to_string())
            .to_string();
        assert!(err.contains(expect), "{schema}: {err}");
    }
}
