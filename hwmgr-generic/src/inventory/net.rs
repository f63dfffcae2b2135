//! Network interfaces of the inventory (`ironic_python_agent/hardware.py:
//! GenericHardwareManager.list_network_interfaces`, `get_interface_info`;
//! `ironic_python_agent/netutils.py`; `hardware_managers/mlnx.py` for InfiniBand), and the
//! MACs lookup sends: both come from [`interface_names`] and [`interface_mac`], so lookup,
//! inspection and `get_hardware_info` never disagree about which NICs the machine has.
//!
//! Differences from IPA, on purpose:
//! - `speed_mbps` is the kernel's current link speed (`/sys/class/net/<if>/speed`); IPA asks
//!   lshw, which prefers the maximum (`capacity`). Without lshw in the ramdisk the kernel is
//!   the source we have; a link down or a virtio NIC reports none, as in lshw.
//! - `biosdevname` is always null: the `biosdevname` program is not in the ramdisk (IPA too
//!   returns null without it).
//! - the MAC is the current one from sysfs; IPA first asks ethtool for the permanent one
//!   (they differ only after someone changed the address, which nothing in the ramdisk does).

use super::lldp::LldpData;
use crate::tools;
use blockdev::resolved_sys_path;
use hwmgr::{Host, Runner};
use serde_json::{json, Value};

/// The length of an InfiniBand hardware address as sysfs writes it (20 bytes).
const INFINIBAND_ADDR_LEN: usize = 59;
/// Mellanox's PCI vendor id: IPA derives MAC and client id only for its InfiniBand NICs.
const MLNX_VENDOR_ID: &str = "0x15b3";
/// The DHCP client-identifier prefix for Mellanox InfiniBand (RFC 4390), as IPA's
/// `hardware_managers/mlnx.py` builds it.
const MLNX_CLIENT_ID_PREFIX: &str = "ff:00:00:00:00:00:02:00:00:02:c9:00:";

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

/// The MAC address IPA reports for `name`, lower case, with the InfiniBand client id when
/// there is one. For a Mellanox InfiniBand port (20-byte address) the "MAC" is made from
/// the port GUID and the client id from the whole GUID, as in `hardware_managers/mlnx.py:
/// _infiniband_address_to_mac`, `_generate_client_id`.
pub fn interface_mac(host: &Host, name: &str) -> Option<(String, Option<String>)> {
    let sys = format!("/sys/class/net/{name}");
    let address = host.attr(format!("{sys}/address"))?.to_ascii_lowercase();
    let vendor = host.attr(format!("{sys}/device/vendor"));
    if address.len() == INFINIBAND_ADDR_LEN && vendor.as_deref() == Some(MLNX_VENDOR_ID) {
        let mac = format!("{}{}", &address[36..45], &address[51..]);
        let client_id = format!("{MLNX_CLIENT_ID_PREFIX}{}", &address[36..]);
        return Some((mac, Some(client_id)));
    }
    Some((address, None))
}

/// MAC addresses of the interfaces the inventory lists, without empty and all-zero ones:
/// what lookup sends, and what the conductor's inspection can create ports for.
pub fn mac_addresses(host: &Host) -> Vec<String> {
    interface_names(host)
        .into_iter()
        .filter_map(|n| interface_mac(host, &n))
        .map(|(mac, _)| mac)
        .filter(|m| is_usable_mac(m))
        .collect()
}

/// Not empty and not all zeros.
pub fn is_usable_mac(mac: &str) -> bool {
    !mac.is_empty() && mac.split(':').any(|b| b != "00")
}

/// The addresses of one interface as the inventory reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IfAddresses {
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// IPv4 and IPv6 addresses per interface from `ip -j addr`; empty when `ip` is missing or
/// fails. The first address of each family counts (`netutils.get_default_ip_addr`); a
/// link-local IPv6 address carries its scope (`fe80::1%eth0`), as IPA writes it.
pub fn ip_addresses(host: &Host, runner: &dyn Runner) -> Vec<(String, IfAddresses)> {
    let Ok(out) = runner.run(&tools::ip::addresses_json().resolve(host)) else {
        return Vec::new();
    };
    parse_ip_json(&out.stdout)
}

fn parse_ip_json(text: &str) -> Vec<(String, IfAddresses)> {
    let Ok(Value::Array(links)) = serde_json::from_str::<Value>(text) else {
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
            let ipv6 = first("inet6").map(|a| {
                if a.to_ascii_lowercase().starts_with("fe80:") {
                    format!("{a}%{name}")
                } else {
                    a
                }
            });
            let ipv4 = first("inet");
            Some((name, IfAddresses { ipv4, ipv6 }))
        })
        .collect()
}

/// The file name a sysfs link points to (`device` → `0000:00:04.0`, `device/driver` →
/// `virtio_net`), as `netutils.get_interface_pci_address` and `get_interface_driver` read.
fn link_name(host: &Host, path: &str) -> Option<String> {
    host.link_target(path)
        .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned()))
}

fn attr_opt(host: &Host, path: &str) -> Option<String> {
    host.attr(path).filter(|s| !s.is_empty())
}

/// One NIC object with exactly IPA's keys.
fn interface(host: &Host, name: &str, addrs: &IfAddresses, lldp: Option<&LldpData>) -> Value {
    let sys = format!("/sys/class/net/{name}");
    let (mac, client_id) = interface_mac(host, name).unwrap_or_default();
    let speed = host
        .attr(format!("{sys}/speed"))
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s > 0);
    let lldp = lldp.and_then(|d| d.get(name)).map(super::lldp::tlvs_json);
    json!({
        "name": name,
        "mac_address": (!mac.is_empty()).then_some(mac),
        "ipv4_address": addrs.ipv4,
        "ipv6_address": addrs.ipv6,
        "has_carrier": host.attr(format!("{sys}/carrier")).as_deref() == Some("1"),
        "lldp": lldp,
        "vendor": attr_opt(host, &format!("{sys}/device/vendor")),
        "product": attr_opt(host, &format!("{sys}/device/device")),
        "client_id": client_id,
        "biosdevname": Value::Null,
        "speed_mbps": speed,
        "pci_address": link_name(host, &format!("{sys}/device")),
        "driver": link_name(host, &format!("{sys}/device/driver")),
    })
}

/// The `interfaces` list. `lldp` holds what LLDP collection received per interface (none
/// unless `ipa-collect-lldp` asked for it).
pub fn interfaces(host: &Host, runner: &dyn Runner, lldp: Option<&LldpData>) -> Value {
    let names = interface_names(host);
    let addrs = if names.is_empty() {
        Vec::new()
    } else {
        ip_addresses(host, runner)
    };
    let none = IfAddresses::default();
    Value::Array(
        names
            .iter()
            .map(|n| {
                let a = addrs
                    .iter()
                    .find(|(name, _)| name == n)
                    .map_or(&none, |(_, a)| a);
                interface(host, n, a, lldp)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::fake_machine::FakeMachine;
    use testkit::RecordingRunner;

    /// `ip -j addr show` as iproute2 6.1 prints it in the QEMU ramdisk (trimmed to the keys
    /// that matter).
    pub const IP_JSON: &str = r#"[
      {"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
      {"ifindex":2,"ifname":"eth0","address":"52:54:00:12:34:56","addr_info":[
         {"family":"inet","local":"10.0.2.15","prefixlen":24},
         {"family":"inet6","local":"fe80::5054:ff:fe12:3456","prefixlen":64}]},
      {"ifindex":3,"ifname":"eth1","addr_info":[{"family":"inet6","local":"2001:db8::5","prefixlen":64}]}
    ]"#;

    #[test]
    fn addresses_first_of_each_family_with_link_local_scope() {
        let a = parse_ip_json(IP_JSON);
        assert_eq!(a.len(), 3);
        assert_eq!(a[1].1.ipv4.as_deref(), Some("10.0.2.15"));
        assert_eq!(a[1].1.ipv6.as_deref(), Some("fe80::5054:ff:fe12:3456%eth0"));
        assert_eq!(a[2].1.ipv4, None);
        assert_eq!(a[2].1.ipv6.as_deref(), Some("2001:db8::5"));
        assert!(parse_ip_json("not json").is_empty());
    }

    /// A ConnectX port in InfiniBand mode: sysfs address and vendor as the kernel shows them.
    #[test]
    fn mellanox_infiniband_mac_and_client_id() {
        let d = tempfile::tempdir().unwrap();
        let ib = "a0:00:00:27:fe:80:00:00:00:00:00:00:7c:fe:90:03:00:29:26:52";
        let m = FakeMachine::new(d.path())
            .nic("ib0", ib)
            .pci_ids("0x15b3", "0x1017")
            .nic("ib1", ib)
            .pci_ids("0x8086", "0x1234");
        let (mac, client_id) = interface_mac(&m.host(), "ib0").unwrap();
        assert_eq!(mac, "7c:fe:90:29:26:52");
        assert_eq!(
            client_id.as_deref(),
            Some("ff:00:00:00:00:00:02:00:00:02:c9:00:7c:fe:90:03:00:29:26:52")
        );
        // Another vendor's InfiniBand address is reported as it is, as IPA does.
        assert_eq!(
            interface_mac(&m.host(), "ib1").unwrap(),
            (ib.to_string(), None)
        );
        let r = RecordingRunner::new();
        r.without_program("ip");
        let ifs = interfaces(&m.host(), &r, None);
        assert_eq!(ifs[0]["mac_address"], "7c:fe:90:29:26:52");
        assert_eq!(ifs[0]["client_id"], client_id.unwrap());
        assert_eq!(mac_addresses(&m.host())[0], "7c:fe:90:29:26:52");
    }

    /// virtio-net: the `device` link names the virtio device, not the PCI function, and
    /// IPA reports that name.
    #[test]
    fn pci_address_and_driver_are_the_link_names() {
        let d = tempfile::tempdir().unwrap();
        let pci = "/sys/devices/pci0000:00/0000:00:02.0";
        let m = FakeMachine::new(d.path())
            .nic("eth0", "52:54:00:12:34:56")
            .symlink(&format!("{pci}/net/eth0/device"), &format!("{pci}/virtio0"))
            .file(&format!("{pci}/virtio0/vendor"), "0x1af4\n")
            .file(&format!("{pci}/virtio0/device"), "0x0001\n")
            .symlink(
                &format!("{pci}/virtio0/driver"),
                "/sys/bus/virtio/drivers/virtio_net",
            );
        let r = RecordingRunner::new();
        r.without_program("ip");
        let ifs = interfaces(&m.host(), &r, None);
        assert_eq!(ifs[0]["pci_address"], "virtio0");
        assert_eq!(ifs[0]["driver"], "virtio_net");
        assert_eq!(ifs[0]["vendor"], "0x1af4");
        assert_eq!(ifs[0]["product"], "0x0001");
    }
}
