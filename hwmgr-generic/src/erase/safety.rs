//! The special-filesystem safety check of every erase step
//! (`hardware.py: safety_check_block_device`, `_check_for_special_partitions_filesystems`)
//! and the other facts the probes give about a device and everything on it (RAID member,
//! the virtual-media label).
//!
//! IPA asks `lsblk`, which reads udev's database. Without udev (our ramdisk) lsblk reports
//! no file-system type, partition type or UUID at all (recorded in QEMU:
//! `fixtures/erase/README.md`), so the check would never find anything. We also probe the
//! device and each of its partitions with `blkid -p` (low-level probing, no udev needed),
//! and use both answers. IPA looks only at the device's own line; we also look at its
//! children (partitions, arrays on it), so a VMFS partition on a disk protects the disk. The check
//! runs for every device before anything is written: a protected device fails the step
//! with `ProtectedDeviceError` and nothing is touched. It is off when the agent option
//! `guard-special-filesystems` is false or `driver_internal_info.wipe_special_filesystems`
//! is false.

use crate::tools::{blkid, lsblk, DevPath};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, StepCall};
use serde_json::Value;

/// IBM GPFS partition type GUID.
const GPFS_GUID: &str = "37AFFC90-EF7D-4E96-91C3-2D7AE055B174";
/// VMware VMFS partition type GUID.
const VMFS_GUID: &str = "AA31E02A-400F-11DB-9590-000C2911D1B8";
/// The label of the virtual-media device IPA's boot puts its parameters on.
pub const VMEDIA_LABEL: &str = "ir-vfd-dev";

/// What lsblk and blkid say about a device and its children.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceFacts {
    /// Some line says `linux_raid_member`.
    pub raid_member: bool,
    /// Shared-disk file systems found, by name.
    pub protected: Vec<String>,
    /// The virtual-media label was found.
    pub virtual_media: bool,
}

// TODO(crates): parse through the typed lsblk model once it lands in main.
pub fn parse_lsblk(text: &str) -> Result<DeviceFacts, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("unreadable lsblk JSON: {e}"))?;
    let mut out = DeviceFacts::default();
    let mut stack: Vec<&Value> = v
        .get("blockdevices")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    while let Some(d) = stack.pop() {
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match s("fstype").as_str() {
            "linux_raid_member" => out.raid_member = true,
            "gfs2" => push_unique(&mut out.protected, "Red Hat Global File System 2 (gfs2)"),
            _ => {}
        }
        if s("label") == VMEDIA_LABEL {
            out.virtual_media = true;
        }
        for k in ["uuid", "ptuuid", "parttype", "partuuid"] {
            note_id(&mut out, &s(k), k == "parttype");
        }
        if let Some(children) = d.get("children").and_then(Value::as_array) {
            stack.extend(children);
        }
    }
    Ok(out)
}

/// `blkid -p -o export` output (`KEY=value` lines; empty when nothing was found).
pub fn parse_blkid(text: &str, out: &mut DeviceFacts) {
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match (k, v) {
            ("TYPE", "linux_raid_member") => out.raid_member = true,
            ("TYPE", "gfs2") => {
                push_unique(&mut out.protected, "Red Hat Global File System 2 (gfs2)")
            }
            ("LABEL", VMEDIA_LABEL) => out.virtual_media = true,
            ("UUID" | "PTUUID" | "PART_ENTRY_TYPE" | "PART_ENTRY_UUID", v) => {
                note_id(out, v, k == "PART_ENTRY_TYPE")
            }
            _ => {}
        }
    }
}

/// Records a protected file system when an identifier (a UUID, a partition type) names
/// one; `partition_type` also admits the MBR type `0xfb`.
fn note_id(out: &mut DeviceFacts, id: &str, partition_type: bool) {
    let up = id.to_ascii_uppercase();
    if up == GPFS_GUID {
        push_unique(
            &mut out.protected,
            "IBM General Parallel File System (GPFS)",
        );
    } else if up == VMFS_GUID || (partition_type && up == "0XFB") {
        push_unique(&mut out.protected, "VMware VMFS");
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Probes a device (`dev`: `/dev/<name>`) and its `partitions` with lsblk and blkid.
pub fn device_facts(m: &Machine, dev: &str, partitions: &[String]) -> Result<DeviceFacts, String> {
    let path = |d: &str| DevPath::new(d).map_err(|e| e.details);
    let out = m
        .run(&lsblk::signatures(&path(dev)?))
        .map_err(|e| e.to_string())?;
    let mut facts = parse_lsblk(&out.stdout)?;
    for d in std::iter::once(dev).chain(partitions.iter().map(String::as_str)) {
        let out = m.run(&blkid::probe(&path(d)?)).map_err(|e| e.to_string())?;
        parse_blkid(&out.stdout, &mut facts);
    }
    Ok(facts)
}

/// Whether the check applies: the agent option and the node both allow it.
pub fn guard_enabled(call: &StepCall, agent_guard: bool) -> bool {
    let off = call
        .internal_info("wipe_special_filesystems")
        .is_some_and(|v| {
            v == &Value::Bool(false) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("false"))
        });
    agent_guard && !off
}

/// The `ProtectedDeviceError` for devices found holding shared file systems
/// (`"<device> (<file system>)"` each).
pub fn protected_error(step: &str, found: &[String]) -> AgentError {
    AgentError::new(
        ErrorKind::ProtectedDeviceError,
        format!(
            "Refusing to run {step} on {}: it holds a file system that may be shared with other \
             machines. If this is intended, set driver_internal_info.wipe_special_filesystems to \
             false for this node. Nothing was erased.",
            found.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::fixture;

    #[test]
    fn children_protect_their_disk_and_labels_are_seen() {
        let f = parse_lsblk(
            r#"{"blockdevices": [{"uuid": null, "ptuuid": "1", "parttype": null, "partuuid": null, "fstype": null, "label": null,
               "children": [{"uuid": null, "ptuuid": null, "parttype": "aa31e02a-400f-11db-9590-000c2911d1b8", "partuuid": "2", "fstype": null},
                            {"parttype": "0xfb"},
                            {"fstype": "linux_raid_member", "label": "ir-vfd-dev"}]}]}"#,
        )
        .unwrap();
        assert_eq!(f.protected, vec!["VMware VMFS"]);
        assert!(f.raid_member && f.virtual_media);
        let g = parse_lsblk(
            r#"{"blockdevices": [{"uuid": "37affc90-ef7d-4e96-91c3-2d7ae055b174", "fstype": "gfs2"}]}"#,
        )
        .unwrap();
        assert_eq!(g.protected.len(), 2, "{g:?}");
        assert!(parse_lsblk("lsblk: /dev/x: not a block device").is_err());
    }

    #[test]
    fn blkid_sees_what_lsblk_cannot_without_udev() {
        // Recorded in the ramdisk: lsblk shows nulls for an md member and a VMFS partition.
        let mut f = DeviceFacts::default();
        parse_blkid(&fixture("blkid-md-member.txt"), &mut f);
        assert!(f.raid_member && f.protected.is_empty());
        let mut f = DeviceFacts::default();
        parse_blkid(&fixture("blkid-gpt-disk.txt"), &mut f);
        parse_blkid(&fixture("blkid-linux-partition.txt"), &mut f);
        assert_eq!(f, DeviceFacts::default());
        parse_blkid(&fixture("blkid-vmfs-partition.txt"), &mut f);
        assert_eq!(f.protected, vec!["VMware VMFS"]);
        let mut f = DeviceFacts::default();
        parse_blkid(
            "PART_ENTRY_SCHEME=dos\nPART_ENTRY_TYPE=0xfb\nLABEL=ir-vfd-dev\n",
            &mut f,
        );
        assert!(f.virtual_media);
        assert_eq!(f.protected, vec!["VMware VMFS"]);
    }

    #[test]
    fn device_facts_probe_the_disk_and_each_partition() {
        use hwmgr::Host;
        use testkit::RecordingRunner;
        let r = RecordingRunner::new();
        r.on(
            &["lsblk"],
            r#"{"blockdevices": [{"fstype": null}, {"fstype": null}]}"#,
        )
        .on_status(&["blkid"], 2, "")
        .on(
            &["blkid", "-p", "-o", "export", "/fake/dev/sda1"],
            &fixture("blkid-vmfs-partition.txt"),
        );
        let m = Machine::new(Host::new("/fake"), std::sync::Arc::new(r.clone()));
        let f = device_facts(&m, "/dev/sda", &["/dev/sda1".into()]).unwrap();
        assert_eq!(f.protected, vec!["VMware VMFS"]);
        assert_eq!(
            r.lines(),
            vec![
                "lsblk -bia --json -oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL /fake/dev/sda",
                "blkid -p -o export /fake/dev/sda",
                "blkid -p -o export /fake/dev/sda1",
            ]
        );
    }
}
