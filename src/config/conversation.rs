//! `[conversation]`: what the agent says and how it takes turns on a call.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// Settings of `[conversation]`: greeting, language, turn-taking, barge-in, budgets, hand-over.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConversationConfig {
    /// Conversation language, `ru` or `en`: picks the voice (`[tts] voice_ru`/`voice_en`),
    /// Whisper's language and the built-in phrases.
    pub language: String,
    /// Spoken first, before the greeting (e.g. "This is an automated assistant"); "" = the
    /// built-in text for the language, "-" = none.
    pub disclosure: String,
    /// Greeting after the disclosure; "" = built-in, "-" = none.
    pub greeting: String,
    /// Said when a stage fails or runs over its budget; "" = built-in.
    pub apology: String,
    /// Said before a hand-over to a human; "" = built-in.
    pub transfer_notice: String,
    /// Said when the caller is silent for `reprompt_after_secs`; "" = built-in.
    pub reprompt: String,
    /// Said before the agent hangs up (silence, maximum length); "" = built-in.
    pub goodbye: String,
    /// Said when a hand-over could not be made (AMI failed, no channel for the call, no
    /// `[ami]`): the agent keeps the caller and offers a call-back; "" = built-in.
    pub handover_failed: String,
    /// Caller silence (s) after the agent finished speaking before the re-prompt; 0 = never.
    pub reprompt_after_secs: f64,
    /// Hang up after this many re-prompts in a row went unanswered (0 = never).
    pub hangup_after_reprompts: u32,
    /// Longest call (s); then the agent says goodbye and hangs up. 0 = no limit.
    pub max_call_secs: u64,
    /// Trailing silence (ms) that ends a turn when the transcript already ends a sentence
    /// (this is also the VAD's own trailing silence; it replaces `[vad]`'s for calls).
    pub end_of_turn_short_ms: u32,
    /// Trailing silence (ms) after which the turn so far is transcribed (and the end-of-turn
    /// model asked), speculatively, before `end_of_turn_short_ms` has passed: the answer
    /// still waits for the short pause, but the transcript is ready sooner. It is then the
    /// VAD's trailing silence. 0, or anything at or above the short pause: at the short
    /// pause. Costs a discarded transcription at each mid-sentence pause between the two.
    pub end_of_turn_transcribe_ms: u32,
    /// Trailing silence (ms) that ends a turn when only one of the end-of-turn model and the
    /// transcript's punctuation says the caller finished (between the short and the long one);
    /// 0 = no medium tier (`end_of_turn_ms`), so a config that lowers `end_of_turn_ms` alone
    /// stays valid.
    pub end_of_turn_medium_ms: u32,
    /// Trailing silence (ms) that ends a turn otherwise.
    pub end_of_turn_ms: u32,
    /// The end-of-turn model's "finished" ends the turn at the short pause only when the
    /// transcript also ends a sentence (else at the medium silence).
    pub end_of_turn_require_punctuation: bool,
    /// Semantic end-of-turn model (smart-turn ONNX), asked at each short pause; relative
    /// paths are inside `[models] dir`. "" = none: the transcript-punctuation rule decides.
    pub end_of_turn_model: String,
    /// Probability at or above which the end-of-turn model's "finished" ends the turn.
    pub end_of_turn_model_threshold: f32,
    /// Let the caller interrupt the agent.
    pub barge_in: bool,
    /// Caller speech (ms, at the VAD's probability threshold) that interrupts the agent.
    pub barge_in_min_speech_ms: u32,
    /// At the start of each agent reply, this long (ms) cannot be interrupted (echo of the
    /// agent's own first syllables, line clicks).
    pub barge_in_protect_ms: u32,
    /// Echo gate: while the agent talks, caller audio no louder than the agent's own audio
    /// could echo back (Geigel double-talk rule) counts as silence, so the agent's voice
    /// leaking into the caller's channel neither barges in nor opens an utterance.
    pub echo_gate: bool,
    /// Smallest echo return loss (dB) the gate assumes: caller audio within this many dB of
    /// the agent's loudest recent frame is taken for echo (6 = Geigel's classic ½).
    pub echo_gate_erl_db: f32,
    /// Longest echo path (ms) the gate considers: agent audio written longer ago than this
    /// cannot be echo.
    pub echo_gate_max_delay_ms: u32,
    /// A slow LLM: when the reply's first text came this long ago (ms) and no chunk reached
    /// TTS yet (no clause or sentence end), the first chunk is cut after
    /// `first_chunk_words` words (never inside a number, phone number or ID); 0 = never.
    pub first_chunk_wait_ms: u64,
    /// Words the first chunk needs before a slow LLM's chunk is cut without a boundary.
    pub first_chunk_words: usize,
    /// While the answer decision waits at a short pause, evaluate the LLM prompt with the
    /// transcript so far (discarded if the caller goes on).
    pub speculative_prefill: bool,
    /// CPU priority for what a caller waits on: while a transcription or a reply's first
    /// audio is being made (for any call), the LLM's later sentences of a call that has at
    /// least this much audio (ms) queued, or a sentence being synthesised, wait. On a small
    /// box the two engines' spinning threads otherwise slow each other 3x. 0 = never wait.
    pub llm_defer_ahead_ms: u32,
    /// Budget (ms) for transcription of one utterance.
    pub asr_budget_ms: u64,
    /// Budget (ms) from transcript to the first sentence of the reply.
    pub llm_budget_ms: u64,
    /// Budget (ms) for synthesizing one sentence.
    pub tts_budget_ms: u64,
    /// Fit the ASR budget to the machine: measured at start-up and on every turn, scaled with
    /// the utterance's length and the transcriptions queued ahead of it; `asr_budget_ms` is
    /// then the floor. A busy CPU answers late rather than not at all.
    pub adaptive_budgets: bool,
    /// DTMF digit that hands the caller to a human at once ("" = none).
    pub operator_digit: String,
    /// `AGENT_TARGET` set on a hand-over: a name the dialplan maps to a queue or extension
    /// (never a dial string).
    pub transfer_target: String,
    /// On a failed or over-budget turn: apologise, then hand over (true) or keep listening.
    pub transfer_on_failure: bool,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        ConversationConfig {
            language: "ru".into(),
            disclosure: String::new(),
            greeting: String::new(),
            apology: String::new(),
            transfer_notice: String::new(),
            reprompt: String::new(),
            goodbye: String::new(),
            handover_failed: String::new(),
            reprompt_after_secs: 8.0,
            hangup_after_reprompts: 2,
            max_call_secs: 900,
            end_of_turn_short_ms: 300,
            end_of_turn_transcribe_ms: 120,
            end_of_turn_medium_ms: 0,
            end_of_turn_ms: 600,
            end_of_turn_require_punctuation: false,
            end_of_turn_model: String::new(),
            end_of_turn_model_threshold: 0.5,
            barge_in: true,
            barge_in_min_speech_ms: 40,
            barge_in_protect_ms: 250,
            echo_gate: true,
            echo_gate_erl_db: 6.0,
            echo_gate_max_delay_ms: 500,
            first_chunk_wait_ms: 200,
            first_chunk_words: 4,
            speculative_prefill: true,
            llm_defer_ahead_ms: 600,
            asr_budget_ms: 3000,
            llm_budget_ms: 4000,
            tts_budget_ms: 3000,
            adaptive_budgets: true,
            operator_digit: "0".into(),
            transfer_target: "operators".into(),
            transfer_on_failure: true,
        }
    }
}

/// The phrases the agent needs before any model runs, resolved for the language.
#[derive(Debug, Clone, PartialEq)]
pub struct Phrases {
    /// Automated-assistant disclosure (None = not spoken).
    pub disclosure: Option<String>,
    /// Greeting (None = not spoken).
    pub greeting: Option<String>,
    /// Apology on failure.
    pub apology: String,
    /// Before a hand-over.
    pub transfer_notice: String,
    /// Silence re-prompt.
    pub reprompt: String,
    /// Before hanging up.
    pub goodbye: String,
    /// A hand-over failed: the caller stays, a call-back is offered.
    pub handover_failed: String,
}

impl ConversationConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.language.as_str(), "ru" | "en") {
            return Err(ConfigError::invalid(
                "conversation.language",
                format!(
                    "`{}` is not supported; allowed: \"ru\", \"en\"",
                    self.language
                ),
            ));
        }
        if self.end_of_turn_short_ms < 100 || self.end_of_turn_short_ms > self.end_of_turn_ms {
            return Err(ConfigError::invalid(
                "conversation.end_of_turn_short_ms",
                "allowed 100..=end_of_turn_ms",
            ));
        }
        if self.end_of_turn_transcribe_ms != 0
            && !(40..=10_000).contains(&self.end_of_turn_transcribe_ms)
        {
            return Err(ConfigError::invalid(
                "conversation.end_of_turn_transcribe_ms",
                "allowed 0 (at the short pause) or 40..=10000 (above end_of_turn_short_ms: at the short pause)",
            ));
        }
        if self.llm_defer_ahead_ms != 0 && !(100..=30_000).contains(&self.llm_defer_ahead_ms) {
            return Err(ConfigError::invalid(
                "conversation.llm_defer_ahead_ms",
                "allowed 0 (the LLM never waits) or 100..=30000 (ms of queued audio)",
            ));
        }
        if !(self.echo_gate_erl_db.is_finite() && (0.0..=40.0).contains(&self.echo_gate_erl_db)) {
            return Err(ConfigError::invalid(
                "conversation.echo_gate_erl_db",
                "allowed 0..=40 (dB)",
            ));
        }
        if !(20..=2000).contains(&self.echo_gate_max_delay_ms) {
            return Err(ConfigError::invalid(
                "conversation.echo_gate_max_delay_ms",
                "allowed 20..=2000 (ms)",
            ));
        }
        if !(0.0..=1.0).contains(&self.end_of_turn_model_threshold) {
            return Err(ConfigError::invalid(
                "conversation.end_of_turn_model_threshold",
                "a probability in 0.0..=1.0",
            ));
        }
        if self.end_of_turn_medium_ms != 0
            && (self.end_of_turn_medium_ms < self.end_of_turn_short_ms
                || self.end_of_turn_medium_ms > self.end_of_turn_ms)
        {
            return Err(ConfigError::invalid(
                "conversation.end_of_turn_medium_ms",
                "allowed 0 (no medium tier) or end_of_turn_short_ms..=end_of_turn_ms",
            ));
        }
        if !(1..=40).contains(&self.first_chunk_words) {
            return Err(ConfigError::invalid(
                "conversation.first_chunk_words",
                "allowed 1..=40",
            ));
        }
        if self.end_of_turn_ms > 5000 {
            return Err(ConfigError::invalid(
                "conversation.end_of_turn_ms",
                "allowed ..=5000",
            ));
        }
        if self.operator_digit.chars().count() > 1
            || !self
                .operator_digit
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
        {
            return Err(ConfigError::invalid(
                "conversation.operator_digit",
                "one DTMF digit (0-9, *, #, A-D) or \"\"",
            ));
        }
        if !self.reprompt_after_secs.is_finite() || self.reprompt_after_secs < 0.0 {
            return Err(ConfigError::invalid(
                "conversation.reprompt_after_secs",
                "must be ≥ 0",
            ));
        }
        for (key, v) in [
            ("conversation.asr_budget_ms", self.asr_budget_ms),
            ("conversation.llm_budget_ms", self.llm_budget_ms),
            ("conversation.tts_budget_ms", self.tts_budget_ms),
        ] {
            if !(100..=60_000).contains(&v) {
                return Err(ConfigError::invalid(key, "allowed 100..=60000"));
            }
        }
        if !self
            .transfer_target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(ConfigError::invalid(
                "conversation.transfer_target",
                "a plain name the dialplan maps (letters, digits, _ - .), never a dial string",
            ));
        }
        Ok(())
    }

    /// The end-of-turn model file, resolved inside `models_dir`; `None` when not configured.
    pub fn end_of_turn_model_path(
        &self,
        models_dir: &std::path::Path,
    ) -> Option<std::path::PathBuf> {
        let p = self.end_of_turn_model.trim();
        if p.is_empty() {
            return None;
        }
        let p = std::path::Path::new(p);
        Some(if p.is_absolute() {
            p.to_path_buf()
        } else {
            models_dir.join(p)
        })
    }

    /// The phrases for the configured language, built-in where the config leaves them empty.
    pub fn phrases(&self) -> Phrases {
        let ru = self.language == "ru";
        let pick = |v: &str, ru_text: &str, en_text: &str| -> Option<String> {
            match v.trim() {
                "-" => None,
                "" => Some(if ru { ru_text } else { en_text }.to_string()),
                s => Some(s.to_string()),
            }
        };
        let always = |v: &str, ru_text: &str, en_text: &str| {
            pick(v, ru_text, en_text).unwrap_or_else(|| if ru { ru_text } else { en_text }.into())
        };
        Phrases {
            disclosure: pick(
                &self.disclosure,
                "Здравствуйте! Вы говорите с автоматическим помощником.",
                "Hello! You are speaking with an automated assistant.",
            ),
            greeting: pick(&self.greeting, "Чем могу помочь?", "How can I help you?"),
            apology: always(
                &self.apology,
                "Извините, у меня возникла техническая проблема.",
                "Sorry, I ran into a technical problem.",
            ),
            transfer_notice: always(
                &self.transfer_notice,
                "Соединяю вас с оператором.",
                "Let me connect you to an operator.",
            ),
            reprompt: always(&self.reprompt, "Вы меня слышите?", "Are you still there?"),
            goodbye: always(&self.goodbye, "До свидания!", "Goodbye!"),
            handover_failed: always(
                &self.handover_failed,
                "Сейчас я не могу соединить вас с оператором. Мы перезвоним вам, как только \
                 оператор освободится, а пока я постараюсь помочь.",
                "I cannot reach an operator right now. We will call you back as soon as one is \
                 free, or I can keep helping you myself.",
            ),
        }
    }
}
