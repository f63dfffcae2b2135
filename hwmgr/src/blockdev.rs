//! Block-device discovery from sysfs (and udev's database when present), through [`Host`].
//!
//! Partition names are read from sysfs, never derived from the disk name, so `sda1`,
//! `nvme0n1p1`, `mmcblk0p1` and `loop0p1` all come out right.

use crate::host::Host;
use serde::Serialize;

/// What kind of block device this is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DevType {
    #[default]
    Disk,
    Part,
    /// An md array; the string is its level as sysfs says it (`raid1`, `raid5`, ...).
    Raid(String),
    Loop,
    Rom,
}

/// One block device as discovered. Sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BlockDevice {
    /// `/dev/<kname>`
    pub name: String,
    pub kname: String,
    pub dev_type: DevType,
    pub size: u64,
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub serial: Option<String>,
    pub wwn: Option<String>,
    pub wwn_with_extension: Option<String>,
    pub wwn_vendor_extension: Option<String>,
    pub hctl: Option<String>,
    pub by_path: Option<String>,
    /// Transport: `sata`, `sas`, `nvme`, `virtio`, `usb`, ...
    pub tran: Option<String>,
    pub rotational: bool,
    pub read_only: bool,
    pub removable: bool,
    pub logical_sectors: u64,
    pub physical_sectors: u64,
    /// For a disk: its partitions as `/dev/<name>` in sysfs order.
    pub partitions: Vec<String>,
    /// For a partition: the disk it belongs to, as `/dev/<name>`.
    pub parent: Option<String>,
    /// `/sys/block/<x>/holders`: devices built on top of this one (e.g. `/dev/md127`).
    pub holders: Vec<String>,
    /// `/sys/block/<x>/slaves`: for md/dm devices, their members.
    pub slaves: Vec<String>,
    /// For md devices: the array name from `/sys/block/mdX/md/...` or `/dev/md/<name>`.
    pub md_name: Option<String>,
}

/// One GiB, the unit of the `size` device hint.
pub const GIB: u64 = 1 << 30;

impl BlockDevice {
    pub fn is_partition(&self) -> bool {
        self.dev_type == DevType::Part
    }

    /// Disks and md arrays: what IPA's `list_all_block_devices()` returns (lsblk type `disk`
    /// plus `raid*`), i.e. what inventory, RAID member selection and erase work on.
    pub fn is_disk_like(&self) -> bool {
        matches!(self.dev_type, DevType::Disk | DevType::Raid(_))
    }

    pub fn is_md(&self) -> bool {
        matches!(self.dev_type, DevType::Raid(_))
    }

    /// The md level (`raid1`, ...) when this is an md array.
    pub fn raid_level(&self) -> Option<&str> {
        match &self.dev_type {
            DevType::Raid(l) => Some(l),
            _ => None,
        }
    }

    /// The device as IPA serializes it (`hardware.BlockDevice.serialize()`), i.e. the
    /// inventory's disk object and what device hints are matched against.
    pub fn to_ipa_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "model": self.model,
            "size": self.size,
            "rotational": self.rotational,
            "wwn": self.wwn,
            "serial": self.serial,
            "vendor": self.vendor,
            "wwn_with_extension": self.wwn_with_extension,
            "wwn_vendor_extension": self.wwn_vendor_extension,
            "hctl": self.hctl,
            "by_path": self.by_path,
            "logical_sectors": self.logical_sectors,
            "physical_sectors": self.physical_sectors,
            "tran": self.tran,
        })
    }
}

/// Finds a device by `/dev/<name>` or bare `<name>`.
pub fn find_by_name<'a>(devices: &'a [BlockDevice], name: &str) -> Option<&'a BlockDevice> {
    let kname = name.strip_prefix("/dev/").unwrap_or(name);
    devices.iter().find(|d| d.kname == kname)
}

/// Lists disks (type disk, md, loop with a size) and, when `with_partitions`, partitions.
/// Floppies, ram/zram, and zero-size devices are left out, as IPA does.
///
/// Also left out: hidden devices (NVMe per-controller paths such as `nvme0c0n1`), CD/DVD
/// drives (`sr*`, SCSI type 5), device-mapper devices other than multipath (LVM, crypt) and
/// the paths under a multipath device, like lsblk's `TYPE == disk` filter in IPA.
/// The result is sorted by name, digit runs compared as numbers (`sda`, `sda1`, `sda2`,
/// `sda10`, `sdb`).
pub fn list_block_devices(host: &Host, with_partitions: bool) -> Vec<BlockDevice> {
    let udev = UdevLinks::load(host);
    let mut out = Vec::new();
    for name in host.list_dir("/sys/block") {
        let Some(disk) = read_disk(host, &name, &udev) else {
            continue;
        };
        if disk.size == 0 {
            continue;
        }
        if with_partitions {
            out.extend(
                read_partitions(host, &disk, &udev)
                    .into_iter()
                    .filter(|p| p.size > 0),
            );
        }
        out.push(disk);
    }
    out.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    out
}

/// Every md array under `/sys/block`, including inactive or empty ones (size 0), which
/// [`list_block_devices`] leaves out; `delete_configuration` needs those too.
pub fn list_md_arrays(host: &Host) -> Vec<BlockDevice> {
    let udev = UdevLinks::load(host);
    let mut out: Vec<BlockDevice> = host
        .list_dir("/sys/block")
        .into_iter()
        .filter(|n| is_md_name(n) || host.exists(format!("/sys/block/{n}/md")))
        .filter_map(|n| read_disk(host, &n, &udev))
        .filter(BlockDevice::is_md)
        .collect();
    out.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    out
}

/// The partition number of a partition (`/sys/class/block/<name>/partition`).
pub fn partition_number(host: &Host, name: &str) -> Option<u32> {
    let kname = name.strip_prefix("/dev/").unwrap_or(name);
    host.attr(format!("/sys/class/block/{kname}/partition"))?
        .parse()
        .ok()
}

fn is_md_name(n: &str) -> bool {
    n.strip_prefix("md")
        .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
}

/// Names never listed, whatever sysfs says about them.
fn skipped_name(name: &str) -> bool {
    let starts_digit = |p: &str| {
        name.strip_prefix(p)
            .is_some_and(|r| r.chars().next().is_some_and(|c| c.is_ascii_digit()))
    };
    starts_digit("fd") || starts_digit("ram") || starts_digit("zram") || starts_digit("sr")
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn attr_u64(host: &Host, path: &str) -> Option<u64> {
    host.attr(path)?.parse().ok()
}

fn attr_flag(host: &Host, path: &str) -> bool {
    host.attr(path).as_deref() == Some("1")
}

/// The machine path (`/sys/devices/...`) a sysfs symlink such as `/sys/block/sda` resolves
/// to, with the host root stripped again.
pub fn resolved_sys_path(host: &Host, abs: &str) -> Option<String> {
    let real = std::fs::canonicalize(host.path(abs)).ok()?;
    let root = std::fs::canonicalize(host.root()).ok()?;
    let rel = real.strip_prefix(&root).ok()?;
    Some(format!("/{}", rel.to_string_lossy()))
}

fn dev_names(host: &Host, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = host
        .list_dir(dir)
        .into_iter()
        .map(|n| format!("/dev/{n}"))
        .collect();
    v.sort_by(|a, b| natural_cmp(a, b));
    v
}

fn read_disk(host: &Host, name: &str, udev: &UdevLinks) -> Option<BlockDevice> {
    if skipped_name(name) {
        return None;
    }
    let sys = format!("/sys/block/{name}");
    if !host.exists(&sys) || attr_flag(host, &format!("{sys}/hidden")) {
        return None;
    }
    // SCSI peripheral type 5 is a CD/DVD drive.
    if host.attr(format!("{sys}/device/type")).as_deref() == Some("5") {
        return None;
    }
    let holders = dev_names(host, &format!("{sys}/holders"));
    // A path of a multipath device: the mpath device is listed instead.
    if holders.iter().any(|h| {
        dm_uuid(host, h.trim_start_matches("/dev/")).is_some_and(|u| u.starts_with("mpath-"))
    }) {
        return None;
    }
    let dev_type = if host.exists(format!("{sys}/md")) || is_md_name(name) {
        DevType::Raid(host.attr(format!("{sys}/md/level")).unwrap_or_default())
    } else if name.starts_with("dm-") {
        match dm_uuid(host, name) {
            Some(u) if u.starts_with("mpath-") => DevType::Disk,
            _ => return None,
        }
    } else if name.starts_with("loop") {
        DevType::Loop
    } else {
        DevType::Disk
    };
    let resolved = resolved_sys_path(host, &sys).unwrap_or_default();
    let devnum = host.attr(format!("{sys}/dev"));
    let db = devnum.as_deref().and_then(|d| UdevDb::load(host, d));

    let mut d = BlockDevice {
        name: format!("/dev/{name}"),
        kname: name.to_string(),
        size: attr_u64(host, &format!("{sys}/size")).unwrap_or(0) * 512,
        read_only: attr_flag(host, &format!("{sys}/ro")),
        removable: attr_flag(host, &format!("{sys}/removable")),
        rotational: attr_flag(host, &format!("{sys}/queue/rotational")),
        logical_sectors: attr_u64(host, &format!("{sys}/queue/logical_block_size")).unwrap_or(512),
        physical_sectors: attr_u64(host, &format!("{sys}/queue/physical_block_size"))
            .unwrap_or(512),
        holders,
        slaves: dev_names(host, &format!("{sys}/slaves")),
        ..Default::default()
    };
    d.partitions = partition_names(host, name)
        .into_iter()
        .map(|p| format!("/dev/{p}"))
        .collect();

    if !matches!(dev_type, DevType::Raid(_)) {
        d.model = nonempty(host.attr(format!("{sys}/device/model")))
            .or_else(|| nonempty(host.attr(format!("{sys}/device/name")))); // mmc
        d.vendor = nonempty(host.attr(format!("{sys}/device/vendor")));
        d.serial = sysfs_serial(host, &sys);
        let wwid = nonempty(host.attr(format!("{sys}/wwid")))
            .or_else(|| nonempty(host.attr(format!("{sys}/device/wwid"))));
        if let Some(w) = wwid {
            let (wwn, ext, vendor_ext) = wwn_from_wwid(&w);
            d.wwn = wwn;
            d.wwn_with_extension = ext;
            d.wwn_vendor_extension = vendor_ext;
        }
        d.hctl = host
            .link_target(format!("{sys}/device"))
            .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned()))
            .filter(|b| is_hctl(b));
        d.tran = transport(host, name, &resolved, d.hctl.as_deref());
        d.by_path = computed_by_path(host, name, &resolved, d.hctl.as_deref());
    } else {
        d.md_name = md_name(host, name, db.as_ref());
    }
    if let Some(db) = &db {
        apply_udev(&mut d, db);
    }
    if let Some(p) = udev.by_path_of(name) {
        d.by_path = Some(p);
    }
    d.dev_type = dev_type;
    Some(d)
}

/// Partition names of a disk: subdirectories of `/sys/block/<disk>` with a `partition` file,
/// in partition-number order.
fn partition_names(host: &Host, disk: &str) -> Vec<String> {
    let sys = format!("/sys/block/{disk}");
    let mut parts: Vec<(u64, String)> = host
        .list_dir(&sys)
        .into_iter()
        .filter_map(|sub| {
            let n = attr_u64(host, &format!("{sys}/{sub}/partition"))?;
            Some((n, sub))
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, s)| s).collect()
}

fn read_partitions(host: &Host, disk: &BlockDevice, udev: &UdevLinks) -> Vec<BlockDevice> {
    let dsys = format!("/sys/block/{}", disk.kname);
    partition_names(host, &disk.kname)
        .into_iter()
        .map(|p| {
            let sys = format!("{dsys}/{p}");
            let mut d = BlockDevice {
                name: format!("/dev/{p}"),
                kname: p.clone(),
                dev_type: DevType::Part,
                size: attr_u64(host, &format!("{sys}/size")).unwrap_or(0) * 512,
                read_only: disk.read_only || attr_flag(host, &format!("{sys}/ro")),
                removable: disk.removable,
                rotational: disk.rotational,
                logical_sectors: disk.logical_sectors,
                physical_sectors: disk.physical_sectors,
                tran: disk.tran.clone(),
                hctl: disk.hctl.clone(),
                parent: Some(disk.name.clone()),
                holders: dev_names(host, &format!("{sys}/holders")),
                ..Default::default()
            };
            if let (Some(bp), Some(n)) =
                (&disk.by_path, attr_u64(host, &format!("{sys}/partition")))
            {
                d.by_path = Some(format!("{bp}-part{n}"));
            }
            if let Some(db) = host
                .attr(format!("{sys}/dev"))
                .and_then(|n| UdevDb::load(host, &n))
            {
                apply_udev(&mut d, &db);
            }
            if let Some(bp) = udev.by_path_of(&p) {
                d.by_path = Some(bp);
            }
            d
        })
        .collect()
}

fn dm_uuid(host: &Host, name: &str) -> Option<String> {
    nonempty(host.attr(format!("/sys/block/{name}/dm/uuid")))
}

fn is_hctl(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Serial number from sysfs: virtio `serial`, NVMe/mmc `device/serial`, SCSI/ATA
/// `device/vpd_pg80` (unit serial number VPD page: 4-byte header, then ASCII).
fn sysfs_serial(host: &Host, sys: &str) -> Option<String> {
    if let Some(s) = nonempty(host.attr(format!("{sys}/serial"))) {
        return Some(s);
    }
    if let Some(s) = nonempty(host.attr(format!("{sys}/device/serial"))) {
        return Some(s);
    }
    let raw = std::fs::read(host.path(format!("{sys}/device/vpd_pg80"))).ok()?;
    if raw.len() < 4 {
        return None;
    }
    let len = u16::from_be_bytes([raw[2], raw[3]]) as usize;
    let body = &raw[4..raw.len().min(4 + len)];
    let s: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    nonempty(Some(s))
}

/// `wwid` → (wwn, wwn_with_extension, wwn_vendor_extension), in the forms udev's
/// `ID_WWN*` use: SCSI NAA `naa.5000c500a1b2c3d4` → `0x5000c500a1b2c3d4`; a 32-digit NAA 6
/// id splits into the WWN and its vendor extension; EUI `eui.X` → `0xX`; NVMe ids
/// (`nvme.…`, `eui.…` on NVMe) are kept as they are, like udev's `ID_WWN` for NVMe. T10
/// vendor ids (`t10.ATA…`) are not WWNs.
fn wwn_from_wwid(wwid: &str) -> (Option<String>, Option<String>, Option<String>) {
    let w = wwid.trim();
    if let Some(hex) = w.strip_prefix("naa.") {
        let hex = hex.to_ascii_lowercase();
        if hex.len() > 16 {
            return (
                Some(format!("0x{}", &hex[..16])),
                Some(format!("0x{hex}")),
                Some(format!("0x{}", &hex[16..])),
            );
        }
        return (Some(format!("0x{hex}")), Some(format!("0x{hex}")), None);
    }
    if w.starts_with("t10.") || w.is_empty() {
        return (None, None, None);
    }
    if let Some(hex) = w.strip_prefix("eui.") {
        if !hex.contains(['-', ' ']) {
            let v = format!("0x{}", hex.to_ascii_lowercase());
            return (Some(v.clone()), Some(v), None);
        }
    }
    (Some(w.to_string()), Some(w.to_string()), None)
}

/// The transport, as lsblk's `TRAN` column derives it: SCSI devices by their host's
/// transport class (SAS, FC, iSCSI), a `usb` path, or the SCSI host driver (`ahci`/`sata*`
/// → `sata`, other `*ata*` → `ata`); otherwise by name: `nvme*`, `vd*` (and any virtio-blk
/// path) → `virtio`, `mmcblk*` → `mmc`. virtio-scsi disks, md and loop devices have none.
fn transport(host: &Host, name: &str, resolved: &str, hctl: Option<&str>) -> Option<String> {
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
/// simple and that the QEMU test bed checked (`qemu-ramdisk.md` 8): virtio-blk
/// `pci-<pci>`, SCSI `pci-<pci>-scsi-<h>:<c>:<t>:<l>` (host number relative to the first
/// host of that PCI function), ATA `pci-<pci>-ata-<port>`, NVMe `pci-<pci>-nvme-<nsid>`.
/// USB, SAS, FC, iSCSI and platform devices get none (udev's database is used when there).
fn computed_by_path(host: &Host, name: &str, resolved: &str, hctl: Option<&str>) -> Option<String> {
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

/// An md array's name: udev's `MD_DEVNAME`, else the `/dev/md/<name>` link that points to
/// it (made by udev or by mdadm itself), else none (`mdadm --detail` knows it).
fn md_name(host: &Host, kname: &str, db: Option<&UdevDb>) -> Option<String> {
    if let Some(n) = db.and_then(|d| d.env("MD_DEVNAME")) {
        return Some(n.to_string());
    }
    if let Some(n) = db.and_then(|d| d.env("MD_NAME")) {
        return Some(n.rsplit(':').next().unwrap_or(n).to_string());
    }
    host.list_dir("/dev/md").into_iter().find(|link| {
        host.link_target(format!("/dev/md/{link}"))
            .and_then(|t| t.file_name().map(|f| f == kname))
            .unwrap_or(false)
    })
}

/// One device's record in udev's database (`/run/udev/data/b<major>:<minor>`).
#[derive(Debug, Default)]
struct UdevDb {
    env: Vec<(String, String)>,
    links: Vec<String>,
}

impl UdevDb {
    fn load(host: &Host, devnum: &str) -> Option<UdevDb> {
        let text = host.read(format!("/run/udev/data/b{devnum}")).ok()?;
        let mut db = UdevDb::default();
        for line in text.lines() {
            if let Some(kv) = line.strip_prefix("E:") {
                if let Some((k, v)) = kv.split_once('=') {
                    db.env.push((k.to_string(), v.to_string()));
                }
            } else if let Some(l) = line.strip_prefix("S:") {
                db.links.push(l.to_string());
            }
        }
        Some(db)
    }

    fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Fills what udev knows and sysfs may not, as IPA does: serial from `ID_SERIAL_SHORT`/
/// `ID_SERIAL`, `ID_WWN`, `ID_WWN_WITH_EXTENSION`, `ID_WWN_VENDOR_EXTENSION` (or the `DM_`
/// forms), and the by-path link. udev's values win over sysfs-derived ones.
fn apply_udev(d: &mut BlockDevice, db: &UdevDb) {
    let get = |k: &str| {
        db.env(&format!("ID_{k}"))
            .or_else(|| db.env(&format!("DM_{k}")))
            .map(str::to_string)
    };
    if let Some(s) = get("SERIAL_SHORT").or_else(|| get("SERIAL")) {
        d.serial = Some(s);
    }
    if let Some(w) = get("WWN") {
        d.wwn = Some(w);
    }
    if let Some(w) = get("WWN_WITH_EXTENSION") {
        d.wwn_with_extension = Some(w);
    }
    if let Some(w) = get("WWN_VENDOR_EXTENSION") {
        d.wwn_vendor_extension = Some(w);
    }
    if let Some(bp) = shortest(db.links.iter().filter(|l| l.starts_with("disk/by-path/"))) {
        d.by_path = Some(format!("/dev/{bp}"));
    }
}

fn shortest<'a>(it: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    it.min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
}

/// `/dev/disk/by-path` links, when something (udev) made them: kname → shortest link.
struct UdevLinks {
    by_path: Vec<(String, String)>,
}

impl UdevLinks {
    fn load(host: &Host) -> UdevLinks {
        let mut by_path: Vec<(String, String)> = Vec::new();
        for link in host.list_dir("/dev/disk/by-path") {
            let Some(t) = host.link_target(format!("/dev/disk/by-path/{link}")) else {
                continue;
            };
            let Some(kname) = t.file_name().map(|f| f.to_string_lossy().into_owned()) else {
                continue;
            };
            let full = format!("/dev/disk/by-path/{link}");
            match by_path.iter_mut().find(|(k, _)| *k == kname) {
                Some((_, cur)) if full.len() < cur.len() => *cur = full,
                Some(_) => {}
                None => by_path.push((kname, full)),
            }
        }
        UdevLinks { by_path }
    }

    fn by_path_of(&self, kname: &str) -> Option<String> {
        self.by_path
            .iter()
            .find(|(k, _)| k == kname)
            .map(|(_, p)| p.clone())
    }
}

/// Compares names with digit runs as numbers: `sda2` < `sda10`, `md2` < `md10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let xn = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let yn = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let xs = std::str::from_utf8(&x[..xn])
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let ys = std::str::from_utf8(&y[..yn])
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let o = xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[xn..];
                y = &y[yn..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Device hints (root device hints, RAID `physical_disks`, `skip_block_devices`)
// ---------------------------------------------------------------------------------------

/// The device hints IPA accepts, with their types (`ironic_lib.utils.VALID_ROOT_DEVICE_HINTS`).
pub const VALID_DEVICE_HINTS: &[&str] = &[
    "size",
    "model",
    "wwn",
    "serial",
    "vendor",
    "wwn_with_extension",
    "wwn_vendor_extension",
    "name",
    "rotational",
    "hctl",
    "by_path",
];

/// oslo.utils `specs_matcher` operators, longest first so that prefixes parse right.
const OPERATORS: &[&str] = &[
    "<range-in>",
    "<all-in>",
    "<in>",
    "<or>",
    "s==",
    "s!=",
    "s<=",
    "s>=",
    "s<",
    "s>",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "=",
];

#[derive(Debug, Clone, PartialEq)]
enum Hint {
    /// A normalized string expression with its operator, e.g. `s== qemu%20harddisk`.
    Str(String),
    /// A numeric expression with its operator, e.g. `>= 100` (GiB).
    Size(String),
    Bool(bool),
}

/// Parsed, validated device hints (`ironic_lib.utils.parse_root_device_hints`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceHints(Vec<(String, Hint)>);

/// Splits an expression into its operator (or `""`) and values, lowercased and trimmed
/// (`_extract_hint_operator_and_values`).
fn split_expression(expr: &str, hint: &str) -> Result<(String, Vec<String>), String> {
    let e = expr.trim().to_lowercase();
    if e.is_empty() {
        return Err(format!("Root device hint \"{hint}\" expression is empty"));
    }
    let Some(op) = OPERATORS.iter().find(|op| e.starts_with(**op)) else {
        return Ok((String::new(), vec![e]));
    };
    if e.trim_start_matches(op).trim().is_empty() {
        // an operator alone is a value, as the grammar would not split it
        return Ok((String::new(), vec![e]));
    }
    let values = e
        .split(op)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    Ok((op.to_string(), values))
}

/// Python's `urllib.parse.quote` with its default safe set (`/` plus unreserved chars).
fn url_quote(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `_normalize_hint_expression`: values lowercased and URL-quoted, operators kept.
fn normalize_expression(expr: &str, hint: &str) -> Result<String, String> {
    let (op, values) = split_expression(expr, hint)?;
    let joined = values
        .iter()
        .map(|v| format!(" {} ", url_quote(v)))
        .collect::<Vec<_>>()
        .join(&op);
    Ok(format!("{op}{joined}").trim().to_string())
}

/// `oslo_utils.strutils.bool_from_string(strict=True)`.
fn bool_from_value(v: &serde_json::Value) -> Option<bool> {
    use serde_json::Value;
    let s = match v {
        Value::Bool(b) => return Some(*b),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_lowercase(),
        _ => return None,
    };
    match s.as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

impl DeviceHints {
    /// Parses and validates hints: unknown names, non-string string hints, non-positive or
    /// non-integer sizes and non-boolean `rotational` are errors. A string hint without an
    /// operator means `s==`, a size without one `==`. `name` may be given with or without
    /// `/dev/`.
    pub fn parse(hints: &serde_json::Value) -> Result<DeviceHints, String> {
        use serde_json::Value;
        let Some(map) = hints.as_object() else {
            return Err(format!("device hints must be an object, got {hints}"));
        };
        let invalid: Vec<&str> = map
            .keys()
            .filter(|k| !VALID_DEVICE_HINTS.contains(&k.as_str()))
            .map(String::as_str)
            .collect();
        if !invalid.is_empty() {
            return Err(format!(
                "The hints \"{}\" are invalid. Valid hints are: \"{}\"",
                invalid.join(", "),
                VALID_DEVICE_HINTS.join(", ")
            ));
        }
        let mut out = Vec::new();
        for (name, expr) in map {
            let hint = match name.as_str() {
                "rotational" => Hint::Bool(bool_from_value(expr).ok_or_else(|| {
                    format!(
                        "Root device hint \"{name}\" is not a Boolean value. Current value: {expr}"
                    )
                })?),
                "size" => {
                    let text = match expr {
                        Value::Number(n) => n.to_string(),
                        Value::String(s) => s.clone(),
                        other => {
                            return Err(format!(
                                "Root device hint \"size\" is not an integer value. Current value: {other}"
                            ))
                        }
                    };
                    let (op, values) = split_expression(&text, name)?;
                    if op != "<range-in>" {
                        for v in &values {
                            match v.parse::<i64>() {
                                Ok(i) if i > 0 => {}
                                Ok(_) => {
                                    return Err(format!(
                                        "Root device hint \"size\" should be a positive integer. Current value: {text}"
                                    ))
                                }
                                Err(_) => {
                                    return Err(format!(
                                        "Root device hint \"size\" is not an integer value. Current value: {text}"
                                    ))
                                }
                            }
                        }
                    }
                    if op.is_empty() {
                        Hint::Size(format!("== {}", values[0]))
                    } else {
                        Hint::Size(text.trim().to_lowercase())
                    }
                }
                _ => {
                    let Value::String(s) = expr else {
                        return Err(format!(
                            "Root device hint \"{name}\" is not a string value. Hint expression: {expr}"
                        ));
                    };
                    let s = if name == "name" {
                        let (op, values) = split_expression(s, name)?;
                        let values: Vec<String> = values
                            .into_iter()
                            .map(|v| {
                                if v.starts_with("/dev/") {
                                    v
                                } else {
                                    format!("/dev/{v}")
                                }
                            })
                            .collect();
                        if op.is_empty() {
                            values[0].clone()
                        } else {
                            format!("{op} {}", values.join(&format!(" {op} ")))
                        }
                    } else {
                        s.clone()
                    };
                    let norm = normalize_expression(&s, name)?;
                    let (op, _) = split_expression(&norm, name)?;
                    Hint::Str(if op.is_empty() {
                        format!("s== {norm}")
                    } else {
                        norm
                    })
                }
            };
            out.push((name.clone(), hint));
        }
        Ok(DeviceHints(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `dev` satisfies every hint (`find_devices_by_hints`). A string attribute the
    /// device lacks never matches.
    pub fn matches(&self, dev: &BlockDevice) -> bool {
        self.0.iter().all(|(name, hint)| match hint {
            Hint::Bool(b) => name == "rotational" && dev.rotational == *b,
            Hint::Size(expr) => specs_match_num(dev.size as f64 / GIB as f64, expr),
            Hint::Str(expr) => {
                let Some(value) = string_attr(dev, name) else {
                    return false;
                };
                match normalize_expression(&value, name) {
                    Ok(v) => specs_match_str(&v, expr),
                    Err(_) => false,
                }
            }
        })
    }
}

fn string_attr(dev: &BlockDevice, name: &str) -> Option<String> {
    match name {
        "name" => Some(dev.name.clone()),
        "model" => dev.model.clone(),
        "wwn" => dev.wwn.clone(),
        "serial" => dev.serial.clone(),
        "vendor" => dev.vendor.clone(),
        "wwn_with_extension" => dev.wwn_with_extension.clone(),
        "wwn_vendor_extension" => dev.wwn_vendor_extension.clone(),
        "hctl" => dev.hctl.clone(),
        "by_path" => dev.by_path.clone(),
        _ => None,
    }
}

/// `specs_matcher.match` for a string value.
fn specs_match_str(value: &str, req: &str) -> bool {
    let words: Vec<&str> = req.split_whitespace().collect();
    let Some((&op, rest)) = words.split_first() else {
        return value == req;
    };
    let num = |f: fn(f64, f64) -> bool| -> bool {
        match (
            value.parse::<f64>(),
            rest.first().and_then(|w| w.parse::<f64>().ok()),
        ) {
            (Ok(x), Some(y)) => f(x, y),
            _ => false,
        }
    };
    match op {
        "<or>" => rest.iter().step_by(2).any(|w| *w == value),
        "s==" => rest.first() == Some(&value),
        "s!=" => rest.first().is_some_and(|w| value != *w),
        "s<" => rest.first().is_some_and(|w| value < *w),
        "s<=" => rest.first().is_some_and(|w| value <= *w),
        "s>" => rest.first().is_some_and(|w| value > *w),
        "s>=" => rest.first().is_some_and(|w| value >= *w),
        "<in>" => rest.first().is_some_and(|w| value.contains(w)),
        "<all-in>" => !rest.is_empty() && rest.iter().all(|w| value.contains(w)),
        "=" | ">=" => num(|x, y| x >= y),
        "==" => num(|x, y| x == y),
        "!=" => num(|x, y| x != y),
        "<=" => num(|x, y| x <= y),
        "<" => num(|x, y| x < y),
        ">" => num(|x, y| x > y),
        _ => value == req,
    }
}

/// `specs_matcher.match` for the size in GiB (a float, as `bytes / units.Gi` in Python).
fn specs_match_num(x: f64, req: &str) -> bool {
    let (op, values) = match split_expression(req, "size") {
        Ok(v) => v,
        Err(_) => return false,
    };
    let nums: Vec<f64> = values.iter().filter_map(|v| v.parse().ok()).collect();
    let first = nums.first().copied();
    let cmp = |f: fn(f64, f64) -> bool| first.is_some_and(|y| f(x, y));
    match op.as_str() {
        "" | "==" => cmp(|x, y| x == y),
        "=" | ">=" => cmp(|x, y| x >= y),
        "!=" => cmp(|x, y| x != y),
        "<=" => cmp(|x, y| x <= y),
        "<" => cmp(|x, y| x < y),
        ">" => cmp(|x, y| x > y),
        "<or>" => nums.contains(&x),
        "<range-in>" => range_in(x, &values.join(" ")),
        // string operators on a number compare its Python str()
        _ => specs_match_str(&python_float_str(x), req),
    }
}

fn python_float_str(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// `<range-in> [ 10 20 ]`: `[`/`]` inclusive, `(`/`)` exclusive.
fn range_in(x: f64, spec: &str) -> bool {
    let s = spec.trim();
    let (Some(open), Some(close)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    if !matches!(open, '[' | '(') || !matches!(close, ']' | ')') || s.len() < 2 {
        return false;
    }
    let inner: Vec<f64> = s[1..s.len() - 1]
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [lo, hi] = inner[..] else {
        return false;
    };
    if lo > hi {
        return false;
    }
    let left = if open == '[' { x >= lo } else { x > lo };
    let right = if close == ']' { x <= hi } else { x < hi };
    left && right
}

/// Whether `dev` matches the device hints in `hints` (a JSON object such as
/// `{"serial": "S1", "size": ">= 100"}`), with IPA's semantics. Invalid hints are an error.
pub fn device_hint_matches(dev: &BlockDevice, hints: &serde_json::Value) -> Result<bool, String> {
    Ok(DeviceHints::parse(hints)?.matches(dev))
}

/// All devices matching `hints`, in list order (`find_devices_by_hints`).
pub fn find_devices_by_hints<'a>(
    devices: &'a [BlockDevice],
    hints: &serde_json::Value,
) -> Result<Vec<&'a BlockDevice>, String> {
    let h = DeviceHints::parse(hints)?;
    Ok(devices.iter().filter(|d| h.matches(d)).collect())
}

/// The first device matching `hints` (`match_root_device_hints`).
pub fn match_device_hints<'a>(
    devices: &'a [BlockDevice],
    hints: &serde_json::Value,
) -> Result<Option<&'a BlockDevice>, String> {
    Ok(find_devices_by_hints(devices, hints)?.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_machine::{FakeMachine, GIB, MIB};
    use serde_json::json;

    fn names(devs: &[BlockDevice]) -> Vec<&str> {
        devs.iter().map(|d| d.name.as_str()).collect()
    }

    fn fake() -> (tempfile::TempDir, FakeMachine) {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path());
        (d, m)
    }

    #[test]
    fn sata_disk_with_partitions() {
        let (_d, m) = fake();
        let m = m
            .disk("sda", 100 * GIB)
            .model("QEMU HARDDISK")
            .serial("QLAB-A0")
            .rotational(false)
            .block_size(512, 4096)
            .partition("sda", "sda2", 101 * MIB, GIB)
            .partition("sda", "sda1", MIB, 100 * MIB)
            .partition("sda", "sda10", 2 * GIB, GIB);
        let h = m.host();
        let disks = list_block_devices(&h, false);
        assert_eq!(names(&disks), ["/dev/sda"]);
        let sda = &disks[0];
        assert_eq!(sda.kname, "sda");
        assert_eq!(sda.dev_type, DevType::Disk);
        assert_eq!(sda.size, 100 * GIB);
        assert_eq!(sda.model.as_deref(), Some("QEMU HARDDISK"));
        assert_eq!(sda.vendor.as_deref(), Some("ATA"));
        assert_eq!(sda.serial.as_deref(), Some("QLAB-A0"));
        assert_eq!(sda.hctl.as_deref(), Some("0:0:0:0"));
        assert_eq!(sda.tran.as_deref(), Some("sata"));
        assert_eq!(
            sda.by_path.as_deref(),
            Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1")
        );
        assert!(!sda.rotational && !sda.read_only && !sda.removable);
        assert_eq!((sda.logical_sectors, sda.physical_sectors), (512, 4096));
        assert_eq!(sda.partitions, ["/dev/sda1", "/dev/sda2", "/dev/sda10"]);

        let all = list_block_devices(&h, true);
        assert_eq!(
            names(&all),
            ["/dev/sda", "/dev/sda1", "/dev/sda2", "/dev/sda10"]
        );
        let p2 = find_by_name(&all, "sda2").unwrap();
        assert!(p2.is_partition() && !p2.is_disk_like());
        assert_eq!(p2.parent.as_deref(), Some("/dev/sda"));
        assert_eq!(p2.size, GIB);
        assert_eq!(
            p2.by_path.as_deref(),
            Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part2")
        );
        assert_eq!(partition_number(&h, "/dev/sda10"), Some(10));
    }

    #[test]
    fn nvme_partitions_are_read_from_sysfs_and_hidden_paths_skipped() {
        let (_d, m) = fake();
        let m = m
            .nvme("nvme0n1", 200 * GIB)
            .partition("nvme0n1", "nvme0n1p1", MIB, GIB)
            .partition("nvme0n1", "nvme0n1p2", GIB + MIB, GIB);
        let h = m.host();
        assert!(h.exists("/sys/block/nvme0c0n1"));
        let all = list_block_devices(&h, true);
        assert_eq!(
            names(&all),
            ["/dev/nvme0n1", "/dev/nvme0n1p1", "/dev/nvme0n1p2"]
        );
        let n = &all[0];
        assert_eq!(n.serial.as_deref(), Some("NVME0"), "trimmed");
        assert_eq!(n.model.as_deref(), Some("QEMU NVMe Ctrl"));
        assert_eq!(n.tran.as_deref(), Some("nvme"));
        assert!(!n.rotational);
        assert_eq!(n.hctl, None);
        assert!(n.wwn.as_deref().unwrap().starts_with("nvme.1b36-"));
        assert_eq!(
            n.by_path.as_deref(),
            Some("/dev/disk/by-path/pci-0000:00:08.0-nvme-1")
        );
        assert_eq!(n.partitions, ["/dev/nvme0n1p1", "/dev/nvme0n1p2"]);
        assert_eq!(all[1].parent.as_deref(), Some("/dev/nvme0n1"));
    }

    #[test]
    fn virtio_disks_read_only_and_scsi_wwn() {
        let (_d, m) = fake();
        let m = m
            .virtio("vda", 20 * GIB)
            .serial("QLAB-D0")
            .virtio("vdb", 20 * GIB)
            .ro(true)
            .scsi_disk("sda", 10 * GIB)
            .wwn("0x5000c50015ea71a5")
            .serial("SCSI1");
        let h = m.host();
        let disks = list_block_devices(&h, false);
        assert_eq!(names(&disks), ["/dev/sda", "/dev/vda", "/dev/vdb"]);
        let vda = find_by_name(&disks, "/dev/vda").unwrap();
        assert_eq!(vda.serial.as_deref(), Some("QLAB-D0"));
        assert_eq!(vda.vendor.as_deref(), Some("0x1af4"));
        assert_eq!(vda.model, None);
        assert_eq!(vda.tran.as_deref(), Some("virtio"));
        assert_eq!(vda.hctl, None);
        assert_eq!(
            vda.by_path.as_deref(),
            Some("/dev/disk/by-path/pci-0000:00:02.0")
        );
        assert!(!vda.read_only);
        assert!(find_by_name(&disks, "vdb").unwrap().read_only);
        let sda = find_by_name(&disks, "sda").unwrap();
        assert_eq!(sda.wwn.as_deref(), Some("0x5000c50015ea71a5"));
        assert_eq!(
            sda.wwn_with_extension.as_deref(),
            Some("0x5000c50015ea71a5")
        );
        assert_eq!(sda.wwn_vendor_extension, None);
        assert_eq!(sda.serial.as_deref(), Some("SCSI1"));
        assert_eq!(sda.vendor.as_deref(), Some("QEMU"));
        assert_eq!(sda.tran, None, "virtio-scsi has no lsblk transport");
        assert_eq!(
            sda.by_path.as_deref(),
            Some("/dev/disk/by-path/pci-0000:00:07.0-scsi-0:0:0:0")
        );
    }

    #[test]
    fn transports_sas_and_usb() {
        let (_d, m) = fake();
        let m = m
            .disk("sda", 10 * GIB)
            .tran("sas")
            .disk("sdb", 10 * GIB)
            .tran("usb")
            .removable(true);
        let h = m.host();
        let disks = list_block_devices(&h, false);
        assert_eq!(disks[0].tran.as_deref(), Some("sas"));
        assert_eq!(disks[0].by_path, None);
        assert_eq!(disks[1].tran.as_deref(), Some("usb"));
        assert_eq!(disks[1].hctl.as_deref(), Some("1:0:0:0"));
        assert!(disks[1].removable);
    }

    #[test]
    fn mmc_loop_and_dropped_devices() {
        let (_d, m) = fake();
        let m = m
            .mmc("mmcblk0", 32 * GIB)
            .partition("mmcblk0", "mmcblk0p1", MIB, GIB)
            .loop_dev("loop0", GIB, Some("/tmp/disk.img"))
            .loop_dev("loop1", 0, None)
            .virtual_block("ram0", 64 * MIB)
            .virtual_block("zram0", GIB)
            .floppy("fd0")
            .cdrom("sr0")
            .disk("sdb", 0);
        let h = m.host();
        let all = list_block_devices(&h, true);
        assert_eq!(
            names(&all),
            ["/dev/loop0", "/dev/mmcblk0", "/dev/mmcblk0p1"]
        );
        let mmc = find_by_name(&all, "mmcblk0").unwrap();
        assert_eq!(mmc.tran.as_deref(), Some("mmc"));
        assert_eq!(mmc.model.as_deref(), Some("DG4008"));
        assert_eq!(mmc.serial.as_deref(), Some("0x1234abcd"));
        assert_eq!(mmc.partitions, ["/dev/mmcblk0p1"]);
        assert_eq!(find_by_name(&all, "loop0").unwrap().dev_type, DevType::Loop);
    }

    #[test]
    fn md_arrays_with_members_and_holders() {
        let (_d, m) = fake();
        let m = m
            .virtio("vda", 10 * GIB)
            .partition("vda", "vda1", MIB, 5 * GIB)
            .virtio("vdb", 10 * GIB)
            .partition("vdb", "vdb1", MIB, 5 * GIB)
            .md("md0", "raid1", &["vda1", "vdb1"])
            .md_name("root")
            .virtio("vdc", 10 * GIB)
            .virtio("vdd", 10 * GIB)
            .md("md1", "0", &["vdc", "vdd"])
            .partition("md1", "md1p1", MIB, GIB);
        let h = m.host();
        let all = list_block_devices(&h, true);
        let md0 = find_by_name(&all, "md0").unwrap();
        assert_eq!(md0.dev_type, DevType::Raid("raid1".into()));
        assert_eq!(md0.raid_level(), Some("raid1"));
        assert_eq!(md0.size, 5 * GIB);
        assert_eq!(md0.slaves, ["/dev/vda1", "/dev/vdb1"]);
        assert_eq!(md0.md_name.as_deref(), Some("root"));
        assert_eq!(md0.tran, None);
        let md1 = find_by_name(&all, "md1").unwrap();
        assert_eq!(md1.size, 20 * GIB);
        assert_eq!(md1.slaves, ["/dev/vdc", "/dev/vdd"]);
        assert_eq!(md1.partitions, ["/dev/md1p1"]);
        assert_eq!(md1.md_name, None);
        assert_eq!(find_by_name(&all, "vda1").unwrap().holders, ["/dev/md0"]);
        assert_eq!(find_by_name(&all, "vdc").unwrap().holders, ["/dev/md1"]);
        assert_eq!(
            find_by_name(&all, "md1p1").unwrap().parent.as_deref(),
            Some("/dev/md1")
        );
        let mds = list_md_arrays(&h);
        assert_eq!(names(&mds), ["/dev/md0", "/dev/md1"]);
        assert!(h
            .read("/proc/mdstat")
            .unwrap()
            .contains("md0 : active raid1 vda1[0] vdb1[1]"));
    }

    #[test]
    fn inactive_md_is_only_in_list_md_arrays() {
        let (_d, m) = fake();
        let m = m
            .virtio("vda", GIB)
            .virtio("vdb", GIB)
            .md("md127", "raid1", &["vda", "vdb"]);
        let h = m.host();
        std::fs::write(h.path("/sys/block/md127/size"), "0\n").unwrap();
        assert!(find_by_name(&list_block_devices(&h, false), "md127").is_none());
        assert_eq!(names(&list_md_arrays(&h)), ["/dev/md127"]);
    }

    #[test]
    fn udev_database_wins_when_present() {
        let (_d, m) = fake();
        let m = m
            .disk("sda", 10 * GIB)
            .udev(
                &[
                    ("ID_SERIAL", "QEMU_HARDDISK_QLAB-A0"),
                    ("ID_SERIAL_SHORT", "QLAB-A0"),
                    ("ID_WWN", "0x5000c500a1b2c3d4"),
                    ("ID_WWN_WITH_EXTENSION", "0x5000c500a1b2c3d4deadbeef"),
                    ("ID_WWN_VENDOR_EXTENSION", "0xdeadbeef"),
                ],
                &[
                    "disk/by-path/pci-0000:00:1f.2-ata-1.0",
                    "disk/by-path/pci-0000:00:1f.2-ata-1",
                    "disk/by-id/ata-QEMU_HARDDISK_QLAB-A0",
                ],
            )
            .virtio("vda", GIB)
            .udev(&[], &["disk/by-path/virtio-pci-0000:00:09.0"]);
        let h = m.host();
        let disks = list_block_devices(&h, false);
        let sda = find_by_name(&disks, "sda").unwrap();
        assert_eq!(sda.serial.as_deref(), Some("QLAB-A0"));
        assert_eq!(sda.wwn.as_deref(), Some("0x5000c500a1b2c3d4"));
        assert_eq!(
            sda.wwn_with_extension.as_deref(),
            Some("0x5000c500a1b2c3d4deadbeef")
        );
        assert_eq!(sda.wwn_vendor_extension.as_deref(), Some("0xdeadbeef"));
        assert_eq!(
            sda.by_path.as_deref(),
            Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1")
        );
        let vda = find_by_name(&disks, "vda").unwrap();
        assert_eq!(
            vda.by_path.as_deref(),
            Some("/dev/disk/by-path/virtio-pci-0000:00:09.0")
        );
    }

    #[test]
    fn wwid_forms() {
        assert_eq!(
            wwn_from_wwid("naa.6001405abcdef0123456789abcdef012"),
            (
                Some("0x6001405abcdef012".into()),
                Some("0x6001405abcdef0123456789abcdef012".into()),
                Some("0x3456789abcdef012".into())
            )
        );
        assert_eq!(
            wwn_from_wwid("t10.ATA     QEMU HARDDISK   QM0001"),
            (None, None, None)
        );
        assert_eq!(
            wwn_from_wwid("eui.0025385b71b0a1b2").0.as_deref(),
            Some("0x0025385b71b0a1b2")
        );
    }

    #[test]
    fn natural_order() {
        let mut v = vec![
            "sdb",
            "sda10",
            "sda2",
            "sda",
            "nvme1n1",
            "nvme0n1p1",
            "nvme0n1",
            "md10",
            "md2",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "md2",
                "md10",
                "nvme0n1",
                "nvme0n1p1",
                "nvme1n1",
                "sda",
                "sda2",
                "sda10",
                "sdb"
            ]
        );
    }

    /// Discovery against the machine this runs on: must not panic, and finds the root
    /// disk when there is one (the build machine has `/dev/vda`).
    #[test]
    fn real_host_discovery() {
        let h = Host::new("/");
        let all = list_block_devices(&h, true);
        for d in &all {
            assert!(d.size > 0, "{d:?}");
            assert!(
                !d.kname.starts_with("zram") && !d.kname.starts_with("ram"),
                "{d:?}"
            );
        }
        let _ = list_md_arrays(&h);
        if std::path::Path::new("/sys/block/vda").exists() {
            let vda = find_by_name(&all, "/dev/vda").expect("vda listed");
            assert_eq!(vda.tran.as_deref(), Some("virtio"));
            assert!(vda
                .by_path
                .as_deref()
                .unwrap_or("")
                .starts_with("/dev/disk/by-path/pci-"));
        }
    }

    // ------------------------------------------------------------------- device hints

    fn dev() -> BlockDevice {
        BlockDevice {
            name: "/dev/sda".into(),
            kname: "sda".into(),
            size: 120 * GIB,
            model: Some("QEMU HARDDISK".into()),
            vendor: Some("ATA".into()),
            serial: Some("S3Z1NB0K123456".into()),
            wwn: Some("0x5000c500a1b2c3d4".into()),
            wwn_with_extension: Some("0x5000c500a1b2c3d4".into()),
            hctl: Some("0:0:0:0".into()),
            by_path: Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1".into()),
            rotational: true,
            ..Default::default()
        }
    }

    fn m(h: serde_json::Value) -> bool {
        device_hint_matches(&dev(), &h).unwrap()
    }

    #[test]
    fn string_hints_default_to_case_insensitive_equality() {
        assert!(m(json!({"serial": "S3Z1NB0K123456"})));
        assert!(m(json!({"serial": "s3z1nb0k123456"})));
        assert!(!m(json!({"serial": "S3Z1NB0K12345"})));
        assert!(m(json!({"model": "QEMU HARDDISK"})));
        assert!(m(json!({"model": "s== qemu harddisk"})));
        assert!(m(json!({"model": "s!= other"})));
        assert!(m(json!({"vendor": "ata"})));
        assert!(m(json!({"wwn": "0x5000C500A1B2C3D4"})));
        assert!(m(json!({"wwn_with_extension": "0x5000c500a1b2c3d4"})));
        assert!(
            !m(json!({"wwn_vendor_extension": "0x1"})),
            "absent attribute never matches"
        );
        assert!(m(json!({"hctl": "0:0:0:0"})));
        assert!(m(
            json!({"by_path": "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"})
        ));
    }

    #[test]
    fn name_hint_with_or_without_dev() {
        assert!(m(json!({"name": "/dev/sda"})));
        assert!(m(json!({"name": "sda"})));
        assert!(!m(json!({"name": "sdb"})));
        assert!(m(json!({"name": "<or> sdb <or> /dev/sda"})));
    }

    #[test]
    fn string_operators() {
        assert!(m(json!({"model": "<in> HARDDISK"})));
        assert!(!m(json!({"model": "<in> SSD"})));
        assert!(m(json!({"model": "<or> foo <or> QEMU HARDDISK"})));
        assert!(!m(json!({"model": "<or> foo <or> bar"})));
        assert!(m(json!({"model": "<all-in> qemu harddisk"})));
        assert!(m(json!({"serial": "s>= S3"})));
        assert!(!m(json!({"serial": "s< S3"})));
    }

    #[test]
    fn size_hints_in_gib_with_operators() {
        assert!(m(json!({"size": 120})));
        assert!(m(json!({"size": "120"})));
        assert!(!m(json!({"size": 100})));
        assert!(m(json!({"size": ">= 100"})));
        assert!(m(json!({"size": "<= 120"})));
        assert!(!m(json!({"size": "< 120"})));
        assert!(m(json!({"size": "> 119"})));
        assert!(m(json!({"size": "!= 100"})));
        assert!(m(json!({"size": "== 120"})));
        assert!(m(json!({"size": "<or> 100 <or> 120"})));
        assert!(m(json!({"size": "<range-in> [100 120]"})));
        assert!(!m(json!({"size": "<range-in> (100 120)"})));
        // a size that is not a whole number of GiB never equals an integer
        let mut d = dev();
        d.size = 120 * GIB + MIB;
        assert!(!device_hint_matches(&d, &json!({"size": 120})).unwrap());
        assert!(device_hint_matches(&d, &json!({"size": ">= 120"})).unwrap());
    }

    #[test]
    fn rotational_and_combined_hints() {
        assert!(m(json!({"rotational": true})));
        assert!(m(json!({"rotational": "yes"})));
        assert!(!m(json!({"rotational": false})));
        assert!(!m(json!({"rotational": "0"})));
        assert!(m(
            json!({"rotational": true, "size": ">= 100", "vendor": "ATA"})
        ));
        assert!(!m(json!({"rotational": true, "size": ">= 200"})));
        assert!(m(json!({})), "no hints match everything");
    }

    #[test]
    fn invalid_hints_are_errors() {
        for bad in [
            json!({"colour": "red"}),
            json!({"size": 0}),
            json!({"size": "-5"}),
            json!({"size": "big"}),
            json!({"rotational": "maybe"}),
            json!({"serial": 123}),
            json!({"serial": ""}),
            json!("sda"),
        ] {
            assert!(device_hint_matches(&dev(), &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn find_and_match_over_a_list() {
        let (_d, fm) = fake();
        let fm = fm
            .disk("sda", 100 * GIB)
            .serial("A")
            .disk("sdb", 200 * GIB)
            .serial("B")
            .nvme("nvme0n1", 300 * GIB);
        let devs = list_block_devices(&fm.host(), false);
        let big = find_devices_by_hints(&devs, &json!({"size": ">= 150"})).unwrap();
        assert_eq!(
            names(&big.into_iter().cloned().collect::<Vec<_>>()),
            ["/dev/nvme0n1", "/dev/sdb"]
        );
        assert_eq!(
            match_device_hints(&devs, &json!({"serial": "b"}))
                .unwrap()
                .unwrap()
                .name,
            "/dev/sdb"
        );
        assert!(match_device_hints(&devs, &json!({"serial": "zz"}))
            .unwrap()
            .is_none());
        assert_eq!(
            match_device_hints(&devs, &json!({"rotational": false}))
                .unwrap()
                .unwrap()
                .name,
            "/dev/nvme0n1"
        );
    }
}
