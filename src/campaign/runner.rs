//! The campaign loop: every tick it resolves attempts whose runner is gone, renews its own
//! leases, asks the scheduler whom to dial, claims them and dials each through AMI; each
//! call is followed to its end (`OriginateResponse`, `Hangup`, the records' `CallEnded`),
//! classified, and finished in the store with its outbox events.

use super::classify::Classifier;
use super::rules::DialResult;
use super::scheduler;
use super::store::{AttemptOutcome, CampaignStore, Claimed, OpenAttempt};
use super::{CampaignError, CampaignState};
use crate::ami::{
    describe_reason, AmiClient, OriginateRequest, REASON_ANSWERED, REASON_BUSY, REASON_RINGING,
};
use crate::records::{RecordEvent, StoredCall};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The campaign's idea of now (wall clock in production, scripted in tests).
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    /// Moves it forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += chrono::Duration::from_std(by).unwrap_or_default();
    }

    /// Sets it to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Answering-machine detection hook: an answered call that reached a machine or an IVR is
/// recorded as `machine` (retried by its rules) instead of being classified.
pub trait MachineDetector: Send + Sync + 'static {
    /// Whether the finished call `call` was answered by a machine.
    fn is_machine(&self, call: &StoredCall) -> bool;
}

/// How calls are placed.
#[derive(Debug, Clone)]
pub struct DialSettings {
    /// Channel to dial, `{phone}` replaced by the contact's number:
    /// `PJSIP/{phone}@trunk` or `Local/{phone}@enclave-dial`.
    pub channel: String,
    /// Context the answered call enters (the shipped `enclave-outbound`).
    pub context: String,
    /// Extension there.
    pub exten: String,
    /// How long a call may ring.
    pub ring_timeout: Duration,
    /// Caller id to present.
    pub caller_id: Option<String>,
    /// Extra wait for `OriginateResponse` beyond the ring time (set-up, a slow trunk).
    pub response_slack: Duration,
    /// Longest an answered call is followed; then the attempt is resolved from the records.
    pub max_call: Duration,
    /// After Asterisk's `Hangup`, how long the AudioSocket call's record may take to end.
    pub record_wait: Duration,
}

impl Default for DialSettings {
    fn default() -> Self {
        DialSettings {
            channel: "Local/{phone}@enclave-dial".into(),
            context: "enclave-outbound".into(),
            exten: "s".into(),
            ring_timeout: Duration::from_secs(30),
            caller_id: None,
            response_slack: Duration::from_secs(15),
            max_call: Duration::from_secs(900),
            record_wait: Duration::from_secs(10),
        }
    }
}

/// How the runner runs.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// This runner's name in `campaign_attempts.owner` (unique per process start).
    pub owner: String,
    /// Time between scheduling passes.
    pub tick: Duration,
    /// Lease of a claimed attempt; renewed every tick. Another runner resolves an attempt
    /// whose lease ran out.
    pub lease: Duration,
    /// Dialling.
    pub dial: DialSettings,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            owner: format!("runner-{}", Uuid::new_v4()),
            tick: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            dial: DialSettings::default(),
        }
    }
}

/// A running campaign loop. [`RunnerHandle::stop`] ends it cleanly; dropping it aborts it
/// and its calls' followers at once (as a crash would: the next runner resolves them).
#[derive(Debug)]
pub struct RunnerHandle {
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    wake: Arc<Notify>,
}

impl RunnerHandle {
    /// Runs a scheduling pass now (e.g. after the clock moved or a campaign started).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops dialling and waits for the loop to end (calls in flight are abandoned to the
    /// next runner, which resolves them from the records).
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Routes the records' committed events to the attempts waiting for their call.
#[derive(Default)]
struct CallWatch {
    waiters: Mutex<HashMap<Uuid, mpsc::UnboundedSender<RecordEvent>>>,
}

impl CallWatch {
    fn register(&self, uuid: Uuid) -> mpsc::UnboundedReceiver<RecordEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uuid, tx);
        rx
    }

    fn unregister(&self, uuid: &Uuid) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid);
    }

    fn route(&self, ev: RecordEvent) {
        let uuid = match &ev {
            RecordEvent::CallStarted { uuid, .. } | RecordEvent::CallEnded { uuid, .. } => *uuid,
            RecordEvent::TurnCommitted { .. } => return,
        };
        if let Some(tx) = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&uuid)
        {
            let _ = tx.send(ev);
        }
    }
}

struct Inner {
    store: Arc<CampaignStore>,
    ami: AmiClient,
    classifier: Classifier,
    machine: Option<Arc<dyn MachineDetector>>,
    clock: Arc<dyn Clock>,
    settings: RunnerSettings,
    watch: CallWatch,
    /// Attempts this runner is following now.
    live: Mutex<HashSet<i64>>,
    wake: Arc<Notify>,
}

impl Inner {
    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&CampaignStore) -> Result<T, CampaignError> + Send + 'static,
    ) -> Result<T, CampaignError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| CampaignError::Records(format!("campaign store task: {e}")))?
    }
}

/// Starts the campaign loop for every `running` campaign in `store`, dialling through `ami`.
/// `records` is a subscription to the call records' committed events
/// (`RecordStore::subscribe()`), taken before the first call.
pub fn spawn(
    store: Arc<CampaignStore>,
    ami: AmiClient,
    records: broadcast::Receiver<RecordEvent>,
    classifier: Classifier,
    machine: Option<Arc<dyn MachineDetector>>,
    clock: Arc<dyn Clock>,
    settings: RunnerSettings,
) -> RunnerHandle {
    let cancel = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let inner = Arc::new(Inner {
        store,
        ami,
        classifier,
        machine,
        clock,
        settings,
        watch: CallWatch::default(),
        live: Mutex::new(HashSet::new()),
        wake: Arc::clone(&wake),
    });
    let task = tokio::spawn(run(inner, records, cancel.clone()));
    RunnerHandle {
        cancel,
        task: Some(task),
        wake,
    }
}

async fn run(
    inner: Arc<Inner>,
    mut records: broadcast::Receiver<RecordEvent>,
    cancel: CancellationToken,
) {
    let mut calls: JoinSet<()> = JoinSet::new();
    let mut tick = tokio::time::interval(inner.settings.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(owner = %inner.settings.owner, "campaign runner started");
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            ev = records.recv() => match ev {
                Ok(ev) => inner.watch.route(ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // The followers also poll the records, so a missed event only delays them.
                    tracing::warn!(missed = n, "campaign runner fell behind the records' events");
                }
                Err(broadcast::error::RecvError::Closed) => {
                    tracing::warn!("call records closed: the campaign runner stops");
                    break;
                }
            },
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
            _ = tick.tick() => pass(&inner, &mut calls).await,
            _ = inner.wake.notified() => pass(&inner, &mut calls).await,
        }
    }
    tracing::info!(owner = %inner.settings.owner, "campaign runner stopped");
}

/// One scheduling pass.
async fn pass(inner: &Arc<Inner>, calls: &mut JoinSet<()>) {
    let owner = inner.settings.owner.clone();
    let now = inner.now_ms();
    let lease = inner.settings.lease;
    if let Err(e) = inner
        .blocking(move |s| s.renew_leases(&owner, now + lease.as_millis() as i64))
        .await
    {
        tracing::warn!(error = %e, "campaign: renewing leases");
    }
    if let Err(e) = resolve_orphans(inner).await {
        tracing::warn!(error = %e, "campaign: resolving attempts of stopped runners");
    }
    let campaigns = match inner
        .blocking(|s| s.campaigns_in(CampaignState::Running))
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "campaign: listing running campaigns");
            return;
        }
    };
    for id in campaigns {
        if let Err(e) = schedule_campaign(inner, &id, calls).await {
            tracing::warn!(campaign = %id, error = %e, "campaign: scheduling pass failed");
        }
    }
}

async fn schedule_campaign(
    inner: &Arc<Inner>,
    id: &str,
    calls: &mut JoinSet<()>,
) -> Result<(), CampaignError> {
    let now = inner.clock.now();
    let now_ms = now.timestamp_millis();
    let cid = id.to_string();
    let (campaign, (candidates, load)) = inner
        .blocking(move |s| Ok((s.campaign(&cid)?, s.candidates(&cid, now_ms)?)))
        .await?;
    let plan = scheduler::plan(now, &campaign.rules, load, &candidates);
    if plan.dial.is_empty() {
        if load.in_flight == 0 {
            let cid = id.to_string();
            if inner
                .blocking(move |s| s.finish_if_done(&cid, now_ms))
                .await?
            {
                tracing::info!(campaign = %id, "campaign finished: every contact has its result");
            }
        }
        return Ok(());
    }
    let (cid, owner, lease) = (
        id.to_string(),
        inner.settings.owner.clone(),
        inner.settings.lease,
    );
    let ids = plan.dial.clone();
    let claimed = inner
        .blocking(move |s| s.claim(&cid, &ids, &owner, now_ms, lease))
        .await?;
    for c in claimed {
        tracing::info!(campaign = %id, contact = %c.external_id, attempt = c.seq,
            call = %c.call_uuid, "dialling");
        inner
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.attempt_id);
        let inner = Arc::clone(inner);
        let campaign_id = id.to_string();
        let question = campaign.script.question.clone();
        calls.spawn(async move {
            let attempt = c.attempt_id;
            let outcome = dial(&inner, &campaign_id, &c, &question).await;
            let now = inner.now_ms();
            match inner
                .blocking(move |s| s.finish_attempt(attempt, &outcome, now))
                .await
            {
                Ok(Some(f)) => tracing::info!(contact = %f.external_id, retry_at = ?f.retry_at,
                    result = ?f.final_result, "attempt finished"),
                Ok(None) => tracing::debug!(attempt, "attempt was already resolved"),
                Err(e) => tracing::error!(attempt, error = %e, "recording the attempt failed"),
            }
            inner.watch.unregister(&c.call_uuid);
            inner
                .live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&attempt);
            inner.wake.notify_one();
        });
    }
    Ok(())
}

/// Maps a failed `OriginateResponse` (and the hang-up cause, when seen) to a dial result.
pub fn failed_dial_result(reason: u32, hangup_cause: Option<u32>) -> DialResult {
    match (reason, hangup_cause) {
        (REASON_BUSY, _) | (_, Some(17)) => DialResult::Busy,
        (REASON_RINGING, _) | (_, Some(18 | 19)) => DialResult::NoAnswer,
        _ => DialResult::Failed,
    }
}

/// Places one call and follows it to its outcome.
async fn dial(inner: &Arc<Inner>, campaign: &str, c: &Claimed, question: &str) -> AttemptOutcome {
    let d = &inner.settings.dial;
    let mut events = inner.watch.register(c.call_uuid);
    let req = OriginateRequest {
        channel: d.channel.replace("{phone}", &c.phone),
        context: d.context.clone(),
        exten: d.exten.clone(),
        priority: 1,
        ring_timeout: d.ring_timeout,
        caller_id: d.caller_id.clone(),
        variables: vec![
            ("ENCLAVE_CAMPAIGN".into(), campaign.to_string()),
            ("ENCLAVE_CONTACT".into(), c.external_id.clone()),
            ("ENCLAVE_ATTEMPT".into(), c.attempt_id.to_string()),
        ],
    };
    let failed = |cause: String| AttemptOutcome {
        result: DialResult::Failed,
        cause: Some(cause),
        classification: None,
    };
    let mut pending = match inner.ami.originate(&req, &c.call_uuid).await {
        Ok(p) => p,
        Err(e) => return failed(format!("Originate refused: {e}")),
    };
    let (attempt, action_id) = (c.attempt_id, pending.action_id().to_string());
    let _ = inner
        .blocking(move |s| s.set_action_id(attempt, &action_id))
        .await;
    let result = match pending.response(d.ring_timeout + d.response_slack).await {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    if !result.success || result.reason != REASON_ANSWERED {
        // The Hangup of a failed dial usually precedes the response; take a moment for it.
        if pending.hangup.is_none() && !pending.channels.is_empty() {
            let _ = pending.wait_hangup(Duration::from_millis(200)).await;
        }
        let cause_code = pending.hangup.as_ref().map(|h| h.cause);
        let mut cause = format!(
            "Reason {} ({})",
            result.reason,
            describe_reason(result.reason)
        );
        if let Some(h) = &pending.hangup {
            cause.push_str(&format!("; Hangup Cause {} ({})", h.cause, h.cause_txt));
        }
        return AttemptOutcome {
            result: failed_dial_result(result.reason, cause_code),
            cause: Some(cause),
            classification: None,
        };
    }
    let (channel, now) = (result.channel.clone(), inner.now_ms());
    let _ = inner
        .blocking(move |s| s.mark_answered(attempt, channel.as_deref(), now))
        .await;
    // Answered: follow the AudioSocket call until its record ends.
    let started = tokio::time::Instant::now();
    let mut connected = false;
    let mut hung_up_at: Option<tokio::time::Instant> = None;
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(RecordEvent::CallStarted { .. }) => connected = true,
                Some(RecordEvent::CallEnded { .. }) => break,
                Some(_) => {}
                None => break,
            },
            h = pending.wait_hangup(d.max_call), if pending.hangup.is_none() => {
                if let Ok(Some(h)) = h {
                    tracing::debug!(call = %c.call_uuid, cause = h.cause, "Hangup of the outbound channel");
                }
                hung_up_at.get_or_insert_with(tokio::time::Instant::now);
            }
            _ = poll.tick() => {
                // A fallback for missed events (a lagging subscriber): the record itself.
                let uuid = c.call_uuid;
                match inner.blocking(move |s| s.call_ended(&uuid)).await {
                    Ok(Some(true)) => break,
                    Ok(Some(false)) => connected = true,
                    _ => {}
                }
                if started.elapsed() > d.max_call {
                    return failed(format!("the answered call lasted more than {:?}", d.max_call));
                }
                if let Some(at) = hung_up_at {
                    if at.elapsed() > d.record_wait && !connected {
                        let cause = pending.hangup.as_ref().map(|h| format!(
                            "; Hangup Cause {} ({})", h.cause, h.cause_txt)).unwrap_or_default();
                        return failed(format!(
                            "answered, but the AudioSocket call never reached the agent \
                             (is the dialplan context `{}` connecting AudioSocket with ${{AS_UUID}}?){cause}",
                            d.context));
                    }
                }
            }
        }
    }
    answered_outcome(inner, &c.call_uuid, question).await
}

/// The outcome of an answered call whose record has ended: machine or a classified answer.
async fn answered_outcome(inner: &Arc<Inner>, uuid: &Uuid, question: &str) -> AttemptOutcome {
    let u = *uuid;
    let call = match inner.blocking(move |s| s.load_call(&u)).await {
        Ok(Some(call)) => call,
        Ok(None) => {
            return AttemptOutcome {
                result: DialResult::Failed,
                cause: Some("answered, but the call has no record".into()),
                classification: None,
            }
        }
        Err(e) => {
            return AttemptOutcome {
                result: DialResult::Failed,
                cause: Some(format!("reading the call record: {e}")),
                classification: None,
            }
        }
    };
    let outcome = call.outcome.map(|o| o.as_str()).unwrap_or("unknown");
    if let Some(m) = &inner.machine {
        if m.is_machine(&call) {
            return AttemptOutcome {
                result: DialResult::Machine,
                cause: Some(format!("answering machine detected; call {outcome}")),
                classification: None,
            };
        }
    }
    let classification = inner.classifier.classify(question, &call.turns).await;
    AttemptOutcome {
        result: DialResult::Answered,
        cause: Some(format!("call {outcome}")),
        classification: Some(classification),
    }
}

/// Resolves attempts whose runner is gone (lease ran out): from the call record when the
/// call reached the agent and ended; as failed when it never did (after it could still
/// have been ringing), so the contact is retried by its rules — never lost, and never
/// dialled again while the old call could still connect.
async fn resolve_orphans(inner: &Arc<Inner>) -> Result<(), CampaignError> {
    let now = inner.now_ms();
    let expired = inner.blocking(move |s| s.expired_attempts(now)).await?;
    let d = &inner.settings.dial;
    let could_ring_ms = (d.ring_timeout + d.response_slack).as_millis() as i64;
    for a in expired {
        if inner
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&a.attempt_id)
        {
            continue;
        }
        let uuid = a.call_uuid;
        let record = inner.blocking(move |s| s.call_ended(&uuid)).await?;
        let outcome = match record {
            Some(true) => {
                let question = inner
                    .blocking({
                        let cid = a.campaign_id.clone();
                        move |s| s.campaign(&cid)
                    })
                    .await
                    .map(|c| c.script.question)
                    .unwrap_or_default();
                answered_outcome(inner, &uuid, &question).await
            }
            Some(false) if now - a.started_at < d.max_call.as_millis() as i64 => continue,
            Some(false) => AttemptOutcome {
                result: DialResult::Failed,
                cause: Some("orphaned: the call's record never ended".into()),
                classification: None,
            },
            None if now - a.started_at < could_ring_ms => continue,
            None => AttemptOutcome {
                result: DialResult::Failed,
                cause: Some(format!(
                    "orphaned: runner {} stopped before the outcome was known, and the call never reached the agent",
                    a.owner
                )),
                classification: None,
            },
        };
        log_orphan(&a, &outcome);
        let id = a.attempt_id;
        inner
            .blocking(move |s| s.finish_attempt(id, &outcome, now))
            .await?;
    }
    Ok(())
}

fn log_orphan(a: &OpenAttempt, outcome: &AttemptOutcome) {
    tracing::warn!(attempt = a.attempt_id, call = %a.call_uuid, owner = %a.owner,
        state = %a.state, result = outcome.result.as_str(), "resolved an attempt left by a stopped runner");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_originates_map_to_dial_results() {
        assert_eq!(failed_dial_result(5, None), DialResult::Busy);
        assert_eq!(failed_dial_result(1, Some(17)), DialResult::Busy);
        assert_eq!(failed_dial_result(3, None), DialResult::NoAnswer);
        assert_eq!(failed_dial_result(0, Some(19)), DialResult::NoAnswer);
        assert_eq!(failed_dial_result(8, Some(34)), DialResult::Failed);
        assert_eq!(failed_dial_result(0, None), DialResult::Failed);
    }
}
