//! `FakeMachine`: writes a fake `/sys`, `/proc`, `/dev` and `/run` tree into a directory, with
//! the layout a real kernel produces for the parts the agent reads, so discovery and the
//! managers can be tested against it through a [`Host`] rooted there.
//!
//! ```no_run
//! # use testkit::fake_machine::{FakeMachine, GIB};
//! let dir = std::env::temp_dir().join("fake-machine-doc");
//! let m = FakeMachine::new(&dir)
//!     .disk("sda", 100 * GIB).model("QEMU HARDDISK").serial("S1").rotational(false)
//!     .partition("sda", "sda1", 1 << 20, 10 * GIB)
//!     .nvme("nvme0n1", 200 * GIB)
//!     .virtio("vda", 20 * GIB).serial("D0")
//!     .nic("eth0", "52:54:00:12:34:56")
//!     .cmdline("ipa-api-url=http://10.0.2.2:6385 BOOTIF=01-52-54-00-12-34-56");
//! let host = m.host();
//! ```
//!
//! Every call writes at once (there is no `build()`); modifiers such as `.model()` or
//! `.ro()` apply to the block device (or partition) added last, `.carrier()` or
//! `.driver()` to the NIC added last. Sizes are in bytes.
//!
//! What the tree looks like, as on a real kernel:
//! * `/sys/block/<name>` and `/sys/class/block/<name>` are symlinks into
//!   `/sys/devices/...`: `pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda`
//!   (AHCI), `.../0000:00:07.0/virtio2/host2/target2:0:0/2:0:0:0/block/sdb` (virtio-scsi),
//!   `.../0000:00:02.0/virtio1/block/vda`, `virtual/nvme-subsystem/nvme-subsys0/nvme0n1`
//!   (plus the hidden path device `nvme0c0n1`), `virtual/block/md127`, ...;
//! * `<dev>/device` is a relative symlink to the parent device (`0:0:0:0`, `virtio1`,
//!   `nvme-subsys0`), which holds `model`, `vendor`, `serial`, `wwid`, `vpd_pg80`;
//! * partitions are subdirectories of their disk with a `partition` file;
//! * md arrays have `md/level`, `slaves/<member>` links, and each member a
//!   `holders/<md>` link back;
//! * `/dev/<name>` exists as an empty file for every device node.

use hwmgr::Host;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Bus {
    /// SCSI disk: transport `sata` (AHCI), `scsi` (virtio-scsi), `sas`, `usb`.
    Scsi(String),
    Virtio,
    Nvme,
    Mmc,
    Md,
    Virtual,
    Part,
}

#[derive(Debug, Clone)]
struct Dev {
    /// The real directory, a machine path under `/sys/devices`.
    real: String,
    /// The `device` directory (model, serial, ...), if the device has one.
    device: Option<String>,
    size: u64,
    devnum: String,
    bus: Bus,
    /// For a partition: its disk.
    parent: Option<String>,
    /// For a SCSI disk: its index among SCSI disks (picks host/port numbers).
    scsi_index: u32,
}

impl Dev {
    /// A whole device (not a partition) on `bus`, whose real directory is `real`.
    fn whole(real: String, device: Option<String>, size: u64, devnum: (u32, u32), bus: Bus) -> Dev {
        Dev {
            real,
            device,
            size,
            devnum: format!("{}:{}", devnum.0, devnum.1),
            bus,
            parent: None,
            scsi_index: 0,
        }
    }
}

#[derive(Debug, Clone)]
enum Current {
    None,
    Block(String),
    Nic(String),
}

/// A fake machine root. See the module documentation.
#[derive(Debug, Clone)]
pub struct FakeMachine {
    root: PathBuf,
    devs: BTreeMap<String, Dev>,
    current: Current,
    next_minor: BTreeMap<u32, u32>,
    scsi_disks: u32,
    virtio_disks: u32,
    pci_slot: u32,
    md: Vec<(String, String, Vec<String>)>,
}

impl FakeMachine {
    /// Creates the skeleton in `dir` (which may already exist): `/proc/cmdline` (empty),
    /// `/proc/meminfo` (4 GiB), `/proc/cpuinfo` (2 x86_64 CPUs), hostname `localhost`, an
    /// empty `/proc/mdstat`, the loopback interface, and empty `/sys/block`,
    /// `/sys/class/block`, `/dev`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        let m = FakeMachine {
            root: dir.as_ref().to_path_buf(),
            devs: BTreeMap::new(),
            current: Current::None,
            next_minor: BTreeMap::new(),
            scsi_disks: 0,
            virtio_disks: 0,
            pci_slot: 2,
            md: Vec::new(),
        };
        for d in [
            "/sys/block",
            "/sys/class/block",
            "/sys/class/net",
            "/sys/class/scsi_host",
            "/dev",
            "/run",
            "/tmp",
        ] {
            m.mkdir(d);
        }
        m.write("/proc/cmdline", "\n");
        m.write("/proc/sys/kernel/hostname", "localhost\n");
        m.write("/proc/mdstat", "Personalities : \nunused devices: <none>\n");
        let m = m.memory(4 * GIB).cpus(2, "QEMU Virtual CPU version 2.5+");
        let lo = "/sys/devices/virtual/net/lo";
        m.attr(lo, "address", "00:00:00:00:00:00");
        m.attr(lo, "operstate", "unknown");
        m.attr(lo, "carrier", 1);
        m.attr(lo, "type", 772);
        m.link("/sys/class/net/lo", lo);
        m
    }

    /// A [`Host`] rooted at this machine.
    pub fn host(&self) -> Host {
        Host::new(&self.root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    // ----------------------------------------------------------------- low-level writers

    /// Writes a file (machine path such as `/proc/cmdline`), creating its directories.
    pub fn file(self, abs: &str, content: &str) -> Self {
        self.write(abs, content);
        self
    }

    /// An executable script `/usr/bin/<name>` (`#!/bin/sh` + `body`): on a fake root the
    /// agent runs only the machine's own tools.
    pub fn tool(self, name: &str, body: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let abs = format!("/usr/bin/{name}");
        self.write(&abs, &format!("#!/bin/sh\n{body}\n"));
        let p = self.host().path(&abs);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
        self
    }

    /// A symlink at `abs` pointing (relatively) to the machine path `target`.
    pub fn symlink(self, abs: &str, target: &str) -> Self {
        self.link(abs, target);
        self
    }

    fn p(&self, abs: &str) -> PathBuf {
        self.host().path(abs)
    }

    fn mkdir(&self, abs: &str) {
        let p = self.p(abs);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
    }

    fn write(&self, abs: &str, content: &str) {
        self.write_bytes(abs, content.as_bytes());
    }

    /// Writes the sysfs attribute `dir/name` as the kernel shows it: the value and a newline.
    fn attr(&self, dir: &str, name: &str, value: impl std::fmt::Display) {
        self.write(&format!("{dir}/{name}"), &format!("{value}\n"));
    }

    fn write_bytes(&self, abs: &str, content: &[u8]) {
        let p = self.p(abs);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }

    /// Creates `abs` as a relative symlink to `target` (both machine paths), replacing
    /// whatever was there.
    fn link(&self, abs: &str, target: &str) {
        let p = self.p(abs);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        let _ = std::fs::remove_file(&p);
        let from_dir = Path::new(abs).parent().unwrap_or(Path::new("/"));
        let rel = relative(from_dir, Path::new(target));
        std::os::unix::fs::symlink(&rel, &p)
            .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", p.display(), rel.display()));
    }

    fn devnum(&mut self, major: u32, step: u32) -> (u32, u32) {
        let n = self.next_minor.entry(major).or_insert(0);
        let minor = *n;
        *n += step;
        (major, minor)
    }

    // ------------------------------------------------------------------- block devices

    /// Common block-device attributes in the real directory `real`, the class links and
    /// the `/dev` node.
    fn block_node(&mut self, name: &str, real: &str, size: u64, devnum: (u32, u32), devtype: &str) {
        let w = |f: &str, v: &str| self.attr(real, f, v);
        w("dev", &format!("{}:{}", devnum.0, devnum.1));
        w("size", &(size / 512).to_string());
        w("ro", "0");
        w("removable", "0");
        w("hidden", "0");
        w("stat", "0 0 0 0 0 0 0 0 0 0 0");
        w(
            "uevent",
            &format!(
                "MAJOR={}\nMINOR={}\nDEVNAME={name}\nDEVTYPE={devtype}",
                devnum.0, devnum.1
            ),
        );
        self.mkdir(&format!("{real}/holders"));
        if devtype == "disk" {
            w("queue/rotational", "1");
            w("queue/logical_block_size", "512");
            w("queue/physical_block_size", "512");
            self.mkdir(&format!("{real}/slaves"));
            self.link(&format!("/sys/block/{name}"), real);
        }
        self.link(&format!("/sys/class/block/{name}"), real);
        self.write(&format!("/dev/{name}"), "");
    }

    fn add_disk(&mut self, name: &str, dev: Dev) -> Dev {
        assert!(
            !self.devs.contains_key(name),
            "fake machine: block device {name} added twice"
        );
        let (maj, min) = parse_devnum(&dev.devnum);
        self.block_node(name, &dev.real.clone(), dev.size, (maj, min), "disk");
        if let Some(device) = &dev.device {
            self.mkdir(device);
            self.link(&format!("{}/device", dev.real), device);
        }
        self.devs.insert(name.to_string(), dev.clone());
        self.current = Current::Block(name.to_string());
        dev
    }

    /// Where a SCSI disk lives for a transport: (device dir, hctl, scsi host dir,
    /// proc_name).
    fn scsi_location(tran: &str, index: u32) -> (String, String, String, &'static str) {
        let h = index;
        let pci = "/sys/devices/pci0000:00";
        let (host_dir, target, hctl, proc_name) = match tran {
            "sata" | "ata" => (
                format!("{pci}/0000:00:1f.2/ata{}/host{h}", h + 1),
                format!("target{h}:0:0"),
                format!("{h}:0:0:0"),
                "ahci",
            ),
            "sas" => (
                format!("{pci}/0000:00:05.0/host{h}"),
                format!("port-{h}:0/end_device-{h}:0/target{h}:0:0"),
                format!("{h}:0:0:0"),
                "mpt3sas",
            ),
            "usb" => (
                format!(
                    "{pci}/0000:00:14.0/usb1/1-{}/1-{}:1.0/host{h}",
                    h + 1,
                    h + 1
                ),
                format!("target{h}:0:0"),
                format!("{h}:0:0:0"),
                "usb-storage",
            ),
            // virtio-scsi, QEMU's `scsi-hd`: one controller, one host per disk here
            "scsi" | "virtio" | "" => (
                format!("{pci}/0000:00:07.0/virtio{}/host{h}", 100 + h),
                format!("target{h}:0:0"),
                format!("{h}:0:0:0"),
                "virtio_scsi",
            ),
            other => panic!("fake machine: unknown SCSI transport {other:?}"),
        };
        let device = format!("{host_dir}/{target}/{hctl}");
        (device, hctl, host_dir, proc_name)
    }

    fn scsi_disk_on(mut self, name: &str, size: u64, tran: &str) -> Self {
        let index = self.scsi_disks;
        self.scsi_disks += 1;
        let (device, _hctl, host_dir, proc_name) = Self::scsi_location(tran, index);
        let real = format!("{device}/block/{name}");
        let devnum = self.devnum(8, 16);
        let bus = Bus::Scsi(tran.to_string());
        let dev = Dev::whole(real, Some(device.clone()), size, devnum, bus);
        self.add_disk(
            name,
            Dev {
                scsi_index: index,
                ..dev
            },
        );
        self.scsi_host(index, &host_dir, proc_name);
        let vendor = match tran {
            "sata" | "ata" => "ATA",
            _ => "QEMU",
        };
        self.attr(&device, "vendor", format!("{vendor:<8}"));
        self.attr(&device, "model", format!("{:<16}", "QEMU HARDDISK"));
        self.attr(&device, "type", 0);
        self
    }

    fn scsi_host(&self, h: u32, host_dir: &str, proc_name: &str) {
        let class = format!("{host_dir}/scsi_host/host{h}");
        self.attr(&class, "proc_name", proc_name);
        self.link(&format!("/sys/class/scsi_host/host{h}"), &class);
        if proc_name == "mpt3sas" {
            let sas = format!("{host_dir}/sas_host/host{h}");
            self.mkdir(&sas);
            self.link(&format!("/sys/class/sas_host/host{h}"), &sas);
        }
    }

    /// A SATA disk behind AHCI (`sda`: vendor `ATA`, model `QEMU HARDDISK`, rotational,
    /// 512-byte sectors, hctl `<n>:0:0:0`). `.tran()` moves it to another SCSI transport.
    pub fn disk(self, name: &str, size: u64) -> Self {
        self.scsi_disk_on(name, size, "sata")
    }

    /// A QEMU `scsi-hd` on virtio-scsi (vendor `QEMU`; no transport in lsblk terms).
    pub fn scsi_disk(self, name: &str, size: u64) -> Self {
        self.scsi_disk_on(name, size, "scsi")
    }

    /// A virtio-blk disk (`vda`): `/sys/block/vda/serial`, `device/vendor` = `0x1af4`.
    pub fn virtio(mut self, name: &str, size: u64) -> Self {
        let i = self.virtio_disks;
        self.virtio_disks += 1;
        let slot = self.next_pci_slot();
        let vdev = format!(
            "/sys/devices/pci0000:00/0000:00:{slot:02x}.0/virtio{}",
            i + 1
        );
        let real = format!("{vdev}/block/{name}");
        let devnum = self.devnum(254, 16);
        self.add_disk(
            name,
            Dev::whole(real, Some(vdev.clone()), size, devnum, Bus::Virtio),
        );
        self.attr(&vdev, "vendor", "0x1af4");
        self.attr(&vdev, "device", "0x0002");
        self
    }

    /// An NVMe namespace `nvme<C>n<N>` with native multipath, as the QEMU test bed's
    /// kernel shows it: `/sys/devices/virtual/nvme-subsystem/nvme-subsys<C>/nvme<C>n<N>`,
    /// `device` → the subsystem (serial space-padded to 20 chars, model `QEMU NVMe Ctrl`,
    /// not rotational), the controller `nvme<C>` on PCI, and the hidden per-controller path
    /// device `nvme<C>c<C>n<N>`. Partitions are named `nvme0n1p1`.
    pub fn nvme(mut self, name: &str, size: u64) -> Self {
        let (c, n) = name
            .strip_prefix("nvme")
            .and_then(|r| r.split_once('n'))
            .and_then(|(c, n)| Some((c.parse::<u32>().ok()?, n.parse::<u32>().ok()?)))
            .unwrap_or_else(|| {
                panic!("fake machine: NVMe namespace name {name:?} is not nvme<C>n<N>")
            });
        let subsys = format!("/sys/devices/virtual/nvme-subsystem/nvme-subsys{c}");
        let ctrl = format!(
            "/sys/devices/pci0000:00/0000:00:{:02x}.0/nvme/nvme{c}",
            8 + c
        );
        let real = format!("{subsys}/{name}");
        let devnum = self.devnum(259, 1);
        let dev = Dev::whole(real, Some(subsys.clone()), size, devnum, Bus::Nvme);
        let real = self.add_disk(name, dev).real;
        self.attr(&real, "queue/rotational", 0);
        self.attr(&real, "nsid", n);
        self.attr(&real, "wwid", format!("nvme.1b36-{:040x}-{n:08x}", c + 1));
        // The subsystem and its controller show the same identity.
        for dir in [&subsys, &ctrl] {
            self.attr(dir, "model", format!("{:<40}", "QEMU NVMe Ctrl"));
            self.attr(dir, "serial", format!("{:<20}", format!("NVME{c}")));
        }
        self.link(&format!("/sys/class/nvme/nvme{c}"), &ctrl);
        self.link(&format!("{subsys}/nvme{c}"), &ctrl);
        // the hidden path device, which discovery must skip
        let hidden = format!("nvme{c}c{c}n{n}");
        let hreal = format!("{ctrl}/{hidden}");
        self.attr(&hreal, "hidden", 1);
        self.attr(&hreal, "size", size / 512);
        self.attr(&hreal, "ro", 0);
        self.link(&format!("/sys/block/{hidden}"), &hreal);
        self.link(&format!("/sys/class/block/{hidden}"), &hreal);
        self
    }

    /// An eMMC/SD card `mmcblk<N>` (`device/name` is the model, `device/serial` hex).
    pub fn mmc(mut self, name: &str, size: u64) -> Self {
        let card = "/sys/devices/pci0000:00/0000:00:1c.0/mmc_host/mmc0/mmc0:0001".to_string();
        let real = format!("{card}/block/{name}");
        let devnum = self.devnum(179, 8);
        let real = self
            .add_disk(
                name,
                Dev::whole(real, Some(card.clone()), size, devnum, Bus::Mmc),
            )
            .real;
        self.attr(&real, "queue/rotational", 0);
        self.attr(&card, "name", "DG4008");
        self.attr(&card, "serial", "0x1234abcd");
        self.attr(&card, "type", "MMC");
        self
    }

    /// A device under `/sys/devices/virtual/block` with no `device` link: `ram0`, `zram0`,
    /// `dm-0`, ...
    pub fn virtual_block(mut self, name: &str, size: u64) -> Self {
        let real = format!("/sys/devices/virtual/block/{name}");
        let devnum = self.devnum(253, 1);
        self.add_disk(name, Dev::whole(real, None, size, devnum, Bus::Virtual));
        self
    }

    /// A loop device; `backing` (when attached) goes to `loop/backing_file`. A detached loop
    /// device has size 0.
    pub fn loop_dev(self, name: &str, size: u64, backing: Option<&str>) -> Self {
        let m = self.virtual_block(name, size);
        if let Some(b) = backing {
            m.attr(&m.devs[name].real, "loop/backing_file", b);
        }
        m
    }

    /// A floppy drive `fd0` (which discovery drops).
    pub fn floppy(mut self, name: &str) -> Self {
        let device = "/sys/devices/platform/floppy.0".to_string();
        let real = format!("{device}/block/{name}");
        let devnum = self.devnum(2, 1);
        let dev = Dev::whole(real, Some(device), 2880 * 512, devnum, Bus::Virtual);
        self.add_disk(name, dev);
        self
    }

    /// A CD-ROM `sr0` (SCSI type 5, removable; discovery drops it).
    pub fn cdrom(self, name: &str) -> Self {
        let m = self.scsi_disk_on(name, 700 * MIB, "sata");
        let d = m.devs[name].clone();
        let device = d.device.clone().unwrap_or_default();
        m.attr(&device, "type", 5);
        m.attr(&device, "model", "QEMU DVD-ROM    ");
        m.attr(&d.real, "removable", 1);
        m
    }

    /// A partition `part` (e.g. `sda1`, `nvme0n1p1`) of `disk`, `start` and `size` in bytes.
    /// The partition number is the trailing number of the name.
    pub fn partition(mut self, disk: &str, part: &str, start: u64, size: u64) -> Self {
        let d = self
            .devs
            .get(disk)
            .unwrap_or_else(|| panic!("fake machine: partition {part} of unknown disk {disk}"))
            .clone();
        let num: u32 = {
            let digits: String = part
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("fake machine: partition name {part:?} has no number"))
        };
        let (dmaj, dmin) = parse_devnum(&d.devnum);
        let devnum = match d.bus {
            Bus::Scsi(_) | Bus::Virtio if num < 16 => (dmaj, dmin + num),
            Bus::Mmc if num < 8 => (dmaj, dmin + num),
            _ => self.devnum(259, 1),
        };
        let real = format!("{}/{part}", d.real);
        self.block_node(part, &real, size, devnum, "partition");
        self.attr(&real, "partition", num);
        self.attr(&real, "start", start / 512);
        let dev = Dev::whole(real, None, size, devnum, Bus::Part);
        let parent = Some(disk.to_string());
        self.devs.insert(part.to_string(), Dev { parent, ..dev });
        self.current = Current::Block(part.to_string());
        self
    }

    /// An md array `md<N>` at `level` (`raid0`, `raid1`, `raid10`, `raid5`, `raid6`; `1`
    /// means `raid1`) over `members` (names of disks or partitions already added):
    /// `md/level`, `md/metadata_version` 1.2, `md/dev-<member>`, `slaves/` and the members'
    /// `holders/`, and a matching `/proc/mdstat`. The size follows from the level.
    pub fn md(mut self, name: &str, level: &str, members: &[&str]) -> Self {
        let level = if level.starts_with("raid") || level == "linear" {
            level.to_string()
        } else {
            format!("raid{level}")
        };
        let sizes: Vec<u64> = members
            .iter()
            .map(|m| {
                self.devs
                    .get(*m)
                    .unwrap_or_else(|| panic!("fake machine: md member {m} not added"))
                    .size
            })
            .collect();
        let n = sizes.len() as u64;
        let min = sizes.iter().copied().min().unwrap_or(0);
        let size = match level.as_str() {
            "raid0" | "linear" => sizes.iter().sum(),
            "raid1" => min,
            "raid10" => min * n / 2,
            "raid5" => min * n.saturating_sub(1),
            "raid6" => min * n.saturating_sub(2),
            _ => min,
        };
        let minor: u32 = name
            .trim_start_matches("md")
            .parse()
            .unwrap_or_else(|_| self.next_minor.get(&9).copied().unwrap_or(0));
        let real = format!("/sys/devices/virtual/block/{name}");
        self.add_disk(
            name,
            Dev::whole(real.clone(), None, size, (9, minor), Bus::Md),
        );
        self.attr(&real, "queue/rotational", 0);
        self.attr(&real, "md/level", &level);
        self.attr(&real, "md/metadata_version", "1.2");
        self.attr(&real, "md/array_state", "clean");
        self.attr(&real, "md/raid_disks", n);
        for (i, m) in members.iter().enumerate() {
            let mreal = self.devs[*m].real.clone();
            self.link(&format!("{real}/slaves/{m}"), &mreal);
            self.link(&format!("{mreal}/holders/{name}"), &real);
            self.link(&format!("{real}/md/dev-{m}/block"), &mreal);
            self.attr(&real, &format!("md/dev-{m}/slot"), i);
            self.attr(&real, &format!("md/dev-{m}/state"), "in_sync");
        }
        self.md.push((
            name.to_string(),
            level,
            members.iter().map(|s| s.to_string()).collect(),
        ));
        self.write_mdstat();
        self.current = Current::Block(name.to_string());
        self
    }

    fn write_mdstat(&self) {
        let mut levels: Vec<&str> = self.md.iter().map(|(_, l, _)| l.as_str()).collect();
        levels.sort();
        levels.dedup();
        let mut s = format!(
            "Personalities : {}\n",
            levels
                .iter()
                .map(|l| format!("[{l}]"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        for (name, level, members) in &self.md {
            let ms: Vec<String> = members
                .iter()
                .enumerate()
                .map(|(i, m)| format!("{m}[{i}]"))
                .collect();
            let blocks = self.devs[name].size / 1024;
            let n = members.len();
            s += &format!(
                "{name} : active {level} {}\n      {blocks} blocks super 1.2 [{n}/{n}] [{}]\n\n",
                ms.join(" "),
                "U".repeat(n)
            );
        }
        s += "unused devices: <none>\n";
        self.write("/proc/mdstat", &s);
    }

    // ------------------------------------------------- modifiers of the current block dev

    fn cur(&self) -> Dev {
        self.devs[&self.cur_name()].clone()
    }

    fn cur_name(&self) -> String {
        match &self.current {
            Current::Block(n) => n.clone(),
            _ => panic!("fake machine: no block device to modify; add one first"),
        }
    }

    /// The `device` directory of the current device (its disk's, for a partition).
    fn cur_device_dir(&self) -> String {
        let d = self.cur();
        let d = match &d.parent {
            Some(p) => self.devs[p].clone(),
            None => d,
        };
        d.device
            .unwrap_or_else(|| panic!("fake machine: {} has no device directory", self.cur_name()))
    }

    fn cur_disk_real(&self) -> String {
        let d = self.cur();
        match &d.parent {
            Some(p) => self.devs[p].real.clone(),
            None => d.real,
        }
    }

    pub fn model(self, model: &str) -> Self {
        self.attr(&self.cur_device_dir(), "model", model);
        self
    }

    pub fn vendor(self, vendor: &str) -> Self {
        self.attr(&self.cur_device_dir(), "vendor", vendor);
        self
    }

    /// Where the kernel shows it for the bus: virtio `serial`, NVMe/mmc `device/serial`
    /// (NVMe space-padded to 20), SCSI/ATA `device/vpd_pg80`.
    pub fn serial(self, serial: &str) -> Self {
        let d = self.cur();
        match d.bus {
            Bus::Virtio => self.write(&format!("{}/serial", d.real), serial),
            Bus::Nvme => self.attr(&self.cur_device_dir(), "serial", format!("{serial:<20}")),
            Bus::Scsi(_) => {
                let mut page = vec![0u8, 0x80, 0, serial.len() as u8];
                page.extend_from_slice(serial.as_bytes());
                self.write_bytes(&format!("{}/vpd_pg80", self.cur_device_dir()), &page);
            }
            _ => self.attr(&self.cur_device_dir(), "serial", serial),
        }
        self
    }

    /// The `wwid` attribute as the kernel writes it (`naa.5000c50015ea71a5`,
    /// `t10.ATA_...`, `eui....`): `device/wwid` for SCSI, `wwid` for NVMe.
    pub fn wwid(self, wwid: &str) -> Self {
        let d = self.cur();
        let dir = match d.bus {
            Bus::Nvme => d.real,
            _ => self.cur_device_dir(),
        };
        self.attr(&dir, "wwid", wwid);
        self
    }

    /// A WWN such as `0x5000c50015ea71a5`, written as the NAA `wwid` the kernel shows.
    pub fn wwn(self, wwn: &str) -> Self {
        let hex = wwn.trim_start_matches("0x");
        self.wwid(&format!("naa.{hex}"))
    }

    pub fn rotational(self, rotational: bool) -> Self {
        self.attr(
            &self.cur_disk_real(),
            "queue/rotational",
            u8::from(rotational),
        );
        self
    }

    /// Read-only (`ro` = 1), like QEMU's `readonly=on`.
    pub fn ro(self, ro: bool) -> Self {
        self.attr(&self.cur().real, "ro", u8::from(ro));
        self
    }

    pub fn removable(self, removable: bool) -> Self {
        self.attr(&self.cur_disk_real(), "removable", u8::from(removable));
        self
    }

    pub fn hidden(self, hidden: bool) -> Self {
        self.attr(&self.cur().real, "hidden", u8::from(hidden));
        self
    }

    /// Logical and physical block sizes in bytes.
    pub fn block_size(self, logical: u64, physical: u64) -> Self {
        let real = self.cur_disk_real();
        self.attr(&real, "queue/logical_block_size", logical);
        self.attr(&real, "queue/physical_block_size", physical);
        self
    }

    /// Moves the current SCSI disk (from [`disk`](Self::disk) or
    /// [`scsi_disk`](Self::scsi_disk)) to another transport: `sata`, `sas`, `usb`, or
    /// `scsi` (virtio-scsi). Call it right after adding the disk, before md arrays use it.
    pub fn tran(mut self, tran: &str) -> Self {
        let name = self.cur_name();
        let d = self.cur();
        let Bus::Scsi(old) = &d.bus else {
            panic!("fake machine: tran() applies to SCSI disks only; {name} has its own bus");
        };
        if old == tran {
            return self;
        }
        let (old_dev, _, old_host, _) = Self::scsi_location(old, d.scsi_index);
        let (new_dev, _, new_host, proc_name) = Self::scsi_location(tran, d.scsi_index);
        let from = self.p(&old_dev);
        let to = self.p(&new_dev);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(&from, &to)
            .unwrap_or_else(|e| panic!("move {} -> {}: {e}", from.display(), to.display()));
        let _ = std::fs::remove_dir_all(self.p(&old_host));
        let real = format!("{new_dev}/block/{name}");
        self.link(&format!("/sys/block/{name}"), &real);
        self.link(&format!("/sys/class/block/{name}"), &real);
        self.link(&format!("{real}/device"), &new_dev);
        let parts: Vec<String> = self
            .devs
            .iter()
            .filter(|(_, p)| p.parent.as_deref() == Some(name.as_str()))
            .map(|(n, _)| n.clone())
            .collect();
        for p in parts {
            let preal = format!("{real}/{p}");
            self.link(&format!("/sys/class/block/{p}"), &preal);
            self.devs.get_mut(&p).unwrap().real = preal;
        }
        let _ = std::fs::remove_file(self.p(&format!("/sys/class/scsi_host/host{}", d.scsi_index)));
        self.scsi_host(d.scsi_index, &new_host, proc_name);
        let dm = self.devs.get_mut(&name).unwrap();
        dm.real = real;
        dm.device = Some(new_dev.clone());
        dm.bus = Bus::Scsi(tran.to_string());
        if tran != "sata" && tran != "ata" {
            self.attr(&new_dev, "vendor", format!("{:<8}", "QEMU"));
        }
        self
    }

    /// udev's database record for the current device (`/run/udev/data/b<maj>:<min>`):
    /// `E:` properties and `S:` links (relative to `/dev`, e.g. `disk/by-path/pci-...`),
    /// and the links themselves under `/dev`.
    pub fn udev(self, env: &[(&str, &str)], links: &[&str]) -> Self {
        let name = self.cur_name();
        let d = self.cur();
        let mut s = String::new();
        for l in links {
            s += &format!("S:{l}\n");
            self.link(&format!("/dev/{l}"), &format!("/dev/{name}"));
        }
        for (k, v) in env {
            s += &format!("E:{k}={v}\n");
        }
        self.write(&format!("/run/udev/data/b{}", d.devnum), &s);
        self
    }

    /// A `/dev/md/<name>` link to the current md array (as udev or mdadm make it).
    pub fn md_name(self, md_name: &str) -> Self {
        let name = self.cur_name();
        self.link(&format!("/dev/md/{md_name}"), &format!("/dev/{name}"));
        self
    }

    // ------------------------------------------------------------------------- network

    /// The next free PCI slot for a virtio disk or NIC, from `00:02.0` up, skipping the
    /// fixed ones (SAS `05`, virtio-scsi `07`, NVMe `08`-`0b`, USB `14`, mmc `1c`, AHCI `1f`).
    fn next_pci_slot(&mut self) -> u32 {
        while [0x05, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x14, 0x1c, 0x1f].contains(&self.pci_slot) {
            self.pci_slot += 1;
        }
        let s = self.pci_slot;
        self.pci_slot += 1;
        s
    }

    /// A PCI NIC (Intel e1000, `0x8086`/`0x100e`, carrier up, 1000 Mb/s):
    /// `/sys/class/net/<name>` → `/sys/devices/pci0000:00/0000:00:NN.0/net/<name>`, with
    /// `address`, `operstate`, `carrier`, `speed`, `device` and `device/driver` links.
    pub fn nic(mut self, name: &str, mac: &str) -> Self {
        let slot = self.next_pci_slot();
        let pci = format!("/sys/devices/pci0000:00/0000:00:{slot:02x}.0");
        let real = format!("{pci}/net/{name}");
        self.attr(&pci, "vendor", "0x8086");
        self.attr(&pci, "device", "0x100e");
        self.write_nic(name, mac, &real, &pci);
        self.current = Current::Nic(name.to_string());
        self.driver("e1000")
    }

    /// A virtual interface (bridge, bond, veth...) under `/sys/devices/virtual/net`, which
    /// the inventory leaves out like IPA.
    pub fn virtual_nic(mut self, name: &str, mac: &str) -> Self {
        let real = format!("/sys/devices/virtual/net/{name}");
        self.write_link_state(&real, mac);
        self.link(&format!("/sys/class/net/{name}"), &real);
        self.current = Current::Nic(name.to_string());
        self
    }

    /// What every Ethernet interface shows: its address, up with a carrier.
    fn write_link_state(&self, real: &str, mac: &str) {
        self.attr(real, "address", mac);
        self.attr(real, "operstate", "up");
        self.attr(real, "carrier", 1);
        self.attr(real, "type", 1);
    }

    fn write_nic(&self, name: &str, mac: &str, real: &str, device: &str) {
        self.write_link_state(real, mac);
        self.attr(real, "speed", 1000);
        self.attr(real, "mtu", 1500);
        self.link(&format!("{real}/device"), device);
        self.link(&format!("/sys/class/net/{name}"), real);
    }

    /// The real directory of the NIC added last.
    fn nic_real(&self) -> String {
        let Current::Nic(name) = &self.current else {
            panic!("fake machine: no NIC to modify; add one first");
        };
        let path = self.p(&format!("/sys/class/net/{name}"));
        let t = std::fs::read_link(&path).unwrap();
        // "../../devices/..." relative to /sys/class/net
        let abs = Path::new("/sys/class/net").join(t);
        normalize(&abs).to_string_lossy().into_owned()
    }

    /// Link state: carrier 1 / operstate up, or carrier 0 / operstate down.
    pub fn carrier(self, up: bool) -> Self {
        let real = self.nic_real();
        self.attr(&real, "carrier", u8::from(up));
        self.attr(&real, "operstate", if up { "up" } else { "down" });
        self
    }

    pub fn speed(self, mbps: i64) -> Self {
        self.attr(&self.nic_real(), "speed", mbps);
        self
    }

    /// The driver bound to the NIC's device (`device/driver` → `/sys/bus/pci/drivers/<d>`).
    pub fn driver(self, driver: &str) -> Self {
        let real = self.nic_real();
        let drv = format!("/sys/bus/pci/drivers/{driver}");
        self.mkdir(&drv);
        self.link(&format!("{real}/device/driver"), &drv);
        self
    }

    /// The NIC's PCI vendor and device ids (`0x1af4`, `0x1000`).
    pub fn pci_ids(self, vendor: &str, device: &str) -> Self {
        let dev = format!("{}/device", self.nic_real());
        self.attr(&dev, "vendor", vendor);
        self.attr(&dev, "device", device);
        self
    }

    // ------------------------------------------------------------------ system and /proc

    /// `/proc/cmdline`.
    pub fn cmdline(self, cmdline: &str) -> Self {
        self.write("/proc/cmdline", &format!("{cmdline}\n"));
        self
    }

    /// `/proc/meminfo` with `MemTotal` = `total` bytes, and `/sys/devices/system/memory`
    /// blocks (128 MiB each) covering it.
    pub fn memory(self, total: u64) -> Self {
        let kb = total / 1024;
        self.write(
            "/proc/meminfo",
            &format!(
                "MemTotal:       {kb} kB\nMemFree:        {} kB\nMemAvailable:   {} kB\n",
                kb / 2,
                kb / 2
            ),
        );
        let mem = "/sys/devices/system/memory";
        let _ = std::fs::remove_dir_all(self.p(mem));
        self.attr(mem, "block_size_bytes", "8000000");
        for i in 0..total.div_ceil(128 * MIB) {
            self.attr(mem, &format!("memory{i}/online"), 1);
            self.attr(mem, &format!("memory{i}/state"), "online");
        }
        self
    }

    /// `/proc/cpuinfo` with `count` x86_64 logical CPUs of `model` on one socket, 2400 MHz.
    pub fn cpus(self, count: u32, model: &str) -> Self {
        let mut s = String::new();
        for i in 0..count {
            s += &format!(
                "processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n\
                 model name\t: {model}\ncpu MHz\t\t: 2400.000\nphysical id\t: 0\ncore id\t\t: {i}\n\
                 cpu cores\t: {count}\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse sse2 lm\n\n"
            );
        }
        self.write("/proc/cpuinfo", &s);
        self
    }

    /// DMI system fields (`/sys/class/dmi/id/{sys_vendor,product_name,product_serial}`).
    pub fn dmi(self, vendor: &str, product: &str, serial: &str) -> Self {
        self.dmi_fields(&[
            ("sys_vendor", vendor),
            ("product_name", product),
            ("product_serial", serial),
        ])
    }

    /// DMI firmware fields (`bios_vendor`, `bios_version`, `bios_date`).
    pub fn bios(self, vendor: &str, version: &str, date: &str) -> Self {
        self.dmi_fields(&[
            ("bios_vendor", vendor),
            ("bios_version", version),
            ("bios_date", date),
        ])
    }

    /// `/sys/class/dmi/id/<field>` for each field.
    fn dmi_fields(self, fields: &[(&str, &str)]) -> Self {
        let id = "/sys/devices/virtual/dmi/id";
        for (field, value) in fields {
            self.attr(id, field, value);
        }
        self.link("/sys/class/dmi/id", id);
        self
    }

    /// Booted in UEFI mode (`/sys/firmware/efi` exists).
    pub fn uefi(self) -> Self {
        self.mkdir("/sys/firmware/efi/efivars");
        self
    }

    /// `/proc/sys/kernel/hostname`.
    pub fn hostname(self, name: &str) -> Self {
        self.write("/proc/sys/kernel/hostname", &format!("{name}\n"));
        self
    }
}

fn parse_devnum(s: &str) -> (u32, u32) {
    let (a, b) = s.split_once(':').unwrap_or(("0", "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

/// Resolves `.` and `..` lexically.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// The relative path from directory `from` to `to` (both absolute machine paths).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let (from, to) = (normalize(from), normalize(to));
    let f: Vec<_> = from.components().skip(1).collect();
    let t: Vec<_> = to.components().skip(1).collect();
    // like the kernel (kernfs_get_target_path): climb to the common ancestor of the link's
    // directory and the target's parent, so a link to an ancestor still names it
    // (`device` -> `../../../virtio1`, not `../..`)
    let common = f
        .iter()
        .zip(&t)
        .take_while(|(a, b)| a == b)
        .count()
        .min(t.len().saturating_sub(1));
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_are_computed_like_the_kernel_makes_them() {
        assert_eq!(
            relative(
                Path::new("/sys/block"),
                Path::new("/sys/devices/virtual/block/md0")
            ),
            PathBuf::from("../devices/virtual/block/md0")
        );
        assert_eq!(
            relative(
                Path::new("/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda"),
                Path::new("/sys/devices/pci0000:00/0000:00:02.0/virtio1")
            ),
            PathBuf::from("../../../virtio1")
        );
    }

    #[test]
    fn writes_the_kernel_layout() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path())
            .disk("sda", 10 * GIB)
            .partition("sda", "sda1", MIB, GIB)
            .nic("eth0", "52:54:00:12:34:56");
        let h = m.host();
        assert_eq!(
            h.link_target("/sys/block/sda").unwrap(),
            PathBuf::from(
                "../devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"
            )
        );
        assert_eq!(
            h.link_target("/sys/block/sda/device").unwrap(),
            PathBuf::from("../../../0:0:0:0")
        );
        assert_eq!(h.attr("/sys/block/sda/size").as_deref(), Some("20971520"));
        assert_eq!(
            h.attr("/sys/block/sda/device/model").as_deref(),
            Some("QEMU HARDDISK")
        );
        assert_eq!(
            h.attr("/sys/class/block/sda1/partition").as_deref(),
            Some("1")
        );
        assert_eq!(
            h.attr("/sys/class/block/sda1/start").as_deref(),
            Some("2048")
        );
        assert_eq!(
            h.attr("/sys/class/net/eth0/address").as_deref(),
            Some("52:54:00:12:34:56")
        );
        assert_eq!(
            h.link_target("/sys/class/net/eth0/device/driver")
                .unwrap()
                .file_name()
                .unwrap(),
            "e1000"
        );
        assert!(h.exists("/dev/sda1"));
        assert_eq!(h.attr("/proc/cmdline").as_deref(), Some(""));
    }

    #[test]
    fn tran_moves_a_disk_and_its_partitions() {
        let d = tempfile::tempdir().unwrap();
        let m = FakeMachine::new(d.path())
            .disk("sda", 10 * GIB)
            .partition("sda", "sda1", MIB, GIB)
            .model("M1")
            .disk("sdb", 10 * GIB)
            .tran("sas");
        let h = m.host();
        assert!(h.exists("/sys/block/sdb/device/model"));
        assert!(h
            .link_target("/sys/block/sdb")
            .unwrap()
            .to_string_lossy()
            .contains("end_device-1:0"));
        assert_eq!(h.attr("/sys/block/sda/device/model").as_deref(), Some("M1"));
        assert_eq!(
            h.attr("/sys/class/block/sda1/size").as_deref(),
            Some("2097152")
        );
    }
}
