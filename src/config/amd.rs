//! `[amd]`: answering-machine and IVR detection on outbound calls.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// What the agent does once a call is answered by a machine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MachineAction {
    /// Speak `message` after the beep (or after the greeting ends), then hang up.
    #[default]
    LeaveMessage,
    /// Hang up at once.
    HangUp,
}

/// Settings of `[amd]`: answering-machine and IVR detection (outbound calls only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AmdConfig {
    /// Screen outbound calls (those a campaign placed) before the agent speaks.
    pub enabled: bool,
    /// Screen inbound calls too (tests and demos with `agent call`; never needed in production).
    pub inbound: bool,
    /// A greeting that talks longer than this without a pause is a machine (ms).
    pub max_greeting_ms: u32,
    /// Silence after a short greeting that makes it a human waiting for an answer (ms).
    pub after_greeting_silence_ms: u32,
    /// Nobody spoke for this long after the answer: undecided, the agent talks (ms).
    pub max_initial_silence_ms: u32,
    /// No verdict by then: undecided, the agent talks (ms after the answer).
    pub max_decision_ms: u32,
    /// How much longer a human verdict waits for a transcript already being made (ms).
    pub transcript_wait_ms: u32,
    /// Voiced audio shorter than this (clicks, breaths) is not the greeting's start (ms).
    pub min_speech_ms: u32,
    /// Lowest frequency of the voicemail beep (Hz).
    pub beep_min_hz: u32,
    /// Highest frequency of the voicemail beep (Hz).
    pub beep_max_hz: u32,
    /// Shortest beep (ms).
    pub beep_min_ms: u32,
    /// Longest beep (ms); a longer steady tone (dial tone, fax) is not a beep.
    pub beep_max_ms: u32,
    /// Share of a 20 ms frame's energy the beep's frequency must hold (0..1): speech never
    /// puts this much into one frequency, a beep does even through G.711 and noise.
    pub beep_purity: f32,
    /// Quietest beep (dBFS of the frame).
    pub beep_min_dbfs: f32,
    /// On a voicemail: `leave_message` or `hang_up`.
    pub action: MachineAction,
    /// On an IVR menu ("press 1…"): `hang_up` (a message to a menu reaches nobody) or `leave_message`.
    pub ivr_action: MachineAction,
    /// What the agent says to a voicemail (empty with `leave_message`: it hangs up instead).
    pub message: String,
    /// Without a beep, the message starts after this much silence at the greeting's end (ms).
    pub message_after_silence_ms: u32,
    /// The greeting never ends (or never pauses) within this after the verdict: hang up (ms).
    pub max_message_wait_ms: u32,
    /// A beep or a voicemail phrase this soon after a human verdict makes it a machine after
    /// all (the greeting is cut off, the message waits for the beep) (ms).
    pub revise_window_ms: u32,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            enabled: false,
            inbound: false,
            max_greeting_ms: 3000,
            after_greeting_silence_ms: 900,
            max_initial_silence_ms: 4000,
            max_decision_ms: 8000,
            transcript_wait_ms: 1500,
            min_speech_ms: 120,
            beep_min_hz: 400,
            beep_max_hz: 2000,
            beep_min_ms: 150,
            beep_max_ms: 1500,
            beep_purity: 0.85,
            beep_min_dbfs: -40.0,
            action: MachineAction::LeaveMessage,
            ivr_action: MachineAction::HangUp,
            message: "Hello, this is an automated call about your appointment. \
                      Please call us back at your convenience. Thank you, goodbye."
                .into(),
            message_after_silence_ms: 2500,
            max_message_wait_ms: 30_000,
            revise_window_ms: 2500,
        }
    }
}

impl AmdConfig {
    /// Range checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = |key: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    &format!("amd.{key}"),
                    format!("{lo}..={hi} (ms)"),
                ))
            }
        };
        ms("max_greeting_ms", self.max_greeting_ms, 500, 30_000)?;
        ms(
            "after_greeting_silence_ms",
            self.after_greeting_silence_ms,
            200,
            10_000,
        )?;
        ms(
            "max_initial_silence_ms",
            self.max_initial_silence_ms,
            500,
            30_000,
        )?;
        ms("max_decision_ms", self.max_decision_ms, 1000, 60_000)?;
        ms("transcript_wait_ms", self.transcript_wait_ms, 0, 10_000)?;
        ms("min_speech_ms", self.min_speech_ms, 0, 2000)?;
        ms("beep_min_ms", self.beep_min_ms, 40, 5000)?;
        ms("beep_max_ms", self.beep_max_ms, self.beep_min_ms, 10_000)?;
        ms(
            "message_after_silence_ms",
            self.message_after_silence_ms,
            200,
            30_000,
        )?;
        ms(
            "max_message_wait_ms",
            self.max_message_wait_ms,
            1000,
            300_000,
        )?;
        ms("revise_window_ms", self.revise_window_ms, 0, 10_000)?;
        if !(100..=3800).contains(&self.beep_min_hz) {
            return Err(ConfigError::invalid(
                "amd.beep_min_hz",
                "100..=3800 Hz (telephone audio ends at 4 kHz)",
            ));
        }
        if !(self.beep_min_hz..=3800).contains(&self.beep_max_hz) {
            return Err(ConfigError::invalid(
                "amd.beep_max_hz",
                format!("beep_min_hz ({}) ..= 3800 Hz", self.beep_min_hz),
            ));
        }
        if !(self.beep_purity > 0.0 && self.beep_purity < 1.0) {
            return Err(ConfigError::invalid(
                "amd.beep_purity",
                "a share in (0.0, 1.0)",
            ));
        }
        if !(-90.0..=0.0).contains(&self.beep_min_dbfs) {
            return Err(ConfigError::invalid("amd.beep_min_dbfs", "-90.0 ..= 0.0"));
        }
        Ok(())
    }
}
