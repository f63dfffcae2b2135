//! `standby.power_off`. On a fake host root (tests) nothing is powered off: the machine the
//! test runs on must never go down because a test said so.

use crate::agent::Agent;
use hwmgr::{AgentError, Cmd, ErrorKind, StepCall};
use serde_json::Value;
use std::sync::Arc;

pub fn power_off(agent: &Arc<Agent>) -> Result<Value, AgentError> {
    let _ = agent
        .dispatcher
        .dispatch_to_all("full_sync", &StepCall::default());
    if !agent.host.is_real() {
        tracing::warn!(root = %agent.host.root().display(), "power off requested on a fake host root: not powering anything off");
        return Ok(Value::Null);
    }
    tracing::warn!("powering off");
    match agent.runner.run(&Cmd::new("poweroff").arg("-f")) {
        Ok(_) => Ok(Value::Null),
        Err(e) => {
            // Last resort, as IPA does: the kernel's magic SysRq 'o'.
            tracing::error!("poweroff failed ({e}); trying SysRq o");
            std::fs::write("/proc/sys/kernel/sysrq", "1")
                .and_then(|_| std::fs::write("/proc/sysrq-trigger", "o"))
                .map(|_| Value::Null)
                .map_err(|io| {
                    AgentError::new(
                        ErrorKind::CommandExecutionError,
                        format!("could not power off: {e}; SysRq fallback failed too: {io}"),
                    )
                })
        }
    }
}
