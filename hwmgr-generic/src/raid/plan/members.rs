//! Which disks each array gets: arrays kept through the skip list, the candidate disks,
//! the members of every logical disk (IPA `raid_utils.get_block_devices_for_raid`), the
//! member-count rules, and whether the holder disks are free.

use super::super::parent_disk;
use super::validate::Request;
use super::{KeptArray, PlanEnv};
use crate::tools::mdadm::Level;
use crate::tools::DevPath;
use blockdev::{BlockDevice, DevType, DeviceHints};
use hwmgr::raid_config::{PhysicalDisks, SizeGb};
use serde_json::{Map, Value};

/// What planning found so far: problems refuse the plan, notes go with it.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// A whole disk that can be an array member: its validated path and what sysfs says.
#[derive(Debug, Clone)]
pub(crate) struct Disk<'a> {
    pub path: DevPath,
    pub dev: &'a BlockDevice,
}

/// Arrays that survive through `skip_block_devices` and the disks they are on.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub arrays: Vec<KeptArray>,
    pub disks: Vec<String>,
}

impl Kept {
    pub fn satisfies(&self, logical_disk: usize) -> bool {
        self.arrays.iter().any(|k| k.logical_disk == logical_disk)
    }

    fn devices(&self) -> String {
        let names: Vec<&str> = self.arrays.iter().map(|k| k.device.as_str()).collect();
        names.join(", ")
    }
}

/// Existing arrays named in the skip list satisfy their logical disks. Any other existing
/// array is refused when the skip list names volumes (IPA:
/// `_do_create_configuration._create_raid_ignore_list`).
pub(crate) fn kept_arrays(
    env: &PlanEnv,
    req: &Request,
    check_existing: bool,
    f: &mut Findings,
) -> Kept {
    let mut kept = Kept::default();
    for md in &env.md_arrays {
        let name = md.md_name.as_deref();
        if req.skip.keeps_volume(name) {
            let disks: Vec<String> = md
                .slaves
                .iter()
                .map(|s| parent_disk(&env.devices, s))
                .collect();
            let ld = req
                .names
                .iter()
                .position(|n| n.as_ref().map(|n| n.as_str()) == name);
            if let Some(i) = ld {
                kept.arrays.push(KeptArray {
                    logical_disk: i,
                    device: md.name.clone(),
                    name: name.unwrap_or_default().to_string(),
                    disks: disks.clone(),
                });
            }
            kept.disks.extend(disks);
        } else if check_existing && !req.skip.volume_names.is_empty() {
            f.problems.push(format!(
                "Existing Software RAID device detected that should not: {} ({}) is not in skip_block_devices; run delete_configuration first",
                md.name,
                name.unwrap_or("no name")
            ));
        }
    }
    kept
}

/// The whole disks of the machine, and those an array without `physical_disks` spans.
pub(crate) struct Candidates<'a> {
    pub all: Vec<Disk<'a>>,
    /// Writable disks not in the skip list.
    pub auto: Vec<Disk<'a>>,
    /// Disks the skip list's hints leave out of `auto`.
    pub skipped: Vec<DevPath>,
}

/// Only whole disks (not md arrays, not loop devices) are candidates.
pub(crate) fn candidates<'a>(env: &'a PlanEnv, req: &Request, f: &mut Findings) -> Candidates<'a> {
    let mut all = Vec::new();
    for dev in env.devices.iter().filter(|d| d.dev_type == DevType::Disk) {
        match DevPath::new(dev.name.as_str()) {
            Ok(path) => all.push(Disk { path, dev }),
            Err(e) => f
                .notes
                .push(format!("{} is not used: {}", dev.name, e.details)),
        }
    }
    let mut auto = Vec::new();
    let mut skipped = Vec::new();
    for d in &all {
        if d.dev.read_only {
            f.notes
                .push(format!("{} is read-only and is not used", d.path));
        } else if req.skip.skips_disk(d.dev, &env.devices) {
            f.notes.push(format!(
                "{} is in skip_block_devices and is not used",
                d.path
            ));
            skipped.push(d.path.clone());
        } else {
            auto.push(d.clone());
        }
    }
    Candidates { all, auto, skipped }
}

/// The members of every logical disk, in input order: the disks its `physical_disks` hints
/// pick (each hint a different disk), or every automatic candidate.
pub(crate) fn select_members<'a>(
    env: &PlanEnv,
    req: &Request,
    cands: &Candidates<'a>,
    f: &mut Findings,
) -> Vec<Vec<Disk<'a>>> {
    req.config
        .logical_disks
        .iter()
        .enumerate()
        .map(|(i, ld)| match &ld.physical_disks {
            Some(PhysicalDisks::Hints(hints)) => hinted(i, hints, env, req, cands, f),
            _ => cands.auto.clone(),
        })
        .collect()
}

fn hinted<'a>(
    i: usize,
    hints: &[Map<String, Value>],
    env: &PlanEnv,
    req: &Request,
    cands: &Candidates<'a>,
    f: &mut Findings,
) -> Vec<Disk<'a>> {
    let mut chosen: Vec<Disk<'a>> = Vec::new();
    for (j, h) in hints.iter().enumerate() {
        let hv = Value::Object(h.clone());
        let parsed = match DeviceHints::parse(&hv) {
            Ok(p) => p,
            Err(e) => {
                f.problems
                    .push(format!("logical_disks[{i}].physical_disks[{j}]: {e}"));
                continue;
            }
        };
        let hit = cands
            .all
            .iter()
            .find(|d| parsed.matches(d.dev) && !chosen.iter().any(|c| c.path == d.path));
        let at = format!("logical_disks[{i}].physical_disks[{j}] {hv}");
        match hit {
            None => f.problems.push(format!(
                "{at} matches no disk (not already chosen for this logical disk)"
            )),
            Some(d) if d.dev.read_only => f
                .problems
                .push(format!("{at} selects {}, which is read-only", d.path)),
            Some(d) if req.skip.skips_disk(d.dev, &env.devices) => f.problems.push(format!(
                "{at} selects {}, which is in skip_block_devices",
                d.path
            )),
            Some(d) => chosen.push(d.clone()),
        }
    }
    chosen
}

/// The fewest members mdadm builds an array of `level` with, without `--force` for 5, 6
/// and 10 (RAID-5 and RAID-10 on two disks hold a mirror's worth of data, which mdadm
/// builds; IPA `validate_configuration` only counts all disks of the machine, for 5 and
/// 6). RAID-0 and RAID-1 with one member are what IPA builds (with `--force`) on a
/// one-disk machine, so they are accepted with a note.
pub(crate) fn min_members(level: Level) -> usize {
    match level {
        Level::Raid0 | Level::Raid1 => 1,
        Level::Raid5 | Level::Raid10 => 2,
        Level::Raid6 => 4,
    }
}

/// The member-count rules for every logical disk that is to be created.
pub(crate) fn check_member_counts(
    req: &Request,
    selected: &[Vec<Disk>],
    kept: &Kept,
    cands: &Candidates,
    f: &mut Findings,
) {
    for (i, members) in selected.iter().enumerate() {
        if kept.satisfies(i) {
            continue;
        }
        let ld = &req.config.logical_disks[i];
        let automatic = !matches!(ld.physical_disks, Some(PhysicalDisks::Hints(_)));
        let skipped: &[DevPath] = if automatic { &cands.skipped } else { &[] };
        member_count(i, req.levels[i], ld.raid_level, members, skipped, f);
        if ld.size_gb == SizeGb::Gib(0) {
            f.problems
                .push(format!("logical_disks[{i}]: size_gb 0 cannot be built"));
        }
    }
}

fn member_count(
    i: usize,
    level: Level,
    shown: hwmgr::raid_config::RaidLevel,
    members: &[Disk],
    skipped: &[DevPath],
    f: &mut Findings,
) {
    let need = min_members(level);
    let names = join(members.iter().map(|d| &d.path));
    let skip_hint = if skipped.is_empty() {
        String::new()
    } else {
        format!(
            "; skip_block_devices leaves out {}: name the member disks in physical_disks instead",
            join(skipped.iter())
        )
    };
    if members.len() < need {
        f.problems.push(format!(
            "logical_disks[{i}] (RAID {shown}) needs at least {need} {}, gets {}{}{skip_hint}",
            if need == 1 { "disk" } else { "disks" },
            members.len(),
            if members.is_empty() {
                String::new()
            } else {
                format!(" ({names})")
            },
        ));
    } else if members.len() == 1 && level == Level::Raid1 && !skipped.is_empty() {
        // A skip list never takes the redundancy out of an array.
        f.problems.push(format!(
            "logical_disks[{i}] (RAID {shown}) would be built on {names} alone, without \
             redundancy, because skip_block_devices leaves out {}; name the member disks in \
             physical_disks, or take the disk off skip_block_devices",
            join(skipped.iter())
        ));
    } else if members.len() == 1 {
        f.notes.push(format!(
            "logical_disks[{i}] (RAID {shown}) gets a single disk, {names}: it is built as IPA does, with no redundancy"
        ));
    } else if members.len() == 2 && matches!(level, Level::Raid5 | Level::Raid10) {
        f.notes.push(format!(
            "logical_disks[{i}] (RAID {shown}) gets two disks ({names}): mdadm builds it, but it \
             gives no more than a mirror (the capacity and redundancy of RAID-1)"
        ));
    }
}

fn join<'p>(paths: impl Iterator<Item = &'p DevPath>) -> String {
    paths.map(DevPath::as_str).collect::<Vec<_>>().join(", ")
}

/// The disks to partition: the members of the arrays to create, first-seen order.
pub(crate) fn holder_disks<'a>(selected: &[Vec<Disk<'a>>], kept: &Kept) -> Vec<Disk<'a>> {
    let mut holders: Vec<Disk<'a>> = Vec::new();
    for (i, members) in selected.iter().enumerate() {
        if kept.satisfies(i) {
            continue;
        }
        for d in members {
            if !holders.iter().any(|h| h.path == d.path) {
                holders.push(d.clone());
            }
        }
    }
    holders
}

/// A holder disk must not carry a kept array, and (unless the caller is about to delete
/// everything) must have no partitions and nothing built on it.
pub(crate) fn check_holders(holders: &[Disk], kept: &Kept, check_existing: bool, f: &mut Findings) {
    for h in holders {
        if kept.disks.iter().any(|k| h.path == k.as_str()) {
            f.problems.push(format!(
                "{} holds the kept array(s) {}; adding new arrays next to a kept one is not supported",
                h.path,
                kept.devices()
            ));
        }
    }
    if !check_existing {
        return;
    }
    let parted: Vec<&DevPath> = holders
        .iter()
        .filter(|d| {
            !d.dev.partitions.is_empty() && !kept.disks.iter().any(|k| d.path == k.as_str())
        })
        .map(|d| &d.path)
        .collect();
    if !parted.is_empty() {
        f.problems.push(format!(
            "Partitions detected on devices {} during RAID config; run raid.delete_configuration or deploy.erase_devices_metadata first",
            join(parted.into_iter())
        ));
    }
    for d in holders.iter().filter(|d| !d.dev.holders.is_empty()) {
        f.problems.push(format!(
            "{} is in use by {}; run raid.delete_configuration first",
            d.path,
            d.dev.holders.join(", ")
        ));
    }
}
