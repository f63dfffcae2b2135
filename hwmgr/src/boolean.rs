//! The one boolean parser: `oslo_utils.strutils.bool_from_string`, which IPA uses for node
//! options and device hints (`ironic_python_agent/device_hints.py: parse_root_device_hints`
//! calls it with `strict=True`; `ironic_python_agent/cmd/agent.py` with the lenient
//! default for `ipa-debug`).
//!
//! [`parse`] answers `None` for anything oslo would not recognise; the caller picks oslo's
//! `strict=True` (refuse, see [`strict_arg`]) or `strict=False, default=d` (`.unwrap_or(d)`).
//!
//! # Where we differ from IPA
//!
//! IPA hands step arguments such as `delete_existing` to the Python method as the conductor
//! sent them and tests their truthiness, so the string `"false"` means *true* there (and
//! deletes the existing RAID configuration). We read step arguments with
//! [`strict_arg`]: `"false"` means false and an unrecognised value is refused before
//! anything changes. A JSON `null` counts as "not given" (the method's default).

use crate::error::{AgentError, ErrorKind, Result};
use serde_json::{Map, Value};

/// oslo's `TRUE_STRINGS`.
pub const TRUE_STRINGS: [&str; 6] = ["1", "t", "true", "on", "y", "yes"];
/// oslo's `FALSE_STRINGS`.
pub const FALSE_STRINGS: [&str; 6] = ["0", "f", "false", "off", "n", "no"];

/// A string as oslo reads it: trimmed, case-insensitive, one of the true or false strings.
pub fn parse_str(s: &str) -> Option<bool> {
    let lowered = s.trim().to_lowercase();
    if TRUE_STRINGS.contains(&lowered.as_str()) {
        Some(true)
    } else if FALSE_STRINGS.contains(&lowered.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// A JSON value as oslo reads the decoded Python object: a boolean is itself; anything
/// else goes through `str()` first, so the number `1` is true and `0` false, while `1.0`,
/// `null` (`"None"`), lists and objects are not recognised.
pub fn parse(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_str(s),
        Value::Number(n) => parse_str(&n.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The values oslo accepts, for error messages.
pub fn accepted() -> String {
    let mut all: Vec<&str> = TRUE_STRINGS.iter().chain(&FALSE_STRINGS).copied().collect();
    all.sort_unstable();
    format!("true, false or one of the strings {}", all.join(", "))
}

/// A boolean step argument: absent or `null` gives `default`; otherwise oslo's strict
/// reading, and an `InvalidCommandParamsError` naming the argument for anything else.
pub fn strict_arg(args: &Map<String, Value>, name: &str, default: bool) -> Result<bool> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => parse(v).ok_or_else(|| {
            AgentError::new(
                ErrorKind::InvalidCommandParamsError,
                format!(
                    "the argument {name} must be a boolean ({}), got {v}.",
                    accepted()
                ),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// oslo_utils' own truth table (`oslo_utils/tests/test_strutils.py`), as JSON values.
    #[test]
    fn oslo_truth_table() {
        let truthy = [
            json!(true),
            json!("true"),
            json!("TRUE"),
            json!("True"),
            json!("t"),
            json!("T"),
            json!("on"),
            json!("ON"),
            json!("y"),
            json!("Y"),
            json!("yes"),
            json!("YES"),
            json!("1"),
            json!(1),
            json!("  yes  "),
            json!("\ttrue\n"),
        ];
        for v in truthy {
            assert_eq!(parse(&v), Some(true), "{v}");
        }
        let falsy = [
            json!(false),
            json!("false"),
            json!("FALSE"),
            json!("f"),
            json!("F"),
            json!("off"),
            json!("OFF"),
            json!("n"),
            json!("N"),
            json!("no"),
            json!("NO"),
            json!("0"),
            json!(0),
            json!(" no "),
        ];
        for v in falsy {
            assert_eq!(parse(&v), Some(false), "{v}");
        }
        // Unrecognised: oslo raises with strict=True and returns `default` otherwise.
        let unknown = [
            json!(null),
            json!(""),
            json!("  "),
            json!("fake"),
            json!("yess"),
            json!("2"),
            json!(2),
            json!(-1),
            json!(1.0),
            json!(0.0),
            json!([]),
            json!([true]),
            json!({}),
            json!("None"),
            json!("42"),
            json!("This should not be True"),
            json!("使用"),
            // oslo's font-similarity cases: none of these is a zero or a one.
            json!("O"),
            json!("o"),
            json!("L"),
            json!("l"),
            json!("I"),
            json!("i"),
        ];
        for v in unknown {
            assert_eq!(parse(&v), None, "{v}");
        }
    }

    #[test]
    fn strict_arguments_default_and_refuse() {
        let args = |v: Value| v.as_object().cloned().unwrap();
        assert!(strict_arg(&args(json!({})), "delete_existing", true).unwrap());
        assert!(!strict_arg(&args(json!({})), "x", false).unwrap());
        assert!(strict_arg(
            &args(json!({"delete_existing": null})),
            "delete_existing",
            true
        )
        .unwrap());
        assert!(!strict_arg(
            &args(json!({"delete_existing": "False"})),
            "delete_existing",
            true
        )
        .unwrap());
        assert!(!strict_arg(
            &args(json!({"delete_existing": 0})),
            "delete_existing",
            true
        )
        .unwrap());
        assert!(strict_arg(
            &args(json!({"delete_existing": "on"})),
            "delete_existing",
            false
        )
        .unwrap());
        let e = strict_arg(
            &args(json!({"delete_existing": "maybe"})),
            "delete_existing",
            true,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
        assert!(e.details.contains("delete_existing"), "{}", e.details);
        assert!(e.details.contains("\"maybe\""), "{}", e.details);
        assert!(e.details.ends_with("got \"maybe\"."), "{}", e.details);
    }
}
