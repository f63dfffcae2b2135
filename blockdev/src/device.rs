//! The block-device model every manager works on.

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
