//! The `cpu` object (`ironic_python_agent/hardware.py: GenericHardwareManager.get_cpus`,
//! which reads `lscpu`): model, frequency (the maximum when cpufreq knows it, else the
//! current one, as lscpu's "CPU max MHz" / "CPU MHz"), logical CPU count, architecture,
//! flags and socket count. lscpu reads the same files we do: `/proc/cpuinfo` and the
//! topology and cpufreq directories of `/sys/devices/system/cpu`.

use hwmgr::Host;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What `/proc/cpuinfo` tells.
#[derive(Debug, Default, PartialEq)]
struct CpuInfo {
    count: u64,
    model: Option<String>,
    mhz: Option<String>,
    flags: Vec<String>,
    physical_ids: BTreeSet<String>,
}

/// x86 (`model name`, `flags`), arm64 (`Features`; no model name, as lscpu then derives it
/// from the part number, which we do not), and s390/ppc spellings.
fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut c = CpuInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => c.count += 1,
            "model name" | "cpu model" | "Model Name" | "cpu" if c.model.is_none() => {
                c.model = Some(v.to_string())
            }
            "cpu MHz" | "clock" if c.mhz.is_none() => {
                c.mhz = Some(v.trim_end_matches("MHz").to_string())
            }
            "flags" | "Features" if c.flags.is_empty() => {
                c.flags = v.split_whitespace().map(str::to_string).collect()
            }
            "physical id" => {
                c.physical_ids.insert(v.to_string());
            }
            _ => {}
        }
    }
    c
}

/// Distinct `physical_package_id`s of the CPUs in sysfs (lscpu's socket count).
fn sysfs_sockets(host: &Host) -> usize {
    let base = "/sys/devices/system/cpu";
    host.list_dir(base)
        .iter()
        .filter(|n| {
            n.strip_prefix("cpu")
                .is_some_and(|i| i.parse::<u32>().is_ok())
        })
        .filter_map(|n| host.attr(format!("{base}/{n}/topology/physical_package_id")))
        .collect::<BTreeSet<_>>()
        .len()
}

pub fn cpu(host: &Host) -> Value {
    let info = parse_cpuinfo(&host.read("/proc/cpuinfo").unwrap_or_default());
    let max = host
        .attr("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        .and_then(|k| k.parse::<f64>().ok())
        .map(|khz| format!("{:.4}", khz / 1000.0));
    let arch = host
        .attr("/proc/sys/kernel/arch")
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let sockets = match sysfs_sockets(host) {
        0 => info.physical_ids.len(),
        n => n,
    };
    json!({
        "model_name": info.model,
        "frequency": max.or(info.mhz),
        "count": info.count.max(1),
        "architecture": arch,
        "flags": info.flags,
        "socket_count": sockets.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::fake_machine::FakeMachine;

    /// Two sockets of one core each, as `/proc/cpuinfo` of a 2-socket KVM guest shows.
    const TWO_SOCKETS: &str = "processor\t: 0\nmodel name\t: Intel Xeon Processor (Icelake)\n\
        cpu MHz\t\t: 2095.076\nphysical id\t: 0\nflags\t\t: fpu vme de pse avx512f\n\n\
        processor\t: 1\nmodel name\t: Intel Xeon Processor (Icelake)\ncpu MHz\t\t: 2095.076\n\
        physical id\t: 1\nflags\t\t: fpu vme de pse avx512f\n\n";

    /// An arm64 server (Ampere Altra) has no model name, no MHz and no physical id.
    const ARM64: &str = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes\n\
        CPU implementer\t: 0x41\nCPU part\t: 0xd0c\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n\
        Features\t: fp asimd evtstrm aes\n\n";

    #[test]
    fn sockets_frequency_and_flags() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path()).file("/proc/cpuinfo", TWO_SOCKETS);
        let c = cpu(&m.host());
        assert_eq!(c["count"], 2);
        assert_eq!(c["socket_count"], 2);
        assert_eq!(c["frequency"], "2095.076");
        assert_eq!(c["flags"], json!(["fpu", "vme", "de", "pse", "avx512f"]));
        assert_eq!(c["model_name"], "Intel Xeon Processor (Icelake)");

        // cpufreq's maximum wins over the current frequency; sysfs topology over cpuinfo.
        let m = m
            .file(
                "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq",
                "3500000\n",
            )
            .file(
                "/sys/devices/system/cpu/cpu0/topology/physical_package_id",
                "0\n",
            )
            .file(
                "/sys/devices/system/cpu/cpu1/topology/physical_package_id",
                "0\n",
            )
            .file("/proc/sys/kernel/arch", "x86_64\n");
        let c = cpu(&m.host());
        assert_eq!(c["frequency"], "3500.0000");
        assert_eq!(c["socket_count"], 1);
        assert_eq!(c["architecture"], "x86_64");
    }

    #[test]
    fn arm64_without_model_or_sockets() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path())
            .file("/proc/cpuinfo", ARM64)
            .file("/proc/sys/kernel/arch", "aarch64\n");
        let c = cpu(&m.host());
        assert_eq!(
            c,
            json!({"model_name": null, "frequency": null, "count": 2, "architecture": "aarch64",
                   "flags": ["fp", "asimd", "evtstrm", "aes"], "socket_count": 1})
        );
    }
}
