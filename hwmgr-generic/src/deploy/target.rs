//! Which disk receives the image (`ironic_python_agent/hardware.py:
//! GenericHardwareManager.get_os_install_device`, `utils.guess_root_disk`).
//!
//! Candidates: disks and md arrays (what IPA's `lsblk` type filter keeps; floppies, ram,
//! zram, loop and zero-size devices are never listed), minus `skip_block_devices`.
//! Hints: `instance_info.root_device`, else `properties.root_device` (the ProLiant manager's
//! `create_configuration` makes the conductor store the root logical drive's WWN there), with
//! Ironic's grammar; the first match in name order wins. No hints: the smallest disk of at
//! least 4 GiB. As IPA, read-only disks are not dropped (opening one for writing then fails
//! with a message naming it).

use crate::raid::SkipList;
use crate::Machine;
use blockdev::{BlockDevice, DeviceHints};
use hwmgr::{AgentError, ErrorKind, Result};
use serde_json::Value;

/// IPA's minimum size for a root disk picked without hints.
pub const MIN_ROOT_SIZE: u64 = 4 << 30;

fn not_found(details: String) -> AgentError {
    AgentError::new(ErrorKind::DeviceNotFound, details)
}

/// The root device hints of the node: `instance_info.root_device`, else
/// `properties.root_device` (empty objects count as none).
pub fn root_device_hints(node: &Value) -> Option<&Value> {
    ["instance_info", "properties"]
        .iter()
        .filter_map(|k| node.get(k)?.get("root_device"))
        .find(|h| {
            h.as_object().is_some_and(|o| !o.is_empty())
                || h.as_str().is_some_and(|s| !s.is_empty())
        })
}

/// One line per disk for error messages: what an operator needs to write a hint.
pub fn describe(devs: &[BlockDevice]) -> String {
    if devs.is_empty() {
        return "none".into();
    }
    devs.iter()
        .map(|d| {
            let mut s = format!("{} ({:.1} GiB", d.name, d.size as f64 / (1u64 << 30) as f64);
            for (k, v) in [("serial", &d.serial), ("model", &d.model), ("wwn", &d.wwn)] {
                if let Some(v) = v {
                    s += &format!(", {k} {v}");
                }
            }
            s + ")"
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The candidates on the live machine.
pub fn candidates(m: &Machine, node: &Value) -> Result<Vec<BlockDevice>> {
    let all = blockdev::list_block_devices(&m.host, false);
    let skip = SkipList::from_node(node, ErrorKind::DeviceNotFound)?;
    Ok(all
        .iter()
        .filter(|d| d.is_disk_like())
        .filter(|d| !skip.skips_disk(d, &all))
        .cloned()
        .collect())
}

/// Picks the install device among `devices` (in name order) for `node`.
pub fn select(devices: &[BlockDevice], node: &Value) -> Result<BlockDevice> {
    let Some(hints) = root_device_hints(node) else {
        let mut sorted: Vec<&BlockDevice> = devices.iter().collect();
        sorted.sort_by(|a, b| (a.size, &a.name).cmp(&(b.size, &b.name)));
        return sorted
            .into_iter()
            .find(|d| d.size >= MIN_ROOT_SIZE)
            .cloned()
            .ok_or_else(|| {
                not_found(format!(
                    "No suitable device was found for deployment - root device hints were not \
                     provided and all found block devices are smaller than {MIN_ROOT_SIZE}B. \
                     Disks seen: {}.",
                    describe(devices)
                ))
            });
    };
    // Ironic stores a dict; tolerate the JSON text of one.
    let parsed_text;
    let hints = match hints {
        Value::String(s) => {
            parsed_text = serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
            &parsed_text
        }
        h => h,
    };
    let parsed = DeviceHints::parse(hints).map_err(|e| {
        not_found(format!(
            "No devices could be found using the root device hints {hints} because they \
             failed to validate. Error: {e}"
        ))
    })?;
    devices
        .iter()
        .find(|d| parsed.matches(d))
        .cloned()
        .ok_or_else(|| {
            not_found(format!(
                "No suitable device was found for deployment using these hints {hints}. \
                 Disks seen: {}.",
                describe(devices)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GIB: u64 = 1 << 30;

    /// A recorded disk set: what our discovery reports in the QEMU deploy test VM and on an
    /// HPE server with a Smart Array logical drive.
    fn disks() -> Vec<BlockDevice> {
        let d = |name: &str,
                 size: u64,
                 serial: Option<&str>,
                 model: Option<&str>,
                 wwn: Option<&str>,
                 rot: bool| BlockDevice {
            name: format!("/dev/{name}"),
            kname: name.into(),
            size,
            serial: serial.map(Into::into),
            model: model.map(Into::into),
            wwn: wwn.map(Into::into),
            rotational: rot,
            ..BlockDevice::default()
        };
        vec![
            d(
                "sda",
                838 * GIB,
                Some("PDNLH0BRH9F2H5"),
                Some("LOGICAL VOLUME"),
                Some("0x600508b1001c3d7f6e9c0a6b0f5e6d3c"),
                true,
            ),
            d(
                "sdb",
                4 * GIB,
                Some("S1"),
                Some("QEMU HARDDISK"),
                Some("0x5000c50015ea0001"),
                true,
            ),
            d("vda", 2 * GIB, Some("QLAB-D0"), None, None, true),
            d("vdb", 8 * GIB, Some("QLAB-D1"), None, None, false),
            d("vdc", 5 * GIB, Some("QLAB-D2"), None, None, false),
        ]
    }

    fn pick(node: Value) -> Result<String> {
        select(&disks(), &node).map(|d| d.name)
    }

    #[test]
    fn default_rule_is_the_smallest_disk_of_4_gib() {
        assert_eq!(pick(json!({})).unwrap(), "/dev/sdb");
        let small = vec![disks()[2].clone()];
        let e = select(&small, &json!({})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeviceNotFound);
        assert!(
            e.details.contains("smaller than 4294967296B"),
            "{}",
            e.details
        );
        assert!(
            e.details.contains("/dev/vda (2.0 GiB, serial QLAB-D0)"),
            "{}",
            e.details
        );
    }

    #[test]
    fn hints_with_ironic_grammar() {
        let p = |h: Value| pick(json!({"properties": {"root_device": h}}));
        assert_eq!(p(json!({"serial": "QLAB-D2"})).unwrap(), "/dev/vdc");
        assert_eq!(p(json!({"serial": "s== qlab-d1"})).unwrap(), "/dev/vdb");
        assert_eq!(p(json!({"name": "vdc"})).unwrap(), "/dev/vdc");
        assert_eq!(p(json!({"size": 5})).unwrap(), "/dev/vdc");
        assert_eq!(
            p(json!({"size": ">= 6", "rotational": false})).unwrap(),
            "/dev/vdb"
        );
        assert_eq!(p(json!({"size": "<= 4"})).unwrap(), "/dev/sdb");
        assert_eq!(p(json!({"model": "<in> harddisk"})).unwrap(), "/dev/sdb");
        assert_eq!(
            p(json!({"serial": "<or> nope <or> QLAB-D1"})).unwrap(),
            "/dev/vdb"
        );
        assert_eq!(p(json!({"size": "<range-in> [5 6]"})).unwrap(), "/dev/vdc");
        assert_eq!(
            p(json!({"model": "qemu harddisk"})).unwrap(),
            "/dev/sdb",
            "spaces are quoted on both sides"
        );
        // instance_info wins over properties
        let n = json!({"instance_info": {"root_device": {"serial": "QLAB-D1"}},
                       "properties": {"root_device": {"serial": "QLAB-D2"}}});
        assert_eq!(pick(n).unwrap(), "/dev/vdb");
    }

    #[test]
    fn a_proliant_root_volume_hint_selects_the_logical_drive() {
        // properties.root_device as the conductor stores it after the ProLiant manager's
        // create_configuration returned root_device_hint {"wwn": ...}.
        let n =
            json!({"properties": {"root_device": {"wwn": "0x600508b1001c3d7f6e9c0a6b0f5e6d3c"}}});
        assert_eq!(pick(n).unwrap(), "/dev/sda");
    }

    #[test]
    fn unmatched_and_invalid_hints_are_device_not_found() {
        let e = pick(json!({"properties": {"root_device": {"serial": "NOPE"}}})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeviceNotFound);
        assert!(
            e.details
                .starts_with("No suitable device was found for deployment using these hints"),
            "{}",
            e.details
        );
        assert!(
            e.details.contains("/dev/vdb (8.0 GiB, serial QLAB-D1)"),
            "{}",
            e.details
        );
        let e = pick(json!({"properties": {"root_device": {"colour": "blue"}}})).unwrap_err();
        assert!(e.details.contains("failed to validate"), "{}", e.details);
    }

    #[test]
    fn skip_block_devices_are_not_candidates() {
        let n = json!({"properties": {"skip_block_devices": [{"name": "/dev/sdb"}]}});
        let all = disks();
        let skip = SkipList::from_node(&n, ErrorKind::DeviceNotFound).unwrap();
        let kept: Vec<BlockDevice> = all
            .iter()
            .filter(|d| !skip.skips_disk(d, &all))
            .cloned()
            .collect();
        assert_eq!(select(&kept, &n).unwrap().name, "/dev/vdc");
    }
}
