//! Answering-machine and IVR detection (AMD) for outbound calls, on-prem, from the first seconds.
//!
//! A human who answers says "Hello?" / "Алло" and waits; a voicemail talks for 3–15 s, often
//! says "leave a message" / "оставьте сообщение" and beeps; an IVR reads a menu ("press 1",
//! "нажмите"). [`AmdDetector`] listens to the callee's audio (16 kHz f32 frames, as the call
//! loop has them) with the VAD's speech flag and, when there is one, the transcript of the
//! first utterance, and decides [`Verdict::Human`], [`Verdict::Machine`] or (no evidence in
//! time) [`Verdict::Undecided`], with a [`Reason`]. It is built from pure parts:
//! [`tone::ToneDetector`] (a Goertzel filter bank that finds the beep: one steady frequency
//! between 400 and 2000 Hz for 150–1200 ms), [`phrases`] (en + ru voicemail and IVR phrase
//! lists) and [`decider::Decider`] (the state machine, unit-tested with scripted events).
//!
//! Unlike Asterisk's `AMD()`, it never counts words: a human who answers "Yes, speaking,
//! hello" is a short greeting followed by a pause, a human.
//!
//! The call loop uses it on outbound calls only (`conversation::call::amd`); campaigns learn
//! each call's verdict through [`MachineDetection`].

pub mod decider;
pub mod detector;
pub mod phrases;
pub mod set;
pub mod tone;

pub use decider::{AmdInput, AmdOutput, AmdParams, Cue, Decider};
pub use detector::AmdDetector;
pub use tone::{Beep, BeepParams, ToneDetector};

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// What answered the call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// A person: the agent starts the conversation.
    Human,
    /// An answering machine or an IVR; `beep_at` is when its beep started (media time after
    /// the answer), if one was heard by the time of the verdict.
    Machine {
        /// Start of the beep, if heard.
        beep_at: Option<Duration>,
    },
    /// No evidence either way in time (silence, or no verdict by `max_decision_ms`).
    Undecided,
}

impl Verdict {
    /// `human`, `machine` or `undecided` (the attempt result campaigns store).
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Human => "human",
            Verdict::Machine { .. } => "machine",
            Verdict::Undecided => "undecided",
        }
    }
}

/// Why the detector decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// A short greeting followed by a pause: a person waiting for an answer.
    ShortGreeting {
        /// Length of the greeting, first to last voiced frame (ms).
        speech_ms: u32,
    },
    /// Talked longer than `max_greeting_ms` without a pause.
    LongGreeting {
        /// Length of the greeting when the verdict was made (ms).
        speech_ms: u32,
    },
    /// A beep: one steady tone.
    Beep {
        /// Its frequency (Hz).
        hz: f32,
    },
    /// The transcript holds a voicemail phrase ("leave a message", "оставьте сообщение").
    VoicemailPhrase(String),
    /// The transcript holds an IVR phrase ("press 1", "нажмите").
    IvrPhrase(String),
    /// Nobody spoke within `max_initial_silence_ms`.
    NoSpeech,
    /// No verdict within `max_decision_ms`.
    Timeout,
}

impl Reason {
    /// A short machine-readable name (`short_greeting`, `beep`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::ShortGreeting { .. } => "short_greeting",
            Reason::LongGreeting { .. } => "long_greeting",
            Reason::Beep { .. } => "beep",
            Reason::VoicemailPhrase(_) => "voicemail_phrase",
            Reason::IvrPhrase(_) => "ivr_phrase",
            Reason::NoSpeech => "no_speech",
            Reason::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::ShortGreeting { speech_ms } => write!(f, "short greeting ({speech_ms} ms)"),
            Reason::LongGreeting { speech_ms } => write!(f, "long greeting ({speech_ms} ms)"),
            Reason::Beep { hz } => write!(f, "beep at {hz:.0} Hz"),
            Reason::VoicemailPhrase(p) => write!(f, "voicemail phrase \"{p}\""),
            Reason::IvrPhrase(p) => write!(f, "IVR phrase \"{p}\""),
            Reason::NoSpeech => write!(f, "nobody spoke"),
            Reason::Timeout => write!(f, "no verdict in time"),
        }
    }
}

/// A verdict, why, and when (media time after the answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What answered.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// Media time after the answer at which it was decided.
    pub at: Duration,
}

impl Decision {
    /// True for a machine verdict.
    pub fn is_machine(&self) -> bool {
        matches!(self.verdict, Verdict::Machine { .. })
    }

    /// True when the machine is an IVR menu rather than a voicemail.
    pub fn is_ivr(&self) -> bool {
        matches!(self.reason, Reason::IvrPhrase(_))
    }
}

/// What the call did about the verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum AmdAction {
    /// A person (or undecided): the agent started the conversation.
    Converse,
    /// The message was spoken to the machine, starting at this media time (then hung up).
    LeftMessage {
        /// Media time after the answer when the message started.
        at: Duration,
    },
    /// The agent hung up on the machine.
    HungUp,
    /// The call ended before the action (the callee hung up, or the agent stopped).
    CallEnded,
}

/// Everything a campaign learns about a screened call, once it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct AmdReport {
    /// The verdict; `None` when the call ended before one.
    pub decision: Option<Decision>,
    /// Start of the beep (media time after the answer), if one was heard at any time.
    pub beep_at: Option<Duration>,
    /// What the call did.
    pub action: AmdAction,
    /// What the machine's greeting was transcribed as (empty without a transcript).
    pub transcript: String,
}

impl AmdReport {
    /// The attempt's result for a campaign: `human`, `machine`, `undecided` (also when the
    /// call ended before a verdict).
    pub fn attempt_result(&self) -> &'static str {
        self.decision
            .as_ref()
            .map_or("undecided", |d| d.verdict.as_str())
    }
}

/// The seam between the call loop and whoever placed the call (a campaign): which calls to
/// screen, and what each one turned out to be.
pub trait MachineDetection: Send + Sync + 'static {
    /// Whether the call with this uuid is to be screened (an outbound call this campaign
    /// placed). Inbound calls answer `false`.
    fn screen(&self, uuid: &uuid::Uuid) -> bool;

    /// The verdict was made (before the action: the agent may still be waiting for the beep).
    fn decided(&self, _uuid: &uuid::Uuid, _decision: &Decision) {}

    /// The screened call ended: its report.
    fn finished(&self, uuid: &uuid::Uuid, report: &AmdReport);
}

/// Reports a [`VerdictBoard`] keeps (the oldest go first), so a long-running agent that
/// screens every call does not grow without bound.
pub const BOARD_CAPACITY: usize = 10_000;

/// An in-memory [`MachineDetection`]: screens the uuids it was told to expect (or all calls),
/// keeps the last [`BOARD_CAPACITY`] reports and lets a caller wait for one. What tests and
/// `[amd] inbound` use; a campaign can use it as is.
#[derive(Debug, Default)]
pub struct VerdictBoard {
    screen_all: bool,
    expected: Mutex<HashSet<uuid::Uuid>>,
    reports: Mutex<HashMap<uuid::Uuid, AmdReport>>,
    order: Mutex<VecDeque<uuid::Uuid>>,
    decisions: Mutex<HashMap<uuid::Uuid, Decision>>,
    changed: tokio::sync::Notify,
}

impl VerdictBoard {
    /// A board that screens only the calls announced with [`VerdictBoard::expect`].
    pub fn new() -> VerdictBoard {
        VerdictBoard::default()
    }

    /// A board that screens every call.
    pub fn screening_all() -> VerdictBoard {
        VerdictBoard {
            screen_all: true,
            ..VerdictBoard::default()
        }
    }

    /// Screen the call with this uuid (an outbound call about to be placed).
    pub fn expect(&self, uuid: uuid::Uuid) {
        self.expected.lock().expect("board lock").insert(uuid);
    }

    /// The report of a finished call.
    pub fn report(&self, uuid: &uuid::Uuid) -> Option<AmdReport> {
        self.reports.lock().expect("board lock").get(uuid).cloned()
    }

    /// The verdict of a call, once made.
    pub fn decision(&self, uuid: &uuid::Uuid) -> Option<Decision> {
        self.decisions
            .lock()
            .expect("board lock")
            .get(uuid)
            .cloned()
    }

    /// Waits for the call's report, at most `timeout`.
    pub async fn wait_report(&self, uuid: &uuid::Uuid, timeout: Duration) -> Option<AmdReport> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if let Some(r) = self.report(uuid) {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.report(uuid);
            }
        }
    }
}

impl MachineDetection for VerdictBoard {
    fn screen(&self, uuid: &uuid::Uuid) -> bool {
        self.screen_all || self.expected.lock().expect("board lock").contains(uuid)
    }

    fn decided(&self, uuid: &uuid::Uuid, decision: &Decision) {
        self.decisions
            .lock()
            .expect("board lock")
            .insert(*uuid, decision.clone());
        self.changed.notify_waiters();
    }

    fn finished(&self, uuid: &uuid::Uuid, report: &AmdReport) {
        self.expected.lock().expect("board lock").remove(uuid);
        {
            let mut reports = self.reports.lock().expect("board lock");
            let mut order = self.order.lock().expect("board lock");
            if reports.insert(*uuid, report.clone()).is_none() {
                order.push_back(*uuid);
            }
            while order.len() > BOARD_CAPACITY {
                if let Some(old) = order.pop_front() {
                    reports.remove(&old);
                    self.decisions.lock().expect("board lock").remove(&old);
                }
            }
        }
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdict: Verdict) -> AmdReport {
        AmdReport {
            decision: Some(Decision {
                verdict,
                reason: Reason::NoSpeech,
                at: Duration::from_secs(1),
            }),
            beep_at: None,
            action: AmdAction::HungUp,
            transcript: String::new(),
        }
    }

    #[test]
    fn the_board_screens_only_expected_calls_and_keeps_a_bounded_history() {
        let board = VerdictBoard::new();
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        board.expect(a);
        assert!(board.screen(&a) && !board.screen(&b));
        assert!(VerdictBoard::screening_all().screen(&b));
        board.finished(&a, &report(Verdict::Machine { beep_at: None }));
        assert_eq!(board.report(&a).unwrap().attempt_result(), "machine");
        assert!(!board.screen(&a), "a finished call is no longer expected");
        for _ in 0..BOARD_CAPACITY {
            board.finished(&uuid::Uuid::new_v4(), &report(Verdict::Human));
        }
        assert!(board.report(&a).is_none(), "the oldest report went first");
        assert_eq!(board.reports.lock().unwrap().len(), BOARD_CAPACITY);
    }

    #[tokio::test]
    async fn waiting_for_a_report_returns_when_it_comes() {
        let board = std::sync::Arc::new(VerdictBoard::new());
        let id = uuid::Uuid::new_v4();
        let b = std::sync::Arc::clone(&board);
        let waiter = tokio::spawn(async move { b.wait_report(&id, Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        board.finished(&id, &report(Verdict::Human));
        let got = waiter.await.unwrap().expect("the report");
        assert_eq!(got.attempt_result(), "human");
        let none = board
            .wait_report(&uuid::Uuid::new_v4(), Duration::from_millis(20))
            .await;
        assert!(none.is_none());
    }
}
