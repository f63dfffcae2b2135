//! Executing a [`Plan`], with a journal and rollback, and the step entry points.
//!
//! Every command is a typed [`ToolCmd`] of the plan; the journal records what was written
//! before (or, for a partition table, while) it is written, so a failure at any point is
//! undone in reverse order ([`rollback`]) and reported as a [`CreateFailure`].
//!
//! The disks are partitioned side by side (`partition_disks`; IPA's
//! `raid_utils.create_raid_partition_tables` goes one disk after the other): each disk's own
//! actions (label, `sgdisk -F`, partitions, rescans) keep the plan's order, and only
//! when every disk is done do the arrays get created, in the plan's order. Every disk keeps
//! its own journal while it works, so what a failed or crashed disk — or any other disk,
//! which stops before its next action once one has failed — wrote is rolled back too.

use super::plan::{plan_inner, Action, Plan, PlanEnv, PlannedArray, PlannedPartition};
use super::report::{CreateCause, CreateFailure, ToolFailure, Undo, UndoFailure};
use super::{delete, DeviceSource, LiveDevices};
use crate::tools::parted::Start;
use crate::tools::{mdadm, sgdisk, DevPath, Program, ToolCmd};
use crate::Machine;
use hwmgr::{CmdOutput, Result, StepCall};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

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
        disk: DevPath,
    },
    Partition {
        disk: DevPath,
        number: u32,
        device: DevPath,
    },
    Array {
        device: DevPath,
        members: Vec<DevPath>,
        created: bool,
    },
}

/// Runs the plan. On failure, undoes everything done so far (reverse order) and returns
/// the error with the rollback report.
pub fn execute_plan(m: &Machine, plan: &Plan) -> Result<Value> {
    run_plan(m, plan).map_err(|f| f.to_agent_error())
}

/// [`execute_plan`], with the failure as a value.
pub(crate) fn run_plan(m: &Machine, plan: &Plan) -> std::result::Result<Value, Box<CreateFailure>> {
    // The disks' journals first, then the arrays': rollback undoes the arrays, then each
    // disk's partitions and label in reverse.
    let mut journal = Vec::new();
    let outcome = partition_disks(m, plan, &mut journal).and_then(|()| {
        let mut run = Run::new(m, plan, &mut journal);
        plan.actions
            .iter()
            .filter(|a| matches!(a, Action::Create { .. }))
            .try_for_each(|a| run.action(a))
    });
    match outcome {
        Ok(()) => {
            let built: Vec<String> = plan
                .arrays
                .iter()
                .map(|a| format!("{} ({})", a.device, join(&a.members)))
                .collect();
            tracing::info!("software RAID created: {}", built.join(", "));
            Ok(result(plan))
        }
        Err(cause) => {
            let (undone, not_undone) = rollback(m, &journal);
            let failure = CreateFailure {
                cause,
                undone,
                not_undone,
            };
            tracing::error!("{failure}");
            Err(Box::new(failure))
        }
    }
}

fn join(devs: &[DevPath]) -> String {
    devs.iter()
        .map(DevPath::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

fn result(plan: &Plan) -> Value {
    let lds: Vec<Value> = plan
        .logical_disks
        .iter()
        .enumerate()
        .map(|(i, ld)| {
            let mut ld = ld.clone();
            let disks: Vec<String> = plan
                .arrays
                .iter()
                .find(|a| a.logical_disk == i)
                .map(|a| a.disks.iter().map(|d| d.to_string()).collect())
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

/// How many disks are partitioned at once.
const PARTITION_WORKERS: usize = 8;

/// The disk an action partitions (`None` for an array's creation).
fn action_disk(a: &Action) -> Option<&DevPath> {
    match a {
        Action::Label { disk }
        | Action::FirstFree { disk }
        | Action::Mkpart { disk, .. }
        | Action::Rescan { disk } => Some(disk),
        Action::Create { .. } => None,
    }
}

/// Runs the plan's partitioning actions, the disks side by side (up to
/// [`PARTITION_WORKERS`]), each disk's in the plan's order, and appends the disks'
/// journals to `journal` in the plan's disk order. A failure stops every disk before its
/// next action; the first failure in disk order is the cause (others are logged).
fn partition_disks(m: &Machine, plan: &Plan, journal: &mut Vec<Done>) -> Step {
    let mut groups: Vec<(&DevPath, Vec<&Action>)> = Vec::new();
    for a in &plan.actions {
        let Some(disk) = action_disk(a) else { continue };
        match groups.iter_mut().find(|(d, _)| *d == disk) {
            Some((_, g)) => g.push(a),
            None => groups.push((disk, vec![a])),
        }
    }
    // Each disk's journal lives outside its worker, so what a worker wrote before it
    // panicked is still rolled back.
    let journals: Vec<Mutex<Vec<Done>>> = groups.iter().map(|_| Mutex::new(Vec::new())).collect();
    let outcomes: Vec<Mutex<Option<Step>>> = groups.iter().map(|_| Mutex::new(None)).collect();
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..PARTITION_WORKERS.min(groups.len()))
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let (Some((_, actions)), Some(j), Some(o)) =
                        (groups.get(i), journals.get(i), outcomes.get(i))
                    else {
                        break;
                    };
                    let mut j = j.lock().unwrap_or_else(|p| p.into_inner());
                    let mut run = Run::new(m, plan, &mut j);
                    let mut outcome = Ok(());
                    for a in actions {
                        if failed.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Err(e) = run.action(a) {
                            failed.store(true, Ordering::SeqCst);
                            outcome = Err(e);
                            break;
                        }
                    }
                    *o.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
                })
            })
            .collect();
        // Joined here: a panicking worker leaves its disk without an outcome (below).
        for w in workers {
            let _ = w.join();
        }
    });
    let mut first: Option<CreateCause> = None;
    for ((disk, _), (j, o)) in groups.iter().zip(journals.into_iter().zip(outcomes)) {
        journal.extend(j.into_inner().unwrap_or_else(|p| p.into_inner()));
        let outcome = o.into_inner().unwrap_or_else(|p| p.into_inner());
        let cause = match outcome {
            Some(Ok(())) => continue,
            Some(Err(cause)) => cause,
            None => CreateCause::Check(format!(
                "internal error: partitioning {disk} crashed (a bug in the agent; the agent log has the panic)"
            )),
        };
        match first {
            None => first = Some(cause),
            Some(_) => tracing::error!("partitioning {disk} failed as well: {cause}"),
        }
    }
    first.map_or(Ok(()), Err)
}

/// One execution of (part of) a plan: the journal of what was written, and the `sgdisk -F`
/// answers.
struct Run<'a> {
    m: &'a Machine,
    plan: &'a Plan,
    journal: &'a mut Vec<Done>,
    first_free: HashMap<DevPath, u64>,
}

type Step = std::result::Result<(), CreateCause>;

impl<'a> Run<'a> {
    fn new(m: &'a Machine, plan: &'a Plan, journal: &'a mut Vec<Done>) -> Self {
        Run {
            m,
            plan,
            journal,
            first_free: HashMap::new(),
        }
    }

    fn run(
        &self,
        cmd: &ToolCmd,
        doing: impl Into<String>,
    ) -> std::result::Result<CmdOutput, CreateCause> {
        self.m.run(cmd).map_err(|error| {
            CreateCause::Command(ToolFailure {
                doing: doing.into(),
                error,
            })
        })
    }

    fn action(&mut self, action: &Action) -> Step {
        match action {
            Action::Label { disk } => self.label(action, disk),
            Action::FirstFree { disk } => self.read_first_free(disk),
            Action::Mkpart { disk, partition } => self.mkpart(action, disk, partition),
            Action::Rescan { disk } => {
                self.rescan(action, disk);
                Ok(())
            }
            Action::Create { array } => {
                let plan = self.plan;
                let Some(a) = plan.arrays.get(*array) else {
                    return Err(CreateCause::Check(format!(
                        "internal error: the plan has no array {array}"
                    )));
                };
                self.create(a)
            }
        }
    }

    fn label(&mut self, action: &Action, disk: &DevPath) -> Step {
        // Journaled first: a label write that fails half-way is wiped as well.
        self.journal.push(Done::Label { disk: disk.clone() });
        let table = self.plan.table.as_str();
        for cmd in self.plan.commands(action, None) {
            self.run(&cmd, format!("Writing a {table} partition table on {disk}"))?;
        }
        Ok(())
    }

    /// `sgdisk -F`: the last line of its output is the first usable sector.
    fn read_first_free(&mut self, disk: &DevPath) -> Step {
        let cmd = sgdisk::first_free(disk);
        let out = self.run(&cmd, format!("Finding the first free sector of {disk}"))?;
        let last = out
            .stdout
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let sector = last.parse::<u64>().map_err(|_| {
            CreateCause::Check(format!(
                "`{cmd}` did not print a sector number (last line {last:?})"
            ))
        })?;
        self.first_free.insert(disk.clone(), sector);
        Ok(())
    }

    fn mkpart(&mut self, action: &Action, disk: &DevPath, p: &PlannedPartition) -> Step {
        let first_free = self.first_free.get(disk).copied();
        if p.start == Start::FirstFree && first_free.is_none() {
            return Err(CreateCause::Check(format!(
                "internal error: no first free sector of {disk} was read before partitioning it"
            )));
        }
        for cmd in self.plan.commands(action, first_free) {
            self.run(&cmd, format!("Creating partition {}", p.device))?;
        }
        self.journal.push(Done::Partition {
            disk: disk.clone(),
            number: p.number,
            device: p.device.clone(),
        });
        Ok(())
    }

    /// `partx -av` and `udevadm settle`: failures are logged, as IPA does; udevadm is
    /// skipped where there is no udev (the ramdisk).
    fn rescan(&self, action: &Action, disk: &DevPath) {
        for cmd in self.plan.commands(action, None) {
            let udevadm = cmd.program() == Program::Udevadm;
            if udevadm && !self.m.runner.has_program(Program::Udevadm.name()) {
                continue;
            }
            if let Err(e) = self.m.run(&cmd) {
                tracing::warn!("re-reading the partitions of {disk} failed (ignored): {e}");
            }
        }
    }

    fn create(&mut self, a: &PlannedArray) -> Step {
        self.check_members_present(a)?;
        let (create, detail) = Plan::create_commands(a);
        self.journal.push(Done::Array {
            device: a.device.clone(),
            members: a.members.clone(),
            created: false,
        });
        self.run(&create, format!("Creating RAID array {}", a.device))?;
        if let Some(Done::Array { created, .. }) = self.journal.last_mut() {
            *created = true;
        }
        let out = self.run(&detail, format!("Checking RAID array {}", a.device))?;
        let present: Vec<String> = super::mdadm::parse_detail(&out.stdout)
            .devices
            .iter()
            .map(|d| base(d).to_string())
            .collect();
        for member in a
            .members
            .iter()
            .filter(|mb| !present.iter().any(|p| p == mb.name()))
        {
            self.re_add(a, member)?;
        }
        Ok(())
    }

    /// Each member must exist in sysfs before mdadm sees it (when its disk is known there).
    fn check_members_present(&self, a: &PlannedArray) -> Step {
        let host = &self.m.host;
        for (member, disk) in a.members.iter().zip(&a.disks) {
            let (dk, pk) = (disk.name(), member.name());
            if host.exists(format!("/sys/block/{dk}"))
                && !host.exists(format!("/sys/block/{dk}/{pk}"))
            {
                return Err(CreateCause::Check(format!(
                    "Creating RAID array {} failed: member {member} is missing (no /sys/block/{dk}/{pk} after partitioning)",
                    a.device
                )));
            }
        }
        Ok(())
    }

    /// A member `--detail` does not list is re-added, 3 attempts (IPA
    /// `raid_utils.create_raid_device`).
    fn re_add(&self, a: &PlannedArray, member: &DevPath) -> Step {
        tracing::warn!("{member} is missing from {}; re-adding it", a.device);
        let cmd = mdadm::add(&a.device, member);
        let mut last = Ok(());
        for attempt in 1..=3 {
            let doing = format!(
                "Re-adding {member} to {} (attempt {attempt} of 3)",
                a.device
            );
            last = self.run(&cmd, doing).map(|_| ());
            if last.is_ok() {
                break;
            }
        }
        last
    }
}

/// The last path component: `/dev/md/root` → `root`.
fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Undoes the journal in reverse order: what was undone, and what could not be.
fn rollback(m: &Machine, journal: &[Done]) -> (Vec<Undo>, Vec<UndoFailure>) {
    let mut undone = Vec::new();
    let mut not_undone = Vec::new();
    for (undo, expected_to_fail) in journal.iter().rev().flat_map(undo_steps) {
        match m.run(&undo.command()) {
            Ok(_) => undone.push(undo),
            // Zeroing the members of an array mdadm did not create fails when mdadm wrote
            // nothing; that is no rollback failure.
            Err(e) if expected_to_fail => {
                tracing::debug!("rollback (expected to fail when nothing was written): {e}")
            }
            Err(error) => not_undone.push(UndoFailure { undo, error }),
        }
    }
    (undone, not_undone)
}

/// What undoes one journal entry; `true` marks an undo that may fail harmlessly.
fn undo_steps(done: &Done) -> Vec<(Undo, bool)> {
    match done {
        Done::Array {
            device,
            members,
            created,
        } => {
            let stop = created.then(|| {
                (
                    Undo::StopArray {
                        array: device.clone(),
                    },
                    false,
                )
            });
            stop.into_iter()
                .chain(
                    members
                        .iter()
                        .map(|mb| (Undo::ZeroSuperblock { member: mb.clone() }, !created)),
                )
                .collect()
        }
        Done::Partition {
            disk,
            number,
            device,
        } => vec![(
            Undo::RemovePartition {
                disk: disk.clone(),
                number: *number,
                partition: device.clone(),
            },
            false,
        )],
        Done::Label { disk } => vec![(Undo::WipeLabel { disk: disk.clone() }, false)],
    }
}
