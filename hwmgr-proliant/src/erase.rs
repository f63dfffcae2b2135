//! `erase_devices` (`proliantutils/hpssa/manager.py: erase_devices,
//! has_erase_completed`): controller-side sanitize erase of every unassigned drive whose
//! status is `OK`, with the zero-fill fallback, then polling until no drive reports
//! `Erase In Progress`.

use crate::model::{DiskType, Server};
use crate::ssacli;
use hwmgr::text::clause;
use hwmgr::{AgentError, ErrorKind, Runner};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

const KIND: ErrorKind = ErrorKind::BlockDeviceEraseError;
pub const IN_PROGRESS: &str = "Erase In Progress";
pub const SUMMARY_SANITIZE: &str =
    "Sanitize Erase performed on the disks attached to the controller.";
pub const SUMMARY_ZERO: &str =
    "Drives overwritten with zeros because sanitize erase is not supported on the controller.";

/// How often to re-read the controller while drives erase, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraseTiming {
    pub poll_interval: Duration,
    pub timeout: Duration,
}

impl Default for EraseTiming {
    /// A sanitize erase of a large HDD takes hours (ssacli prints estimates like
    /// `0 hour(s)36 minute(s)` for a 300 GB drive), so the time-out is a day.
    fn default() -> Self {
        EraseTiming {
            poll_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(24 * 3600),
        }
    }
}

/// Starts the erase on every candidate drive, waits, and reports each drive's final
/// status as `{"Disk Erase Status": {<controller>: {<drive>: <status>, "Summary": ...}}}`.
pub fn erase_devices(runner: &dyn Runner, timing: EraseTiming) -> Result<Value, AgentError> {
    let server = ssacli::read_server(runner, KIND)?;
    let mut started: Vec<(String, String)> = Vec::new();
    // Every controller, HBA mode included: its drives are unassigned and the controller
    // can still sanitize them.
    for c in &server.controllers {
        let candidates: Vec<_> = c
            .unassigned
            .iter()
            .filter(|d| d.erase_status.as_deref() == Some("OK"))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let slot = c.slot().ok_or_else(|| {
            AgentError::new(
                KIND,
                format!(
                    "controller '{}' reports no usable 'Slot'; cannot erase its drives",
                    c.id
                ),
            )
        })?;
        for d in candidates {
            let pattern = if d.disk_type == Some(DiskType::Ssd) {
                "block"
            } else {
                "overwrite"
            };
            let sanitize = ssacli::sanitize_erase(&slot, &d.id, pattern);
            // "not supported" may come back as output of a successful run or of a failed one.
            let output = match runner.run(&sanitize) {
                Ok(o) => format!("{}{}", o.stdout, o.stderr),
                Err(e) if format!("{}{}", e.stdout, e.stderr).contains("not supported") => {
                    format!("{}{}", e.stdout, e.stderr)
                }
                Err(e) => {
                    return Err(AgentError::new(
                        KIND,
                        format!(
                            "starting the sanitize erase of drive {} on '{}' failed: {}. Drives \
                             already started: {}",
                            d.id,
                            c.id,
                            clause(&ssacli::describe_failure(&e)),
                            names(&started)
                        ),
                    ))
                }
            };
            if output.contains("not supported") {
                tracing::info!(
                    "drive {} on '{}' does not support sanitize erase; overwriting it with zeros",
                    d.id,
                    c.id
                );
                ssacli::run(
                    runner,
                    &ssacli::zero_erase(&slot, &d.id),
                    KIND,
                    &format!(
                        "starting the zero erase of drive {} on '{}' failed",
                        d.id, c.id
                    ),
                )?;
            }
            tracing::info!("erase of drive {} on '{}' started", d.id, c.id);
            started.push((c.id.clone(), d.id.clone()));
        }
    }
    wait(runner, timing, &started)?;
    let server = ssacli::read_server(runner, KIND)?;
    report(&server, &started)
}

fn names(started: &[(String, String)]) -> String {
    if started.is_empty() {
        return "none".into();
    }
    started
        .iter()
        .map(|(c, d)| format!("{d} on '{c}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls until no drive is `Erase In Progress`, logging progress each time.
fn wait(
    runner: &dyn Runner,
    timing: EraseTiming,
    started: &[(String, String)],
) -> Result<(), AgentError> {
    let t0 = Instant::now();
    loop {
        let server = ssacli::read_server(runner, KIND)?;
        let busy: Vec<String> = server
            .controllers
            .iter()
            .flat_map(|c| c.physical_drives().map(move |d| (c, d)))
            .filter(|(_, d)| d.erase_status.as_deref() == Some(IN_PROGRESS))
            .map(|(c, d)| {
                let progress: Vec<String> = d
                    .properties
                    .iter()
                    .filter(|(k, _)| k.contains("Percent") || k.contains("Estimated"))
                    .map(|(k, v)| format!("{k}: {}", v.as_deref().unwrap_or("")))
                    .collect();
                format!("{} on '{}' ({})", d.id, c.id, progress.join(", "))
            })
            .collect();
        if busy.is_empty() {
            return Ok(());
        }
        let elapsed = t0.elapsed();
        tracing::info!(
            "Smart Array erase in progress after {} s: {}",
            elapsed.as_secs(),
            busy.join("; ")
        );
        if elapsed >= timing.timeout {
            return Err(AgentError::new(
                KIND,
                format!(
                    "drives still erasing after {} s: {}. The erase continues in the \
                     controller; wait for it (ssacli controller all show config detail) and \
                     retry the step. Drives started by this step: {}",
                    elapsed.as_secs(),
                    clause(&busy.join("; ")),
                    names(started)
                ),
            ));
        }
        std::thread::sleep(timing.poll_interval);
    }
}

/// The result shape, plus a failure if a drive we erased reports a failed erase: a
/// cleaning step must not pass when data may remain.
fn report(server: &Server, started: &[(String, String)]) -> Result<Value, AgentError> {
    let mut by_controller = Map::new();
    let mut failed = Vec::new();
    for c in &server.controllers {
        let mut m = Map::new();
        for d in &c.unassigned {
            let st = d.erase_status.clone();
            if started.iter().any(|(sc, sd)| *sc == c.id && *sd == d.id)
                && st
                    .as_deref()
                    .is_some_and(|s| s.to_ascii_lowercase().contains("fail"))
            {
                failed.push(format!(
                    "{} on '{}': {}",
                    d.id,
                    c.id,
                    st.as_deref().unwrap_or("")
                ));
            }
            m.insert(d.id.clone(), json!(st));
        }
        let summary = if c.sanitize_supported() {
            SUMMARY_SANITIZE
        } else {
            SUMMARY_ZERO
        };
        m.insert("Summary".into(), json!(summary));
        by_controller.insert(c.id.clone(), Value::Object(m));
    }
    if !failed.is_empty() {
        return Err(AgentError::new(
            KIND,
            format!(
                "the controller reports a failed erase: {}. Check the drives and retry the step",
                clause(&failed.join("; "))
            ),
        ));
    }
    Ok(json!({"Disk Erase Status": by_controller}))
}
