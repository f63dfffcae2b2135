//! The generic hardware manager: inventory, Linux software RAID with mdadm, disk erasure.

pub mod erase;
pub mod inventory;
pub mod manager;
pub mod raid;

pub use manager::GenericHardwareManager;

use hwmgr::{Host, Runner};
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
}
