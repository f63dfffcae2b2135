//! The generic hardware manager: inventory, Linux software RAID with mdadm, disk erasure.

pub mod erase;
pub mod inventory;
pub mod manager;
pub mod raid;

pub use manager::GenericHardwareManager;

use hwmgr::{Cmd, Host, Runner};
use std::sync::Arc;

/// The machine a manager works on: where to read it from and how to run tools on it.
#[derive(Clone)]
pub struct Machine {
    pub host: Host,
    pub runner: Arc<dyn Runner>,
}

impl Machine {
    pub fn new(host: Host, runner: Arc<dyn Runner>) -> Self {
        Machine { host, runner }
    }

    /// After a disk's partition table was wiped on disk, tells the kernel to forget the old
    /// partitions: sysfs (which the RAID planner reads) keeps showing them until a re-read,
    /// and a following create would refuse the disk as "partitioned". Best effort: a busy
    /// disk cannot be re-read, which is logged.
    pub fn reread_partition_table(&self, dev: &str) {
        let Ok(path) = self.host.device(dev) else {
            return;
        };
        let reread = Cmd::new("blockdev").arg("--rereadpt").arg(&path);
        if let Err(e) = self.runner.run(&reread) {
            tracing::info!("{e}; dropping the kernel's partitions of {dev} with partx instead");
            if let Err(e) = self.runner.run(&Cmd::new("partx").arg("-d").arg(&path)) {
                tracing::warn!("the kernel may still list old partitions of {dev}: {e}");
            }
        }
    }
}
