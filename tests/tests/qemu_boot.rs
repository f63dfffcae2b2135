//! End-to-end boots of the deploy ramdisk in QEMU (TCG here: no usable KVM): the ramdisk's
//! /init, kernel modules, DHCP, the supervised agent and its API over the forwarded port.
//!
//! Ironic's lookup of the booted agent (auto-TLS, the recorded callback URL and certificate)
//! is checked by [`agent_tests::scenario::Scenario::start`] in every Ironic-in-QEMU test;
//! `provide` to `available` with the agent's cleaning steps runs in `qemu_raid`'s Metal3
//! scenario, which shares its VM with those checks (one Ironic and one boot fewer).

use agent_tests::qemu::{ramdisk, Bus, Disk, Vm, VmOptions, DEFAULT_MAC, TEST_TOKEN};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Guest boot to the agent's API takes ~6-8 s under TCG when idle; allow for a busy host
/// (and for the first run, which builds the ramdisk before QEMU starts).
const AGENT_UP: Duration = Duration::from_secs(180);

/// What the agent prints once its API is served (standalone or with Ironic).
const API_LISTENING: &str = "API listening";

/// Kernel/init lines that mean a module we ship did not load.
fn module_errors(log: &str) -> Vec<String> {
    const BAD: &[&str] = &[
        "failed to load module",
        "module not found",
        "Unknown symbol",
        "disagrees about version of symbol",
        "Invalid module format",
        "insmod: can't insert",
        "modprobe: FATAL",
        "module verification failed",
    ];
    log.lines()
        .filter(|l| BAD.iter().any(|b| l.contains(b)))
        .map(str::to_string)
        .collect()
}

/// The disks of the inventory test: every bus QEMU can model, one of them read-only.
fn inventory_disks() -> Vec<Disk> {
    vec![
        Disk::new(Bus::Virtio, 1024).serial("VIRTIO-A"),
        Disk::new(Bus::Virtio, 512).serial("VIRTIO-RO").read_only(),
        Disk::new(Bus::Scsi, 768).serial("SCSI-A"),
        Disk::new(Bus::Nvme, 640).serial("NVME-A"),
    ]
}

/// `(kernel name, size MiB, read-only)` as /init's "block devices:" line reports them.
fn init_block_devices(log: &str) -> Vec<(String, u64, bool)> {
    let line = log
        .lines()
        .find(|l| l.contains("ironic-agent-init: block devices:"))
        .expect("/init logs the block devices");
    let list = line.split("block devices:").nth(1).unwrap();
    let list = list.split(" at uptime").next().unwrap();
    list.split_whitespace()
        .filter_map(|d| {
            let (name, rest) = d.split_once('(')?;
            let rest = rest.trim_end_matches(')');
            let mut parts = rest.split(',');
            let size = parts.next()?.trim_end_matches("MiB").parse().ok()?;
            let ro = parts.any(|p| p == "ro");
            Some((name.to_string(), size, ro))
        })
        .collect()
}

/// The default ramdisk booted as an HPE ProLiant with a disk on every bus QEMU models: the
/// boot itself (modules, DHCP, the disks /init sees), the agent's inventory, and the Smart
/// Array manager declining for want of `ssacli` (one VM for the checks of this scenario).
#[test]
fn hpe_vm_serves_the_api_reports_every_disk_and_declines_smart_array() {
    let started = Instant::now();
    let vm = Vm::boot(VmOptions {
        name: "qemu-boot-inventory".into(),
        memory_mib: 256,
        disks: inventory_disks(),
        smbios: VmOptions::hpe_smbios(),
        agent_token: Some(TEST_TOKEN.into()),
        ..VmOptions::default()
    });
    vm.wait_for_serial(API_LISTENING, AGENT_UP).unwrap();
    let status = vm.wait_api(Duration::from_secs(60));
    eprintln!(
        "agent API answering {:.1?} after QEMU start ({:.1?} including the ramdisk build); status: {status}",
        vm.elapsed(),
        started.elapsed()
    );
    check_boot_log(&vm);
    check_inventory(&vm);
    check_smart_array_declines(&vm);
}

/// Modules, DHCP and the disks /init saw: every disk, its bus (by name), size and the
/// read-only flag.
fn check_boot_log(vm: &Vm) {
    let log = vm.serial_log();
    let errors = module_errors(&log);
    assert!(
        errors.is_empty(),
        "module errors on the console:\n{}",
        errors.join("\n")
    );
    assert!(
        log.lines()
            .any(|l| l.contains("ironic-agent-init: loaded") && l.contains("(0 failed)")),
        "/init did not report loading its modules\n{}",
        vm.serial_tail(60)
    );
    assert!(
        log.contains("DHCP bound on eth0: 10.0.2.15"),
        "no DHCP lease\n{}",
        vm.serial_tail(60)
    );
    let seen = init_block_devices(&log);
    let expect = [
        ("vda", 1024, false),
        ("vdb", 512, true),
        ("sda", 768, false),
        ("nvme0n1", 640, false),
    ];
    for (name, size, ro) in expect {
        assert!(
            seen.iter()
                .any(|(n, s, r)| n == name && *s == size && *r == ro),
            "guest should see {name} ({size} MiB, ro={ro}); /init saw {seen:?}"
        );
    }
    assert_eq!(
        seen.len(),
        expect.len(),
        "unexpected block devices: {seen:?}"
    );
}

/// The agent's inventory: every disk with its size, serial, bus, model and WWN; the NIC;
/// the SMBIOS vendor.
fn check_inventory(vm: &Vm) {
    let inv = vm.hardware_info();
    let disks = inv["disks"]
        .as_array()
        .unwrap_or_else(|| panic!("no disks: {inv}"));
    for d in disks {
        eprintln!(
            "inventory disk: {} size={} serial={} model={} tran={} wwn={} by_path={}",
            d["name"], d["size"], d["serial"], d["model"], d["tran"], d["wwn"], d["by_path"]
        );
    }
    let mib = 1024 * 1024;
    let checks = [
        ("/dev/vda", "VIRTIO-A", 1024, false, "virtio"),
        ("/dev/vdb", "VIRTIO-RO", 512, true, "virtio"),
        ("/dev/sda", "SCSI-A", 768, false, "scsi"),
        ("/dev/nvme0n1", "NVME-A", 640, false, "nvme"),
    ];
    for (name, serial, size, ro, bus) in checks {
        let d = disks
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("inventory lacks {name}: {}", inv["disks"]));
        assert_eq!(d["size"].as_u64(), Some(size * mib), "size of {name}: {d}");
        assert_eq!(
            d["serial"].as_str().map(str::trim),
            Some(serial),
            "serial of {name}: {d}"
        );
        // Bus: IPA reports lsblk's TRAN (nvme, sata, sas, ...); virtio-blk has none.
        match bus {
            "nvme" => assert_eq!(d["tran"], "nvme", "tran of {name}: {d}"),
            "virtio" => assert!(
                d["tran"].is_null() || d["tran"] == "virtio" || d["tran"] == "",
                "tran of {name}: {d}"
            ),
            _ => {}
        }
        if bus == "scsi" {
            assert_eq!(
                d["model"].as_str().map(str::trim),
                Some("QEMU HARDDISK"),
                "{d}"
            );
            assert!(
                d["wwn"]
                    .as_str()
                    .is_some_and(|w| w.contains("5000c50015ea")),
                "wwn of {name}: {d}"
            );
        }
        // IPA's disk objects carry no read-only flag; check it where the agent adds one.
        for key in ["read_only", "ro", "readonly"] {
            if let Some(v) = d.get(key).and_then(Value::as_bool) {
                assert_eq!(v, ro, "{key} of {name}: {d}");
            }
        }
    }
    assert!(
        !disks
            .iter()
            .any(|d| d["name"].as_str().is_some_and(|n| n.contains("nvme0c0n1"))),
        "the hidden NVMe path node must not be listed: {}",
        inv["disks"]
    );
    assert!(
        inv["interfaces"]
            .as_array()
            .is_some_and(|l| l.iter().any(|i| i["mac_address"] == DEFAULT_MAC)),
        "inventory interfaces: {}",
        inv["interfaces"]
    );
    assert_eq!(
        inv["system_vendor"]["manufacturer"], "HPE",
        "{}",
        inv["system_vendor"]
    );
    assert_eq!(inv["boot"]["current_boot_mode"], "bios", "{}", inv["boot"]);
}

/// The default ramdisk has no `ssacli`: on HPE SMBIOS the ProLiant manager declines, says
/// why at start-up, and a request only it could serve — hardware RAID, which the generic
/// manager declines — fails with "step not found" naming the reason. (`qemu_proliant` boots
/// the variant with the `ssacli` simulator.)
fn check_smart_array_declines(vm: &Vm) {
    // The check proves nothing if the default ramdisk carried an ssacli.
    let rd = ramdisk();
    let manifest = rd
        .initramfs
        .parent()
        .map(|d| d.join("ironic-agent.manifest.txt"))
        .and_then(|m| std::fs::read_to_string(m).ok())
        .unwrap_or_default();
    assert!(
        !manifest.contains("/usr/sbin/ssacli"),
        "the default ramdisk ({}) must not contain ssacli",
        rd.initramfs.display()
    );
    let log = vm.serial_log();
    assert!(
        log.contains("hardware manager GenericHardwareManager: loaded"),
        "{}",
        vm.serial_tail(60)
    );
    let line = log
        .lines()
        .find(|l| l.contains("hardware manager ProliantHardwareManager:"))
        .unwrap_or_else(|| panic!("no ProLiant start-up line\n{}", vm.serial_tail(80)));
    eprintln!("{line}");
    assert!(
        line.contains("ProliantHardwareManager: not loaded: no `ssacli` on PATH"),
        "start-up line: {line}"
    );

    let hardware_raid = json!({"target_raid_config": {"logical_disks": [
        {"size_gb": "MAX", "raid_level": "1", "controller": "Smart Array P440 in Slot 0"}
    ]}});
    let result = vm.clean_step("raid", "create_configuration", &hardware_raid);
    eprintln!("clean.execute_clean_step(raid.create_configuration): {result}");
    assert_eq!(result["command_status"], "FAILED", "{result}");
    let err = &result["command_error"];
    assert_eq!(err["type"], "HardwareManagerMethodNotFound", "{result}");
    let details = err["details"].as_str().unwrap_or_default();
    assert!(
        details.starts_with("Could not find method: create_configuration."),
        "{details}"
    );
    for want in [
        "asks for hardware RAID",
        "ProliantHardwareManager: not loaded",
        "no `ssacli` on PATH",
        "GenericHardwareManager: loaded",
    ] {
        assert!(details.contains(want), "{want:?} missing: {details}");
    }
}

#[test]
fn supervisor_restarts_a_crashed_agent() {
    let vm = Vm::boot(VmOptions {
        name: "qemu-boot-crash".into(),
        disks: vec![Disk::new(Bus::Virtio, 64)],
        agent_token: Some(TEST_TOKEN.into()),
        append: vec![
            "ironic-agent-test-crash-after=12".into(),
            "ironic-agent.rss-report-after=5".into(),
        ],
        ..VmOptions::default()
    });
    let (_, after_first) = vm
        .wait_for_serial_after(API_LISTENING, 0, AGENT_UP)
        .unwrap();
    vm.wait_api(Duration::from_secs(60));
    let rss = vm
        .wait_for_serial("ironic-agent VmRSS:", Duration::from_secs(60))
        .unwrap();
    eprintln!("{rss}");

    // The hook kills the agent; the supervisor says so and starts it again.
    let mut after_restart = after_first;
    for (pattern, secs) in [
        ("test hook: killed ironic-agent", 60),
        ("ironic-agent exited with status 137; restarting", 30),
        ("starting ironic-agent (run 2)", 30),
    ] {
        let (line, end) = vm
            .wait_for_serial_after(pattern, after_first, Duration::from_secs(secs))
            .unwrap();
        eprintln!("{line}");
        after_restart = after_restart.max(end);
    }
    vm.wait_for_serial_after(API_LISTENING, after_restart, Duration::from_secs(60))
        .unwrap();
    let status = vm.wait_api(Duration::from_secs(60));
    eprintln!(
        "agent API answering again {:.1?} after QEMU start: {status}",
        vm.elapsed()
    );
    // The restarted agent works: a command runs.
    let r = vm.command("clean.get_clean_steps", json!({"node": {}, "ports": []}));
    assert!(r["command_status"].is_string(), "{r}");
}
