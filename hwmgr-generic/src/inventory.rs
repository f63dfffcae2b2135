//! The hardware inventory (`ironic_python_agent/hardware.py:
//! HardwareManager.list_hardware_info`), read from sysfs and procfs through [`Host`];
//! tools only where the kernel has no file for it (`ip` for addresses, `ipmitool` for the
//! BMC).

use crate::tools;
use blockdev::{list_block_devices, pci_address_in, resolved_sys_path};
use hwmgr::{Host, Runner};
use serde_json::{json, Value};

/// The inventory document, with exactly these keys of IPA's inventory: `interfaces`,
/// `cpu`, `disks`, `memory`, `bmc_address`, `bmc_v6address`, `system_vendor`, `boot`,
/// `hostname`.
pub fn hardware_inventory(host: &Host, runner: &dyn Runner) -> Value {
    let (bmc_address, bmc_v6address) = bmc_addresses(host, runner);
    json!({
        "interfaces": interfaces(host, runner),
        "cpu": cpu(host),
        "disks": disks(host),
        "memory": memory(host),
        "bmc_address": bmc_address,
        "bmc_v6address": bmc_v6address,
        "system_vendor": system_vendor(host),
        "boot": boot(host),
        "hostname": hostname(host),
    })
}

/// MAC addresses of the interfaces the inventory lists (physical NICs, not `lo`), without
/// all-zero ones: what lookup sends.
pub fn mac_addresses(host: &Host) -> Vec<String> {
    interface_names(host)
        .into_iter()
        .filter_map(|n| host.attr(format!("/sys/class/net/{n}/address")))
        .map(|m| m.to_ascii_lowercase())
        .filter(|m| !m.is_empty() && m.split(':').any(|b| b != "00"))
        .collect()
}

/// Interfaces IPA lists: everything in `/sys/class/net` except `lo` and virtual devices
/// (bridges, bonds, veth, ifb, ... under `/sys/devices/virtual`), sorted by name.
pub fn interface_names(host: &Host) -> Vec<String> {
    host.list_dir("/sys/class/net")
        .into_iter()
        .filter(|n| n != "lo")
        .filter(|n| {
            resolved_sys_path(host, &format!("/sys/class/net/{n}"))
                .is_none_or(|p| !p.starts_with("/sys/devices/virtual/"))
        })
        .collect()
}

fn attr_opt(host: &Host, path: &str) -> Option<String> {
    host.attr(path).filter(|s| !s.is_empty())
}

/// IPv4 and IPv6 addresses per interface from `ip -j addr`; empty when `ip` is missing or
/// fails.
fn ip_addresses(host: &Host, runner: &dyn Runner) -> Vec<(String, Option<String>, Option<String>)> {
    let Ok(out) = runner.run(&tools::ip::addresses_json().resolve(host)) else {
        return Vec::new();
    };
    let Ok(Value::Array(links)) = serde_json::from_str::<Value>(&out.stdout) else {
        return Vec::new();
    };
    links
        .iter()
        .filter_map(|l| {
            let name = l["ifname"].as_str()?.to_string();
            let addrs = l["addr_info"].as_array().cloned().unwrap_or_default();
            let first = |family: &str| {
                addrs
                    .iter()
                    .find(|a| a["family"] == family && a["local"].is_string())
                    .and_then(|a| a["local"].as_str())
                    .map(str::to_string)
            };
            let v4 = first("inet");
            let v6 = first("inet6").map(|a| {
                if a.to_ascii_lowercase().starts_with("fe80:") {
                    format!("{a}%{name}")
                } else {
                    a
                }
            });
            Some((name, v4, v6))
        })
        .collect()
}

fn interfaces(host: &Host, runner: &dyn Runner) -> Value {
    let names = interface_names(host);
    let addrs = if names.is_empty() {
        Vec::new()
    } else {
        ip_addresses(host, runner)
    };
    let list: Vec<Value> = names
        .iter()
        .map(|n| {
            let sys = format!("/sys/class/net/{n}");
            let (v4, v6) = addrs
                .iter()
                .find(|(name, _, _)| name == n)
                .map(|(_, a, b)| (a.clone(), b.clone()))
                .unwrap_or((None, None));
            let dev_path = resolved_sys_path(host, &format!("{sys}/device"));
            let driver = host
                .link_target(format!("{sys}/device/driver"))
                .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned()));
            let speed = host
                .attr(format!("{sys}/speed"))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|s| *s > 0);
            let mac = host
                .attr(format!("{sys}/address"))
                .map(|m| m.to_ascii_lowercase());
            json!({
                "name": n,
                "mac_address": mac,
                "ipv4_address": v4,
                "ipv6_address": v6,
                "has_carrier": host.attr(format!("{sys}/carrier")).as_deref() == Some("1"),
                "lldp": Value::Null,
                "vendor": attr_opt(host, &format!("{sys}/device/vendor")),
                "product": attr_opt(host, &format!("{sys}/device/device")),
                "client_id": Value::Null,
                "biosdevname": Value::Null,
                "speed_mbps": speed,
                "pci_address": dev_path.as_deref().and_then(pci_address_in),
                "driver": driver,
            })
        })
        .collect();
    Value::Array(list)
}

fn cpu(host: &Host) -> Value {
    let text = host.read("/proc/cpuinfo").unwrap_or_default();
    let mut count = 0u64;
    let mut model = None;
    let mut mhz = None;
    let mut flags: Vec<String> = Vec::new();
    let mut sockets: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => count += 1,
            "model name" | "cpu model" | "Model Name" if model.is_none() => {
                model = Some(v.to_string())
            }
            "cpu MHz" if mhz.is_none() => mhz = Some(v.to_string()),
            "flags" | "Features" if flags.is_empty() => {
                flags = v.split_whitespace().map(str::to_string).collect()
            }
            "physical id" if !sockets.iter().any(|s| s == v) => sockets.push(v.to_string()),
            _ => {}
        }
    }
    // lscpu reports "CPU max MHz" when cpufreq knows it; IPA prefers that.
    let max = host
        .attr("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        .and_then(|k| k.parse::<f64>().ok())
        .map(|khz| format!("{:.4}", khz / 1000.0));
    let arch = host
        .attr("/proc/sys/kernel/arch")
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    json!({
        "model_name": model,
        "frequency": max.or(mhz),
        "count": count.max(1),
        "architecture": arch,
        "flags": flags,
        "socket_count": sockets.len().max(1),
    })
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

fn memory(host: &Host) -> Value {
    let total = host.read("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    // IPA sums DIMM sizes from lshw. Without lshw, the kernel's memory blocks (online
    // hot-pluggable sections of the physical address space) give the installed size.
    let sysmem = "/sys/devices/system/memory";
    let physical_mb = host
        .attr(format!("{sysmem}/block_size_bytes"))
        .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
        .map(|block| {
            let online = host
                .list_dir(sysmem)
                .iter()
                .filter(|n| n.starts_with("memory"))
                .filter(|n| {
                    host.attr(format!("{sysmem}/{n}/online"))
                        .is_none_or(|o| o == "1")
                })
                .count() as u64;
            online * block / (1 << 20)
        })
        .filter(|mb| *mb > 0);
    json!({"total": total, "physical_mb": physical_mb})
}

fn dmi(host: &Host, field: &str) -> String {
    host.attr(format!("/sys/class/dmi/id/{field}"))
        .unwrap_or_default()
}

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

/// `bmc_address`/`bmc_v6address`: null without `ipmitool` or without an IPMI device node;
/// otherwise the first configured IPv4 address of LAN channels 1-11 (`0.0.0.0` when none is
/// configured) and `::/0` for IPv6 (its discovery is not implemented).
fn bmc_addresses(host: &Host, runner: &dyn Runner) -> (Value, Value) {
    let has_device = ["/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0"]
        .iter()
        .any(|p| host.exists(p));
    if !has_device || !runner.has_program("ipmitool") {
        return (Value::Null, Value::Null);
    }
    let mut v4 = "0.0.0.0".to_string();
    for channel in 1..=11 {
        let Ok(out) = runner.run(&tools::ipmitool::lan_print(channel).resolve(host)) else {
            continue;
        };
        let ip = out.stdout.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "IP Address").then(|| v.trim().to_string())
        });
        if let Some(ip) = ip.filter(|ip| !ip.is_empty() && ip != "0.0.0.0") {
            v4 = ip;
            break;
        }
    }
    (Value::String(v4), Value::String("::/0".into()))
}

/// The keys of an inventory document, for tests elsewhere.
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;
    use testkit::fake_machine::{FakeMachine, GIB, MIB};
    use testkit::RecordingRunner;

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .map(Map::keys)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

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
    fn bmc_address_from_ipmitool_when_a_device_exists() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path()).file("/dev/ipmi0", "");
        let r = RecordingRunner::new();
        r.on(
            &["ipmitool", "lan", "print", "1"],
            "IP Address Source : Static\nIP Address              : 0.0.0.0\n",
        );
        r.on(
            &["ipmitool", "lan", "print", "2"],
            "IP Address              : 192.0.2.200\n",
        );
        let inv = hardware_inventory(&m.host(), &r);
        assert_eq!(inv["bmc_address"], "192.0.2.200");
        assert_eq!(inv["bmc_v6address"], "::/0");
        assert!(!r.lines().iter().any(|l| l.contains("lan print 3")));
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
