//! File system makers of a partition-image deploy (`ironic_python_agent/partition_utils.py:
//! work_on_disk`, which formats the ESP, swap and the ephemeral partition). The argv works with
//! both the full tools (dosfstools, util-linux, e2fsprogs) and busybox's applets of the same
//! names, except `mke2fs -t`, which only e2fsprogs knows (the ramdisk ships e2fsprogs').

pub mod mkdosfs {
    //! `mkdosfs` (dosfstools' name for `mkfs.fat`; also a busybox applet, which makes FAT32).
    use crate::tools::{DevPath, Program, ToolCmd};

    /// A FAT file system labelled `label` (IPA: `mkfs -t vfat -n efi-part` for the ESP).
    pub fn vfat(dev: &DevPath, label: &str) -> ToolCmd {
        ToolCmd::new(Program::Mkdosfs)
            .text("-n")
            .text(label)
            .device(dev)
    }
}

pub mod mkswap {
    //! `mkswap` (util-linux; also a busybox applet).
    use crate::tools::{DevPath, Program, ToolCmd};

    /// Swap space labelled `label` (IPA: `mkswap -L swap1`).
    pub fn swap(dev: &DevPath, label: &str) -> ToolCmd {
        ToolCmd::new(Program::Mkswap)
            .text("-L")
            .text(label)
            .device(dev)
    }
}

pub mod mke2fs {
    //! `mke2fs` (e2fsprogs).
    use crate::tools::{DevPath, Program, ToolCmd};
    use std::time::Duration;

    /// An ext2/3/4 file system (`fs_type`, already validated) labelled `label`; `-F` because
    /// the target is a whole partition (IPA: `mkfs -t ext4 -F -L ephemeral0`). Large
    /// partitions take a while to initialise.
    pub fn ext(dev: &DevPath, fs_type: &'static str, label: &str) -> ToolCmd {
        ToolCmd::new(Program::Mke2fs)
            .text("-t")
            .text(fs_type)
            .text("-F")
            .text("-L")
            .text(label)
            .device(dev)
            .timeout(Duration::from_secs(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::DevPath;

    #[test]
    fn command_lines() {
        let p = DevPath::new("/dev/vda1").unwrap();
        let lines: Vec<String> = [
            mkdosfs::vfat(&p, "efi-part"),
            mkswap::swap(&p, "swap1"),
            mke2fs::ext(&p, "ext4", "ephemeral0"),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            lines,
            [
                "mkdosfs -n efi-part /dev/vda1",
                "mkswap -L swap1 /dev/vda1",
                "mke2fs -t ext4 -F -L ephemeral0 /dev/vda1",
            ]
        );
    }
}
