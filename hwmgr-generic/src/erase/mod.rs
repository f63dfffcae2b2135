//! Disk erasure: the clean steps `deploy.erase_devices` (priority 10),
//! `deploy.erase_devices_metadata` (99), `deploy.erase_devices_express` (0) and
//! `deploy.erase_pstore` (0) of IPA's `GenericHardwareManager`
//! (`ironic_python_agent/hardware.py`).
//!
//! # Modules
//!
//! * [`devices`]: `erase_devices`, from selection to result.
//! * [`select`]: which devices are written (our RAID rule, read-only, skip lists).
//! * [`safety`]: the special-filesystem check (GPFS, VMFS, gfs2) and what lsblk and blkid
//!   say about a device.
//! * [`options`]: the node options from `driver_internal_info`, parsed strictly.
//! * [`plan`]: the per-device decision tree (NVMe format, ATA secure erase, overwrite),
//!   made before anything is written; [`nvme`] and [`ata`] hold the probes, parsers and
//!   the tools' state machines. Every command line comes from the generic manager's table
//!   of programs (`crate::tools`: `drive.rs` for nvme, hdparm, smartctl and blkid).
//! * [`engine`]: all devices in parallel, progress, cancellation, per-device results;
//!   [`writer`] the direct-I/O overwrite and its verification; [`progress`] the log lines.
//! * [`metadata`], [`express`], [`pstore`]: the other three steps.
//!
//! # Where `erase_devices` differs from IPA, and why
//!
//! * **Every byte of every physical disk that is not skipped.** IPA erases an assembled
//!   md array and skips its members, leaving their other partitions, gaps and superblocks
//!   (tenant data). We stop arrays that are not kept and erase their members whole; kept
//!   arrays (`volume_name` in `skip_block_devices`) are left alone with their members
//!   ([`select`]).
//! * **Validate first.** Read-only disks (without `agent_erase_skip_read_only`), frozen
//!   ATA drives, NVMe controllers that cannot format (without the overwrite fallback),
//!   protected file systems and malformed options fail the step before anything is
//!   written; IPA finds most of these only when a thread reaches that device, after
//!   other disks were erased. Every such error names the device and the option or action
//!   that resolves it.
//! * **Parallel by default.** All devices at once unless the conductor sends
//!   `disk_erasure_concurrency` (IPA: one at a time when it is absent).
//! * **The overwrite is ours, not `shred`.** Same passes (`agent_erase_devices_iterations`
//!   random, then zeros with `agent_erase_devices_zeroize`), written with large aligned
//!   `O_DIRECT` writes at device speed, a cache flush per pass, and sampled read-back
//!   verification ([`writer`]). Iterations 0 without zeroize is refused (IPA's `shred`
//!   would write nothing and report success).
//! * **A result per device** (method, bytes, seconds, verification; skipped devices with
//!   the reason) instead of `null`, and all failures reported together at the end, each
//!   naming the device, the command, its exit code and stderr. A failing or vanishing
//!   device does not stop the others.
//! * **Hardware erase checks.** A hardware erase is verified by reading samples before and
//!   after: each must have changed or hold one repeated byte. `nvme format` is not used
//!   when it would also format namespaces that are not being erased (FNA bits 0/1). A
//!   failed format says the namespace may be half-formatted. After an ATA erase that
//!   leaves security enabled, the password is removed so the drive cannot lock at power-on.
//! * **Options are parsed strictly** (oslo booleans, integers); IPA uses Python
//!   truthiness, so `"False"` would mean true there.
//! * **Cancellation.** When the agent shuts down ([`hwmgr::cancel::global`]), writers stop
//!   between two writes, devices not yet started are not started, and the error lists the
//!   devices finished, stopped part-way and not started. A drive-internal erase (NVMe
//!   format, ATA SECURITY ERASE UNIT) cannot be interrupted; the agent waits for it.
//!
//! # ProLiant machines: who erases what
//!
//! On a machine where the ProLiant manager is loaded (a Smart Array in RAID mode), IPA's
//! dispatch rules make its `erase_devices` (priority 0, as proliantutils declares it) win
//! the step listing and the execution, exactly as with proliantutils: it sanitizes the
//! controller's **unassigned physical drives**, which the operating system cannot see.
//! This module erases what the operating system sees as block devices: plain disks,
//! NVMe namespaces, and the controller's **logical drives** (`/dev/sdX`, erased by
//! overwrite like any disk, since they hold tenant data a controller sanitize of
//! unassigned drives never reaches). As proliantutils' `erase_devices` calls IPA's, the
//! ProLiant step runs this one after its sanitize (`ProliantHardwareManager::
//! with_disk_eraser`, wired in `agent/src/managers.rs`) and returns both results. Because
//! proliantutils declares the step with priority 0, automated cleaning on such a machine
//! erases only when the conductor sets `[deploy]erase_devices_priority`, as with IPA.

pub mod ata;
pub mod devices;
pub mod engine;
pub mod express;
pub mod metadata;
pub mod nvme;
pub mod options;
pub mod plan;
pub mod progress;
pub mod pstore;
pub mod safety;
pub mod select;
pub mod writer;

#[cfg(test)]
mod testutil;

pub use devices::erase_devices;
pub use express::erase_devices_express;
pub use metadata::{destroy_disk_metadata, erase_devices_metadata, erase_devices_metadata_on};
pub use options::NodeOptions;
pub use pstore::erase_pstore;

/// The machine's disks with their partitions, and every md array (inactive ones too).
fn live_devices(
    m: &crate::Machine,
) -> (Vec<::blockdev::BlockDevice>, Vec<::blockdev::BlockDevice>) {
    (
        ::blockdev::list_block_devices(&m.host, true),
        ::blockdev::list_md_arrays(&m.host),
    )
}

/// Agent options that affect erasure.
#[derive(Debug, Clone)]
pub struct EraseOptions {
    /// `ipa-guard-special-filesystems` (default true).
    pub guard_special_filesystems: bool,
}

impl Default for EraseOptions {
    fn default() -> Self {
        EraseOptions {
            guard_special_filesystems: true,
        }
    }
}
