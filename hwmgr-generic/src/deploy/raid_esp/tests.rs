//! The ESP planning against the disk sets of the QEMU RAID journey (recorded with
//! `sgdisk -p` in the VM after `raid.create_configuration` under UEFI) and of the test
//! image written into the root array.

use super::*;
use crate::deploy::partitions::{Partition, ESP_TYPE_GUID};

const LINUX_RAID: &str = "a19d880f-05fc-4d66-a1a0-4e0e5c8b3b29";

fn part(number: u32, first: u64, last: u64, type_id: &str, name: &str) -> Partition {
    Partition {
        number,
        first_lba: first,
        last_lba: last,
        type_id: type_id.into(),
        part_uuid: Some(format!("00000000-0000-4000-8000-00000000000{number}")),
        name: name.into(),
    }
}

fn gpt(partitions: Vec<Partition>) -> Option<PartitionTable> {
    Some(PartitionTable {
        kind: TableKind::Gpt,
        partitions,
        gpt_alternate_lba: None,
    })
}

/// A holder after create_configuration: RAID-1 root from 551 MiB to 1 GiB, RAID-5 data
/// from 1 GiB to the end (parted's `primary` names).
fn holder(disk: &str, sector: u64) -> Holder {
    let per_mib = MIB / sector;
    Holder {
        disk: disk.into(),
        sector,
        table: gpt(vec![
            part(1, 551 * per_mib, 1024 * per_mib - 1, LINUX_RAID, "primary"),
            part(2, 1024 * per_mib, 2047 * per_mib, LINUX_RAID, "primary"),
        ]),
    }
}

/// The test image inside the root array: a 12 MiB ESP at 1 MiB and a small root partition.
fn image(esp_mib: u64) -> Option<PartitionTable> {
    gpt(vec![
        part(1, 2048, 2048 + esp_mib * 2048 - 1, ESP_TYPE_GUID, "ESP"),
        part(2, 2048 + esp_mib * 2048, 40959, LINUX_RAID, "root"),
    ])
}

#[test]
fn every_holder_gets_the_reserved_slot_as_its_next_partition() {
    let holders = [holder("/dev/vda", 512), holder("/dev/nvme0n1", 4096)];
    let p = plan("/dev/md127", image(12).as_ref(), 512, None, &holders).unwrap();
    assert_eq!(p.image_esp, 1);
    assert_eq!(p.image_esp_bytes, 12 * MIB);
    assert!(!p.reuse);
    assert_eq!(
        p.slots,
        vec![
            Slot {
                disk: "/dev/vda".into(),
                number: 3,
                first: 2048,
                last: 551 * 2048 - 1,
                label: "uefi-holder-0".into()
            },
            Slot {
                disk: "/dev/nvme0n1".into(),
                number: 3,
                first: 256,
                last: 551 * 256 - 1,
                label: "uefi-holder-1".into()
            },
        ]
    );
    // The slot ends exactly where the planner starts the first array.
    for (s, h) in p.slots.iter().zip(&holders) {
        let first_raid = h.table.as_ref().unwrap().partitions[0].first_lba;
        assert_eq!(s.last + 1, first_raid, "{}", s.disk);
    }
}

#[test]
fn the_slot_agrees_with_the_raid_planner() {
    // The planner's first partition under UEFI starts at esp::RAID_START_MIB: a plan made
    // for two disks puts its first partitions where the ESP slot ends.
    use crate::raid::plan::{plan_create_with, PlanEnv, Start};
    use blockdev::{BlockDevice, DevType};
    let disk = |n: &str| BlockDevice {
        name: format!("/dev/{n}"),
        kname: n.into(),
        size: 2 << 30,
        dev_type: DevType::Disk,
        logical_sectors: 512,
        ..BlockDevice::default()
    };
    let env = PlanEnv {
        devices: vec![disk("vda"), disk("vdb")],
        md_arrays: vec![],
        ramdisk_uefi: true,
    };
    let node = serde_json::json!({"uuid": "n1"});
    let cfg = serde_json::json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": true}]});
    let planned = plan_create_with(&env, &node, &cfg).unwrap();
    let first = &planned.disks[0].partitions[0];
    assert_eq!(first.start, Start::Mib(esp::RAID_START_MIB));
    let (_, last) = esp::slot_sectors(512);
    assert_eq!((last + 1) * 512, esp::RAID_START_MIB * MIB);
}

#[test]
fn an_image_without_esp_gets_ipas_error_with_the_fix() {
    let no_esp = gpt(vec![part(1, 2048, 40959, LINUX_RAID, "root")]);
    let e = plan(
        "/dev/md127",
        no_esp.as_ref(),
        512,
        None,
        &[holder("/dev/vda", 512)],
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::DeviceNotFound);
    assert!(
        e.details.starts_with(
            "No EFI partition could be detected on device /dev/md127 and EFI partition UUID"
        ),
        "{}",
        e.details
    );
    assert!(
        e.details.contains("Are you using a UEFI-compatible image?"),
        "{}",
        e.details
    );
    assert!(e.details.contains("BOOTX64.EFI"), "{}", e.details);
    // efi_system_part_uuid finds a partition whose type is not ESP.
    let p = plan(
        "/dev/md127",
        no_esp.as_ref(),
        512,
        Some("00000000-0000-4000-8000-000000000001"),
        &[holder("/dev/vda", 512)],
    )
    .unwrap();
    assert_eq!(p.image_esp, 1);
}

#[test]
fn an_esp_larger_than_the_planned_one_is_refused_naming_both_sizes() {
    let e = plan(
        "/dev/md127",
        image(600).as_ref(),
        512,
        None,
        &[holder("/dev/vda", 512)],
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::SoftwareRAIDError);
    assert!(e.details.contains("600.0 MiB"), "{}", e.details);
    assert!(e.details.contains("(550 MiB"), "{}", e.details);
    assert!(
        e.details
            .contains("Nothing was written to the holder disks"),
        "{}",
        e.details
    );
    // 550 MiB exactly does not fit either: md metadata 1.0 takes the end of each member.
    assert!(plan(
        "/dev/md127",
        image(550).as_ref(),
        512,
        None,
        &[holder("/dev/vda", 512)]
    )
    .is_err());
}

#[test]
fn a_raid_without_room_for_the_esp_is_refused() {
    // Built in BIOS mode on GPT: arrays start at 8 MiB.
    let bios = Holder {
        disk: "/dev/vdb".into(),
        sector: 512,
        table: gpt(vec![part(
            1,
            8 * 2048,
            1024 * 2048 - 1,
            LINUX_RAID,
            "primary",
        )]),
    };
    let e = plan(
        "/dev/md127",
        image(12).as_ref(),
        512,
        None,
        &[holder("/dev/vda", 512), bios],
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::SoftwareRAIDError);
    assert!(e.details.contains("on /dev/vdb"), "{}", e.details);
    assert!(e.details.contains("taken by partition 1"), "{}", e.details);
    let msdos = Holder {
        disk: "/dev/vdc".into(),
        sector: 512,
        table: Some(PartitionTable {
            kind: TableKind::Msdos,
            partitions: vec![],
            gpt_alternate_lba: None,
        }),
    };
    let e = plan("/dev/md127", image(12).as_ref(), 512, None, &[msdos]).unwrap_err();
    assert!(
        e.details.contains("has msdos partition table"),
        "{}",
        e.details
    );
}

#[test]
fn existing_esps_are_reused_and_a_partial_set_is_refused() {
    let with_esp = |disk: &str, i: usize| {
        let mut h = holder(disk, 512);
        if let Some(t) = h.table.as_mut() {
            t.partitions.push(part(
                3,
                2048,
                551 * 2048 - 1,
                ESP_TYPE_GUID,
                &esp::holder_label(i),
            ));
        }
        h
    };
    let p = plan(
        "/dev/md127",
        image(12).as_ref(),
        512,
        None,
        &[with_esp("/dev/vda", 0), with_esp("/dev/vdb", 1)],
    )
    .unwrap();
    assert!(p.reuse);
    assert_eq!(p.slots[1].number, 3);
    let e = plan(
        "/dev/md127",
        image(12).as_ref(),
        512,
        None,
        &[with_esp("/dev/vda", 0), holder("/dev/vdb", 512)],
    )
    .unwrap_err();
    assert!(
        e.details.contains("Only some holder disks"),
        "{}",
        e.details
    );
}

/// A fake machine: md127 = RAID-1 of vda1 and vdb1 holding the test image (its GPT at
/// `<root>/dev/md127`), each holder's GPT with the array member at 551 MiB, the image's ESP
/// with a loader (what the read-only mount would show), and the new ESP partitions vda2 and
/// vdb2 already visible in sysfs (as after `partx -a`).
fn raid_machine() -> (
    tempfile::TempDir,
    Machine,
    std::sync::Arc<testkit::RecordingRunner>,
) {
    use crate::deploy::partitions::tests::gpt_disk;
    use testkit::fake_machine::{FakeMachine, GIB};
    let dir = tempfile::tempdir().unwrap();
    let _fm = FakeMachine::new(dir.path())
        .virtio("vda", 2 * GIB)
        .partition("vda", "vda1", 551 * MIB, 473 * MIB)
        .partition("vda", "vda2", MIB, 550 * MIB)
        .virtio("vdb", 2 * GIB)
        .partition("vdb", "vdb1", 551 * MIB, 473 * MIB)
        .partition("vdb", "vdb2", MIB, 550 * MIB)
        .md("md127", "raid1", &["vda1", "vdb1"])
        .partition("md127", "md127p1", MIB, 12 * MIB);
    let dev = dir.path().join("dev");
    std::fs::write(dev.join("md127"), gpt_disk(64, 2048 + 12 * 2048 - 1)).unwrap();
    // A holder: the same GPT with its one entry turned into the Linux RAID member.
    let mut holder = gpt_disk(64, 1024 * 2048 - 1);
    let raid_type = [
        0x0f, 0x88, 0x9d, 0xa1, 0xfc, 0x05, 0x3b, 0x4d, 0xa0, 0x06, 0x74, 0x3f, 0x0f, 0x84, 0x91,
        0x1e,
    ];
    holder[1024..1040].copy_from_slice(&raid_type);
    holder[1024 + 32..1024 + 40].copy_from_slice(&(551u64 * 2048).to_le_bytes());
    std::fs::write(dev.join("vda"), &holder).unwrap();
    std::fs::write(dev.join("vdb"), &holder).unwrap();
    let boot = dir.path().join("run/ironic-agent/esp/EFI/BOOT");
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::write(boot.join("BOOTX64.EFI"), b"MZ").unwrap();
    let runner = std::sync::Arc::new(testkit::RecordingRunner::new());
    let m = Machine::new(hwmgr::Host::new(dir.path()), runner.clone());
    (dir, m, runner)
}

#[test]
fn a_failed_mirror_leaves_no_esp_partition_behind() {
    let (_dir, m, runner) = raid_machine();
    runner.fail(
        &["mdadm", "--create"],
        1,
        "mdadm: cannot open /dev/vdb2: Device or resource busy",
    );
    let e = install(&m, "/dev/md127", None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CommandExecutionError, "{e:?}");
    assert!(
        e.details.contains("Device or resource busy"),
        "{}",
        e.details
    );
    assert!(
        e.details.contains(
            "Rolled back: deleted partition 2 of /dev/vdb; deleted partition 2 of /dev/vda."
        ),
        "{}",
        e.details
    );
    let lines = runner.lines();
    let created: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("sgdisk -n 2:2048:1128447 -t 2:ef00"))
        .collect();
    assert_eq!(created.len(), 2, "{lines:#?}");
    assert!(created[0].contains("-c 2:uefi-holder-0"), "{lines:#?}");
    assert!(created[1].contains("-c 2:uefi-holder-1"), "{lines:#?}");
    let create = lines
        .iter()
        .find(|l| l.starts_with("mdadm --create"))
        .unwrap();
    assert!(
        create.contains("--metadata=1.0 --level 1 --name esp --raid-devices 2"),
        "{create}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("sgdisk -d 2"))
            .count(),
        2,
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("efibootmgr")),
        "no NVRAM entry for a half-built ESP: {lines:#?}"
    );
}

/// `install_bootloader` on the RAID root under UEFI, whole-disk image.
fn install_on_raid(m: &Machine, ignore: Option<bool>) -> Result<serde_json::Value> {
    let p = crate::deploy::bootloader::Params {
        root_uuid: Some("0x00000000".into()),
        target_boot_mode: Some("uefi".into()),
        ignore_bootloader_failure: ignore,
        ..Default::default()
    };
    std::fs::create_dir_all(m.host.path("/sys/firmware/efi/efivars")).unwrap();
    crate::deploy::bootloader::install(m, "/dev/md127", &p, false, false)
}

#[test]
fn a_raid_root_without_efibootmgr_fails_naming_the_command_and_the_fix() {
    let (_dir, m, runner) = raid_machine();
    runner.without_program("efibootmgr");
    let e = install_on_raid(&m, None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CommandExecutionError, "{e:?}");
    for want in [
        "Could not configure UEFI boot on device /dev/md127",
        "`efibootmgr --version` failed: the program is not installed",
        "software RAID root",
        "Add efibootmgr to the deploy ramdisk",
    ] {
        assert!(e.details.contains(want), "{want:?} not in {}", e.details);
    }
    // Checked before anything is written to the holder disks.
    assert_eq!(runner.lines(), vec!["efibootmgr --version"]);

    // ignore_bootloader_failure accepts it, as it does every other boot loader failure.
    install_on_raid(&m, Some(true)).unwrap();
}

#[test]
fn a_raid_root_with_a_failing_efibootmgr_fails_with_its_stderr_and_rolls_back() {
    let (_dir, m, runner) = raid_machine();
    runner.fail(
        &["efibootmgr", "--version"],
        1,
        "efibootmgr: EFI variables are not supported on this system.",
    );
    let e = install_on_raid(&m, None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CommandExecutionError, "{e:?}");
    for want in [
        "`efibootmgr --version` exited with code 1",
        "EFI variables are not supported",
        "efivarfs",
    ] {
        assert!(e.details.contains(want), "{want:?} not in {}", e.details);
    }
    assert_eq!(runner.lines(), vec!["efibootmgr --version"]);

    // efibootmgr answers --version but cannot write NVRAM: the ESP mirror is undone.
    let (dir, m, runner) = raid_machine();
    let dev = dir.path().join("dev");
    std::fs::write(dev.join("md127p1"), vec![0u8; 12 * MIB as usize]).unwrap();
    std::fs::create_dir_all(dev.join("md")).unwrap();
    std::fs::write(dev.join("md/esp"), b"").unwrap();
    runner.fail(
        &["efibootmgr", "-v", "-c"],
        5,
        "Could not prepare Boot variable: No space left on device",
    );
    let e = install_on_raid(&m, None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CommandExecutionError, "{e:?}");
    for want in [
        "/dev/vda -p 2 -w -L",
        "No space left on device",
        "Rolled back:",
        "stopped /dev/md/esp",
        "deleted partition 2 of /dev/vda",
    ] {
        assert!(e.details.contains(want), "{want:?} not in {}", e.details);
    }
}
