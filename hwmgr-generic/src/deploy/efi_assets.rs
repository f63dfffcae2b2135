//! UEFI boot of a partition image: IPA's "EFI assets from the image" path
//! (`ironic_python_agent/extensions/image.py: _install_grub2` → `_efi_boot_setup`'s
//! fallback, `_prepare_boot_partitions_for_softraid` aside; `efi_utils.manage_uefi`;
//! `_append_uefi_to_fstab`).
//!
//! The ESP `write_image` made is empty. The root partition (found by the `root_uuid` the
//! conductor sends back) is mounted; when the image carries `/boot/efi/EFI`, that tree is
//! copied onto the ESP, the ESP's loaders get NVRAM entries ([`super::bootloader::manage_uefi`]),
//! and `UUID=<esp> /boot/efi vfat umask=0077 0 1` is appended to the image's `/etc/fstab` when
//! the file exists and does not name the ESP yet.
//!
//! Differs from IPA, deliberately:
//! * **Nothing from the image runs.** IPA runs the image's `grub-mkconfig` in a chroot first
//!   when the image has one, and puts this whole path behind `[agent]
//!   enable_bios_bootloader_install` (off by default since Ironic 39, a CVE mitigation:
//!   running the tenant image's programs as root inside the deploy ramdisk, which holds the
//!   agent token and sees every disk). We only copy files, so this path runs whatever that
//!   option says; the image's own loader runs later, on its own machine, as it would anyway.
//! * **The image is untrusted input.** The root is mounted `nosuid,nodev,noexec`; symbolic
//!   links are never followed (`/boot`, `/boot/efi`, `/boot/efi/EFI`, `/etc` and
//!   `/etc/fstab` must be real directories/files, links inside the EFI tree are skipped): a
//!   link could otherwise make the agent copy the ramdisk's own files onto the tenant's disk
//!   or write into the ramdisk.

use super::bootloader::{exec_error, ESP_MOUNT};
use crate::tools::{blkid, mount, umount, DevPath};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Where the image's root file system is mounted while its EFI tree is read.
pub const ROOT_MOUNT: &str = "/run/ironic-agent/root";

/// What [`copy_tree`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub files: usize,
    pub bytes: u64,
    /// Entries that are neither directories nor regular files (links, devices...).
    pub skipped: Vec<String>,
}

/// Whether `path` is a real directory (not a link to one).
fn real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// `<root>/boot/efi/EFI`, when every component is a real directory.
pub fn efi_tree(root: &Path) -> Option<std::path::PathBuf> {
    let mut p = root.to_path_buf();
    for c in ["boot", "efi", "EFI"] {
        p.push(c);
        if !real_dir(&p) {
            return None;
        }
    }
    Some(p)
}

/// Copies the directories and regular files under `src` into `dst` (created), never
/// following a link.
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<Copied> {
    let mut done = Copied::default();
    let mut stack = vec![(src.to_path_buf(), dst.to_path_buf())];
    while let Some((from, to)) = stack.pop() {
        std::fs::create_dir_all(&to)?;
        let mut entries: Vec<_> = std::fs::read_dir(&from)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let kind = e.file_type()?;
            let target = to.join(e.file_name());
            if kind.is_dir() {
                stack.push((e.path(), target));
            } else if kind.is_file() {
                let mut input = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(e.path())?;
                let mut out = std::fs::File::create(&target)?;
                done.bytes += std::io::copy(&mut input, &mut out)?;
                out.sync_all()?;
                done.files += 1;
            } else {
                done.skipped.push(e.path().to_string_lossy().into_owned());
            }
        }
    }
    Ok(done)
}

/// IPA's fstab line for the ESP.
pub fn fstab_line(esp_uuid: &str) -> String {
    format!("UUID={esp_uuid}\t/boot/efi\tvfat\tumask=0077\t0\t1\n")
}

/// Appends [`fstab_line`] to `<root>/etc/fstab` when it is a regular file that does not
/// mention the ESP yet; true when it was appended.
pub fn append_fstab(root: &Path, esp_uuid: &str) -> std::io::Result<bool> {
    let etc = root.join("etc");
    let fstab = etc.join("fstab");
    if !real_dir(&etc) || !std::fs::symlink_metadata(&fstab).is_ok_and(|m| m.is_file()) {
        return Ok(false);
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&fstab)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut f, &mut text)?;
    if text.contains(esp_uuid) {
        return Ok(false);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    f.write_all(fstab_line(esp_uuid).as_bytes())?;
    f.sync_all()?;
    Ok(true)
}

/// The partition of `disk` whose file system UUID or partition GUID is `uuid`, and the type
/// of its file system as blkid names it.
pub(super) fn find_partition(
    m: &Machine,
    disk: &str,
    uuid: &str,
) -> Result<(String, Option<String>)> {
    for (_, part) in super::configdrive::partitions_of(m, disk) {
        let Ok(out) = m.run(&blkid::probe(&DevPath::new(&part)?)) else {
            continue;
        };
        let hit = ["UUID", "PART_ENTRY_UUID"]
            .iter()
            .any(|k| blkid::value(&out.stdout, k).is_some_and(|v| v.eq_ignore_ascii_case(uuid)));
        if hit {
            let fstype = blkid::value(&out.stdout, "TYPE").map(str::to_string);
            return Ok((part, fstype));
        }
    }
    Err(AgentError::new(
        ErrorKind::DeviceNotFound,
        format!(
            "No partition with UUID {uuid} (the root_uuid install_bootloader was given) on \
             {disk}. Was the partition image written by this agent to this disk?"
        ),
    ))
}

/// Runs `f` with `dev` mounted by `cmd` at `dir`, unmounting afterwards whatever happened.
pub(super) fn with_mount<T>(
    m: &Machine,
    disk: &str,
    cmd: crate::tools::ToolCmd,
    dir: &'static str,
    f: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let path = m.host.path(dir);
    std::fs::create_dir_all(&path)
        .map_err(|e| exec_error(disk, format!("creating {}: {e}", path.display())))?;
    m.run(&cmd).map_err(|e| exec_error(disk, e))?;
    let r = f(&path);
    let u = m.run(&umount::dir(dir));
    match (r, u) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(exec_error(disk, format!("unmounting {dir} failed: {e}"))),
        (Ok(v), Ok(_)) => Ok(v),
    }
}

/// The EFI assets path on `disk`: false when the image has no `/boot/efi/EFI` (then only
/// GRUB could make it bootable). On a plain disk the loaders are registered here; on a
/// software RAID root the caller's [`super::bootloader::manage_uefi`] mirrors the filled ESP
/// onto the holders and registers them there ([`super::raid_esp`]).
pub fn install(m: &Machine, disk: &str, root_uuid: &str, esp_uuid: Option<&str>) -> Result<bool> {
    if !copy(m, disk, root_uuid, esp_uuid)? {
        return Ok(false);
    }
    if super::raid_root::is_md(disk) {
        return Ok(true);
    }
    if !super::bootloader::manage_uefi(m, disk, esp_uuid)? {
        return Err(exec_error(
            disk,
            "the image's /boot/efi/EFI has no boot loader this agent registers \
             (\\EFI\\BOOT\\BOOTX64.EFI or a shim BOOTX64.CSV)",
        ));
    }
    Ok(true)
}

/// Copies the image's `/boot/efi/EFI` onto the ESP `write_image` made on `disk` and adds the
/// ESP to the image's `/etc/fstab`; false when the image has no such tree.
pub fn copy(m: &Machine, disk: &str, root_uuid: &str, esp_uuid: Option<&str>) -> Result<bool> {
    let (root, fstype) = find_partition(m, disk, root_uuid)?;
    let (_, esp) = super::bootloader::find_esp(m, disk, esp_uuid)?;
    let esp_dev = DevPath::new(&esp)?;
    let root_dev = DevPath::new(&root)?;
    tracing::info!("Looking for EFI assets in the image: root partition {root}, ESP {esp}");
    with_mount(
        m,
        disk,
        mount::untrusted(&root_dev, fstype.as_deref(), ROOT_MOUNT),
        ROOT_MOUNT,
        |root_dir| {
            let Some(tree) = efi_tree(root_dir) else {
                tracing::warn!(
                    "The image on {root} has no /boot/efi/EFI directory: no EFI assets to copy"
                );
                return Ok(false);
            };
            let copied = with_mount(
                m,
                disk,
                mount::vfat(&esp_dev, ESP_MOUNT),
                ESP_MOUNT,
                |esp_dir| {
                    copy_tree(&tree, &esp_dir.join("EFI")).map_err(|e| {
                        exec_error(
                            disk,
                            format!("copying the image's /boot/efi/EFI onto the ESP {esp}: {e}"),
                        )
                    })
                },
            )?;
            tracing::info!(
                "Copied {} files ({} bytes) of the image's /boot/efi/EFI onto the ESP {esp}",
                copied.files,
                copied.bytes
            );
            for s in &copied.skipped {
                tracing::warn!("Not copied (not a regular file or directory): {s}");
            }
            if let Some(uuid) = esp_uuid {
                match append_fstab(root_dir, uuid) {
                    Ok(true) => tracing::info!("Added the ESP to the image's /etc/fstab"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!("Could not add the ESP to the image's /etc/fstab: {e}")
                    }
                }
            }
            Ok(true)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_efi_tree_is_copied_without_following_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let boot = root.join("boot/efi/EFI/BOOT");
        std::fs::create_dir_all(&boot).unwrap();
        std::fs::write(boot.join("BOOTX64.EFI"), b"MZloader").unwrap();
        let secret = d.path().join("ramdisk-secret");
        std::fs::write(&secret, b"token").unwrap();
        std::os::unix::fs::symlink(&secret, boot.join("leak.efi")).unwrap();
        let tree = efi_tree(&root).unwrap();
        let esp = d.path().join("esp");
        let c = copy_tree(&tree, &esp.join("EFI")).unwrap();
        assert_eq!((c.files, c.bytes), (1, 8));
        assert_eq!(c.skipped.len(), 1);
        assert_eq!(
            std::fs::read(esp.join("EFI/BOOT/BOOTX64.EFI")).unwrap(),
            b"MZloader"
        );
        assert!(!esp.join("EFI/BOOT/leak.efi").exists());

        // /boot/efi as a link to somewhere else: no tree.
        let root2 = d.path().join("root2");
        std::fs::create_dir_all(root2.join("boot")).unwrap();
        std::os::unix::fs::symlink(root.join("boot/efi"), root2.join("boot/efi")).unwrap();
        assert!(efi_tree(&root2).is_none());
        assert!(efi_tree(&d.path().join("nothing")).is_none());
    }

    #[test]
    fn fstab_gets_the_esp_once_and_links_are_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        assert!(!append_fstab(root, "1234-ABCD").unwrap(), "no /etc/fstab");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/fstab"), "UUID=r / ext4 defaults 0 1").unwrap();
        assert!(append_fstab(root, "1234-ABCD").unwrap());
        assert!(!append_fstab(root, "1234-ABCD").unwrap(), "already there");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/fstab")).unwrap(),
            "UUID=r / ext4 defaults 0 1\nUUID=1234-ABCD\t/boot/efi\tvfat\tumask=0077\t0\t1\n"
        );
        let outside = d.path().join("outside");
        std::fs::write(&outside, "x").unwrap();
        let root2 = d.path().join("r2");
        std::fs::create_dir_all(root2.join("etc")).unwrap();
        std::os::unix::fs::symlink(&outside, root2.join("etc/fstab")).unwrap();
        assert!(!append_fstab(&root2, "1234-ABCD").unwrap());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "x");
    }
}
