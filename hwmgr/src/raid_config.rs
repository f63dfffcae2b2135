//! The `target_raid_config` model: Ironic's RAID configuration schema
//! (`ironic/drivers/raid_config_schema.json`, `ipa-protocol.md` 8.1) as Rust types.
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
        for k in top.keys().filter(|k| *k != "logical_disks") {
            errs.warnings
                .push(format!("unknown top-level property {k:?} is ignored"));
        }
        let mut out = Vec::new();
        match top.get("logical_disks") {
            None => errs
                .errors
                .push("'logical_disks' is a required property".into()),
            Some(Value::Array(lds)) => {
                if lds.is_empty() {
                    errs.errors
                        .push("'logical_disks' must have at least one item, got []".into());
                }
                for (i, ld) in lds.iter().enumerate() {
                    if let Some(d) = parse_logical_disk(i, ld, &mut errs) {
                        out.push(d);
                    }
                }
            }
            Some(other) => errs.errors.push(format!(
                "'logical_disks' must be an array, got {} {}",
                type_name(other),
                short(other)
            )),
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
    let before = errs.errors.len();
    let mut bad = |msg: String| errs.errors.push(format!("{at}: {msg}"));

    let raid_level = match m.get("raid_level") {
        None => {
            bad("'raid_level' is a required property".into());
            None
        }
        Some(Value::String(s)) => RaidLevel::parse(s).or_else(|| {
            bad(format!(
                "raid_level {s:?} is not one of {}",
                RaidLevel::ALL.map(|l| l.as_str()).join(", ")
            ));
            None
        }),
        Some(o) => {
            bad(format!(
                "raid_level must be a string, got {} {}",
                type_name(o),
                short(o)
            ));
            None
        }
    };
    let size_gb = match m.get("size_gb") {
        None => {
            bad("'size_gb' is a required property".into());
            None
        }
        Some(Value::String(s)) if s == "MAX" => Some(SizeGb::Max),
        Some(o) => match as_integer(o) {
            Some(n) if n >= 0 => u64::try_from(n).ok().map(SizeGb::Gib),
            Some(n) => {
                bad(format!("size_gb must be >= 0, got {n}"));
                None
            }
            None => {
                bad(format!(
                    "size_gb must be an integer >= 0 or \"MAX\", got {} {}",
                    type_name(o),
                    short(o)
                ));
                None
            }
        },
    };
    let mut string = |key: &str| -> Option<String> {
        match m.get(key)? {
            Value::String(s) => Some(s.clone()),
            o => {
                bad(format!(
                    "{key} must be a string, got {} {}",
                    type_name(o),
                    short(o)
                ));
                None
            }
        }
    };
    let volume_name = string("volume_name");
    let controller = string("controller");
    let disk_type_s = string("disk_type");
    let interface_type_s = string("interface_type");
    let mut boolean = |key: &str| -> Option<bool> {
        match m.get(key)? {
            Value::Bool(b) => Some(*b),
            o => {
                bad(format!(
                    "{key} must be a boolean, got {} {}",
                    type_name(o),
                    short(o)
                ));
                None
            }
        }
    };
    let is_root_volume = boolean("is_root_volume");
    let share_physical_disks = boolean("share_physical_disks");
    let disk_type = disk_type_s.and_then(|s| match s.as_str() {
        "hdd" => Some(DiskType::Hdd),
        "ssd" => Some(DiskType::Ssd),
        _ => {
            bad(format!("disk_type {s:?} is not one of hdd, ssd"));
            None
        }
    });
    let interface_type = interface_type_s.and_then(|s| match s.as_str() {
        "sata" => Some(InterfaceType::Sata),
        "scsi" => Some(InterfaceType::Scsi),
        "sas" => Some(InterfaceType::Sas),
        _ => {
            bad(format!(
                "interface_type {s:?} is not one of sata, scsi, sas"
            ));
            None
        }
    });
    let number_of_physical_disks =
        m.get("number_of_physical_disks")
            .and_then(|o| match as_integer(o) {
                Some(n) if n > 0 => u64::try_from(n).ok(),
                Some(n) => {
                    bad(format!("number_of_physical_disks must be > 0, got {n}"));
                    None
                }
                None => {
                    bad(format!(
                        "number_of_physical_disks must be an integer, got {} {}",
                        type_name(o),
                        short(o)
                    ));
                    None
                }
            });
    let physical_disks = m.get("physical_disks").and_then(|o| {
        let Value::Array(items) = o else {
            bad(format!(
                "physical_disks must be an array, got {} {}",
                type_name(o),
                short(o)
            ));
            return None;
        };
        if items.iter().all(Value::is_string) {
            return Some(PhysicalDisks::Names(
                items
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            ));
        }
        if items.iter().all(Value::is_object) {
            if items.len() < 2 {
                bad(format!(
                    "physical_disks as device hints needs at least 2 objects, got {}",
                    items.len()
                ));
                return None;
            }
            return Some(PhysicalDisks::Hints(
                items
                    .iter()
                    .filter_map(|o| o.as_object().cloned())
                    .collect(),
            ));
        }
        bad(format!(
            "physical_disks must be an array of strings or an array of objects, got {}",
            short(o)
        ));
        None
    });
    if m.contains_key("physical_disks") && !m.contains_key("controller") {
        bad("'controller' is a dependency of 'physical_disks'".into());
    }
    for k in m
        .keys()
        .filter(|k| !LOGICAL_DISK_PROPERTIES.contains(&k.as_str()))
    {
        errs.warnings
            .push(format!("{at}: unknown property {k:?} is ignored"));
    }
    if errs.errors.len() != before {
        return None;
    }
    Some(LogicalDisk {
        raid_level: raid_level?,
        size_gb: size_gb?,
        volume_name,
        is_root_volume,
        share_physical_disks,
        disk_type,
        interface_type,
        number_of_physical_disks,
        controller,
        physical_disks,
        raw: m.clone(),
    })
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
