//! `standby.power_off`: a service the agent owns (it holds the machine's runner), so the API
//! and the command registry never hold a runner themselves. On a fake host root (tests)
//! nothing is powered off: the machine the test runs on must never go down because a test
//! said so.

use crate::dispatch::Dispatcher;
use crate::errors::IpaError;
use hwmgr::{Cmd, ErrorKind, Host, Runner, StepCall};
use serde_json::Value;
use std::sync::Arc;

pub struct PowerSwitch {
    host: Host,
    runner: Arc<dyn Runner>,
}

impl PowerSwitch {
    pub fn new(host: Host, runner: Arc<dyn Runner>) -> Self {
        PowerSwitch { host, runner }
    }

    /// Syncs through every manager, then `poweroff -f`, then SysRq 'o' as IPA's last resort.
    pub fn power_off(&self, dispatcher: &Dispatcher) -> Result<Value, IpaError> {
        let _ = dispatcher.dispatch_to_all("full_sync", &StepCall::default());
        if !self.host.is_real() {
            tracing::warn!(root = %self.host.root().display(), "power off requested on a fake host root: not powering anything off");
            return Ok(Value::Null);
        }
        tracing::warn!("powering off");
        match self.runner.run(&Cmd::new("poweroff").arg("-f")) {
            Ok(_) => Ok(Value::Null),
            Err(e) => {
                tracing::error!("poweroff failed ({e}); trying SysRq o");
                std::fs::write("/proc/sys/kernel/sysrq", "1")
                    .and_then(|_| std::fs::write("/proc/sysrq-trigger", "o"))
                    .map(|_| Value::Null)
                    .map_err(|io| {
                        IpaError::manager(
                            ErrorKind::CommandExecutionError,
                            format!("could not power off: {e}; SysRq fallback failed too: {io}"),
                        )
                    })
            }
        }
    }
}
