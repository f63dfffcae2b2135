//! The hardware inventory (`ironic_python_agent/hardware.py:
//! HardwareManager.list_hardware_info`), read from sysfs, procfs and the SMBIOS table through
//! [`Host`]; tools only where the kernel has no file for it (`ip` for addresses, `ipmitool`
//! for the BMC). One document serves `poll.get_hardware_info`, inspection
//! (`crate::inspection`) and `ironic-agent inventory`; lookup's MACs come from the same
//! interface list ([`mac_addresses`]), root device hints match the same disk objects
//! (`blockdev::BlockDevice::to_ipa_json`).
//!
//! Which field comes from where, next to IPA's source: README.md, "Inventory".

pub mod bmc;
pub mod cpu;
pub mod lldp;
pub mod memory;
pub mod net;

use blockdev::list_block_devices;
use hwmgr::{Host, Runner};
pub use lldp::LldpData;
pub use net::{interface_names, mac_addresses};
use serde_json::{json, Map, Value};

/// The inventory document, with exactly these keys of IPA's inventory: `interfaces`,
/// `cpu`, `disks`, `memory`, `bmc_address`, `bmc_v6address`, `system_vendor`, `boot`,
/// `hostname`, and `bmc_mac` when the BMC has one.
pub fn hardware_inventory(host: &Host, runner: &dyn Runner) -> Value {
    inventory_with_lldp(host, runner, None)
}

/// [`hardware_inventory`] with what LLDP collection received, in each interface's `lldp`.
pub fn inventory_with_lldp(host: &Host, runner: &dyn Runner, lldp: Option<&LldpData>) -> Value {
    let bmc = bmc::bmc_addresses(host, runner);
    let mut doc = json!({
        "interfaces": net::interfaces(host, runner, lldp),
        "cpu": cpu::cpu(host),
        "disks": disks(host),
        "memory": memory::memory(host),
        "bmc_address": bmc.v4,
        "bmc_v6address": bmc.v6,
        "system_vendor": system_vendor(host),
        "boot": boot(host),
        "hostname": hostname(host),
    });
    if let (Some(mac), Some(o)) = (bmc.mac, doc.as_object_mut()) {
        o.insert("bmc_mac".into(), Value::String(mac));
    }
    doc
}

fn disks(host: &Host) -> Value {
    Value::Array(
        list_block_devices(host, false)
            .iter()
            .filter(|d| d.is_disk_like())
            .map(|d| d.to_ipa_json())
            .collect(),
    )
}

fn dmi(host: &Host, field: &str) -> String {
    host.attr(format!("/sys/class/dmi/id/{field}"))
        .unwrap_or_default()
}

/// `system_vendor` from the kernel's DMI attributes (IPA asks lshw, which reads the same
/// SMBIOS strings; its `firmware` comes from lshw's firmware node).
fn system_vendor(host: &Host) -> Value {
    json!({
        "product_name": dmi(host, "product_name"),
        "serial_number": dmi(host, "product_serial"),
        "manufacturer": dmi(host, "sys_vendor"),
        "firmware": {
            "vendor": dmi(host, "bios_vendor"),
            "version": dmi(host, "bios_version"),
            "build_date": dmi(host, "bios_date"),
        },
    })
}

/// `BOOTIF` from the kernel command line, as given (`01-52-54-00-12-34-56`).
pub fn bootif(host: &Host) -> Option<String> {
    host.read("/proc/cmdline")
        .ok()?
        .split_whitespace()
        .find_map(|w| w.strip_prefix("BOOTIF="))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The MAC in a `BOOTIF` value (`01-aa-bb-..` as PXELINUX writes it, or `aa:bb:..`), lower
/// case (`ironic_python_agent/inspector.py: _normalize_mac`).
pub fn bootif_mac(bootif: &str) -> String {
    let mac = match bootif.split_once('-') {
        Some((_, rest)) => rest.replace('-', ":"),
        None => bootif.to_string(),
    };
    mac.to_ascii_lowercase()
}

fn boot(host: &Host) -> Value {
    let mode = if host.exists("/sys/firmware/efi") {
        "uefi"
    } else {
        "bios"
    };
    json!({"current_boot_mode": mode, "pxe_interface": bootif(host)})
}

fn hostname(host: &Host) -> String {
    host.attr("/proc/sys/kernel/hostname")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The keys every inventory document has (`bmc_mac` is added when found).
pub const INVENTORY_KEYS: &[&str] = &[
    "interfaces",
    "cpu",
    "disks",
    "memory",
    "bmc_address",
    "bmc_v6address",
    "system_vendor",
    "boot",
    "hostname",
];

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(Map::keys)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::fake_machine::{FakeMachine, GIB, MIB};
    use testkit::RecordingRunner;

    /// A list written as words, in order.
    fn words(list: &str) -> Vec<&str> {
        list.split_whitespace().collect()
    }

    /// Checks each field of `want` in `v`, naming the one that differs.
    fn assert_fields(v: &Value, want: Value) {
        let want = want
            .as_object()
            .expect("the wanted fields as a JSON object");
        for (field, w) in want {
            assert_eq!(&v[field], w, "{field} of {v}");
        }
    }

    const IP_JSON: &str = r#"[
      {"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
      {"ifindex":2,"ifname":"eth0","address":"52:54:00:12:34:56","addr_info":[
         {"family":"inet","local":"10.0.2.15","prefixlen":24},
         {"family":"inet6","local":"fe80::5054:ff:fe12:3456","prefixlen":64}]},
      {"ifindex":3,"ifname":"eth1","addr_info":[]}
    ]"#;

    fn machine(dir: &std::path::Path) -> FakeMachine {
        FakeMachine::new(dir)
            .virtio("vda", 20 * GIB)
            .serial("QLAB-D0")
            .partition("vda", "vda1", MIB, GIB)
            .virtio("vdb", 20 * GIB)
            .partition("vdb", "vdb1", MIB, GIB)
            .md("md0", "raid1", &["vda1", "vdb1"])
            .nvme("nvme0n1", 100 * GIB)
            .disk("sda", 50 * GIB)
            .wwn("0x5000c50015ea71a5")
            .loop_dev("loop0", GIB, Some("/x.img"))
            .virtual_block("zram0", GIB)
            .nic("eth0", "52:54:00:12:34:56")
            .pci_ids("0x1af4", "0x1000")
            .driver("virtio_net")
            .nic("eth1", "52:54:00:AB:CD:EF")
            .carrier(false)
            .speed(-1)
            .virtual_nic("br0", "52:54:00:00:00:99")
            .cmdline("ipa-api-url=http://10.0.2.2:6385 BOOTIF=01-52-54-00-12-34-56")
            .memory(8 * GIB)
            .cpus(4, "Intel(R) Xeon(R) Gold 6230")
            .dmi("HPE", "ProLiant DL380 Gen10", "TEST123")
            .bios("HPE", "U30", "01/01/2024")
            .uefi()
            .hostname("qlab")
    }

    #[test]
    fn inventory_has_exactly_the_ipa_keys_and_types() {
        let d = tempfile::tempdir().unwrap();
        let m = machine(d.path());
        let r = RecordingRunner::new();
        r.on(&["ip", "-j", "addr"], IP_JSON);
        let inv = hardware_inventory(&m.host(), &r);
        assert_eq!(keys(&inv), INVENTORY_KEYS);

        let ifs = inv["interfaces"].as_array().unwrap();
        let names: Vec<&str> = ifs.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["eth0", "eth1"], "no lo, no virtual interfaces");
        let nic_keys = words(
            "name mac_address ipv4_address ipv6_address has_carrier lldp vendor product \
             client_id biosdevname speed_mbps pci_address driver",
        );
        for i in ifs {
            assert_eq!(keys(i), nic_keys);
        }
        assert_fields(
            &ifs[0],
            json!({"mac_address": "52:54:00:12:34:56", "ipv4_address": "10.0.2.15",
                   "ipv6_address": "fe80::5054:ff:fe12:3456%eth0", "has_carrier": true,
                   "vendor": "0x1af4", "product": "0x1000", "speed_mbps": 1000,
                   "driver": "virtio_net", "pci_address": "0000:00:04.0"}),
        );
        assert_fields(
            &ifs[1],
            json!({"mac_address": "52:54:00:ab:cd:ef", "has_carrier": false,
                   "ipv4_address": null, "speed_mbps": null, "driver": "e1000"}),
        );

        let cpu = &inv["cpu"];
        assert_eq!(
            keys(cpu),
            words("model_name frequency count architecture flags socket_count")
        );
        assert_fields(
            cpu,
            json!({"model_name": "Intel(R) Xeon(R) Gold 6230", "frequency": "2400.000",
                   "count": 4, "socket_count": 1}),
        );
        assert!(cpu["flags"].as_array().unwrap().contains(&json!("sse2")));
        assert!(cpu["architecture"].is_string());

        let disks = inv["disks"].as_array().unwrap();
        let dn: Vec<&str> = disks.iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(
            dn,
            words("/dev/md0 /dev/nvme0n1 /dev/sda /dev/vda /dev/vdb")
        );
        let disk_keys = words(
            "name model size rotational wwn serial vendor wwn_with_extension \
             wwn_vendor_extension hctl by_path logical_sectors physical_sectors tran",
        );
        for d in disks {
            assert_eq!(keys(d), disk_keys);
            assert!(d["size"].is_u64() && d["rotational"].is_boolean());
            assert!(d["logical_sectors"].is_u64() && d["physical_sectors"].is_u64());
        }
        assert_fields(
            &disks[2],
            json!({"wwn": "0x5000c50015ea71a5", "hctl": "0:0:0:0", "tran": "sata",
                   "size": 50 * GIB}),
        );
        assert_eq!(disks[3]["serial"], "QLAB-D0");

        assert_fields(
            &inv,
            json!({"memory": {"total": 8 * GIB, "physical_mb": 8192},
                   "bmc_address": null, "bmc_v6address": null}),
        );
        assert_eq!(
            inv["system_vendor"],
            json!({"product_name": "ProLiant DL380 Gen10", "serial_number": "TEST123",
                   "manufacturer": "HPE",
                   "firmware": {"vendor": "HPE", "version": "U30", "build_date": "01/01/2024"}})
        );
        assert_eq!(
            inv["boot"],
            json!({"current_boot_mode": "uefi", "pxe_interface": "01-52-54-00-12-34-56"})
        );
        assert_eq!(inv["hostname"], "qlab");
    }

    #[test]
    fn bare_machine_without_tools() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path()).nic("eth0", "52:54:00:12:34:56");
        let r = RecordingRunner::new();
        r.without_program("ip").without_program("ipmitool");
        let inv = hardware_inventory(&m.host(), &r);
        assert_eq!(keys(&inv), INVENTORY_KEYS);
        assert_eq!(inv["interfaces"][0]["ipv4_address"], Value::Null);
        assert_eq!(inv["disks"], json!([]));
        assert_fields(
            &inv["boot"],
            json!({"current_boot_mode": "bios", "pxe_interface": null}),
        );
        assert_eq!(inv["system_vendor"]["manufacturer"], "");
        assert_eq!(inv["hostname"], "localhost");
        assert_eq!(inv["memory"]["total"], 4 * GIB);
        assert_eq!(inv["cpu"]["count"], 2);
    }

    #[test]
    fn mac_addresses_skip_lo_virtual_and_zero_macs() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path())
            .nic("eth0", "52:54:00:12:34:56")
            .nic("eth1", "00:00:00:00:00:00")
            .virtual_nic("br0", "52:54:00:00:00:99")
            // a hand-made interface without a device link still counts
            .file("/sys/class/net/eth2/address", "52:54:00:00:00:02\n");
        assert_eq!(
            mac_addresses(&m.host()),
            ["52:54:00:12:34:56", "52:54:00:00:00:02"]
        );
    }

    /// The real machine: must not panic and must produce every key.
    #[test]
    fn real_host_inventory() {
        let host = Host::new("/");
        let runner = hwmgr::SystemRunner::for_host(&host);
        let inv = hardware_inventory(&host, &runner);
        assert_eq!(keys(&inv), INVENTORY_KEYS);
        if std::path::Path::new("/sys/block/vda").exists() {
            assert!(inv["disks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["name"] == "/dev/vda"));
        }
    }
}
