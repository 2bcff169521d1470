//! Built-in tools: `transfer_to_human(reason)`, `end_call(reason)`, `get_time()`.

use super::{CallAction, ToolOutcome};
use crate::dialog::template::format_utc;
use crate::dialog::ToolSpec;
use serde_json::{json, Value};

/// A built-in tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Hand over to a human operator.
    TransferToHuman,
    /// Hang up.
    EndCall,
    /// Current date and time.
    GetTime,
}

impl Builtin {
    /// By config name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "transfer_to_human" => Some(Builtin::TransferToHuman),
            "end_call" => Some(Builtin::EndCall),
            "get_time" => Some(Builtin::GetTime),
            _ => None,
        }
    }

    /// The declaration the model sees.
    pub fn spec(self) -> ToolSpec {
        let reason = |what: &str| {
            json!({
                "type": "object",
                "properties": {"reason": {"type": "string", "description": what}},
                "required": ["reason"]
            })
        };
        match self {
            Builtin::TransferToHuman => ToolSpec {
                name: "transfer_to_human".into(),
                description: "Transfer the caller to a human operator. Use when the caller asks \
                              for a person or you cannot help."
                    .into(),
                parameters: reason("Why the caller needs a human, in a few words"),
            },
            Builtin::EndCall => ToolSpec {
                name: "end_call".into(),
                description: "End the call after saying goodbye, when the caller's request is \
                              complete or they want to hang up."
                    .into(),
                parameters: reason("Why the call ends, in a few words"),
            },
            Builtin::GetTime => ToolSpec {
                name: "get_time".into(),
                description: "Get the current date and time (UTC).".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        }
    }

    /// Runs it.
    pub fn run(self, args: &Value) -> ToolOutcome {
        let reason = args
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match self {
            Builtin::TransferToHuman => ToolOutcome {
                result: json!({"status": "transferring", "reason": reason}),
                action: Some(CallAction::TransferToHuman { reason }),
            },
            Builtin::EndCall => ToolOutcome {
                result: json!({"status": "ending_call", "reason": reason}),
                action: Some(CallAction::EndCall { reason }),
            },
            Builtin::GetTime => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                ToolOutcome {
                    result: json!({
                        "utc": format_utc(secs, "%Y-%m-%dT%H:%M:%SZ"),
                        "date": format_utc(secs, "%d %B %Y"),
                        "time": format_utc(secs, "%H:%M"),
                    }),
                    action: None,
                }
            }
        }
    }
}
