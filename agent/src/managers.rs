//! The hardware managers this agent ships. All are compiled in and all are evaluated at
//! start-up; a manager that does not fit the machine says why instead of vanishing.

use hwmgr::{HardwareManager, Host, Runner};
use hwmgr_generic::deploy::SharedSettings;
use hwmgr_generic::{GenericHardwareManager, Machine};
use hwmgr_proliant::ProliantHardwareManager;
use std::sync::Arc;

pub fn candidates(
    host: &Host,
    runner: Arc<dyn Runner>,
    deploy: SharedSettings,
) -> Vec<Arc<dyn HardwareManager>> {
    let machine = Machine::new(host.clone(), runner.clone());
    let generic: Arc<dyn HardwareManager> = Arc::new(GenericHardwareManager::with_deploy_settings(
        machine, deploy,
    ));
    // The ProLiant erase sanitizes the controller's drives, then hands every block device
    // to the generic erase, as proliantutils does.
    let proliant = ProliantHardwareManager::new(runner).with_disk_eraser(generic.clone());
    #[allow(unused_mut)]
    let mut managers: Vec<Arc<dyn HardwareManager>> = vec![generic, Arc::new(proliant)];
    #[cfg(feature = "fault-injection")]
    managers.push(Arc::new(fault_injection::FaultInjectionManager));
    managers
}

/// A manager whose only step panics, compiled in only with the `fault-injection` cargo
/// feature, which nothing but the test build enables (`tests/tests/hardening.rs` builds a
/// release binary with it into its own target directory). It exists because no honest input
/// makes a real step panic, yet the release build's behaviour on a panic (an IPA error, the
/// agent lives on) must be tested; the product binary has no such step and no way to add one.
#[cfg(feature = "fault-injection")]
mod fault_injection {
    use hwmgr::{
        AgentError, HardwareManager, Offer, Step, StepCall, StepDecl, StepKind, StepTable, Support,
        SupportLevel,
    };
    use serde_json::Value;

    pub struct FaultInjectionManager;

    const STEPS: &[StepDecl<FaultInjectionManager>] = &[StepDecl {
        interface: "deploy",
        name: "inject_panic",
        offers: &[Offer::clean(0)],
        argsinfo: &[],
        requires: &[],
        run: |_, _| panic!("fault injection: inject_panic was called"),
    }];

    impl HardwareManager for FaultInjectionManager {
        fn class_name(&self) -> &str {
            "FaultInjectionHardwareManager"
        }
        fn name(&self) -> &str {
            "fault_injection_hardware_manager"
        }
        fn version(&self) -> &str {
            "1.0"
        }
        fn evaluate_support(&self) -> Support {
            Support::new(
                SupportLevel::GENERIC,
                "test build only (cargo feature fault-injection)",
            )
        }
        fn steps(&self, kind: StepKind, _: &StepCall) -> Vec<Step> {
            STEPS.steps(kind)
        }
        fn execute(&self, method: &str, call: &StepCall) -> Option<Result<Value, AgentError>> {
            STEPS.execute(self, method, call)
        }
    }
}
