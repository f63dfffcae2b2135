//! Executing a [`Plan`], with a journal and rollback, and the step entry points.

use super::plan::{plan_inner, Action, Plan, PlanEnv};
use super::{base, delete, raid_error, tool_path, DeviceSource, LiveDevices};
use crate::Machine;
use hwmgr::{command_error, AgentError, Cmd, ErrorKind, Host, Result, StepCall};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// `raid.create_configuration`: builds `node["target_raid_config"]` (as IPA, the filtered
/// copy in `driver_internal_info` is ignored). Returns the configuration with each logical
/// disk's `block_devices`.
pub fn create_configuration(m: &Machine, call: &StepCall) -> Result<Value> {
    let cfg = call
        .node_field("target_raid_config")
        .cloned()
        .unwrap_or(Value::Null);
    create_with(m, &LiveDevices(&m.host), &call.node, &cfg)
}

/// `raid.apply_configuration(raid_config, delete_existing)`: validates first, then deletes
/// the existing configuration when asked, then creates.
pub fn apply_configuration(
    m: &Machine,
    call: &StepCall,
    raid_config: &Value,
    delete_existing: bool,
) -> Result<Value> {
    apply_with(
        m,
        &LiveDevices(&m.host),
        &call.node,
        raid_config,
        delete_existing,
    )
}

/// The `delete_existing` step argument: a boolean or a boolean-like string; default true.
pub fn delete_existing_arg(args: &Map<String, Value>) -> Result<bool> {
    match args.get("delete_existing") {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
            "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
            _ => Err(AgentError::new(
                ErrorKind::InvalidCommandParamsError,
                format!("delete_existing must be a boolean, got {s:?}"),
            )),
        },
        Some(o) => Err(AgentError::new(
            ErrorKind::InvalidCommandParamsError,
            format!("delete_existing must be a boolean, got {o}"),
        )),
    }
}

pub fn create_with(
    m: &Machine,
    src: &dyn DeviceSource,
    node: &Value,
    cfg: &Value,
) -> Result<Value> {
    let plan = plan_inner(&PlanEnv::from_source(src), node, cfg, true)?;
    tracing::info!("software RAID plan:\n{plan}");
    execute_plan(m, &plan)
}

pub fn apply_with(
    m: &Machine,
    src: &dyn DeviceSource,
    node: &Value,
    cfg: &Value,
    delete_existing: bool,
) -> Result<Value> {
    // Validate before deleting anything; the disks' current state is not checked here
    // because the delete is about to clear it.
    plan_inner(&PlanEnv::from_source(src), node, cfg, false)?;
    if delete_existing {
        delete::delete_with(m, src, node)?;
    }
    create_with(m, src, node, cfg)
}

/// What this step has written so far, for rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Done {
    Label {
        disk: String,
    },
    Partition {
        disk: String,
        number: u32,
        device: String,
    },
    Array {
        device: String,
        members: Vec<String>,
        created: bool,
    },
}

fn cmd_for(host: &Host, argv: &[String]) -> Result<Cmd> {
    let mut it = argv.iter();
    let program = it.next().cloned().unwrap_or_default();
    let mut cmd = Cmd::new(program);
    for a in it {
        cmd = if a.starts_with("/dev/") {
            cmd.arg(tool_path(host, a)?)
        } else {
            cmd.arg(a)
        };
    }
    Ok(cmd)
}

/// Runs the plan. On failure, undoes everything done so far (reverse order) and returns
/// the error with the rollback report.
pub fn execute_plan(m: &Machine, plan: &Plan) -> Result<Value> {
    let mut journal: Vec<Done> = Vec::new();
    match run_actions(m, plan, &mut journal) {
        Ok(()) => {
            tracing::info!(
                "software RAID created: {}",
                plan.arrays
                    .iter()
                    .map(|a| format!("{} ({})", a.device, a.members.join(" ")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(result(plan))
        }
        Err(e) => {
            let (done, failed) = rollback(m, &journal);
            let mut details = e.details;
            if done.is_empty() && failed.is_empty() {
                details += "; nothing had been written, nothing to roll back";
            } else if !done.is_empty() {
                details += &format!("; rolled back: {}", done.join(", "));
            }
            if !failed.is_empty() {
                details += &format!("; ROLLBACK INCOMPLETE: {}", failed.join("; "));
            }
            tracing::error!("{details}");
            Err(AgentError::new(e.kind, details))
        }
    }
}

fn result(plan: &Plan) -> Value {
    let lds: Vec<Value> = plan
        .logical_disks
        .iter()
        .enumerate()
        .map(|(i, ld)| {
            let mut ld = ld.clone();
            let disks = plan
                .arrays
                .iter()
                .find(|a| a.logical_disk == i)
                .map(|a| a.disks.clone())
                .or_else(|| {
                    plan.kept
                        .iter()
                        .find(|k| k.logical_disk == i)
                        .map(|k| k.disks.clone())
                })
                .unwrap_or_default();
            ld.insert("block_devices".into(), json!(disks));
            Value::Object(ld)
        })
        .collect();
    json!({ "logical_disks": lds })
}

fn run_actions(m: &Machine, plan: &Plan, journal: &mut Vec<Done>) -> Result<()> {
    let host = &m.host;
    let run = |argv: &[String], context: &str| -> Result<hwmgr::CmdOutput> {
        let cmd = cmd_for(host, argv)?;
        m.runner
            .run(&cmd)
            .map_err(|e| command_error(ErrorKind::SoftwareRAIDError, context, &e))
    };
    let mut first_free: HashMap<String, String> = HashMap::new();
    for action in &plan.actions {
        let ff = match action {
            Action::Mkpart { disk, .. } => first_free.get(disk).map(String::as_str),
            _ => None,
        };
        let argvs = plan.action_argv(action, ff);
        match action {
            Action::Label { disk } => {
                journal.push(Done::Label { disk: disk.clone() });
                run(
                    &argvs[0],
                    &format!(
                        "Writing a {} partition table on {disk} failed",
                        plan.table.as_str()
                    ),
                )?;
            }
            Action::FirstFree { disk } => {
                let out = run(
                    &argvs[0],
                    &format!("Finding the first free sector of {disk} failed"),
                )?;
                let last = out
                    .stdout
                    .lines()
                    .rev()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("");
                if last.parse::<u64>().is_err() {
                    return Err(raid_error(format!(
                        "`sgdisk -F {disk}` did not print a sector number (last line {last:?})"
                    )));
                }
                first_free.insert(disk.clone(), last.to_string());
            }
            Action::Mkpart { disk, part } => {
                let Some(p) = plan.disk(disk).and_then(|d| d.partitions.get(*part)) else {
                    return Err(raid_error(format!(
                        "internal error: the plan has no partition {part} on {disk}"
                    )));
                };
                run(
                    &argvs[0],
                    &format!("Creating partition {} failed", p.device),
                )?;
                journal.push(Done::Partition {
                    disk: disk.clone(),
                    number: p.number,
                    device: p.device.clone(),
                });
            }
            Action::Rescan { disk } => {
                if let Err(e) = run(&argvs[0], "rescan") {
                    tracing::warn!(
                        "re-reading the partitions of {disk} failed (ignored): {}",
                        e.details
                    );
                }
                if m.runner.has_program("udevadm") {
                    if let Err(e) = run(&argvs[1], "udevadm settle") {
                        tracing::warn!("{} (ignored)", e.details);
                    }
                }
            }
            Action::Create { array } => {
                let a = &plan.arrays[*array];
                for (member, disk) in a.members.iter().zip(&a.disks) {
                    let (dk, pk) = (base(disk), base(member));
                    if host.exists(format!("/sys/block/{dk}"))
                        && !host.exists(format!("/sys/block/{dk}/{pk}"))
                    {
                        return Err(raid_error(format!(
                            "Creating RAID array {} failed: member {member} is missing (no /sys/block/{dk}/{pk} after partitioning)",
                            a.device
                        )));
                    }
                }
                journal.push(Done::Array {
                    device: a.device.clone(),
                    members: a.members.clone(),
                    created: false,
                });
                run(
                    &argvs[0],
                    &format!("Creating RAID array {} failed", a.device),
                )?;
                if let Some(Done::Array { created, .. }) = journal.last_mut() {
                    *created = true;
                }
                let detail = run(
                    &argvs[1],
                    &format!("Checking RAID array {} failed", a.device),
                )?;
                let present: Vec<String> = super::mdadm::parse_detail(&detail.stdout)
                    .devices
                    .iter()
                    .map(|d| base(d).to_string())
                    .collect();
                for member in a
                    .members
                    .iter()
                    .filter(|mb| !present.iter().any(|p| p == base(mb)))
                {
                    tracing::warn!("{member} is missing from {}; re-adding it", a.device);
                    let argv: Vec<String> = ["mdadm", "--add", &a.device, member]
                        .map(String::from)
                        .to_vec();
                    let mut last = None;
                    for attempt in 1..=3 {
                        match run(
                            &argv,
                            &format!(
                                "Re-adding {member} to {} failed (attempt {attempt} of 3)",
                                a.device
                            ),
                        ) {
                            Ok(_) => {
                                last = None;
                                break;
                            }
                            Err(e) => last = Some(e),
                        }
                    }
                    if let Some(e) = last {
                        return Err(e);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Undoes the journal in reverse order. Returns (what was undone, what failed).
fn rollback(m: &Machine, journal: &[Done]) -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut run = |argv: Vec<&str>, what: String, report_failure: bool| {
        let argv: Vec<String> = argv.into_iter().map(String::from).collect();
        let res = cmd_for(&m.host, &argv).and_then(|c| {
            m.runner
                .run(&c)
                .map_err(|e| command_error(ErrorKind::SoftwareRAIDError, &what, &e))
        });
        match res {
            Ok(_) => done.push(what),
            Err(e) if report_failure => failed.push(e.details),
            Err(e) => tracing::debug!(
                "rollback (expected to fail when nothing was written): {}",
                e.details
            ),
        }
    };
    for entry in journal.iter().rev() {
        match entry {
            Done::Array {
                device,
                members,
                created,
            } => {
                if *created {
                    run(
                        vec!["mdadm", "--stop", device],
                        format!("stopped {device}"),
                        true,
                    );
                }
                for mb in members {
                    run(
                        vec!["mdadm", "--zero-superblock", mb],
                        format!("zeroed the md superblock of {mb}"),
                        *created,
                    );
                }
            }
            Done::Partition {
                disk,
                number,
                device,
            } => {
                let n = number.to_string();
                run(
                    vec!["parted", disk, "-s", "--", "rm", &n],
                    format!("removed partition {device}"),
                    true,
                );
            }
            Done::Label { disk } => {
                run(
                    vec!["wipefs", "-af", disk],
                    format!("wiped the partition table of {disk}"),
                    true,
                );
            }
        }
    }
    (done, failed)
}
