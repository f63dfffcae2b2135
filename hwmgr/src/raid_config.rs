//! The `target_raid_config` model: Ironic's RAID configuration schema
//! (`ironic/drivers/raid_config_schema.json`) as Rust types.
//!
//! Shared by every manager (generic software RAID, HPE Smart Array), so nothing in here
//! knows about mdadm or controllers.
//!
//! [`RaidConfig::parse`] never panics, whatever JSON it gets. It checks the schema the way
//! the conductor's draft-04 validator would and collects **every** problem as a message
//! (so an operator sees them all at once); unknown properties (which the schema forbids
//! with `additionalProperties: false`) are reported as named warnings instead of errors,
//! because the conductor has already validated what it sends and an extra key (say a
//! `block_devices` list copied from a previous result) should not make a step fail.
//!
//! Type rules follow draft-04: an integer is a JSON number without a fractional part
//! *written as an integer* (`5.0` is not an integer, `true` is not a number), and strings
//! are not coerced (`"100"` is not a valid `size_gb`).

use serde_json::{Map, Value};
use std::fmt;

/// `raid_level` values (the schema's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaidLevel {
    Jbod,
    Raid0,
    Raid1,
    Raid2,
    Raid5,
    Raid6,
    Raid10,
    Raid50,
    Raid60,
}

impl RaidLevel {
    pub const ALL: [RaidLevel; 9] = [
        RaidLevel::Jbod,
        RaidLevel::Raid0,
        RaidLevel::Raid1,
        RaidLevel::Raid2,
        RaidLevel::Raid5,
        RaidLevel::Raid6,
        RaidLevel::Raid10,
        RaidLevel::Raid50,
        RaidLevel::Raid60,
    ];

    /// The schema spelling: `JBOD`, `0`, `1`, `2`, `5`, `6`, `1+0`, `5+0`, `6+0`.
    pub fn as_str(self) -> &'static str {
        match self {
            RaidLevel::Jbod => "JBOD",
            RaidLevel::Raid0 => "0",
            RaidLevel::Raid1 => "1",
            RaidLevel::Raid2 => "2",
            RaidLevel::Raid5 => "5",
            RaidLevel::Raid6 => "6",
            RaidLevel::Raid10 => "1+0",
            RaidLevel::Raid50 => "5+0",
            RaidLevel::Raid60 => "6+0",
        }
    }

    pub fn parse(s: &str) -> Option<RaidLevel> {
        RaidLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// [`parse`](Self::parse), also accepting the compact spellings of the nested levels
    /// (`10`, `50`, `60`) that Ironic's schema rejects but some vendor schemas accept
    /// (proliantutils' Smart Array schema does).
    pub fn parse_lenient(s: &str) -> Option<RaidLevel> {
        RaidLevel::parse(s).or(match s {
            "10" => Some(RaidLevel::Raid10),
            "50" => Some(RaidLevel::Raid50),
            "60" => Some(RaidLevel::Raid60),
            _ => None,
        })
    }
}

impl fmt::Display for RaidLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `size_gb`: whole GiB, or `MAX` for the rest of the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeGb {
    Gib(u64),
    Max,
}

impl SizeGb {
    pub fn is_max(self) -> bool {
        self == SizeGb::Max
    }
}

impl fmt::Display for SizeGb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeGb::Gib(n) => write!(f, "{n} GiB"),
            SizeGb::Max => f.write_str("MAX"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    Hdd,
    Ssd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceType {
    Sata,
    Scsi,
    Sas,
}

/// `physical_disks`: controller-specific drive ids (`"1I:1:1"`), or device-hint objects
/// (software RAID, at least two).
#[derive(Debug, Clone, PartialEq)]
pub enum PhysicalDisks {
    Names(Vec<String>),
    Hints(Vec<Map<String, Value>>),
}

/// One entry of `logical_disks`, with the original object kept in `raw` (results echo it).
#[derive(Debug, Clone, PartialEq)]
pub struct LogicalDisk {
    pub raid_level: RaidLevel,
    pub size_gb: SizeGb,
    pub volume_name: Option<String>,
    pub is_root_volume: Option<bool>,
    pub share_physical_disks: Option<bool>,
    pub disk_type: Option<DiskType>,
    pub interface_type: Option<InterfaceType>,
    pub number_of_physical_disks: Option<u64>,
    pub controller: Option<String>,
    pub physical_disks: Option<PhysicalDisks>,
    pub raw: Map<String, Value>,
}

impl LogicalDisk {
    pub fn is_software(&self) -> bool {
        self.controller.as_deref() == Some("software")
    }
}

/// A parsed, schema-valid RAID configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RaidConfig {
    pub logical_disks: Vec<LogicalDisk>,
    /// Unknown properties, named (`logical_disks[1]: unknown property "foo"`).
    pub warnings: Vec<String>,
}

/// Every schema problem of a configuration, plus the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaErrors {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl fmt::Display for SchemaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.errors.join("; "))
    }
}

/// The properties a logical disk may have.
pub const LOGICAL_DISK_PROPERTIES: &[&str] = &[
    "raid_level",
    "size_gb",
    "volume_name",
    "is_root_volume",
    "share_physical_disks",
    "disk_type",
    "interface_type",
    "number_of_physical_disks",
    "controller",
    "physical_disks",
];

/// JSON type name as a schema validator reports it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Draft-04 integer: only numbers written without a fraction or exponent.
fn as_integer(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// What is wrong with the top level of a configuration (see
/// [`RaidConfig::logical_disk_values`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TopLevelError<'a> {
    /// No `logical_disks` key.
    Missing,
    /// `logical_disks` is not an array (the value as given).
    NotAnArray(&'a Value),
    /// `logical_disks` is `[]`.
    Empty,
}

/// One property of a logical disk, checked on its own (see [`LogicalDiskFields`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    /// Not given.
    Absent,
    /// Given and valid under the schema.
    Valid(T),
    /// Given but invalid under the schema: the value as given, and the schema message
    /// (without the `logical_disks[i]: ` prefix) that [`RaidConfig::parse`] reports.
    Invalid { value: Value, message: String },
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// The value, when given and valid.
    pub fn valid(&self) -> Option<&T> {
        match self {
            Field::Valid(t) => Some(t),
            _ => None,
        }
    }

    /// The offending value and schema message, when given and invalid.
    pub fn invalid(&self) -> Option<(&Value, &str)> {
        match self {
            Field::Invalid { value, message } => Some((value, message)),
            _ => None,
        }
    }

    /// `Ok(None)` when absent, `Ok(Some)` when valid, `Err(())` when invalid.
    fn into_result(self) -> Result<Option<T>, ()> {
        match self {
            Field::Absent => Ok(None),
            Field::Valid(t) => Ok(Some(t)),
            Field::Invalid { .. } => Err(()),
        }
    }

    fn get(
        m: &Map<String, Value>,
        key: &str,
        check: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Self {
        match m.get(key) {
            None => Field::Absent,
            Some(v) => match check(v) {
                Ok(t) => Field::Valid(t),
                Err(message) => Field::Invalid {
                    value: v.clone(),
                    message,
                },
            },
        }
    }
}

/// Every property of one logical disk, each checked against the schema on its own.
///
/// [`RaidConfig::parse`] is built on this; a manager whose own rules differ from Ironic's
/// schema (HPE Smart Array: compact levels such as `10`, no `controller` dependency,
/// stricter ranges, its own wording) uses it to judge each property itself while still
/// getting the typed values, and to report every problem of a disk at once.
#[derive(Debug, Clone, PartialEq)]
pub struct LogicalDiskFields {
    pub raid_level: Field<RaidLevel>,
    pub size_gb: Field<SizeGb>,
    pub volume_name: Field<String>,
    pub is_root_volume: Field<bool>,
    pub share_physical_disks: Field<bool>,
    pub disk_type: Field<DiskType>,
    pub interface_type: Field<InterfaceType>,
    pub number_of_physical_disks: Field<u64>,
    pub controller: Field<String>,
    pub physical_disks: Field<PhysicalDisks>,
    /// Keys outside [`LOGICAL_DISK_PROPERTIES`], in input order.
    pub unknown: Vec<String>,
    /// The object as given.
    pub raw: Map<String, Value>,
}

fn check_string(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        o => Err(format!(
            "{key} must be a string, got {} {}",
            type_name(o),
            short(o)
        )),
    }
}

fn check_bool(key: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        o => Err(format!(
            "{key} must be a boolean, got {} {}",
            type_name(o),
            short(o)
        )),
    }
}

fn check_raid_level(v: &Value) -> Result<RaidLevel, String> {
    match v {
        Value::String(s) => RaidLevel::parse(s).ok_or_else(|| {
            format!(
                "raid_level {s:?} is not one of {}",
                RaidLevel::ALL.map(|l| l.as_str()).join(", ")
            )
        }),
        o => Err(format!(
            "raid_level must be a string, got {} {}",
            type_name(o),
            short(o)
        )),
    }
}

fn check_size_gb(v: &Value) -> Result<SizeGb, String> {
    if v.as_str() == Some("MAX") {
        return Ok(SizeGb::Max);
    }
    match as_integer(v) {
        Some(n) if n >= 0 => u64::try_from(n)
            .map(SizeGb::Gib)
            .map_err(|_| format!("size_gb {n} is too large")),
        Some(n) => Err(format!("size_gb must be >= 0, got {n}")),
        None => Err(format!(
            "size_gb must be an integer >= 0 or \"MAX\", got {} {}",
            type_name(v),
            short(v)
        )),
    }
}

fn check_disk_type(v: &Value) -> Result<DiskType, String> {
    match check_string("disk_type", v)?.as_str() {
        "hdd" => Ok(DiskType::Hdd),
        "ssd" => Ok(DiskType::Ssd),
        s => Err(format!("disk_type {s:?} is not one of hdd, ssd")),
    }
}

fn check_interface_type(v: &Value) -> Result<InterfaceType, String> {
    match check_string("interface_type", v)?.as_str() {
        "sata" => Ok(InterfaceType::Sata),
        "scsi" => Ok(InterfaceType::Scsi),
        "sas" => Ok(InterfaceType::Sas),
        s => Err(format!(
            "interface_type {s:?} is not one of sata, scsi, sas"
        )),
    }
}

fn check_number_of_physical_disks(v: &Value) -> Result<u64, String> {
    match as_integer(v) {
        Some(n) if n > 0 => {
            u64::try_from(n).map_err(|_| format!("number_of_physical_disks {n} is too large"))
        }
        Some(n) => Err(format!("number_of_physical_disks must be > 0, got {n}")),
        None => Err(format!(
            "number_of_physical_disks must be an integer, got {} {}",
            type_name(v),
            short(v)
        )),
    }
}

fn check_physical_disks(v: &Value) -> Result<PhysicalDisks, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "physical_disks must be an array, got {} {}",
            type_name(v),
            short(v)
        ));
    };
    if items.iter().all(Value::is_string) {
        return Ok(PhysicalDisks::Names(
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        ));
    }
    if items.iter().all(Value::is_object) {
        if items.len() < 2 {
            return Err(format!(
                "physical_disks as device hints needs at least 2 objects, got {}",
                items.len()
            ));
        }
        return Ok(PhysicalDisks::Hints(
            items
                .iter()
                .filter_map(|o| o.as_object().cloned())
                .collect(),
        ));
    }
    Err(format!(
        "physical_disks must be an array of strings or an array of objects, got {}",
        short(v)
    ))
}

impl LogicalDiskFields {
    /// Checks every property of one `logical_disks` entry; never fails, never panics.
    pub fn from_map(m: &Map<String, Value>) -> LogicalDiskFields {
        LogicalDiskFields {
            raid_level: Field::get(m, "raid_level", check_raid_level),
            size_gb: Field::get(m, "size_gb", check_size_gb),
            volume_name: Field::get(m, "volume_name", |v| check_string("volume_name", v)),
            is_root_volume: Field::get(m, "is_root_volume", |v| check_bool("is_root_volume", v)),
            share_physical_disks: Field::get(m, "share_physical_disks", |v| {
                check_bool("share_physical_disks", v)
            }),
            disk_type: Field::get(m, "disk_type", check_disk_type),
            interface_type: Field::get(m, "interface_type", check_interface_type),
            number_of_physical_disks: Field::get(
                m,
                "number_of_physical_disks",
                check_number_of_physical_disks,
            ),
            controller: Field::get(m, "controller", |v| check_string("controller", v)),
            physical_disks: Field::get(m, "physical_disks", check_physical_disks),
            unknown: m
                .keys()
                .filter(|k| !LOGICAL_DISK_PROPERTIES.contains(&k.as_str()))
                .cloned()
                .collect(),
            raw: m.clone(),
        }
    }

    /// The schema problems of this logical disk, in the order [`RaidConfig::parse`]
    /// reports them (without the `logical_disks[i]: ` prefix).
    pub fn schema_errors(&self) -> Vec<String> {
        fn msg<T>(f: &Field<T>) -> Option<&str> {
            f.invalid().map(|(_, m)| m)
        }
        // A string property's type problem (not a string) comes before the enum problems.
        fn msg_if_string<T>(f: &Field<T>, string: bool) -> Option<&str> {
            f.invalid()
                .filter(|(v, _)| v.is_string() == string)
                .map(|(_, m)| m)
        }
        [
            self.raid_level
                .is_absent()
                .then_some("'raid_level' is a required property"),
            msg(&self.raid_level),
            self.size_gb
                .is_absent()
                .then_some("'size_gb' is a required property"),
            msg(&self.size_gb),
            msg(&self.volume_name),
            msg(&self.controller),
            msg_if_string(&self.disk_type, false),
            msg_if_string(&self.interface_type, false),
            msg(&self.is_root_volume),
            msg(&self.share_physical_disks),
            msg_if_string(&self.disk_type, true),
            msg_if_string(&self.interface_type, true),
            msg(&self.number_of_physical_disks),
            msg(&self.physical_disks),
            (!self.physical_disks.is_absent() && self.controller.is_absent())
                .then_some("'controller' is a dependency of 'physical_disks'"),
        ]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect()
    }

    /// The [`LogicalDisk`], when `raid_level` and `size_gb` are given and every given
    /// property is valid. Cross-property rules (the `controller` dependency) are not
    /// checked here: see [`schema_errors`](Self::schema_errors).
    pub fn into_logical_disk(self) -> Option<LogicalDisk> {
        Some(LogicalDisk {
            raid_level: self.raid_level.into_result().ok()??,
            size_gb: self.size_gb.into_result().ok()??,
            volume_name: self.volume_name.into_result().ok()?,
            is_root_volume: self.is_root_volume.into_result().ok()?,
            share_physical_disks: self.share_physical_disks.into_result().ok()?,
            disk_type: self.disk_type.into_result().ok()?,
            interface_type: self.interface_type.into_result().ok()?,
            number_of_physical_disks: self.number_of_physical_disks.into_result().ok()?,
            controller: self.controller.into_result().ok()?,
            physical_disks: self.physical_disks.into_result().ok()?,
            raw: self.raw,
        })
    }
}

impl RaidConfig {
    /// Parses and schema-checks `target_raid_config` / `raid_config`. All problems are
    /// returned together; the function never panics.
    pub fn parse(v: &Value) -> Result<RaidConfig, SchemaErrors> {
        let mut errs = SchemaErrors::default();
        let Some(top) = v.as_object() else {
            errs.errors.push(format!(
                "the RAID configuration must be an object, got {} {}",
                type_name(v),
                short(v)
            ));
            return Err(errs);
        };
        for k in RaidConfig::unknown_top_level_keys(top) {
            errs.warnings
                .push(format!("unknown top-level property {k:?} is ignored"));
        }
        let mut out = Vec::new();
        match RaidConfig::logical_disk_values(top) {
            Err(TopLevelError::Missing) => errs
                .errors
                .push("'logical_disks' is a required property".into()),
            Err(TopLevelError::Empty) => errs
                .errors
                .push("'logical_disks' must have at least one item, got []".into()),
            Err(TopLevelError::NotAnArray(other)) => errs.errors.push(format!(
                "'logical_disks' must be an array, got {} {}",
                type_name(other),
                short(other)
            )),
            Ok(lds) => {
                for (i, ld) in lds.iter().enumerate() {
                    if let Some(d) = parse_logical_disk(i, ld, &mut errs) {
                        out.push(d);
                    }
                }
            }
        }
        if errs.errors.is_empty() {
            Ok(RaidConfig {
                logical_disks: out,
                warnings: errs.warnings,
            })
        } else {
            Err(errs)
        }
    }

    /// The `logical_disks` entries of a configuration object, not yet checked, or what
    /// is wrong with the top level.
    pub fn logical_disk_values(top: &Map<String, Value>) -> Result<&[Value], TopLevelError<'_>> {
        match top.get("logical_disks") {
            None => Err(TopLevelError::Missing),
            Some(Value::Array(lds)) if lds.is_empty() => Err(TopLevelError::Empty),
            Some(Value::Array(lds)) => Ok(lds),
            Some(other) => Err(TopLevelError::NotAnArray(other)),
        }
    }

    /// The top-level keys of a configuration object other than `logical_disks` (the
    /// schema forbids them; they are ignored).
    pub fn unknown_top_level_keys(top: &Map<String, Value>) -> impl Iterator<Item = &str> {
        top.keys()
            .map(String::as_str)
            .filter(|k| *k != "logical_disks")
    }

    /// True when the configuration has no logical disks at all (`{}` or
    /// `{"logical_disks": []}`), which IPA treats as "nothing to do".
    pub fn is_empty_value(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Object(m) => {
                m.is_empty()
                    || m.get("logical_disks")
                        .is_some_and(|l| l.as_array().is_some_and(|a| a.is_empty()))
            }
            _ => false,
        }
    }

    /// The root volume, if one is flagged.
    pub fn root_volume(&self) -> Option<&LogicalDisk> {
        self.logical_disks
            .iter()
            .find(|d| d.is_root_volume == Some(true))
    }
}

fn parse_logical_disk(i: usize, v: &Value, errs: &mut SchemaErrors) -> Option<LogicalDisk> {
    let at = format!("logical_disks[{i}]");
    let Some(m) = v.as_object() else {
        errs.errors.push(format!(
            "{at} must be an object, got {} {}",
            type_name(v),
            short(v)
        ));
        return None;
    };
    let fields = LogicalDiskFields::from_map(m);
    let problems = fields.schema_errors();
    errs.errors
        .extend(problems.iter().map(|msg| format!("{at}: {msg}")));
    for k in &fields.unknown {
        errs.warnings
            .push(format!("{at}: unknown property {k:?} is ignored"));
    }
    if !problems.is_empty() {
        return None;
    }
    fields.into_logical_disk()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<String> {
        RaidConfig::parse(&v).unwrap_err().errors
    }

    #[test]
    fn parses_every_property() {
        let c = RaidConfig::parse(&json!({"logical_disks": [
            {"raid_level": "1+0", "size_gb": 100, "volume_name": "root", "is_root_volume": true,
             "share_physical_disks": false, "disk_type": "ssd", "interface_type": "sas",
             "number_of_physical_disks": 4, "controller": "software",
             "physical_disks": [{"name": "/dev/sda"}, {"serial": "S2"}]},
            {"raid_level": "5", "size_gb": "MAX", "controller": "Smart Array P440ar in Slot 0",
             "physical_disks": ["1I:1:1", "1I:1:2", "1I:1:3"], "disk_type": "hdd",
             "interface_type": "sata"}
        ]}))
        .unwrap();
        assert!(c.warnings.is_empty());
        let a = &c.logical_disks[0];
        assert_eq!(a.raid_level, RaidLevel::Raid10);
        assert_eq!(a.size_gb, SizeGb::Gib(100));
        assert_eq!(a.volume_name.as_deref(), Some("root"));
        assert_eq!(a.is_root_volume, Some(true));
        assert_eq!(a.share_physical_disks, Some(false));
        assert_eq!(a.disk_type, Some(DiskType::Ssd));
        assert_eq!(a.interface_type, Some(InterfaceType::Sas));
        assert_eq!(a.number_of_physical_disks, Some(4));
        assert!(a.is_software());
        assert!(matches!(&a.physical_disks, Some(PhysicalDisks::Hints(h)) if h.len() == 2));
        let b = &c.logical_disks[1];
        assert_eq!(b.size_gb, SizeGb::Max);
        assert_eq!(b.disk_type, Some(DiskType::Hdd));
        assert_eq!(b.interface_type, Some(InterfaceType::Sata));
        assert_eq!(
            b.physical_disks,
            Some(PhysicalDisks::Names(vec![
                "1I:1:1".into(),
                "1I:1:2".into(),
                "1I:1:3".into()
            ]))
        );
        assert!(!b.is_software());
        assert_eq!(
            c.root_volume().unwrap().volume_name.as_deref(),
            Some("root")
        );
    }

    #[test]
    fn every_level_round_trips() {
        for l in RaidLevel::ALL {
            let c = RaidConfig::parse(
                &json!({"logical_disks": [{"raid_level": l.as_str(), "size_gb": 1}]}),
            )
            .unwrap();
            assert_eq!(c.logical_disks[0].raid_level, l);
        }
        assert_eq!(RaidLevel::parse("10"), None);
    }

    #[test]
    fn collects_all_schema_problems() {
        let e = errors(json!({"logical_disks": [
            {"raid_level": "7", "size_gb": -1, "disk_type": "nvme", "interface_type": "usb",
             "number_of_physical_disks": 0, "is_root_volume": "yes", "volume_name": 5,
             "physical_disks": [{"name": "/dev/sda"}]},
            {"size_gb": 1.5},
            "not an object"
        ]}));
        let joined = e.join("\n");
        for needle in [
            "logical_disks[0]: raid_level \"7\" is not one of",
            "logical_disks[0]: size_gb must be >= 0, got -1",
            "logical_disks[0]: disk_type \"nvme\"",
            "logical_disks[0]: interface_type \"usb\"",
            "logical_disks[0]: number_of_physical_disks must be > 0",
            "logical_disks[0]: is_root_volume must be a boolean",
            "logical_disks[0]: volume_name must be a string",
            "logical_disks[0]: physical_disks as device hints needs at least 2 objects",
            "logical_disks[0]: 'controller' is a dependency of 'physical_disks'",
            "logical_disks[1]: 'raid_level' is a required property",
            "logical_disks[1]: size_gb must be an integer >= 0 or \"MAX\", got number 1.5",
            "logical_disks[2] must be an object",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in\n{joined}");
        }
        assert_eq!(e.len(), 12, "{joined}");
    }

    #[test]
    fn draft4_types_are_strict() {
        for bad in [
            json!("100"),
            json!(true),
            json!(1.0),
            json!("max"),
            json!(null),
        ] {
            let e = errors(json!({"logical_disks": [{"raid_level": "1", "size_gb": bad}]}));
            assert!(e[0].contains("size_gb must be an integer"), "{bad}: {e:?}");
        }
        assert!(
            RaidConfig::parse(&json!({"logical_disks": [{"raid_level": "1", "size_gb": 0}]}))
                .is_ok()
        );
        let e = errors(json!({"logical_disks": [{"raid_level": 1, "size_gb": 1}]}));
        assert!(
            e[0].contains("raid_level must be a string, got integer 1"),
            "{e:?}"
        );
        let e = errors(json!({"logical_disks": [{"raid_level": "1", "size_gb": 1,
            "controller": "x", "physical_disks": ["a", {"name": "b"}]}]}));
        assert!(
            e[0].contains("array of strings or an array of objects"),
            "{e:?}"
        );
    }

    #[test]
    fn top_level_shapes() {
        assert_eq!(
            errors(json!({})),
            vec!["'logical_disks' is a required property"]
        );
        assert!(errors(json!({"logical_disks": []}))[0].contains("at least one item"));
        assert!(errors(json!({"logical_disks": {}}))[0].contains("must be an array, got object"));
        assert!(errors(json!([1, 2]))[0].contains("must be an object, got array"));
        assert!(errors(json!("x"))[0].contains("must be an object, got string"));
        assert!(RaidConfig::is_empty_value(&json!({})));
        assert!(RaidConfig::is_empty_value(&json!(null)));
        assert!(RaidConfig::is_empty_value(&json!({"logical_disks": []})));
        assert!(!RaidConfig::is_empty_value(&json!({"logical_disks": [{}]})));
    }

    #[test]
    fn unknown_properties_are_named_warnings() {
        let c = RaidConfig::parse(&json!({"logical_disks": [
            {"raid_level": "1", "size_gb": 10, "block_devices": ["/dev/vda"], "colour": "red"}],
            "last_updated": "2026-01-01"}))
        .unwrap();
        assert_eq!(
            c.warnings,
            vec![
                "unknown top-level property \"last_updated\" is ignored",
                "logical_disks[0]: unknown property \"block_devices\" is ignored",
                "logical_disks[0]: unknown property \"colour\" is ignored",
            ]
        );
        // The raw object is kept as given, unknown keys included.
        assert!(c.logical_disks[0].raw.contains_key("block_devices"));
    }

    #[test]
    fn fields_are_checked_one_by_one() {
        let m = json!({"raid_level": "10", "size_gb": 5, "disk_type": 3, "colour": 1});
        let f = LogicalDiskFields::from_map(m.as_object().unwrap());
        assert!(matches!(&f.raid_level, Field::Invalid { value, .. } if value == "10"));
        assert_eq!(f.size_gb, Field::Valid(SizeGb::Gib(5)));
        assert!(f.volume_name.is_absent());
        assert_eq!(f.unknown, ["colour"]);
        assert_eq!(
            f.schema_errors(),
            [
                "raid_level \"10\" is not one of JBOD, 0, 1, 2, 5, 6, 1+0, 5+0, 6+0",
                "disk_type must be a string, got integer 3",
            ]
        );
        assert!(f.into_logical_disk().is_none());
        let m = json!({"raid_level": "1", "size_gb": "MAX", "physical_disks": ["a", "b"]});
        let f = LogicalDiskFields::from_map(m.as_object().unwrap());
        assert_eq!(
            f.schema_errors(),
            ["'controller' is a dependency of 'physical_disks'"]
        );
        assert_eq!(f.into_logical_disk().unwrap().size_gb, SizeGb::Max);

        assert_eq!(RaidLevel::parse_lenient("10"), Some(RaidLevel::Raid10));
        assert_eq!(RaidLevel::parse_lenient("6+0"), Some(RaidLevel::Raid60));
        assert_eq!(RaidLevel::parse_lenient("100"), None);
        let top = json!({"logical_disks": 1, "x": 2});
        let top = top.as_object().unwrap();
        assert_eq!(
            RaidConfig::logical_disk_values(top),
            Err(TopLevelError::NotAnArray(&json!(1)))
        );
        assert_eq!(
            RaidConfig::unknown_top_level_keys(top).collect::<Vec<_>>(),
            ["x"]
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            json!(null),
            json!(1),
            json!({"logical_disks": [null, [], 1, {"raid_level": null, "size_gb": {}}]}),
            json!({"logical_disks": [{"raid_level": "1", "size_gb": u64::MAX}]}),
            json!({"logical_disks": [{"raid_level": "1", "size_gb": i64::MIN}]}),
            json!({"logical_disks": [{"raid_level": "1", "size_gb": 1e300}]}),
            json!({"logical_disks": [{"raid_level": "1", "size_gb": 1, "physical_disks": []}]}),
        ];
        for v in odd {
            let _ = RaidConfig::parse(&v);
        }
        let c = RaidConfig::parse(
            &json!({"logical_disks": [{"raid_level": "1", "size_gb": u64::MAX}]}),
        )
        .unwrap();
        assert_eq!(c.logical_disks[0].size_gb, SizeGb::Gib(u64::MAX));
    }
}
