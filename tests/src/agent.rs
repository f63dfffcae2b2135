//! Starts the real `ironic-agent` binary on loopback against a fake machine root and talks to
//! it over real HTTP, as the conductor does.

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of the agent binary: `$IRONIC_AGENT_BIN`, or built once per test process with cargo
/// (a no-op when it is up to date).
pub fn agent_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("IRONIC_AGENT_BIN") {
            return PathBuf::from(p);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "ironic-agent", "--bin", "ironic-agent"])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build for the agent");
        assert!(status.success(), "building ironic-agent failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        let bin = target.join("debug/ironic-agent");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// Options for one agent process.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// `--agent-token`; `None` starts an agent holding no token.
    pub token: Option<String>,
    /// Extra flags, e.g. `["--api-url", "http://127.0.0.1:6385"]`.
    pub args: Vec<String>,
    /// Directories put in front of PATH (fake tools for black-box tests of the API).
    pub path_prepend: Vec<PathBuf>,
    /// Port to listen on; `None` picks a free one.
    pub port: Option<u16>,
    /// Do not wait for the API to answer (agents that look up before serving).
    pub no_wait: bool,
    /// Extra environment variables for the agent (and so for the tools it runs).
    pub env: Vec<(String, String)>,
    /// The agent's open-file limit (soft, hard) from the start, as a ramdisk would set it.
    pub open_files: Option<(u64, u64)>,
    /// Another agent binary than [`agent_binary`] (e.g. a release build).
    pub binary: Option<PathBuf>,
}

pub struct AgentProcess {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub root: PathBuf,
}

impl AgentProcess {
    pub fn start(root: &Path, opts: AgentOptions) -> AgentProcess {
        let port = opts.port.unwrap_or_else(free_port);
        let log = root.join(format!("agent-{port}.log"));
        let mut cmd = Command::new(opts.binary.clone().unwrap_or_else(agent_binary));
        if let Some((soft, hard)) = opts.open_files {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: setrlimit is async-signal-safe and `lim` is a plain value.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.arg("--host-root").arg(root);
        cmd.args([
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            &port.to_string(),
        ]);
        if let Some(t) = &opts.token {
            cmd.args(["--agent-token", t]);
        }
        cmd.args(&opts.args);
        if !opts.path_prepend.is_empty() {
            let mut paths = opts.path_prepend.clone();
            paths.extend(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ));
            cmd.env("PATH", std::env::join_paths(paths).expect("join PATH"));
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let logf = std::fs::File::create(&log).expect("create agent log");
        cmd.stdout(Stdio::null())
            .stderr(logf.try_clone().expect("dup log"))
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("spawn ironic-agent");
        let mut p = AgentProcess {
            child,
            port,
            log,
            root: root.to_path_buf(),
        };
        if !opts.no_wait {
            p.wait_ready(Duration::from_secs(30));
        }
        p
    }

    pub fn wait_ready(&mut self, timeout: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("agent exited early with {st}; log:\n{}", self.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "agent did not listen on {} within {timeout:?}; log:\n{}",
            self.port,
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Exit status if the process has ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Sends SIGTERM (a graceful shutdown, as init sends at power-off).
    pub fn terminate(&self) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A response: status code, headers we care about, and the JSON body (Null if not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub allow: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
    pub text: String,
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

pub fn send(req: reqwest::blocking::RequestBuilder) -> Reply {
    let resp = req.send().expect("request to the agent");
    let status = resp.status().as_u16();
    let header = |h: &str| {
        resp.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let allow = header("allow");
    let content_type = header("content-type");
    let text = resp.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        allow,
        content_type,
        body,
        text,
    }
}

/// A fake machine root with the minimum the agent reads: `/proc/cmdline` (empty, so only
/// flags configure the agent) and one NIC.
pub fn bare_machine() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("proc")).unwrap();
    std::fs::write(d.path().join("proc/cmdline"), "").unwrap();
    d
}

/// Writes an executable script (for fake tools on PATH in API tests).
pub fn write_script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}
