//! Where a device sits, from its resolved sysfs path: its transport (lsblk's `TRAN`), the
//! `/dev/disk/by-path` name udev would give it, and its PCI function.

use crate::sysfs::{attr_u64, resolved_sys_path};
use hwmgr::Host;

/// The transport, as lsblk's `TRAN` column derives it: SCSI devices by their host's
/// transport class (SAS, FC, iSCSI), a `usb` path, or the SCSI host driver (`ahci`/`sata*`
/// → `sata`, other `*ata*` → `ata`); otherwise by name: `nvme*`, `vd*` (and any virtio-blk
/// path) → `virtio`, `mmcblk*` → `mmc`. virtio-scsi disks, md and loop devices have none.
pub(crate) fn transport(
    host: &Host,
    name: &str,
    resolved: &str,
    hctl: Option<&str>,
) -> Option<String> {
    let t = |s: &str| Some(s.to_string());
    if let Some(hctl) = hctl {
        let hostno = hctl.split(':').next().unwrap_or("0");
        let has_class = |c: &str| host.exists(format!("/sys/class/{c}/host{hostno}"));
        if resolved.contains("/rport-") || has_class("fc_host") {
            return t("fc");
        }
        if resolved.contains("/end_device-") || has_class("sas_host") {
            return t("sas");
        }
        if resolved.contains("/session") || has_class("iscsi_host") {
            return t("iscsi");
        }
        if resolved.contains("/usb") {
            return t("usb");
        }
        if let Some(proc_name) = host.attr(format!("/sys/class/scsi_host/host{hostno}/proc_name")) {
            if proc_name.starts_with("ahci") || proc_name.starts_with("sata") {
                return t("sata");
            }
            if proc_name.contains("ata") {
                return t("ata");
            }
            return None;
        }
        if path_components(resolved).any(is_ata_port) {
            return t("sata");
        }
        return None;
    }
    if name.starts_with("nvme") || resolved.contains("/nvme") {
        return t("nvme");
    }
    if name.starts_with("vd") || resolved.contains("/virtio") {
        return t("virtio");
    }
    if name.starts_with("mmcblk") {
        return t("mmc");
    }
    None
}

fn path_components(p: &str) -> impl Iterator<Item = &str> {
    p.split('/').filter(|c| !c.is_empty())
}

fn is_ata_port(c: &str) -> bool {
    c.strip_prefix("ata")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// `0000:00:1f.2`
fn is_pci_address(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, ch)| matches!(i, 4 | 7 | 10) || ch.is_ascii_hexdigit())
}

/// The last PCI address in a resolved sysfs path: the device's PCI function.
pub fn pci_address_in(path: &str) -> Option<String> {
    path_components(path)
        .filter(|c| is_pci_address(c))
        .last()
        .map(str::to_string)
}

/// The `/dev/disk/by-path` name udev's `path_id` would give, for the buses whose rule is
/// simple and that the QEMU test bed checked against real udev (`docs/udev.md`):
/// virtio-blk `pci-<pci>`, SCSI `pci-<pci>-scsi-<h>:<c>:<t>:<l>` (host number relative to
/// the first host of that PCI function), ATA `pci-<pci>-ata-<port>`, NVMe
/// `pci-<pci>-nvme-<nsid>`. USB, SAS, FC, iSCSI and platform devices get none (udev's
/// database is used when there).
pub(crate) fn computed_by_path(
    host: &Host,
    name: &str,
    resolved: &str,
    hctl: Option<&str>,
) -> Option<String> {
    let pre = "/dev/disk/by-path/pci-";
    if name.starts_with("nvme") {
        // With native multipath the namespace lives under /sys/devices/virtual; its
        // controller (nvmeC of nvmeCnN) sits on the PCI function.
        let (ctrl, nsid) = nvme_ctrl_and_nsid(name)?;
        let nsid = attr_u64(host, &format!("/sys/block/{name}/nsid")).unwrap_or(nsid);
        let pci = pci_address_in(resolved).or_else(|| {
            pci_address_in(&resolved_sys_path(
                host,
                &format!("/sys/class/nvme/nvme{ctrl}"),
            )?)
        })?;
        return Some(format!("{pre}{pci}-nvme-{nsid}"));
    }
    let pci = pci_address_in(resolved)?;
    let comps: Vec<&str> = path_components(resolved).collect();
    let after_pci = comps
        .iter()
        .rposition(|c| is_pci_address(c))
        .map(|i| &comps[i + 1..])
        .unwrap_or(&[]);
    if after_pci.iter().any(|c| {
        c.starts_with("usb")
            || c.starts_with("end_device-")
            || c.starts_with("rport-")
            || c.starts_with("session")
    }) {
        return None;
    }
    match hctl {
        None => {
            let virtio_blk = after_pci.len() == 3
                && after_pci[0].starts_with("virtio")
                && after_pci[1] == "block";
            virtio_blk.then(|| format!("{pre}{pci}"))
        }
        Some(hctl) => {
            if let Some(port) = after_pci.iter().find(|c| is_ata_port(c)) {
                return Some(format!("{pre}{pci}-ata-{}", &port[3..]));
            }
            // host number relative to the lowest host on the same parent, as path_id does
            let hi = comps.iter().position(|c| {
                c.strip_prefix("host")
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })?;
            let parent = format!("/{}", comps[..hi].join("/"));
            let base = host
                .list_dir(&parent)
                .iter()
                .filter_map(|n| n.strip_prefix("host")?.parse::<u64>().ok())
                .min()?;
            let mut it = hctl.split(':');
            let h: u64 = it.next()?.parse().ok()?;
            let rest: Vec<&str> = it.collect();
            Some(format!(
                "{pre}{pci}-scsi-{}:{}",
                h.checked_sub(base)?,
                rest.join(":")
            ))
        }
    }
}

/// `nvme0n1` → (0, 1)
fn nvme_ctrl_and_nsid(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("nvme")?;
    let (c, n) = rest.split_once('n')?;
    let n: String = n.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((c.parse().ok()?, n.parse().ok()?))
}
