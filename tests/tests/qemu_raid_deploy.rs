//! The whole journey on software RAID, under UEFI, with the real Ironic 39, the real kernel
//! and the real mdadm of the deploy ramdisk, in one test (one ramdisk VM for cleaning and
//! deployment, then the instance's boots):
//!
//! 1. manage → manual clean (`raid.delete_configuration`, `deploy.erase_devices_metadata`,
//!    `raid.create_configuration`: a RAID-1 root marked `is_root_volume` + a RAID-5 data
//!    array over two virtio disks and one NVMe disk) → provide (automated cleaning off: it
//!    would erase the arrays) → deploy of a whole-disk image (`direct`) → `active`. The
//!    image lands in the RAID-1 root, `install_bootloader` makes an ESP on every holder in
//!    the space the RAID planner left (1 MiB to 551 MiB), mirrors them as md RAID-1 with
//!    metadata 1.0 and registers `ironic1 (RAID, part<i>)` for each holder in NVRAM.
//!
//!    The conductor's tear-down powers the ramdisk off through the agent while the new
//!    arrays still resync: it must power off on its own (the agent freezes the resyncs
//!    first, `hwmgr-generic/src/raid/quiesce.rs`; without that Linux 6.1 hangs in
//!    `raid5_quiesce`), else the test fails.
//! 2. On the host: every holder's GPT has that ESP; the variable store has the entries.
//! 3. QEMU boots the disks under OVMF (no kernel of ours): the instance's GRUB prints the
//!    marker, then finds its root file system through GRUB's md RAID driver on the root
//!    array (`ROOTFS=md/root,gpt2`) and prints the file it reads there.
//! 4. The same with the first holder disk removed: firmware boots another holder's ESP
//!    (a plain FAT to it; OVMF takes that disk's removable-media path once the disks moved
//!    on the PCI bus) and GRUB reads the root file system from the degraded mirror.
//! 5. The disk put back, the deploy ramdisk boots again: the agent assembles the arrays at
//!    start-up (as IPA does) and /proc/mdstat shows root, data and esp with every member;
//!    the resyncs frozen at the power-off resume and finish (every array `[UUU]`, none
//!    resyncing). The ramdisk powers off on its own again, and on the host every member of
//!    the ESP mirror (metadata 1.0: superblock at the partition's end) and of the root mirror
//!    carries its array's event count and no unfinished resync.
//!
//! Measured: ~2 minutes under TCG (clean 19 s, deploy 22 s, instance boots 5-9 s each, the
//! re-assembled arrays in sync 11 s after the agent's API is up).
//!
//! `partition_image_in_a_raid1_root_boots` (~2 minutes): `raid.apply_configuration` as a
//! deploy step rebuilds the RAID-1 root in front of `write_image`, then a partition image
//! (`image_type: partition`, `root_gb` 1) deployed into a RAID-1 root over two disks: its layout goes
//! inside the array with a 549 MiB ESP, `install_bootloader` fills that ESP from the image's
//! `/boot/efi/EFI`, mirrors it onto both holders and registers both; the disks boot under
//! OVMF.
//!
//! `bios_raid1_root_boots_from_any_holder` (~1 minute): the same journey in BIOS mode, the
//! ramdisk under SeaBIOS: a RAID-1 root over two disks (msdos holders, the array at 1 MiB),
//! a whole-disk image without any boot code (`raid-bios.img`: an ext4 root with
//! `/boot/grub/grub.cfg`) written into it, no `image_rootfs_uuid`; `install_bootloader` puts
//! the deploy ramdisk's GRUB on both holders (boot sector + core image in the gap, read back
//! on the host); the disks boot under SeaBIOS, GRUB reads the root through its md driver
//! (`ROOTFS=md/root,msdos1`), again with the first holder removed.
//! `bios_raid1_root_on_gpt_holders_boots_from_any_holder`: the same with `disk_label:gpt`:
//! the agent makes a BIOS boot partition (`bios-holder-<i>`, 1-8 MiB) on each busy holder
//! and GRUB's core image goes there.

use agent_tests::disk_image::{contains_utf16, gpt_entries, md_superblock_info, parse_mdstat};
use agent_tests::image_server::{test_images, ImageServer};
use agent_tests::ironic::{IronicOptions, NodeSpec};
use agent_tests::qemu::{Boot, Bus, Disk, DiskSet, Firmware, Vm, VmOptions, TEST_TOKEN};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const MARKER: &str = "IRONIC-AGENT-TEST-INSTANCE-BOOTED";
/// What `raid.img`'s GRUB prints after reading `/ironic-agent-root.txt` from the root fs.
const ROOT_READ: &str = "ROOT-FILESYSTEM-READ-THROUGH-GRUB";
/// A 1 GiB RAID-1 root (551 MiB to 1 GiB) and ~512 MiB per member for the RAID-5.
const DISK_MIB: u64 = 1536;
/// Boots `disks` under OVMF with the variable store `vars`, no kernel of ours; returns the
/// instance's serial log once GRUB halted.
fn boot_instance(disks: Vec<Disk>, vars: &Path, name: &str) -> String {
    boot_instance_with(disks, ovmf(vars), name)
}

fn ovmf(vars: &Path) -> Firmware {
    Firmware::Ovmf {
        vars: Some(vars.to_path_buf()),
    }
}

/// Boots `disks` under `firmware`, no kernel of ours; returns the instance's serial log once
/// GRUB halted.
fn boot_instance_with(disks: Vec<Disk>, firmware: Firmware, name: &str) -> String {
    let vm = Vm::boot(VmOptions {
        boot: Boot::Disk,
        firmware,
        disks,
        max_runtime: Duration::from_secs(300),
        name: name.into(),
        ..VmOptions::default()
    });
    let t = Instant::now();
    vm.wait_for_serial(MARKER, Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("{name}: the instance did not boot from its disks: {e}"));
    let _ = vm.wait_exit(Duration::from_secs(60));
    let log = vm.serial_log();
    eprintln!("qemu-raid-deploy: {name}: booted in {:.1?}", t.elapsed());
    for l in log.lines().filter(|l| {
        l.contains("ROOTFS=")
            || l.contains(ROOT_READ)
            || l.contains("error")
            || l.contains("BdsDxe")
    }) {
        eprintln!("qemu-raid-deploy: {name}: console: {}", l.trim());
    }
    log
}

/// GRUB found `/ironic-agent-root.txt` on partition 2 of an md array (the root file system
/// inside the RAID-1: `md/root,gpt2`) and printed what it read there.
fn reads_root_through_md(log: &str) -> bool {
    reads_root_through_md_on(log, ",gpt2")
}

/// GRUB found the root file system on partition `part` (`,gpt2`, `,msdos1`) of an md array
/// and printed the file it read there.
fn reads_root_through_md_on(log: &str, part: &str) -> bool {
    let found = log
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ROOTFS="))
        .any(|dev| dev.starts_with("md") && dev.ends_with(part));
    found && log.contains(ROOT_READ)
}

/// The real Ironic (fast track, automated cleaning off: it would erase the arrays, as IPA's
/// does; operators with software RAID turn it off or re-create the RAID in it) and the deploy
/// ramdisk under OVMF on `set`, for a UEFI node with `raid` as its target RAID config.
fn uefi_raid_scenario(name: &str, set: &DiskSet, vars: &Path, raid: serde_json::Value) -> Scenario {
    raid_scenario(name, set, ovmf(vars), "boot_mode:uefi", raid)
}

/// [`uefi_raid_scenario`] with the ramdisk under `firmware`, the node's
/// `properties.capabilities` set to `capabilities`.
fn raid_scenario(
    name: &str,
    set: &DiskSet,
    firmware: Firmware,
    capabilities: &str,
    raid: serde_json::Value,
) -> Scenario {
    Scenario::start(ScenarioOptions {
        ironic: IronicOptions {
            fast_track: true,
            automated_clean: false,
            ..IronicOptions::default()
        },
        node: NodeSpec::new(name)
            .fields(json!({
                "power_interface": "fake",
                // `fake` management refuses the boot device `disk` the deploy sets.
                "management_interface": "noop",
                "properties": {"capabilities": capabilities},
            }))
            .target_raid_config(raid),
        vm: VmOptions {
            firmware,
            memory_mib: 384,
            disks: set.disks().to_vec(),
            append: vec!["ipa-image-download-connection-retries=0".into()],
            max_runtime: Duration::from_secs(1500),
            name: name.into(),
            ..VmOptions::default()
        },
        ..ScenarioOptions::default()
    })
}

#[test]
fn raid1_root_deploys_through_ironic_and_boots_with_a_disk_missing() {
    let t0 = Instant::now();
    let imgs = test_images();
    let server = ImageServer::start(imgs.clone());
    std::env::set_var("http_proxy", format!("http://127.0.0.1:{}", server.port));
    std::env::set_var("no_proxy", "127.0.0.1,localhost");
    let set = DiskSet::new(
        "raid-deploy",
        vec![
            Disk::new(Bus::Virtio, DISK_MIB),
            Disk::new(Bus::Virtio, DISK_MIB),
            Disk::new(Bus::Nvme, DISK_MIB),
        ],
    );
    let vars = set.dir().join("OVMF_VARS.fd");
    let raid = json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software",
         "volume_name": "root", "is_root_volume": true},
        {"size_gb": "MAX", "raid_level": "5", "controller": "software", "volume_name": "data"},
    ]});
    let s = uefi_raid_scenario("qemu-raid-deploy", &set, &vars, raid);

    // 1. Manual clean builds the RAID, provide, deploy.
    let n = s.clean(
        json!([
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "deploy", "step": "erase_devices_metadata"},
            {"interface": "raid", "step": "create_configuration"},
        ]),
        Duration::from_secs(600),
    );
    eprintln!("qemu-raid-deploy: raid_config {}", n["raid_config"]);
    s.provision_to(
        "provide",
        json!(null),
        "available",
        Duration::from_secs(300),
    );
    set_image(&s, &server, &imgs, "raid.img", &[]);
    s.provision_to("active", json!(null), "active", Duration::from_secs(600));
    let log = s.vm.serial_log();
    for l in log.lines().filter(|l| {
        [
            "root volume",
            "written to",
            "EFI system partition",
            "ESP",
            "--metadata=1.0",
            "Adding loader",
        ]
        .iter()
        .any(|w| l.contains(w))
    }) {
        eprintln!("qemu-raid-deploy: console: {}", l.trim());
    }
    assert!(
        log.contains("Using the software RAID root volume") && log.contains("(array root,"),
        "write_image picked the RAID-1 root volume:\n{}",
        s.diagnostics(80)
    );
    assert!(
        log.contains("--metadata=1.0 --level 1 --name esp --raid-devices 3"),
        "install_bootloader mirrors the three ESPs with metadata 1.0:\n{}",
        s.diagnostics(80)
    );
    let Scenario { vm, ironic, .. } = s;
    // The conductor's tear-down powers the ramdisk off through the agent, the data array and
    // the ESP mirror still resyncing: the ramdisk must go down by itself.
    assert!(
        vm.wait_exit(Duration::from_secs(60)).is_some(),
        "the ramdisk did not power off within 60 s of the tear-down:\n{}",
        vm.serial_tail(60)
    );
    let log = vm.serial_log();
    let froze = log
        .lines()
        .find(|l| l.contains("froze the sync of the md arrays"))
        .unwrap_or_else(|| {
            panic!(
                "the agent did not freeze the md resyncs:\n{}",
                vm.serial_tail(40)
            )
        });
    eprintln!("qemu-raid-deploy: console: {}", froze.trim());
    drop(vm);
    drop(ironic);

    // 2. On the host: the ESP on every holder, where the planner left room; NVRAM entries.
    for (serial, path) in set.members() {
        let parts = gpt_entries(path).unwrap_or_default();
        eprintln!("qemu-raid-deploy: {serial}: {parts:?}");
        let esp: Vec<_> = parts.iter().filter(|p| p.esp).collect();
        assert_eq!(esp.len(), 1, "{serial}: one ESP: {parts:?}");
        assert_eq!(
            (esp[0].first_lba, esp[0].last_lba),
            (2048, 551 * 2048 - 1),
            "{serial}: the ESP fills 1 MiB..551 MiB"
        );
        assert!(
            esp[0].name.starts_with("uefi-holder-"),
            "{serial}: {parts:?}"
        );
        let first_raid = parts.iter().filter(|p| !p.esp).map(|p| p.first_lba).min();
        assert_eq!(first_raid, Some(551 * 2048), "{serial}: {parts:?}");
    }
    for i in 0..3 {
        let label = format!("ironic1 (RAID, part{i})");
        assert!(
            contains_utf16(&vars, &label),
            "NVRAM entry {label:?} is in the variable store"
        );
    }

    // 3. The instance boots from the disks and reads its root file system through md.
    let log = boot_instance(set.disks().to_vec(), &vars, "qemu-raid-deploy-instance");
    assert!(
        reads_root_through_md(&log),
        "GRUB reads the root file system on the RAID-1 root:\n{log}"
    );

    // 4. The first holder removed: another holder's ESP boots, the mirror is degraded.
    let log = boot_instance(
        set.disks()[1..].to_vec(),
        &vars,
        "qemu-raid-deploy-instance-degraded",
    );
    assert!(
        reads_root_through_md(&log),
        "with a holder missing, GRUB still reads the root file system:\n{log}"
    );

    // 5. The disk put back: the ramdisk's agent assembles every array with all members, and
    //    the resyncs the power-off froze resume and finish.
    let vm = Vm::boot(VmOptions {
        memory_mib: 384,
        disks: set.disks().to_vec(),
        agent_token: Some(TEST_TOKEN.into()),
        name: "qemu-raid-deploy-reassemble".into(),
        ..VmOptions::default()
    });
    vm.wait_api(Duration::from_secs(240));
    let (mdstat, scan) = wait_in_sync(&vm, Duration::from_secs(240));
    eprintln!("qemu-raid-deploy: mdadm --detail --scan:\n{scan}");
    let arrays = parse_mdstat(&mdstat);
    let levels: Vec<&str> = arrays.iter().map(|a| a.level.as_str()).collect();
    assert_eq!(arrays.len(), 3, "root, data and esp assembled: {arrays:?}");
    assert_eq!(
        levels.iter().filter(|l| **l == "raid1").count(),
        2,
        "{arrays:?}"
    );
    assert!(levels.contains(&"raid5"), "{arrays:?}");
    for a in &arrays {
        assert_eq!(
            a.members.len(),
            3,
            "{}: every member is back: {mdstat}",
            a.name
        );
        assert_eq!(a.status, "[3/3]", "{}: {mdstat}", a.name);
    }
    let esp = scan
        .lines()
        .find(|l| l.starts_with("ARRAY") && l.contains(":esp"))
        .unwrap_or_else(|| panic!("no esp array in mdadm --detail --scan:\n{scan}"));
    assert!(esp.contains("metadata=1.0"), "{esp}");
    // The agent powers the ramdisk off by itself, the arrays clean.
    assert!(
        vm.power_off(),
        "the re-assembled ramdisk did not power off within 60 s"
    );

    // On the host: every member of each array has its array's event count and no resync
    // left; the ESP mirror's superblocks sit at the partitions' end (metadata 1.0).
    let mut by_array: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for (serial, path) in set.members() {
        for sb in md_superblock_info(path) {
            eprintln!("qemu-raid-deploy: {serial}: {sb:?}");
            by_array.entry(sb.name.clone()).or_default().push(sb);
        }
    }
    let names: Vec<&String> = by_array.keys().collect();
    assert_eq!(by_array.len(), 3, "three arrays on the disks: {names:?}");
    for (name, sbs) in &by_array {
        assert_eq!(sbs.len(), 3, "{name}: a superblock on every disk: {sbs:?}");
        assert!(
            sbs.iter().all(|s| s.events == sbs[0].events
                && s.array_uuid == sbs[0].array_uuid
                && s.resync_offset == u64::MAX
                && !s.recovering),
            "{name}: members in sync: {sbs:?}"
        );
        let esp = name.ends_with(":esp");
        assert!(
            sbs.iter().all(|s| s.at_end() == esp),
            "{name}: metadata 1.0 for the ESP only: {sbs:?}"
        );
    }
    assert!(
        by_array.keys().any(|n| n.ends_with(":root"))
            && by_array.keys().any(|n| n.ends_with(":esp")),
        "{names:?}"
    );
    eprintln!("qemu-raid-deploy: done in {:.1?}", t0.elapsed());
}

#[test]
fn partition_image_in_a_raid1_root_boots() {
    let imgs = test_images();
    let server = ImageServer::start(imgs.clone());
    std::env::set_var("http_proxy", format!("http://127.0.0.1:{}", server.port));
    std::env::set_var("no_proxy", "127.0.0.1,localhost");
    // 551 MiB for the holders' ESP, then a RAID-1 root of ~1.7 GiB: 1 MiB + 549 MiB ESP +
    // 1 GiB root inside it.
    let set = DiskSet::new(
        "raid-deploy-part",
        vec![Disk::new(Bus::Virtio, 2304), Disk::new(Bus::Virtio, 2304)],
    );
    let vars = set.dir().join("OVMF_VARS.fd");
    let raid = json!({"logical_disks": [
        {"size_gb": "MAX", "raid_level": "1", "controller": "software",
         "volume_name": "root", "is_root_volume": true},
    ]});
    let s = uefi_raid_scenario("qemu-raid-deploy-part", &set, &vars, raid.clone());
    s.clean(
        json!([
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "deploy", "step": "erase_devices_metadata"},
            {"interface": "raid", "step": "create_configuration"},
        ]),
        Duration::from_secs(600),
    );
    s.provision_to(
        "provide",
        json!(null),
        "available",
        Duration::from_secs(300),
    );
    set_image(
        &s,
        &server,
        &imgs,
        "part.img",
        &[("image_type", json!("partition")), ("root_gb", json!(1))],
    );
    // `raid.apply_configuration` as a deploy step in front of `write_image` (deploy
    // templates, Metal3): the arrays are rebuilt at deploy time with the same UEFI layout
    // (the holders' ESP slot left free), and the image goes into the new root.
    let creates_before =
        s.vm.serial_log()
            .matches("mdadm --create /dev/md/root")
            .count();
    s.provision_to(
        "active",
        json!({"deploy_steps": [{"interface": "raid", "step": "apply_configuration",
                                 "args": {"raid_config": raid, "delete_existing": true},
                                 "priority": 90}]}),
        "active",
        Duration::from_secs(900),
    );
    let log = s.vm.serial_log();
    assert!(
        log.matches("mdadm --create /dev/md/root").count() > creates_before,
        "the deploy step did not rebuild the root array:\n{}",
        s.diagnostics(80)
    );
    for part in [
        "Using the software RAID root volume",
        "unit MiB mklabel gpt mkpart primary fat32 1 550",
        "of the image's /boot/efi/EFI onto the ESP",
        "--metadata=1.0 --level 1 --name esp --raid-devices 2",
    ] {
        assert!(log.contains(part), "{part:?}:\n{}", s.diagnostics(80));
    }
    let Scenario { vm, ironic, .. } = s;
    if vm.wait_exit(Duration::from_secs(60)).is_none() {
        eprintln!("qemu-raid-deploy: the ramdisk did not power off within 60 s; stopping QEMU");
    }
    drop(vm);
    drop(ironic);
    for i in 0..2 {
        let label = format!("ironic1 (RAID, part{i})");
        assert!(
            contains_utf16(&vars, &label),
            "NVRAM entry {label:?} is in the variable store"
        );
    }
    boot_instance(
        set.disks().to_vec(),
        &vars,
        "qemu-raid-deploy-part-instance",
    );
}

#[test]
fn bios_raid1_root_boots_from_any_holder() {
    bios_raid1_journey("msdos");
}

/// The same on GPT holders (`disk_label:gpt`): the agent makes a BIOS boot partition on each
/// holder in the 1-8 MiB the RAID planner left, GRUB's core image goes there.
#[test]
fn bios_raid1_root_on_gpt_holders_boots_from_any_holder() {
    bios_raid1_journey("gpt");
}

/// Clean (RAID-1 root over two disks) → provide → deploy of `raid-bios.img` for a BIOS node
/// whose holders get a `label` partition table; the disks boot under SeaBIOS with both holders
/// and with the first removed.
fn bios_raid1_journey(label: &str) {
    let name = format!("qemu-raid-deploy-bios-{label}");
    let imgs = test_images();
    let server = ImageServer::start(imgs.clone());
    std::env::set_var("http_proxy", format!("http://127.0.0.1:{}", server.port));
    std::env::set_var("no_proxy", "127.0.0.1,localhost");
    let set = DiskSet::new(
        &format!("raid-deploy-bios-{label}"),
        vec![Disk::new(Bus::Virtio, 1152), Disk::new(Bus::Virtio, 1152)],
    );
    let raid = json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software",
         "volume_name": "root", "is_root_volume": true},
    ]});
    // The ramdisk under SeaBIOS, the node in BIOS mode: on msdos holders the array starts
    // at the first usable sector (IPA's layout) and the gap before it is free; on GPT at
    // 8 MiB.
    let s = raid_scenario(
        &name,
        &set,
        Firmware::Bios,
        &format!("boot_mode:bios,disk_label:{label}"),
        raid,
    );
    s.clean(
        json!([
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "raid", "step": "create_configuration"},
        ]),
        Duration::from_secs(600),
    );
    s.provision_to(
        "provide",
        json!(null),
        "available",
        Duration::from_secs(300),
    );
    // No image_rootfs_uuid: the agent finds the file system with /boot/grub/grub.cfg.
    set_image(&s, &server, &imgs, "raid-bios.img", &[]);
    s.provision_to("active", json!(null), "active", Duration::from_secs(600));
    let log = s.vm.serial_log();
    for l in log.lines().filter(|l| {
        ["GRUB", "grub", "root volume", "written to"]
            .iter()
            .any(|w| l.contains(w))
    }) {
        eprintln!("{name}: console: {}", l.trim());
    }
    assert!(
        log.contains("is on every boot disk of /dev/md"),
        "install_bootloader put GRUB's boot code on every holder:\n{}",
        s.diagnostics(80)
    );
    let Scenario { vm, ironic, .. } = s;
    assert!(
        vm.wait_exit(Duration::from_secs(60)).is_some(),
        "the ramdisk did not power off within 60 s of the tear-down:\n{}",
        vm.serial_tail(60)
    );
    drop(vm);
    drop(ironic);

    // On the host: every holder's sector 0 is GRUB's boot sector pointing at the core image
    // (msdos: sector 1, in the gap; GPT: the BIOS boot partition at 1 MiB), the partition
    // table kept (the array member where it was).
    for (i, (serial, path)) in set.members().enumerate() {
        let mut s0 = [0u8; 512];
        std::os::unix::fs::FileExt::read_exact_at(&std::fs::File::open(path).unwrap(), &mut s0, 0)
            .unwrap();
        assert_eq!(s0[510..], [0x55, 0xaa], "{serial}");
        let core = u64::from_le_bytes(s0[0x5c..0x64].try_into().unwrap());
        if label == "msdos" {
            assert_eq!(core, 1, "{serial}: core image at sector 1");
            let start = u32::from_le_bytes([s0[0x1c6], s0[0x1c7], s0[0x1c8], s0[0x1c9]]);
            assert_eq!(
                start, 2048,
                "{serial}: the member partition is where it was"
            );
        } else {
            let parts = gpt_entries(path).unwrap_or_default();
            eprintln!("{name}: {serial}: {parts:?}");
            let bios: Vec<_> = parts
                .iter()
                .filter(|p| p.name.starts_with("bios-holder-"))
                .collect();
            assert_eq!(
                bios.len(),
                1,
                "{serial}: one BIOS boot partition: {parts:?}"
            );
            assert_eq!(
                (bios[0].first_lba, bios[0].last_lba, bios[0].name.as_str()),
                (2048, 8 * 2048 - 1, format!("bios-holder-{i}").as_str()),
                "{serial}"
            );
            assert_eq!(
                core, 2048,
                "{serial}: core image in the BIOS boot partition"
            );
            let member = parts
                .iter()
                .filter(|p| p.number != bios[0].number)
                .map(|p| p.first_lba)
                .min();
            assert_eq!(
                member,
                Some(8 * 2048),
                "{serial}: the member at 8 MiB: {parts:?}"
            );
        }
    }

    // The instance boots from the disks under SeaBIOS, and with the first holder removed.
    let log = boot_instance_with(
        set.disks().to_vec(),
        Firmware::Bios,
        &format!("{name}-instance"),
    );
    assert!(log.contains("BOOTMODE=bios"), "{log}");
    assert!(
        reads_root_through_md_on(&log, ",msdos1"),
        "GRUB reads the root file system on the RAID-1 root:\n{log}"
    );
    let log = boot_instance_with(
        set.disks()[1..].to_vec(),
        Firmware::Bios,
        &format!("{name}-instance-degraded"),
    );
    assert!(
        reads_root_through_md_on(&log, ",msdos1"),
        "with a holder missing, GRUB still reads the root file system:\n{log}"
    );
}

/// Points the node's `instance_info` at `name` on `server` (raw, its sha256 from
/// `tests/images/build`), plus `extra` fields.
fn set_image(
    s: &Scenario,
    server: &ImageServer,
    imgs: &Path,
    name: &str,
    extra: &[(&str, serde_json::Value)],
) {
    let sum = std::fs::read_to_string(imgs.join(format!("{name}.sha256"))).unwrap();
    let mut ops = vec![
        json!({"op": "add", "path": "/instance_info/image_source", "value": server.url(name)}),
        json!({"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"}),
        json!({"op": "add", "path": "/instance_info/image_os_hash_value", "value": sum.trim()}),
        json!({"op": "add", "path": "/instance_info/image_disk_format", "value": "raw"}),
    ];
    ops.extend(
        extra
            .iter()
            .map(|(k, v)| json!({"op": "add", "path": format!("/instance_info/{k}"), "value": v})),
    );
    s.ironic.patch_node(s.uuid(), serde_json::Value::Array(ops));
}

/// Polls the agent's /proc/mdstat until no array resyncs or recovers and every array has all
/// its members (`[UUU]`); returns it with `mdadm --detail --scan --verbose`.
fn wait_in_sync(vm: &Vm, limit: Duration) -> (String, String) {
    let t = Instant::now();
    let mut first = true;
    loop {
        let logs = vm.system_logs();
        let mdstat = logs.get("mdstat").cloned().unwrap_or_default();
        if first {
            eprintln!("qemu-raid-deploy: /proc/mdstat with the disk back:\n{mdstat}");
            first = false;
        }
        let busy = ["resync", "recovery", "DELAYED", "_"].iter().any(|w| {
            mdstat
                .lines()
                .any(|l| l.contains(w) && !l.starts_with("Personalities"))
        });
        if !busy && parse_mdstat(&mdstat).len() == 3 {
            eprintln!(
                "qemu-raid-deploy: in sync after {:.1?}:\n{mdstat}",
                t.elapsed()
            );
            let scan = logs.get("mdadm-detail-scan").cloned().unwrap_or_default();
            return (mdstat, scan);
        }
        assert!(
            t.elapsed() < limit,
            "the arrays did not finish resyncing within {limit:?}:\n{mdstat}"
        );
        std::thread::sleep(Duration::from_secs(5));
    }
}
