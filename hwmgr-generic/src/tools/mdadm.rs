//! `mdadm`: every command line the generic manager runs it with. The output parsers are in
//! `crate::raid::mdadm`.

use super::{DevPath, Program, ToolCmd};
use hwmgr::raid_config::RaidLevel;
use std::fmt;

/// The RAID levels mdadm builds for a `target_raid_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Raid0,
    Raid1,
    Raid5,
    Raid6,
    Raid10,
}

impl Level {
    /// The level of a logical disk; `None` for levels software RAID does not build
    /// (JBOD, 2, 5+0, 6+0).
    pub fn of(level: RaidLevel) -> Option<Level> {
        match level {
            RaidLevel::Raid0 => Some(Level::Raid0),
            RaidLevel::Raid1 => Some(Level::Raid1),
            RaidLevel::Raid5 => Some(Level::Raid5),
            RaidLevel::Raid6 => Some(Level::Raid6),
            RaidLevel::Raid10 => Some(Level::Raid10),
            _ => None,
        }
    }

    /// mdadm's `--level` argument (`1+0` is `10`).
    pub fn arg(self) -> &'static str {
        match self {
            Level::Raid0 => "0",
            Level::Raid1 => "1",
            Level::Raid5 => "5",
            Level::Raid6 => "6",
            Level::Raid10 => "10",
        }
    }
}

/// An array name (`--name`, and the `/dev/md/<name>` link): 1 to 32 characters of
/// `[A-Za-z0-9._-]`, not starting with `-` or `.`. That is the set every mdadm version
/// accepts: newer ones refuse the rest (mdadm `config.c: ident_check_name`: at most
/// `MD_NAME_MAX` = 32 characters, no leading dot, and `lib.c: is_name_posix_compatible`:
/// POSIX portable file name characters, no leading `-`), older ones mangle it. It also keeps
/// the name from being read as an option or a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArrayName(String);

/// The rule, as operators read it in errors.
pub const ARRAY_NAME_RULE: &str =
    "1 to 32 characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '-' or '.'";

impl ArrayName {
    /// Checks `name` against the rule; the error says which part of it failed.
    pub fn new(name: &str) -> Result<ArrayName, String> {
        let why = if name.is_empty() {
            Some("it is empty")
        } else if name.chars().count() > 32 {
            Some("it is longer than 32 characters")
        } else if name.starts_with(['-', '.']) {
            Some("it starts with '-' or '.'")
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            Some("it has characters outside A-Z, a-z, 0-9, '.', '_', '-'")
        } else {
            None
        };
        match why {
            None => Ok(ArrayName(name.to_string())),
            Some(why) => Err(format!(
                "{name:?} is not a valid software RAID volume name: {why} (the rule: {ARRAY_NAME_RULE})"
            )),
        }
    }

    /// IPA's name for the `k`-th array without a volume name (`raid_utils.create_raid_device`):
    /// `md<k>`, on `/dev/md<k>`.
    pub fn numbered(k: usize) -> (ArrayName, DevPath) {
        (ArrayName(format!("md{k}")), DevPath(format!("/dev/md{k}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `/dev/md/<name>`, the link mdadm creates for a named array.
    pub fn device(&self) -> DevPath {
        // The rule admits only plain path components.
        DevPath(format!("/dev/md/{}", self.0))
    }
}

impl fmt::Display for ArrayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn mdadm() -> ToolCmd {
    ToolCmd::new(Program::Mdadm)
}

/// Creates an array with 1.2 metadata. `--force` lets mdadm build one-member RAID-0/1
/// (what IPA builds on a one-disk machine: `raid_utils.create_raid_device`); `--run` skips
/// the confirmation when a member looks used.
pub fn create(md: &DevPath, level: Level, name: &ArrayName, members: &[DevPath]) -> ToolCmd {
    let cmd = mdadm()
        .text("--create")
        .device(md)
        .texts(["--force", "--run", "--metadata=1.2", "--level", level.arg()])
        .texts(["--name", name.as_str()])
        .texts(["--raid-devices", &members.len().to_string()]);
    members.iter().fold(cmd, ToolCmd::device)
}

/// The mirrored EFI system partition: RAID-1 with metadata 1.0, whose superblock sits at
/// the end of each member, so firmware reads every member as a plain FAT file system
/// (`raid_utils.prepare_boot_partitions_for_softraid`).
pub fn create_esp(md: &DevPath, name: &ArrayName, members: &[DevPath]) -> ToolCmd {
    let cmd = mdadm()
        .text("--create")
        .device(md)
        .texts(["--force", "--run", "--metadata=1.0", "--level", "1"])
        .texts(["--name", name.as_str()])
        .texts(["--raid-devices", &members.len().to_string()]);
    members.iter().fold(cmd, ToolCmd::device)
}

/// The array's state, name, UUID and members (`crate::raid::mdadm::parse_detail`).
pub fn detail(md: &DevPath) -> ToolCmd {
    mdadm().text("--detail").device(md)
}

/// One `ARRAY` line per assembled array, with its devices (for the log bundle and tests).
pub fn detail_scan() -> ToolCmd {
    mdadm().texts(["--detail", "--scan", "--verbose"])
}

/// The md superblock of a disk or partition. Exit code 1 means "no superblock", which is
/// an answer.
pub fn examine(dev: &DevPath) -> ToolCmd {
    mdadm().text("--examine").device(dev).ok_codes(&[0, 1])
}

/// Assembles every array whose members are present (after a reboot they come up as
/// `md127`, ... or not at all in a ramdisk without udev).
pub fn assemble_scan() -> ToolCmd {
    mdadm().texts(["--assemble", "--scan"])
}

pub fn stop(md: &DevPath) -> ToolCmd {
    mdadm().text("--stop").device(md)
}

pub fn zero_superblock(dev: &DevPath) -> ToolCmd {
    mdadm().text("--zero-superblock").device(dev)
}

/// Re-adds a member that `--detail` does not list after the create.
pub fn add(md: &DevPath, member: &DevPath) -> ToolCmd {
    mdadm().text("--add").device(md).device(member)
}

pub fn version() -> ToolCmd {
    mdadm().text("--version")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_names_follow_the_rule_every_mdadm_accepts() {
        for ok in ["root", "md0", "data-1", "a.b_c", "A", &"x".repeat(32)] {
            assert_eq!(ArrayName::new(ok).unwrap().as_str(), ok);
        }
        let cases = [
            ("", "it is empty"),
            (&*"x".repeat(33), "it is longer than 32 characters"),
            ("--force", "it starts with '-' or '.'"),
            (".hidden", "it starts with '-' or '.'"),
            (
                "/dev/../etc/passwd",
                "it has characters outside A-Z, a-z, 0-9, '.', '_', '-'",
            ),
            (
                "a\0b",
                "it has characters outside A-Z, a-z, 0-9, '.', '_', '-'",
            ),
            (
                "my root",
                "it has characters outside A-Z, a-z, 0-9, '.', '_', '-'",
            ),
            (
                "rööt",
                "it has characters outside A-Z, a-z, 0-9, '.', '_', '-'",
            ),
        ];
        for (bad, why) in cases {
            let e = ArrayName::new(bad).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "{bad:?} is not a valid software RAID volume name: {why} (the rule: {ARRAY_NAME_RULE})"
                )
            );
        }
        assert_eq!(ArrayName::new("root").unwrap().device(), "/dev/md/root");
    }

    #[test]
    fn levels_map_to_mdadm_arguments() {
        let args: Vec<Option<&str>> = RaidLevel::ALL
            .iter()
            .map(|l| Level::of(*l).map(Level::arg))
            .collect();
        assert_eq!(
            args,
            [
                None,
                Some("0"),
                Some("1"),
                None,
                Some("5"),
                Some("6"),
                Some("10"),
                None,
                None
            ]
        );
    }
}
