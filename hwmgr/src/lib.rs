//! The contract between the agent and its hardware managers.
//!
//! Data flows one way: the agent's API hands a command to the dispatcher, the dispatcher
//! calls a [`HardwareManager`], the manager runs tools through a [`Runner`] and reads the
//! machine through a [`Host`]. Nothing in here knows about HTTP. Block devices live in the
//! `blockdev` crate, test support (fake machine, recording runner) in `testkit`.

pub mod boolean;
pub mod cancel;
pub mod error;
pub mod host;
pub mod manager;
pub mod raid_config;
pub mod runner;
pub mod step;
pub mod text;

pub use cancel::Cancel;
pub use error::{AgentError, ErrorKind, Result};
pub use host::{validate_device_path, Host};
pub use manager::{HardwareManager, LogFile, Support, SupportLevel};
pub use runner::{Cmd, CmdOutput, CommandError, Failure, Runner, SystemRunner};
pub use step::{
    ApplyConfigurationArgs, ArgInfo, MissingPrograms, Offer, Step, StepCall, StepDecl, StepKind,
    StepTable,
};

/// A failed tool becomes an error of the class the caller chooses, naming the command, its exit
/// code and stderr.
pub fn command_error(kind: ErrorKind, context: &str, e: &CommandError) -> AgentError {
    AgentError::new(kind, format!("{context}: {e}"))
}
