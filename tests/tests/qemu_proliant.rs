//! QEMU proof of the HPE Smart Array manager (`hwmgr-proliant`) in the deploy ramdisk:
//! a ramdisk VARIANT with the `ssacli` simulator (`tests/src/bin/ssacli.rs`, a static musl
//! build) as `/usr/sbin/ssacli`, booted as an HPE ProLiant (SMBIOS) against a real Ironic: the
//! manager loads (`SERVICE_PROVIDER`), and a manual clean `[raid.delete_configuration,
//! raid.create_configuration]` builds hardware RAID on the simulated Smart Arrays; Ironic
//! records `raid_config` and the root volume's WWN as `properties.root_device`.
//!
//! The opposite case (the DEFAULT ramdisk, no `ssacli`: the manager declines with its reason)
//! shares `qemu_boot`'s HPE VM.
//!
//! The variant is built by `ramdisk/build --out <target>/ramdisk-hpe --add
//! <sim>:/usr/sbin/ssacli --add <state>:/var/lib/ssacli-sim/state.json` (reusing the default
//! ramdisk's `.deb` cache, with the release musl agent passed as `--agent`), and rebuilt only
//! when older than its inputs; the launcher boots it as [`Boot::Kernel`].
//!
//! The simulator's state is preloaded from
//! `tests/qemu-fixtures/ssacli-sim-two-controllers.json` (a P822 in slot 2 with the two
//! 400 GB SSDs, a P440ar in slot 3 with the four 600 GB HDDs) instead of its built-in
//! single P822: the simulator numbers logical drives `600508B1001C<slot:4><n:4>...` and
//! the manager's WWN is the first 16 digits (as `proliantutils/hpssa/objects.py:
//! LogicalDrive.__init__`: `'0x' + lowercase(first 16 chars of Unique Identifier)`), so
//! every logical drive of one simulated controller gets the same WWN and the second
//! `create` on a controller fails with "no new Unique Identifier appeared". One logical
//! disk per controller keeps the WWNs distinct.

use agent_tests::qemu::{self, Boot, Bus, Disk, FileLock, Ramdisk, VmOptions};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use agent_tests::support::{repo_root, run_checked, target_dir};
use serde_json::{json, Value};
use std::fs;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The start-up line of a loaded ProLiant manager (`Dispatcher::manager_summary`).
const LOADED: &str = "ProliantHardwareManager: loaded (SERVICE_PROVIDER";

/// Where the simulator keeps its state in the guest (its default `$SSACLI_SIM_STATE`).
const SIM_STATE: &str = "/var/lib/ssacli-sim/state.json";

/// Prefix of every WWN of a logical drive of the simulator (`Unique Identifier`
/// `600508B1001C...`), as the manager reports it (`0x` + 16 lower-case hex digits).
const SIM_WWN_PREFIX: &str = "0x600508b1001c";

/// Runs `cmd` (see [`run_checked`]) and says how long it took.
fn timed(cmd: &mut Command, what: &str) {
    let started = Instant::now();
    run_checked(cmd.stdin(std::process::Stdio::null()), what);
    eprintln!("qemu-proliant: {what}: done in {:.1?}", started.elapsed());
}

/// The ramdisk variant with the `ssacli` simulator as `/usr/sbin/ssacli`, in
/// `<target>/ramdisk-hpe`, (re)built when missing or older than its inputs.
fn hpe_ramdisk() -> Ramdisk {
    static RD: OnceLock<Ramdisk> = OnceLock::new();
    RD.get_or_init(build_hpe_ramdisk).clone()
}

fn build_hpe_ramdisk() -> Ramdisk {
    let root = repo_root();
    // The default ramdisk first: its build installs the musl target and musl-tools, and
    // fills the .deb cache the variant reuses.
    let default = qemu::ramdisk();
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Both static binaries (a no-op when fresh: Cargo leaves their mtimes alone).
    timed(
        Command::new(&cargo)
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target)
            .args([
                "build",
                "--release",
                "--target",
                "x86_64-unknown-linux-musl",
                "-p",
                "ironic-agent",
                "--bin",
                "ironic-agent",
                "-p",
                "agent-tests",
                "--bin",
                "ssacli",
            ]),
        "cargo build --release --target x86_64-unknown-linux-musl (ironic-agent, ssacli)",
    );
    let musl = target.join("x86_64-unknown-linux-musl/release");
    let agent = musl.join("ironic-agent");
    let sim = musl.join("ssacli");
    let state = root.join("tests/qemu-fixtures/ssacli-sim-two-controllers.json");
    let out = target.join("ramdisk-hpe");
    let inputs = [
        default.initramfs.clone(),
        agent.clone(),
        sim.clone(),
        state.clone(),
        root.join("ramdisk/build"),
        root.join("ramdisk/init"),
        root.join("ramdisk/udhcpc.script"),
    ];
    // The default ramdisk's cache and scratch space, under the harness's own build lock.
    let cache = root.join("target/ramdisk-cache");
    let _lock = FileLock::acquire(&cache.join("build.lock"));
    if qemu::stale(&out.join("ironic-agent.initramfs"), &inputs) {
        let add = format!("{}:/usr/sbin/ssacli", sim.display());
        let add_state = format!("{}:{SIM_STATE}", state.display());
        timed(
            Command::new(root.join("ramdisk/build"))
                .current_dir(&root)
                .env("CARGO_TARGET_DIR", &target)
                .arg("--out")
                .arg(&out)
                .arg("--cache")
                .arg(&cache)
                .arg("--agent")
                .arg(&agent)
                .args(["--add", &add, "--add", &add_state]),
            &format!(
                "ramdisk/build --out {} --add {add} --add {add_state} (the ssacli variant)",
                out.display()
            ),
        );
    } else {
        eprintln!(
            "qemu-proliant: the ssacli ramdisk variant is up to date ({})",
            out.display()
        );
    }
    let manifest = fs::read_to_string(out.join("ironic-agent.manifest.txt")).unwrap_or_default();
    for f in ["/usr/sbin/ssacli", SIM_STATE] {
        assert!(
            manifest.contains(f),
            "the variant's manifest does not list {f}:\n{manifest}"
        );
    }
    qemu::ramdisk_in(&out)
}

/// Hardware RAID through Ironic on the simulated Smart Array: the variant ramdisk, HPE
/// SMBIOS, a real Ironic (fast-track, default TLS settings), manual clean
/// `[raid.delete_configuration, raid.create_configuration]` to `manageable`.
#[test]
fn smart_array_raid_through_ironic_in_qemu() {
    let t0 = Instant::now();
    let rd = hpe_ramdisk();
    eprintln!(
        "qemu-proliant: ssacli variant ready after {:.1?}",
        t0.elapsed()
    );
    // Hardware RAID (no `controller`: not software RAID).
    let target = json!({"logical_disks": [
        {"size_gb": 100, "raid_level": "1", "is_root_volume": true},
        {"size_gb": "MAX", "raid_level": "5"}
    ]});
    let mut opts = ScenarioOptions {
        vm: VmOptions {
            name: "qemu-proliant-raid".into(),
            boot: Boot::Kernel(rd),
            disks: vec![Disk::new(Bus::Virtio, 64)],
            smbios: VmOptions::hpe_smbios(),
            max_runtime: Duration::from_secs(900),
            ..VmOptions::default()
        },
        ..ScenarioOptions::default()
    };
    opts.node = opts.node.target_raid_config(target);
    let s = Scenario::start(opts);

    // The manager loaded on the simulated controllers.
    let log = s.vm.serial_log();
    let line = log
        .lines()
        .find(|l| l.contains("hardware manager ProliantHardwareManager:"))
        .unwrap_or_else(|| panic!("no ProLiant start-up line\n{}", s.vm.serial_tail(80)));
    eprintln!("{line}");
    assert!(
        line.contains(LOADED),
        "the ProLiant manager should be loaded with the simulator as ssacli: {line}"
    );
    assert!(
        line.contains("Smart Array P822 in Slot 2")
            && line.contains("Smart Array P440ar in Slot 3"),
        "the reason names the simulated controllers: {line}"
    );

    let n = s.clean(
        json!([
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "raid", "step": "create_configuration"}
        ]),
        Duration::from_secs(600),
    );
    eprintln!(
        "node.raid_config: {}",
        serde_json::to_string_pretty(&n["raid_config"]).unwrap_or_default()
    );
    eprintln!("node.properties: {}", n["properties"]);
    check_recorded_raid(&n);
    // The agent ran ssacli (the simulator) for both steps.
    let log = s.vm.serial_log();
    assert!(
        log.contains(LOADED),
        "serial log lacks {LOADED:?}\n{}",
        s.vm.serial_tail(60)
    );
    eprintln!("test done in {:.1?}", t0.elapsed());
}

/// What Ironic recorded after the clean: both logical disks on the simulated controllers'
/// drives with their WWNs, and the root volume's WWN as the node's root device hint.
fn check_recorded_raid(n: &Value) {
    // What Ironic recorded: both logical disks, placed on the controller's drives.
    let lds = n["raid_config"]["logical_disks"]
        .as_array()
        .unwrap_or_else(|| panic!("no raid_config.logical_disks: {}", n["raid_config"]));
    assert_eq!(lds.len(), 2, "two logical disks: {}", n["raid_config"]);
    for ld in lds {
        assert!(
            ld["controller"].as_str().is_some_and(|c| [
                "Smart Array P822 in Slot 2",
                "Smart Array P440ar in Slot 3"
            ]
            .contains(&c)),
            "controller of {ld}"
        );
        assert_ne!(ld["controller"], "software", "{ld}");
        let pds = ld["physical_disks"]
            .as_array()
            .unwrap_or_else(|| panic!("no physical_disks: {ld}"));
        assert!(!pds.is_empty(), "{ld}");
        assert!(
            pds.iter()
                .all(|p| p.as_str().is_some_and(|p| p.starts_with("1I:1:"))),
            "physical disks are the controller's drive ids: {ld}"
        );
        let wwn = ld["root_device_hint"]["wwn"].as_str().unwrap_or_default();
        assert!(
            wwn.starts_with(SIM_WWN_PREFIX) && wwn.len() == 18 && wwn == wwn.to_lowercase(),
            "root_device_hint of {ld}"
        );
    }
    let root = lds
        .iter()
        .find(|ld| ld["is_root_volume"] == true)
        .unwrap_or_else(|| panic!("no root volume in {}", n["raid_config"]));
    assert_eq!(root["raid_level"], "1", "{root}");
    assert_eq!(
        root["physical_disks"].as_array().map(Vec::len),
        Some(2),
        "{root}"
    );
    let data = lds.iter().find(|ld| ld["is_root_volume"] != true).unwrap();
    assert_eq!(data["raid_level"], "5", "{data}");
    assert!(
        data["physical_disks"]
            .as_array()
            .is_some_and(|p| p.len() >= 3),
        "{data}"
    );
    assert_ne!(
        root["root_device_hint"], data["root_device_hint"],
        "each volume has its own WWN"
    );

    // The root volume's hint became the node's root device hint.
    assert_eq!(
        n["properties"]["root_device"],
        json!({"wwn": root["root_device_hint"]["wwn"]}),
        "properties: {}",
        n["properties"]
    );
    assert!(n["properties"]["root_device"]["wwn"]
        .as_str()
        .is_some_and(|w| w.starts_with(SIM_WWN_PREFIX)));
}
