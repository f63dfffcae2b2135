//! The RAID configuration this manager accepts
//! (`proliantutils/hpssa/raid_config_schema.json` and `hpssa/manager.py: validate`),
//! checked completely before anything runs. Every problem is collected, so an operator
//! sees them all at once. Keys outside the schema are logged and ignored rather than
//! rejected: the conductor has already validated what it sends, and a key copied from a
//! previous result (`root_device_hint`, `array`) should not fail a step.
//!
//! The schema itself is read with the shared model, [`hwmgr::raid_config`], one property
//! at a time ([`LogicalDiskFields`]); this module adds what proliantutils does differently
//! from Ironic's schema, the Smart Array rules (levels, drive counts, sizes, drive ids)
//! and this manager's wording.

use crate::model::{DiskType, Interface};
use hwmgr::raid_config::{
    Field, InterfaceType, LogicalDiskFields, PhysicalDisks, RaidConfig, RaidLevel, SizeGb,
    TopLevelError,
};
use serde_json::Value;

/// `size_gb`: whole GiB (proliantutils treats GB as GiB, see [`crate::size`]), or all
/// remaining space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Gb(u64),
    Max,
}

impl Size {
    /// The `size=` argument in MiB; `None` means "leave it out" (all space).
    pub fn mb(self) -> Option<u64> {
        match self {
            Size::Gb(g) => Some(g * 1024),
            Size::Max => None,
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Gb(g) => write!(f, "{g}"),
            Size::Max => f.write_str("MAX"),
        }
    }
}

/// One requested logical disk, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdRequest {
    /// Position in the input `logical_disks`; results are reported in this order.
    pub index: usize,
    /// As written in the input (`1+0`, `10`, `5+0`, ...).
    pub raid_level: String,
    pub size: Size,
    pub share: bool,
    pub disk_type: Option<DiskType>,
    pub interface_type: Option<Interface>,
    pub number_of_physical_disks: Option<usize>,
    pub controller: Option<String>,
    pub physical_disks: Option<Vec<String>>,
    pub volume_name: Option<String>,
}

impl LdRequest {
    /// The `raid=` value: ssacli spells `5+0`/`6+0` as `50`/`60`; `1+0` is sent as is.
    pub fn ssacli_raid(&self) -> &str {
        match self.raid_level.as_str() {
            "5+0" => "50",
            "6+0" => "60",
            other => other,
        }
    }

    /// How many drives a new array gets: `number_of_physical_disks`, else the level's
    /// minimum.
    pub fn disk_count(&self) -> usize {
        self.number_of_physical_disks
            .unwrap_or_else(|| min_disks(&self.raid_level).unwrap_or(1))
    }

    /// "logical disk #2 (50 GB, RAID 1)" for messages; numbered from 1 as an operator counts.
    pub fn describe(&self) -> String {
        format!(
            "logical disk #{} ({} GB, RAID {})",
            self.index + 1,
            self.size,
            self.raid_level
        )
    }
}

/// RAID levels a Smart Array builds, with their minimum drive counts
/// (`proliantutils/hpssa/constants.py: RAID_LEVEL_MIN_DISKS`). `level` as written: the
/// schema spellings and the compact `10`, `50`, `60`.
pub fn min_disks(level: &str) -> Option<usize> {
    RaidLevel::parse_lenient(level).and_then(smart_array_min_disks)
}

/// The minimum drive count of a level on a Smart Array; `None` for the levels it cannot
/// build (JBOD, RAID 2).
pub fn smart_array_min_disks(level: RaidLevel) -> Option<usize> {
    match level {
        RaidLevel::Raid0 => Some(1),
        RaidLevel::Raid1 => Some(2),
        RaidLevel::Raid5 => Some(3),
        RaidLevel::Raid6 | RaidLevel::Raid10 => Some(4),
        RaidLevel::Raid50 => Some(6),
        RaidLevel::Raid60 => Some(8),
        RaidLevel::Jbod | RaidLevel::Raid2 => None,
    }
}

/// Why a Smart Array cannot build `level` (as written) from `count` drives; `None` when it
/// can, or when the level is not one it builds (validation names that separately).
///
/// proliantutils checks only the minimum (`proliantutils/hpssa/manager.py: validate`,
/// `RAID_LEVEL_MIN_DISKS`) and leaves the rest to the controller, which then refuses a
/// logical disk after the earlier ones of the configuration were created. We check the
/// controller's rules up front (HPE's Smart Array documentation; proliantutils'
/// `_sort_shared_logical_disks` relies on the first): a mirror pairs its drives, so RAID 1
/// and 1+0 take an even count; RAID 50 and 60 stripe over two or more parity groups of
/// equal size, each of at least 3 (RAID 50) or 4 (RAID 60) drives.
pub fn drive_count_problem(level: &str, count: usize) -> Option<String> {
    let parsed = RaidLevel::parse_lenient(level)?;
    let min = smart_array_min_disks(parsed)?;
    if count < min {
        return Some(format!(
            "RAID level {level} requires at least {min} disks, {count} requested"
        ));
    }
    match parsed {
        RaidLevel::Raid1 | RaidLevel::Raid10 if !count.is_multiple_of(2) => Some(format!(
            "RAID level {level} needs an even number of disks (the controller mirrors them in \
             pairs), {count} requested"
        )),
        RaidLevel::Raid50 | RaidLevel::Raid60 => {
            let group = parity_group_min(parsed);
            let examples: Vec<String> = (min..)
                .filter(|n| splits_into_parity_groups(*n, group))
                .take(5)
                .map(|n| n.to_string())
                .collect();
            (!splits_into_parity_groups(count, group)).then(|| {
                format!(
                    "RAID level {level} needs a disk count that splits into two or more equal \
                     parity groups of at least {group} disks ({}, ...), {count} requested",
                    examples.join(", ")
                )
            })
        }
        _ => None,
    }
}

/// The smallest parity group of RAID 50 (a RAID 5 of 3) and RAID 60 (a RAID 6 of 4).
fn parity_group_min(level: RaidLevel) -> usize {
    if level == RaidLevel::Raid60 {
        4
    } else {
        3
    }
}

/// Whether `count` drives form two or more equal groups of at least `group_min` each.
fn splits_into_parity_groups(count: usize, group_min: usize) -> bool {
    (2..=count / group_min).any(|groups| count.is_multiple_of(groups))
}

/// Sizes from 2^40 GiB up cannot be a real logical drive (and would overflow as MiB).
const MAX_SIZE_GB: u64 = 1 << 40;

/// More drives than any Smart Array takes.
const MAX_DRIVES: u64 = 1024;

/// A drive id goes into `drives=a,b,c`; anything but `port:box:bay` characters (a comma,
/// say) would change which drives the controller uses.
fn valid_drive_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == ':')
}

/// Validates the whole configuration. `Err` holds one message per problem.
///
/// The schema is read with the shared model ([`hwmgr::raid_config`]); this adds
/// proliantutils' differences (compact levels `10`/`50`/`60`, no JBOD or RAID 2, sizes
/// above 0, drive ids instead of device hints, no `controller` dependency for
/// `physical_disks`), the drive-count rules, and this manager's wording.
pub fn validate(cfg: &Value) -> Result<Vec<LdRequest>, Vec<String>> {
    let Some(obj) = cfg.as_object() else {
        return Err(vec![format!(
            "the RAID configuration must be an object with 'logical_disks', got {}",
            short(cfg)
        )]);
    };
    for k in RaidConfig::unknown_top_level_keys(obj) {
        tracing::warn!("RAID configuration: ignoring unknown top-level key '{k}'");
    }
    let lds = RaidConfig::logical_disk_values(obj).map_err(|e| {
        vec![match e {
            TopLevelError::Missing => "'logical_disks' is a required property".into(),
            TopLevelError::Empty => "'logical_disks' must list at least one logical disk".into(),
            TopLevelError::NotAnArray(other) => {
                format!("'logical_disks' must be a list, got {}", short(other))
            }
        }]
    })?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, ld) in lds.iter().enumerate() {
        match validate_ld(i, ld) {
            Ok(r) => out.push(r),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// One logical disk: the shared model's per-property results, judged by Smart Array rules.
fn validate_ld(i: usize, ld: &Value) -> Result<LdRequest, Vec<String>> {
    let n = i + 1;
    let Some(o) = ld.as_object() else {
        return Err(vec![format!(
            "logical disk #{n} must be an object, got {}",
            short(ld)
        )]);
    };
    let f = LogicalDiskFields::from_map(o);
    for k in &f.unknown {
        tracing::warn!("RAID configuration: logical disk #{n}: ignoring unknown key '{k}'");
    }
    // Messages without the "logical disk #n: " prefix, in the order they are found.
    let mut errs: Vec<String> = Vec::new();
    let raid_level = raid_level_of(&f.raid_level, &mut errs);
    let size = size_of(&f.size_gb, &mut errs);
    let share = flag_of("share_physical_disks", &f.share_physical_disks, &mut errs);
    let _ = flag_of("is_root_volume", &f.is_root_volume, &mut errs);
    let disk_type = disk_type_of(&f.disk_type, &mut errs);
    let interface_type = interface_of(&f.interface_type, &mut errs);
    let number_of_physical_disks = drive_count_of(&f.number_of_physical_disks, &mut errs);
    let controller = controller_of(&f.controller, &mut errs);
    let physical_disks = physical_disks_of(&f.physical_disks, &mut errs);
    let volume_name = volume_name_of(&f.volume_name, &mut errs);
    check_drive_counts(
        &raid_level,
        number_of_physical_disks,
        physical_disks.as_deref(),
        &mut errs,
    );
    if !errs.is_empty() {
        return Err(errs
            .into_iter()
            .map(|m| format!("logical disk #{n}: {m}"))
            .collect());
    }
    Ok(LdRequest {
        index: i,
        raid_level,
        size,
        share,
        disk_type,
        interface_type,
        number_of_physical_disks,
        controller,
        physical_disks,
        volume_name,
    })
}

fn raid_level_of(field: &Field<hwmgr::raid_config::RaidLevel>, errs: &mut Vec<String>) -> String {
    match field {
        Field::Absent => {
            errs.push("'raid_level' is a required property".into());
            String::new()
        }
        Field::Valid(l) if smart_array_min_disks(*l).is_some() => l.as_str().to_string(),
        Field::Valid(l) => {
            errs.push(format!(
                "raid_level '{l}' is not supported by HPE Smart Array controllers \
                 (use 0, 1, 5, 6, 1+0, 5+0 or 6+0)"
            ));
            String::new()
        }
        // The compact spellings are outside Ironic's schema but inside proliantutils'.
        Field::Invalid {
            value: Value::String(s),
            ..
        } if min_disks(s).is_some() => s.clone(),
        Field::Invalid { value, .. } => {
            errs.push(format!(
                "raid_level {} is not one of \"0\", \"1\", \"5\", \"6\", \"1+0\", \"5+0\", \
                 \"6+0\" (\"10\", \"50\", \"60\" are accepted too)",
                short(value)
            ));
            String::new()
        }
    }
}

fn size_of(field: &Field<SizeGb>, errs: &mut Vec<String>) -> Size {
    let size_problem = |shown: String| {
        format!("size_gb {shown} must be a positive whole number of GiB or \"MAX\"")
    };
    match field {
        Field::Absent => {
            errs.push("'size_gb' is a required property".into());
            Size::Max
        }
        Field::Valid(SizeGb::Max) => Size::Max,
        Field::Valid(SizeGb::Gib(g)) if *g > 0 && *g < MAX_SIZE_GB => Size::Gb(*g),
        Field::Valid(SizeGb::Gib(g)) => {
            errs.push(size_problem(g.to_string()));
            Size::Max
        }
        Field::Invalid { value, .. } => {
            errs.push(size_problem(short(value)));
            Size::Max
        }
    }
}

fn flag_of(key: &str, field: &Field<bool>, errs: &mut Vec<String>) -> bool {
    match field {
        Field::Absent => false,
        Field::Valid(b) => *b,
        Field::Invalid { value, .. } => {
            errs.push(format!("{key} must be true or false, got {}", short(value)));
            false
        }
    }
}

fn disk_type_of(
    field: &Field<hwmgr::raid_config::DiskType>,
    errs: &mut Vec<String>,
) -> Option<DiskType> {
    match field {
        Field::Absent => None,
        Field::Valid(hwmgr::raid_config::DiskType::Hdd) => Some(DiskType::Hdd),
        Field::Valid(hwmgr::raid_config::DiskType::Ssd) => Some(DiskType::Ssd),
        Field::Invalid { value, .. } => {
            errs.push(format!(
                "disk_type {} must be \"hdd\" or \"ssd\"",
                short(value)
            ));
            None
        }
    }
}

fn interface_of(field: &Field<InterfaceType>, errs: &mut Vec<String>) -> Option<Interface> {
    match field {
        Field::Absent => None,
        Field::Valid(InterfaceType::Sas) => Some(Interface::Sas),
        Field::Valid(InterfaceType::Sata) => Some(Interface::Sata),
        Field::Valid(InterfaceType::Scsi) => Some(Interface::Scsi),
        Field::Invalid { value, .. } => {
            errs.push(format!(
                "interface_type {} must be \"sas\", \"sata\" or \"scsi\"",
                short(value)
            ));
            None
        }
    }
}

fn drive_count_of(field: &Field<u64>, errs: &mut Vec<String>) -> Option<usize> {
    let count_problem =
        |shown: String| format!("number_of_physical_disks {shown} must be a positive whole number");
    match field {
        Field::Absent => None,
        Field::Valid(c) if *c <= MAX_DRIVES => usize::try_from(*c).ok(),
        Field::Valid(c) => {
            errs.push(count_problem(c.to_string()));
            None
        }
        Field::Invalid { value, .. } => {
            errs.push(count_problem(short(value)));
            None
        }
    }
}

fn controller_of(field: &Field<String>, errs: &mut Vec<String>) -> Option<String> {
    match field {
        Field::Absent => None,
        Field::Valid(s) if !s.is_empty() => Some(s.clone()),
        Field::Valid(s) => {
            errs.push(format!(
                "controller {} must be a controller name",
                short(&Value::from(s.as_str()))
            ));
            None
        }
        Field::Invalid { value, .. } => {
            errs.push(format!(
                "controller {} must be a controller name",
                short(value)
            ));
            None
        }
    }
}

fn physical_disks_of(field: &Field<PhysicalDisks>, errs: &mut Vec<String>) -> Option<Vec<String>> {
    // Only drive ids: device hints (valid for software RAID) and mixed lists are judged
    // entry by entry, an empty list as a whole.
    match field {
        Field::Absent => None,
        Field::Valid(PhysicalDisks::Names(ids)) if !ids.is_empty() => {
            Some(drive_ids(ids.iter().map(|s| Value::from(s.as_str())), errs))
        }
        Field::Valid(PhysicalDisks::Hints(hints)) if !hints.is_empty() => Some(drive_ids(
            hints.iter().map(|h| Value::Object(h.clone())),
            errs,
        )),
        Field::Invalid {
            value: Value::Array(items),
            ..
        } if !items.is_empty() => Some(drive_ids(items.iter().cloned(), errs)),
        Field::Valid(_) => {
            errs.push(list_problem(&Value::Array(Vec::new())));
            None
        }
        Field::Invalid { value, .. } => {
            errs.push(list_problem(value));
            None
        }
    }
}

fn volume_name_of(field: &Field<String>, errs: &mut Vec<String>) -> Option<String> {
    match field {
        Field::Absent => None,
        Field::Valid(s) => Some(s.clone()),
        Field::Invalid { value, .. } => {
            errs.push(format!("volume_name {} must be a string", short(value)));
            None
        }
    }
}

fn check_drive_counts(
    raid_level: &str,
    number_of_physical_disks: Option<usize>,
    physical_disks: Option<&[String]>,
    errs: &mut Vec<String>,
) {
    // Drive counts against the level's rules ([`drive_count_problem`]); an explicit list
    // must agree with an explicit count (proliantutils checks only the minimum count and
    // lets the controller fail).
    if min_disks(raid_level).is_some() {
        let count = number_of_physical_disks.or(physical_disks.map(<[String]>::len));
        if let Some(problem) = count.and_then(|c| drive_count_problem(raid_level, c)) {
            errs.push(problem);
        }
        if let (Some(c), Some(list)) = (number_of_physical_disks, physical_disks) {
            if c != list.len() {
                errs.push(format!(
                    "number_of_physical_disks is {c} but physical_disks lists {}",
                    list.len()
                ));
            }
        }
    }
}

fn list_problem(v: &Value) -> String {
    format!(
        "physical_disks {} must be a non-empty list of drive ids",
        short(v)
    )
}

/// The valid drive ids among `entries`, with a message for every entry that is not one
/// and for every repeat.
fn drive_ids(entries: impl Iterator<Item = Value>, errs: &mut Vec<String>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for d in entries {
        match d.as_str() {
            Some(s) if valid_drive_id(s) => {
                if ids.iter().any(|x| x == s) {
                    errs.push(format!("physical disk '{s}' is listed twice"));
                }
                ids.push(s.to_string());
            }
            _ => errs.push(format!(
                "physical_disks entry {} is not a drive id like \"1I:1:1\"",
                short(&d)
            )),
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(v: Value) -> String {
        validate(&v).unwrap_err().join("; ")
    }

    #[test]
    fn accepts_the_schema() {
        let r = validate(&json!({"logical_disks": [
            {"size_gb": 50, "raid_level": "1+0", "share_physical_disks": true,
             "disk_type": "ssd", "interface_type": "sata", "number_of_physical_disks": 4,
             "is_root_volume": true, "volume_name": "root"},
            {"size_gb": "MAX", "raid_level": "5+0", "controller": "Smart Array P822 in Slot 2",
             "physical_disks": ["1I:1:1", "1I:1:2", "1I:1:3", "1I:1:4", "1I:1:5", "1I:1:6"]},
        ]}))
        .unwrap();
        assert_eq!(r[0].ssacli_raid(), "1+0");
        assert_eq!(r[1].ssacli_raid(), "50");
        assert_eq!((r[0].size.mb(), r[1].size.mb()), (Some(51200), None));
        assert_eq!((r[0].disk_count(), r[1].disk_count()), (4, 6));
        assert!(r[0].share && !r[1].share);
    }

    /// The drive counts each level takes on a Smart Array, from 1 to 16 drives.
    #[test]
    fn drive_counts_per_level() {
        let valid = |level: &str| -> Vec<usize> {
            (1..=16)
                .filter(|n| drive_count_problem(level, *n).is_none())
                .collect()
        };
        assert_eq!(valid("0"), (1..=16).collect::<Vec<_>>());
        assert_eq!(valid("1"), [2, 4, 6, 8, 10, 12, 14, 16]);
        assert_eq!(valid("1+0"), [4, 6, 8, 10, 12, 14, 16]);
        assert_eq!(valid("10"), valid("1+0"));
        assert_eq!(valid("5"), (3..=16).collect::<Vec<_>>());
        assert_eq!(valid("6"), (4..=16).collect::<Vec<_>>());
        assert_eq!(valid("5+0"), [6, 8, 9, 10, 12, 14, 15, 16]);
        assert_eq!(valid("50"), valid("5+0"));
        assert_eq!(valid("6+0"), [8, 10, 12, 14, 15, 16]);
        assert_eq!(valid("60"), valid("6+0"));
        assert_eq!(drive_count_problem("JBOD", 3), None, "not a level we build");
        assert_eq!(
            drive_count_problem("1", 3).unwrap(),
            "RAID level 1 needs an even number of disks (the controller mirrors them in \
             pairs), 3 requested"
        );
        assert_eq!(
            drive_count_problem("5+0", 7).unwrap(),
            "RAID level 5+0 needs a disk count that splits into two or more equal parity \
             groups of at least 3 disks (6, 8, 9, 10, 12, ...), 7 requested"
        );
        assert_eq!(
            drive_count_problem("60", 9).unwrap(),
            "RAID level 60 needs a disk count that splits into two or more equal parity \
             groups of at least 4 disks (8, 10, 12, 14, 15, ...), 9 requested"
        );
        assert_eq!(
            drive_count_problem("6", 3).unwrap(),
            "RAID level 6 requires at least 4 disks, 3 requested"
        );
    }

    #[test]
    fn drive_count_rules_apply_to_counts_and_lists() {
        let e = errs(json!({"logical_disks": [
            {"raid_level": "1", "size_gb": 10, "number_of_physical_disks": 3},
            {"raid_level": "1+0", "size_gb": 10,
             "physical_disks": ["1I:1:1", "1I:1:2", "1I:1:3", "1I:1:4", "1I:1:5"]},
            {"raid_level": "1", "size_gb": 10, "number_of_physical_disks": 4},
        ]}));
        assert!(
            e.contains("logical disk #1: RAID level 1 needs an even number"),
            "{e}"
        );
        assert!(
            e.contains("logical disk #2: RAID level 1+0 needs an even number"),
            "{e}"
        );
        assert!(
            !e.contains("#3"),
            "four drives make a Smart Array RAID 1(+0): {e}"
        );
    }

    #[test]
    fn rejects_with_every_reason() {
        assert!(errs(json!({})).contains("'logical_disks' is a required property"));
        assert!(errs(json!({"logical_disks": "foo"})).contains("must be a list"));
        assert!(errs(json!({"logical_disks": []})).contains("at least one"));
        let e = errs(json!({"logical_disks": [
            {"raid_level": 1, "size_gb": 0},
            {"raid_level": "JBOD", "size_gb": "max"},
            {"raid_level": "5", "size_gb": 10, "number_of_physical_disks": 2},
            {"raid_level": "1", "size_gb": 10, "physical_disks": ["1I:1:1,1I:1:2"]},
            {"size_gb": 1, "disk_type": "nvme"},
        ]}));
        for want in [
            "#1: raid_level 1 is not one of",
            "#1: size_gb 0 must be",
            "#2: raid_level 'JBOD' is not supported",
            "#2: size_gb \"max\"",
            "#3: RAID level 5 requires at least 3 disks, 2 requested",
            "#4: physical_disks entry \"1I:1:1,1I:1:2\" is not a drive id",
            "#5: 'raid_level' is a required property",
            "#5: disk_type \"nvme\"",
        ] {
            assert!(e.contains(want), "{want} not in {e}");
        }
    }

    #[test]
    fn proliantutils_differs_from_the_ironic_schema() {
        use hwmgr::raid_config::RaidConfig;
        // Compact levels and drive ids without a controller: proliantutils' schema only.
        let cfg = json!({"logical_disks": [{"size_gb": 10, "raid_level": "10",
            "physical_disks": ["1I:1:1", "1I:1:2", "1I:1:3", "1I:1:4"]}]});
        assert!(RaidConfig::parse(&cfg).is_err());
        let r = validate(&cfg).unwrap();
        assert_eq!((r[0].raid_level.as_str(), r[0].disk_count()), ("10", 4));
        // Size 0 and device hints: Ironic's schema only.
        let cfg = json!({"logical_disks": [{"size_gb": 0, "raid_level": "1", "controller": "c",
            "physical_disks": [{"name": "/dev/sda"}, {"name": "/dev/sdb"}]}]});
        assert!(RaidConfig::parse(&cfg).is_ok());
        let e = errs(cfg);
        assert!(e.contains("#1: size_gb 0 must be"), "{e}");
        assert!(
            e.contains(r#"#1: physical_disks entry {"name":"/dev/sda"} is not a drive id"#),
            "{e}"
        );
        assert_eq!(min_disks("60"), Some(8));
        assert_eq!((min_disks("JBOD"), min_disks("")), (None, None));
    }

    #[test]
    fn count_and_list_must_agree() {
        let e = errs(json!({"logical_disks": [{"raid_level": "1", "size_gb": 10,
            "number_of_physical_disks": 3, "physical_disks": ["1I:1:1", "1I:1:2"]}]}));
        assert!(
            e.contains("number_of_physical_disks is 3 but physical_disks lists 2"),
            "{e}"
        );
    }
}
