//! One error type for everything a hardware manager can report, mapped onto the IPA error
//! classes a manager may raise (`ironic_python_agent/errors.py`). The class name travels as
//! `type` with its fixed `message`; our own text goes in `details`, which is what the
//! conductor shows to the operator.
//!
//! This is the contract's half of the error model: no HTTP here. The classes only the agent
//! raises (busy, unknown command, not found, version mismatch, no manager has the method) and
//! the status code of every class live in the agent (`agent/src/errors.rs`), which also
//! serializes `command_error`.

use std::fmt;

/// The IPA error classes a manager (or the runner on its behalf) raises. The variant name is
/// the class name on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    CleaningError,
    DeploymentError,
    ServicingError,
    SoftwareRAIDError,
    BlockDeviceEraseError,
    ProtectedDeviceError,
    IncompatibleHardwareMethodError,
    HardwareManagerNotFound,
    HardwareManagerConfigurationError,
    CommandExecutionError,
    InvalidCommandParamsError,
    ImageDownloadError,
    ImageChecksumError,
    ImageWriteError,
    InvalidImage,
    DeviceNotFound,
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
            ErrorKind::HardwareManagerNotFound => "HardwareManagerNotFound",
            ErrorKind::HardwareManagerConfigurationError => "HardwareManagerConfigurationError",
            ErrorKind::CommandExecutionError => "CommandExecutionError",
            ErrorKind::InvalidCommandParamsError => "InvalidCommandParamsError",
            ErrorKind::ImageDownloadError => "ImageDownloadError",
            ErrorKind::ImageChecksumError => "ImageChecksumError",
            ErrorKind::ImageWriteError => "ImageWriteError",
            ErrorKind::InvalidImage => "InvalidImage",
            ErrorKind::DeviceNotFound => "DeviceNotFound",
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
            ErrorKind::HardwareManagerNotFound => "Hardware manager not found.",
            ErrorKind::HardwareManagerConfigurationError => {
                "There was an error in the hardware manager configuration"
            }
            ErrorKind::CommandExecutionError => "Command execution failed",
            ErrorKind::InvalidCommandParamsError => "Invalid command parameters",
            ErrorKind::ImageDownloadError => "Error downloading image",
            ErrorKind::ImageChecksumError => "Error verifying image checksum",
            ErrorKind::ImageWriteError => "Error writing image to device",
            ErrorKind::InvalidImage => "The provided image is not valid for use",
            ErrorKind::DeviceNotFound => {
                "Error finding the disk or partition device to deploy the image onto"
            }
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
}

impl fmt::Display for AgentError {
    /// IPA's `str(RESTError)`: "<message>: <details>".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            f.write_str(self.kind.message())
        } else {
            write!(f, "{}: {}", self.kind.message(), self.details)
        }
    }
}

impl std::error::Error for AgentError {}

pub type Result<T, E = AgentError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_ipa_rest_error() {
        let e = AgentError::new(
            ErrorKind::SoftwareRAIDError,
            "Partitions detected on devices /dev/sda during RAID config",
        );
        assert_eq!(e.kind.type_name(), "SoftwareRAIDError");
        assert_eq!(
            e.to_string(),
            "Software RAID caused unknown error: Partitions detected on devices /dev/sda during RAID config"
        );
        assert_eq!(
            AgentError::new(ErrorKind::CleaningError, "").to_string(),
            "Clean step failed"
        );
    }
}
