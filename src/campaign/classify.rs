//! What the callee decided: a grammar-constrained LLM call over the transcript, with a
//! keyword fallback (Russian and English word lists) when the model is unsure or absent, and
//! the 0–3 codes 1C-style consumers expect.

use crate::dialog::engine::{GenEvent, GenParams, LlmEngine};
use crate::dialog::grammar::GrammarBuilder;
use crate::dialog::session::GrammarSpec;
use crate::records::{Role, StoredTurn};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The callee's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Yes: they confirm (will come, will pay).
    Confirmed,
    /// No.
    Declined,
    /// They want another time.
    Reschedule,
    /// They answered something else (a question, a complaint).
    Other,
    /// Nothing usable was said.
    Unrecognised,
}

impl Decision {
    /// All decisions, in schema order.
    pub const ALL: [Decision; 5] = [
        Decision::Confirmed,
        Decision::Declined,
        Decision::Reschedule,
        Decision::Other,
        Decision::Unrecognised,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Confirmed => "confirmed",
            Decision::Declined => "declined",
            Decision::Reschedule => "reschedule",
            Decision::Other => "other",
            Decision::Unrecognised => "unrecognised",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The 1C code: 0 not recognised, 1 yes, 2 no, 3 other (a reschedule is "other": a
    /// person calls back).
    pub fn code(self) -> u8 {
        match self {
            Decision::Unrecognised => 0,
            Decision::Confirmed => 1,
            Decision::Declined => 2,
            Decision::Reschedule | Decision::Other => 3,
        }
    }
}

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The grammar-constrained LLM call.
    Llm,
    /// The word lists.
    Keywords,
}

/// A classified answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The decision.
    pub decision: Decision,
    /// A short free-text note (the model's, or the words that matched).
    pub note: String,
    /// Who decided.
    pub source: Source,
}

impl Classification {
    /// The `calls.disposition` JSON: `{decision, code, note, source}`.
    pub fn disposition_json(&self) -> serde_json::Value {
        serde_json::json!({
            "decision": self.decision.as_str(),
            "code": self.decision.code(),
            "note": self.note,
            "source": self.source,
        })
    }
}

const YES_EN: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "sure",
    "of course",
    "confirm",
    "confirmed",
    "i will come",
    "i'll come",
    "i will be there",
    "i'll be there",
    "i will pay",
    "i'll pay",
    "correct",
    "definitely",
    "absolutely",
    "okay",
    "ok",
];
const NO_EN: &[&str] = &[
    "no", "nope", "not", "can't", "cannot", "won't", "will not", "cancel", "decline", "don't",
];
const RESCHEDULE_EN: &[&str] = &[
    "reschedule",
    "another time",
    "another day",
    "different time",
    "different day",
    "later",
    "move it",
    "next week",
];
const YES_RU: &[&str] = &[
    "да",
    "конечно",
    "подтверждаю",
    "приду",
    "буду",
    "оплачу",
    "согласен",
    "согласна",
    "хорошо",
    "ага",
    "верно",
];
const NO_RU: &[&str] = &[
    "нет",
    "не приду",
    "не смогу",
    "не буду",
    "не могу",
    "отменить",
    "отмените",
    "отмена",
];
const RESCHEDULE_RU: &[&str] = &[
    "перенести",
    "перенесите",
    "другое время",
    "другой день",
    "позже",
    "на следующей неделе",
];

/// Lower-cased words of `text` (letters, digits and apostrophes), joined by single spaces
/// with a space at each end, so a phrase matches only at word boundaries.
fn normalise(text: &str) -> String {
    let mut out = String::from(" ");
    for word in text
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
    {
        out.push_str(&word.replace('’', "'"));
        out.push(' ');
    }
    out
}

/// Removes every listed phrase from `text` (longest first), returning what matched.
fn take_phrases(text: &mut String, lists: &[&[&str]]) -> Vec<String> {
    let mut phrases: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    phrases.sort_by_key(|p| std::cmp::Reverse(p.chars().count()));
    let mut found = Vec::new();
    for p in phrases {
        let needle = format!(" {p} ");
        while let Some(i) = text.find(&needle) {
            found.push(p.to_string());
            text.replace_range(i..i + needle.len(), " ");
        }
    }
    found
}

/// The word-list decision on what the callee said (all caller turns).
pub fn classify_keywords(caller_text: &str) -> Classification {
    let mut text = normalise(caller_text);
    if text.trim().is_empty() {
        return Classification {
            decision: Decision::Unrecognised,
            note: "the callee said nothing".into(),
            source: Source::Keywords,
        };
    }
    // Longer phrases first and removed once matched: "не приду" is a no, not a "приду";
    // "another time" is a reschedule before its words count for anything else.
    let reschedule = take_phrases(&mut text, &[RESCHEDULE_EN, RESCHEDULE_RU]);
    let no = take_phrases(&mut text, &[NO_EN, NO_RU]);
    let yes = take_phrases(&mut text, &[YES_EN, YES_RU]);
    let (decision, words) = if !reschedule.is_empty() {
        (Decision::Reschedule, reschedule)
    } else if !yes.is_empty() && no.is_empty() {
        (Decision::Confirmed, yes)
    } else if !no.is_empty() && yes.is_empty() {
        (Decision::Declined, no)
    } else if !no.is_empty() {
        // Both a yes and a no ("no, no, yes I will"): a person should listen.
        let mut both = yes;
        both.extend(no);
        (Decision::Unrecognised, both)
    } else {
        (Decision::Other, Vec::new())
    };
    let note = if words.is_empty() {
        "no yes/no words in the answer".to_string()
    } else {
        format!("matched: {}", words.join(", "))
    };
    Classification {
        decision,
        note,
        source: Source::Keywords,
    }
}

/// Everything the callee said, in order.
pub fn caller_text(turns: &[StoredTurn]) -> String {
    turns
        .iter()
        .filter(|t| t.role == Role::Caller)
        .map(|t| t.text.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The JSON Schema the LLM's answer is constrained to.
pub fn answer_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "decision": {"enum": Decision::ALL.map(Decision::as_str)},
            "sure": {"type": "boolean"},
            "note": {"type": "string", "maxLength": 160}
        },
        "required": ["decision", "sure", "note"],
        "additionalProperties": false
    })
}

/// What the LLM answered, parsed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LlmAnswer {
    /// Its decision.
    pub decision: Decision,
    /// Whether it says it is sure.
    pub sure: bool,
    /// Its note.
    pub note: String,
}

/// Classifies finished calls: the LLM when one is given, the word lists otherwise or when
/// the model is unsure.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    llm: Option<Arc<LlmEngine>>,
    max_tokens: u32,
}

impl Classifier {
    /// Word lists only.
    pub fn keywords_only() -> Classifier {
        Classifier::default()
    }

    /// The LLM first (grammar-constrained), word lists as the fallback.
    pub fn with_llm(llm: Arc<LlmEngine>) -> Classifier {
        Classifier {
            llm: Some(llm),
            max_tokens: 96,
        }
    }

    /// The prompt for `question` and the transcript.
    pub fn prompt(question: &str, turns: &[StoredTurn]) -> String {
        let mut transcript = String::new();
        for t in turns.iter().filter(|t| t.role != Role::Tool) {
            let who = if t.role == Role::Caller {
                "Callee"
            } else {
                "Agent"
            };
            transcript.push_str(&format!("{who}: {}\n", t.text.trim()));
        }
        format!(
            "An agent phoned a customer to ask: \"{question}\"\n\
             Transcript:\n{transcript}\n\
             Classify the customer's answer as confirmed (yes), declined (no), reschedule \
             (wants another time), other, or unrecognised (nothing usable). Answer in JSON.\n\
             JSON: "
        )
    }

    /// The LLM's answer alone (`None` without a model or when it failed).
    pub async fn ask_llm(&self, question: &str, turns: &[StoredTurn]) -> Option<LlmAnswer> {
        let llm = self.llm.as_ref()?;
        let mut b = GrammarBuilder::new();
        let root = match b.schema_rule(&answer_schema(), "classification") {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "classification grammar");
                return None;
            }
        };
        b.set_root(root);
        let grammar = GrammarSpec {
            text: b.build(),
            lazy: false,
            patterns: Vec::new(),
            trigger_tokens: Vec::new(),
        };
        let mut session = llm.session().ok()?;
        let prompt = Self::prompt(question, turns);
        let mut generation = match session.generate_constrained(
            &prompt,
            &GenParams::greedy(self.max_tokens),
            grammar,
        ) {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "classification: LLM request failed");
                return None;
            }
        };
        let mut text = String::new();
        while let Some(ev) = generation.next().await {
            match ev {
                GenEvent::Token(t) => text.push_str(&t),
                GenEvent::Done(stats) => {
                    text = stats.text;
                    break;
                }
                GenEvent::Error(e) => {
                    tracing::warn!(error = %e, "classification: LLM failed");
                    return None;
                }
                GenEvent::ToolCall(_) => {}
            }
        }
        match serde_json::from_str::<LlmAnswer>(text.trim()) {
            Ok(a) => Some(a),
            Err(e) => {
                // A cut-off answer (max tokens reached mid-string) is the only way here.
                tracing::warn!(error = %e, %text, "classification: LLM answer is not complete JSON");
                None
            }
        }
    }

    /// The decision on a finished call's turns.
    pub async fn classify(&self, question: &str, turns: &[StoredTurn]) -> Classification {
        let said = caller_text(turns);
        let keywords = classify_keywords(&said);
        if said.is_empty() {
            return keywords;
        }
        match self.ask_llm(question, turns).await {
            Some(a) if a.sure && a.decision != Decision::Unrecognised => Classification {
                decision: a.decision,
                note: a.note,
                source: Source::Llm,
            },
            // Unsure (or "unrecognised"): the word lists decide when they found a yes, a no
            // or a reschedule; otherwise the model's view stands.
            Some(a)
                if !matches!(
                    keywords.decision,
                    Decision::Confirmed | Decision::Declined | Decision::Reschedule
                ) =>
            {
                Classification {
                    decision: a.decision,
                    note: a.note,
                    source: Source::Llm,
                }
            }
            _ => keywords,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(s: &str) -> Decision {
        classify_keywords(s).decision
    }

    #[test]
    fn english_answers() {
        assert_eq!(kw("Yes, I will be there."), Decision::Confirmed);
        assert_eq!(kw("Sure."), Decision::Confirmed);
        assert_eq!(kw("No, I can't make it."), Decision::Declined);
        assert_eq!(kw("Could we do another day?"), Decision::Reschedule);
        assert_eq!(kw("Who is this?"), Decision::Other);
        assert_eq!(kw(""), Decision::Unrecognised);
        // "know" and "nothing" are not "no"; "yesterday" is not "yes".
        assert_eq!(kw("I know nothing about yesterday"), Decision::Other);
        assert_eq!(kw("No no. Yes, yes I will come."), Decision::Unrecognised);
    }

    #[test]
    fn russian_answers() {
        assert_eq!(kw("Да, конечно, приду"), Decision::Confirmed);
        assert_eq!(kw("Нет, не приду"), Decision::Declined);
        assert_eq!(kw("Я не приду"), Decision::Declined);
        assert_eq!(kw("Можно перенести на другой день?"), Decision::Reschedule);
        assert_eq!(kw("А кто это?"), Decision::Other);
    }

    #[test]
    fn codes_for_1c() {
        assert_eq!(Decision::Unrecognised.code(), 0);
        assert_eq!(Decision::Confirmed.code(), 1);
        assert_eq!(Decision::Declined.code(), 2);
        assert_eq!(Decision::Reschedule.code(), 3);
        assert_eq!(Decision::Other.code(), 3);
        for d in Decision::ALL {
            assert_eq!(Decision::parse(d.as_str()), Some(d));
        }
    }

    #[test]
    fn the_answer_schema_compiles_to_a_grammar() {
        let mut b = GrammarBuilder::new();
        let root = b.schema_rule(&answer_schema(), "c").unwrap();
        b.set_root(root);
        let g = b.build();
        assert!(g.contains("confirmed") && g.contains("unrecognised"), "{g}");
    }
}
