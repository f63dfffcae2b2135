//! The table of external programs the generic manager runs, and typed argv builders for
//! every operation it runs them for (as `hwmgr-proliant/src/ssacli.rs` does for `ssacli`).
//!
//! A [`ToolCmd`] is a program plus typed arguments: literal text, or a validated
//! [`DevPath`]. Only device arguments are resolved under the [`Host`] root when the command
//! runs ([`ToolCmd::resolve`]); text is passed as given, so a value such as an array name
//! can never be mistaken for a device. Nothing re-parses an argv.
//!
//! Which steps need which programs is part of each step's declaration (`requires` in
//! `crate::manager::STEPS`); [`Program::package`] names what to add to a ramdisk that lacks
//! one.

pub mod boot;
pub mod disk;
pub mod drive;
pub mod fs;
pub mod mdadm;
pub mod system;

pub use boot::{efibootmgr, grub_mkimage, mount, mount_table, umount};
pub use disk::{blockdev, dd, lsblk, parted, partx, sgdisk, udevadm, wipefs};
pub use drive::{blkid, hdparm, nvme, smartctl};
pub use fs::{mkdosfs, mke2fs, mkswap};
pub use system::{dmesg, ip, ipmitool, sync};

use hwmgr::{Cmd, Host};
use std::fmt;
use std::time::Duration;

/// A program the generic manager runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Program {
    Mdadm,
    Parted,
    Sgdisk,
    Wipefs,
    Partx,
    Blockdev,
    Dd,
    Udevadm,
    Lsblk,
    Blkid,
    Nvme,
    Hdparm,
    Smartctl,
    Efibootmgr,
    Mount,
    Umount,
    Sync,
    Dmesg,
    Ip,
    Ipmitool,
    Mkdosfs,
    Mkswap,
    Mke2fs,
    GrubMkimage,
}

impl Program {
    pub const ALL: [Program; 24] = [
        Program::Mdadm,
        Program::Parted,
        Program::Sgdisk,
        Program::Wipefs,
        Program::Partx,
        Program::Blockdev,
        Program::Dd,
        Program::Udevadm,
        Program::Lsblk,
        Program::Blkid,
        Program::Nvme,
        Program::Hdparm,
        Program::Smartctl,
        Program::Efibootmgr,
        Program::Mount,
        Program::Umount,
        Program::Sync,
        Program::Dmesg,
        Program::Ip,
        Program::Ipmitool,
        Program::Mkdosfs,
        Program::Mkswap,
        Program::Mke2fs,
        Program::GrubMkimage,
    ];

    /// The executable's name, looked up on PATH by the runner.
    pub fn name(self) -> &'static str {
        match self {
            Program::Mdadm => "mdadm",
            Program::Parted => "parted",
            Program::Sgdisk => "sgdisk",
            Program::Wipefs => "wipefs",
            Program::Partx => "partx",
            Program::Blockdev => "blockdev",
            Program::Dd => "dd",
            Program::Udevadm => "udevadm",
            Program::Lsblk => "lsblk",
            Program::Blkid => "blkid",
            Program::Nvme => "nvme",
            Program::Hdparm => "hdparm",
            Program::Smartctl => "smartctl",
            Program::Efibootmgr => "efibootmgr",
            Program::Mount => "mount",
            Program::Umount => "umount",
            Program::Sync => "sync",
            Program::Dmesg => "dmesg",
            Program::Ip => "ip",
            Program::Ipmitool => "ipmitool",
            Program::Mkdosfs => "mkdosfs",
            Program::Mkswap => "mkswap",
            Program::Mke2fs => "mke2fs",
            Program::GrubMkimage => "grub-mkimage",
        }
    }

    /// The program of the table called `name`.
    pub fn from_name(name: &str) -> Option<Program> {
        Program::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The Debian package that ships it (what to add to a ramdisk that lacks it).
    pub fn package(self) -> &'static str {
        match self {
            Program::Mdadm => "mdadm",
            Program::Parted => "parted",
            Program::Sgdisk => "gdisk",
            Program::Wipefs
            | Program::Partx
            | Program::Blockdev
            | Program::Lsblk
            | Program::Blkid => "util-linux",
            Program::Nvme => "nvme-cli",
            Program::Hdparm => "hdparm",
            Program::Smartctl => "smartmontools",
            Program::Efibootmgr => "efibootmgr",
            Program::Mount | Program::Umount => "mount",
            Program::Dd | Program::Sync => "coreutils",
            Program::Dmesg => "util-linux",
            Program::Ip => "iproute2",
            Program::Ipmitool => "ipmitool",
            Program::Udevadm => "udev",
            Program::Mkdosfs => "dosfstools",
            Program::Mkswap => "util-linux",
            Program::Mke2fs => "e2fsprogs",
            Program::GrubMkimage => "grub-common",
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A device path from the machine or the plan: `/dev/` followed by plain path components
/// (`hwmgr::validate_device_path`). The only kind of argument resolved under the host root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevPath(String);

impl DevPath {
    pub fn new(path: impl Into<String>) -> hwmgr::Result<DevPath> {
        let path = path.into();
        hwmgr::validate_device_path(&path)?;
        Ok(DevPath(path))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last path component: `sda1`, or `root` for `/dev/md/root`.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// Partition `n` of this disk, named by the kernel's rule (`disk_name()` in
    /// `block/partitions/core.c`): `<disk>p<n>` when the disk name ends in a digit
    /// (`nvme0n1p1`, `mmcblk0p1`, `loop0p1`), else `<disk><n>` (`sda1`).
    pub fn partition(&self, n: u32) -> DevPath {
        let name = self.name();
        let sep = if name.ends_with(|c: char| c.is_ascii_digit()) {
            "p"
        } else {
            ""
        };
        // Appending `p` and digits to a valid last component keeps it valid.
        DevPath(format!("{}{sep}{n}", self.0))
    }

    /// The number of `part` as a partition of this disk by the same rule
    /// (`/dev/nvme0n1p2` → 2), `None` when it is not one.
    pub fn partition_number(&self, part: &DevPath) -> Option<u32> {
        let rest = part.0.strip_prefix(&self.0)?;
        let rest = if self.name().ends_with(|c: char| c.is_ascii_digit()) {
            rest.strip_prefix('p')?
        } else {
            rest
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse().ok()
    }
}

impl fmt::Display for DevPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for DevPath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for DevPath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// One argument of a [`ToolCmd`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Text(String),
    /// A device, optionally glued to a prefix (`of=/dev/sda` for dd).
    Device {
        prefix: &'static str,
        path: DevPath,
    },
    /// One of the agent's own directories (a constant such as a mount point), resolved
    /// under the host root like a device.
    Dir(&'static str),
}

/// A command of the table: built only by the functions of this module's submodules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCmd {
    program: Program,
    args: Vec<Arg>,
    ok_codes: &'static [i32],
    /// `None`: the runner's default.
    timeout: Option<Duration>,
}

impl ToolCmd {
    fn new(program: Program) -> ToolCmd {
        ToolCmd {
            program,
            args: Vec::new(),
            ok_codes: &[0],
            timeout: None,
        }
    }

    fn text(mut self, arg: impl Into<String>) -> ToolCmd {
        self.args.push(Arg::Text(arg.into()));
        self
    }

    fn texts<const N: usize>(self, args: [&str; N]) -> ToolCmd {
        args.into_iter().fold(self, ToolCmd::text)
    }

    fn device(self, path: &DevPath) -> ToolCmd {
        self.device_with("", path)
    }

    fn device_with(mut self, prefix: &'static str, path: &DevPath) -> ToolCmd {
        self.args.push(Arg::Device {
            prefix,
            path: path.clone(),
        });
        self
    }

    fn dir(mut self, path: &'static str) -> ToolCmd {
        self.args.push(Arg::Dir(path));
        self
    }

    /// Exit codes that are answers, not failures.
    fn ok_codes(mut self, codes: &'static [i32]) -> ToolCmd {
        self.ok_codes = codes;
        self
    }

    /// How long the program may run (a drive's secure erase takes hours, a probe seconds).
    fn timeout(mut self, t: Duration) -> ToolCmd {
        self.timeout = Some(t);
        self
    }

    pub fn program(&self) -> Program {
        self.program
    }

    /// The device arguments, in order.
    pub fn devices(&self) -> impl Iterator<Item = &DevPath> {
        self.args.iter().filter_map(|a| match a {
            Arg::Device { path, .. } => Some(path),
            Arg::Text(_) | Arg::Dir(_) => None,
        })
    }

    /// The argv as the machine sees it (device paths as given, not under a fake root).
    pub fn argv(&self) -> Vec<String> {
        self.render(|p| p.to_string())
    }

    /// The command for the runner: device arguments resolved under `host`'s root, every
    /// other argument unchanged.
    pub fn resolve(&self, host: &Host) -> Cmd {
        let argv = self.render(|p| host.path(p).to_string_lossy().into_owned());
        let cmd = Cmd::new(self.program.name())
            .args(&argv[1..])
            .ok_codes(self.ok_codes);
        match self.timeout {
            Some(t) => cmd.timeout(t),
            None => cmd,
        }
    }

    /// The argv, every device and directory argument passed through `resolve`.
    fn render(&self, resolve: impl Fn(&str) -> String) -> Vec<String> {
        std::iter::once(self.program.name().to_string())
            .chain(self.args.iter().map(|a| match a {
                Arg::Text(t) => t.clone(),
                Arg::Device { prefix, path } => format!("{prefix}{}", resolve(path.as_str())),
                Arg::Dir(dir) => resolve(dir),
            }))
            .collect()
    }
}

impl fmt::Display for ToolCmd {
    /// The argv with machine device names, joined by spaces (for plans and logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.argv().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(p: &str) -> DevPath {
        DevPath::new(p).unwrap()
    }

    #[test]
    fn only_device_arguments_are_resolved_under_the_root() {
        let host = Host::new("/fake");
        let md = dev("/dev/md/root");
        let name = mdadm::ArrayName::new("root").unwrap();
        let members = [dev("/dev/sda1"), dev("/dev/sdb1")];
        let create = mdadm::create(&md, mdadm::Level::Raid1, &name, &members);
        assert_eq!(
            create.resolve(&host).argv(),
            [
                "mdadm",
                "--create",
                "/fake/dev/md/root",
                "--force",
                "--run",
                "--metadata=1.2",
                "--level",
                "1",
                "--name",
                "root",
                "--raid-devices",
                "2",
                "/fake/dev/sda1",
                "/fake/dev/sdb1"
            ]
        );
        assert_eq!(
            create.to_string(),
            "mdadm --create /dev/md/root --force --run --metadata=1.2 --level 1 --name root --raid-devices 2 /dev/sda1 /dev/sdb1"
        );
        assert_eq!(
            create.devices().map(DevPath::as_str).collect::<Vec<_>>(),
            ["/dev/md/root", "/dev/sda1", "/dev/sdb1"]
        );
        // dd's `of=` is a device; `if=/dev/zero` is the host's zero source, not a target.
        let zero = dd::zero(&dev("/dev/sda"), 512, 33, Some(7));
        assert_eq!(
            zero.resolve(&host).argv(),
            [
                "dd",
                "bs=512",
                "if=/dev/zero",
                "of=/fake/dev/sda",
                "count=33",
                "oflag=direct",
                "seek=7"
            ]
        );
    }

    #[test]
    fn device_paths_are_validated_and_partitions_follow_the_kernel_rule() {
        for bad in [
            "/dev/../etc/passwd",
            "sda",
            "/dev/-rf",
            "/dev/a b",
            "/dev/x\0",
        ] {
            assert!(DevPath::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(dev("/dev/sda").partition(1), "/dev/sda1");
        assert_eq!(dev("/dev/nvme0n1").partition(2), "/dev/nvme0n1p2");
        assert_eq!(dev("/dev/mmcblk0").partition(1), "/dev/mmcblk0p1");
        assert_eq!(dev("/dev/loop0").partition(3), "/dev/loop0p3");
        assert_eq!(dev("/dev/vdb").partition(12), "/dev/vdb12");
        assert_eq!(dev("/dev/md/root").name(), "root");
        let nvme = dev("/dev/nvme0n1");
        assert_eq!(nvme.partition_number(&dev("/dev/nvme0n1p2")), Some(2));
        assert_eq!(nvme.partition_number(&dev("/dev/nvme0n1")), None);
        assert_eq!(
            dev("/dev/sda").partition_number(&dev("/dev/sda12")),
            Some(12)
        );
        assert_eq!(dev("/dev/sda").partition_number(&dev("/dev/sdb1")), None);
        assert_eq!(dev("/dev/sd").partition_number(&dev("/dev/sda1")), None);
    }
}
