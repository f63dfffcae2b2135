//! `GenericHardwareManager`: the manager every machine gets (support GENERIC), with IPA's
//! name, version and step flags (`ipa-protocol.md` 7.3). It lists only steps it can run.

use crate::Machine;
use hwmgr::{
    AgentError, Cmd, HardwareManager, LogFile, Step, StepCall, StepKind, Support, SupportLevel,
};
use serde_json::Value;

pub struct GenericHardwareManager {
    machine: Machine,
}

impl GenericHardwareManager {
    pub fn new(machine: Machine) -> Self {
        GenericHardwareManager { machine }
    }

    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    fn full_sync(&self) -> Result<Value, AgentError> {
        if let Err(e) = self.machine.runner.run(&Cmd::new("sync")) {
            tracing::warn!("sync failed: {e}");
        }
        Ok(Value::Null)
    }
}

/// Runs a tool for the log bundle; a tool that is missing or fails is left out.
fn tool_output(m: &Machine, name: &str, program: &str, args: &[&str]) -> Option<LogFile> {
    let out = m.runner.run(&Cmd::new(program).args(args)).ok()?;
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
        let mut reason =
            "always loaded: Linux software RAID (mdadm) and disk metadata erase".to_string();
        if let Some(missing) = crate::tools::describe_missing(&self.machine.missing_programs()) {
            reason += &format!("; {missing}");
        }
        Support::new(SupportLevel::GENERIC, reason)
    }

    fn steps(&self, kind: StepKind, _call: &StepCall) -> Vec<Step> {
        match kind {
            StepKind::Clean => vec![
                Step::new("deploy", "erase_devices_metadata", 99).abortable(true),
                Step::new("raid", "delete_configuration", 0).abortable(true),
                Step::new("raid", "create_configuration", 0).abortable(true),
            ],
            StepKind::Deploy => vec![
                Step::new("deploy", "erase_devices_metadata", 0),
                apply_configuration_step(),
            ],
            StepKind::Service => vec![
                Step::new("raid", "delete_configuration", 0),
                apply_configuration_step(),
                Step::new("raid", "create_configuration", 0),
            ],
        }
    }

    fn execute(&self, method: &str, call: &StepCall) -> Option<Result<Value, AgentError>> {
        let m = &self.machine;
        match method {
            "create_configuration" => Some(crate::raid::create_configuration(m, call)),
            "delete_configuration" => Some(crate::raid::delete_configuration(m, call)),
            "apply_configuration" => Some(apply_configuration(m, call)),
            "erase_devices_metadata" => Some(crate::erase::erase_devices_metadata(m, call)),
            "full_sync" => Some(self.full_sync()),
            "list_hardware_info" => Some(Ok(crate::inventory::hardware_inventory(
                &self.machine.host,
                self.machine.runner.as_ref(),
            ))),
            _ => None,
        }
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
        let tools: [(&str, &str, &[&str]); 6] = [
            ("dmesg", "dmesg", &[]),
            (
                "lsblk",
                "lsblk",
                &[
                    "-bia",
                    "-o",
                    "KNAME,MODEL,SIZE,ROTA,TYPE,TRAN,RO,MOUNTPOINT",
                ],
            ),
            ("lsblk-full", "lsblk", &["--json", "-O", "-b"]),
            (
                "mdadm-detail-scan",
                "mdadm",
                &["--detail", "--scan", "--verbose"],
            ),
            ("ip_addr", "ip", &["addr"]),
            ("mount", "mount", &[]),
        ];
        for (name, program, args) in tools {
            files.extend(tool_output(m, name, program, args));
        }
        let mut versions = String::new();
        for (program, flag) in [
            ("mdadm", "--version"),
            ("sgdisk", "--version"),
            ("wipefs", "--version"),
            ("lsblk", "--version"),
        ] {
            if let Ok(out) = m.runner.run(&Cmd::new(program).arg(flag)) {
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

/// `raid.apply_configuration`: the config comes in the step's args.
fn apply_configuration(m: &Machine, call: &StepCall) -> Result<Value, AgentError> {
    let Some(raid_config) = call.args.get("raid_config") else {
        return Err(AgentError::new(
            hwmgr::ErrorKind::InvalidCommandParamsError,
            "raid.apply_configuration needs the argument raid_config (a target_raid_config)",
        ));
    };
    let delete_existing = crate::raid::delete_existing_arg(&call.args)?;
    crate::raid::apply_configuration(m, call, raid_config, delete_existing)
}

fn apply_configuration_step() -> Step {
    Step::new("raid", "apply_configuration", 0)
        .arg("raid_config", "The RAID configuration to apply.", true)
        .arg("delete_existing", "Setting this to 'True' indicates to delete existing RAID configuration prior to creating the new configuration. Default value is 'True'.", false)
}
