//! Instance deployment end to end: the deploy ramdisk in QEMU writes the tiny test images of
//! `tests/images/build` onto virtual disks, then QEMU boots **the deployed disk** under OVMF
//! (no kernel of ours) and the instance prints its marker on the serial console.
//!
//! 1. `direct_deploy_through_ironic_boots_the_instance`: the real Ironic 39 (fast track,
//!    fake power, noop management), enroll → manage → provide (automated cleaning) →
//!    `deploy` of a raw whole-disk image with a config drive, served over http to both the
//!    conductor (HEAD, through a proxy setting) and the guest → `active`; the config drive
//!    partition is on the disk; the disk boots under OVMF.
//! 2. `qcow2_hints_and_wrong_checksum_on_one_vm`: one 256 MiB VM, three disks, the agent API
//!    driven directly: a 2 GiB-virtual qcow2 (336 MiB of file, more than the guest's RAM)
//!    lands on the disk the root device hint names, and only there; a wrong checksum fails
//!    with IPA's message and leaves no partition table on its target (read on the host); the
//!    qcow2-deployed disk boots under OVMF.
//!
//! The instance boot uses a small launcher here (OVMF pflash + the disk); it moves onto the
//! shared harness once that supports firmware selection.

use agent_tests::image_server::ImageServer;
use agent_tests::ironic::{Ironic, IronicOptions};
use agent_tests::qemu::{self, Bus, Disk, Vm, VmOptions, DEFAULT_MAC};
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

const TOKEN: &str = "qemuDeployTestToken0123456789abcdefghijklm";
const MARKER: &str = "IRONIC-AGENT-TEST-INSTANCE-BOOTED";
const MIB: u64 = 1 << 20;
const AGENT_UP: Duration = Duration::from_secs(240);

static ONE_VM: Mutex<()> = Mutex::new(());

/// The test images (built once, cached in `target/test-images`).
fn images() -> PathBuf {
    let out = qemu::repo_root().join("target/test-images");
    let _l =
        qemu::FileLock::acquire(&qemu::repo_root().join("target/ramdisk-cache/test-images.lock"));
    let st = Command::new(qemu::repo_root().join("tests/images/build"))
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

// ------------------------------------------------------------------------------------------
// Booting a deployed disk under OVMF
// ------------------------------------------------------------------------------------------

fn ensure_ovmf() -> PathBuf {
    let code = PathBuf::from("/usr/share/OVMF/OVMF_CODE_4M.fd");
    if !code.exists() {
        let _l =
            qemu::FileLock::acquire(&qemu::repo_root().join("target/ramdisk-cache/install.lock"));
        if !code.exists() {
            let st = Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq", "--no-install-recommends", "ovmf"])
                .status()
                .expect("apt-get install ovmf");
            assert!(st.success(), "apt-get install ovmf failed");
        }
    }
    code
}

/// Boots `disk` (a raw image) under OVMF with a fresh variable store, no kernel from the
/// host, and returns the serial console once the instance powers off (or after `limit`).
fn boot_instance(disk: &Path, limit: Duration) -> String {
    let code = ensure_ovmf();
    let dir = tempfile::tempdir().unwrap();
    let vars = dir.path().join("vars.fd");
    std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).unwrap();
    let serial = dir.path().join("serial.log");
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1",
        ])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
        ])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={}",
            code.display()
        ))
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,unit=1,file={}",
            vars.display()
        ))
        .arg("-drive")
        .arg(format!(
            "if=none,id=d0,file={},format=raw,readonly=on",
            disk.display()
        ))
        .args(["-device", "virtio-blk-pci,drive=d0,bootindex=0"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64");
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        sleep(Duration::from_millis(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
    eprintln!(
        "qemu-deploy: instance boot of {} took {:.1?}",
        disk.display(),
        t0.elapsed()
    );
    log
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

/// GPT partition entries (type GUID bytes present) of a disk image, or `None`.
fn gpt_partition_count(disk: &Path) -> Option<usize> {
    let h = read_at(disk, 512, 92);
    if &h[..8] != b"EFI PART" {
        return None;
    }
    let entries = read_at(disk, 1024, 128 * 128);
    Some(
        entries
            .chunks(128)
            .filter(|e| e[..16].iter().any(|&b| b != 0))
            .count(),
    )
}

/// Whether the disk has neither an MBR signature nor either GPT header.
fn no_partition_table(disk: &Path) -> bool {
    let size = std::fs::metadata(disk).unwrap().len();
    let head = read_at(disk, 0, 1024);
    let tail = read_at(disk, size - 512, 512);
    head[510..512] != [0x55, 0xaa] && &head[512..520] != b"EFI PART" && &tail[..8] != b"EFI PART"
}

fn is_zero(disk: &Path, len: usize) -> bool {
    read_at(disk, 0, len).iter().all(|&b| b == 0)
}

// ------------------------------------------------------------------------------------------
// The agent API, with long-running commands polled
// ------------------------------------------------------------------------------------------

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Runs `name` asynchronously and polls the command list until it is no longer RUNNING.
fn run_command(vm: &Vm, name: &str, params: Value, limit: Duration) -> Value {
    let url = format!(
        "{}/v1/commands/?wait=false&agent_token={TOKEN}",
        vm.agent_url()
    );
    let r = client()
        .post(&url)
        .json(&json!({"name": name, "params": params}))
        .send()
        .unwrap_or_else(|e| panic!("POST {name}: {e}\n{}", vm.serial_tail(40)));
    let status = r.status();
    let body: Value = r.json().unwrap();
    assert!(status.is_success(), "{name}: HTTP {status}: {body}");
    let id = body["id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    loop {
        let list: Value = client()
            .get(format!(
                "{}/v1/commands/?agent_token={TOKEN}",
                vm.agent_url()
            ))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        if let Some(c) = list["commands"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["id"] == id.as_str()))
        {
            if c["command_status"] != "RUNNING" {
                eprintln!(
                    "qemu-deploy: {name} -> {} in {:.1?}",
                    c["command_status"],
                    t0.elapsed()
                );
                return c.clone();
            }
        }
        assert!(
            t0.elapsed() < limit,
            "{name} still running after {limit:?}\n{}",
            vm.serial_tail(40)
        );
        sleep(Duration::from_secs(2));
    }
}

fn write_image_step(
    url: &str,
    id: &str,
    sum: &str,
    disk_format: Option<&str>,
    node: Value,
) -> Value {
    json!({
        "step": {"interface": "deploy", "step": "write_image", "args": {
            "image_info": {"id": id, "urls": [url], "disk_format": disk_format, "container_format": null,
                           "stream_raw_images": true, "node_uuid": "qemu-deploy",
                           "os_hash_algo": "sha256", "os_hash_value": sum},
            "configdrive": null}},
        "node": node, "ports": [], "deploy_version": null
    })
}

// ------------------------------------------------------------------------------------------
// 1. Through Ironic
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

#[test]
fn direct_deploy_through_ironic_boots_the_instance() {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let imgs = images();
    let server = ImageServer::start(imgs.clone());
    // The conductor HEADs the guest's URL through our server acting as a proxy; its own
    // calls to the API and to the agent (127.0.0.1) go direct.
    std::env::set_var("http_proxy", format!("http://127.0.0.1:{}", server.port));
    std::env::set_var("no_proxy", "127.0.0.1,localhost");
    let ironic = Ironic::start(IronicOptions {
        fast_track: true,
        ..IronicOptions::default()
    });
    let node = ironic.create_node(
        "qemu-deploy",
        json!({"management_interface": "noop", "deploy_interface": "direct",
               "properties": {"capabilities": "boot_mode:uefi"}}),
    );
    let uuid = node["uuid"].as_str().unwrap().to_string();
    ironic.create_port(&uuid, DEFAULT_MAC);
    ironic.provision(&uuid, "manage", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(60))
        .unwrap();

    let ironic_port = ironic.port();
    let agent_port = qemu::free_port();
    let vm = Vm::boot(VmOptions {
        disks: vec![Disk::new(Bus::Virtio, 4096).serial("QLAB-D0")],
        agent_port: Some(agent_port),
        append: vec![
            format!("ipa-api-url=http://10.0.2.2:{ironic_port}"),
            "ipa-advertise-host=127.0.0.1".into(),
            format!("ipa-advertise-port={agent_port}"),
            "ipa-image-download-connection-retries=0".into(),
        ],
        name: "qemu-deploy-ironic".into(),
        ..VmOptions::default()
    });
    vm.wait_for_serial("heartbeat accepted", AGENT_UP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ironic.get_node(&uuid)["driver_internal_info"]["agent_url"].is_null() {
        assert!(
            Instant::now() < deadline,
            "no agent_url\n{}",
            ironic.log_tail(40)
        );
        sleep(Duration::from_millis(500));
    }
    ironic.provision(&uuid, "provide", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "available", Duration::from_secs(420))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", vm.serial_tail(60), ironic.log_tail(60)));

    ironic.patch_node(
        &uuid,
        json!([
            {"op": "add", "path": "/instance_info/image_source", "value": server.url("disk.img")},
            {"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
            {"op": "add", "path": "/instance_info/image_os_hash_value", "value": sha256_of(&imgs, "disk.img")},
            {"op": "add", "path": "/instance_info/image_disk_format", "value": "raw"},
        ]),
    );
    let t = Instant::now();
    ironic.provision(&uuid, "active", json!({"configdrive": config_drive()}));
    let n = ironic
        .wait_for_provision_state(&uuid, "active", Duration::from_secs(600))
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n{}\n--- Ironic ---\n{}",
                vm.serial_tail(80),
                ironic.log_tail(80)
            )
        });
    eprintln!("qemu-deploy: deploy -> active in {:.1?}", t.elapsed());
    assert!(n["last_error"].is_null(), "last_error: {}", n["last_error"]);
    let log = vm.serial_log();
    assert!(
        log.contains("written to device /dev/vda root_uuid=0x00000000") || log.contains("verified"),
        "{}",
        vm.serial_tail(60)
    );
    let disk = vm.disk_images()[0].clone();
    sleep(Duration::from_secs(2));
    vm.kill();
    // The image (ESP) plus the config-2 partition made at the end of the disk.
    assert_eq!(
        gpt_partition_count(&disk),
        Some(2),
        "ESP and config drive partitions"
    );
    let size = std::fs::metadata(&disk).unwrap().len();
    let cd = read_at(&disk, size - 64 * MIB - 34 * 512, 64 * MIB as usize);
    assert!(
        cd.windows(5).any(|w| w == b"CD001"),
        "the config drive is in the last 64 MiB"
    );

    let console = boot_instance(&disk, Duration::from_secs(240));
    assert!(
        console.contains(MARKER),
        "the deployed disk did not boot under OVMF:\n{console}"
    );
    assert!(console.contains("BOOTMODE=uefi"));
    drop(ironic);
}

// ------------------------------------------------------------------------------------------
// 2. One VM: qcow2 larger than RAM, root device hints, wrong checksum
// ------------------------------------------------------------------------------------------

#[test]
fn qcow2_hints_and_wrong_checksum_on_one_vm() {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let imgs = images();
    let server = ImageServer::start(imgs.clone());
    let vm = Vm::boot(VmOptions {
        memory_mib: 256,
        disks: vec![
            Disk::new(Bus::Virtio, 1024).serial("QLAB-D0"),
            Disk::new(Bus::Virtio, 2560).serial("QLAB-D1"),
            Disk::new(Bus::Virtio, 1024).serial("QLAB-D2"),
        ],
        append: vec![
            format!("ipa-agent-token={TOKEN}"),
            "ipa-image-download-connection-retries=0".into(),
        ],
        name: "qemu-deploy-qcow2".into(),
        ..VmOptions::default()
    });
    let disks: Vec<PathBuf> = vm.disk_images().to_vec();
    // D2 carries a bootable image before the failed deploy: afterwards it must not.
    {
        let src = std::fs::read(imgs.join("disk.img")).unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&disks[2])
            .unwrap();
        f.write_all_at(&src, 0).unwrap();
    }
    vm.wait_api(AGENT_UP);

    let hint = |serial: &str| json!({"properties": {"root_device": {"serial": serial}}});
    let r = run_command(
        &vm,
        "deploy.execute_deploy_step",
        write_image_step(
            &server.url("big.qcow2"),
            "big.qcow2",
            &sha256_of(&imgs, "big.qcow2"),
            Some("qcow2"),
            hint("QLAB-D1"),
        ),
        Duration::from_secs(900),
    );
    assert_eq!(
        r["command_status"],
        "SUCCEEDED",
        "{r}\n{}",
        vm.serial_tail(60)
    );
    assert_eq!(
        r["command_result"]["deploy_result"]["result"],
        "prepare_image: image (big.qcow2) written to device /dev/vdb root_uuid=0x00000000"
    );
    let uuids = vm.command(TOKEN, "standby.get_partition_uuids", json!({}));
    assert_eq!(uuids["command_result"], json!({"root uuid": "0x00000000"}));
    let rss = vm
        .serial_log()
        .lines()
        .rev()
        .find(|l| l.contains("VmRSS"))
        .map(str::to_string);
    eprintln!("qemu-deploy: {}", rss.unwrap_or_default());

    let wrong = "0".repeat(64);
    let r = run_command(
        &vm,
        "deploy.execute_deploy_step",
        write_image_step(
            &server.url("disk.img"),
            "disk.img",
            &wrong,
            None,
            hint("QLAB-D2"),
        ),
        Duration::from_secs(300),
    );
    assert_eq!(r["command_status"], "FAILED", "{r}");
    assert_eq!(r["command_error"]["type"], "ImageChecksumError", "{r}");
    let details = r["command_error"]["details"].as_str().unwrap();
    for part in [
        "Image failed to verify against checksum".to_string(),
        server.url("disk.img"),
        format!("image checksum: {wrong}"),
        format!("verification checksum: {}", sha256_of(&imgs, "disk.img")),
        "/dev/vdc were wiped".to_string(),
    ] {
        assert!(details.contains(&part), "{part:?} missing in {details}");
    }
    sleep(Duration::from_secs(2));
    vm.kill();

    assert!(
        is_zero(&disks[0], 4 << 20),
        "the unhinted disk D0 must be untouched"
    );
    assert_eq!(
        gpt_partition_count(&disks[1]),
        Some(2),
        "big.qcow2 (ESP + data) on D1"
    );
    assert!(
        no_partition_table(&disks[2]),
        "after a checksum failure D2 must have no partition table"
    );
    let console = boot_instance(&disks[1], Duration::from_secs(240));
    assert!(
        console.contains(MARKER),
        "the qcow2-deployed disk did not boot under OVMF:\n{console}"
    );
}
