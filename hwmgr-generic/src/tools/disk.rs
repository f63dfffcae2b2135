//! Partitioning and wiping programs: parted, sgdisk, wipefs, partx, blockdev, dd, udevadm,
//! lsblk. One submodule per program, one function per command line.

pub mod parted {
    //! `parted`: partition tables and partitions (IPA partitions RAID members with parted:
    //! `raid_utils.create_raid_partition_tables`, `hardware.py: _do_create_configuration`).
    use crate::tools::{DevPath, Program, ToolCmd};

    /// The partition table type (`mklabel`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PartTable {
        Gpt,
        Msdos,
    }

    impl PartTable {
        pub fn as_str(self) -> &'static str {
            match self {
                PartTable::Gpt => "gpt",
                PartTable::Msdos => "msdos",
            }
        }
    }

    /// A partition's start.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Start {
        Mib(u64),
        Gib(u64),
        /// The first usable sector of an msdos label: known only after `sgdisk -F` ran on
        /// the new label ([`super::sgdisk::first_free`]).
        FirstFree,
    }

    impl Start {
        /// The parted argument; `first_free` is the `sgdisk -F` answer. Without it (a plan
        /// shown before anything ran) the argument says where the number comes from.
        pub fn arg(&self, first_free: Option<u64>) -> String {
            match (self, first_free) {
                (Start::Mib(n), _) => format!("{n}MiB"),
                (Start::Gib(n), _) => format!("{n}GiB"),
                (Start::FirstFree, Some(s)) => format!("{s}s"),
                (Start::FirstFree, None) => "<sgdisk -F>s".into(),
            }
        }
    }

    /// A partition's end: an absolute GiB offset, or the end of the disk.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum End {
        Gib(u64),
        Last,
    }

    impl End {
        pub fn arg(&self) -> String {
            match self {
                End::Gib(n) => format!("{n}GiB"),
                End::Last => "-1".into(),
            }
        }
    }

    fn on(disk: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Parted).device(disk).text("-s")
    }

    /// Writes an empty partition table.
    pub fn mklabel(disk: &DevPath, table: PartTable) -> ToolCmd {
        on(disk).texts(["--", "mklabel", table.as_str()])
    }

    /// Adds a partition (`first_free`: see [`Start::arg`]).
    pub fn mkpart(disk: &DevPath, start: &Start, end: &End, first_free: Option<u64>) -> ToolCmd {
        on(disk)
            .texts(["-a", "optimal", "--", "mkpart", "primary"])
            .text(start.arg(first_free))
            .text(end.arg())
    }

    /// Removes partition `number`.
    pub fn rm(disk: &DevPath, number: u32) -> ToolCmd {
        on(disk).texts(["--", "rm"]).text(number.to_string())
    }

    /// One partition of [`make_layout`]: MiB from the disk's start (`end_mib` exclusive, as
    /// parted reads `unit MiB` positions), an optional file system type (sets the partition
    /// type: `fat32`, `linux-swap`) and flag (`boot`, `bios_grub`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PartSpec {
        pub start_mib: u64,
        pub end_mib: u64,
        pub fs: Option<&'static str>,
        pub flag: Option<&'static str>,
    }

    /// A new label and every partition in one parted call, as IPA's `DiskPartitioner.commit`
    /// does: `parted -a optimal -s <disk> -- unit MiB mklabel <label> mkpart primary [fs]
    /// <start> <end> [set <n> <flag> on] ...`. Partitions are numbered 1, 2, ... in order.
    pub fn make_layout(disk: &DevPath, table: PartTable, parts: &[PartSpec]) -> ToolCmd {
        let mut cmd = ToolCmd::new(Program::Parted)
            .texts(["-a", "optimal", "-s"])
            .device(disk)
            .texts(["--", "unit", "MiB", "mklabel", table.as_str()]);
        for (i, p) in parts.iter().enumerate() {
            cmd = cmd.texts(["mkpart", "primary"]);
            if let Some(fs) = p.fs {
                cmd = cmd.text(fs);
            }
            cmd = cmd
                .text(p.start_mib.to_string())
                .text(p.end_mib.to_string());
            if let Some(flag) = p.flag {
                cmd = cmd
                    .text("set")
                    .text((i + 1).to_string())
                    .text(flag)
                    .text("on");
            }
        }
        cmd
    }

    /// A primary fat32 partition between two parted positions in MiB, counted from the
    /// disk's start, or from its end when negative (`-64MiB`, `-0`): the config drive on an
    /// msdos label (`partition_utils.create_config_drive_partition`).
    pub fn mkpart_fat32(disk: &DevPath, start: &str, end: &str) -> ToolCmd {
        ToolCmd::new(Program::Parted)
            .texts(["-a", "optimal", "-s", "--"])
            .device(disk)
            .texts(["mkpart", "primary", "fat32"])
            .text(start)
            .text(end)
    }
}

pub mod sgdisk {
    //! `sgdisk` (gdisk package).
    use crate::tools::{DevPath, Program, ToolCmd};

    /// Prints the first sector a new partition can start at (last line of stdout).
    pub fn first_free(disk: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Sgdisk).text("-F").device(disk)
    }

    /// Moves the backup GPT to the end of a disk larger than the image written to it
    /// (`disk_utils.fix_gpt_partition`).
    pub fn move_backup_to_end(disk: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Sgdisk).text("-e").device(disk)
    }

    /// A new GPT partition in the last `mib` MiB of the free space at the disk's end, with
    /// a random partition GUID (`partition_utils.create_config_drive_partition`).
    pub fn new_partition_at_end(disk: &DevPath, mib: u64) -> ToolCmd {
        ToolCmd::new(Program::Sgdisk)
            .text("-n")
            .text(format!("0:-{mib}MB:0"))
            .texts(["-u", "0:R"])
            .device(disk)
    }

    /// GPT partition `number` from sector `first` to `last` (inclusive), of type EFI system
    /// partition, named `label` (`raid_utils.prepare_boot_partitions_for_softraid`, which
    /// uses `-n 0:<first free>s:+550MiB -t 0:ef00 -c 0:uefi-holder-<i>`).
    pub fn new_esp(disk: &DevPath, number: u32, first: u64, last: u64, label: &str) -> ToolCmd {
        ToolCmd::new(Program::Sgdisk)
            .text("-n")
            .text(format!("{number}:{first}:{last}"))
            .text("-t")
            .text(format!("{number}:ef00"))
            .text("-c")
            .text(format!("{number}:{label}"))
            .device(disk)
    }

    /// GPT partition `number` from sector `first` to `last` (inclusive), of type BIOS boot
    /// partition (`ef02`, GRUB's core image on a GPT disk in BIOS mode), named `label`.
    pub fn new_bios_boot(
        disk: &DevPath,
        number: u32,
        first: u64,
        last: u64,
        label: &str,
    ) -> ToolCmd {
        ToolCmd::new(Program::Sgdisk)
            .text("-n")
            .text(format!("{number}:{first}:{last}"))
            .text("-t")
            .text(format!("{number}:ef02"))
            .text("-c")
            .text(format!("{number}:{label}"))
            .device(disk)
    }

    /// Deletes GPT partition `number`.
    pub fn delete(disk: &DevPath, number: u32) -> ToolCmd {
        ToolCmd::new(Program::Sgdisk)
            .text("-d")
            .text(number.to_string())
            .device(disk)
    }

    pub fn version() -> ToolCmd {
        ToolCmd::new(Program::Sgdisk).text("--version")
    }
}

pub mod wipefs {
    //! `wipefs` (util-linux).
    use crate::tools::{DevPath, Program, ToolCmd};

    /// Erases every signature (file systems, partition tables, RAID), even on a device in
    /// use.
    pub fn all(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Wipefs)
            .texts(["--force", "--all"])
            .device(dev)
    }

    /// For a wipefs too old to know `--force` (IPA retries the same way:
    /// `disk_utils.destroy_disk_metadata`).
    pub fn all_unforced(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Wipefs).text("--all").device(dev)
    }

    /// Whether a failed [`all`] failed because this wipefs does not know `--force`.
    pub fn force_unsupported(stderr: &str) -> bool {
        stderr.contains("unrecognized option") || stderr.contains("invalid option")
    }

    pub fn version() -> ToolCmd {
        ToolCmd::new(Program::Wipefs).text("--version")
    }
}

pub mod partx {
    //! `partx` (util-linux): the kernel's view of a disk's partitions.
    use crate::tools::{DevPath, Program, ToolCmd};

    /// Tells the kernel about new partitions (IPA runs it after partitioning).
    pub fn add(disk: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Partx).text("-av").device(disk)
    }

    /// Makes the kernel forget every partition of the disk.
    pub fn delete(disk: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Partx).text("-d").device(disk)
    }

    /// Tells the kernel about partition `number` only (the others of a disk that is an array
    /// member are busy and cannot be re-read).
    pub fn add_number(disk: &DevPath, number: u32) -> ToolCmd {
        ToolCmd::new(Program::Partx)
            .texts(["-a", "--nr"])
            .text(number.to_string())
            .device(disk)
    }

    /// Makes the kernel forget partition `number` only.
    pub fn delete_number(disk: &DevPath, number: u32) -> ToolCmd {
        ToolCmd::new(Program::Partx)
            .texts(["-d", "--nr"])
            .text(number.to_string())
            .device(disk)
    }
}

pub mod blockdev {
    //! `blockdev` (util-linux): ioctls on a block device.
    use crate::tools::{DevPath, Program, ToolCmd};

    /// Re-reads the partition table (fails while a partition is in use).
    pub fn reread_partition_table(disk: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Blockdev)
            .text("--rereadpt")
            .device(disk)
    }

    /// The logical sector size in bytes.
    pub fn sector_size(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Blockdev).text("--getss").device(dev)
    }

    /// The size in bytes.
    pub fn size_bytes(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Blockdev)
            .text("--getsize64")
            .device(dev)
    }
}

pub mod dd {
    //! `dd`: zeroing sectors.
    use crate::tools::{DevPath, Program, ToolCmd};

    /// Writes `count` blocks of `block_size` zero bytes at block `seek` (default 0), with
    /// direct I/O so nothing lingers in the page cache. `if=/dev/zero` is the agent's own
    /// zero source, not a target, so it is not resolved under the host root.
    pub fn zero(dev: &DevPath, block_size: u64, count: u64, seek: Option<u64>) -> ToolCmd {
        let cmd = ToolCmd::new(Program::Dd)
            .text(format!("bs={block_size}"))
            .text("if=/dev/zero")
            .device_with("of=", dev)
            .text(format!("count={count}"))
            .text("oflag=direct");
        match seek {
            Some(s) => cmd.text(format!("seek={s}")),
            None => cmd,
        }
    }
}

pub mod udevadm {
    //! `udevadm`: absent in the ramdisk (no udev), present on full distributions.
    use crate::tools::{Program, ToolCmd};

    /// Waits for udev to process the events of new partitions.
    pub fn settle() -> ToolCmd {
        ToolCmd::new(Program::Udevadm).text("settle")
    }
}

pub mod lsblk {
    //! `lsblk` (util-linux).
    use crate::tools::{DevPath, Program, ToolCmd};

    /// The identifiers that tell a RAID member, a shared file system or the virtual-media
    /// label, for the device and its children, as JSON (IPA's safety check before an erase,
    /// `hardware.py: safety_check_block_device`, plus FSTYPE and LABEL).
    pub fn signatures(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Lsblk)
            .texts([
                "-bia",
                "--json",
                "-oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL",
            ])
            .device(dev)
    }

    pub fn version() -> ToolCmd {
        ToolCmd::new(Program::Lsblk).text("--version")
    }

    /// Every block device with model, size, type, transport, read-only flag and mount
    /// point, in bytes: the log bundle's overview.
    pub fn overview() -> ToolCmd {
        ToolCmd::new(Program::Lsblk).texts([
            "-bia",
            "-o",
            "KNAME,MODEL,SIZE,ROTA,TYPE,TRAN,RO,MOUNTPOINT",
        ])
    }

    /// Every column of every block device as JSON (the log bundle's full listing).
    pub fn everything_json() -> ToolCmd {
        ToolCmd::new(Program::Lsblk).texts(["--json", "-O", "-b"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::DevPath;

    #[test]
    fn command_lines() {
        let sda = DevPath::new("/dev/sda").unwrap();
        let lines: Vec<String> = [
            parted::mklabel(&sda, parted::PartTable::Msdos),
            parted::mkpart(
                &sda,
                &parted::Start::FirstFree,
                &parted::End::Gib(10),
                Some(2048),
            ),
            parted::mkpart(&sda, &parted::Start::FirstFree, &parted::End::Last, None),
            parted::mkpart(&sda, &parted::Start::Mib(551), &parted::End::Last, None),
            parted::rm(&sda, 2),
            sgdisk::first_free(&sda),
            wipefs::all(&sda),
            wipefs::all_unforced(&sda),
            partx::add(&sda),
            partx::delete(&sda),
            blockdev::reread_partition_table(&sda),
            blockdev::sector_size(&sda),
            blockdev::size_bytes(&sda),
            udevadm::settle(),
            lsblk::signatures(&sda),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            lines,
            [
                "parted /dev/sda -s -- mklabel msdos",
                "parted /dev/sda -s -a optimal -- mkpart primary 2048s 10GiB",
                "parted /dev/sda -s -a optimal -- mkpart primary <sgdisk -F>s -1",
                "parted /dev/sda -s -a optimal -- mkpart primary 551MiB -1",
                "parted /dev/sda -s -- rm 2",
                "sgdisk -F /dev/sda",
                "wipefs --force --all /dev/sda",
                "wipefs --all /dev/sda",
                "partx -av /dev/sda",
                "partx -d /dev/sda",
                "blockdev --rereadpt /dev/sda",
                "blockdev --getss /dev/sda",
                "blockdev --getsize64 /dev/sda",
                "udevadm settle",
                "lsblk -bia --json -oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL /dev/sda",
            ]
        );
        let spec = |start_mib, end_mib, fs, flag| parted::PartSpec {
            start_mib,
            end_mib,
            fs,
            flag,
        };
        assert_eq!(
            parted::make_layout(
                &sda,
                parted::PartTable::Gpt,
                &[
                    spec(1, 551, Some("fat32"), Some("boot")),
                    spec(551, 679, Some("linux-swap"), None),
                    spec(679, 1703, None, None),
                ]
            )
            .to_string(),
            "parted -a optimal -s /dev/sda -- unit MiB mklabel gpt \
             mkpart primary fat32 1 551 set 1 boot on mkpart primary linux-swap 551 679 \
             mkpart primary 679 1703"
        );
        assert!(wipefs::force_unsupported(
            "wipefs: unrecognized option '--force'"
        ));
        assert!(!wipefs::force_unsupported("wipefs: error: probing failed"));
    }
}
