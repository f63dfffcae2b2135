//! Boot set-up programs of the deploy: efibootmgr (UEFI NVRAM boot entries), mount and
//! umount (the ESP read-only, efivarfs). `ironic_python_agent/efi_utils.py:
//! add_boot_record`, `_run_efibootmgr`.

pub mod efibootmgr {
    //! `efibootmgr`: needs efivarfs mounted.
    use crate::tools::{DevPath, Program, ToolCmd};
    use std::time::Duration;

    pub fn version() -> ToolCmd {
        ToolCmd::new(Program::Efibootmgr).text("--version")
    }

    /// Every boot entry with its device path (`-v`).
    pub fn list() -> ToolCmd {
        ToolCmd::new(Program::Efibootmgr).text("-v")
    }

    /// Deletes entry `BootXXXX` (`boot_num`: the hex digits, as `list` prints them).
    pub fn delete(boot_num: &str) -> ToolCmd {
        ToolCmd::new(Program::Efibootmgr)
            .text("-b")
            .text(boot_num)
            .text("-B")
    }

    /// `efibootmgr -v -c -d <disk> -p <n> -w -L <label> -l <loader>`: a new entry, first in
    /// the boot order. Firmware can be slow to write NVRAM, hence the long timeout.
    pub fn create(disk: &DevPath, part: u32, label: &str, loader: &str) -> ToolCmd {
        ToolCmd::new(Program::Efibootmgr)
            .texts(["-v", "-c", "-d"])
            .device(disk)
            .text("-p")
            .text(part.to_string())
            .text("-w")
            .text("-L")
            .text(label)
            .text("-l")
            .text(loader)
            .timeout(Duration::from_secs(120))
    }
}

pub mod grub_mkimage {
    //! `grub-mkimage` (Debian's grub-common) with the i386-pc images and modules of
    //! grub-pc-bin: the BIOS core image of a software RAID root ([`crate::deploy::bios_boot`]).
    use crate::tools::{Program, ToolCmd};

    /// `grub-mkimage -O i386-pc -d <dir> -o <out> -c <config> -p /boot/grub <modules>`; the
    /// prefix is replaced by the configuration, which finds the image's file system.
    pub fn bios_core(
        dir: &'static str,
        out: &'static str,
        config: &'static str,
        modules: &[&str],
    ) -> ToolCmd {
        let cmd = ToolCmd::new(Program::GrubMkimage)
            .texts(["-O", "i386-pc", "-d"])
            .dir(dir)
            .text("-o")
            .dir(out)
            .text("-c")
            .dir(config)
            .texts(["-p", "/boot/grub"]);
        modules.iter().fold(cmd, |c, m| c.text(*m))
    }
}

pub mod mount {
    //! `mount`.
    use crate::tools::{DevPath, Program, ToolCmd};

    /// A vfat file system (the ESP), read-only: the deploy only reads it.
    pub fn vfat_read_only(dev: &DevPath, dir: &'static str) -> ToolCmd {
        ToolCmd::new(Program::Mount)
            .texts(["-o", "ro", "-t", "vfat"])
            .device(dev)
            .dir(dir)
    }

    /// A vfat file system (the fresh ESP of a partition image), writable: the image's EFI
    /// tree is copied onto it.
    pub fn vfat(dev: &DevPath, dir: &'static str) -> ToolCmd {
        ToolCmd::new(Program::Mount)
            .texts(["-t", "vfat"])
            .device(dev)
            .dir(dir)
    }

    /// The root file system of a partition image, writable (its `/etc/fstab` gets the ESP)
    /// but with nothing on it executable, no device nodes and no set-uid: the agent only
    /// reads files from it and appends one line; the image's code never runs in the ramdisk.
    /// `fstype` is blkid's `TYPE` of the partition: naming it makes the kernel load the file
    /// system's module on demand (the ramdisk loads ext4 & co. only when asked; a probing
    /// `mount` tries only the types already loaded). A type that is not a plain name, or
    /// none, leaves it to `mount` to probe, as IPA's `mount` does.
    pub fn untrusted(dev: &DevPath, fstype: Option<&str>, dir: &'static str) -> ToolCmd {
        image_fs(dev, fstype, "nosuid,nodev,noexec", dir)
    }

    fn image_fs(
        dev: &DevPath,
        fstype: Option<&str>,
        options: &'static str,
        dir: &'static str,
    ) -> ToolCmd {
        let plain = |t: &&str| {
            !t.is_empty()
                && t.len() <= 16
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        let mut cmd = ToolCmd::new(Program::Mount);
        if let Some(t) = fstype.filter(plain) {
            cmd = cmd.texts(["-t", t]);
        }
        cmd.texts(["-o", options]).device(dev).dir(dir)
    }

    /// A file system of the image, read-only, nothing on it executable, no device nodes, no
    /// set-uid: the agent only looks at files on it. `fstype` as in [`untrusted`].
    pub fn untrusted_read_only(dev: &DevPath, fstype: Option<&str>, dir: &'static str) -> ToolCmd {
        image_fs(dev, fstype, "ro,nosuid,nodev,noexec", dir)
    }

    /// efivarfs, which efibootmgr reads and writes.
    pub fn efivarfs(dir: &'static str) -> ToolCmd {
        ToolCmd::new(Program::Mount)
            .texts(["-t", "efivarfs", "efivarfs"])
            .dir(dir)
    }
}

pub mod mount_table {
    //! `mount` without arguments: what is mounted, for the log bundle.
    use crate::tools::{Program, ToolCmd};

    pub fn list() -> ToolCmd {
        ToolCmd::new(Program::Mount)
    }
}

pub mod umount {
    //! `umount`.
    use crate::tools::{Program, ToolCmd};

    pub fn dir(dir: &'static str) -> ToolCmd {
        ToolCmd::new(Program::Umount).dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::DevPath;
    use hwmgr::Host;

    #[test]
    fn command_lines() {
        let vda = DevPath::new("/dev/vda").unwrap();
        let host = Host::new("/fake");
        let lines: Vec<String> = [
            efibootmgr::create(&vda, 1, "ironic1", "\\EFI\\BOOT\\BOOTX64.EFI"),
            efibootmgr::delete("0003"),
            mount::vfat_read_only(&vda.partition(1), "/run/esp"),
            mount::efivarfs("/sys/firmware/efi/efivars"),
            umount::dir("/run/esp"),
            mount::vfat(&vda.partition(1), "/run/esp"),
            mount::untrusted(&vda.partition(2), Some("ext4"), "/run/root"),
            mount::untrusted(&vda.partition(2), Some("ext4 -o exec"), "/run/root"),
            mount::untrusted(&vda.partition(2), None, "/run/root"),
        ]
        .iter()
        .map(|c| c.resolve(&host).argv().join(" "))
        .collect();
        assert_eq!(
            lines,
            [
                "efibootmgr -v -c -d /fake/dev/vda -p 1 -w -L ironic1 -l \\EFI\\BOOT\\BOOTX64.EFI",
                "efibootmgr -b 0003 -B",
                "mount -o ro -t vfat /fake/dev/vda1 /fake/run/esp",
                "mount -t efivarfs efivarfs /fake/sys/firmware/efi/efivars",
                "umount /fake/run/esp",
                "mount -t vfat /fake/dev/vda1 /fake/run/esp",
                "mount -t ext4 -o nosuid,nodev,noexec /fake/dev/vda2 /fake/run/root",
                "mount -o nosuid,nodev,noexec /fake/dev/vda2 /fake/run/root",
                "mount -o nosuid,nodev,noexec /fake/dev/vda2 /fake/run/root",
            ]
        );
    }
}
