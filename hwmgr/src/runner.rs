//! The one way managers run external tools. A command is an argv vector (never a shell
//! string), has a timeout, and is logged with its argv, exit code and stderr. A failure
//! carries all of those, so the error that reaches the conductor can name the command.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default timeout: generous, because mdadm/sgdisk on a slow disk can take a while; long
/// operations (shred, sanitize polling) set their own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// An external command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub stdin: Option<Vec<u8>>,
    /// Exit codes that count as success (default: only 0).
    pub ok_codes: Vec<i32>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            stdin: None,
            ok_codes: vec![0],
        }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(a.as_ref().to_string_lossy().into_owned());
        self
    }

    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        for a in it {
            self = self.arg(a);
        }
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Also accept these exit codes as success (e.g. `mdadm --examine` exits 1 when there is
    /// no superblock, which is an answer, not a failure).
    pub fn ok_codes(mut self, codes: &[i32]) -> Self {
        self.ok_codes = codes.to_vec();
        self
    }

    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

impl fmt::Display for Cmd {
    /// For logs and errors only: the argv joined by spaces, each element quoted when needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.argv().iter().map(|a| display_arg(a)).collect();
        f.write_str(&parts.join(" "))
    }
}

fn display_arg(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._:=+,@%-".contains(c))
    {
        a.to_string()
    } else {
        format!("{a:?}")
    }
}

/// What a finished command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn ok(stdout: impl Into<String>) -> Self {
        CmdOutput {
            status: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }
}

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The program is not installed (not on PATH).
    NotFound,
    /// It ran longer than its timeout and was killed.
    Timeout(Duration),
    /// It exited with a code not in `ok_codes`.
    Exit(i32),
    /// It was killed by a signal.
    Signal,
    /// It could not be started or waited for.
    Io(String),
}

/// A failed command: argv, how it failed, and everything it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub command: String,
    pub failure: Failure,
    pub stdout: String,
    pub stderr: String,
}

impl CommandError {
    pub fn exit_code(&self) -> Option<i32> {
        match self.failure {
            Failure::Exit(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::NotFound => {
                write!(f, "`{}` failed: the program is not installed", self.command)?
            }
            Failure::Timeout(t) => write!(
                f,
                "`{}` timed out after {} s and was killed",
                self.command,
                t.as_secs()
            )?,
            Failure::Exit(c) => write!(f, "`{}` exited with code {c}", self.command)?,
            Failure::Signal => write!(f, "`{}` was killed by a signal", self.command)?,
            Failure::Io(e) => write!(f, "`{}` could not be run: {e}", self.command)?,
        }
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            write!(f, "; stderr: {}", truncate(stderr, 2000))?;
        }
        Ok(())
    }
}

impl std::error::Error for CommandError {}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Runs commands. Managers hold an `Arc<dyn Runner>`; the agent gives them [`SystemRunner`],
/// unit tests the `testkit` crate's `RecordingRunner`.
pub trait Runner: Send + Sync {
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CommandError>;

    /// Whether `program` can be run here (found on PATH).
    fn has_program(&self, program: &str) -> bool;
}

/// Runs real processes.
#[derive(Debug, Clone, Default)]
pub struct SystemRunner {
    /// Directories searched for programs; `None` means the process's PATH.
    search_path: Option<Vec<PathBuf>>,
}

impl SystemRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks programs up only in `dirs`, never in the process's PATH.
    pub fn with_search_path(dirs: Vec<PathBuf>) -> Self {
        SystemRunner {
            search_path: Some(dirs),
        }
    }

    /// The runner for a machine: on the real root, PATH; on a fake root, only the fake
    /// machine's own `bin`/`sbin` directories, so a test can never run a real tool (say
    /// `mdadm --assemble --scan`) against the real host.
    pub fn for_host(host: &crate::Host) -> Self {
        if host.is_real() {
            return Self::new();
        }
        let dirs = [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ];
        Self::with_search_path(dirs.iter().map(|d| host.path(d)).collect())
    }

    fn find(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            let p = PathBuf::from(program);
            return is_executable(&p).then_some(p);
        }
        let dirs: Vec<PathBuf> = match &self.search_path {
            Some(d) => d.clone(),
            None => std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect(),
        };
        dirs.into_iter()
            .map(|d| d.join(program))
            .find(|p| is_executable(p))
    }
}

/// The most of a tool's stdout kept in memory: far above any answer a parser reads (a
/// machine's `lsblk --json`, `ssacli ... show config detail`), small enough that a runaway
/// tool cannot exhaust a ramdisk's RAM. The rest is read and dropped, so the tool never blocks.
pub const MAX_STDOUT: usize = 16 << 20;
/// The most of a tool's stderr kept: its last bytes, where a tool says why it failed.
pub const MAX_STDERR: usize = 64 << 10;

/// Which part of an overlong output to keep.
#[derive(Clone, Copy, Debug)]
enum Keep {
    Head(usize),
    Tail(usize),
}

/// Reads `pipe` to its end, keeping at most the limit of `keep`; says how much was cut.
fn capture(mut pipe: impl Read, keep: Keep) -> String {
    let limit = match keep {
        Keep::Head(n) | Keep::Tail(n) => n,
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut cut: u64 = 0;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > limit {
            let over = kept.len() - limit;
            cut += over as u64;
            match keep {
                Keep::Head(_) => kept.truncate(limit),
                Keep::Tail(_) => {
                    kept.drain(..over);
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&kept).into_owned();
    match (cut, keep) {
        (0, _) => text,
        (c, Keep::Head(_)) => format!("{text}\n[... {c} more bytes not kept]\n"),
        (c, Keep::Tail(_)) => format!("[... {c} earlier bytes not kept]\n{text}"),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

impl Runner for SystemRunner {
    fn has_program(&self, program: &str) -> bool {
        self.find(program).is_some()
    }

    fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CommandError> {
        let shown = cmd.to_string();
        let fail = |failure: Failure, stdout: String, stderr: String| {
            let e = CommandError {
                command: shown.clone(),
                failure,
                stdout,
                stderr,
            };
            tracing::warn!(command = %shown, "{e}");
            e
        };
        let Some(exe) = self.find(&cmd.program) else {
            return Err(fail(Failure::NotFound, String::new(), String::new()));
        };
        tracing::info!(command = %shown, "running");
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args(&cmd.args)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(Failure::Io(e.to_string()), String::new(), String::new()))?;

        // Feed stdin and drain both pipes on threads so a chatty tool never blocks on a full pipe.
        if let (Some(data), Some(mut sin)) = (cmd.stdin.clone(), child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = sin.write_all(&data);
            });
        }
        let drain = |pipe: Option<Box<dyn Read + Send>>, keep: Keep| {
            std::thread::spawn(move || pipe.map(|p| capture(p, keep)).unwrap_or_default())
        };
        let out_t = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            Keep::Head(MAX_STDOUT),
        );
        let err_t = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            Keep::Tail(MAX_STDERR),
        );

        let mut sleep = Duration::from_millis(2);
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Ok(st),
                Ok(None) if started.elapsed() >= cmd.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(Failure::Timeout(cmd.timeout));
                }
                Ok(None) => {
                    std::thread::sleep(sleep);
                    sleep = (sleep * 2).min(Duration::from_millis(100));
                }
                Err(e) => break Err(Failure::Io(e.to_string())),
            }
        };
        let stdout = out_t.join().unwrap_or_default();
        let stderr = err_t.join().unwrap_or_default();
        let status = match status {
            Ok(st) => st,
            Err(f) => return Err(fail(f, stdout, stderr)),
        };
        let Some(code) = status.code() else {
            return Err(fail(Failure::Signal, stdout, stderr));
        };
        if !cmd.ok_codes.contains(&code) {
            return Err(fail(Failure::Exit(code), stdout, stderr));
        }
        tracing::info!(command = %shown, exit = code, ms = started.elapsed().as_millis() as u64, "finished");
        if !stderr.trim().is_empty() {
            tracing::debug!(command = %shown, stderr = %stderr.trim(), "stderr");
        }
        Ok(CmdOutput {
            status: code,
            stdout,
            stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_outputs_keep_the_head_of_stdout_and_the_tail_of_stderr() {
        let data = "0123456789".repeat(30_000);
        let head = capture(data.as_bytes(), Keep::Head(1000));
        assert!(head.starts_with(&data[..1000]));
        assert!(
            head.ends_with("[... 299000 more bytes not kept]\n"),
            "{}",
            &head[1000..]
        );
        let text = "x".repeat(5000) + "the real error";
        let tail = capture(text.as_bytes(), Keep::Tail(100));
        assert!(
            tail.starts_with("[... 4914 earlier bytes not kept]\n"),
            "{tail}"
        );
        assert!(tail.ends_with("the real error"));
        assert_eq!(capture(&b"short"[..], Keep::Tail(100)), "short");
    }

    #[test]
    fn a_chatty_tool_is_read_to_its_end_but_not_kept_whole() {
        let r = SystemRunner::new();
        // 40 MiB of zeros on stdout: the tool finishes (the pipe is drained), memory stays bounded.
        let out = r
            .run(&Cmd::new("head").args(["-c", "41943040", "/dev/zero"]))
            .unwrap();
        assert!(out.stdout.len() < MAX_STDOUT + 100, "{}", out.stdout.len());
        assert!(out.stdout.ends_with("more bytes not kept]\n"));
    }

    #[test]
    fn runs_argv_without_a_shell() {
        let r = SystemRunner::new();
        // A shell would expand `$HOME` and split on the space; argv must arrive verbatim.
        let out = r.run(&Cmd::new("echo").arg("$HOME a;b")).unwrap();
        assert_eq!(out.stdout, "$HOME a;b\n");
    }

    #[test]
    fn failure_carries_command_exit_code_and_stderr() {
        let r = SystemRunner::new();
        let e = r
            .run(&Cmd::new("ls").arg("/definitely/not/here"))
            .unwrap_err();
        assert_eq!(e.exit_code(), Some(2));
        assert!(e.stderr.contains("/definitely/not/here"));
        let text = e.to_string();
        assert!(
            text.contains("`ls /definitely/not/here` exited with code 2"),
            "{text}"
        );
        assert!(text.contains("stderr:"), "{text}");
    }

    #[test]
    fn ok_codes_turn_an_exit_code_into_an_answer() {
        let r = SystemRunner::new();
        let out = r.run(&Cmd::new("false").ok_codes(&[0, 1])).unwrap();
        assert_eq!(out.status, 1);
    }

    #[test]
    fn timeout_kills_the_process() {
        let r = SystemRunner::new();
        let t0 = Instant::now();
        let e = r
            .run(
                &Cmd::new("sleep")
                    .arg("30")
                    .timeout(Duration::from_millis(200)),
            )
            .unwrap_err();
        assert_eq!(e.failure, Failure::Timeout(Duration::from_millis(200)));
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn missing_program_is_reported() {
        let r = SystemRunner::new();
        assert!(!r.has_program("no-such-tool-xyz"));
        let e = r.run(&Cmd::new("no-such-tool-xyz")).unwrap_err();
        assert_eq!(e.failure, Failure::NotFound);
        assert!(e.to_string().contains("not installed"));
    }

    #[test]
    fn a_fake_root_only_runs_its_own_tools() {
        let d = tempfile::tempdir().unwrap();
        let r = SystemRunner::for_host(&crate::Host::new(d.path()));
        assert!(
            !r.has_program("ls"),
            "the host's ls must not be visible under a fake root"
        );
        assert_eq!(
            r.run(&Cmd::new("ls")).unwrap_err().failure,
            Failure::NotFound
        );
        std::fs::create_dir_all(d.path().join("usr/bin")).unwrap();
        let tool = d.path().join("usr/bin/mdadm");
        std::fs::write(&tool, "#!/bin/sh\necho fake mdadm \"$@\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = r.run(&Cmd::new("mdadm").arg("--assemble")).unwrap();
        assert_eq!(out.stdout, "fake mdadm --assemble\n");
        assert!(SystemRunner::for_host(&crate::Host::default()).has_program("ls"));
    }

    #[test]
    fn stdin_is_fed() {
        let r = SystemRunner::new();
        let out = r.run(&Cmd::new("cat").stdin("hello")).unwrap();
        assert_eq!(out.stdout, "hello");
    }
}
