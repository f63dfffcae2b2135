//! The agent's half of the IPA error model (`ironic_python_agent/errors.py`): the classes only
//! the agent raises (the API, the command registry, dispatch), and the status `code` of every
//! class, which is both the HTTP status of a refused request and the `code` field of a
//! recorded `command_error`. Managers never see any of this: they return
//! [`hwmgr::AgentError`], which converts into [`IpaError`].

use hwmgr::{AgentError, ErrorKind};
use serde_json::{json, Value};
use std::fmt;

/// IPA error classes that only the agent raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentClass {
    /// `InvalidCommandError`: a command name we do not serve.
    InvalidCommand,
    /// `RequestedObjectNotFoundError`: an unknown extension or command id.
    NotFound,
    /// `AgentIsBusy`: another command is still running.
    Busy,
    /// `VersionMismatch`: the conductor's recorded manager versions differ from ours.
    VersionMismatch,
    /// `HardwareManagerMethodNotFound`: no loaded manager implements the method.
    MethodNotFound,
    /// `SystemRebootError`: `standby.run_image` could not reboot the machine.
    SystemReboot,
}

/// The class of an error that reaches the conductor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Manager(ErrorKind),
    Agent(AgentClass),
}

impl Class {
    pub fn type_name(self) -> &'static str {
        match self {
            Class::Manager(k) => k.type_name(),
            Class::Agent(AgentClass::InvalidCommand) => "InvalidCommandError",
            Class::Agent(AgentClass::NotFound) => "RequestedObjectNotFoundError",
            Class::Agent(AgentClass::Busy) => "AgentIsBusy",
            Class::Agent(AgentClass::VersionMismatch) => "VersionMismatch",
            Class::Agent(AgentClass::MethodNotFound) => "HardwareManagerMethodNotFound",
            Class::Agent(AgentClass::SystemReboot) => "SystemRebootError",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Class::Manager(k) => k.message(),
            Class::Agent(AgentClass::InvalidCommand) => "Invalid command",
            Class::Agent(AgentClass::NotFound) => "Not found",
            Class::Agent(AgentClass::Busy) => "Agent is busy",
            Class::Agent(AgentClass::VersionMismatch) => {
                "Hardware managers version mismatch, reload agent with correct version"
            }
            Class::Agent(AgentClass::MethodNotFound) => "No HardwareManager found to handle method",
            Class::Agent(AgentClass::SystemReboot) => "Error rebooting system",
        }
    }

    /// The status code IPA gives the class (`code` of its `RESTError` subclass; 500 unless
    /// the class says otherwise).
    pub fn code(self) -> u16 {
        match self {
            Class::Agent(AgentClass::VersionMismatch | AgentClass::Busy) => 409,
            Class::Agent(AgentClass::InvalidCommand) => 400,
            Class::Manager(ErrorKind::InvalidCommandParamsError) => 400,
            // `DeviceNotFound` is a `NotFound` in IPA: no root device matched the hints.
            Class::Agent(AgentClass::NotFound) | Class::Manager(ErrorKind::DeviceNotFound) => 404,
            _ => 500,
        }
    }
}

/// An error on its way to the conductor: a class and the operator-facing explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct IpaError {
    pub class: Class,
    pub details: String,
}

impl IpaError {
    pub fn new(class: AgentClass, details: impl Into<String>) -> Self {
        IpaError {
            class: Class::Agent(class),
            details: details.into(),
        }
    }

    pub fn manager(kind: ErrorKind, details: impl Into<String>) -> Self {
        IpaError {
            class: Class::Manager(kind),
            details: details.into(),
        }
    }

    pub fn is(&self, class: AgentClass) -> bool {
        self.class == Class::Agent(class)
    }

    /// The `command_error` object: always `{type, code, message, details}`.
    pub fn to_json(&self) -> Value {
        json!({
            "type": self.class.type_name(),
            "code": self.class.code(),
            "message": self.class.message(),
            "details": self.details,
        })
    }
}

impl From<AgentError> for IpaError {
    fn from(e: AgentError) -> Self {
        IpaError::manager(e.kind, e.details)
    }
}

impl fmt::Display for IpaError {
    /// IPA's `str(RESTError)`: "<message>: <details>". This is also the HTTP faultstring.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            f.write_str(self.class.message())
        } else {
            write!(f, "{}: {}", self.class.message(), self.details)
        }
    }
}

impl std::error::Error for IpaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_ipa_rest_error() {
        let e: IpaError = AgentError::new(
            ErrorKind::SoftwareRAIDError,
            "Partitions detected on devices /dev/sda during RAID config",
        )
        .into();
        assert_eq!(
            e.to_json(),
            json!({"type": "SoftwareRAIDError", "code": 500,
                   "message": "Software RAID caused unknown error",
                   "details": "Partitions detected on devices /dev/sda during RAID config"})
        );
        assert_eq!(
            e.to_string(),
            "Software RAID caused unknown error: Partitions detected on devices /dev/sda during RAID config"
        );
    }

    #[test]
    fn codes_follow_ipa_classes() {
        assert_eq!(Class::Agent(AgentClass::VersionMismatch).code(), 409);
        assert_eq!(Class::Agent(AgentClass::Busy).code(), 409);
        assert_eq!(
            Class::Manager(ErrorKind::InvalidCommandParamsError).code(),
            400
        );
        assert_eq!(Class::Agent(AgentClass::NotFound).code(), 404);
        assert_eq!(Class::Manager(ErrorKind::DeviceNotFound).code(), 404);
        assert_eq!(Class::Manager(ErrorKind::ImageChecksumError).code(), 500);
        assert_eq!(Class::Manager(ErrorKind::CleaningError).code(), 500);
        assert_eq!(Class::Agent(AgentClass::MethodNotFound).code(), 500);
    }
}
