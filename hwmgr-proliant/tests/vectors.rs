//! Test vectors TV-1 to TV-16, run through the manager's step entry points with a
//! scripted `ssacli`: exact argv, in order, and the returned value. Each vector replays a
//! proliantutils 2.16.0 unit test (named on each test below; `test_manager.py` is
//! `proliantutils/tests/hpssa/test_manager.py: ManagerTestCases`) with the fixtures of
//! `tests/fixtures/ssacli/`, and expects what that code issues and returns, except where
//! the crate docs (`src/lib.rs`) list a deliberate difference.
//! TV-14 (`get_configuration`) is `parse_fixtures.rs:
//! configuration_report_matches_get_configuration`.

mod common;
use common::*;
use hwmgr::{ErrorKind, HardwareManager};
use hwmgr_proliant::config::validate;
use hwmgr_proliant::raid::{self, probe_capacity};
use hwmgr_proliant::ssacli;
use serde_json::{json, Value};
use testkit::RecordingRunner;

const SLOT2: &str = "Smart Array P822 in Slot 2";
const CREATE_R5: &str =
    "ssacli controller slot=2 create type=logicaldrive drives=5I:1:3,5I:1:4,6I:1:5 raid=5 size=102400";
const CREATE_R1: &str =
    "ssacli controller slot=2 create type=logicaldrive drives=5I:1:1,5I:1:2 raid=1 size=51200";
const TV1_DUMPS: [&str; 3] = [
    "p822_slot2_no_arrays_7_unassigned.txt",
    "p822_slot2_raid5_100gb_4_unassigned.txt",
    "p822_slot2_raid5_100gb_and_raid1_50gb_2_unassigned.txt",
];

fn tv1_expected_lds() -> Value {
    json!([
        {"size_gb": 49, "raid_level": "1", "controller": SLOT2,
         "physical_disks": ["5I:1:1", "5I:1:2"],
         "root_device_hint": {"wwn": "0x600508b1001ce1e1"},
         "volume_name": "06715654PDVTF0BRH5T0MOACF0"},
        {"size_gb": 99, "raid_level": "5", "controller": SLOT2,
         "physical_disks": ["5I:1:3", "5I:1:4", "6I:1:5"],
         "root_device_hint": {"wwn": "0x600508b1001cc42c"},
         "volume_name": "02715627PDVTF0BRH5T0MO154D"},
    ])
}

fn check_tv1_result(r: &RecordingRunner, out: &Value) {
    assert_eq!(
        r.lines(),
        [C1_LINE, CREATE_R5, C1_LINE, CREATE_R1, C1_LINE],
        "the 100 GB disk is created first"
    );
    assert_eq!(out["logical_disks"], tv1_expected_lds());
    let pd: Vec<&str> = out["physical_disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        pd,
        ["6I:1:6", "6I:1:7", "5I:1:3", "5I:1:4", "6I:1:5", "5I:1:1", "5I:1:2"]
    );
    assert_eq!(ids_with_status(out, "ready"), ["6I:1:6", "6I:1:7"]);
}

/// TV-1: `test_manager.py: test_create_configuration_with_disk_input_create_succeeds`.
#[test]
fn tv1_disks_given_explicitly() {
    let r = runner_with(&TV1_DUMPS);
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1", "controller": SLOT2, "physical_disks": ["5I:1:1", "5I:1:2"]},
        {"size_gb": 100, "raid_level": "5", "controller": SLOT2,
         "physical_disks": ["5I:1:3", "5I:1:4", "6I:1:5"]},
    ]});
    let out = create(&r, cfg).unwrap();
    check_tv1_result(&r, &out);
    // create answers ssacli's confirmation prompt with "y" (no newline).
    let cmd = ssacli::create_on_drives("2", &["5I:1:1".into()], "1", Some(51200));
    assert_eq!(cmd.stdin.as_deref(), Some(&b"y"[..]));
}

/// TV-2: `test_manager.py: test_create_configuration_with_disk_input_create_fails`.
#[test]
fn tv2_new_logical_disk_not_found() {
    let r = runner_with(&[TV1_DUMPS[0], TV1_DUMPS[1], TV1_DUMPS[1]]);
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1", "controller": SLOT2, "physical_disks": ["5I:1:1", "5I:1:2"]},
        {"size_gb": 100, "raid_level": "5", "controller": SLOT2,
         "physical_disks": ["5I:1:3", "5I:1:4", "6I:1:5"]},
    ]});
    let e = create(&r, cfg).unwrap_err();
    assert_eq!(e.kind, ErrorKind::CleaningError);
    assert_contains(
        &e.details,
        &[
            "raid_level '1' and size 50 GB not found",
            "raid.delete_configuration",
        ],
    );
    assert_eq!(actions(&r), [CREATE_R5, CREATE_R1]);
}

/// TV-3: `test_manager.py: test_create_configuration_without_disk_input_succeeds`.
#[test]
fn tv3_automatic_disk_selection() {
    let r = runner_with(&TV1_DUMPS);
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1"}, {"size_gb": 100, "raid_level": "5"}]});
    let out = create(&r, cfg).unwrap();
    check_tv1_result(&r, &out);
}

/// TV-4: `test_manager.py:
/// test_create_configuration_without_disk_input_fails_on_disk_type`.
#[test]
fn tv4_disk_type_mismatch_creates_nothing() {
    let r = runner_with(&TV1_DUMPS);
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1", "disk_type": "ssd"},
        {"size_gb": 100, "raid_level": "5", "disk_type": "hdd"}]});
    let e = create(&r, cfg).unwrap_err();
    let want = [
        "of size 50 GB and raid level 1",
        "disk_type ssd",
        "Nothing was created",
    ];
    assert_contains(&e.details, &want);
    // Deliberate difference from proliantutils: the plan is checked before any create.
    assert_eq!(r.lines(), [C1_LINE]);
}

/// TV-5: `test_manager.py: test_create_configuration_invalid_logical_disks`.
#[test]
fn tv5_invalid_input() {
    for (cfg, want) in [
        (json!({"foo": 1}), "'logical_disks' is a required property"),
        (json!({"logical_disks": "foo"}), "'logical_disks' must be a list"),
        (
            json!({"logical_disks": [{"size_gb": 50, "raid_level": "1",
                "controller": "Smart Array P822 in Slot 0", "physical_disks": ["6I:1:5", "6I:1:6"]}]}),
            "Unable to find controller named 'Smart Array P822 in Slot 0'. The available controllers are 'Smart Array P822 in Slot 2'.",
        ),
    ] {
        let r = runner_with(&["p822_slot2_no_arrays_7_unassigned.txt"]);
        let e = create(&r, cfg).unwrap_err();
        assert_contains(&e.details, &[want]);
        assert_eq!(r.lines(), [C1_LINE]);
    }
    // `{}` as the node's target config means "nothing to do" (IPA), without running ssacli,
    // but an explicit empty config is invalid.
    let r = RecordingRunner::new();
    let out = create(&r, json!({}));
    assert_eq!(out.unwrap(), json!({}));
    assert!(r.lines().is_empty());
    let r = runner_with(&["p822_slot2_no_arrays_7_unassigned.txt"]);
    let e = raid::create(&r, ErrorKind::CleaningError, &json!({})).unwrap_err();
    assert!(e.details.contains("'logical_disks' is a required property"));
}

/// TV-6: `test_manager.py: test_create_configuration_hba_enabled`,
/// `test_delete_configuration_hba_enabled`.
#[test]
fn tv6_hba_mode() {
    let want = "None of the available SSA controllers Smart Array P822 in Slot 3 have RAID enabled";
    let r = runner_with(&["p822_slot3_hba_mode_1_drive.txt"]);
    let call = clean_call(json!({"logical_disks": "foo"}));
    let e = run_step(&r, "create_configuration", &call).unwrap_err();
    assert_contains(&e.details, &[want]);
    let r = runner_with(&["p822_slot3_hba_mode_1_drive.txt"]);
    let e = run_step(&r, "delete_configuration", &call).unwrap_err();
    assert_contains(&e.details, &[want]);
    assert_eq!(r.lines(), [C1_LINE]);
}

const SHARE_DUMPS: [&str; 3] = [
    "p822_slot2_no_arrays_3_unassigned.txt",
    "p822_slot2_raid1_50gb_1_unassigned.txt",
    "p822_slot2_two_raid1_50gb_lds_in_array_a_1_unassigned.txt",
];

fn share_runner() -> RecordingRunner {
    let r = runner_with(&SHARE_DUMPS);
    r.on(
        &argv("ssacli controller slot=2 array A create type=logicaldrive raid=0 size=?"),
        &fixture("array_size_query_max_521094mb.txt"),
    );
    r
}

/// TV-7: `test_manager.py: test_create_configuration_share_physical_disks`.
#[test]
fn tv7_both_logical_disks_shared() {
    let r = share_runner();
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "share_physical_disks": true, "number_of_physical_disks": 2,
         "raid_level": "0", "disk_type": "hdd"},
        {"size_gb": 50, "share_physical_disks": true, "raid_level": "1", "disk_type": "hdd"}]});
    let out = create(&r, cfg).unwrap();
    assert_eq!(
        r.lines(),
        [
            C1_LINE,
            CREATE_R1,
            C1_LINE,
            "ssacli controller slot=2 array A create type=logicaldrive raid=0 size=?",
            "ssacli controller slot=2 array A create type=logicaldrive raid=0 size=51200",
            C1_LINE,
        ]
    );
    let lds = &out["logical_disks"];
    for ld in lds.as_array().unwrap() {
        assert_eq!(ld["controller"], SLOT2);
        assert_eq!(ld["physical_disks"], json!(["5I:1:1", "5I:1:2"]));
        assert_eq!(ld["size_gb"], 49);
    }
    assert_eq!(lds[0]["array"], "A");
    assert_eq!(lds[0]["number_of_physical_disks"], 2);
    assert_eq!(lds[0]["root_device_hint"]["wwn"], "0x600508b1001c1614");
    assert_eq!(lds[0]["volume_name"], "06896EEAPDVTF0BRH5T0MO55C7");
    assert_eq!(lds[0]["raid_level"], "1"); // the fixture's artifact, see its README
    assert_eq!(lds[1]["root_device_hint"]["wwn"], "0x600508b1001c02bd");
    assert_eq!(ids_with_status(&out, "ready"), ["5I:1:3"]);
    assert_eq!(ids_with_status(&out, "active"), ["5I:1:1", "5I:1:2"]);
}

/// TV-8: `test_manager.py: test_create_configuration_share_nonshare_physical_disks`.
#[test]
fn tv8_shared_and_non_shared() {
    let r = share_runner();
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1", "disk_type": "hdd"},
        {"size_gb": 50, "share_physical_disks": true, "raid_level": "0", "disk_type": "hdd"}]});
    let out = create(&r, cfg).unwrap();
    assert_eq!(
        actions(&r),
        [
            CREATE_R1,
            "ssacli controller slot=2 create type=logicaldrive drives=5I:1:3 raid=0 size=51200"
        ]
    );
    for ld in out["logical_disks"].as_array().unwrap() {
        assert_eq!(ld["controller"], SLOT2);
        assert_eq!(ld["physical_disks"], json!(["5I:1:1", "5I:1:2"]));
    }
}

/// TV-9: `test_manager.py: test_create_configuration_max_as_size_gb`.
#[test]
fn tv9_max_size() {
    let r = runner_with(&[
        "p822_slot3_no_arrays_7_unassigned.txt",
        "p822_slot3_raid1_50gb_5_unassigned.txt",
        "p822_slot3_raid1_50gb_and_raid5_max_2_unassigned.txt",
    ]);
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1", "disk_type": "hdd"},
        {"size_gb": "MAX", "raid_level": "5", "disk_type": "hdd"}]});
    let out = create(&r, cfg).unwrap();
    assert_eq!(
        actions(&r),
        [
            "ssacli controller slot=3 create type=logicaldrive drives=5I:1:1,5I:1:2 raid=1 size=51200",
            "ssacli controller slot=3 create type=logicaldrive drives=5I:1:3,5I:1:4,6I:1:5 raid=5",
        ]
    );
    let lds = &out["logical_disks"];
    assert_eq!(lds[0]["root_device_hint"]["wwn"], "0x600508b1001c861a");
    assert_eq!(lds[0]["size_gb"], 49);
    assert_eq!(lds[0]["volume_name"], "013400ABPDVTF0BRH5T0KV22C5");
    assert_eq!(lds[1]["root_device_hint"]["wwn"], "0x600508b1001ce9de");
    assert_eq!(lds[1]["size_gb"], 1125);
    assert_eq!(lds[1]["volume_name"], Value::Null);
    assert_eq!(
        lds[1]["physical_disks"],
        json!(["5I:1:3", "5I:1:4", "6I:1:5"])
    );
    assert_eq!(lds[1]["controller"], "Smart Array P822 in Slot 3");
    assert_eq!(lds[1]["disk_type"], "hdd", "input keys stay");
}

const ERASE_HDD: &str = "ssacli controller slot=2 pd 1I:2:1 modify erase erasepattern=overwrite unrestricted=off forced";
const ERASE_SSD: &str =
    "ssacli controller slot=2 pd 6I:1:7 modify erase erasepattern=block unrestricted=off forced";
const ERASED: &str = "Erase Complete. Reenable Before Using.";

/// TV-10: `test_manager.py: test_erase_devices`.
#[test]
fn tv10_sanitize_erase() {
    let r = runner_with(&[
        "p440_slot2_sanitize_supported_2_unassigned_before_erase.txt",
        "p440_slot2_erase_complete.txt",
        "p440_slot2_erase_complete.txt",
    ]);
    let out = run_step(&r, "erase_devices", &clean_call(json!({}))).unwrap();
    assert_eq!(r.lines(), [C1_LINE, ERASE_HDD, ERASE_SSD, C1_LINE, C1_LINE]);
    // `pd <id>` is one argv element.
    assert_eq!(r.calls()[1][3], "pd 1I:2:1");
    assert_eq!(
        out,
        json!({"Disk Erase Status": {"Smart Array P440 in Slot 2": {
            "1I:2:1": ERASED,
            "Summary": "Sanitize Erase performed on the disks attached to the controller."}}})
    );
}

/// TV-11: `test_manager.py: test_erase_devices_in_progress`.
#[test]
fn tv11_erase_in_progress_is_polled() {
    let r = runner_with(&[
        "p440_slot2_sanitize_supported_2_unassigned_before_erase.txt",
        "p440_slot2_erase_in_progress.txt",
        "p440_slot2_erase_complete.txt",
        "p440_slot2_erase_complete.txt",
    ]);
    let out = run_step(&r, "erase_devices", &clean_call(json!({}))).unwrap();
    assert_eq!(
        r.lines(),
        [C1_LINE, ERASE_HDD, ERASE_SSD, C1_LINE, C1_LINE, C1_LINE]
    );
    assert_eq!(
        out["Disk Erase Status"]["Smart Array P440 in Slot 2"]["1I:2:1"],
        ERASED
    );
}

/// TV-11 with our time-out (proliantutils polls forever).
#[test]
fn tv11_erase_times_out() {
    let r = runner_with(&["p440_slot2_sanitize_supported_2_unassigned_before_erase.txt"]);
    r.on(&C1, &fixture("p440_slot2_erase_in_progress.txt"));
    let m = manager(&r).with_erase_timeout(std::time::Duration::ZERO);
    let e = m
        .execute("erase_devices", &clean_call(json!({})))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BlockDeviceEraseError);
    assert_contains(&e.details, &["still erasing", "1I:2:1"]);
}

/// TV-12: `test_manager.py: test_erase_devices_not_supported`.
#[test]
fn tv12_sanitize_not_supported_falls_back_to_zeros() {
    let r = runner_with(&[
        "p440_slot2_sanitize_not_supported_before_erase.txt",
        "p440_slot2_erase_in_progress_drive_sanitize_not_supported.txt",
        "p440_slot2_sanitize_not_supported_erase_complete.txt",
        "p440_slot2_sanitize_not_supported_erase_complete.txt",
    ]);
    r.on(
        &["ssacli", "controller", "slot=2"],
        "Drive 1I:2:1: This operation is not supported in this physical drive",
    );
    let out = run_step(&r, "erase_devices", &clean_call(json!({}))).unwrap();
    assert_eq!(
        actions(&r),
        [
            ERASE_HDD,
            "ssacli controller slot=2 pd 1I:2:1 modify erase erasepattern=zero forced"
        ]
    );
    assert_eq!(r.lines().len(), 6);
    assert_eq!(
        out,
        json!({"Disk Erase Status": {"Smart Array P440 in Slot 2": {
            "1I:2:1": ERASED,
            "Summary": "Drives overwritten with zeros because sanitize erase is not supported on the controller."}}})
    );
}

/// TV-13: `test_manager.py: test_delete_configuration`,
/// `test_delete_configuration_no_arrays`.
#[test]
fn tv13_delete() {
    let r = runner_with(&[
        "p822_slot2_raid1_558gb_5_unassigned.txt",
        "p822_slot2_no_arrays_7_unassigned.txt",
    ]);
    let out = run_step(&r, "delete_configuration", &clean_call(json!({}))).unwrap();
    assert_eq!(
        r.lines(),
        [
            C1_LINE,
            "ssacli controller slot=2 logicaldrive all delete forced",
            C1_LINE
        ]
    );
    assert_eq!(out["logical_disks"], json!([]));
    assert_eq!(ids_with_status(&out, "ready").len(), 7);

    let r = runner_with(&["p822_slot2_no_arrays_7_unassigned.txt"; 2]);
    run_step(&r, "delete_configuration", &clean_call(json!({}))).unwrap();
    assert!(
        actions(&r).is_empty(),
        "no controller command without arrays"
    );
}

/// TV-15: `proliantutils/tests/hpssa/test_objects.py:
/// ControllerTest.test_create_logical_drive_*`.
#[test]
fn tv15_create_command_lines() {
    let three: Vec<String> = ["5I:1:1", "5I:1:2", "5I:1:3"].map(String::from).to_vec();
    let line = |c: hwmgr::Cmd| c.argv().join(" ");
    assert_eq!(
        line(ssacli::create_on_drives("2", &three, "1", Some(51200))),
        "ssacli controller slot=2 create type=logicaldrive drives=5I:1:1,5I:1:2,5I:1:3 raid=1 size=51200"
    );
    assert_eq!(
        line(ssacli::create_on_drives("2", &three, "1", None)),
        "ssacli controller slot=2 create type=logicaldrive drives=5I:1:1,5I:1:2,5I:1:3 raid=1"
    );
    let c = ssacli::create_in_array("2", "A", "1", Some(51200));
    assert_eq!(c.stdin.as_deref(), Some(&b"y"[..]));
    assert_eq!(
        line(c),
        "ssacli controller slot=2 array A create type=logicaldrive raid=1 size=51200"
    );
    let req =
        &validate(&json!({"logical_disks": [{"size_gb": 50, "raid_level": "5+0"}]})).unwrap()[0];
    assert_eq!(req.ssacli_raid(), "50");
    let d = ssacli::delete_all("2");
    assert_eq!(d.stdin, None);
    assert_eq!(
        line(d),
        "ssacli controller slot=2 logicaldrive all delete forced"
    );
}

/// TV-16: `proliantutils/tests/hpssa/test_objects.py: ArrayTest.test_can_accomodate_*`.
#[test]
fn tv16_capacity_probe() {
    let prefix = ["ssacli", "controller", "slot=2", "array", "A"];
    let r = RecordingRunner::new();
    r.on(&prefix, &fixture("array_size_query_max_1042188mb.txt"));
    let max = probe_capacity(&r, "2", "A", "5").unwrap().unwrap();
    assert_eq!(max, 1042188);
    // 500 GB fits, MAX (asks for 1 GB) fits, 1500 GB does not.
    let fits = |gb: u64| gb * 1024 <= max;
    assert!(fits(500) && fits(1) && !fits(1500));
    assert_eq!(
        r.lines(),
        ["ssacli controller slot=2 array A create type=logicaldrive raid=5 size=?"]
    );

    let r = RecordingRunner::new();
    r.on_status(
        &prefix,
        1,
        &fixture("array_size_query_invalid_raid_level.txt"),
    );
    assert_eq!(probe_capacity(&r, "2", "A", "1"), Ok(None));

    let r = RecordingRunner::new();
    r.fail(&prefix, 2, "boom");
    let e = probe_capacity(&r, "2", "A", "1").unwrap_err();
    assert_contains(&e, &["exited with code 2", "boom"]);

    let r = RecordingRunner::new();
    assert_eq!(probe_capacity(&r, "2", "A", "50"), Ok(None), "empty output");
    assert_eq!(
        r.lines(),
        ["ssacli controller slot=2 array A create type=logicaldrive raid=50 size=?"]
    );
}

/// Drive counts the controller refuses (RAID 1 on three drives, ...), asked for as the
/// second logical disk: proliantutils creates the first one and then the controller refuses
/// the second; here nothing is created, and `apply_configuration` deletes nothing.
#[test]
fn drive_counts_the_controller_refuses_change_nothing() {
    for (bad, want) in [
        (
            json!({"size_gb": 50, "raid_level": "1", "number_of_physical_disks": 3}),
            "RAID level 1 needs an even number of disks",
        ),
        (
            json!({"size_gb": 50, "raid_level": "1", "controller": SLOT2,
                   "physical_disks": ["6I:1:5", "6I:1:6", "6I:1:7"]}),
            "RAID level 1 needs an even number of disks",
        ),
        (
            json!({"size_gb": 50, "raid_level": "1+0", "number_of_physical_disks": 5}),
            "RAID level 1+0 needs an even number of disks",
        ),
        (
            json!({"size_gb": 50, "raid_level": "5+0", "number_of_physical_disks": 7}),
            "RAID level 5+0 needs a disk count that splits into two or more equal parity groups",
        ),
        (
            json!({"size_gb": 50, "raid_level": "6+0", "number_of_physical_disks": 9}),
            "RAID level 6+0 needs a disk count that splits into two or more equal parity groups",
        ),
        (
            json!({"size_gb": 50, "raid_level": "5", "number_of_physical_disks": 2}),
            "RAID level 5 requires at least 3 disks, 2 requested",
        ),
        (
            json!({"size_gb": 50, "raid_level": "6", "number_of_physical_disks": 3}),
            "RAID level 6 requires at least 4 disks, 3 requested",
        ),
    ] {
        let cfg = json!({"logical_disks": [{"size_gb": 100, "raid_level": "5"}, bad]});
        let r = runner_with(&["p822_slot2_no_arrays_7_unassigned.txt"]);
        let e = create(&r, cfg.clone()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::CleaningError, "{}", e.details);
        assert_contains(&e.details, &["logical disk #2: ", want]);
        assert!(e.details.ends_with("Nothing was created."), "{}", e.details);
        assert_eq!(r.lines(), [C1_LINE], "{bad}");

        let r = runner_with(&["p822_slot2_raid1_558gb_5_unassigned.txt"]);
        let e = apply(&r, json!({"raid_config": cfg})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeploymentError, "{}", e.details);
        assert_contains(&e.details, &[want]);
        assert!(
            e.details.ends_with("Nothing was deleted or created."),
            "{}",
            e.details
        );
        assert_eq!(r.lines(), [C1_LINE], "{bad}");
    }
}

/// Four drives at RAID 1 are a count the controller takes (it builds RAID 1+0): sent as is.
#[test]
fn raid1_on_four_drives_reaches_the_controller() {
    let r = runner_with(&["p822_slot2_no_arrays_7_unassigned.txt"]);
    let cfg = json!({"logical_disks": [
        {"size_gb": 50, "raid_level": "1", "number_of_physical_disks": 4}]});
    // The scripted controller never shows a new logical drive, so the step fails after it.
    let _ = create(&r, cfg);
    let created = actions(&r);
    assert_eq!(created.len(), 1, "{created:?}");
    let drives = created[0]
        .split(' ')
        .find_map(|a| a.strip_prefix("drives="))
        .unwrap();
    assert_eq!(drives.split(',').count(), 4, "{created:?}");
    assert!(created[0].ends_with(" raid=1 size=51200"), "{created:?}");
}
