//! Every ssacli fixture parsed and compared with what proliantutils builds from it
//! (`expected_trees.json`, `expected_objects.json`, copied from /work/shared/fixtures).

use hwmgr_proliant::model::{probe_max_mb, Array, Controller, PhysicalDrive, Server};
use hwmgr_proliant::parse::parse_tree;
use serde_json::{json, Value};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ssacli")
}

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap()
}

fn pd_json(d: &PhysicalDrive) -> Value {
    let mut v = d.to_json();
    v["size_raw"] = json!(d.size_raw);
    v["interface_raw"] = json!(d.interface_raw);
    v
}

fn array_json(a: &Array) -> Value {
    json!({
        "id": a.id,
        "logical_drives": a.logical_drives.iter().map(|l| json!({
            "id": l.id, "size_raw": l.size_raw, "size_gb": l.size_gb,
            "raid_level": l.raid_level, "wwn": l.wwn, "volume_name": l.volume_name,
            "disk_name": l.disk_name,
        })).collect::<Vec<_>>(),
        "physical_drives": a.physical_drives.iter().map(pd_json).collect::<Vec<_>>(),
    })
}

fn controller_json(c: &Controller) -> Value {
    json!({
        "id": c.id,
        "slot": c.slot,
        "hba_mode_enabled": c.hba_mode_enabled,
        "sanitize_erase_supported": c.sanitize_erase_supported,
        "arrays": c.arrays.iter().map(array_json).collect::<Vec<_>>(),
        "unassigned_physical_drives": c.unassigned.iter().map(pd_json).collect::<Vec<_>>(),
    })
}

#[test]
fn every_fixture_gives_the_expected_tree() {
    let trees = load("expected_trees.json");
    let trees = trees.as_object().unwrap();
    assert_eq!(trees.len(), 26);
    for (name, exp) in trees {
        let got = parse_tree(&fixture(name)).to_json();
        assert_eq!(got, exp["tree"], "{name}");
        // Key order too: serde_json keeps insertion order here.
        assert_eq!(got.to_string(), exp["tree"].to_string(), "{name}");
    }
}

#[test]
fn every_fixture_gives_the_expected_objects() {
    let objects = load("expected_objects.json");
    let objects = objects.as_object().unwrap();
    assert_eq!(objects.len(), 26);
    let mut checked = 0;
    for (name, exp) in objects {
        let text = fixture(name);
        if name.starts_with("array_size_query") {
            assert_eq!(json!(probe_max_mb(&text)), exp["max_mb"], "{name}");
        } else if let Some(err) = exp["error"].as_str() {
            let e = Server::parse(&text).unwrap_err().to_string();
            assert!(err.contains(&e), "{name}: {e} not in {err}");
        } else {
            let server = Server::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got: Vec<Value> = server.controllers.iter().map(controller_json).collect();
            assert_eq!(json!(got), exp["controllers"], "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 26);
}

#[test]
fn configuration_report_matches_get_configuration() {
    let s = Server::parse(&fixture("p822_slot2_raid1_558gb_5_unassigned.txt")).unwrap();
    let cfg = s.configuration();
    assert_eq!(
        cfg["logical_disks"],
        json!([{"size_gb": 557, "raid_level": "1",
                "root_device_hint": {"wwn": "0x600508b1001c321c"},
                "controller": "Smart Array P822 in Slot 2",
                "physical_disks": ["5I:1:1", "5I:1:2"],
                "volume_name": "01F42227PDVTF0BRH5T0MOAB64"}])
    );
    let ids = |status: &str| -> Vec<String> {
        cfg["physical_disks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == status)
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("active"), ["5I:1:1", "5I:1:2"]);
    assert_eq!(
        ids("ready"),
        ["5I:1:3", "5I:1:4", "6I:1:5", "6I:1:6", "6I:1:7"]
    );
}

#[test]
fn controller_flags() {
    let hba = Server::parse(&fixture("p822_slot3_hba_mode_1_drive.txt")).unwrap();
    assert!(hba.controllers[0].is_hba());
    assert!(!hba.controllers[0].sanitize_supported());
    let p440 = Server::parse(&fixture("p440_slot2_erase_in_progress.txt")).unwrap();
    let c = &p440.controllers[0];
    assert_eq!((c.slot.as_deref(), c.slot().as_deref()), (None, Some("2")));
    assert!(c.sanitize_supported() && !c.is_hba());
    let h240 = Server::parse(&fixture("four_h240_controllers_parsing_edge_cases.txt")).unwrap();
    assert_eq!(h240.controllers.len(), 4);
    assert!(h240.controllers.iter().all(|c| !c.is_hba()));
    assert_eq!(h240.controllers[3].slot().as_deref(), Some("0"));
}

#[test]
fn warnings_and_errors_on_stdout_are_not_controllers() {
    let text = format!(
        "Warning: ssacli is a newer version\n{}",
        fixture("p822_slot2_no_arrays_7_unassigned.txt")
    );
    let s = Server::parse(&text).unwrap();
    assert_eq!(s.controllers.len(), 1);
    let none = Server::parse("\nError: No controllers detected. Possible causes: ...\n").unwrap();
    assert!(none.controllers.is_empty());
}

#[test]
fn missing_required_keys_name_the_object() {
    let text = "Smart Array P1 in Slot 1\n   Slot: 1\n   unassigned\n      physicaldrive 1I:1:1\n         Size: 300 GB\n";
    let e = Server::parse(text).unwrap_err().to_string();
    assert!(
        e.contains("'Interface Type'") && e.contains("'1I:1:1'") && e.contains("Slot 1"),
        "{e}"
    );
    let text = "C in Slot 1\n   Array: A\n      Logical Drive: 1\n         Status: OK\n";
    let e = Server::parse(text).unwrap_err().to_string();
    assert!(
        e.contains("'Size'") && e.contains("logical disk '1' of RAID array 'A'"),
        "{e}"
    );
}
