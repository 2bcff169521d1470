//! The call handler behind each profile's listener: at the moment a call connects it takes
//! the profile's current snapshot, and the call keeps that snapshot to its end — an edit
//! applies to the next call, never to one in progress. It also keeps the live-calls table.

use super::registry::ProfileRegistry;
use crate::pipeline::{CallEvent, CallHandler, CallInfo, CallOutcome, Playout};
use futures::future::BoxFuture;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use uuid::Uuid;

/// The last committed turn of a live call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveTurn {
    /// Call uuid.
    pub call_uuid: Uuid,
    /// Order within the call.
    pub seq: u32,
    /// Who spoke (`caller`, `agent`, `tool`).
    pub role: crate::records::Role,
    /// What was said (as stored).
    pub text: String,
    /// Barged in over.
    pub interrupted: bool,
}

/// A call in progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveCall {
    /// AudioSocket uuid.
    pub uuid: Uuid,
    /// The profile answering it.
    pub profile: Option<String>,
    /// Caller id, once the records know it.
    pub caller_id: Option<String>,
    /// Start (unix ms).
    pub started_at_ms: i64,
    /// Turns committed so far.
    pub turn_count: u32,
    /// The latest of them.
    pub last_turn: Option<LiveTurn>,
}

/// The calls in progress now (shared; cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct LiveCalls {
    calls: Arc<Mutex<BTreeMap<Uuid, LiveCall>>>,
    /// Profiles of the calls that ended last: a live-events stream that renders a call's
    /// `call_started` after the table already saw its end (a short call) still names its profile.
    ended: Arc<Mutex<EndedProfiles>>,
}

/// Ended calls and their profiles, oldest first.
type EndedProfiles = std::collections::VecDeque<(Uuid, Option<String>)>;

/// How many ended calls keep their profile for late readers.
const ENDED_PROFILES: usize = 1024;

impl LiveCalls {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, LiveCall>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember_end(&self, call: Option<LiveCall>) {
        let Some(call) = call else { return };
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if ended.len() >= ENDED_PROFILES {
            ended.pop_front();
        }
        ended.push_back((call.uuid, call.profile));
    }

    /// A call began (its profile known).
    pub fn started(&self, uuid: Uuid, profile: Option<String>) {
        let now = crate::records::unix_ms(std::time::SystemTime::now());
        self.lock().entry(uuid).or_insert(LiveCall {
            uuid,
            profile,
            caller_id: None,
            started_at_ms: now,
            turn_count: 0,
            last_turn: None,
        });
    }

    /// Applies a committed record to the table (turn counts, caller id); a `CallEnded`
    /// removes the call.
    pub fn observe(&self, e: &crate::records::RecordEvent) {
        use crate::records::RecordEvent as E;
        let mut t = self.lock();
        match e {
            E::CallStarted { uuid, caller_id } => {
                if let Some(c) = t.get_mut(uuid) {
                    c.caller_id.clone_from(caller_id);
                }
            }
            E::TurnCommitted {
                call_uuid,
                seq,
                role,
                text,
                interrupted,
            } => {
                if let Some(c) = t.get_mut(call_uuid) {
                    c.turn_count += 1;
                    c.last_turn = Some(LiveTurn {
                        call_uuid: *call_uuid,
                        seq: *seq,
                        role: *role,
                        text: text.clone(),
                        interrupted: *interrupted,
                    });
                }
            }
            E::CallEnded { uuid, .. } => {
                let gone = t.remove(uuid);
                drop(t);
                self.remember_end(gone);
            }
        }
    }

    /// The call's task ended (whether or not its end reached the records).
    pub fn ended(&self, uuid: &Uuid) {
        let gone = self.lock().remove(uuid);
        self.remember_end(gone);
    }

    /// The profile of a live call.
    pub fn profile_of(&self, uuid: &Uuid) -> Option<String> {
        if let Some(call) = self.lock().get(uuid) {
            return call.profile.clone();
        }
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended
            .iter()
            .rev()
            .find(|(u, _)| u == uuid)
            .and_then(|(_, p)| p.clone())
    }

    /// Every call in progress, oldest first.
    pub fn snapshot(&self) -> Vec<LiveCall> {
        let mut v: Vec<LiveCall> = self.lock().values().cloned().collect();
        v.sort_by_key(|c| c.started_at_ms);
        v
    }
}

/// Answers the calls of one profile (one listener) with its snapshot at connect time.
#[derive(Clone)]
pub struct ProfileCallHandler {
    registry: Arc<ProfileRegistry>,
    /// `None`: the registry's default profile (on `[server] listen`).
    profile: Option<String>,
}

impl std::fmt::Debug for ProfileCallHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCallHandler")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl ProfileCallHandler {
    /// The handler of profile `name`.
    pub fn for_profile(registry: Arc<ProfileRegistry>, name: &str) -> Self {
        ProfileCallHandler {
            registry,
            profile: Some(name.to_string()),
        }
    }

    /// The handler of the default profile, whichever it is when a call connects.
    pub fn default_profile(registry: Arc<ProfileRegistry>) -> Self {
        ProfileCallHandler {
            registry,
            profile: None,
        }
    }
}

impl CallHandler for ProfileCallHandler {
    fn run(
        &self,
        info: CallInfo,
        events: mpsc::Receiver<CallEvent>,
        out: Playout,
    ) -> BoxFuture<'static, CallOutcome> {
        let snapshot = self.registry.current();
        let registry = Arc::clone(&self.registry);
        let fixed = self.profile.clone();
        let live = self.registry.live().clone();
        let uuid = info.uuid;
        Box::pin(async move {
            let name = match fixed {
                Some(name) => name,
                None => match ami_choice(&registry, &snapshot, &uuid).await {
                    Some(name) => name,
                    None => snapshot.default_name().to_string(),
                },
            };
            let Some(handler) = snapshot.handler(&name) else {
                // The profile was removed after its listener accepted: refuse cleanly.
                tracing::warn!(%uuid, profile = %name, "call for a removed profile; hanging up");
                drop(events);
                return CallOutcome::Finished;
            };
            tracing::info!(%uuid, profile = %name, "call answered by profile");
            live.started(uuid, Some(name));
            let outcome = handler.run(info, events, out).await;
            live.ended(&uuid);
            outcome
        })
    }
}

/// The profile the call's channel variable names (`[profiles] ami_variable`), if configured,
/// found in time and served; otherwise `None` (the default profile answers).
async fn ami_choice(
    registry: &ProfileRegistry,
    snapshot: &super::ProfileSnapshot,
    uuid: &Uuid,
) -> Option<String> {
    let (ami, variable, wait) = registry.ami_selection()?;
    let started = std::time::Instant::now();
    let Some(channel) = ami.channel_for_uuid(uuid, wait).await else {
        tracing::warn!(%uuid, "no AMI channel for the call in time; the default profile answers");
        return None;
    };
    let left = wait
        .saturating_sub(started.elapsed())
        .max(std::time::Duration::from_millis(50));
    match tokio::time::timeout(left, ami.getvar(&channel, variable)).await {
        Ok(Ok(Some(name))) if snapshot.handler(&name).is_some() => Some(name),
        Ok(Ok(Some(name))) => {
            tracing::warn!(%uuid, %channel, variable, value = %name,
                "the channel names no served profile; the default profile answers");
            None
        }
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::warn!(%uuid, %channel, error = %e, "Getvar failed; the default profile answers");
            None
        }
        Err(_) => {
            tracing::warn!(%uuid, %channel, "Getvar too slow; the default profile answers");
            None
        }
    }
}

#[cfg(test)]
mod live_calls_tests {
    use super::*;

    #[test]
    fn an_ended_call_still_names_its_profile_for_late_readers() {
        let live = LiveCalls::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        live.started(a, Some("sales".into()));
        live.started(b, None);
        live.observe(&crate::records::RecordEvent::CallEnded {
            uuid: a,
            outcome: crate::records::CallOutcome::Completed,
        });
        live.ended(&b);
        assert!(live.snapshot().is_empty());
        assert_eq!(live.profile_of(&a).as_deref(), Some("sales"));
        assert_eq!(live.profile_of(&b), None);
        assert_eq!(live.profile_of(&Uuid::new_v4()), None);
    }
}
