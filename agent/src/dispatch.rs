//! Step dispatch across hardware managers, with IPA's semantics
//! (`ironic_python_agent/hardware.py: dispatch_to_managers`, `get_managers`): managers
//! ordered by support level, steps deduplicated by name, the highest-support manager that
//! implements a method runs it, and "not mine" falls through to the next.
//!
//! Beyond IPA: when nothing provides a method, the error says which steps ARE available and
//! why each declined manager was not loaded (the "step not found" pain).

use crate::errors::{AgentClass, IpaError};
use hwmgr::text::clause;
use hwmgr::{HardwareManager, Step, StepCall, StepKind, Support};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct LoadedManager {
    pub manager: Arc<dyn HardwareManager>,
    pub support: Support,
}

/// A manager that evaluated itself as unsupported, kept for the explanation.
pub struct DeclinedManager {
    pub class_name: String,
    pub support: Support,
}

pub struct Dispatcher {
    loaded: Vec<LoadedManager>,
    declined: Vec<DeclinedManager>,
}

impl Dispatcher {
    /// Evaluates every candidate once, keeps those with support > NONE sorted by support
    /// descending (stable for ties), and initializes them in that order.
    pub fn new(candidates: Vec<Arc<dyn HardwareManager>>) -> Self {
        let mut loaded = Vec::new();
        let mut declined = Vec::new();
        for manager in candidates {
            let support = manager.evaluate_support();
            if support.level.0 > 0 {
                loaded.push(LoadedManager { manager, support });
            } else {
                declined.push(DeclinedManager {
                    class_name: manager.class_name().to_string(),
                    support,
                });
            }
        }
        loaded.sort_by_key(|m| std::cmp::Reverse(m.support.level));
        for m in &loaded {
            m.manager.initialize();
        }
        Dispatcher { loaded, declined }
    }

    pub fn loaded(&self) -> &[LoadedManager] {
        &self.loaded
    }

    /// `hardware_manager_version`: `{name: version}` of every loaded manager.
    pub fn versions(&self) -> Map<String, Value> {
        self.loaded
            .iter()
            .map(|m| {
                (
                    m.manager.name().to_string(),
                    Value::String(m.manager.version().to_string()),
                )
            })
            .collect()
    }

    /// Errors with `VersionMismatch` when the conductor's recorded versions differ from ours.
    pub fn check_versions(&self, theirs: Option<&Value>) -> Result<(), IpaError> {
        let Some(theirs) = theirs.filter(|v| !v.is_null()) else {
            return Ok(());
        };
        let ours = Value::Object(self.versions());
        if *theirs == ours {
            return Ok(());
        }
        Err(IpaError::new(
            AgentClass::VersionMismatch,
            format!("Current versions: {ours}, versions used by ironic: {theirs}"),
        ))
    }

    /// `<kind>_steps`: `{manager class name: [winning steps]}` after deduplication.
    pub fn steps(&self, kind: StepKind, call: &StepCall) -> Map<String, Value> {
        let per_manager: Vec<(&LoadedManager, Vec<Step>)> = self
            .loaded
            .iter()
            .map(|m| (m, m.manager.steps(kind, call)))
            .collect();
        // Winner per step name: highest support, then higher priority, then the
        // alphabetically smaller class name.
        let mut winners: BTreeMap<&str, (&LoadedManager, &Step)> = BTreeMap::new();
        for (m, steps) in &per_manager {
            for s in steps {
                let better = match winners.get(s.step.as_str()) {
                    None => true,
                    Some((wm, ws)) => {
                        (
                            m.support.level,
                            s.priority,
                            std::cmp::Reverse(m.manager.class_name()),
                        ) > (
                            wm.support.level,
                            ws.priority,
                            std::cmp::Reverse(wm.manager.class_name()),
                        )
                    }
                };
                if better {
                    winners.insert(s.step.as_str(), (m, s));
                }
            }
        }
        let mut out = Map::new();
        for (m, steps) in &per_manager {
            let won: Vec<Value> = steps
                .iter()
                .filter(|s| {
                    winners
                        .get(s.step.as_str())
                        .is_some_and(|(wm, ws)| std::ptr::eq(*wm, *m) && std::ptr::eq(*ws, *s))
                })
                .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
                .collect();
            if !won.is_empty() {
                out.insert(m.manager.class_name().to_string(), Value::Array(won));
            }
        }
        out
    }

    /// Runs `method` on the first manager (in dispatch order) that implements it and does not
    /// answer `IncompatibleHardwareMethodError`. `kind` is used only to explain a miss.
    pub fn dispatch(
        &self,
        method: &str,
        call: &StepCall,
        kind: Option<StepKind>,
    ) -> Result<Value, IpaError> {
        let mut incompatible = Vec::new();
        for m in &self.loaded {
            match m.manager.execute(method, call) {
                None => continue,
                Some(Err(e)) if e.is_incompatible() => {
                    tracing::info!(
                        manager = m.manager.class_name(),
                        method,
                        "manager declined the method: {}",
                        e.details
                    );
                    incompatible.push(format!(
                        "{}: {}",
                        m.manager.class_name(),
                        clause(&e.details)
                    ));
                }
                Some(other) => return other.map_err(IpaError::from),
            }
        }
        Err(IpaError::new(
            AgentClass::MethodNotFound,
            self.explain_missing(method, kind, call, &incompatible),
        ))
    }

    /// Calls `method` on every loaded manager that implements it and collects the results by
    /// class name (IPA's `dispatch_to_all_managers`).
    pub fn dispatch_to_all(
        &self,
        method: &str,
        call: &StepCall,
    ) -> Result<Map<String, Value>, IpaError> {
        let mut out = Map::new();
        for m in &self.loaded {
            match m.manager.execute(method, call) {
                None => {}
                Some(Err(e)) if e.is_incompatible() => {}
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(v)) => {
                    out.insert(m.manager.class_name().to_string(), v);
                }
            }
        }
        if out.is_empty() {
            return Err(IpaError::new(
                AgentClass::MethodNotFound,
                format!("Could not find method: {method}"),
            ));
        }
        Ok(out)
    }

    fn explain_missing(
        &self,
        method: &str,
        kind: Option<StepKind>,
        call: &StepCall,
        incompatible: &[String],
    ) -> String {
        let mut text = format!("Could not find method: {method}.");
        if !incompatible.is_empty() {
            // The step exists but every manager offering it said "not for this node": their
            // reasons, and below why the others were not loaded, are the explanation.
            text += &format!(
                " Every loaded hardware manager that has `{method}` declined it for this node: {}.",
                incompatible.join("; ")
            );
        } else if let Some(kind) = kind {
            let available: Vec<String> = self
                .steps(kind, call)
                .values()
                .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                .map(|s| {
                    format!(
                        "{}.{}",
                        s["interface"].as_str().unwrap_or("?"),
                        s["step"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            text += &format!(
                " No loaded hardware manager provides the {} step `{method}`. Available {} steps: {}.",
                kind.as_str(),
                kind.as_str(),
                if available.is_empty() { "none".to_string() } else { available.join(", ") }
            );
        }
        text += &format!(" Hardware managers: {}.", self.manager_summary().join("; "));
        if !self.declined.is_empty() {
            text += " If the step belongs to a manager that was not loaded, fix the reason given \
                     (e.g. add the vendor tool to the ramdisk) and reboot the node into the agent.";
        }
        text
    }

    /// One line per manager: loaded with its support level (and the declared steps whose
    /// programs are missing), or not loaded with the reason.
    pub fn manager_summary(&self) -> Vec<String> {
        let loaded = self.loaded.iter().map(|m| {
            let missing: Vec<String> = m
                .manager
                .missing_programs()
                .iter()
                .map(ToString::to_string)
                .collect();
            let missing = if missing.is_empty() {
                String::new()
            } else {
                format!(" (not installed here: {})", missing.join(", "))
            };
            format!(
                "{}: loaded ({}, version {}): {}{missing}",
                m.manager.class_name(),
                m.support.level,
                m.manager.version(),
                clause(&m.support.reason)
            )
        });
        let declined = self.declined.iter().map(|d| {
            format!(
                "{}: not loaded: {}",
                d.class_name,
                clause(&d.support.reason)
            )
        });
        loaded.chain(declined).collect()
    }
}

#[cfg(test)]
#[path = "dispatch_contract_tests.rs"]
mod contract_tests;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hwmgr::{AgentError, ErrorKind, SupportLevel};
    use serde_json::json;
    use std::sync::Mutex;

    /// A scripted manager for dispatch tests.
    pub struct FakeManager {
        pub class: &'static str,
        pub name: &'static str,
        pub level: u32,
        pub steps: Vec<Step>,
        /// method -> what execute answers; missing = not mine.
        pub answers: Vec<(&'static str, Result<Value, AgentError>)>,
        pub calls: Mutex<Vec<String>>,
    }

    impl FakeManager {
        pub fn new(class: &'static str, level: u32) -> Self {
            FakeManager {
                class,
                name: class,
                level,
                steps: vec![],
                answers: vec![],
                calls: Mutex::new(vec![]),
            }
        }
        pub fn step(mut self, iface: &str, step: &str, prio: i64) -> Self {
            self.steps.push(Step::new(iface, step, prio));
            self
        }
        pub fn answer(mut self, method: &'static str, r: Result<Value, AgentError>) -> Self {
            self.answers.push((method, r));
            self
        }
    }

    impl HardwareManager for FakeManager {
        fn class_name(&self) -> &str {
            self.class
        }
        fn name(&self) -> &str {
            self.name
        }
        fn version(&self) -> &str {
            "1.0"
        }
        fn evaluate_support(&self) -> Support {
            Support::new(SupportLevel(self.level), format!("level {}", self.level))
        }
        fn steps(&self, _: StepKind, _: &StepCall) -> Vec<Step> {
            self.steps.clone()
        }
        fn execute(&self, method: &str, _: &StepCall) -> Option<Result<Value, AgentError>> {
            self.calls.lock().unwrap().push(method.to_string());
            self.answers
                .iter()
                .find(|(m, _)| *m == method)
                .map(|(_, r)| r.clone())
        }
    }

    fn dispatcher(ms: Vec<FakeManager>) -> Dispatcher {
        Dispatcher::new(
            ms.into_iter()
                .map(|m| Arc::new(m) as Arc<dyn HardwareManager>)
                .collect(),
        )
    }

    #[test]
    fn orders_by_support_and_drops_none() {
        let d = dispatcher(vec![
            FakeManager::new("Generic", 1),
            FakeManager::new("Absent", 0),
            FakeManager::new("Vendor", 3),
            FakeManager::new("Mainline", 2),
        ]);
        let names: Vec<&str> = d.loaded().iter().map(|m| m.manager.class_name()).collect();
        assert_eq!(names, ["Vendor", "Mainline", "Generic"]);
        assert_eq!(d.declined.len(), 1);
        assert!(d
            .manager_summary()
            .contains(&"Absent: not loaded: level 0".to_string()));
    }

    #[test]
    fn deduplicates_steps_like_ipa() {
        let d = dispatcher(vec![
            FakeManager::new("GenericHardwareManager", 1)
                .step("raid", "create_configuration", 0)
                .step("deploy", "erase_devices", 10)
                .step("deploy", "erase_devices_metadata", 99),
            FakeManager::new("ProliantHardwareManager", 3)
                .step("raid", "create_configuration", 0)
                .step("deploy", "erase_devices", 0),
            // Same support: higher priority wins, then the smaller class name.
            FakeManager::new("BManager", 2).step("deploy", "burnin", 5),
            FakeManager::new("AManager", 2)
                .step("deploy", "burnin", 5)
                .step("deploy", "tie", 1),
            FakeManager::new("CManager", 2).step("deploy", "tie", 2),
        ]);
        let steps = d.steps(StepKind::Clean, &StepCall::default());
        let names = |m: &str| -> Vec<String> {
            steps.get(m).map_or(vec![], |v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["step"].as_str().unwrap().to_string())
                    .collect()
            })
        };
        assert_eq!(
            names("ProliantHardwareManager"),
            ["create_configuration", "erase_devices"]
        );
        assert_eq!(names("GenericHardwareManager"), ["erase_devices_metadata"]);
        assert_eq!(names("AManager"), ["burnin"]);
        assert_eq!(names("CManager"), ["tie"]);
        assert!(
            !steps.contains_key("BManager"),
            "managers without winners are absent"
        );
    }

    #[test]
    fn dispatch_falls_through_not_mine_and_incompatible() {
        let d = dispatcher(vec![
            FakeManager::new("Generic", 1)
                .answer("create_configuration", Ok(json!({"by": "generic"}))),
            FakeManager::new("Vendor", 3).answer(
                "create_configuration",
                Err(AgentError::incompatible("controller is software")),
            ),
            FakeManager::new("Other", 2),
        ]);
        let r = d.dispatch(
            "create_configuration",
            &StepCall::default(),
            Some(StepKind::Clean),
        );
        assert_eq!(r.unwrap(), json!({"by": "generic"}));
    }

    #[test]
    fn dispatch_stops_at_a_real_error() {
        let d = dispatcher(vec![
            FakeManager::new("Generic", 1).answer("x", Ok(json!(1))),
            FakeManager::new("Vendor", 3).answer(
                "x",
                Err(AgentError::new(ErrorKind::SoftwareRAIDError, "boom")),
            ),
        ]);
        let e = d.dispatch("x", &StepCall::default(), None).unwrap_err();
        assert_eq!(
            (e.class, e.details.as_str()),
            (
                crate::errors::Class::Manager(ErrorKind::SoftwareRAIDError),
                "boom"
            )
        );
    }

    #[test]
    fn missing_method_is_explained() {
        let d = dispatcher(vec![
            FakeManager::new("GenericHardwareManager", 1).step(
                "deploy",
                "erase_devices_metadata",
                99,
            ),
            FakeManager::new("ProliantHardwareManager", 0),
        ]);
        let e = d
            .dispatch(
                "create_configuration",
                &StepCall::default(),
                Some(StepKind::Clean),
            )
            .unwrap_err();
        assert!(e.is(AgentClass::MethodNotFound));
        assert!(
            e.details
                .starts_with("Could not find method: create_configuration."),
            "{}",
            e.details
        );
        assert!(
            e.details
                .contains("Available clean steps: deploy.erase_devices_metadata."),
            "{}",
            e.details
        );
        assert!(
            e.details
                .contains("ProliantHardwareManager: not loaded: level 0"),
            "{}",
            e.details
        );
    }

    #[test]
    fn version_check() {
        let d = dispatcher(vec![FakeManager::new("generic_hardware_manager", 1)]);
        assert!(d.check_versions(None).is_ok());
        assert!(d.check_versions(Some(&Value::Null)).is_ok());
        assert!(d
            .check_versions(Some(&json!({"generic_hardware_manager": "1.0"})))
            .is_ok());
        let e = d
            .check_versions(Some(&json!({"generic_hardware_manager": "1.1"})))
            .unwrap_err();
        assert!(e.is(AgentClass::VersionMismatch));
        assert_eq!(e.to_json()["code"], 409);
        assert!(e.details.contains("versions used by ironic"));
    }

    #[test]
    fn dispatch_to_all_collects() {
        let d = dispatcher(vec![
            FakeManager::new("A", 1).answer("full_sync", Ok(Value::Null)),
            FakeManager::new("B", 2),
        ]);
        let r = d
            .dispatch_to_all("full_sync", &StepCall::default())
            .unwrap();
        assert_eq!(r.keys().collect::<Vec<_>>(), ["A"]);
        assert!(d.dispatch_to_all("nothing", &StepCall::default()).is_err());
    }
}
