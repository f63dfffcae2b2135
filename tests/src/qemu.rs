//! The one VM launcher of the tests and the demo: boots the deploy ramdisk (or another kernel,
//! or a disk) in QEMU with virtual disks, and talks to the agent inside.
//!
//! * QEMU (`qemu-system-x86` from bookworm-backports, see `ramdisk/README.md`) and, for UEFI,
//!   OVMF are installed on first use when missing ([`ensure_qemu`], [`ensure_ovmf`]).
//! * [`Boot::Ramdisk`] boots this tree's ramdisk: `$IRONIC_AGENT_KERNEL` /
//!   `$IRONIC_AGENT_INITRAMFS` when set, else `target/ramdisk/ironic-agent.*`, (re)built by
//!   `ramdisk/build` when missing or older than the agent's sources ([`ramdisk`]).
//!   [`Boot::Kernel`] boots another kernel/initramfs (a test variant of the ramdisk),
//!   [`Boot::Disk`] lets the firmware boot the first disk (a deployed instance).
//! * [`Firmware::Bios`] (SeaBIOS) or [`Firmware::Ovmf`] (UEFI, with a variable store that can
//!   outlive the VM, so boot entries written by one boot are seen by the next).
//! * Disks ([`Disk`]): virtio-blk, SCSI, NVMe or AHCI; a fresh sparse image in the VM's
//!   directory or an existing image file ([`DiskSet`]: images that outlive the VMs booted on
//!   them, e.g. across a reboot); read-only, serials and WWNs.
//! * Each [`Vm`] gets a private directory (serial log, QEMU's output and command line, its
//!   fresh images), user-mode networking only (the agent's port is forwarded to
//!   `127.0.0.1:<agent_port>`, the host's `127.0.0.1:P` is `10.0.2.2:P` in the guest) and a
//!   hard time limit. One VM runs at a time on this machine (a file lock held while it lives:
//!   TCG on 2 cores). Dropping the [`Vm`] kills QEMU; QEMU also dies with the test process
//!   (`PR_SET_PDEATHSIG`), so no VM outlives its test.
//! * The agent inside: [`Vm::wait_api`], [`Vm::command`], [`Vm::clean_step`],
//!   [`Vm::hardware_info`], [`Vm::system_logs`], [`Vm::power_off`] (module `agent_api`).
//!
//! With Ironic, use [`crate::scenario::Scenario`] instead of booting by hand.
//!
//! ```no_run
//! use agent_tests::qemu::{Bus, Disk, Vm, VmOptions, TEST_TOKEN};
//! use std::time::Duration;
//!
//! let vm = Vm::boot(VmOptions {
//!     disks: vec![Disk::new(Bus::Virtio, 1024), Disk::new(Bus::Nvme, 512).serial("NVME-A")],
//!     agent_token: Some(TEST_TOKEN.into()),
//!     ..VmOptions::default()
//! });
//! vm.wait_api(Duration::from_secs(240));
//! let inventory = vm.hardware_info();
//! ```

mod agent_api;
mod args;
mod disks;
mod setup;
mod vm;

use std::path::PathBuf;
use std::time::Duration;

pub use crate::support::{free_port, repo_root, FileLock};
pub use disks::DiskSet;
pub use setup::{ensure_ovmf, ensure_qemu, kvm_usable, ramdisk, ramdisk_in, stale, Ovmf, Ramdisk};
pub use vm::Vm;

/// The MAC of the VM's NIC unless a test picks another one (enroll it as the Ironic port).
pub const DEFAULT_MAC: &str = "52:54:00:12:34:56";

/// A pre-shared agent token (43 characters, like Ironic's) for boots without Ironic
/// ([`VmOptions::agent_token`]).
pub const TEST_TOKEN: &str = "qemuTestToken0123456789abcdefghijklmnopqrst";
const _: () = assert!(TEST_TOKEN.len() == 43);

/// The kernel parameters every kernel boot gets (before [`VmOptions::append`]). `panic=-1`
/// with `-no-reboot` ends QEMU at once on a kernel panic; `cryptomgr.notests` saves ~0.5 s
/// of crypto self-tests under TCG.
pub const BASE_APPEND: &str = "console=ttyS0,115200 panic=-1 cryptomgr.notests=1";

/// Bus of a virtual disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    /// virtio-blk (`/dev/vdX`); read-only works (`/sys/block/vdX/ro` = 1). No WWN.
    Virtio,
    /// scsi-hd on a virtio-scsi controller (`/dev/sdX`, model `QEMU HARDDISK`, a WWN);
    /// read-only works.
    Scsi,
    /// NVMe (`/dev/nvmeXn1`). Read-only is not visible to the guest, so it is refused. No WWN.
    Nvme,
    /// ide-hd on q35's built-in AHCI (`/dev/sdX`, vendor `ATA`). QEMU refuses read-only.
    Ahci,
}

impl Bus {
    /// `VIRTIO`, `SCSI`, ...: in default serials and image names.
    pub fn tag(self) -> &'static str {
        match self {
            Bus::Virtio => "VIRTIO",
            Bus::Scsi => "SCSI",
            Bus::Nvme => "NVME",
            Bus::Ahci => "AHCI",
        }
    }
}

/// Where a disk's data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// A fresh sparse raw image of this many MiB in the VM's directory, removed with the VM.
    Sparse { size_mib: u64 },
    /// An existing raw image (kept; the VM writes into it).
    File(PathBuf),
}

/// One virtual disk.
#[derive(Clone, Debug)]
pub struct Disk {
    pub bus: Bus,
    pub image: Image,
    pub read_only: bool,
    /// The serial number the guest sees; `None` gives `QEMU-<BUS>-<index>`.
    pub serial: Option<String>,
    /// The WWN (SCSI and AHCI only); `None` gives SCSI disks `0x5000c50015ea<index:04x>` and
    /// AHCI disks none.
    pub wwn: Option<u64>,
}

impl Disk {
    /// A fresh sparse image of `size_mib` MiB.
    pub fn new(bus: Bus, size_mib: u64) -> Disk {
        Disk {
            bus,
            image: Image::Sparse { size_mib },
            read_only: false,
            serial: None,
            wwn: None,
        }
    }

    /// An existing raw image file.
    pub fn file(bus: Bus, path: impl Into<PathBuf>) -> Disk {
        Disk {
            image: Image::File(path.into()),
            ..Disk::new(bus, 0)
        }
    }

    pub fn read_only(mut self) -> Disk {
        self.read_only = true;
        self
    }

    pub fn serial(mut self, serial: &str) -> Disk {
        self.serial = Some(serial.to_string());
        self
    }

    pub fn wwn(mut self, wwn: u64) -> Disk {
        self.wwn = Some(wwn);
        self
    }

    /// The serial the guest sees for disk number `index` of the VM.
    pub fn serial_for(&self, index: usize) -> String {
        self.serial
            .clone()
            .unwrap_or_else(|| format!("QEMU-{}-{index}", self.bus.tag()))
    }

    /// The WWN the guest sees for disk number `index`, if any.
    pub fn wwn_for(&self, index: usize) -> Option<u64> {
        match (self.wwn, self.bus) {
            (Some(w), _) => Some(w),
            (None, Bus::Scsi) => Some(0x5000_c500_15ea_0000 + index as u64),
            (None, _) => None,
        }
    }

    /// The image file, when the disk is an existing one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.image {
            Image::File(p) => Some(p),
            Image::Sparse { .. } => None,
        }
    }
}

/// What the VM boots.
#[derive(Clone, Debug, Default)]
pub enum Boot {
    /// This tree's deploy ramdisk ([`ramdisk`]), with [`BASE_APPEND`] and
    /// [`VmOptions::append`] as its command line.
    #[default]
    Ramdisk,
    /// Another kernel and initramfs (a variant of the ramdisk), with the same command line.
    Kernel(Ramdisk),
    /// No kernel from the host: the firmware boots the first disk (an installed instance).
    /// [`VmOptions::append`] must be empty.
    Disk,
}

/// The firmware.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS (QEMU's default); kernel boots use the uncompressed vmlinux when there is one
    /// (PVH: ~3.5 s faster under TCG).
    #[default]
    Bios,
    /// UEFI (OVMF, no Secure Boot). `vars` is the variable store (boot entries): `None` gives
    /// the VM a fresh copy of OVMF's template; `Some(path)` uses that file, created from the
    /// template when missing, so that a later VM sees what this one wrote (e.g. the boot
    /// entry a deployment added).
    Ovmf { vars: Option<PathBuf> },
}

/// How to boot one VM. `Default`: the ramdisk under SeaBIOS, 256 MiB, no disks,
/// [`DEFAULT_MAC`], no SMBIOS strings, no token, a free host port for the agent, a 10-minute
/// hard limit.
#[derive(Clone, Debug)]
pub struct VmOptions {
    pub boot: Boot,
    pub firmware: Firmware,
    /// Guest RAM (`-m`), MiB.
    pub memory_mib: u32,
    pub disks: Vec<Disk>,
    /// MAC address of the NIC on QEMU's user network (virtio-net).
    pub mac: String,
    /// MACs of more virtio-net NICs with no network behind them: the guest sees them (and
    /// reports them), gets no lease on them and routes nothing through them.
    pub extra_nics: Vec<String>,
    /// `ipa-agent-token`: the agent serves its API without Ironic, and [`Vm::command`] uses
    /// this token.
    pub agent_token: Option<String>,
    /// The host port of an Ironic API: the agent looks itself up there
    /// (`ipa-api-url=http://10.0.2.2:<port>`) and advertises its forwarded port
    /// (`ipa-advertise-host=127.0.0.1`, `ipa-advertise-port=<agent_port>`), so the conductor
    /// on the host reaches it.
    pub ironic_port: Option<u16>,
    /// Extra kernel parameters, e.g. `ironic-agent.rss-report-after=5`.
    pub append: Vec<String>,
    /// `-smbios` values, e.g. `type=1,manufacturer=HPE,product=ProLiant DL380 Gen10`
    /// (commas inside a value are written `,,`).
    pub smbios: Vec<String>,
    /// Host port forwarded (on 127.0.0.1) to the agent's port; `None` picks a free one.
    pub agent_port: Option<u16>,
    /// The guest port the agent listens on (`ipa-listen-port`), 9999 by default.
    pub guest_agent_port: u16,
    /// QEMU is killed after this long, whatever happens.
    pub max_runtime: Duration,
    /// A label for logs and the process name.
    pub name: String,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            boot: Boot::default(),
            firmware: Firmware::default(),
            memory_mib: 256,
            disks: Vec::new(),
            mac: DEFAULT_MAC.to_string(),
            extra_nics: Vec::new(),
            agent_token: None,
            ironic_port: None,
            append: Vec::new(),
            smbios: Vec::new(),
            agent_port: None,
            guest_agent_port: 9999,
            max_runtime: Duration::from_secs(600),
            name: "ironic-agent-vm".to_string(),
        }
    }
}

impl VmOptions {
    /// SMBIOS strings of an HPE ProLiant (system, board and BIOS vendor).
    pub fn hpe_smbios() -> Vec<String> {
        vec![
            "type=0,vendor=HPE,version=U30,date=01/01/2024".to_string(),
            "type=1,manufacturer=HPE,product=ProLiant DL380 Gen10,serial=TEST123,\
             uuid=6a1f5e2c-7f43-4c1b-9d7e-0a1b2c3d4e5f"
                .to_string(),
            "type=2,manufacturer=HPE,product=ProLiant DL380 Gen10 Board,serial=BOARD123"
                .to_string(),
        ]
    }
}
