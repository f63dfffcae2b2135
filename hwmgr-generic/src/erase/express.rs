//! `deploy.erase_devices_express` (`hardware.py: GenericHardwareManager.erase_devices_express`):
//! the devices of the metadata erase (disks and partitions, partitions first); an NVMe
//! namespace gets `nvme format` (crypto erase when supported) when
//! `agent_enable_nvme_secure_erase` allows it, everything else — and a namespace whose
//! format is impossible or failed — gets the metadata erase. Failures are collected into
//! one `BlockDeviceEraseError`.
//!
//! Differences: a format that would reach namespaces not being erased (FNA) is not used
//! ([`super::nvme`]); the result says per device what was done instead of `null`.

use super::metadata::{destroy_disk_metadata, erasable_devices, reread_after_wipe};
use super::nvme::{self, NvmeVerdict};
use super::options::NodeOptions;
use super::EraseOptions;
use crate::tools::DevPath;
use crate::Machine;
use ::blockdev::BlockDevice;
use hwmgr::{AgentError, ErrorKind, Result, StepCall};
use serde_json::{Map, Value};

/// `deploy.erase_devices_express` on the live machine.
pub fn erase_devices_express(m: &Machine, call: &StepCall, opts: &EraseOptions) -> Result<Value> {
    let (devices, md) = super::live_devices(m);
    erase_devices_express_on(m, &devices, &md, call, opts)
}

pub fn erase_devices_express_on(
    m: &Machine,
    devices: &[BlockDevice],
    md: &[BlockDevice],
    call: &StepCall,
    opts: &EraseOptions,
) -> Result<Value> {
    let node = NodeOptions::from_call(call)?;
    let (selected, mut failures) =
        erasable_devices(m, devices, md, call, opts, "erase_devices_express")?;
    let mut result = Map::new();
    for d in &selected {
        let mut format_error = None;
        if node.nvme_secure_erase && d.kname.starts_with("nvme") && !d.is_partition() {
            match try_format(m, d, devices, &selected) {
                Ok(what) => {
                    result.insert(d.name.clone(), Value::String(what));
                    continue;
                }
                Err(e) => {
                    tracing::warn!("{e}; erasing the metadata of {} instead", d.name);
                    format_error = Some(e);
                }
            }
        }
        match destroy_disk_metadata(m, &d.name) {
            Ok(()) => {
                if !d.is_partition() {
                    reread_after_wipe(m, &d.name);
                }
                result.insert(d.name.clone(), Value::String("metadata erase".into()));
            }
            Err(e) => failures.push(match format_error {
                Some(fe) => format!(
                    "{}: secure erase failed: {fe}; the metadata erase failed too: {e}",
                    d.name
                ),
                None => format!("{}: {e}", d.name),
            }),
        }
    }
    if !failures.is_empty() {
        return Err(AgentError::new(
            ErrorKind::BlockDeviceEraseError,
            format!(
                "Failed to conduct an express erase on the device(s): {}",
                failures.join("; ")
            ),
        ));
    }
    Ok(Value::Object(result))
}

/// The NVMe format of one namespace, or why not.
fn try_format(
    m: &Machine,
    d: &BlockDevice,
    devices: &[BlockDevice],
    selected: &[&BlockDevice],
) -> std::result::Result<String, String> {
    let dev = DevPath::new(&d.name).map_err(|e| e.details)?;
    let others = nvme::other_namespaces(d, devices, |n| selected.iter().any(|s| s.name == n));
    match nvme::probe(m, &dev, &others) {
        NvmeVerdict::Format { ses } => nvme::format(m, &dev, ses)
            .map(|()| format!("nvme format ({})", nvme::ses_name(ses)))
            .map_err(|(_, why)| why),
        NvmeVerdict::Unsupported(why) | NvmeVerdict::WouldReachOthers(why) => {
            Err(format!("no NVMe format for {}: {why}", d.name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::{disk, fixture};
    use hwmgr::{Host, StepKind};
    use serde_json::json;
    use std::sync::Arc;
    use testkit::RecordingRunner;

    fn run(r: &RecordingRunner, info: Value) -> Result<Value> {
        r.on(&["lsblk"], r#"{"blockdevices": [{"fstype": null}]}"#)
            .on_status(&["blkid"], 2, "")
            .on(&["blockdev", "--getss"], "512\n")
            .on(&["blockdev", "--getsize64"], "67108864\n");
        let m = Machine::new(Host::new("/fake"), Arc::new(r.clone()));
        let call = StepCall::new(
            StepKind::Clean,
            json!({"driver_internal_info": info}),
            json!([]),
            Default::default(),
        );
        let devices = [disk("nvme0n1", &[]), disk("sda", &[])];
        erase_devices_express_on(&m, &devices, &[], &call, &EraseOptions::default())
    }

    #[test]
    fn nvme_is_formatted_and_the_rest_loses_its_metadata() {
        let r = RecordingRunner::new();
        r.on(
            &["nvme", "id-ctrl"],
            &fixture("nvme-id-ctrl-sn730-crypto.json"),
        );
        let out = run(&r, json!({})).unwrap();
        assert_eq!(
            out,
            json!({"/dev/sda": "metadata erase", "/dev/nvme0n1": "nvme format (cryptographic erase)"})
        );
        let lines = r.lines();
        assert!(lines.contains(&"nvme format /fake/dev/nvme0n1 -s 2 -f".to_string()));
        assert!(lines.contains(&"wipefs --force --all /fake/dev/sda".to_string()));
        assert!(!lines.contains(&"wipefs --force --all /fake/dev/nvme0n1".to_string()));
    }

    #[test]
    fn a_failed_or_impossible_format_falls_back_to_the_metadata_erase() {
        let r = RecordingRunner::new();
        r.on(
            &["nvme", "id-ctrl"],
            &fixture("nvme-id-ctrl-format-unsupported.json"),
        );
        let out = run(&r, json!({})).unwrap();
        assert_eq!(out["/dev/nvme0n1"], "metadata erase");
        let r = RecordingRunner::new();
        r.on(
            &["nvme", "id-ctrl"],
            &fixture("nvme-id-ctrl-userdata-only.json"),
        )
        .fail(&["nvme", "format"], 1, "NVMe status: Invalid Format")
        .fail(
            &["wipefs", "--force", "--all", "/fake/dev/nvme0n1"],
            1,
            "Problem opening",
        );
        let e = run(&r, json!({})).unwrap_err();
        assert!(e.details.starts_with("Failed to conduct an express erase on the device(s): /dev/nvme0n1: secure erase failed: NVMe format (user-data erase) of /dev/nvme0n1 failed"), "{}", e.details);
        assert!(
            e.details.contains("the metadata erase failed too"),
            "{}",
            e.details
        );
        // Switched off: no NVMe command at all.
        let r = RecordingRunner::new();
        run(&r, json!({"agent_enable_nvme_secure_erase": false})).unwrap();
        assert!(!r.lines().iter().any(|l| l.starts_with("nvme")));
    }
}
