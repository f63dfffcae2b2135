//! The first section of planning: the request on its own, before any disk is looked at.
//! IPA's rules (`hardware.py: GenericHardwareManager.validate_configuration`), the schema
//! (`hwmgr::raid_config`), and the volume name rule; every problem is reported together.

use super::super::{raid_error, SkipList};
use crate::tools::mdadm::{ArrayName, Level};
use hwmgr::raid_config::RaidConfig;
use hwmgr::{ErrorKind, Result};
use serde_json::{Map, Value};

/// A request that passed every check that does not need the disks.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub node_uuid: String,
    pub skip: SkipList,
    pub config: RaidConfig,
    /// Per logical disk: its mdadm level, and its validated `volume_name`.
    pub levels: Vec<Level>,
    pub names: Vec<Option<ArrayName>>,
    /// The input `logical_disks`, as given (the step's result echoes them).
    pub raw: Vec<Map<String, Value>>,
    /// Schema warnings (unknown properties).
    pub notes: Vec<String>,
}

impl Request {
    /// The error for problems found while planning: IPA's wording, every problem listed.
    pub fn refusal(&self, problems: &[String]) -> hwmgr::AgentError {
        refusal(&self.node_uuid, problems)
    }
}

fn refusal(uuid: &str, problems: &[String]) -> hwmgr::AgentError {
    raid_error(format!(
        "Could not validate Software RAID config for {uuid}: {}",
        problems.join("; ")
    ))
}

/// Checks `raid_config` for `node` without looking at the disks.
pub(crate) fn validate(node: &Value, raid_config: &Value) -> Result<Request> {
    let uuid = node
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or("<unknown node>");
    if RaidConfig::is_empty_value(raid_config) {
        return Err(raid_error(format!(
            "The RAID configuration for node {uuid} is empty, so there is nothing to create. Set \
             one first, e.g. `baremetal node set {uuid} --target-raid-config \
             '{{\"logical_disks\": [{{\"size_gb\": \"MAX\", \"raid_level\": \"1\", \"controller\": \"software\"}}]}}'`"
        )));
    }
    let skip = SkipList::from_node(node, ErrorKind::SoftwareRAIDError)?;
    let raw: Vec<Map<String, Value>> = raid_config
        .get("logical_disks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_object().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    let parsed = RaidConfig::parse(raid_config);
    if let Err(e) = &parsed {
        problems.extend(e.errors.iter().cloned());
    }
    ipa_rules(&raw, &skip, &mut problems);
    let names = volume_names(&raw, &mut problems);
    let config = match parsed {
        Ok(c) if problems.is_empty() => c,
        // The disk checks assume a well-formed config: report what we have.
        _ => return Err(refusal(uuid, &problems)),
    };
    // ipa_rules admitted only levels mdadm builds.
    let levels: Vec<Level> = config
        .logical_disks
        .iter()
        .filter_map(|ld| Level::of(ld.raid_level))
        .collect();
    if levels.len() != config.logical_disks.len() {
        return Err(refusal(
            uuid,
            &["a RAID level software RAID cannot build".into()],
        ));
    }
    Ok(Request {
        node_uuid: uuid.to_string(),
        skip,
        notes: config.warnings.clone(),
        config,
        levels,
        names,
        raw,
    })
}

/// Every `volume_name` must be a valid array name ([`ArrayName`]): it becomes mdadm's
/// `--name` and the `/dev/md/<name>` link. Checked here, so a bad name is refused before
/// anything is written (mdadm itself would refuse it only after the disks were
/// partitioned).
fn volume_names(lds: &[Map<String, Value>], p: &mut Vec<String>) -> Vec<Option<ArrayName>> {
    lds.iter()
        .enumerate()
        .map(|(i, ld)| {
            let name = ld.get("volume_name")?.as_str()?;
            ArrayName::new(name)
                .map_err(|e| p.push(format!("logical_disks[{i}].volume_name: {e}")))
                .ok()
        })
        .collect()
}

/// IPA's rules on the raw logical disks. Problems are pushed to `p`.
fn ipa_rules(lds: &[Map<String, Value>], skip: &SkipList, p: &mut Vec<String>) {
    if lds.is_empty() || lds.len() > 2 {
        p.push(format!(
            "Software RAID configuration requires one or two logical disks, got {}",
            lds.len()
        ));
    }
    for (i, ld) in lds.iter().enumerate() {
        controller_and_hints(i, ld, p);
    }
    unique_names_and_root(lds, skip, p);
    if let Some(first) = lds.first() {
        let lvl = first.get("raid_level").and_then(Value::as_str);
        if lvl != Some("1") {
            p.push(format!(
                "the first logical disk must be RAID-1 (it holds the root file system), got RAID {}",
                lvl.unwrap_or("none")
            ));
        }
    }
    if lds.len() == 2 {
        let max = |l: &Map<String, Value>| l.get("size_gb").and_then(Value::as_str) == Some("MAX");
        if max(&lds[0]) && max(&lds[1]) {
            p.push("only one logical disk may have size_gb MAX".into());
        }
        // hardware.py: SUPPORTED_SOFTWARE_RAID_LEVELS
        let lvl = lds[1].get("raid_level").and_then(Value::as_str);
        if !matches!(lvl, Some("0" | "1" | "1+0" | "5" | "6")) {
            p.push(format!(
                "the second logical disk's RAID level must be one of 0, 1, 1+0, 5, 6, got {}",
                lvl.unwrap_or("none")
            ));
        }
    }
}

fn controller_and_hints(i: usize, ld: &Map<String, Value>, p: &mut Vec<String>) {
    if ld.get("controller").and_then(Value::as_str) != Some("software") {
        p.push(format!(
            "logical_disks[{i}]: software RAID needs \"controller\": \"software\" (got {})",
            ld.get("controller")
                .map(|v| v.to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    if let Some(pd) = ld.get("physical_disks") {
        let ok = pd
            .as_array()
            .is_some_and(|a| a.len() >= 2 && a.iter().all(Value::is_object));
        if !ok {
            p.push(format!(
                "logical_disks[{i}]: physical_disks must be a list of at least two device-hint objects, got {pd}"
            ));
        }
    }
}

fn unique_names_and_root(lds: &[Map<String, Value>], skip: &SkipList, p: &mut Vec<String>) {
    let mut names: Vec<&str> = Vec::new();
    for (i, ld) in lds.iter().enumerate() {
        match ld.get("volume_name").and_then(Value::as_str) {
            Some(n) if names.contains(&n) => p.push(format!("duplicate volume_name {n:?}")),
            Some(n) => names.push(n),
            None if !skip.volume_names.is_empty() => p.push(format!(
                "logical_disks[{i}] has no volume_name, which is required when skip_block_devices lists volume names"
            )),
            None => {}
        }
    }
    let roots = lds
        .iter()
        .filter(|l| l.get("is_root_volume") == Some(&Value::Bool(true)))
        .count();
    if roots > 1 {
        p.push(format!(
            "only one logical disk may be the root volume, {roots} are"
        ));
    }
}
