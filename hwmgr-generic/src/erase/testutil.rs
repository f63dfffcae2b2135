//! Helpers shared by the erase modules' unit tests.

use crate::Machine;
use ::blockdev::{BlockDevice, DevType};
use hwmgr::{Host, StepCall, StepKind};
use serde_json::{json, Value};
use std::sync::Arc;
use testkit::RecordingRunner;

/// A recorded tool output from `fixtures/erase/` (sources in its README).
pub fn fixture(name: &str) -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/erase/");
    std::fs::read_to_string(format!("{p}{name}")).unwrap()
}

/// A machine rooted at `/fake` whose tools answer from a recording runner.
pub fn machine() -> (Machine, RecordingRunner) {
    let r = RecordingRunner::new();
    (Machine::new(Host::new("/fake"), Arc::new(r.clone())), r)
}

/// A 64 MiB disk with a serial `SER-<name>` and these partitions.
pub fn disk(name: &str, parts: &[&str]) -> BlockDevice {
    BlockDevice {
        name: format!("/dev/{name}"),
        kname: name.into(),
        dev_type: DevType::Disk,
        size: 64 << 20,
        serial: Some(format!("SER-{name}")),
        logical_sectors: 512,
        partitions: parts.iter().map(|p| format!("/dev/{p}")).collect(),
        ..Default::default()
    }
}

/// A 16 MiB partition of `parent`.
pub fn part(name: &str, parent: &str) -> BlockDevice {
    BlockDevice {
        name: format!("/dev/{name}"),
        kname: name.into(),
        dev_type: DevType::Part,
        size: 16 << 20,
        parent: Some(format!("/dev/{parent}")),
        ..Default::default()
    }
}

/// A clean step call for `node`.
pub fn clean_call(node: Value) -> StepCall {
    StepCall::new(StepKind::Clean, node, json!([]), Default::default())
}

/// A clean step call whose node has this `driver_internal_info`.
pub fn call_with_info(info: Value) -> StepCall {
    clean_call(json!({ "driver_internal_info": info }))
}
