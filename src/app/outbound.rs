//! Outbound calls meet their contact: when an AudioSocket call connects, its uuid is looked
//! up in the campaign attempts, and the call gets the campaign's greeting, question and
//! instructions with the contact's variables (`{name}`, `{appointment}`, `{amount}`, …)
//! filled in. A campaign names its agent profile by string; the script says which.

use crate::amd::MachineDetection;
use crate::campaign::{fill_placeholders, CampaignStore};
use crate::conversation::{CallScript, CallScripts};
use std::sync::Arc;

/// [`CallScripts`] over the campaign tables of the records database.
#[derive(Debug, Clone)]
pub struct OutboundScripts {
    store: Arc<CampaignStore>,
}

impl OutboundScripts {
    /// Scripts from `store`.
    pub fn new(store: Arc<CampaignStore>) -> OutboundScripts {
        OutboundScripts { store }
    }
}

impl CallScripts for OutboundScripts {
    fn script(&self, uuid: &uuid::Uuid) -> Option<CallScript> {
        let call = match self.store.lookup_call(uuid) {
            Ok(Some(call)) => call,
            Ok(None) => return None,
            Err(e) => {
                // The call goes on with the configured greeting rather than not at all.
                tracing::warn!(call = %uuid, error = %e, "looking up the outbound contact failed");
                return None;
            }
        };
        let vars = &call.variables;
        let fill = |t: &str| Some(fill_placeholders(t, vars)).filter(|s| !s.trim().is_empty());
        let greeting = match (fill(&call.script.greeting), fill(&call.script.question)) {
            (Some(g), Some(q)) => Some(format!("{} {}", g.trim_end(), q.trim())),
            (g, q) => g.or(q),
        };
        let mut instructions = fill(&call.script.instructions).unwrap_or_default();
        if let Some(q) = fill(&call.script.question) {
            instructions.push_str(&format!(
                "\nYou called the customer to ask: \"{}\". Get a clear answer (yes, no, or another time), then say goodbye.",
                q.trim()
            ));
        }
        tracing::info!(call = %uuid, campaign = %call.campaign_id, contact = %call.external_id,
            profile = %call.profile, "outbound call connected to its contact");
        Some(CallScript {
            greeting,
            instructions: Some(instructions.trim().to_string()).filter(|s| !s.is_empty()),
            profile: Some(call.profile),
        })
    }
}

/// Answering-machine screening of the calls a campaign placed (`[amd] enabled`): the call loop
/// screens a call whose uuid is a campaign attempt, and the runner reads the verdict when it
/// resolves that attempt (a machine is recorded as `machine` and retried by its rules).
#[derive(Debug)]
pub struct CampaignScreening {
    store: Arc<CampaignStore>,
    board: crate::amd::VerdictBoard,
}

impl CampaignScreening {
    /// Screening of the attempts in `store`.
    pub fn new(store: Arc<CampaignStore>) -> CampaignScreening {
        CampaignScreening {
            store,
            board: crate::amd::VerdictBoard::new(),
        }
    }
}

impl MachineDetection for CampaignScreening {
    fn screen(&self, uuid: &uuid::Uuid) -> bool {
        matches!(self.store.lookup_call(uuid), Ok(Some(_)))
    }

    fn decided(&self, uuid: &uuid::Uuid, decision: &crate::amd::Decision) {
        self.board.decided(uuid, decision);
    }

    fn finished(&self, uuid: &uuid::Uuid, report: &crate::amd::AmdReport) {
        self.board.finished(uuid, report);
    }
}

impl crate::campaign::MachineDetector for CampaignScreening {
    fn is_machine(&self, call: &crate::records::StoredCall) -> bool {
        self.board
            .report(&call.uuid)
            .is_some_and(|r| r.attempt_result() == "machine")
    }
}

/// With `[campaign] enabled`: gives `handler` the outbound scripts and starts the dialler
/// (needs the records and AMI). Otherwise returns `handler` as it is.
pub async fn start_dialler(
    config: &crate::config::Config,
    handler: crate::conversation::ConversationHandler,
    records: Option<&crate::records::RecordStore>,
    ami: Option<crate::ami::AmiClient>,
    llm: Arc<crate::dialog::engine::LlmEngine>,
) -> Result<
    (
        crate::conversation::ConversationHandler,
        Option<crate::campaign::RunnerHandle>,
    ),
    String,
> {
    use crate::campaign::{runner, Classifier, DialSettings, RunnerSettings, SystemClock};
    use std::time::Duration;
    let cfg = &config.campaign;
    if !cfg.enabled {
        return Ok((handler, None));
    }
    let records = records.ok_or("needs [records] enabled = true (campaign state lives there)")?;
    let ami = ami.ok_or("needs [ami] enabled = true (calls are placed with AMI Originate)")?;
    let path = records.path().to_path_buf();
    let store = tokio::task::spawn_blocking(move || CampaignStore::open(&path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let store = Arc::new(store);
    let handler = handler.with_call_scripts(Arc::new(OutboundScripts::new(Arc::clone(&store))));
    let screening = config.amd.enabled.then(|| {
        let screening = Arc::new(CampaignScreening::new(Arc::clone(&store)));
        handler.set_machine_detection(Arc::clone(&screening) as Arc<dyn MachineDetection>);
        screening
    });
    let classifier = if cfg.classify_with_llm {
        Classifier::with_llm(llm)
    } else {
        Classifier::keywords_only()
    };
    let settings = RunnerSettings {
        tick: Duration::from_millis(cfg.tick_ms),
        lease: Duration::from_secs(cfg.lease_secs),
        dial: DialSettings {
            channel: cfg.channel.clone(),
            context: cfg.context.clone(),
            exten: cfg.exten.clone(),
            ring_timeout: Duration::from_secs(cfg.ring_timeout_secs),
            caller_id: Some(cfg.caller_id.clone()).filter(|c| !c.is_empty()),
            max_call: Duration::from_secs(cfg.max_call_secs),
            ..Default::default()
        },
        ..Default::default()
    };
    let handle = runner::spawn(
        store,
        ami,
        records.subscribe(),
        classifier,
        screening.map(|s| s as Arc<dyn crate::campaign::MachineDetector>),
        Arc::new(SystemClock),
        settings,
    );
    tracing::info!(channel = %cfg.channel, context = %cfg.context, "campaign dialler started");
    Ok((handler, Some(handle)))
}
