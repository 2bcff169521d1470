//! Text normalisation before phonemisation: numbers, dates, times, money, percentages, phone
//! numbers and abbreviations become words, in Russian or English.
//!
//! espeak-ng reads digits itself, but badly for a phone agent: no case or gender agreement in
//! Russian («21 000 руб.» must be «двадцать одна тысяча рублей»), dates read as decimals, phone
//! numbers as huge integers. This module finds those tokens and hands them to the language's
//! verbaliser ([`ru`], [`en`]); everything else passes through unchanged, except characters no
//! Russian or English voice can say (emoji, CJK…), which are dropped.

pub mod en;
mod ids;
mod lexer;
pub mod ru;
mod ru_numbers;
mod token;

pub use lexer::{Amount, Currency, NumericToken, Scale};

/// Language of a voice, which picks the normalisation rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Russian.
    Russian,
    /// English.
    English,
}

impl Language {
    /// Language of an espeak-ng voice name (`ru`, `en-us`, `en-gb-x-rp`…); `None` if unsupported.
    pub fn from_espeak_voice(voice: &str) -> Option<Language> {
        let v = voice.trim().to_ascii_lowercase();
        let primary = v.split(['-', '_']).next().unwrap_or("");
        match primary {
            "ru" => Some(Language::Russian),
            "en" => Some(Language::English),
            _ => None,
        }
    }
}

/// Normalises `text` for a voice of `lang`: the result contains only words and punctuation.
pub fn normalize(text: &str, lang: Language) -> String {
    let cleaned = clean_characters(text);
    let spoken = lexer::verbalize(&cleaned, lang);
    collapse_spaces(&spoken)
}

/// Whether a character can be said by a Russian or English voice (letters of the Latin, Greek
/// and Cyrillic scripts, digits, ordinary punctuation and the symbols we expand).
fn is_speakable(c: char) -> bool {
    let u = c as u32;
    c.is_ascii_graphic()
        || c.is_whitespace()
        || (0xC0..=0x24F).contains(&u) // Latin-1 letters, Latin Extended-A/B
        || (0x370..=0x3FF).contains(&u) // Greek
        || (0x400..=0x52F).contains(&u) // Cyrillic
        || matches!(
            c,
            '«' | '»' | '„' | '“' | '”' | '‘' | '’' | '—' | '–' | '…' | '№' | '₽' | '€' | '£' | '°'
                | '\u{a0}' | '\u{202f}' | '\u{2009}' | '×' | '±' | '§'
        )
}

/// Replaces unspeakable characters with spaces and unifies quotes and dashes espeak-ng reads
/// inconsistently.
fn clean_characters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dropped = 0usize;
    for c in text.chars() {
        match c {
            '\u{a0}' | '\u{202f}' | '\u{2009}' => out.push('\u{a0}'),
            '\t' | '\r' | '\n' => out.push(' '),
            '“' | '”' | '„' | '«' | '»' => out.push('"'),
            '‘' | '’' => out.push('\''),
            '—' | '–' => out.push_str(" - "),
            '…' => out.push_str("..."),
            c if is_speakable(c) => out.push(c),
            c if c.is_control() => out.push(' '),
            _ => {
                dropped += 1;
                out.push(' ');
            }
        }
    }
    if dropped > 0 {
        tracing::debug!(
            dropped,
            "tts: dropped characters no voice can say (emoji, CJK…)"
        );
    }
    out
}

/// Collapses runs of white space (the non-breaking space included) into one space and removes
/// spaces before punctuation.
fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            if matches!(c, ',' | '.' | '!' | '?' | ';' | ':') && out.ends_with(' ') {
                out.pop();
            }
            out.push(c);
        }
    }
    out.trim().to_string()
}
