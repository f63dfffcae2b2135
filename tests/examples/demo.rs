//! The main job, end to end, on one machine: build the deploy ramdisk, start an unmodified
//! Ironic 39.0.0 (from PyPI) on loopback with its default security settings, boot the
//! ramdisk in QEMU with three virtual disks, and let Ironic build software RAID on them
//! through our agent with a manual clean — then `provide` the node.
//!
//! Run with `./demo.sh` (which installs what is needed first).

use agent_tests::ironic::{Ironic, IronicOptions};
use agent_tests::qemu::{Bus, Disk, Vm, VmOptions, DEFAULT_MAC};
use serde_json::json;
use std::time::{Duration, Instant};

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

fn main() {
    let t0 = Instant::now();
    step(1, "start Ironic 39.0.0 on 127.0.0.1 (sqlite, noauth, fake-hardware; require_tls and TLS 1.3 left at Ironic's defaults)");
    let ironic = Ironic::start(IronicOptions {
        fast_track: true,
        ..IronicOptions::default()
    });
    println!("   Ironic API: {}", ironic.url());

    step(2, "enroll a node with the VM's MAC and make it manageable");
    let node = ironic.create_node("demo-node", json!({"power_interface": "fake"}));
    let uuid = node["uuid"].as_str().expect("node uuid").to_string();
    ironic.create_port(&uuid, DEFAULT_MAC);
    ironic.provision(&uuid, "manage", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(60))
        .expect("manageable");
    println!("   node {uuid}");

    step(
        3,
        "build the ramdisk (if needed) and boot it: 2 virtio + 1 NVMe disks of 2 GiB, 256 MiB RAM",
    );
    let agent_port = agent_tests::qemu::free_port();
    let vm = Vm::boot(VmOptions {
        name: "demo".into(),
        disks: vec![
            Disk::new(Bus::Virtio, 2048),
            Disk::new(Bus::Virtio, 2048),
            Disk::new(Bus::Nvme, 2048),
        ],
        agent_port: Some(agent_port),
        append: vec![
            format!("ipa-api-url=http://10.0.2.2:{}", ironic.port()),
            "ipa-advertise-host=127.0.0.1".into(),
            format!("ipa-advertise-port={agent_port}"),
        ],
        max_runtime: Duration::from_secs(1200),
        ..VmOptions::default()
    });
    vm.wait_for_serial("heartbeat accepted", Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(60)));
    println!(
        "   agent heartbeating {:.1?} after QEMU started (serial log: {})",
        vm.elapsed(),
        vm.dir().display()
    );

    step(4, "manual clean: raid.delete_configuration, deploy.erase_devices_metadata, raid.create_configuration");
    let target = json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": true, "volume_name": "root"},
        {"size_gb": "MAX", "raid_level": "5", "controller": "software", "volume_name": "data"}
    ]});
    println!("   target_raid_config: {target}");
    ironic.set_target_raid_config(&uuid, target);
    let t = Instant::now();
    ironic.provision(
        &uuid,
        "clean",
        json!({"clean_steps": [
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "deploy", "step": "erase_devices_metadata"},
            {"interface": "raid", "step": "create_configuration"}
        ]}),
    );
    let n = ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(80)));
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
    for line in vm
        .serial_log()
        .lines()
        .filter(|l| l.contains("mdadm --create") || l.contains("md/"))
        .take(8)
    {
        println!("   agent: {}", line.trim());
    }

    step(5, "provide: automated cleaning, to available");
    let t = Instant::now();
    ironic.provision(&uuid, "provide", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "available", Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(80)));
    println!("   available in {:.1?}", t.elapsed());
    println!(
        "\nDone in {:.1?}. The same agent process served both operations.",
        t0.elapsed()
    );
}
