//! Test support, never linked into the agent binary: a fake machine root
//! ([`fake_machine::FakeMachine`]) for discovery and manager tests, and a scripted
//! [`RecordingRunner`] in place of real tools. Crates take it as a dev-dependency only.

pub mod fake_machine;
mod runner;

pub use runner::{RecordingRunner, Reply};
