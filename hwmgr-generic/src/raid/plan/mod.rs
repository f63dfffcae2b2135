//! Validation and planning: everything about a software RAID creation is decided here,
//! before any command runs. See the module docs of [`crate::raid`] for the rules.
//!
//! The planner runs its sections in order, each a function of its own: the request
//! ([`validate`]), arrays kept through the skip list, member selection and the
//! member-count rules, the holder disks ([`members`]), then creation order, names and the
//! partition layout ([`layout`]). Problems from every section are collected and reported
//! together.

mod layout;
mod members;
mod node;
mod validate;

pub use crate::tools::mdadm::{ArrayName, Level};
pub use crate::tools::parted::{End, PartTable, Start};
pub use layout::planned_array;
pub use node::{node_boot_mode, node_partition_table};

use super::{DeviceSource, LiveDevices};
use crate::tools::{mdadm, parted, partx, sgdisk, udevadm, DevPath, ToolCmd};
use crate::Machine;
use blockdev::BlockDevice;
use hwmgr::raid_config::RaidLevel;
use hwmgr::Result;
use members::Findings;
use serde_json::{Map, Value};
use std::fmt;

pub const MIB: u64 = 1 << 20;
/// The smallest partition we will make an array member of.
pub const MIN_MEMBER_BYTES: u64 = 16 * MIB;
/// What `sgdisk -F` answers on a fresh msdos label; only used to check sizes when planning.
pub const ASSUMED_MSDOS_FIRST_SECTOR: u64 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    Uefi,
    Bios,
}

impl BootMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::Uefi => "uefi",
            BootMode::Bios => "bios",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// `/dev/sda1`
    pub device: DevPath,
    pub number: u32,
    pub start: Start,
    pub end: End,
    /// Expected size in bytes (for msdos, with the assumed first sector).
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDisk {
    pub name: DevPath,
    pub size: u64,
    pub partitions: Vec<PlannedPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedArray {
    /// Index in the input `logical_disks`.
    pub logical_disk: usize,
    /// `/dev/md/root` or `/dev/md0`.
    pub device: DevPath,
    /// `--name`
    pub name: ArrayName,
    pub level: Level,
    /// The level as the config spells it (`1+0`).
    pub shown_level: RaidLevel,
    /// `/dev/sda1`, ...
    pub members: Vec<DevPath>,
    /// The member disks, in selection order.
    pub disks: Vec<DevPath>,
}

/// A logical disk satisfied by an existing array kept through `skip_block_devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptArray {
    pub logical_disk: usize,
    pub device: String,
    pub name: String,
    pub disks: Vec<String>,
}

/// One step of the execution; [`Plan::commands`] gives its typed commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new partition table.
    Label { disk: DevPath },
    /// `sgdisk -F`: where the first msdos partition can start.
    FirstFree { disk: DevPath },
    Mkpart {
        disk: DevPath,
        partition: PlannedPartition,
    },
    /// Makes the kernel see the new partition (best effort).
    Rescan { disk: DevPath },
    /// `mdadm --create` of `Plan::arrays[array]`, then `--detail`.
    Create { array: usize },
}

/// A checked creation plan: what will be written, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub node_uuid: String,
    pub boot_mode: BootMode,
    pub table: PartTable,
    pub disks: Vec<PlannedDisk>,
    pub arrays: Vec<PlannedArray>,
    pub kept: Vec<KeptArray>,
    pub actions: Vec<Action>,
    /// Things an operator should know (disks left out, schema warnings).
    pub notes: Vec<String>,
    /// The input `logical_disks`, as given.
    pub logical_disks: Vec<Map<String, Value>>,
}

impl Plan {
    pub fn disk(&self, name: &str) -> Option<&PlannedDisk> {
        self.disks.iter().find(|d| d.name == name)
    }

    /// The commands of an action; `first_free` is the `sgdisk -F` answer for the disk
    /// (msdos; without it, a plan shows where the number comes from).
    pub fn commands(&self, action: &Action, first_free: Option<u64>) -> Vec<ToolCmd> {
        match action {
            Action::Label { disk } => vec![parted::mklabel(disk, self.table)],
            Action::FirstFree { disk } => vec![sgdisk::first_free(disk)],
            Action::Mkpart { disk, partition } => vec![parted::mkpart(
                disk,
                &partition.start,
                &partition.end,
                first_free,
            )],
            Action::Rescan { disk } => vec![partx::add(disk), udevadm::settle()],
            Action::Create { array } => self
                .arrays
                .get(*array)
                .map(|a| {
                    let (create, detail) = Plan::create_commands(a);
                    vec![create, detail]
                })
                .unwrap_or_default(),
        }
    }

    /// `mdadm --create` of an array, and the `--detail` that checks its members.
    pub fn create_commands(a: &PlannedArray) -> (ToolCmd, ToolCmd) {
        (
            mdadm::create(&a.device, a.level, &a.name, &a.members),
            mdadm::detail(&a.device),
        )
    }

    /// Every command the plan runs, as display lines (re-adds only happen when needed).
    pub fn command_lines(&self) -> Vec<String> {
        self.actions
            .iter()
            .flat_map(|a| self.commands(a, None))
            .map(|c| c.to_string())
            .collect()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Software RAID plan for node {}: OK ({} array(s) to create, {} kept)",
            self.node_uuid,
            self.arrays.len(),
            self.kept.len()
        )?;
        writeln!(
            f,
            "boot mode {}, partition table {}",
            self.boot_mode.as_str(),
            self.table.as_str()
        )?;
        for a in &self.arrays {
            let members: Vec<&str> = a.members.iter().map(DevPath::as_str).collect();
            writeln!(
                f,
                "array {} (name {}, RAID {}, logical_disks[{}]): {}",
                a.device,
                a.name,
                a.shown_level,
                a.logical_disk,
                members.join(" ")
            )?;
        }
        for k in &self.kept {
            writeln!(
                f,
                "array {} (name {}, logical_disks[{}]) exists and is kept (skip_block_devices)",
                k.device, k.name, k.logical_disk
            )?;
        }
        for d in &self.disks {
            for p in &d.partitions {
                writeln!(
                    f,
                    "partition {} on {}: {} .. {} (~{} MiB)",
                    p.device,
                    d.name,
                    p.start.arg(None),
                    p.end.arg(),
                    p.size / MIB
                )?;
            }
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        writeln!(f, "commands:")?;
        for l in self.command_lines() {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

/// What the planner knows about the machine.
#[derive(Debug, Clone, Default)]
pub struct PlanEnv {
    /// Disks (with their `partitions` and `holders` filled).
    pub devices: Vec<BlockDevice>,
    /// Existing md arrays, with their names when known.
    pub md_arrays: Vec<BlockDevice>,
    pub ramdisk_uefi: bool,
}

impl PlanEnv {
    pub fn from_source(src: &dyn DeviceSource) -> PlanEnv {
        PlanEnv {
            devices: src.block_devices(false),
            md_arrays: src.md_arrays(),
            ramdisk_uefi: src.ramdisk_is_uefi(),
        }
    }
}

/// Plans creation on the live machine (reads sysfs; runs no command). The dry run behind
/// `ironic-agent raid plan`.
pub fn plan_create(m: &Machine, node: &Value, raid_config: &Value) -> Result<Plan> {
    plan_create_with(
        &PlanEnv::from_source(&LiveDevices(&m.host)),
        node,
        raid_config,
    )
}

/// Plans creation against a given view of the disks.
pub fn plan_create_with(env: &PlanEnv, node: &Value, raid_config: &Value) -> Result<Plan> {
    plan_inner(env, node, raid_config, true)
}

/// The planner. `check_existing` false skips the checks against what is on the disks now
/// (partitions, holders, existing arrays): `apply_configuration` validates before its
/// delete clears them.
pub(crate) fn plan_inner(
    env: &PlanEnv,
    node: &Value,
    raid_config: &Value,
    check_existing: bool,
) -> Result<Plan> {
    let req = validate::validate(node, raid_config)?;
    let mut f = Findings {
        problems: Vec::new(),
        notes: req.notes.clone(),
    };
    let boot_mode = node_boot_mode(node, env.ramdisk_uefi);
    let table = node_partition_table(node, boot_mode);

    let kept = members::kept_arrays(env, &req, check_existing, &mut f);
    let cands = members::candidates(env, &req, &mut f);
    let selected = members::select_members(env, &req, &cands, &mut f);
    members::check_member_counts(&req, &selected, &kept, &cands, &mut f);
    let holders = members::holder_disks(&selected, &kept);
    members::check_holders(&holders, &kept, check_existing, &mut f);

    let order = layout::creation_order(&req, &kept);
    let mut arrays = layout::name_arrays(&order, &req, &selected, env, check_existing, &mut f);
    let (disks, actions) = layout::lay_out(&holders, &mut arrays, &req, boot_mode, table, &mut f);
    if !f.problems.is_empty() {
        return Err(req.refusal(&f.problems));
    }
    Ok(Plan {
        node_uuid: req.node_uuid,
        boot_mode,
        table,
        disks,
        arrays,
        kept: kept.arrays,
        actions,
        notes: f.notes,
        logical_disks: req.raw,
    })
}
