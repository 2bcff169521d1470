//! `/api/status`: health, readiness, models, calls and profiles.

use super::ApiState;
use axum::extract::State;
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// `GET /api/status`.
pub async fn status(State(state): State<Arc<ApiState>>) -> Json<serde_json::Value> {
    let ready = state.readiness.check();
    let profiles = match &state.profiles {
        Some(reg) => {
            let snap = reg.current();
            let bound = reg.listeners().await;
            snap.names()
                .into_iter()
                .map(|name| {
                    let listen = bound
                        .iter()
                        .find(|(p, _)| *p == name)
                        .map(|(_, a)| a.to_string())
                        .or_else(|| {
                            (name == snap.default_name())
                                .then(|| reg.base().server.listen.to_string())
                        });
                    json!({ "name": name, "listen": listen })
                })
                .collect::<Vec<_>>()
        }
        None => Vec::new(),
    };
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "live": true,
        "ready": ready.is_ok(),
        "not_ready_reason": ready.err(),
        "calls_active": state.metrics.calls_active(),
        "uptime_secs": state.started.elapsed().as_secs(),
        "models": state.models,
        "records": {
            "enabled": state.has_records(),
            "recordings": state.recordings_dir.is_some(),
        },
        "profiles": profiles,
    }))
}
