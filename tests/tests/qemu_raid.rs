//! QEMU proofs of "Software RAID with mdadm": the real kernel, the real mdadm (and parted,
//! wipefs, ...) of the deploy ramdisk, on virtio, NVMe and SCSI disks, driven through the
//! agent's API exactly as the conductor drives it.
//!
//! The disk images are checked from the host too: md 1.x superblocks are found by their
//! magic (`0xa92b4efc`, little-endian, at 512-byte aligned offsets), partition tables by the
//! MBR signature (`0x55AA` at byte 510) and GPT headers (`EFI PART` at LBA 1 and at the last
//! LBA).
//!
//! These tests boot their own QEMU (same machine model and options as
//! `agent_tests::qemu::Vm`) because they need what `Vm` cannot do: boot again on the same
//! disk images (reboot), write into an image before the first boot (a pre-partitioned
//! member) and boot a test variant of the initramfs (fault injection: a second, uncompressed
//! cpio appended to the ramdisk's, which the kernel unpacks over the first one). Only one of
//! these VMs runs at a time (TCG on 2 cores).

use agent_tests::ironic::{Ironic, IronicOptions};
use agent_tests::qemu::{self, Bus, BASE_APPEND, DEFAULT_MAC};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A pre-shared agent token (43 characters, like Ironic's), for boots without Ironic.
const TOKEN: &str = "qemuRaidTestToken0123456789abcdefghijklmnop";

/// Boot to a serving API: ~8 s under TCG when idle; allow for a busy host (and for a
/// ramdisk rebuild by the harness before the first boot).
const AGENT_UP: Duration = Duration::from_secs(240);

/// One RAID step (partitioning, mdadm) under TCG.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// Disk size of every member: a 1 GiB RAID-1 root and ~1 GiB per member for the MAX array.
const DISK_MIB: u64 = 2048;

const MIB: u64 = 1024 * 1024;

/// md superblock magic, as stored on disk (little-endian 0xa92b4efc).
const MD_MAGIC: [u8; 4] = [0xfc, 0x4e, 0x2b, 0xa9];

/// One VM at a time: these tests run in parallel threads by default, and TCG on 2 cores
/// cannot boot several VMs within the time limits.
static ONE_VM: Mutex<()> = Mutex::new(());

fn one_vm_at_a_time() -> MutexGuard<'static, ()> {
    ONE_VM.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------------------------------------
// Disk images and QEMU
// ------------------------------------------------------------------------------------------

/// One disk of a [`DiskSet`]: its bus, the serial the guest sees and its raw image.
#[derive(Debug, Clone)]
struct DiskImage {
    bus: Bus,
    serial: String,
    path: PathBuf,
}

/// Sparse raw disk images that outlive the VMs booted on them (a reboot is a new QEMU on
/// the same images). Kept when `IRONIC_AGENT_QEMU_KEEP=1`.
struct DiskSet {
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    disks: Vec<DiskImage>,
}

impl DiskSet {
    fn new(label: &str, buses: &[Bus]) -> DiskSet {
        let dir = tempfile::Builder::new()
            .prefix(&format!("qemu-raid-{label}-"))
            .tempdir()
            .expect("creating the disk directory");
        let dir_path = dir.path().to_path_buf();
        let mut disks = Vec::new();
        for (i, bus) in buses.iter().enumerate() {
            let tag = format!("{bus:?}").to_uppercase();
            let path = dir_path.join(format!("disk{i}-{}.raw", tag.to_lowercase()));
            File::create(&path)
                .and_then(|f| f.set_len(DISK_MIB * MIB))
                .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
            disks.push(DiskImage {
                bus: *bus,
                serial: format!("RAID-{tag}-{i}"),
                path,
            });
        }
        let keep = std::env::var("IRONIC_AGENT_QEMU_KEEP").is_ok_and(|v| v == "1");
        let dir = if keep {
            eprintln!(
                "qemu-raid: keeping the disk images in {}",
                dir_path.display()
            );
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        DiskSet {
            dir,
            dir_path,
            disks,
        }
    }

    fn path(&self) -> &Path {
        &self.dir_path
    }
}

impl Drop for DiskSet {
    fn drop(&mut self) {
        if self.dir.is_none() {
            eprintln!("qemu-raid: disk images kept in {}", self.dir_path.display());
        }
    }
}

/// A running QEMU on a [`DiskSet`]. Dropping it kills QEMU (it also dies with the test
/// process, and after a hard time limit).
struct Guest {
    name: String,
    child: Arc<Mutex<Child>>,
    exited: Arc<AtomicBool>,
    serial: PathBuf,
    qemu_out: PathBuf,
    port: u16,
    started: Instant,
}

impl Guest {
    /// Boots the ramdisk (or `initramfs` instead of its own) with the disks of `set`.
    /// `append(port)` gives the extra kernel parameters for the host port forwarded to the
    /// agent; `port` picks that port (else a free one).
    fn boot(
        name: &str,
        set: &DiskSet,
        initramfs: Option<&Path>,
        port: Option<u16>,
        append: impl Fn(u16) -> Vec<String>,
    ) -> Guest {
        qemu::ensure_qemu();
        let rd = qemu::ramdisk();
        let initramfs = initramfs.unwrap_or(&rd.initramfs);
        let mut last = String::new();
        for attempt in 0..4 {
            let port = port.unwrap_or_else(qemu::free_port);
            let serial = set.path().join(format!("{name}-serial-{attempt}.log"));
            let qemu_out = set.path().join(format!("{name}-qemu-{attempt}.out"));
            let mut args: Vec<String> = Vec::new();
            let mut push = |a: &[&str]| args.extend(a.iter().map(|s| s.to_string()));
            push(&["-name", name, "-machine", "q35"]);
            if qemu::kvm_usable() {
                push(&["-accel", "kvm", "-cpu", "host"]);
            } else {
                push(&["-accel", "tcg", "-cpu", "max"]);
            }
            push(&["-smp", "1", "-m", "384", "-nodefaults", "-no-user-config"]);
            push(&["-display", "none", "-no-reboot", "-monitor", "none"]);
            push(&["-serial", &format!("file:{}", serial.display())]);
            push(&["-kernel", &rd.kernel.to_string_lossy()]);
            push(&["-initrd", &initramfs.to_string_lossy()]);
            let mut cmdline = BASE_APPEND.to_string();
            for a in append(port) {
                cmdline.push(' ');
                cmdline.push_str(&a);
            }
            push(&["-append", &cmdline]);
            push(&[
                "-netdev",
                &format!("user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:9999"),
                "-device",
                &format!("virtio-net-pci,netdev=net0,mac={DEFAULT_MAC},romfile="),
            ]);
            let mut scsi = false;
            for (i, d) in set.disks.iter().enumerate() {
                push(&[
                    "-drive",
                    &format!(
                        "if=none,id=d{i},file={},format=raw,cache=unsafe,discard=unmap",
                        d.path.display()
                    ),
                ]);
                let dev = match d.bus {
                    Bus::Virtio => format!("virtio-blk-pci,drive=d{i},serial={}", d.serial),
                    Bus::Nvme => format!("nvme,drive=d{i},serial={}", d.serial),
                    Bus::Scsi => {
                        if !scsi {
                            push(&["-device", "virtio-scsi-pci,id=scsi0"]);
                            scsi = true;
                        }
                        format!("scsi-hd,bus=scsi0.0,drive=d{i},serial={}", d.serial)
                    }
                    Bus::Ahci => format!("ide-hd,bus=ide.{i},drive=d{i},serial={}", d.serial),
                };
                push(&["-device", &dev]);
            }
            let out = File::create(&qemu_out).expect("creating the QEMU output file");
            let mut cmd = Command::new("qemu-system-x86_64");
            cmd.args(&args)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out);
            // SAFETY: prctl in the child between fork and exec (async-signal-safe).
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().expect("starting qemu-system-x86_64");
            sleep(Duration::from_millis(700));
            if let Ok(Some(status)) = child.try_wait() {
                last = format!(
                    "QEMU exited at once ({status}): {}",
                    fs::read_to_string(&qemu_out).unwrap_or_default().trim()
                );
                if last.contains("hostfwd") || last.contains("host forwarding") {
                    continue;
                }
                panic!("{last}");
            }
            let child = Arc::new(Mutex::new(child));
            let exited = Arc::new(AtomicBool::new(false));
            {
                // Hard limit, whatever the test does.
                let (child, exited) = (child.clone(), exited.clone());
                std::thread::spawn(move || {
                    let t0 = Instant::now();
                    while t0.elapsed() < Duration::from_secs(900) {
                        if exited.load(Ordering::SeqCst) {
                            return;
                        }
                        sleep(Duration::from_millis(500));
                    }
                    let mut c = child.lock().unwrap();
                    let _ = c.kill();
                    let _ = c.wait();
                });
            }
            eprintln!(
                "qemu-raid: {name} booting (agent on 127.0.0.1:{port}, serial {})",
                serial.display()
            );
            return Guest {
                name: name.to_string(),
                child,
                exited,
                serial,
                qemu_out,
                port,
                started: Instant::now(),
            };
        }
        panic!("QEMU could not start: {last}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn serial_log(&self) -> String {
        let mut buf = Vec::new();
        let _ = File::open(&self.serial).and_then(|mut f| f.read_to_end(&mut buf));
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn serial_tail(&self, n: usize) -> String {
        let log = self.serial_log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(n);
        format!(
            "--- last {} serial lines of {} ({}) ---\n{}\n--- QEMU: {}",
            lines.len() - start,
            self.name,
            self.serial.display(),
            lines[start..].join("\n"),
            fs::read_to_string(&self.qemu_out)
                .unwrap_or_default()
                .trim()
        )
    }

    fn is_running(&self) -> bool {
        let running = matches!(self.child.lock().unwrap().try_wait(), Ok(None));
        if !running {
            self.exited.store(true, Ordering::SeqCst);
        }
        running
    }

    /// Waits until `GET /v1/status` answers (hostfwd accepts before the guest listens).
    fn wait_api(&self) {
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let deadline = Instant::now() + AGENT_UP;
        loop {
            if let Ok(r) = client.get(self.url("/v1/status")).send() {
                if r.status().is_success() {
                    eprintln!(
                        "qemu-raid: {} agent API up {:.1?} after QEMU start",
                        self.name,
                        self.started.elapsed()
                    );
                    return;
                }
            }
            assert!(
                self.is_running(),
                "{}: QEMU exited before the agent served its API\n{}",
                self.name,
                self.serial_tail(60)
            );
            assert!(
                Instant::now() < deadline,
                "{}: the agent API did not answer within {AGENT_UP:?}\n{}",
                self.name,
                self.serial_tail(60)
            );
            sleep(Duration::from_millis(300));
        }
    }

    /// Runs an agent command: `POST /v1/commands/` (not waiting), then polls
    /// `GET /v1/commands/<id>?wait=true` until it is no longer RUNNING. Returns the command
    /// result document.
    fn command(&self, name: &str, params: Value) -> Value {
        let client = Client::builder().timeout(STEP_TIMEOUT).build().unwrap();
        let url = self.url(&format!("/v1/commands/?wait=false&agent_token={TOKEN}"));
        let resp = client
            .post(&url)
            .json(&json!({"name": name, "params": params}))
            .send()
            .unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", self.serial_tail(40)));
        let status = resp.status();
        let mut doc: Value = resp.json().expect("a JSON command result");
        assert!(status.is_success(), "{name}: HTTP {status}: {doc}");
        let id = doc["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no command id in {doc}"))
            .to_string();
        let deadline = Instant::now() + STEP_TIMEOUT;
        while doc["command_status"] == "RUNNING" {
            assert!(
                Instant::now() < deadline,
                "{name} still RUNNING after {STEP_TIMEOUT:?}\n{}",
                self.serial_tail(60)
            );
            let url = self.url(&format!("/v1/commands/{id}?wait=true&agent_token={TOKEN}"));
            match client.get(&url).send() {
                Ok(r) => {
                    assert!(r.status().is_success(), "GET {url}: HTTP {}", r.status());
                    doc = r.json().expect("a JSON command result");
                }
                Err(e) => {
                    eprintln!("GET {url}: {e}; retrying");
                    sleep(Duration::from_secs(1));
                }
            }
        }
        doc
    }

    /// `clean.execute_clean_step` of the `raid`/`deploy` interface.
    fn clean_step(&self, interface: &str, step: &str, node: &Value) -> Value {
        let t = Instant::now();
        let r = self.command(
            "clean.execute_clean_step",
            json!({
                "step": {"interface": interface, "step": step, "args": {}, "priority": 0},
                "node": node,
                "ports": [],
                "clean_version": null,
            }),
        );
        eprintln!(
            "qemu-raid: {interface}.{step} -> {} in {:.1?}",
            r["command_status"],
            t.elapsed()
        );
        r
    }

    fn hardware_info(&self) -> Value {
        let r = self.command("poll.get_hardware_info", json!({}));
        assert_eq!(r["command_status"], "SUCCEEDED", "get_hardware_info: {r}");
        r["command_result"].clone()
    }

    /// The members of `log.collect_system_logs`' tarball, by name.
    fn system_logs(&self) -> HashMap<String, String> {
        use base64::Engine;
        let r = self.command("log.collect_system_logs", json!({}));
        assert_eq!(r["command_status"], "SUCCEEDED", "collect_system_logs: {r}");
        let b64 = r["command_result"]["system_logs"]
            .as_str()
            .unwrap_or_else(|| panic!("no system_logs in {r}"));
        let tgz = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("system_logs is base64");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(tgz.as_slice()));
        let mut out = HashMap::new();
        for e in ar.entries().expect("a tar.gz") {
            let mut e = e.expect("a tar member");
            let name = e.path().unwrap().display().to_string();
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            out.insert(name, s);
        }
        out
    }

    /// Powers the guest off through the agent (`standby.power_off`: sync, then `poweroff
    /// -f`, so the guest's caches reach the images and md marks its arrays clean) and waits
    /// for QEMU to exit; kills it after a minute.
    fn power_off(self) {
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let _ = client
            .post(self.url(&format!("/v1/commands/?wait=false&agent_token={TOKEN}")))
            .json(&json!({"name": "standby.power_off", "params": {}}))
            .send();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.is_running() {
            if Instant::now() > deadline {
                eprintln!("qemu-raid: {} did not power off; killing QEMU", self.name);
                break;
            }
            sleep(Duration::from_millis(200));
        }
        eprintln!(
            "qemu-raid: {} stopped after {:.1?}",
            self.name,
            self.started.elapsed()
        );
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.serial_tail(80));
        }
        let mut c = self.child.lock().unwrap();
        if let Ok(None) = c.try_wait() {
            let _ = c.kill();
        }
        let _ = c.wait();
        self.exited.store(true, Ordering::SeqCst);
    }
}

// ------------------------------------------------------------------------------------------
// Host-side reading of the raw images
// ------------------------------------------------------------------------------------------

/// Calls `f(offset, chunk)` for the allocated parts of a sparse file (holes read as zeros
/// and are skipped), in 1 MiB chunks aligned to 1 MiB.
fn for_each_data_chunk(path: &Path, mut f: impl FnMut(u64, &[u8])) {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let len = file.metadata().unwrap().len();
    let fd = file.as_raw_fd();
    let mut pos: u64 = 0;
    let mut buf = vec![0u8; MIB as usize];
    while pos < len {
        // SAFETY: lseek on a file descriptor we own.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: only a hole is left
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let (start, end) = ((data as u64) & !(MIB - 1), (hole as u64).min(len));
        let mut off = start;
        while off < end {
            let n = (len - off).min(MIB) as usize;
            file.seek(SeekFrom::Start(off)).unwrap();
            file.read_exact(&mut buf[..n]).unwrap();
            f(off, &buf[..n]);
            off += n as u64;
        }
        pos = off;
    }
}

/// Offsets of md superblocks (the magic at a 512-byte aligned offset) in an image.
fn md_superblocks(path: &Path) -> Vec<u64> {
    let mut found = Vec::new();
    for_each_data_chunk(path, |off, chunk| {
        for (i, sector) in chunk.chunks(512).enumerate() {
            if sector.len() >= 4 && sector[..4] == MD_MAGIC {
                found.push(off + (i * 512) as u64);
            }
        }
    });
    found
}

/// What partition table an image carries, if any: an MBR signature (with its non-empty
/// entries), a GPT header at LBA 1 or a backup GPT header at the last LBA.
fn partition_table(path: &Path) -> Option<String> {
    let mut f = File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut head = [0u8; 1024];
    f.read_exact(&mut head).unwrap();
    let mut tail = [0u8; 512];
    f.seek(SeekFrom::Start(len - 512)).unwrap();
    f.read_exact(&mut tail).unwrap();
    let mut found = Vec::new();
    if head[510..512] == [0x55, 0xaa] {
        let entries: Vec<String> = (0..4)
            .filter_map(|i| {
                let e = &head[446 + 16 * i..446 + 16 * (i + 1)];
                (e.iter().any(|b| *b != 0)).then(|| {
                    format!(
                        "#{} type {:#04x} start {} sectors {}",
                        i + 1,
                        e[4],
                        u32::from_le_bytes(e[8..12].try_into().unwrap()),
                        u32::from_le_bytes(e[12..16].try_into().unwrap())
                    )
                })
            })
            .collect();
        found.push(format!(
            "MBR signature 0x55AA, entries [{}]",
            entries.join("; ")
        ));
    }
    if &head[512..520] == b"EFI PART" {
        found.push("GPT header at LBA 1".to_string());
    }
    if &tail[..8] == b"EFI PART" {
        found.push("backup GPT header at the last LBA".to_string());
    }
    (!found.is_empty()).then(|| found.join(", "))
}

/// A digest of an image's contents: every non-zero 4 KiB block with its offset (so holes,
/// zero blocks and blocks the guest wrote zeros to are all the same).
fn content_digest(path: &Path) -> (u64, u64) {
    let mut h = DefaultHasher::new();
    let mut nonzero_blocks = 0;
    for_each_data_chunk(path, |off, chunk| {
        for (i, block) in chunk.chunks(4096).enumerate() {
            if block.iter().any(|b| *b != 0) {
                h.write_u64(off + (i * 4096) as u64);
                h.write(block);
                nonzero_blocks += 1;
            }
        }
    });
    (h.finish(), nonzero_blocks)
}

/// Asserts that no member carries an md superblock or a partition table any more.
fn assert_disks_clean(set: &DiskSet, context: &str) {
    let mut problems = Vec::new();
    for d in &set.disks {
        let sbs = md_superblocks(&d.path);
        if !sbs.is_empty() {
            problems.push(format!(
                "{} ({}): md superblock magic at offsets {sbs:?}",
                d.path.display(),
                d.serial
            ));
        }
        if let Some(pt) = partition_table(&d.path) {
            problems.push(format!("{} ({}): {pt}", d.path.display(), d.serial));
        }
        eprintln!(
            "qemu-raid: {context}: {} clean (no md superblock, no partition table; {} non-zero 4 KiB blocks left)",
            d.serial,
            content_digest(&d.path).1
        );
    }
    assert!(
        problems.is_empty(),
        "{context}: disks not clean:\n{}",
        problems.join("\n")
    );
}

/// Writes a minimal MBR with one Linux partition (sectors 2048..+64 MiB) into an image.
fn write_mbr(path: &Path) {
    let mut mbr = [0u8; 512];
    mbr[440..444].copy_from_slice(&0x1234_5678u32.to_le_bytes()); // disk identifier
    let e = &mut mbr[446..462];
    e[0] = 0x00; // not bootable
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]); // CHS: use LBA
    e[4] = 0x83; // Linux
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[8..12].copy_from_slice(&2048u32.to_le_bytes());
    e[12..16].copy_from_slice(&(64 * 2048u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(&mbr).unwrap();
    f.sync_all().unwrap();
}

// ------------------------------------------------------------------------------------------
// Reading the guest's state
// ------------------------------------------------------------------------------------------

/// Guest disk name (`/dev/vda`) by serial, from the inventory.
fn names_by_serial(inv: &Value) -> HashMap<String, String> {
    inv["disks"]
        .as_array()
        .unwrap_or_else(|| panic!("no disks in the inventory: {inv}"))
        .iter()
        .filter_map(|d| {
            Some((
                d["serial"].as_str()?.trim().to_string(),
                d["name"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// One array of /proc/mdstat.
#[derive(Debug, Clone)]
struct MdstatArray {
    name: String,
    state: String,
    level: String,
    /// Member partitions without `/dev/` and without the `[n]` role.
    members: Vec<String>,
    /// Size in KiB (the "blocks" figure).
    kib: u64,
}

fn parse_mdstat(text: &str) -> Vec<MdstatArray> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some((name, rest)) = l.split_once(" : ") else {
            continue;
        };
        if !name.starts_with("md") {
            continue;
        }
        let mut words = rest.split_whitespace();
        let state = words.next().unwrap_or("").to_string();
        let mut level = String::new();
        let mut members = Vec::new();
        for w in words {
            if w.starts_with("raid") || w == "linear" {
                level = w.to_string();
            } else if let Some((m, _)) = w.split_once('[') {
                members.push(m.to_string());
            }
        }
        let kib = lines
            .get(i + 1)
            .and_then(|n| n.split_whitespace().next())
            .and_then(|b| b.parse().ok())
            .unwrap_or(0);
        out.push(MdstatArray {
            name: name.trim().to_string(),
            state,
            level,
            members,
            kib,
        });
    }
    out
}

/// `ARRAY` entries of `mdadm --detail --scan --verbose`: the device and its `key=value`
/// fields (`level`, `num-devices`, `name`, `devices`, ...).
fn parse_detail_scan(text: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut out: Vec<(String, HashMap<String, String>)> = Vec::new();
    for l in text.lines() {
        let mut words = l.split_whitespace();
        match words.next() {
            Some("ARRAY") => {
                let dev = words.next().unwrap_or("").to_string();
                let kv = words
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                out.push((dev, kv));
            }
            Some(w) if w.starts_with("devices=") => {
                if let Some(last) = out.last_mut() {
                    last.1
                        .insert("devices".into(), w["devices=".len()..].to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// The kernel's partition name (`nvme0n1` + 2 → `nvme0n1p2`, `vda` + 1 → `vda1`).
fn part(disk: &str, n: u32) -> String {
    let d = disk.trim_start_matches("/dev/");
    if d.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{d}p{n}")
    } else {
        format!("{d}{n}")
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn node(uuid: &str, target_raid_config: Value, capabilities: Option<&str>) -> Value {
    let mut n = json!({
        "uuid": uuid,
        "target_raid_config": target_raid_config,
        "properties": {},
        "instance_info": {},
        "driver_internal_info": {},
    });
    if let Some(c) = capabilities {
        n["properties"]["capabilities"] = json!(c);
    }
    n
}

/// A fixed-size RAID-1 root and a MAX data array of `data_level`.
fn root_and_data(data_level: &str) -> Value {
    json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software",
         "volume_name": "root", "is_root_volume": true},
        {"size_gb": "MAX", "raid_level": data_level, "controller": "software",
         "volume_name": "data"},
    ]})
}

fn agent_append(_port: u16) -> Vec<String> {
    vec![format!("ipa-agent-token={TOKEN}")]
}

/// Checks the arrays of a successful create in /proc/mdstat, `mdadm --detail --scan` and the
/// inventory: levels, members (partition 1 of every disk for root, partition 2 for data)
/// and sizes.
fn check_created_arrays(guest: &Guest, disks: &[String], data_level: &str) {
    let n = disks.len() as u64;
    let logs = guest.system_logs();
    let mdstat = logs
        .get("mdstat")
        .unwrap_or_else(|| panic!("no mdstat in the system logs: {:?}", logs.keys()));
    eprintln!("qemu-raid: /proc/mdstat after create:\n{mdstat}");
    let scan = logs
        .get("mdadm-detail-scan")
        .unwrap_or_else(|| panic!("no mdadm-detail-scan: {:?}", logs.keys()));
    eprintln!("qemu-raid: mdadm --detail --scan --verbose:\n{scan}");
    let arrays = parse_mdstat(mdstat);
    assert_eq!(
        arrays.len(),
        2,
        "two arrays expected in /proc/mdstat:\n{mdstat}"
    );
    let scan = parse_detail_scan(scan);
    assert_eq!(scan.len(), 2, "two ARRAY lines expected: {scan:?}");

    let inv = guest.hardware_info();
    let inv_disks = inv["disks"].as_array().unwrap().clone();
    for (volume, level, partno) in [("root", "raid1", 1), ("data", data_level, 2)] {
        let (dev, fields) = scan
            .iter()
            .find(|(dev, kv)| {
                dev == &format!("/dev/md/{volume}")
                    || kv
                        .get("name")
                        .is_some_and(|n| n.ends_with(&format!(":{volume}")))
            })
            .unwrap_or_else(|| panic!("no array named {volume} in {scan:?}"));
        assert_eq!(
            fields.get("level").map(String::as_str),
            Some(level),
            "{dev}: {fields:?}"
        );
        assert_eq!(
            fields.get("num-devices").map(String::as_str),
            Some(n.to_string().as_str()),
            "{dev}: {fields:?}"
        );
        assert_eq!(
            fields.get("metadata").map(String::as_str),
            Some("1.2"),
            "{dev}"
        );
        let expect_members: Vec<String> = disks.iter().map(|d| part(d, partno)).collect();
        let scan_members: Vec<String> = fields
            .get("devices")
            .map(|d| {
                d.split(',')
                    .map(|m| m.trim_start_matches("/dev/").to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            sorted(scan_members),
            sorted(expect_members.clone()),
            "members of {dev} (mdadm --detail --scan)"
        );
        // The same array in /proc/mdstat, found by its members.
        let md = arrays
            .iter()
            .find(|a| sorted(a.members.clone()) == sorted(expect_members.clone()))
            .unwrap_or_else(|| panic!("no array with members {expect_members:?}:\n{mdstat}"))
            .clone();
        assert_eq!(md.state, "active", "{md:?}");
        assert_eq!(md.level, level, "{md:?}");
        // Sizes: root = partition 1 (1 GiB minus the first 1 MiB) minus md's data offset;
        // data = (members - parity) x ~1 GiB.
        let mib = md.kib / 1024;
        let (lo, hi) = match level {
            "raid1" => (960, 1023),
            "raid5" => ((n - 1) * 960, (n - 1) * 1024),
            "raid6" => ((n - 2) * 960, (n - 2) * 1024),
            // near-2 layout: every block twice.
            "raid10" => (n * 960 / 2, n * 1024 / 2),
            _ => unreachable!(),
        };
        assert!(
            (lo..=hi).contains(&mib),
            "{} ({volume}, {level}) is {mib} MiB; expected {lo}..={hi}",
            md.name
        );
        // The inventory lists the array with the same size.
        let inv_md = inv_disks
            .iter()
            .find(|d| d["name"] == format!("/dev/{}", md.name))
            .unwrap_or_else(|| panic!("the inventory lacks /dev/{}: {inv_disks:?}", md.name));
        assert_eq!(
            inv_md["size"].as_u64(),
            Some(md.kib * 1024),
            "inventory size of /dev/{}: {inv_md}",
            md.name
        );
        eprintln!(
            "qemu-raid: {volume}: /dev/{} {level} {mib} MiB, members {:?}",
            md.name, md.members
        );
    }
}

/// The guest names of the disks of `set`, in its order (from the inventory's serials).
fn guest_disk_names(guest: &Guest, set: &DiskSet) -> Vec<String> {
    let inv = guest.hardware_info();
    let names = names_by_serial(&inv);
    set.disks
        .iter()
        .map(|d| {
            names
                .get(&d.serial)
                .unwrap_or_else(|| panic!("no disk with serial {} in {names:?}", d.serial))
                .clone()
        })
        .collect()
}

fn assert_step_succeeded(r: &Value, what: &str, guest: &Guest) {
    assert_eq!(
        r["command_status"],
        "SUCCEEDED",
        "{what}: {}\n{}",
        serde_json::to_string_pretty(r).unwrap(),
        guest.serial_tail(60)
    );
}

fn error_message(r: &Value) -> String {
    let e = &r["command_error"];
    e["details"]
        .as_str()
        .or_else(|| e["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}

// ------------------------------------------------------------------------------------------
// The tests
// ------------------------------------------------------------------------------------------

/// 1. Through the agent's API: RAID-1 root (1 GiB) + RAID-5 MAX data over 2 virtio + 2 NVMe
///    disks; the arrays read back from inside the VM.
#[test]
fn creates_raid1_root_and_raid5_data_on_virtio_and_nvme() {
    let _one = one_vm_at_a_time();
    let t0 = Instant::now();
    let set = DiskSet::new("create", &[Bus::Virtio, Bus::Virtio, Bus::Nvme, Bus::Nvme]);
    let guest = Guest::boot("qemu-raid-create", &set, None, None, agent_append);
    guest.wait_api();
    let disks = guest_disk_names(&guest, &set);
    eprintln!("qemu-raid: member disks {disks:?}");

    let node = node(
        "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
        root_and_data("5"),
        None,
    );
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_step_succeeded(&r, "raid.create_configuration", &guest);
    let lds = r["command_result"]["clean_result"]["logical_disks"]
        .as_array()
        .unwrap_or_else(|| panic!("no logical_disks in the clean result: {r}"))
        .clone();
    assert_eq!(lds.len(), 2, "{r}");
    for ld in &lds {
        let bd: Vec<String> = ld["block_devices"]
            .as_array()
            .unwrap_or_else(|| panic!("no block_devices in {ld}"))
            .iter()
            .map(|d| d.as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(sorted(bd), sorted(disks.clone()), "block_devices of {ld}");
    }
    assert_eq!(lds[0]["volume_name"], "root");
    assert_eq!(lds[0]["is_root_volume"], true);
    check_created_arrays(&guest, &disks, "raid5");
    drop(guest);
    eprintln!("qemu-raid: create test done in {:.1?}", t0.elapsed());
}

/// 2. RAID-1 root + RAID-6 data (GPT) on 2 virtio + 2 SCSI disks; reboot on the same
///    images; `raid.delete_configuration`; then no md superblock and no partition table is
///    left on any image.
#[test]
fn deletes_the_arrays_after_a_reboot_and_leaves_no_metadata() {
    let _one = one_vm_at_a_time();
    let t0 = Instant::now();
    let set = DiskSet::new("reboot", &[Bus::Virtio, Bus::Scsi, Bus::Virtio, Bus::Scsi]);
    let node = node(
        "5d0c9b6e-8f0e-4c6a-9a38-2e4f0c1d7b21",
        root_and_data("6"),
        Some("disk_label:gpt"),
    );

    let guest = Guest::boot("qemu-raid-before-reboot", &set, None, None, agent_append);
    guest.wait_api();
    let disks = guest_disk_names(&guest, &set);
    eprintln!("qemu-raid: member disks {disks:?}");
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_step_succeeded(&r, "raid.create_configuration", &guest);
    check_created_arrays(&guest, &disks, "raid6");
    guest.power_off();

    // Host side, before the delete: every member has a GPT and two md superblocks (this
    // also proves the scanner finds what the clean check later must not find).
    for d in &set.disks {
        let pt = partition_table(&d.path);
        assert!(
            pt.as_deref()
                .is_some_and(|p| p.contains("GPT header at LBA 1")),
            "{}: expected a GPT after create, found {pt:?}",
            d.serial
        );
        let sbs = md_superblocks(&d.path);
        assert_eq!(sbs.len(), 2, "{}: md superblocks at {sbs:?}", d.serial);
        eprintln!(
            "qemu-raid: {} after create: {pt:?}, md superblocks at {sbs:?}",
            d.serial
        );
    }

    let guest = Guest::boot("qemu-raid-after-reboot", &set, None, None, agent_append);
    guest.wait_api();
    let before = guest.system_logs();
    eprintln!(
        "qemu-raid: /proc/mdstat after the reboot, before delete:\n{}",
        before.get("mdstat").map(String::as_str).unwrap_or("?")
    );
    let r = guest.clean_step("raid", "delete_configuration", &node);
    assert_step_succeeded(&r, "raid.delete_configuration", &guest);
    assert!(
        r["command_result"]["clean_result"].is_null(),
        "delete_configuration returns null: {r}"
    );
    let after = guest.system_logs();
    // How the delete found the arrays: assembled (md127, ...) or as stray superblocks.
    let agent_log = after.get("ironic-agent.log").cloned().unwrap_or_default();
    let delete_lines: Vec<&str> = agent_log
        .lines()
        .filter(|l| {
            [
                "delete_configuration",
                "stray md superblock",
                "--assemble",
                "zero",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .collect();
    eprintln!(
        "qemu-raid: the agent's log of the delete:\n{}",
        delete_lines.join("\n")
    );
    // As on a real machine after a reboot, the arrays come back as md127/md126 (foreign to
    // this ramdisk's host name) and the delete stops them.
    assert!(
        agent_log.contains("mdadm --stop /dev/md12"),
        "the delete stopped the re-assembled md12x arrays:\n{}",
        delete_lines.join("\n")
    );
    let mdstat = after.get("mdstat").cloned().unwrap_or_default();
    eprintln!("qemu-raid: /proc/mdstat after delete:\n{mdstat}");
    assert!(
        parse_mdstat(&mdstat).is_empty(),
        "arrays left after delete:\n{mdstat}"
    );
    let inv = guest.hardware_info();
    assert!(
        !inv["disks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"].as_str().is_some_and(|n| n.starts_with("/dev/md"))),
        "md devices left in the inventory: {}",
        inv["disks"]
    );
    guest.power_off();
    assert_disks_clean(&set, "after delete_configuration");
    eprintln!("qemu-raid: reboot+delete test done in {:.1?}", t0.elapsed());
}

/// 3. A member with a partition table: the create is refused, naming the device, and no
///    disk changes (content digests of every image before boot and after).
#[test]
fn refuses_a_partitioned_member_and_changes_nothing() {
    let _one = one_vm_at_a_time();
    let t0 = Instant::now();
    let set = DiskSet::new("refuse", &[Bus::Virtio, Bus::Virtio, Bus::Nvme]);
    // The NVMe disk (the only one: nvme0n1) carries an MBR with one partition.
    write_mbr(&set.disks[2].path);
    let before: Vec<(u64, u64)> = set.disks.iter().map(|d| content_digest(&d.path)).collect();

    let guest = Guest::boot("qemu-raid-refuse", &set, None, None, agent_append);
    guest.wait_api();
    let disks = guest_disk_names(&guest, &set);
    let parted = disks[2].clone();
    let inv = guest.hardware_info();
    eprintln!("qemu-raid: inventory disks: {}", inv["disks"]);

    let node = node(
        "0f4c8a9e-1b2d-4e3f-8a7b-6c5d4e3f2a1b",
        root_and_data("5"),
        None,
    );
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_eq!(
        r["command_status"], "FAILED",
        "the create must be refused: {r}"
    );
    let msg = error_message(&r);
    eprintln!("qemu-raid: refused: {msg}");
    assert_eq!(r["command_error"]["type"], "SoftwareRAIDError", "{r}");
    assert!(
        msg.contains(&parted) && msg.contains("Partitions detected"),
        "the error must name {parted} and say why: {msg}"
    );
    // Only the partitioned disk is named as partitioned.
    let listed = msg
        .split("Partitions detected on devices ")
        .nth(1)
        .and_then(|s| s.split(" during").next())
        .unwrap_or_default();
    assert_eq!(listed, parted, "the devices named as partitioned: {msg}");
    let mdstat = guest
        .system_logs()
        .get("mdstat")
        .cloned()
        .unwrap_or_default();
    assert!(
        parse_mdstat(&mdstat).is_empty(),
        "no array may exist:\n{mdstat}"
    );
    guest.power_off();

    let after: Vec<(u64, u64)> = set.disks.iter().map(|d| content_digest(&d.path)).collect();
    for ((d, b), a) in set.disks.iter().zip(&before).zip(&after) {
        assert_eq!(
            b,
            a,
            "{} ({}) changed: digest/non-zero blocks before {b:?}, after {a:?}",
            d.serial,
            d.path.display()
        );
    }
    assert!(
        partition_table(&set.disks[2].path).is_some_and(|p| p.contains("type 0x83")),
        "the pre-existing partition table is still there"
    );
    eprintln!("qemu-raid: refusal test done in {:.1?}", t0.elapsed());
}

/// Builds `<dir>/initramfs-mdadm-fault`: the ramdisk's initramfs followed by an uncompressed
/// newc cpio that moves the real mdadm to `/usr/sbin/mdadm.real` and installs
/// `tests/qemu-fixtures/mdadm-fail-second-create` as `/usr/sbin/mdadm` (the agent runs
/// tools from PATH=/usr/sbin:/usr/bin, so `/usr/local/sbin` would not be used).
fn fault_injection_initramfs(dir: &Path) -> PathBuf {
    let rd = qemu::ramdisk();
    let mut image = fs::read(&rd.initramfs).unwrap();
    assert_eq!(
        image[..4],
        [0x28, 0xb5, 0x2f, 0xfd],
        "expected a zstd initramfs (ramdisk/build's default)"
    );
    // The real mdadm, out of the image.
    let out = Command::new("sh")
        .arg("-c")
        .arg("zstd -dc \"$1\" | cpio -i --quiet --to-stdout '*usr/sbin/mdadm'")
        .arg("sh")
        .arg(&rd.initramfs)
        .output()
        .expect("running zstd | cpio");
    let mdadm = out.stdout;
    assert!(
        mdadm.len() > 100_000 && mdadm[..4] == *b"\x7fELF",
        "could not extract usr/sbin/mdadm from the initramfs ({} bytes): {}",
        mdadm.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    let wrapper = fs::read(qemu::repo_root().join("tests/qemu-fixtures/mdadm-fail-second-create"))
        .expect("reading the mdadm wrapper fixture");

    let mut cpio = Vec::new();
    newc_entry(&mut cpio, 900_001, "usr/sbin/mdadm.real", 0o100755, &mdadm);
    newc_entry(&mut cpio, 900_002, "usr/sbin/mdadm", 0o100755, &wrapper);
    newc_entry(&mut cpio, 0, "TRAILER!!!", 0, &[]);
    // The kernel looks for the next archive at a 4-byte boundary and skips zero padding.
    while !image.len().is_multiple_of(512) {
        image.push(0);
    }
    image.extend_from_slice(&cpio);
    let path = dir.join("initramfs-mdadm-fault");
    fs::write(&path, image).unwrap();
    path
}

/// Appends one entry of a `newc` cpio archive.
fn newc_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        1, // nlink
        0, // mtime
        data.len() as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// 4. The second `mdadm --create` fails (a wrapper in a test initramfs): the step fails
///    naming the command and what was rolled back, and the disks are left clean.
#[test]
fn rolls_back_when_mdadm_fails_mid_create() {
    let _one = one_vm_at_a_time();
    let t0 = Instant::now();
    let set = DiskSet::new("fault", &[Bus::Virtio, Bus::Nvme, Bus::Scsi]);
    let initramfs = fault_injection_initramfs(set.path());
    let guest = Guest::boot(
        "qemu-raid-fault",
        &set,
        Some(&initramfs),
        None,
        agent_append,
    );
    guest.wait_api();
    let disks = guest_disk_names(&guest, &set);
    eprintln!("qemu-raid: member disks {disks:?}");

    let node = node(
        "7e3a2b1c-9d8e-4f5a-b6c7-d8e9f0a1b2c3",
        root_and_data("5"),
        None,
    );
    let r = guest.clean_step("raid", "create_configuration", &node);
    assert_eq!(r["command_status"], "FAILED", "the create must fail: {r}");
    let msg = error_message(&r);
    eprintln!("qemu-raid: create failed as injected: {msg}");
    assert_eq!(r["command_error"]["type"], "SoftwareRAIDError", "{r}");
    for want in [
        "Creating RAID array /dev/md/data failed",
        "mdadm --create",
        "injected failure",
        "rolled back",
        "stopped /dev/md/root",
    ] {
        assert!(
            msg.contains(want),
            "the error should contain {want:?}: {msg}"
        );
    }
    assert!(!msg.contains("ROLLBACK INCOMPLETE"), "{msg}");
    // The fault really was the wrapper's (the first create ran the real mdadm).
    let logs = guest.system_logs();
    let mdstat = logs.get("mdstat").cloned().unwrap_or_default();
    assert!(
        parse_mdstat(&mdstat).is_empty(),
        "arrays left after rollback:\n{mdstat}"
    );
    let lsblk = logs.get("lsblk").cloned().unwrap_or_default();
    eprintln!("qemu-raid: lsblk after rollback:\n{lsblk}");
    for d in &disks {
        assert!(
            !lsblk.contains(&part(d, 1)),
            "{} still listed after rollback:\n{lsblk}",
            part(d, 1)
        );
    }
    guest.power_off();
    assert_disks_clean(&set, "after the rolled-back create");
    eprintln!(
        "qemu-raid: fault-injection test done in {:.1?}",
        t0.elapsed()
    );
}

/// 5. The Metal3 sequence through a real Ironic, with the agent in QEMU (lookup, auto-TLS
///    heartbeats, fast-track): manual cleaning with `raid.delete_configuration`,
///    `deploy.erase_devices_metadata` and `raid.create_configuration` on disks of which one
///    carries an old partition table; the node returns to `manageable` with its
///    `raid_config` set, and the images carry the arrays.
#[test]
fn metal3_manual_clean_through_ironic() {
    let _one = one_vm_at_a_time();
    let t0 = Instant::now();
    let ironic = Ironic::start(IronicOptions {
        fast_track: true,
        ..IronicOptions::default()
    });
    let node = ironic.create_node("qemu-raid-metal3", json!({"power_interface": "fake"}));
    let uuid = node["uuid"].as_str().unwrap().to_string();
    ironic.create_port(&uuid, DEFAULT_MAC);
    ironic.provision(&uuid, "manage", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(60))
        .unwrap();
    let config = root_and_data("5");
    ironic.set_target_raid_config(&uuid, config.clone());

    let set = DiskSet::new("metal3", &[Bus::Virtio, Bus::Nvme, Bus::Scsi]);
    // A leftover partition table: create alone would refuse this disk.
    write_mbr(&set.disks[1].path);
    let ironic_port = ironic.port();
    let guest = Guest::boot(
        "qemu-raid-metal3",
        &set,
        None,
        Some(qemu::free_port()),
        move |port| {
            vec![
                format!("ipa-api-url=http://10.0.2.2:{ironic_port}"),
                "ipa-advertise-host=127.0.0.1".into(),
                format!("ipa-advertise-port={port}"),
            ]
        },
    );
    let deadline = Instant::now() + AGENT_UP;
    while !guest.serial_log().contains("heartbeat accepted") {
        assert!(
            guest.is_running() && Instant::now() < deadline,
            "no accepted heartbeat\n{}\n--- Ironic ---\n{}",
            guest.serial_tail(60),
            ironic.log_tail(40)
        );
        sleep(Duration::from_millis(500));
    }
    // The conductor records the agent's URL asynchronously, after the 202.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ironic.get_node(&uuid)["driver_internal_info"]["agent_url"].is_null() {
        assert!(
            Instant::now() < deadline,
            "the conductor never recorded agent_url\n{}",
            ironic.log_tail(40)
        );
        sleep(Duration::from_millis(500));
    }
    eprintln!(
        "qemu-raid: agent looked up and heartbeating {:.1?} after QEMU start",
        guest.started.elapsed()
    );

    let t = Instant::now();
    ironic.provision(
        &uuid,
        "clean",
        json!({"clean_steps": [
            {"interface": "raid", "step": "delete_configuration"},
            {"interface": "deploy", "step": "erase_devices_metadata"},
            {"interface": "raid", "step": "create_configuration"},
        ]}),
    );
    let n = ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(420))
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n{}\n--- Ironic ---\n{}",
                guest.serial_tail(60),
                ironic.log_tail(60)
            )
        });
    eprintln!(
        "qemu-raid: manual clean [delete, erase metadata, create] -> manageable in {:.1?}",
        t.elapsed()
    );
    assert!(n["last_error"].is_null(), "last_error: {}", n["last_error"]);
    let lds = n["raid_config"]["logical_disks"]
        .as_array()
        .unwrap_or_else(|| panic!("raid_config not set: {}", n["raid_config"]))
        .clone();
    eprintln!("qemu-raid: node raid_config: {}", n["raid_config"]);
    assert_eq!(lds.len(), 2, "{}", n["raid_config"]);
    assert_eq!(lds[0]["volume_name"], "root");
    assert_eq!(lds[0]["raid_level"], "1");
    assert_eq!(lds[1]["volume_name"], "data");
    assert_eq!(lds[1]["raid_level"], "5");
    let log = guest.serial_log();
    for l in log.lines().filter(|l| {
        [
            "delete_configuration",
            "erase",
            "software RAID",
            "clean step",
            "Partitions",
        ]
        .iter()
        .any(|w| l.contains(w))
    }) {
        eprintln!("qemu-raid: console: {l}");
    }
    assert!(
        log.contains("software RAID created"),
        "the agent's console never says the arrays were created"
    );

    // Then the deploy-time variant: raid.apply_configuration as a deploy step. The
    // `custom-agent` deploy interface runs just the requested steps through the agent (no
    // image); `noop` management because `fake` refuses boot device `disk`.
    ironic.provision(&uuid, "provide", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "available", Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{e}\n{}", guest.serial_tail(60)));
    ironic.patch_node(
        &uuid,
        json!([
            {"op": "replace", "path": "/deploy_interface", "value": "custom-agent"},
            {"op": "replace", "path": "/management_interface", "value": "noop"}
        ]),
    );
    let applied = json!({"logical_disks": [
        {"size_gb": 1, "raid_level": "1", "controller": "software", "is_root_volume": true, "volume_name": "root"},
        {"size_gb": "MAX", "raid_level": "0", "controller": "software", "volume_name": "scratch"}
    ]});
    let t = Instant::now();
    ironic.provision(
        &uuid,
        "active",
        json!({"deploy_steps": [{"interface": "raid", "step": "apply_configuration",
                                 "args": {"raid_config": applied, "delete_existing": true},
                                 "priority": 90}]}),
    );
    let n = ironic
        .wait_for_provision_state(&uuid, "active", Duration::from_secs(420))
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n{}\n--- Ironic ---\n{}",
                guest.serial_tail(80),
                ironic.log_tail(60)
            )
        });
    eprintln!(
        "qemu-raid: deploy with raid.apply_configuration -> active in {:.1?}",
        t.elapsed()
    );
    assert!(n["last_error"].is_null(), "last_error: {}", n["last_error"]);
    let lds = n["raid_config"]["logical_disks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        lds.len(),
        2,
        "raid_config from the deploy step: {}",
        n["raid_config"]
    );
    assert_eq!(lds[1]["volume_name"], "scratch", "{}", n["raid_config"]);
    assert_eq!(lds[1]["raid_level"], "0", "{}", n["raid_config"]);
    assert!(
        guest
            .serial_log()
            .contains("mdadm --create /dev/md/scratch"),
        "the agent built the deploy step's arrays:\n{}",
        guest.serial_tail(60)
    );
    // The images: a partition table and two md superblocks on every member (the guest's
    // writes are synced by parted/mdadm; give md a moment to write its superblocks).
    sleep(Duration::from_secs(3));
    drop(guest);
    for d in &set.disks {
        let sbs = md_superblocks(&d.path);
        let pt = partition_table(&d.path);
        eprintln!(
            "qemu-raid: {} after the clean: {pt:?}, md superblocks at {sbs:?}",
            d.serial
        );
        assert_eq!(sbs.len(), 2, "{}: md superblocks at {sbs:?}", d.serial);
        assert!(
            pt.as_deref()
                .is_some_and(|p| p.contains("type 0xfd") || p.contains("type 0x83")),
            "{}: {pt:?}",
            d.serial
        );
    }
    eprintln!("qemu-raid: Metal3 test done in {:.1?}", t0.elapsed());
}

/// 6. RAID-5 and RAID-1+0 from two member disks, as IPA accepts and mdadm builds without
///    `--force`: each created through the API by the real mdadm on two virtio disks, read
///    back (level, two members, a mirror's capacity), noted in the plan as no more than a
///    mirror, and deleted again, in one VM.
#[test]
fn builds_raid5_and_raid10_from_two_disks() {
    let _one = one_vm_at_a_time();
    let t0 = Instant::now();
    let set = DiskSet::new("two", &[Bus::Virtio, Bus::Virtio]);
    let guest = Guest::boot("qemu-raid-two-disks", &set, None, None, agent_append);
    guest.wait_api();
    let disks = guest_disk_names(&guest, &set);
    eprintln!("qemu-raid: member disks {disks:?}");
    for (level, md_level) in [("5", "raid5"), ("1+0", "raid10")] {
        let node = node(
            "0c7d3e52-6a41-4f0b-9d2e-5b8a1f3c4e60",
            root_and_data(level),
            None,
        );
        let r = guest.clean_step("raid", "create_configuration", &node);
        assert_step_succeeded(&r, &format!("create with RAID {level} data"), &guest);
        check_created_arrays(&guest, &disks, md_level);
        let logs = guest.system_logs();
        let agent_log = logs.get("ironic-agent.log").cloned().unwrap_or_default();
        assert!(
            agent_log.contains(&format!(
                "note: logical_disks[1] (RAID {level}) gets two disks"
            )) && agent_log.contains("gives no more than a mirror"),
            "the plan notes that RAID {level} on two disks is a mirror's worth"
        );
        let r = guest.clean_step("raid", "delete_configuration", &node);
        assert_step_succeeded(&r, "raid.delete_configuration", &guest);
        let mdstat = guest
            .system_logs()
            .get("mdstat")
            .cloned()
            .unwrap_or_default();
        assert!(
            parse_mdstat(&mdstat).is_empty(),
            "arrays left after delete:\n{mdstat}"
        );
    }
    guest.power_off();
    assert_disks_clean(&set, "after the two-disk creates and deletes");
    eprintln!(
        "qemu-raid: two-disk RAID-5/10 test done in {:.1?}",
        t0.elapsed()
    );
}
