//! Everything `agent serve` starts around the conversation handler: the metrics/health
//! listener, the model check, the engines, call records and the AMI client.

use super::{Engines, EnginesError};
use crate::ami::{AmiClient, AmiSettings};
use crate::config::Config;
use crate::conversation::ConversationHandler;
use crate::metrics::{Metrics, MetricsServer, Readiness};
use crate::models::{verify_configured, Catalogue, HashCache};
use crate::records::RecordStore;
use crate::vad::VadBackend;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Why the conversation stack could not start; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The metrics/health listener could not bind.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsServerError),
    /// A configured model is missing or corrupt (the message has the fixing command).
    #[error(transparent)]
    Models(#[from] crate::models::ModelCheckError),
    /// The model catalogue could not be read.
    #[error("model catalogue: {0}")]
    Catalogue(String),
    /// An engine failed to load.
    #[error(transparent)]
    Engines(#[from] EnginesError),
    /// The call-record database could not be opened.
    #[error(transparent)]
    Records(#[from] crate::records::RecordsError),
    /// The AMI settings are unusable.
    #[error(transparent)]
    Ami(#[from] crate::ami::AmiError),
}

/// The running services; keep it alive while serving, then [`Stack::shutdown`].
pub struct Stack {
    /// The call handler to give the AudioSocket server.
    pub handler: ConversationHandler,
    /// Readiness for `/readyz` (set accepting once the AudioSocket listener is up).
    pub readiness: Readiness,
    /// Where `/metrics` is served, when enabled.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The loaded engines (shared by every agent profile's handler).
    pub engines: Engines,
    /// The AMI client, when `[ami]` is enabled.
    pub ami: Option<AmiClient>,
    metrics_server: Option<MetricsServer>,
    records: Option<RecordStore>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").finish_non_exhaustive()
    }
}

/// The model files `config` uses, as `(config key, path)`.
pub fn configured_model_files(config: &Config) -> Vec<(String, PathBuf)> {
    let paths = super::engines::ModelPaths::of(config);
    let mut files = vec![("asr.model".to_string(), paths.asr)];
    if config.vad.backend == VadBackend::Silero {
        files.push(("vad.silero_model".into(), paths.silero));
    }
    if let Some(llm) = paths.llm {
        files.push(("llm.model".into(), llm));
    }
    let (key, voice) = if config.conversation.language == "ru" {
        ("tts.voice_ru", &config.tts.voice_ru)
    } else {
        ("tts.voice_en", &config.tts.voice_en)
    };
    // A voice given by name that is not installed: check where `download-models` puts it, so
    // the error names the command that installs it.
    let voice_path = crate::tts::resolve_voice(voice, &crate::tts::setup::voice_dirs(config))
        .unwrap_or_else(|_| {
            config
                .models
                .dir
                .join("piper")
                .join(format!("{voice}.onnx"))
        });
    files.push((key.into(), voice_path));
    if let Some(turn) = config
        .conversation
        .end_of_turn_model_path(&config.models.dir)
    {
        files.push(("conversation.end_of_turn_model".into(), turn));
    }
    files
}

impl Stack {
    /// Starts the metrics listener (so `/livez` answers during the model load), verifies and
    /// loads the models, opens the records, starts AMI, and builds the handler.
    pub async fn start(
        config: &Config,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) -> Result<Stack, StackError> {
        Stack::start_with(config, metrics, cancel, None).await
    }

    /// [`Stack::start`], with an end-of-turn model given instead of loaded from the config
    /// (a scripted one in tests, or one built elsewhere).
    pub async fn start_with(
        config: &Config,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
        end_of_turn: Option<Arc<dyn crate::vad::EndOfTurnModel>>,
    ) -> Result<Stack, StackError> {
        let readiness = Readiness::new();
        let metrics_server = if config.metrics.enabled {
            Some(
                MetricsServer::start(
                    config.metrics.listen,
                    Arc::clone(&metrics),
                    readiness.clone(),
                    cancel.child_token(),
                )
                .await?,
            )
        } else {
            None
        };

        let catalogue = Catalogue::load(config.models.catalogue.as_deref())
            .map_err(|e| StackError::Catalogue(e.to_string()))?;
        let files = configured_model_files(config);
        let refs: Vec<(&str, &std::path::Path)> = files
            .iter()
            .map(|(k, p)| (k.as_str(), p.as_path()))
            .collect();
        let mut cache = HashCache::open(&config.models.dir);
        verify_configured(&refs, &catalogue, &mut cache)?;

        let load_config = config.clone();
        let mut engines = tokio::task::spawn_blocking(move || Engines::load(&load_config))
            .await
            .map_err(|e| EnginesError::Phrase {
                text: String::new(),
                message: format!("engine loader panicked: {e}"),
            })??;
        if end_of_turn.is_some() {
            engines.end_of_turn = end_of_turn;
        }

        let records = if config.records.enabled {
            let (path, cfg) = (config.records.db_path.clone(), config.records.clone());
            let m = Arc::clone(&metrics);
            let store =
                tokio::task::spawn_blocking(move || RecordStore::open_with_metrics(&path, &cfg, m))
                    .await
                    .map_err(|e| crate::records::RecordsError::Io {
                        what: "opening the call records".into(),
                        source: std::io::Error::other(e.to_string()),
                    })??;
            store.spawn_retention_task(cancel.child_token());
            Some(store)
        } else {
            None
        };

        let ami = if config.ami.enabled {
            let client =
                AmiClient::start(AmiSettings::from_config(&config.ami)?, cancel.child_token());
            tracing::info!(host = %config.ami.host, port = config.ami.port, "AMI client started");
            Some(client)
        } else {
            tracing::warn!(
                "[ami] is not enabled: a hand-over (transfer_to_human, operator digit) cannot be \
                 made, since the dialplan cannot be told where to go; the agent apologises, offers \
                 a call-back and keeps the caller"
            );
            None
        };

        let handler_config = config.clone();
        let writer = records.as_ref().map(|r| r.writer());
        let (handler_engines, handler_ami) = (engines.clone(), ami.clone());
        let handler = tokio::task::spawn_blocking(move || {
            super::handler(
                handler_config,
                handler_engines,
                writer,
                handler_ami,
                metrics,
            )
        })
        .await
        .map_err(|e| EnginesError::Phrase {
            text: String::new(),
            message: format!("phrase synthesis panicked: {e}"),
        })??;
        readiness.set_models_loaded(true);
        Ok(Stack {
            handler,
            readiness,
            metrics_addr: metrics_server.as_ref().map(|s| s.local_addr()),
            metrics_server,
            engines,
            ami,
            records,
            cancel,
        })
    }

    /// The call records, when `[records]` is enabled.
    pub fn records(&self) -> Option<&RecordStore> {
        self.records.as_ref()
    }

    /// Stops the services after the calls have ended: flushes records, stops listeners.
    pub async fn shutdown(self) {
        self.readiness.set_draining();
        if let Some(records) = self.records {
            if let Err(e) = records.close().await {
                tracing::warn!(error = %e, "closing the call records");
            }
        }
        self.cancel.cancel();
        if let Some(server) = self.metrics_server {
            server.join().await;
        }
    }
}
