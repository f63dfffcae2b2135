//! The generic hardware manager: inventory and inspection data, Linux software RAID with
//! mdadm, disk erasure, image deployment.

pub mod burnin;
pub mod deploy;
pub mod erase;
pub mod inspection;
pub mod inventory;
pub mod manager;
pub mod raid;
pub mod tools;

pub use manager::GenericHardwareManager;

use hwmgr::{CmdOutput, CommandError, Host, Runner};
use std::sync::Arc;
use tools::{blockdev, partx, DevPath, ToolCmd};

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

    /// Runs a command of the table, its device arguments resolved under the host root.
    pub fn run(&self, cmd: &ToolCmd) -> Result<CmdOutput, CommandError> {
        self.runner.run(&cmd.resolve(&self.host))
    }

    /// After a disk's partition table was wiped on disk, tells the kernel to forget the old
    /// partitions: sysfs (which the RAID planner reads) keeps showing them until a re-read,
    /// and a following create would refuse the disk as "partitioned". Best effort: a busy
    /// disk cannot be re-read, which is logged.
    pub fn reread_partitions(&self, disk: &DevPath) {
        if let Err(e) = self.run(&blockdev::reread_partition_table(disk)) {
            tracing::info!("{e}; dropping the kernel's partitions of {disk} with partx instead");
            if let Err(e) = self.run(&partx::delete(disk)) {
                tracing::warn!("the kernel may still list old partitions of {disk}: {e}");
            }
        }
    }

    /// [`Machine::reread_partitions`] for a device name that has not been validated yet
    /// (an invalid one is skipped).
    pub fn reread_partition_table(&self, dev: &str) {
        if let Ok(disk) = DevPath::new(dev) {
            self.reread_partitions(&disk);
        }
    }
}
