//! The conversation: the call handler that listens, thinks and speaks.
//!
//! One [`ConversationHandler`] serves every call with the engines loaded once per process
//! ([`Engines`]); each call runs its own loop ([`call`]) with its own VAD state, LLM sequence
//! and turn task ([`turn`]). Pre-synthesised phrases ([`phrases`]) make the greeting, the
//! apology and the hand-over notice play instantly, whatever the models are doing.

mod call;
pub mod engines;
mod phrases;
mod played;
mod recording;
pub mod stack;
mod turn;

pub use engines::{Engines, EnginesError};
pub use phrases::PhraseAudio;
pub use played::played_text;
pub use stack::{Stack, StackError};

use crate::ami::AmiClient;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{CallEvent, CallHandler, CallInfo, CallOutcome, Playout};
use crate::records::RecordWriter;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Everything a call needs that outlives it: config, engines, phrases, records, AMI, metrics.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) engines: Engines,
    pub(crate) phrases: PhraseAudio,
    pub(crate) records: Option<RecordWriter>,
    pub(crate) ami: Option<AmiClient>,
    pub(crate) metrics: Arc<Metrics>,
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
    /// A handler over loaded engines; synthesises the fixed phrases now (blocking, once), so
    /// the greeting plays the moment a call connects.
    pub fn new(
        config: Config,
        engines: Engines,
        records: Option<RecordWriter>,
        ami: Option<AmiClient>,
        metrics: Arc<Metrics>,
    ) -> Result<ConversationHandler, EnginesError> {
        let phrases = PhraseAudio::synthesize(&config.conversation.phrases(), &engines.tts)?;
        Ok(ConversationHandler {
            shared: Arc::new(Shared {
                config,
                engines,
                phrases,
                records,
                ami,
                metrics,
            }),
        })
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
