//! `image.install_bootloader` (`ironic_python_agent/extensions/image.py:
//! ImageExtension.install_bootloader`, `_efi_boot_setup`; `efi_utils.py: manage_uefi`,
//! `_get_efi_bootloaders`, `_run_efibootmgr`).
//!
//! When the ramdisk runs under UEFI and `efibootmgr` is present: find the ESP in the
//! partition table (GPT type C12A7328-…, msdos type 0xEF; else the partition whose GUID is
//! `efi_system_part_uuid`), mount it read-only, look for the loaders IPA knows
//! (`\EFI\BOOT\BOOTX64.EFI`, a shim `BOOTX64.CSV`, ...), delete NVRAM entries with the same
//! label and create `ironic<N>` (or the CSV's label) with `efibootmgr`. No loader found is not
//! an error (IPA: "Empty EFI partition detected"). A partition image's ESP is empty until
//! its EFI assets are copied from the image's root ([`super::efi_assets`]), then registered
//! the same way. Under BIOS, or without a loader: a root uuid of `0x00000000` (a whole-disk
//! GPT image) is done; anything else would need GRUB to be installed.
//!
//! **GRUB is never installed from the image, and `[agent]enable_bios_bootloader_install`
//! changes only the message.** IPA installs it by running the image's own `grub-install` and `grub-mkconfig`
//! in a chroot; Ironic 39 turned that off by default (`enable_bios_bootloader_install`, sent
//! in the lookup's `config`) as a CVE mitigation, because it runs the tenant image's programs
//! as root inside the deploy ramdisk, which holds the agent token and reaches every disk and
//! the conductor's API. We go further and never do it, even when the conductor allows it: a
//! partition image boots through UEFI with its own loader (copied as files, nothing
//! executed), and `write_image` refuses a partition image for a BIOS node before writing, so
//! a BIOS deploy fails early instead of leaving an unbootable disk. The refusal names the
//! option when it is off (IPA's message), and says the agent never runs the image's programs
//! when it is on.
//!
//! Failures are returned unless `ignore_bootloader_failure` (the parameter, else
//! `ipa-ignore-bootloader-failure`) says otherwise. Differs from IPA: the ESP is mounted
//! read-only while we look for loaders. A software RAID root gets a mirrored ESP on every
//! holder ([`super::raid_esp`]); under BIOS every holder gets GRUB's boot code from the
//! deploy ramdisk's own GRUB, pointed at the image's `grub.cfg` ([`super::bios_boot`]): the
//! image's programs still never run.
//!
//! `efibootmgr` not installed: as IPA, a whole-disk image on a plain disk then succeeds
//! without an NVRAM entry (firmware finds `\EFI\BOOT\BOOTX64.EFI` by itself). Differs from
//! IPA: on a software RAID root it is an error, since nothing could make the holders bootable
//! (IPA reports success for a node that cannot boot). An `efibootmgr --version` that runs
//! and fails is an error in both cases, as in IPA (only `FileNotFoundError` is caught there).

use super::partitions::read_table;
use crate::tools::{efibootmgr, mount, umount, DevPath};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// File names IPA treats as boot loaders or shim hints (`BOOTLOADERS_EFI`), lower case.
const LOADERS: &[&str] = &[
    "bootx64.csv",
    "bootaa64.csv",
    "boot.csv",
    "bootia32.efi",
    "bootx64.efi",
    "bootia64.efi",
    "bootarm.efi",
    "bootaa64.efi",
    "bootriscv32.efi",
    "bootriscv64.efi",
    "bootriscv128.efi",
    "grubaa64.efi",
    "winload.efi",
];

/// Where the ESP is mounted while we look at it.
pub const ESP_MOUNT: &str = "/run/ironic-agent/esp";
const EFIVARS: &str = "/sys/firmware/efi/efivars";

/// The parameters the conductor sends (`agent_client.install_bootloader`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub root_uuid: Option<String>,
    pub efi_system_part_uuid: Option<String>,
    pub target_boot_mode: Option<String>,
    pub ignore_bootloader_failure: Option<bool>,
}

fn bad(key: &str, v: &Value) -> AgentError {
    AgentError::new(
        ErrorKind::InvalidCommandParamsError,
        format!("install_bootloader: '{key}' must be a string or null, got {v}"),
    )
}

impl Params {
    pub fn parse(p: &Map<String, Value>) -> Result<Params> {
        let s = |k: &str| -> Result<Option<String>> {
            match p.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(v)) => Ok(Some(v.clone())),
                Some(v) => Err(bad(k, v)),
            }
        };
        let ignore = match p.get("ignore_bootloader_failure") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(v)) => Some(matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on" | "y" | "t"
            )),
            Some(v) => return Err(bad("ignore_bootloader_failure", v)),
        };
        s("prep_boot_part_uuid")?;
        Ok(Params {
            root_uuid: s("root_uuid")?,
            efi_system_part_uuid: s("efi_system_part_uuid")?,
            target_boot_mode: s("target_boot_mode")?,
            ignore_bootloader_failure: ignore,
        })
    }
}

/// One loader on the ESP: its path relative to the ESP root (`EFI/BOOT/BOOTX64.EFI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loader {
    pub relative: String,
}

/// Walks the mounted ESP (`_get_efi_bootloaders`): a CSV hint wins at once; otherwise every
/// known loader file (all files on vfat are executable). Sorted for a stable `ironic<N>`.
pub fn find_loaders(root: &Path) -> Vec<Loader> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = e.file_name().to_string_lossy().to_lowercase();
            if !LOADERS.contains(&name.as_str()) {
                continue;
            }
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".csv") {
                return vec![Loader { relative: rel }];
            }
            found.push(Loader { relative: rel });
        }
    }
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    found
}

/// The loader path and label a CSV hint names (UTF-16, as shim writes it):
/// `<file>,<label>,...` relative to the CSV's directory.
pub fn csv_entry(esp: &Path, csv_rel: &str) -> Option<(String, String)> {
    let bytes = std::fs::read(esp.join(csv_rel)).ok()?;
    let (be, body) = match bytes.get(..2) {
        Some([0xfe, 0xff]) => (true, &bytes[2..]),
        Some([0xff, 0xfe]) => (false, &bytes[2..]),
        _ => (false, &bytes[..]),
    };
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| {
            if be {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .collect();
    let text = String::from_utf16_lossy(&units);
    let mut fields = text.splitn(4, ',');
    let file = fields.next()?.trim().to_string();
    let label = fields.next()?.trim().to_string();
    let dir = Path::new(csv_rel)
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rel = if dir.is_empty() {
        file
    } else {
        format!("{dir}/{file}")
    };
    Some((efi_path(&rel), label))
}

/// `EFI/BOOT/BOOTX64.EFI` → `\EFI\BOOT\BOOTX64.EFI`.
pub fn efi_path(rel: &str) -> String {
    format!("\\{}", rel.replace('/', "\\"))
}

/// `efibootmgr -v` lines `Boot0003* ironic1\tHD(...)/File(...)`: (number, label).
pub fn boot_records(text: &str) -> Vec<(String, String)> {
    const PATHS: &[&str] = &[
        "BBS(",
        "HD(",
        "FvFile(",
        "FvVol(",
        "PciRoot(",
        "VenMsg(",
        "VenHw(",
        "UsbClass(",
    ];
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Boot")?;
            let num: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            if num.is_empty() {
                return None;
            }
            let after = rest[num.len()..].trim_start_matches('*');
            let cut = PATHS.iter().filter_map(|p| after.find(p)).min()?;
            Some((num, after[..cut].trim().to_string()))
        })
        .collect()
}

pub(super) fn exec_error(disk: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::new(
        ErrorKind::CommandExecutionError,
        format!("Could not configure UEFI boot on device {disk}: {e}"),
    )
}

/// Whether `root_uuid` names a root partition (a partition image); whole-disk images send
/// null or the MBR signature of a GPT image.
fn partition_root(p: &Params) -> Option<&str> {
    p.root_uuid.as_deref().filter(|r| *r != "0x00000000")
}

/// Whether `root_uuid` is a whole-disk image's MBR disk identifier (`0x1234abcd`, what
/// `get_partition_uuids` reports for it), not a file system or partition UUID.
fn is_disk_identifier(root_uuid: &str) -> bool {
    root_uuid
        .strip_prefix("0x")
        .is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `install_bootloader` on `disk` (the install device). `bios_grub_allowed` is the lookup's
/// `enable_bios_bootloader_install`.
pub fn install(
    m: &Machine,
    disk: &str,
    p: &Params,
    ignore_default: bool,
    bios_grub_allowed: bool,
) -> Result<Value> {
    let ignore = p.ignore_bootloader_failure.unwrap_or(ignore_default);
    let uefi = m.host.exists("/sys/firmware/efi");
    let current = if uefi { "uefi" } else { "bios" };
    if let Some(t) = p.target_boot_mode.as_deref().filter(|t| *t != current) {
        tracing::warn!("Boot mode mismatch: target boot mode is {t}, current boot mode is {current}. Installing boot loader may fail or work incorrectly.");
    }
    if uefi {
        let version = m.run(&efibootmgr::version());
        let has_efibootmgr = version.is_ok();
        let esp_uuid = p.efi_system_part_uuid.as_deref();
        let md = super::raid_root::is_md(disk);
        let setup = if let Err(e) = version {
            efibootmgr_unusable(disk, e)
        } else if let (true, Some(root)) = (md, partition_root(p)) {
            // A partition image in the RAID root: fill its ESP inside the array from the
            // image first; the mirrored ESP on the holders is a copy of it.
            super::efi_assets::copy(m, disk, root, esp_uuid)
                .and_then(|_| manage_uefi(m, disk, esp_uuid))
        } else {
            manage_uefi(m, disk, esp_uuid)
        };
        // A partition image's fresh ESP is empty: the loader comes from the image.
        let setup = match (setup, partition_root(p)) {
            (Ok(false), Some(root)) if has_efibootmgr && !md => {
                super::efi_assets::install(m, disk, root, esp_uuid)
            }
            (other, _) => other,
        };
        match setup {
            Ok(true) => return Ok(Value::Null),
            Ok(false) => {}
            Err(e) if ignore => tracing::error!("Error setting up bootloader, ignored: {e}"),
            Err(e) => return Err(e),
        }
    }
    if !uefi && super::raid_root::is_md(disk) {
        // BIOS boot code on every holder, from the ramdisk's GRUB ([`super::bios_boot`]).
        let fs_uuid = partition_root(p).filter(|r| !is_disk_identifier(r));
        return match super::bios_boot::install(m, disk, fs_uuid) {
            Ok(()) => Ok(Value::Null),
            Err(e) if ignore => {
                tracing::error!("Error installing the BIOS boot code, ignored: {e}");
                Ok(Value::Null)
            }
            Err(e) => Err(e),
        };
    }
    match partition_root(p) {
        None => {
            tracing::info!(
                "Not installing GRUB since root UUID is not provided. Assuming a whole disk image"
            );
            Ok(Value::Null)
        }
        // A partition image in BIOS mode: the ramdisk's GRUB ([`super::bios_boot`]).
        Some(root) if !uefi => match super::bios_boot::install(m, disk, Some(root)) {
            Ok(()) => Ok(Value::Null),
            Err(e) if ignore => {
                tracing::error!("Error installing the BIOS boot code, ignored: {e}");
                Ok(Value::Null)
            }
            Err(e) => Err(e),
        },
        Some(root) => {
            let msg = grub_refusal(disk, root, bios_grub_allowed);
            if ignore {
                tracing::error!("{msg} (ignored)");
                Ok(Value::Null)
            } else {
                Err(AgentError::new(ErrorKind::InvalidImage, msg))
            }
        }
    }
}

/// Why a UEFI partition image without EFI assets gets no boot loader for root `root` on
/// `disk`: IPA's message when the conductor did not allow GRUB, else ours (this agent never
/// runs the image's programs).
pub fn grub_refusal(disk: &str, root: &str, bios_grub_allowed: bool) -> String {
    let what =
        "the image has no loader under /boot/efi/EFI (\\EFI\\BOOT\\BOOTX64.EFI) to copy onto the ESP";
    let head = if bios_grub_allowed {
        "This agent does not install GRUB from the image: it never runs the image's programs \
         inside the deploy ramdisk."
            .to_string()
    } else {
        "Install of legacy BIOS bootloaders disabled by CONF.enable_bios_bootloader_install as \
         part of CVE-2026-43003 mitigation."
            .to_string()
    };
    format!(
        "{head} Root uuid {root} on {disk} needs a boot loader: {what}. Deploy partition images \
         in UEFI mode with the loader at /boot/efi/EFI/BOOT/BOOTX64.EFI in the image, in BIOS \
         mode with /boot/grub/grub.cfg in the image, or use a whole-disk image."
    )
}

/// `efibootmgr --version` did not succeed. As IPA (`_efi_boot_setup`): a program that is
/// not installed means "no UEFI set-up" (`Ok(false)`: a whole-disk image then succeeds with
/// no NVRAM entry, the firmware's removable-media path boots it); any other failure is an
/// error. Differs from IPA: on a software RAID root a missing efibootmgr is an error too,
/// because the image's ESP lies inside the array where firmware cannot see it, so without the
/// mirrored ESP on every holder and their NVRAM entries nothing would boot (IPA reports
/// success and leaves an unbootable node).
fn efibootmgr_unusable(disk: &str, e: hwmgr::CommandError) -> Result<bool> {
    let missing = e.failure == hwmgr::Failure::NotFound;
    if missing && !super::raid_root::is_md(disk) {
        tracing::warn!("efibootmgr is not available in the ramdisk");
        return Ok(false);
    }
    let why = if super::raid_root::is_md(disk) {
        format!(
            "{disk} is a software RAID root: the image's EFI system partition lies inside the \
             array, where firmware cannot read it, so every holder disk needs a mirrored ESP \
             and an NVRAM boot entry made with efibootmgr, or no holder disk boots"
        )
    } else {
        "efibootmgr must answer --version before it can register the image's boot loader".into()
    };
    let fix = if missing {
        "Add efibootmgr to the deploy ramdisk"
    } else {
        "Check that efivarfs is available (CONFIG_EFIVAR_FS) and efibootmgr works in the \
         deploy ramdisk"
    };
    Err(exec_error(
        disk,
        format!(
            "{e}. {why}. {fix} and deploy again, or set ignore_bootloader_failure to accept a \
             node that may not boot."
        ),
    ))
}

/// The ESP of `disk` as `(partition number, /dev/<partition>)`.
pub(super) fn find_esp(m: &Machine, disk: &str, esp_uuid: Option<&str>) -> Result<(u32, String)> {
    let path = m.host.device(disk)?;
    let table = std::fs::File::open(&path)
        .map_err(|e| e.to_string())
        .and_then(|f| read_table(&f, super::sector_size(m, disk)))
        .map_err(|e| exec_error(disk, e))?;
    let parts = table.map(|t| t.partitions).unwrap_or_default();
    let esp = parts.iter().find(|p| p.is_esp()).or_else(|| {
        let want = esp_uuid?.to_ascii_lowercase();
        parts
            .iter()
            .find(|p| p.part_uuid.as_deref() == Some(want.as_str()))
    });
    let Some(esp) = esp else {
        return Err(AgentError::new(
            ErrorKind::DeviceNotFound,
            format!(
                "No EFI partition could be detected on device {disk} and EFI partition UUID has \
                 not been recorded during deployment (which is often the case for whole disk \
                 images). Are you using a UEFI-compatible image?"
            ),
        ));
    };
    let dev = super::configdrive::partition_path(m, disk, esp.number)
        .map_err(|e| exec_error(disk, e.details))?;
    Ok((esp.number, dev))
}

/// `manage_uefi`: true when NVRAM entries were created, false when the ESP has no loader.
/// On a software RAID root the ESP is mirrored onto every holder first ([`super::raid_esp`]).
pub fn manage_uefi(m: &Machine, disk: &str, esp_uuid: Option<&str>) -> Result<bool> {
    if super::raid_root::is_md(disk) {
        return super::raid_esp::install(m, disk, esp_uuid);
    }
    m.reread_partition_table(disk);
    let (part_no, part) = find_esp(m, disk, esp_uuid)?;
    let entries = read_loaders(m, disk, &part)?;
    if entries.is_empty() {
        tracing::warn!("Empty EFI partition detected on {part}: no boot loader to register");
        return Ok(false);
    }
    register(m, disk, &DevPath::new(disk)?, part_no, &entries, None)?;
    Ok(true)
}

/// The loaders on the ESP `part` as (EFI path, label): mounted read-only while we look.
pub(super) fn read_loaders(m: &Machine, disk: &str, part: &str) -> Result<Vec<(String, String)>> {
    let mount_dir: PathBuf = m.host.path(ESP_MOUNT);
    std::fs::create_dir_all(&mount_dir)
        .map_err(|e| exec_error(disk, format!("creating {}: {e}", mount_dir.display())))?;
    m.run(&mount::vfat_read_only(&DevPath::new(part)?, ESP_MOUNT))
        .map_err(|e| exec_error(disk, e))?;
    let loaders = find_loaders(&mount_dir);
    let entries: Vec<(String, String)> = loaders
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if l.relative.to_lowercase().ends_with(".csv") {
                csv_entry(&mount_dir, &l.relative)
                    .unwrap_or_else(|| (efi_path(&l.relative), format!("ironic{}", i + 1)))
            } else {
                (efi_path(&l.relative), format!("ironic{}", i + 1))
            }
        })
        .collect();
    if let Err(e) = m.run(&umount::dir(ESP_MOUNT)) {
        return Err(exec_error(
            disk,
            format!("Umounting efi system partition failed: {e}"),
        ));
    }
    Ok(entries)
}

/// One NVRAM entry per loader for partition `part_no` of `target` (`_run_efibootmgr`):
/// entries with the same label are deleted first. `suffix` makes labels unique per RAID
/// holder (`ironic1 (RAID, part0)`, as IPA).
pub(super) fn register(
    m: &Machine,
    disk: &str,
    target: &DevPath,
    part_no: u32,
    entries: &[(String, String)],
    suffix: Option<&str>,
) -> Result<()> {
    ensure_efivarfs(m).map_err(|e| exec_error(disk, e))?;
    let existing = m
        .run(&efibootmgr::list())
        .map_err(|e| exec_error(disk, e))?;
    let records = boot_records(&existing.stdout);
    for (loader, base) in entries {
        let label = match suffix {
            Some(s) => format!("{base} {s}"),
            None => base.clone(),
        };
        for (num, _) in records.iter().filter(|(_, l)| *l == label) {
            tracing::info!("deleting the NVRAM boot entry Boot{num} labelled {label}");
            m.run(&efibootmgr::delete(num))
                .map_err(|e| exec_error(disk, e))?;
        }
        tracing::info!(
            "Adding loader {loader} on partition {part_no} of device {target} with label {label}"
        );
        m.run(&efibootmgr::create(target, part_no, &label, loader))
            .map_err(|e| exec_error(disk, e))?;
    }
    Ok(())
}

/// efibootmgr needs efivarfs; the ramdisk's init mounts it, this covers other set-ups.
fn ensure_efivarfs(m: &Machine) -> std::result::Result<(), String> {
    let mounts = m.host.read("/proc/mounts").unwrap_or_default();
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("efivarfs"))
    {
        return Ok(());
    }
    m.run(&mount::efivarfs(EFIVARS))
        .map(|_| ())
        .map_err(|e| format!("efivarfs is not mounted at {EFIVARS} and mounting it failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaders_are_found_like_ipa() {
        let d = tempfile::tempdir().unwrap();
        let boot = d.path().join("EFI/BOOT");
        std::fs::create_dir_all(&boot).unwrap();
        std::fs::write(boot.join("BOOTX64.EFI"), b"MZ").unwrap();
        std::fs::write(boot.join("grubx64.efi"), b"MZ").unwrap();
        std::fs::create_dir_all(d.path().join("EFI/debian")).unwrap();
        std::fs::write(d.path().join("EFI/debian/systemd-bootx64.efi"), b"MZ").unwrap();
        let l = find_loaders(d.path());
        assert_eq!(
            l,
            vec![Loader {
                relative: "EFI/BOOT/BOOTX64.EFI".into()
            }]
        );
        assert_eq!(efi_path(&l[0].relative), "\\EFI\\BOOT\\BOOTX64.EFI");

        // A shim CSV wins at once and names loader and label.
        let csv: Vec<u8> = std::iter::once([0xff, 0xfe])
            .flatten()
            .chain(
                "shimx64.efi,debian,,This is the boot entry for debian\n"
                    .encode_utf16()
                    .flat_map(|u| u.to_le_bytes()),
            )
            .collect();
        std::fs::write(boot.join("BOOTX64.CSV"), csv).unwrap();
        let l = find_loaders(d.path());
        assert_eq!(l.len(), 1);
        assert_eq!(
            csv_entry(d.path(), &l[0].relative),
            Some(("\\EFI\\BOOT\\shimx64.efi".into(), "debian".into()))
        );
        assert!(find_loaders(&d.path().join("nothing")).is_empty());
    }

    #[test]
    fn efibootmgr_records_are_parsed() {
        let out = "BootCurrent: 0001\nTimeout: 0 seconds\nBootOrder: 0003,0001,0000\n\
                   Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)\n\
                   Boot0001* UEFI QEMU HARDDISK QM00001 \tPciRoot(0x0)/Pci(0x1f,0x2)/Sata(0,65535,0){auto_created_boot_option}\n\
                   Boot0003* ironic1\tHD(1,GPT,0b3f2c0e-6d1b-4f39-8c43-6d4b6b8a5a53,0x800,0x20000)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n";
        assert_eq!(
            boot_records(out),
            vec![
                ("0000".to_string(), "UiApp".to_string()),
                ("0001".to_string(), "UEFI QEMU HARDDISK QM00001".to_string()),
                ("0003".to_string(), "ironic1".to_string()),
            ]
        );
    }

    #[test]
    fn params_accept_nulls_and_a_missing_boot_mode() {
        let p = serde_json::json!({"root_uuid": "0x00000000", "efi_system_part_uuid": null,
                                   "prep_boot_part_uuid": null, "target_boot_mode": "uefi"});
        let p = Params::parse(p.as_object().unwrap()).unwrap();
        assert_eq!(p.root_uuid.as_deref(), Some("0x00000000"));
        assert_eq!(p.target_boot_mode.as_deref(), Some("uefi"));
        assert!(Params::parse(&Map::new()).unwrap().root_uuid.is_none());
        let bad = serde_json::json!({"root_uuid": 5});
        assert_eq!(
            Params::parse(bad.as_object().unwrap()).unwrap_err().kind,
            ErrorKind::InvalidCommandParamsError
        );
    }
}
