//! Disk erasure through the real Ironic, in QEMU, verified on the host.
//!
//! One VM (TCG) with 64 MiB disks, every one filled on the host with a tenant pattern:
//!
//! | disk | bus | also carries |
//! |---|---|---|
//! | `/dev/vda` | virtio | an MBR partition table |
//! | `/dev/vdb` | virtio | member 0 of a stale RAID-1 (md 1.2 superblock recorded from mdadm) |
//! | `/dev/vdc` | virtio, **read-only** | — |
//! | `/dev/sda` | virtio-scsi | member 1 of the stale RAID-1 |
//! | `/dev/nvme0n1` | NVMe | — |
//!
//! QEMU's NVMe controller (10.0, recorded in `hwmgr-generic/fixtures/erase/`) reports
//! OACS 0x12a (Format NVM supported) and FNA 0 (no cryptographic erase, per-namespace
//! format), so the agent runs `nvme format -s 1` (user-data erase); QEMU zeroes the
//! namespace. Its `nvme` is wrapped (`tests/qemu-fixtures/nvme-fail-second-format`) so that
//! the second format fails.
//!
//! Three automated cleanings (`provide`, the conductor's priorities: metadata erase 99,
//! erase_devices 10), Ironic restarted in between on the same port (the agent looks itself
//! up again):
//!
//! 1. Ironic's defaults (`[deploy]erase_skip_read_only = False`): cleaning fails with an
//!    error naming the read-only disk and the option; the other disks still hold the
//!    pattern (nothing was overwritten before the refusal).
//! 2. `erase_skip_read_only = True`: cleaning succeeds; on the host, no disk but the
//!    read-only one holds a byte of the pattern; the read-only one is untouched and the
//!    log warns about it; the stale array was stopped and its members erased whole; the
//!    NVMe namespace was formatted.
//! 3. The images refilled on the host, `manage` + `provide` again: the injected `nvme
//!    format` failure fails cleaning with an error naming the namespace, the command and
//!    its stderr, and the other disks are erased all the same.
//! 4. A manual clean with `erase_devices_express`: the NVMe namespace is formatted, the
//!    other disks lose only their metadata.
//! 5. A manual clean with `erase_devices`, and the ACPI power button pressed (QEMU's
//!    `system_powerdown`, as a BMC's soft power off) while `/dev/vda` (throttled) is being
//!    overwritten: the agent stops, reports the finished and the stopped devices, and the
//!    ramdisk powers off only then.

use agent_tests::disk_image::{md_superblocks, partition_table, write_mbr};
use agent_tests::ironic::{Ironic, IronicOptions, NodeSpec};
use agent_tests::qemu::{self, Boot, Bus, Disk, VmOptions};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use agent_tests::support::{poll, repo_root, ScratchDir};
use reqwest::Method;
use serde_json::json;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: u64 = 1 << 20;
const SIZE: u64 = 64 * MIB;
/// What the tenant left on every disk, at every 16-byte boundary.
const PATTERN: &[u8; 16] = b"TENANT-DATA-0042";
const CLEAN: Duration = Duration::from_secs(600);

/// The disks, in the order they are attached (and named by the guest).
const DISKS: [(&str, Bus); 5] = [
    ("vda", Bus::Virtio),
    ("vdb", Bus::Virtio),
    ("vdc", Bus::Virtio),
    ("sda", Bus::Scsi),
    ("nvme0n1", Bus::Nvme),
];
const READ_ONLY: usize = 2;
const NVME: usize = 4;

fn fill_with_pattern(path: &Path) {
    let chunk: Vec<u8> = PATTERN.iter().copied().cycle().take(MIB as usize).collect();
    let mut f = fs::File::create(path).unwrap();
    for _ in 0..SIZE / MIB {
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
}

/// Writes a recorded md 1.2 superblock (bytes 4096.. of a member) over the image; the
/// array's data (offset 1 MiB on) keeps the pattern: a previous tenant's RAID-1.
fn add_stale_md_member(path: &Path, n: usize) {
    let blob =
        fs::read(repo_root().join(format!("tests/qemu-fixtures/md-stale-member{n}.bin"))).unwrap();
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    f.write_all(&blob).unwrap();
    f.sync_all().unwrap();
}

fn prepare(dir: &Path) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = DISKS
        .iter()
        .map(|(name, _)| dir.join(format!("{name}.raw")))
        .collect();
    for p in &paths {
        fill_with_pattern(p);
    }
    write_mbr(&paths[0]);
    add_stale_md_member(&paths[1], 0);
    add_stale_md_member(&paths[3], 1);
    assert!(partition_table(&paths[0]).is_some());
    for i in [1, 3] {
        assert_eq!(
            md_superblocks(&paths[i]),
            vec![4096],
            "the fixture's superblock"
        );
    }
    paths
}

/// Offsets of the 16-byte blocks that still hold the pattern, between `from` and `to`.
fn pattern_blocks(path: &Path, from: u64, to: u64) -> Vec<u64> {
    let mut f = fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(from)).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    let mut found = Vec::new();
    let mut off = from;
    while off < to {
        let n = (to - off).min(MIB) as usize;
        f.read_exact(&mut buf[..n]).unwrap();
        for (i, block) in buf[..n].chunks_exact(16).enumerate() {
            if block == PATTERN {
                found.push(off + 16 * i as u64);
            }
        }
        off += n as u64;
    }
    found
}

fn assert_erased(paths: &[PathBuf], which: &[usize], context: &str) {
    for &i in which {
        let left = pattern_blocks(&paths[i], 0, SIZE);
        assert!(
            left.is_empty(),
            "{context}: /dev/{} still holds {} blocks of the pattern (first at byte {})",
            DISKS[i].0,
            left.len(),
            left[0]
        );
    }
}

/// The pattern is intact between 2 MiB and the last 2 MiB. The metadata erase at priority
/// 99 touches only signatures and the partition-table areas at both ends of each disk and
/// partition, as IPA's `destroy_disk_metadata` does: on `/dev/vda` that includes the first
/// sectors of its partition, which starts at 1 MiB.
fn assert_untouched_middle(paths: &[PathBuf], which: &[usize], context: &str) {
    for &i in which {
        let blocks = (SIZE - 4 * MIB) / 16;
        let left = pattern_blocks(&paths[i], 2 * MIB, SIZE - 2 * MIB).len() as u64;
        assert_eq!(
            left, blocks,
            "{context}: /dev/{} was written to ({} of {blocks} pattern blocks left)",
            DISKS[i].0, left
        );
    }
}

/// The ramdisk with `nvme` wrapped by the fault-injection fixture.
fn ramdisk_with_failing_nvme(dir: &Path) -> qemu::Ramdisk {
    let rd = qemu::ramdisk();
    let real = rd.extract("usr/sbin/nvme");
    let wrapper =
        fs::read(repo_root().join("tests/qemu-fixtures/nvme-fail-second-format")).unwrap();
    rd.with_files(
        dir,
        "initramfs-nvme-fault",
        &[
            ("usr/sbin/nvme.real", 0o100755, &real),
            ("usr/sbin/nvme", 0o100755, &wrapper),
        ],
    )
}

/// Starts a new Ironic on the old one's port and enrolls the node again; returns once the
/// agent (which looks itself up again) has heartbeated to it.
fn restart_ironic(s: &mut Scenario, extra_config: &str) {
    let port = s.ironic.port();
    s.ironic.stop();
    s.ironic = Ironic::start(IronicOptions {
        fast_track: true,
        port: Some(port),
        extra_config: Some(extra_config.to_string()),
        ..IronicOptions::default()
    });
    let mac = s.vm.options().mac.clone();
    s.node = s.ironic.enroll(
        &NodeSpec::new("qemu-erase")
            .fields(json!({"power_interface": "fake"}))
            .port(&mac),
    );
    let uuid = s.node.uuid.clone();
    poll(Duration::from_secs(240), Duration::from_secs(1), || {
        s.ironic.get_node(&uuid)["driver_internal_info"]["agent_url"]
            .as_str()
            .map(|_| ())
    })
    .unwrap_or_else(|| {
        panic!(
            "the agent never heartbeated to the new Ironic\n{}",
            s.diagnostics(60)
        )
    });
}

/// `provide`, expecting cleaning to fail; returns `last_error`.
fn provide_expecting_failure(s: &Scenario) -> String {
    s.ironic.provision(s.uuid(), "provide", json!(null));
    let node = poll(CLEAN, Duration::from_secs(1), || {
        let n = s.get_node();
        (n["provision_state"] == "clean failed").then_some(n)
    })
    .unwrap_or_else(|| panic!("cleaning did not fail\n{}", s.diagnostics(80)));
    node["last_error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn automated_cleaning_erases_every_disk_but_the_skipped_ones() {
    let dir = ScratchDir::new(
        "ironic-agent-erase-",
        "IRONIC_AGENT_QEMU_KEEP",
        "erase disks",
    );
    let paths = prepare(dir.path());
    let rd = ramdisk_with_failing_nvme(dir.path());
    let disks: Vec<Disk> = DISKS
        .iter()
        .zip(&paths)
        .enumerate()
        .map(|(i, ((_, bus), p))| {
            let d = Disk::file(*bus, p);
            if i == READ_ONLY {
                d.read_only()
            } else {
                d
            }
        })
        .collect();
    let mut s = Scenario::start(ScenarioOptions {
        vm: VmOptions {
            name: "qemu-erase".into(),
            boot: Boot::Kernel(rd),
            disks,
            max_runtime: Duration::from_secs(1800),
            ..VmOptions::default()
        },
        ..ScenarioOptions::default()
    });
    let writable = [0, 1, 3, NVME];

    // 1. Ironic's defaults: the read-only disk fails cleaning, naming disk and option.
    let err = provide_expecting_failure(&s);
    eprintln!("qemu-erase: cleaning failed as expected: {err}");
    for want in [
        "/dev/vdc",
        "read-only",
        "agent_erase_skip_read_only",
        "Nothing was erased",
    ] {
        assert!(
            err.contains(want),
            "{want:?} missing from last_error: {err}"
        );
    }
    assert_untouched_middle(&paths, &writable, "after the refusal");

    // 2. The read-only disk may be skipped: everything else is erased.
    restart_ironic(&mut s, "[deploy]\nerase_skip_read_only = True\n");
    let ro_before = fs::read(&paths[READ_ONLY]).unwrap();
    s.provision_to("provide", json!(null), "available", CLEAN);
    assert_erased(&paths, &writable, "after cleaning");
    assert_eq!(partition_table(&paths[0]), None, "vda's MBR survived");
    for i in [1, 3] {
        assert_eq!(
            md_superblocks(&paths[i]),
            Vec::<u64>::new(),
            "md superblock left on {}",
            DISKS[i].0
        );
    }
    assert!(
        fs::read(&paths[READ_ONLY]).unwrap() == ro_before,
        "the read-only disk changed"
    );
    let log = s.vm.serial_log();
    for want in [
        "not erasing /dev/vdc: it is read-only and agent_erase_skip_read_only is set",
        "stopping /dev/md",
        "erased /dev/nvme0n1",
        "\"method\":\"nvme_format\",\"secure_erase_setting\":1",
        "erased /dev/vda",
        "erased /dev/sda",
    ] {
        assert!(
            log.contains(want),
            "{want:?} not in the agent's log\n{}",
            s.diagnostics(80)
        );
    }

    // 3. A failing tool on one device: the others are erased, the error names it.
    for &i in &writable {
        fill_with_pattern(&paths[i]);
    }
    s.provision_to(
        "manage",
        json!(null),
        "manageable",
        Duration::from_secs(120),
    );
    let err = provide_expecting_failure(&s);
    eprintln!("qemu-erase: cleaning failed as injected: {err}");
    for want in [
        "Failed to erase 1 of 4 device(s)",
        "/dev/nvme0n1",
        "`nvme format ",
        "exited with code 1",
        "injected failure",
    ] {
        assert!(
            err.contains(want),
            "{want:?} missing from last_error: {err}"
        );
    }
    assert_erased(&paths, &[0, 1, 3], "with the NVMe format failing");
    assert_untouched_middle(&paths, &[NVME], "the NVMe whose format failed");

    express_erase(&s, &paths, &writable);
    soft_power_off_mid_erase(&s, &paths, &writable);
}

/// 4. `deploy.erase_devices_express` as a manual clean step: the NVMe namespace is formatted
///    (erased whole), every other disk only loses its metadata.
fn express_erase(s: &Scenario, paths: &[PathBuf], writable: &[usize]) {
    for &i in writable {
        fill_with_pattern(&paths[i]);
    }
    write_mbr(&paths[0]);
    // A failed clean put the node into maintenance; the operator takes it out first.
    let (status, body) = s.ironic.request(
        Method::DELETE,
        &format!("/v1/nodes/{}/maintenance", s.uuid()),
        None,
    );
    assert_eq!(status, 202, "unset maintenance: {body}");
    // From `clean failed`: `manage` keeps the failure's last_error until the next clean.
    s.ironic.provision(s.uuid(), "manage", json!(null));
    s.ironic
        .wait_for_provision_state(s.uuid(), "manageable", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.diagnostics(40)));
    s.clean(
        json!([{"interface": "deploy", "step": "erase_devices_express"}]),
        CLEAN,
    );
    assert_erased(paths, &[NVME], "after the express erase (nvme format)");
    assert_untouched_middle(paths, &[0, 1, 3], "after the express erase");
    assert_eq!(
        partition_table(&paths[0]),
        None,
        "the express erase left vda's MBR"
    );
}

/// 5. A soft power off (the BMC presses the ACPI power button) in the middle of an
///    erasure: the ramdisk stops the agent with SIGTERM, the writers stop between two
///    writes, the agent logs which devices were finished and which were stopped part-way,
///    and only then is the power cut. `/dev/vda` is throttled to 1 MiB/s so that it is
///    still being overwritten when the button is pressed.
fn soft_power_off_mid_erase(s: &Scenario, paths: &[PathBuf], writable: &[usize]) {
    for &i in writable {
        fill_with_pattern(&paths[i]);
    }
    s.vm.monitor("block_set_io_throttle d0 0 0 1048576 0 0 0")
        .unwrap();
    let offset = s.vm.serial_log().len() as u64;
    s.ironic.provision(
        s.uuid(),
        "clean",
        json!({"clean_steps": [{"interface": "deploy", "step": "erase_devices"}]}),
    );
    for done in ["erased /dev/vdb", "erased /dev/sda", "erased /dev/nvme0n1"] {
        s.vm.wait_for_serial_after(done, offset, CLEAN)
            .unwrap_or_else(|e| panic!("{e}\n{}", s.diagnostics(40)));
    }
    s.vm.monitor("system_powerdown").unwrap();
    let status = s.vm.wait_exit(Duration::from_secs(90));
    assert!(
        status.is_some(),
        "the VM did not power off within 90 s of the power button\n{}",
        s.vm.serial_tail(40)
    );
    let log = s.vm.serial_log()[offset as usize..].to_string();
    let order = [
        "power button pressed: stopping ironic-agent",
        "Erasure stopped: the agent received SIGTERM",
        "ironic-agent stopped",
        "powering off",
    ];
    let mut at = 0;
    for want in order {
        let found = log[at..].find(want).unwrap_or_else(|| {
            panic!(
                "{want:?} missing (or out of order) in the log\n{}",
                s.vm.serial_tail(60)
            )
        });
        at += found;
    }
    let stopped = log
        .lines()
        .find(|l| l.contains("Erasure stopped"))
        .unwrap_or_default();
    eprintln!("qemu-erase: {stopped}");
    for want in ["Finished: ", "/dev/vdb", "/dev/sda", "/dev/nvme0n1"] {
        assert!(stopped.contains(want), "{want:?} not in: {stopped}");
    }
    assert!(
        stopped.contains("stopped part-way (NOT erased): /dev/vda"),
        "vda not reported as stopped part-way: {stopped}"
    );
    // The supervisor logs "...; not restarting: the machine is powering off" when it
    // sees the button's marker, "...; restarting" otherwise.
    assert!(
        log.contains("not restarting: the machine is powering off"),
        "the supervisor did not see the power button's marker\n{}",
        s.vm.serial_tail(40)
    );
    assert!(
        !log.contains("; restarting"),
        "the supervisor restarted the agent while powering off"
    );
    assert_erased(paths, &[1, 3, NVME], "before the power button");
    let left = pattern_blocks(&paths[0], SIZE - MIB, SIZE);
    assert!(
        !left.is_empty(),
        "vda's end was overwritten: the writer did not stop at the power button"
    );
}
