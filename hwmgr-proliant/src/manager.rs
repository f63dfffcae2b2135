//! `ProliantHardwareManager`: the [`HardwareManager`] the agent registers. Its steps are
//! the declarations in [`STEPS`].

use crate::erase::{erase_devices, EraseTiming};
use crate::raid;
use crate::ssacli;
use hwmgr::text::sentence;
use hwmgr::{
    AgentError, ApplyConfigurationArgs, ErrorKind, HardwareManager, MissingPrograms, Offer, Runner,
    Step, StepCall, StepDecl, StepKind, StepTable, Support, SupportLevel,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// proliantutils' flags (`proliantutils/ipa_hw_manager/hardware_manager.py`): priority 0
/// (manual cleaning only), no `abortable`. The firmware (SUM) steps are not offered: this
/// agent cannot run them.
pub const STEPS: &[StepDecl<ProliantHardwareManager>] = &[
    clean_step(
        "raid",
        "create_configuration",
        ProliantHardwareManager::create_configuration,
    ),
    clean_step(
        "raid",
        "delete_configuration",
        ProliantHardwareManager::delete_configuration,
    ),
    clean_step(
        "deploy",
        "erase_devices",
        ProliantHardwareManager::erase_devices,
    ),
    StepDecl::raid_apply_configuration(
        &[Offer::deploy(0)],
        NEEDS_SSACLI,
        ProliantHardwareManager::apply_configuration,
    ),
];

const NEEDS_SSACLI: &[&str] = &[ssacli::PROGRAM];
const CLEAN_ONLY: &[Offer] = &[Offer::clean(0)];

/// A clean step as proliantutils declares it: priority 0, no `abortable`, no `argsinfo`.
const fn clean_step(
    interface: &'static str,
    name: &'static str,
    run: fn(&ProliantHardwareManager, &StepCall) -> Result<Value, AgentError>,
) -> StepDecl<ProliantHardwareManager> {
    StepDecl {
        interface,
        name,
        offers: CLEAN_ONLY,
        argsinfo: &[],
        requires: NEEDS_SSACLI,
        run,
    }
}

/// The HPE Smart Array manager. Cheap to build; it runs nothing until asked.
pub struct ProliantHardwareManager {
    runner: Arc<dyn Runner>,
    erase_timing: EraseTiming,
    /// Erases the block devices after the controller's sanitize (the generic manager).
    disk_eraser: Option<Arc<dyn HardwareManager>>,
}

impl ProliantHardwareManager {
    pub fn new(runner: Arc<dyn Runner>) -> Self {
        ProliantHardwareManager {
            runner,
            erase_timing: EraseTiming::default(),
            disk_eraser: None,
        }
    }

    /// After sanitizing the controller's unassigned drives, `erase_devices` runs `eraser`'s
    /// `erase_devices` for every block device (plain disks, NVMe, the logical drives), as
    /// proliantutils' `ProliantHardwareManager.erase_devices` calls IPA's generic one: on an
    /// HPE machine this step wins the dispatch, and without this tenant data on the disks
    /// outside the controller would survive cleaning.
    pub fn with_disk_eraser(mut self, eraser: Arc<dyn HardwareManager>) -> Self {
        self.disk_eraser = Some(eraser);
        self
    }

    /// How often `erase_devices` re-reads the controller while drives erase (default 10 s).
    pub fn with_erase_poll_interval(mut self, interval: Duration) -> Self {
        self.erase_timing.poll_interval = interval;
        self
    }

    /// How long `erase_devices` waits for the drives before failing (default 24 h).
    pub fn with_erase_timeout(mut self, timeout: Duration) -> Self {
        self.erase_timing.timeout = timeout;
        self
    }

    pub fn erase_timing(&self) -> EraseTiming {
        self.erase_timing
    }

    fn runner(&self) -> &dyn Runner {
        self.runner.as_ref()
    }

    /// `raid.create_configuration`: `node["target_raid_config"]`; nothing to do (and `{}`
    /// returned) when it is missing or empty, as IPA's ProLiant manager does.
    pub fn create_configuration(&self, call: &StepCall) -> Result<Value, AgentError> {
        let cfg = call
            .node_field("target_raid_config")
            .cloned()
            .unwrap_or(json!({}));
        decline_software_raid(&cfg)?;
        if cfg.as_object().is_some_and(|o| o.is_empty()) {
            tracing::info!("target_raid_config is empty; no Smart Array logical drive to create");
            return Ok(json!({}));
        }
        raid::create(self.runner(), call.error_kind(), &cfg).map_err(one_sentence)
    }

    pub fn delete_configuration(&self, call: &StepCall) -> Result<Value, AgentError> {
        if let Some(cfg) = call.node_field("target_raid_config") {
            decline_software_raid(cfg)?;
        }
        raid::delete(self.runner(), call.error_kind()).map_err(one_sentence)
    }

    pub fn apply_configuration(&self, call: &StepCall) -> Result<Value, AgentError> {
        if let Some(cfg) = call.args.get("raid_config") {
            decline_software_raid(cfg)?;
        }
        let args = ApplyConfigurationArgs::from_call(call)?;
        raid::apply(
            self.runner(),
            call.error_kind(),
            &args.raid_config,
            args.delete_existing,
        )
        .map_err(one_sentence)
    }

    pub fn erase_devices(&self, call: &StepCall) -> Result<Value, AgentError> {
        let controllers = erase_devices(self.runner(), self.erase_timing).map_err(one_sentence)?;
        let Some(eraser) = &self.disk_eraser else {
            return Ok(controllers);
        };
        let disks = match eraser.execute("erase_devices", call) {
            None => return Ok(controllers),
            Some(Err(mut e)) => {
                e.details = sentence(&format!(
                    "The Smart Array drives were sanitized, but erasing the block devices \
                     failed: {}",
                    e.details
                ));
                return Err(e);
            }
            Some(Ok(v)) => v,
        };
        Ok(merge_erase_results(controllers, disks))
    }
}

/// proliantutils' result: `{"Disk Erase Status": ...}` plus the generic step's keys.
fn merge_erase_results(controllers: Value, disks: Value) -> Value {
    let mut out = match controllers {
        Value::Object(m) => m,
        other => serde_json::Map::from_iter([("Disk Erase Status".to_string(), other)]),
    };
    match disks {
        Value::Object(m) => out.extend(m),
        Value::Null => {}
        other => {
            out.insert("Block Device Erase".to_string(), other);
        }
    }
    Value::Object(out)
}

/// Step errors reach the operator as sentences ending with exactly one full stop, whatever
/// the tool output they quote ends with.
fn one_sentence(mut e: AgentError) -> AgentError {
    e.details = sentence(&e.details);
    e
}

/// A config that asks only for software RAID is the generic manager's job: decline, so
/// dispatch falls through to it (IPA's ProLiant manager would grab it and fail).
fn decline_software_raid(config: &Value) -> Result<(), AgentError> {
    if is_software_only(config) {
        return Err(AgentError::incompatible(
            "the RAID configuration asks for software RAID (controller: software), which is \
             the generic manager's.",
        ));
    }
    Ok(())
}

impl HardwareManager for ProliantHardwareManager {
    fn class_name(&self) -> &str {
        "ProliantHardwareManager"
    }

    /// proliantutils sets no `HARDWARE_MANAGER_NAME`, so IPA reports the class name.
    fn name(&self) -> &str {
        "ProliantHardwareManager"
    }

    fn version(&self) -> &str {
        "3"
    }

    /// Unlike proliantutils (always SERVICE_PROVIDER), we load only where a Smart Array
    /// controller in RAID mode answers, so machines without one keep the generic steps.
    fn evaluate_support(&self) -> Support {
        if !self.runner.has_program(ssacli::PROGRAM) {
            return Support::none("no `ssacli` on PATH");
        }
        let server = match ssacli::read_server(self.runner(), ErrorKind::HardwareManagerNotFound) {
            Ok(s) => s,
            Err(e) if e.details.contains("No controllers detected") => {
                return Support::none("ssacli found no Smart Array controller")
            }
            Err(e) => return Support::none(e.details.clone()),
        };
        if server.controllers.is_empty() {
            return Support::none("ssacli found no Smart Array controller");
        }
        let raid: Vec<&str> = server
            .controllers
            .iter()
            .filter(|c| !c.is_hba())
            .map(|c| c.id.as_str())
            .collect();
        if raid.is_empty() {
            let all: Vec<&str> = server.controllers.iter().map(|c| c.id.as_str()).collect();
            return Support::none(format!(
                "every controller is in HBA mode ({}); switch one to RAID mode to build \
                 logical drives",
                all.join(", ")
            ));
        }
        Support::new(
            SupportLevel::SERVICE_PROVIDER,
            format!(
                "Smart Array controller(s) in RAID mode: {}",
                raid.join(", ")
            ),
        )
    }

    fn steps(&self, kind: StepKind, _call: &StepCall) -> Vec<Step> {
        STEPS.steps(kind)
    }

    fn execute(&self, method: &str, call: &StepCall) -> Option<Result<Value, AgentError>> {
        STEPS.execute(self, method, call)
    }

    fn missing_programs(&self) -> Vec<MissingPrograms> {
        STEPS.missing_programs(self.runner())
    }
}

/// True when every logical disk of a RAID config says `controller: software`.
fn is_software_only(config: &Value) -> bool {
    config["logical_disks"].as_array().is_some_and(|lds| {
        !lds.is_empty()
            && lds
                .iter()
                .all(|ld| ld["controller"].as_str() == Some("software"))
    })
}

#[cfg(test)]
mod software_fallthrough_tests {
    use super::*;
    use hwmgr::StepKind;
    use serde_json::json;
    use std::sync::Arc;
    use testkit::RecordingRunner;

    #[test]
    fn software_raid_configs_are_declined() {
        let r = RecordingRunner::new();
        let m = ProliantHardwareManager::new(Arc::new(r.clone()));
        let sw = json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1", "controller": "software"}]});
        let call = StepCall::new(
            StepKind::Clean,
            json!({"target_raid_config": sw}),
            json!([]),
            Default::default(),
        );
        for method in ["create_configuration", "delete_configuration"] {
            let e = m.execute(method, &call).unwrap().unwrap_err();
            assert!(e.is_incompatible(), "{method}: {e}");
        }
        let mut args = serde_json::Map::new();
        args.insert("raid_config".into(), sw);
        let call = StepCall::new(StepKind::Deploy, json!({}), json!([]), args);
        assert!(m
            .execute("apply_configuration", &call)
            .unwrap()
            .unwrap_err()
            .is_incompatible());
        assert!(r.calls().is_empty(), "declining runs no ssacli command");
        let mixed = json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software"},
                                             {"size_gb": 10, "raid_level": "1"}]});
        assert!(!is_software_only(&mixed));
    }
}
