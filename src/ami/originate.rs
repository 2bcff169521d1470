//! Outbound calls: `Originate` (async, with `ActionID` and channel variables) and the events
//! that say how it went — `OriginateResponse` (matched by `ActionID`), and `VarSet`,
//! `Newstate`, `Hangup` of the channel that carries the call's `AS_UUID`.
//!
//! `Reason` in `OriginateResponse` is the last control frame Asterisk read on the new
//! channel (`AST_CONTROL_*`), not a hang-up cause: 0 nothing (no route, channel driver
//! refused), 1 hang-up, 3 ringing (rang out: no answer), 4 answered, 5 busy, 8 congestion.

use super::channels::UUID_VARIABLE;
use super::client::AmiClient;
use super::message::Message;
use super::AmiError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// `Reason` 0: the call could not be placed at all.
pub const REASON_FAILED: u32 = 0;
/// `Reason` 1: the far end hung up before answering (rejected).
pub const REASON_HANGUP: u32 = 1;
/// `Reason` 3: it rang until the originate timeout (no answer).
pub const REASON_RINGING: u32 = 3;
/// `Reason` 4: answered.
pub const REASON_ANSWERED: u32 = 4;
/// `Reason` 5: busy.
pub const REASON_BUSY: u32 = 5;
/// `Reason` 8: congestion (circuits busy, no route).
pub const REASON_CONGESTION: u32 = 8;

/// What `Reason` value `r` means, for logs and records.
pub fn describe_reason(r: u32) -> &'static str {
    match r {
        REASON_FAILED => "failed (no channel)",
        REASON_HANGUP => "hung up before answer",
        2 => "ring",
        REASON_RINGING => "no answer (rang out)",
        REASON_ANSWERED => "answered",
        REASON_BUSY => "busy",
        REASON_CONGESTION => "congestion",
        _ => "unknown reason",
    }
}

/// One outbound call to place.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginateRequest {
    /// The channel to dial: `PJSIP/+15551234567@trunk`, `Local/+15551234567@enclave-dial`.
    pub channel: String,
    /// Dialplan context the answered call continues in (e.g. `enclave-outbound`).
    pub context: String,
    /// Extension there.
    pub exten: String,
    /// Priority there.
    pub priority: u32,
    /// How long it may ring (`Timeout`, ms on the wire).
    pub ring_timeout: Duration,
    /// `CallerID` to present, if any.
    pub caller_id: Option<String>,
    /// Channel variables (`Variable: NAME=value`, one header each). Include
    /// `AS_UUID=<uuid>` so the dialplan connects the AudioSocket with it.
    pub variables: Vec<(String, String)>,
}

/// The `OriginateResponse` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginateResult {
    /// `Response: Success`.
    pub success: bool,
    /// `Reason` (see the module docs).
    pub reason: u32,
    /// `Channel`.
    pub channel: Option<String>,
    /// `Uniqueid` (absent or `<null>` on failure).
    pub uniqueid: Option<String>,
}

/// A `Hangup` event of the call's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HangupInfo {
    /// The channel.
    pub channel: String,
    /// `Cause` (Q.850: 16 normal clearing, 17 busy, 19 no answer, 21 rejected, 34 congestion).
    pub cause: u32,
    /// `Cause-txt`.
    pub cause_txt: String,
}

/// An `Originate` Asterisk accepted ("Originate successfully queued"): follow its events.
#[derive(Debug)]
pub struct PendingOriginate {
    action_id: String,
    uuid: String,
    events: broadcast::Receiver<Arc<Message>>,
    /// Channels that carry the call (learned from `VarSet AS_UUID`).
    pub channels: Vec<String>,
    /// The last `Newstate` seen (`ChannelStateDesc`: Ring, Ringing, Up, Busy).
    pub last_state: Option<String>,
    /// The first `Hangup` of one of the channels.
    pub hangup: Option<HangupInfo>,
    /// The `OriginateResponse`, once seen.
    pub result: Option<OriginateResult>,
    /// Events were missed (the subscriber fell behind).
    pub lagged: bool,
}

fn non_null(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty() && *v != "<null>" && *v != "(null)")
        .map(str::to_string)
}

impl PendingOriginate {
    /// The `ActionID` the action and its `OriginateResponse` carry.
    pub fn action_id(&self) -> &str {
        &self.action_id
    }

    /// Takes one event into account.
    pub fn observe(&mut self, m: &Message) {
        let Some(event) = m.event() else { return };
        if event.eq_ignore_ascii_case("OriginateResponse") {
            if m.action_id() == Some(self.action_id.as_str()) && self.result.is_none() {
                let channel = non_null(m.get("Channel"));
                if let Some(c) = &channel {
                    if !self.channels.contains(c) {
                        self.channels.push(c.clone());
                    }
                }
                self.result = Some(OriginateResult {
                    success: m
                        .get("Response")
                        .is_some_and(|r| r.eq_ignore_ascii_case("Success")),
                    reason: m
                        .get("Reason")
                        .and_then(|r| r.trim().parse().ok())
                        .unwrap_or(REASON_FAILED),
                    channel,
                    uniqueid: non_null(m.get("Uniqueid")),
                });
            }
            return;
        }
        let Some(channel) = m.get("Channel") else {
            return;
        };
        if event.eq_ignore_ascii_case("VarSet") {
            let ours = m
                .get("Variable")
                .is_some_and(|v| v.eq_ignore_ascii_case(UUID_VARIABLE))
                && m.get("Value").map(str::trim) == Some(self.uuid.as_str());
            if ours && !self.channels.iter().any(|c| c == channel) {
                self.channels.push(channel.to_string());
            }
            return;
        }
        if !self.channels.iter().any(|c| c == channel) {
            return;
        }
        if event.eq_ignore_ascii_case("Newstate") {
            self.last_state = non_null(m.get("ChannelStateDesc")).or(self.last_state.take());
        } else if event.eq_ignore_ascii_case("Hangup") && self.hangup.is_none() {
            self.hangup = Some(HangupInfo {
                channel: channel.to_string(),
                cause: m
                    .get("Cause")
                    .and_then(|c| c.trim().parse().ok())
                    .unwrap_or(0),
                cause_txt: m.get("Cause-txt").unwrap_or("").to_string(),
            });
        }
    }

    async fn next_event(&mut self, deadline: Instant) -> Result<bool, AmiError> {
        match tokio::time::timeout_at(deadline, self.events.recv()).await {
            Err(_) => Ok(false),
            Ok(Ok(m)) => {
                self.observe(&m);
                Ok(true)
            }
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                tracing::warn!(missed = n, "AMI events missed while following an Originate");
                self.lagged = true;
                Ok(true)
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => Err(AmiError::Stopped),
        }
    }

    /// Waits up to `wait` for the `OriginateResponse` (it comes when the call is answered or
    /// has failed: ring timeout plus set-up time).
    pub async fn response(&mut self, wait: Duration) -> Result<OriginateResult, AmiError> {
        let deadline = Instant::now() + wait;
        while self.result.is_none() {
            if !self.next_event(deadline).await? {
                return Err(AmiError::Timeout {
                    action: "Originate (waiting for OriginateResponse)".into(),
                    after: wait,
                });
            }
        }
        Ok(self.result.clone().expect("set"))
    }

    /// Waits up to `wait` for the `Hangup` of the call's channel.
    pub async fn wait_hangup(&mut self, wait: Duration) -> Result<Option<HangupInfo>, AmiError> {
        let deadline = Instant::now() + wait;
        while self.hangup.is_none() {
            if !self.next_event(deadline).await? {
                break;
            }
        }
        Ok(self.hangup.clone())
    }
}

impl AmiClient {
    /// Sends `Originate` with `Async: true` and the request's variables, for the call whose
    /// AudioSocket uuid is `uuid` (its `AS_UUID` variable is added). Returns once Asterisk
    /// queued it (`Response: Success`, "Originate successfully queued"); the outcome comes as
    /// events: follow them on the returned [`PendingOriginate`].
    pub async fn originate(
        &self,
        req: &OriginateRequest,
        uuid: &uuid::Uuid,
    ) -> Result<PendingOriginate, AmiError> {
        // Subscribed before sending: the OriginateResponse of a fast failure can follow the
        // action's response within microseconds.
        let events = self.subscribe();
        let timeout_ms = req.ring_timeout.as_millis().to_string();
        let priority = req.priority.to_string();
        let uuid_s = uuid.to_string();
        let mut vars: Vec<String> = vec![format!("{UUID_VARIABLE}={uuid_s}")];
        for (k, v) in &req.variables {
            if k.eq_ignore_ascii_case(UUID_VARIABLE) {
                continue;
            }
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(AmiError::InvalidField {
                    field: format!("Variable {k}"),
                    reason: "channel variable names are ASCII letters, digits and _".into(),
                });
            }
            vars.push(format!("{k}={v}"));
        }
        let mut fields: Vec<(&str, &str)> = vec![
            ("Channel", &req.channel),
            ("Context", &req.context),
            ("Exten", &req.exten),
            ("Priority", &priority),
            ("Timeout", &timeout_ms),
            ("Async", "true"),
        ];
        if let Some(cid) = &req.caller_id {
            fields.push(("CallerID", cid));
        }
        for v in &vars {
            fields.push(("Variable", v));
        }
        let response = self.action("Originate", &fields).await?;
        let action_id = response
            .action_id()
            .ok_or_else(|| AmiError::Protocol("Originate response without ActionID".into()))?
            .to_string();
        Ok(PendingOriginate {
            action_id,
            uuid: uuid_s,
            events,
            channels: Vec::new(),
            last_state: None,
            hangup: None,
            result: None,
            lagged: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Message {
        let mut m = Message::default();
        for line in text.lines() {
            m.push_line(line).unwrap();
        }
        m
    }

    fn pending(uuid: &str) -> PendingOriginate {
        PendingOriginate {
            action_id: "enclave-7".into(),
            uuid: uuid.into(),
            events: broadcast::channel(4).1,
            channels: Vec::new(),
            last_state: None,
            hangup: None,
            result: None,
            lagged: false,
        }
    }

    #[test]
    fn events_of_the_call_are_followed_by_uuid_and_action_id() {
        let mut p = pending("u-1");
        p.observe(&msg(
            "Event: VarSet\nChannel: PJSIP/trunk-0001\nVariable: AS_UUID\nValue: u-1",
        ));
        p.observe(&msg(
            "Event: VarSet\nChannel: PJSIP/trunk-0002\nVariable: AS_UUID\nValue: u-2",
        ));
        p.observe(&msg("Event: Newstate\nChannel: PJSIP/trunk-0001\nChannelState: 5\nChannelStateDesc: Ringing"));
        p.observe(&msg(
            "Event: Newstate\nChannel: PJSIP/trunk-0002\nChannelStateDesc: Up",
        ));
        assert_eq!(p.channels, vec!["PJSIP/trunk-0001".to_string()]);
        assert_eq!(p.last_state.as_deref(), Some("Ringing"));
        p.observe(&msg(
            "Event: Hangup\nChannel: PJSIP/trunk-0001\nCause: 17\nCause-txt: User busy",
        ));
        // Another Originate's response is not ours.
        p.observe(&msg(
            "Event: OriginateResponse\nActionID: enclave-8\nResponse: Success\nReason: 4",
        ));
        assert!(p.result.is_none());
        p.observe(&msg("Event: OriginateResponse\nActionID: enclave-7\nResponse: Failure\nChannel: PJSIP/trunk-0001\nReason: 5\nUniqueid: <null>"));
        assert_eq!(
            p.result,
            Some(OriginateResult {
                success: false,
                reason: REASON_BUSY,
                channel: Some("PJSIP/trunk-0001".into()),
                uniqueid: None,
            })
        );
        assert_eq!(p.hangup.as_ref().unwrap().cause, 17);
        assert_eq!(p.hangup.as_ref().unwrap().cause_txt, "User busy");
    }
}
