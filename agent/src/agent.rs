//! The agent's shared state: the loaded managers, the command results, the token, and the
//! signals between the API and the background tasks (forced heartbeat, lockdown).

use crate::dispatch::Dispatcher;
use crate::results::CommandStore;
use hwmgr::{Host, Runner};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use subtle::ConstantTimeEq;
use tokio::sync::{watch, Notify};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Agent {
    pub started_at: f64,
    pub host: Host,
    pub runner: Arc<dyn Runner>,
    pub dispatcher: Arc<Dispatcher>,
    pub store: CommandStore,
    /// Serialises command submission (IPA's global execute lock).
    pub submit_lock: tokio::sync::Mutex<()>,
    token: RwLock<Option<String>>,
    /// Woken when an async command ends, so the heartbeater sends a heartbeat soon.
    pub command_finished: Notify,
    /// Set to true by `system.lockdown`: the API stops serving and heartbeats stop.
    pub lockdown: watch::Sender<bool>,
    pub log_file: Option<PathBuf>,
}

impl Agent {
    pub fn new(
        host: Host,
        runner: Arc<dyn Runner>,
        dispatcher: Arc<Dispatcher>,
        token: Option<String>,
        log_file: Option<PathBuf>,
    ) -> Arc<Self> {
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Arc::new(Agent {
            started_at,
            host,
            runner,
            dispatcher,
            store: CommandStore::default(),
            submit_lock: tokio::sync::Mutex::new(()),
            token: RwLock::new(token.filter(|t| !t.is_empty())),
            command_finished: Notify::new(),
            lockdown: watch::channel(false).0,
            log_file,
        })
    }

    pub fn token(&self) -> Option<String> {
        self.token
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.write().unwrap_or_else(PoisonError::into_inner) =
            token.filter(|t| !t.is_empty());
    }

    /// Valid iff a token was supplied, we hold one, and they are equal. Compared in constant
    /// time so the token cannot be guessed byte by byte from response timings.
    pub fn token_matches(&self, supplied: Option<&str>) -> bool {
        let held = self.token.read().unwrap_or_else(PoisonError::into_inner);
        match (held.as_deref(), supplied) {
            (Some(held), Some(given)) if !given.is_empty() => {
                held.as_bytes().ct_eq(given.as_bytes()).into()
            }
            _ => false,
        }
    }
}
