//! The table of external programs the generic manager runs, and typed argv builders for
//! every operation it runs them for (as `hwmgr-proliant/src/ssacli.rs` does for `ssacli`).
//!
//! A [`ToolCmd`] is a program plus typed arguments: literal text, or a validated
//! [`DevPath`]. Only device arguments are resolved under the [`Host`] root when the command
//! runs ([`ToolCmd::resolve`]); text is passed as given, so a value such as an array name
//! can never be mistaken for a device. Nothing re-parses an argv.
//!
//! [`STEP_NEEDS`] says which steps need which programs; [`missing_programs`] checks them
//! on the machine, and the manager's support explanation (start-up log, `ironic-agent
//! steps`, "step not found") names what is missing and which steps that disables.

pub mod disk;
pub mod mdadm;

pub use disk::{blockdev, dd, lsblk, parted, partx, sgdisk, udevadm, wipefs};

use hwmgr::{Cmd, Host, Runner};
use std::fmt;

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
}

impl Program {
    pub const ALL: [Program; 9] = [
        Program::Mdadm,
        Program::Parted,
        Program::Sgdisk,
        Program::Wipefs,
        Program::Partx,
        Program::Blockdev,
        Program::Dd,
        Program::Udevadm,
        Program::Lsblk,
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
        }
    }

    /// The Debian package that ships it (what to add to a ramdisk that lacks it).
    pub fn package(self) -> &'static str {
        match self {
            Program::Mdadm => "mdadm",
            Program::Parted => "parted",
            Program::Sgdisk => "gdisk",
            Program::Wipefs | Program::Partx | Program::Blockdev | Program::Lsblk => "util-linux",
            Program::Dd => "coreutils",
            Program::Udevadm => "udev",
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The programs a step cannot run without. Programs whose failure a step only logs
/// (`partx -av` and `udevadm settle` after partitioning, the partition-table re-read after
/// a wipe) are not listed: their absence disables nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepNeeds {
    /// `interface.step`, e.g. `raid.create_configuration`.
    pub step: &'static str,
    pub programs: &'static [Program],
}

const CREATE: &[Program] = &[
    Program::Mdadm,
    Program::Parted,
    // `sgdisk -F` finds the first usable sector of an msdos label (BIOS boot).
    Program::Sgdisk,
    // The rollback of a failed create wipes the new partition tables.
    Program::Wipefs,
];
const DELETE: &[Program] = &[Program::Mdadm, Program::Wipefs, Program::Parted];

/// What the generic manager's steps need (the step declarations are the other half; see
/// `GenericHardwareManager::steps`).
pub const STEP_NEEDS: &[StepNeeds] = &[
    StepNeeds {
        step: "deploy.erase_devices_metadata",
        programs: &[
            Program::Lsblk,
            Program::Wipefs,
            Program::Blockdev,
            Program::Dd,
            Program::Sgdisk,
        ],
    },
    StepNeeds {
        step: "raid.delete_configuration",
        programs: DELETE,
    },
    StepNeeds {
        step: "raid.create_configuration",
        programs: CREATE,
    },
    StepNeeds {
        step: "raid.apply_configuration",
        // delete_existing (the default) runs the delete first; its programs are among
        // the create's.
        programs: CREATE,
    },
];

/// A program that is not installed, and the steps it disables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingProgram {
    pub program: Program,
    /// `interface.step` names; empty when the program is only used on a best-effort basis.
    pub disables: Vec<&'static str>,
}

impl fmt::Display for MissingProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (Debian package {})",
            self.program,
            self.program.package()
        )?;
        if self.disables.is_empty() {
            write!(f, ", used on a best-effort basis")
        } else {
            write!(f, " needed by {}", self.disables.join(", "))
        }
    }
}

/// Which programs of the table are absent on this machine, each with the steps of `needs`
/// that cannot run without it, in [`Program::ALL`] order.
pub fn missing_programs(runner: &dyn Runner, needs: &[StepNeeds]) -> Vec<MissingProgram> {
    Program::ALL
        .into_iter()
        .filter(|p| !runner.has_program(p.name()))
        .map(|program| MissingProgram {
            program,
            disables: needs
                .iter()
                .filter(|n| n.programs.contains(&program))
                .map(|n| n.step)
                .collect(),
        })
        .collect()
}

/// The sentence for a support explanation: `None` when no step is disabled.
pub fn describe_missing(missing: &[MissingProgram]) -> Option<String> {
    let disabling: Vec<String> = missing
        .iter()
        .filter(|m| !m.disables.is_empty())
        .map(ToString::to_string)
        .collect();
    (!disabling.is_empty()).then(|| {
        format!(
            "missing programs: {}; those steps fail until the programs are added to the ramdisk",
            disabling.join("; ")
        )
    })
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
}

/// A command of the table: built only by the functions of this module's submodules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCmd {
    program: Program,
    args: Vec<Arg>,
    ok_codes: &'static [i32],
}

impl ToolCmd {
    fn new(program: Program) -> ToolCmd {
        ToolCmd {
            program,
            args: Vec::new(),
            ok_codes: &[0],
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

    /// Exit codes that are answers, not failures.
    fn ok_codes(mut self, codes: &'static [i32]) -> ToolCmd {
        self.ok_codes = codes;
        self
    }

    pub fn program(&self) -> Program {
        self.program
    }

    /// The device arguments, in order.
    pub fn devices(&self) -> impl Iterator<Item = &DevPath> {
        self.args.iter().filter_map(|a| match a {
            Arg::Device { path, .. } => Some(path),
            Arg::Text(_) => None,
        })
    }

    /// The argv as the machine sees it (device paths as given, not under a fake root).
    pub fn argv(&self) -> Vec<String> {
        self.render(|p| p.as_str().to_string())
    }

    /// The command for the runner: device arguments resolved under `host`'s root, every
    /// other argument unchanged.
    pub fn resolve(&self, host: &Host) -> Cmd {
        let argv = self.render(|p| host.path(p.as_str()).to_string_lossy().into_owned());
        Cmd::new(self.program.name())
            .args(&argv[1..])
            .ok_codes(self.ok_codes)
    }

    fn render(&self, device: impl Fn(&DevPath) -> String) -> Vec<String> {
        std::iter::once(self.program.name().to_string())
            .chain(self.args.iter().map(|a| match a {
                Arg::Text(t) => t.clone(),
                Arg::Device { prefix, path } => format!("{prefix}{}", device(path)),
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
    use hwmgr::RecordingRunner;

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

    #[test]
    fn apply_needs_what_delete_and_create_need() {
        let needs = |step: &str| STEP_NEEDS.iter().find(|n| n.step == step).unwrap().programs;
        let apply = needs("raid.apply_configuration");
        for p in needs("raid.delete_configuration")
            .iter()
            .chain(needs("raid.create_configuration"))
        {
            assert!(apply.contains(p), "{p}");
        }
    }

    #[test]
    fn missing_programs_name_the_steps_they_disable() {
        let r = RecordingRunner::new();
        assert_eq!(missing_programs(&r, STEP_NEEDS), vec![]);
        assert_eq!(describe_missing(&[]), None);
        r.without_program("mdadm").without_program("udevadm");
        let missing = missing_programs(&r, STEP_NEEDS);
        assert_eq!(
            missing,
            vec![
                MissingProgram {
                    program: Program::Mdadm,
                    disables: vec![
                        "raid.delete_configuration",
                        "raid.create_configuration",
                        "raid.apply_configuration"
                    ],
                },
                MissingProgram {
                    program: Program::Udevadm,
                    disables: vec![],
                },
            ]
        );
        assert_eq!(
            describe_missing(&missing).unwrap(),
            "missing programs: mdadm (Debian package mdadm) needed by raid.delete_configuration, \
             raid.create_configuration, raid.apply_configuration; those steps fail until the \
             programs are added to the ramdisk"
        );
        r.without_program("dd");
        let missing = missing_programs(&r, STEP_NEEDS);
        assert_eq!(missing[1].disables, vec!["deploy.erase_devices_metadata"]);
    }
}
