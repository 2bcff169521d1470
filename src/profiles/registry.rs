//! The profiles in force: one call handler per profile over the shared engines, swapped as a
//! whole when the profiles change (new calls take the new snapshot; calls in progress hold
//! theirs), and one AudioSocket listener per profile that declares `listen`.

use super::{handler::ProfileCallHandler, LiveCalls, ProfileError, ProfilesFile, BASE_PROFILE};
use crate::config::Config;
use crate::pipeline::CallHandler;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio_util::sync::CancellationToken;

/// Makes the call handler of one profile from its effective configuration (blocking: the
/// real one synthesises the profile's phrases and may load a voice).
pub trait BuildHandler: Send + Sync + 'static {
    /// The handler for profile `name`, whose calls run with `config`.
    fn build(&self, name: &str, config: &Config) -> Result<Arc<dyn CallHandler>, String>;
}

/// Why profiles could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The profiles do not validate (every error has its key path).
    #[error("invalid profiles: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ProfileError>),
    /// The file could not be read or written.
    #[error(transparent)]
    File(#[from] super::ProfilesFileError),
    /// `If-Match` named another version.
    #[error("the profiles changed since version {expected}; now {current}: reload and edit again")]
    Stale {
        /// What the client had.
        expected: String,
        /// What is in force.
        current: String,
    },
}

/// One consistent set of profiles and their handlers.
pub struct ProfileSnapshot {
    file: ProfilesFile,
    version: String,
    default: String,
    handlers: BTreeMap<String, Arc<dyn CallHandler>>,
}

impl std::fmt::Debug for ProfileSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSnapshot")
            .field("version", &self.version)
            .field("profiles", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ProfileSnapshot {
    /// The profiles as in the file.
    pub fn file(&self) -> &ProfilesFile {
        &self.file
    }
    /// Content version (ETag).
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The profile on `[server] listen`.
    pub fn default_name(&self) -> &str {
        &self.default
    }
    /// The handler of profile `name`.
    pub fn handler(&self, name: &str) -> Option<Arc<dyn CallHandler>> {
        self.handlers.get(name).cloned()
    }
    /// Every profile name served (the base `default` included).
    pub fn names(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }
}

struct Bound {
    profile: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// The profiles in force, their listeners, and the live-calls table.
pub struct ProfileRegistry {
    base: Config,
    path: PathBuf,
    builder: Arc<dyn BuildHandler>,
    me: std::sync::Weak<ProfileRegistry>,
    base_handler: Arc<dyn CallHandler>,
    current: RwLock<Arc<ProfileSnapshot>>,
    live: LiveCalls,
    apply: tokio::sync::Mutex<BTreeMap<SocketAddr, Bound>>,
    cancel: CancellationToken,
    ami: Option<crate::ami::AmiClient>,
}

impl std::fmt::Debug for ProfileRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileRegistry")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ProfileRegistry {
    /// Loads `[profiles] file`, builds every profile's handler (blocking work on a blocking
    /// thread) and starts the listeners of the profiles that declare `listen`. `base_handler`
    /// answers as the profile `default` (agent.toml alone) when `[profiles] default` is "".
    pub async fn start(
        base: Config,
        builder: Arc<dyn BuildHandler>,
        base_handler: Arc<dyn CallHandler>,
        live: LiveCalls,
        ami: Option<crate::ami::AmiClient>,
        cancel: CancellationToken,
    ) -> Result<Arc<ProfileRegistry>, RegistryError> {
        let path = base.profiles.file.clone();
        let file = ProfilesFile::load(&path)?;
        let errors = file.validate(&base);
        if !errors.is_empty() {
            return Err(RegistryError::Invalid(errors));
        }
        let empty = Arc::new(ProfileSnapshot {
            file: ProfilesFile::default(),
            version: String::new(),
            default: BASE_PROFILE.into(),
            handlers: BTreeMap::new(),
        });
        let reg = Arc::new_cyclic(|me| ProfileRegistry {
            base,
            path,
            builder,
            me: me.clone(),
            base_handler,
            current: RwLock::new(empty),
            live,
            apply: tokio::sync::Mutex::new(BTreeMap::new()),
            cancel,
            ami,
        });
        reg.install(file, None, false).await?;
        Ok(reg)
    }

    /// The snapshot in force now (what a call connecting now gets).
    pub fn current(&self) -> Arc<ProfileSnapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The calls in progress.
    pub fn live(&self) -> &LiveCalls {
        &self.live
    }

    /// The AMI client and variable that choose the profile of calls on `[server] listen`
    /// (`[profiles] ami_variable`), when configured.
    pub fn ami_selection(&self) -> Option<(&crate::ami::AmiClient, &str, std::time::Duration)> {
        let p = &self.base.profiles;
        let ami = self.ami.as_ref()?;
        (!p.ami_variable.is_empty()).then(|| {
            (
                ami,
                p.ami_variable.as_str(),
                std::time::Duration::from_millis(p.ami_wait_ms),
            )
        })
    }

    /// The profiles file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// agent.toml's settings the profiles apply over.
    pub fn base(&self) -> &Config {
        &self.base
    }

    /// The listening addresses of the profiles with their own port, `(profile, address)`.
    pub async fn listeners(&self) -> Vec<(String, SocketAddr)> {
        let bound = self.apply.lock().await;
        bound.iter().map(|(a, b)| (b.profile.clone(), *a)).collect()
    }

    /// Every problem `file` has (empty = it would apply).
    pub fn validate(&self, file: &ProfilesFile) -> Vec<ProfileError> {
        let mut errors = file.validate(&self.base);
        if self.base.profiles.default.is_empty() && file.profiles.contains_key(BASE_PROFILE) {
            errors.push(ProfileError {
                key: format!("profiles.{BASE_PROFILE}"),
                message: format!(
                    "`{BASE_PROFILE}` is agent.toml's own profile (on [server] listen); name this \
                     one differently, or set [profiles] default = \"{BASE_PROFILE}\" in agent.toml"
                ),
            });
        }
        errors
    }

    /// Validates `file`, builds the handlers of changed profiles, binds new listeners, writes
    /// the file atomically and swaps the snapshot in. Nothing changes if any step fails.
    /// `if_match`: refuse unless the version in force is this one.
    pub async fn apply(
        &self,
        file: ProfilesFile,
        if_match: Option<&str>,
    ) -> Result<Arc<ProfileSnapshot>, RegistryError> {
        self.install(file, if_match, true).await
    }

    async fn install(
        &self,
        file: ProfilesFile,
        if_match: Option<&str>,
        write: bool,
    ) -> Result<Arc<ProfileSnapshot>, RegistryError> {
        let mut bound = self.apply.lock().await;
        let old = self.current();
        if let Some(expected) = if_match {
            let expected = expected.trim().trim_matches('"');
            if expected != old.version {
                return Err(RegistryError::Stale {
                    expected: expected.to_string(),
                    current: old.version.clone(),
                });
            }
        }
        let errors = self.validate(&file);
        if !errors.is_empty() {
            return Err(RegistryError::Invalid(errors));
        }
        // Build what changed (an unchanged profile keeps its handler and fitted budgets).
        let mut handlers: BTreeMap<String, Arc<dyn CallHandler>> = BTreeMap::new();
        let default = if self.base.profiles.default.is_empty() {
            handlers.insert(BASE_PROFILE.into(), Arc::clone(&self.base_handler));
            BASE_PROFILE.to_string()
        } else {
            self.base.profiles.default.clone()
        };
        let mut errors = Vec::new();
        for (name, profile) in &file.profiles {
            if old.file.profiles.get(name) == Some(profile) {
                if let Some(h) = old.handler(name) {
                    handlers.insert(name.clone(), h);
                    continue;
                }
            }
            let effective = profile.apply(&self.base);
            let builder = Arc::clone(&self.builder);
            let n = name.clone();
            let built = tokio::task::spawn_blocking(move || builder.build(&n, &effective))
                .await
                .unwrap_or_else(|e| Err(format!("building the profile panicked: {e}")));
            match built {
                Ok(h) => {
                    handlers.insert(name.clone(), h);
                }
                Err(message) => errors.push(ProfileError {
                    key: format!("profiles.{name}"),
                    message,
                }),
            }
        }
        // Listeners: bind the new addresses before anything is committed.
        let wanted: BTreeMap<SocketAddr, String> = file
            .profiles
            .iter()
            .filter(|(name, _)| **name != default)
            .filter_map(|(name, p)| p.listen.map(|a| (a, name.clone())))
            .collect();
        let mut fresh = Vec::new();
        for (addr, name) in &wanted {
            if bound.get(addr).is_some_and(|b| &b.profile == name) {
                continue;
            }
            if bound.contains_key(addr) {
                continue; // re-assigned: the running listener is re-pointed below
            }
            let mut cfg = self.base.server.clone();
            cfg.listen = *addr;
            match crate::transport::Server::bind(cfg).await {
                Ok(s) => fresh.push((*addr, name.clone(), s)),
                Err(e) => errors.push(ProfileError {
                    key: format!("profiles.{name}.listen"),
                    message: format!("cannot listen on {addr}: {e}"),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(RegistryError::Invalid(errors));
        }
        if write {
            file.write_atomic(&self.path)?;
        }
        let snapshot = Arc::new(ProfileSnapshot {
            version: file.version(),
            file,
            default,
            handlers,
        });
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&snapshot);
        // Stop listeners no longer wanted (or now another profile's): calls on them finish.
        let registry = self.self_arc();
        let stale: Vec<SocketAddr> = bound
            .iter()
            .filter(|(a, b)| wanted.get(a) != Some(&b.profile))
            .map(|(a, _)| *a)
            .collect();
        for addr in stale {
            if let Some(b) = bound.remove(&addr) {
                b.stop.cancel();
                tracing::info!(%addr, profile = %b.profile, "profile listener stopped");
                if let Some(name) = wanted.get(&addr) {
                    // Same address, another profile: bind again once the old one let go.
                    let _ = b.task.await;
                    let mut cfg = self.base.server.clone();
                    cfg.listen = addr;
                    match crate::transport::Server::bind(cfg).await {
                        Ok(s) => fresh.push((addr, name.clone(), s)),
                        Err(e) => {
                            tracing::error!(%addr, error = %e, "cannot re-bind a profile listener")
                        }
                    }
                }
            }
        }
        for (addr, name, server) in fresh {
            let Some(registry) = registry.clone() else {
                break;
            };
            let stop = self.cancel.child_token();
            let handler: Arc<dyn CallHandler> =
                Arc::new(ProfileCallHandler::for_profile(registry, &name));
            let token = stop.clone();
            let task = tokio::spawn(async move { server.run(handler, token).await });
            tracing::info!(%addr, profile = %name, "listening for AudioSocket calls of a profile");
            bound.insert(
                addr,
                Bound {
                    profile: name,
                    stop,
                    task,
                },
            );
        }
        Ok(snapshot)
    }

    fn self_arc(&self) -> Option<Arc<ProfileRegistry>> {
        self.me.upgrade()
    }

    /// Stops every profile listener and waits for their calls (each within the server's
    /// `shutdown_grace_secs`).
    pub async fn shutdown(&self) {
        let mut bound = self.apply.lock().await;
        for (_, b) in std::mem::take(&mut *bound) {
            b.stop.cancel();
            let _ = b.task.await;
        }
    }
}
