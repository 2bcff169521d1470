//! Redaction of digit runs in stored transcripts: cards, phones, PINs, dictated digits.

use enclave::records::{redact_digits, redact_json};
use serde_json::json;

#[test]
fn card_number_with_spaces_is_one_run() {
    assert_eq!(
        redact_digits("my card is 4111 1111 1111 1111, thanks", 4),
        "my card is [digits], thanks"
    );
}

#[test]
fn russian_phone_with_plus_brackets_and_dashes() {
    assert_eq!(
        redact_digits("Мой номер +7 (495) 123-45-67.", 4),
        "Мой номер [digits]."
    );
    assert_eq!(
        redact_digits("звоните 8-916-123-45-67", 4),
        "звоните [digits]"
    );
}

#[test]
fn bracketed_area_code_at_start_keeps_no_stray_bracket() {
    assert_eq!(redact_digits("(495) 123-45-67", 4), "[digits]");
    assert_eq!(redact_digits("code (4951) ok", 4), "code [digits] ok");
}

#[test]
fn dictated_digits_and_pins() {
    assert_eq!(
        redact_digits("pin 4 1 1 1 please", 4),
        "pin [digits] please"
    );
    assert_eq!(redact_digits("PIN:1234", 4), "PIN:[digits]");
}

#[test]
fn short_numbers_are_kept() {
    assert_eq!(
        redact_digits("I have 2 cats and 123 dogs", 4),
        "I have 2 cats and 123 dogs"
    );
    assert_eq!(redact_digits("at 3 pm", 4), "at 3 pm");
    // Numbers apart by words are separate runs.
    assert_eq!(redact_digits("12 and 34", 4), "12 and 34");
}

#[test]
fn min_digits_is_respected() {
    assert_eq!(redact_digits("order 12345", 6), "order 12345");
    assert_eq!(redact_digits("order 123456", 6), "order [digits]");
    assert_eq!(redact_digits("room 12", 2), "room [digits]");
}

#[test]
fn several_runs_and_unicode_around_them() {
    assert_eq!(
        redact_digits("счёт 40817810099910004312, код 5512 — ок", 4),
        "счёт [digits], код [digits] — ок"
    );
    assert_eq!(redact_digits("", 4), "");
    assert_eq!(redact_digits("no digits here", 4), "no digits here");
}

#[test]
fn trailing_punctuation_is_not_eaten() {
    assert_eq!(redact_digits("call 1234-5678.", 4), "call [digits].");
    assert_eq!(
        redact_digits("call 1234-5678 - now", 4),
        "call [digits] - now"
    );
}

#[test]
fn json_strings_and_long_numbers_are_redacted_structure_kept() {
    let v = json!({"card": "4111 1111 1111 1111", "amount": 12, "account": 40817810099910004312u128 as f64, "list": ["ok", "pin 9876"]});
    let r = redact_json(&v, 4);
    assert_eq!(r["card"], "[digits]");
    assert_eq!(r["amount"], 12);
    assert_eq!(r["account"], "[digits]");
    assert_eq!(r["list"], json!(["ok", "pin [digits]"]));
}
