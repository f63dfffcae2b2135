//! The BIOS boot area of every holder (against the disk layouts `raid.create_configuration`
//! makes in BIOS mode: msdos with the arrays at the first usable sector 2048, GPT with the
//! arrays at 8 MiB) and the two sectors GRUB's boot code needs patched.

use super::*;
use crate::deploy::partitions::Partition;

const LINUX_RAID_GPT: &str = "a19d880f-05fc-4d66-a1a0-4e0e5c8b3b29";
const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";

fn part(number: u32, first: u64, last: u64, type_id: &str, name: &str) -> Partition {
    Partition {
        number,
        first_lba: first,
        last_lba: last,
        type_id: type_id.into(),
        part_uuid: None,
        name: name.into(),
    }
}

fn holder(kind: TableKind, sector: u64, partitions: Vec<Partition>) -> Holder {
    Holder {
        disk: "/dev/vdb".into(),
        sector,
        table: Some(PartitionTable {
            kind,
            partitions,
            gpt_alternate_lba: None,
        }),
    }
}

/// A BIOS/msdos holder: RAID-1 root from sector 2048, RAID-5 data after it.
fn msdos_holder(first: u64) -> Holder {
    holder(
        TableKind::Msdos,
        512,
        vec![
            part(1, first, 2_099_199, "0xfd", ""),
            part(2, 2_099_200, 3_145_727, "0xfd", ""),
        ],
    )
}

/// A BIOS/GPT holder: the arrays from 8 MiB.
fn gpt_holder(extra: Vec<Partition>) -> Holder {
    let mut parts = vec![
        part(1, 16_384, 2_113_535, LINUX_RAID_GPT, "primary"),
        part(2, 2_113_536, 3_145_694, LINUX_RAID_GPT, "primary"),
    ];
    parts.extend(extra);
    holder(TableKind::Gpt, 512, parts)
}

#[test]
fn msdos_holders_take_the_core_image_in_the_gap_after_the_mbr() {
    let p = plan_holder("/dev/md127", 0, &msdos_holder(2048), 463).unwrap();
    assert_eq!(
        p,
        HolderBoot {
            disk: "/dev/vdb".into(),
            area: Area::MbrGap {
                first: 1,
                last: 2047
            }
        }
    );
}

#[test]
fn a_gap_too_small_for_the_core_image_is_refused_before_anything_is_written() {
    let e = plan_holder("/dev/md127", 0, &msdos_holder(63), 463).unwrap_err();
    assert_eq!(e.kind, ErrorKind::SoftwareRAIDError);
    assert!(
        e.details.contains("/dev/vdb (sectors 1-62)"),
        "{}",
        e.details
    );
    assert!(e.details.contains("463 sectors"), "{}", e.details);
    assert!(
        e.details.contains("raid.create_configuration"),
        "{}",
        e.details
    );
}

#[test]
fn gpt_holders_get_a_bios_boot_partition_where_the_planner_left_room() {
    let p = plan_holder("/dev/md127", 1, &gpt_holder(vec![]), 463).unwrap();
    assert_eq!(
        p.area,
        Area::BiosBoot {
            number: 3,
            first: 2048,
            last: 16_383,
            create: true,
            label: "bios-holder-1".into()
        }
    );
    assert_eq!(p.area.sectors(), 14_336);
}

#[test]
fn an_existing_bios_boot_partition_is_used_again() {
    let h = gpt_holder(vec![part(
        3,
        2048,
        16_383,
        BIOS_BOOT_TYPE_GUID,
        "bios-holder-0",
    )]);
    let p = plan_holder("/dev/md127", 0, &h, 463).unwrap();
    assert!(matches!(
        p.area,
        Area::BiosBoot {
            number: 3,
            create: false,
            ..
        }
    ));
}

#[test]
fn a_partition_image_layouts_bios_boot_partition_takes_the_core_image() {
    // partition_layout on GPT in BIOS mode: a 1 MiB BIOS boot partition at 1 MiB, the root
    // right after it (inside the 1-8 MiB a RAID holder would keep free).
    let h = holder(
        TableKind::Gpt,
        512,
        vec![
            part(1, 2048, 4095, BIOS_BOOT_TYPE_GUID, "bios"),
            part(
                2,
                4096,
                2_101_247,
                "0fc63daf-8483-4772-8e79-3d69d8477de4",
                "root",
            ),
        ],
    );
    let p = plan_holder("/dev/vdb", 0, &h, 463).unwrap();
    assert_eq!(
        p.area,
        Area::BiosBoot {
            number: 1,
            first: 2048,
            last: 4095,
            create: false,
            label: "bios".into()
        }
    );
    // One too small for the core image is not used.
    let e = plan_holder("/dev/vdb", 0, &h, 4000).unwrap_err();
    assert!(
        e.details.contains("taken by partition 1 (bios"),
        "{}",
        e.details
    );
    assert!(
        e.details
            .contains("Deploy again: write_image lays /dev/vdb"),
        "{}",
        e.details
    );
}

#[test]
fn a_holder_built_for_uefi_is_refused_naming_the_partition_in_the_way() {
    let h = holder(
        TableKind::Gpt,
        512,
        vec![
            part(1, 1_128_448, 2_097_151, LINUX_RAID_GPT, "primary"),
            part(2, 2048, 1_128_447, ESP, "uefi-holder-0"),
        ],
    );
    let e = plan_holder("/dev/md127", 0, &h, 463).unwrap_err();
    assert!(
        e.details.contains("taken by partition 2 (uefi-holder-0"),
        "{}",
        e.details
    );
    assert!(e.details.contains("BIOS mode"), "{}", e.details);
}

#[test]
fn only_512_byte_sectors_and_partitioned_holders_boot_in_bios_mode() {
    let mut h = gpt_holder(vec![]);
    h.sector = 4096;
    let e = plan_holder("/dev/md127", 0, &h, 463).unwrap_err();
    assert!(e.details.contains("4096-byte sectors"), "{}", e.details);
    h.sector = 512;
    h.table = None;
    let e = plan_holder("/dev/md127", 0, &h, 463).unwrap_err();
    assert!(e.details.contains("no partition table"), "{}", e.details);
}

fn boot_img() -> Vec<u8> {
    let mut b: Vec<u8> = (0..512).map(|i| (i % 251) as u8).collect();
    b[510] = 0x55;
    b[511] = 0xaa;
    b
}

#[test]
fn the_boot_sector_keeps_the_partition_table_and_points_at_the_core_image() {
    let mut disk = [0u8; 512];
    disk[0x10] = 0xbb; // BIOS parameter block area
    disk[0x1b8..0x1bc].copy_from_slice(&[1, 2, 3, 4]); // disk signature
    disk[0x1be..0x1ce].copy_from_slice(&[0xee; 16]); // partition entry
    disk[510] = 0x55;
    disk[511] = 0xaa;
    let b = boot_img();
    let s = boot_sector(&disk, &b, 2048).unwrap();
    assert_eq!(s[..3], b[..3], "GRUB's jump");
    assert_eq!(s[0x10], 0xbb, "the BPB area is the disk's");
    assert_eq!(s[0x5a..0x5c], b[0x5a..0x5c], "GRUB's code");
    assert_eq!(
        s[0x5c..0x64],
        2048u64.to_le_bytes(),
        "the core image's sector"
    );
    assert_eq!((s[0x64], s[0x66], s[0x67]), (0xff, 0x90, 0x90));
    assert_eq!(s[0x68..0x1b8], b[0x68..0x1b8], "GRUB's code");
    assert_eq!(s[0x1b8..0x1fe], disk[0x1b8..0x1fe], "the partition table");
    assert_eq!(s[510..], [0x55, 0xaa]);
    disk[511] = 0;
    assert!(boot_sector(&disk, &b, 1).unwrap_err().contains("0x55AA"));
    disk[511] = 0xaa;
    assert!(boot_sector(&disk, &b[..446], 1).is_err());
}

/// A core image as grub-mkimage makes it: the first sector's last blocklist entry (start
/// 2, some length, segment 0x820), a terminator below it.
fn core(len: usize) -> Vec<u8> {
    let mut c = vec![0x11u8; len];
    c[488..500].fill(0);
    c[500..512].copy_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 0xce, 1, 0x20, 8]);
    c
}

#[test]
fn the_core_images_blocklist_names_the_sectors_after_its_first() {
    let c = core_image(&core(236_906), 2048).unwrap();
    assert_eq!(c.len(), 463 * 512, "padded to whole sectors");
    assert_eq!(c[500..508], 2049u64.to_le_bytes());
    assert_eq!(c[508..510], 462u16.to_le_bytes());
    assert_eq!(c[510..512], 0x820u16.to_le_bytes());
    assert_eq!(c[236_905], 0x11);
    assert_eq!(c[236_906..], vec![0u8; 463 * 512 - 236_906][..]);
    let c = core_image(&core(236_906), 1).unwrap();
    assert_eq!(c[500..508], 2u64.to_le_bytes());
}

#[test]
fn a_file_that_is_no_core_image_is_refused() {
    assert!(core_image(&[0u8; 600], 1)
        .unwrap_err()
        .contains("too small"));
    let mut c = core(4096);
    c[496] = 1; // a second entry
    assert!(core_image(&c, 1).unwrap_err().contains("more than one"));
}

#[test]
fn the_core_configuration_finds_the_root_by_uuid_and_nothing_else_gets_in() {
    assert_eq!(
        load_cfg("0e2c9d2a-3f39-4b2a-9d41-8a9e7b0c1d22", "/boot/grub").unwrap(),
        "search.fs_uuid 0e2c9d2a-3f39-4b2a-9d41-8a9e7b0c1d22 root\nset prefix=($root)/boot/grub\n"
    );
    assert!(load_cfg("ABCD-1234", "/grub").is_ok());
    for bad in ["", "a b", "x;reboot", "u\nset", "$(root)"] {
        assert!(load_cfg(bad, "/boot/grub").is_err(), "{bad:?}");
    }
    assert!(load_cfg("ABCD-1234", "boot/grub").is_err());
    assert!(load_cfg("ABCD-1234", "/boot grub").is_err());
}

#[test]
fn grub_cfg_is_found_in_a_root_or_a_boot_file_system_never_through_a_link() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    assert_eq!(grub_dir_in(&root), None, "no grub.cfg yet");
    std::fs::write(root.join("boot/grub/grub.cfg"), "linux /vmlinuz").unwrap();
    assert_eq!(grub_dir_in(&root), Some("/boot/grub"));
    let boot = d.path().join("boot");
    std::fs::create_dir_all(boot.join("grub")).unwrap();
    std::fs::write(boot.join("grub/grub.cfg"), "").unwrap();
    assert_eq!(grub_dir_in(&boot), Some("/grub"));
    let linked = d.path().join("linked");
    std::fs::create_dir_all(linked.join("boot")).unwrap();
    std::os::unix::fs::symlink(boot.join("grub"), linked.join("boot/grub")).unwrap();
    assert_eq!(grub_dir_in(&linked), None);
    let cfg_link = d.path().join("cfglink");
    std::fs::create_dir_all(cfg_link.join("boot/grub")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", cfg_link.join("boot/grub/grub.cfg")).unwrap();
    assert_eq!(grub_dir_in(&cfg_link), None);
}

#[test]
fn the_core_image_carries_grubs_md_partition_and_file_system_drivers() {
    let mods = core_modules();
    for m in [
        "biosdisk",
        "mdraid1x",
        "part_msdos",
        "part_gpt",
        "ext2",
        "normal",
        "linux",
    ] {
        assert!(mods.contains(&m), "{m} in {mods:?}");
    }
    assert!(mods
        .iter()
        .all(|m| m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')));
    let cmd = grub_mkimage::bios_core(GRUB_DIR, CORE_IMG, LOAD_CFG, &mods[..2]);
    assert_eq!(
        cmd.argv(),
        [
            "grub-mkimage",
            "-O",
            "i386-pc",
            "-d",
            GRUB_DIR,
            "-o",
            CORE_IMG,
            "-c",
            LOAD_CFG,
            "-p",
            "/boot/grub",
            mods[0],
            mods[1]
        ]
    );
}
