//! The mirrored EFI system partition of a software RAID root (UEFI): `install_bootloader`
//! on an md array (IPA `efi_utils.py: manage_uefi` with an md device,
//! `raid_utils.py: prepare_boot_partitions_for_softraid`, `find_esp_raid`).
//!
//! The whole-disk image was written into the RAID-1 root array, so its ESP lives inside the
//! array, where firmware cannot see it. Every holder disk of the root array therefore gets
//! an ESP in the space the RAID planner left free ([`crate::raid::esp`]: 1 MiB to 551 MiB);
//! the ESPs become one RAID-1 with metadata 1.0 (superblock at the end, so firmware reads
//! each member as a plain FAT file system and any one holder boots on its own), the image's
//! ESP is copied into it, and every holder's ESP gets an NVRAM entry
//! (`ironic1 (RAID, part<i>)`, as IPA).
//!
//! Order: everything is checked before anything is written (the image has an ESP; it fits
//! the planned ESP; the ESP space is free on every holder, all GPT; the ESP has a boot
//! loader); then partitions → array → copy → NVRAM entries, each step journaled; a failure
//! undoes what was done, in reverse, and says what could not be undone.
//!
//! Where we differ from IPA, and why:
//! * **The ESP's place is fixed**, 1 MiB to 551 MiB (IPA: the first free sector, +550 MiB),
//!   so it is exactly the space the planner reserved and never overlaps an array.
//! * **The image's ESP is copied block for block** (IPA: `mkfs.vfat` with the same UUID and
//!   label, then `cp -a`): no extra tools in the ramdisk, and the file system is exactly the
//!   image's. So the limit is the ESP partition's size, not its content: an image ESP larger
//!   than the mirrored ESP's usable size is refused before anything is written, naming both.
//! * **An ESP without a boot loader is an error** on a RAID root (IPA only logs "Empty EFI
//!   partition detected" and reports success): no entry could be made and the instance
//!   could not boot from any holder.
//! * **NVRAM entries name the holder disk** and the ESP's partition number on it (IPA passes
//!   the partition device as the disk).
//! * **`efibootmgr` missing is an error** on a RAID root ([`super::bootloader`]; IPA falls
//!   through to "Assuming a whole disk image" and reports success): without it neither the
//!   mirrored ESP nor the entries are made, and no holder disk boots.
//! * The image's own ESP inside the array is wiped afterwards, as IPA does, so the instance
//!   does not see two file systems with one UUID; a failure there is only logged, since the
//!   instance boots either way.

use super::bootloader::{boot_records, exec_error, read_loaders, register};
use super::configdrive::partition_path;
use super::partitions::{read_table, PartitionTable, TableKind};
use super::raid_root;
use crate::raid::esp;
use crate::raid::plan::MIB;
use crate::tools::mdadm::ArrayName;
use crate::tools::{efibootmgr, mdadm, partx, sgdisk, wipefs, DevPath};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result};

/// What the planning needs to know about one holder disk.
#[derive(Debug, Clone)]
pub struct Holder {
    pub disk: String,
    /// Logical sector size.
    pub sector: u64,
    pub table: Option<PartitionTable>,
}

/// The ESP partition of one holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub disk: String,
    pub number: u32,
    pub first: u64,
    pub last: u64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspPlan {
    /// The image's ESP: its partition number inside the root array, and its size.
    pub image_esp: u32,
    pub image_esp_bytes: u64,
    pub slots: Vec<Slot>,
    /// The ESP partitions exist already (a second `install_bootloader` on the same RAID).
    pub reuse: bool,
}

fn raid_err(details: String) -> AgentError {
    AgentError::new(ErrorKind::SoftwareRAIDError, details)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// The image's ESP inside the root array (number, size), checked against the planned ESP.
fn image_esp(
    root: &str,
    root_table: Option<&PartitionTable>,
    root_sector: u64,
    esp_uuid: Option<&str>,
) -> Result<(u32, u64)> {
    let parts = root_table.map(|t| t.partitions.as_slice()).unwrap_or(&[]);
    let want = esp_uuid.map(str::to_ascii_lowercase);
    let Some(image_esp) = parts
        .iter()
        .find(|p| p.is_esp())
        .or_else(|| parts.iter().find(|p| want.is_some() && p.part_uuid == want))
    else {
        return Err(AgentError::new(
            ErrorKind::DeviceNotFound,
            format!(
                "No EFI partition could be detected on device {root} and EFI partition UUID has \
                 not been recorded during deployment (which is often the case for whole disk \
                 images). Are you using a UEFI-compatible image? The whole-disk image written \
                 to the software RAID root {root} needs a GPT with an EFI system partition \
                 (type C12A7328-F81F-11D2-BA4B-00A0C93EC93B) holding \\EFI\\BOOT\\BOOTX64.EFI."
            ),
        ));
    };
    let image_esp_bytes =
        (image_esp.last_lba + 1).saturating_sub(image_esp.first_lba) * root_sector.max(512);
    if image_esp_bytes > esp::usable_bytes() {
        return Err(raid_err(format!(
            "The EFI system partition of the image (partition {} of {root}, {}) does not fit \
             the ESP reserved on every holder disk of the software RAID ({} MiB, of which {} \
             usable inside the RAID-1 with metadata 1.0). Use an image whose ESP is at most \
             {} bytes. Nothing was written to the holder disks.",
            image_esp.number,
            mib(image_esp_bytes),
            esp::ESP_SIZE_MIB,
            mib(esp::usable_bytes()),
            esp::usable_bytes()
        )));
    }
    Ok((image_esp.number, image_esp_bytes))
}

/// Right after `write_image` wrote the image into the root array: an image ESP too large for
/// the planned ESP fails the deploy there, before `install_bootloader` touches the holders.
/// (An image without ESP is left to `install_bootloader`, which reports it as IPA does.)
pub fn check_written_image(m: &Machine, md: &str) -> Result<()> {
    let table = read_dev_table(m, md)?;
    match image_esp(md, table.as_ref(), super::sector_size(m, md), None) {
        Err(e) if e.kind == ErrorKind::DeviceNotFound => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Checks everything and decides the ESP of every holder. Pure: the tables are read by the
/// caller.
pub fn plan(
    root: &str,
    root_table: Option<&PartitionTable>,
    root_sector: u64,
    esp_uuid: Option<&str>,
    holders: &[Holder],
) -> Result<EspPlan> {
    let (image_esp, image_esp_bytes) = image_esp(root, root_table, root_sector, esp_uuid)?;
    if holders.is_empty() {
        return Err(raid_err(format!(
            "The software RAID root {root} has no member partitions in /sys/block; cannot \
             place the EFI system partitions"
        )));
    }
    let slots: Vec<(Slot, bool)> = holders
        .iter()
        .enumerate()
        .map(|(i, h)| slot_of(root, i, h))
        .collect::<Result<_>>()?;
    let reused = slots.iter().filter(|(_, r)| *r).count();
    if reused != 0 && reused != slots.len() {
        return Err(raid_err(format!(
            "Only some holder disks of {root} have an EFI system partition already ({}); run \
             raid.delete_configuration and raid.create_configuration (manual cleaning) to \
             start from clean disks",
            slots
                .iter()
                .filter(|(_, r)| *r)
                .map(|(s, _)| s.disk.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(EspPlan {
        image_esp,
        image_esp_bytes,
        reuse: reused != 0,
        slots: slots.into_iter().map(|(s, _)| s).collect(),
    })
}

/// The ESP of holder `index`, and whether it exists already.
fn slot_of(root: &str, index: usize, h: &Holder) -> Result<(Slot, bool)> {
    let table = match &h.table {
        Some(t) if t.kind == TableKind::Gpt => t,
        other => {
            return Err(raid_err(format!(
                "The holder disk {} of the software RAID root {root} has {} partition table; \
                 under UEFI the RAID must be built on GPT with room for the ESP. Clean again \
                 with the node in UEFI mode (raid.delete_configuration, \
                 raid.create_configuration).",
                h.disk,
                other.as_ref().map_or("no", |t| t.kind.as_str())
            )))
        }
    };
    let (first, last) = esp::slot_sectors(h.sector);
    let label = esp::holder_label(index);
    let overlapping: Vec<_> = table
        .partitions
        .iter()
        .filter(|p| p.first_lba <= last && p.last_lba >= first)
        .collect();
    let number = table.partitions.iter().map(|p| p.number).max().unwrap_or(0) + 1;
    match overlapping.as_slice() {
        [] => Ok((
            Slot {
                disk: h.disk.clone(),
                number,
                first,
                last,
                label,
            },
            false,
        )),
        [p] if p.first_lba == first
            && p.last_lba == last
            && p.is_esp()
            && p.name.starts_with("uefi-holder-") =>
        {
            Ok((
                Slot {
                    disk: h.disk.clone(),
                    number: p.number,
                    first,
                    last,
                    label: p.name.clone(),
                },
                true,
            ))
        }
        taken => Err(raid_err(format!(
            "The space for the EFI system partition on {} (sectors {first}-{last}, {} MiB to {} \
             MiB) is taken by partition {}: this RAID was not built with room for the ESP (in \
             UEFI mode raid.create_configuration starts the arrays at {} MiB). Clean again with \
             the node in UEFI mode (raid.delete_configuration, raid.create_configuration).",
            h.disk,
            esp::ESP_START_MIB,
            esp::RAID_START_MIB,
            super::partitions::describe(taken),
            esp::RAID_START_MIB
        ))),
    }
}

/// What was done, to undo it in reverse on failure.
enum Done {
    Partition {
        disk: DevPath,
        number: u32,
    },
    Array {
        array: DevPath,
        members: Vec<DevPath>,
    },
    Entries {
        labels: Vec<String>,
    },
}

fn read_dev_table(m: &Machine, dev: &str) -> Result<Option<PartitionTable>> {
    let path = m.host.device(dev)?;
    std::fs::File::open(&path)
        .map_err(|e| e.to_string())
        .and_then(|f| read_table(&f, super::sector_size(m, dev)))
        .map_err(|e| exec_error(dev, e))
}

/// `manage_uefi` on the software RAID root `md`: true when the ESPs and NVRAM entries were
/// made.
pub fn install(m: &Machine, md: &str, esp_uuid: Option<&str>) -> Result<bool> {
    m.reread_partition_table(md);
    let root_table = read_dev_table(m, md)?;
    let (disks, _) = raid_root::holders(m, md);
    let holders: Vec<Holder> = disks
        .iter()
        .map(|d| Holder {
            disk: d.clone(),
            sector: super::sector_size(m, d),
            table: read_dev_table(m, d).ok().flatten(),
        })
        .collect();
    let plan = plan(
        md,
        root_table.as_ref(),
        super::sector_size(m, md),
        esp_uuid,
        &holders,
    )?;
    let image_esp = partition_path(m, md, plan.image_esp)?;
    let entries = read_loaders(m, md, &image_esp)?;
    if entries.is_empty() {
        return Err(exec_error(
            md,
            format!(
                "the image's EFI system partition {image_esp} has no boot loader IPA knows \
                 (\\EFI\\BOOT\\BOOTX64.EFI, a shim BOOTX64.CSV, ...), so no holder disk could \
                 boot it. Nothing was written to the holder disks."
            ),
        ));
    }
    tracing::info!(
        "Creating EFI system partitions on the holder disks {} of {md} and mirroring them",
        disks.join(", ")
    );
    let mut journal = Vec::new();
    if let Err(e) = build(m, md, &plan, &image_esp, &entries, &mut journal) {
        let report = roll_back(m, journal);
        return Err(AgentError::new(e.kind, format!("{} {report}", e.details)));
    }
    // IPA wipes the image's own ESP so the instance does not find two file systems with one
    // UUID; the instance boots either way, so a failure is only logged.
    if let Err(e) = m.run(&wipefs::all(&DevPath::new(&image_esp)?)) {
        tracing::warn!("could not wipe the image's ESP {image_esp} after copying it: {e}");
    }
    Ok(true)
}

fn build(
    m: &Machine,
    md: &str,
    plan: &EspPlan,
    image_esp: &str,
    entries: &[(String, String)],
    journal: &mut Vec<Done>,
) -> Result<()> {
    let name = ArrayName::new(esp::ESP_ARRAY_NAME).map_err(|e| exec_error(md, e))?;
    let existing = if plan.reuse {
        let arrays = blockdev::list_md_arrays(&m.host);
        raid_root::find_array(&arrays, &name, |a| {
            let out = m.run(&mdadm::detail(&DevPath::new(&a.name).ok()?)).ok()?;
            crate::raid::mdadm::parse_detail(&out.stdout).name
        })
        .map(|a| a.name.clone())
    } else {
        None
    };
    let array = match existing {
        Some(a) => {
            tracing::info!("Found RAIDed ESP {a}, skip creation");
            DevPath::new(a)?
        }
        None => create_array(m, md, plan, &name, journal)?,
    };
    let array_bytes = md_size(m, &array);
    if array_bytes.is_some_and(|b| b < plan.image_esp_bytes) {
        return Err(raid_err(format!(
            "The mirrored ESP {array} has {} but the image's ESP {image_esp} needs {}",
            mib(array_bytes.unwrap_or(0)),
            mib(plan.image_esp_bytes)
        )));
    }
    copy_esp(m, image_esp, &array, plan.image_esp_bytes)?;
    let mut labels = Vec::new();
    for (i, slot) in plan.slots.iter().enumerate() {
        let suffix = format!("(RAID, part{i})");
        labels.extend(entries.iter().map(|(_, l)| format!("{l} {suffix}")));
        journal.push(Done::Entries {
            labels: labels.clone(),
        });
        register(
            m,
            md,
            &DevPath::new(&slot.disk)?,
            slot.number,
            entries,
            Some(&suffix),
        )?;
    }
    Ok(())
}

fn create_array(
    m: &Machine,
    md: &str,
    plan: &EspPlan,
    name: &ArrayName,
    journal: &mut Vec<Done>,
) -> Result<DevPath> {
    let mut members = Vec::new();
    for slot in &plan.slots {
        let disk = DevPath::new(&slot.disk)?;
        if !plan.reuse {
            tracing::info!(
                "Creating the ESP {} on {disk}: partition {}, sectors {}-{}",
                slot.label,
                slot.number,
                slot.first,
                slot.last
            );
            m.run(&sgdisk::new_esp(
                &disk,
                slot.number,
                slot.first,
                slot.last,
                &slot.label,
            ))
            .map_err(|e| exec_error(md, e))?;
            journal.push(Done::Partition {
                disk: disk.clone(),
                number: slot.number,
            });
            // The disk is busy (array members): only the new partition can be added.
            if let Err(e) = m.run(&partx::add_number(&disk, slot.number)) {
                tracing::info!("{e} (the kernel may have seen the partition already)");
            }
        }
        members.push(DevPath::new(partition_path(m, &slot.disk, slot.number)?)?);
    }
    let array = name.device();
    m.run(&mdadm::create_esp(&array, name, &members))
        .map_err(|e| exec_error(md, e))?;
    journal.push(Done::Array {
        array: array.clone(),
        members,
    });
    Ok(array)
}

/// The size of an md array in bytes, from sysfs (through the `/dev/md/<name>` link).
fn md_size(m: &Machine, array: &DevPath) -> Option<u64> {
    let real = std::fs::canonicalize(m.host.device(array.as_str()).ok()?).ok()?;
    let kname = real.file_name()?.to_string_lossy().into_owned();
    let sectors: u64 = m
        .host
        .attr(format!("/sys/block/{kname}/size"))?
        .parse()
        .ok()?;
    Some(sectors * 512)
}

/// Copies the image's ESP, `len` bytes, onto the mirrored ESP and flushes it.
fn copy_esp(m: &Machine, from: &str, to: &DevPath, len: u64) -> Result<()> {
    use std::io::{Read, Write};
    let fail = |e: std::io::Error| {
        AgentError::new(
            ErrorKind::CommandExecutionError,
            format!("Could not copy the image's EFI system partition {from} onto {to}: {e}"),
        )
    };
    let src = std::fs::File::open(m.host.device(from)?).map_err(fail)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .open(m.host.device(to.as_str())?)
        .map_err(fail)?;
    let copied = std::io::copy(&mut src.take(len), &mut dst).map_err(fail)?;
    dst.flush().and_then(|_| dst.sync_all()).map_err(fail)?;
    if copied != len {
        return Err(fail(std::io::Error::other(format!(
            "copied {copied} of {len} bytes"
        ))));
    }
    tracing::info!("Copied the image's EFI system partition {from} ({len} bytes) onto {to}");
    Ok(())
}

/// What a roll-back of the holder disks did, for the error message.
pub(super) fn rollback_report(undone: &[String], failed: &[String]) -> String {
    match (undone.is_empty(), failed.is_empty()) {
        (true, true) => "Nothing had been written to the holder disks.".into(),
        (_, true) => format!("Rolled back: {}.", undone.join("; ")),
        _ => format!(
            "Rolled back: {}. Could not undo: {}.",
            undone.join("; "),
            failed.join("; ")
        ),
    }
}

/// Undoes the journal in reverse; says what was undone and what could not be.
fn roll_back(m: &Machine, journal: Vec<Done>) -> String {
    let mut undone = Vec::new();
    let mut failed = Vec::new();
    let mut run = |cmd: crate::tools::ToolCmd, what: String| match m.run(&cmd) {
        Ok(_) => undone.push(what),
        Err(e) => failed.push(format!("{what}: {e}")),
    };
    for d in journal.into_iter().rev() {
        match d {
            Done::Entries { labels } => {
                let records = m
                    .run(&efibootmgr::list())
                    .map(|o| boot_records(&o.stdout))
                    .unwrap_or_default();
                for (num, label) in records.into_iter().filter(|(_, l)| labels.contains(l)) {
                    run(
                        efibootmgr::delete(&num),
                        format!("deleted NVRAM entry Boot{num} ({label})"),
                    );
                }
            }
            Done::Array { array, members } => {
                run(mdadm::stop(&array), format!("stopped {array}"));
                for p in members {
                    run(
                        mdadm::zero_superblock(&p),
                        format!("zeroed the md superblock of {p}"),
                    );
                }
            }
            Done::Partition { disk, number } => {
                run(
                    sgdisk::delete(&disk, number),
                    format!("deleted partition {number} of {disk}"),
                );
                if let Err(e) = m.run(&partx::delete_number(&disk, number)) {
                    tracing::info!("{e}");
                }
            }
        }
    }
    rollback_report(&undone, &failed)
}

#[cfg(test)]
mod tests;
