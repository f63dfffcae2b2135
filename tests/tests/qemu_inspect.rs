//! In-band inspection through the real Ironic 39 (`agent` inspect interface), in QEMU.
//!
//! Ironic is set up as `docs`-free fake hardware allows (unmanaged boot:
//! `[inspector]require_managed_boot = false`), with the optional hooks that fill the node's
//! properties (`memory`, `cpus`, `root-device`, `boot-mode`) and `add_ports = all`, and fast
//! track. The node has a port for the VM's first NIC only (lookup needs one: fake
//! management cannot pre-create ports) and a root device hint by WWN. One VM (TCG, 256 MiB):
//!
//! | device | what it shows |
//! |---|---|
//! | NIC `52:54:00:12:34:56` | QEMU's user network, DHCP; the PXE NIC (`BOOTIF`) |
//! | NIC `52:54:00:12:34:57` | no network behind it: reported, no lease |
//! | `/dev/vda` | virtio, 5 GiB sparse: the root disk the agent guesses without hints |
//! | `/dev/sda` | virtio-scsi, 2 GiB sparse, WWN `0x5000c50015ea0001`: the hinted root disk |
//!
//! `baremetal node inspect` → `inspect wait`; the ramdisk boots with
//! `ipa-inspection-callback-url` (and `ipa-collect-lldp=1`: QEMU sends no LLDP, so the raw
//! sockets are opened and the bounded wait ends empty); the node becomes `manageable` with
//! `cpu_arch`, `memory_mb` (from the SMBIOS table), `cpus`, `local_gb` (the hinted disk,
//! matched against our disk objects), the boot mode capability, and a port for the second
//! NIC created by the `ports` hook; `GET /v1/nodes/{id}/inventory` holds our inventory and
//! plugin data. Then the same agent, without a reboot (fast track), looks itself up with
//! the uuid inspection returned and runs a manual clean.

use agent_tests::ironic::{IronicOptions, NodeSpec};
use agent_tests::qemu::{Bus, Disk, VmOptions, DEFAULT_MAC};
use agent_tests::scenario::{Scenario, ScenarioOptions};
use serde_json::{json, Value};
use std::time::Duration;

const SECOND_NIC: &str = "52:54:00:12:34:57";
const HINTED_WWN: &str = "0x5000c50015ea0001";
const GIB: u64 = 1 << 30;

const IRONIC_CONFIG: &str = "\
[DEFAULT]
enabled_inspect_interfaces = agent,fake,no-inspect

[inspector]
require_managed_boot = false
hooks = ramdisk-error,validate-interfaces,ports,architecture,memory,cpus,root-device,boot-mode
add_ports = all
";

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[key].as_str().map(str::to_string))
        .collect()
}

#[test]
fn inspection_fills_the_node_then_fast_track_cleans() {
    let s = Scenario::start(ScenarioOptions {
        ironic: IronicOptions {
            fast_track: true,
            extra_config: Some(IRONIC_CONFIG.into()),
            ..IronicOptions::default()
        },
        node: NodeSpec::new("qemu-inspect").fields(json!({
            "power_interface": "fake",
            "inspect_interface": "agent",
            "properties": {"cpu_arch": "unknown-before-inspection",
                           "root_device": {"wwn": HINTED_WWN}},
        })),
        vm: VmOptions {
            name: "qemu-inspect".into(),
            disks: vec![Disk::new(Bus::Virtio, 5 * 1024), Disk::new(Bus::Scsi, 2048)],
            extra_nics: vec![SECOND_NIC.into()],
            append: vec![
                format!("BOOTIF=01-{}", DEFAULT_MAC.replace(':', "-")),
                "ipa-collect-lldp=1".into(),
                "ipa-lldp-timeout=3".into(),
            ],
            ..VmOptions::default()
        },
        inspect: true,
        ..ScenarioOptions::default()
    });
    let uuid = s.uuid().to_string();
    let node = s
        .ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.diagnostics(80)));
    assert!(node["last_error"].is_null(), "{}", node["last_error"]);

    // The agent: one line for the accepted POST, lookup with the uuid it returned, LLDP
    // sockets opened on both NICs and the bounded wait ended.
    let serial = s.vm.serial_log();
    assert!(
        serial.contains("inspection: http://10.0.2.2:")
            && serial.contains("accepted the data (202)"),
        "{}",
        s.diagnostics(80)
    );
    assert!(
        serial.contains(&format!("node=Some(\"{uuid}\")")),
        "lookup with the uuid: {serial}"
    );
    assert!(!serial.contains("LLDP: cannot listen"), "{serial}");
    assert!(
        serial.contains("LLDP: nothing received within 3s on eth0,eth1"),
        "{serial}"
    );

    // The hooks' results on the node.
    let props = &node["properties"];
    assert_eq!(props["cpu_arch"], "x86_64", "{props}");
    assert_eq!(
        props["memory_mb"], 256,
        "physical_mb from the SMBIOS table: {props}"
    );
    assert_eq!(props["cpus"], 1, "{props}");
    assert_eq!(
        props["local_gb"], 1,
        "the 2 GiB disk of the WWN hint, minus 1: {props}"
    );
    assert!(
        props["capabilities"]
            .as_str()
            .is_some_and(|c| c.contains("boot_mode:bios")),
        "{props}"
    );

    // Ports: the enrolled one (the PXE NIC) and the one the ports hook created.
    let ports = s.ironic.get(&format!("/v1/nodes/{uuid}/ports/detail"))["ports"].clone();
    let mut macs = names(&ports, "address");
    macs.sort();
    assert_eq!(macs, [DEFAULT_MAC, SECOND_NIC], "{ports}");
    for p in ports.as_array().unwrap() {
        assert_eq!(p["pxe_enabled"], p["address"] == DEFAULT_MAC, "{p}");
    }

    // What the conductor stored: our inventory and plugin data.
    let stored = s.ironic.get(&format!("/v1/nodes/{uuid}/inventory"));
    let inv = &stored["inventory"];
    let mut nic_macs = names(&inv["interfaces"], "mac_address");
    nic_macs.sort();
    assert_eq!(nic_macs, [DEFAULT_MAC, SECOND_NIC], "{inv}");
    assert_eq!(inv["interfaces"][0]["ipv4_address"], "10.0.2.15", "{inv}");
    assert_eq!(inv["interfaces"][1]["ipv4_address"], Value::Null, "{inv}");
    assert_eq!(inv["cpu"]["architecture"], "x86_64");
    assert_eq!(inv["memory"]["physical_mb"], 256);
    assert_eq!(
        inv["boot"],
        json!({"current_boot_mode": "bios", "pxe_interface": "01-52-54-00-12-34-56"})
    );
    assert_eq!(inv["system_vendor"]["manufacturer"], "QEMU", "{inv}");
    assert_eq!(
        names(&inv["disks"], "name"),
        ["/dev/sda", "/dev/vda"],
        "{inv}"
    );
    let sda = &inv["disks"][0];
    assert_eq!(sda["wwn"], HINTED_WWN, "{sda}");
    assert_eq!(sda["size"], 2 * GIB);
    assert!(
        sda["hctl"].is_string() && sda["by_path"].is_string(),
        "{sda}"
    );
    assert_eq!(inv["disks"][1]["size"], 5 * GIB);
    let plugin = &stored["plugin_data"];
    assert_eq!(
        plugin["root_disk"]["name"], "/dev/sda",
        "the hook's hint match: {plugin}"
    );
    assert_eq!(plugin["boot_interface"], "01-52-54-00-12-34-56");
    assert_eq!(
        plugin["configuration"]["collectors"],
        json!(["default", "logs"])
    );
    assert_eq!(plugin["error"], Value::Null);
    assert_eq!(
        plugin["lldp_raw"],
        json!({}),
        "QEMU sends no LLDP: {plugin}"
    );

    // Fast track: the same agent (no second boot) runs a manual clean.
    s.clean(
        json!([{"interface": "deploy", "step": "erase_devices_metadata"}]),
        Duration::from_secs(300),
    );
    assert_eq!(
        s.vm.serial_log()
            .matches("ironic-agent-init: starting at uptime")
            .count(),
        1,
        "one boot"
    );
}
