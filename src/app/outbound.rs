//! Outbound calls meet their contact: when an AudioSocket call connects, its uuid is looked
//! up in the campaign attempts, and the call gets the campaign's greeting, question and
//! instructions with the contact's variables (`{name}`, `{appointment}`, `{amount}`, …)
//! filled in. A campaign names its agent profile by string; the script says which.

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
