//! What a VM needs from the host: QEMU, OVMF, KVM (or not), the ramdisk and its variants.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use crate::support::{repo_root, run_checked, FileLock};

/// A kernel and initramfs to boot.
#[derive(Clone, Debug)]
pub struct Ramdisk {
    /// The uncompressed `vmlinux` (PVH boot under SeaBIOS) or a bzImage.
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

impl Ramdisk {
    /// The kernel UEFI can boot: OVMF needs the bzImage (its EFI stub); `ramdisk/build` puts
    /// `ironic-agent.kernel` next to `ironic-agent.vmlinux`.
    pub fn uefi_kernel(&self) -> PathBuf {
        let bz = self.kernel.with_extension("kernel");
        if self.kernel.extension().is_some_and(|e| e == "vmlinux") && bz.exists() {
            bz
        } else {
            self.kernel.clone()
        }
    }

    /// The contents of `guest_path` (e.g. `usr/sbin/mdadm`) in the initramfs (zstd, as
    /// `ramdisk/build` writes it by default).
    pub fn extract(&self, guest_path: &str) -> Vec<u8> {
        let head = fs::read(&self.initramfs).map(|b| b.get(..4).map(<[u8]>::to_vec));
        assert_eq!(
            head.ok().flatten().as_deref(),
            Some(&[0x28, 0xb5, 0x2f, 0xfd][..]),
            "expected a zstd initramfs (ramdisk/build's default): {}",
            self.initramfs.display()
        );
        // zstd -dc <initramfs> | cpio -i --to-stdout '*<path>': two argv commands, no shell.
        let mut zstd = Command::new("zstd")
            .arg("-dc")
            .arg(&self.initramfs)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("running zstd -dc");
        let out = Command::new("cpio")
            .args(["-i", "--quiet", "--to-stdout"])
            .arg(format!("*{}", guest_path.trim_start_matches('/')))
            .stdin(zstd.stdout.take().expect("zstd's stdout"))
            .output()
            .expect("running cpio");
        let _ = zstd.wait();
        assert!(
            !out.stdout.is_empty(),
            "no {guest_path} in {}: {}",
            self.initramfs.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// A variant with `files` (`(guest path, mode, contents)`) added over the image: the same
    /// kernel, and `<dir>/<name>` = this initramfs followed by an uncompressed newc cpio with
    /// those files, which the kernel unpacks over the first archive (a file already there is
    /// replaced).
    pub fn with_files(&self, dir: &Path, name: &str, files: &[(&str, u32, &[u8])]) -> Ramdisk {
        let mut image = fs::read(&self.initramfs)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.initramfs.display()));
        let mut cpio = Vec::new();
        for (n, (path, mode, data)) in files.iter().enumerate() {
            let ino = 900_001 + n as u32;
            newc_entry(&mut cpio, ino, path.trim_start_matches('/'), *mode, data);
        }
        newc_entry(&mut cpio, 0, "TRAILER!!!", 0, &[]);
        // The kernel looks for the next archive at a 4-byte boundary and skips zero padding.
        while !image.len().is_multiple_of(512) {
            image.push(0);
        }
        image.extend_from_slice(&cpio);
        let initramfs = dir.join(name);
        fs::write(&initramfs, image)
            .unwrap_or_else(|e| panic!("writing {}: {e}", initramfs.display()));
        Ramdisk {
            kernel: self.kernel.clone(),
            initramfs,
        }
    }
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
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
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

/// Installs Debian packages (`apt-get install`), once per machine (a file lock), unless
/// `present()` says they are there. `backports`: from bookworm-backports on bookworm.
fn apt_install(packages: &[&str], backports: bool, present: impl Fn() -> bool) {
    if present() {
        return;
    }
    let _lock = FileLock::acquire(&lock_dir().join("install.lock"));
    if present() {
        return;
    }
    eprintln!("qemu harness: installing {}", packages.join(" "));
    let mut install = Command::new("apt-get");
    install.env("DEBIAN_FRONTEND", "noninteractive").args([
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
    ]);
    if backports && os_codename() == "bookworm" {
        add_bookworm_backports();
        install.args(["-t", "bookworm-backports"]);
    }
    run_checked(
        Command::new("apt-get").args(["update", "-qq"]),
        "apt-get update",
    );
    install.args(packages);
    run_checked(
        &mut install,
        &format!("apt-get install {}", packages.join(" ")),
    );
}

fn os_codename() -> String {
    fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME=").map(str::to_string))
        .unwrap_or_default()
}

fn add_bookworm_backports() {
    let mentions = |p: &Path| {
        fs::read_to_string(p)
            .map(|t| t.contains("bookworm-backports"))
            .unwrap_or(false)
    };
    let have = fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.flatten().any(|e| mentions(&e.path())))
        .unwrap_or(false)
        || mentions(Path::new("/etc/apt/sources.list"));
    if !have {
        fs::write(
            "/etc/apt/sources.list.d/bookworm-backports.sources",
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        )
        .expect("writing the bookworm-backports apt source");
    }
}

/// Installs `qemu-system-x86` when `qemu-system-x86_64` is missing. On Debian 12 it comes
/// from bookworm-backports: the image's qemu-utils 10.0 (backports) breaks bookworm's
/// qemu-system 7.2.
pub fn ensure_qemu() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        apt_install(&["qemu-system-x86", "qemu-utils"], true, || {
            on_path("qemu-system-x86_64")
        })
    });
}

/// OVMF's firmware code (read-only) and the template of its variable store.
#[derive(Clone, Debug)]
pub struct Ovmf {
    pub code: PathBuf,
    pub vars_template: PathBuf,
}

impl Ovmf {
    fn find() -> Option<Ovmf> {
        // Debian 12 ships the 4 MiB flash layout only; older releases the 2 MiB one.
        [
            ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
            ("OVMF_CODE.fd", "OVMF_VARS.fd"),
        ]
        .iter()
        .map(|(c, v)| Ovmf {
            code: Path::new("/usr/share/OVMF").join(c),
            vars_template: Path::new("/usr/share/OVMF").join(v),
        })
        .find(|o| o.code.is_file() && o.vars_template.is_file())
    }
}

/// OVMF (UEFI for QEMU), installed (Debian package `ovmf`) when missing.
pub fn ensure_ovmf() -> Ovmf {
    static OVMF: OnceLock<Ovmf> = OnceLock::new();
    OVMF.get_or_init(|| {
        apt_install(&["ovmf"], false, || Ovmf::find().is_some());
        Ovmf::find().expect("OVMF firmware files in /usr/share/OVMF after installing ovmf")
    })
    .clone()
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

/// Whether `output` is missing or older than any of `inputs` (files or directory trees).
pub fn stale(output: &Path, inputs: &[PathBuf]) -> bool {
    let newest_input = inputs.iter().filter_map(|p| newest_mtime(p)).max();
    let built = fs::metadata(output).and_then(|m| m.modified()).ok();
    match (built, newest_input) {
        (None, _) => true,
        (Some(b), Some(s)) => s > b,
        (Some(_), None) => false,
    }
}

/// The outputs of `ramdisk/build --out <dir>`: the uncompressed `vmlinux` when there is one.
pub fn ramdisk_in(dir: &Path) -> Ramdisk {
    let vmlinux = dir.join("ironic-agent.vmlinux");
    let kernel = if vmlinux.exists() {
        vmlinux
    } else {
        dir.join("ironic-agent.kernel")
    };
    let initramfs = dir.join("ironic-agent.initramfs");
    assert!(
        kernel.exists() && initramfs.exists(),
        "ramdisk outputs missing in {}",
        dir.display()
    );
    Ramdisk { kernel, initramfs }
}

/// The ramdisk to boot: `$IRONIC_AGENT_KERNEL` + `$IRONIC_AGENT_INITRAMFS`, or the outputs of
/// `ramdisk/build`, rebuilt first when missing or older than the agent's sources, Cargo.lock
/// or the ramdisk scripts.
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
            "ramdisk/power-button",
        ]
        .map(|s| root.join(s));
        if stale(&out.join("ironic-agent.initramfs"), &sources) {
            eprintln!("qemu harness: building the ramdisk (ramdisk/build)");
            let started = Instant::now();
            // A test may point http_proxy at its image server; apt must reach the mirror.
            let status = Command::new(root.join("ramdisk/build"))
                .current_dir(&root)
                .env_remove("http_proxy")
                .env_remove("HTTP_PROXY")
                .env_remove("https_proxy")
                .env_remove("HTTPS_PROXY")
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .status()
                .expect("running ramdisk/build");
            assert!(status.success(), "ramdisk/build failed: {status}");
            eprintln!("qemu harness: ramdisk built in {:.1?}", started.elapsed());
        }
        ramdisk_in(&out)
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
        && fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
}
