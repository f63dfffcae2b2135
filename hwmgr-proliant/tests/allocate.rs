//! Creation order (the cases of proliantutils' `test_manager.py:
//! test__sort_shared_logical_disks*`) and drive selection facts (its
//! `test_disk_allocator.py`).

mod common;
use common::*;
use hwmgr_proliant::allocate::{allocate, creation_order, Target};
use hwmgr_proliant::config::validate;
use hwmgr_proliant::model::Server;
use hwmgr_proliant::raid::plan;
use serde_json::{json, Value};

fn order_of(lds: Value) -> Vec<usize> {
    let reqs = validate(&json!({ "logical_disks": lds })).unwrap();
    creation_order(&reqs).iter().map(|r| r.index).collect()
}

#[test]
fn share_order_vectors() {
    // [500/r1, sh 450/r0/n6, sh 200/r1+0, sh 200/r0, sh 100/r0] keeps its order.
    assert_eq!(
        order_of(json!([
            {"size_gb": 500, "raid_level": "1"},
            {"size_gb": 450, "raid_level": "0", "share_physical_disks": true, "number_of_physical_disks": 6},
            {"size_gb": 200, "raid_level": "1+0", "share_physical_disks": true},
            {"size_gb": 200, "raid_level": "0", "share_physical_disks": true},
            {"size_gb": 100, "raid_level": "0", "share_physical_disks": true},
        ])),
        [0, 1, 2, 3, 4]
    );
    // The 1+0 disk moves to the front of the shared rest: the only larger count (5) is odd.
    assert_eq!(
        order_of(json!([
            {"size_gb": 600, "raid_level": "1"},
            {"size_gb": 550, "raid_level": "1", "share_physical_disks": true},
            {"size_gb": 450, "raid_level": "0", "share_physical_disks": true, "number_of_physical_disks": 5},
            {"size_gb": 400, "raid_level": "1+0", "share_physical_disks": false},
            {"size_gb": 300, "raid_level": "5", "share_physical_disks": true},
            {"size_gb": 200, "raid_level": "1+0", "share_physical_disks": true},
            {"size_gb": 100, "raid_level": "5", "share_physical_disks": false},
        ])),
        [0, 3, 6, 1, 5, 2, 4]
    );
}

#[test]
fn sizes_largest_first_then_max_in_input_order() {
    assert_eq!(
        order_of(json!([
            {"size_gb": "MAX", "raid_level": "0"},
            {"size_gb": 10, "raid_level": "0"},
            {"size_gb": 30, "raid_level": "0"},
            {"size_gb": "MAX", "raid_level": "1"},
            {"size_gb": 10, "raid_level": "1"},
        ])),
        [2, 1, 4, 0, 3]
    );
}

fn server(name: &str) -> Server {
    Server::parse(&fixture(name)).unwrap()
}

#[test]
fn too_big_or_too_many_is_refused_with_the_size_and_level() {
    let s = server("p822_slot2_raid1_558gb_5_unassigned.txt");
    let e = plan(
        &s,
        &json!({"logical_disks": [{"size_gb": 700, "raid_level": "1"}]}),
    )
    .unwrap_err();
    assert!(e.contains("of size 700 GB and raid level 1"), "{e}");
    let s = server("p822_slot2_2_unassigned_ssd_sas_and_sata.txt");
    let e = plan(
        &s,
        &json!({"logical_disks": [{"size_gb": 100, "raid_level": "5"}]}),
    )
    .unwrap_err();
    assert!(
        e.contains("of size 100 GB and raid level 5") && e.contains("needs 3"),
        "{e}"
    );
}

#[test]
fn filters_select_matching_drives() {
    let s = server("p822_slot2_2_unassigned_ssd_sas_and_sata.txt");
    let p = plan(
        &s,
        &json!({"logical_disks": [{"size_gb": 100, "raid_level": "0",
        "disk_type": "ssd", "interface_type": "sata"}]}),
    )
    .unwrap();
    assert_eq!(
        p.placements[0].target,
        Target::NewArray {
            drives: vec!["6I:1:8".into()]
        }
    );
    let e = plan(
        &s,
        &json!({"logical_disks": [{"size_gb": 100, "raid_level": "0",
        "disk_type": "hdd"}]}),
    )
    .unwrap_err();
    assert!(e.contains("disk_type hdd"), "{e}");
}

#[test]
fn max_takes_the_largest_drives() {
    let s = server("p822_slot2_raid1_558gb_5_unassigned.txt");
    let reqs =
        validate(&json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1"}]})).unwrap();
    let p = allocate(&s, &reqs).unwrap();
    assert_eq!(
        p[0].target,
        Target::NewArray {
            drives: vec!["6I:1:6".into(), "6I:1:7".into()]
        }
    );
}

#[test]
fn sharing_needs_a_compatible_planned_array() {
    let s = server("p822_slot2_no_arrays_3_unassigned.txt");
    // RAID 1 cannot join a 1-drive RAID 0 array: refused up front.
    let e = plan(&s, &json!({"logical_disks": [
        {"size_gb": 100, "raid_level": "0", "number_of_physical_disks": 3, "share_physical_disks": true},
        {"size_gb": 50, "raid_level": "1", "share_physical_disks": true}]}))
    .unwrap_err();
    assert!(
        e.contains("no array planned by another shared logical disk"),
        "{e}"
    );
    // Too big for the planned array (estimate: 2 × 500 GB raw, 2 × 400 used by the RAID 1).
    let e = plan(&s, &json!({"logical_disks": [
        {"size_gb": 400, "raid_level": "1", "share_physical_disks": true},
        {"size_gb": 300, "raid_level": "0", "number_of_physical_disks": 2, "share_physical_disks": true}]}))
    .unwrap_err();
    assert!(e.contains("of size 300 GB and raid level 0"), "{e}");
    // A non-shared array is never joined.
    let e = plan(&s, &json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1"},
        {"size_gb": 50, "raid_level": "0", "number_of_physical_disks": 2, "share_physical_disks": true}]}))
    .unwrap_err();
    assert!(e.contains("of size 50 GB and raid level 0"), "{e}");
}

#[test]
fn controller_restricts_automatic_selection() {
    let s = server("four_h240_controllers_parsing_edge_cases.txt");
    let p = plan(
        &s,
        &json!({"logical_disks": [{"size_gb": 100, "raid_level": "0",
        "controller": "Smart HBA H240 in Slot 1 (RAID Mode)"}]}),
    )
    .unwrap();
    assert_eq!(p.placements[0].slot, "1");
    let e = plan(
        &s,
        &json!({"logical_disks": [{"size_gb": 100, "raid_level": "0",
        "controller": "Smart HBA H240 in Slot 3 (RAID Mode)"}]}),
    )
    .unwrap_err();
    assert!(e.contains("Slot 3"), "{e}");
    let hba = server("p822_slot3_hba_mode_1_drive.txt");
    let e = plan(
        &hba,
        &json!({"logical_disks": [{"size_gb": 1, "raid_level": "0"}]}),
    )
    .unwrap_err();
    assert!(e.contains("have RAID enabled"), "{e}");
}

/// A shared logical disk joins a planned array only with a drive count its level takes:
/// RAID 5+0 shares a 6-drive array (two parity groups of 3), not a 7-drive one.
#[test]
fn sharing_follows_the_drive_count_rules() {
    let s = server("p822_slot2_no_arrays_7_unassigned.txt");
    let shared = |n: usize| {
        plan(
            &s,
            &json!({"logical_disks": [
            {"size_gb": 10, "raid_level": "0", "number_of_physical_disks": n, "share_physical_disks": true},
            {"size_gb": 10, "raid_level": "5+0", "share_physical_disks": true}]}),
        )
    };
    let p = shared(6).unwrap();
    assert!(
        matches!(p.placements[1].target, Target::SharedWith { .. }),
        "{:?}",
        p.placements[1]
    );
    let e = shared(7).unwrap_err();
    assert!(
        e.contains("no array planned by another shared logical disk can hold it"),
        "{e}"
    );
}
