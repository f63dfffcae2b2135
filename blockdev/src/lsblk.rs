//! A typed model of `lsblk --json` output, for the columns the managers read: the erase
//! safety check (`lsblk -bia --json -oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE <dev>`, as
//! `ironic_python_agent/hardware.py: safety_check_block_device` runs it) and the inventory
//! columns (`hardware.py: list_all_block_devices`: KNAME, MODEL, SIZE, ROTA, TYPE, UUID,
//! PARTUUID, SERIAL, WWN, LOG-SEC, PHY-SEC, TRAN, plus RO, RM, HCTL, VENDOR). Columns not
//! modelled are ignored, so `lsblk --json -O -b` parses too.
//!
//! lsblk versions differ in value types: util-linux 2.33 and later print booleans
//! (`"ro": false`) and numbers (`"size": 67108864`), older ones print every value as a
//! string (`"ro": "0"`, `"size": "67108864"`). Both are accepted and give the same model; an
//! empty string counts as absent, like `null`. A size that is not a number of bytes (lsblk
//! run without `--bytes`, `"64M"`) is an error rather than a guess.
//!
//! Without udev's database (the ramdisk runs no udev, docs/udev.md) lsblk 2.38 leaves
//! `fstype`, `uuid`, `parttype`, `partuuid`, `ptuuid`, `serial` and `wwn` null, even as
//! root and even on an md member (no `linux_raid_member`): the recorded fixtures under
//! `blockdev/fixtures/lsblk/` show both cases. Without a NAME column (the erase check's
//! command line) lsblk prints a flat list of the device and its descendants rather than a
//! tree; [`Lsblk::all_devices`] walks either shape.

use serde::{Deserialize, Deserializer};

/// The whole output: `{"blockdevices": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Lsblk {
    #[serde(rename = "blockdevices", default)]
    pub devices: Vec<LsblkDevice>,
}

/// One device as lsblk prints it; every column is optional because the command line
/// chooses the columns. Holders (partitions, md arrays on members) are in `children` when
/// lsblk prints a tree.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct LsblkDevice {
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub kname: Option<String>,
    #[serde(deserialize_with = "text")]
    pub path: Option<String>,
    /// `disk`, `part`, `loop`, `raid1`, `mpath`, `rom`, ...
    #[serde(rename = "type", deserialize_with = "text")]
    pub dev_type: Option<String>,
    /// Bytes (with `--bytes`).
    #[serde(deserialize_with = "number")]
    pub size: Option<u64>,
    #[serde(deserialize_with = "text")]
    pub model: Option<String>,
    #[serde(deserialize_with = "text")]
    pub vendor: Option<String>,
    #[serde(deserialize_with = "text")]
    pub serial: Option<String>,
    #[serde(deserialize_with = "text")]
    pub wwn: Option<String>,
    #[serde(deserialize_with = "text")]
    pub hctl: Option<String>,
    #[serde(deserialize_with = "text")]
    pub tran: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub rota: Option<bool>,
    #[serde(deserialize_with = "flag")]
    pub ro: Option<bool>,
    #[serde(deserialize_with = "flag")]
    pub rm: Option<bool>,
    #[serde(rename = "log-sec", deserialize_with = "number")]
    pub log_sec: Option<u64>,
    #[serde(rename = "phy-sec", deserialize_with = "number")]
    pub phy_sec: Option<u64>,
    /// File-system UUID.
    #[serde(deserialize_with = "text")]
    pub uuid: Option<String>,
    /// Partition-table UUID.
    #[serde(deserialize_with = "text")]
    pub ptuuid: Option<String>,
    #[serde(deserialize_with = "text")]
    pub pttype: Option<String>,
    /// Partition type: a GPT type GUID, or an MBR type such as `0xfd`.
    #[serde(deserialize_with = "text")]
    pub parttype: Option<String>,
    #[serde(deserialize_with = "text")]
    pub partuuid: Option<String>,
    /// `ext4`, `vfat`, `linux_raid_member`, ...
    #[serde(deserialize_with = "text")]
    pub fstype: Option<String>,
    #[serde(deserialize_with = "text")]
    pub label: Option<String>,
    #[serde(deserialize_with = "text")]
    pub mountpoint: Option<String>,
    pub children: Vec<LsblkDevice>,
}

impl Lsblk {
    /// Parses lsblk's JSON output.
    pub fn parse(text: &str) -> Result<Lsblk, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable lsblk JSON: {e}"))
    }

    /// Every device with its children, depth first, in lsblk's order.
    pub fn all_devices(&self) -> Vec<&LsblkDevice> {
        let mut out = Vec::new();
        for d in &self.devices {
            d.collect_into(&mut out);
        }
        out
    }
}

impl LsblkDevice {
    fn collect_into<'a>(&'a self, out: &mut Vec<&'a LsblkDevice>) {
        out.push(self);
        for c in &self.children {
            c.collect_into(out);
        }
    }
}

/// What a value may look like in lsblk's JSON, across versions.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Bool(bool),
    Number(u64),
    Text(String),
}

/// A string column; `""` counts as absent.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.filter(|s| !s.is_empty()))
}

/// A number column: a JSON number (util-linux >= 2.33) or a string of digits (older).
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(s)) if s.is_empty() => Ok(None),
        Some(Raw::Text(s)) => s.trim().parse().map(Some).map_err(|_| {
            D::Error::custom(format!(
                "{s:?} is not a number of bytes (was lsblk run without --bytes?)"
            ))
        }),
        Some(Raw::Bool(b)) => Err(D::Error::custom(format!("expected a number, got {b}"))),
    }
}

/// A boolean column: `true`/`false` (util-linux >= 2.33) or `"1"`/`"0"` (older).
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    use serde::de::Error;
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Bool(b)) => Ok(Some(b)),
        Some(Raw::Number(n @ (0 | 1))) => Ok(Some(n == 1)),
        Some(Raw::Text(s)) => match s.trim() {
            "" => Ok(None),
            "0" => Ok(Some(false)),
            "1" => Ok(Some(true)),
            other => Err(D::Error::custom(format!("expected 0 or 1, got {other:?}"))),
        },
        Some(Raw::Number(n)) => Err(D::Error::custom(format!("expected 0 or 1, got {n}"))),
    }
}
