//! The conversation: the call handler that listens, thinks and speaks.
//!
//! One [`ConversationHandler`] serves every call with the engines loaded once per process
//! (behind the traits of [`traits`]; `crate::app` loads the real ones); each call runs its own
//! loop ([`call`]) with its own VAD state, LLM sequence and turn task ([`turn`]). The loop only
//! applies what the pure deciders say: [`turn_taking`] (is the caller's turn over?),
//! [`barge_in`] (may the caller cut the agent?), [`timers`], [`budget`] and [`ending`]. Pre-synthesised
//! phrases ([`phrases`]) make the greeting, the apology and the hand-over notice play
//! instantly, whatever the models are doing.

pub mod barge_in;
pub mod budget;
mod call;
pub mod ending;
mod phrases;
mod played;
mod recording;
mod reply;
pub mod timers;
pub mod traits;
mod turn;
pub mod turn_taking;

pub use phrases::{PhraseAudio, PhraseError};
pub use played::played_text;
// The composition root moved to `crate::app`; these paths stay for existing callers.
pub use crate::app::{engines, stack, Engines, EnginesError, Stack, StackError};
pub use traits::{
    CallScript, CallScripts, Converse, Heard, StartConversation, Synthesize, Transcribe,
};

use crate::ami::AmiClient;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{CallEvent, CallHandler, CallInfo, CallOutcome, Playout};
use crate::records::RecordWriter;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The engines a call uses, behind their traits (the real ones from
/// `crate::app::call_engines`, or fakes in tests).
#[derive(Clone)]
pub struct CallEngines {
    /// Speech recognition.
    pub transcribe: Arc<dyn Transcribe>,
    /// Speech synthesis (the conversation's voice).
    pub synthesize: Arc<dyn Synthesize>,
    /// Makes each call's LLM conversation.
    pub converse: Arc<dyn StartConversation>,
    /// Silero VAD (sessions shared, recurrent state per call); `None` with the webrtc backend.
    pub silero: Option<Arc<crate::vad::SileroModel>>,
    /// The shared Silero worker (all calls' windows batched on one blocking thread); `None`
    /// runs Silero inline per call (or webrtc-vad).
    pub vad_worker: Option<Arc<crate::vad::VadWorker>>,
    /// Semantic end-of-turn model, if any.
    pub end_of_turn: Option<Arc<dyn crate::vad::EndOfTurnModel>>,
    /// Names of the models, for call records.
    pub models: crate::records::ModelsUsed,
}

impl std::fmt::Debug for CallEngines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallEngines")
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

/// Everything a call needs that outlives it: config, engines, phrases, records, AMI, metrics.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) engines: CallEngines,
    pub(crate) phrases: PhraseAudio,
    pub(crate) records: Option<RecordWriter>,
    pub(crate) ami: Option<AmiClient>,
    pub(crate) metrics: Arc<Metrics>,
    /// The ASR budget, fitted to this machine (shared: every call runs on the same CPU).
    pub(crate) asr_budget: budget::StageBudget,
    /// The LLM's budget for a reply's first sentence, fitted the same way.
    pub(crate) llm_budget: budget::StageBudget,
    /// Transcriptions started and not yet done, across calls.
    pub(crate) asr_in_flight: std::sync::atomic::AtomicUsize,
    /// What callers wait on right now, which the LLM's later sentences give way to (the
    /// process's one count: every handler shares the CPU).
    pub(crate) priority: Arc<crate::priority::CpuPriority>,
    /// Per-call scripts (outbound campaigns), looked up when a call connects.
    pub(crate) scripts: Option<Arc<dyn CallScripts>>,
    /// Answering-machine screening: the campaign's hook, the voicemail message audio.
    pub(crate) amd: call::amd::AmdShared,
    /// Writes the operator's hand-over summary (set once by the composition root).
    pub(crate) summarizer: std::sync::OnceLock<Arc<crate::summary::Summarizer>>,
    /// The agent profile this handler serves, recorded on each call it answers.
    pub(crate) profile: Option<String>,
}

/// The real call handler (`[server] handler = "conversation"`).
#[derive(Clone)]
pub struct ConversationHandler {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConversationHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationHandler")
            .finish_non_exhaustive()
    }
}

impl ConversationHandler {
    /// A handler over engines given behind their traits (fakes in tests) and phrases already
    /// synthesised; budgets are the configured ones until turns measure the ASR's cost.
    pub fn with_engines(
        config: Config,
        engines: CallEngines,
        phrases: PhraseAudio,
        records: Option<RecordWriter>,
        ami: Option<AmiClient>,
        metrics: Arc<Metrics>,
    ) -> ConversationHandler {
        let cfg = &config.conversation;
        let asr_budget = budget::StageBudget::new(
            std::time::Duration::from_millis(cfg.asr_budget_ms),
            cfg.adaptive_budgets,
        );
        let llm_budget = budget::StageBudget::new(
            std::time::Duration::from_millis(cfg.llm_budget_ms),
            cfg.adaptive_budgets,
        );
        ConversationHandler {
            shared: Arc::new(Shared {
                config,
                engines,
                phrases,
                records,
                ami,
                metrics,
                asr_budget,
                llm_budget,
                asr_in_flight: Default::default(),
                priority: crate::priority::CpuPriority::process(),
                scripts: None,
                amd: Default::default(),
                summarizer: Default::default(),
                profile: None,
            }),
        }
    }

    /// Names the agent profile this handler serves (recorded on every call it answers). Call
    /// before the handler serves calls.
    pub fn with_profile_name(mut self, name: &str) -> ConversationHandler {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.profile = Some(name.to_string()),
            None => tracing::error!("profile name set on a handler already serving calls: ignored"),
        }
        self
    }

    /// Gives calls their per-call script (greeting, instructions) from `scripts`, looked up
    /// by uuid when each call connects. Call before the handler serves calls.
    pub fn with_call_scripts(mut self, scripts: Arc<dyn CallScripts>) -> ConversationHandler {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.scripts = Some(scripts),
            None => tracing::error!("call scripts set on a handler already serving calls: ignored"),
        }
        self
    }

    /// One transcription of `audio_s` seconds took `took` (a start-up calibration): the ASR
    /// budget fits this machine from the first call.
    pub fn observe_asr_cost(&self, audio_s: f64, took: std::time::Duration) {
        self.shared.asr_budget.observe(audio_s, took, 0);
    }

    /// Screens the calls `detection` asks for (outbound calls it placed) for answering
    /// machines, with `[amd]`; false when a hook was already set (it is set once).
    pub fn set_machine_detection(&self, detection: Arc<dyn crate::amd::MachineDetection>) -> bool {
        self.shared.amd.hook.set(detection).is_ok()
    }

    /// Hand-overs tell the operator what the caller wanted with this summariser (without
    /// one: the caller's last words). Set once; later calls are ignored.
    pub fn set_summarizer(&self, summarizer: Arc<crate::summary::Summarizer>) {
        let _ = self.shared.summarizer.set(summarizer);
    }

    /// The ASR budget an utterance of `audio_s` seconds gets now, with nothing queued.
    pub fn asr_budget(&self, audio_s: f64) -> std::time::Duration {
        self.shared.asr_budget.budget(audio_s, 0)
    }
}

impl CallHandler for ConversationHandler {
    fn run(
        &self,
        info: CallInfo,
        events: mpsc::Receiver<CallEvent>,
        out: Playout,
    ) -> BoxFuture<'static, CallOutcome> {
        Box::pin(call::run(Arc::clone(&self.shared), info, events, out))
    }
}
