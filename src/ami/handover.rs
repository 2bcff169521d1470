//! Hand-over results: `AGENT_ACTION`, `AGENT_TARGET`, `AGENT_SUMMARY` set on the caller's
//! channel so the dialplan can `Goto(agent-result,${AGENT_ACTION},1)` after AudioSocket returns.

use super::client::AmiClient;
use super::AmiError;
use std::time::Duration;
use uuid::Uuid;

/// Longest `AGENT_SUMMARY` in bytes (cut at a character boundary).
pub const SUMMARY_MAX_BYTES: usize = 500;
/// Longest `AGENT_ACTION` / `AGENT_TARGET`.
pub const NAME_MAX_BYTES: usize = 64;

/// Makes `summary` safe for one AMI header value: control characters (CR, LF, tab, …)
/// become spaces, whitespace runs collapse, and it is cut to [`SUMMARY_MAX_BYTES`].
pub fn sanitize_summary(summary: &str) -> String {
    let mut out = String::with_capacity(summary.len().min(SUMMARY_MAX_BYTES));
    let mut space = false;
    for c in summary.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if space || out.is_empty() {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if out.len() + c.len_utf8() > SUMMARY_MAX_BYTES {
            break;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

/// Checks an `AGENT_ACTION` / `AGENT_TARGET` value: a dialplan extension name, never a dial
/// string (letters, digits, `_ - + * # .`, at most [`NAME_MAX_BYTES`]).
pub fn check_name(field: &str, value: &str) -> Result<(), AmiError> {
    let ok = !value.is_empty()
        && value.len() <= NAME_MAX_BYTES
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '*' | '#' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AmiError::InvalidField {
            field: field.into(),
            reason: format!(
                "`{value}` is not an extension name: use 1..={NAME_MAX_BYTES} of letters, digits, _ - + * # . \
                 (the dialplan maps it to a destination; never pass dial strings)"
            ),
        })
    }
}

impl AmiClient {
    /// Sets `AGENT_ACTION`, `AGENT_TARGET` (empty when `None`) and `AGENT_SUMMARY` (sanitised)
    /// on the channel of AudioSocket call `uuid`, awaiting each `Setvar` response in turn.
    /// Waits up to `action_timeout` for the uuid's channel to be known.
    pub async fn set_call_result(
        &self,
        uuid: &Uuid,
        action: &str,
        target: Option<&str>,
        summary: &str,
    ) -> Result<(), AmiError> {
        check_name("AGENT_ACTION", action)?;
        if let Some(t) = target {
            check_name("AGENT_TARGET", t)?;
        }
        let wait = self.action_timeout();
        let channel = self
            .channel_for_uuid(uuid, wait)
            .await
            .ok_or(AmiError::UnknownUuid {
                uuid: *uuid,
                waited: wait,
            })?;
        self.setvar(&channel, "AGENT_ACTION", action).await?;
        self.setvar(&channel, "AGENT_TARGET", target.unwrap_or(""))
            .await?;
        self.setvar(&channel, "AGENT_SUMMARY", &sanitize_summary(summary))
            .await?;
        tracing::info!(%uuid, %channel, action, target, "call result set on the channel");
        Ok(())
    }

    /// The configured time for one action.
    pub fn action_timeout(&self) -> Duration {
        self.settings().action_timeout
    }
}
