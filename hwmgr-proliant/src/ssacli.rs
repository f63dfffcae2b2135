//! Every ssacli command line this crate runs, built as argv vectors, and the one place
//! that runs them and turns failures into operator-facing errors.
//!
//! The labels C1-C5 name proliantutils' command lines by where
//! `proliantutils/hpssa/objects.py` issues them: C1 `Server._get_all_details`, C2
//! `Controller.create_logical_drive`, C3 `Controller.delete_all_logical_drives`, C4
//! `Controller.erase_devices`, C5 `RaidArray.can_accomodate`.

use crate::model::{ModelError, Server};
use hwmgr::text::clause;
use hwmgr::{AgentError, Cmd, CommandError, ErrorKind, Runner};
use std::time::Duration;

pub const PROGRAM: &str = "ssacli";

/// C1: read everything.
pub fn show_config() -> Cmd {
    Cmd::new(PROGRAM).args(["controller", "all", "show", "config", "detail"])
}

fn on_slot(slot: &str) -> Cmd {
    Cmd::new(PROGRAM).args(["controller".to_string(), format!("slot={slot}")])
}

/// C2a: a logical drive on a new array built from `drives`. `size_mb` `None` = all space.
/// ssacli asks for confirmation; `y` (no newline) answers it.
pub fn create_on_drives(slot: &str, drives: &[String], raid: &str, size_mb: Option<u64>) -> Cmd {
    let mut c = on_slot(slot).args([
        "create".to_string(),
        "type=logicaldrive".to_string(),
        format!("drives={}", drives.join(",")),
        format!("raid={raid}"),
    ]);
    if let Some(mb) = size_mb {
        c = c.arg(format!("size={mb}"));
    }
    c.stdin("y")
}

/// C2b: a logical drive in an existing array (sharing its drives).
pub fn create_in_array(slot: &str, array: &str, raid: &str, size_mb: Option<u64>) -> Cmd {
    let mut c = on_slot(slot).args([
        "array".to_string(),
        array.to_string(),
        "create".to_string(),
        "type=logicaldrive".to_string(),
        format!("raid={raid}"),
    ]);
    if let Some(mb) = size_mb {
        c = c.arg(format!("size={mb}"));
    }
    c.stdin("y")
}

/// C5: ask how much space a new logical drive could get in `array`. Exit 1 is an answer
/// ("this RAID level is not possible here"), not a failure.
pub fn probe_array(slot: &str, array: &str, raid: &str) -> Cmd {
    on_slot(slot)
        .args([
            "array".to_string(),
            array.to_string(),
            "create".to_string(),
            "type=logicaldrive".to_string(),
            format!("raid={raid}"),
            "size=?".to_string(),
        ])
        .ok_codes(&[0, 1])
}

/// C3: delete every logical drive of a controller.
pub fn delete_all(slot: &str) -> Cmd {
    on_slot(slot).args(["logicaldrive", "all", "delete", "forced"])
}

/// C4a: sanitize erase; `overwrite` for HDDs, `block` for SSDs. `pd <id>` is one argv
/// element, as proliantutils has always sent it.
pub fn sanitize_erase(slot: &str, drive: &str, pattern: &str) -> Cmd {
    on_slot(slot).args([
        format!("pd {drive}"),
        "modify".to_string(),
        "erase".to_string(),
        format!("erasepattern={pattern}"),
        "unrestricted=off".to_string(),
        "forced".to_string(),
    ])
}

/// C4b: the zero-fill fallback when sanitize is not supported.
pub fn zero_erase(slot: &str, drive: &str) -> Cmd {
    on_slot(slot).args([
        format!("pd {drive}"),
        "modify".to_string(),
        "erase".to_string(),
        "erasepattern=zero".to_string(),
        "forced".to_string(),
    ])
}

/// Reading the configuration can take a while on a controller with many drives.
const SHOW_TIMEOUT: Duration = Duration::from_secs(180);

/// A failed ssacli run, as `details` text: what ran, how it failed, its output, and the
/// "no controllers" hint when that is the cause.
pub fn describe_failure(e: &CommandError) -> String {
    let mut text = e.to_string();
    let stdout = e.stdout.trim();
    if !stdout.is_empty() {
        let short: String = stdout.chars().take(1000).collect();
        text.push_str(&format!("; stdout: {short}"));
    }
    if format!("{}{}", e.stdout, e.stderr).contains("No controllers detected") {
        text.truncate(clause(&text).len());
        text.push_str(
            ". ssacli sees no Smart Array controller: check that the controller is enabled \
             and that the hpsa and sg kernel modules are loaded",
        );
    }
    text
}

pub fn run(
    runner: &dyn Runner,
    cmd: &Cmd,
    kind: ErrorKind,
    why: &str,
) -> Result<String, AgentError> {
    runner
        .run(cmd)
        .map(|o| format!("{}{}", o.stdout, o.stderr))
        .map_err(|e| AgentError::new(kind, format!("{why}: {}", describe_failure(&e))))
}

/// Runs C1 and parses it. `Ok(Err(_))` would be awkward, so a parse failure is an error of
/// `kind` too, naming the object that could not be read.
pub fn read_server(runner: &dyn Runner, kind: ErrorKind) -> Result<Server, AgentError> {
    let out = runner
        .run(&show_config().timeout(SHOW_TIMEOUT))
        .map_err(|e| {
            AgentError::new(
                kind,
                format!(
                    "could not read the Smart Array configuration: {}",
                    describe_failure(&e)
                ),
            )
        })?;
    Server::parse(&out.stdout).map_err(|e: ModelError| {
        AgentError::new(
            kind,
            format!("could not understand `ssacli controller all show config detail`: {e}"),
        )
    })
}
