//! What a call came to: a short summary (two sentences at most) and a structured outcome
//! (`intent`, `resolved`, `follow_up`) for every call, inbound and outbound, and the one-line
//! summary the operator gets at a hand-over.
//!
//! The local dialog LLM writes them ([`llm`]: a completion prompt for the summary, a
//! grammar-constrained JSON object for the outcome); whatever it writes is checked, and when it
//! is empty, unusable or late, a deterministic extractive summary is used instead: the caller's
//! first substantive turn (see [`extractive`]). [`service`] runs it after every
//! `RecordEvent::CallEnded` at low priority and writes `calls.summary`, `calls.disposition`
//! and a `call.completed` outbox event in one transaction.

pub mod llm;
pub mod metrics;
pub mod service;

pub use llm::Summarizer;
pub use service::SummaryService;

use crate::records::Role;
use serde::{Deserialize, Serialize};

/// One line of a call's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Who spoke.
    pub role: Role,
    /// What was said.
    pub text: String,
}

impl Line {
    /// A line.
    pub fn new(role: Role, text: impl Into<String>) -> Line {
        Line {
            role,
            text: text.into(),
        }
    }
}

/// Where a summary or outcome came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Written by the LLM (and accepted by the checks).
    Llm,
    /// The deterministic fallback.
    Extractive,
}

/// The structured outcome of a call (`calls.disposition.outcome`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// What the caller wanted, in a few words (`unknown` when nobody can tell).
    pub intent: String,
    /// Whether the caller's matter was settled in the call; `None` when unknown.
    pub resolved: Option<bool>,
    /// Whether somebody has to act after the call; `None` when unknown.
    pub follow_up: Option<bool>,
    /// Who produced it.
    pub source: Source,
}

/// A call's summary and outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSummary {
    /// At most two sentences (empty when the caller never said anything).
    pub summary: String,
    /// Who wrote the summary.
    pub summary_source: Source,
    /// The structured outcome.
    pub outcome: Outcome,
}

/// Words that alone make a turn not worth quoting (greetings, fillers, yes/no).
const FILLER: &[&str] = &[
    "hello",
    "hi",
    "hey",
    "yes",
    "no",
    "yeah",
    "ok",
    "okay",
    "um",
    "uh",
    "hmm",
    "thanks",
    "thank",
    "you",
    "bye",
    "goodbye",
    "good",
    "morning",
    "afternoon",
    "evening",
    "please",
    "sure",
    "алло",
    "да",
    "нет",
    "здравствуйте",
    "привет",
    "спасибо",
    "ага",
    "угу",
    "добрый",
    "день",
    "вечер",
    "утро",
    "пожалуйста",
    "хорошо",
    "ладно",
    "до",
    "свидания",
];

/// Whether a caller turn says something (at least 3 words, not only greetings and fillers).
pub fn substantive(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.len() >= 3 && words.iter().any(|w| !FILLER.contains(&w.as_str()))
}

/// Cuts `text` to at most `max_chars` characters, at a word boundary, with `…` when cut.
pub fn clip(text: &str, max_chars: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max_chars / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', ' ']))
}

/// The extractive summary: the caller's first substantive turn (else their longest), quoted.
/// Empty when the caller said nothing.
pub fn extractive(lines: &[Line]) -> String {
    let caller: Vec<&str> = lines
        .iter()
        .filter(|l| l.role == Role::Caller)
        .map(|l| l.text.trim())
        .filter(|t| !t.is_empty())
        .collect();
    let pick = caller
        .iter()
        .find(|t| substantive(t))
        .or_else(|| caller.iter().max_by_key(|t| t.chars().count()));
    match pick {
        Some(t) => format!("Caller said: \"{}\"", clip(t, 200)),
        None => String::new(),
    }
}

/// The extractive outcome: nothing is guessed.
pub fn extractive_outcome() -> Outcome {
    Outcome {
        intent: "unknown".into(),
        resolved: None,
        follow_up: None,
        source: Source::Extractive,
    }
}

/// The first `max` sentences of `text` (sentence ends: `.`, `!`, `?`, `…`).
pub fn first_sentences(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        out.push(*c);
        if matches!(c, '.' | '!' | '?' | '…') && chars.get(i + 1).is_none_or(|n| n.is_whitespace())
        {
            count += 1;
            if count >= max {
                break;
            }
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extractive_summary_quotes_the_first_substantive_caller_turn() {
        let lines = vec![
            Line::new(Role::Agent, "Hello, how can I help?"),
            Line::new(Role::Caller, "Hello?"),
            Line::new(Role::Caller, "yes yes hello"),
            Line::new(Role::Caller, "I need to move my appointment to Friday"),
            Line::new(
                Role::Caller,
                "and also ask about the bill for last month please",
            ),
        ];
        assert_eq!(
            extractive(&lines),
            "Caller said: \"I need to move my appointment to Friday\""
        );
        let short = vec![
            Line::new(Role::Caller, "да"),
            Line::new(Role::Caller, "алло алло"),
        ];
        assert_eq!(extractive(&short), "Caller said: \"алло алло\"");
        assert_eq!(extractive(&[Line::new(Role::Agent, "Hello?")]), "");
        assert!(substantive("Хочу перенести запись на пятницу"));
        assert!(!substantive("да да спасибо"));
    }

    #[test]
    fn clipping_and_sentences() {
        assert_eq!(clip("a  b\n c", 10), "a b c");
        let long = "word ".repeat(100);
        let c = clip(&long, 50);
        assert!(c.chars().count() <= 51 && c.ends_with('…'), "{c}");
        assert_eq!(first_sentences("One. Two! Three? Four.", 2), "One. Two!");
        assert_eq!(first_sentences("No end", 2), "No end");
        assert_eq!(
            first_sentences("Costs 3.50 now. Next.", 1),
            "Costs 3.50 now."
        );
    }
}
