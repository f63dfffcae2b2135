//! Deploy benchmark (figures, not assertions): in one 256 MiB QEMU guest,
//! 1. the raw write bandwidth of a virtual disk (`dd` of 512 MiB of zeros, 4 MiB blocks,
//!    fsync, run by the ramdisk's init before the agent starts: `ironic-agent.bench-write`),
//! 2. `deploy.write_image` of a 512 MiB raw image (a GPT, then random bytes; sha256) onto the
//!    same disk,
//! 3. `deploy.write_image` of the 2 GiB-virtual qcow2 of `tests/images/build`,
//!
//! and prints throughput and the agent's peak RSS (VmHWM) side by side with the goals.
//! Run: `cargo run -p agent-tests --example bench_deploy` (as root; builds what it needs).

use agent_tests::image_server::ImageServer;
use agent_tests::qemu::{self, Bus, Disk, Vm, VmOptions};
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

fn write_image(vm: &Vm, url: &str, id: &str, sum: &str) -> (Value, Duration) {
    let t = Instant::now();
    let params = json!({
        "step": {"interface": "deploy", "step": "write_image", "args": {
            "image_info": {"id": id, "urls": [url], "disk_format": null, "stream_raw_images": true,
                           "os_hash_algo": "sha256", "os_hash_value": sum},
            "configdrive": null}},
        "node": {"properties": {"root_device": {"serial": "BENCH"}}}, "ports": []});
    let r = vm.command_within(
        "deploy.execute_deploy_step",
        params,
        Duration::from_secs(3600),
    );
    (r, t.elapsed())
}

/// The agent's own figures from its log line ("... in X s (Y MiB/s received); agent peak RSS Z").
fn agent_line(vm: &Vm, id: &str) -> String {
    vm.serial_log()
        .lines()
        .rev()
        .find(|l| l.contains(&format!("Image {id} (")) && l.contains("peak RSS"))
        .unwrap_or("")
        .to_string()
}

fn main() {
    let root = qemu::repo_root();
    let imgs = root.join("target/test-images");
    let st = Command::new(root.join("tests/images/build"))
        .arg(&imgs)
        .status()
        .unwrap();
    assert!(st.success());
    // A whole-disk image must hold a partition table: the test image's GPT and ESP, then
    // random bytes up to 512 MiB.
    let bench_raw = imgs.join("bench-gpt.raw");
    if !bench_raw.exists() {
        let mut f = std::fs::File::create(&bench_raw).unwrap();
        let mut head = std::fs::File::open(imgs.join("disk.img")).unwrap();
        let head_len = std::io::copy(&mut head, &mut f).unwrap();
        let mut random = std::fs::File::open("/dev/urandom")
            .unwrap()
            .take((512 << 20) - head_len);
        std::io::copy(&mut random, &mut f).unwrap();
    }
    let raw_sum = sha256(&bench_raw);
    let qcow_sum = std::fs::read_to_string(imgs.join("big.qcow2.sha256"))
        .unwrap()
        .trim()
        .to_string();
    let server = ImageServer::start(imgs.clone());
    let vm = Vm::boot(VmOptions {
        memory_mib: 256,
        disks: vec![Disk::new(Bus::Virtio, 2560).serial("BENCH")],
        agent_token: Some(qemu::TEST_TOKEN.into()),
        append: vec!["ironic-agent.bench-write=vda:512".into()],
        max_runtime: Duration::from_secs(3600),
        name: "bench-deploy".into(),
        ..VmOptions::default()
    });
    let raw_line = vm
        .wait_for_serial("bench: raw write", Duration::from_secs(900))
        .unwrap();
    vm.wait_api(Duration::from_secs(300));
    let (r1, t1) = write_image(&vm, &server.url("bench-gpt.raw"), "bench-gpt.raw", &raw_sum);
    assert_eq!(r1["command_status"], "SUCCEEDED", "{r1}");
    let l1 = agent_line(&vm, "bench-gpt.raw");
    let (r2, t2) = write_image(&vm, &server.url("big.qcow2"), "big.qcow2", &qcow_sum);
    assert_eq!(r2["command_status"], "SUCCEEDED", "{r2}");
    let l2 = agent_line(&vm, "big.qcow2");
    let mibs = |secs: f64| 512.0 / secs;
    println!(
        "\nDeploy benchmark ({}, 1 vCPU, 256 MiB guest, virtio-blk):",
        if qemu::kvm_usable() { "KVM" } else { "TCG" }
    );
    println!(
        "  raw disk write (dd, zeros):      {}",
        raw_line.split("bench: ").nth(1).unwrap_or("?")
    );
    println!(
        "  write_image 512 MiB raw (http):  {:.1} s, {:.1} MiB/s end to end   [goal >= 90% of dd]",
        t1.as_secs_f64(),
        mibs(t1.as_secs_f64())
    );
    println!(
        "  write_image 2 GiB qcow2 (336 MiB file): {:.1} s",
        t2.as_secs_f64()
    );
    // The agent's own split of the time ("... MiB/s received; time receiving X s, hashing
    // Y s, writing Z s, flushing W s)").
    let split = |l: &str| {
        l.split("received; ")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap_or("?")
            .to_string()
    };
    println!("  agent, raw:   {}", split(&l1));
    println!("  agent, qcow2: {}", split(&l2));
    println!(
        "  agent after raw:   {}",
        l1.split("; ").last().unwrap_or("?")
    );
    println!(
        "  agent after qcow2: {}   [goal <= 32 MiB]",
        l2.split("; ").last().unwrap_or("?")
    );
}
