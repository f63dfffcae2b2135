//! What a RAID step reports when it fails, as values: what failed (the command, its exit
//! code and stderr, or the check that stopped it), what was undone, and what could not be
//! undone. Tests assert these field by field; the conductor gets them as one readable
//! `SoftwareRAIDError` that ends with what to do next.

use super::raid_error;
use crate::tools::{mdadm, parted, wipefs, DevPath, ToolCmd};
use hwmgr::{AgentError, CommandError};
use std::fmt;

/// A command that failed, and what the step was doing with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFailure {
    /// "Creating RAID array /dev/md/data", "Stopping /dev/md127".
    pub doing: String,
    pub error: CommandError,
}

impl fmt::Display for ToolFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.doing, self.error)
    }
}

/// What stopped a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateCause {
    Command(ToolFailure),
    /// A check between commands: a member that did not appear, unreadable tool output.
    Check(String),
}

impl fmt::Display for CreateCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateCause::Command(t) => t.fmt(f),
            CreateCause::Check(text) => f.write_str(text),
        }
    }
}

/// One thing a rollback undoes, in the order it is undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    StopArray {
        array: DevPath,
    },
    ZeroSuperblock {
        member: DevPath,
    },
    RemovePartition {
        disk: DevPath,
        number: u32,
        partition: DevPath,
    },
    WipeLabel {
        disk: DevPath,
    },
}

impl Undo {
    pub fn command(&self) -> ToolCmd {
        match self {
            Undo::StopArray { array } => mdadm::stop(array),
            Undo::ZeroSuperblock { member } => mdadm::zero_superblock(member),
            Undo::RemovePartition { disk, number, .. } => parted::rm(disk, *number),
            Undo::WipeLabel { disk } => wipefs::all(disk),
        }
    }

    /// "stop /dev/md/root": what is to be done.
    fn todo(&self) -> String {
        match self {
            Undo::StopArray { array } => format!("stop {array}"),
            Undo::ZeroSuperblock { member } => format!("zero the md superblock of {member}"),
            Undo::RemovePartition { partition, .. } => format!("remove partition {partition}"),
            Undo::WipeLabel { disk } => format!("wipe the partition table of {disk}"),
        }
    }
}

impl fmt::Display for Undo {
    /// "stopped /dev/md/root": what was done.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undo::StopArray { array } => write!(f, "stopped {array}"),
            Undo::ZeroSuperblock { member } => write!(f, "zeroed the md superblock of {member}"),
            Undo::RemovePartition { partition, .. } => write!(f, "removed partition {partition}"),
            Undo::WipeLabel { disk } => write!(f, "wiped the partition table of {disk}"),
        }
    }
}

/// An undo whose command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoFailure {
    pub undo: Undo,
    pub error: CommandError,
}

/// A create that failed part-way, and its rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFailure {
    pub cause: CreateCause,
    pub undone: Vec<Undo>,
    pub not_undone: Vec<UndoFailure>,
}

impl CreateFailure {
    /// The rollback left nothing of what the step wrote.
    pub fn rolled_back(&self) -> bool {
        self.not_undone.is_empty()
    }

    pub fn to_agent_error(&self) -> AgentError {
        raid_error(self.to_string())
    }
}

impl fmt::Display for CreateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cause)?;
        if self.undone.is_empty() && self.not_undone.is_empty() {
            f.write_str("; nothing had been written, nothing to roll back")?;
        } else if !self.undone.is_empty() {
            let undone: Vec<String> = self.undone.iter().map(ToString::to_string).collect();
            write!(f, "; rolled back: {}", undone.join(", "))?;
        }
        if self.rolled_back() {
            return f.write_str(
                ". The disks are as they were before the step: fix the cause above and run \
                 the step again.",
            );
        }
        let failed: Vec<String> = self
            .not_undone
            .iter()
            .map(|u| format!("could not {} ({})", u.undo.todo(), u.error))
            .collect();
        write!(
            f,
            "; ROLLBACK INCOMPLETE: {}. Part of what the step wrote is still on the disks: run \
             raid.delete_configuration (it clears any state), then this step again.",
            failed.join("; ")
        )
    }
}

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Arrays stopped.
    pub stopped: Vec<DevPath>,
    /// Devices whose md superblock was zeroed.
    pub zeroed: Vec<DevPath>,
    /// Disks whose signatures were wiped.
    pub wiped: Vec<DevPath>,
    /// Partitions removed from disks shared with a kept array.
    pub removed_partitions: Vec<DevPath>,
    /// Arrays kept through `skip_block_devices`.
    pub kept: Vec<DevPath>,
}

/// A delete that did not get everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFailure {
    /// Arrays still there at the end.
    pub remaining: Vec<DevPath>,
    /// Every command that failed on the way (the delete carries on after each).
    pub failures: Vec<ToolFailure>,
    pub done: Deleted,
}

impl DeleteFailure {
    pub fn to_agent_error(&self) -> AgentError {
        raid_error(self.to_string())
    }
}

impl fmt::Display for DeleteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failures: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
        if self.remaining.is_empty() {
            write!(
                f,
                "Software RAID deletion incomplete: {}. Run raid.delete_configuration again; \
                 if the same command fails, the device it names needs attention first.",
                failures.join("; ")
            )
        } else {
            // IPA's wording (`hardware.py: delete_configuration`), then our details.
            let remaining: Vec<&str> = self.remaining.iter().map(DevPath::as_str).collect();
            write!(
                f,
                "Unable to clean all softraid correctly. Remaining {remaining:?}"
            )?;
            if !failures.is_empty() {
                write!(f, "; errors: {}", failures.join("; "))?;
            }
            f.write_str(
                ". An array that does not stop is in use (mounted, or under LVM or \
                 device-mapper): release it, or reboot the node into the agent, and run \
                 raid.delete_configuration again.",
            )
        }
    }
}
