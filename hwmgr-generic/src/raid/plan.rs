//! Validation and planning: everything about a software RAID creation is decided here,
//! before any command runs. See the module docs of [`crate::raid`] for the rules.

use super::{base, partition_name, raid_error, DeviceSource, LiveDevices, SkipList};
use crate::Machine;
use hwmgr::blockdev::{find_by_name, DeviceHints, GIB};
use hwmgr::raid_config::{LogicalDisk, PhysicalDisks, RaidConfig, RaidLevel, SizeGb};
use hwmgr::{BlockDevice, DevType, ErrorKind, Result};
use serde_json::{Map, Value};
use std::fmt;

const MIB: u64 = 1 << 20;
/// The smallest partition we will make an array member of.
pub const MIN_MEMBER_BYTES: u64 = 16 * MIB;
/// What `sgdisk -F` answers on a fresh msdos label; only used to check sizes when planning.
pub const ASSUMED_MSDOS_FIRST_SECTOR: u64 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    Uefi,
    Bios,
}

impl BootMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::Uefi => "uefi",
            BootMode::Bios => "bios",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartTable {
    Gpt,
    Msdos,
}

impl PartTable {
    pub fn as_str(self) -> &'static str {
        match self {
            PartTable::Gpt => "gpt",
            PartTable::Msdos => "msdos",
        }
    }
}

/// A partition's start as given to parted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Mib(u64),
    Gib(u64),
    /// The first usable sector, read with `sgdisk -F` after the msdos label is written.
    FirstFree,
}

/// A partition's end: an absolute GiB offset or the end of the disk (`-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Gib(u64),
    Last,
}

impl End {
    pub fn arg(&self) -> String {
        match self {
            End::Gib(n) => format!("{n}GiB"),
            End::Last => "-1".into(),
        }
    }
}

impl Start {
    /// The parted argument; `first_free` is the `sgdisk -F` answer for msdos.
    pub fn arg(&self, first_free: Option<&str>) -> String {
        match self {
            Start::Mib(n) => format!("{n}MiB"),
            Start::Gib(n) => format!("{n}GiB"),
            Start::FirstFree => format!("{}s", first_free.unwrap_or("<sgdisk -F>")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// `/dev/sda1`
    pub device: String,
    pub number: u32,
    pub start: Start,
    pub end: End,
    /// Expected size in bytes (for msdos, with the assumed first sector).
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDisk {
    pub name: String,
    pub size: u64,
    pub partitions: Vec<PlannedPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedArray {
    /// Index in the input `logical_disks`.
    pub logical_disk: usize,
    /// `/dev/md/root` or `/dev/md0`.
    pub device: String,
    /// `--name`
    pub name: String,
    pub level: RaidLevel,
    /// `/dev/sda1`, ...
    pub members: Vec<String>,
    /// The member disks, in selection order.
    pub disks: Vec<String>,
}

impl PlannedArray {
    /// mdadm's level argument (`1+0` is `10`).
    pub fn mdadm_level(&self) -> &'static str {
        match self.level {
            RaidLevel::Raid10 => "10",
            l => l.as_str(),
        }
    }
}

/// A logical disk satisfied by an existing array kept through `skip_block_devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptArray {
    pub logical_disk: usize,
    pub device: String,
    pub name: String,
    pub disks: Vec<String>,
}

/// One step of the execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Label { disk: String },
    FirstFree { disk: String },
    Mkpart { disk: String, part: usize },
    Rescan { disk: String },
    Create { array: usize },
}

/// A checked creation plan: what will be written, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub node_uuid: String,
    pub boot_mode: BootMode,
    pub table: PartTable,
    pub disks: Vec<PlannedDisk>,
    pub arrays: Vec<PlannedArray>,
    pub kept: Vec<KeptArray>,
    pub actions: Vec<Action>,
    /// Things an operator should know (disks left out, schema warnings).
    pub notes: Vec<String>,
    /// The input `logical_disks`, as given.
    pub logical_disks: Vec<Map<String, Value>>,
}

impl Plan {
    pub fn disk(&self, name: &str) -> Option<&PlannedDisk> {
        self.disks.iter().find(|d| d.name == name)
    }

    /// The argv of an action with machine device names; `first_free` is the `sgdisk -F`
    /// answer for the disk (msdos).
    pub fn action_argv(&self, a: &Action, first_free: Option<&str>) -> Vec<Vec<String>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        match a {
            Action::Label { disk } => vec![s(&[
                "parted",
                disk,
                "-s",
                "--",
                "mklabel",
                self.table.as_str(),
            ])],
            Action::FirstFree { disk } => vec![s(&["sgdisk", "-F", disk])],
            Action::Mkpart { disk, part } => {
                let p = &self.disk(disk).expect("planned disk").partitions[*part];
                vec![s(&[
                    "parted",
                    disk,
                    "-s",
                    "-a",
                    "optimal",
                    "--",
                    "mkpart",
                    "primary",
                    &p.start.arg(first_free),
                    &p.end.arg(),
                ])]
            }
            Action::Rescan { disk } => vec![s(&["partx", "-av", disk]), s(&["udevadm", "settle"])],
            Action::Create { array } => {
                let a = &self.arrays[*array];
                let n = a.members.len().to_string();
                let mut v = s(&[
                    "mdadm",
                    "--create",
                    &a.device,
                    "--force",
                    "--run",
                    "--metadata=1.2",
                    "--level",
                    a.mdadm_level(),
                    "--name",
                    &a.name,
                    "--raid-devices",
                    &n,
                ]);
                v.extend(a.members.iter().cloned());
                vec![v, s(&["mdadm", "--detail", &a.device])]
            }
        }
    }

    /// Every command the plan runs, as display lines (re-adds only happen when needed).
    pub fn command_lines(&self) -> Vec<String> {
        self.actions
            .iter()
            .flat_map(|a| self.action_argv(a, None))
            .map(|argv| argv.join(" "))
            .collect()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Software RAID plan for node {}: OK ({} array(s) to create, {} kept)",
            self.node_uuid,
            self.arrays.len(),
            self.kept.len()
        )?;
        writeln!(
            f,
            "boot mode {}, partition table {}",
            self.boot_mode.as_str(),
            self.table.as_str()
        )?;
        for a in &self.arrays {
            writeln!(
                f,
                "array {} (name {}, RAID {}, logical_disks[{}]): {}",
                a.device,
                a.name,
                a.level,
                a.logical_disk,
                a.members.join(" ")
            )?;
        }
        for k in &self.kept {
            writeln!(
                f,
                "array {} (name {}, logical_disks[{}]) exists and is kept (skip_block_devices)",
                k.device, k.name, k.logical_disk
            )?;
        }
        for d in &self.disks {
            for p in &d.partitions {
                writeln!(
                    f,
                    "partition {} on {}: {} .. {} (~{} MiB)",
                    p.device,
                    d.name,
                    p.start.arg(None),
                    p.end.arg(),
                    p.size / MIB
                )?;
            }
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        writeln!(f, "commands:")?;
        for l in self.command_lines() {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

/// What the planner knows about the machine.
#[derive(Debug, Clone, Default)]
pub struct PlanEnv {
    /// Disks (with their `partitions` and `holders` filled).
    pub devices: Vec<BlockDevice>,
    /// Existing md arrays, with their names when known.
    pub md_arrays: Vec<BlockDevice>,
    pub ramdisk_uefi: bool,
}

impl PlanEnv {
    pub fn from_source(src: &dyn DeviceSource) -> PlanEnv {
        PlanEnv {
            devices: src.block_devices(false),
            md_arrays: src.md_arrays(),
            ramdisk_uefi: src.ramdisk_is_uefi(),
        }
    }
}

/// Plans creation on the live machine (reads sysfs; runs no command).
pub fn plan_create(m: &Machine, node: &Value, raid_config: &Value) -> Result<Plan> {
    plan_create_with(
        &PlanEnv::from_source(&LiveDevices(&m.host)),
        node,
        raid_config,
    )
}

/// Plans creation against a given view of the disks.
pub fn plan_create_with(env: &PlanEnv, node: &Value, raid_config: &Value) -> Result<Plan> {
    plan_inner(env, node, raid_config, true)
}

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

/// IPA's `get_node_boot_mode` (9.2 step 6).
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

/// The fewest members an array of `level` can be built with. RAID-0 and RAID-1 with one
/// member are what IPA builds (with `mdadm --force`) on a one-disk machine, so they are
/// accepted (with a note in the plan); 5, 6 and 1+0 need their real minimum.
fn min_members(level: RaidLevel) -> usize {
    match level {
        RaidLevel::Raid0 | RaidLevel::Raid1 => 1,
        RaidLevel::Raid5 => 3,
        RaidLevel::Raid6 | RaidLevel::Raid10 => 4,
        _ => 2,
    }
}

/// `/dev/md/<name>` for a plain volume name.
fn plain_md_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 32
        && !v.starts_with(['-', '.'])
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn gpt_backup_bytes(sector: u64) -> u64 {
    let ss = sector.max(512);
    ss + 16384u64.div_ceil(ss) * ss
}

/// The array's name as the machine knows it (sysfs/udev); mdadm --detail is not run here.
fn md_display_name(md: &BlockDevice) -> Option<&str> {
    md.md_name.as_deref()
}

/// IPA's rules (9.1) on the raw logical disks. Problems are pushed to `p`.
fn ipa_rules(raw: &[Value], skip: &SkipList, p: &mut Vec<String>) {
    let obj = |v: &Value| v.as_object().cloned().unwrap_or_default();
    let lds: Vec<Map<String, Value>> = raw.iter().map(obj).collect();
    if lds.is_empty() || lds.len() > 2 {
        p.push(format!(
            "Software RAID configuration requires one or two logical disks, got {}",
            lds.len()
        ));
    }
    for (i, ld) in lds.iter().enumerate() {
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
        let lvl = lds[1].get("raid_level").and_then(Value::as_str);
        if !matches!(lvl, Some("0" | "1" | "1+0" | "5" | "6")) {
            p.push(format!(
                "the second logical disk's RAID level must be one of 0, 1, 1+0, 5, 6, got {}",
                lvl.unwrap_or("none")
            ));
        }
    }
}

pub(crate) fn plan_inner(
    env: &PlanEnv,
    node: &Value,
    raid_config: &Value,
    check_existing: bool,
) -> Result<Plan> {
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
    let mut problems: Vec<String> = Vec::new();
    let parsed = RaidConfig::parse(raid_config);
    let mut notes = Vec::new();
    let config = match parsed {
        Ok(c) => {
            notes.extend(c.warnings.iter().cloned());
            Some(c)
        }
        Err(e) => {
            problems.extend(e.errors);
            None
        }
    };
    let raw: Vec<Value> = raid_config
        .get("logical_disks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ipa_rules(&raw, &skip, &mut problems);
    let fail = |problems: Vec<String>| {
        raid_error(format!(
            "Could not validate Software RAID config for {uuid}: {}",
            problems.join("; ")
        ))
    };
    let Some(config) = config else {
        return Err(fail(problems));
    };
    if !problems.is_empty() {
        // The disk checks below assume a well-formed config; report what we have.
        return Err(fail(problems));
    }

    let boot_mode = node_boot_mode(node, env.ramdisk_uefi);
    let table = node_partition_table(node, boot_mode);

    // Existing arrays kept through the skip list satisfy their logical disks.
    let mut kept = Vec::new();
    let mut kept_disks: Vec<String> = Vec::new();
    for md in &env.md_arrays {
        let name = md_display_name(md);
        let member_disks: Vec<String> = md
            .slaves
            .iter()
            .map(|s| parent_disk(&env.devices, s))
            .collect();
        if skip.keeps_volume(name) {
            if let Some(i) = config
                .logical_disks
                .iter()
                .position(|l| l.volume_name.as_deref() == name)
            {
                kept.push(KeptArray {
                    logical_disk: i,
                    device: md.name.clone(),
                    name: name.unwrap_or_default().to_string(),
                    disks: member_disks.clone(),
                });
            }
            kept_disks.extend(member_disks);
            continue;
        }
        if check_existing && !skip.volume_names.is_empty() {
            problems.push(format!(
                "Existing Software RAID device detected that should not: {} ({}) is not in skip_block_devices; run delete_configuration first",
                md.name,
                name.unwrap_or("no name")
            ));
        }
    }

    let candidates: Vec<&BlockDevice> = env
        .devices
        .iter()
        .filter(|d| d.dev_type == DevType::Disk)
        .collect();
    let auto: Vec<&BlockDevice> = candidates
        .iter()
        .copied()
        .filter(|d| {
            if d.read_only {
                notes.push(format!("{} is read-only and is not used", d.name));
                false
            } else if skip.skips_disk(d, &env.devices) {
                notes.push(format!(
                    "{} is in skip_block_devices and is not used",
                    d.name
                ));
                false
            } else {
                true
            }
        })
        .collect();

    // Member selection (9.2 step 4), in input order.
    let mut selected: Vec<Vec<&BlockDevice>> = Vec::new();
    for (i, ld) in config.logical_disks.iter().enumerate() {
        let mut chosen: Vec<&BlockDevice> = Vec::new();
        match &ld.physical_disks {
            Some(PhysicalDisks::Hints(hints)) => {
                for (j, h) in hints.iter().enumerate() {
                    let hv = Value::Object(h.clone());
                    let parsed = match DeviceHints::parse(&hv) {
                        Ok(p) => p,
                        Err(e) => {
                            problems.push(format!("logical_disks[{i}].physical_disks[{j}]: {e}"));
                            continue;
                        }
                    };
                    let hit = candidates
                        .iter()
                        .copied()
                        .find(|d| parsed.matches(d) && !chosen.iter().any(|c| c.name == d.name));
                    match hit {
                        None => problems.push(format!(
                            "logical_disks[{i}].physical_disks[{j}] {hv} matches no disk (not already chosen for this logical disk)"
                        )),
                        Some(d) if d.read_only => problems.push(format!(
                            "logical_disks[{i}].physical_disks[{j}] {hv} selects {}, which is read-only",
                            d.name
                        )),
                        Some(d) if skip.skips_disk(d, &env.devices) => problems.push(format!(
                            "logical_disks[{i}].physical_disks[{j}] {hv} selects {}, which is in skip_block_devices",
                            d.name
                        )),
                        Some(d) => chosen.push(d),
                    }
                }
            }
            _ => chosen = auto.clone(),
        }
        selected.push(chosen);
    }

    let is_kept = |i: usize| kept.iter().any(|k| k.logical_disk == i);
    // Holder disks: union of the members of arrays to create, first-seen order.
    let mut holders: Vec<&BlockDevice> = Vec::new();
    for (i, s) in selected.iter().enumerate() {
        if is_kept(i) {
            continue;
        }
        let ld = &config.logical_disks[i];
        let need = min_members(ld.raid_level);
        if s.len() < need {
            problems.push(format!(
                "logical_disks[{i}] (RAID {}) needs at least {need} {}, gets {}{}",
                ld.raid_level,
                if need == 1 { "disk" } else { "disks" },
                s.len(),
                if s.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        s.iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        }
        if s.len() == 1 && need == 1 {
            notes.push(format!(
                "logical_disks[{i}] (RAID {}) gets a single disk, {}: it is built as IPA does, with no redundancy",
                ld.raid_level, s[0].name
            ));
        }
        if ld.size_gb == SizeGb::Gib(0) {
            problems.push(format!("logical_disks[{i}]: size_gb 0 cannot be built"));
        }
        for d in s {
            if !holders.iter().any(|h| h.name == d.name) {
                holders.push(d);
            }
        }
    }
    for h in &holders {
        if kept_disks.contains(&h.name) {
            problems.push(format!(
                "{} holds the kept array(s) {}; adding new arrays next to a kept one is not supported",
                h.name,
                kept.iter().map(|k| k.device.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if check_existing {
        let parted: Vec<&str> = holders
            .iter()
            .filter(|d| !d.partitions.is_empty() && !kept_disks.contains(&d.name))
            .map(|d| d.name.as_str())
            .collect();
        if !parted.is_empty() {
            problems.push(format!(
                "Partitions detected on devices {} during RAID config; run raid.delete_configuration or deploy.erase_devices_metadata first",
                parted.join(", ")
            ));
        }
        for d in &holders {
            if !d.holders.is_empty() {
                problems.push(format!(
                    "{} is in use by {}; run raid.delete_configuration first",
                    d.name,
                    d.holders.join(", ")
                ));
            }
        }
    }

    // Creation order: MAX last (9.2 step 8), stable otherwise.
    let mut order: Vec<usize> = (0..config.logical_disks.len())
        .filter(|i| !is_kept(*i))
        .collect();
    order.sort_by_key(|i| config.logical_disks[*i].size_gb.is_max());

    // Array device names.
    let mut arrays: Vec<PlannedArray> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let ld: &LogicalDisk = &config.logical_disks[i];
        let name = ld.volume_name.clone().unwrap_or_else(|| format!("md{k}"));
        let device = match &ld.volume_name {
            Some(v) if plain_md_name(v) => format!("/dev/md/{v}"),
            _ => format!("/dev/md{k}"),
        };
        if check_existing {
            if let Some(md) = env
                .md_arrays
                .iter()
                .find(|m| m.name == device || md_display_name(m) == Some(name.as_str()))
            {
                problems.push(format!(
                    "an md array {} named {:?} already exists; run raid.delete_configuration first",
                    md.name,
                    md_display_name(md).unwrap_or(&name)
                ));
            }
        }
        arrays.push(PlannedArray {
            logical_disk: i,
            device,
            name,
            level: ld.raid_level,
            members: Vec::new(),
            disks: selected[i].iter().map(|d| d.name.clone()).collect(),
        });
    }

    // Partition layout per holder disk.
    let first_start_bytes = |d: &BlockDevice| match (boot_mode, table) {
        (BootMode::Uefi, _) => 551 * MIB,
        (BootMode::Bios, PartTable::Gpt) => 8 * MIB,
        (BootMode::Bios, PartTable::Msdos) => {
            ASSUMED_MSDOS_FIRST_SECTOR * d.logical_sectors.max(512)
        }
    };
    let first_start = match (boot_mode, table) {
        (BootMode::Uefi, _) => Start::Mib(551),
        (BootMode::Bios, PartTable::Gpt) => Start::Mib(8),
        (BootMode::Bios, PartTable::Msdos) => Start::FirstFree,
    };
    let mut disks: Vec<PlannedDisk> = holders
        .iter()
        .map(|d| PlannedDisk {
            name: d.name.clone(),
            size: d.size,
            partitions: Vec::new(),
        })
        .collect();
    let mut actions = Vec::new();
    for d in &disks {
        actions.push(Action::Label {
            disk: d.name.clone(),
        });
        if first_start == Start::FirstFree {
            actions.push(Action::FirstFree {
                disk: d.name.clone(),
            });
        }
    }
    let mut used_gib: Vec<u64> = vec![0; disks.len()];
    let mut has_max: Vec<bool> = vec![false; disks.len()];
    for arr in arrays.iter_mut() {
        let ld = &config.logical_disks[arr.logical_disk];
        for dname in arr.disks.clone() {
            let Some(di) = disks.iter().position(|d| d.name == dname) else {
                continue;
            };
            let dev = holders[di];
            let ss = dev.logical_sectors.max(512);
            let usable_end = match table {
                PartTable::Gpt => dev.size.saturating_sub(gpt_backup_bytes(ss)),
                PartTable::Msdos => dev.size,
            };
            let pd = &mut disks[di];
            let first = pd.partitions.is_empty();
            let (start, start_bytes) = if first {
                (first_start.clone(), first_start_bytes(dev))
            } else {
                (Start::Gib(used_gib[di]), used_gib[di].saturating_mul(GIB))
            };
            let (end, end_bytes) = match ld.size_gb {
                SizeGb::Max => {
                    if has_max[di] {
                        problems.push(format!(
                            "{dname}: more than one logical disk with size_gb MAX"
                        ));
                    }
                    has_max[di] = true;
                    (End::Last, usable_end)
                }
                SizeGb::Gib(n) => {
                    let e = used_gib[di].saturating_add(n);
                    used_gib[di] = e;
                    (End::Gib(e), e.saturating_mul(GIB))
                }
            };
            if end_bytes > usable_end {
                problems.push(format!(
                    "logical_disks[{}] ({}) does not fit on {dname}: its partition would end at {} GiB but the disk has {:.2} MiB usable",
                    arr.logical_disk,
                    ld.size_gb,
                    end_bytes / GIB,
                    usable_end as f64 / MIB as f64
                ));
            } else if ld.size_gb != SizeGb::Gib(0)
                && end_bytes < start_bytes.saturating_add(MIN_MEMBER_BYTES)
            {
                problems.push(format!(
                    "logical_disks[{}] ({}) leaves less than {} MiB for its partition on {dname} (from {} to {})",
                    arr.logical_disk,
                    ld.size_gb,
                    MIN_MEMBER_BYTES / MIB,
                    start.arg(Some(&ASSUMED_MSDOS_FIRST_SECTOR.to_string())),
                    end.arg()
                ));
            }
            if table == PartTable::Msdos && end_bytes / ss > u64::from(u32::MAX) {
                problems.push(format!(
                    "{dname}: an msdos partition table cannot address beyond 2 TiB (logical_disks[{}]); use disk_label:gpt",
                    arr.logical_disk
                ));
            }
            let number = pd.partitions.len() as u32 + 1;
            let device = format!("/dev/{}", partition_name(base(&dname), number));
            pd.partitions.push(PlannedPartition {
                device: device.clone(),
                number,
                start,
                end,
                size: end_bytes.saturating_sub(start_bytes),
            });
            actions.push(Action::Mkpart {
                disk: dname.clone(),
                part: number as usize - 1,
            });
            actions.push(Action::Rescan {
                disk: dname.clone(),
            });
            arr.members.push(device);
        }
    }
    for i in 0..arrays.len() {
        actions.push(Action::Create { array: i });
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(Plan {
        node_uuid: uuid.to_string(),
        boot_mode,
        table,
        disks,
        arrays,
        kept,
        actions,
        notes,
        logical_disks: raw
            .iter()
            .map(|v| v.as_object().cloned().unwrap_or_default())
            .collect(),
    })
}

/// The disk a member device belongs to (`/dev/sda1` → `/dev/sda`), from the device list,
/// else by the naming rule; a whole-disk member is its own disk.
pub(crate) fn parent_disk(devices: &[BlockDevice], member: &str) -> String {
    if let Some(d) = find_by_name(devices, member) {
        if d.dev_type == DevType::Disk {
            return d.name.clone();
        }
    }
    for d in devices.iter().filter(|d| d.dev_type == DevType::Disk) {
        if d.partitions.iter().any(|p| p == member)
            || super::partition_number_of(&d.name, member).is_some()
        {
            return d.name.clone();
        }
    }
    member.to_string()
}
