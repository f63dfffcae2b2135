//! The software RAID root volume: which md array a whole-disk image is written to when the
//! node's `target_raid_config` built software RAID (IPA `hardware.py:
//! GenericHardwareManager.get_os_install_device`, `_raid_root_device_mapping`).
//!
//! The rule: the logical disk with `is_root_volume: true` wins over root device hints (as
//! IPA); without one, root device hints decide (as IPA); without hints, the first RAID-1
//! logical disk not marked `is_root_volume: false` (IPA's validation makes the first
//! logical disk RAID-1, and its size rule usually lands on it because md arrays are smaller
//! than their disks). No such logical disk: the ordinary rule of [`super::target`].
//!
//! Where we differ from IPA, and why:
//! * **The array is found by name, not by memory.** IPA remembers the root array only in the
//!   agent process that created it, so after the ramdisk reboots between cleaning and
//!   deployment (the normal case) `is_root_volume` is forgotten and its size rule may pick
//!   a bare disk, destroying an array member. We look the array up by the name the RAID
//!   planner gave it ([`crate::raid::plan::planned_array`]: `volume_name`, else `md<k>`),
//!   assembling arrays first when needed; an array that is not there is an error, never a
//!   fallback to a disk.
//! * **No 4 GiB floor** for the RAID root (IPA's size rule skips arrays under 4 GiB).
//! * **A root volume that is not RAID-1 is refused** before anything is written: UEFI
//!   firmware reads each holder's ESP as a plain disk, and only a mirror lets any one
//!   holder carry the whole instance.

use crate::raid::plan::planned_array;
use crate::raid::raid_error;
use crate::tools::mdadm::ArrayName;
use crate::tools::{mdadm, DevPath};
use crate::Machine;
use blockdev::BlockDevice;
use hwmgr::raid_config::{RaidConfig, RaidLevel};
use hwmgr::{AgentError, ErrorKind, Result};
use serde_json::Value;

/// The logical disk that holds the root, and the array name it was created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootChoice {
    pub logical_disk: usize,
    pub name: ArrayName,
    /// Marked `is_root_volume: true` (else picked as the first RAID-1).
    pub marked: bool,
}

/// The root volume the node's `target_raid_config` asks for, if software RAID decides the
/// root at all. Pure: reads only the node.
pub fn choose(node: &Value) -> Result<Option<RootChoice>> {
    let Some(value) = node
        .get("target_raid_config")
        .filter(|v| !RaidConfig::is_empty_value(v))
    else {
        return Ok(None);
    };
    let Ok(config) = RaidConfig::parse(value) else {
        tracing::warn!("target_raid_config does not parse; it does not decide the root device");
        return Ok(None);
    };
    let disks = &config.logical_disks;
    if disks.is_empty() || !disks.iter().all(|d| d.is_software()) {
        return Ok(None);
    }
    let marked = disks.iter().position(|d| d.is_root_volume == Some(true));
    let hints = super::target::root_device_hints(node);
    let index = match (marked, hints) {
        (Some(i), h) => {
            if let Some(h) = h {
                tracing::warn!("Both root device hints ({h}) and a root volume in the target RAID configuration are defined; the RAID root volume is used");
            }
            i
        }
        (None, Some(_)) => return Ok(None),
        (None, None) => match disks
            .iter()
            .position(|d| d.raid_level == RaidLevel::Raid1 && d.is_root_volume != Some(false))
        {
            Some(i) => i,
            None => return Ok(None),
        },
    };
    let level = disks[index].raid_level;
    if level != RaidLevel::Raid1 {
        return Err(raid_error(format!(
            "The software RAID root volume (target_raid_config logical_disks[{index}], \
             is_root_volume: true) is RAID {level}; the root of a software RAID deployment must \
             be RAID-1, because UEFI firmware reads each holder disk on its own and only a \
             mirror lets any one of them boot the instance. Mark a RAID-1 logical disk with \
             is_root_volume: true, then clean again (raid.delete_configuration, \
             raid.create_configuration). Nothing was written."
        )));
    }
    let Some((name, _)) = planned_array(&config, index) else {
        return Err(raid_error(format!(
            "target_raid_config logical_disks[{index}] has an invalid volume_name; it cannot be \
             the root volume"
        )));
    };
    Ok(Some(RootChoice {
        logical_disk: index,
        name,
        marked: marked.is_some(),
    }))
}

/// The assembled array called `name` among `arrays` (`/dev/md/<name>` link or udev name
/// first, else `mdadm --detail`'s name, asked through `detail_name`).
pub fn find_array<'a>(
    arrays: &'a [BlockDevice],
    name: &ArrayName,
    detail_name: impl Fn(&BlockDevice) -> Option<String>,
) -> Option<&'a BlockDevice> {
    arrays
        .iter()
        .find(|a| a.md_name.as_deref() == Some(name.as_str()))
        .or_else(|| {
            arrays
                .iter()
                .find(|a| detail_name(a).as_deref() == Some(name.as_str()))
        })
}

/// The root array on the live machine: `/dev/md127` or the like. Assembles arrays once when
/// it is not there (after a reboot the ramdisk has no udev to do it).
pub fn locate(m: &Machine, choice: &RootChoice) -> Result<String> {
    let detail_name = |a: &BlockDevice| {
        let dev = DevPath::new(&a.name).ok()?;
        let out = m.run(&mdadm::detail(&dev)).ok()?;
        crate::raid::mdadm::parse_detail(&out.stdout).name
    };
    for attempt in 0..2 {
        let arrays = blockdev::list_md_arrays(&m.host);
        if let Some(a) = find_array(&arrays, &choice.name, detail_name) {
            return Ok(a.name.clone());
        }
        if attempt == 0 {
            if let Err(e) = m.run(&mdadm::assemble_scan()) {
                tracing::info!("{e} (ignored: looking for the RAID root once more)");
            }
        }
    }
    Err(AgentError::new(
        ErrorKind::DeviceNotFound,
        format!(
            "The node's target_raid_config makes logical_disks[{}] (md array {}) the root volume, \
             but no md array of that name exists on this machine. Build the RAID first with the \
             manual clean steps raid.delete_configuration and raid.create_configuration, or \
             clear target_raid_config to deploy onto a plain disk. Nothing was written.",
            choice.logical_disk, choice.name
        ),
    ))
}

/// The holder disks of an md array (`/dev/vda`, ...) and its member partitions, from sysfs.
pub fn holders(m: &Machine, md: &str) -> (Vec<String>, Vec<String>) {
    let all = blockdev::list_block_devices(&m.host, true);
    let kname = md.trim_start_matches("/dev/");
    let members: Vec<String> = m
        .host
        .list_dir(format!("/sys/block/{kname}/slaves"))
        .into_iter()
        .map(|s| format!("/dev/{s}"))
        .collect();
    let mut disks: Vec<String> = Vec::new();
    for p in &members {
        let d = crate::raid::parent_disk(&all, p);
        if !disks.contains(&d) {
            disks.push(d);
        }
    }
    (disks, members)
}

/// Whether a device is an md array (`/dev/md127`, `/dev/md/root`).
pub fn is_md(dev: &str) -> bool {
    dev.strip_prefix("/dev/")
        .is_some_and(|n| n.starts_with("md"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The configuration of the QEMU journey: RAID-1 root + RAID-5 data.
    fn node(logical_disks: Value) -> Value {
        json!({"uuid": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
               "target_raid_config": {"logical_disks": logical_disks}})
    }

    fn choice(node: &Value) -> Option<(usize, String, bool)> {
        choose(node)
            .unwrap()
            .map(|c| (c.logical_disk, c.name.to_string(), c.marked))
    }

    #[test]
    fn the_marked_root_volume_wins_even_over_hints() {
        let mut n = node(json!([
            {"size_gb": 1, "raid_level": "1", "controller": "software", "volume_name": "boot"},
            {"size_gb": 2, "raid_level": "1", "controller": "software", "volume_name": "root",
             "is_root_volume": true}
        ]));
        assert_eq!(choice(&n), Some((1, "root".into(), true)));
        n["properties"] = json!({"root_device": {"name": "/dev/vda"}});
        assert_eq!(choice(&n), Some((1, "root".into(), true)));
    }

    #[test]
    fn without_a_mark_the_first_raid1_unless_hints_decide() {
        // No volume names: IPA's md<k>, numbered in creation order (MAX last).
        let mut n = node(json!([
            {"size_gb": "MAX", "raid_level": "5", "controller": "software"},
            {"size_gb": 1, "raid_level": "1", "controller": "software"}
        ]));
        assert_eq!(choice(&n), Some((1, "md0".into(), false)));
        n["instance_info"] = json!({"root_device": {"serial": "QLAB-D1"}});
        assert_eq!(choice(&n), None, "hints decide without is_root_volume");
        let n = node(json!([
            {"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": false},
            {"size_gb": "MAX", "raid_level": "0", "controller": "software"}
        ]));
        assert_eq!(choice(&n), None, "a RAID-1 marked false is never the root");
    }

    #[test]
    fn no_software_raid_no_choice() {
        assert_eq!(choice(&json!({})), None);
        assert_eq!(choice(&json!({"target_raid_config": {}})), None);
        let hw = node(json!([{"size_gb": 100, "raid_level": "1", "is_root_volume": true}]));
        assert_eq!(choice(&hw), None, "hardware RAID: root_device hints decide");
    }

    #[test]
    fn a_root_volume_that_is_not_raid1_is_refused() {
        let n = node(json!([
            {"size_gb": 1, "raid_level": "1", "controller": "software"},
            {"size_gb": "MAX", "raid_level": "5", "controller": "software",
             "is_root_volume": true}
        ]));
        let e = choose(&n).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SoftwareRAIDError);
        assert!(e.details.contains("logical_disks[1]"), "{}", e.details);
        assert!(e.details.contains("is RAID 5"), "{}", e.details);
        assert!(e.details.contains("must be RAID-1"), "{}", e.details);
        assert!(e.details.contains("Nothing was written"), "{}", e.details);
    }

    #[test]
    fn the_array_is_found_by_its_name() {
        let md = |name: &str, md_name: Option<&str>| BlockDevice {
            name: format!("/dev/{name}"),
            kname: name.into(),
            md_name: md_name.map(Into::into),
            ..BlockDevice::default()
        };
        // After a reboot: md127/md126 with no /dev/md links; mdadm --detail knows the names.
        let arrays = vec![md("md127", None), md("md126", None)];
        let detail =
            |a: &BlockDevice| Some(if a.kname == "md126" { "root" } else { "data" }.to_string());
        let root = ArrayName::new("root").unwrap();
        assert_eq!(
            find_array(&arrays, &root, detail).map(|a| a.name.as_str()),
            Some("/dev/md126")
        );
        let linked = vec![md("md127", Some("root"))];
        assert_eq!(
            find_array(&linked, &root, |_| None).map(|a| a.name.as_str()),
            Some("/dev/md127")
        );
        assert!(find_array(&arrays, &ArrayName::new("esp").unwrap(), detail).is_none());
        assert!(is_md("/dev/md127") && is_md("/dev/md/root") && !is_md("/dev/vda"));
    }
}
