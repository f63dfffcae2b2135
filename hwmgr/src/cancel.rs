//! Cooperative cancellation of long-running step work (disk erasure writers, polling loops).
//!
//! A [`Cancel`] is a shared flag with the reason it was raised. Long loops check
//! [`Cancel::is_cancelled`] between units of work and stop cleanly, reporting what they
//! finished. The agent raises the process-wide token ([`global`]) when it shuts down
//! (SIGTERM/SIGINT), so no writer keeps going after the agent said it is stopping. Tests
//! create their own tokens.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<String>>>,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag; the first reason given is kept.
    pub fn cancel(&self, reason: impl Into<String>) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(reason.into());
        }
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Why it was cancelled ("" when it was not).
    pub fn reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default()
    }
}

/// The process-wide token: raised once when the agent shuts down, never lowered.
pub fn global() -> &'static Cancel {
    static GLOBAL: OnceLock<Cancel> = OnceLock::new();
    GLOBAL.get_or_init(Cancel::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_clones_share_the_flag() {
        let c = Cancel::new();
        let c2 = c.clone();
        assert!(!c2.is_cancelled());
        assert_eq!(c.reason(), "");
        c.cancel("agent received SIGTERM");
        c.cancel("later");
        assert!(c2.is_cancelled());
        assert_eq!(c2.reason(), "agent received SIGTERM");
    }
}
