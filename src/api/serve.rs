//! What `agent serve` runs around the conversation stack for profiles and the API: the
//! profile registry (and its listeners) and, when `[api] enabled`, the HTTP API.

use super::{ApiServer, ApiSources, ApiStartError, ApiState};
use crate::app::Stack;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::CallHandler;
use crate::profiles::{
    EngineBuilder, LiveCalls, ProfileCallHandler, ProfileRegistry, RegistryError,
};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why the profiles or the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// The profiles file is unusable.
    #[error(transparent)]
    Profiles(#[from] RegistryError),
    /// The API could not start.
    #[error(transparent)]
    Api(#[from] ApiStartError),
}

/// The profile registry, the handler for `[server] listen`, and the API server.
pub struct AgentServices {
    /// The profiles in force.
    pub registry: Arc<ProfileRegistry>,
    /// The call handler for `[server] listen` (the default profile at each call's start).
    pub handler: Arc<dyn CallHandler>,
    /// The API, when enabled.
    pub api: Option<ApiServer>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for AgentServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentServices")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl AgentServices {
    /// Loads the profiles over the stack's engines, starts their listeners and the API.
    pub async fn start(
        config: &Config,
        stack: &Stack,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) -> Result<AgentServices, ServicesError> {
        let live = LiveCalls::new();
        let records = stack.records();
        let builder = EngineBuilder::new(
            config,
            stack.engines.clone(),
            records.map(|r| r.writer()),
            stack.ami.clone(),
            Arc::clone(&metrics),
        );
        let registry = ProfileRegistry::start(
            config.clone(),
            Arc::new(builder),
            Arc::new(stack.handler.clone()),
            live.clone(),
            stack.ami.clone(),
            cancel.child_token(),
        )
        .await?;
        let api = if config.api.enabled {
            let state = ApiState::new(
                &config.api,
                ApiSources {
                    // Its own connection, on either backend: the console's history reads the
                    // database every agent writes (PostgreSQL when several share one).
                    records: match records {
                        Some(r) => Some(
                            r.new_reader("enclave-api-records")
                                .map_err(ApiStartError::from)?,
                        ),
                        None => None,
                    },
                    recordings_dir: config.records.recordings_dir.clone(),
                    events: records.map(|r| r.subscribe()),
                    live,
                    profiles: Some(Arc::clone(&registry)),
                    // Campaigns are SQLite-only (src/campaign/store.rs).
                    campaigns_db: records
                        .filter(|r| r.backend_kind() == crate::config::RecordsBackendKind::Sqlite)
                        .map(|r| r.path().to_path_buf()),
                    readiness: stack.readiness.clone(),
                    metrics,
                    models: stack.engines.models.clone(),
                },
            )?;
            Some(ApiServer::start(&config.api, Arc::new(state), cancel.child_token()).await?)
        } else {
            None
        };
        let handler = Arc::new(ProfileCallHandler::default_profile(Arc::clone(&registry)));
        Ok(AgentServices {
            registry,
            handler,
            api,
            cancel,
        })
    }

    /// Stops the profile listeners (their calls finish) and the API.
    pub async fn shutdown(self) {
        self.registry.shutdown().await;
        self.cancel.cancel();
        if let Some(api) = self.api {
            api.join().await;
        }
    }
}
