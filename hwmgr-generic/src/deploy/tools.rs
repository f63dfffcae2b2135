//! Every external program the deploy runs, with its argv, in one place (until the shared
//! table of programs lands). Device arguments are paths from `Host::device`, never input.

use hwmgr::Cmd;
use std::path::Path;
use std::time::Duration;

/// `sgdisk -e`: move the backup GPT to the end of a disk larger than the image.
pub fn sgdisk_move_backup_to_end(dev: &Path) -> Cmd {
    Cmd::new("sgdisk").arg("-e").arg(dev)
}

/// A new GPT partition in the last `mib` MiB of the free space at the disk's end, with a
/// random partition GUID (`partition_utils.create_config_drive_partition`).
pub fn sgdisk_new_partition_at_end(dev: &Path, mib: u64) -> Cmd {
    Cmd::new("sgdisk")
        .arg("-n")
        .arg(format!("0:-{mib}MB:0"))
        .arg("-u")
        .arg("0:R")
        .arg(dev)
}

/// A new msdos primary partition between `start` and `end` (parted units, e.g. `-64MiB`).
pub fn parted_mkpart(dev: &Path, start: &str, end: &str) -> Cmd {
    Cmd::new("parted")
        .args(["-a", "optimal", "-s", "--"])
        .arg(dev)
        .args(["mkpart", "primary", "fat32", start, end])
}

/// Low-level probe of a file system's label (exit 2: nothing found).
pub fn blkid_label(part: &Path) -> Cmd {
    Cmd::new("blkid")
        .args(["-p", "-s", "LABEL", "-o", "value"])
        .arg(part)
        .ok_codes(&[0, 2])
}

pub fn mount_read_only_vfat(part: &Path, dir: &Path) -> Cmd {
    Cmd::new("mount")
        .args(["-o", "ro", "-t", "vfat"])
        .arg(part)
        .arg(dir)
}

pub fn umount(dir: &Path) -> Cmd {
    Cmd::new("umount").arg(dir)
}

pub fn mount_efivarfs(dir: &Path) -> Cmd {
    Cmd::new("mount")
        .args(["-t", "efivarfs", "efivarfs"])
        .arg(dir)
}

pub fn efibootmgr_version() -> Cmd {
    Cmd::new("efibootmgr").arg("--version")
}

pub fn efibootmgr_list() -> Cmd {
    Cmd::new("efibootmgr").arg("-v")
}

pub fn efibootmgr_delete(boot_num: &str) -> Cmd {
    Cmd::new("efibootmgr").args(["-b", boot_num, "-B"])
}

/// `efibootmgr -v -c -d <disk> -p <n> -w -L <label> -l <loader>` (`efi_utils.add_boot_record`).
pub fn efibootmgr_create(disk: &Path, part: u32, label: &str, loader: &str) -> Cmd {
    Cmd::new("efibootmgr")
        .args(["-v", "-c", "-d"])
        .arg(disk)
        .args(["-p", &part.to_string(), "-w", "-L", label, "-l", loader])
        .timeout(Duration::from_secs(120))
}
