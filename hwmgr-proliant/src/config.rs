//! The RAID configuration this manager accepts (proliantutils' schema, spec §2.1), checked
//! completely before anything runs. Every problem is collected, so an operator sees them
//! all at once. Keys outside the schema are logged and ignored rather than rejected: the
//! conductor has already validated what it sends, and a key copied from a previous result
//! (`root_device_hint`, `array`) should not fail a step.

use crate::model::{DiskType, Interface};
use serde_json::Value;

/// `size_gb`: whole GiB (GB is treated as GiB, spec §3.5), or all remaining space.
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

/// RAID levels a Smart Array builds, with their minimum drive counts (spec §5).
pub fn min_disks(level: &str) -> Option<usize> {
    Some(match level {
        "0" => 1,
        "1" => 2,
        "5" => 3,
        "6" | "1+0" | "10" => 4,
        "5+0" | "50" => 6,
        "6+0" | "60" => 8,
        _ => return None,
    })
}

const KNOWN_KEYS: [&str; 10] = [
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

/// A drive id goes into `drives=a,b,c`; anything but `port:box:bay` characters (a comma,
/// say) would change which drives the controller uses.
fn valid_drive_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == ':')
}

/// Validates the whole configuration. `Err` holds one message per problem.
pub fn validate(cfg: &Value) -> Result<Vec<LdRequest>, Vec<String>> {
    let mut errors = Vec::new();
    let Some(obj) = cfg.as_object() else {
        return Err(vec![format!(
            "the RAID configuration must be an object with 'logical_disks', got {}",
            short(cfg)
        )]);
    };
    for k in obj.keys().filter(|k| *k != "logical_disks") {
        tracing::warn!("RAID configuration: ignoring unknown top-level key '{k}'");
    }
    let lds = match obj.get("logical_disks") {
        None => return Err(vec!["'logical_disks' is a required property".into()]),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(vec![
                "'logical_disks' must list at least one logical disk".into()
            ])
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(vec![format!(
                "'logical_disks' must be a list, got {}",
                short(other)
            )])
        }
    };
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

fn validate_ld(i: usize, ld: &Value) -> Result<LdRequest, Vec<String>> {
    let n = i + 1;
    let mut errors = Vec::new();
    let Some(o) = ld.as_object() else {
        return Err(vec![format!(
            "logical disk #{n} must be an object, got {}",
            short(ld)
        )]);
    };
    for k in o.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        tracing::warn!("RAID configuration: logical disk #{n}: ignoring unknown key '{k}'");
    }
    let mut err = |m: String| errors.push(format!("logical disk #{n}: {m}"));

    let raid_level = match o.get("raid_level") {
        None => {
            err("'raid_level' is a required property".into());
            String::new()
        }
        Some(Value::String(s)) if min_disks(s).is_some() => s.clone(),
        Some(Value::String(s)) if s == "JBOD" || s == "2" => {
            err(format!(
                "raid_level '{s}' is not supported by HPE Smart Array controllers \
                 (use 0, 1, 5, 6, 1+0, 5+0 or 6+0)"
            ));
            String::new()
        }
        Some(v) => {
            err(format!(
                "raid_level {} is not one of \"0\", \"1\", \"5\", \"6\", \"1+0\", \"5+0\", \
                 \"6+0\" (\"10\", \"50\", \"60\" are accepted too)",
                short(v)
            ));
            String::new()
        }
    };
    let size = match o.get("size_gb") {
        None => {
            err("'size_gb' is a required property".into());
            Size::Max
        }
        Some(Value::String(s)) if s == "MAX" => Size::Max,
        Some(Value::Number(x)) if x.as_u64().is_some_and(|g| g > 0 && g < (1 << 40)) => {
            Size::Gb(x.as_u64().unwrap_or(1))
        }
        Some(v) => {
            err(format!(
                "size_gb {} must be a positive whole number of GiB or \"MAX\"",
                short(v)
            ));
            Size::Max
        }
    };
    let flag = |key: &str, errs: &mut Vec<String>| match o.get(key) {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(v) => {
            errs.push(format!(
                "logical disk #{n}: {key} must be true or false, got {}",
                short(v)
            ));
            false
        }
    };
    let mut more = Vec::new();
    let share = flag("share_physical_disks", &mut more);
    let _ = flag("is_root_volume", &mut more);
    errors.append(&mut more);
    let mut err = |m: String| errors.push(format!("logical disk #{n}: {m}"));

    let disk_type = match o.get("disk_type") {
        None => None,
        Some(Value::String(s)) if s == "hdd" => Some(DiskType::Hdd),
        Some(Value::String(s)) if s == "ssd" => Some(DiskType::Ssd),
        Some(v) => {
            err(format!("disk_type {} must be \"hdd\" or \"ssd\"", short(v)));
            None
        }
    };
    let interface_type = match o.get("interface_type") {
        None => None,
        Some(Value::String(s)) if s == "sas" => Some(Interface::Sas),
        Some(Value::String(s)) if s == "sata" => Some(Interface::Sata),
        Some(Value::String(s)) if s == "scsi" => Some(Interface::Scsi),
        Some(v) => {
            err(format!(
                "interface_type {} must be \"sas\", \"sata\" or \"scsi\"",
                short(v)
            ));
            None
        }
    };
    let number_of_physical_disks = match o.get("number_of_physical_disks") {
        None => None,
        Some(Value::Number(x)) if x.as_u64().is_some_and(|c| c > 0 && c <= 1024) => {
            x.as_u64().map(|c| c as usize)
        }
        Some(v) => {
            err(format!(
                "number_of_physical_disks {} must be a positive whole number",
                short(v)
            ));
            None
        }
    };
    let controller = match o.get("controller") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(v) => {
            err(format!("controller {} must be a controller name", short(v)));
            None
        }
    };
    let physical_disks = match o.get("physical_disks") {
        None => None,
        Some(Value::Array(a)) if !a.is_empty() => {
            let mut ids: Vec<String> = Vec::new();
            for d in a {
                match d.as_str() {
                    Some(s) if valid_drive_id(s) => {
                        if ids.iter().any(|x| x == s) {
                            err(format!("physical disk '{s}' is listed twice"));
                        }
                        ids.push(s.to_string());
                    }
                    _ => err(format!(
                        "physical_disks entry {} is not a drive id like \"1I:1:1\"",
                        short(d)
                    )),
                }
            }
            Some(ids)
        }
        Some(v) => {
            err(format!(
                "physical_disks {} must be a non-empty list of drive ids",
                short(v)
            ));
            None
        }
    };
    let volume_name = match o.get("volume_name") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            err(format!("volume_name {} must be a string", short(v)));
            None
        }
    };
    // Drive counts against the level's minimum; an explicit list must agree with an
    // explicit count (proliantutils checks only the count and lets the controller fail).
    if let Some(min) = min_disks(&raid_level) {
        let count = number_of_physical_disks.or(physical_disks.as_ref().map(Vec::len));
        if let Some(c) = count.filter(|c| *c < min) {
            err(format!(
                "RAID level {raid_level} requires at least {min} disks, {c} requested"
            ));
        }
        if let (Some(c), Some(list)) = (number_of_physical_disks, &physical_disks) {
            if c != list.len() {
                err(format!(
                    "number_of_physical_disks is {c} but physical_disks lists {}",
                    list.len()
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
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
    fn count_and_list_must_agree() {
        let e = errs(json!({"logical_disks": [{"raid_level": "1", "size_gb": 10,
            "number_of_physical_disks": 3, "physical_disks": ["1I:1:1", "1I:1:2"]}]}));
        assert!(
            e.contains("number_of_physical_disks is 3 but physical_disks lists 2"),
            "{e}"
        );
    }
}
