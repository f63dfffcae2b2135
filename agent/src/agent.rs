//! The agent's shared state: the loaded managers, the command results, the token, the
//! services commands use (power-off, the log bundle), and the signals between the API and the
//! background tasks (forced heartbeat, lockdown). It holds no runner and no host root: the
//! API never reaches the machine except through a command.

use crate::dispatch::Dispatcher;
use crate::power::PowerSwitch;
use crate::results::CommandStore;
use crate::syslogs::LogSources;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use subtle::ConstantTimeEq;
use tokio::sync::{watch, Notify};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Agent {
    pub started_at: f64,
    pub dispatcher: Arc<Dispatcher>,
    pub store: CommandStore,
    /// Serialises command submission (IPA's global execute lock). Owned by the task that runs
    /// a synchronous command until it ends.
    pub submit_lock: Arc<tokio::sync::Mutex<()>>,
    token: RwLock<Option<String>>,
    /// Woken when an async command ends, so the heartbeater sends a heartbeat soon.
    pub command_finished: Notify,
    /// Authenticated calls to the command API (the conductor reading results or starting a
    /// command): tells the heartbeater its last heartbeat was acted upon.
    conductor_calls: AtomicU64,
    /// Set to true by `system.lockdown`: the API stops serving and heartbeats stop.
    pub lockdown: watch::Sender<bool>,
    pub power: PowerSwitch,
    pub logs: LogSources,
    /// Deploy options shared with the generic manager; the lookup's `config` updates them.
    pub deploy_settings: hwmgr_generic::deploy::SharedSettings,
}

impl Agent {
    pub fn new(
        dispatcher: Arc<Dispatcher>,
        power: PowerSwitch,
        logs: LogSources,
        token: Option<String>,
        deploy_settings: hwmgr_generic::deploy::SharedSettings,
    ) -> Arc<Self> {
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Arc::new(Agent {
            started_at,
            dispatcher,
            store: CommandStore::default(),
            submit_lock: Arc::new(tokio::sync::Mutex::new(())),
            token: RwLock::new(token.filter(|t| !t.is_empty())),
            command_finished: Notify::new(),
            conductor_calls: AtomicU64::new(0),
            lockdown: watch::channel(false).0,
            power,
            logs,
            deploy_settings,
        })
    }

    /// Counts one call of the command API by the conductor.
    pub fn conductor_called(&self) {
        self.conductor_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn conductor_calls(&self) -> u64 {
        self.conductor_calls.load(Ordering::Relaxed)
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
