//! Device hints: the one home for root device hints and RAID `physical_disks` hints
//! (`skip_block_devices` too), with IPA's semantics.

use crate::device::{BlockDevice, GIB};

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
    use crate::sysfs::list_block_devices;
    use crate::test_support::{fake, names};
    use serde_json::json;
    use testkit::fake_machine::MIB;

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
