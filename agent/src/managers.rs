//! The hardware managers this agent ships. All are compiled in and all are evaluated at
//! start-up; a manager that does not fit the machine says why instead of vanishing.

use hwmgr::{HardwareManager, Host, Runner};
use hwmgr_generic::{GenericHardwareManager, Machine};
use hwmgr_proliant::ProliantHardwareManager;
use std::sync::Arc;

pub fn candidates(host: &Host, runner: Arc<dyn Runner>) -> Vec<Arc<dyn HardwareManager>> {
    let machine = Machine::new(host.clone(), runner.clone());
    vec![
        Arc::new(GenericHardwareManager::new(machine)),
        Arc::new(ProliantHardwareManager::new(runner)),
    ]
}
