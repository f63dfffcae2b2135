//! The `HardwareManager` trait: what every manager (generic, ProLiant, ...) implements.

use crate::error::Result;
use crate::step::{MissingPrograms, Step, StepCall, StepKind};
use serde_json::Value;
use std::fmt;

/// IPA's `HardwareSupport` levels. Third parties may use values above 3, so it is a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SupportLevel(pub u32);

impl SupportLevel {
    pub const NONE: SupportLevel = SupportLevel(0);
    pub const GENERIC: SupportLevel = SupportLevel(1);
    pub const MAINLINE: SupportLevel = SupportLevel(2);
    pub const SERVICE_PROVIDER: SupportLevel = SupportLevel(3);
}

impl fmt::Display for SupportLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("NONE"),
            1 => f.write_str("GENERIC"),
            2 => f.write_str("MAINLINE"),
            3 => f.write_str("SERVICE_PROVIDER"),
            n => write!(f, "{n}"),
        }
    }
}

/// A manager's verdict about this machine, with the reason an operator needs when it says no
/// (e.g. "no `ssacli` on PATH"). The reason is shown at start-up, by `ironic-agent steps`
/// and in the "step not found" error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    pub level: SupportLevel,
    pub reason: String,
}

impl Support {
    pub fn new(level: SupportLevel, reason: impl Into<String>) -> Self {
        Support {
            level,
            reason: reason.into(),
        }
    }

    pub fn none(reason: impl Into<String>) -> Self {
        Self::new(SupportLevel::NONE, reason)
    }
}

/// One file of a log bundle (`log.collect_system_logs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub name: String,
    pub content: Vec<u8>,
}

/// A hardware manager. Managers never see HTTP: they get a [`StepCall`] and return JSON.
///
/// Long operations are fine: the agent runs `execute` on a blocking thread.
pub trait HardwareManager: Send + Sync {
    /// The key used in `<kind>_steps` (IPA uses the Python class name, e.g.
    /// `GenericHardwareManager`).
    fn class_name(&self) -> &str;

    /// The key of `hardware_manager_version` (IPA's `HARDWARE_MANAGER_NAME`).
    fn name(&self) -> &str;

    /// `HARDWARE_MANAGER_VERSION`; changing it makes the conductor re-fetch steps.
    fn version(&self) -> &str;

    /// Called once at start-up. `SupportLevel::NONE` means the manager is not loaded.
    fn evaluate_support(&self) -> Support;

    /// Called once, in dispatch order, on the loaded managers.
    fn initialize(&self) {}

    /// The steps of `kind` this manager offers for this node. A manager with a table of
    /// [`StepDecl`](crate::StepDecl)s answers `STEPS.steps(kind)` ([`StepTable`](crate::StepTable)).
    fn steps(&self, kind: StepKind, call: &StepCall) -> Vec<Step>;

    /// Run `method` (a step name or an internal method such as `list_hardware_info`).
    /// `None` means "not mine": dispatch falls through to the next manager, as it also does
    /// for an `IncompatibleHardwareMethodError`. With a table of declarations:
    /// `STEPS.execute(self, method, call)`, then the internal methods.
    fn execute(&self, method: &str, call: &StepCall) -> Option<Result<Value>>;

    /// The declared steps that cannot run on this machine because programs they need are
    /// not installed (with a table: `STEPS.missing_programs(runner)`). They are still
    /// offered, as IPA offers its steps whatever the ramdisk holds; the agent names them at
    /// start-up, in `ironic-agent steps` and in "step not found" errors.
    fn missing_programs(&self) -> Vec<MissingPrograms> {
        Vec::new()
    }

    /// Files this manager contributes to `log.collect_system_logs`.
    fn collect_system_logs(&self) -> Vec<LogFile> {
        Vec::new()
    }
}
