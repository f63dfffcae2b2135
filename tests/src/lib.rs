//! Support for the black-box tests: start the real agent binary on a fake machine, run a real
//! Ironic from PyPI, boot the ramdisk in QEMU, and talk to all of them over real HTTP.
//!
//! | module | what |
//! | --- | --- |
//! | [`agent`] | the agent binary on the host, against a fake machine root |
//! | [`ironic`] | a private, unmodified Ironic on loopback; enrolling nodes |
//! | [`qemu`] | the one VM launcher: ramdisk/kernel/disk boot, BIOS/UEFI, virtual disks, the agent inside |
//! | [`scenario`] | Ironic + enrolled node + booted ramdisk + first heartbeat, for every Ironic-in-QEMU test and the demo |
//! | [`disk_image`] | reading and preparing raw disk images from the host |
//! | [`image_server`] | a plain HTTP server for instance images, reachable from the host and the guest |
//! | [`ssacli_ids`] | the `ssacli` simulator's logical drive identifiers (WWNs), for the VM's matching disks |
//! | [`support`] | paths, ports, locks, scratch directories, polling |

pub mod agent;
pub mod disk_image;
pub mod image_server;
pub mod ironic;
pub mod qemu;
pub mod scenario;
pub mod ssacli_ids;
pub mod support;
