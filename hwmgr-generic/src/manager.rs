//! `GenericHardwareManager`: the manager every machine gets (support GENERIC), with IPA's
//! name, version and step flags (`ironic_python_agent/hardware.py:
//! GenericHardwareManager.get_clean_steps`, `get_deploy_steps`, `get_service_steps`). Its
//! steps are the declarations in [`STEPS`]; it lists only steps it can run.
//!
//! # Where we differ from IPA
//!
//! A RAID configuration in which no logical disk says `"controller": "software"` asks for
//! hardware RAID. IPA's generic manager returns `{}` for it and does nothing, so the step
//! "succeeds" with no RAID built. We decline it (`IncompatibleHardwareMethodError`): a
//! vendor manager that is loaded gets it, and when none is, the conductor's error names
//! every manager's reason (e.g. why the Smart Array manager was not loaded).

use crate::deploy::{Deployer, SharedSettings};
use crate::tools::{self, ToolCmd};
use crate::Machine;
use hwmgr::{
    AgentError, ApplyConfigurationArgs, HardwareManager, LogFile, MissingPrograms, Offer, Step,
    StepCall, StepDecl, StepKind, StepTable, Support, SupportLevel,
};
use serde_json::Value;

/// Programs the RAID create runs (names of [`crate::tools::Program`]): `sgdisk -F` finds the
/// first usable sector of an msdos label, and the rollback of a failed create wipes the new
/// partition tables. Programs whose failure is only logged (`partx -av` and `udevadm settle`
/// after partitioning, the re-read after a wipe) are not listed: their absence disables
/// nothing. `raid.apply_configuration` deletes first by default; the delete's programs are
/// among these.
const RAID_CREATE_PROGRAMS: &[&str] = &["mdadm", "parted", "sgdisk", "wipefs"];
const RAID_DELETE_PROGRAMS: &[&str] = &["mdadm", "wipefs", "parted"];

/// Every step this manager offers, declared once: `steps()` and `execute()` both read it.
pub const STEPS: &[StepDecl<GenericHardwareManager>] = &[
    StepDecl {
        interface: "deploy",
        name: "erase_devices",
        offers: &[Offer::clean(10).abortable()],
        argsinfo: &[],
        // The overwrite is the agent's own; hdparm and nvme make the hardware erases
        // possible (smartctl is optional, as in IPA).
        requires: &["lsblk", "blkid", "mdadm", "blockdev", "hdparm", "nvme"],
        run: |m, call| crate::erase::erase_devices(&m.machine, call, &Default::default()),
    },
    StepDecl {
        interface: "deploy",
        name: "erase_devices_metadata",
        offers: &[Offer::clean(99).abortable(), Offer::deploy(0)],
        argsinfo: &[],
        requires: &["lsblk", "blkid", "wipefs", "blockdev", "dd"],
        run: |m, call| crate::erase::erase_devices_metadata(&m.machine, call),
    },
    StepDecl {
        interface: "deploy",
        name: "erase_devices_express",
        offers: &[Offer::clean(0).abortable()],
        argsinfo: &[],
        requires: &["lsblk", "blkid", "wipefs", "blockdev", "dd", "nvme"],
        run: |m, call| crate::erase::erase_devices_express(&m.machine, call, &Default::default()),
    },
    StepDecl {
        interface: "deploy",
        name: "erase_pstore",
        offers: &[Offer::clean(0).abortable()],
        argsinfo: &[],
        requires: &[],
        run: |m, _call| crate::erase::erase_pstore(&m.machine),
    },
    StepDecl {
        interface: "raid",
        name: "delete_configuration",
        offers: &[Offer::clean(0).abortable(), Offer::service(0)],
        argsinfo: &[],
        requires: RAID_DELETE_PROGRAMS,
        run: |m, call| crate::raid::delete_configuration(&m.machine, call),
    },
    StepDecl::raid_apply_configuration(
        &[Offer::deploy(0), Offer::service(0)],
        RAID_CREATE_PROGRAMS,
        apply_configuration,
    ),
    StepDecl {
        interface: "deploy",
        name: "write_image",
        // Proxied by the conductor's out-of-band step of the same name, so the priority
        // does not matter (`ironic_python_agent/hardware.py:
        // GenericHardwareManager.get_deploy_steps`).
        offers: &[Offer::deploy(0)],
        argsinfo: &[],
        requires: crate::deploy::WRITE_IMAGE_PROGRAMS,
        run: |m, call| m.deploy.write_image(call),
    },
    StepDecl {
        interface: "raid",
        name: "create_configuration",
        offers: &[Offer::clean(0).abortable(), Offer::service(0)],
        argsinfo: &[],
        requires: RAID_CREATE_PROGRAMS,
        run: create_configuration,
    },
    StepDecl {
        interface: "deploy",
        name: "burnin_cpu",
        // IPA lists it for cleaning and servicing (after the RAID steps, as here), manual
        // only and abortable. No program: the burn is the agent's own (`crate::burnin` says
        // where that differs from IPA's stress-ng).
        offers: &[Offer::clean(0).abortable(), Offer::service(0).abortable()],
        argsinfo: &[],
        requires: &[],
        run: |m, call| crate::burnin::burnin_cpu(&m.machine, call),
    },
];

pub struct GenericHardwareManager {
    machine: Machine,
    deploy: Deployer,
}

impl GenericHardwareManager {
    pub fn new(machine: Machine) -> Self {
        Self::with_deploy_settings(machine, SharedSettings::default())
    }

    /// With the agent's deploy options (image download, TLS, lookup config).
    pub fn with_deploy_settings(machine: Machine, settings: SharedSettings) -> Self {
        let deploy = Deployer::new(machine.clone(), settings);
        GenericHardwareManager { machine, deploy }
    }

    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    fn full_sync(&self) -> Result<Value, AgentError> {
        if let Err(e) = self.machine.run(&tools::sync::all()) {
            tracing::warn!("sync failed: {e}");
        }
        Ok(Value::Null)
    }
}

/// Runs a tool for the log bundle; a tool that is missing or fails is left out.
fn tool_output(m: &Machine, name: &str, cmd: ToolCmd) -> Option<LogFile> {
    let out = m.run(&cmd).ok()?;
    Some(LogFile {
        name: name.into(),
        content: format!("{}{}", out.stdout, out.stderr).into_bytes(),
    })
}

impl HardwareManager for GenericHardwareManager {
    fn class_name(&self) -> &str {
        "GenericHardwareManager"
    }

    fn name(&self) -> &str {
        "generic_hardware_manager"
    }

    fn version(&self) -> &str {
        "1.2"
    }

    fn evaluate_support(&self) -> Support {
        Support::new(
            SupportLevel::GENERIC,
            "always loaded: Linux software RAID (mdadm), disk erasure and whole-disk image deployment",
        )
    }

    /// Assembles every md array whose members are present, as IPA does at start-up
    /// (`hardware.py: GenericHardwareManager.evaluate_hardware_support` →
    /// `_md_scan_and_assemble`): after the ramdisk reboots, the arrays cleaning built are
    /// there again for the deploy (the software RAID root), erasure and the inventory. Only
    /// on the real machine (an agent on a fake root must not scan the host's disks), and a
    /// failure (nothing to assemble) is only logged.
    fn initialize(&self) {
        let m = &self.machine;
        if !m.host.is_real() || ::blockdev::list_block_devices(&m.host, false).is_empty() {
            return;
        }
        match m.run(&tools::mdadm::assemble_scan()) {
            Ok(out) => tracing::info!(
                "md arrays assembled at start-up: {}",
                out.stderr.trim().replace('\n', "; ")
            ),
            Err(e) => tracing::info!("{e} (ignored: no md array to assemble)"),
        }
    }

    fn steps(&self, kind: StepKind, _call: &StepCall) -> Vec<Step> {
        STEPS.steps(kind)
    }

    fn execute(&self, method: &str, call: &StepCall) -> Option<Result<Value, AgentError>> {
        if let Some(done) = STEPS.execute(self, method, call) {
            return Some(done);
        }
        match method {
            "get_partition_uuids" => Some(Ok(self.deploy.get_partition_uuids())),
            "install_bootloader" => Some(self.deploy.install_bootloader(call)),
            "full_sync" => Some(self.full_sync()),
            // Not a step: `agent/src/power.rs` before `poweroff -f` / `reboot -f`.
            "prepare_power_off" => {
                crate::raid::quiesce::freeze_before_power_off(&self.machine.host);
                Some(Ok(Value::Null))
            }
            // Not a step: `ironic-agent raid plan` (plans, runs nothing).
            "plan_raid_configuration" => Some(plan_raid_configuration(&self.machine, call)),
            "list_hardware_info" => Some(Ok(crate::inventory::hardware_inventory(
                &self.machine.host,
                self.machine.runner.as_ref(),
            ))),
            // Not a step: the machine's part of in-band inspection (`agent/src/inspection.rs`).
            "collect_inspection_data" => Some(Ok(crate::inspection::collect(
                &self.machine,
                &crate::inspection::InspectionRequest::from_args(&call.args),
            ))),
            _ => None,
        }
    }

    /// The declared steps whose programs are missing, each program with the Debian package
    /// that ships it (what to add to the ramdisk).
    fn missing_programs(&self) -> Vec<MissingPrograms> {
        let mut missing = STEPS.missing_programs(self.machine.runner.as_ref());
        for step in &mut missing {
            for program in &mut step.programs {
                if let Some(p) = crate::tools::Program::from_name(program) {
                    *program = format!("{program} (Debian package {})", p.package());
                }
            }
        }
        missing
    }

    fn collect_system_logs(&self) -> Vec<LogFile> {
        let m = &self.machine;
        let mut files = Vec::new();
        if let Ok(mdstat) = m.host.read("/proc/mdstat") {
            files.push(LogFile {
                name: "mdstat".into(),
                content: mdstat.into_bytes(),
            });
        }
        let listings = [
            ("dmesg", tools::dmesg::all()),
            ("lsblk", tools::lsblk::overview()),
            ("lsblk-full", tools::lsblk::everything_json()),
            ("mdadm-detail-scan", tools::mdadm::detail_scan()),
            ("ip_addr", tools::ip::addresses()),
            ("mount", tools::mount_table::list()),
        ];
        for (name, cmd) in listings {
            files.extend(tool_output(m, name, cmd));
        }
        let mut versions = String::new();
        for cmd in [
            tools::mdadm::version(),
            tools::sgdisk::version(),
            tools::wipefs::version(),
            tools::lsblk::version(),
        ] {
            let program = cmd.program();
            if let Ok(out) = m.run(&cmd) {
                let text = if out.stdout.trim().is_empty() {
                    out.stderr
                } else {
                    out.stdout
                };
                versions += &format!("{program}: {}\n", text.lines().next().unwrap_or("").trim());
            } else {
                versions += &format!("{program}: not available\n");
            }
        }
        files.push(LogFile {
            name: "tool-versions".into(),
            content: versions.into_bytes(),
        });
        files
    }
}

/// `raid.create_configuration`: `node["target_raid_config"]`, software RAID only.
fn create_configuration(m: &GenericHardwareManager, call: &StepCall) -> Result<Value, AgentError> {
    if let Some(config) = call.node_field("target_raid_config") {
        decline_hardware_raid(config)?;
    }
    crate::raid::create_configuration(&m.machine, call)
}

/// Not a step: the plan `create_configuration` would carry out for `args.raid_config` (else
/// the node's `target_raid_config`), as text: the verdict and the exact commands. For
/// `ironic-agent raid plan`, which goes through the dispatcher like a step.
fn plan_raid_configuration(m: &Machine, call: &StepCall) -> Result<Value, AgentError> {
    let raid_config = call
        .args
        .get("raid_config")
        .unwrap_or(&call.node["target_raid_config"]);
    let plan = crate::raid::plan::plan_create(m, &call.node, raid_config)?;
    Ok(Value::String(plan.to_string()))
}

/// `raid.apply_configuration`: the config comes in the step's args.
fn apply_configuration(m: &GenericHardwareManager, call: &StepCall) -> Result<Value, AgentError> {
    let args = ApplyConfigurationArgs::from_call(call)?;
    decline_hardware_raid(&args.raid_config)?;
    crate::raid::apply_configuration(&m.machine, call, &args.raid_config, args.delete_existing)
}

/// A configuration whose logical disks all leave out `"controller": "software"` asks for
/// hardware RAID: not this manager's (see the module docs). A mix is left to the planner,
/// which names the logical disk that lacks the key.
fn decline_hardware_raid(config: &Value) -> Result<(), AgentError> {
    let Some(lds) = config.get("logical_disks").and_then(Value::as_array) else {
        return Ok(());
    };
    let software = |ld: &Value| ld.get("controller").and_then(Value::as_str) == Some("software");
    if lds.is_empty() || lds.iter().any(software) {
        return Ok(());
    }
    Err(AgentError::incompatible(
        "the RAID configuration asks for hardware RAID (no logical disk has \"controller\": \
         \"software\"), and this manager builds only Linux software RAID.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hwmgr::{ErrorKind, StepKind};
    use serde_json::json;
    use std::sync::Arc;
    use testkit::RecordingRunner;

    fn manager(r: &RecordingRunner) -> GenericHardwareManager {
        let host = hwmgr::Host::new("/nonexistent-fake-root");
        GenericHardwareManager::new(Machine::new(host, Arc::new(r.clone())))
    }

    /// What `standby.power_off` asks every manager before `poweroff -f`.
    #[test]
    fn prepare_power_off_freezes_every_md_resync_and_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("sys/block/md127/md");
        std::fs::create_dir_all(&md).unwrap();
        std::fs::write(md.join("sync_action"), "resync\n").unwrap();
        let r = RecordingRunner::new();
        let m = GenericHardwareManager::new(Machine::new(
            hwmgr::Host::new(dir.path()),
            Arc::new(r.clone()),
        ));
        let done = m.execute("prepare_power_off", &StepCall::default());
        assert!(matches!(done, Some(Ok(Value::Null))), "{done:?}");
        assert_eq!(
            std::fs::read_to_string(md.join("sync_action")).unwrap(),
            "frozen"
        );
        assert!(r.calls().is_empty());
    }

    #[test]
    fn hardware_raid_is_declined_before_anything_runs() {
        let r = RecordingRunner::new();
        let m = manager(&r);
        let hw = json!({"logical_disks": [{"size_gb": 50, "raid_level": "1"},
                                          {"size_gb": "MAX", "raid_level": "5", "controller": "Smart Array P440 in Slot 2"}]});
        let call = StepCall::new(
            StepKind::Clean,
            json!({"target_raid_config": hw}),
            json!([]),
            Default::default(),
        );
        let e = m
            .execute("create_configuration", &call)
            .unwrap()
            .unwrap_err();
        assert!(e.is_incompatible(), "{e}");
        assert!(e.details.contains("asks for hardware RAID"), "{e}");
        let mut args = serde_json::Map::new();
        args.insert("raid_config".into(), hw);
        let call = StepCall::new(StepKind::Deploy, json!({}), json!([]), args);
        let e = m
            .execute("apply_configuration", &call)
            .unwrap()
            .unwrap_err();
        assert!(e.is_incompatible(), "{e}");
        assert!(r.calls().is_empty(), "declining runs nothing");
    }

    #[test]
    fn software_and_mixed_configurations_are_planned_here() {
        for cfg in [
            json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1", "controller": "software"}]}),
            json!({"logical_disks": [{"size_gb": 10, "raid_level": "1", "controller": "software"},
                                     {"size_gb": 10, "raid_level": "1"}]}),
            json!({"logical_disks": []}),
        ] {
            assert_eq!(decline_hardware_raid(&cfg), Ok(()), "{cfg}");
        }
        // Mixed: the planner's own refusal, naming the logical disk.
        let r = RecordingRunner::new();
        let call = StepCall::new(
            StepKind::Clean,
            json!({"target_raid_config": {"logical_disks": [
                {"size_gb": 10, "raid_level": "1", "controller": "software"},
                {"size_gb": 10, "raid_level": "1"}]}}),
            json!([]),
            Default::default(),
        );
        let e = manager(&r)
            .execute("create_configuration", &call)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SoftwareRAIDError, "{e}");
    }

    #[test]
    fn steps_needing_missing_programs_are_named() {
        let r = RecordingRunner::new();
        assert!(manager(&r).missing_programs().is_empty());
        r.without_program("mdadm");
        let names: Vec<String> = manager(&r)
            .missing_programs()
            .iter()
            .map(|m| m.step.clone())
            .collect();
        assert_eq!(
            names,
            [
                "deploy.erase_devices",
                "raid.delete_configuration",
                "raid.apply_configuration",
                "raid.create_configuration"
            ]
        );
    }
}
