//! `standby.power_off` and `standby.run_image` (`ironic_python_agent/extensions/standby.py:
//! _run_shutdown_command`): sync, then `poweroff -f` / `reboot -f`, and the kernel's magic
//! SysRq (`o` / `b`) when that fails. Every manager's `prepare_power_off` runs first (the
//! generic manager freezes md resyncs: the ramdisk's kernel does not finish `poweroff -f`
//! while a RAID-5 resyncs, `hwmgr_generic::raid::quiesce`). A service the agent owns (it holds the machine's
//! runner), so the API and the command registry never hold a runner themselves. On a fake
//! host root (tests) nothing happens: the machine the test runs on must never go down
//! because a test said so.

use crate::dispatch::Dispatcher;
use crate::errors::{AgentClass, IpaError};
use hwmgr::{Cmd, ErrorKind, Host, Runner, StepCall};
use serde_json::Value;
use std::sync::Arc;

pub struct PowerSwitch {
    host: Host,
    runner: Arc<dyn Runner>,
}

/// What to do to the machine, with the program and the SysRq key that do it.
#[derive(Debug, Clone, Copy)]
enum Action {
    PowerOff,
    Reboot,
}

impl Action {
    fn program(self) -> &'static str {
        match self {
            Action::PowerOff => "poweroff",
            Action::Reboot => "reboot",
        }
    }

    fn sysrq(self) -> &'static str {
        match self {
            Action::PowerOff => "o",
            Action::Reboot => "b",
        }
    }

    /// IPA's class for a failure: `SystemRebootError` for a reboot, a command failure for a
    /// power off.
    fn error(self, details: String) -> IpaError {
        match self {
            Action::PowerOff => IpaError::manager(ErrorKind::CommandExecutionError, details),
            Action::Reboot => IpaError::new(AgentClass::SystemReboot, details),
        }
    }
}

impl PowerSwitch {
    pub fn new(host: Host, runner: Arc<dyn Runner>) -> Self {
        PowerSwitch { host, runner }
    }

    /// `standby.power_off`.
    pub fn power_off(&self, dispatcher: &Dispatcher) -> Result<Value, IpaError> {
        self.shutdown(dispatcher, Action::PowerOff)
    }

    /// `standby.run_image`: reboot into the deployed instance (the `agent` power interface).
    pub fn reboot(&self, dispatcher: &Dispatcher) -> Result<Value, IpaError> {
        self.shutdown(dispatcher, Action::Reboot)
    }

    /// Syncs through every manager, then the program, then SysRq as IPA's last resort.
    fn shutdown(&self, dispatcher: &Dispatcher, action: Action) -> Result<Value, IpaError> {
        let program = action.program();
        let _ = dispatcher.dispatch_to_all("full_sync", &StepCall::default());
        if !self.host.is_real() {
            tracing::warn!(root = %self.host.root().display(), "{program} requested on a fake host root: not doing it");
            return Ok(Value::Null);
        }
        // Managers settle what would keep the kernel from powering off (the generic one
        // freezes md resyncs: `hwmgr_generic::raid::quiesce`).
        let _ = dispatcher.dispatch_to_all("prepare_power_off", &StepCall::default());
        tracing::warn!("{program}");
        match self.runner.run(&Cmd::new(program).arg("-f")) {
            Ok(_) => Ok(Value::Null),
            Err(e) => {
                tracing::error!("{program} failed ({e}); trying SysRq {}", action.sysrq());
                std::fs::write("/proc/sys/kernel/sysrq", "1")
                    .and_then(|_| std::fs::write("/proc/sysrq-trigger", action.sysrq()))
                    .map(|_| Value::Null)
                    .map_err(|io| {
                        action.error(format!(
                            "could not {program}: {e}; SysRq fallback failed too: {io}"
                        ))
                    })
            }
        }
    }
}
