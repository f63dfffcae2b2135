//! Steps as the conductor sees them and the call a manager receives
//! (`ironic_python_agent/hardware.py: HardwareManager.get_clean_steps` documents the keys).
//!
//! A manager declares each step once, as a [`StepDecl`]: interface, name, the step kinds it
//! is offered for with their priority and `abortable` flag, `argsinfo`, the programs it
//! needs, and the function that runs it. [`StepTable::steps`] builds `get_*_steps` from the
//! declarations and [`StepTable::execute`] runs them, so the list and the dispatch cannot
//! disagree:
//!
//! ```
//! use hwmgr::step::{Offer, StepDecl, StepTable};
//! use hwmgr::{Result, StepCall, StepKind};
//! use serde_json::Value;
//!
//! struct MyManager;
//! fn wipe(_m: &MyManager, _call: &StepCall) -> Result<Value> {
//!     Ok(Value::Null)
//! }
//! const STEPS: &[StepDecl<MyManager>] = &[StepDecl {
//!     interface: "deploy",
//!     name: "wipe",
//!     offers: &[Offer::clean(0).abortable(), Offer::deploy(0)],
//!     argsinfo: &[],
//!     requires: &["wipefs"],
//!     run: wipe,
//! }];
//! assert_eq!(STEPS.steps(StepKind::Clean)[0].abortable, Some(true));
//! assert!(STEPS.execute(&MyManager, "wipe", &StepCall::default()).is_some());
//! assert!(STEPS.execute(&MyManager, "other", &StepCall::default()).is_none());
//! ```

use crate::boolean;
use crate::error::{AgentError, ErrorKind, Result};
use crate::runner::Runner;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The three step families; each has its own command extension and result keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Clean,
    Deploy,
    Service,
}

impl StepKind {
    pub const ALL: [StepKind; 3] = [StepKind::Clean, StepKind::Deploy, StepKind::Service];

    /// "clean", "deploy", "service": the extension name and the key prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Clean => "clean",
            StepKind::Deploy => "deploy",
            StepKind::Service => "service",
        }
    }

    /// The IPA error class of a failed step of this kind (`ironic_python_agent/errors.py`:
    /// `CleaningError`, `DeploymentError`, `ServicingError`). The one place this is decided.
    pub fn error_kind(self) -> ErrorKind {
        match self {
            StepKind::Clean => ErrorKind::CleaningError,
            StepKind::Deploy => ErrorKind::DeploymentError,
            StepKind::Service => ErrorKind::ServicingError,
        }
    }
}

/// A step as reported by `get_*_steps`. `abortable` and `argsinfo` are omitted when unset,
/// because IPA's deploy steps carry no `abortable` key at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub priority: i64,
    pub interface: String,
    pub reboot_requested: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub abortable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub argsinfo: Option<Map<String, Value>>,
}

impl Step {
    pub fn new(interface: &str, step: &str, priority: i64) -> Self {
        Step {
            step: step.to_string(),
            priority,
            interface: interface.to_string(),
            reboot_requested: false,
            abortable: None,
            argsinfo: None,
        }
    }

    pub fn abortable(mut self, abortable: bool) -> Self {
        self.abortable = Some(abortable);
        self
    }

    /// Adds an `argsinfo` entry; the conductor rejects manual-step args not listed here.
    pub fn arg(mut self, name: &str, description: &str, required: bool) -> Self {
        let mut info = Map::new();
        info.insert("description".into(), Value::String(description.into()));
        info.insert("required".into(), Value::Bool(required));
        self.argsinfo
            .get_or_insert_with(Map::new)
            .insert(name.into(), Value::Object(info));
        self
    }
}

/// Everything a manager gets when asked to run a step: the conductor's node and ports dicts
/// as sent, and the step's `args` merged in.
#[derive(Debug, Clone, Default)]
pub struct StepCall {
    pub kind: Option<StepKind>,
    pub node: Value,
    pub ports: Value,
    pub args: Map<String, Value>,
}

impl StepCall {
    pub fn new(kind: StepKind, node: Value, ports: Value, args: Map<String, Value>) -> Self {
        StepCall {
            kind: Some(kind),
            node,
            ports,
            args,
        }
    }

    /// A field of the node dict, e.g. `node_field("target_raid_config")`.
    pub fn node_field(&self, key: &str) -> Option<&Value> {
        self.node.get(key).filter(|v| !v.is_null())
    }

    pub fn node_uuid(&self) -> &str {
        self.node
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or("<unknown node>")
    }

    /// The error class for a failure of this step: that of its kind, [`StepKind::error_kind`]
    /// (a call without a kind, e.g. an internal method, reports `CleaningError`).
    pub fn error_kind(&self) -> ErrorKind {
        self.kind
            .map_or(ErrorKind::CleaningError, StepKind::error_kind)
    }

    /// `driver_internal_info.<key>` of the node.
    pub fn internal_info(&self, key: &str) -> Option<&Value> {
        self.node
            .get("driver_internal_info")
            .and_then(|d| d.get(key))
            .filter(|v| !v.is_null())
    }
}

/// For which step kind a step is offered, with that kind's priority and `abortable` flag
/// (IPA gives one step different values per kind, e.g. `erase_devices_metadata`: clean 99
/// and abortable, deploy 0 without the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub kind: StepKind,
    pub priority: i64,
    /// `None` leaves the key out, as IPA's deploy steps do.
    pub abortable: Option<bool>,
}

impl Offer {
    pub const fn new(kind: StepKind, priority: i64) -> Offer {
        Offer {
            kind,
            priority,
            abortable: None,
        }
    }

    pub const fn clean(priority: i64) -> Offer {
        Offer::new(StepKind::Clean, priority)
    }

    pub const fn deploy(priority: i64) -> Offer {
        Offer::new(StepKind::Deploy, priority)
    }

    pub const fn service(priority: i64) -> Offer {
        Offer::new(StepKind::Service, priority)
    }

    /// Reported as `"abortable": true`.
    pub const fn abortable(self) -> Offer {
        Offer {
            abortable: Some(true),
            ..self
        }
    }
}

/// One `argsinfo` entry; the conductor refuses manual-step arguments not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
}

/// One step of a manager `M`, declared once: what `get_*_steps` reports and what
/// `execute` runs.
pub struct StepDecl<M: ?Sized + 'static> {
    /// The driver interface (`raid`, `deploy`, ...).
    pub interface: &'static str,
    /// The step name, which is also the method name the conductor sends.
    pub name: &'static str,
    /// The step kinds it is offered for; a kind not listed does not report it.
    pub offers: &'static [Offer],
    /// `argsinfo`, in this order; empty leaves the key out.
    pub argsinfo: &'static [ArgInfo],
    /// Programs the step runs (plain names looked up on PATH, e.g. `mdadm`), so the agent
    /// can say which steps cannot run on this machine and why.
    pub requires: &'static [&'static str],
    /// Runs the step.
    pub run: fn(&M, &StepCall) -> Result<Value>,
}

impl<M: ?Sized> StepDecl<M> {
    /// `interface.name`, as operators and the conductor write it.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.interface, self.name)
    }

    /// The step as `get_<kind>_steps` reports it, if it is offered for `kind`.
    pub fn step(&self, kind: StepKind) -> Option<Step> {
        let offer = self.offers.iter().find(|o| o.kind == kind)?;
        let mut step = Step::new(self.interface, self.name, offer.priority);
        step.abortable = offer.abortable;
        for a in self.argsinfo {
            step = step.arg(a.name, a.description, a.required);
        }
        Some(step)
    }

    /// The programs of [`StepDecl::requires`] that `runner` cannot find.
    pub fn missing_programs(&self, runner: &dyn Runner) -> Vec<&'static str> {
        self.requires
            .iter()
            .copied()
            .filter(|p| !runner.has_program(p))
            .collect()
    }

    /// `raid.apply_configuration(raid_config, delete_existing=True)`, the declaration every
    /// RAID manager shares (`ironic_python_agent/hardware.py:
    /// RAID_APPLY_CONFIGURATION_ARGSINFO`); read its arguments with [`ApplyConfigurationArgs`].
    pub const fn raid_apply_configuration(
        offers: &'static [Offer],
        requires: &'static [&'static str],
        run: fn(&M, &StepCall) -> Result<Value>,
    ) -> Self {
        StepDecl {
            interface: "raid",
            name: "apply_configuration",
            offers,
            argsinfo: &APPLY_CONFIGURATION_ARGSINFO,
            requires,
            run,
        }
    }
}

/// A manager's declarations: the step lists and the dispatch both come from here.
pub trait StepTable<M: ?Sized> {
    /// `get_<kind>_steps` of this manager, in declaration order.
    fn steps(&self, kind: StepKind) -> Vec<Step>;

    /// Runs the declared step named `method`; `None` when no declaration has that name
    /// (dispatch then asks the next manager).
    fn execute(&self, manager: &M, method: &str, call: &StepCall) -> Option<Result<Value>>;

    /// The declared steps whose programs `runner` cannot find.
    fn missing_programs(&self, runner: &dyn Runner) -> Vec<MissingPrograms>;
}

impl<M: ?Sized> StepTable<M> for [StepDecl<M>] {
    fn steps(&self, kind: StepKind) -> Vec<Step> {
        self.iter().filter_map(|d| d.step(kind)).collect()
    }

    fn execute(&self, manager: &M, method: &str, call: &StepCall) -> Option<Result<Value>> {
        let decl = self.iter().find(|d| d.name == method)?;
        Some((decl.run)(manager, call))
    }

    fn missing_programs(&self, runner: &dyn Runner) -> Vec<MissingPrograms> {
        self.iter()
            .filter_map(|d| {
                let programs = d.missing_programs(runner);
                (!programs.is_empty()).then(|| MissingPrograms {
                    step: d.full_name(),
                    programs: programs.into_iter().map(String::from).collect(),
                })
            })
            .collect()
    }
}

/// A declared step that cannot run on this machine: the programs it needs that are not
/// installed. Shown by `ironic-agent steps`, at start-up and in "step not found" errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPrograms {
    /// `interface.name`.
    pub step: String,
    pub programs: Vec<String>,
}

impl fmt::Display for MissingPrograms {
    /// `raid.create_configuration needs mdadm and parted`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} needs {}", self.step, self.programs.join(" and "))
    }
}

/// `argsinfo` of `raid.apply_configuration`, IPA's wording.
pub const APPLY_CONFIGURATION_ARGSINFO: [ArgInfo; 2] = [
    ArgInfo {
        name: "raid_config",
        description: "The RAID configuration to apply.",
        required: true,
    },
    ArgInfo {
        name: "delete_existing",
        description: "Setting this to 'True' indicates to delete existing RAID configuration \
                      prior to creating the new configuration. Default value is 'True'.",
        required: false,
    },
];

/// The arguments of `raid.apply_configuration`, read the same way by every manager:
/// `raid_config` is required (a JSON `null` counts as missing); `delete_existing` defaults
/// to true and is read with [`boolean::strict_arg`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyConfigurationArgs {
    pub raid_config: Value,
    pub delete_existing: bool,
}

impl ApplyConfigurationArgs {
    pub fn from_call(call: &StepCall) -> Result<Self> {
        let Some(raid_config) = call.args.get("raid_config").filter(|v| !v.is_null()) else {
            return Err(AgentError::new(
                ErrorKind::InvalidCommandParamsError,
                "raid.apply_configuration needs the argument raid_config (a \
                 target_raid_config).",
            ));
        };
        Ok(ApplyConfigurationArgs {
            raid_config: raid_config.clone(),
            delete_existing: boolean::strict_arg(&call.args, "delete_existing", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_keys_are_omitted() {
        let s =
            Step::new("raid", "apply_configuration", 0).arg("raid_config", "The RAID config", true);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"step": "apply_configuration", "priority": 0, "interface": "raid",
                   "reboot_requested": false,
                   "argsinfo": {"raid_config": {"description": "The RAID config", "required": true}}})
        );
        let c = Step::new("raid", "create_configuration", 0).abortable(true);
        assert_eq!(serde_json::to_value(&c).unwrap()["abortable"], json!(true));
    }

    struct Counter(std::sync::atomic::AtomicUsize);

    fn count(m: &Counter, call: &StepCall) -> Result<Value> {
        let n = m.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(json!({"n": n, "kind": call.kind.map(StepKind::as_str)}))
    }

    const TABLE: &[StepDecl<Counter>] = &[
        StepDecl {
            interface: "deploy",
            name: "erase_devices_metadata",
            offers: &[Offer::clean(99).abortable(), Offer::deploy(0)],
            argsinfo: &[],
            requires: &["wipefs", "sgdisk"],
            run: count,
        },
        StepDecl::raid_apply_configuration(
            &[Offer::deploy(0), Offer::service(0)],
            &["mdadm"],
            count,
        ),
    ];

    #[test]
    fn declarations_make_the_step_lists() {
        let v = |kind| serde_json::to_value(TABLE.steps(kind)).unwrap();
        assert_eq!(
            v(StepKind::Clean),
            json!([{"step": "erase_devices_metadata", "priority": 99, "interface": "deploy",
                    "reboot_requested": false, "abortable": true}])
        );
        let deploy = v(StepKind::Deploy);
        assert_eq!(
            deploy[0],
            json!({"step": "erase_devices_metadata", "priority": 0,
                                    "interface": "deploy", "reboot_requested": false})
        );
        assert_eq!(deploy[1]["step"], "apply_configuration");
        let args: Vec<&String> = deploy[1]["argsinfo"].as_object().unwrap().keys().collect();
        assert_eq!(args, ["raid_config", "delete_existing"], "IPA's order");
        assert_eq!(deploy[1]["argsinfo"]["raid_config"]["required"], true);
        assert_eq!(deploy[1]["argsinfo"]["delete_existing"]["required"], false);
        let service = v(StepKind::Service);
        assert_eq!(service.as_array().unwrap().len(), 1);
        assert_eq!(service[0]["step"], "apply_configuration");
    }

    #[test]
    fn declarations_dispatch_by_name() {
        let m = Counter(Default::default());
        let call = StepCall::new(StepKind::Service, json!({}), json!([]), Map::new());
        assert_eq!(
            TABLE
                .execute(&m, "apply_configuration", &call)
                .unwrap()
                .unwrap(),
            json!({"n": 0, "kind": "service"})
        );
        assert!(TABLE.execute(&m, "erase_devices_metadata", &call).is_some());
        assert!(TABLE.execute(&m, "list_hardware_info", &call).is_none());
        assert!(TABLE
            .execute(&m, "raid.apply_configuration", &call)
            .is_none());
        assert_eq!(m.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// Knows which programs are missing and runs nothing. (testkit's RecordingRunner cannot
    /// serve hwmgr's own unit tests: testkit depends on hwmgr.)
    #[derive(Default)]
    struct Programs(std::sync::Mutex<Vec<String>>);

    impl Programs {
        fn without_program(&self, program: &str) -> &Self {
            self.0.lock().unwrap().push(program.into());
            self
        }
    }

    impl Runner for Programs {
        fn run(&self, cmd: &crate::Cmd) -> Result<crate::CmdOutput, crate::CommandError> {
            Err(crate::CommandError {
                command: cmd.to_string(),
                failure: crate::Failure::NotFound,
                stdout: String::new(),
                stderr: String::new(),
            })
        }

        fn has_program(&self, program: &str) -> bool {
            !self.0.lock().unwrap().iter().any(|p| p == program)
        }
    }

    #[test]
    fn missing_programs_name_step_and_programs() {
        let r = Programs::default();
        assert!(TABLE.missing_programs(&r).is_empty());
        r.without_program("sgdisk").without_program("mdadm");
        let missing = TABLE.missing_programs(&r);
        let text: Vec<String> = missing.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "deploy.erase_devices_metadata needs sgdisk",
                "raid.apply_configuration needs mdadm"
            ]
        );
        r.without_program("wipefs");
        assert_eq!(
            TABLE[0].missing_programs(&r),
            ["wipefs", "sgdisk"],
            "in declaration order"
        );
    }

    #[test]
    fn one_error_class_per_step_kind() {
        let classes: Vec<&str> = StepKind::ALL
            .iter()
            .map(|k| k.error_kind().type_name())
            .collect();
        assert_eq!(
            classes,
            ["CleaningError", "DeploymentError", "ServicingError"]
        );
        assert_eq!(StepCall::default().error_kind(), ErrorKind::CleaningError);
        let call = StepCall::new(StepKind::Deploy, json!({}), json!([]), Map::new());
        assert_eq!(call.error_kind(), ErrorKind::DeploymentError);
    }

    #[test]
    fn apply_configuration_arguments() {
        let call = |args: Value| {
            StepCall::new(
                StepKind::Deploy,
                json!({}),
                json!([]),
                args.as_object().cloned().unwrap(),
            )
        };
        let a =
            ApplyConfigurationArgs::from_call(&call(json!({"raid_config": {"logical_disks": []}})))
                .unwrap();
        assert_eq!(
            (a.raid_config, a.delete_existing),
            (json!({"logical_disks": []}), true)
        );
        let a = ApplyConfigurationArgs::from_call(&call(
            json!({"raid_config": {}, "delete_existing": "false"}),
        ))
        .unwrap();
        assert!(!a.delete_existing);
        for bad in [
            json!({}),
            json!({"raid_config": null}),
            json!({"raid_config": {}, "delete_existing": "maybe"}),
        ] {
            let e = ApplyConfigurationArgs::from_call(&call(bad.clone())).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError, "{bad}");
            assert!(
                e.details.ends_with('.') && !e.details.ends_with(".."),
                "{}",
                e.details
            );
        }
    }
}
