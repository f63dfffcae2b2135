//! The typed model of one `show config detail` dump: controllers, arrays, logical and
//! physical drives (the objects of `proliantutils/hpssa/objects.py`). Built from the
//! [`parse`](crate::parse) tree; never panics. Properties we do not interpret are kept,
//! so nothing the tool printed is lost.

use crate::parse::{parse_tree, Section};
use crate::size;
use serde_json::{json, Value};
use std::fmt;

/// A required property was missing or unreadable. `object` names the drive and its
/// controller so an operator can find it in the ssacli output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    Missing { key: &'static str, object: String },
    BadSize { raw: String, object: String },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Missing { key, object } => {
                write!(
                    f,
                    "can't get '{key}' parameter from ssacli output for {object}"
                )
            }
            // The wording of proliantutils' message, which operators may grep for.
            ModelError::BadSize { raw, object } => {
                write!(f, "ssacli returned unknown size '{raw}' for {object}")
            }
        }
    }
}

impl std::error::Error for ModelError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskType {
    Hdd,
    Ssd,
}

impl DiskType {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskType::Hdd => "hdd",
            DiskType::Ssd => "ssd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interface {
    Sas,
    Sata,
    Scsi,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Sas => "sas",
            Interface::Sata => "sata",
            Interface::Scsi => "scsi",
        }
    }
}

/// ssacli's `Interface Type` to (interface, media), as `proliantutils/hpssa/constants.py:
/// INTERFACE_TYPE_MAP, DISK_TYPE_MAP`. `None` for values the table does not know (NVMe on
/// newer controllers, say): such a drive is still listed, but a
/// `disk_type`/`interface_type` filter never selects it.
pub fn classify_interface(raw: &str) -> Option<(Interface, DiskType)> {
    Some(match raw {
        "SCSI" => (Interface::Scsi, DiskType::Hdd),
        "SAS" => (Interface::Sas, DiskType::Hdd),
        "SATA" => (Interface::Sata, DiskType::Hdd),
        "SATASSD" | "Solid State SATA" => (Interface::Sata, DiskType::Ssd),
        "SASSSD" | "Solid State SAS" => (Interface::Sas, DiskType::Ssd),
        _ => return None,
    })
}

type Properties = Vec<(String, Option<String>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalDrive {
    /// `port:box:bay`, e.g. `5I:1:1`.
    pub id: String,
    /// The controller id (its header line).
    pub controller: String,
    pub size_raw: String,
    pub size_gb: u64,
    pub interface_raw: String,
    pub interface_type: Option<Interface>,
    pub disk_type: Option<DiskType>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// True for array members (`active`), false for unassigned drives (`ready`).
    pub assigned: bool,
    /// ssacli's `Status` verbatim (`OK`, `Erase In Progress`, ...).
    pub erase_status: Option<String>,
    pub properties: Properties,
}

impl PhysicalDrive {
    /// The dict proliantutils reports in a configuration's `physical_disks`.
    pub fn to_json(&self) -> Value {
        json!({
            "size_gb": self.size_gb,
            "controller": self.controller,
            "id": self.id,
            "disk_type": self.disk_type.map(DiskType::as_str),
            "interface_type": self.interface_type.map(Interface::as_str),
            "model": self.model,
            "firmware": self.firmware,
            "status": if self.assigned { "active" } else { "ready" },
            "erase_status": self.erase_status,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalDrive {
    pub id: String,
    pub size_raw: String,
    /// GiB minus one, as proliantutils reports it (see [`size::logical_drive_gib`]).
    pub size_gb: u64,
    /// `Fault Tolerance` with `50`/`60` reported as `5+0`/`6+0`.
    pub raid_level: Option<String>,
    /// `0x` + the first 16 hex digits of `Unique Identifier`, lower case: what `lsblk`
    /// shows as WWN and what the conductor uses as root device hint.
    pub wwn: Option<String>,
    /// `Logical Drive Label`.
    pub volume_name: Option<String>,
    /// `Disk Name`, e.g. `/dev/sda`.
    pub disk_name: Option<String>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array {
    /// The letter(s) after `Array: `.
    pub id: String,
    pub logical_drives: Vec<LogicalDrive>,
    pub physical_drives: Vec<PhysicalDrive>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    /// The header line verbatim, e.g. `Smart Array P822 in Slot 2`.
    pub id: String,
    pub slot: Option<String>,
    pub hba_mode_enabled: Option<String>,
    pub controller_mode: Option<String>,
    pub sanitize_erase_supported: Option<String>,
    pub arrays: Vec<Array>,
    pub unassigned: Vec<PhysicalDrive>,
    pub properties: Properties,
}

impl Controller {
    /// In HBA mode the controller exposes raw drives and cannot build logical drives.
    /// `HBA Mode Enabled: True` or `Controller Mode: HBA...` says so. (proliantutils also
    /// treats `HBA Mode Enabled: False` as HBA mode; we read the value.)
    pub fn is_hba(&self) -> bool {
        let yes = |v: &Option<String>, want: &str| {
            v.as_deref()
                .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with(want))
        };
        yes(&self.hba_mode_enabled, "true") || yes(&self.controller_mode, "hba")
    }

    /// The slot for `controller slot=<S>`: the `Slot` property, or else the number in a
    /// header like `... in Slot 2` (trimmed outputs omit the property).
    pub fn slot(&self) -> Option<String> {
        if let Some(s) = self.slot.as_deref().filter(|s| valid_slot(s)) {
            return Some(s.to_string());
        }
        let rest = &self.id[self.id.find(" in Slot ")? + " in Slot ".len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        (!digits.is_empty()).then_some(digits)
    }

    /// Sanitize erase unless the property is missing or `False` (the `Summary` rule of
    /// `proliantutils/hpssa/manager.py: erase_devices`).
    pub fn sanitize_supported(&self) -> bool {
        self.sanitize_erase_supported
            .as_deref()
            .is_some_and(|v| v != "False")
    }

    /// Unassigned drives first, then each array's members (proliantutils' order).
    pub fn physical_drives(&self) -> impl Iterator<Item = &PhysicalDrive> {
        self.unassigned
            .iter()
            .chain(self.arrays.iter().flat_map(|a| a.physical_drives.iter()))
    }

    pub fn logical_drives(&self) -> impl Iterator<Item = (&Array, &LogicalDrive)> {
        self.arrays
            .iter()
            .flat_map(|a| a.logical_drives.iter().map(move |l| (a, l)))
    }

    pub fn drive(&self, id: &str) -> Option<&PhysicalDrive> {
        self.physical_drives().find(|d| d.id == id)
    }
}

/// Slot values go into an argv element `slot=<S>`; accept only what a slot looks like.
fn valid_slot(s: &str) -> bool {
    !s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Everything one `show config detail` run reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Server {
    pub controllers: Vec<Controller>,
}

impl Server {
    /// Parses the tool's stdout. Column-0 lines with nothing under them (a `Warning:` or
    /// `Note:` line, a banner) are not controllers and are skipped.
    pub fn parse(text: &str) -> Result<Server, ModelError> {
        let tree = parse_tree(text);
        let mut controllers = Vec::new();
        for (id, section) in tree.sections_with_prefix("") {
            if section.entries.is_empty() {
                continue;
            }
            controllers.push(controller(id, section)?);
        }
        Ok(Server { controllers })
    }

    pub fn controller(&self, id: &str) -> Option<&Controller> {
        self.controllers.iter().find(|c| c.id == id)
    }

    pub fn logical_drives(&self) -> impl Iterator<Item = (&Controller, &Array, &LogicalDrive)> {
        self.controllers
            .iter()
            .flat_map(|c| c.logical_drives().map(move |(a, l)| (c, a, l)))
    }

    /// Every logical drive's wwn (drives without `Unique Identifier` have none).
    pub fn wwns(&self) -> Vec<String> {
        self.logical_drives()
            .filter_map(|(_, _, l)| l.wwn.clone())
            .collect()
    }

    /// The configuration as reported to the conductor: every logical drive (controller,
    /// array, LD order) and every physical drive.
    pub fn configuration(&self) -> Value {
        let lds: Vec<Value> = self
            .logical_drives()
            .map(|(c, a, l)| logical_drive_json(c, a, l))
            .collect();
        json!({"logical_disks": lds, "physical_disks": self.physical_disks_json()})
    }

    pub fn physical_disks_json(&self) -> Vec<Value> {
        self.controllers
            .iter()
            .flat_map(|c| c.physical_drives().map(PhysicalDrive::to_json))
            .collect()
    }
}

/// The per-LD dict: what the conductor needs to find the volume again.
pub fn logical_drive_json(c: &Controller, a: &Array, l: &LogicalDrive) -> Value {
    json!({
        "size_gb": l.size_gb,
        "raid_level": l.raid_level,
        "root_device_hint": {"wwn": l.wwn},
        "controller": c.id,
        "physical_disks": a.physical_drives.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        "volume_name": l.volume_name,
    })
}

fn controller(id: &str, s: &Section) -> Result<Controller, ModelError> {
    // Both spellings exist (hpssacli vs ssacli); if a tool printed both, take both rather
    // than neither (proliantutils' accident: `objects.py: Controller.__init__` joins the
    // matching key names into one that does not exist).
    let mut unassigned = Vec::new();
    for key in ["unassigned", "Unassigned"] {
        if let Some(u) = s.section(key) {
            for (k, d) in u.sections_with_prefix("physicaldrive") {
                let object = || format!("physical disk '{}' of controller '{id}'", drive_id(k));
                unassigned.push(physical_drive(k, d, id, false, object)?);
            }
        }
    }
    let mut arrays = Vec::new();
    for (k, a) in s.sections_with_prefix("Array") {
        arrays.push(array(k, a, id)?);
    }
    Ok(Controller {
        id: id.to_string(),
        slot: s.value("Slot").map(str::to_string),
        hba_mode_enabled: s.value("HBA Mode Enabled").map(str::to_string),
        controller_mode: s.value("Controller Mode").map(str::to_string),
        sanitize_erase_supported: s.value("Sanitize Erase Supported").map(str::to_string),
        arrays,
        unassigned,
        properties: s.leaves(),
    })
}

fn array(key: &str, s: &Section, ctrl: &str) -> Result<Array, ModelError> {
    let id = key.strip_prefix("Array:").unwrap_or(key).trim().to_string();
    let mut logical_drives = Vec::new();
    for (k, l) in s.sections_with_prefix("Logical Drive") {
        let ld_id = k
            .strip_prefix("Logical Drive:")
            .unwrap_or(k)
            .trim()
            .to_string();
        let object = format!("logical disk '{ld_id}' of RAID array '{id}' in controller '{ctrl}'");
        let size_raw = l.value("Size").ok_or_else(|| ModelError::Missing {
            key: "Size",
            object: object.clone(),
        })?;
        let size_gb = size::logical_drive_gib(size_raw).map_err(|_| ModelError::BadSize {
            raw: size_raw.replace(' ', ""),
            object: object.clone(),
        })?;
        let raid_level = l.value("Fault Tolerance").map(|v| match v {
            "50" => "5+0".to_string(),
            "60" => "6+0".to_string(),
            other => other.to_string(),
        });
        let wwn = l.value("Unique Identifier").map(|u| {
            let head: String = u.chars().take(16).collect();
            format!("0x{}", head.to_ascii_lowercase())
        });
        logical_drives.push(LogicalDrive {
            id: ld_id,
            size_raw: size_raw.to_string(),
            size_gb,
            raid_level,
            wwn,
            volume_name: l.value("Logical Drive Label").map(str::to_string),
            disk_name: l.value("Disk Name").map(str::to_string),
            properties: l.leaves(),
        });
    }
    let mut physical_drives = Vec::new();
    for (k, d) in s.sections_with_prefix("physicaldrive") {
        let object = || {
            format!(
                "physical disk '{}' of RAID array '{id}' in controller '{ctrl}'",
                drive_id(k)
            )
        };
        physical_drives.push(physical_drive(k, d, ctrl, true, object)?);
    }
    Ok(Array {
        id,
        logical_drives,
        physical_drives,
        properties: s.leaves(),
    })
}

fn drive_id(key: &str) -> &str {
    key.strip_prefix("physicaldrive").unwrap_or(key).trim()
}

fn physical_drive(
    key: &str,
    s: &Section,
    ctrl: &str,
    assigned: bool,
    object: impl Fn() -> String,
) -> Result<PhysicalDrive, ModelError> {
    let size_raw = s.value("Size").ok_or_else(|| ModelError::Missing {
        key: "Size",
        object: object(),
    })?;
    let size_gb = size::drive_gib(size_raw).map_err(|_| ModelError::BadSize {
        raw: size_raw.replace(' ', ""),
        object: object(),
    })?;
    let interface_raw = s
        .value("Interface Type")
        .ok_or_else(|| ModelError::Missing {
            key: "Interface Type",
            object: object(),
        })?;
    let kind = classify_interface(interface_raw);
    Ok(PhysicalDrive {
        id: drive_id(key).to_string(),
        controller: ctrl.to_string(),
        size_raw: size_raw.to_string(),
        size_gb,
        interface_raw: interface_raw.to_string(),
        interface_type: kind.map(|k| k.0),
        disk_type: kind.map(|k| k.1),
        model: s.value("Model").map(str::to_string),
        firmware: s.value("Firmware Revision").map(str::to_string),
        assigned,
        erase_status: s.value("Status").map(str::to_string),
        properties: s.leaves(),
    })
}

/// The `Max:` of a `size=?` probe, in MB (as `proliantutils/hpssa/objects.py:
/// RaidArray.can_accomodate` reads it).
pub fn probe_max_mb(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix("Max: ")?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    })
}
