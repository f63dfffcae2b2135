//! Support for the black-box tests: start the real agent binary on a fake machine, run a real
//! Ironic from PyPI, and talk to both over real HTTP.

pub mod agent;
pub mod ironic;
pub mod qemu;
pub mod support;
