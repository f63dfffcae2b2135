//! Shared test helpers: fixtures and a scripted `ssacli`.
#![allow(dead_code)]

use hwmgr::{RecordingRunner, StepCall, StepKind};
use hwmgr_proliant::ProliantHardwareManager;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const C1: [&str; 6] = ["ssacli", "controller", "all", "show", "config", "detail"];
pub const C1_LINE: &str = "ssacli controller all show config detail";

pub fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ssacli")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A runner whose successive `show config detail` runs print `dumps` in order (the
/// runner tries the most recently added rule first, hence the reverse).
pub fn runner_with(dumps: &[&str]) -> RecordingRunner {
    let r = RecordingRunner::new();
    for d in dumps.iter().rev() {
        r.on_times(&C1, &fixture(d), 1);
    }
    r
}

pub fn manager(r: &RecordingRunner) -> ProliantHardwareManager {
    ProliantHardwareManager::new(Arc::new(r.clone()))
        .with_erase_poll_interval(Duration::ZERO)
        .with_erase_timeout(Duration::from_secs(5))
}

pub fn clean_call(target_raid_config: Value) -> StepCall {
    StepCall::new(
        StepKind::Clean,
        json!({"uuid": "n1", "target_raid_config": target_raid_config}),
        json!([]),
        Map::new(),
    )
}

pub fn deploy_call(args: Value) -> StepCall {
    let args = args.as_object().cloned().unwrap_or_default();
    StepCall::new(StepKind::Deploy, json!({"uuid": "n1"}), json!([]), args)
}

/// Every command except the `show config detail` reads.
pub fn actions(r: &RecordingRunner) -> Vec<String> {
    r.lines().into_iter().filter(|l| l != C1_LINE).collect()
}

pub fn ids_with_status(cfg: &Value, status: &str) -> Vec<String> {
    cfg["physical_disks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|d| d["status"] == status)
                .filter_map(|d| d["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
