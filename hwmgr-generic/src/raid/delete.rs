//! `raid.delete_configuration` (IPA `hardware.py: GenericHardwareManager.delete_configuration`),
//! working from any state: arrays
//! assembled under another name after a reboot (`md127`), degraded or inactive arrays,
//! arrays with a missing member, stray superblocks on partitions, or nothing at all.
//!
//! Order: `mdadm --assemble --scan` (result ignored); up to two passes over the md arrays
//! (`--detail` for UUID/name/members, `--examine` of every disk and partition to find all
//! components, `wipefs --force --all <md>`, `--stop`, `--zero-superblock` of each component); then a
//! sweep that examines every disk and partition (reverse order) and zeroes any superblock
//! left; then `wipefs --force --all` of every disk that held a component. Arrays named in
//! `skip_block_devices` are left alone, and so are their components; on a disk shared with
//! a kept array only the deleted partitions are removed (`parted rm`), and disks matched
//! by skip-list hints are never wiped.
//!
//! A failed `--stop`, `--zero-superblock` or disk wipe does not stop the delete: every
//! failure is collected ([`DeleteFailure`]) and reported together at the end.

use super::mdadm::{parse_detail, parse_examine, Detail, Superblock};
use super::parent_disk;
use super::report::{DeleteFailure, Deleted, ToolFailure};
use super::{DeviceSource, LiveDevices, SkipList};
use crate::tools::{mdadm, parted, wipefs, DevPath, ToolCmd};
use crate::Machine;
use blockdev::{find_by_name, BlockDevice};
use hwmgr::{ErrorKind, Result, StepCall};
use serde_json::Value;

/// `raid.delete_configuration`: returns `null`.
pub fn delete_configuration(m: &Machine, call: &StepCall) -> Result<Value> {
    delete_with(m, &LiveDevices(&m.host), &call.node)
}

pub fn delete_with(m: &Machine, src: &dyn DeviceSource, node: &Value) -> Result<Value> {
    let skip = SkipList::from_node(node, ErrorKind::SoftwareRAIDError)?;
    run_delete(m, src, &skip)
        .map(|_| Value::Null)
        .map_err(|f| f.to_agent_error())
}

/// The delete, with its outcome as a value.
pub(crate) fn run_delete(
    m: &Machine,
    src: &dyn DeviceSource,
    skip: &SkipList,
) -> std::result::Result<Deleted, Box<DeleteFailure>> {
    let mut d = Deletion {
        m,
        skip,
        failures: Vec::new(),
        done: Deleted::default(),
        holders: Vec::new(),
        kept_uuids: Vec::new(),
        kept_components: Vec::new(),
    };
    d.may(&mdadm::assemble_scan());
    for pass in 1..=2 {
        if !d.pass(pass, src) {
            break;
        }
    }
    let devices = src.block_devices(true);
    d.sweep_stray_superblocks(&devices);
    d.wipe_holders(&devices);
    d.finish(src)
}

/// The state of one delete.
struct Deletion<'a> {
    m: &'a Machine,
    skip: &'a SkipList,
    failures: Vec<ToolFailure>,
    done: Deleted,
    /// Disks that held a deleted component.
    holders: Vec<String>,
    kept_uuids: Vec<String>,
    kept_components: Vec<String>,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// A device name from sysfs as a tool argument; `None` (logged) if it is not a plain path.
fn path(name: &str) -> Option<DevPath> {
    DevPath::new(name)
        .map_err(|e| tracing::warn!("not touching {name}: {}", e.details))
        .ok()
}

/// Disks and partitions that can carry md superblocks: not md arrays, not partitions of
/// md arrays.
fn examinable(devices: &[BlockDevice]) -> Vec<&BlockDevice> {
    devices
        .iter()
        .filter(|d| !d.is_md())
        .filter(|d| {
            d.parent
                .as_deref()
                .is_none_or(|p| find_by_name(devices, p).is_none_or(|pd| !pd.is_md()))
        })
        .collect()
}

impl Deletion<'_> {
    /// Runs a command whose failure is collected (reported at the end).
    fn must(&mut self, cmd: &ToolCmd, doing: String) -> bool {
        match self.m.run(cmd) {
            Ok(_) => true,
            Err(error) => {
                let failure = ToolFailure { doing, error };
                tracing::warn!("{failure}");
                self.failures.push(failure);
                false
            }
        }
    }

    /// Runs a command whose failure is only logged.
    fn may(&self, cmd: &ToolCmd) -> Option<String> {
        match self.m.run(cmd) {
            Ok(o) => Some(o.stdout),
            Err(e) => {
                tracing::info!("{e} (ignored)");
                None
            }
        }
    }

    fn examine(&self, dev: &str) -> Option<Superblock> {
        match self.m.run(&mdadm::examine(&path(dev)?)) {
            Ok(o) => parse_examine(&o.stdout),
            Err(e) => {
                tracing::warn!("{e}; treating {dev} as having no md superblock");
                None
            }
        }
    }

    fn detail(&self, md: &DevPath) -> Detail {
        self.may(&mdadm::detail(md))
            .map(|s| parse_detail(&s))
            .unwrap_or_default()
    }

    fn keeps(&self, sb: &Superblock) -> bool {
        self.kept_uuids.contains(&sb.uuid) || self.skip.keeps_volume(sb.name.as_deref())
    }

    /// One pass over the md arrays: the kept ones are recorded, the others deleted.
    /// Returns false when there was nothing to delete.
    fn pass(&mut self, pass: u32, src: &dyn DeviceSource) -> bool {
        let arrays = src.md_arrays();
        let devices = src.block_devices(true);
        let mut todo: Vec<(DevPath, &BlockDevice, Detail)> = Vec::new();
        for md in &arrays {
            let Some(md_path) = path(&md.name) else {
                continue;
            };
            let d = self.detail(&md_path);
            let name = d.name.clone().or_else(|| md.md_name.clone());
            if self.skip.keeps_volume(name.as_deref()) {
                tracing::info!(
                    "keeping {} ({}): listed in skip_block_devices",
                    md.name,
                    name.unwrap_or_default()
                );
                push_unique(&mut self.done.kept, md_path);
                self.kept_uuids.extend(d.uuid.clone());
                for c in md.slaves.iter().chain(&d.devices) {
                    push_unique(&mut self.kept_components, c.clone());
                }
            } else {
                todo.push((md_path, md, d));
            }
        }
        if todo.is_empty() {
            return false;
        }
        let names: Vec<&str> = todo.iter().map(|(p, _, _)| p.as_str()).collect();
        tracing::info!("delete_configuration pass {pass}: {}", names.join(", "));
        let superblocks: Vec<(String, Superblock)> = examinable(&devices)
            .into_iter()
            .filter_map(|d| self.examine(&d.name).map(|s| (d.name.clone(), s)))
            .collect();
        for (dev, sb) in &superblocks {
            if self.keeps(sb) {
                push_unique(&mut self.kept_components, dev.clone());
            }
        }
        for (md_path, md, d) in &todo {
            let components = self.components(md, d, &superblocks, &devices);
            self.delete_array(md_path, &components, &superblocks, &devices);
        }
        true
    }

    /// The members of an array: from sysfs, from `--detail`, and every device whose
    /// superblock has the array's UUID; minus kept and skip-listed ones.
    fn components(
        &self,
        md: &BlockDevice,
        d: &Detail,
        superblocks: &[(String, Superblock)],
        devices: &[BlockDevice],
    ) -> Vec<String> {
        let mut components: Vec<String> = Vec::new();
        for c in md.slaves.iter().chain(&d.devices) {
            push_unique(&mut components, c.clone());
        }
        if let Some(u) = &d.uuid {
            for (dev, _) in superblocks.iter().filter(|(_, sb)| &sb.uuid == u) {
                push_unique(&mut components, dev.clone());
            }
        }
        components.retain(|c| {
            let skipped =
                find_by_name(devices, c).is_some_and(|dev| self.skip.skips_disk(dev, devices));
            if skipped {
                tracing::info!("not zeroing {c} ({}): it is in skip_block_devices", md.name);
            }
            !self.kept_components.contains(c) && !skipped
        });
        components
    }

    /// Wipes, stops and zeroes one array (IPA's order).
    fn delete_array(
        &mut self,
        md: &DevPath,
        components: &[String],
        superblocks: &[(String, Superblock)],
        devices: &[BlockDevice],
    ) {
        self.may(&wipefs::all(md));
        if self.must(&mdadm::stop(md), format!("Stopping {md}")) {
            push_unique(&mut self.done.stopped, md.clone());
        }
        for c in components {
            let has_sb = superblocks.iter().any(|(dev, _)| dev == c) || self.examine(c).is_some();
            if has_sb {
                self.zero(c, format!("Zeroing the md superblock of {c} ({md})"));
            }
            push_unique(&mut self.holders, parent_disk(devices, c));
        }
    }

    fn zero(&mut self, dev: &str, doing: String) {
        let Some(p) = path(dev) else {
            return;
        };
        if self.must(&mdadm::zero_superblock(&p), doing) {
            push_unique(&mut self.done.zeroed, p);
        }
    }

    /// Stray superblocks anywhere (components of arrays that never assembled, leftovers),
    /// partitions before their disks.
    fn sweep_stray_superblocks(&mut self, devices: &[BlockDevice]) {
        for d in examinable(devices).into_iter().rev() {
            if self.kept_components.contains(&d.name) || self.skip.skips_disk(d, devices) {
                continue;
            }
            if d.read_only {
                tracing::info!("not examining {}: read-only", d.name);
                continue;
            }
            let Some(sb) = self.examine(&d.name) else {
                continue;
            };
            if self.keeps(&sb) {
                continue;
            }
            tracing::info!(
                "{} has a stray md superblock (array {}); zeroing it",
                d.name,
                sb.uuid
            );
            self.zero(
                &d.name,
                format!("Zeroing the stray md superblock of {}", d.name),
            );
            push_unique(&mut self.holders, parent_disk(devices, &d.name));
        }
    }

    /// Wipes the disks that held components; on a disk shared with a kept array only the
    /// deleted partitions are removed; skip-listed disks are left alone.
    fn wipe_holders(&mut self, devices: &[BlockDevice]) {
        let kept_disks: Vec<String> = self
            .kept_components
            .iter()
            .map(|c| parent_disk(devices, c))
            .collect();
        for h in self.holders.clone() {
            let dev = find_by_name(devices, &h);
            if dev.is_some_and(|d| self.skip.skips_disk(d, devices)) {
                tracing::info!("not wiping {h}: it is in skip_block_devices");
                continue;
            }
            let Some(disk) = path(&h) else {
                continue;
            };
            if kept_disks.contains(&h) {
                self.remove_deleted_partitions(&disk);
            } else if self.must(&wipefs::all(&disk), format!("Wiping {disk}")) {
                self.m.reread_partitions(&disk);
                push_unique(&mut self.done.wiped, disk);
            }
        }
    }

    fn remove_deleted_partitions(&mut self, disk: &DevPath) {
        let parts: Vec<(u32, DevPath)> = self
            .done
            .zeroed
            .iter()
            .filter_map(|z| Some((disk.partition_number(z)?, z.clone())))
            .collect();
        for (n, part) in parts {
            let doing = format!("Removing partition {part} (next to a kept array)");
            if self.must(&parted::rm(disk, n), doing) {
                push_unique(&mut self.done.removed_partitions, part);
            }
        }
    }

    /// Arrays still there (and not kept) or any failure make the delete fail.
    fn finish(self, src: &dyn DeviceSource) -> std::result::Result<Deleted, Box<DeleteFailure>> {
        let remaining: Vec<DevPath> = src
            .md_arrays()
            .into_iter()
            .filter(|md| !self.skip.keeps_volume(md.md_name.as_deref()))
            .filter_map(|md| path(&md.name))
            .filter(|p| !self.done.kept.contains(p))
            .collect();
        if !remaining.is_empty() || !self.failures.is_empty() {
            return Err(Box::new(DeleteFailure {
                remaining,
                failures: self.failures,
                done: self.done,
            }));
        }
        let d = &self.done;
        if d.stopped.is_empty() && d.zeroed.is_empty() {
            tracing::info!("delete_configuration: no software RAID found, nothing to delete");
        } else {
            tracing::info!(
                "delete_configuration: stopped {:?}, zeroed superblocks on {:?}, wiped {:?}",
                d.stopped,
                d.zeroed,
                d.wiped
            );
        }
        Ok(self.done)
    }
}
