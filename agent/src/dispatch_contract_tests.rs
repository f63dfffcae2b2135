//! The dispatcher with the real managers: what the conductor sees from `get_*_steps`, and
//! which reason reaches the operator when a step cannot run here.

use super::Dispatcher;
use crate::errors::{AgentClass, Class};
use hwmgr::{ErrorKind, HardwareManager, Host, StepCall, StepKind};
use hwmgr_generic::{GenericHardwareManager, Machine};
use hwmgr_proliant::ProliantHardwareManager;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use testkit::RecordingRunner;

const SHOW_CONFIG: [&str; 6] = ["ssacli", "controller", "all", "show", "config", "detail"];

fn ssacli_fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hwmgr-proliant/tests/fixtures/ssacli")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The two shipped managers on one machine; `ssacli` prints `dump` (or is absent).
fn dispatcher(ssacli_dump: Option<&str>) -> (Dispatcher, RecordingRunner) {
    let r = RecordingRunner::new();
    match ssacli_dump {
        Some(dump) => {
            r.on(&SHOW_CONFIG, &ssacli_fixture(dump));
        }
        None => {
            r.without_program("ssacli");
        }
    }
    let runner: Arc<RecordingRunner> = Arc::new(r.clone());
    let machine = Machine::new(Host::new("/nonexistent-fake-root"), runner.clone());
    let managers: Vec<Arc<dyn HardwareManager>> = vec![
        Arc::new(GenericHardwareManager::new(machine)),
        Arc::new(ProliantHardwareManager::new(runner)),
    ];
    (Dispatcher::new(managers), r)
}

fn all_steps(d: &Dispatcher) -> Value {
    let call = StepCall::new(
        StepKind::Clean,
        json!({"uuid": "n1"}),
        json!([]),
        Map::new(),
    );
    let mut out = Map::new();
    for kind in StepKind::ALL {
        out.insert(
            format!("{}_steps", kind.as_str()),
            Value::Object(d.steps(kind, &call)),
        );
    }
    out.insert(
        "hardware_manager_version".into(),
        Value::Object(d.versions()),
    );
    Value::Object(out)
}

/// Re-serialized, so key order counts as well as content.
fn assert_same_json(actual: &Value, recorded: &str) {
    let recorded: Value = serde_json::from_str(recorded).expect("recorded JSON");
    assert_eq!(
        serde_json::to_string_pretty(actual).unwrap(),
        serde_json::to_string_pretty(&recorded).unwrap()
    );
}

/// `get_clean_steps`, `get_deploy_steps` and `get_service_steps` as recorded before the
/// steps became declarations (`hwmgr::step::StepDecl`), plus the erase steps added since
/// (`erase_devices` 10, `erase_devices_express` and `erase_pstore` 0, IPA's flags; with the
/// ProLiant manager loaded its `erase_devices` wins, as proliantutils' does in IPA) and
/// `burnin_cpu` (clean and service, 0, abortable, after the RAID steps as in IPA's lists).
#[test]
fn step_lists_are_the_recorded_ones() {
    let (d, _) = dispatcher(None);
    assert_same_json(
        &all_steps(&d),
        include_str!("testdata/steps_generic_only.json"),
    );
    let (d, _) = dispatcher(Some("p822_slot2_no_arrays_7_unassigned.txt"));
    assert_same_json(
        &all_steps(&d),
        include_str!("testdata/steps_generic_and_proliant.json"),
    );
}

fn hardware_raid_call(kind: StepKind) -> StepCall {
    let config =
        json!({"logical_disks": [{"size_gb": 100, "raid_level": "1", "is_root_volume": true}]});
    let mut args = Map::new();
    args.insert("raid_config".into(), config.clone());
    StepCall::new(
        kind,
        json!({"uuid": "n1", "target_raid_config": config}),
        json!([]),
        args,
    )
}

/// Hardware RAID asked for, the Smart Array manager not loaded: the operator reads the
/// Smart Array manager's reason, not the generic manager's software-RAID rules.
#[test]
fn hardware_raid_without_a_loaded_smart_array_manager_names_its_reason() {
    let cases = [
        (
            Some("p822_slot3_hba_mode_1_drive.txt"),
            "ProliantHardwareManager: not loaded: every controller is in HBA mode (Smart Array P822 in Slot 3)",
        ),
        (
            Some("p822_slot2_bad_physical_drive_size.txt"),
            "ProliantHardwareManager: not loaded: could not understand `ssacli controller all show config detail`",
        ),
        (None, "ProliantHardwareManager: not loaded: no `ssacli` on PATH"),
    ];
    for (dump, reason) in cases {
        let (d, r) = dispatcher(dump);
        for (kind, method) in [
            (StepKind::Clean, "create_configuration"),
            (StepKind::Deploy, "apply_configuration"),
            (StepKind::Service, "apply_configuration"),
        ] {
            let e = d
                .dispatch(method, &hardware_raid_call(kind), Some(kind))
                .unwrap_err();
            assert!(e.is(AgentClass::MethodNotFound), "{e}");
            let details = &e.details;
            assert!(details.contains(reason), "{dump:?} {method}: {details}");
            assert!(
                details.contains(
                    "GenericHardwareManager: the RAID configuration asks for hardware RAID"
                ),
                "{details}"
            );
            assert!(
                !details.contains("needs \"controller\": \"software\""),
                "the generic manager's software rules are beside the point: {details}"
            );
            assert!(!details.contains(".."), "{details}");
        }
        assert!(
            r.lines()
                .iter()
                .all(|l| l.starts_with("ssacli controller all show")),
            "only the support check ran: {:?}",
            r.lines()
        );
    }
}

/// The same request with the Smart Array manager loaded reaches the controller.
#[test]
fn hardware_raid_with_a_loaded_smart_array_manager_is_built_there() {
    let (d, r) = dispatcher(Some("p822_slot2_no_arrays_7_unassigned.txt"));
    let call = hardware_raid_call(StepKind::Clean);
    // The scripted controller never shows the new drive, so the step fails, but there.
    let e = d
        .dispatch("create_configuration", &call, Some(StepKind::Clean))
        .unwrap_err();
    assert_eq!(e.class, Class::Manager(ErrorKind::CleaningError), "{e}");
    assert!(
        r.lines()
            .iter()
            .any(|l| l.contains("create type=logicaldrive")),
        "{:?}",
        r.lines()
    );
}

#[test]
fn manager_summary_names_missing_programs() {
    let (d, r) = dispatcher(None);
    r.without_program("mdadm");
    let summary = d.manager_summary();
    assert!(
        summary[0].contains("raid.create_configuration needs mdadm"),
        "{summary:?}"
    );
    assert!(
        !summary[0].contains("erase_devices_metadata"),
        "{summary:?}"
    );
}
