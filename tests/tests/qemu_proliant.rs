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
//!
//! The same scenario then deploys onto the logical drive, as Ironic's ProLiant flow does: on
//! a Smart Array a logical drive is a SCSI disk whose WWN starts its `Unique Identifier`,
//! so the VM has one `scsi-hd` per logical drive the simulator will create, with that WWN
//! ([`agent_tests::ssacli_ids`]). provide (automated cleaning without erase steps) → deploy
//! of `disk.img` (`direct`, fast track on the same ramdisk) → `active`: `write_image` follows
//! `properties.root_device` (the root volume's WWN, which `raid.create_configuration` put
//! there) to that disk and no other; the ramdisk powers itself off; then the deployed disk
//! boots under OVMF and the instance prints its marker.

use agent_tests::disk_image::{content_digest, gpt_entries};
use agent_tests::image_server::{test_images, ImageServer};
use agent_tests::ironic::{IronicOptions, NodeSpec};
use agent_tests::qemu::{
    self, Boot, Bus, Disk, DiskSet, FileLock, Firmware, Ramdisk, Vm, VmOptions,
};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use agent_tests::ssacli_ids::ld_wwn;
use agent_tests::support::{repo_root, run_checked, target_dir};
use serde_json::{json, Value};
use std::fs;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MARKER: &str = "IRONIC-AGENT-TEST-INSTANCE-BOOTED";

/// The slots of the fixture's controllers; each gets one logical drive (number 1).
const SLOTS: [u64; 2] = [2, 3];

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
    // The static binaries, in two invocations: the agent exactly as `ramdisk/build` builds
    // it (a no-op after the default ramdisk), the simulator alone. One invocation for both
    // unified their dependencies' features (the simulator's package pulls in an HTTP client),
    // so it rebuilt the agent with other features, and the next `ramdisk/build` rebuilt it
    // back: about two minutes each time, and the variant was then rebuilt too.
    for (package, bin) in [("ironic-agent", None), ("agent-tests", Some("ssacli"))] {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .env("CARGO_TARGET_DIR", &target)
            .args([
                "build",
                "--release",
                "--target",
                "x86_64-unknown-linux-musl",
                "-p",
                package,
            ]);
        if let Some(bin) = bin {
            cmd.args(["--bin", bin]);
        }
        timed(
            &mut cmd,
            &format!("cargo build --release --target x86_64-unknown-linux-musl -p {package}"),
        );
    }
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

/// Hardware RAID through Ironic on the simulated Smart Array, then a deploy onto the root
/// logical drive: the variant ramdisk, HPE SMBIOS, a real Ironic (fast-track, default TLS
/// settings), manual clean `[raid.delete_configuration, raid.create_configuration]` to
/// `manageable`, provide, deploy to `active`, and the deployed logical drive boots.
#[test]
fn smart_array_raid_through_ironic_in_qemu() {
    let t0 = Instant::now();
    let rd = hpe_ramdisk();
    eprintln!(
        "qemu-proliant: ssacli variant ready after {:.1?}",
        t0.elapsed()
    );
    let imgs = test_images();
    let server = ImageServer::start(imgs.clone());
    std::env::set_var("http_proxy", format!("http://127.0.0.1:{}", server.port));
    std::env::set_var("no_proxy", "127.0.0.1,localhost");
    // One SCSI disk per logical drive the clean creates, with its WWN: what the OS of a
    // ProLiant sees once the Smart Array presents the drives. 64 MiB hold disk.img (16 MiB).
    let set = DiskSet::new(
        "proliant",
        SLOTS
            .iter()
            .map(|&slot| Disk::new(Bus::Scsi, 64).wwn(ld_wwn(slot, 1)))
            .collect(),
    );
    // Hardware RAID (no `controller`: not software RAID).
    let target = json!({"logical_disks": [
        {"size_gb": 100, "raid_level": "1", "is_root_volume": true},
        {"size_gb": "MAX", "raid_level": "5"}
    ]});
    let s = Scenario::start(ScenarioOptions {
        ironic: IronicOptions {
            fast_track: true,
            // Automated cleaning without erase steps (erasure has its own tests); it would
            // not touch the RAID either (create_configuration has priority 0).
            erase_devices_priority: Some(0),
            erase_devices_metadata_priority: Some(0),
            ..IronicOptions::default()
        },
        node: NodeSpec::new("qemu-proliant")
            .fields(json!({
                "power_interface": "fake",
                // `fake` management refuses the boot device `disk` the deploy sets.
                "management_interface": "noop",
                // SeaBIOS for the ramdisk (faster); no install_bootloader then: the UEFI
                // path has its own tests, and the deployed disk boots by OVMF's
                // removable-media path below.
                "properties": {"capabilities": "boot_mode:bios"},
            }))
            .target_raid_config(target),
        vm: VmOptions {
            name: "qemu-proliant-raid".into(),
            boot: Boot::Kernel(rd),
            disks: set.disks().to_vec(),
            smbios: VmOptions::hpe_smbios(),
            append: vec!["ipa-image-download-connection-retries=0".into()],
            max_runtime: Duration::from_secs(900),
            ..VmOptions::default()
        },
        ..ScenarioOptions::default()
    });

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
    eprintln!("qemu-proliant: clean done after {:.1?}", t0.elapsed());

    // The disk the root volume's hint names, and the other one.
    let root_wwn = n["properties"]["root_device"]["wwn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let wwns: Vec<String> = set
        .disks()
        .iter()
        .enumerate()
        .map(|(i, d)| format!("0x{:016x}", d.wwn_for(i).unwrap_or(0)))
        .collect();
    let root = wwns
        .iter()
        .position(|w| *w == root_wwn)
        .unwrap_or_else(|| panic!("no VM disk has the root volume's WWN {root_wwn}: {wwns:?}"));
    let other = 1 - root;
    let untouched = content_digest(set.path(other));

    // provide → deploy disk.img → active, on the same ramdisk (fast track).
    s.provision_to(
        "provide",
        json!(null),
        "available",
        Duration::from_secs(300),
    );
    let sum = fs::read_to_string(imgs.join("disk.img.sha256")).unwrap();
    s.ironic.patch_node(
        s.uuid(),
        json!([
            {"op": "add", "path": "/instance_info/image_source", "value": server.url("disk.img")},
            {"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
            {"op": "add", "path": "/instance_info/image_os_hash_value", "value": sum.trim()},
            {"op": "add", "path": "/instance_info/image_disk_format", "value": "raw"},
        ]),
    );
    s.provision_to("active", json!(null), "active", Duration::from_secs(600));
    let log = s.vm.serial_log();
    let written = log
        .lines()
        .find(|l| l.contains("verified (sha256) and written to"))
        .unwrap_or_else(|| panic!("no write_image line\n{}", s.diagnostics(60)))
        .to_string();
    eprintln!("qemu-proliant: {}", written.trim());
    let Scenario { vm, ironic, .. } = s;
    assert!(
        vm.wait_exit(Duration::from_secs(120)).is_some(),
        "standby.power_off after the deploy did not power the ramdisk off\n{}",
        vm.serial_tail(40)
    );
    drop(vm);
    drop(ironic);

    // On the host: disk.img's GPT (its ESP) is on the root logical drive's disk only.
    let parts = gpt_entries(set.path(root)).unwrap_or_default();
    assert!(
        parts.len() == 1 && parts[0].esp,
        "disk.img on the disk with WWN {root_wwn}: {parts:?}"
    );
    assert_eq!(
        content_digest(set.path(other)),
        untouched,
        "the other logical drive's disk ({}) must be untouched",
        wwns[other]
    );

    // The deployed logical drive boots under OVMF (fresh variables: the removable path).
    let t = Instant::now();
    let vm = Vm::boot(VmOptions {
        boot: Boot::Disk,
        firmware: Firmware::Ovmf { vars: None },
        disks: vec![Disk::file(Bus::Virtio, set.path(root)).read_only()],
        max_runtime: Duration::from_secs(300),
        name: "qemu-proliant-instance".into(),
        ..VmOptions::default()
    });
    vm.wait_for_serial(MARKER, Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("the deployed logical drive did not boot under OVMF: {e}"));
    eprintln!(
        "qemu-proliant: the instance booted in {:.1?}; test done in {:.1?}",
        t.elapsed(),
        t0.elapsed()
    );
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
