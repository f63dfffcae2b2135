//! The machine's part of in-band inspection (`ironic_python_agent/inspector.py:
//! collect_default`, `wait_for_dhcp`, `collect_lldp`): wait for the PXE NIC's address,
//! then the inventory, the root disk the deploy would pick without hints, the raw `BOOTIF`
//! and, when asked, what LLDP received and the PCI devices (`collect_pci_devices_info`). The agent adds its own parts (`configuration`,
//! `logs`, `error`) and posts the whole (`agent/src/inspection.rs`); this side never sees
//! HTTP.
//!
//! Problems that the conductor should hear about (its `ramdisk-error` hook fails the
//! inspection with them) are returned in `errors`, never raised: inspection reports what it
//! found whatever happens.

use crate::deploy::target;
use crate::inventory::{self, lldp, net};
use crate::Machine;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// `_DHCP_RETRY_INTERVAL`: how often the addresses are checked while waiting.
const DHCP_RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// What the agent's configuration asks of the collection.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionRequest {
    /// `ipa-inspection-dhcp-wait-timeout` (60 s; 0 = no wait).
    pub dhcp_wait: Duration,
    /// `ipa-inspection-dhcp-all-interfaces`: wait for every NIC, not only the PXE one.
    pub dhcp_all_interfaces: bool,
    /// `ipa-collect-lldp` or the `lldp` collector: listen this long (`ipa-lldp-timeout`).
    pub lldp: Option<Duration>,
    /// The `pci-devices` collector.
    pub pci_devices: bool,
}

impl Default for InspectionRequest {
    fn default() -> Self {
        InspectionRequest {
            dhcp_wait: Duration::from_secs(60),
            dhcp_all_interfaces: false,
            lldp: None,
            pci_devices: false,
        }
    }
}

impl InspectionRequest {
    /// The request as the arguments of the `collect_inspection_data` manager call.
    pub fn to_args(&self) -> Map<String, Value> {
        let v = json!({
            "dhcp_wait_s": self.dhcp_wait.as_secs_f64(),
            "dhcp_all_interfaces": self.dhcp_all_interfaces,
            "lldp_timeout_s": self.lldp.map(|d| d.as_secs_f64()),
            "pci_devices": self.pci_devices,
        });
        v.as_object().cloned().unwrap_or_default()
    }

    pub fn from_args(args: &Map<String, Value>) -> Self {
        let secs = |k: &str| {
            args.get(k)
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(3600.0)))
        };
        let d = InspectionRequest::default();
        InspectionRequest {
            dhcp_wait: secs("dhcp_wait_s").unwrap_or(d.dhcp_wait),
            dhcp_all_interfaces: args
                .get("dhcp_all_interfaces")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            lldp: secs("lldp_timeout_s"),
            pci_devices: args
                .get("pci_devices")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// Collects the machine's part of the inspection data: `inventory`, `root_disk` (absent
/// when no disk qualifies), `boot_interface`, `lldp_raw` (when asked) and `errors` (texts
/// for the `error` field).
pub fn collect(m: &Machine, req: &InspectionRequest) -> Value {
    let (host, runner) = (&m.host, m.runner.as_ref());
    let bootif = inventory::bootif(host);
    wait_for_dhcp(m, bootif.as_deref(), req);
    let lldp = req
        .lldp
        .map(|timeout| lldp::collect(host, &net::interface_names(host), timeout));
    let inv = inventory::inventory_with_lldp(host, runner, lldp.as_ref());
    let mut errors = Vec::new();
    if net::mac_addresses(host).is_empty() {
        errors.push(
            "no network interface with a MAC address was found: Ironic can neither match \
             this machine to a node nor create its ports; check the NIC drivers in the ramdisk"
                .to_string(),
        );
    }
    let mut data = json!({ "inventory": inv });
    match target::candidates(m, &json!({})).and_then(|c| target::select(&c, &json!({}))) {
        Ok(disk) => data["root_disk"] = disk.to_ipa_json(),
        Err(e) => tracing::warn!("inspection: no suitable root device: {}", e.details),
    }
    data["boot_interface"] = json!(bootif);
    if let Some(l) = &lldp {
        data["lldp_raw"] = lldp::lldp_raw_json(l);
    }
    if req.pci_devices {
        data["pci_devices"] = pci_devices(host);
    }
    data["errors"] = json!(errors);
    data
}

/// Waits until the PXE NIC (from `BOOTIF`; every NIC with `dhcp_all_interfaces`) has an
/// IPv4 address, at most `dhcp_wait`, checking every 2 s. Without `BOOTIF` (and without
/// `dhcp_all_interfaces`) it does not wait. A timeout is a warning, never an error.
fn wait_for_dhcp(m: &Machine, bootif: Option<&str>, req: &InspectionRequest) -> bool {
    if req.dhcp_wait.is_zero() {
        return true;
    }
    let pxe_mac = bootif.map(inventory::bootif_mac);
    if pxe_mac.is_none() && !req.dhcp_all_interfaces {
        tracing::warn!(
            "inspection: no PXE boot interface known (no BOOTIF); not waiting for its IP address"
        );
        return false;
    }
    let deadline = Instant::now() + req.dhcp_wait;
    loop {
        let missing = without_ipv4(m, pxe_mac.as_deref(), req.dhcp_all_interfaces);
        if missing.is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                "inspection: interfaces {} got no IPv4 address within {:?}; collecting anyway",
                missing.join(","),
                req.dhcp_wait
            );
            return false;
        }
        tracing::debug!(
            "inspection: waiting for {} to get an IPv4 address",
            missing.join(",")
        );
        std::thread::sleep(
            DHCP_RETRY_INTERVAL.min(deadline.saturating_duration_since(Instant::now())),
        );
    }
}

/// The interfaces we wait for that have no IPv4 address yet. When the PXE MAC matches no
/// interface, nothing is waited for (as IPA: the filtered list is empty).
fn without_ipv4(m: &Machine, pxe_mac: Option<&str>, all: bool) -> Vec<String> {
    let addrs = net::ip_addresses(&m.host, m.runner.as_ref());
    net::interface_names(&m.host)
        .into_iter()
        .filter(|n| {
            all || net::interface_mac(&m.host, n)
                .is_some_and(|(mac, _)| Some(mac.as_str()) == pxe_mac)
        })
        .filter(|n| !addrs.iter().any(|(name, a)| name == n && a.ipv4.is_some()))
        .collect()
}

/// The hexadecimal part of a sysfs id (`0x8086` → `8086`), as IPA keeps it.
fn pci_id(host: &hwmgr::Host, path: &str) -> Option<String> {
    host.attr(path)?
        .split_once('x')
        .map(|(_, id)| id.to_string())
}

/// `pci_devices`: every device of `/sys/bus/pci/devices` with its vendor, product and class
/// ids, revision and NUMA node (`ironic_python_agent/inspector.py:
/// collect_pci_devices_info`); a device whose ids cannot be read is left out.
fn pci_devices(host: &hwmgr::Host) -> Value {
    let base = "/sys/bus/pci/devices";
    let mut list = Vec::new();
    for bus in host.list_dir(base) {
        let dir = format!("{base}/{bus}");
        let ids = (
            pci_id(host, &format!("{dir}/vendor")),
            pci_id(host, &format!("{dir}/device")),
            pci_id(host, &format!("{dir}/class")),
        );
        let (Some(vendor), Some(product), Some(class)) = ids else {
            tracing::warn!("inspection: PCI device {bus}: no vendor, device or class id");
            continue;
        };
        list.push(json!({
            "vendor_id": vendor,
            "product_id": product,
            "class": class,
            "revision": pci_id(host, &format!("{dir}/revision")),
            "bus": bus,
            "numa_node_id": host.attr(format!("{dir}/numa_node")),
        }));
    }
    Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use testkit::fake_machine::{FakeMachine, GIB};
    use testkit::RecordingRunner;

    const NO_ADDRESS: &str =
        r#"[{"ifname":"eth0","addr_info":[]},{"ifname":"eth1","addr_info":[]}]"#;
    const ETH0_ADDRESS: &str = r#"[{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.2.15"}]},
                                   {"ifname":"eth1","addr_info":[]}]"#;

    fn machine(dir: &std::path::Path, cmdline: &str) -> FakeMachine {
        FakeMachine::new(dir)
            .virtio("vda", 2 * GIB)
            .virtio("vdb", 8 * GIB)
            .serial("ROOT")
            .virtio("vdc", 20 * GIB)
            .nic("eth0", "52:54:00:12:34:56")
            .nic("eth1", "52:54:00:12:34:57")
            .cmdline(cmdline)
    }

    fn quick(wait_s: u64) -> InspectionRequest {
        InspectionRequest {
            dhcp_wait: Duration::from_secs(wait_s),
            ..Default::default()
        }
    }

    #[test]
    fn collects_inventory_root_disk_and_bootif() {
        let d = tempfile::tempdir().unwrap();
        let m = machine(d.path(), "BOOTIF=01-52-54-00-12-34-56");
        let r = Arc::new(RecordingRunner::new());
        r.on(&["ip", "-j", "addr"], ETH0_ADDRESS);
        let data = collect(&Machine::new(m.host(), r.clone()), &quick(60));
        assert_eq!(
            inventory::keys(&data),
            ["inventory", "root_disk", "boot_interface", "errors"]
        );
        assert_eq!(
            data["root_disk"]["name"], "/dev/vdb",
            "smallest disk of at least 4 GiB"
        );
        assert_eq!(data["root_disk"]["serial"], "ROOT");
        assert_eq!(data["boot_interface"], "01-52-54-00-12-34-56");
        assert_eq!(data["errors"], json!([]));
        assert_eq!(
            data["inventory"]["interfaces"][0]["ipv4_address"],
            "10.0.2.15"
        );
        assert_eq!(
            data["inventory"]["boot"]["pxe_interface"],
            "01-52-54-00-12-34-56"
        );
    }

    #[test]
    fn waits_for_the_pxe_nic_only() {
        let d = tempfile::tempdir().unwrap();
        let m = machine(d.path(), "BOOTIF=01-52-54-00-12-34-56");
        let r = Arc::new(RecordingRunner::new());
        r.on(&["ip", "-j", "addr"], ETH0_ADDRESS);
        r.on_times(&["ip", "-j", "addr"], NO_ADDRESS, 1);
        let m = Machine::new(m.host(), r.clone());
        let t = Instant::now();
        assert!(wait_for_dhcp(&m, Some("01-52-54-00-12-34-56"), &quick(60)));
        assert!(t.elapsed() >= DHCP_RETRY_INTERVAL, "one retry");
        // eth1 never gets one: with dhcp_all_interfaces the wait ends at its bound.
        let all = InspectionRequest {
            dhcp_wait: Duration::from_secs(3),
            dhcp_all_interfaces: true,
            ..Default::default()
        };
        assert!(!wait_for_dhcp(&m, None, &all));
        // No BOOTIF: no wait at all; an unknown PXE MAC: nothing to wait for.
        assert!(!wait_for_dhcp(&m, None, &quick(60)));
        assert!(wait_for_dhcp(&m, Some("aa:bb:cc:dd:ee:ff"), &quick(60)));
    }

    #[test]
    fn no_nic_with_a_mac_is_an_error_and_no_disk_no_root_disk() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path()).virtio("vda", GIB);
        let r = Arc::new(RecordingRunner::new());
        let data = collect(&Machine::new(m.host(), r), &quick(0));
        assert!(data.get("root_disk").is_none(), "{data}");
        let errors = data["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .as_str()
            .unwrap()
            .contains("no network interface with a MAC"));
        assert_eq!(data["inventory"]["interfaces"], json!([]));
    }

    /// Two functions as QEMU's q35 shows them (host bridge, virtio-net) and one without
    /// ids.
    #[test]
    fn pci_devices_as_ipa_lists_them() {
        let d = tempfile::tempdir().unwrap();
        let dev = "/sys/devices/pci0000:00";
        let m = FakeMachine::new(d.path())
            .file(&format!("{dev}/0000:00:00.0/vendor"), "0x8086\n")
            .file(&format!("{dev}/0000:00:00.0/device"), "0x29c0\n")
            .file(&format!("{dev}/0000:00:00.0/class"), "0x060000\n")
            .file(&format!("{dev}/0000:00:00.0/revision"), "0x00\n")
            .file(&format!("{dev}/0000:00:00.0/numa_node"), "-1\n")
            .file(&format!("{dev}/0000:00:02.0/vendor"), "0x1af4\n")
            .file(&format!("{dev}/0000:00:02.0/device"), "0x1000\n")
            .file(&format!("{dev}/0000:00:02.0/class"), "0x020000\n")
            .file(&format!("{dev}/0000:00:1f.0/vendor"), "garbage\n")
            .symlink(
                "/sys/bus/pci/devices/0000:00:00.0",
                &format!("{dev}/0000:00:00.0"),
            )
            .symlink(
                "/sys/bus/pci/devices/0000:00:02.0",
                &format!("{dev}/0000:00:02.0"),
            )
            .symlink(
                "/sys/bus/pci/devices/0000:00:1f.0",
                &format!("{dev}/0000:00:1f.0"),
            );
        assert_eq!(
            pci_devices(&m.host()),
            json!([
                {"vendor_id": "8086", "product_id": "29c0", "class": "060000", "revision": "00",
                 "bus": "0000:00:00.0", "numa_node_id": "-1"},
                {"vendor_id": "1af4", "product_id": "1000", "class": "020000", "revision": null,
                 "bus": "0000:00:02.0", "numa_node_id": null}
            ])
        );
        let r = Arc::new(RecordingRunner::new());
        let req = InspectionRequest {
            pci_devices: true,
            ..quick(0)
        };
        let data = collect(&Machine::new(m.host(), r), &req);
        assert_eq!(data["pci_devices"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn request_round_trips_through_call_args() {
        let req = InspectionRequest {
            dhcp_wait: Duration::from_secs(5),
            dhcp_all_interfaces: true,
            lldp: Some(Duration::from_secs(30)),
            pci_devices: true,
        };
        assert_eq!(InspectionRequest::from_args(&req.to_args()), req);
        assert_eq!(
            InspectionRequest::from_args(&Map::new()),
            InspectionRequest::default()
        );
    }
}
