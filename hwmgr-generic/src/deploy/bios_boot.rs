//! BIOS boot code: `install_bootloader` for a node in BIOS mode, on every holder disk of a
//! software RAID root (a whole-disk or partition image written into an md RAID-1), or on the
//! disk a partition image was written to (IPA `ironic_python_agent/extensions/image.py:
//! _install_grub2`, which runs the image's own `grub-install` in a chroot on the disk or on
//! every holder; GPT holders get a `bios_grub` partition).
//!
//! The image's programs never run in the deploy ramdisk ([`super::bootloader`]). GRUB comes
//! from the ramdisk instead, and nothing of it is installed into the image:
//! 1. the image's root file system is found (the `root_uuid` the conductor sends: the
//!    partition image's root, or `instance_info.image_rootfs_uuid` on software RAID; without
//!    one, the one partition of the array that holds `/boot/grub/grub.cfg` or, for a separate `/boot`, `/grub/grub.cfg`),
//!    mounted read-only, `nosuid,nodev,noexec`, only to check that file;
//! 2. `grub-mkimage` builds one core image with GRUB's md RAID, partition-table and file
//!    system drivers (the list is [`CORE_MODULES`], which `ramdisk/build` ships with their
//!    dependencies) and a two-line configuration: find that file system by UUID, then hand
//!    over to the image's own `grub.cfg` (normal mode reads `$prefix/grub.cfg`);
//! 3. the agent writes the core image into every boot disk's boot area: the gap between the
//!    MBR and the first partition on msdos, a BIOS boot partition (type `ef02`): the one the
//!    partition-image layout made, or on a RAID holder one made in the 1 MiB to 8 MiB the
//!    RAID planner leaves on GPT ([`crate::raid::plan`]); then GRUB's boot
//!    sector (`boot.img`, patched with the core image's first sector, the way
//!    `grub-bios-setup` patches it) into each holder's MBR code area, keeping the partition
//!    table. Any one holder then boots the instance with the others missing: GRUB reads the
//!    root file system through its own md driver from whichever members are there.
//!
//! Everything is checked for every holder before the first write; a failure then restores
//! every boot sector and deletes the BIOS boot partitions made, and says so.
//!
//! Where we differ from IPA, and why:
//! * **GRUB is the ramdisk's, never the image's** (see above); it works with Ironic 39's
//!   default `[agent]enable_bios_bootloader_install = false`, which makes IPA fail here.
//!   The image needs a GRUB configuration (`/boot/grub/grub.cfg`), not a GRUB installation.
//! * **The boot code is written by the agent**, not by `grub-bios-setup`: that program
//!   insists on finding a block device behind its own files' directory, which a ramdisk
//!   (rootfs, tmpfs) does not have. Writing it is two fields in two sectors.
//! * **The image's `grub.cfg` is not regenerated** (IPA runs the image's `grub-mkconfig`,
//!   adding `rd.md.uuid=`): the image must find its root by itself (`root=UUID=`, an
//!   initramfs with mdadm), as on the UEFI path.
//! * Modules the image's `grub.cfg` loads beyond [`CORE_MODULES`] come from the image's own
//!   `/boot/grub/i386-pc` (GRUB's normal behaviour); the core image carries what distribution
//!   configurations load, so a GRUB of another version in the image is rarely consulted.

use super::bootloader::exec_error;
use super::efi_assets::{find_partition, with_mount, ROOT_MOUNT};
use super::partitions::{read_table, PartitionTable, TableKind};
use super::raid_esp::{rollback_report, Holder};
use super::raid_root;
use crate::raid::plan::MIB;
use crate::tools::{blkid, grub_mkimage, mount, sgdisk, DevPath};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// GRUB's i386-pc images and modules in the ramdisk (Debian's grub-pc-bin).
pub const GRUB_DIR: &str = "/usr/lib/grub/i386-pc";
/// Where the core image and its configuration are built.
pub const WORK_DIR: &str = "/run/ironic-agent/grub";
const CORE_IMG: &str = "/run/ironic-agent/grub/core.img";
const LOAD_CFG: &str = "/run/ironic-agent/grub/load.cfg";
/// The modules built into the core image; `ramdisk/build` ships them with their
/// dependencies (`moddep.lst`). One name per line.
pub const CORE_MODULES_LIST: &str = include_str!("bios_boot/core-modules");

/// GPT type of a BIOS boot partition (`sgdisk` code `ef02`).
pub const BIOS_BOOT_TYPE_GUID: &str = "21686148-6449-6e6f-744e-656564454649";
/// The BIOS boot partition's place on a GPT holder: 1 MiB up to where the RAID planner
/// starts the arrays in BIOS mode on GPT (one definition for both).
const SLOT_START_MIB: u64 = 1;
const SLOT_END_MIB: u64 = crate::raid::esp::BIOS_GPT_RAID_START_MIB;
const SECTOR: u64 = 512;

// Offsets in GRUB's boot sector (`include/grub/i386/pc/boot.h`).
const BPB_START: usize = 0x3;
const BPB_END: usize = 0x5a;
const KERNEL_SECTOR: usize = 0x5c;
const BOOT_DRIVE: usize = 0x64;
const DRIVE_CHECK: usize = 0x66;
const WINDOWS_NT_MAGIC: usize = 0x1b8;
/// Segment the first sector of the core image loads the rest to (`0x800 + 512 / 16`).
const CORE_SEGMENT: u16 = 0x820;
/// One blocklist entry at the end of the core image's first sector: start (u64), length
/// (u16), segment (u16).
const BLOCKLIST_ENTRY: usize = 12;

/// The modules of [`CORE_MODULES_LIST`].
pub fn core_modules() -> Vec<&'static str> {
    CORE_MODULES_LIST
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Where the core image goes on one holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// The sectors between an msdos MBR and the first partition.
    MbrGap { first: u64, last: u64 },
    /// A GPT BIOS boot partition, `create`d or already there.
    BiosBoot {
        number: u32,
        first: u64,
        last: u64,
        create: bool,
        label: String,
    },
}

impl Area {
    pub fn first(&self) -> u64 {
        match self {
            Area::MbrGap { first, .. } | Area::BiosBoot { first, .. } => *first,
        }
    }

    fn sectors(&self) -> u64 {
        match self {
            Area::MbrGap { first, last } | Area::BiosBoot { first, last, .. } => last + 1 - first,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderBoot {
    pub disk: String,
    pub area: Area,
}

fn raid_err(details: String) -> AgentError {
    AgentError::new(ErrorKind::SoftwareRAIDError, details)
}

/// What to do when a disk has no room for the boot code.
fn clean_again(root: &str) -> String {
    if raid_root::is_md(root) {
        format!(
            "Clean again with the node in BIOS mode (raid.delete_configuration, \
             raid.create_configuration) so the arrays on the holder disks of {root} leave room \
             for the boot code."
        )
    } else {
        format!("Deploy again: write_image lays {root} out with room for the boot code.")
    }
}

/// "The holder disk X of the software RAID root Y", or "The disk X".
fn boot_disk(root: &str, disk: &str) -> String {
    if root == disk {
        format!("The disk {disk}")
    } else {
        format!("The holder disk {disk} of the software RAID root {root}")
    }
}

/// Where the core image (`core_sectors` long) goes on holder `index` of `root`. Pure.
pub fn plan_holder(root: &str, index: usize, h: &Holder, core_sectors: u64) -> Result<HolderBoot> {
    if h.sector != SECTOR {
        return Err(raid_err(format!(
            "{} has {}-byte sectors; BIOS boot code needs 512-byte sectors. Boot the node in \
             UEFI mode to use this disk.",
            boot_disk(root, &h.disk),
            h.sector
        )));
    }
    let Some(table) = &h.table else {
        return Err(raid_err(format!(
            "{} has no partition table. {}",
            boot_disk(root, &h.disk),
            clean_again(root)
        )));
    };
    let area = match table.kind {
        TableKind::Msdos => {
            let next = table.partitions.iter().map(|p| p.first_lba).min();
            let end = next.unwrap_or(0);
            if end < 1 + core_sectors {
                return Err(raid_err(format!(
                    "The gap between the MBR and the first partition of {} (sectors 1-{}) is \
                     too small for GRUB's core image ({core_sectors} sectors). {}",
                    h.disk,
                    end.saturating_sub(1),
                    clean_again(root)
                )));
            }
            Area::MbrGap {
                first: 1,
                last: end - 1,
            }
        }
        TableKind::Gpt => bios_boot_slot(root, index, h, table, core_sectors)?,
    };
    Ok(HolderBoot {
        disk: h.disk.clone(),
        area,
    })
}

fn bios_boot_slot(
    root: &str,
    index: usize,
    h: &Holder,
    table: &PartitionTable,
    core_sectors: u64,
) -> Result<Area> {
    let (first, last) = (
        SLOT_START_MIB * MIB / SECTOR,
        SLOT_END_MIB * MIB / SECTOR - 1,
    );
    // A BIOS boot partition already there (the partition-image layout's, or ours from an
    // earlier install_bootloader) is used as it is.
    if let Some(p) = table
        .partitions
        .iter()
        .find(|p| p.type_id == BIOS_BOOT_TYPE_GUID && p.last_lba + 1 - p.first_lba >= core_sectors)
    {
        return Ok(Area::BiosBoot {
            number: p.number,
            first: p.first_lba,
            last: p.last_lba,
            create: false,
            label: p.name.clone(),
        });
    }
    let taken: Vec<_> = table
        .partitions
        .iter()
        .filter(|p| p.first_lba <= last && p.last_lba >= first)
        .collect();
    match taken.as_slice() {
        [] => Ok(Area::BiosBoot {
            number: table.partitions.iter().map(|p| p.number).max().unwrap_or(0) + 1,
            first,
            last,
            create: true,
            label: format!("bios-holder-{index}"),
        }),
        taken => Err(raid_err(format!(
            "The space for the BIOS boot partition on {} (sectors {first}-{last}, {SLOT_START_MIB} \
             MiB to {SLOT_END_MIB} MiB) is taken by partition {}. {}",
            h.disk,
            super::partitions::describe(taken),
            clean_again(root)
        ))),
    }
}

/// GRUB's boot sector for a disk whose sector 0 is `existing`: `boot_img`'s code, with the
/// disk's BIOS parameter block area and partition table kept, pointed at the core image's
/// first sector, using the drive the BIOS booted from (as `grub-bios-setup` does for a hard
/// disk: boot drive 0xff, the drive check jump replaced by two NOPs).
pub fn boot_sector(
    existing: &[u8; 512],
    boot_img: &[u8],
    core_first: u64,
) -> std::result::Result<[u8; 512], String> {
    if boot_img.len() != 512 || boot_img[510..] != [0x55, 0xaa] {
        return Err(format!(
            "{GRUB_DIR}/boot.img is not a 512-byte boot sector ({} bytes)",
            boot_img.len()
        ));
    }
    if existing[510..] != [0x55, 0xaa] {
        return Err("sector 0 carries no partition table signature (0x55AA)".into());
    }
    let mut s = [0u8; 512];
    s.copy_from_slice(boot_img);
    s[BPB_START..BPB_END].copy_from_slice(&existing[BPB_START..BPB_END]);
    s[WINDOWS_NT_MAGIC..510].copy_from_slice(&existing[WINDOWS_NT_MAGIC..510]);
    s[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_first.to_le_bytes());
    s[BOOT_DRIVE] = 0xff;
    s[DRIVE_CHECK] = 0x90;
    s[DRIVE_CHECK + 1] = 0x90;
    Ok(s)
}

/// The core image `core` (from `grub-mkimage -O i386-pc`) padded to whole sectors, its
/// first sector's blocklist pointing at the rest of it, which follows at `first + 1`.
pub fn core_image(core: &[u8], first: u64) -> std::result::Result<Vec<u8>, String> {
    if core.len() < 2 * SECTOR as usize {
        return Err(format!(
            "{CORE_IMG} is too small for a GRUB core image ({} bytes)",
            core.len()
        ));
    }
    let sectors = core.len().div_ceil(SECTOR as usize);
    let rest = u16::try_from(sectors - 1)
        .map_err(|_| format!("{CORE_IMG} is too large ({sectors} sectors)"))?;
    let mut c = core.to_vec();
    c.resize(sectors * SECTOR as usize, 0);
    let entry = SECTOR as usize - BLOCKLIST_ENTRY;
    // The entries below the first one must end the list (length 0), as mkimage leaves them.
    if c[entry - BLOCKLIST_ENTRY + 8..entry - BLOCKLIST_ENTRY + 10] != [0, 0] {
        return Err(format!(
            "{CORE_IMG} has more than one blocklist entry; not a core image of grub-mkimage"
        ));
    }
    c[entry..entry + 8].copy_from_slice(&(first + 1).to_le_bytes());
    c[entry + 8..entry + 10].copy_from_slice(&rest.to_le_bytes());
    c[entry + 10..entry + 12].copy_from_slice(&CORE_SEGMENT.to_le_bytes());
    Ok(c)
}

/// The core image's configuration: find the image's root file system, and let normal mode
/// read its `grub.cfg` from `dir` (`/boot/grub`, or `/grub` on a separate `/boot`).
pub fn load_cfg(fs_uuid: &str, dir: &str) -> std::result::Result<String, String> {
    let plain = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    if !plain(fs_uuid, b"-") {
        return Err(format!("file system UUID {fs_uuid:?} is not a plain UUID"));
    }
    if !plain(dir, b"/") || !dir.starts_with('/') {
        return Err(format!("GRUB directory {dir:?} is not a plain path"));
    }
    Ok(format!(
        "search.fs_uuid {fs_uuid} root\nset prefix=($root){dir}\n"
    ))
}

/// The image's root file system inside the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootFs {
    pub partition: String,
    pub uuid: String,
    /// The directory holding `grub.cfg`, as GRUB sees it inside that file system.
    pub grub_dir: &'static str,
}

/// File system types the core image reads (blkid's names).
const READABLE: &[&str] = &["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat"];
/// Where a root (`/boot/grub`) or separate boot (`/grub`) file system keeps `grub.cfg`.
const GRUB_DIRS: &[&str] = &["/boot/grub", "/grub"];

/// The GRUB directory of a mounted file system: the first of [`GRUB_DIRS`] holding a
/// regular `grub.cfg`, no component a symbolic link.
pub fn grub_dir_in(mounted: &Path) -> Option<&'static str> {
    GRUB_DIRS.iter().copied().find(|d| {
        let mut p = mounted.to_path_buf();
        let parts: Vec<&str> = d.trim_start_matches('/').split('/').collect();
        for c in parts {
            p.push(c);
            if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                return false;
            }
        }
        std::fs::symlink_metadata(p.join("grub.cfg")).is_ok_and(|m| m.is_file())
    })
}

/// Finds the root file system: the partition of `md` (an array or a disk) named by
/// `root_uuid` (a file system UUID or partition GUID), else every partition of `md` with a
/// file system GRUB reads is looked at.
fn find_root(m: &Machine, md: &str, root_uuid: Option<&str>) -> Result<RootFs> {
    let candidates: Vec<(String, Option<String>)> = match root_uuid {
        Some(uuid) => vec![find_partition(m, md, uuid)?],
        None => super::configdrive::partitions_of(m, md)
            .into_iter()
            .filter_map(|(_, p)| {
                let out = m.run(&blkid::probe(&DevPath::new(&p).ok()?)).ok()?;
                let t = blkid::value(&out.stdout, "TYPE")?.to_string();
                READABLE.contains(&t.as_str()).then_some((p, Some(t)))
            })
            .collect(),
    };
    let mut found = Vec::new();
    for (part, fstype) in candidates {
        let dev = DevPath::new(&part)?;
        let uuid = m
            .run(&blkid::probe(&dev))
            .ok()
            .and_then(|o| blkid::value(&o.stdout, "UUID").map(str::to_string));
        let cmd = mount::untrusted_read_only(&dev, fstype.as_deref(), ROOT_MOUNT);
        let dir = with_mount(m, md, cmd, ROOT_MOUNT, |root| Ok(grub_dir_in(root)))?;
        match (dir, uuid) {
            (Some(grub_dir), Some(uuid)) => found.push(RootFs {
                partition: part,
                uuid,
                grub_dir,
            }),
            (Some(_), None) => {
                tracing::warn!("{part} has GRUB's configuration but no file system UUID")
            }
            (None, _) => tracing::info!("{part}: no /boot/grub/grub.cfg or /grub/grub.cfg"),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(AgentError::new(
            ErrorKind::InvalidImage,
            format!(
                "The image written to {md} has no GRUB configuration \
                 ({}/boot/grub/grub.cfg or /grub/grub.cfg on a file system GRUB reads: {}), so \
                 no boot code could start it in BIOS mode. Use an image with GRUB's \
                 configuration (any Linux image that boots with GRUB has one){}. No boot code was \
                 written.",
                root_uuid.map_or(String::new(), |u| format!("the file system {u}: ")),
                READABLE.join(", "),
                if root_uuid.is_some() {
                    ", or correct instance_info.image_rootfs_uuid"
                } else {
                    ""
                }
            ),
        )),
        _ => Err(AgentError::new(
            ErrorKind::InvalidImage,
            format!(
                "The image written to {md} has GRUB's configuration on \
                 more than one file system ({}); set instance_info.image_rootfs_uuid to the UUID \
                 of the one to boot and deploy again. No boot code was written.",
                found
                    .iter()
                    .map(|r| format!("{} UUID {}", r.partition, r.uuid))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// What was written to one holder, to undo it.
struct Done {
    disk: DevPath,
    old_sector0: [u8; 512],
    created: Option<u32>,
}

fn read_sector0(m: &Machine, disk: &str) -> Result<[u8; 512]> {
    let mut s = [0u8; 512];
    std::fs::File::open(m.host.device(disk)?)
        .and_then(|f| f.read_exact_at(&mut s, 0))
        .map_err(|e| raid_err(format!("Could not read the first sector of {disk}: {e}")))?;
    Ok(s)
}

fn write_at(m: &Machine, disk: &str, offset: u64, data: &[u8]) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(m.host.device(disk).map_err(std::io::Error::other)?)?;
    f.write_all_at(data, offset)?;
    f.sync_all()
}

/// Whether this ramdisk carries GRUB for BIOS; the error says what is missing.
pub fn check_tools(m: &Machine, target: &str) -> Result<()> {
    let missing: Vec<String> = [
        format!("{GRUB_DIR}/boot.img"),
        format!("{GRUB_DIR}/kernel.img"),
        format!("{GRUB_DIR}/moddep.lst"),
    ]
    .into_iter()
    .filter(|f| !m.host.exists(f))
    .collect();
    if !m.runner.has_program("grub-mkimage") || !missing.is_empty() {
        return Err(AgentError::new(
            ErrorKind::CommandExecutionError,
            format!(
                "Could not install the BIOS boot code for {target}: this deploy ramdisk lacks \
                 GRUB for BIOS (grub-mkimage: {}; missing files: {}). \
                 Build the ramdisk with ramdisk/build, which ships them, or boot the node in \
                 UEFI mode.",
                if m.runner.has_program("grub-mkimage") {
                    "present"
                } else {
                    "missing"
                },
                if missing.is_empty() {
                    "none".into()
                } else {
                    missing.join(", ")
                }
            ),
        ));
    }
    Ok(())
}

/// `install_bootloader` in BIOS mode on `target`: a software RAID root (the boot code goes
/// on every holder) or a disk a partition image was written to. `root_uuid`: the
/// conductor's, when it names a file system (not a disk identifier `0x…`).
pub fn install(m: &Machine, target: &str, root_uuid: Option<&str>) -> Result<()> {
    let md = target;
    check_tools(m, target)?;
    m.reread_partition_table(md);
    let root = find_root(m, md, root_uuid)?;
    tracing::info!(
        "The image's GRUB configuration is {}/grub.cfg on {} (UUID {})",
        root.grub_dir,
        root.partition,
        root.uuid
    );
    let core = build_core(m, md, &root)?;
    let core_sectors = core.len().div_ceil(SECTOR as usize) as u64;
    let boot_img = std::fs::read(m.host.path(format!("{GRUB_DIR}/boot.img")))
        .map_err(|e| exec_error(md, format!("reading {GRUB_DIR}/boot.img: {e}")))?;
    let disks = if raid_root::is_md(md) {
        raid_root::holders(m, md).0
    } else {
        vec![md.to_string()]
    };
    if disks.is_empty() {
        return Err(raid_err(format!(
            "The software RAID root {md} has no member partitions in /sys/block; cannot \
             install the BIOS boot code"
        )));
    }
    // Everything is planned and checked for every holder before anything is written.
    let mut plans = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        let holder = Holder {
            disk: d.clone(),
            sector: super::sector_size(m, d),
            table: std::fs::File::open(m.host.device(d)?)
                .map_err(|e| e.to_string())
                .and_then(|f| read_table(&f, super::sector_size(m, d)))
                .map_err(|e| exec_error(d, e))?,
        };
        let plan = plan_holder(md, i, &holder, core_sectors)?;
        let image = core_image(&core, plan.area.first()).map_err(|e| exec_error(md, e))?;
        // Checked here; made again from sector 0 as it is right before the write.
        boot_sector(&read_sector0(m, d)?, &boot_img, plan.area.first())
            .map_err(|e| raid_err(format!("{d}: {e}")))?;
        if (image.len() as u64) > plan.area.sectors() * SECTOR {
            return Err(raid_err(format!(
                "GRUB's core image ({} sectors) does not fit the boot area of {d} ({} sectors). {}",
                core_sectors,
                plan.area.sectors(),
                clean_again(md)
            )));
        }
        plans.push((plan, image));
    }
    let mut journal: Vec<Done> = Vec::new();
    for (plan, image) in &plans {
        if let Err(e) = write_holder(m, plan, image, &boot_img, &mut journal) {
            let report = roll_back(m, journal);
            return Err(AgentError::new(e.kind, format!("{} {report}", e.details)));
        }
    }
    tracing::info!(
        "BIOS boot code (GRUB from the deploy ramdisk, {core_sectors} sectors) is on every \
         boot disk of {md}: {}",
        plans
            .iter()
            .map(|(p, ..)| format!("{} at sector {}", p.disk, p.area.first()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Runs `grub-mkimage` and returns the core image.
fn build_core(m: &Machine, md: &str, root: &RootFs) -> Result<Vec<u8>> {
    let cfg = load_cfg(&root.uuid, root.grub_dir).map_err(|e| exec_error(md, e))?;
    let work = m.host.path(WORK_DIR);
    std::fs::create_dir_all(&work)
        .and_then(|_| std::fs::write(m.host.path(LOAD_CFG), cfg))
        .map_err(|e| exec_error(md, format!("writing {LOAD_CFG}: {e}")))?;
    m.run(&grub_mkimage::bios_core(
        GRUB_DIR,
        CORE_IMG,
        LOAD_CFG,
        &core_modules(),
    ))
    .map_err(|e| exec_error(md, e))?;
    std::fs::read(m.host.path(CORE_IMG))
        .map_err(|e| exec_error(md, format!("reading {CORE_IMG}: {e}")))
}

fn write_holder(
    m: &Machine,
    plan: &HolderBoot,
    image: &[u8],
    boot_img: &[u8],
    journal: &mut Vec<Done>,
) -> Result<()> {
    let disk = DevPath::new(&plan.disk)?;
    let mut done = Done {
        disk: disk.clone(),
        old_sector0: read_sector0(m, &plan.disk)?,
        created: None,
    };
    if let Area::BiosBoot {
        number,
        first,
        last,
        create: true,
        label,
    } = &plan.area
    {
        tracing::info!("Creating the BIOS boot partition {label} on {disk}: partition {number}, sectors {first}-{last}");
        m.run(&sgdisk::new_bios_boot(&disk, *number, *first, *last, label))
            .map_err(|e| {
                raid_err(format!(
                    "Could not create the BIOS boot partition on {disk}: {e}"
                ))
            })?;
        done.created = Some(*number);
    }
    journal.push(done);
    let first = plan.area.first();
    // sgdisk rewrote the protective MBR: the boot sector keeps what sector 0 holds now.
    let boot = boot_sector(&read_sector0(m, &plan.disk)?, boot_img, first)
        .map_err(|e| raid_err(format!("{disk}: {e}")))?;
    write_at(m, &plan.disk, first * SECTOR, image)
        .and_then(|_| write_at(m, &plan.disk, 0, &boot))
        .map_err(|e| {
            raid_err(format!(
                "Could not write GRUB's boot code to {disk} (core image at sector {first}): {e}"
            ))
        })?;
    tracing::info!("Wrote GRUB's boot sector and core image (sector {first}) to {disk}");
    Ok(())
}

/// Restores every boot sector and deletes the BIOS boot partitions made, in reverse.
fn roll_back(m: &Machine, journal: Vec<Done>) -> String {
    let mut undone = Vec::new();
    let mut failed = Vec::new();
    for d in journal.into_iter().rev() {
        match write_at(m, d.disk.as_str(), 0, &d.old_sector0) {
            Ok(()) => undone.push(format!("restored the boot sector of {}", d.disk)),
            Err(e) => failed.push(format!("boot sector of {}: {e}", d.disk)),
        }
        if let Some(n) = d.created {
            match m.run(&sgdisk::delete(&d.disk, n)) {
                Ok(_) => undone.push(format!("deleted partition {n} of {}", d.disk)),
                Err(e) => failed.push(format!("partition {n} of {}: {e}", d.disk)),
            }
        }
    }
    rollback_report(&undone, &failed)
}

#[cfg(test)]
mod tests;
