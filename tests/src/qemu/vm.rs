//! A running QEMU: start-up (with retries when the forwarded port was taken), the hard time
//! limit, the serial console, and the end.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::args::{qemu_args, validate, Resolved};
use super::setup::{ensure_ovmf, ensure_qemu, kvm_usable, ramdisk};
use super::{Boot, Firmware, Image, Ramdisk, VmOptions};
use crate::support::{free_port, last_lines, poll, target_dir, FileLock, ScratchDir};

/// A running VM. Dropping it kills QEMU and removes its directory (kept when
/// `IRONIC_AGENT_QEMU_KEEP=1`; the path is printed).
pub struct Vm {
    child: Arc<Mutex<Child>>,
    exited: Arc<AtomicBool>,
    dir: ScratchDir,
    serial: PathBuf,
    monitor: PathBuf,
    qemu_out: PathBuf,
    agent_port: u16,
    images: Vec<PathBuf>,
    started: Instant,
    pub(super) opts: VmOptions,
    /// One VM at a time on this machine, for as long as this one lives.
    _slot: FileLock,
}

/// Why one start attempt failed: `retry` when the forwarded port was taken meanwhile.
struct StartError {
    retry: bool,
    message: String,
}

fn fatal(message: String) -> StartError {
    StartError {
        retry: false,
        message,
    }
}

impl Vm {
    /// Creates the disks and boots; returns once QEMU runs (it does not wait for the guest:
    /// use [`Vm::wait_for_serial`] or [`Vm::wait_api`]). Waits first while another VM runs
    /// on this machine. Panics when the options are impossible or QEMU cannot start.
    pub fn boot(opts: VmOptions) -> Vm {
        validate(&opts).unwrap_or_else(|e| panic!("{}: {e}", opts.name));
        ensure_qemu();
        let kernel = match &opts.boot {
            Boot::Ramdisk => Some(ramdisk()),
            Boot::Kernel(rd) => Some(rd.clone()),
            Boot::Disk => None,
        };
        let slot = FileLock::acquire(&target_dir().join("qemu-vm.lock"));
        let mut slot = Some(slot);
        let mut last_err = String::new();
        for _attempt in 0..4 {
            match Vm::try_boot(&opts, kernel.as_ref(), &mut slot) {
                Ok(vm) => return vm,
                Err(e) if e.retry => {
                    eprintln!("qemu harness: {}; retrying with another port", e.message);
                    last_err = e.message;
                }
                Err(e) => panic!("{}: {}", opts.name, e.message),
            }
        }
        panic!("{}: QEMU could not start: {last_err}", opts.name);
    }

    fn try_boot(
        opts: &VmOptions,
        kernel: Option<&Ramdisk>,
        slot: &mut Option<FileLock>,
    ) -> Result<Vm, StartError> {
        let dir = ScratchDir::new("ironic-agent-vm-", "IRONIC_AGENT_QEMU_KEEP", "VM files");
        let serial = dir.path().join("serial.log");
        let monitor = dir.path().join("monitor.sock");
        let qemu_out = dir.path().join("qemu.out");
        let agent_port = opts.agent_port.unwrap_or_else(free_port);
        let images = create_images(opts, dir.path())?;
        let ovmf = ovmf_files(&opts.firmware, dir.path())?;
        let kvm = kvm_usable();
        let args = qemu_args(
            opts,
            &Resolved {
                ramdisk: kernel,
                ovmf,
                images: &images,
                serial_log: &serial,
                monitor: &monitor,
                agent_port,
                kvm,
            },
        );
        fs::write(dir.path().join("qemu.cmd"), args.join("\n"))
            .map_err(|e| fatal(format!("writing qemu.cmd: {e}")))?;
        let mut child = spawn_qemu(&args, &qemu_out)?;
        let started = Instant::now();
        // Start-up errors (a taken port, a bad option) show within a moment as a failed exit.
        // A guest may also be done that soon: an instance whose GRUB prints its marker and
        // halts under SeaBIOS exits 0 within half a second; that is a boot, not an error.
        if let Some(status) = poll(
            Duration::from_millis(700),
            Duration::from_millis(50),
            || child.try_wait().ok().flatten(),
        )
        .filter(|s| !s.success())
        {
            let text = fs::read_to_string(&qemu_out).unwrap_or_default();
            return Err(StartError {
                retry: text.contains("host forwarding") || text.contains("hostfwd"),
                message: format!("QEMU exited at once ({status}): {}", text.trim()),
            });
        }
        let exited = Arc::new(AtomicBool::new(false));
        let child = Arc::new(Mutex::new(child));
        enforce_time_limit(&child, &exited, opts.max_runtime);
        eprintln!(
            "qemu harness: {} booting ({}, {} MiB, agent on 127.0.0.1:{agent_port}, serial {})",
            opts.name,
            if kvm { "kvm" } else { "tcg" },
            opts.memory_mib,
            serial.display()
        );
        Ok(Vm {
            child,
            exited,
            dir,
            serial,
            monitor,
            qemu_out,
            agent_port,
            images,
            started,
            opts: opts.clone(),
            _slot: slot.take().expect("the VM slot is taken once"),
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

    /// The options this VM was booted with.
    pub fn options(&self) -> &VmOptions {
        &self.opts
    }

    /// The image file of every disk, in the order of [`VmOptions::disks`].
    pub fn disk_images(&self) -> &[PathBuf] {
        &self.images
    }

    /// The VM's directory (serial.log, qemu.out, qemu.cmd, fresh disk images).
    pub fn dir(&self) -> &Path {
        self.dir.path()
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

    /// The last `n` lines of the serial log and QEMU's output, headed, for error messages.
    pub fn serial_tail(&self, n: usize) -> String {
        let log = self.serial_log();
        format!(
            "--- last {n} serial lines of {} ({}) ---\n{}\n--- QEMU: {}",
            self.opts.name,
            self.serial.display(),
            last_lines(&log, n),
            self.qemu_output().trim()
        )
    }

    /// Whether QEMU is still running.
    pub fn is_running(&self) -> bool {
        self.try_exit_status().is_none()
    }

    fn try_exit_status(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => {
                self.exited.store(true, Ordering::SeqCst);
                Some(status)
            }
            Err(_) => {
                self.exited.store(true, Ordering::SeqCst);
                Some(ExitStatus::default())
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
        let mut reader = SerialReader {
            path: &self.serial,
            pos: offset,
            pending: Vec::new(),
        };
        loop {
            if let Some(found) = reader.next_match(pattern) {
                return Ok(found);
            }
            if !self.is_running() {
                // A last look at a final line without a newline.
                if let Some(found) = reader.unterminated_match(pattern) {
                    return Ok(found);
                }
                return Err(format!(
                    "{}: QEMU exited before the serial log showed {pattern:?}\n{}",
                    self.opts.name,
                    self.serial_tail(60)
                ));
            }
            if self.qemu_output().contains("KVM internal error") {
                return Err(format!(
                    "{}: KVM cannot run this guest (set IRONIC_AGENT_QEMU_ACCEL=tcg)\n{}",
                    self.opts.name,
                    self.qemu_output()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: no {pattern:?} on the serial console after {timeout:?}\n{}",
                    self.opts.name,
                    self.serial_tail(60)
                ));
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// Waits for QEMU to exit (the guest powered off); `None` when it still runs after
    /// `timeout`.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        poll(timeout, Duration::from_millis(200), || {
            self.try_exit_status()
        })
    }

    /// Runs one command of QEMU's human monitor (e.g. `system_powerdown`: the ACPI power
    /// button, as a BMC's soft power off presses it) and returns what the monitor answered.
    pub fn monitor(&self, command: &str) -> Result<String, String> {
        use std::io::Write;
        use std::os::unix::net::UnixStream;
        let err = |e: std::io::Error| format!("{}: monitor {command:?}: {e}", self.opts.name);
        let mut sock = UnixStream::connect(&self.monitor).map_err(err)?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(err)?;
        read_to_prompt(&mut sock).map_err(err)?;
        sock.write_all(format!("{command}\n").as_bytes())
            .map_err(err)?;
        read_to_prompt(&mut sock).map_err(err)
    }

    /// Kills QEMU now (also done on drop).
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
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
    }
}

/// Reads the monitor's output up to its next `(qemu) ` prompt.
fn read_to_prompt(sock: &mut impl Read) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(b"(qemu) ") {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Reads the serial log incrementally (the guest runs on the same cores: read only what is
/// new) and finds whole lines containing a pattern.
struct SerialReader<'a> {
    path: &'a Path,
    pos: u64,
    pending: Vec<u8>,
}

impl SerialReader<'_> {
    /// The next complete line containing `pattern` and the offset just after it.
    fn next_match(&mut self, pattern: &str) -> Option<(String, u64)> {
        if let Ok(mut f) = File::open(self.path) {
            if f.seek(SeekFrom::Start(self.pos)).is_ok() {
                let mut buf = Vec::new();
                if f.read_to_end(&mut buf).is_ok() {
                    self.pos += buf.len() as u64;
                    self.pending.extend_from_slice(&buf);
                }
            }
        }
        let mut consumed = 0;
        let mut found = None;
        while let Some(nl) = self.pending[consumed..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&self.pending[consumed..consumed + nl]).into_owned();
            consumed += nl + 1;
            if line.contains(pattern) {
                let end = self.pos - (self.pending.len() - consumed) as u64;
                found = Some((line.trim_end().to_string(), end));
                break;
            }
        }
        self.pending.drain(..consumed);
        found
    }

    fn unterminated_match(&self, pattern: &str) -> Option<(String, u64)> {
        let tail = String::from_utf8_lossy(&self.pending).into_owned();
        tail.contains(pattern)
            .then(|| (tail.trim_end().to_string(), self.pos))
    }
}

/// The image file of every disk: fresh sparse images are created in `dir`.
fn create_images(opts: &VmOptions, dir: &Path) -> Result<Vec<PathBuf>, StartError> {
    let mut images = Vec::new();
    for (i, d) in opts.disks.iter().enumerate() {
        let path = match &d.image {
            Image::File(p) => p.clone(),
            Image::Sparse { size_mib } => {
                let img = dir.join(format!("disk{i}-{}.raw", d.bus.tag().to_lowercase()));
                File::create(&img)
                    .and_then(|f| f.set_len(size_mib * 1024 * 1024))
                    .map_err(|e| fatal(format!("creating {}: {e}", img.display())))?;
                img
            }
        };
        images.push(path);
    }
    Ok(images)
}

/// OVMF's code and the VM's variable store (created from the template when missing).
fn ovmf_files(firmware: &Firmware, dir: &Path) -> Result<Option<(PathBuf, PathBuf)>, StartError> {
    let Firmware::Ovmf { vars } = firmware else {
        return Ok(None);
    };
    let ovmf = ensure_ovmf();
    let vars = vars.clone().unwrap_or_else(|| dir.join("OVMF_VARS.fd"));
    if !vars.exists() {
        fs::copy(&ovmf.vars_template, &vars).map_err(|e| {
            fatal(format!(
                "copying {} to {}: {e}",
                ovmf.vars_template.display(),
                vars.display()
            ))
        })?;
    }
    Ok(Some((ovmf.code, vars)))
}

fn spawn_qemu(args: &[String], qemu_out: &Path) -> Result<Child, StartError> {
    let out = File::create(qemu_out).map_err(|e| fatal(e.to_string()))?;
    let err = out.try_clone().map_err(|e| fatal(e.to_string()))?;
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: prctl in the child between fork and exec (async-signal-safe).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| fatal(format!("starting qemu-system-x86_64: {e}")))
}

/// Kills QEMU after `limit` even if the test hangs elsewhere.
fn enforce_time_limit(child: &Arc<Mutex<Child>>, exited: &Arc<AtomicBool>, limit: Duration) {
    let (child, exited) = (child.clone(), exited.clone());
    std::thread::spawn(move || {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if exited.load(Ordering::SeqCst) {
                return;
            }
            sleep(Duration::from_millis(500));
        }
        let mut c = child.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(None) = c.try_wait() {
            eprintln!("qemu harness: VM ran longer than {limit:?}; killing QEMU");
            let _ = c.kill();
            let _ = c.wait();
        }
    });
}
