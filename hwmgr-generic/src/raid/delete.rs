//! `raid.delete_configuration` (`ipa-protocol.md` 9.3), working from any state: arrays
//! assembled under another name after a reboot (`md127`), degraded or inactive arrays,
//! arrays with a missing member, stray superblocks on partitions, or nothing at all.
//!
//! Order: `mdadm --assemble --scan` (result ignored); up to two passes over the md arrays
//! (`--detail` for UUID/name/members, `--examine` of every disk and partition to find all
//! components, `wipefs -af <md>`, `--stop`, `--zero-superblock` of each component); then a
//! sweep that examines every disk and partition (reverse order) and zeroes any superblock
//! left; then `wipefs -af` of every disk that held a component. Arrays named in
//! `skip_block_devices` are left alone, and so are their components; on a disk shared with
//! a kept array only the deleted partitions are removed (`parted rm`), and disks matched
//! by skip-list hints are never wiped.

use super::mdadm::{parse_detail, parse_examine, Detail, Superblock};
use super::plan::parent_disk;
use super::{partition_number_of, raid_error, tool_path, DeviceSource, LiveDevices, SkipList};
use crate::Machine;
use hwmgr::{BlockDevice, Cmd, ErrorKind, Result, StepCall};
use serde_json::Value;

/// `raid.delete_configuration`: returns `null`.
pub fn delete_configuration(m: &Machine, call: &StepCall) -> Result<Value> {
    delete_with(m, &LiveDevices(&m.host), &call.node)
}

struct Ctx<'a> {
    m: &'a Machine,
    failures: Vec<String>,
}

impl Ctx<'_> {
    fn cmd(&self, program: &str, args: &[&str]) -> Result<Cmd> {
        let mut c = Cmd::new(program);
        for a in args {
            c = if a.starts_with("/dev/") {
                c.arg(tool_path(&self.m.host, a)?)
            } else {
                c.arg(a)
            };
        }
        Ok(c)
    }

    /// Runs a command whose failure is collected (reported at the end).
    fn must(&mut self, program: &str, args: &[&str], what: &str) -> bool {
        let res = self.cmd(program, args).and_then(|c| {
            self.m
                .runner
                .run(&c)
                .map_err(|e| hwmgr::command_error(ErrorKind::SoftwareRAIDError, what, &e))
        });
        match res {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("{}", e.details);
                self.failures.push(e.details);
                false
            }
        }
    }

    /// Runs a command whose failure is only logged.
    fn may(&self, program: &str, args: &[&str]) -> Option<String> {
        let c = self.cmd(program, args).ok()?;
        match self.m.runner.run(&c) {
            Ok(o) => Some(o.stdout),
            Err(e) => {
                tracing::info!("{e} (ignored)");
                None
            }
        }
    }

    fn examine(&self, dev: &str) -> Option<Superblock> {
        let c = self
            .cmd("mdadm", &["--examine", dev])
            .ok()?
            .ok_codes(&[0, 1]);
        match self.m.runner.run(&c) {
            Ok(o) => parse_examine(&o.stdout),
            Err(e) => {
                tracing::warn!("{e}; treating {dev} as having no md superblock");
                None
            }
        }
    }

    fn detail(&self, md: &str) -> Detail {
        self.may("mdadm", &["--detail", md])
            .map(|s| parse_detail(&s))
            .unwrap_or_default()
    }
}

/// Disks and partitions that can carry md superblocks: not md arrays, not partitions of
/// md arrays.
fn examinable(devices: &[BlockDevice]) -> Vec<&BlockDevice> {
    devices
        .iter()
        .filter(|d| !d.is_md())
        .filter(|d| {
            d.parent.as_deref().is_none_or(|p| {
                hwmgr::blockdev::find_by_name(devices, p).is_none_or(|pd| !pd.is_md())
            })
        })
        .collect()
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

pub fn delete_with(m: &Machine, src: &dyn DeviceSource, node: &Value) -> Result<Value> {
    let skip = SkipList::from_node(node, ErrorKind::SoftwareRAIDError)?;
    let mut cx = Ctx {
        m,
        failures: Vec::new(),
    };
    cx.may("mdadm", &["--assemble", "--scan"]);

    let mut holders: Vec<String> = Vec::new();
    let mut zeroed: Vec<String> = Vec::new();
    let mut kept_uuids: Vec<String> = Vec::new();
    let mut kept_components: Vec<String> = Vec::new();
    let mut kept_arrays: Vec<String> = Vec::new();
    let mut deleted: Vec<String> = Vec::new();

    for pass in 1..=2 {
        let arrays = src.md_arrays();
        let devices = src.block_devices(true);
        let mut todo: Vec<(&BlockDevice, Detail)> = Vec::new();
        for md in &arrays {
            let d = cx.detail(&md.name);
            let name = d.name.clone().or_else(|| md.md_name.clone());
            if skip.keeps_volume(name.as_deref()) {
                tracing::info!(
                    "keeping {} ({}): listed in skip_block_devices",
                    md.name,
                    name.unwrap_or_default()
                );
                push_unique(&mut kept_arrays, md.name.clone());
                kept_uuids.extend(d.uuid.clone());
                for c in md.slaves.iter().chain(&d.devices) {
                    push_unique(&mut kept_components, c.clone());
                }
                continue;
            }
            todo.push((md, d));
        }
        if todo.is_empty() {
            break;
        }
        tracing::info!(
            "delete_configuration pass {pass}: {}",
            todo.iter()
                .map(|(m, _)| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let superblocks: Vec<(String, Superblock)> = examinable(&devices)
            .into_iter()
            .filter_map(|d| cx.examine(&d.name).map(|s| (d.name.clone(), s)))
            .collect();
        for (sb_dev, sb) in &superblocks {
            if kept_uuids.contains(&sb.uuid) || skip.keeps_volume(sb.name.as_deref()) {
                push_unique(&mut kept_components, sb_dev.clone());
            }
        }
        for (md, d) in &todo {
            let mut components: Vec<String> = Vec::new();
            for c in md.slaves.iter().chain(&d.devices) {
                push_unique(&mut components, c.clone());
            }
            if let Some(u) = &d.uuid {
                for (dev, sb) in &superblocks {
                    if &sb.uuid == u {
                        push_unique(&mut components, dev.clone());
                    }
                }
            }
            components.retain(|c| {
                let skipped = hwmgr::blockdev::find_by_name(&devices, c)
                    .is_some_and(|d| skip.skips_disk(d, &devices));
                if skipped {
                    tracing::info!("not zeroing {c} ({}): it is in skip_block_devices", md.name);
                }
                !kept_components.contains(c) && !skipped
            });
            cx.may("wipefs", &["-af", &md.name]);
            if cx.must(
                "mdadm",
                &["--stop", &md.name],
                &format!("Stopping {} failed", md.name),
            ) {
                push_unique(&mut deleted, md.name.clone());
            }
            for c in &components {
                let has_sb = superblocks.iter().any(|(dev, _)| dev == c) || cx.examine(c).is_some();
                if has_sb
                    && cx.must(
                        "mdadm",
                        &["--zero-superblock", c],
                        &format!("Zeroing the md superblock of {c} ({}) failed", md.name),
                    )
                {
                    push_unique(&mut zeroed, c.clone());
                }
                push_unique(&mut holders, parent_disk(&devices, c));
            }
        }
    }

    // Stray superblocks anywhere (components of arrays that never assembled, leftovers).
    let devices = src.block_devices(true);
    for d in examinable(&devices).into_iter().rev() {
        if kept_components.contains(&d.name) || skip.skips_disk(d, &devices) {
            continue;
        }
        if d.read_only {
            tracing::info!("not examining {}: read-only", d.name);
            continue;
        }
        let Some(sb) = cx.examine(&d.name) else {
            continue;
        };
        if kept_uuids.contains(&sb.uuid) || skip.keeps_volume(sb.name.as_deref()) {
            continue;
        }
        tracing::info!(
            "{} has a stray md superblock (array {}); zeroing it",
            d.name,
            sb.uuid
        );
        if cx.must(
            "mdadm",
            &["--zero-superblock", &d.name],
            &format!("Zeroing the stray md superblock of {} failed", d.name),
        ) {
            push_unique(&mut zeroed, d.name.clone());
        }
        push_unique(&mut holders, parent_disk(&devices, &d.name));
    }

    // The disks that held components.
    let kept_disks: Vec<String> = kept_components
        .iter()
        .map(|c| parent_disk(&devices, c))
        .collect();
    for h in &holders {
        let dev = hwmgr::blockdev::find_by_name(&devices, h);
        if dev.is_some_and(|d| skip.skips_disk(d, &devices)) {
            tracing::info!("not wiping {h}: it is in skip_block_devices");
            continue;
        }
        if kept_disks.contains(h) {
            for z in zeroed.iter().filter(|z| *z != h) {
                if let Some(n) = partition_number_of(h, z) {
                    let n = n.to_string();
                    cx.must(
                        "parted",
                        &[h, "-s", "--", "rm", &n],
                        &format!("Removing partition {z} (next to a kept array) failed"),
                    );
                }
            }
            continue;
        }
        if cx.must("wipefs", &["-af", h], &format!("Wiping {h} failed")) {
            m.reread_partition_table(h);
        }
    }

    let remaining: Vec<String> = src
        .md_arrays()
        .into_iter()
        .filter(|md| !kept_arrays.contains(&md.name) && !skip.keeps_volume(md.md_name.as_deref()))
        .map(|md| md.name)
        .collect();
    if !remaining.is_empty() {
        let mut msg = format!("Unable to clean all softraid correctly. Remaining {remaining:?}");
        if !cx.failures.is_empty() {
            msg += &format!("; errors: {}", cx.failures.join("; "));
        }
        return Err(raid_error(msg));
    }
    if !cx.failures.is_empty() {
        return Err(raid_error(format!(
            "Software RAID deletion incomplete: {}",
            cx.failures.join("; ")
        )));
    }
    if deleted.is_empty() && zeroed.is_empty() {
        tracing::info!("delete_configuration: no software RAID found, nothing to delete");
    } else {
        tracing::info!(
            "delete_configuration: stopped {:?}, zeroed superblocks on {:?}, wiped {:?}",
            deleted,
            zeroed,
            holders
        );
    }
    Ok(Value::Null)
}
