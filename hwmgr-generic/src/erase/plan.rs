//! The per-device decision (`hardware.py: GenericHardwareManager.erase_block_device`),
//! made for every device before anything is written, from probes that only read:
//!
//! * NVMe namespace, `agent_enable_nvme_secure_erase` → `nvme format` (crypto erase when
//!   supported, else user-data erase). Not possible → an error naming the device, unless
//!   `agent_continue_if_secure_erase_failed` allows the overwrite instead (IPA's rule).
//! * any other whole disk, `agent_enable_ata_secure_erase` → ATA secure erase when the
//!   drive supports it; a frozen drive → an error saying what to do (or the overwrite when
//!   allowed); no ATA security → overwrite.
//! * everything else, and partitions → overwrite: `agent_erase_devices_iterations` random
//!   passes, then zeros when `agent_erase_devices_zeroize`.
//!
//! IPA finds a frozen drive or an NVMe controller without Format NVM only when its thread
//! reaches that device, after the others were erased; here the whole request is refused up
//! front and nothing is written.

use super::ata::{self, AtaSecurity, AtaVerdict};
use super::nvme::{self, NvmeVerdict};
use super::options::NodeOptions;
use super::select::Target;
use crate::tools::DevPath;
use crate::Machine;
use ::blockdev::BlockDevice;

/// How one device will be erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Random passes then (optionally) zeros, written by the agent itself.
    Overwrite,
    NvmeFormat {
        ses: u8,
    },
    AtaSecureErase(AtaSecurity),
}

/// One device's plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    /// The device, for the tools.
    pub dev: DevPath,
    /// The path the writer opens (the device under the host root).
    pub path: String,
    pub method: Method,
    /// Why a hardware erase is not used, or what the fallback will be.
    pub notes: Vec<String>,
}

const CONTINUE_HINT: &str = "set agent_continue_if_secure_erase_failed \
    ([deploy]continue_if_disk_secure_erase_fails in ironic.conf) to overwrite such devices instead";

/// Decides every device. `Err` lists the devices that cannot be erased as asked (nothing
/// has been written then).
pub fn plan_all(
    m: &Machine,
    targets: &[Target],
    all: &[BlockDevice],
    opts: &NodeOptions,
) -> Result<Vec<Plan>, Vec<String>> {
    let mut plans = Vec::new();
    let mut refused = Vec::new();
    for t in targets {
        let dev = match DevPath::new(t.name()) {
            Ok(d) => d,
            Err(e) => {
                refused.push(format!("{}: {}", t.name(), e.details));
                continue;
            }
        };
        let mut plan = Plan {
            target: t.clone(),
            path: m.host.path(dev.as_str()).to_string_lossy().into_owned(),
            dev,
            method: Method::Overwrite,
            notes: Vec::new(),
        };
        let decided = if t.nvme_namespace() && opts.nvme_secure_erase {
            decide_nvme(
                m,
                &mut plan,
                &nvme::other_namespaces(&t.dev, all, |n| targets.iter().any(|x| x.name() == n)),
                opts,
            )
        } else if t.whole_disk() && !t.nvme_namespace() && opts.ata_secure_erase {
            decide_ata(m, &mut plan, opts)
        } else {
            Ok(())
        };
        match decided {
            Ok(()) => plans.push(plan),
            Err(e) => refused.push(e),
        }
    }
    if refused.is_empty() {
        Ok(plans)
    } else {
        Err(refused)
    }
}

fn decide_nvme(
    m: &Machine,
    plan: &mut Plan,
    others_kept: &[String],
    opts: &NodeOptions,
) -> Result<(), String> {
    let dev = plan.target.name().to_string();
    match nvme::probe(m, &plan.dev, others_kept) {
        NvmeVerdict::Format { ses } => plan.method = Method::NvmeFormat { ses },
        NvmeVerdict::WouldReachOthers(why) => {
            plan.notes.push(format!("NVMe format not used: {why}"));
        }
        NvmeVerdict::Unsupported(why) if opts.continue_if_secure_erase_failed => {
            plan.notes
                .push(format!("NVMe secure erase not possible: {why}"));
        }
        NvmeVerdict::Unsupported(why) => {
            return Err(format!(
                "{dev}: NVMe secure erase is not possible: {why}; {CONTINUE_HINT}, or set \
                 agent_enable_nvme_secure_erase to false"
            ))
        }
    }
    Ok(())
}

fn decide_ata(m: &Machine, plan: &mut Plan, opts: &NodeOptions) -> Result<(), String> {
    let dev = plan.target.name().to_string();
    match ata::probe(m, &plan.dev) {
        AtaVerdict::Erase(sec) => plan.method = Method::AtaSecureErase(sec),
        AtaVerdict::NotSupported(why) => {
            plan.notes.push(format!("no ATA secure erase: {why}"));
        }
        AtaVerdict::Frozen if opts.continue_if_secure_erase_failed => {
            plan.notes.push(
                "ATA security is frozen (by the firmware at boot); overwriting instead".into(),
            );
        }
        AtaVerdict::Frozen => {
            return Err(format!(
                "{dev}: ATA security is frozen (the firmware froze it at boot), so it cannot be \
                 secure-erased. Unfreeze it by suspending and resuming the machine (e.g. \
                 `rtcwake -m mem -s 10`) or by power-cycling the drive (hot-unplug and replug), \
                 then clean again; or {CONTINUE_HINT}"
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::fixture;
    use ::blockdev::DevType;
    use hwmgr::Host;
    use std::sync::Arc;
    use testkit::RecordingRunner;

    fn target(name: &str) -> Target {
        Target {
            dev: BlockDevice {
                name: format!("/dev/{name}"),
                kname: name.into(),
                dev_type: DevType::Disk,
                size: 64 << 20,
                ..Default::default()
            },
            disk: format!("/dev/{name}"),
        }
    }

    fn run(
        r: &RecordingRunner,
        names: &[&str],
        opts: &NodeOptions,
    ) -> Result<Vec<Plan>, Vec<String>> {
        let m = Machine::new(Host::new("/fake"), Arc::new(r.clone()));
        let ts: Vec<Target> = names.iter().map(|n| target(n)).collect();
        let all: Vec<BlockDevice> = ts.iter().map(|t| t.dev.clone()).collect();
        plan_all(&m, &ts, &all, opts)
    }

    #[test]
    fn each_kind_of_device_gets_its_method() {
        let r = RecordingRunner::new();
        r.on(
            &["nvme", "id-ctrl"],
            &fixture("nvme-id-ctrl-sn730-crypto.json"),
        )
        .on(
            &["hdparm", "-I", "/fake/dev/sda"],
            &fixture("hdparm-wd4003fzex-enhanced.txt"),
        )
        .on(
            &["hdparm", "-I", "/fake/dev/sdb"],
            &fixture("hdparm-qemu-ahci.txt"),
        )
        .fail(
            &["hdparm", "-I", "/fake/dev/vda"],
            25,
            "HDIO_DRIVE_CMD(identify) failed: Inappropriate ioctl for device",
        )
        .on(&["smartctl"], &fixture("smartctl-security-sec1.txt"));
        let plans = run(
            &r,
            &["nvme0n1", "sda", "sdb", "vda"],
            &NodeOptions::default(),
        )
        .unwrap();
        assert_eq!(plans[0].method, Method::NvmeFormat { ses: 2 });
        assert!(matches!(plans[1].method, Method::AtaSecureErase(_)));
        assert_eq!(plans[2].method, Method::Overwrite);
        assert!(
            plans[2].notes[0].contains("no Security section"),
            "{:?}",
            plans[2].notes
        );
        assert_eq!(plans[3].method, Method::Overwrite);
        assert_eq!(plans[1].path, "/fake/dev/sda");

        // Both hardware erases switched off: no probe at all.
        let r = RecordingRunner::new();
        let opts = NodeOptions {
            nvme_secure_erase: false,
            ata_secure_erase: false,
            ..Default::default()
        };
        let plans = run(&r, &["nvme0n1", "sda"], &opts).unwrap();
        assert!(plans.iter().all(|p| p.method == Method::Overwrite));
        assert!(r.lines().is_empty());
    }

    #[test]
    fn frozen_and_unsupported_are_refused_unless_the_fallback_is_allowed() {
        let r = RecordingRunner::new();
        r.on(
            &["nvme", "id-ctrl"],
            &fixture("nvme-id-ctrl-format-unsupported.json"),
        )
        .on(&["hdparm", "-I"], &fixture("hdparm-mk2023gas-frozen.txt"))
        .on(&["smartctl"], &fixture("smartctl-security-sec1.txt"));
        let errors = run(&r, &["nvme0n1", "sda"], &NodeOptions::default()).unwrap_err();
        assert!(
            errors[0].starts_with("/dev/nvme0n1: NVMe secure erase is not possible"),
            "{errors:?}"
        );
        assert!(errors[0].contains("agent_continue_if_secure_erase_failed"));
        assert!(
            errors[1].starts_with("/dev/sda: ATA security is frozen"),
            "{errors:?}"
        );
        assert!(errors[1].contains("power-cycling the drive"));
        let opts = NodeOptions {
            continue_if_secure_erase_failed: true,
            ..Default::default()
        };
        let plans = run(&r, &["nvme0n1", "sda"], &opts).unwrap();
        assert!(plans.iter().all(|p| p.method == Method::Overwrite));
        assert!(plans[1].notes[0].contains("frozen"));
    }
}
