//! The generic manager through the real binary's command line, on a fake machine:
//! `ironic-agent raid plan` refuses what create would refuse (bad volume names, a skip
//! list that would leave an array without redundancy) and builds what mdadm builds
//! (RAID-5 and RAID-1+0 on two disks); `ironic-agent steps` names the programs a machine
//! lacks and the steps they disable; `ironic-agent inventory` prints the machine under
//! `--host-root`, the same document inspection sends.

use agent_tests::agent::{agent_binary, bare_machine, write_script};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use testkit::fake_machine::{FakeMachine, GIB};

fn two_disks(dir: &Path) {
    let _ = FakeMachine::new(dir)
        .virtio("vda", 20 * GIB)
        .serial("QLAB-D0")
        .virtio("vdb", 20 * GIB)
        .serial("QLAB-D1");
}

/// Runs `ironic-agent raid plan` with `config` (and `node`) on the machine under `root`.
fn raid_plan(root: &Path, config: &Value, node: Option<&Value>) -> (Output, String) {
    let cfg = root.join("raid.json");
    std::fs::write(&cfg, config.to_string()).unwrap();
    let mut cmd = std::process::Command::new(agent_binary());
    cmd.args(["raid", "plan", "--host-root"])
        .arg(root)
        .arg("--config")
        .arg(&cfg);
    if let Some(n) = node {
        let p = root.join("node.json");
        std::fs::write(&p, n.to_string()).unwrap();
        cmd.arg("--node").arg(p);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

fn one_array(extra: Value) -> Value {
    let mut ld = json!({"size_gb": 5, "raid_level": "1", "controller": "software"});
    for (k, v) in extra.as_object().unwrap() {
        ld[k] = v.clone();
    }
    json!({"logical_disks": [ld]})
}

#[test]
fn raid_plan_refuses_volume_names_mdadm_would_not_take() {
    let m = tempfile::tempdir().unwrap();
    two_disks(m.path());
    let rule = "(the rule: 1 to 32 characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '-' or '.')";
    for (name, why) in [
        (
            "/dev/../etc/passwd",
            "it has characters outside A-Z, a-z, 0-9, '.', '_', '-'",
        ),
        (
            "a\u{0}b",
            "it has characters outside A-Z, a-z, 0-9, '.', '_', '-'",
        ),
        ("--force", "it starts with '-' or '.'"),
    ] {
        let (out, text) = raid_plan(m.path(), &one_array(json!({"volume_name": name})), None);
        assert_eq!(out.status.code(), Some(1), "{name:?}: {text}");
        assert_eq!(
            text.trim_end(),
            format!(
                "REJECTED (SoftwareRAIDError): Could not validate Software RAID config for <unknown node>: \
                 logical_disks[0].volume_name: {name:?} is not a valid software RAID volume name: {why} {rule}"
            )
        );
    }
    let (out, text) = raid_plan(m.path(), &one_array(json!({"volume_name": "root"})), None);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("  mdadm --create /dev/md/root --force --run --metadata=1.2 --level 1 --name root --raid-devices 2 /dev/vda1 /dev/vdb1\n"),
        "{text}"
    );
}

#[test]
fn raid_plan_builds_raid5_and_raid10_on_two_disks_as_mdadm_does() {
    let m = tempfile::tempdir().unwrap();
    two_disks(m.path());
    for (level, arg) in [("5", "5"), ("1+0", "10")] {
        let config = json!({"logical_disks": [
            {"size_gb": 5, "raid_level": "1", "controller": "software", "volume_name": "root"},
            {"size_gb": "MAX", "raid_level": level, "controller": "software", "volume_name": "data"}
        ]});
        let (out, text) = raid_plan(m.path(), &config, None);
        assert!(out.status.success(), "RAID {level}: {text}");
        assert!(
            text.contains(&format!(
                "--level {arg} --name data --raid-devices 2 /dev/vda2 /dev/vdb2"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "note: logical_disks[1] (RAID {level}) gets two disks (/dev/vda, /dev/vdb): mdadm builds it, but it gives no more than a mirror"
            )),
            "{text}"
        );
    }
}

#[test]
fn raid_plan_refuses_a_skip_list_that_leaves_a_mirror_on_one_disk() {
    let m = tempfile::tempdir().unwrap();
    two_disks(m.path());
    let node = json!({"uuid": "n1",
                      "properties": {"skip_block_devices": [{"serial": "QLAB-D1"}]}});
    let (out, text) = raid_plan(m.path(), &one_array(json!({})), Some(&node));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("logical_disks[0] (RAID 1) would be built on /dev/vda alone, without redundancy, because skip_block_devices leaves out /dev/vdb; name the member disks in physical_disks"),
        "{text}"
    );
}

/// The generic manager's line of `ironic-agent steps` on the machine under `root`.
fn generic_manager_line(root: &Path) -> String {
    let out = std::process::Command::new(agent_binary())
        .args(["steps", "--host-root"])
        .arg(root)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("GenericHardwareManager: loaded"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string()
}

#[test]
fn steps_names_the_programs_a_machine_lacks_and_the_steps_they_disable() {
    // A fake root runs only its own tools: here, none.
    let bare = bare_machine();
    let generic = generic_manager_line(bare.path());
    assert!(
        generic.contains(
            "deploy.erase_devices_metadata needs lsblk (Debian package util-linux) and blkid \
             (Debian package util-linux) and wipefs (Debian package util-linux)"
        ),
        "{generic}"
    );
    assert!(
        generic.contains("raid.create_configuration needs mdadm (Debian package mdadm) and parted"),
        "{generic}"
    );
    // Every program there but dd: only the erase steps that run dd are named.
    let m = bare_machine();
    for p in [
        "mdadm", "parted", "sgdisk", "wipefs", "partx", "blockdev", "udevadm", "lsblk", "blkid",
        "nvme", "hdparm",
    ] {
        write_script(&m.path().join("usr/sbin"), p, "exit 0");
    }
    let generic = generic_manager_line(m.path());
    assert!(
        generic.ends_with(
            "(not installed here: deploy.erase_devices_metadata needs dd (Debian package \
             coreutils), deploy.erase_devices_express needs dd (Debian package coreutils))"
        ),
        "{generic}"
    );
    assert!(!generic.contains("mdadm ("), "{generic}");
}

#[test]
fn inventory_prints_the_machine_under_host_root() {
    let m = tempfile::tempdir().unwrap();
    let _ = FakeMachine::new(m.path())
        .virtio("vda", 20 * GIB)
        .serial("QLAB-D0")
        .nic("eth0", "52:54:00:12:34:56")
        .cpus(4, "Test CPU")
        .memory(8 * GIB)
        .dmi("QEMU", "Standard PC", "S1")
        .cmdline("BOOTIF=01-52-54-00-12-34-56");
    let out = std::process::Command::new(agent_binary())
        .args(["inventory", "--host-root"])
        .arg(m.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(inv["disks"][0]["name"], "/dev/vda");
    assert_eq!(inv["disks"][0]["serial"], "QLAB-D0");
    assert_eq!(inv["interfaces"][0]["mac_address"], "52:54:00:12:34:56");
    assert_eq!(inv["cpu"]["count"], 4);
    assert_eq!(inv["memory"]["physical_mb"], 8192);
    assert_eq!(inv["system_vendor"]["manufacturer"], "QEMU");
    assert_eq!(inv["boot"]["pxe_interface"], "01-52-54-00-12-34-56");
}
