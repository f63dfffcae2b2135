//! Boots the deploy ramdisk (`ramdisk/build`) in QEMU for end-to-end tests.
//!
//! * QEMU (`qemu-system-x86` from bookworm-backports, see `/work/shared/spec/qemu-ramdisk.md`)
//!   is installed on first use when missing.
//! * The ramdisk is taken from `$IRONIC_AGENT_KERNEL` / `$IRONIC_AGENT_INITRAMFS` when set;
//!   otherwise `target/ramdisk/ironic-agent.{vmlinux,kernel,initramfs}` is (re)built by
//!   `ramdisk/build` when missing or older than the agent's sources.
//! * Each [`Vm`] gets a private temporary directory with its sparse disk images, the serial
//!   log and QEMU's own output, user-mode networking only (the agent's port is forwarded to
//!   `127.0.0.1:<agent_port>`, the host's `127.0.0.1:P` is `10.0.2.2:P` in the guest), and a
//!   hard time limit. Dropping the [`Vm`] kills QEMU; QEMU also dies with the test process
//!   (`PR_SET_PDEATHSIG`), so no VM outlives its test.
//!
//! ```no_run
//! use agent_tests::qemu::{Bus, Disk, Vm, VmOptions};
//! use std::time::Duration;
//!
//! let vm = Vm::boot(VmOptions {
//!     disks: vec![Disk::new(Bus::Virtio, 1024), Disk::new(Bus::Nvme, 512)],
//!     append: vec!["ipa-agent-token=...".into()],
//!     ..VmOptions::default()
//! });
//! vm.wait_for_serial("API listening", Duration::from_secs(120)).unwrap();
//! let url = vm.agent_url();
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

/// The MAC of the VM's NIC unless a test picks another one (enroll it as the Ironic port).
pub const DEFAULT_MAC: &str = "52:54:00:12:34:56";

/// The kernel parameters every boot gets (before [`VmOptions::append`]). `panic=-1` with
/// `-no-reboot` ends QEMU at once on a kernel panic; `cryptomgr.notests` saves ~0.5 s of
/// crypto self-tests under TCG.
pub const BASE_APPEND: &str = "console=ttyS0,115200 panic=-1 cryptomgr.notests=1";

/// Bus of a virtual disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    /// virtio-blk (`/dev/vdX`); read-only works (`/sys/block/vdX/ro` = 1).
    Virtio,
    /// scsi-hd on a virtio-scsi controller (`/dev/sdX`, model `QEMU HARDDISK`, a `wwn`);
    /// read-only works.
    Scsi,
    /// NVMe (`/dev/nvmeXn1`). Read-only is not visible to the guest, so it is refused here.
    Nvme,
    /// ide-hd on q35's built-in AHCI (`/dev/sdX`, vendor `ATA`). QEMU refuses read-only.
    Ahci,
}

impl Bus {
    fn tag(self) -> &'static str {
        match self {
            Bus::Virtio => "VIRTIO",
            Bus::Scsi => "SCSI",
            Bus::Nvme => "NVME",
            Bus::Ahci => "AHCI",
        }
    }
}

/// One virtual disk: a sparse raw image in the VM's directory.
#[derive(Clone, Debug)]
pub struct Disk {
    pub bus: Bus,
    pub size_mib: u64,
    pub read_only: bool,
    /// The serial number the guest sees; `None` gives `QEMU-<BUS>-<index>`.
    pub serial: Option<String>,
}

impl Disk {
    pub fn new(bus: Bus, size_mib: u64) -> Disk {
        Disk {
            bus,
            size_mib,
            read_only: false,
            serial: None,
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

    /// The serial the guest sees for disk number `index` of the VM.
    pub fn serial_for(&self, index: usize) -> String {
        self.serial
            .clone()
            .unwrap_or_else(|| format!("QEMU-{}-{index}", self.bus.tag()))
    }
}

/// How to boot one VM. `Default`: 256 MiB, no disks, [`DEFAULT_MAC`], no SMBIOS strings,
/// a free host port for the agent, a 10-minute hard limit.
#[derive(Clone, Debug)]
pub struct VmOptions {
    /// Guest RAM (`-m`), MiB.
    pub memory_mib: u32,
    pub disks: Vec<Disk>,
    /// MAC address of the (only) NIC, virtio-net.
    pub mac: String,
    /// Extra kernel parameters, e.g. `ipa-api-url=http://10.0.2.2:6385`.
    pub append: Vec<String>,
    /// `-smbios` values, e.g. `type=1,manufacturer=HPE,product=ProLiant DL380 Gen10`
    /// (commas inside a value are written `,,`).
    pub smbios: Vec<String>,
    /// Host port forwarded (on 127.0.0.1) to the agent's port 9999; `None` picks a free one.
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
            memory_mib: 256,
            disks: Vec::new(),
            mac: DEFAULT_MAC.to_string(),
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

/// The kernel and initramfs to boot.
#[derive(Clone, Debug)]
pub struct Ramdisk {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

/// A running VM. Dropping it kills QEMU and removes its directory (kept when
/// `IRONIC_AGENT_QEMU_KEEP=1`; the path is printed).
pub struct Vm {
    child: Arc<Mutex<Child>>,
    exited: Arc<AtomicBool>,
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    serial: PathBuf,
    qemu_out: PathBuf,
    agent_port: u16,
    disks: Vec<PathBuf>,
    started: Instant,
    name: String,
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A file lock (flock) held while it lives: serialises installs and ramdisk builds between
/// test processes.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until this process holds an exclusive `flock` on `path` (created if needed);
    /// released on drop. Serialises ramdisk builds and VM runs across test processes.
    pub fn acquire(path: &Path) -> FileLock {
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("opening lock file {}: {e}", path.display()));
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        FileLock { _file: f }
    }
}

fn lock_dir() -> PathBuf {
    repo_root().join("target/ramdisk-cache")
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs `qemu-system-x86` when `qemu-system-x86_64` is missing. On Debian 12 it comes
/// from bookworm-backports: the image's qemu-utils 10.0 (backports) breaks bookworm's
/// qemu-system 7.2.
pub fn ensure_qemu() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if on_path("qemu-system-x86_64") {
            return;
        }
        let _lock = FileLock::acquire(&lock_dir().join("install.lock"));
        if on_path("qemu-system-x86_64") {
            return;
        }
        eprintln!("qemu harness: installing qemu-system-x86 (bookworm-backports)");
        let codename = fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VERSION_CODENAME=").map(str::to_string))
            .unwrap_or_default();
        let mut install = Command::new("apt-get");
        install.env("DEBIAN_FRONTEND", "noninteractive").args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
        ]);
        if codename == "bookworm" {
            let list = Path::new("/etc/apt/sources.list.d/bookworm-backports.sources");
            let have = fs::read_dir("/etc/apt/sources.list.d")
                .map(|d| {
                    d.flatten().any(|e| {
                        fs::read_to_string(e.path())
                            .map(|t| t.contains("bookworm-backports"))
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false)
                || fs::read_to_string("/etc/apt/sources.list")
                    .map(|t| t.contains("bookworm-backports"))
                    .unwrap_or(false);
            if !have {
                fs::write(
                    list,
                    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
                     Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
                )
                .expect("writing the bookworm-backports apt source");
            }
            install.args(["-t", "bookworm-backports"]);
        }
        run_checked(
            Command::new("apt-get").args(["update", "-qq"]),
            "apt-get update",
        );
        install.args(["qemu-system-x86", "qemu-utils"]);
        run_checked(&mut install, "apt-get install qemu-system-x86");
    });
}

/// Newest modification time of the files under `path` (recursively).
fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    let mut newest = None;
    for e in fs::read_dir(path).ok()?.flatten() {
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if let Some(t) = newest_mtime(&e.path()) {
            newest = newest.max(Some(t));
        }
    }
    newest
}

/// The ramdisk to boot: `$IRONIC_AGENT_KERNEL` + `$IRONIC_AGENT_INITRAMFS`, or the outputs of
/// `ramdisk/build`, rebuilt first when missing or older than the agent's sources, Cargo.lock
/// or the ramdisk scripts. The uncompressed `vmlinux` is preferred (PVH boot, ~3.5 s faster
/// under TCG than decompressing the bzImage).
pub fn ramdisk() -> Ramdisk {
    static RD: OnceLock<Ramdisk> = OnceLock::new();
    RD.get_or_init(|| {
        if let (Some(k), Some(i)) = (
            std::env::var_os("IRONIC_AGENT_KERNEL"),
            std::env::var_os("IRONIC_AGENT_INITRAMFS"),
        ) {
            return Ramdisk {
                kernel: k.into(),
                initramfs: i.into(),
            };
        }
        let root = repo_root();
        let out = root.join("target/ramdisk");
        let initramfs = out.join("ironic-agent.initramfs");
        let _lock = FileLock::acquire(&lock_dir().join("build.lock"));
        let sources = [
            "agent",
            "blockdev",
            "hwmgr",
            "hwmgr-generic",
            "hwmgr-proliant",
            "Cargo.lock",
            "Cargo.toml",
            "ramdisk/build",
            "ramdisk/init",
            "ramdisk/udhcpc.script",
        ];
        let newest_src = sources
            .iter()
            .filter_map(|s| newest_mtime(&root.join(s)))
            .max();
        let built = fs::metadata(&initramfs).and_then(|m| m.modified()).ok();
        let stale = match (built, newest_src) {
            (None, _) => true,
            (Some(b), Some(s)) => s > b,
            (Some(_), None) => false,
        };
        if stale {
            eprintln!("qemu harness: building the ramdisk (ramdisk/build)");
            let started = Instant::now();
            let status = Command::new(root.join("ramdisk/build"))
                .current_dir(&root)
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .status()
                .expect("running ramdisk/build");
            assert!(status.success(), "ramdisk/build failed: {status}");
            eprintln!("qemu harness: ramdisk built in {:.1?}", started.elapsed());
        }
        let vmlinux = out.join("ironic-agent.vmlinux");
        let kernel = if vmlinux.exists() {
            vmlinux
        } else {
            out.join("ironic-agent.kernel")
        };
        assert!(
            kernel.exists() && initramfs.exists(),
            "ramdisk outputs missing in {}",
            out.display()
        );
        Ramdisk { kernel, initramfs }
    })
    .clone()
}

/// Whether KVM really works here. `/dev/kvm` can exist and still be unusable (e.g. the
/// `kvm_pvm` module, which needs a PVM guest kernel): only kvm_intel/kvm_amd count.
/// `IRONIC_AGENT_QEMU_ACCEL=kvm|tcg` overrides.
pub fn kvm_usable() -> bool {
    match std::env::var("IRONIC_AGENT_QEMU_ACCEL").as_deref() {
        Ok("kvm") => return true,
        Ok("tcg") => return false,
        _ => {}
    }
    let modules_ok =
        Path::new("/sys/module/kvm_intel").exists() || Path::new("/sys/module/kvm_amd").exists();
    modules_ok
        && OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

impl Vm {
    /// Creates the disks and boots the ramdisk; returns once QEMU runs (it does not wait for
    /// the guest: use [`Vm::wait_for_serial`]). Panics when QEMU cannot start.
    pub fn boot(opts: VmOptions) -> Vm {
        ensure_qemu();
        let rd = ramdisk();
        let mut last_err = String::new();
        for _attempt in 0..4 {
            match Vm::try_boot(&opts, &rd) {
                Ok(vm) => return vm,
                Err((true, e)) => {
                    eprintln!("qemu harness: {e}; retrying with another port");
                    last_err = e;
                }
                Err((false, e)) => panic!("{e}"),
            }
        }
        panic!("QEMU could not start: {last_err}");
    }

    /// `Err((retry, message))`: retry when the forwarded port was taken meanwhile.
    fn try_boot(opts: &VmOptions, rd: &Ramdisk) -> Result<Vm, (bool, String)> {
        for d in &opts.disks {
            if d.read_only && matches!(d.bus, Bus::Nvme | Bus::Ahci) {
                return Err((
                    false,
                    format!(
                        "a read-only {:?} disk cannot be modelled in QEMU (use virtio or scsi)",
                        d.bus
                    ),
                ));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("ironic-agent-vm-")
            .tempdir()
            .map_err(|e| (false, format!("creating the VM directory: {e}")))?;
        let dir_path = dir.path().to_path_buf();
        let serial = dir_path.join("serial.log");
        let qemu_out = dir_path.join("qemu.out");
        let agent_port = opts.agent_port.unwrap_or_else(free_port);

        let mut args: Vec<String> = Vec::new();
        let mut push = |a: &[&str]| args.extend(a.iter().map(|s| s.to_string()));
        push(&["-name", &opts.name, "-machine", "q35"]);
        if kvm_usable() {
            push(&["-accel", "kvm", "-cpu", "host"]);
        } else {
            push(&["-accel", "tcg", "-cpu", "max"]);
        }
        let mem = opts.memory_mib.to_string();
        let serial_arg = format!("file:{}", serial.display());
        push(&["-smp", "1", "-m", &mem, "-nodefaults", "-no-user-config"]);
        push(&["-display", "none", "-no-reboot", "-monitor", "none"]);
        push(&["-serial", &serial_arg]);
        let mut append = BASE_APPEND.to_string();
        for a in &opts.append {
            append.push(' ');
            append.push_str(a);
        }
        push(&["-kernel", &rd.kernel.to_string_lossy()]);
        push(&[
            "-initrd",
            &rd.initramfs.to_string_lossy(),
            "-append",
            &append,
        ]);
        for s in &opts.smbios {
            push(&["-smbios", s]);
        }
        let netdev = format!(
            "user,id=net0,hostfwd=tcp:127.0.0.1:{agent_port}-:{}",
            opts.guest_agent_port
        );
        let nic = format!("virtio-net-pci,netdev=net0,mac={},romfile=", opts.mac);
        push(&["-netdev", &netdev, "-device", &nic]);

        let mut disks = Vec::new();
        let mut scsi_controller = false;
        let mut ahci_port = 0;
        for (i, d) in opts.disks.iter().enumerate() {
            let img = dir_path.join(format!("disk{i}-{}.raw", d.bus.tag().to_lowercase()));
            File::create(&img)
                .and_then(|f| f.set_len(d.size_mib * 1024 * 1024))
                .map_err(|e| (false, format!("creating {}: {e}", img.display())))?;
            let ro = if d.read_only { ",readonly=on" } else { "" };
            let drive = format!(
                "if=none,id=d{i},file={},format=raw,cache=unsafe,discard=unmap{ro}",
                img.display()
            );
            let sn = d.serial_for(i);
            let device = match d.bus {
                Bus::Virtio => format!("virtio-blk-pci,drive=d{i},serial={sn}"),
                Bus::Nvme => format!("nvme,drive=d{i},serial={sn}"),
                Bus::Scsi => {
                    if !scsi_controller {
                        push(&["-device", "virtio-scsi-pci,id=scsi0"]);
                        scsi_controller = true;
                    }
                    format!(
                        "scsi-hd,bus=scsi0.0,drive=d{i},serial={sn},wwn=0x5000c50015ea{:04x}",
                        i
                    )
                }
                Bus::Ahci => {
                    let dev = format!(
                        "ide-hd,bus=ide.{ahci_port},drive=d{i},serial={sn},model=QEMU AHCI DISK"
                    );
                    ahci_port += 1;
                    dev
                }
            };
            push(&["-drive", &drive, "-device", &device]);
            disks.push(img);
        }
        fs::write(dir_path.join("qemu.cmd"), args.join("\n"))
            .map_err(|e| (false, format!("writing qemu.cmd: {e}")))?;

        let out = File::create(&qemu_out).map_err(|e| (false, e.to_string()))?;
        let err = out.try_clone().map_err(|e| (false, e.to_string()))?;
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(&args).stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: prctl in the child between fork and exec (async-signal-safe).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| (false, format!("starting qemu-system-x86_64: {e}")))?;
        // Start-up errors (a taken port, a bad option) show within a moment.
        let deadline = Instant::now() + Duration::from_millis(700);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                let text = fs::read_to_string(&qemu_out).unwrap_or_default();
                let retry = text.contains("host forwarding") || text.contains("hostfwd");
                return Err((
                    retry,
                    format!("QEMU exited at once ({status}): {}", text.trim()),
                ));
            }
            sleep(Duration::from_millis(50));
        }

        let exited = Arc::new(AtomicBool::new(false));
        let child = Arc::new(Mutex::new(child));
        // Hard limit: kill QEMU after max_runtime even if the test hangs elsewhere.
        {
            let exited = exited.clone();
            let child = child.clone();
            let limit = opts.max_runtime;
            std::thread::spawn(move || {
                let t0 = Instant::now();
                while t0.elapsed() < limit {
                    if exited.load(Ordering::SeqCst) {
                        return;
                    }
                    sleep(Duration::from_millis(500));
                }
                let mut c = child.lock().unwrap();
                if let Ok(None) = c.try_wait() {
                    eprintln!("qemu harness: VM ran longer than {limit:?}; killing QEMU");
                    let _ = c.kill();
                    let _ = c.wait();
                }
            });
        }
        let keep = std::env::var("IRONIC_AGENT_QEMU_KEEP").is_ok_and(|v| v == "1");
        let dir = if keep {
            eprintln!("qemu harness: keeping {}", dir_path.display());
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        eprintln!(
            "qemu harness: {} booting ({}, {} MiB, agent on 127.0.0.1:{agent_port}, serial {})",
            opts.name,
            if kvm_usable() { "kvm" } else { "tcg" },
            opts.memory_mib,
            serial.display()
        );
        Ok(Vm {
            child,
            exited,
            dir,
            dir_path,
            serial,
            qemu_out,
            agent_port,
            disks,
            started,
            name: opts.name.clone(),
        })
    }

    /// Host port forwarded to the agent (on 127.0.0.1).
    pub fn agent_port(&self) -> u16 {
        self.agent_port
    }

    /// `http://127.0.0.1:<agent_port>`.
    pub fn agent_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.agent_port)
    }

    /// The disk images, in the order of [`VmOptions::disks`].
    pub fn disk_images(&self) -> &[PathBuf] {
        &self.disks
    }

    /// The VM's directory (serial.log, qemu.out, qemu.cmd, disk images).
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything the guest wrote to its serial console so far.
    pub fn serial_log(&self) -> String {
        let mut buf = Vec::new();
        let _ = File::open(&self.serial).and_then(|mut f| f.read_to_end(&mut buf));
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// QEMU's own stdout/stderr.
    pub fn qemu_output(&self) -> String {
        fs::read_to_string(&self.qemu_out).unwrap_or_default()
    }

    /// Whether QEMU is still running.
    pub fn is_running(&self) -> bool {
        let mut child = self.child.lock().unwrap();
        match child.try_wait() {
            Ok(None) => true,
            _ => {
                self.exited.store(true, Ordering::SeqCst);
                false
            }
        }
    }

    /// Waits until a serial line contains `pattern`; returns that line. Fails when QEMU exits
    /// first (a panic, a KVM error) or after `timeout`, with the end of the serial log.
    pub fn wait_for_serial(&self, pattern: &str, timeout: Duration) -> Result<String, String> {
        self.wait_for_serial_after(pattern, 0, timeout)
            .map(|(line, _)| line)
    }

    /// Like [`Vm::wait_for_serial`], only looking at the log from byte `offset` on. Returns the
    /// line and the offset just after it (to wait for the next occurrence).
    pub fn wait_for_serial_after(
        &self,
        pattern: &str,
        offset: u64,
        timeout: Duration,
    ) -> Result<(String, u64), String> {
        let deadline = Instant::now() + timeout;
        let mut pos = offset;
        let mut pending = Vec::<u8>::new();
        loop {
            // Read only what is new (the guest runs on the same cores).
            if let Ok(mut f) = File::open(&self.serial) {
                if f.seek(SeekFrom::Start(pos)).is_ok() {
                    let mut buf = Vec::new();
                    if f.read_to_end(&mut buf).is_ok() {
                        pos += buf.len() as u64;
                        pending.extend_from_slice(&buf);
                    }
                }
            }
            let mut consumed = 0;
            while let Some(nl) = pending[consumed..].iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&pending[consumed..consumed + nl]).into_owned();
                consumed += nl + 1;
                if line.contains(pattern) {
                    let end = pos - (pending.len() - consumed) as u64;
                    return Ok((line.trim_end().to_string(), end));
                }
            }
            pending.drain(..consumed);
            if !self.is_running() {
                // A last look at a final line without a newline.
                let tail = String::from_utf8_lossy(&pending).into_owned();
                if tail.contains(pattern) {
                    return Ok((tail.trim_end().to_string(), pos));
                }
                return Err(format!(
                    "{}: QEMU exited before the serial log showed {pattern:?}\nQEMU: {}\n{}",
                    self.name,
                    self.qemu_output().trim(),
                    self.serial_tail(60)
                ));
            }
            if self.qemu_output().contains("KVM internal error") {
                return Err(format!(
                    "{}: KVM cannot run this guest (set IRONIC_AGENT_QEMU_ACCEL=tcg)\n{}",
                    self.name,
                    self.qemu_output()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: no {pattern:?} on the serial console after {timeout:?}\n{}",
                    self.name,
                    self.serial_tail(60)
                ));
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// The last `n` lines of the serial log, headed for error messages.
    /// `POST /v1/commands/?wait=true` through the forwarded port with `token`; returns the
    /// command result document (panics on an HTTP error, with the serial log's tail).
    pub fn command(&self, token: &str, name: &str, params: serde_json::Value) -> serde_json::Value {
        let url = format!(
            "{}/v1/commands/?wait=true&agent_token={token}",
            self.agent_url()
        );
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let resp = client
            .post(&url)
            .json(&serde_json::json!({"name": name, "params": params}))
            .send()
            .unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", self.serial_tail(40)));
        let status = resp.status();
        let body: serde_json::Value = resp.json().expect("JSON body");
        assert!(status.is_success(), "{name}: HTTP {status}: {body}");
        body
    }

    /// Polls `GET /v1/status` until it answers 200 (the hostfwd accepts connections before
    /// the guest listens) and returns the status document.
    pub fn wait_api(&self, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/v1/status", self.agent_url());
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        loop {
            if let Ok(r) = client.get(&url).send() {
                if r.status().is_success() {
                    return r.json().unwrap_or(serde_json::Value::Null);
                }
            }
            assert!(
                Instant::now() < deadline,
                "agent API at {url} did not answer within {timeout:?}\n{}",
                self.serial_tail(60)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn serial_tail(&self, n: usize) -> String {
        let log = self.serial_log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(n);
        format!(
            "--- last {} serial lines of {} ({}) ---\n{}",
            lines.len() - start,
            self.name,
            self.serial.display(),
            lines[start..].join("\n")
        )
    }

    /// Waits for QEMU to exit (the guest powered off); returns whether it exited in time and
    /// with success.
    pub fn wait_exit(&self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut child = self.child.lock().unwrap();
                if let Ok(Some(status)) = child.try_wait() {
                    self.exited.store(true, Ordering::SeqCst);
                    return Some(status);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// Kills QEMU now (also done on drop).
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
        self.exited.store(true, Ordering::SeqCst);
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.serial_tail(80));
        }
        self.kill();
        if self.dir.is_none() {
            eprintln!("qemu harness: VM files kept in {}", self.dir_path.display());
        }
    }
}
