//! Boot and clean benchmark (figures, not assertions), run by `ramdisk/bench`:
//!
//! * the ramdisk's size (kernel + initramfs, compressed and unpacked);
//! * QEMU start → first heartbeat accepted by a real Ironic 39 (`fast_track = false`, the node
//!   waiting in `clean wait`, as for IPA's figures), booting the bzImage (as a PXE-booted
//!   machine and as IPA was measured) and the uncompressed vmlinux (PVH: what the tests boot);
//! * first heartbeat → `manageable`: the 3-step manual RAID clean
//!   (`raid.delete_configuration`, `deploy.erase_devices_metadata`,
//!   `raid.create_configuration`: RAID-1 of 1 GiB over 4 virtio disks);
//! * the agent's peak RSS (VmHWM) at the end of the clean;
//! * the smallest guest RAM (16 MiB steps) that boots and heartbeats;
//! * the boot's per-phase breakdown from the ramdisk's own log (guest uptimes logged by
//!   /init and the agent), and a PNG timeline of it (gnuplot, installed when missing).
//!
//! IPA's figures come from `docs/ipa-13.0.0-figures.json` (with their provenance), the one
//! place they are kept. TCG, 1 vCPU, like IPA's measurement.
//!
//! `cargo run -p agent-tests --example bench_boot -- [--runs N] [--mem MIB] [--no-min-ram]
//! [--plot PATH | --no-plot]` (as root; builds the ramdisk when stale).

use agent_tests::ironic::{Ironic, IronicOptions, NodeSpec};
use agent_tests::qemu::{self, Boot, Bus, Disk, Ramdisk, Vm, VmOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MIB: f64 = 1024.0 * 1024.0;
const GOAL_RAMDISK_MIB: f64 = 20.0;
const GOAL_QEMU_TO_HB: f64 = 7.0;
const GOAL_INIT_TO_HB: f64 = 1.0;
const GOAL_CLEAN: f64 = 6.0;
const BZIMAGE: &str = "bzImage";
const PVH: &str = "vmlinux (PVH)";

struct Args {
    runs: usize,
    mem: u32,
    min_ram: bool,
    plot: Option<PathBuf>,
    /// Which kernels to boot: "bzImage", "vmlinux (PVH)" or both.
    kernels: Vec<&'static str>,
}

fn args() -> Args {
    let mut a = Args {
        runs: 1,
        mem: 3072,
        min_ram: true,
        plot: Some(qemu::repo_root().join("docs/boot-timeline.png")),
        kernels: vec![BZIMAGE, PVH],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => a.runs = value().parse().expect("--runs N"),
            "--mem" => a.mem = value().parse().expect("--mem MIB"),
            "--no-min-ram" => a.min_ram = false,
            "--plot" => a.plot = Some(PathBuf::from(value())),
            "--no-plot" => a.plot = None,
            "--kernel" => {
                a.kernels = match value().as_str() {
                    "bzimage" => vec![BZIMAGE],
                    "pvh" => vec![PVH],
                    _ => vec![BZIMAGE, PVH],
                }
            }
            other => panic!("unknown option {other}; see the module docs"),
        }
    }
    a
}

/// A serial console line and when the host saw it (seconds after QEMU's start).
struct Line {
    host: f64,
    text: String,
}

/// Collects the serial log's lines with their arrival times (polled every 10 ms).
struct Tail {
    pos: usize,
    lines: Vec<Line>,
}

impl Tail {
    fn poll(&mut self, vm: &Vm) {
        let log = vm.serial_log();
        let now = vm.elapsed().as_secs_f64();
        while let Some(end) = log[self.pos.min(log.len())..].find('\n') {
            let text = log[self.pos..self.pos + end].trim_end().to_string();
            self.pos += end + 1;
            self.lines.push(Line { host: now, text });
        }
    }

    /// Polls until a line contains `pattern`; its arrival time.
    fn wait_for(&mut self, vm: &Vm, pattern: &str, timeout: Duration) -> Option<f64> {
        let t = Instant::now();
        loop {
            self.poll(vm);
            if let Some(l) = self.lines.iter().find(|l| l.text.contains(pattern)) {
                return Some(l.host);
            }
            if t.elapsed() > timeout || !vm.is_running() {
                return None;
            }
            sleep(Duration::from_millis(10));
        }
    }
}

/// Guest uptime of a kernel line (`[    1.234567] ...`).
fn kernel_uptime(text: &str) -> Option<f64> {
    let rest = text.strip_prefix('[')?;
    rest.split(']').next()?.trim().parse().ok()
}

/// The number after `at uptime ` in an /init line.
fn init_uptime(text: &str) -> Option<f64> {
    text.split("at uptime ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SS.ffffffZ` (agent) or
/// `YYYY-MM-DD HH:MM:SS.fff` (Ironic, host local time = UTC here) prefix.
fn wall_secs(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi) = (n(11..13)?, n(14..16)?);
    let sec_end = text[17..]
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(text.len(), |i| i + 17);
    let s: f64 = text[17..sec_end].parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60) as f64 + s)
}

/// One boot's timeline: guest uptimes of the phases and the host's view.
#[derive(Default, Clone)]
struct Timeline {
    /// Host seconds from QEMU's start to the guest's uptime 0 (QEMU, firmware, kernel load).
    kernel_start: f64,
    /// (phase, guest uptime) in boot order; missing phases are left out.
    marks: Vec<(&'static str, f64)>,
}

impl Timeline {
    fn at(&self, name: &str) -> Option<f64> {
        self.marks.iter().find(|(n, _)| *n == name).map(|(_, u)| *u)
    }
}

/// The phases of the boot from the serial lines.
fn timeline(lines: &[Line]) -> Timeline {
    let mut t = Timeline::default();
    let mut offset = f64::INFINITY;
    let mut mark = |t: &mut Timeline, name: &'static str, up: f64, host: f64| {
        if t.at(name).is_none() {
            t.marks.push((name, up));
        }
        offset = offset.min(host - up);
    };
    // The agent logs wall-clock times; its start banner also gives the uptime.
    let clock = lines.iter().find_map(|l| {
        let up: f64 = l
            .text
            .split("uptime=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        l.text
            .contains("ironic-agent starting")
            .then(|| wall_secs(&l.text).map(|w| w - up))?
    });
    let kernel = [
        ("Trying to unpack rootfs image", "initramfs unpack starts"),
        ("Freeing initrd memory", "initramfs unpacked"),
    ];
    let init = [
        ("ironic-agent-init: starting at uptime", "/init starts"),
        ("ironic-agent-init: network interface", "first NIC appears"),
        ("ironic-agent-init: network up at uptime", "DHCP lease"),
        ("ironic-agent-init: loaded ", "drivers loaded"),
        (
            "ironic-agent-init: starting ironic-agent (run 1)",
            "agent started",
        ),
    ];
    let agent = [
        ("ironic-agent starting", "agent running"),
        ("lookup succeeded", "lookup succeeded"),
        // `agent/src/hardware_ready.rs`: the agent waited for /init's drivers (or gave up).
        ("the machine's drivers are ", "drivers ready (agent)"),
        (
            "hardware manager GenericHardwareManager: loaded",
            "managers ready",
        ),
        ("auto-TLS: generated", "TLS certificate made"),
        ("API listening", "API listening"),
        ("heartbeat accepted", "first heartbeat"),
    ];
    for l in lines {
        if let Some(up) = kernel_uptime(&l.text) {
            if let Some((_, name)) = kernel.iter().find(|(p, _)| l.text.contains(p)) {
                mark(&mut t, name, up, l.host);
            }
            continue;
        }
        if let Some((_, name)) = init.iter().find(|(p, _)| l.text.contains(p)) {
            if let Some(up) = init_uptime(&l.text) {
                mark(&mut t, name, up, l.host);
            }
            continue;
        }
        if let (Some(c), Some(w)) = (clock, wall_secs(&l.text)) {
            if let Some((_, name)) = agent.iter().find(|(p, _)| l.text.contains(p)) {
                mark(&mut t, name, w - c, l.host);
            }
        }
    }
    t.kernel_start = if offset.is_finite() { offset } else { 0.0 };
    t
}

/// What one boot and clean measured.
struct Run {
    kernel: &'static str,
    /// Host seconds from QEMU's start to the first accepted heartbeat (the agent's line).
    first_heartbeat: f64,
    /// First heartbeat → the node `manageable` (Ironic's log, else its API).
    clean: Option<f64>,
    hwm_kib: Option<u64>,
    timeline: Timeline,
    raid_config: Value,
    /// (step, seconds in the agent) of the clean, from its log.
    steps: Vec<(String, f64)>,
}

/// How long each clean step ran in the agent: "executing clean step step=NAME" to the next
/// "command succeeded" (wall-clock times of its log).
fn step_times(lines: &[Line]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut open: Option<(String, f64)> = None;
    for l in lines {
        let Some(w) = wall_secs(&l.text) else {
            continue;
        };
        if let Some(rest) = l.text.split("executing clean step step=").nth(1) {
            let name = rest.split_whitespace().next().unwrap_or("?").to_string();
            open = Some((name, w));
        } else if l
            .text
            .contains("command succeeded command=clean.execute_clean_step")
        {
            if let Some((name, t0)) = open.take() {
                out.push((name, w - t0));
            }
        }
    }
    out
}

fn steps() -> Value {
    json!([
        {"interface": "raid", "step": "delete_configuration"},
        {"interface": "deploy", "step": "erase_devices_metadata"},
        {"interface": "raid", "step": "create_configuration"},
    ])
}

/// A fresh node (its own MAC) waiting in `clean wait` for the 3-step RAID clean.
fn node_in_clean_wait(ironic: &Ironic, name: &str, mac: &str) -> String {
    let spec = NodeSpec::new(name)
        .fields(json!({"power_interface": "fake"}))
        .port(mac)
        .target_raid_config(json!({"logical_disks": [
            {"size_gb": 1, "raid_level": "1", "controller": "software"}]}));
    let uuid = ironic.enroll(&spec).uuid;
    ironic.provision(&uuid, "clean", json!({ "clean_steps": steps() }));
    ironic
        .wait_for_provision_state(&uuid, "clean wait", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", ironic.log_tail(40)));
    uuid
}

fn vm_options(name: &str, kernel: &Ramdisk, mem: u32, mac: &str, ironic: &Ironic) -> VmOptions {
    VmOptions {
        boot: Boot::Kernel(kernel.clone()),
        memory_mib: mem,
        disks: (0..4).map(|_| Disk::new(Bus::Virtio, 3072)).collect(),
        mac: mac.to_string(),
        ironic_port: Some(ironic.port()),
        append: vec![
            "ironic-agent.rss-report-after=0".into(),
            "ironic-agent.rss-report-every=2".into(),
        ],
        max_runtime: Duration::from_secs(600),
        name: name.to_string(),
        ..VmOptions::default()
    }
}

/// When Ironic logged the node's move to `manageable` (epoch seconds).
fn manageable_in_log(ironic: &Ironic, uuid: &str) -> Option<f64> {
    ironic
        .log()
        .lines()
        .filter(|l| l.contains(uuid) && l.contains("moved to provision state \"manageable\""))
        .filter_map(wall_secs)
        .next_back()
}

fn clean_run(ironic: &Ironic, kernel: &Ramdisk, label: &'static str, n: usize, mem: u32) -> Run {
    let mac = format!("52:54:00:be:01:{n:02x}");
    let uuid = node_in_clean_wait(ironic, &format!("bench-{n}"), &mac);
    let vm = Vm::boot(vm_options(&format!("bench-{n}"), kernel, mem, &mac, ironic));
    let qemu_start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - vm.elapsed().as_secs_f64();
    let mut tail = Tail {
        pos: 0,
        lines: Vec::new(),
    };
    let hb = tail
        .wait_for(&vm, "heartbeat accepted", Duration::from_secs(300))
        .unwrap_or_else(|| panic!("no heartbeat\n{}", vm.serial_tail(60)));
    let node = ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(60)));
    let polled = vm.elapsed().as_secs_f64();
    assert!(node["last_error"].is_null(), "{}", node["last_error"]);
    let done = manageable_in_log(ironic, &uuid).map_or(polled, |w| w - qemu_start);
    // The peak RSS: the next report of /init after the clean.
    let mut hwm = None;
    let t = Instant::now();
    while hwm.is_none() && t.elapsed() < Duration::from_secs(5) {
        tail.poll(&vm);
        hwm = tail
            .lines
            .iter()
            .filter(|l| l.host > done && l.text.contains("VmHWM: "))
            .find_map(|l| {
                l.text
                    .split("VmHWM: ")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
        sleep(Duration::from_millis(100));
    }
    tail.poll(&vm);
    let logs = qemu::repo_root().join("target/bench-boot");
    let _ = std::fs::create_dir_all(&logs);
    let _ = std::fs::write(logs.join(format!("serial-{n}.log")), vm.serial_log());
    Run {
        kernel: label,
        first_heartbeat: hb,
        clean: Some(done - hb),
        hwm_kib: hwm,
        timeline: timeline(&tail.lines),
        raid_config: node["raid_config"].clone(),
        steps: step_times(&tail.lines),
    }
}

/// Whether `mem` MiB boots and heartbeats; the reason when not.
fn heartbeats_with(ironic: &Ironic, kernel: &Ramdisk, mem: u32, n: usize) -> Result<f64, String> {
    let mac = format!("52:54:00:be:02:{n:02x}");
    node_in_clean_wait(ironic, &format!("bench-ram-{n}"), &mac);
    let vm = Vm::boot(vm_options(
        &format!("bench-ram-{mem}"),
        kernel,
        mem,
        &mac,
        ironic,
    ));
    let mut tail = Tail {
        pos: 0,
        lines: Vec::new(),
    };
    if let Some(t) = tail.wait_for(&vm, "heartbeat accepted", Duration::from_secs(120)) {
        return Ok(t);
    }
    let log = vm.serial_log();
    let why = [
        "Kernel panic",
        "Out of memory",
        "Initramfs unpacking failed",
    ]
    .iter()
    .find_map(|p| log.lines().find(|l| l.contains(p)))
    .unwrap_or("no heartbeat within 120 s");
    Err(why.trim().to_string())
}

/// The smallest RAM (MiB, 16 MiB steps between 64 and `hi`) that heartbeats.
fn min_ram(ironic: &Ironic, kernel: &Ramdisk, hi: u32) -> (u32, Vec<String>) {
    let (mut lo, mut hi) = (64u32, hi);
    let mut notes = Vec::new();
    let mut n = 0;
    while hi - lo > 16 {
        let mid = (lo + hi) / 2 / 16 * 16;
        n += 1;
        match heartbeats_with(ironic, kernel, mid, n) {
            Ok(t) => {
                notes.push(format!("{mid} MiB: heartbeat after {t:.1} s"));
                hi = mid;
            }
            Err(e) => {
                notes.push(format!("{mid} MiB: {e}"));
                lo = mid;
            }
        }
        eprintln!("bench: {}", notes.last().unwrap());
    }
    (hi, notes)
}

fn file_mib(p: &Path) -> f64 {
    std::fs::metadata(p)
        .map(|m| m.len() as f64 / MIB)
        .unwrap_or(0.0)
}

/// Size of the zstd initramfs once unpacked.
fn unpacked_mib(p: &Path) -> f64 {
    let out = Command::new("zstd")
        .arg("-dc")
        .arg(p)
        .stderr(Stdio::null())
        .output()
        .expect("zstd");
    out.stdout.len() as f64 / MIB
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

fn goal(value: Option<f64>, goal: f64) -> String {
    match value {
        Some(v) if v <= goal => format!("≤ {goal} met"),
        Some(_) => format!("≤ {goal} **not met**"),
        None => format!("≤ {goal}"),
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} s"))
}

/// The phases of the breakdown: (label, from mark, to mark); QEMU's start is "qemu".
const PHASES: &[(&str, &str, &str)] = &[
    ("QEMU, firmware, kernel load", "qemu", "kernel"),
    ("kernel init", "kernel", "initramfs unpack starts"),
    (
        "initramfs unpack",
        "initramfs unpack starts",
        "initramfs unpacked",
    ),
    (
        "kernel init, to /init",
        "initramfs unpacked",
        "/init starts",
    ),
    ("/init: NIC driver", "/init starts", "first NIC appears"),
    ("DHCP", "first NIC appears", "DHCP lease"),
    (
        "/init: all drivers (in parallel)",
        "/init starts",
        "drivers loaded",
    ),
    ("/init: to agent start", "DHCP lease", "agent started"),
    ("agent: exec to running", "agent started", "agent running"),
    ("agent: lookup", "agent running", "lookup succeeded"),
    (
        "agent: waits for the drivers (lookup meanwhile)",
        "agent running",
        "drivers ready (agent)",
    ),
    (
        "agent: managers' start-up (md assembly)",
        "drivers ready (agent)",
        "managers ready",
    ),
    (
        "agent: auto-TLS certificate",
        "lookup and managers done",
        "TLS certificate made",
    ),
    ("agent: API up", "TLS certificate made", "API listening"),
    ("agent: first heartbeat", "API listening", "first heartbeat"),
];

/// Host seconds after QEMU's start of a mark.
fn host_at(t: &Timeline, mark: &str) -> Option<f64> {
    match mark {
        "qemu" => Some(0.0),
        "kernel" => Some(t.kernel_start),
        // The certificate is made once both the lookup and the managers are done (an agent
        // from before `drivers ready` was logged: the lookup alone).
        "lookup and managers done" => {
            let lookup = host_at(t, "lookup succeeded")?;
            Some(host_at(t, "managers ready").map_or(lookup, |m| m.max(lookup)))
        }
        m => t.at(m).map(|u| u + t.kernel_start),
    }
}

fn breakdown(t: &Timeline) -> Vec<(&'static str, f64, f64)> {
    PHASES
        .iter()
        .filter_map(|(label, a, b)| Some((*label, host_at(t, a)?, host_at(t, b)?)))
        .collect()
}

/// Writes the boot timeline as a PNG with gnuplot (Debian `gnuplot-nox`, installed when
/// missing).
fn plot(r: &Run, title: &str, png: &Path) -> Result<(), String> {
    let have = |c: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("gnuplot") {
        eprintln!("bench: installing gnuplot-nox for the plot");
        let ok = Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "gnuplot-nox",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("apt-get install gnuplot-nox failed".into());
        }
    }
    let mut phases = breakdown(&r.timeline);
    if let Some(c) = r.clean {
        phases.push((
            "3-step RAID clean",
            r.first_heartbeat,
            r.first_heartbeat + c,
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("phases.dat");
    let mut text = String::new();
    for (i, (label, a, b)) in phases.iter().enumerate() {
        let y = phases.len() - i;
        text.push_str(&format!("{a:.3} {b:.3} {y} \"{label} ({:.2} s)\"\n", b - a));
    }
    std::fs::write(&data, text).map_err(|e| e.to_string())?;
    let end = phases.iter().map(|p| p.2).fold(0.0, f64::max);
    let script_path = dir.path().join("timeline.gp");
    let script = format!(
        "set terminal pngcairo size 1000,{h} font 'DejaVu Sans,10'\n\
         set output '{png}'\n\
         set title \"{title}\"\n\
         set xlabel 'seconds after QEMU start'\n\
         set xrange [0:{xmax:.1}]\n\
         set yrange [0.3:{ymax}]\n\
         set ytics scale 0\n\
         set grid xtics\n\
         unset key\n\
         set style fill solid 0.8 border -1\n\
         plot '{data}' using (($1+$2)/2):3:(($2-$1)/2):(0.35):ytic(4) with boxxyerror lc rgb '#3a7bd5'\n",
        h = 120 + 32 * phases.len(),
        png = png.display(),
        xmax = end * 1.05 + 0.1,
        ymax = phases.len() as f64 + 0.7,
        data = data.display(),
    );
    std::fs::write(&script_path, script).map_err(|e| e.to_string())?;
    let st = Command::new("gnuplot")
        .arg(&script_path)
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("gnuplot failed: {st}"));
    }
    Ok(())
}

fn main() {
    let a = args();
    let figures_path = qemu::repo_root().join("docs/ipa-13.0.0-figures.json");
    let ipa: Value = serde_json::from_str(
        &std::fs::read_to_string(&figures_path).expect("docs/ipa-13.0.0-figures.json"),
    )
    .expect("IPA figures are JSON");
    let f = |k: &str| ipa[k].as_f64();

    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let load_before = load();
    let rd = qemu::ramdisk();
    let bz = Ramdisk {
        kernel: rd.uefi_kernel(),
        initramfs: rd.initramfs.clone(),
    };
    let kernel_mib = file_mib(&bz.kernel);
    let initramfs_mib = file_mib(&rd.initramfs);
    let unpacked = unpacked_mib(&rd.initramfs);
    let vmlinux_mib = file_mib(&rd.kernel);

    let ironic = Ironic::start(IronicOptions {
        fast_track: false,
        heartbeat_timeout: 30,
        ..IronicOptions::default()
    });
    let mut runs = Vec::new();
    for i in 0..a.runs {
        for (label, k) in [(BZIMAGE, &bz), (PVH, &rd)] {
            if !a.kernels.contains(&label) {
                continue;
            }
            let r = clean_run(&ironic, k, label, runs.len() + 1, a.mem);
            eprintln!(
                "bench: run {} ({label}): first heartbeat {:.2} s after QEMU start, clean {} , peak RSS {:?} KiB",
                i + 1,
                r.first_heartbeat,
                secs(r.clean),
                r.hwm_kib
            );
            runs.push(r);
        }
    }
    let (min_ram, ram_notes) = if a.min_ram {
        let (m, notes) = min_ram(&ironic, &bz, 512);
        (Some(m), notes)
    } else {
        (None, Vec::new())
    };

    let of = |k: &str| -> Vec<&Run> { runs.iter().filter(|r| r.kernel == k).collect() };
    let med = |rs: &[&Run], f: &dyn Fn(&Run) -> Option<f64>| {
        median(rs.iter().filter_map(|r| f(r)).collect())
    };
    let bzr = of(BZIMAGE);
    let pvh = of(PVH);
    let hb_bz = med(&bzr, &|r| Some(r.first_heartbeat));
    let hb_pvh = med(&pvh, &|r| Some(r.first_heartbeat));
    // Host times: the agent's own marks need its uptime (an older agent has none).
    let init_to_hb = |r: &Run| Some(r.first_heartbeat - host_at(&r.timeline, "/init starts")?);
    let i2h_bz = med(&bzr, &init_to_hb);
    let i2h_pvh = med(&pvh, &init_to_hb);
    let clean = med(&runs.iter().collect::<Vec<_>>(), &|r| r.clean);
    let hwm = runs.iter().filter_map(|r| r.hwm_kib).max();
    let ramdisk = kernel_mib + initramfs_mib;

    let logs = qemu::repo_root().join("target/bench-boot");
    let _ = std::fs::write(logs.join("ironic.log"), ironic.log());
    let accel = if qemu::kvm_usable() { "KVM" } else { "TCG" };
    println!(
        "\nironic-agent ramdisk benchmark ({accel}, 1 vCPU, -m {} for the boots and cleans, \
         4 x 3 GiB virtio disks, real Ironic 39, fast_track=false; median of {} run(s); \
         host load average {load_before} before, {} after)\n",
        a.mem,
        a.runs,
        load()
    );
    println!("| metric | ironic-agent | IPA 13.0.0 | goal |");
    println!("|---|---|---|---|");
    println!(
        "| ramdisk: kernel (bzImage) + initramfs, compressed | {kernel_mib:.1} + {initramfs_mib:.1} = {ramdisk:.1} MiB | {} MiB | {} |",
        f("ramdisk_mib").map_or("?".into(), |v| format!("{v:.1}")),
        goal(Some(ramdisk), GOAL_RAMDISK_MIB).replace("≤ 20", "≤ 20 MiB")
    );
    println!("| (uncompressed: vmlinux + cpio) | {vmlinux_mib:.1} + {unpacked:.1} MiB | | |");
    println!(
        "| smallest RAM that boots and heartbeats (16 MiB steps, bzImage) | {} | {} MiB | |",
        min_ram.map_or("not measured".into(), |m| format!("{m} MiB")),
        f("min_ram_mib").unwrap_or(0.0)
    );
    println!(
        "| QEMU start → first heartbeat, bzImage | {} | {} ¹ | {} |",
        secs(hb_bz),
        secs(f("qemu_to_first_heartbeat_s")),
        goal(hb_bz, GOAL_QEMU_TO_HB).replace("≤ 7", "≤ 7 s")
    );
    println!(
        "| QEMU start → first heartbeat, vmlinux (PVH, as the tests boot) | {} | | |",
        secs(hb_pvh)
    );
    println!(
        "| /init → first heartbeat | {} (PVH: {}) | {} ¹ | {} |",
        secs(i2h_bz),
        secs(i2h_pvh),
        secs(
            f("qemu_to_first_heartbeat_s")
                .zip(f("qemu_to_init_s"))
                .map(|(a, b)| a - b)
        ),
        goal(i2h_bz, GOAL_INIT_TO_HB).replace("≤ 1", "≤ 1 s")
    );
    println!(
        "| first heartbeat → manageable (3-step RAID clean) | {} | {} | {} |",
        secs(clean),
        secs(f("first_heartbeat_to_manageable_s")),
        goal(clean, GOAL_CLEAN).replace("≤ 6", "≤ 6 s")
    );
    println!(
        "| agent RSS | {} peak (VmHWM) | {} ² | |",
        hwm.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
        f("agent_rss_mib").map_or("?".into(), |v| format!("{v:.1} MiB"))
    );
    println!(
        "\nIPA: {} ({}).\n¹ {}.\n² {}.",
        figures_path
            .strip_prefix(qemu::repo_root())
            .unwrap_or(&figures_path)
            .display(),
        ipa["source"].as_str().unwrap_or(""),
        ipa["first_heartbeat_note"].as_str().unwrap_or(""),
        ipa["agent_rss_note"].as_str().unwrap_or("")
    );
    for n in &ram_notes {
        println!("RAM: {n}");
    }
    for r in &runs {
        println!("{} run: raid_config {}", r.kernel, r.raid_config);
    }

    for r in [bzr.first(), pvh.first()].into_iter().flatten() {
        println!("\nPer-phase breakdown, {} (seconds after QEMU start; guest uptimes from the ramdisk's log):\n", r.kernel);
        println!("| phase | from | to | takes |");
        println!("|---|---|---|---|");
        for (label, a, b) in breakdown(&r.timeline) {
            println!("| {label} | {a:.2} | {b:.2} | {:.2} s |", b - a);
        }
        if let Some(c) = r.clean {
            println!(
                "| 3-step RAID clean (to manageable) | {:.2} | {:.2} | {c:.2} s |",
                r.first_heartbeat,
                r.first_heartbeat + c
            );
            let in_agent: f64 = r.steps.iter().map(|s| s.1).sum();
            let each: Vec<String> = r
                .steps
                .iter()
                .map(|(n, t)| format!("{n} {t:.2} s"))
                .collect();
            println!(
                "\nClean steps in the agent: {} (sum {in_agent:.2} s; the rest, {:.2} s, is the \
                 conductor's hand-offs and its end of cleaning)",
                each.join(", "),
                c - in_agent
            );
        }
    }
    if let (Some(png), Some(r)) = (&a.plot, bzr.first().or(pvh.first())) {
        let title = format!(
            "ironic-agent ramdisk boot, QEMU {accel} 1 vCPU, {}, -m {}: first heartbeat at {:.1} s",
            r.kernel, a.mem, r.first_heartbeat
        );
        match plot(r, &title, png) {
            Ok(()) => println!("\nplot: {}", png.display()),
            Err(e) => eprintln!("bench: no plot: {e}"),
        }
    }
}
