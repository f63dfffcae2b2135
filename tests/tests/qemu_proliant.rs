//! QEMU proofs of the HPE Smart Array manager (`hwmgr-proliant`) in the deploy ramdisk.
//!
//! * `smart_array_raid_through_ironic_in_qemu`: a ramdisk VARIANT with the `ssacli`
//!   simulator (`tests/src/bin/ssacli.rs`, a static musl build) as `/usr/sbin/ssacli`, booted
//!   as an HPE ProLiant (SMBIOS) against a real Ironic: the manager loads
//!   (`SERVICE_PROVIDER`), and a manual clean `[raid.delete_configuration,
//!   raid.create_configuration]` builds hardware RAID on the simulated Smart Array P822;
//!   Ironic records `raid_config` and the root volume's WWN as `properties.root_device`.
//! * `smart_array_manager_declines_without_ssacli_in_qemu`: the DEFAULT ramdisk (no
//!   `ssacli`) on the same HPE SMBIOS: the manager declines with its reason, at start-up and
//!   in the "step not found" error of a step only it provides (`deploy.erase_devices`).
//!
//! The variant is built by `ramdisk/build --out <target>/ramdisk-hpe --add
//! <sim>:/usr/sbin/ssacli --add <state>:/var/lib/ssacli-sim/state.json` (reusing the default
//! ramdisk's `.deb` cache, with the release musl agent passed as `--agent`), and rebuilt only
//! when older than its inputs.
//!
//! The simulator's state is preloaded from `tests/qemu-fixtures/ssacli-sim-two-controllers.json`
//! (a P822 in slot 2 with the two 400 GB SSDs, a P440ar in slot 3 with the four 600 GB HDDs)
//! instead of its built-in single P822: the simulator numbers logical drives
//! `600508B1001C<slot:4><n:4>...` and the manager's WWN is the first 16 digits (spec: `'0x' +
//! lowercase(first 16 chars of Unique Identifier)`), so every logical drive of one simulated
//! controller gets the same WWN and the second `create` on a controller fails with "no new
//! Unique Identifier appeared". One logical disk per controller keeps the WWNs distinct.
//!
//! The QEMU
//! harness picks its images once per process (`$IRONIC_AGENT_KERNEL` /
//! `$IRONIC_AGENT_INITRAMFS`, else the default ramdisk), so the variant is booted by this
//! test binary re-running itself for that one test with those variables set. VMs of this
//! file run one at a time (a file lock: TCG on 2 cores).

use agent_tests::ironic::{Ironic, IronicOptions};
use agent_tests::qemu::{self, Bus, Disk, FileLock, Ramdisk, Vm, VmOptions, DEFAULT_MAC};
use serde_json::{json, Value};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

/// A pre-shared agent token (43 characters, like Ironic's), for boots without Ironic.
const TOKEN: &str = "qemuHpeTestToken0123456789abcdefghijklmnopq";
const _: () = assert!(TOKEN.len() == 43);

/// Boot to a serving API / first heartbeat: ~7 s under TCG when idle; allow for a busy host.
const AGENT_UP: Duration = Duration::from_secs(240);

/// Set in the re-run of this binary that boots the variant ramdisk.
const CHILD_ENV: &str = "QEMU_PROLIANT_VARIANT_CHILD";

/// The start-up line of a loaded ProLiant manager (`Dispatcher::manager_summary`).
const LOADED: &str = "ProliantHardwareManager: loaded (SERVICE_PROVIDER";

/// Where the simulator keeps its state in the guest (its default `$SSACLI_SIM_STATE`).
const SIM_STATE: &str = "/var/lib/ssacli-sim/state.json";

/// Prefix of every WWN of a logical drive of the simulator (`Unique Identifier`
/// `600508B1001C...`), as the manager reports it (`0x` + 16 lower-case hex digits).
const SIM_WWN_PREFIX: &str = "0x600508b1001c";

// ------------------------------------------------------------------------------------------
// Locks, paths, the variant ramdisk
// ------------------------------------------------------------------------------------------

/// Cargo's target directory: `$CARGO_TARGET_DIR` (absolute), else the one this test binary
/// was built in (`<target>/<profile>/deps/<exe>`), else `<repo>/target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        if dir.is_absolute() {
            return dir;
        }
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(Path::to_path_buf))?
    });
    from_exe.unwrap_or_else(|| qemu::repo_root().join("target"))
}

/// One VM of this file at a time, across threads and processes.
fn one_vm_at_a_time() -> FileLock {
    flock(&target_dir().join("qemu-proliant-vm.lock"))
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn run_checked(cmd: &mut Command, what: &str) {
    let started = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("qemu-proliant: {what}: done in {:.1?}", started.elapsed());
}

/// The ramdisk variant with the `ssacli` simulator as `/usr/sbin/ssacli`, in
/// `<target>/ramdisk-hpe`, (re)built when missing or older than its inputs.
fn hpe_ramdisk() -> Ramdisk {
    static RD: OnceLock<Ramdisk> = OnceLock::new();
    RD.get_or_init(build_hpe_ramdisk).clone()
}

fn build_hpe_ramdisk() -> Ramdisk {
    let root = qemu::repo_root();
    // The default ramdisk first: its build installs the musl target and musl-tools, and
    // fills the .deb cache the variant reuses.
    let default = qemu::ramdisk();
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Both static binaries (a no-op when fresh: Cargo leaves their mtimes alone).
    run_checked(
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
    let initramfs = out.join("ironic-agent.initramfs");
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
    let _lock = flock(&cache.join("build.lock"));
    let newest_input = inputs.iter().filter_map(|p| mtime(p)).max();
    let fresh = match (mtime(&initramfs), newest_input) {
        (Some(built), Some(input)) => built > input,
        _ => false,
    };
    if fresh {
        eprintln!(
            "qemu-proliant: the ssacli ramdisk variant is up to date ({})",
            out.display()
        );
    } else {
        let add = format!("{}:/usr/sbin/ssacli", sim.display());
        let add_state = format!("{}:{SIM_STATE}", state.display());
        run_checked(
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
    }
    let manifest = fs::read_to_string(out.join("ironic-agent.manifest.txt")).unwrap_or_default();
    for f in ["/usr/sbin/ssacli", SIM_STATE] {
        assert!(
            manifest.contains(f),
            "the variant's manifest does not list {f}:\n{manifest}"
        );
    }
    let vmlinux = out.join("ironic-agent.vmlinux");
    let kernel = if vmlinux.exists() {
        vmlinux
    } else {
        out.join("ironic-agent.kernel")
    };
    assert!(
        kernel.exists() && initramfs.exists(),
        "variant ramdisk outputs missing in {}",
        out.display()
    );
    Ramdisk { kernel, initramfs }
}

/// Runs test `name` of this binary again, in a new process that boots `rd` (the harness
/// takes its images from the environment, once per process). Its output is relayed line by
/// line (captured by the test harness like any other output).
fn run_in_child(name: &str, rd: &Ramdisk) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(&exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("IRONIC_AGENT_KERNEL", &rd.kernel)
        .env("IRONIC_AGENT_INITRAMFS", &rd.initramfs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: prctl in the child between fork and exec (async-signal-safe): the child (and
    // with it its QEMU and Ironic) dies with this test process.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    eprintln!(
        "qemu-proliant: running {name} in a child process with IRONIC_AGENT_KERNEL={} \
         IRONIC_AGENT_INITRAMFS={}",
        rd.kernel.display(),
        rd.initramfs.display()
    );
    let mut child = cmd.spawn().expect("re-running the test binary");
    let relay = |stream: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                eprintln!("  | {line}");
                lines.push(line);
            }
            lines
        })
    };
    let out = relay(Box::new(child.stdout.take().unwrap()));
    let err = relay(Box::new(child.stderr.take().unwrap()));
    let status = child.wait().expect("waiting for the child test process");
    let out = out.join().unwrap_or_default();
    let _ = err.join();
    assert!(
        status.success(),
        "{name} failed in the child process ({status})"
    );
    assert!(
        out.iter().any(|l| l.contains("test result: ok. 1 passed")),
        "the child process did not run {name}: {out:?}"
    );
}

// ------------------------------------------------------------------------------------------
// Agent API helpers
// ------------------------------------------------------------------------------------------

/// The start-up line `hardware manager ProliantHardwareManager: ...` of the serial log.
fn proliant_startup_line(log: &str) -> Option<&str> {
    log.lines()
        .find(|l| l.contains("hardware manager ProliantHardwareManager:"))
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

/// Hardware RAID through Ironic on the simulated Smart Array: the variant ramdisk, HPE
/// SMBIOS, a real Ironic (fast-track, default TLS settings), manual clean
/// `[raid.delete_configuration, raid.create_configuration]` to `manageable`.
#[test]
fn smart_array_raid_through_ironic_in_qemu() {
    if std::env::var_os(CHILD_ENV).is_some() {
        raid_through_ironic();
        return;
    }
    let started = Instant::now();
    let rd = hpe_ramdisk();
    eprintln!(
        "qemu-proliant: ssacli variant ready after {:.1?}",
        started.elapsed()
    );
    run_in_child("smart_array_raid_through_ironic_in_qemu", &rd);
    eprintln!(
        "qemu-proliant: smart_array_raid_through_ironic_in_qemu passed in {:.1?}",
        started.elapsed()
    );
}

/// The body of `smart_array_raid_through_ironic_in_qemu`, in the process that boots the
/// variant.
fn raid_through_ironic() {
    let rd = qemu::ramdisk();
    assert_eq!(
        Some(rd.initramfs.as_os_str()),
        std::env::var_os("IRONIC_AGENT_INITRAMFS").as_deref(),
        "the harness must boot the variant ramdisk"
    );
    let _vm_slot = one_vm_at_a_time();
    let t0 = Instant::now();
    let ironic = Ironic::start(IronicOptions {
        fast_track: true,
        ..IronicOptions::default()
    });
    let node = ironic.create_node("qemu-proliant", json!({"power_interface": "fake"}));
    let uuid = node["uuid"].as_str().unwrap().to_string();
    ironic.create_port(&uuid, DEFAULT_MAC);
    ironic.provision(&uuid, "manage", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(60))
        .unwrap();

    let agent_port = qemu::free_port();
    let vm = Vm::boot(VmOptions {
        name: "qemu-proliant-raid".into(),
        disks: vec![Disk::new(Bus::Virtio, 64)],
        mac: DEFAULT_MAC.to_string(),
        agent_port: Some(agent_port),
        smbios: VmOptions::hpe_smbios(),
        append: vec![
            format!("ipa-api-url=http://10.0.2.2:{}", ironic.port()),
            "ipa-advertise-host=127.0.0.1".into(),
            format!("ipa-advertise-port={agent_port}"),
        ],
        max_runtime: Duration::from_secs(900),
        ..VmOptions::default()
    });
    let hb = vm
        .wait_for_serial("heartbeat accepted", AGENT_UP)
        .unwrap_or_else(|e| panic!("{e}\n--- Ironic ---\n{}", ironic.log_tail(40)));
    eprintln!(
        "first heartbeat accepted {:.1?} after QEMU start: {hb}",
        vm.elapsed()
    );

    // The manager loaded on the simulated controller.
    let log = vm.serial_log();
    let line = proliant_startup_line(&log)
        .unwrap_or_else(|| panic!("no ProLiant start-up line\n{}", vm.serial_tail(80)));
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

    // The conductor records the heartbeat asynchronously, after the 202.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ironic.get_node(&uuid)["driver_internal_info"]["agent_url"].is_null() {
        assert!(
            Instant::now() < deadline,
            "the conductor never recorded agent_url\n{}",
            ironic.log_tail(40)
        );
        sleep(Duration::from_millis(500));
    }

    // Hardware RAID (no `controller`: not software RAID).
    let target = json!({"logical_disks": [
        {"size_gb": 100, "raid_level": "1", "is_root_volume": true},
        {"size_gb": "MAX", "raid_level": "5"}
    ]});
    ironic.set_target_raid_config(&uuid, target);
    let t = Instant::now();
    ironic.provision(
        &uuid,
        "clean",
        json!({"clean_steps": [
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "raid", "step": "create_configuration"}
        ]}),
    );
    let n = ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(600))
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n{}\n--- Ironic ---\n{}",
                vm.serial_tail(80),
                ironic.log_tail(60)
            )
        });
    eprintln!(
        "manual clean [raid.delete_configuration, raid.create_configuration] -> manageable in {:.1?}",
        t.elapsed()
    );
    eprintln!(
        "node.raid_config: {}",
        serde_json::to_string_pretty(&n["raid_config"]).unwrap_or_default()
    );
    eprintln!("node.properties: {}", n["properties"]);
    assert!(n["last_error"].is_null(), "last_error: {}", n["last_error"]);

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
    // The agent ran ssacli (the simulator) for both steps.
    let log = vm.serial_log();
    assert!(
        log.contains(LOADED),
        "serial log lacks {LOADED:?}\n{}",
        vm.serial_tail(60)
    );
    eprintln!("test body done in {:.1?}", t0.elapsed());
}

/// The default ramdisk has no `ssacli`: on HPE SMBIOS the manager declines, says why at
/// start-up, and the "step not found" error of its step names the reason.
#[test]
fn smart_array_manager_declines_without_ssacli_in_qemu() {
    let started = Instant::now();
    // Fail fast if the default ramdisk carried an ssacli (the test would prove nothing).
    let rd = qemu::ramdisk();
    let manifest = rd
        .initramfs
        .parent()
        .map(|d| d.join("ironic-agent.manifest.txt"))
        .and_then(|m| fs::read_to_string(m).ok())
        .unwrap_or_default();
    assert!(
        !manifest.contains("/usr/sbin/ssacli"),
        "the default ramdisk ({}) must not contain ssacli",
        rd.initramfs.display()
    );
    let _vm_slot = one_vm_at_a_time();
    let vm = Vm::boot(VmOptions {
        name: "qemu-proliant-declines".into(),
        disks: vec![Disk::new(Bus::Virtio, 64)],
        smbios: VmOptions::hpe_smbios(),
        append: vec![format!("ipa-agent-token={TOKEN}")],
        ..VmOptions::default()
    });
    vm.wait_for_serial("API listening", AGENT_UP).unwrap();
    wait_api(&vm, Duration::from_secs(60));
    eprintln!("agent API answering {:.1?} after QEMU start", vm.elapsed());

    // Start-up: the manager's verdict with its reason.
    let log = vm.serial_log();
    assert!(
        log.contains("hardware manager GenericHardwareManager: loaded"),
        "{}",
        vm.serial_tail(60)
    );
    let line = proliant_startup_line(&log)
        .unwrap_or_else(|| panic!("no ProLiant start-up line\n{}", vm.serial_tail(80)));
    eprintln!("{line}");
    assert!(
        line.contains("ProliantHardwareManager: not loaded: no `ssacli` on PATH"),
        "start-up line: {line}"
    );

    // A step only the ProLiant manager has: not found, with the reason.
    let result = run_command(
        &vm,
        "clean.execute_clean_step",
        json!({
            "step": {"interface": "deploy", "step": "erase_devices", "priority": 0},
            "node": {},
            "ports": [],
            "clean_version": null
        }),
    );
    eprintln!("clean.execute_clean_step(deploy.erase_devices): {result}");
    assert_eq!(result["command_status"], "FAILED", "{result}");
    let err = &result["command_error"];
    assert_eq!(err["type"], "HardwareManagerMethodNotFound", "{result}");
    let details = err["details"].as_str().unwrap_or_default();
    assert!(
        details.starts_with("Could not find method: erase_devices."),
        "{details}"
    );
    assert!(
        details.contains("ProliantHardwareManager: not loaded"),
        "{details}"
    );
    assert!(details.contains("no `ssacli` on PATH"), "{details}");
    assert!(
        details.contains("GenericHardwareManager: loaded"),
        "{details}"
    );
    eprintln!(
        "smart_array_manager_declines_without_ssacli_in_qemu done in {:.1?}",
        started.elapsed()
    );
}

fn run_command(vm: &Vm, name: &str, params: Value) -> Value {
    vm.command(TOKEN, name, params)
}

fn wait_api(vm: &Vm, timeout: Duration) {
    vm.wait_api(timeout);
}

fn flock(path: &Path) -> FileLock {
    FileLock::acquire(path)
}
