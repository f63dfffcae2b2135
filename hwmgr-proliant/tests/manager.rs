//! Support evaluation, step lists, dispatch and `apply_configuration`.

mod common;
use common::*;
use hwmgr::{HardwareManager, StepKind, SupportLevel};
use serde_json::{json, Value};
use testkit::RecordingRunner;

#[test]
fn support_needs_ssacli_and_a_raid_mode_controller() {
    let r = RecordingRunner::new();
    r.without_program("ssacli");
    let s = manager(&r).evaluate_support();
    assert_eq!(
        (s.level, s.reason.as_str()),
        (SupportLevel::NONE, "no `ssacli` on PATH")
    );
    assert!(r.lines().is_empty());

    let r = RecordingRunner::new();
    r.fail(
        &C1,
        1,
        "Error: No controllers detected. Possible causes: ...",
    );
    let s = manager(&r).evaluate_support();
    assert_eq!(s.reason, "ssacli found no Smart Array controller");

    let r = RecordingRunner::new(); // ssacli prints nothing
    assert_eq!(
        manager(&r).evaluate_support().reason,
        "ssacli found no Smart Array controller"
    );

    let r = runner_with(&["p822_slot3_hba_mode_1_drive.txt"]);
    let s = manager(&r).evaluate_support();
    assert_eq!(s.level, SupportLevel::NONE);
    assert_eq!(
        s.reason,
        "every controller is in HBA mode (Smart Array P822 in Slot 3); switch one to RAID \
         mode to build logical drives"
    );

    let r = RecordingRunner::new();
    r.fail(&C1, 3, "segfault");
    let s = manager(&r).evaluate_support();
    assert!(
        s.reason
            .contains("could not read the Smart Array configuration")
            && s.reason.contains("exited with code 3"),
        "{}",
        s.reason
    );

    let r = runner_with(&["four_h240_controllers_parsing_edge_cases.txt"]);
    let s = manager(&r).evaluate_support();
    assert_eq!(s.level, SupportLevel::SERVICE_PROVIDER, "{}", s.reason);
    assert_eq!(r.lines(), [C1_LINE]);
}

#[test]
fn identity_and_steps_as_ipa_reports_them() {
    let m = manager(&RecordingRunner::new());
    assert_eq!(
        (m.class_name(), m.name(), m.version()),
        ("ProliantHardwareManager", "ProliantHardwareManager", "3")
    );
    let call = clean_call(json!({}));
    let steps = |k| serde_json::to_value(m.steps(k, &call)).unwrap();
    assert_eq!(
        steps(StepKind::Clean),
        json!([
            {"step": "create_configuration", "interface": "raid", "priority": 0, "reboot_requested": false},
            {"step": "delete_configuration", "interface": "raid", "priority": 0, "reboot_requested": false},
            {"step": "erase_devices", "interface": "deploy", "priority": 0, "reboot_requested": false},
        ])
    );
    let deploy = steps(StepKind::Deploy);
    assert_eq!(deploy[0]["step"], "apply_configuration");
    assert_eq!(deploy[0]["interface"], "raid");
    assert_eq!(deploy[0]["argsinfo"]["raid_config"]["required"], true);
    assert_eq!(deploy[0]["argsinfo"]["delete_existing"]["required"], false);
    assert_eq!(steps(StepKind::Service), json!([]));
    assert!(m.execute("list_hardware_info", &call).is_none());
    assert!(m.execute("erase_devices_metadata", &call).is_none());
}

const RAID1_558: &str = "p822_slot2_raid1_558gb_5_unassigned.txt";
const NO_ARRAYS: &str = "p822_slot2_no_arrays_7_unassigned.txt";

#[test]
fn apply_deletes_then_creates() {
    let r = runner_with(&[
        RAID1_558,
        NO_ARRAYS,
        "p822_slot2_raid5_100gb_4_unassigned.txt",
    ]);
    let out = apply(
        &r,
        json!({"raid_config": {"logical_disks": [{"size_gb": 100, "raid_level": "5"}]}}),
    )
    .unwrap();
    assert_eq!(
        actions(&r),
        [
            "ssacli controller slot=2 logicaldrive all delete forced",
            "ssacli controller slot=2 create type=logicaldrive drives=5I:1:3,5I:1:4,6I:1:5 raid=5 size=102400",
        ]
    );
    assert_eq!(
        out["logical_disks"][0]["root_device_hint"]["wwn"],
        "0x600508b1001cc42c"
    );
}

#[test]
fn apply_without_delete_only_creates() {
    // delete_existing is read as oslo's bool_from_string, like the generic manager reads it.
    for no in [
        json!(false),
        json!("false"),
        json!("No"),
        json!("0"),
        json!(0),
        json!("off"),
    ] {
        let r = runner_with(&[NO_ARRAYS, "p822_slot2_raid5_100gb_4_unassigned.txt"]);
        apply(
            &r,
            json!({"delete_existing": no,
            "raid_config": {"logical_disks": [{"size_gb": 100, "raid_level": "5"}]}}),
        )
        .unwrap();
        assert_eq!(actions(&r).len(), 1, "{no}: {:?}", actions(&r));
    }
}

#[test]
fn apply_refuses_a_delete_existing_that_is_not_a_boolean() {
    for bad in [json!("maybe"), json!(2), json!([]), json!({})] {
        let r = runner_with(&[RAID1_558]);
        let e = apply(
            &r,
            json!({"delete_existing": bad,
            "raid_config": {"logical_disks": [{"size_gb": 100, "raid_level": "5"}]}}),
        )
        .unwrap_err();
        assert_eq!(e.kind, hwmgr::ErrorKind::InvalidCommandParamsError, "{bad}");
        assert_contains(&e.details, &["delete_existing"]);
        assert!(r.lines().is_empty(), "nothing ran for {bad}");
    }
}

#[test]
fn apply_rejects_before_deleting() {
    for cfg in [
        json!({"logical_disks": [{"size_gb": 100, "raid_level": "7"}]}),
        json!({"logical_disks": [{"size_gb": 5000, "raid_level": "1"}]}),
    ] {
        let r = runner_with(&[RAID1_558]);
        let e = apply(&r, json!({"raid_config": cfg})).unwrap_err();
        assert_eq!(e.kind, hwmgr::ErrorKind::DeploymentError);
        assert_contains(&e.details, &["Nothing was deleted"]);
        assert_eq!(r.lines(), [C1_LINE]);
    }
    let r = RecordingRunner::new();
    let e = apply(&r, json!({})).unwrap_err();
    assert_eq!(e.kind, hwmgr::ErrorKind::InvalidCommandParamsError);
    assert!(r.lines().is_empty());
}

#[test]
fn apply_plans_against_the_drives_freed_by_delete() {
    // Array A's two drives count as free once deleted: 7 drives for a 7-disk RAID 5.
    let r = runner_with(&[RAID1_558, NO_ARRAYS, NO_ARRAYS]);
    let cfg = json!({"logical_disks": [{"size_gb": 100, "raid_level": "5", "number_of_physical_disks": 7}]});
    let _ = apply(&r, json!({"raid_config": cfg}));
    assert_eq!(
        actions(&r)[0],
        "ssacli controller slot=2 logicaldrive all delete forced"
    );
    assert_eq!(
        actions(&r)[1],
        "ssacli controller slot=2 create type=logicaldrive \
         drives=5I:1:3,5I:1:4,6I:1:5,5I:1:1,5I:1:2,6I:1:6,6I:1:7 raid=5 size=102400"
    );
}

#[test]
fn explicit_drives_must_be_free() {
    let r = runner_with(&[RAID1_558]);
    let cfg = json!({"logical_disks": [{"size_gb": 10, "raid_level": "1",
        "physical_disks": ["5I:1:1", "5I:1:3"]}]});
    let e = create(&r, cfg).unwrap_err();
    assert_contains(&e.details, &["'5I:1:1'", "already belongs to array A"]);
    let r = runner_with(&[RAID1_558]);
    let cfg = json!({"logical_disks": [
        {"size_gb": 10, "raid_level": "1", "physical_disks": ["5I:1:3", "5I:1:4"]},
        {"size_gb": 10, "raid_level": "1", "physical_disks": ["5I:1:4", "6I:1:5"]}]});
    let e = create(&r, cfg).unwrap_err();
    assert_contains(&e.details, &["also requested by another"]);
    let r = runner_with(&[RAID1_558]);
    let cfg = json!({"logical_disks": [{"size_gb": 10, "raid_level": "1",
        "physical_disks": ["5I:1:3", "9I:9:9"]}]});
    let e = create(&r, cfg).unwrap_err();
    assert_contains(
        &e.details,
        &["no RAID-capable controller has all of the physical disks"],
    );
    assert_eq!(r.lines(), [C1_LINE]);
}

#[test]
fn a_failed_create_names_the_command_and_what_was_created() {
    let r = runner_with(&[
        "p822_slot2_no_arrays_7_unassigned.txt",
        "p822_slot2_raid5_100gb_4_unassigned.txt",
    ]);
    r.fail(
        &argv("ssacli controller slot=2 create type=logicaldrive drives=5I:1:1,5I:1:2"),
        1,
        "Error: drive busy",
    );
    let cfg = json!({"logical_disks": [{"size_gb": 50, "raid_level": "1"}, {"size_gb": 100, "raid_level": "5"}]});
    let e = create(&r, cfg).unwrap_err();
    assert_contains(
        &e.details,
        &[
            "drives=5I:1:1,5I:1:2",
            "exited with code 1",
            "Error: drive busy",
            "Created before the failure: logical disk #2 (100 GB, RAID 5)",
            "raid.delete_configuration",
        ],
    );
}

#[test]
fn results_keep_input_keys_and_order() {
    let r = runner_with(&[
        "p822_slot2_no_arrays_7_unassigned.txt",
        "p822_slot2_raid5_100gb_4_unassigned.txt",
        "p822_slot2_raid5_100gb_and_raid1_50gb_2_unassigned.txt",
    ]);
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1", "is_root_volume": true, "volume_name": "root"},
        {"size_gb": 100, "raid_level": "5"}]});
    let out = create(&r, cfg).unwrap();
    let root = &out["logical_disks"][0];
    assert_eq!(root["is_root_volume"], true);
    assert_eq!(
        root["root_device_hint"],
        json!({"wwn": "0x600508b1001ce1e1"})
    );
    assert_eq!(
        root["volume_name"],
        Value::String("06715654PDVTF0BRH5T0MOACF0".into())
    );
}

/// Stands in for the generic manager's `erase_devices`: answers `result` and counts calls.
struct DiskEraser {
    result: Result<Value, String>,
    calls: std::sync::atomic::AtomicUsize,
}

impl HardwareManager for DiskEraser {
    fn class_name(&self) -> &str {
        "DiskEraser"
    }
    fn name(&self) -> &str {
        "disk_eraser"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn evaluate_support(&self) -> hwmgr::Support {
        hwmgr::Support::new(SupportLevel::GENERIC, "test")
    }
    fn steps(&self, _kind: StepKind, _call: &hwmgr::StepCall) -> Vec<hwmgr::Step> {
        Vec::new()
    }
    fn execute(&self, method: &str, _call: &hwmgr::StepCall) -> Option<hwmgr::Result<Value>> {
        (method == "erase_devices").then(|| {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.result.clone().map_err(|details| {
                hwmgr::AgentError::new(hwmgr::ErrorKind::BlockDeviceEraseError, details)
            })
        })
    }
}

fn eraser(result: Result<Value, String>) -> std::sync::Arc<DiskEraser> {
    std::sync::Arc::new(DiskEraser {
        result,
        calls: Default::default(),
    })
}

/// proliantutils' `erase_devices` sanitizes the controller's drives and then runs IPA's
/// generic erase over every block device; ours hands them to the generic manager.
#[test]
fn erase_devices_sanitizes_then_erases_the_block_devices() {
    let r = runner_with(&[
        "p440_slot2_sanitize_supported_2_unassigned_before_erase.txt",
        "p440_slot2_erase_complete.txt",
        "p440_slot2_erase_complete.txt",
    ]);
    let disks = eraser(Ok(json!({"/dev/sda": {"method": "overwrite"}})));
    let m = manager(&r).0.with_disk_eraser(disks.clone());
    let out = m
        .execute("erase_devices", &clean_call(json!({})))
        .unwrap()
        .unwrap();
    assert_eq!(disks.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(out["/dev/sda"]["method"], "overwrite", "{out}");
    assert_eq!(
        out["Disk Erase Status"]["Smart Array P440 in Slot 2"]["Summary"],
        "Sanitize Erase performed on the disks attached to the controller."
    );
}

#[test]
fn a_failed_block_device_erase_fails_the_step_and_says_the_drives_were_sanitized() {
    let r = runner_with(&[
        "p440_slot2_sanitize_supported_2_unassigned_before_erase.txt",
        "p440_slot2_erase_complete.txt",
        "p440_slot2_erase_complete.txt",
    ]);
    let disks = eraser(Err("Failed to erase 1 of 2 device(s): /dev/sdb ...".into()));
    let m = manager(&r).0.with_disk_eraser(disks.clone());
    let e = m
        .execute("erase_devices", &clean_call(json!({})))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind, hwmgr::ErrorKind::BlockDeviceEraseError);
    assert_contains(
        &e.details,
        &["Smart Array drives were sanitized", "/dev/sdb"],
    );
    assert!(e.details.ends_with("device(s): /dev/sdb."), "{}", e.details);
}
