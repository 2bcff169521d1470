//! The summariser: prompts for the dialog LLM, the outcome grammar, the checks on what the
//! model wrote, and the extractive fallback.
//!
//! Scheduling: the LLM scheduler has no priorities, so the summariser makes itself low
//! priority: one summary generation at a time in the process (a semaphore), post-call work
//! only while fewer than `max_active_calls` calls are active (so a free sequence and spare
//! decode steps exist), and a generation in progress is cancelled the moment the load rises
//! to that level (it is retried later; [`super::service`] falls back to the extractive summary
//! after `defer_secs`). The hand-over summary runs for a live call and is bounded by its own
//! time budget instead.

use super::{
    clip, extractive, extractive_outcome, first_sentences, CallSummary, Line, Outcome, Source,
};
use crate::config::SummaryConfig;
use crate::dialog::engine::{GenEvent, GenParams, LlmEngine};
use crate::dialog::grammar::GrammarBuilder;
use crate::dialog::session::{GrammarSpec, Session};
use crate::metrics::Metrics;
use crate::records::Role;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest transcript (characters) put into a prompt; older lines are left out first.
pub const MAX_TRANSCRIPT_CHARS: usize = 3000;

/// Why the LLM's summary was not used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SummaryError {
    /// Live calls needed the model: the generation was cancelled (or not started).
    #[error("yielded to live calls")]
    Busy,
    /// The time budget ran out.
    #[error("no answer within {0:?}")]
    Late(Duration),
    /// The model wrote nothing usable.
    #[error("unusable model output: {0}")]
    Unusable(String),
    /// The engine failed.
    #[error("LLM: {0}")]
    Engine(String),
}

/// Writes summaries with the dialog LLM (or extractively without one).
pub struct Summarizer {
    llm: Option<Arc<LlmEngine>>,
    cfg: SummaryConfig,
    max_active_calls: usize,
    metrics: Arc<Metrics>,
    gate: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Summarizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summarizer")
            .field("llm", &self.llm.is_some())
            .field("max_active_calls", &self.max_active_calls)
            .finish_non_exhaustive()
    }
}

impl Summarizer {
    /// A summariser over `llm` (`None`, or `use_llm = false`: extractive only); the call load
    /// is read from `metrics` (`enclave_calls_active`).
    pub fn new(llm: Option<Arc<LlmEngine>>, cfg: &SummaryConfig, metrics: Arc<Metrics>) -> Self {
        let llm = llm.filter(|_| cfg.use_llm);
        let max_active_calls = match (cfg.max_active_calls, &llm) {
            (0, Some(l)) => l.max_parallel(),
            (0, None) => usize::MAX,
            (n, _) => n as usize,
        };
        Summarizer {
            llm,
            cfg: cfg.clone(),
            max_active_calls,
            metrics,
            gate: tokio::sync::Semaphore::new(1),
        }
    }

    /// Whether live calls need the model now (post-call summaries wait).
    pub fn busy(&self) -> bool {
        self.metrics.calls_active().max(0) as usize >= self.max_active_calls
    }

    /// Whether an LLM is used at all.
    pub fn uses_llm(&self) -> bool {
        self.llm.is_some()
    }

    /// The post-call summary and outcome. Returns [`SummaryError::Busy`] when live calls
    /// took the model meanwhile (try again later); other LLM problems fall back to the
    /// extractive summary (logged).
    pub async fn summarize_call(
        &self,
        lines: &[Line],
        call_outcome: &str,
    ) -> Result<CallSummary, SummaryError> {
        let fallback = || CallSummary {
            summary: extractive(lines),
            summary_source: Source::Extractive,
            outcome: extractive_outcome(),
        };
        if self.llm.is_none() || !lines.iter().any(|l| l.role == Role::Caller) {
            return Ok(fallback());
        }
        if self.busy() {
            return Err(SummaryError::Busy);
        }
        let _turn = self.gate.acquire().await.map_err(|_| SummaryError::Busy)?;
        let t0 = Instant::now();
        let mut result = fallback();
        let llm = self.llm.as_ref().expect("checked above");
        // One session for both: the outcome prompt extends the summary prompt, so its
        // transcript part is taken from the KV cache instead of being evaluated again.
        let mut session = llm
            .session()
            .map_err(|e| SummaryError::Engine(e.to_string()))?;
        let prompt = summary_prompt(lines, Some(call_outcome));
        let raw = match self
            .llm_summary(&mut session, &prompt, lines, None, true)
            .await
        {
            Ok((raw, s)) => {
                result.summary = s;
                result.summary_source = Source::Llm;
                raw
            }
            Err(SummaryError::Busy) => return Err(SummaryError::Busy),
            Err(e) => {
                tracing::info!(error = %e, "LLM summary not used; extractive summary");
                String::new()
            }
        };
        let prompt = format!("{prompt}{}\nOutcome: ", raw.trim_end());
        match self.llm_outcome(&mut session, &prompt, lines).await {
            Ok(o) => result.outcome = o,
            Err(SummaryError::Busy) => return Err(SummaryError::Busy),
            Err(e) => tracing::info!(error = %e, "LLM outcome not used"),
        }
        tracing::debug!(
            took_ms = t0.elapsed().as_millis() as u64,
            summary_source = ?result.summary_source,
            outcome_source = ?result.outcome.source,
            "call summarised"
        );
        Ok(result)
    }

    /// The operator's one line at a hand-over: `reason`, then what the caller wanted — the
    /// LLM's summary if it comes within `summary.handover_budget_ms`, else the caller's own
    /// words.
    pub async fn handover_line(&self, reason: &str, lines: &[Line]) -> String {
        let budget = Duration::from_millis(self.cfg.handover_budget_ms);
        let wanted = if self.llm.is_some() && !budget.is_zero() && !lines.is_empty() {
            // The budget covers everything: session, tokenising, generating.
            let attempt = async {
                let prompt = summary_prompt(lines, None);
                match self.llm.as_ref().map(|l| l.session()) {
                    Some(Ok(mut session)) => {
                        self.llm_summary(&mut session, &prompt, lines, None, false)
                            .await
                    }
                    Some(Err(e)) => Err(SummaryError::Engine(e.to_string())),
                    None => Err(SummaryError::Engine("no LLM".into())),
                }
            };
            let result = tokio::time::timeout(budget, attempt)
                .await
                .unwrap_or(Err(SummaryError::Late(budget)));
            match result {
                Ok((_, s)) => Some(s),
                Err(e) => {
                    tracing::info!(error = %e, "hand-over summary: using the caller's words");
                    None
                }
            }
        } else {
            None
        };
        super::metrics::handover(wanted.is_some());
        let wanted = wanted.unwrap_or_else(|| handover_extractive(lines));
        if wanted.is_empty() {
            format!("{reason}; the caller has not said anything yet")
        } else {
            format!("{reason}. {wanted}")
        }
    }

    /// The LLM's summary sentence(s), checked: `(raw continuation, accepted summary)`.
    /// `deadline` bounds the whole generation; `yield_to_calls` cancels it when the call
    /// load rises.
    async fn llm_summary(
        &self,
        session: &mut Session,
        prompt: &str,
        lines: &[Line],
        deadline: Option<Duration>,
        yield_to_calls: bool,
    ) -> Result<(String, String), SummaryError> {
        let mut params = GenParams::greedy(self.cfg.max_tokens);
        params.stop = vec!["\n".into()];
        let t0 = Instant::now();
        let text = self
            .generate(session, prompt, &params, None, deadline, yield_to_calls)
            .await?;
        tracing::debug!(took_ms = t0.elapsed().as_millis() as u64, text = %text, "LLM summary");
        check_grounded(&text, lines)?;
        let summary = check_summary(&format!("{SUMMARY_PREFIX}{text}"))?;
        Ok((text, summary))
    }

    /// The LLM's outcome under the JSON grammar, checked.
    async fn llm_outcome(
        &self,
        session: &mut Session,
        prompt: &str,
        lines: &[Line],
    ) -> Result<Outcome, SummaryError> {
        let params = GenParams::greedy(48);
        let grammar = outcome_grammar().map_err(SummaryError::Engine)?;
        let t0 = Instant::now();
        let text = self
            .generate(session, prompt, &params, Some(grammar), None, true)
            .await?;
        tracing::debug!(took_ms = t0.elapsed().as_millis() as u64, text = %text, "LLM outcome");
        let outcome = parse_outcome(&text)?;
        // A small model copies the example's intent or invents one: it must name something
        // the caller said.
        check_grounded(&outcome.intent, lines)?;
        Ok(outcome)
    }

    async fn generate(
        &self,
        session: &mut Session,
        prompt: &str,
        params: &GenParams,
        grammar: Option<GrammarSpec>,
        deadline: Option<Duration>,
        yield_to_calls: bool,
    ) -> Result<String, SummaryError> {
        let mut generation = match grammar {
            Some(g) => session.generate_constrained(prompt, params, g),
            None => session.generate_prompt(prompt, params),
        }
        .map_err(|e| SummaryError::Engine(e.to_string()))?;
        let collect = async {
            let mut text = String::new();
            while let Some(event) = generation.next().await {
                match event {
                    GenEvent::Token(t) => {
                        if yield_to_calls && self.busy() {
                            return Err(SummaryError::Busy); // dropping the stream cancels it
                        }
                        text.push_str(&t);
                    }
                    GenEvent::Done(_) => break,
                    GenEvent::Error(e) => return Err(SummaryError::Engine(e)),
                    GenEvent::ToolCall(_) => {}
                }
            }
            Ok(text)
        };
        match deadline {
            Some(d) => tokio::time::timeout(d, collect)
                .await
                .map_err(|_| SummaryError::Late(d))?,
            None => collect.await,
        }
    }
}

/// The summary continues this prefix (the prompt ends with it), so a base model writes what
/// the caller wanted instead of continuing the dialogue.
const SUMMARY_PREFIX: &str = "The caller wanted to";

/// One worked example before the real call: a base model follows a pattern far better than
/// an instruction.
const FEW_SHOT: &str =
    "Phone calls to a call centre, each with a one-sentence summary and its outcome.

Call:
Agent: Good morning, City Water, how can I help?
Caller: My water bill for March is twice the usual amount and I think the meter reading is wrong.
Agent: I will order a new meter reading and we will call you back.
Summary: The caller wanted to dispute the March water bill; a new meter reading was ordered.
Outcome: {\"intent\": \"dispute water bill\", \"resolved\": false, \"follow_up\": true}

Call:
";

/// The summary prompt: the example, the transcript, how the call ended (post-call), the cue.
fn summary_prompt(lines: &[Line], call_outcome: Option<&str>) -> String {
    let ended = call_outcome
        .map(|o| format!("(The call ended: {}.)\n", o.replace('_', " ")))
        .unwrap_or_default();
    format!(
        "{FEW_SHOT}{}{ended}Summary: {SUMMARY_PREFIX}",
        transcript_prompt(lines)
    )
}

/// The transcript part of the prompts, most recent lines kept within [`MAX_TRANSCRIPT_CHARS`].
fn transcript_prompt(lines: &[Line]) -> String {
    let mut kept = Vec::new();
    let mut used = 0;
    for l in lines.iter().rev() {
        let who = match l.role {
            Role::Caller => "Caller",
            Role::Agent => "Agent",
            Role::Tool => continue,
        };
        let text = clip(&l.text, 400);
        if text.is_empty() {
            continue;
        }
        used += text.len() + who.len() + 3;
        if used > MAX_TRANSCRIPT_CHARS && !kept.is_empty() {
            break;
        }
        kept.push(format!("{who}: {text}"));
    }
    kept.reverse();
    format!("{}\n", kept.join("\n"))
}

/// Accepts a summary only if it reads like one: a few words, not a continuation of the
/// dialogue, mostly letters; cut to two sentences.
pub fn check_summary(text: &str) -> Result<String, SummaryError> {
    let text = first_sentences(text.trim(), 2);
    let lower = text.to_lowercase();
    let generated_words = text
        .split_whitespace()
        .count()
        .saturating_sub(SUMMARY_PREFIX.split_whitespace().count());
    if generated_words < 3 {
        return Err(SummaryError::Unusable(format!("too short: {text:?}")));
    }
    if lower.contains("caller:") || lower.contains("agent:") {
        return Err(SummaryError::Unusable(format!(
            "continues the dialogue: {text:?}"
        )));
    }
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters * 2 < text.chars().count() {
        return Err(SummaryError::Unusable(format!("not words: {text:?}")));
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    let distinct: std::collections::BTreeSet<&&str> = words.iter().collect();
    if words.len() >= 8 && distinct.len() * 2 < words.len() {
        return Err(SummaryError::Unusable(format!("repetitive: {text:?}")));
    }
    Ok(clip(&text, 300))
}

/// Accepts a summary (or an intent) only if it names something the caller said — at least one
/// word of four letters or more from the caller's turns — and nothing that only the prompt's
/// worked example says (a small model otherwise invents a plausible call, or copies the example).
pub fn check_grounded(summary: &str, lines: &[Line]) -> Result<(), SummaryError> {
    const COMMON: &[&str] = &[
        "that", "this", "with", "have", "would", "could", "about", "there", "their", "what",
        "when", "your", "from", "they", "been", "were", "will", "just", "like", "want", "need",
        "call", "caller", "agent", "hello", "thanks", "thank", "please", "yeah", "okay",
    ];
    let words = |t: &str| -> std::collections::BTreeSet<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 4)
            .map(str::to_lowercase)
            .filter(|w| !COMMON.contains(&w.as_str()))
            .collect()
    };
    let said: std::collections::BTreeSet<String> = lines
        .iter()
        .filter(|l| l.role == Role::Caller)
        .flat_map(|l| words(&l.text))
        .collect();
    let everything: std::collections::BTreeSet<String> =
        lines.iter().flat_map(|l| words(&l.text)).collect();
    let prefix = words(SUMMARY_PREFIX); // every summary starts with it
    let example_only: Vec<String> = words(FEW_SHOT)
        .into_iter()
        .filter(|w| !everything.contains(w) && !prefix.contains(w))
        .collect();
    let own = words(summary);
    if let Some(w) = own.iter().find(|w| example_only.contains(w)) {
        // "dispute the March dental appointment": half copied from the worked example.
        Err(SummaryError::Unusable(format!(
            "copies the prompt's example (`{w}`): {summary:?}"
        )))
    } else if own.iter().any(|w| said.contains(w)) {
        Ok(())
    } else {
        Err(SummaryError::Unusable(format!(
            "names nothing the caller said: {summary:?}"
        )))
    }
}

/// The JSON Schema of the outcome the grammar enforces.
pub fn outcome_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "intent": {"type": "string", "minLength": 2, "maxLength": 60},
            "resolved": {"type": "boolean"},
            "follow_up": {"type": "boolean"}
        },
        "required": ["intent", "resolved", "follow_up"],
        "additionalProperties": false
    })
}

fn outcome_grammar() -> Result<GrammarSpec, String> {
    let mut b = GrammarBuilder::new();
    let rule = b
        .schema_rule(&outcome_schema(), "summary.outcome")
        .map_err(|e| e.to_string())?;
    b.set_root(rule);
    Ok(GrammarSpec {
        text: b.build(),
        lazy: false,
        patterns: Vec::new(),
        trigger_tokens: Vec::new(),
    })
}

/// Parses and checks the model's outcome JSON.
pub fn parse_outcome(text: &str) -> Result<Outcome, SummaryError> {
    let v: Value = serde_json::from_str(text.trim())
        .map_err(|e| SummaryError::Unusable(format!("outcome is not JSON ({e}): {text:?}")))?;
    let intent = clip(v["intent"].as_str().unwrap_or("").trim(), 60);
    let letters = intent.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 2 || letters * 2 < intent.chars().count() {
        return Err(SummaryError::Unusable(format!("intent {intent:?}")));
    }
    Ok(Outcome {
        intent: intent.to_lowercase(),
        resolved: v["resolved"].as_bool(),
        follow_up: v["follow_up"].as_bool(),
        source: Source::Llm,
    })
}

/// The caller's own words for the operator: the first substantive turn, and the last one
/// when it says something else.
pub fn handover_extractive(lines: &[Line]) -> String {
    let first = extractive(lines);
    let last = lines
        .iter()
        .rev()
        .find(|l| l.role == Role::Caller && !l.text.trim().is_empty())
        .map(|l| clip(l.text.trim(), 120));
    match last {
        Some(last) if !first.contains(&last) && !first.is_empty() => {
            format!("{first}; last: \"{last}\"")
        }
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_checked() {
        assert_eq!(
            check_summary(
                "The caller wants to move the appointment to Friday. The agent agreed. Then more."
            )
            .unwrap(),
            "The caller wants to move the appointment to Friday. The agent agreed."
        );
        assert!(check_summary("The caller wanted to").is_err());
        assert!(check_summary("The caller wanted to talk. Caller: hello there").is_err());
        assert!(check_summary("The caller wanted to 1234 5678 9012 3456 7890 1234 5678").is_err());
        assert!(check_summary("The caller wanted to the the the the the the the the the").is_err());
        let lines = [Line::new(
            Role::Caller,
            "I want to reschedule my dental appointment",
        )];
        assert!(check_grounded("The caller wants to move the appointment.", &lines).is_ok());
        assert!(check_grounded("The caller wanted to move the appointment.", &lines).is_ok());
        assert!(check_grounded("The caller asked about a pizza order.", &lines).is_err());
        assert!(check_grounded("The caller wanted to dispute the appointment.", &lines).is_err());
        assert!(check_grounded("dispute water bill", &lines).is_err());
    }

    #[test]
    fn outcomes_are_parsed_and_checked() {
        let o = parse_outcome(r#"{"follow_up": true, "intent": "Reschedule", "resolved": false}"#)
            .unwrap();
        assert_eq!(o.intent, "reschedule");
        assert_eq!((o.resolved, o.follow_up), (Some(false), Some(true)));
        assert!(parse_outcome("{").is_err());
        assert!(parse_outcome(r#"{"intent": "!!", "resolved": true, "follow_up": true}"#).is_err());
        let g = outcome_grammar().unwrap();
        assert!(g.text.starts_with("root ::= "), "{}", g.text);
    }

    #[test]
    fn the_operator_gets_the_callers_words_without_a_model() {
        let lines = vec![
            Line::new(Role::Caller, "hello"),
            Line::new(Role::Caller, "my card was charged twice for the same order"),
            Line::new(Role::Agent, "I see. Anything else?"),
            Line::new(Role::Caller, "I want a refund"),
        ];
        assert_eq!(
            handover_extractive(&lines),
            "Caller said: \"my card was charged twice for the same order\"; last: \"I want a refund\""
        );
        let p = transcript_prompt(&lines);
        assert!(
            p.contains("Caller: my card was charged twice") && p.ends_with("refund\n"),
            "{p}"
        );
    }
}
