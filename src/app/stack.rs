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
    /// The campaign dialler cannot start.
    #[error("[campaign]: {0}")]
    Campaign(String),
    /// Result-event delivery (`[events]`) could not start.
    #[error(transparent)]
    Outbox(#[from] crate::outbox::OutboxError),
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
    campaign: Option<crate::campaign::RunnerHandle>,
    outbox: Option<crate::outbox::OutboxService>,
    summary: Option<crate::summary::SummaryService>,
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
            let cfg = config.records.clone();
            let m = Arc::clone(&metrics);
            let store = tokio::task::spawn_blocking(move || RecordStore::open_configured(&cfg, m))
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

        let campaign_llm = Arc::clone(&engines.llm);
        let campaign_ami = ami.clone();
        let busy = std::time::Duration::from_millis(config.records.busy_timeout_ms);
        // The outbox, the summaries and the campaigns live in the SQLite records database; on
        // PostgreSQL they do not run yet (said at start-up, never written to a stray file).
        let sqlite_records = records
            .as_ref()
            .filter(|r| r.backend_kind() == crate::config::RecordsBackendKind::Sqlite);
        if records.is_some() && sqlite_records.is_none() {
            tracing::warn!(
                "records on PostgreSQL: [events], [summary] and [campaign] need the SQLite \
                 backend for now and are off"
            );
        }
        let outbox = match sqlite_records {
            Some(store) => crate::outbox::OutboxService::start(
                &config.events,
                store.path(),
                busy,
                cancel.child_token(),
            )?,
            None if config.events.enabled && records.is_none() => {
                tracing::warn!(
                    "[events] needs [records] enabled (the outbox is in the records database)"
                );
                None
            }
            None => None,
        };
        let summarizer = Arc::new(crate::summary::Summarizer::new(
            Some(Arc::clone(&engines.llm)),
            &config.summary,
            Arc::clone(&metrics),
        ));
        let summary = match (sqlite_records, config.summary.enabled) {
            (Some(store), true) => Some(crate::summary::SummaryService::start(
                Arc::clone(&summarizer),
                &config.summary,
                store.subscribe(),
                store.path(),
                busy,
                cancel.child_token(),
            )?),
            _ => None,
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
        let (handler, campaign) = match super::outbound::start_dialler(
            config,
            handler,
            sqlite_records,
            campaign_ami,
            campaign_llm,
        )
        .await
        {
            Ok(v) => v,
            Err(e) => return Err(StackError::Campaign(e)),
        };
        handler.set_summarizer(summarizer);
        readiness.set_models_loaded(true);
        Ok(Stack {
            campaign,
            handler,
            readiness,
            metrics_addr: metrics_server.as_ref().map(|s| s.local_addr()),
            metrics_server,
            engines,
            ami,
            records,
            outbox,
            summary,
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
        if let Some(dialler) = self.campaign {
            dialler.stop().await;
        }
        if let Some(summary) = self.summary {
            summary.shutdown().await; // unfinished ones are caught up at the next start
        }
        if let Some(records) = self.records {
            if let Err(e) = records.close().await {
                tracing::warn!(error = %e, "closing the call records");
            }
        }
        if let Some(outbox) = self.outbox {
            outbox.shutdown().await; // undelivered events stay in the outbox
        }
        self.cancel.cancel();
        if let Some(server) = self.metrics_server {
            server.join().await;
        }
    }
}
