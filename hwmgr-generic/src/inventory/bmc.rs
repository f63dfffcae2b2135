//! The BMC's addresses through the local IPMI device (`ironic_python_agent/hardware.py:
//! GenericHardwareManager.get_bmc_address`, `get_bmc_v6address`, `get_bmc_mac`), from LAN
//! channels 1-11 (the ones that can carry LAN media):
//!
//! - `bmc_address`: the first IPv4 address other than `0.0.0.0` (`ipmitool lan print N`);
//!   `0.0.0.0` when none is configured;
//! - `bmc_v6address`: on a channel whose `lan6 print N enables` says `ipv6` or `both`, the
//!   first active dynamic (DHCPv6/SLAAC) address, else the first active enabled static one,
//!   without its prefix; `::/0` when none;
//! - `bmc_mac`: the MAC of the first channel that has an IPv4 address, or a routable IPv6
//!   one; absent when none has (IPA then leaves the key out).
//!
//! Without an IPMI device node, or without `ipmitool`, all three are absent (null), as IPA
//! returns. IPA runs each command through a shell with awk; we run `ipmitool` alone and read
//! its output here.

use crate::tools;
use hwmgr::{Host, Runner};
use std::net::{IpAddr, Ipv4Addr};

/// What the inventory reports about the BMC.
#[derive(Debug, Default, PartialEq)]
pub struct BmcAddresses {
    pub v4: Option<String>,
    pub v6: Option<String>,
    pub mac: Option<String>,
}

/// `any_ipmi_device_exists`: a character device `/dev/ipmi*`, `/dev/ipmi/*` or
/// `/dev/ipmidev/*` (a plain file counts on a fake root).
fn ipmi_device_exists(host: &Host) -> bool {
    let direct = host
        .list_dir("/dev")
        .iter()
        .any(|n| n.starts_with("ipmi") && !host.path(format!("/dev/{n}")).is_dir());
    direct || !host.list_dir("/dev/ipmi").is_empty() || !host.list_dir("/dev/ipmidev").is_empty()
}

/// The value of `key : value` lines of ipmitool's output (first occurrence).
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

pub fn bmc_addresses(host: &Host, runner: &dyn Runner) -> BmcAddresses {
    if !ipmi_device_exists(host) || !runner.has_program("ipmitool") {
        return BmcAddresses::default();
    }
    let run = |cmd: tools::ToolCmd| runner.run(&cmd.resolve(host)).ok().map(|o| o.stdout);
    // Channels that do not exist fail ("Invalid channel") and are skipped.
    let lan: Vec<(u8, String)> = (1..=11)
        .filter_map(|ch| Some((ch, run(tools::ipmitool::lan_print(ch))?)))
        .collect();
    let v4 = lan
        .iter()
        .filter_map(|(_, out)| field(out, "IP Address")?.parse::<Ipv4Addr>().ok())
        .find(|ip| !ip.is_unspecified())
        .map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string());
    let v6 = (1..=11)
        .find_map(|ch| v6_address(&run, ch))
        .unwrap_or_else(|| "::/0".to_string());
    let mac = lan.iter().find_map(|(ch, out)| {
        let ip = field(out, "IP Address")?;
        let mac = field(out, "MAC Address")?.to_ascii_lowercase();
        if ip == "0.0.0.0" && !has_routable_v6(&run(tools::ipmitool::lan6_print(*ch, None))?) {
            return None;
        }
        (is_mac(&mac) && mac != "00:00:00:00:00:00").then_some(mac)
    });
    BmcAddresses {
        v4: Some(v4),
        v6: Some(v6),
        mac,
    }
}

/// The IPv6 address of one channel, when IPv6 is enabled there.
fn v6_address(run: &dyn Fn(tools::ToolCmd) -> Option<String>, ch: u8) -> Option<String> {
    let enables = run(tools::ipmitool::lan6_print(ch, Some("enables")))?;
    let mode = field(&enables, "IPv6/IPv4 Addressing Enables")?;
    if mode != "ipv6" && mode != "both" {
        return None;
    }
    let pick = |section: &str, dynamic: bool| {
        let out = run(tools::ipmitool::lan6_print(ch, Some(section)))?;
        active_address(&out, dynamic)
    };
    pick("dynamic_addr", true).or_else(|| pick("static_addr", false))
}

/// The first usable address of a `lan6 print N dynamic_addr|static_addr` listing: one
/// section per address slot, with `Address`, `Status` and `Source/Type` (dynamic) or
/// `Enabled` (static). Unconfigured slots show `::/…` and are skipped.
fn active_address(text: &str, dynamic: bool) -> Option<String> {
    let mut sections: Vec<Vec<(&str, &str)>> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            sections.push(Vec::new());
            continue;
        }
        if let (Some(s), Some((k, v))) = (sections.last_mut(), line.split_once(':')) {
            s.push((k.trim(), v.trim()));
        }
    }
    sections.iter().find_map(|s| {
        let get = |k: &str| s.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let enabled = if dynamic {
            matches!(get("Source/Type"), Some("DHCPv6" | "SLAAC"))
        } else {
            matches!(get("Enabled"), Some("yes" | "true" | "True"))
        };
        let addr = get("Address")?;
        let ip = addr.split('/').next()?.parse::<IpAddr>().ok()?;
        (get("Status") == Some("active") && enabled && !ip.is_unspecified()).then(|| ip.to_string())
    })
}

/// `lan6 print N` lists a configured address that is neither unspecified nor link-local.
fn has_routable_v6(text: &str) -> bool {
    let mut in_section = false;
    text.lines().any(|l| {
        if l.starts_with("IPv6 ") {
            in_section = (l.starts_with("IPv6 Dynamic Address ")
                || l.starts_with("IPv6 Static Address "))
                && l.trim_end().ends_with(':');
            return false;
        }
        in_section
            && field(l, "Address").is_some_and(|a| {
                let a = a.to_ascii_lowercase();
                !a.starts_with("::") && !a.starts_with("fe80")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::fake_machine::FakeMachine;
    use testkit::RecordingRunner;

    /// `ipmitool lan print 1` of an HPE iLO 5 (trimmed).
    const LAN_PRINT: &str = "Set in Progress         : Set Complete\n\
        Auth Type Support       : \n\
        IP Address Source       : DHCP Address\n\
        IP Address              : 192.0.2.200\n\
        Subnet Mask             : 255.255.255.0\n\
        MAC Address             : 94:40:C9:AA:BB:CC\n\
        Default Gateway IP      : 192.0.2.1\n";

    const LAN_PRINT_UNSET: &str = "IP Address Source       : Static Address\n\
        IP Address              : 0.0.0.0\n\
        MAC Address             : 94:40:c9:aa:bb:cd\n";

    const LAN6_ENABLES: &str = "IPv6/IPv4 Support       : IPv6 only: no, IPv4 and IPv6: yes\n\
        IPv6/IPv4 Addressing Enables: both\n";

    const LAN6_DYNAMIC: &str = "IPv6 Dynamic Address 0:\n\
        \x20   Source/Type:    SLAAC\n\
        \x20   Address:        ::/255\n\
        \x20   Status:         active\n\
        IPv6 Dynamic Address 1:\n\
        \x20   Source/Type:    DHCPv6\n\
        \x20   Address:        2001:db8::20/64\n\
        \x20   Status:         active\n";

    const LAN6_STATIC: &str = "IPv6 Static Address 0:\n\
        \x20   Enabled:        yes\n\
        \x20   Address:        2001:db8::100/64\n\
        \x20   Status:         active\n";

    fn ipmi_machine(dir: &std::path::Path) -> FakeMachine {
        FakeMachine::new(dir).file("/dev/ipmi0", "")
    }

    #[test]
    fn v4_v6_and_mac_from_ipmitool() {
        let d = tempfile::tempdir().unwrap();
        let m = ipmi_machine(d.path());
        // Rules: the most recent matching one answers.
        let r = RecordingRunner::new();
        r.fail(&["ipmitool"], 1, "Invalid channel 3\n");
        r.on(&["ipmitool", "lan", "print", "1"], LAN_PRINT_UNSET);
        r.on(&["ipmitool", "lan", "print", "2"], LAN_PRINT);
        r.on(
            &["ipmitool", "lan6", "print", "1"],
            "IPv6 Static Address 0:\n    Address: ::/0\n",
        );
        r.on(&["ipmitool", "lan6", "print", "1", "enables"], LAN6_ENABLES);
        r.on(
            &["ipmitool", "lan6", "print", "1", "dynamic_addr"],
            LAN6_DYNAMIC,
        );
        r.on(
            &["ipmitool", "lan6", "print", "1", "static_addr"],
            LAN6_STATIC,
        );
        let b = bmc_addresses(&m.host(), &r);
        assert_eq!(
            b,
            BmcAddresses {
                v4: Some("192.0.2.200".into()),
                v6: Some("2001:db8::20".into()),
                mac: Some("94:40:c9:aa:bb:cc".into()),
            },
            "channel 1 has neither IPv4 nor a routable IPv6: its MAC is not the BMC's"
        );
    }

    #[test]
    fn unconfigured_bmc_and_no_bmc() {
        let d = tempfile::tempdir().unwrap();
        let m = ipmi_machine(d.path());
        let r = RecordingRunner::new();
        r.fail(&["ipmitool"], 1, "Invalid channel\n");
        r.on(&["ipmitool", "lan", "print", "1"], LAN_PRINT_UNSET);
        r.on(
            &["ipmitool", "lan6", "print", "1", "enables"],
            "IPv6/IPv4 Addressing Enables: ipv4\n",
        );
        let b = bmc_addresses(&m.host(), &r);
        assert_eq!(b.v4.as_deref(), Some("0.0.0.0"));
        assert_eq!(b.v6.as_deref(), Some("::/0"));
        assert_eq!(b.mac, None);

        let plain = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(plain.path());
        assert_eq!(
            bmc_addresses(&m.host(), &r),
            BmcAddresses::default(),
            "no /dev/ipmi*"
        );
        let m = ipmi_machine(d.path());
        let r = RecordingRunner::new();
        r.without_program("ipmitool");
        assert_eq!(
            bmc_addresses(&m.host(), &r),
            BmcAddresses::default(),
            "no ipmitool"
        );
    }

    #[test]
    fn static_v6_when_no_dynamic_one() {
        let run = |c: tools::ToolCmd| -> Option<String> {
            let argv = c.resolve(&Host::new("/")).args.join(" ");
            Some(match argv.as_str() {
                "lan6 print 4 enables" => "IPv6/IPv4 Addressing Enables: ipv6\n".into(),
                "lan6 print 4 dynamic_addr" => LAN6_DYNAMIC.replace("2001:db8::20/64", "::/0"),
                "lan6 print 4 static_addr" => LAN6_STATIC.into(),
                _ => return None,
            })
        };
        assert_eq!(v6_address(&run, 4).as_deref(), Some("2001:db8::100"));
        assert_eq!(v6_address(&run, 5), None);
        assert!(!has_routable_v6(
            LAN6_STATIC.replace("2001:db8::100", "fe80::1").as_str()
        ));
        assert!(has_routable_v6(LAN6_STATIC));
    }
}
