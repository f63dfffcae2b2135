//! Shared test helpers: fixtures and a scripted `ssacli`.
#![allow(dead_code)]

use hwmgr::text::{is_one_sentence_end, sentence};
use hwmgr::{AgentError, HardwareManager, Step, StepCall, StepKind, Support};
use hwmgr_proliant::ProliantHardwareManager;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use testkit::RecordingRunner;

pub const C1: [&str; 6] = ["ssacli", "controller", "all", "show", "config", "detail"];
pub const C1_LINE: &str = "ssacli controller all show config detail";

/// The argv of a command line whose arguments hold no spaces, for scripting a runner.
pub fn argv(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

pub fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ssacli")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A runner whose successive `show config detail` runs print `dumps` in order (the
/// runner tries the most recently added rule first, hence the reverse).
pub fn runner_with(dumps: &[&str]) -> RecordingRunner {
    let r = RecordingRunner::new();
    for d in dumps.iter().rev() {
        r.on_times(&C1, &fixture(d), 1);
    }
    r
}

pub fn manager(r: &RecordingRunner) -> Checked {
    Checked(
        ProliantHardwareManager::new(Arc::new(r.clone()))
            .with_erase_poll_interval(Duration::ZERO)
            .with_erase_timeout(Duration::from_secs(5)),
    )
}

/// The manager under test, scanning every message it gives the operator: a step error's
/// details end with exactly one full stop and never show "..", and a support reason (a
/// clause the agent puts inside a sentence) has no doubled full stop either. Every test
/// that goes through [`manager`] checks its messages this way.
pub struct Checked(pub ProliantHardwareManager);

impl Checked {
    pub fn with_erase_timeout(self, timeout: Duration) -> Self {
        Checked(self.0.with_erase_timeout(timeout))
    }
}

impl std::ops::Deref for Checked {
    type Target = ProliantHardwareManager;
    fn deref(&self) -> &ProliantHardwareManager {
        &self.0
    }
}

impl HardwareManager for Checked {
    fn class_name(&self) -> &str {
        self.0.class_name()
    }
    fn name(&self) -> &str {
        self.0.name()
    }
    fn version(&self) -> &str {
        self.0.version()
    }
    fn evaluate_support(&self) -> Support {
        let s = self.0.evaluate_support();
        assert!(
            is_one_sentence_end(&sentence(&s.reason)),
            "doubled full stop in the support reason: {:?}",
            s.reason
        );
        s
    }
    fn steps(&self, kind: StepKind, call: &StepCall) -> Vec<Step> {
        self.0.steps(kind, call)
    }
    fn execute(&self, method: &str, call: &StepCall) -> Option<Result<Value, AgentError>> {
        let out = self.0.execute(method, call);
        if let Some(Err(e)) = &out {
            assert!(
                is_one_sentence_end(&e.details),
                "{method}: the message must end with exactly one full stop and have no \"..\": {:?}",
                e.details
            );
        }
        out
    }
}

pub fn clean_call(target_raid_config: Value) -> StepCall {
    StepCall::new(
        StepKind::Clean,
        json!({"uuid": "n1", "target_raid_config": target_raid_config}),
        json!([]),
        Map::new(),
    )
}

pub fn deploy_call(args: Value) -> StepCall {
    let args = args.as_object().cloned().unwrap_or_default();
    StepCall::new(StepKind::Deploy, json!({"uuid": "n1"}), json!([]), args)
}

/// Runs the manager's step `step` (which it must know) with `call`, over the scripted `r`.
pub fn run_step(r: &RecordingRunner, step: &str, call: &StepCall) -> Result<Value, AgentError> {
    manager(r)
        .execute(step, call)
        .unwrap_or_else(|| panic!("the manager does not run {step}"))
}

/// `raid.create_configuration` of the node's `target_raid_config`, as a clean step.
pub fn create(r: &RecordingRunner, target_raid_config: Value) -> Result<Value, AgentError> {
    run_step(r, "create_configuration", &clean_call(target_raid_config))
}

/// `raid.apply_configuration` with these step arguments, as a deploy step.
pub fn apply(r: &RecordingRunner, args: Value) -> Result<Value, AgentError> {
    run_step(r, "apply_configuration", &deploy_call(args))
}

/// Fails naming the first of `needles` that `text` does not contain.
pub fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
}

/// Every command except the `show config detail` reads.
pub fn actions(r: &RecordingRunner) -> Vec<String> {
    r.lines().into_iter().filter(|l| l != C1_LINE).collect()
}

pub fn ids_with_status(cfg: &Value, status: &str) -> Vec<String> {
    cfg["physical_disks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|d| d["status"] == status)
                .filter_map(|d| d["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
