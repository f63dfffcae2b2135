//! Block devices, read through [`hwmgr::Host`]: discovery from sysfs (disks, partitions,
//! holders, md arrays), udev's database when udev ran, device hints (root device hints and
//! RAID `physical_disks`), and a typed model of `lsblk --json`.
//!
//! Managers and the agent use this crate; [`hwmgr`] stays the contract and knows nothing
//! about block devices.

mod bus;
mod device;
mod hints;
pub mod lsblk;
mod natural;
mod sysfs;
mod udev;

pub use bus::pci_address_in;
pub use device::{find_by_name, BlockDevice, DevType, GIB};
pub use hints::{
    device_hint_matches, find_devices_by_hints, match_device_hints, DeviceHints, VALID_DEVICE_HINTS,
};
pub use natural::natural_cmp;
pub use sysfs::{list_block_devices, list_md_arrays, partition_number, resolved_sys_path};

/// Helpers shared by the unit tests of discovery and hints.
#[cfg(test)]
mod test_support {
    use crate::BlockDevice;
    use testkit::fake_machine::FakeMachine;

    pub fn names(devs: &[BlockDevice]) -> Vec<&str> {
        devs.iter().map(|d| d.name.as_str()).collect()
    }

    /// An empty fake machine in a temporary directory (kept alive by the returned guard).
    pub fn fake() -> (tempfile::TempDir, FakeMachine) {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path());
        (d, m)
    }
}
