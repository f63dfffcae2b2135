//! The EFI system partition every holder disk of a software RAID gets under UEFI: one
//! definition shared by the RAID planner (which leaves its space free at creation time) and
//! `install_bootloader` (which creates and mirrors it at deploy time). IPA keeps the same
//! pair in `ironic_python_agent/raid_utils.py`: `ESP_SIZE_MIB` (550), used both by
//! `calculate_raid_start` (first RAID partition at 551 MiB) and by
//! `prepare_boot_partitions_for_softraid` (an ESP of 550 MiB at the first free sector).
//!
//! Where we pin down what IPA leaves to `sgdisk -F`: the ESP starts at exactly 1 MiB and
//! ends where the first RAID partition starts, so the two can never overlap or drift apart.

use super::plan::MIB;

/// Where the ESP starts on every holder disk.
pub const ESP_START_MIB: u64 = 1;
/// Its size (IPA `raid_utils.ESP_SIZE_MIB`).
pub const ESP_SIZE_MIB: u64 = 550;
/// Where the first RAID partition starts under UEFI: right after the ESP.
pub const RAID_START_MIB: u64 = ESP_START_MIB + ESP_SIZE_MIB;
/// The `--name` of the mirrored ESP array (IPA's name).
pub const ESP_ARRAY_NAME: &str = "esp";
/// What md metadata 1.0 keeps at the end of each member (superblock at least 8 KiB from
/// the end, 4 KiB aligned, plus the bad-block log before it); generous, so a file system
/// that fits this budget always fits the array.
pub const MD_1_0_RESERVE: u64 = 128 << 10;

/// Where the first RAID partition starts in BIOS mode on GPT: the 1 MiB to 8 MiB before it
/// are the BIOS boot partition `install_bootloader` makes for GRUB's core image
/// ([`crate::deploy::bios_boot`]). (On msdos the core image goes into the gap before the
/// first partition, at the first usable sector.)
pub const BIOS_GPT_RAID_START_MIB: u64 = 8;

/// The GPT partition name of the ESP on holder `index` (IPA's `uefi-holder-<i>`).
pub fn holder_label(index: usize) -> String {
    format!("uefi-holder-{index}")
}

/// First and last sector of the ESP on a disk with `sector`-byte logical sectors.
pub fn slot_sectors(sector: u64) -> (u64, u64) {
    let ss = sector.max(512);
    (ESP_START_MIB * MIB / ss, RAID_START_MIB * MIB / ss - 1)
}

/// The bytes a file system can use inside the mirrored ESP.
pub const fn usable_bytes() -> u64 {
    ESP_SIZE_MIB * MIB - MD_1_0_RESERVE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_esp_ends_where_the_first_raid_partition_starts() {
        assert_eq!(slot_sectors(512), (2048, 551 * 2048 - 1));
        assert_eq!(slot_sectors(4096), (256, 551 * 256 - 1));
        let (first, last) = slot_sectors(512);
        assert_eq!((last + 1 - first) * 512, ESP_SIZE_MIB * MIB);
        assert_eq!((last + 1) * 512, RAID_START_MIB * MIB);
        assert_eq!(holder_label(1), "uefi-holder-1");
        assert!(usable_bytes() < ESP_SIZE_MIB * MIB);
    }
}
