//! The partition layout of a partition image (`image_type: partition`), decided before
//! anything is written: IPA's `partition_utils.work_on_disk` and `disk_utils.make_partitions`
//! (`ironic_python_agent/partition_utils.py`, `disk_utils.py`, `disk_partitioner.py`).
//!
//! From 1 MiB on, each partition starts where the previous one ends, in this order, each
//! only when it applies:
//!
//! | partition | when | size | parted type / flag |
//! |---|---|---|---|
//! | EFI system partition | boot mode uefi | 550 MiB | `fat32`, `boot` (= ESP type on GPT) |
//! | BIOS boot | bios on a gpt label | 1 MiB | `bios_grub` |
//! | ephemeral | `ephemeral_mb` > 0 | `ephemeral_mb` | |
//! | swap | `swap_mb` > 0 | `swap_mb` | `linux-swap` |
//! | config drive | a config drive is given | its size, MiB rounded up | |
//! | root (always last) | always | `root_mb` | `boot` only for bios on msdos |
//!
//! The label is gpt under uefi, else the node's `disk_label` capability (`gpt`, anything else
//! msdos), as IPA's `get_partition_table_type_from_specs` decides. The sizes come from
//! `image_info` as the conductor computes them (`deploy_utils.parse_instance_info`:
//! `root_mb` = 1024 × `root_gb`, `swap_mb`, `ephemeral_mb` = 1024 × `ephemeral_gb`,
//! `ephemeral_format`, `preserve_ephemeral`).
//!
//! Differs from IPA, deliberately:
//! * A missing or non-integer `root_mb` is an `InvalidCommandParamsError` naming the key
//!   (IPA crashes with a `KeyError`); `root_mb` 0 is refused (parted would fail mid-way).
//! * A layout that does not fit the disk is refused here, naming the disk's size and what the
//!   layout needs, before the disk is touched (IPA finds out when parted fails, after the
//!   metadata wipe).
//! * An ephemeral file system this agent cannot make is refused here, not after the image
//!   was written. PReP partitions (ppc64) are not made: this agent runs on x86_64.
//! * In a software RAID-1 root array the ESP is 549 MiB, not 550: `install_bootloader`
//!   copies it block for block into the mirrored ESP on the holder disks
//!   ([`super::raid_esp`]), whose 550 MiB lose md metadata 1.0's reserve (IPA makes a new
//!   file system there and copies files, which needs `mkfs.vfat` and `cp` in the ramdisk).

use crate::raid::plan::BootMode;
use crate::tools::parted::PartTable;
use hwmgr::{AgentError, ErrorKind, Result};
use serde_json::Value;

/// IPA's `[disk_utils]efi_system_partition_size`.
pub const ESP_MIB: u64 = 550;
/// IPA's `[disk_utils]bios_boot_partition_size`.
pub const BIOS_BOOT_MIB: u64 = 1;
/// Where the first partition starts (alignment, and room for the MBR/GPT).
pub const FIRST_MIB: u64 = 1;
/// Left free at the disk's end for the backup GPT (33 sectors; 1 MiB keeps alignment).
pub const TAIL_MIB: u64 = 1;

/// File systems the ephemeral partition can get (`utils.mkfs` in IPA takes any `mkfs -t`).
pub const EPHEMERAL_FORMATS: &[&str] = &["ext2", "ext3", "ext4", "vfat"];

fn invalid(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::InvalidCommandParamsError, details)
}

/// The partition-image keys of `image_info` (`AgentDeploy.write_image`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionParams {
    pub root_mb: u64,
    pub swap_mb: u64,
    pub ephemeral_mb: u64,
    pub ephemeral_format: Option<String>,
    pub preserve_ephemeral: bool,
}

/// A size key: an integer, or a string Python's `int()` takes; `null` when `optional`.
fn size_key(info: &Value, key: &str, required: bool) -> Result<u64> {
    match info.get(key) {
        None | Some(Value::Null) if !required => Ok(0),
        None | Some(Value::Null) => Err(invalid(format!(
            "image_info '{key}' is required for a partition image (the conductor sets it from \
             instance_info root_gb; set root_gb on the node)."
        ))),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            invalid(format!(
                "image_info '{key}' must be a non-negative integer (MiB), got {n}."
            ))
        }),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| {
            invalid(format!(
                "image_info '{key}' must be a non-negative integer (MiB), got {s:?}."
            ))
        }),
        Some(other) => Err(invalid(format!(
            "image_info '{key}' must be a non-negative integer (MiB), got {other}."
        ))),
    }
}

impl PartitionParams {
    /// Reads the keys from `image_info`; every problem names its key.
    pub fn parse(info: &Value) -> Result<PartitionParams> {
        let root_mb = size_key(info, "root_mb", true)?;
        if root_mb == 0 {
            return Err(invalid(
                "image_info 'root_mb' is 0: a partition image needs a root partition \
                 (instance_info root_gb of at least 1).",
            ));
        }
        let ephemeral_format = match info.get("ephemeral_format") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(invalid(format!(
                    "image_info 'ephemeral_format' must be a string, got {other}."
                )))
            }
        };
        let preserve_ephemeral = match info.get("preserve_ephemeral") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(
                s.to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on" | "y" | "t"
            ),
            Some(other) => {
                return Err(invalid(format!(
                    "image_info 'preserve_ephemeral' must be a boolean, got {other}."
                )))
            }
        };
        Ok(PartitionParams {
            root_mb,
            swap_mb: size_key(info, "swap_mb", false)?,
            ephemeral_mb: size_key(info, "ephemeral_mb", false)?,
            ephemeral_format,
            preserve_ephemeral,
        })
    }
}

/// What a partition is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Esp,
    BiosBoot,
    Ephemeral,
    Swap,
    ConfigDrive,
    Root,
}

impl Role {
    /// The key of IPA's `partitions` result.
    pub fn key(self) -> &'static str {
        match self {
            Role::Esp => "efi system partition",
            Role::BiosBoot => "BIOS Boot partition",
            Role::Ephemeral => "ephemeral",
            Role::Swap => "swap",
            Role::ConfigDrive => "configdrive",
            Role::Root => "root",
        }
    }
}

/// One partition of the plan, in MiB from the disk's start (`end_mib` exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub number: u32,
    pub role: Role,
    pub start_mib: u64,
    pub end_mib: u64,
    /// parted's file system type argument (sets the partition type).
    pub fs: Option<&'static str>,
    /// parted flag set on the partition.
    pub flag: Option<&'static str>,
}

impl Planned {
    pub fn size_mib(&self) -> u64 {
        self.end_mib - self.start_mib
    }
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub label: PartTable,
    pub boot_mode: BootMode,
    pub partitions: Vec<Planned>,
}

impl Layout {
    pub fn get(&self, role: Role) -> Option<&Planned> {
        self.partitions.iter().find(|p| p.role == role)
    }

    pub fn root(&self) -> &Planned {
        // `plan` always ends with the root partition.
        &self.partitions[self.partitions.len() - 1]
    }
}

/// Everything the plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The target disk, for messages.
    pub disk: &'a str,
    pub disk_bytes: u64,
    pub boot_mode: BootMode,
    /// The label the node asks for; uefi always gets gpt.
    pub label: PartTable,
    pub params: &'a PartitionParams,
    /// The config drive's decompressed size in bytes (0: none).
    pub configdrive_bytes: u64,
    /// The target is a software RAID-1 root array: its ESP is later copied block for block
    /// into the mirrored ESP on the holder disks, so it gets [`raid_esp_mib`] instead.
    pub raid_root: bool,
}

/// The ESP inside a software RAID root: as large as fits the mirrored ESP of the holders
/// (550 MiB less md metadata 1.0's reserve, whole MiB).
pub fn raid_esp_mib() -> u64 {
    crate::raid::esp::usable_bytes() >> 20
}

/// Plans the partitions (pure: no I/O). Refuses what does not fit or cannot be made.
pub fn plan(r: &Request) -> Result<Layout> {
    let p = r.params;
    let label = if r.boot_mode == BootMode::Uefi {
        PartTable::Gpt
    } else {
        r.label
    };
    if p.ephemeral_mb > 0 {
        match p.ephemeral_format.as_deref() {
            None => {
                return Err(invalid(
                    "image_info 'ephemeral_mb' is set but 'ephemeral_format' is not (the \
                     conductor fills it from [pxe]default_ephemeral_format).",
                ))
            }
            Some(f) if !EPHEMERAL_FORMATS.contains(&f) && !p.preserve_ephemeral => {
                return Err(invalid(format!(
                    "Cannot make an ephemeral file system of type {f:?}: this agent makes {}. \
                     Set instance_info ephemeral_format to one of them.",
                    EPHEMERAL_FORMATS.join(", ")
                )))
            }
            Some(_) => {}
        }
    }
    let configdrive_mib = r.configdrive_bytes.div_ceil(1 << 20);
    let mut wanted: Vec<(Role, u64, Option<&'static str>, Option<&'static str>)> = Vec::new();
    match (r.boot_mode, label) {
        (BootMode::Uefi, _) => {
            let size = if r.raid_root { raid_esp_mib() } else { ESP_MIB };
            wanted.push((Role::Esp, size, Some("fat32"), Some("boot")))
        }
        (BootMode::Bios, PartTable::Gpt) => {
            wanted.push((Role::BiosBoot, BIOS_BOOT_MIB, None, Some("bios_grub")))
        }
        (BootMode::Bios, PartTable::Msdos) => {}
    }
    if p.ephemeral_mb > 0 {
        wanted.push((Role::Ephemeral, p.ephemeral_mb, None, None));
    }
    if p.swap_mb > 0 {
        wanted.push((Role::Swap, p.swap_mb, Some("linux-swap"), None));
    }
    if configdrive_mib > 0 {
        wanted.push((Role::ConfigDrive, configdrive_mib, None, None));
    }
    let root_flag = (r.boot_mode == BootMode::Bios && label == PartTable::Msdos).then_some("boot");
    wanted.push((Role::Root, p.root_mb, None, root_flag));
    if label == PartTable::Msdos && wanted.len() > 4 {
        // Cannot happen with the rules above (no ESP on msdos), kept as a guard.
        return Err(invalid(format!(
            "{} partitions do not fit an msdos label (4 primary partitions at most).",
            wanted.len()
        )));
    }
    let mut partitions = Vec::with_capacity(wanted.len());
    let mut at = FIRST_MIB;
    for (i, (role, size, fs, flag)) in wanted.into_iter().enumerate() {
        partitions.push(Planned {
            number: i as u32 + 1,
            role,
            start_mib: at,
            end_mib: at + size,
            fs,
            flag,
        });
        at += size;
    }
    let disk_mib = r.disk_bytes >> 20;
    let needed = at + TAIL_MIB;
    if needed > disk_mib {
        let parts: Vec<String> = partitions
            .iter()
            .map(|p| format!("{} {} MiB", p.role.key(), p.size_mib()))
            .collect();
        return Err(invalid(format!(
            "The root partition of {} MiB (root_mb) does not fit on {} ({disk_mib} MiB): the \
             layout needs {needed} MiB ({}, plus {FIRST_MIB} MiB at the start and {TAIL_MIB} MiB \
             at the end). Lower instance_info root_gb (or swap_mb / ephemeral_gb), or pick a \
             larger disk with root device hints.",
            p.root_mb,
            r.disk,
            parts.join(", ")
        )));
    }
    Ok(Layout {
        label,
        boot_mode: r.boot_mode,
        partitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GIB: u64 = 1 << 30;

    fn params(root_mb: u64) -> PartitionParams {
        PartitionParams {
            root_mb,
            ..PartitionParams::default()
        }
    }

    fn req<'a>(p: &'a PartitionParams, mode: BootMode, label: PartTable) -> Request<'a> {
        Request {
            disk: "/dev/vda",
            disk_bytes: 4 * GIB,
            boot_mode: mode,
            label,
            params: p,
            configdrive_bytes: 0,
            raid_root: false,
        }
    }

    type Row = (
        u32,
        Role,
        u64,
        u64,
        Option<&'static str>,
        Option<&'static str>,
    );

    fn summary(l: &Layout) -> Vec<Row> {
        l.partitions
            .iter()
            .map(|p| (p.number, p.role, p.start_mib, p.end_mib, p.fs, p.flag))
            .collect()
    }

    #[test]
    fn uefi_gets_gpt_an_esp_first_and_root_last() {
        let p = PartitionParams {
            root_mb: 1024,
            swap_mb: 128,
            ephemeral_mb: 256,
            ephemeral_format: Some("ext4".into()),
            preserve_ephemeral: false,
        };
        let mut r = req(&p, BootMode::Uefi, PartTable::Msdos);
        r.configdrive_bytes = (3 << 20) + 1;
        let l = plan(&r).unwrap();
        assert_eq!(l.label, PartTable::Gpt, "uefi overrides disk_label msdos");
        assert_eq!(
            summary(&l),
            vec![
                (1, Role::Esp, 1, 551, Some("fat32"), Some("boot")),
                (2, Role::Ephemeral, 551, 807, None, None),
                (3, Role::Swap, 807, 935, Some("linux-swap"), None),
                (4, Role::ConfigDrive, 935, 939, None, None),
                (5, Role::Root, 939, 1963, None, None),
            ]
        );
        assert_eq!(l.root().number, 5);
        assert_eq!(l.get(Role::Esp).unwrap().size_mib(), ESP_MIB);
    }

    #[test]
    fn bios_gets_msdos_with_a_bootable_root_or_gpt_with_a_bios_boot_partition() {
        let p = params(1024);
        let l = plan(&req(&p, BootMode::Bios, PartTable::Msdos)).unwrap();
        assert_eq!(l.label, PartTable::Msdos);
        assert_eq!(
            summary(&l),
            vec![(1, Role::Root, 1, 1025, None, Some("boot"))]
        );
        let l = plan(&req(&p, BootMode::Bios, PartTable::Gpt)).unwrap();
        assert_eq!(
            summary(&l),
            vec![
                (1, Role::BiosBoot, 1, 2, None, Some("bios_grub")),
                (2, Role::Root, 2, 1026, None, None),
            ]
        );
    }

    #[test]
    fn a_root_that_does_not_fit_is_refused_naming_both_sizes() {
        let p = params(4096);
        let e = plan(&req(&p, BootMode::Uefi, PartTable::Gpt)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
        for part in [
            "root partition of 4096 MiB",
            "/dev/vda (4096 MiB)",
            "needs 4648 MiB",
            "efi system partition 550 MiB",
        ] {
            assert!(e.details.contains(part), "{part:?} in {}", e.details);
        }
        // Exactly fitting: 1 + 550 + root + 1 = disk.
        let p = params(4096 - 552);
        assert!(plan(&req(&p, BootMode::Uefi, PartTable::Gpt)).is_ok());
        let p = params(4096 - 551);
        assert!(plan(&req(&p, BootMode::Uefi, PartTable::Gpt)).is_err());
    }

    #[test]
    fn in_a_raid_root_the_esp_fits_the_mirrored_esp_of_the_holders() {
        let p = params(1024);
        let mut r = req(&p, BootMode::Uefi, PartTable::Gpt);
        r.raid_root = true;
        let l = plan(&r).unwrap();
        let esp = l.get(Role::Esp).unwrap();
        assert_eq!((esp.start_mib, esp.end_mib), (1, 550));
        assert!(esp.size_mib() << 20 <= crate::raid::esp::usable_bytes());
        assert_eq!((l.root().start_mib, l.root().end_mib), (550, 1574));
    }

    #[test]
    fn ephemeral_needs_a_format_this_agent_can_make() {
        let mut p = params(1024);
        p.ephemeral_mb = 64;
        let e = plan(&req(&p, BootMode::Bios, PartTable::Msdos)).unwrap_err();
        assert!(e.details.contains("ephemeral_format"), "{}", e.details);
        p.ephemeral_format = Some("xfs".into());
        let e = plan(&req(&p, BootMode::Bios, PartTable::Msdos)).unwrap_err();
        assert!(e.details.contains("\"xfs\""), "{}", e.details);
        // Preserved: nothing is formatted, so any format is fine.
        p.preserve_ephemeral = true;
        assert!(plan(&req(&p, BootMode::Bios, PartTable::Msdos)).is_ok());
    }

    #[test]
    fn params_are_read_as_the_conductor_sends_them() {
        let info = json!({"root_mb": 1024, "swap_mb": 0, "ephemeral_mb": 0,
                          "ephemeral_format": null, "preserve_ephemeral": false,
                          "image_type": "partition"});
        assert_eq!(PartitionParams::parse(&info).unwrap(), params(1024));
        let info = json!({"root_mb": "2048", "swap_mb": null, "ephemeral_mb": 1024,
                          "ephemeral_format": "ext4", "preserve_ephemeral": "true"});
        let p = PartitionParams::parse(&info).unwrap();
        assert_eq!(
            (p.root_mb, p.swap_mb, p.ephemeral_mb, p.preserve_ephemeral),
            (2048, 0, 1024, true)
        );
        for (bad, key) in [
            (json!({}), "'root_mb' is required"),
            (json!({"root_mb": 0}), "'root_mb' is 0"),
            (json!({"root_mb": -1}), "'root_mb' must be"),
            (
                json!({"root_mb": 1, "swap_mb": "a lot"}),
                "'swap_mb' must be",
            ),
            (
                json!({"root_mb": 1, "ephemeral_format": 4}),
                "'ephemeral_format' must",
            ),
        ] {
            let e = PartitionParams::parse(&bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
            assert!(e.details.contains(key), "{key:?} in {}", e.details);
        }
    }
}
