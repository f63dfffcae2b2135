//! Discovery from sysfs: disks, partitions, their holders and members, and md arrays.
//!
//! Partition names are read from sysfs, never derived from the disk name, so `sda1`,
//! `nvme0n1p1`, `mmcblk0p1` and `loop0p1` all come out right.

use crate::bus::{computed_by_path, transport};
use crate::device::{BlockDevice, DevType};
use crate::natural::natural_cmp;
use crate::udev::{apply_udev, UdevDb, UdevLinks};
use hwmgr::Host;

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

pub(crate) fn attr_u64(host: &Host, path: &str) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::find_by_name;
    use crate::test_support::{fake, names};
    use testkit::fake_machine::{GIB, MIB};

    /// IPA lists a multipath device as one disk (lsblk `TYPE == mpath` counts as a disk) and
    /// not its paths; other device-mapper devices (LVM) are not disks. Erase and deploy see
    /// the disks this returns.
    #[test]
    fn multipath_device_replaces_its_paths_and_lvm_is_not_a_disk() {
        let (_d, m) = fake();
        let m = m
            .scsi_disk("sda", 10 * GIB)
            .scsi_disk("sdb", 10 * GIB)
            .scsi_disk("sdc", 20 * GIB)
            .virtual_block("dm-0", 10 * GIB)
            .virtual_block("dm-1", GIB)
            .file("/sys/block/dm-0/dm/uuid", "mpath-3600508b1001c7e8b\n")
            .file("/sys/block/dm-0/slaves/sda", "")
            .file("/sys/block/dm-0/slaves/sdb", "")
            .file("/sys/block/sda/holders/dm-0", "")
            .file("/sys/block/sdb/holders/dm-0", "")
            .file("/sys/block/dm-1/dm/uuid", "LVM-abcdef\n")
            .file("/sys/block/dm-1/slaves/sdc", "")
            .file("/sys/block/sdc/holders/dm-1", "");
        let devs = list_block_devices(&m.host(), false);
        assert_eq!(names(&devs), ["/dev/dm-0", "/dev/sdc"]);
        let mpath = find_by_name(&devs, "/dev/dm-0").unwrap();
        assert_eq!(mpath.dev_type, DevType::Disk);
        assert_eq!(mpath.size, 10 * GIB);
        assert_eq!(mpath.slaves, ["/dev/sda", "/dev/sdb"]);
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
}
