//! Which drives each logical disk gets (`proliantutils/hpssa/manager.py:
//! create_configuration`, `_sort_shared_logical_disks`; `hpssa/disk_allocator.py:
//! allocate_disks`), decided for the whole configuration before anything is created.
//!
//! proliantutils allocates one logical disk, creates it, re-reads the controller and
//! allocates the next; a configuration that fails on its third disk leaves two created.
//! We run the same selection rules against a simulated controller state instead (drives
//! taken by earlier disks leave the free pool; arrays planned by earlier shared disks
//! become sharing candidates), so a configuration that cannot be satisfied is rejected
//! before the first `create`. The only thing left to run time is the controller's own
//! capacity answer for a shared array (the `size=?` probe), which cannot be asked about
//! an array that does not exist yet.

use crate::config::{drive_count_problem, min_disks, LdRequest, Size};
use crate::model::{Controller, PhysicalDrive, Server};

/// Where a planned logical disk goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new array of these drives (in `drives=` order).
    NewArray { drives: Vec<String> },
    /// The array that the planned logical disk with input index `creator` builds. Its
    /// letter is known only after that disk exists.
    SharedWith { creator: usize },
}

/// One logical disk, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub request: LdRequest,
    pub controller: String,
    pub slot: String,
    pub target: Target,
}

/// Creation order (`proliantutils/hpssa/manager.py: create_configuration`): fixed sizes
/// largest first so small disks do not take the big drives, then `MAX` disks (they get
/// what is left), then the sharing order.
pub fn creation_order(reqs: &[LdRequest]) -> Vec<LdRequest> {
    let mut fixed: Vec<LdRequest> = reqs
        .iter()
        .filter(|r| r.size != Size::Max)
        .cloned()
        .collect();
    fixed.sort_by_key(|r| std::cmp::Reverse(gb(r.size)));
    let mut order = fixed;
    order.extend(reqs.iter().filter(|r| r.size == Size::Max).cloned());
    if order.iter().any(|r| r.share) {
        order = share_order(order);
    }
    order
}

fn gb(s: Size) -> u64 {
    match s {
        Size::Gb(g) => g,
        Size::Max => u64::MAX,
    }
}

/// As `proliantutils/hpssa/manager.py: _sort_shared_logical_disks`: non-shared disks
/// first, then shared RAID 1 (it can only share a 2-drive array), then the other shared
/// disks by drive count, largest first, except that a `1+0` disk moves to the front when
/// every larger-count disk is odd-sized (1+0 needs an even count, so it must build the
/// array rather than join one).
pub fn share_order(lds: Vec<LdRequest>) -> Vec<LdRequest> {
    let (shared, nonshared): (Vec<_>, Vec<_>) = lds.into_iter().partition(|r| r.share);
    let (raid1, mut rest): (Vec<_>, Vec<_>) = shared.into_iter().partition(|r| r.raid_level == "1");
    rest.sort_by_key(|r| std::cmp::Reverse(r.disk_count()));
    let walk = rest.clone();
    for x in walk.iter().filter(|x| x.raid_level == "1+0") {
        let bigger: Vec<&LdRequest> = rest
            .iter()
            .filter(|y| y.raid_level != "1+0" && y.disk_count() > x.disk_count())
            .collect();
        if !bigger.is_empty() && bigger.iter().all(|y| !y.disk_count().is_multiple_of(2)) {
            if let Some(pos) = rest.iter().position(|r| r.index == x.index) {
                let moved = rest.remove(pos);
                rest.insert(0, moved);
            }
        }
    }
    nonshared.into_iter().chain(raid1).chain(rest).collect()
}

/// The share of an array's raw space (drive count × smallest drive, in GiB) a logical
/// disk of `level` and `size` uses; an estimate that ignores metadata, so it only rejects
/// what the controller would reject too.
fn raw_use(level: &str, drives: usize, size: u64) -> Option<u64> {
    let data = match level {
        "0" => drives,
        "1" | "1+0" | "10" => drives / 2,
        "5" => drives.saturating_sub(1),
        "6" | "5+0" | "50" => drives.saturating_sub(2),
        "6+0" | "60" => drives.saturating_sub(4),
        _ => 0,
    } as u64;
    (data > 0).then(|| size.saturating_mul(drives as u64).div_ceil(data))
}

/// Whether an array of `drives` drives can hold a logical disk of `level`: the level's
/// drive-count rules, and RAID 1 shares only a two-drive array (proliantutils'
/// `_sort_shared_logical_disks`).
fn level_fits(level: &str, drives: usize) -> bool {
    match level {
        "1" => drives == 2,
        other => min_disks(other).is_some() && drive_count_problem(other, drives).is_none(),
    }
}

struct PlannedArray {
    controller: String,
    creator: usize,
    creator_shared: bool,
    drives: Vec<PhysicalDrive>,
    /// Estimated raw GiB still free.
    free_raw: u64,
}

fn matches(r: &LdRequest, d: &PhysicalDrive) -> bool {
    r.disk_type.is_none_or(|t| d.disk_type == Some(t))
        && r.interface_type.is_none_or(|t| d.interface_type == Some(t))
}

/// Places every logical disk. `Err` explains the first one that cannot be placed.
pub fn allocate(server: &Server, order: &[LdRequest]) -> Result<Vec<Placement>, String> {
    let eligible: Vec<&Controller> = server.controllers.iter().filter(|c| !c.is_hba()).collect();
    let mut used: Vec<(String, String)> = Vec::new(); // (controller, drive) taken by the plan
    let mut arrays: Vec<PlannedArray> = Vec::new();
    let mut out = Vec::new();
    for r in order {
        let taken = |c: &str, d: &str| used.iter().any(|(uc, ud)| uc == c && ud == d);
        let placed = if let Some(ids) = &r.physical_disks {
            explicit(server, &eligible, r, ids, &taken)?
        } else {
            automatic(&eligible, r, &taken, &arrays)?
        };
        match &placed.target {
            Target::NewArray { drives } => {
                let Some(c) = server.controller(&placed.controller) else {
                    return Err(format!("controller '{}' vanished", placed.controller));
                };
                let members: Vec<PhysicalDrive> = drives
                    .iter()
                    .filter_map(|id| c.drive(id).cloned())
                    .collect();
                let smallest = members.iter().map(|d| d.size_gb).min().unwrap_or(0);
                let raw = smallest.saturating_mul(members.len() as u64);
                let usage = match r.size {
                    Size::Max => raw,
                    Size::Gb(g) => raw_use(&r.raid_level, members.len(), g).unwrap_or(raw),
                };
                for d in drives {
                    used.push((placed.controller.clone(), d.clone()));
                }
                arrays.push(PlannedArray {
                    controller: placed.controller.clone(),
                    creator: r.index,
                    creator_shared: r.share,
                    drives: members,
                    free_raw: raw.saturating_sub(usage),
                });
            }
            Target::SharedWith { creator } => {
                if let Some(a) = arrays.iter_mut().find(|a| a.creator == *creator) {
                    let usage = match r.size {
                        Size::Max => a.free_raw,
                        Size::Gb(g) => raw_use(&r.raid_level, a.drives.len(), g).unwrap_or(0),
                    };
                    a.free_raw = a.free_raw.saturating_sub(usage);
                }
            }
        }
        out.push(placed);
    }
    Ok(out)
}

fn slot_of(c: &Controller) -> Result<String, String> {
    c.slot().ok_or_else(|| {
        format!(
            "controller '{}' reports no usable 'Slot', so ssacli cannot address it",
            c.id
        )
    })
}

/// `physical_disks` given: the drives must exist on the controller, be unassigned and not
/// be used by another disk of this configuration. Without `controller`, the one eligible
/// controller holding all the drives is used.
fn explicit(
    server: &Server,
    eligible: &[&Controller],
    r: &LdRequest,
    ids: &[String],
    taken: &dyn Fn(&str, &str) -> bool,
) -> Result<Placement, String> {
    let what = r.describe();
    let c: &Controller = match &r.controller {
        Some(name) => find_controller(server, eligible, name, &what)?,
        None => {
            let holders: Vec<&&Controller> = eligible
                .iter()
                .filter(|c| ids.iter().all(|id| c.drive(id).is_some()))
                .collect();
            match holders.as_slice() {
                [one] => one,
                [] => {
                    return Err(format!(
                        "{what}: no RAID-capable controller has all of the physical disks {}; \
                         check the drive ids in `ssacli controller all show config detail`",
                        ids.join(", ")
                    ))
                }
                _ => {
                    return Err(format!(
                        "{what}: physical disks {} exist on several controllers; \
                         add 'controller' to say which one",
                        ids.join(", ")
                    ))
                }
            }
        }
    };
    for id in ids {
        match c.drive(id) {
            None => {
                return Err(format!(
                    "{what}: Unable to find physical disk '{id}' on '{}'",
                    c.id
                ))
            }
            Some(d) if d.assigned => {
                let array = c
                    .arrays
                    .iter()
                    .find(|a| a.physical_drives.iter().any(|p| p.id == *id))
                    .map_or("?", |a| a.id.as_str());
                return Err(format!(
                    "{what}: physical disk '{id}' on '{}' already belongs to array {array}; \
                     run raid.delete_configuration first or choose unassigned drives",
                    c.id
                ));
            }
            Some(_) if taken(&c.id, id) => {
                return Err(format!(
                    "{what}: physical disk '{id}' on '{}' is also requested by another \
                     logical disk of this configuration; use share_physical_disks to share \
                     drives",
                    c.id
                ))
            }
            Some(_) => {}
        }
    }
    Ok(Placement {
        request: r.clone(),
        controller: c.id.clone(),
        slot: slot_of(c)?,
        target: Target::NewArray {
            drives: ids.to_vec(),
        },
    })
}

fn find_controller<'a>(
    server: &'a Server,
    eligible: &[&'a Controller],
    name: &str,
    what: &str,
) -> Result<&'a Controller, String> {
    if let Some(c) = eligible.iter().find(|c| c.id == name) {
        return Ok(c);
    }
    if server.controller(name).is_some() {
        return Err(format!(
            "{what}: controller '{name}' is in HBA mode and cannot build logical drives; \
             switch it to RAID mode or choose another controller"
        ));
    }
    let names: Vec<&str> = eligible.iter().map(|c| c.id.as_str()).collect();
    Err(format!(
        "{what}: Unable to find controller named '{name}'. The available controllers are '{}'.",
        names.join(", ")
    ))
}

/// As `proliantutils/hpssa/disk_allocator.py: allocate_disks`: phase A builds a new array
/// from the smallest sufficient unassigned drives (or the largest, for `MAX`); phase B,
/// for shared disks, joins an array planned earlier by another shared disk.
fn automatic(
    eligible: &[&Controller],
    r: &LdRequest,
    taken: &dyn Fn(&str, &str) -> bool,
    arrays: &[PlannedArray],
) -> Result<Placement, String> {
    let what = r.describe();
    let want = r.disk_count();
    let scope: Vec<&Controller> = match &r.controller {
        Some(name) => {
            let found: Vec<&Controller> =
                eligible.iter().copied().filter(|c| c.id == *name).collect();
            if found.is_empty() {
                let names: Vec<&str> = eligible.iter().map(|c| c.id.as_str()).collect();
                return Err(format!(
                    "{what}: Unable to find controller named '{name}' among the RAID-capable \
                     controllers. The available controllers are '{}'.",
                    names.join(", ")
                ));
            }
            found
        }
        None => eligible.to_vec(),
    };
    let mut seen = Vec::new();
    for c in &scope {
        let mut candidates: Vec<&PhysicalDrive> = c
            .unassigned
            .iter()
            .filter(|d| !taken(&c.id, &d.id) && matches(r, d))
            .collect();
        match r.size {
            // Each drive is compared with the whole disk size, whatever the level: the
            // rule proliantutils uses, conservative for striped levels.
            Size::Gb(g) => {
                candidates.retain(|d| d.size_gb >= g);
                candidates.sort_by_key(|d| d.size_gb);
            }
            Size::Max => candidates.sort_by_key(|d| std::cmp::Reverse(d.size_gb)),
        }
        if candidates.len() >= want {
            return Ok(Placement {
                request: r.clone(),
                controller: c.id.clone(),
                slot: slot_of(c)?,
                target: Target::NewArray {
                    drives: candidates[..want].iter().map(|d| d.id.clone()).collect(),
                },
            });
        }
        seen.push(format!("{} suitable on '{}'", candidates.len(), c.id));
    }
    if r.share {
        let desired = match r.size {
            Size::Gb(g) => g,
            Size::Max => 1,
        };
        for a in arrays.iter().filter(|a| a.creator_shared) {
            let Some(c) = scope.iter().find(|c| c.id == a.controller) else {
                continue;
            };
            // An explicit drive count must be the array's (proliantutils ignores it here).
            let count_ok = r
                .number_of_physical_disks
                .is_none_or(|n| n == a.drives.len());
            if !count_ok
                || !a.drives.iter().all(|d| matches(r, d))
                || !level_fits(&r.raid_level, a.drives.len())
            {
                continue;
            }
            let need = raw_use(&r.raid_level, a.drives.len(), desired).unwrap_or(u64::MAX);
            if need <= a.free_raw {
                return Ok(Placement {
                    request: r.clone(),
                    controller: c.id.clone(),
                    slot: slot_of(c)?,
                    target: Target::SharedWith { creator: a.creator },
                });
            }
        }
    }
    let mut criteria = Vec::new();
    if let Some(t) = r.disk_type {
        criteria.push(format!("disk_type {}", t.as_str()));
    }
    if let Some(t) = r.interface_type {
        criteria.push(format!("interface_type {}", t.as_str()));
    }
    if let Size::Gb(g) = r.size {
        criteria.push(format!("at least {g} GB each"));
    }
    Err(format!(
        "Not enough physical disks were found to create logical disk of size {} GB and raid \
         level {} ({what}): it needs {want} unassigned drive(s){}{}; found {}{}",
        r.size,
        r.raid_level,
        if criteria.is_empty() { "" } else { " with " },
        criteria.join(", "),
        if seen.is_empty() {
            "no RAID-capable controller".to_string()
        } else {
            seen.join(", ")
        },
        if r.share {
            " and no array planned by another shared logical disk can hold it"
        } else {
            ""
        },
    ))
}
