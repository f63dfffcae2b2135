//! Software RAID with mdadm (IPA `hardware.py: GenericHardwareManager.create_configuration`,
//! `delete_configuration`, `apply_configuration`, and `raid_utils.py`): validation,
//! planning, creation with rollback, and deletion.
//!
//! # Entry points for the manager
//!
//! * [`create_configuration`]`(m, call)`: clean/service step; reads
//!   `node["target_raid_config"]`.
//! * [`apply_configuration`]`(m, call, raid_config, delete_existing)`: deploy/service step.
//! * [`delete_configuration`]`(m, call)`: returns `null`.
//! * [`plan_create`]`(m, node, raid_config)`: the dry run behind `ironic-agent raid plan`;
//!   [`Plan`] prints the verdict and the exact commands.
//!
//! # How it works
//!
//! Creation is planned completely **before** anything is written ([`plan`]): the member
//! disks, the partition table, every partition's start and end, the partition device
//! names and the mdadm commands (typed commands of [`crate::tools`], never argv strings).
//! Every problem found (IPA's rules and the checks against the real disks) is reported
//! together in one `SoftwareRAIDError` ("Could not validate Software RAID config for
//! <uuid>: p1; p2"); a refused plan runs no command at all. Execution ([`create`]) follows
//! the plan and keeps a journal; when a command fails part-way, everything the step
//! created is undone in reverse order, and the error ([`report::CreateFailure`]) says what
//! failed (command, exit code, stderr), what was undone and what could not be.
//!
//! # Decisions (where this differs from, or pins down, IPA)
//!
//! * **Empty `target_raid_config`**: IPA returns `{}`, which the conductor rejects with an
//!   unhelpful message. We return a `SoftwareRAIDError` that says the config is empty and
//!   how to set it.
//! * **`volume_name`** must be 1 to 32 characters of `[A-Za-z0-9._-]`, not starting with
//!   `-` or `.` ([`crate::tools::mdadm::ArrayName`]), checked when the plan is made. IPA
//!   passes any string to `mdadm --name`, so `"--force"` or `"/dev/../etc/passwd"` reach
//!   mdadm after the disks were partitioned; we refuse them before anything is written.
//! * **Level minimums** are checked on the disks a logical disk actually gets (IPA only
//!   counts all disks of the machine, for 5 and 6), with mdadm's minimums: RAID-0 ≥ 1,
//!   RAID-1 ≥ 1, RAID-5 ≥ 2, RAID-1+0 ≥ 2, RAID-6 ≥ 4. One-member RAID-0/1 is what IPA
//!   builds (`mdadm --force`) on a one-disk machine; RAID-5 and RAID-1+0 on two disks give
//!   no more than a mirror. Both are built, with a note in the plan. (IPA also refuses
//!   RAID-5 when the whole machine has fewer than 3 disks; we build what mdadm builds.)
//! * **The skip list never degrades an array**: when `skip_block_devices` hints leave a
//!   RAID-1 without `physical_disks` on a single disk, the plan is refused, naming the
//!   skipped disks and suggesting `physical_disks` (IPA builds a one-member RAID-1).
//! * **Sizes are checked** per member disk before writing: the first partition starts at
//!   551 MiB (uefi: 1 MiB to 551 MiB is the ESP slot `install_bootloader` fills, [`esp`]), 8 MiB (bios + gpt) or the first usable sector (bios + msdos, assumed
//!   2048 sectors when planning); partition ends are absolute GiB offsets as in IPA (so the
//!   first array is slightly smaller than `size_gb`); GPT keeps its backup header at the
//!   end (33 sectors at 512 B, 5 at 4 KiB); msdos partitions may not end beyond 2^32
//!   sectors; every partition must get at least 16 MiB. `size_gb: 0` cannot be built.
//! * **Member disks**: only whole disks (`DevType::Disk`; not md arrays, not loop devices).
//!   Without `physical_disks`, read-only disks and disks matched by `skip_block_devices`
//!   hints are left out (noted in the plan); a hint that selects one is an error. A disk
//!   with partitions or holders (in use by md/dm) is refused, naming the device.
//! * **Array names**: `/dev/md/<volume_name>`, else `/dev/md<i>` named `md<i>` (IPA's
//!   name). `--metadata=1.2`.
//! * **Partition device names** are computed with the kernel's rule (`p` between disk and
//!   number when the disk name ends in a digit: `nvme0n1p1`, `mmcblk0p1`, `loop0p1`,
//!   `sda1`), not IPA's "contains nvme". Before `mdadm --create`, each member is checked in
//!   sysfs when the disk is known there; a member that did not appear aborts (rollback).
//! * **Disks are partitioned side by side** (up to 8 at a time; IPA:
//!   `raid_utils.create_raid_partition_tables` goes one disk after the other), each disk's
//!   label, `sgdisk -F`, partitions and rescans in the plan's order; the arrays are created
//!   once every disk is done. A failure on one disk stops the others before their next
//!   command and everything written on any disk is rolled back ([`create`]).
//! * `partx -av` and `udevadm settle` failures are logged, not fatal (as IPA);
//!   `udevadm settle` is skipped when udevadm is not installed (the ramdisk has no udev).
//! * **Re-add**: after `mdadm --create`, members missing from `mdadm --detail` are re-added
//!   (3 attempts each); still failing aborts with rollback.
//! * **Result**: the input `logical_disks` (input order, fields as given) each with
//!   `block_devices`: the holder disks of that array.
//! * **Delete** also zeroes stray superblocks on every disk and partition (not only those
//!   of assembled arrays) and wipes the disks they were on, so `delete` → `create` works
//!   from any state. Failures of `--stop`, `--zero-superblock` or the holder `wipefs` are
//!   collected and reported together at the end (IPA only logs them).
//! * **skip_block_devices**: arrays named by `volume_name` entries survive delete and
//!   create (create keeps an existing one instead of recreating it); disks matched by hint
//!   entries are never wiped or partitioned. Adding new arrays on the disks of a kept array
//!   (IPA's partition re-use) is not supported and is refused with a clear message.

pub mod create;
pub mod delete;
pub mod esp;
pub mod mdadm;
pub mod plan;
pub mod quiesce;
pub mod report;

#[cfg(test)]
mod tests;

pub use create::{apply_configuration, create_configuration, execute_plan};
pub use delete::{delete_configuration, delete_with};
pub use plan::{plan_create, plan_create_with, BootMode, PartTable, Plan, PlanEnv};

use crate::tools::DevPath;
use blockdev::{BlockDevice, DevType, DeviceHints};
use hwmgr::{AgentError, ErrorKind, Host, Result};
use serde_json::Value;

/// Where RAID code gets its view of the machine's block devices. The live one reads
/// sysfs; tests script one, so unit tests never depend on sysfs discovery.
pub trait DeviceSource {
    /// Disks (incl. md arrays) and, with `with_partitions`, partitions.
    fn block_devices(&self, with_partitions: bool) -> Vec<BlockDevice>;
    /// Every md array, including inactive/empty ones.
    fn md_arrays(&self) -> Vec<BlockDevice>;
    /// Whether the ramdisk itself booted in UEFI mode.
    fn ramdisk_is_uefi(&self) -> bool {
        false
    }
}

/// The real machine, through [`Host`].
pub struct LiveDevices<'a>(pub &'a Host);

impl DeviceSource for LiveDevices<'_> {
    fn block_devices(&self, with_partitions: bool) -> Vec<BlockDevice> {
        blockdev::list_block_devices(self.0, with_partitions)
    }
    fn md_arrays(&self) -> Vec<BlockDevice> {
        blockdev::list_md_arrays(self.0)
    }
    fn ramdisk_is_uefi(&self) -> bool {
        self.0.exists("/sys/firmware/efi")
    }
}

pub(crate) fn raid_error(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::SoftwareRAIDError, details)
}

/// `node.properties.skip_block_devices`, split as IPA does
/// (`hardware.py: get_skip_list_from_node_for_raids` / `_for_disks`).
#[derive(Debug, Clone, Default)]
pub struct SkipList {
    /// Software RAID arrays to keep.
    pub volume_names: Vec<String>,
    /// Device hints of disks never to touch.
    pub disk_hints: Vec<DeviceHints>,
}

impl SkipList {
    /// Parses the skip list. Invalid hints are an error: guessing could wipe a disk the
    /// operator meant to protect.
    pub fn from_node(node: &Value, kind: ErrorKind) -> Result<SkipList> {
        let mut out = SkipList::default();
        let Some(list) = node
            .get("properties")
            .and_then(|p| p.get("skip_block_devices"))
            .filter(|v| !v.is_null())
        else {
            return Ok(out);
        };
        let Some(items) = list.as_array() else {
            return Err(AgentError::new(
                kind,
                format!("properties.skip_block_devices must be a list of objects, got {list}"),
            ));
        };
        for item in items {
            if let Some(v) = item.get("volume_name") {
                match v.as_str() {
                    Some(s) => out.volume_names.push(s.to_string()),
                    None => {
                        return Err(AgentError::new(
                            kind,
                            format!("skip_block_devices: volume_name must be a string in {item}"),
                        ))
                    }
                }
                continue;
            }
            let hints = DeviceHints::parse(item).map_err(|e| {
                AgentError::new(
                    kind,
                    format!("skip_block_devices entry {item} is invalid: {e}"),
                )
            })?;
            out.disk_hints.push(hints);
        }
        Ok(out)
    }

    /// True if a hint entry matches the disk (or, for a partition, its disk in `all`).
    pub fn skips_disk(&self, dev: &BlockDevice, all: &[BlockDevice]) -> bool {
        if self.disk_hints.iter().any(|h| h.matches(dev)) {
            return true;
        }
        dev.parent
            .as_deref()
            .and_then(|p| blockdev::find_by_name(all, p))
            .is_some_and(|d| self.disk_hints.iter().any(|h| h.matches(d)))
    }

    pub fn keeps_volume(&self, name: Option<&str>) -> bool {
        name.is_some_and(|n| self.volume_names.iter().any(|v| v == n))
    }
}

/// The disk a member device belongs to (`/dev/sda1` → `/dev/sda`), from the device list,
/// else by the kernel's partition naming rule; a whole-disk member is its own disk.
pub(crate) fn parent_disk(devices: &[BlockDevice], member: &str) -> String {
    if let Some(d) = blockdev::find_by_name(devices, member) {
        if d.dev_type == DevType::Disk {
            return d.name.clone();
        }
    }
    let as_path = DevPath::new(member).ok();
    for d in devices.iter().filter(|d| d.dev_type == DevType::Disk) {
        let by_rule = || {
            let disk = DevPath::new(d.name.as_str()).ok()?;
            disk.partition_number(as_path.as_ref()?)
        };
        if d.partitions.iter().any(|p| p == member) || by_rule().is_some() {
            return d.name.clone();
        }
    }
    member.to_string()
}
