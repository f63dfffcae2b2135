//! NVMe Format NVM with a Secure Erase Setting (`hardware.py:
//! GenericHardwareManager._nvme_erase`): `nvme id-ctrl -o json`, then
//! `nvme format <ns> -s 2 -f` (cryptographic erase) when FNA bit 2 says the controller
//! supports it, else `-s 1` (user-data erase) when OACS bit 1 says Format NVM is supported
//! at all.
//!
//! Where we differ:
//! * FNA bits 0 and 1 say a format (or a secure erase) applies to **all** namespaces of
//!   the controller. IPA formats anyway, which also wipes namespaces the node's
//!   `skip_block_devices` protects. We format only when every namespace of that
//!   controller is being erased; otherwise the namespace is overwritten instead.
//! * A format that fails or times out may have stopped part-way: the error says that the
//!   namespace's contents are undefined (partly erased) and must be erased again.
//! * Only whole namespaces are formatted, never through a partition device.

use crate::tools::{nvme, DevPath};
use crate::Machine;
use ::blockdev::BlockDevice;
use serde_json::Value;

/// OACS bit 1: Format NVM supported.
const OACS_FORMAT: u64 = 0x2;
/// FNA bit 0: a format applies to all namespaces.
const FNA_FORMAT_ALL: u64 = 0x1;
/// FNA bit 1: a secure erase applies to all namespaces.
const FNA_ERASE_ALL: u64 = 0x2;
/// FNA bit 2: cryptographic erase supported.
const FNA_CRYPTO: u64 = 0x4;

/// The fields of Identify Controller the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvmeCaps {
    pub oacs: u64,
    pub fna: u64,
}

impl NvmeCaps {
    pub fn parse(id_ctrl_json: &str) -> Result<NvmeCaps, String> {
        let v: Value = serde_json::from_str(id_ctrl_json)
            .map_err(|e| format!("nvme id-ctrl printed no JSON ({e})"))?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("nvme id-ctrl output has no numeric \"{k}\""))
        };
        Ok(NvmeCaps {
            oacs: field("oacs")?,
            fna: field("fna")?,
        })
    }

    pub fn format_supported(&self) -> bool {
        self.oacs & OACS_FORMAT != 0
    }

    pub fn crypto_erase(&self) -> bool {
        self.fna & FNA_CRYPTO != 0
    }

    /// Whether formatting one namespace with this SES also formats the others.
    pub fn applies_to_all_namespaces(&self) -> bool {
        self.fna & (FNA_FORMAT_ALL | FNA_ERASE_ALL) != 0
    }

    /// The Secure Erase Setting to use: 2 (cryptographic) or 1 (user data).
    pub fn ses(&self) -> u8 {
        if self.crypto_erase() {
            2
        } else {
            1
        }
    }
}

/// The other namespaces of `ns`'s controller (`nvme0n1` → `nvme0n*`) in `all` that are
/// not being erased (`erased` says which are).
pub fn other_namespaces(
    ns: &BlockDevice,
    all: &[BlockDevice],
    erased: impl Fn(&str) -> bool,
) -> Vec<String> {
    let Some(ctrl) = ns.kname.rfind('n').map(|i| &ns.kname[..=i]) else {
        return Vec::new();
    };
    all.iter()
        .filter(|d| d.kname != ns.kname && !d.is_partition())
        .filter(|d| {
            d.kname
                .strip_prefix(ctrl)
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .filter(|d| !erased(&d.name))
        .map(|d| d.name.clone())
        .collect()
}

/// The human name of a Secure Erase Setting, for logs and results.
pub fn ses_name(ses: u8) -> &'static str {
    match ses {
        2 => "cryptographic erase",
        _ => "user-data erase",
    }
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvmeVerdict {
    Format {
        ses: u8,
    },
    /// Format is impossible or unknown (IPA: `BlockDeviceEraseError`).
    Unsupported(String),
    /// Format would reach namespaces that are not being erased: overwrite instead.
    WouldReachOthers(String),
}

/// `nvme id-ctrl`; `others_kept` lists this controller's namespaces that are not being
/// erased.
pub fn probe(m: &Machine, dev: &DevPath, others_kept: &[String]) -> NvmeVerdict {
    let caps = match m.run(&nvme::id_ctrl(dev)) {
        Ok(out) => NvmeCaps::parse(&out.stdout),
        Err(e) => Err(format!("reading the NVMe capabilities failed: {e}")),
    };
    let caps = match caps {
        Ok(c) => c,
        Err(e) => return NvmeVerdict::Unsupported(e),
    };
    if !caps.format_supported() {
        return NvmeVerdict::Unsupported(format!(
            "the controller does not support Format NVM (OACS = {:#x})",
            caps.oacs
        ));
    }
    if caps.applies_to_all_namespaces() && !others_kept.is_empty() {
        return NvmeVerdict::WouldReachOthers(format!(
            "a format on this controller applies to all its namespaces (FNA = {:#x}) and {} \
             must not be erased",
            caps.fna,
            others_kept.join(", ")
        ));
    }
    NvmeVerdict::Format { ses: caps.ses() }
}

/// Runs the format; `Err` says the namespace may be left partly formatted.
pub fn format(m: &Machine, dev: &DevPath, ses: u8) -> Result<(), (String, String)> {
    let cmd = nvme::format(dev, ses);
    tracing::info!("NVMe format of {dev} ({}) started", ses_name(ses));
    m.run(&cmd).map(|_| ()).map_err(|e| {
        (
            cmd.to_string(),
            format!(
                "NVMe format ({}) of {dev} failed: {e}. The format may have stopped part-way: \
                 the namespace's contents are undefined (possibly only partly erased) and it \
                 must be erased again",
                ses_name(ses)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::{fixture, machine};

    fn ns() -> DevPath {
        DevPath::new("/dev/nvme0n1").unwrap()
    }

    fn verdict(file: &str, others: &[String]) -> NvmeVerdict {
        let (m, r) = machine();
        r.on(&["nvme", "id-ctrl"], &fixture(file));
        let v = probe(&m, &ns(), others);
        assert_eq!(r.lines(), vec!["nvme id-ctrl /fake/dev/nvme0n1 -o json"]);
        v
    }

    #[test]
    fn decisions_over_recorded_controllers() {
        assert_eq!(
            verdict("nvme-id-ctrl-sn730-crypto.json", &[]),
            NvmeVerdict::Format { ses: 2 }
        );
        assert_eq!(
            verdict("nvme-id-ctrl-userdata-only.json", &[]),
            NvmeVerdict::Format { ses: 1 }
        );
        assert!(matches!(
            verdict("nvme-id-ctrl-format-unsupported.json", &[]),
            NvmeVerdict::Unsupported(w) if w.contains("does not support Format NVM (OACS = 0x0)")
        ));
        // QEMU's emulated controller (recorded in the ramdisk).
        let qemu = NvmeCaps::parse(&fixture("nvme-id-ctrl-qemu.json")).unwrap();
        assert!(qemu.format_supported());
        assert_eq!(
            verdict("nvme-id-ctrl-qemu.json", &[]),
            NvmeVerdict::Format { ses: qemu.ses() }
        );
    }

    #[test]
    fn a_format_for_all_namespaces_is_not_used_when_one_is_kept() {
        let mut j: Value =
            serde_json::from_str(&fixture("nvme-id-ctrl-sn730-crypto.json")).unwrap();
        j["fna"] = 5.into();
        let (m, r) = machine();
        r.on(&["nvme", "id-ctrl"], &j.to_string());
        let kept = vec!["/dev/nvme0n2".to_string()];
        assert!(matches!(
            probe(&m, &ns(), &kept),
            NvmeVerdict::WouldReachOthers(w) if w.contains("/dev/nvme0n2 must not be erased")
        ));
        assert_eq!(probe(&m, &ns(), &[]), NvmeVerdict::Format { ses: 2 });
    }

    #[test]
    fn namespaces_of_the_same_controller_are_siblings() {
        use crate::erase::testutil::disk;
        let all = [
            disk("nvme0n1", &[]),
            disk("nvme0n2", &[]),
            disk("nvme1n1", &[]),
            disk("nvme0n10", &[]),
        ];
        assert_eq!(
            other_namespaces(&all[0], &all, |n| n == "/dev/nvme0n1"),
            vec!["/dev/nvme0n2", "/dev/nvme0n10"]
        );
        assert!(other_namespaces(&all[0], &all, |_| true).is_empty());
    }

    #[test]
    fn unreadable_capabilities_are_unsupported() {
        let (m, r) = machine();
        r.fail(
            &["nvme", "id-ctrl"],
            1,
            "identify controller: Invalid argument",
        );
        assert!(matches!(
            probe(&m, &ns(), &[]),
            NvmeVerdict::Unsupported(w) if w.contains("exited with code 1; stderr: identify controller")
        ));
        assert!(NvmeCaps::parse("{}").is_err());
        assert!(NvmeCaps::parse("").is_err());
    }

    #[test]
    fn a_failed_format_says_the_namespace_may_be_half_formatted() {
        let (m, r) = machine();
        r.fail(&["nvme", "format"], 1, "NVMe status: Format In Progress");
        let (cmd, why) = format(&m, &ns(), 1).unwrap_err();
        assert_eq!(cmd, "nvme format /dev/nvme0n1 -s 1 -f");
        assert!(
            why.contains("contents are undefined (possibly only partly erased)"),
            "{why}"
        );
        assert!(
            why.contains("stderr: NVMe status: Format In Progress"),
            "{why}"
        );
    }
}
