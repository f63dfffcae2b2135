//! The main job, end to end, on one machine: build the deploy ramdisk, start an unmodified
//! Ironic 39.0.0 (from PyPI) on loopback with its default security settings, boot the
//! ramdisk in QEMU with three virtual disks, and let Ironic build software RAID on them
//! through our agent with a manual clean — then `provide` the node.
//!
//! Run with `./demo.sh` (which installs what is needed first).

use agent_tests::qemu::{Bus, Disk, VmOptions};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use serde_json::json;
use std::time::{Duration, Instant};

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

fn main() {
    let t0 = Instant::now();
    step(1, "start Ironic 39.0.0 on 127.0.0.1 (sqlite, noauth, fake-hardware; require_tls and TLS 1.3 left at Ironic's defaults)");
    step(
        2,
        "enroll a node with the VM's MAC and a target RAID config, make it manageable",
    );
    step(
        3,
        "build the ramdisk (if needed) and boot it: 2 virtio + 1 NVMe disks of 2 GiB, 256 MiB RAM; wait for the agent's lookup and first heartbeat",
    );
    let target = json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": true, "volume_name": "root"},
        {"size_gb": "MAX", "raid_level": "5", "controller": "software", "volume_name": "data"}
    ]});
    let mut opts = ScenarioOptions {
        vm: VmOptions {
            name: "demo".into(),
            disks: vec![
                Disk::new(Bus::Virtio, 2048),
                Disk::new(Bus::Virtio, 2048),
                Disk::new(Bus::Nvme, 2048),
            ],
            max_runtime: Duration::from_secs(1200),
            ..VmOptions::default()
        },
        ..ScenarioOptions::default()
    };
    opts.node.name = "demo-node".into();
    opts.node = opts.node.target_raid_config(target.clone());
    let s = Scenario::start(opts);
    println!("   Ironic API: {}", s.ironic.url());
    println!("   node {}", s.uuid());
    println!("   target_raid_config: {target}");
    println!(
        "   agent heartbeating {:.1?} after QEMU started, called back at {} (serial log: {})",
        s.vm.elapsed(),
        s.first_heartbeat["agent_url"],
        s.vm.dir().display()
    );

    step(4, "manual clean: raid.delete_configuration, deploy.erase_devices_metadata, raid.create_configuration");
    let t = Instant::now();
    let n = s.clean(
        json!([
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "deploy", "step": "erase_devices_metadata"},
            {"interface": "raid", "step": "create_configuration"}
        ]),
        Duration::from_secs(600),
    );
    println!(
        "   cleaned in {:.1?}; node.raid_config as Ironic recorded it:",
        t.elapsed()
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&n["raid_config"]).unwrap_or_default()
    );
    println!(
        "   properties.capabilities: {}",
        n["properties"]["capabilities"]
    );
    for line in
        s.vm.serial_log()
            .lines()
            .filter(|l| l.contains("mdadm --create") || l.contains("md/"))
            .take(8)
    {
        println!("   agent: {}", line.trim());
    }

    step(5, "provide: automated cleaning, to available");
    let t = Instant::now();
    s.provision_to(
        "provide",
        json!(null),
        "available",
        Duration::from_secs(600),
    );
    println!("   available in {:.1?}", t.elapsed());
    println!(
        "\nDone in {:.1?}. The same agent process served both operations.",
        t0.elapsed()
    );
}
