//! `deploy.erase_devices_metadata` (`ironic_python_agent/hardware.py:
//! GenericHardwareManager.erase_devices_metadata`, `_list_erasable_devices`, with the safety
//! check of `_check_for_special_partitions_filesystems`; `disk_utils.py: destroy_disk_metadata`).
//!
//! Devices: disks (incl. md arrays) **and** partitions, minus `skip_block_devices` (disk
//! hints, and the partitions of a skipped disk, which IPA would still wipe; arrays named by
//! `volume_name`), sorted by name descending (partitions before their disk). Skipped with
//! a log line: the virtual-media device (`/dev/disk/by-label/ir-vfd-dev`, or a device whose
//! probes show the label `ir-vfd-dev`: the ramdisk has no udev to make the link), read-only
//! devices, and RAID members. A RAID member is a device with an md holder in sysfs, or one
//! whose probes (the device or any child) show `linux_raid_member`, as IPA's `lsblk --fs`
//! check does. Without udev lsblk sees no file-system type, so `blkid -p` is asked too
//! ([`super::safety`]): members of arrays that are not assembled are skipped as IPA skips
//! them; `deploy.erase_devices` erases them whole.
//!
//! The safety check ([`super::safety`]) runs for **every** device before anything is written, so a
//! protected file system (GPFS, VMFS, gfs2) aborts the step with `ProtectedDeviceError`
//! and no device touched. It is skipped when `driver_internal_info.wipe_special_filesystems`
//! is false or the agent option `guard-special-filesystems` is off
//! ([`EraseOptions`]).
//!
//! Per device (IPA's `destroy_disk_metadata`): `wipefs --force --all` (retried without
//! `--force` if this wipefs does not know it), `blockdev --getss` / `--getsize64`, `dd` of
//! zeros over the primary GPT area and the backup GPT area at the end (clipped to the
//! device). Failures are collected and returned as one `BlockDeviceEraseError` naming each
//! device, command and stderr. Returns `null`. (IPA's final "wait until the device is free"
//! is not done.) Disks are wiped in parallel, each disk's partitions before it (IPA: one
//! device after another), and the devices' safety probes run in parallel too (bounded,
//! [`PROBE_WORKERS`]); the decisions and their log lines keep the devices' order.
//!
//! **Deliberate difference: no `sgdisk -Z`.** IPA runs `sgdisk -Z` after its two `dd`s. On
//! a device whose GPT headers wipefs has already erased, sgdisk finds no GPT and zaps the
//! default geometry (gdisk `GPTData::DestroyGPT` / `DestroyMBR`): sector 0 (the whole
//! protective MBR), the primary header (LBA 1) and the 16 KiB entry array from LBA 2, the
//! backup entry array and the backup header in the last sectors; then `DiskIO::DiskSync`
//! sleeps a fixed second before asking the kernel to re-read the partition table
//! (`BLKRRPART`). That second per device was most of this step's time. The `dd`s here
//! cover all of it themselves: the primary area is zeroed through the end of the default
//! entry array (`gpt_primary_sectors`: 34 sectors at 512 B, 6 at 4 KiB — one more than
//! IPA's 33 / 5, which leave the array's last sector to sgdisk), the backup area as IPA
//! does (33 / 5: the entry array and the header), and the whole disk's re-read is asked
//! with `blockdev --rereadpt` (`BLKRRPART`, retried, then `partx -d`:
//! `reread_after_wipe`). Nothing sgdisk would have zeroed is left, and no fixed sleep.

use super::engine::run_parallel;
use super::safety::{self, guard_enabled};
use super::EraseOptions;
use crate::raid::SkipList;
use crate::tools::{blockdev, dd, wipefs, DevPath, ToolCmd};
use crate::Machine;
use ::blockdev::{BlockDevice, DevType};
use hwmgr::{command_error, AgentError, ErrorKind, Result, StepCall};
use serde_json::Value;
use std::time::Duration;

/// `deploy.erase_devices_metadata` on the live machine.
pub fn erase_devices_metadata(m: &Machine, call: &StepCall) -> Result<Value> {
    let (devices, md) = super::live_devices(m);
    erase_devices_metadata_on(m, &devices, &md, call, &EraseOptions::default())
}

fn err(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::BlockDeviceEraseError, details)
}

/// The virtual-media device's kernel name, if the link exists.
pub(super) fn virtual_media(m: &Machine) -> Option<String> {
    let t = m.host.link_target("/dev/disk/by-label/ir-vfd-dev")?;
    t.file_name().map(|f| f.to_string_lossy().into_owned())
}

/// `erase_devices_metadata` over a given device list (`devices` with partitions; `md`
/// the md arrays with their names, for the skip list).
pub fn erase_devices_metadata_on(
    m: &Machine,
    devices: &[BlockDevice],
    md: &[BlockDevice],
    call: &StepCall,
    opts: &EraseOptions,
) -> Result<Value> {
    let (selected, mut failures) =
        erasable_devices(m, devices, md, call, opts, "erase_devices_metadata")?;
    let groups = by_disk(&selected);
    let names: Vec<String> = groups.iter().map(|g| g[0].name.clone()).collect();
    let results = run_parallel(&groups, &names, groups.len(), PROGRESS_EVERY, |g, _| {
        wipe_group(m, g)
    });
    for (r, name) in results.into_iter().zip(&names) {
        failures.extend(r.unwrap_or_else(|| {
            vec![format!(
                "{name}: the erase worker crashed (a bug in the agent; the agent log has the panic)"
            )]
        }));
    }
    if !failures.is_empty() {
        return Err(err(format!(
            "Failed to erase the metadata on the device(s): {}",
            failures.join("; ")
        )));
    }
    Ok(Value::Null)
}

/// A metadata wipe takes a second or two: a "still running" line only when one hangs.
const PROGRESS_EVERY: Duration = Duration::from_secs(60);

/// The selected devices grouped by the disk they are on (a partition with its disk), in
/// the selection's order. Disks are independent, so the groups are wiped in parallel —
/// IPA wipes one device after the other (the deliberate difference: a 4-disk clean step
/// takes as long as one disk).
fn by_disk<'a>(selected: &[&'a BlockDevice]) -> Vec<Vec<&'a BlockDevice>> {
    let mut groups: Vec<(String, Vec<&'a BlockDevice>)> = Vec::new();
    for &d in selected {
        let disk = d.parent.clone().unwrap_or_else(|| d.name.clone());
        match groups.iter_mut().find(|(k, _)| *k == disk) {
            Some((_, g)) => g.push(d),
            None => groups.push((disk, vec![d])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Wipes one disk's group in order (partitions first, names sorted descending), then makes
/// the kernel drop the old partitions from its view of the disk. Returns the failures.
fn wipe_group(m: &Machine, group: &[&BlockDevice]) -> Vec<String> {
    let mut failures = Vec::new();
    for d in group {
        match destroy_disk_metadata(m, &d.name) {
            Ok(()) if !d.is_partition() => reread_after_wipe(m, &d.name),
            Ok(()) => {}
            Err(e) => failures.push(format!("{}: {e}", d.name)),
        }
    }
    failures
}

/// Re-read attempts of a wiped disk's partition table before falling back to `partx -d`.
const REREAD_ATTEMPTS: u32 = 3;

/// After a disk's wipe, asks the kernel to re-read its (now empty) partition table, as
/// `sgdisk -Z` did (`BLKRRPART`) before IPA's step returned. `BLKRRPART` fails with EBUSY
/// while something still holds the disk open (a just-closed writer, a probe), so it is
/// retried after 0.1 and 0.2 s before [`Machine::reread_partitions`] falls back to
/// dropping the partitions with `partx -d` (logged, best effort).
pub(super) fn reread_after_wipe(m: &Machine, dev: &str) {
    let Ok(disk) = DevPath::new(dev) else { return };
    for attempt in 1..REREAD_ATTEMPTS {
        match m.run(&blockdev::reread_partition_table(&disk)) {
            Ok(_) => return,
            Err(e) => {
                tracing::debug!("re-reading {disk} (attempt {attempt}): {e}; retrying");
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
            }
        }
    }
    m.reread_partitions(&disk);
}

/// IPA's `_list_erasable_devices` plus the safety check of each: the devices to wipe
/// (partitions before their disk) and the devices whose check could not run. A protected
/// device is the error (nothing touched).
pub(super) fn erasable_devices<'a>(
    m: &Machine,
    devices: &'a [BlockDevice],
    md: &[BlockDevice],
    call: &StepCall,
    opts: &EraseOptions,
    step: &str,
) -> Result<(Vec<&'a BlockDevice>, Vec<String>)> {
    let skip = SkipList::from_node(&call.node, ErrorKind::BlockDeviceEraseError)?;
    let vmedia = virtual_media(m);
    let mut list: Vec<&BlockDevice> = devices
        .iter()
        .filter(|d| matches!(d.dev_type, DevType::Disk | DevType::Raid(_) | DevType::Part))
        .collect();
    list.sort_by(|a, b| b.name.cmp(&a.name));

    let kept_md: Vec<&str> = md
        .iter()
        .chain(devices.iter().filter(|d| d.is_md()))
        .filter(|a| skip.keeps_volume(a.md_name.as_deref()))
        .map(|a| a.name.as_str())
        .collect();

    let mut candidates: Vec<&BlockDevice> = Vec::new();
    for d in list {
        let on_kept_md = kept_md.contains(&d.name.as_str())
            || d.parent.as_deref().is_some_and(|p| kept_md.contains(&p));
        if on_kept_md {
            tracing::info!(
                "not erasing {}: software RAID kept by skip_block_devices",
                d.name
            );
            continue;
        }
        if skip.skips_disk(d, devices) {
            tracing::info!("not erasing {}: in skip_block_devices", d.name);
            continue;
        }
        if vmedia.as_deref() == Some(d.kname.as_str()) {
            tracing::info!("not erasing {}: virtual media device", d.name);
            continue;
        }
        if d.read_only {
            tracing::info!("not erasing {}: read-only", d.name);
            continue;
        }
        if d.holders
            .iter()
            .any(|h| h.trim_start_matches("/dev/").starts_with("md"))
        {
            tracing::info!(
                "not erasing {}: RAID member of {}",
                d.name,
                d.holders.join(", ")
            );
            continue;
        }
        candidates.push(d);
    }

    // The probes only read, and devices are independent: they run side by side (each is a
    // few processes that mostly wait on the disk), and are judged in the devices' order.
    let facts = parallel_map(&candidates, PROBE_WORKERS, |d| {
        safety::device_facts(m, &d.name, &d.partitions)
    });
    let mut selected: Vec<&BlockDevice> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut protected: Vec<String> = Vec::new();
    let guard = guard_enabled(call, opts.guard_special_filesystems);
    for (d, facts) in candidates.into_iter().zip(facts) {
        match facts {
            Err(e) => failures.push(format!("{}: safety check failed: {e}", d.name)),
            Ok(i) if i.raid_member => {
                tracing::info!("not erasing {}: it holds a Linux RAID member", d.name);
            }
            Ok(i) if i.virtual_media => {
                tracing::info!(
                    "not erasing {}: virtual media device (label {})",
                    d.name,
                    safety::VMEDIA_LABEL
                );
            }
            Ok(i) => {
                if guard && !i.protected.is_empty() {
                    protected.push(format!("{} ({})", d.name, i.protected.join(", ")));
                }
                selected.push(d);
            }
        }
    }
    if !protected.is_empty() {
        return Err(safety::protected_error(step, &protected));
    }
    Ok((selected, failures))
}

/// How many devices are probed at once before a metadata erase.
pub const PROBE_WORKERS: usize = 4;

/// `f` over `items` on up to `workers` threads; the results in the items' order. A probe
/// that panicked (a bug) reads as a failed probe of its device, so its device is not wiped.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> std::result::Result<R, String> + Sync,
) -> Vec<std::result::Result<R, String>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<std::result::Result<R, String>>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.clamp(1, items.len().max(1)))
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Some(slot) = slots.get(i) {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    }
                })
            })
            .collect();
        // Joined here so a panic stays a failed probe instead of unwinding the step.
        for h in handles {
            let _ = h.join();
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    Err(
                        "the probe crashed (a bug in the agent; the agent log has the panic)"
                            .into(),
                    )
                })
        })
        .collect()
}

/// Wipes the signatures and both GPT areas of one device (everything `sgdisk -Z` would
/// zero: see the module docs). The caller re-reads a disk's partition table.
pub fn destroy_disk_metadata(m: &Machine, dev: &str) -> std::result::Result<(), String> {
    let dev = DevPath::new(dev).map_err(|e| e.details)?;
    let run = |cmd: ToolCmd, what: &str| {
        m.run(&cmd)
            .map_err(|e| command_error(ErrorKind::BlockDeviceEraseError, what, &e).details)
    };
    if let Err(e) = m.run(&wipefs::all(&dev)) {
        if !wipefs::force_unsupported(&e.stderr) {
            return Err(command_error(
                ErrorKind::BlockDeviceEraseError,
                "wiping signatures failed",
                &e,
            )
            .details);
        }
        run(wipefs::all_unforced(&dev), "wiping signatures failed")?;
    }
    let number = |cmd: ToolCmd, what: &str| -> std::result::Result<u64, String> {
        let out = run(cmd, what)?;
        out.stdout
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{what}: unexpected output {:?}", out.stdout.trim()))
    };
    let ss = number(
        blockdev::sector_size(&dev),
        "reading the sector size failed",
    )?;
    let size = number(blockdev::size_bytes(&dev), "reading the size failed")?;
    if ss == 0 {
        return Err(format!("{dev} reports a sector size of 0"));
    }
    let sectors = size / ss;
    let primary = gpt_primary_sectors(ss).min(sectors);
    if primary > 0 {
        run(
            dd::zero(&dev, ss, primary, None),
            "zeroing the primary GPT failed",
        )?;
    }
    let backup = gpt_backup_sectors(ss).min(sectors);
    if backup > 0 {
        run(
            dd::zero(&dev, ss, backup, Some(sectors - backup)),
            "zeroing the backup GPT failed",
        )?;
    }
    Ok(())
}

/// The default GPT's entry array: 128 entries of 128 bytes (what sgdisk assumes when no
/// header is left to say otherwise).
const GPT_ENTRIES_BYTES: u64 = 128 * 128;

/// Sectors zeroed at the start: the protective MBR, the primary header and the whole
/// default entry array behind it (34 at 512 B, 6 at 4 KiB; never fewer than IPA's 33 / 5).
pub(super) fn gpt_primary_sectors(ss: u64) -> u64 {
    (2 + GPT_ENTRIES_BYTES.div_ceil(ss)).max(ipa_gpt_sectors(ss))
}

/// Sectors zeroed at the end: the backup entry array and the backup header (33 at 512 B,
/// 5 at 4 KiB, as IPA).
pub(super) fn gpt_backup_sectors(ss: u64) -> u64 {
    (1 + GPT_ENTRIES_BYTES.div_ceil(ss)).max(ipa_gpt_sectors(ss))
}

/// IPA's `gpt_sectors` of `destroy_disk_metadata` (33 at 512 B, else 5).
fn ipa_gpt_sectors(ss: u64) -> u64 {
    if ss == 512 {
        33
    } else {
        5
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::{clean_call as call, disk, machine, part};
    use hwmgr::Host;
    use serde_json::json;
    use std::sync::Arc;
    use testkit::RecordingRunner;

    const EMPTY_LSBLK: &str = r#"{"blockdevices": [{"uuid": null, "ptuuid": null, "parttype": null, "partuuid": null, "fstype": null}]}"#;

    fn script_sizes(r: &RecordingRunner) {
        r.on(&["lsblk"], EMPTY_LSBLK)
            .on(&["blockdev", "--getss"], "512\n")
            .on(&["blockdev", "--getsize64"], "10737418240\n");
    }

    /// The step over `devices` (and the md arrays `md`) for a node `node`.
    fn metadata_erase(
        m: &Machine,
        devices: &[BlockDevice],
        md: &[BlockDevice],
        node: Value,
    ) -> Result<Value> {
        erase_devices_metadata_on(m, devices, md, &call(node), &EraseOptions::default())
    }

    fn wipe_lines(dev: &str) -> Vec<String> {
        vec![
            format!("wipefs --force --all /fake{dev}"),
            format!("blockdev --getss /fake{dev}"),
            format!("blockdev --getsize64 /fake{dev}"),
            format!("dd bs=512 if=/dev/zero of=/fake{dev} count=34 oflag=direct"),
            format!("dd bs=512 if=/dev/zero of=/fake{dev} count=33 oflag=direct seek=20971487"),
        ]
    }

    #[test]
    fn wipes_partitions_before_disks_and_skips_read_only_and_raid_members() {
        let (m, r) = machine();
        script_sizes(&r);
        let mut ro = disk("sdc", &[]);
        ro.read_only = true;
        let mut member = disk("sdb", &[]);
        member.holders = vec!["/dev/md127".into()];
        let devices = vec![disk("sda", &["sda1"]), part("sda1", "sda"), member, ro];
        let out = metadata_erase(&m, &devices, &[], json!({})).unwrap();
        assert_eq!(out, Value::Null);
        // Every device is probed (lsblk, and blkid of it and its partitions) first; the
        // devices' probes run side by side, each device's in order.
        let lines = r.lines();
        let (probes, wipes) = lines.split_at(5);
        let sda1 = [
            "lsblk -bia --json -oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL /fake/dev/sda1",
            "blkid -p -o export /fake/dev/sda1",
        ];
        let sda = [
            "lsblk -bia --json -oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL /fake/dev/sda",
            "blkid -p -o export /fake/dev/sda",
            "blkid -p -o export /fake/dev/sda1",
        ];
        let mut rest: Vec<&String> = probes.iter().collect();
        for seq in [&sda1[..], &sda[..]] {
            // Each device's own probes, in order, among all the probes.
            let mut at = 0;
            for want in seq {
                let i = rest[at..]
                    .iter()
                    .position(|l| l == want)
                    .unwrap_or_else(|| panic!("{want} missing or out of order: {lines:#?}"));
                at += i;
                rest.remove(at);
            }
        }
        assert!(rest.is_empty(), "{lines:#?}");
        let mut expected = wipe_lines("/dev/sda1");
        expected.extend(wipe_lines("/dev/sda"));
        // The disk (not its partition) is re-read so the kernel forgets the old partitions.
        expected.push("blockdev --rereadpt /fake/dev/sda".into());
        assert_eq!(wipes, expected);
    }

    /// Counts the runs of `program` in flight (each takes 100 ms) to see devices overlap.
    struct Overlap {
        program: &'static str,
        inner: RecordingRunner,
        now: std::sync::atomic::AtomicUsize,
        max: std::sync::atomic::AtomicUsize,
    }

    impl hwmgr::Runner for Overlap {
        fn run(
            &self,
            cmd: &hwmgr::Cmd,
        ) -> std::result::Result<hwmgr::CmdOutput, hwmgr::CommandError> {
            use std::sync::atomic::Ordering::SeqCst;
            if cmd.program != self.program {
                return self.inner.run(cmd);
            }
            let n = self.now.fetch_add(1, SeqCst) + 1;
            self.max.fetch_max(n, SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            self.now.fetch_sub(1, SeqCst);
            self.inner.run(cmd)
        }

        fn has_program(&self, program: &str) -> bool {
            self.inner.has_program(program)
        }
    }

    #[test]
    fn disks_are_wiped_in_parallel_partitions_before_their_disk() {
        let r = RecordingRunner::new();
        script_sizes(&r);
        let overlap = Arc::new(Overlap {
            program: "wipefs",
            inner: r.clone(),
            now: Default::default(),
            max: Default::default(),
        });
        let m = Machine::new(Host::new("/fake"), overlap.clone());
        let devices = vec![
            disk("sda", &["sda1", "sda2"]),
            part("sda1", "sda"),
            part("sda2", "sda"),
            disk("sdb", &[]),
            disk("sdc", &[]),
        ];
        metadata_erase(&m, &devices, &[], json!({})).unwrap();
        let max = overlap.max.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            max >= 2,
            "disks were wiped one after another (max {max} in flight)"
        );
        let wipes: Vec<String> = r
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("wipefs --force --all /fake/dev/sda"))
            .collect();
        assert_eq!(
            wipes,
            [
                "wipefs --force --all /fake/dev/sda2",
                "wipefs --force --all /fake/dev/sda1",
                "wipefs --force --all /fake/dev/sda"
            ],
            "one disk's devices stay in order"
        );
        for d in ["sdb", "sdc"] {
            assert!(r
                .lines()
                .contains(&format!("wipefs --force --all /fake/dev/{d}")));
        }
    }

    #[test]
    fn lsblk_raid_member_and_skip_list_are_not_touched() {
        let (m, r) = machine();
        script_sizes(&r);
        r.on(
            &["lsblk", "-bia", "--json", "-oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL", "/fake/dev/vdb"],
            r#"{"blockdevices": [{"uuid": null, "ptuuid": "x", "parttype": null, "partuuid": null, "fstype": null,
                "children": [{"uuid": "3f1e1c43-8a7b", "ptuuid": null, "parttype": null, "partuuid": null, "fstype": "linux_raid_member"}]}]}"#,
        );
        let devices = vec![
            disk("vda", &[]),
            disk("vdb", &[]),
            disk("vdc", &["vdc1"]),
            part("vdc1", "vdc"),
        ];
        let node = json!({"properties": {"skip_block_devices": [{"serial": "SER-vdc"}]}});
        metadata_erase(&m, &devices, &[], node).unwrap();
        let lines = r.lines();
        assert!(
            lines
                .iter()
                .any(|l| l == "wipefs --force --all /fake/dev/vda"),
            "{lines:#?}"
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("wipefs") && l.contains("vdb")),
            "{lines:#?}"
        );
        assert!(!lines.iter().any(|l| l.contains("vdc")), "{lines:#?}");
    }

    #[test]
    fn protected_filesystem_aborts_before_any_write() {
        let (m, r) = machine();
        script_sizes(&r);
        r.on(
            &["lsblk", "-bia", "--json", "-oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL", "/fake/dev/sda"],
            r#"{"blockdevices": [{"uuid": null, "ptuuid": "1", "parttype": null, "partuuid": null, "fstype": null,
               "children": [{"uuid": null, "ptuuid": null, "parttype": "aa31e02a-400f-11db-9590-000c2911d1b8", "partuuid": "2", "fstype": null}]}]}"#,
        );
        let devices = vec![disk("sda", &[]), disk("sdb", &[])];
        let e = metadata_erase(&m, &devices, &[], json!({})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProtectedDeviceError);
        assert!(
            e.details.contains("/dev/sda (VMware VMFS)"),
            "{}",
            e.details
        );
        assert!(
            r.lines()
                .iter()
                .all(|l| l.starts_with("lsblk") || l.starts_with("blkid")),
            "{:#?}",
            r.lines()
        );

        // The node may turn the guard off.
        let (m, r2) = machine();
        script_sizes(&r2);
        r2.on(
            &[
                "lsblk",
                "-bia",
                "--json",
                "-oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL",
                "/fake/dev/sda",
            ],
            r#"{"blockdevices": [{"fstype": "gfs2"}]}"#,
        );
        let node = json!({"driver_internal_info": {"wipe_special_filesystems": false}});
        metadata_erase(&m, &devices, &[], node).unwrap();
        assert!(r2
            .lines()
            .contains(&"wipefs --force --all /fake/dev/sda".to_string()));
    }

    #[test]
    fn failures_are_collected_per_device() {
        let (m, r) = machine();
        script_sizes(&r);
        r.fail(
            &["wipefs", "--force", "--all", "/fake/dev/sdb"],
            1,
            "wipefs: error: /dev/sdb: probing initialization failed: Permission denied",
        );
        r.fail(
            &[
                "dd",
                "bs=512",
                "if=/dev/zero",
                "of=/fake/dev/sda",
                "count=34",
            ],
            1,
            "dd: error writing '/dev/sda': Input/output error",
        );
        let devices = vec![disk("sda", &[]), disk("sdb", &[]), disk("sdc", &[])];
        let e = metadata_erase(&m, &devices, &[], json!({})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BlockDeviceEraseError);
        assert!(e.details.starts_with("Failed to erase the metadata on the device(s): /dev/sdb: wiping signatures failed: `wipefs --force --all /fake/dev/sdb` exited with code 1; stderr: wipefs: error"), "{}", e.details);
        assert!(e.details.contains("/dev/sda: zeroing the primary GPT failed: `dd bs=512 if=/dev/zero of=/fake/dev/sda count=34 oflag=direct` exited with code 1; stderr: dd: error writing"), "{}", e.details);
        // sdc was still erased, and re-read; the failed sda is not re-read.
        assert!(r
            .lines()
            .contains(&"blockdev --rereadpt /fake/dev/sdc".to_string()));
        assert!(!r
            .lines()
            .contains(&"blockdev --rereadpt /fake/dev/sda".to_string()));
    }

    #[test]
    fn wipefs_without_force_and_tiny_4k_devices() {
        let (m, r) = machine();
        r.fail(
            &["wipefs", "--force"],
            1,
            "wipefs: unrecognized option '--force'",
        )
        .on(&["blockdev", "--getss"], "4096\n")
        .on(&["blockdev", "--getsize64"], "12288\n");
        destroy_disk_metadata(&m, "/dev/nvme0n1").unwrap();
        assert_eq!(
            r.lines(),
            vec![
                "wipefs --force --all /fake/dev/nvme0n1",
                "wipefs --all /fake/dev/nvme0n1",
                "blockdev --getss /fake/dev/nvme0n1",
                "blockdev --getsize64 /fake/dev/nvme0n1",
                "dd bs=4096 if=/dev/zero of=/fake/dev/nvme0n1 count=3 oflag=direct",
                "dd bs=4096 if=/dev/zero of=/fake/dev/nvme0n1 count=3 oflag=direct seek=0",
            ]
        );
    }

    #[test]
    fn kept_raid_and_virtual_media_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("dev/disk/by-label")).unwrap();
        std::os::unix::fs::symlink("../../sr0x", d.path().join("dev/disk/by-label/ir-vfd-dev"))
            .unwrap();
        let r = RecordingRunner::new();
        let m = Machine::new(Host::new(d.path()), Arc::new(r.clone()));
        script_sizes(&r);
        let mut md = disk("md127", &["md127p1"]);
        md.dev_type = DevType::Raid("raid1".into());
        md.md_name = Some("data".into());
        let devices = vec![
            disk("sr0x", &[]),
            md.clone(),
            part("md127p1", "md127"),
            disk("vda", &[]),
        ];
        let node = json!({"properties": {"skip_block_devices": [{"volume_name": "data"}]}});
        metadata_erase(&m, &devices, &[md], node).unwrap();
        let lines = r.lines();
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("md127") && !l.contains("sr0x")),
            "{lines:#?}"
        );
        assert!(lines
            .iter()
            .any(|l| l.starts_with("wipefs") && l.ends_with("/dev/vda")));
    }

    /// Byte ranges `[start, end)` the recorded `dd` commands zero on `dev`.
    fn zeroed(lines: &[String], dev: &str) -> Vec<(u64, u64)> {
        lines
            .iter()
            .filter(|l| l.starts_with("dd ") && l.contains(&format!("of=/fake{dev} ")))
            .map(|l| {
                let arg = |k: &str| {
                    l.split(' ')
                        .find_map(|a| a.strip_prefix(k))
                        .map_or(0, |v| v.parse::<u64>().unwrap())
                };
                let (bs, count, seek) = (arg("bs="), arg("count="), arg("seek="));
                (seek * bs, (seek + count) * bs)
            })
            .collect()
    }

    /// What `sgdisk -Z` zeroes on a device without a GPT header left (wipefs erased both):
    /// gdisk `GPTData::DestroyGPT` with the default geometry (512 bytes at the main header,
    /// LBA 1; 128 entries × 128 bytes from LBA 2; the same at the backup array, which ends
    /// right before the last sector; 512 bytes at the backup header, the last sector), then
    /// `GPTData::DestroyMBR` (the first 512 bytes).
    fn sgdisk_zap_ranges(ss: u64, size: u64) -> Vec<(u64, u64)> {
        let table = 128 * 128;
        let last = size / ss - 1;
        let backup_table_lba = last - table / ss;
        vec![
            (ss, ss + 512),
            (2 * ss, 2 * ss + table),
            (backup_table_lba * ss, backup_table_lba * ss + table),
            (last * ss, last * ss + 512),
            (0, 512),
        ]
    }

    #[test]
    fn everything_sgdisk_zap_would_zero_is_zeroed_without_it() {
        for (ss, size) in [
            (512u64, 10737418240u64),
            (4096, 10737418240),
            (512, 1 << 20),
        ] {
            let (m, r) = machine();
            r.on(&["blockdev", "--getss"], &format!("{ss}\n"))
                .on(&["blockdev", "--getsize64"], &format!("{size}\n"));
            destroy_disk_metadata(&m, "/dev/sda").unwrap();
            let lines = r.lines();
            assert!(!lines.iter().any(|l| l.starts_with("sgdisk")), "{lines:#?}");
            assert_eq!(lines[0], "wipefs --force --all /fake/dev/sda");
            let done = zeroed(&lines, "/dev/sda");
            for (a, b) in sgdisk_zap_ranges(ss, size) {
                assert!(
                    done.iter().any(|&(s, e)| s <= a && b <= e),
                    "{ss} B sectors, {size} B: bytes {a}..{b} (zeroed by sgdisk -Z) are not zeroed by {lines:#?}"
                );
            }
            // Never less than IPA's own two dd's (33 / 5 sectors at each end).
            let ipa = if ss == 512 { 33 } else { 5 };
            let sectors = size / ss;
            assert!(done.iter().any(|&(s, e)| s == 0 && e >= ipa * ss));
            assert!(done
                .iter()
                .any(|&(s, e)| s <= (sectors - ipa) * ss && e == size));
        }
        assert_eq!(
            (gpt_primary_sectors(512), gpt_backup_sectors(512)),
            (34, 33)
        );
        assert_eq!(
            (gpt_primary_sectors(4096), gpt_backup_sectors(4096)),
            (6, 5)
        );
    }

    #[test]
    fn the_wiped_disk_is_re_read_with_retries_then_partx() {
        let (m, r) = machine();
        script_sizes(&r);
        r.fail_times(
            &["blockdev", "--rereadpt"],
            1,
            "blockdev: ioctl error on BLKRRPART: Device or resource busy",
            2,
        );
        metadata_erase(&m, &[disk("sda", &[])], &[], json!({})).unwrap();
        let rereads: Vec<String> = r
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("blockdev --rereadpt") || l.starts_with("partx"))
            .collect();
        assert_eq!(rereads, ["blockdev --rereadpt /fake/dev/sda"; 3]);

        let (m, r) = machine();
        script_sizes(&r);
        r.fail(
            &["blockdev", "--rereadpt"],
            1,
            "blockdev: ioctl error on BLKRRPART: Device or resource busy",
        );
        metadata_erase(&m, &[disk("sda", &[])], &[], json!({})).unwrap();
        let rereads: Vec<String> = r
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("blockdev --rereadpt") || l.starts_with("partx"))
            .collect();
        let mut want = vec!["blockdev --rereadpt /fake/dev/sda"; 3];
        want.push("partx -d /fake/dev/sda");
        assert_eq!(rereads, want);
    }

    #[test]
    fn devices_are_probed_side_by_side() {
        let r = RecordingRunner::new();
        script_sizes(&r);
        let overlap = Arc::new(Overlap {
            program: "lsblk",
            inner: r.clone(),
            now: Default::default(),
            max: Default::default(),
        });
        let m = Machine::new(Host::new("/fake"), overlap.clone());
        let devices: Vec<BlockDevice> = ["vda", "vdb", "vdc", "vdd", "vde", "vdf"]
            .iter()
            .map(|d| disk(d, &[]))
            .collect();
        metadata_erase(&m, &devices, &[], json!({})).unwrap();
        let max = overlap.max.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (2..=PROBE_WORKERS).contains(&max),
            "{max} probes in flight (bounded by {PROBE_WORKERS})"
        );
        // Every device was still probed before any write.
        let lines = r.lines();
        let first_write = lines.iter().position(|l| l.starts_with("wipefs")).unwrap();
        assert_eq!(
            lines[..first_write]
                .iter()
                .filter(|l| l.starts_with("lsblk"))
                .count(),
            6
        );
    }
}
