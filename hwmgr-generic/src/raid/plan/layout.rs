//! The last sections of planning: creation order, array names, and the partition layout
//! of every holder disk (IPA `raid_utils.calculate_raid_start`,
//! `calc_raid_partition_sectors`, `create_raid_partition_tables`), with the actions that
//! write it.

use super::members::{Disk, Findings, Kept};
use super::validate::Request;
use super::{
    Action, BootMode, PartTable, PlanEnv, PlannedArray, PlannedDisk, PlannedPartition,
    ASSUMED_MSDOS_FIRST_SECTOR, MIB, MIN_MEMBER_BYTES,
};
use crate::tools::mdadm::ArrayName;
use crate::tools::parted::{End, Start};
use crate::tools::DevPath;
use blockdev::GIB;
use hwmgr::raid_config::RaidConfig;
use hwmgr::raid_config::SizeGb;

/// The logical disks to create, in creation order: `MAX` last (IPA creates the arrays in
/// input order but sizes a `MAX` array from what the others left), stable otherwise.
pub(crate) fn creation_order(req: &Request, kept: &Kept) -> Vec<usize> {
    order_of(&req.config, |i| kept.satisfies(i))
}

fn order_of(config: &RaidConfig, exists: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..config.logical_disks.len())
        .filter(|i| !exists(*i))
        .collect();
    order.sort_by_key(|i| config.logical_disks[*i].size_gb.is_max());
    order
}

/// The name and device the planner gives logical disk `i` of `config` (when no array is
/// kept through the skip list, which requires volume names anyway): what deploy looks the
/// root volume up by. `None` for an index out of range or an invalid volume name.
pub fn planned_array(config: &RaidConfig, i: usize) -> Option<(ArrayName, DevPath)> {
    match config.logical_disks.get(i)?.volume_name.as_deref() {
        Some(v) => ArrayName::new(v).ok().map(|n| {
            let d = n.device();
            (n, d)
        }),
        None => {
            let k = order_of(config, |_| false).iter().position(|&j| j == i)?;
            Some(ArrayName::numbered(k))
        }
    }
}

/// Names every array: `/dev/md/<volume_name>`, or IPA's `/dev/md<k>` named `md<k>`
/// (`raid_utils.create_raid_device`). A name or device already in use is refused unless
/// the caller is about to delete everything.
pub(crate) fn name_arrays(
    order: &[usize],
    req: &Request,
    selected: &[Vec<Disk>],
    env: &PlanEnv,
    check_existing: bool,
    f: &mut Findings,
) -> Vec<PlannedArray> {
    let mut arrays = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let (name, device) = match &req.names[i] {
            Some(n) => (n.clone(), n.device()),
            None => ArrayName::numbered(k),
        };
        if check_existing {
            let clash = env
                .md_arrays
                .iter()
                .find(|m| device == m.name.as_str() || m.md_name.as_deref() == Some(name.as_str()));
            if let Some(md) = clash {
                f.problems.push(format!(
                    "an md array {} named {:?} already exists; run raid.delete_configuration first",
                    md.name,
                    md.md_name.as_deref().unwrap_or(name.as_str())
                ));
            }
        }
        arrays.push(PlannedArray {
            logical_disk: i,
            device,
            name,
            level: req.levels[i],
            shown_level: req.config.logical_disks[i].raid_level,
            members: Vec::new(),
            disks: selected[i].iter().map(|d| d.path.clone()).collect(),
        });
    }
    arrays
}

/// Where the next partition of one disk goes.
struct Cursor<'a> {
    disk: &'a Disk<'a>,
    /// The absolute GiB offset the last fixed-size partition ended at.
    used_gib: u64,
    has_max: bool,
    /// The last byte a partition may use (GPT keeps its backup header at the end).
    usable_end: u64,
}

/// The partition table of every holder disk, the partitions of every array (filling in
/// `members`), and the actions in execution order: labels, then per array its partitions
/// and a rescan, then the creates.
pub(crate) fn lay_out(
    holders: &[Disk],
    arrays: &mut [PlannedArray],
    req: &Request,
    boot: BootMode,
    table: PartTable,
    f: &mut Findings,
) -> (Vec<PlannedDisk>, Vec<Action>) {
    let mut disks: Vec<PlannedDisk> = holders
        .iter()
        .map(|d| PlannedDisk {
            name: d.path.clone(),
            size: d.dev.size,
            partitions: Vec::new(),
        })
        .collect();
    let mut actions = Vec::new();
    for d in &disks {
        actions.push(Action::Label {
            disk: d.name.clone(),
        });
        if first_start(boot, table) == Start::FirstFree {
            actions.push(Action::FirstFree {
                disk: d.name.clone(),
            });
        }
    }
    let mut cursors: Vec<Cursor> = holders
        .iter()
        .map(|disk| Cursor {
            disk,
            used_gib: 0,
            has_max: false,
            usable_end: usable_end(disk, table),
        })
        .collect();
    for arr in arrays.iter_mut() {
        let size = req.config.logical_disks[arr.logical_disk].size_gb;
        for dname in arr.disks.clone() {
            let Some(di) = disks.iter().position(|d| d.name == dname) else {
                continue;
            };
            let pd = &mut disks[di];
            let part = place(&mut cursors[di], pd, arr.logical_disk, size, boot, table, f);
            arr.members.push(part.device.clone());
            pd.partitions.push(part.clone());
            actions.push(Action::Mkpart {
                disk: dname.clone(),
                partition: part,
            });
            actions.push(Action::Rescan { disk: dname });
        }
    }
    actions.extend((0..arrays.len()).map(|array| Action::Create { array }));
    (disks, actions)
}

/// The first partition starts right after the ESP slot with UEFI (551 MiB: the ESP that
/// `install_bootloader` creates, [`crate::raid::esp`]), 8 MiB with BIOS on GPT (BIOS boot
/// partition), and at the first usable sector on msdos (IPA `raid_utils.calculate_raid_start`).
fn first_start(boot: BootMode, table: PartTable) -> Start {
    match (boot, table) {
        (BootMode::Uefi, _) => Start::Mib(crate::raid::esp::RAID_START_MIB),
        (BootMode::Bios, PartTable::Gpt) => Start::Mib(crate::raid::esp::BIOS_GPT_RAID_START_MIB),
        (BootMode::Bios, PartTable::Msdos) => Start::FirstFree,
    }
}

fn start_bytes(start: &Start, disk: &Disk) -> u64 {
    match start {
        Start::Mib(n) => n * MIB,
        Start::Gib(n) => n.saturating_mul(GIB),
        Start::FirstFree => ASSUMED_MSDOS_FIRST_SECTOR * disk.dev.logical_sectors.max(512),
    }
}

fn usable_end(disk: &Disk, table: PartTable) -> u64 {
    match table {
        PartTable::Gpt => disk
            .dev
            .size
            .saturating_sub(gpt_backup_bytes(disk.dev.logical_sectors)),
        PartTable::Msdos => disk.dev.size,
    }
}

/// The backup GPT: a header sector and 16 KiB of entries (33 sectors at 512 B, 5 at 4 KiB).
fn gpt_backup_bytes(sector: u64) -> u64 {
    let ss = sector.max(512);
    ss + 16384u64.div_ceil(ss) * ss
}

/// Places the next partition of one array on one disk and checks that it fits.
fn place(
    c: &mut Cursor,
    pd: &PlannedDisk,
    logical_disk: usize,
    size: SizeGb,
    boot: BootMode,
    table: PartTable,
    f: &mut Findings,
) -> PlannedPartition {
    let dname = &pd.name;
    let start = if pd.partitions.is_empty() {
        first_start(boot, table)
    } else {
        Start::Gib(c.used_gib)
    };
    let start_at = start_bytes(&start, c.disk);
    let (end, end_at) = match size {
        SizeGb::Max => {
            if c.has_max {
                f.problems.push(format!(
                    "{dname}: more than one logical disk with size_gb MAX"
                ));
            }
            c.has_max = true;
            (End::Last, c.usable_end)
        }
        SizeGb::Gib(n) => {
            c.used_gib = c.used_gib.saturating_add(n);
            (End::Gib(c.used_gib), c.used_gib.saturating_mul(GIB))
        }
    };
    if end_at > c.usable_end {
        f.problems.push(format!(
            "logical_disks[{logical_disk}] ({size}) does not fit on {dname}: its partition would end at {} GiB but the disk has {:.2} MiB usable",
            end_at / GIB,
            c.usable_end as f64 / MIB as f64
        ));
    } else if size != SizeGb::Gib(0) && end_at < start_at.saturating_add(MIN_MEMBER_BYTES) {
        f.problems.push(format!(
            "logical_disks[{logical_disk}] ({size}) leaves less than {} MiB for its partition on {dname} (from {} to {})",
            MIN_MEMBER_BYTES / MIB,
            start.arg(Some(ASSUMED_MSDOS_FIRST_SECTOR)),
            end.arg()
        ));
    }
    let ss = c.disk.dev.logical_sectors.max(512);
    if table == PartTable::Msdos && end_at / ss > u64::from(u32::MAX) {
        f.problems.push(format!(
            "{dname}: an msdos partition table cannot address beyond 2 TiB (logical_disks[{logical_disk}]); use disk_label:gpt"
        ));
    }
    let number = pd.partitions.len() as u32 + 1;
    PlannedPartition {
        device: dname.partition(number),
        number,
        start,
        end,
        size: end_at.saturating_sub(start_at),
    }
}
