//! Redaction of digit runs (card, phone, account numbers, PINs) in stored transcripts.
//!
//! Decision: the whole run becomes `[digits]`; no trailing digits are kept. Keeping "last 2"
//! helps little when debugging transcripts and, combined with the call time and caller id,
//! still narrows an account down, so nothing is kept.
//!
//! A run is a sequence of ASCII digits where consecutive digit groups are separated by at
//! most two characters out of space, `-`, `.`, `(`, `)` (so `4111 1111 1111 1111`,
//! `+7 (495) 123-45-67`, `8-916-123-45-67`, dictated `4 1 1 1` and dates `21.11.2026` are all
//! one run). A leading `+` or `(` and a closing `)` belong to the run. Runs with at least
//! `min_digits` digits are replaced. The tradeoff: unrelated numbers next to each other
//! ("in 2024 15 people") are redacted too; leaking a number is worse than hiding a year.

/// Placeholder written in place of a redacted run.
pub const REDACTED: &str = "[digits]";

const SEPARATORS: [char; 5] = [' ', '-', '.', '(', ')'];
const MAX_GAP: usize = 2;

/// Replaces every run of at least `min_digits` digits in `text` with [`REDACTED`].
pub fn redact_digits(text: &str, min_digits: usize) -> String {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0usize; // byte offset in `text` up to which `out` is written
    let mut i = 0usize;
    while i < chars.len() {
        if !chars[i].1.is_ascii_digit() {
            i += 1;
            continue;
        }
        // Extend the run from the digit at i.
        let first = i;
        let mut last = i; // index of the last digit in the run
        let mut digits = 0usize;
        let mut opens = 0i32;
        let mut j = i;
        loop {
            while j < chars.len() && chars[j].1.is_ascii_digit() {
                digits += 1;
                last = j;
                j += 1;
            }
            let gap_start = j;
            let mut gap_opens = 0;
            while j < chars.len() && j - gap_start < MAX_GAP && SEPARATORS.contains(&chars[j].1) {
                gap_opens += match chars[j].1 {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                j += 1;
            }
            if j > gap_start && j < chars.len() && chars[j].1.is_ascii_digit() {
                opens += gap_opens;
                continue;
            }
            break;
        }
        if digits >= min_digits {
            let mut start = first;
            if start > 0 && matches!(chars[start - 1].1, '(') {
                start -= 1;
                opens += 1;
            }
            // "+7 …" or "+(7) …": the plus belongs to the number.
            if start > 0 && chars[start - 1].1 == '+' {
                start -= 1;
            }
            let mut end = last + 1; // exclusive char index
            if opens > 0 && end < chars.len() && chars[end].1 == ')' {
                end += 1;
            }
            let start_byte = chars[start].0;
            let end_byte = chars.get(end).map(|c| c.0).unwrap_or(text.len());
            out.push_str(&text[copied_to..start_byte]);
            out.push_str(REDACTED);
            copied_to = end_byte;
            i = end;
        } else {
            i = last + 1;
        }
    }
    out.push_str(&text[copied_to..]);
    out
}

/// Redacts digit runs inside every string of a JSON value; numbers with at least
/// `min_digits` digits become the string `[digits]`.
pub fn redact_json(value: &serde_json::Value, min_digits: usize) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redact_digits(s, min_digits)),
        Value::Number(n) => {
            let digits = n.to_string().chars().filter(|c| c.is_ascii_digit()).count();
            if digits >= min_digits {
                Value::String(REDACTED.into())
            } else {
                value.clone()
            }
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact_json(v, min_digits)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_json(v, min_digits)))
                .collect(),
        ),
        Value::Null | Value::Bool(_) => value.clone(),
    }
}
