//! SIGTERM/SIGINT: long step work (disk erasure) is told to stop through the process-wide
//! cancellation token ([`hwmgr::cancel::global`]); writers stop between two writes and the
//! step ends with an error listing the devices finished, stopped and not started, which
//! is logged. The agent waits up to [`GRACE`] for the running command to end, then exits.

use crate::agent::Agent;
use crate::results::Status;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a running command gets to stop after the signal.
pub const GRACE: Duration = Duration::from_secs(30);

fn command_running(agent: &Agent) -> Option<String> {
    let last = agent.store.last()?.snapshot();
    (last.status == Status::Running).then_some(last.command_name)
}

/// Waits for SIGTERM or SIGINT, then stops running work and exits the process.
pub async fn on_signal(agent: Arc<Agent>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install the SIGTERM/SIGINT handlers; signals end the agent at once");
        return;
    };
    let (name, code) = tokio::select! {
        _ = term.recv() => ("SIGTERM", 143),
        _ = int.recv() => ("SIGINT", 130),
    };
    hwmgr::cancel::global().cancel(format!("the agent received {name} and is shutting down"));
    let deadline = Instant::now() + GRACE;
    while let Some(cmd) = command_running(&agent) {
        if Instant::now() >= deadline {
            tracing::error!(
                "{name}: {cmd} is still running after {} s (a drive-internal erase cannot be \
                 interrupted); exiting anyway",
                GRACE.as_secs()
            );
            break;
        }
        tracing::warn!("{name}: waiting for {cmd} to stop");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tracing::warn!("{name}: exiting");
    std::process::exit(code);
}
