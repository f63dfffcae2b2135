//! Small pieces every harness module needs: the workspace's paths, free ports, file locks,
//! scratch directories that can be kept for a post-mortem, checked commands and polling.

use std::fs::{self, File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (when absolute), else the one the running
/// binary was built in (`<target>/<profile>/deps/<exe>` or `<target>/<profile>/examples/<exe>`),
/// else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        if dir.is_absolute() {
            return dir;
        }
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let parent = exe.parent()?;
        let kind = parent.file_name()?;
        (kind == "deps" || kind == "examples")
            .then(|| parent.parent()?.parent().map(Path::to_path_buf))?
    });
    from_exe.unwrap_or_else(|| repo_root().join("target"))
}

/// A port that was free on 127.0.0.1 a moment ago (the kernel picks it from the ephemeral
/// range; callers that bind it later detect a collision and retry).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0 to find a free port")
        .port()
}

/// An exclusive `flock` held while it lives: serialises installs, ramdisk builds and VM runs
/// between threads and test processes (each acquisition opens the file anew, so two threads
/// of one process exclude each other too).
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until this holder has the lock on `path` (created if needed); says so on stderr
    /// when it has to wait.
    pub fn acquire(path: &Path) -> FileLock {
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("opening lock file {}: {e}", path.display()));
        // SAFETY: flock on a file descriptor we own.
        let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !free {
            let started = Instant::now();
            eprintln!("harness: waiting for {}", path.display());
            // SAFETY: as above.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            assert_eq!(rc, 0, "flock {}", path.display());
            eprintln!(
                "harness: got {} after {:.1?}",
                path.display(),
                started.elapsed()
            );
        }
        FileLock { _file: file }
    }
}

/// A temporary directory, removed on drop unless the environment variable `keep_env` is `1`
/// (then it stays, and its path is printed, for looking at logs and images after a run).
pub struct ScratchDir {
    temp: Option<tempfile::TempDir>,
    path: PathBuf,
    label: &'static str,
}

impl ScratchDir {
    pub fn new(prefix: &str, keep_env: &str, label: &'static str) -> ScratchDir {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a {label} directory: {e}"));
        let path = dir.path().to_path_buf();
        let temp = if std::env::var(keep_env).is_ok_and(|v| v == "1") {
            eprintln!("harness: keeping the {label} in {}", path.display());
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        ScratchDir { temp, path, label }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the directory outlives this value.
    pub fn kept(&self) -> bool {
        self.temp.is_none()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.kept() {
            eprintln!("harness: {} kept in {}", self.label, self.path.display());
        }
    }
}

/// Runs `cmd` and panics, with its output, unless it succeeds. `what` names it in messages.
pub fn run_checked(cmd: &mut Command, what: &str) -> Output {
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
    out
}

/// Calls `probe` every `every` until it returns `Some` (returned) or `timeout` has passed
/// (`None`). `probe` runs at least once.
pub fn poll<T>(
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(every);
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
