//! One error type for everything a hardware manager can report, mapped onto the IPA error
//! classes the conductor knows (`ipa:errors.py`). The class name travels as `type`, with its
//! HTTP-ish `code` and fixed `message`; our own text goes in `details`, which is what the
//! conductor shows to the operator.

use serde::Serialize;
use serde_json::{json, Value};
use std::fmt;

/// The IPA error classes. The variant name is the class name on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    CleaningError,
    DeploymentError,
    ServicingError,
    SoftwareRAIDError,
    BlockDeviceEraseError,
    ProtectedDeviceError,
    IncompatibleHardwareMethodError,
    HardwareManagerMethodNotFound,
    HardwareManagerNotFound,
    HardwareManagerConfigurationError,
    VersionMismatch,
    CommandExecutionError,
    InvalidCommandError,
    InvalidCommandParamsError,
    InvalidContentError,
    RequestedObjectNotFoundError,
    AgentIsBusy,
}

impl ErrorKind {
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::CleaningError => "CleaningError",
            ErrorKind::DeploymentError => "DeploymentError",
            ErrorKind::ServicingError => "ServicingError",
            ErrorKind::SoftwareRAIDError => "SoftwareRAIDError",
            ErrorKind::BlockDeviceEraseError => "BlockDeviceEraseError",
            ErrorKind::ProtectedDeviceError => "ProtectedDeviceError",
            ErrorKind::IncompatibleHardwareMethodError => "IncompatibleHardwareMethodError",
            ErrorKind::HardwareManagerMethodNotFound => "HardwareManagerMethodNotFound",
            ErrorKind::HardwareManagerNotFound => "HardwareManagerNotFound",
            ErrorKind::HardwareManagerConfigurationError => "HardwareManagerConfigurationError",
            ErrorKind::VersionMismatch => "VersionMismatch",
            ErrorKind::CommandExecutionError => "CommandExecutionError",
            ErrorKind::InvalidCommandError => "InvalidCommandError",
            ErrorKind::InvalidCommandParamsError => "InvalidCommandParamsError",
            ErrorKind::InvalidContentError => "InvalidContentError",
            ErrorKind::RequestedObjectNotFoundError => "RequestedObjectNotFoundError",
            ErrorKind::AgentIsBusy => "AgentIsBusy",
        }
    }

    /// The status code IPA gives the class.
    pub fn code(self) -> u16 {
        match self {
            ErrorKind::VersionMismatch | ErrorKind::AgentIsBusy => 409,
            ErrorKind::InvalidCommandError
            | ErrorKind::InvalidCommandParamsError
            | ErrorKind::InvalidContentError => 400,
            ErrorKind::RequestedObjectNotFoundError => 404,
            _ => 500,
        }
    }

    /// The fixed, class-level message IPA sends in `message`.
    pub fn message(self) -> &'static str {
        match self {
            ErrorKind::CleaningError => "Clean step failed",
            ErrorKind::DeploymentError => "Deploy step failed",
            ErrorKind::ServicingError => "Service step failed",
            ErrorKind::SoftwareRAIDError => "Software RAID caused unknown error",
            ErrorKind::BlockDeviceEraseError => "Error erasing block device",
            ErrorKind::ProtectedDeviceError => "Protected device located, cleaning aborted.",
            ErrorKind::IncompatibleHardwareMethodError => {
                "HardwareManager method is not compatible with hardware"
            }
            ErrorKind::HardwareManagerMethodNotFound => "No HardwareManager found to handle method",
            ErrorKind::HardwareManagerNotFound => "Hardware manager not found.",
            ErrorKind::HardwareManagerConfigurationError => {
                "There was an error in the hardware manager configuration"
            }
            ErrorKind::VersionMismatch => {
                "Hardware managers version mismatch, reload agent with correct version"
            }
            ErrorKind::CommandExecutionError => "Command execution failed",
            ErrorKind::InvalidCommandError => "Invalid command",
            ErrorKind::InvalidCommandParamsError => "Invalid command parameters",
            ErrorKind::InvalidContentError => "Invalid request body",
            ErrorKind::RequestedObjectNotFoundError => "Not found",
            ErrorKind::AgentIsBusy => "Agent is busy",
        }
    }
}

/// An error with its IPA class and the operator-facing explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentError {
    pub kind: ErrorKind,
    pub details: String,
}

impl AgentError {
    pub fn new(kind: ErrorKind, details: impl Into<String>) -> Self {
        AgentError {
            kind,
            details: details.into(),
        }
    }

    /// Dispatch treats this as "this manager cannot do it here, ask the next one".
    pub fn incompatible(details: impl Into<String>) -> Self {
        Self::new(ErrorKind::IncompatibleHardwareMethodError, details)
    }

    pub fn is_incompatible(&self) -> bool {
        self.kind == ErrorKind::IncompatibleHardwareMethodError
    }

    /// The `command_error` object: always `{type, code, message, details}`.
    pub fn to_json(&self) -> Value {
        json!({
            "type": self.kind.type_name(),
            "code": self.kind.code(),
            "message": self.kind.message(),
            "details": self.details,
        })
    }
}

impl fmt::Display for AgentError {
    /// IPA's `str(RESTError)`: "<message>: <details>". This is also the HTTP faultstring.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            f.write_str(self.kind.message())
        } else {
            write!(f, "{}: {}", self.kind.message(), self.details)
        }
    }
}

impl std::error::Error for AgentError {}

impl Serialize for AgentError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_ipa_rest_error() {
        let e = AgentError::new(
            ErrorKind::SoftwareRAIDError,
            "Partitions detected on devices /dev/sda during RAID config",
        );
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
        assert_eq!(ErrorKind::VersionMismatch.code(), 409);
        assert_eq!(ErrorKind::InvalidCommandParamsError.code(), 400);
        assert_eq!(ErrorKind::CleaningError.code(), 500);
    }
}
