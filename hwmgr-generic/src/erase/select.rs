//! Which devices `erase_devices` writes to (`hardware.py:
//! list_block_devices_check_skip_list`, `GenericHardwareManager.erase_block_device`).
//!
//! IPA erases the block devices of type disk, md arrays included, minus the disks matched
//! by `skip_block_devices` hints and the arrays it keeps by `volume_name`, and skips (per
//! device) the virtual-media device, RAID members and read-only disks. Erasing an array
//! and skipping its members leaves everything of the members outside the array unerased
//! (an ESP or other partitions, gaps, the md superblocks): tenant data survives.
//!
//! Our rule: **every byte of every physical disk that is not skipped**.
//! * md arrays are not erased as such. An array not kept is stopped and its member disks
//!   are erased whole.
//! * An array kept by a `volume_name` entry is left alone together with its members: a
//!   disk that is a member (whole) is skipped; a disk with some partitions in a kept array
//!   gets its other partitions erased and keeps its partition table. Members of a kept
//!   array that did not assemble are found by their superblock's name (`mdadm --examine`).
//! * Disks matched by a hint, and the virtual-media device, are skipped.
//! * A read-only disk is skipped with a warning naming it when `agent_erase_skip_read_only`
//!   is true; otherwise it is refused before anything is written, and the error names the
//!   disk and the option (IPA fails the step only when its thread reaches the disk).

use super::metadata::virtual_media;
use crate::raid::mdadm::{parse_detail, parse_examine};
use crate::raid::SkipList;
use crate::tools::{mdadm, DevPath};
use crate::Machine;
use ::blockdev::{BlockDevice, DevType};

/// A device the overwrite (or a hardware erase) will run on.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The device itself: a whole disk, or a partition of a disk shared with a kept array.
    pub dev: BlockDevice,
    /// The physical disk it is on (itself when whole).
    pub disk: String,
}

impl Target {
    pub fn name(&self) -> &str {
        &self.dev.name
    }
    pub fn whole_disk(&self) -> bool {
        !self.dev.is_partition()
    }
    /// An NVMe namespace as a whole (never a partition of one).
    pub fn nvme_namespace(&self) -> bool {
        self.whole_disk() && self.dev.kname.starts_with("nvme")
    }
}

/// The outcome of selection.
#[derive(Debug, Default)]
pub struct Selection {
    pub targets: Vec<Target>,
    /// Devices left alone, with the reason (logged and reported in the result).
    pub skipped: Vec<(String, String)>,
    /// Read-only disks while `agent_erase_skip_read_only` is false.
    pub read_only: Vec<String>,
    /// md arrays (not kept) that must be stopped before their members are written.
    pub stop_arrays: Vec<String>,
}

/// What selection needs to know about md arrays.
struct Arrays {
    /// Kept arrays, each with its member devices (`/dev/vda1`, `/dev/vdb`).
    kept: Vec<(String, Vec<String>)>,
    /// Arrays not kept, with their members.
    other: Vec<(String, Vec<String>)>,
}

/// The volume name of an assembled array: the name sysfs/`/dev/md` gives, or
/// `mdadm --detail`'s (run only when some array is to be kept).
fn array_is_kept(m: &Machine, md: &BlockDevice, skip: &SkipList) -> bool {
    if skip.volume_names.is_empty() {
        return false;
    }
    if skip.keeps_volume(md.md_name.as_deref()) {
        return true;
    }
    let Ok(path) = DevPath::new(&md.name) else {
        return false;
    };
    let detail = m.run(&mdadm::detail(&path));
    detail.is_ok_and(|o| skip.keeps_volume(parse_detail(&o.stdout).name.as_deref()))
}

fn arrays(m: &Machine, devices: &[BlockDevice], md: &[BlockDevice], skip: &SkipList) -> Arrays {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Arrays {
        kept: Vec::new(),
        other: Vec::new(),
    };
    for a in md.iter().chain(devices.iter()).filter(|d| d.is_md()) {
        if seen.contains(&a.name.as_str()) {
            continue;
        }
        seen.push(&a.name);
        let entry = (a.name.clone(), a.slaves.clone());
        if array_is_kept(m, a, skip) {
            out.kept.push(entry);
        } else {
            out.other.push(entry);
        }
    }
    out
}

/// Whether `dev` carries the superblock of an array kept by name that is not assembled.
fn unassembled_kept_member(m: &Machine, dev: &str, skip: &SkipList) -> bool {
    if skip.volume_names.is_empty() {
        return false;
    }
    let Ok(path) = DevPath::new(dev) else {
        return false;
    };
    m.run(&mdadm::examine(&path)).is_ok_and(|o| {
        parse_examine(&o.stdout).is_some_and(|sb| skip.keeps_volume(sb.name.as_deref()))
    })
}

/// Picks the targets among `devices` (disks and partitions, as listed from sysfs) and the
/// md arrays `md` (every array, inactive ones included).
pub fn select(
    m: &Machine,
    devices: &[BlockDevice],
    md: &[BlockDevice],
    skip: &SkipList,
    skip_read_only: bool,
) -> Selection {
    let arrays = arrays(m, devices, md, skip);
    let kept_member = |dev: &str| {
        arrays
            .kept
            .iter()
            .find(|(_, members)| members.iter().any(|x| x == dev))
            .map(|(a, _)| a.clone())
    };
    let vmedia = virtual_media(m);
    let mut sel = Selection::default();
    for disk in devices.iter().filter(|d| d.dev_type == DevType::Disk) {
        let name = disk.name.clone();
        if skip.skips_disk(disk, devices) {
            sel.skipped
                .push((name, "matched by skip_block_devices".into()));
            continue;
        }
        if vmedia.as_deref() == Some(disk.kname.as_str()) {
            sel.skipped.push((name, "virtual media device".into()));
            continue;
        }
        if let Some(a) =
            kept_member(&name).or_else(|| unassembled_kept_member(m, &name, skip).then(String::new))
        {
            sel.skipped.push((
                name,
                format!("member of the kept software RAID {a}")
                    .trim_end()
                    .into(),
            ));
            continue;
        }
        if disk.read_only {
            if skip_read_only {
                tracing::warn!(
                    "not erasing {name}: it is read-only and agent_erase_skip_read_only is set"
                );
                sel.skipped.push((
                    name,
                    "read-only (agent_erase_skip_read_only is true)".into(),
                ));
            } else {
                sel.read_only.push(name);
            }
            continue;
        }
        let kept_parts: Vec<(String, String)> = disk
            .partitions
            .iter()
            .filter_map(|p| {
                kept_member(p)
                    .or_else(|| unassembled_kept_member(m, p, skip).then(String::new))
                    .map(|a| (p.clone(), a))
            })
            .collect();
        if kept_parts.is_empty() {
            sel.targets.push(Target {
                dev: disk.clone(),
                disk: name,
            });
            continue;
        }
        for (p, a) in &kept_parts {
            let why = format!("member of the kept software RAID {a}");
            sel.skipped.push((p.clone(), why.trim_end().into()));
        }
        for p in &disk.partitions {
            if kept_parts.iter().any(|(k, _)| k == p) {
                continue;
            }
            if let Some(pd) = ::blockdev::find_by_name(devices, p) {
                sel.targets.push(Target {
                    dev: pd.clone(),
                    disk: name.clone(),
                });
            }
        }
    }
    // Arrays not kept that sit on anything we write must be stopped first.
    for (a, members) in &arrays.other {
        let on_target = members.iter().any(|mb| {
            sel.targets.iter().any(|t| {
                t.name() == mb || (t.whole_disk() && t.dev.partitions.iter().any(|p| p == mb))
            })
        });
        if on_target {
            sel.stop_arrays.push(a.clone());
        }
    }
    sel
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::{disk, machine, part};
    use hwmgr::Host;
    use serde_json::json;
    use std::sync::Arc;
    use testkit::RecordingRunner;

    fn md(name: &str, volume: &str, members: &[&str]) -> BlockDevice {
        BlockDevice {
            name: format!("/dev/{name}"),
            kname: name.into(),
            dev_type: DevType::Raid("raid1".into()),
            md_name: Some(volume.into()),
            slaves: members.iter().map(|p| format!("/dev/{p}")).collect(),
            ..Default::default()
        }
    }

    fn skip(v: serde_json::Value) -> SkipList {
        SkipList::from_node(
            &json!({"properties": {"skip_block_devices": v}}),
            hwmgr::ErrorKind::BlockDeviceEraseError,
        )
        .unwrap()
    }

    fn names(sel: &Selection) -> Vec<&str> {
        sel.targets.iter().map(Target::name).collect()
    }

    #[test]
    fn arrays_not_kept_are_stopped_and_their_disks_erased_whole() {
        let (m, r) = machine();
        let devices = vec![
            disk("vda", &["vda1", "vda2"]),
            part("vda1", "vda"),
            part("vda2", "vda"),
            disk("vdb", &["vdb1"]),
            part("vdb1", "vdb"),
            md("md127", "stale", &["vda2", "vdb1"]),
            disk("nvme0n1", &[]),
        ];
        let sel = select(&m, &devices, &[], &SkipList::default(), false);
        assert_eq!(names(&sel), vec!["/dev/vda", "/dev/vdb", "/dev/nvme0n1"]);
        assert!(sel.targets.iter().all(Target::whole_disk));
        assert!(sel.targets[2].nvme_namespace());
        assert_eq!(sel.stop_arrays, vec!["/dev/md127"]);
        assert!(r.lines().is_empty(), "no mdadm needed without kept volumes");
    }

    #[test]
    fn kept_arrays_and_their_members_are_untouched() {
        let (m, _) = machine();
        let devices = vec![
            disk("sda", &[]),
            disk("sdb", &[]),
            disk("vda", &["vda1", "vda2", "vda3"]),
            part("vda1", "vda"),
            part("vda2", "vda"),
            part("vda3", "vda"),
            disk("vdb", &["vdb1", "vdb2"]),
            part("vdb1", "vdb"),
            part("vdb2", "vdb"),
            md("md0", "data", &["sda", "sdb"]),
            md("md1", "root", &["vda1", "vdb1"]),
            md("md2", "scratch", &["vda2", "vdb2"]),
        ];
        let sel = select(
            &m,
            &devices,
            &[],
            &skip(json!([{"volume_name": "data"}, {"volume_name": "root"}])),
            false,
        );
        assert_eq!(
            names(&sel),
            vec!["/dev/vda2", "/dev/vda3", "/dev/vdb2"],
            "{sel:#?}"
        );
        assert_eq!(sel.stop_arrays, vec!["/dev/md2"]);
        let skipped: Vec<&str> = sel.skipped.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(
            skipped,
            vec!["/dev/sda", "/dev/sdb", "/dev/vda1", "/dev/vdb1"]
        );
        assert!(sel.skipped[0].1.contains("kept software RAID /dev/md0"));
    }

    #[test]
    fn a_kept_array_that_did_not_assemble_is_found_by_its_superblock() {
        let (m, r) = machine();
        // Rules match newest first: the specific one goes last.
        r.on_status(
            &["mdadm", "--examine"],
            1,
            "mdadm: No md superblock detected",
        )
        .on(
            &["mdadm", "--examine", "/fake/dev/vdb"],
            &crate::raid::mdadm::samples::examine(
                "/dev/vdb",
                crate::raid::mdadm::samples::UUID_DATA,
                "data",
            ),
        );
        let devices = vec![disk("vda", &[]), disk("vdb", &[])];
        let sel = select(
            &m,
            &devices,
            &[],
            &skip(json!([{"volume_name": "data"}])),
            false,
        );
        assert_eq!(names(&sel), vec!["/dev/vda"]);
        assert_eq!(sel.skipped[0].0, "/dev/vdb");
    }

    #[test]
    fn hints_read_only_and_virtual_media() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("dev/disk/by-label")).unwrap();
        std::os::unix::fs::symlink("../../sdc", d.path().join("dev/disk/by-label/ir-vfd-dev"))
            .unwrap();
        let m = Machine::new(Host::new(d.path()), Arc::new(RecordingRunner::new()));
        let mut ro = disk("vdd", &[]);
        ro.read_only = true;
        let devices = vec![disk("sda", &[]), disk("sdb", &[]), disk("sdc", &[]), ro];
        let hints = skip(json!([{"serial": "SER-sdb"}]));
        let sel = select(&m, &devices, &[], &hints, false);
        assert_eq!(names(&sel), vec!["/dev/sda"]);
        assert_eq!(sel.read_only, vec!["/dev/vdd"]);
        let sel = select(&m, &devices, &[], &hints, true);
        assert!(sel.read_only.is_empty());
        let reasons: Vec<String> = sel
            .skipped
            .iter()
            .map(|(d, w)| format!("{d}: {w}"))
            .collect();
        assert_eq!(
            reasons,
            vec![
                "/dev/sdb: matched by skip_block_devices",
                "/dev/sdc: virtual media device",
                "/dev/vdd: read-only (agent_erase_skip_read_only is true)",
            ]
        );
    }
}
