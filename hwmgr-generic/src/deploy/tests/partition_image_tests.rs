//! `write_image` of a partition image on a fake machine: the partitions parted would make
//! already exist in sysfs and `/dev` (the runner only records parted), the image is served
//! over loopback HTTP, `blkid` answers are scripted.

use super::*;

const ROOT_UUID: &str = "5f1c2d7e-0000-4000-8000-00000000abcd";
const ESP_UUID: &str = "ABCD-1234";

/// vda (5 GiB) with the partitions of a uefi layout with a 1 MiB config drive and root_mb
/// 1024: vda1 ESP 1–551 MiB, vda2 config drive 551–552, vda3 root 552–1576.
fn part_bed(settings: DeploySettings) -> Bed {
    let dir = scratch();
    let mib = 1u64 << 20;
    let parts = [("vda1", 1, 550), ("vda2", 551, 1), ("vda3", 552, 1024)];
    let mut fm = FakeMachine::new(dir.path())
        .virtio("vda", 5 * GIB)
        .serial("D0");
    for (name, start, size) in parts {
        fm = fm.partition("vda", name, start * mib, size * mib);
    }
    drop(fm);
    std::fs::create_dir_all(dir.path().join("sys/firmware/efi")).unwrap();
    let dev = dir.path().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let f = std::fs::File::create(dev.join("vda")).unwrap();
    f.set_len(5 * GIB).unwrap();
    // Old data at both ends: the deploy must wipe it.
    use std::os::unix::fs::FileExt;
    f.write_all_at(&vec![0xffu8; 1 << 20], 0).unwrap();
    f.write_all_at(&vec![0xffu8; 1 << 20], 5 * GIB - (1 << 20))
        .unwrap();
    for (name, _, size) in parts {
        std::fs::File::create(dev.join(name))
            .unwrap()
            .set_len(size * mib)
            .unwrap();
    }
    bed_with_blkid(
        dir,
        settings,
        "dev/vda3",
        "PART_ENTRY_UUID=0b3f\n",
        "dev/vda1",
    )
}

/// A "file system image" of 3 MiB.
fn fs_image() -> Vec<u8> {
    (0..3 << 20).map(|i| (i % 241) as u8).collect()
}

fn part_info(url: &str, sum: &str) -> Value {
    json!({"id": "part.img", "urls": [url], "disk_format": "raw", "stream_raw_images": true,
           "os_hash_algo": "sha256", "os_hash_value": sum, "node_uuid": "n-1",
           "image_type": "partition", "root_gb": 1, "root_mb": 1024, "swap_mb": 0,
           "ephemeral_mb": 0, "ephemeral_format": null, "preserve_ephemeral": false,
           "deploy_boot_mode": "uefi", "boot_option": "local", "disk_label": "gpt"})
}

fn uefi_node() -> Value {
    json!({"properties": {"capabilities": "boot_mode:uefi"}, "instance_info": {}})
}

fn config_drive_b64() -> String {
    use base64::Engine;
    let mut iso = vec![0u8; 64 * 1024];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&iso).unwrap();
    base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap())
}

fn read(b: &Bed, name: &str, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    use std::os::unix::fs::FileExt;
    std::fs::File::open(b.root.join("dev").join(name))
        .unwrap()
        .read_exact_at(&mut v, 0)
        .unwrap();
    v
}

#[test]
fn a_partition_image_gets_ipa_layout_file_systems_config_drive_and_uuids() {
    let img = fs_image();
    let srv = serve(vec![("/part.img", Reply::Body(img.clone()))]);
    let b = part_bed(settings());
    let mut c = call(part_info(&srv.url("/part.img"), &sha256(&img)), uefi_node());
    c.args
        .insert("configdrive".into(), Value::String(config_drive_b64()));
    let r = b.deployer.write_image(&c).unwrap();
    assert_eq!(
        r["result"],
        format!(
            "prepare_image: image (part.img) written to device /dev/vda root_uuid={ROOT_UUID} \
             efi_system_partition_uuid={ESP_UUID}"
        )
    );
    assert_eq!(
        b.deployer.get_partition_uuids(),
        json!({
            "partitions": {"efi system partition": "/dev/vda1", "configdrive": "/dev/vda2",
                           "root": "/dev/vda3"},
            "root uuid": ROOT_UUID,
            "efi system partition uuid": ESP_UUID,
        })
    );
    let root = b.root.to_string_lossy().into_owned();
    let lines = b.runner.lines();
    let parted = format!(
        "parted -a optimal -s {root}/dev/vda -- unit MiB mklabel gpt mkpart primary fat32 1 551 \
         set 1 boot on mkpart primary 551 552 mkpart primary 552 1576"
    );
    assert!(lines.contains(&parted), "{lines:#?}");
    assert!(
        lines.contains(&format!("mkdosfs -n efi-part {root}/dev/vda1")),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("dev/vda3") && !l.starts_with("blkid")),
        "nothing but blkid touches the root partition's node through a tool: {lines:#?}"
    );
    assert_eq!(
        read(&b, "vda3", img.len()),
        img,
        "the image is in the root partition"
    );
    assert_eq!(&read(&b, "vda2", 0x8006)[0x8001..], b"CD001");
    assert!(
        read(&b, "vda", 1 << 20).iter().all(|&x| x == 0),
        "the old metadata at the disk's start was wiped before partitioning"
    );
}

#[test]
fn a_failed_partition_image_write_leaves_no_partition_table() {
    let img = fs_image();
    let srv = serve(vec![("/part.img", Reply::Body(img.clone()))]);
    let b = part_bed(settings());
    // preserve_ephemeral skips the wipe before partitioning: the wipe seen here is the one
    // after the failure.
    let mut i = part_info(&srv.url("/part.img"), &"0".repeat(64));
    i["preserve_ephemeral"] = json!(true);
    let mut c = call(i, uefi_node());
    c.args
        .insert("configdrive".into(), Value::String(config_drive_b64()));
    let e = b.deployer.write_image(&c).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ImageChecksumError, "{}", e.details);
    assert!(
        e.details
            .contains("The partition table of /dev/vda was wiped, so no half-built layout"),
        "{}",
        e.details
    );
    assert!(ends_are_zero(&b, "vda"));
    assert!(
        read(&b, "vda3", 1 << 20).iter().all(|&x| x == 0),
        "the unverified image's start in the root partition was wiped too"
    );
    assert_eq!(b.deployer.get_partition_uuids(), json!({}));
    assert!(
        !b.runner.lines().iter().any(|l| l.starts_with("mkdosfs")),
        "nothing is formatted after the image failed"
    );
}

#[test]
fn partition_images_that_cannot_work_are_refused_before_the_disk_is_touched() {
    let img = fs_image();
    let srv = serve(vec![("/part.img", Reply::Body(img.clone()))]);
    let url = srv.url("/part.img");
    let sum = sha256(&img);
    let b = part_bed(settings());
    let before = read(&b, "vda", 1 << 20);

    // A BIOS node, but the ramdisk booted in UEFI mode: no BIOS boot code is made then.
    let bios = json!({"properties": {"capabilities": "boot_mode:bios"}});
    let e = b
        .deployer
        .write_image(&call(part_info(&url, &sum), bios.clone()))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImage);
    for part in [
        "partition image for a node in BIOS mode, but the deploy ramdisk booted in UEFI mode",
        "Nothing was written to /dev/vda",
    ] {
        assert!(e.details.contains(part), "{part:?} in {}", e.details);
    }

    // A root partition larger than the disk: both sizes named.
    let mut i = part_info(&url, &sum);
    i["root_mb"] = json!(8192);
    let e = b.deployer.write_image(&call(i, uefi_node())).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
    assert!(
        e.details.contains("root partition of 8192 MiB") && e.details.contains("(5120 MiB)"),
        "{}",
        e.details
    );

    // A UEFI node, but the ramdisk booted in BIOS mode: no NVRAM entry could be made.
    std::fs::remove_dir(b.root.join("sys/firmware/efi")).unwrap();
    let e = b
        .deployer
        .write_image(&call(part_info(&url, &sum), uefi_node()))
        .unwrap_err();
    assert!(
        e.details.contains("the deploy ramdisk booted in BIOS mode"),
        "{}",
        e.details
    );
    // A BIOS node and ramdisk, but the ramdisk lacks GRUB's i386-pc files.
    let e = b
        .deployer
        .write_image(&call(part_info(&url, &sum), bios))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImage);
    for part in [
        "partition image and the node boots in BIOS mode",
        "lacks GRUB for BIOS",
        "/usr/lib/grub/i386-pc/boot.img",
        "Nothing was written to /dev/vda",
    ] {
        assert!(e.details.contains(part), "{part:?} in {}", e.details);
    }
    std::fs::create_dir_all(b.root.join("sys/firmware/efi")).unwrap();

    // A tool missing from the ramdisk.
    b.runner.without_program("mkdosfs");
    let e = b
        .deployer
        .write_image(&call(part_info(&url, &sum), uefi_node()))
        .unwrap_err();
    assert!(
        e.details.contains("the deploy ramdisk lacks mkdosfs"),
        "{}",
        e.details
    );

    assert!(b.runner.lines().is_empty(), "{:#?}", b.runner.lines());
    assert_eq!(read(&b, "vda", 1 << 20), before);
    assert!(srv.hits.lock().unwrap().is_empty(), "not even downloaded");
}

/// A RAID-1 root `md127` (named `root`) over vda2 + vdb2, 2 GiB, with the partitions a uefi
/// layout makes inside it (root_mb 1024, no config drive): md127p1 ESP 1–550 MiB (sized
/// for the mirrored ESP of the holders), md127p2 root 550–1574 MiB.
fn raid_bed() -> Bed {
    let dir = scratch();
    let mib = 1u64 << 20;
    let mut fm = FakeMachine::new(dir.path());
    for (disk, serial) in [("vda", "D0"), ("vdb", "D1")] {
        fm = fm.virtio(disk, 3 * GIB).serial(serial).partition(
            disk,
            &format!("{disk}2"),
            551 * mib,
            2 * GIB,
        );
    }
    fm = fm.md("md127", "raid1", &["vda2", "vdb2"]).md_name("root");
    for (name, start, size) in [("md127p1", 1, 549), ("md127p2", 550, 1024)] {
        fm = fm.partition("md127", name, start * mib, size * mib);
    }
    drop(fm);
    std::fs::create_dir_all(dir.path().join("sys/firmware/efi")).unwrap();
    let dev = dir.path().join("dev");
    for (name, size) in [
        ("vda", 3 * GIB),
        ("vdb", 3 * GIB),
        ("md127", 2 * GIB),
        ("md127p1", 549 * mib),
        ("md127p2", 1024 * mib),
    ] {
        std::fs::File::create(dev.join(name))
            .unwrap()
            .set_len(size)
            .unwrap();
    }
    bed_with_blkid(dir, settings(), "dev/md127p2", "", "dev/md127p1")
}

/// A bed on the machine in `dir` whose blkid knows the image's root (ext4, with `root_extra`
/// lines) and the fresh ESP by their UUIDs.
fn bed_with_blkid(
    dir: tempfile::TempDir,
    settings: DeploySettings,
    root_part: &str,
    root_extra: &str,
    esp_part: &str,
) -> Bed {
    let root = dir.path().to_path_buf();
    let runner = Arc::new(RecordingRunner::new());
    let r = |p: &str| root.join(p).to_string_lossy().into_owned();
    runner.on(
        &["blkid", "-p", "-o", "export", &r(root_part)],
        &format!("UUID={ROOT_UUID}\nTYPE=ext4\n{root_extra}"),
    );
    runner.on(
        &["blkid", "-p", "-o", "export", &r(esp_part)],
        &format!("UUID={ESP_UUID}\nTYPE=vfat\n"),
    );
    let m = Machine::new(Host::new(&root), runner.clone());
    Bed {
        _dir: dir,
        root,
        runner,
        deployer: Deployer::new(m, SharedSettings::new(settings)),
    }
}

#[test]
fn a_partition_image_in_a_raid1_root_gets_an_esp_that_fits_the_holders_mirror() {
    let img = fs_image();
    let srv = serve(vec![("/part.img", Reply::Body(img.clone()))]);
    let b = raid_bed();
    let node = json!({
        "properties": {"capabilities": "boot_mode:uefi"},
        "target_raid_config": {"logical_disks": [
            {"size_gb": "MAX", "raid_level": "1", "controller": "software",
             "volume_name": "root", "is_root_volume": true}]},
    });
    let r = b
        .deployer
        .write_image(&call(part_info(&srv.url("/part.img"), &sha256(&img)), node))
        .unwrap();
    assert_eq!(
        r["result"],
        format!(
            "prepare_image: image (part.img) written to device /dev/md127 \
             root_uuid={ROOT_UUID} efi_system_partition_uuid={ESP_UUID}"
        )
    );
    let root = b.root.to_string_lossy().into_owned();
    let parted = format!(
        "parted -a optimal -s {root}/dev/md127 -- unit MiB mklabel gpt mkpart primary fat32 1 \
         550 set 1 boot on mkpart primary 550 1574"
    );
    assert!(
        b.runner.lines().contains(&parted),
        "{:#?}",
        b.runner.lines()
    );
    assert_eq!(read(&b, "md127p2", img.len()), img);
    assert_eq!(
        b.deployer.get_partition_uuids()["partitions"],
        json!({"efi system partition": "/dev/md127p1", "root": "/dev/md127p2"})
    );
}

/// `install_bootloader` for a partition image under UEFI, with Ironic's default
/// (`enable_bios_bootloader_install` false): the fresh ESP is empty, so the image's
/// `/boot/efi/EFI` is copied onto it and registered, and the image's fstab gets the ESP.
/// The runner only records `mount`, so the mount points are plain directories here: the
/// root's holds what the image would show.
#[test]
fn install_bootloader_copies_the_images_efi_assets_and_registers_them() {
    let dir = scratch();
    let _fm = FakeMachine::new(dir.path())
        .uefi()
        .virtio("vda", 5 * GIB)
        .serial("D0")
        .partition("vda", "vda1", 1 << 20, 2 << 20)
        .partition("vda", "vda2", 4 << 20, 1 << 20);
    let devdir = dir.path().join("dev");
    std::fs::create_dir_all(&devdir).unwrap();
    std::fs::write(devdir.join("vda"), gpt_image()).unwrap();
    std::fs::write(devdir.join("vda1"), b"").unwrap();
    std::fs::write(devdir.join("vda2"), b"").unwrap();
    let image_root = dir.path().join("run/ironic-agent/root");
    std::fs::create_dir_all(image_root.join("boot/efi/EFI/BOOT")).unwrap();
    std::fs::write(
        image_root.join("boot/efi/EFI/BOOT/BOOTX64.EFI"),
        b"MZloader",
    )
    .unwrap();
    std::fs::create_dir_all(image_root.join("etc")).unwrap();
    std::fs::write(image_root.join("etc/fstab"), "").unwrap();
    let runner = Arc::new(RecordingRunner::new());
    let r = dir.path().display().to_string();
    runner.on(
        &["blkid", "-p", "-o", "export", &format!("{r}/dev/vda1")],
        &format!("UUID={ESP_UUID}\nTYPE=vfat\n"),
    );
    runner.on(
        &["blkid", "-p", "-o", "export", &format!("{r}/dev/vda2")],
        &format!("UUID={ROOT_UUID}\nTYPE=ext4\n"),
    );
    runner.on(&["efibootmgr", "-v"], "BootCurrent: 0001\n");
    let d = Deployer::new(
        Machine::new(Host::new(dir.path()), runner.clone()),
        SharedSettings::new(settings()),
    );
    let c = StepCall {
        args: json!({"root_uuid": ROOT_UUID, "efi_system_part_uuid": ESP_UUID,
                     "prep_boot_part_uuid": null, "target_boot_mode": "uefi"})
        .as_object()
        .unwrap()
        .clone(),
        ..StepCall::default()
    };
    d.install_bootloader(&c).unwrap();
    let lines: Vec<String> = runner
        .lines()
        .into_iter()
        .map(|l| l.replace(&r, ""))
        .collect();
    let pos = |s: &str| {
        lines
            .iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{s:?} not run: {lines:#?}"))
    };
    let root_mount = pos("mount -t ext4 -o nosuid,nodev,noexec /dev/vda2 /run/ironic-agent/root");
    let esp_rw = pos("mount -t vfat /dev/vda1 /run/ironic-agent/esp");
    let create = pos("efibootmgr -v -c -d /dev/vda -p 1 -w -L ironic1 -l \\EFI\\BOOT\\BOOTX64.EFI");
    let root_umount = pos("umount /run/ironic-agent/root");
    assert!(
        root_mount < esp_rw && esp_rw < root_umount && root_umount < create,
        "{lines:#?}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("run/ironic-agent/esp/EFI/BOOT/BOOTX64.EFI")).unwrap(),
        b"MZloader",
        "the image's loader is on the ESP"
    );
    assert_eq!(
        std::fs::read_to_string(image_root.join("etc/fstab")).unwrap(),
        format!("UUID={ESP_UUID}\t/boot/efi\tvfat\tumask=0077\t0\t1\n")
    );

    // Nothing under /boot/efi/EFI: only GRUB could boot it; IPA's message with Ironic's
    // default, ours when the conductor allows GRUB (this agent never runs it).
    std::fs::remove_dir_all(image_root.join("boot")).unwrap();
    std::fs::remove_dir_all(dir.path().join("run/ironic-agent/esp/EFI")).unwrap();
    let e = d.install_bootloader(&c).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidImage);
    assert!(
        e.details
            .contains("disabled by CONF.enable_bios_bootloader_install")
            && e.details.contains("no loader under /boot/efi/EFI"),
        "{}",
        e.details
    );
    let allowed = Deployer::new(
        Machine::new(Host::new(dir.path()), runner.clone()),
        SharedSettings::new(DeploySettings {
            enable_bios_bootloader_install: true,
            ..settings()
        }),
    );
    let e = allowed.install_bootloader(&c).unwrap_err();
    assert!(
        e.details
            .contains("never runs the image's programs inside the deploy ramdisk"),
        "{}",
        e.details
    );
}
