//! `deploy.burnin_cpu` (`ironic_python_agent/hardware.py: GenericHardwareManager.burnin_cpu`
//! → `ironic_python_agent/burnin.py: stress_ng_cpu`): keeps every CPU (or the number asked
//! for) busy for a while, so a machine with a CPU or cooling fault fails before it gets a
//! tenant. Offered as a clean step and as a service step, priority 0 (manual only) and
//! abortable, as IPA lists it.
//!
//! The node's `driver_info` steers it, with IPA's keys and defaults:
//! `agent_burnin_cpu_cpu` (workers; 0 = one per CPU), `agent_burnin_cpu_timeout` (seconds,
//! default 86400 = 24 h) and `agent_burnin_cpu_outputfile` (a file that gets the log lines
//! as well). The result is `null`, as IPA's.
//!
//! # Where we differ from IPA
//!
//! - **No stress-ng.** IPA runs `stress-ng --cpu N --timeout T --metrics-brief`; the
//!   ramdisk has no stress-ng (one more C program with many optional libraries, for one
//!   manual step), so the burn runs in the agent: one thread per worker, each doing
//!   "bogo operations" until the time is up (see [`cpu`]). The load is the integer and
//!   floating-point units (SHA-256 and multiply-adds over a small buffer), not stress-ng's
//!   rotation of ~80 methods; the CPUs are kept at 100 % just the same.
//! - **Strict fields.** IPA hands the values to stress-ng unchecked; a bad one makes
//!   stress-ng exit and the step fails with a `CommandExecutionError` quoting its output.
//!   We check them first and refuse a malformed one with an `InvalidCommandParamsError`
//!   naming the field and what to set: the count must be an integer of at most
//!   [`MAX_WORKERS`] (0 or negative = one per CPU, as stress-ng reads them); the timeout
//!   an integer number of seconds, or with stress-ng's suffixes `s`, `m`, `h`, `d`, from
//!   1 s to [`MAX_TIMEOUT_S`] (30 days). stress-ng reads a timeout of 0 as "run forever",
//!   which would hold the node in cleaning/servicing with no end; we refuse it.
//! - **Progress.** stress-ng prints its metrics once, at the end; we log the bogo-ops/s
//!   (total and per worker, lowest and highest) every few seconds, so an operator watching
//!   a 24 h burn-in sees it is alive and a slow (throttling) CPU stands out.
//! - **Stopping.** Ironic aborts an abortable step by powering the node off; nothing
//!   reaches the agent. The burn stops early only when the agent itself shuts down
//!   (SIGTERM: [`hwmgr::cancel::global`]); the step then fails saying so, where stress-ng
//!   would have been killed with the agent.
//! - A failure to start a worker thread is a `CommandExecutionError` (IPA's class for a
//!   stress-ng failure), naming the worker and the OS error.

pub mod cpu;

use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result, StepCall};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// IPA's default `agent_burnin_cpu_timeout`: 24 hours.
pub const DEFAULT_TIMEOUT_S: u64 = 86_400;
/// The longest burn-in we accept: 30 days (longer ones are run as several steps).
pub const MAX_TIMEOUT_S: u64 = 30 * 86_400;
/// The most workers we start: far above any CPU count we know of, low enough that a typo
/// (an extra digit) does not start hundreds of thousands of threads.
pub const MAX_WORKERS: u64 = 4096;

/// What the node asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuBurnin {
    /// Worker threads; `None`: one per CPU the agent may run on.
    pub workers: Option<usize>,
    pub timeout: Duration,
    /// `agent_burnin_cpu_outputfile`, as given (an absolute path on the machine).
    pub output_file: Option<String>,
}

impl CpuBurnin {
    /// Reads `driver_info`; the first malformed field is the error.
    pub fn from_call(call: &StepCall) -> Result<CpuBurnin> {
        let info = call.node_field("driver_info");
        let field = |key: &str| info.and_then(|i| i.get(key)).filter(|v| !v.is_null());
        let workers = match field("agent_burnin_cpu_cpu") {
            None => None,
            Some(v) => parse_workers(v)?,
        };
        let timeout = match field("agent_burnin_cpu_timeout") {
            None => DEFAULT_TIMEOUT_S,
            Some(v) => parse_timeout(v)?,
        };
        let output_file = match field("agent_burnin_cpu_outputfile") {
            None => None,
            Some(Value::String(s)) if s.starts_with('/') && !s.contains('\0') => Some(s.clone()),
            Some(v) => {
                return Err(malformed(
                    "agent_burnin_cpu_outputfile",
                    v,
                    "an absolute path (a file on the machine that gets the burn-in's log)",
                ))
            }
        };
        Ok(CpuBurnin {
            workers,
            timeout: Duration::from_secs(timeout),
            output_file,
        })
    }
}

fn malformed(key: &str, v: &Value, expected: &str) -> AgentError {
    AgentError::new(
        ErrorKind::InvalidCommandParamsError,
        format!(
            "driver_info.{key} is {v}, which is not {expected}. Set it with `baremetal node \
             set <node> --driver-info {key}=<value>` (or unset it for the default) and run \
             the step again. No CPU was burnt in."
        ),
    )
}

/// `agent_burnin_cpu_cpu`: an integer (JSON number or decimal string); 0 or negative = one
/// per CPU (`None`), as stress-ng reads `--cpu N`.
fn parse_workers(v: &Value) -> Result<Option<usize>> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let expected = format!("an integer of at most {MAX_WORKERS} (0: one worker per CPU)");
    match n {
        Some(n) if n <= 0 => Ok(None),
        Some(n) if n as u64 <= MAX_WORKERS => Ok(usize::try_from(n).ok()),
        _ => Err(malformed("agent_burnin_cpu_cpu", v, &expected)),
    }
}

/// `agent_burnin_cpu_timeout`: seconds as an integer, or a string with one of stress-ng's
/// suffixes `s`, `m`, `h`, `d`; from 1 s to [`MAX_TIMEOUT_S`].
fn parse_timeout(v: &Value) -> Result<u64> {
    let secs = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            let (digits, unit) = match s.char_indices().last() {
                Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_lowercase()),
                _ => (s, 's'),
            };
            let scale = match unit {
                's' => Some(1),
                'm' => Some(60),
                'h' => Some(3600),
                'd' => Some(86_400),
                _ => None,
            };
            let n = digits
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| digits.parse::<u64>().ok())
                .flatten();
            n.zip(scale).and_then(|(n, k)| n.checked_mul(k))
        }
        _ => None,
    };
    secs.filter(|s| (1..=MAX_TIMEOUT_S).contains(s))
        .ok_or_else(|| {
            malformed(
                "agent_burnin_cpu_timeout",
                v,
                &format!(
                    "a duration from 1 s to {MAX_TIMEOUT_S} s (30 days): seconds, or a number \
                 with s, m, h or d"
                ),
            )
        })
}

/// The step: reads the fields, burns, logs the metrics. Runs on the command's own thread;
/// nothing here depends on the HTTP request that started it.
pub fn burnin_cpu(m: &Machine, call: &StepCall) -> Result<Value> {
    let want = CpuBurnin::from_call(call)?;
    let workers = want.workers.unwrap_or_else(cpu::online_cpus);
    let output = want.output_file.as_ref().map(|f| m.host.path(f));
    let log = LogSink::new(output);
    let summary = cpu::burn(
        workers,
        want.timeout,
        hwmgr::cancel::global(),
        cpu::report_interval,
        &|line| log.line(line),
    )
    .map_err(|e| AgentError::new(ErrorKind::CommandExecutionError, e.to_string()))?;
    log.line(&summary.to_string());
    if let Some(reason) = summary.stopped_by {
        return Err(AgentError::new(
            call.error_kind(),
            format!(
                "burnin_cpu stopped after {:.0?} of {:?}: {reason}. Run the step again once \
                 the agent is back.",
                summary.elapsed, want.timeout
            ),
        ));
    }
    Ok(Value::Null)
}

/// The agent log, and `agent_burnin_cpu_outputfile` when given (stress-ng's `--log-file`).
/// A file that cannot be written is reported once and then left alone: the burn-in goes on.
struct LogSink {
    file: std::sync::Mutex<Option<(PathBuf, std::fs::File)>>,
}

impl LogSink {
    fn new(path: Option<PathBuf>) -> LogSink {
        let file = path.and_then(|p| {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
            {
                Ok(f) => Some((p, f)),
                Err(e) => {
                    tracing::warn!(
                        "burnin_cpu: cannot write {} ({e}); the metrics are in this log only",
                        p.display()
                    );
                    None
                }
            }
        });
        LogSink {
            file: std::sync::Mutex::new(file),
        }
    }

    fn line(&self, line: &str) {
        use std::io::Write;
        tracing::info!("burnin_cpu: {line}");
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, f)) = guard.as_mut() {
            if let Err(e) = writeln!(f, "{line}") {
                tracing::warn!(
                    "burnin_cpu: cannot write {} ({e}); stopped writing it",
                    p.display()
                );
                *guard = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
