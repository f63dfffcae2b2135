//! Instance deployment end to end: the deploy ramdisk in QEMU writes the tiny test images of
//! `tests/images/build` onto virtual disks, driven by the real Ironic 39 with its default
//! `direct` deploy interface (fake power, noop management, fast track), then QEMU boots
//! **the deployed disk** under OVMF (no kernel of ours) and the instance prints its marker on
//! the serial console. Automated cleaning runs but erases nothing (both erase priorities 0):
//! erasure has its own tests (`qemu_erase.rs`), and here it would only cost time.
//!
//! 1. `direct_deploy_through_ironic_boots_the_instance`: the ramdisk under OVMF, its disk
//!    carrying a bootable image. provide → `deploy` with a wrong checksum → `deploy failed`
//!    with IPA's checksum message in `last_error`, and the disk (read on the host) has no
//!    partition table left. Then undeploy → `available` and, fast track on the same ramdisk,
//!    `deploy` again of the raw image with a config drive, served over http to both the conductor (HEAD, through a
//!    proxy setting) and the guest → `active`. On the host: the config-2 partition is on the
//!    disk, the NVRAM boot entry `image.install_bootloader` made is in the variable store;
//!    then the disk boots under OVMF with that store.
//! 2. `qcow2_deploy_through_ironic_lands_on_the_hinted_disk_and_boots`: a 256 MiB ramdisk
//!    VM (SeaBIOS, node boot mode `bios`), three disks: the conductor deploys a
//!    2 GiB-virtual qcow2 (336 MiB of file, more than the guest's RAM) → `active`; it lands
//!    on the disk the root device hint names, and only there; then that disk boots under
//!    OVMF.
//! 3. `partition_image_deploy_through_ironic_boots_the_instance`: the ramdisk under OVMF, a
//!    partition image (`image_type: partition`, `root_gb` 1: an ext4 root file system whose
//!    loader sits at `/boot/efi/EFI`) with an ext4 ephemeral partition (`ephemeral_gb` 1),
//!    64 MiB of swap and a config drive, Ironic 39's defaults (no
//!    `[agent]enable_bios_bootloader_install`: the agent copies the EFI assets without running
//!    anything from the image) → `active`; on the host: IPA's layout (ESP, ephemeral, swap,
//!    config drive, root last; ext4 `ephemeral0`, swap `swap1`), the root uuid the conductor recorded is the image's ext4 UUID, the image's
//!    `/etc/fstab` names the ESP, the NVRAM entry exists; then the disk boots under OVMF.

use agent_tests::disk_image::{content_digest, partition_table};
use agent_tests::image_server::ImageServer;
use agent_tests::ironic::{IronicOptions, NodeSpec};
use agent_tests::qemu::{repo_root, Boot, Bus, Disk, DiskSet, FileLock, Firmware, Vm, VmOptions};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use agent_tests::support::poll;
use serde_json::json;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MARKER: &str = "IRONIC-AGENT-TEST-INSTANCE-BOOTED";
const MIB: u64 = 1 << 20;

/// The test images (built once, cached in `target/test-images`).
fn images() -> PathBuf {
    let out = repo_root().join("target/test-images");
    let _l = FileLock::acquire(&repo_root().join("target/test-images.lock"));
    let st = Command::new(repo_root().join("tests/images/build"))
        .arg(&out)
        .status()
        .expect("running tests/images/build");
    assert!(st.success(), "tests/images/build failed");
    out
}

fn sha256_of(images: &Path, name: &str) -> String {
    std::fs::read_to_string(images.join(format!("{name}.sha256")))
        .unwrap()
        .trim()
        .to_string()
}

/// Boots the disks of `set` with no kernel of ours, the first one under OVMF (with the
/// variable store `vars`, else a fresh one), and waits for the instance's marker.
fn boot_instance(set: &DiskSet, vars: Option<PathBuf>, name: &str) -> String {
    let vm = Vm::boot(VmOptions {
        boot: Boot::Disk,
        firmware: Firmware::Ovmf { vars },
        disks: set.disks().to_vec(),
        max_runtime: Duration::from_secs(300),
        name: name.into(),
        ..VmOptions::default()
    });
    let t = Instant::now();
    let line = vm
        .wait_for_serial(MARKER, Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("the deployed disk did not boot under OVMF: {e}"));
    vm.wait_for_serial("BOOTMODE=uefi", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "qemu-deploy: {name}: the instance booted in {:.1?}",
        t.elapsed()
    );
    line
}

// ------------------------------------------------------------------------------------------
// Disk checks on the host
// ------------------------------------------------------------------------------------------

fn read_at(disk: &Path, offset: u64, len: usize) -> Vec<u8> {
    let f = std::fs::File::open(disk).unwrap();
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, offset).unwrap();
    b
}

/// The (first LBA, last LBA) of every used GPT partition entry (a non-zero type GUID) of a
/// disk image, or `None` without a GPT header at LBA 1.
fn gpt_partitions(disk: &Path) -> Option<Vec<(u64, u64)>> {
    let h = read_at(disk, 512, 92);
    if &h[..8] != b"EFI PART" {
        return None;
    }
    let le64 = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap());
    let entries = read_at(disk, 1024, 128 * 128);
    Some(
        entries
            .chunks(128)
            .filter(|e| e[..16].iter().any(|&b| b != 0))
            .map(|e| (le64(&e[32..40]), le64(&e[40..48])))
            .collect(),
    )
}

fn gpt_partition_count(disk: &Path) -> Option<usize> {
    gpt_partitions(disk).map(|p| p.len())
}

/// Whether `needle` occurs in the UTF-16LE text of a file (an OVMF variable store).
fn contains_utf16(path: &Path, needle: &str) -> bool {
    let data = std::fs::read(path).unwrap_or_default();
    let pattern: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    data.windows(pattern.len()).any(|w| w == pattern)
}

// ------------------------------------------------------------------------------------------
// The Ironic side
// ------------------------------------------------------------------------------------------

/// A config drive as the conductor passes a string through: base64 of a gzipped "ISO".
fn config_drive() -> String {
    use base64::Engine;
    let mut iso = vec![0u8; 64 * 1024];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    iso[0x8028..0x8030].copy_from_slice(b"config-2");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&iso).unwrap();
    base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
}

/// Starts Ironic (fast track, automated cleaning without erase steps), enrolls `node` with
/// fake power and noop management (`fake` management refuses the boot device `disk` the
/// deploy sets), boots the ramdisk with `vm` and provides the node (→ `available`). The
/// conductor HEADs the guest's image URLs (10.0.2.2, which the host cannot reach) through
/// `server` acting as a proxy; its calls to its API and to the agent go direct.
fn deploy_scenario(server: &ImageServer, node: NodeSpec, vm: VmOptions) -> Scenario {
    std::env::set_var("http_proxy", format!("http://127.0.0.1:{}", server.port));
    std::env::set_var("no_proxy", "127.0.0.1,localhost");
    let mut node = node;
    node.fields["power_interface"] = json!("fake");
    node.fields["management_interface"] = json!("noop");
    let s = Scenario::start(ScenarioOptions {
        ironic: IronicOptions {
            fast_track: true,
            erase_devices_priority: Some(0),
            erase_devices_metadata_priority: Some(0),
            ..IronicOptions::default()
        },
        node,
        vm: VmOptions {
            append: vec!["ipa-image-download-connection-retries=0".into()],
            ..vm
        },
        ..ScenarioOptions::default()
    });
    s.provision_to(
        "provide",
        json!(null),
        "available",
        Duration::from_secs(600),
    );
    s
}

/// Points the node's `instance_info` at an image of the server with a sha256 checksum.
fn set_image(s: &Scenario, url: &str, sha256: &str, disk_format: &str) {
    s.ironic.patch_node(
        s.uuid(),
        json!([
            {"op": "add", "path": "/instance_info/image_source", "value": url},
            {"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
            {"op": "add", "path": "/instance_info/image_os_hash_value", "value": sha256},
            {"op": "add", "path": "/instance_info/image_disk_format", "value": disk_format},
        ]),
    );
}

/// Waits until the conductor's tear-down powered the ramdisk off through the agent
/// (`standby.power_off`), then stops Ironic.
fn ramdisk_powered_off(s: Scenario) {
    let Scenario { vm, ironic, .. } = s;
    assert!(
        vm.wait_exit(Duration::from_secs(120)).is_some(),
        "standby.power_off after the deploy did not power the ramdisk off\n{}",
        vm.serial_tail(40)
    );
    drop(vm);
    drop(ironic);
}

// ------------------------------------------------------------------------------------------
// 1. Wrong checksum, then raw with a config drive, under OVMF
// ------------------------------------------------------------------------------------------

/// A deploy of `disk.img` with a wrong checksum: `deploy failed` with IPA's message in
/// `last_error`, the agent still serving, and the target disk without a partition table.
fn wrong_checksum_fails_and_wipes(s: &Scenario, server: &ImageServer, imgs: &Path, disk: &Path) {
    assert!(
        partition_table(disk).is_some(),
        "the disk must carry a bootable image before the failed deploy"
    );
    let wrong = "0".repeat(64);
    set_image(s, &server.url("disk.img"), &wrong, "raw");
    let t = Instant::now();
    s.ironic.provision(s.uuid(), "active", json!(null));
    // `deploy failed` keeps `active` as its target: wait for the state alone.
    let node = poll(Duration::from_secs(600), Duration::from_millis(500), || {
        let n = s.get_node();
        (n["provision_state"] == "deploy failed").then_some(n)
    })
    .unwrap_or_else(|| panic!("no deploy failed after 600 s\n{}", s.diagnostics(60)));
    eprintln!(
        "qemu-deploy: wrong checksum -> deploy failed in {:.1?}",
        t.elapsed()
    );
    let last_error = node["last_error"].as_str().unwrap_or_default();
    let actual = sha256_of(imgs, "disk.img");
    for part in [
        "Deploy step deploy.write_image failed".to_string(),
        "Image failed to verify against checksum".to_string(),
        server.url("disk.img"),
        format!("image checksum: {wrong}"),
        format!("verification checksum: {actual}"),
        "The partition tables of /dev/vda were wiped".to_string(),
    ] {
        assert!(
            last_error.contains(&part),
            "{part:?} missing in last_error: {last_error}"
        );
    }
    // The agent fsynced the wipe; QEMU (cache=unsafe) wrote it through to the file.
    assert_eq!(
        partition_table(disk),
        None,
        "after a checksum failure the disk must have no partition table"
    );
}

#[test]
fn direct_deploy_through_ironic_boots_the_instance() {
    let imgs = images();
    let server = ImageServer::start(imgs.clone());
    // The hint lets a disk below IPA's 4 GiB default minimum be the root device.
    let set = DiskSet::new(
        "deploy-ironic",
        vec![Disk::new(Bus::Virtio, 128).serial("QLAB-D0")],
    );
    // A bootable image before the failed deploy: afterwards it must be gone.
    let src = std::fs::read(imgs.join("disk.img")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(set.path(0))
        .and_then(|f| f.write_all_at(&src, 0))
        .unwrap();
    let vars = set.dir().join("OVMF_VARS.fd");
    let s = deploy_scenario(
        &server,
        NodeSpec::new("qemu-deploy").fields(json!({
            "properties": {"capabilities": "boot_mode:uefi", "root_device": {"serial": "QLAB-D0"}},
        })),
        VmOptions {
            firmware: Firmware::Ovmf {
                vars: Some(vars.clone()),
            },
            disks: set.disks().to_vec(),
            name: "qemu-deploy-ironic".into(),
            ..VmOptions::default()
        },
    );
    wrong_checksum_fails_and_wipes(&s, &server, &imgs, set.path(0));

    // Back to `available` as an operator retries: undeploy (cleaning, without erase steps).
    // The conductor wiped the agent's token and URL with the failure; the same ramdisk looks
    // the node up again during cleaning, so fast track carries the next deploy. (Deploying
    // again straight from `deploy failed` would "reboot" the ramdisk, which fake power
    // cannot do: the conductor would wait for a fresh agent without command history.)
    s.provision_to(
        "deleted",
        json!(null),
        "available",
        Duration::from_secs(600),
    );
    set_image(
        &s,
        &server.url("disk.img"),
        &sha256_of(&imgs, "disk.img"),
        "raw",
    );
    let node = s.provision_to(
        "active",
        json!({"configdrive": config_drive()}),
        "active",
        Duration::from_secs(600),
    );
    assert_eq!(
        node["driver_internal_info"]["root_uuid_or_disk_id"], "0x00000000",
        "get_partition_uuids' root uuid of a GPT whole-disk image: {node}"
    );
    let log = s.vm.serial_log();
    assert!(
        log.contains("verified (sha256) and written to /dev/vda"),
        "{}",
        s.diagnostics(60)
    );
    assert!(
        log.contains("Adding loader \\EFI\\BOOT\\BOOTX64.EFI on partition 1 of device /dev/vda"),
        "install_bootloader registers the image's loader: {}",
        s.diagnostics(60)
    );
    ramdisk_powered_off(s);

    let disk = set.path(0);
    assert_eq!(
        gpt_partition_count(disk),
        Some(2),
        "the image's ESP and the config drive partition"
    );
    // The config drive's ISO 9660 volume descriptor (`CD001` at byte 0x8001) starts the
    // partition IPA's rule makes in the last 64 MiB of the disk.
    let size = std::fs::metadata(disk).unwrap().len();
    let parts = gpt_partitions(disk).unwrap_or_default();
    let config_drive = parts
        .iter()
        .find(|(first, _)| read_at(disk, first * 512 + 0x8001, 5) == b"CD001");
    assert!(
        config_drive.is_some_and(|(first, _)| size - first * 512 <= 66 * MIB),
        "no config drive at the disk's end: partitions {parts:?} of a {size}-byte disk"
    );
    assert!(
        contains_utf16(&vars, "ironic1"),
        "install_bootloader's NVRAM entry ironic1 is in the variable store"
    );
    boot_instance(&set, Some(vars), "qemu-deploy-instance-raw");
}

// ------------------------------------------------------------------------------------------
// 2. qcow2 larger than the guest's RAM, root device hints
// ------------------------------------------------------------------------------------------

#[test]
fn qcow2_deploy_through_ironic_lands_on_the_hinted_disk_and_boots() {
    let imgs = images();
    let server = ImageServer::start(imgs.clone());
    let set = DiskSet::new(
        "deploy-qcow2",
        vec![
            Disk::new(Bus::Virtio, 64).serial("QLAB-D0"),
            Disk::new(Bus::Virtio, 2112).serial("QLAB-D1"),
            Disk::new(Bus::Virtio, 64).serial("QLAB-D2"),
        ],
    );
    let untouched = [content_digest(set.path(0)), content_digest(set.path(2))];
    // Boot mode bios: no install_bootloader (shown under OVMF above), so SeaBIOS suffices.
    let s = deploy_scenario(
        &server,
        NodeSpec::new("qemu-deploy-qcow2").fields(json!({
            "properties": {"capabilities": "boot_mode:bios", "root_device": {"serial": "QLAB-D1"}},
        })),
        VmOptions {
            memory_mib: 256,
            disks: set.disks().to_vec(),
            name: "qemu-deploy-qcow2".into(),
            ..VmOptions::default()
        },
    );
    set_image(
        &s,
        &server.url("big.qcow2"),
        &sha256_of(&imgs, "big.qcow2"),
        "qcow2",
    );
    s.provision_to("active", json!(null), "active", Duration::from_secs(900));
    let log = s.vm.serial_log();
    assert!(
        log.contains("Image big.qcow2 (Qcow2,") && log.contains("written to /dev/vdb"),
        "big.qcow2 decoded onto the hinted disk: {}",
        s.diagnostics(60)
    );
    let figures = log
        .lines()
        .rev()
        .find(|l| l.contains("peak RSS"))
        .map(str::to_string);
    eprintln!("qemu-deploy: {}", figures.unwrap_or_default());
    ramdisk_powered_off(s);

    assert_eq!(
        [content_digest(set.path(0)), content_digest(set.path(2))],
        untouched,
        "the disks the hint does not name must be untouched"
    );
    assert_eq!(
        gpt_partition_count(set.path(1)),
        Some(2),
        "big.qcow2 (ESP + data) on D1"
    );
    // The qcow2-deployed disk first: the firmware boots the first disk.
    let boot_set = DiskSet::new(
        "deploy-qcow2-boot",
        vec![Disk::file(Bus::Virtio, set.path(1)).read_only()],
    );
    boot_instance(&boot_set, None, "qemu-deploy-instance-qcow2");
}

// ------------------------------------------------------------------------------------------
// 3. A partition image under OVMF
// ------------------------------------------------------------------------------------------

/// A file system's UUID as `blkid` reads it from a host file.
fn fs_uuid(path: &Path) -> String {
    let out = Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "UUID"])
        .arg(path)
        .output()
        .expect("running blkid");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A file of the ext4 file system in `disk` at `first_lba` (`size` bytes), read with debugfs.
fn ext4_file(disk: &Path, first_lba: u64, size: u64, file: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let fs = dir.path().join("root.ext4");
    let data = read_at(disk, first_lba * 512, size as usize);
    std::fs::write(&fs, data).unwrap();
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {file}"))
        .arg(&fs)
        .output()
        .expect("running debugfs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn partition_image_deploy_through_ironic_boots_the_instance() {
    let imgs = images();
    let server = ImageServer::start(imgs.clone());
    // 1 MiB + 550 MiB ESP + 1 GiB ephemeral + 64 MiB swap + the config drive + 1 GiB root
    // (sparse), and the hint.
    let set = DiskSet::new(
        "deploy-part",
        vec![Disk::new(Bus::Virtio, 2700).serial("QLAB-D0")],
    );
    let vars = set.dir().join("OVMF_VARS.fd");
    let s = deploy_scenario(
        &server,
        NodeSpec::new("qemu-deploy-part").fields(json!({
            "properties": {"capabilities": "boot_mode:uefi", "root_device": {"serial": "QLAB-D0"}},
        })),
        VmOptions {
            firmware: Firmware::Ovmf {
                vars: Some(vars.clone()),
            },
            disks: set.disks().to_vec(),
            name: "qemu-deploy-part".into(),
            ..VmOptions::default()
        },
    );
    set_image(
        &s,
        &server.url("part.img"),
        &sha256_of(&imgs, "part.img"),
        "raw",
    );
    s.ironic.patch_node(
        s.uuid(),
        json!([
            {"op": "add", "path": "/instance_info/image_type", "value": "partition"},
            {"op": "add", "path": "/instance_info/root_gb", "value": 1},
            // ephemeral_format is left to the conductor's [pxe]default_ephemeral_format (ext4).
            {"op": "add", "path": "/instance_info/ephemeral_gb", "value": 1},
            {"op": "add", "path": "/instance_info/swap_mb", "value": 64},
        ]),
    );
    let node = s.provision_to(
        "active",
        json!({"configdrive": config_drive()}),
        "active",
        Duration::from_secs(600),
    );
    let image_uuid = fs_uuid(&imgs.join("part.img"));
    assert!(!image_uuid.is_empty(), "part.img has an ext4 UUID");
    assert_eq!(
        node["driver_internal_info"]["root_uuid_or_disk_id"], image_uuid,
        "get_partition_uuids' root uuid of a partition image is its file system UUID: {node}"
    );
    let log = s.vm.serial_log();
    for part in [
        "Partitioning /dev/vda for a partition image",
        "verified (sha256) and written to /dev/vda5",
        "of the image's /boot/efi/EFI onto the ESP /dev/vda1",
        "Adding loader \\EFI\\BOOT\\BOOTX64.EFI on partition 1 of device /dev/vda",
    ] {
        assert!(log.contains(part), "{part:?}: {}", s.diagnostics(80));
    }
    ramdisk_powered_off(s);

    // IPA's layout: ESP (550 MiB from 1 MiB), ephemeral, swap, the config drive, root last.
    let disk = set.path(0);
    let parts = gpt_partitions(disk).unwrap_or_default();
    assert_eq!(
        parts.len(),
        5,
        "ESP, ephemeral, swap, config drive, root: {parts:?}"
    );
    assert_eq!(parts[0], (2048, 2048 + 550 * 2048 - 1), "the ESP");
    // ext4 (superblock magic 0xEF53 at 1024 + 56) labelled ephemeral0 (at 1024 + 120).
    let sb = read_at(disk, parts[1].0 * 512 + 1024, 136);
    assert_eq!(
        &sb[56..58],
        &[0x53, 0xef],
        "ext4 on the ephemeral partition"
    );
    assert_eq!(&sb[120..130], b"ephemeral0");
    assert_eq!(
        (parts[1].1 + 1 - parts[1].0) * 512,
        1024 * MIB,
        "ephemeral_mb = 1024 × ephemeral_gb"
    );
    // Swap: the signature ends the first 4 KiB page, the label is at 1052.
    assert_eq!(
        read_at(disk, parts[2].0 * 512 + 4086, 10),
        b"SWAPSPACE2",
        "mkswap on the swap partition"
    );
    assert_eq!(read_at(disk, parts[2].0 * 512 + 1052, 5), b"swap1");
    assert_eq!(
        read_at(disk, parts[3].0 * 512 + 0x8001, 5),
        b"CD001",
        "the config drive"
    );
    let (root_first, root_last) = parts[4];
    assert_eq!(
        (root_last + 1 - root_first) * 512,
        1024 * MIB,
        "root_mb = 1024 × root_gb"
    );
    let fstab = ext4_file(disk, root_first, 16 * MIB, "/etc/fstab");
    assert!(
        fstab.contains("/boot/efi\tvfat\tumask=0077"),
        "the ESP in the image's fstab: {fstab:?}"
    );
    assert!(
        contains_utf16(&vars, "ironic1"),
        "install_bootloader's NVRAM entry ironic1 is in the variable store"
    );
    boot_instance(&set, Some(vars), "qemu-deploy-instance-part");
}

// ------------------------------------------------------------------------------------------
// 4. A partition image in BIOS mode: the ramdisk's GRUB in front of the image's grub.cfg
// ------------------------------------------------------------------------------------------

/// A partition image for a node in BIOS mode, with Ironic 39's defaults
/// (`enable_bios_bootloader_install` off): `write_image` lays out an msdos disk with the root
/// at 1 MiB, `install_bootloader` puts the deploy ramdisk's GRUB into the MBR and the gap
/// after it, pointed at the image's `/boot/grub/grub.cfg` (nothing of the image runs in the
/// ramdisk); the disk boots under SeaBIOS and GRUB reads the root file system.
#[test]
fn bios_partition_image_boots_through_the_ramdisks_grub() {
    let imgs = images();
    let server = ImageServer::start(imgs.clone());
    // Below IPA's 4 GiB minimum for a disk without hints: the hint names it.
    let set = DiskSet::new(
        "deploy-part-bios",
        vec![Disk::new(Bus::Virtio, 1100).serial("QLAB-B0")],
    );
    let s = deploy_scenario(
        &server,
        NodeSpec::new("qemu-deploy-part-bios").fields(json!({
            "properties": {"capabilities": "boot_mode:bios", "root_device": {"serial": "QLAB-B0"}},
        })),
        VmOptions {
            disks: set.disks().to_vec(),
            name: "qemu-deploy-part-bios".into(),
            ..VmOptions::default()
        },
    );
    set_image(
        &s,
        &server.url("part-bios.img"),
        &sha256_of(&imgs, "part-bios.img"),
        "raw",
    );
    s.ironic.patch_node(
        s.uuid(),
        json!([
            {"op": "add", "path": "/instance_info/image_type", "value": "partition"},
            {"op": "add", "path": "/instance_info/root_gb", "value": 1},
        ]),
    );
    let node = s.provision_to("active", json!(null), "active", Duration::from_secs(600));
    let image_uuid = fs_uuid(&imgs.join("part-bios.img"));
    assert_eq!(
        node["driver_internal_info"]["root_uuid_or_disk_id"], image_uuid,
        "{node}"
    );
    let log = s.vm.serial_log();
    for part in [
        "Partitioning /dev/vda for a partition image",
        &format!("The image's GRUB configuration is /boot/grub/grub.cfg on /dev/vda1 (UUID {image_uuid})"),
        "is on every boot disk of /dev/vda: /dev/vda at sector 1",
    ] {
        assert!(log.contains(part), "{part:?}: {}", s.diagnostics(80));
    }
    ramdisk_powered_off(s);

    // On the host: msdos, the root at 1 MiB and bootable, GRUB's boot sector pointing at
    // the core image in sector 1.
    let disk = set.path(0);
    let s0 = read_at(disk, 0, 512);
    assert_eq!(
        s0[0x5c..0x64],
        1u64.to_le_bytes(),
        "the core image at sector 1"
    );
    assert_eq!(s0[0x1be], 0x80, "the root partition is marked bootable");
    assert_eq!(s0[510..], [0x55, 0xaa]);
    let vm = Vm::boot(VmOptions {
        boot: Boot::Disk,
        disks: set.disks().to_vec(),
        max_runtime: Duration::from_secs(300),
        name: "qemu-deploy-instance-part-bios".into(),
        ..VmOptions::default()
    });
    vm.wait_for_serial(MARKER, Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("the deployed disk did not boot under SeaBIOS: {e}"));
    let _ = vm.wait_exit(Duration::from_secs(60));
    let log = vm.serial_log();
    assert!(log.contains("BOOTMODE=bios"), "{log}");
    assert!(
        log.contains("ROOTFS=hd0,msdos1") && log.contains("ROOT-FILESYSTEM-READ-THROUGH-GRUB"),
        "GRUB found the image's root file system:\n{log}"
    );
}
