//! The dispatcher with the real managers: what the conductor sees from `get_*_steps`, and
//! which reason reaches the operator when a step cannot run here.

use super::Dispatcher;
use hwmgr::{HardwareManager, Host, RecordingRunner, StepCall, StepKind};
use hwmgr_generic::{GenericHardwareManager, Machine};
use hwmgr_proliant::ProliantHardwareManager;
use serde_json::{json, Map, Value};
use std::sync::Arc;

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
    out.insert("hardware_manager_version".into(), Value::Object(d.versions()));
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
/// steps became declarations (`hwmgr::step::StepDecl`): the conductor must see no change.
#[test]
fn step_lists_are_the_recorded_ones() {
    let (d, _) = dispatcher(None);
    assert_same_json(&all_steps(&d), include_str!("testdata/steps_generic_only.json"));
    let (d, _) = dispatcher(Some("p822_slot2_no_arrays_7_unassigned.txt"));
    assert_same_json(
        &all_steps(&d),
        include_str!("testdata/steps_generic_and_proliant.json"),
    );
}
