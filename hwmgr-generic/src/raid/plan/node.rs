//! What the node says about booting: the boot mode and the partition table type (IPA
//! `utils.get_node_boot_mode` and `utils.get_partition_table_type_from_specs`).

use super::{BootMode, PartTable};
use serde_json::{Map, Value};

/// A value of a `capabilities` field: a dict, a JSON string, or `k:v,k2:v2`.
fn capability(caps: Option<&Value>, key: &str) -> Option<String> {
    let caps = caps?;
    let from_obj = |m: &Map<String, Value>| {
        m.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            o => o.to_string(),
        })
    };
    match caps {
        Value::Object(m) => from_obj(m),
        Value::String(s) => {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(s) {
                return from_obj(&m);
            }
            s.split(',').find_map(|kv| {
                let (k, v) = kv.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        }
        _ => None,
    }
}

fn node_path<'a>(node: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(node, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

/// IPA's `utils.get_node_boot_mode`: secure boot means UEFI; then the deploy boot mode, the
/// `boot_mode` capability, and what the ramdisk itself booted with.
pub fn node_boot_mode(node: &Value, ramdisk_uefi: bool) -> BootMode {
    let ii_caps = node_path(node, &["instance_info", "capabilities"]);
    let p_caps = node_path(node, &["properties", "capabilities"]);
    let secure = |c| capability(c, "secure_boot").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if secure(ii_caps) || secure(p_caps) {
        return BootMode::Uefi;
    }
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mode = s(node_path(node, &["instance_info", "deploy_boot_mode"]))
        .or_else(|| capability(p_caps, "boot_mode"))
        .or_else(|| {
            s(node_path(
                node,
                &["driver_internal_info", "deploy_boot_mode"],
            ))
        });
    match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("uefi") => BootMode::Uefi,
        Some("bios") => BootMode::Bios,
        _ if ramdisk_uefi => BootMode::Uefi,
        _ => BootMode::Bios,
    }
}

/// gpt for uefi; else the `disk_label` capability (instance_info over properties).
pub fn node_partition_table(node: &Value, boot: BootMode) -> PartTable {
    if boot == BootMode::Uefi {
        return PartTable::Gpt;
    }
    let label = capability(
        node_path(node, &["instance_info", "capabilities"]),
        "disk_label",
    )
    .or_else(|| {
        capability(
            node_path(node, &["properties", "capabilities"]),
            "disk_label",
        )
    });
    if label.as_deref() == Some("gpt") {
        PartTable::Gpt
    } else {
        PartTable::Msdos
    }
}
