//! Carrying out a partition-image layout ([`super::partition_layout`]) on the target disk:
//! IPA's `partition_utils.work_on_disk` (`ironic_python_agent/partition_utils.py`).
//!
//! 1. Unless `preserve_ephemeral`: the disk's first and last MiB are zeroed (IPA's
//!    `destroy_disk_metadata` wipes signatures; zeroing both ends removes MBR and both GPTs).
//! 2. One parted call makes the label and every partition; the kernel is told; each
//!    partition's node must appear.
//! 3. (The caller streams the image into the root partition.)
//! 4. The ESP gets `mkdosfs -n efi-part`, swap `mkswap -L swap1`, the ephemeral partition
//!    `mke2fs -t <fmt> -F -L ephemeral0` (or `mkdosfs -n ephemeral0`) unless preserved, the
//!    config drive its ISO image.
//! 5. The result IPA returns (`partitions`, `root uuid`, `efi system partition uuid`): the
//!    file system UUID, else the partition's GPT GUID (`blkid -p`).
//!
//! When any step after the first write fails, [`wipe`] zeroes both ends of the disk again, so
//! no half-built layout is left that firmware or a later deploy could mistake for a good one.

use super::partition_layout::{Layout, PartitionParams, Role};
use crate::tools::{blkid, mkdosfs, mke2fs, mkswap, parted, DevPath, ToolCmd};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result};
use serde_json::{Map, Value};

/// Labels IPA gives (`work_on_disk`).
pub const ESP_LABEL: &str = "efi-part";
pub const SWAP_LABEL: &str = "swap1";
pub const EPHEMERAL_LABEL: &str = "ephemeral0";

fn failed(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::DeploymentError, details)
}

/// The programs a layout needs, so a missing one is named before the disk is touched.
pub fn required_programs(layout: &Layout, params: &PartitionParams) -> Vec<&'static str> {
    let mut p = vec!["parted", "blkid"];
    if layout.get(Role::Esp).is_some() {
        p.extend(["mkdosfs", "mount", "umount"]);
    }
    if layout.get(Role::Swap).is_some() {
        p.push("mkswap");
    }
    if layout.get(Role::Ephemeral).is_some() && !params.preserve_ephemeral {
        match params.ephemeral_format.as_deref() {
            Some("vfat") => p.push("mkdosfs"),
            _ => p.push("mke2fs"),
        }
    }
    p.sort_unstable();
    p.dedup();
    p
}

/// The parted call that makes `layout` on `disk`.
pub fn parted_command(disk: &DevPath, layout: &Layout) -> ToolCmd {
    let specs: Vec<parted::PartSpec> = layout
        .partitions
        .iter()
        .map(|p| parted::PartSpec {
            start_mib: p.start_mib,
            end_mib: p.end_mib,
            fs: p.fs,
            flag: p.flag,
        })
        .collect();
    parted::make_layout(disk, layout.label, &specs)
}

/// The partition device of each role, once made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Made {
    pub parts: Vec<(Role, String)>,
}

impl Made {
    pub fn get(&self, role: Role) -> Option<&str> {
        self.parts
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| p.as_str())
    }
}

/// Zeroes the first and last MiB of `disk` (no MBR, no GPT left) and tells the kernel.
pub fn wipe(m: &Machine, disk: &str) -> std::result::Result<(), String> {
    let path = m.host.device(disk).map_err(|e| e.details)?;
    let mut w = super::writer::DiskWriter::open(disk, &path)?;
    let r = w.wipe_partition_tables();
    drop(w);
    m.reread_partition_table(disk);
    r
}

/// Steps 1 and 2: the label and the partitions, each partition's node waited for.
pub fn make_partitions(
    m: &Machine,
    disk: &str,
    layout: &Layout,
    preserve_ephemeral: bool,
) -> Result<Made> {
    let dev = DevPath::new(disk)?;
    if !preserve_ephemeral {
        wipe(m, disk).map_err(|e| {
            failed(format!(
                "Failed to destroy the metadata of {disk} before partitioning: {e}"
            ))
        })?;
    }
    let cmd = parted_command(&dev, layout);
    tracing::info!("Partitioning {disk} for a partition image: {cmd}");
    m.run(&cmd).map_err(|e| {
        failed(format!(
            "Failed to partition {disk} for the partition image ({cmd}): {e}. Check the disk \
             (dmesg) and retry the deploy."
        ))
    })?;
    m.reread_partition_table(disk);
    let mut made = Made::default();
    for p in &layout.partitions {
        let path = super::configdrive::partition_path(m, disk, p.number)?;
        made.parts.push((p.role, path));
    }
    Ok(made)
}

fn run(m: &Machine, cmd: &ToolCmd, what: &str, part: &str) -> Result<()> {
    m.run(cmd).map(|_| ()).map_err(|e| {
        failed(format!(
            "Failed to {what} on {part} ({cmd}): {e}. The disk was wiped; check it and retry \
             the deploy."
        ))
    })
}

/// Step 4 without the config drive: ESP, swap and ephemeral file systems.
pub fn format(m: &Machine, made: &Made, params: &PartitionParams) -> Result<()> {
    if let Some(esp) = made.get(Role::Esp) {
        let dev = DevPath::new(esp)?;
        run(m, &mkdosfs::vfat(&dev, ESP_LABEL), "format the ESP", esp)?;
    }
    if let Some(swap) = made.get(Role::Swap) {
        let dev = DevPath::new(swap)?;
        run(m, &mkswap::swap(&dev, SWAP_LABEL), "make swap", swap)?;
    }
    if let Some(eph) = made.get(Role::Ephemeral) {
        if params.preserve_ephemeral {
            tracing::info!("Keeping the ephemeral partition {eph} as it is (preserve_ephemeral)");
            return Ok(());
        }
        let dev = DevPath::new(eph)?;
        let cmd = match params.ephemeral_format.as_deref() {
            Some("vfat") => mkdosfs::vfat(&dev, EPHEMERAL_LABEL),
            Some("ext2") => mke2fs::ext(&dev, "ext2", EPHEMERAL_LABEL),
            Some("ext3") => mke2fs::ext(&dev, "ext3", EPHEMERAL_LABEL),
            Some("ext4") => mke2fs::ext(&dev, "ext4", EPHEMERAL_LABEL),
            other => {
                // `partition_layout::plan` refuses these before anything is written.
                return Err(failed(format!(
                    "unsupported ephemeral_format {other:?} for {eph}"
                )));
            }
        };
        run(m, &cmd, "format the ephemeral partition", eph)?;
    }
    Ok(())
}

/// IPA's `block_uuid`: the file system UUID, else the partition's UUID (GPT GUID).
pub fn block_uuid(m: &Machine, part: &str) -> Result<Option<String>> {
    let out = m.run(&blkid::probe(&DevPath::new(part)?)).map_err(|e| {
        failed(format!(
            "Failed to read the UUID of {part}: {e}. The disk was wiped; retry the deploy."
        ))
    })?;
    Ok(blkid::value(&out.stdout, "UUID")
        .or_else(|| blkid::value(&out.stdout, "PART_ENTRY_UUID"))
        .filter(|u| !u.is_empty())
        .map(str::to_string))
}

/// Step 5: what `get_partition_uuids` returns for a partition image (`work_on_disk`'s
/// result): `partitions` (role → device), `root uuid`, `efi system partition uuid`.
pub fn result(m: &Machine, made: &Made) -> Result<Map<String, Value>> {
    let mut partitions = Map::new();
    for (role, p) in &made.parts {
        if *role != Role::BiosBoot {
            partitions.insert(role.key().into(), Value::String(p.clone()));
        }
    }
    let root = made
        .get(Role::Root)
        .ok_or_else(|| failed("the layout has no root partition"))?;
    let root_uuid = block_uuid(m, root)?.ok_or_else(|| {
        failed(format!(
            "No UUID found on the root partition {root} after writing the image: the image \
             is not a file system image (image_type partition needs one; use a whole-disk \
             image otherwise)."
        ))
    })?;
    let esp_uuid = match made.get(Role::Esp) {
        Some(esp) => block_uuid(m, esp)?
            .map(Value::String)
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    let mut r = Map::new();
    r.insert("partitions".into(), Value::Object(partitions));
    r.insert("root uuid".into(), Value::String(root_uuid));
    r.insert("efi system partition uuid".into(), esp_uuid);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::partition_layout::{plan, Request};
    use super::*;
    use crate::raid::plan::BootMode;
    use crate::tools::parted::PartTable;

    #[test]
    fn programs_follow_the_layout() {
        let mut p = PartitionParams {
            root_mb: 1024,
            swap_mb: 64,
            ephemeral_mb: 64,
            ephemeral_format: Some("ext4".into()),
            preserve_ephemeral: false,
        };
        fn r(p: &PartitionParams) -> Request<'_> {
            Request {
                disk: "/dev/vda",
                disk_bytes: 8 << 30,
                boot_mode: BootMode::Uefi,
                label: PartTable::Gpt,
                params: p,
                configdrive_bytes: 0,
                raid_root: false,
            }
        }
        let l = plan(&r(&p)).unwrap();
        assert_eq!(
            required_programs(&l, &p),
            ["blkid", "mkdosfs", "mke2fs", "mkswap", "mount", "parted", "umount"]
        );
        p.preserve_ephemeral = true;
        p.swap_mb = 0;
        let l = plan(&r(&p)).unwrap();
        assert_eq!(
            required_programs(&l, &p),
            ["blkid", "mkdosfs", "mount", "parted", "umount"]
        );
        assert_eq!(
            parted_command(&DevPath::new("/dev/vda").unwrap(), &l).to_string(),
            "parted -a optimal -s /dev/vda -- unit MiB mklabel gpt mkpart primary fat32 1 551 \
             set 1 boot on mkpart primary 551 615 mkpart primary 615 1639"
        );
    }
}
