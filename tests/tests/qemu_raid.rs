//! QEMU proofs of "Software RAID with mdadm": the real kernel, the real mdadm (and parted,
//! wipefs, ...) of the deploy ramdisk, on virtio, NVMe and SCSI disks, driven through the
//! agent's API exactly as the conductor drives it.
//!
//! The disk images are checked from the host too (`agent_tests::disk_image`: md superblocks,
//! partition tables, content digests). A [`DiskSet`] keeps them across VMs: a reboot is a new
//! VM on the same images, a pre-partitioned member is written before the first boot. The
//! fault-injection test boots a variant of the initramfs ([`Boot::Kernel`]).

use agent_tests::disk_image::{
    assert_no_metadata, content_digest, md_superblocks, parse_mdstat, partition_table, write_mbr,
};
use agent_tests::qemu::{self, Boot, Bus, Disk, DiskSet, Vm, VmOptions, TEST_TOKEN};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Boot to a serving API: ~8 s under TCG when idle; allow for a busy host (and for a
/// ramdisk rebuild by the harness before the first boot).
const AGENT_UP: Duration = Duration::from_secs(240);

/// Disk size of every member: a 1 GiB RAID-1 root and ~1 GiB per member for the MAX array.
const DISK_MIB: u64 = 2048;

/// Images of `DISK_MIB` on `buses`, kept across the VMs of one test.
fn disk_set(label: &str, buses: &[Bus]) -> DiskSet {
    DiskSet::new(
        &format!("qemu-raid-{label}"),
        buses.iter().map(|b| Disk::new(*b, DISK_MIB)).collect(),
    )
}

/// The VM of these tests on `set`: 384 MiB (mdadm and parted on 2 GiB disks), the agent
/// without Ironic; returns once its API answers.
fn boot(name: &str, set: &DiskSet, boot: Boot) -> Vm {
    let vm = Vm::boot(vm_options(name, set, boot));
    vm.wait_api(AGENT_UP);
    vm
}

fn vm_options(name: &str, set: &DiskSet, boot: Boot) -> VmOptions {
    VmOptions {
        name: name.into(),
        boot,
        memory_mib: 384,
        disks: set.disks().to_vec(),
        agent_token: Some(TEST_TOKEN.into()),
        max_runtime: Duration::from_secs(900),
        ..VmOptions::default()
    }
}

// ------------------------------------------------------------------------------------------
// Reading the guest's state
// ------------------------------------------------------------------------------------------

/// `ARRAY` entries of `mdadm --detail --scan --verbose`: the device and its `key=value`
/// fields (`level`, `num-devices`, `name`, `devices`, ...).
fn parse_detail_scan(text: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut out: Vec<(String, HashMap<String, String>)> = Vec::new();
    for l in text.lines() {
        let mut words = l.split_whitespace();
        match words.next() {
            Some("ARRAY") => {
                let dev = words.next().unwrap_or("").to_string();
                let kv = words
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                out.push((dev, kv));
            }
            Some(w) if w.starts_with("devices=") => {
                if let Some(last) = out.last_mut() {
                    last.1
                        .insert("devices".into(), w["devices=".len()..].to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// The kernel's partition name (`nvme0n1` + 2 → `nvme0n1p2`, `vda` + 1 → `vda1`).
fn part(disk: &str, n: u32) -> String {
    let d = disk.trim_start_matches("/dev/");
    if d.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{d}p{n}")
    } else {
        format!("{d}{n}")
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn node(uuid: &str, target_raid_config: Value, capabilities: Option<&str>) -> Value {
    let mut n = json!({
        "uuid": uuid,
        "target_raid_config": target_raid_config,
        "properties": {},
        "instance_info": {},
        "driver_internal_info": {},
    });
    if let Some(c) = capabilities {
        n["properties"]["capabilities"] = json!(c);
    }
    n
}

/// A fixed-size RAID-1 root and a MAX data array of `data_level`.
fn root_and_data(data_level: &str) -> Value {
    json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software",
         "volume_name": "root", "is_root_volume": true},
        {"size_gb": "MAX", "raid_level": data_level, "controller": "software",
         "volume_name": "data"},
    ]})
}

/// Checks the arrays of a successful create in /proc/mdstat, `mdadm --detail --scan` and the
/// inventory: levels, members (partition 1 of every disk for root, partition 2 for data)
/// and sizes.
fn check_created_arrays(guest: &Vm, disks: &[String], data_level: &str) {
    let n = disks.len() as u64;
    let logs = guest.system_logs();
    let mdstat = logs
        .get("mdstat")
        .unwrap_or_else(|| panic!("no mdstat in the system logs: {:?}", logs.keys()));
    eprintln!("qemu-raid: /proc/mdstat after create:\n{mdstat}");
    let scan = logs
        .get("mdadm-detail-scan")
        .unwrap_or_else(|| panic!("no mdadm-detail-scan: {:?}", logs.keys()));
    eprintln!("qemu-raid: mdadm --detail --scan --verbose:\n{scan}");
    let arrays = parse_mdstat(mdstat);
    assert_eq!(
        arrays.len(),
        2,
        "two arrays expected in /proc/mdstat:\n{mdstat}"
    );
    let scan = parse_detail_scan(scan);
    assert_eq!(scan.len(), 2, "two ARRAY lines expected: {scan:?}");

    let inv = guest.hardware_info();
    let inv_disks = inv["disks"].as_array().unwrap().clone();
    for (volume, level, partno) in [("root", "raid1", 1), ("data", data_level, 2)] {
        let (dev, fields) = scan
            .iter()
            .find(|(dev, kv)| {
                dev == &format!("/dev/md/{volume}")
                    || kv
                        .get("name")
                        .is_some_and(|n| n.ends_with(&format!(":{volume}")))
            })
            .unwrap_or_else(|| panic!("no array named {volume} in {scan:?}"));
        assert_eq!(
            fields.get("level").map(String::as_str),
            Some(level),
            "{dev}: {fields:?}"
        );
        assert_eq!(
            fields.get("num-devices").map(String::as_str),
            Some(n.to_string().as_str()),
            "{dev}: {fields:?}"
        );
        assert_eq!(
            fields.get("metadata").map(String::as_str),
            Some("1.2"),
            "{dev}"
        );
        let expect_members: Vec<String> = disks.iter().map(|d| part(d, partno)).collect();
        let scan_members: Vec<String> = fields
            .get("devices")
            .map(|d| {
                d.split(',')
                    .map(|m| m.trim_start_matches("/dev/").to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            sorted(scan_members),
            sorted(expect_members.clone()),
            "members of {dev} (mdadm --detail --scan)"
        );
        // The same array in /proc/mdstat, found by its members.
        let md = arrays
            .iter()
            .find(|a| sorted(a.members.clone()) == sorted(expect_members.clone()))
            .unwrap_or_else(|| panic!("no array with members {expect_members:?}:\n{mdstat}"))
            .clone();
        assert_eq!(md.state, "active", "{md:?}");
        assert_eq!(md.level, level, "{md:?}");
        // Sizes: root = partition 1 (1 GiB minus the first 1 MiB) minus md's data offset;
        // data = (members - parity) x ~1 GiB.
        let mib = md.kib / 1024;
        let (lo, hi) = match level {
            "raid1" => (960, 1023),
            "raid5" => ((n - 1) * 960, (n - 1) * 1024),
            "raid6" => ((n - 2) * 960, (n - 2) * 1024),
            // near-2 layout: every block twice.
            "raid10" => (n * 960 / 2, n * 1024 / 2),
            _ => unreachable!(),
        };
        assert!(
            (lo..=hi).contains(&mib),
            "{} ({volume}, {level}) is {mib} MiB; expected {lo}..={hi}",
            md.name
        );
        // The inventory lists the array with the same size.
        let inv_md = inv_disks
            .iter()
            .find(|d| d["name"] == format!("/dev/{}", md.name))
            .unwrap_or_else(|| panic!("the inventory lacks /dev/{}: {inv_disks:?}", md.name));
        assert_eq!(
            inv_md["size"].as_u64(),
            Some(md.kib * 1024),
            "inventory size of /dev/{}: {inv_md}",
            md.name
        );
        eprintln!(
            "qemu-raid: {volume}: /dev/{} {level} {mib} MiB, members {:?}",
            md.name, md.members
        );
    }
}

/// Asserts that the guest's /proc/mdstat lists no array.
fn assert_no_arrays(guest: &Vm, context: &str) {
    let logs = guest.system_logs();
    let mdstat = logs.get("mdstat").map(String::as_str).unwrap_or_default();
    assert!(
        parse_mdstat(mdstat).is_empty(),
        "{context}: arrays in /proc/mdstat:\n{mdstat}"
    );
}

fn assert_step_succeeded(r: &Value, what: &str, guest: &Vm) {
    assert_eq!(
        r["command_status"],
        "SUCCEEDED",
        "{what}: {}\n{}",
        serde_json::to_string_pretty(r).unwrap(),
        guest.serial_tail(60)
    );
}

fn error_message(r: &Value) -> String {
    let e = &r["command_error"];
    e["details"]
        .as_str()
        .or_else(|| e["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}

// ------------------------------------------------------------------------------------------
// The tests
// ------------------------------------------------------------------------------------------

/// 1. Through the agent's API: RAID-1 root (1 GiB) + RAID-5 MAX data over 2 virtio + 2 NVMe
///    disks; the arrays read back from inside the VM.
#[test]
fn creates_raid1_root_and_raid5_data_on_virtio_and_nvme() {
    let t0 = Instant::now();
    let set = disk_set("create", &[Bus::Virtio, Bus::Virtio, Bus::Nvme, Bus::Nvme]);
    let guest = boot("qemu-raid-create", &set, Boot::Ramdisk);
    let disks = guest.guest_disk_names();
    eprintln!("qemu-raid: member disks {disks:?}");

    let node = node(
        "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
        root_and_data("5"),
        None,
    );
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_step_succeeded(&r, "raid.create_configuration", &guest);
    let lds = r["command_result"]["clean_result"]["logical_disks"]
        .as_array()
        .unwrap_or_else(|| panic!("no logical_disks in the clean result: {r}"))
        .clone();
    assert_eq!(lds.len(), 2, "{r}");
    for ld in &lds {
        let bd: Vec<String> = ld["block_devices"]
            .as_array()
            .unwrap_or_else(|| panic!("no block_devices in {ld}"))
            .iter()
            .map(|d| d.as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(sorted(bd), sorted(disks.clone()), "block_devices of {ld}");
    }
    assert_eq!(lds[0]["volume_name"], "root");
    assert_eq!(lds[0]["is_root_volume"], true);
    check_created_arrays(&guest, &disks, "raid5");
    drop(guest);
    eprintln!("qemu-raid: create test done in {:.1?}", t0.elapsed());
}

/// 2. RAID-1 root + RAID-6 data (GPT) on 2 virtio + 2 SCSI disks; reboot on the same
///    images; `raid.delete_configuration`; then no md superblock and no partition table is
///    left on any image.
#[test]
fn deletes_the_arrays_after_a_reboot_and_leaves_no_metadata() {
    let t0 = Instant::now();
    let set = disk_set("reboot", &[Bus::Virtio, Bus::Scsi, Bus::Virtio, Bus::Scsi]);
    let node = node(
        "5d0c9b6e-8f0e-4c6a-9a38-2e4f0c1d7b21",
        root_and_data("6"),
        Some("disk_label:gpt"),
    );

    let guest = boot("qemu-raid-before-reboot", &set, Boot::Ramdisk);
    let disks = guest.guest_disk_names();
    eprintln!("qemu-raid: member disks {disks:?}");
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_step_succeeded(&r, "raid.create_configuration", &guest);
    check_created_arrays(&guest, &disks, "raid6");
    guest.power_off();

    // Host side, before the delete: every member has a GPT and two md superblocks (this
    // also proves the scanner finds what the clean check later must not find).
    for (serial, path) in set.members() {
        let pt = partition_table(path);
        assert!(
            pt.as_deref()
                .is_some_and(|p| p.contains("GPT header at LBA 1")),
            "{serial}: expected a GPT after create, found {pt:?}"
        );
        let sbs = md_superblocks(path);
        assert_eq!(sbs.len(), 2, "{serial}: md superblocks at {sbs:?}");
        eprintln!("qemu-raid: {serial} after create: {pt:?}, md superblocks at {sbs:?}");
    }

    let guest = boot("qemu-raid-after-reboot", &set, Boot::Ramdisk);
    let before = guest.system_logs();
    eprintln!(
        "qemu-raid: /proc/mdstat after the reboot, before delete:\n{}",
        before.get("mdstat").map(String::as_str).unwrap_or("?")
    );
    let r = guest.clean_step("raid", "delete_configuration", &node);
    assert_step_succeeded(&r, "raid.delete_configuration", &guest);
    assert!(
        r["command_result"]["clean_result"].is_null(),
        "delete_configuration returns null: {r}"
    );
    let after = guest.system_logs();
    // How the delete found the arrays: assembled (md127, ...) or as stray superblocks.
    let agent_log = after.get("ironic-agent.log").cloned().unwrap_or_default();
    let delete_lines: Vec<&str> = agent_log
        .lines()
        .filter(|l| {
            [
                "delete_configuration",
                "stray md superblock",
                "--assemble",
                "zero",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .collect();
    eprintln!(
        "qemu-raid: the agent's log of the delete:\n{}",
        delete_lines.join("\n")
    );
    // As on a real machine after a reboot, the arrays come back as md127/md126 (foreign to
    // this ramdisk's host name) and the delete stops them.
    assert!(
        agent_log.contains("mdadm --stop /dev/md12"),
        "the delete stopped the re-assembled md12x arrays:\n{}",
        delete_lines.join("\n")
    );
    let mdstat = after.get("mdstat").cloned().unwrap_or_default();
    eprintln!("qemu-raid: /proc/mdstat after delete:\n{mdstat}");
    assert!(
        parse_mdstat(&mdstat).is_empty(),
        "arrays left after delete:\n{mdstat}"
    );
    let inv = guest.hardware_info();
    assert!(
        !inv["disks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"].as_str().is_some_and(|n| n.starts_with("/dev/md"))),
        "md devices left in the inventory: {}",
        inv["disks"]
    );
    guest.power_off();
    assert_no_metadata(&set, "after delete_configuration");
    eprintln!("qemu-raid: reboot+delete test done in {:.1?}", t0.elapsed());
}

/// 3. A member with a partition table: the create is refused, naming the device, and no
///    disk changes (content digests of every image before boot and after).
#[test]
fn refuses_a_partitioned_member_and_changes_nothing() {
    let t0 = Instant::now();
    let set = disk_set("refuse", &[Bus::Virtio, Bus::Virtio, Bus::Nvme]);
    // The NVMe disk (the only one: nvme0n1) carries an MBR with one partition.
    write_mbr(set.path(2));
    let before: Vec<(u64, u64)> = set.members().map(|(_, p)| content_digest(p)).collect();

    let guest = boot("qemu-raid-refuse", &set, Boot::Ramdisk);
    let disks = guest.guest_disk_names();
    let parted = disks[2].clone();
    let inv = guest.hardware_info();
    eprintln!("qemu-raid: inventory disks: {}", inv["disks"]);

    let node = node(
        "0f4c8a9e-1b2d-4e3f-8a7b-6c5d4e3f2a1b",
        root_and_data("5"),
        None,
    );
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_eq!(
        r["command_status"], "FAILED",
        "the create must be refused: {r}"
    );
    let msg = error_message(&r);
    eprintln!("qemu-raid: refused: {msg}");
    assert_eq!(r["command_error"]["type"], "SoftwareRAIDError", "{r}");
    assert!(
        msg.contains(&parted) && msg.contains("Partitions detected"),
        "the error must name {parted} and say why: {msg}"
    );
    // Only the partitioned disk is named as partitioned.
    let listed = msg
        .split("Partitions detected on devices ")
        .nth(1)
        .and_then(|s| s.split(" during").next())
        .unwrap_or_default();
    assert_eq!(listed, parted, "the devices named as partitioned: {msg}");
    assert_no_arrays(&guest, "after the refused create");
    guest.power_off();

    let after: Vec<(u64, u64)> = set.members().map(|(_, p)| content_digest(p)).collect();
    for (((serial, path), b), a) in set.members().zip(&before).zip(&after) {
        assert_eq!(
            b,
            a,
            "{serial} ({}) changed: digest/non-zero blocks before {b:?}, after {a:?}",
            path.display()
        );
    }
    assert!(
        partition_table(set.path(2)).is_some_and(|p| p.contains("type 0x83")),
        "the pre-existing partition table is still there"
    );
    eprintln!("qemu-raid: refusal test done in {:.1?}", t0.elapsed());
}

/// The ramdisk with `<dir>/initramfs-mdadm-fault`: the real mdadm moved to
/// `/usr/sbin/mdadm.real` and `tests/qemu-fixtures/mdadm-fail-second-create` installed as
/// `/usr/sbin/mdadm` (the agent runs tools from PATH=/usr/sbin:/usr/bin, so
/// `/usr/local/sbin` would not be used).
fn fault_injection_ramdisk(dir: &std::path::Path) -> qemu::Ramdisk {
    let rd = qemu::ramdisk();
    let mdadm = rd.extract("usr/sbin/mdadm");
    assert!(
        mdadm.len() > 100_000 && mdadm[..4] == *b"\x7fELF",
        "usr/sbin/mdadm of the initramfs is not the real mdadm ({} bytes)",
        mdadm.len()
    );
    let wrapper =
        std::fs::read(qemu::repo_root().join("tests/qemu-fixtures/mdadm-fail-second-create"))
            .expect("reading the mdadm wrapper fixture");
    rd.with_files(
        dir,
        "initramfs-mdadm-fault",
        &[
            ("usr/sbin/mdadm.real", 0o100755, &mdadm),
            ("usr/sbin/mdadm", 0o100755, &wrapper),
        ],
    )
}

/// 4. The second `mdadm --create` fails (a wrapper in a test initramfs): the step fails
///    naming the command and what was rolled back, and the disks are left clean.
#[test]
fn rolls_back_when_mdadm_fails_mid_create() {
    let t0 = Instant::now();
    let set = disk_set("fault", &[Bus::Virtio, Bus::Nvme, Bus::Scsi]);
    let variant = fault_injection_ramdisk(set.dir());
    let guest = boot("qemu-raid-fault", &set, Boot::Kernel(variant));
    let disks = guest.guest_disk_names();
    eprintln!("qemu-raid: member disks {disks:?}");

    let node = node(
        "7e3a2b1c-9d8e-4f5a-b6c7-d8e9f0a1b2c3",
        root_and_data("5"),
        None,
    );
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_eq!(r["command_status"], "FAILED", "the create must fail: {r}");
    let msg = error_message(&r);
    eprintln!("qemu-raid: create failed as injected: {msg}");
    assert_eq!(r["command_error"]["type"], "SoftwareRAIDError", "{r}");
    for want in [
        "Creating RAID array /dev/md/data failed",
        "mdadm --create",
        "injected failure",
        "rolled back",
        "stopped /dev/md/root",
    ] {
        assert!(
            msg.contains(want),
            "the error should contain {want:?}: {msg}"
        );
    }
    assert!(!msg.contains("ROLLBACK INCOMPLETE"), "{msg}");
    // The fault really was the wrapper's (the first create ran the real mdadm).
    let logs = guest.system_logs();
    let mdstat = logs.get("mdstat").cloned().unwrap_or_default();
    assert!(
        parse_mdstat(&mdstat).is_empty(),
        "arrays left after rollback:\n{mdstat}"
    );
    let lsblk = logs.get("lsblk").cloned().unwrap_or_default();
    eprintln!("qemu-raid: lsblk after rollback:\n{lsblk}");
    for d in &disks {
        assert!(
            !lsblk.contains(&part(d, 1)),
            "{} still listed after rollback:\n{lsblk}",
            part(d, 1)
        );
    }
    guest.power_off();
    assert_no_metadata(&set, "after the rolled-back create");
    eprintln!(
        "qemu-raid: fault-injection test done in {:.1?}",
        t0.elapsed()
    );
}

/// 5. The Metal3 sequence through a real Ironic, with the agent in QEMU (lookup, auto-TLS
///    heartbeats, fast-track): manual cleaning with `raid.delete_configuration`,
///    `deploy.erase_devices_metadata` and `raid.create_configuration` on disks of which one
///    carries an old partition table; the node returns to `manageable` with its
///    `raid_config` set; `provide` (automated cleaning with the agent's steps) to
///    `available`; a deploy with `raid.apply_configuration` to `active`; and the images
///    carry the arrays.
#[test]
fn metal3_manual_clean_through_ironic() {
    let t0 = Instant::now();
    let set = disk_set("metal3", &[Bus::Virtio, Bus::Nvme, Bus::Scsi]);
    // A leftover partition table: create alone would refuse this disk.
    write_mbr(set.path(1));
    let mut opts = ScenarioOptions {
        vm: VmOptions {
            agent_token: None,
            ..vm_options("qemu-raid-metal3", &set, Boot::Ramdisk)
        },
        ..ScenarioOptions::default()
    };
    opts.node = opts.node.target_raid_config(root_and_data("5"));
    let s = Scenario::start(opts);

    let n = s.clean(
        json!([
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "deploy", "step": "erase_devices_metadata"},
            {"interface": "raid", "step": "create_configuration"},
        ]),
        Duration::from_secs(420),
    );
    let lds = n["raid_config"]["logical_disks"]
        .as_array()
        .unwrap_or_else(|| panic!("raid_config not set: {}", n["raid_config"]))
        .clone();
    eprintln!("qemu-raid: node raid_config: {}", n["raid_config"]);
    assert_eq!(lds.len(), 2, "{}", n["raid_config"]);
    assert_eq!(lds[0]["volume_name"], "root");
    assert_eq!(lds[0]["raid_level"], "1");
    assert_eq!(lds[1]["volume_name"], "data");
    assert_eq!(lds[1]["raid_level"], "5");
    let log = s.vm.serial_log();
    for l in log.lines().filter(|l| {
        [
            "delete_configuration",
            "erase",
            "software RAID",
            "clean step",
            "Partitions",
        ]
        .iter()
        .any(|w| l.contains(w))
    }) {
        eprintln!("qemu-raid: console: {l}");
    }
    assert!(
        log.contains("software RAID created"),
        "the agent's console never says the arrays were created"
    );

    // Automated cleaning with the agent's steps.
    s.provision_to(
        "provide",
        json!(null),
        "available",
        Duration::from_secs(300),
    );

    // Then the deploy-time variant: raid.apply_configuration as a deploy step. The
    // `custom-agent` deploy interface runs just the requested steps through the agent (no
    // image); `noop` management because `fake` refuses boot device `disk`.
    s.ironic.patch_node(
        s.uuid(),
        json!([
            {"op": "replace", "path": "/deploy_interface", "value": "custom-agent"},
            {"op": "replace", "path": "/management_interface", "value": "noop"}
        ]),
    );
    let applied = json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": true, "volume_name": "root"},
        {"size_gb": "MAX", "raid_level": "0", "controller": "software", "volume_name": "scratch"}
    ]});
    let n = s.provision_to(
        "active",
        json!({"deploy_steps": [{"interface": "raid", "step": "apply_configuration",
                                 "args": {"raid_config": applied, "delete_existing": true},
                                 "priority": 90}]}),
        "active",
        Duration::from_secs(420),
    );
    let lds = n["raid_config"]["logical_disks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        lds.len(),
        2,
        "raid_config from the deploy step: {}",
        n["raid_config"]
    );
    assert_eq!(lds[1]["volume_name"], "scratch", "{}", n["raid_config"]);
    assert_eq!(lds[1]["raid_level"], "0", "{}", n["raid_config"]);
    assert!(
        s.vm.serial_log().contains("mdadm --create /dev/md/scratch"),
        "the agent built the deploy step's arrays:\n{}",
        s.vm.serial_tail(60)
    );
    // The images: a partition table and two md superblocks on every member (the guest's
    // writes are synced by parted/mdadm; give md a moment to write its superblocks).
    sleep(Duration::from_secs(3));
    drop(s);
    for (serial, path) in set.members() {
        let sbs = md_superblocks(path);
        let pt = partition_table(path);
        eprintln!("qemu-raid: {serial} after the clean: {pt:?}, md superblocks at {sbs:?}");
        assert_eq!(sbs.len(), 2, "{serial}: md superblocks at {sbs:?}");
        assert!(
            pt.as_deref()
                .is_some_and(|p| p.contains("type 0xfd") || p.contains("type 0x83")),
            "{serial}: {pt:?}"
        );
    }
    eprintln!("qemu-raid: Metal3 test done in {:.1?}", t0.elapsed());
}

/// 6. RAID-5 and RAID-1+0 from two member disks, as IPA accepts and mdadm builds without
///    `--force`: each created through the API by the real mdadm on two virtio disks, read
///    back (level, two members, a mirror's capacity), noted in the plan as no more than a
///    mirror, and deleted again, in one VM.
#[test]
fn builds_raid5_and_raid10_from_two_disks() {
    let t0 = Instant::now();
    let set = disk_set("two", &[Bus::Virtio, Bus::Virtio]);
    let guest = boot("qemu-raid-two-disks", &set, Boot::Ramdisk);
    let disks = guest.guest_disk_names();
    eprintln!("qemu-raid: member disks {disks:?}");
    for (level, md_level) in [("5", "raid5"), ("1+0", "raid10")] {
        let node = node(
            "0c7d3e52-6a41-4f0b-9d2e-5b8a1f3c4e60",
            root_and_data(level),
            None,
        );
        let r = guest.clean_step("raid", "create_configuration", &node);
        assert_step_succeeded(&r, &format!("create with RAID {level} data"), &guest);
        check_created_arrays(&guest, &disks, md_level);
        let logs = guest.system_logs();
        let agent_log = logs.get("ironic-agent.log").cloned().unwrap_or_default();
        assert!(
            agent_log.contains(&format!(
                "note: logical_disks[1] (RAID {level}) gets two disks"
            )) && agent_log.contains("gives no more than a mirror"),
            "the plan notes that RAID {level} on two disks is a mirror's worth"
        );
        let r = guest.clean_step("raid", "delete_configuration", &node);
        assert_step_succeeded(&r, "raid.delete_configuration", &guest);
        assert_no_arrays(&guest, "after delete_configuration");
    }
    guest.power_off();
    assert_no_metadata(&set, "after the two-disk creates and deletes");
    eprintln!(
        "qemu-raid: two-disk RAID-5/10 test done in {:.1?}",
        t0.elapsed()
    );
}
