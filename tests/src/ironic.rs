//! A real, unmodified OpenStack Ironic (from PyPI, pinned by `tests/ironic/constraints.txt`)
//! running standalone on 127.0.0.1, for black-box tests of the agent.
//!
//! Each [`Ironic`] is a private instance: its own free port, its own temporary state directory
//! (sqlite DB, config, logs, locks, agent certificates) and its own process group, so tests can
//! run in parallel (cargo nextest runs each test in its own process). Dropping it stops the whole
//! process group (cotyledon master + API/conductor worker). Should the test process die without
//! dropping it (a runner's timeout kill), a watcher in `start.sh` stops Ironic within seconds.
//!
//! The instance uses the all-in-one `ironic` process with `noauth`, `fake-hardware` and
//! the settings written by `tests/ironic/start.sh`. Security settings
//! (`[agent]require_tls`, `verify_ca`, TLS minimum version) stay at Ironic's defaults
//! unless a test asks otherwise through [`IronicOptions`].
//!
//! Typical use:
//!
//! ```no_run
//! use agent_tests::ironic::{Ironic, IronicOptions, NodeSpec};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! let ironic = Ironic::start(IronicOptions::default());
//! let node = ironic.enroll(&NodeSpec::new("node-0").port("52:54:00:12:34:56"));
//! // ... start the agent with ipa-api-url = ironic.url(), then:
//! ironic.provision(&node.uuid, "clean", json!({"clean_steps": [
//!     {"interface": "raid", "step": "delete_configuration"}]}));
//! ironic.wait_for_provision_state(&node.uuid, "manageable", Duration::from_secs(120)).unwrap();
//! ```
//!
//! With the agent in QEMU, [`crate::scenario::Scenario`] does all of that.
//!
//! With sqlite, Ironic never refreshes the conductor's `updated_at`, so `GET /v1/conductors`
//! reports it `alive: false` after 60 s. That is cosmetic: with sqlite, Ironic ignores the
//! age when choosing conductors, and nodes keep working (checked after 80 s).

use std::fs::{self, File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

pub use crate::support::repo_root;
use crate::support::{free_port, last_lines, ScratchDir};

/// The Ironic version the harness installs.
pub const IRONIC_VERSION: &str = "39.0.0";

/// The maximum API microversion of Ironic 39.0.0. Every harness request sends it, so responses
/// have the newest shape and a different Ironic would be noticed at once.
pub const API_VERSION: &str = "1.115";

/// How long [`Ironic::start`] waits for the API and the conductor.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a graceful stop (SIGTERM) may take before the process group gets SIGKILL.
/// Measured: about 2 s when idle.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Tunables of one Ironic instance. `Default` is what tests should use unless they test a
/// specific setting: Ironic's own defaults for everything security related.
#[derive(Clone, Debug)]
pub struct IronicOptions {
    /// `[agent]require_tls`. `None` leaves Ironic's default (True): plain-http callback URLs
    /// are rejected, so the agent has to use auto-TLS.
    pub require_tls: Option<bool>,
    /// `[agent]verify_ca` ("True", "False" or a CA path). `None` leaves Ironic's default (True).
    pub verify_ca: Option<String>,
    /// `[deploy]fast_track`.
    pub fast_track: bool,
    /// `[api]ramdisk_heartbeat_timeout`, handed to the agent at lookup; the agent heartbeats
    /// every 0.3-0.6 x this. Ironic's default is 300, the harness default 30 keeps tests fast.
    pub heartbeat_timeout: u32,
    /// `[conductor]automated_clean`.
    pub automated_clean: bool,
    /// `[agent]deploy_logs_collect`: "never" (harness default), "on_failure" (Ironic's
    /// default) or "always".
    pub deploy_logs_collect: String,
    /// `[conductor]{clean,deploy,service}_callback_timeout` in seconds.
    pub callback_timeout: u32,
    /// `[deploy]erase_devices_priority`; `None` lets the agent's priority apply.
    pub erase_devices_priority: Option<u32>,
    /// `[deploy]erase_devices_metadata_priority`; `None` lets the agent's priority apply.
    pub erase_devices_metadata_priority: Option<u32>,
    /// Raw ini text for anything else. It goes into a second config file that is read after
    /// the generated one, so its values win.
    pub extra_config: Option<String>,
    /// Listen on this port instead of a free one (a test that starts the agent first).
    pub port: Option<u16>,
}

impl Default for IronicOptions {
    fn default() -> Self {
        IronicOptions {
            require_tls: None,
            verify_ca: None,
            fast_track: false,
            heartbeat_timeout: 30,
            automated_clean: true,
            deploy_logs_collect: "never".to_string(),
            callback_timeout: 300,
            erase_devices_priority: None,
            erase_devices_metadata_priority: None,
            extra_config: None,
            port: None,
        }
    }
}

/// `tests/ironic`, where the install and start scripts live.
pub fn scripts_dir() -> PathBuf {
    repo_root().join("tests").join("ironic")
}

/// The venv Ironic is installed in: `$IRONIC_VENV`, else `<repo>/target/ironic-venv`
/// (the same default as `install.sh`).
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("IRONIC_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => repo_root().join("target").join("ironic-venv"),
    }
}

/// Makes sure Ironic is installed (runs `tests/ironic/install.sh`, a fast no-op when the venv
/// is already good) and returns the venv path.
///
/// Runs once per process. Test processes running in parallel serialize on a file lock next to
/// the venv, so only the first one installs and the others then find it done.
pub fn ensure_installed() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let venv = venv_dir();
            let parent = venv.parent().expect("venv path has a parent");
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
            let lock_path = venv.with_extension("lock");
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .unwrap_or_else(|e| panic!("opening {}: {e}", lock_path.display()));
            // Released when `lock` is dropped (also if the install panics).
            lock.lock()
                .unwrap_or_else(|e| panic!("locking {}: {e}", lock_path.display()));

            let started = Instant::now();
            let out = Command::new("bash")
                .arg(scripts_dir().join("install.sh"))
                .env("IRONIC_VENV", &venv)
                .stdin(Stdio::null())
                .output()
                .expect("running tests/ironic/install.sh");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success(),
                "tests/ironic/install.sh failed ({}):\n{text}",
                out.status
            );
            eprintln!(
                "ironic harness: install.sh took {:.1?}:\n{}",
                started.elapsed(),
                text.trim_end()
            );
            venv
        })
        .clone()
}

/// A node to enroll with [`Ironic::enroll`].
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    /// Merged over [`Ironic::create_node`]'s defaults, e.g. `{"power_interface": "fake"}`.
    pub fields: Value,
    /// A port for each (lookup finds the node by these MACs).
    pub macs: Vec<String>,
    pub target_raid_config: Option<Value>,
}

impl NodeSpec {
    /// A node called `name` with the defaults of [`Ironic::create_node`] and no port.
    pub fn new(name: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_string(),
            fields: Value::Null,
            macs: Vec::new(),
            target_raid_config: None,
        }
    }

    pub fn fields(mut self, fields: Value) -> NodeSpec {
        self.fields = fields;
        self
    }

    pub fn port(mut self, mac: &str) -> NodeSpec {
        self.macs.push(mac.to_string());
        self
    }

    pub fn target_raid_config(mut self, config: Value) -> NodeSpec {
        self.target_raid_config = Some(config);
        self
    }
}

/// What [`Ironic::enroll`] made.
#[derive(Clone, Debug)]
pub struct EnrolledNode {
    pub uuid: String,
    /// The node as `POST /v1/nodes` returned it (state `enroll`).
    pub created: Value,
    /// The ports as `POST /v1/ports` returned them.
    pub ports: Vec<Value>,
    /// The node once `manageable`.
    pub node: Value,
}

/// One running Ironic (API + conductor in one process group) on `127.0.0.1:<free port>`.
pub struct Ironic {
    child: Option<Child>,
    pgid: i32,
    port: u16,
    url: String,
    host: String,
    state: ScratchDir,
    http: Client,
}

/// Why one start attempt failed.
enum StartError {
    /// Somebody else took the port between picking it and Ironic binding it: try another.
    PortTaken,
    Failed(String),
}

impl Ironic {
    /// Installs Ironic if needed, starts a fresh instance and waits (up to 90 s) until its API
    /// answers and its conductor has registered `fake-hardware`. Panics with the log tail
    /// otherwise.
    pub fn start(opts: IronicOptions) -> Ironic {
        let venv = ensure_installed();
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("building the HTTP client");
        let mut last_error = String::new();
        let mut last_state = None;
        // A free port can be taken by a parallel test between picking it and Ironic binding
        // it. Ironic's worker then crash-loops on EADDRINUSE (cotyledon respawns it forever);
        // that is detected and retried with another port.
        for _attempt in 0..4 {
            // A fresh state dir per attempt: the failed attempt's conductor registered itself
            // in the DB before its API failed to bind, and a node mapped to that stale
            // conductor by the hash ring would be unusable ("Cannot use 'none' RPC to
            // connect to remote conductor").
            let state = new_state_dir();
            let port = opts.port.unwrap_or_else(free_port);
            let url = format!("http://127.0.0.1:{port}");
            // The conductor name identifies this instance: readiness insists on it, so a
            // foreign Ironic that happens to listen on the port is never mistaken for ours.
            let host = format!("ironic-test-{}-{port}", std::process::id());
            let started = Instant::now();
            let mut child = spawn(&venv, state.path(), port, &host, &opts);
            let pgid = child.id() as i32;
            match wait_ready(&http, &url, &host, &mut child, state.path()) {
                Ok(()) => {
                    eprintln!(
                        "ironic harness: Ironic up on {url} after {:.1?} (state {})",
                        started.elapsed(),
                        state.path().display()
                    );
                    return Ironic {
                        child: Some(child),
                        pgid,
                        port,
                        url,
                        host,
                        state,
                        http,
                    };
                }
                Err(StartError::PortTaken) => {
                    stop_group(&mut child, pgid);
                    last_error = format!("port {port} was taken by another process");
                    eprintln!("ironic harness: {last_error}; retrying on another port");
                    last_state = Some(state);
                }
                Err(StartError::Failed(msg)) => {
                    stop_group(&mut child, pgid);
                    panic!(
                        "starting Ironic on {url} failed: {msg}\n{}",
                        dump_logs(state.path(), 60)
                    );
                }
            }
        }
        panic!(
            "starting Ironic failed after several ports: {last_error}\n{}",
            last_state.map_or(String::new(), |s| dump_logs(s.path(), 60))
        );
    }

    /// Base URL of the API, `http://127.0.0.1:<port>` (what the agent gets as `ipa-api-url`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The state directory: `ironic.conf`, `ironic.sqlite`, `ironic.log`, `ironic.stdout`,
    /// `certificates/` (agent auto-TLS certificates stored by the conductor), `env.sh` (for the
    /// `baremetal` CLI: `. env.sh; baremetal node list`).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// The conductor's host name (`[DEFAULT]host`), unique per instance.
    pub fn conductor_host(&self) -> &str {
        &self.host
    }

    /// Process group of the Ironic processes (the group leader is the cotyledon master).
    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// The last `n` lines of Ironic's debug log (`ironic.log`).
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.state_dir().join("ironic.log"), n)
    }

    /// The whole debug log, for tests that look for a specific message.
    pub fn log(&self) -> String {
        fs::read_to_string(self.state_dir().join("ironic.log")).unwrap_or_default()
    }

    /// Stops Ironic: SIGTERM to the process group, SIGKILL after 10 s, and waits until no
    /// process of the group is left. Idempotent; `Drop` calls it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_group(&mut child, self.pgid);
        }
    }

    // ---- REST ----

    /// Sends a request with `X-OpenStack-Ironic-API-Version: 1.115`; returns the status and the
    /// body (JSON, `Null` when empty, a JSON string when not JSON). Never panics on HTTP errors.
    pub fn request(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.request_with_version(method, path, Some(API_VERSION), body)
    }

    /// Like [`Ironic::request`] with an explicit microversion header, or none at all (which
    /// means 1.1 to Ironic).
    pub fn request_with_version(
        &self,
        method: Method,
        path: &str,
        version: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(v) = version {
            req = req.header("X-OpenStack-Ironic-API-Version", v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {url}: {e}\n{}", self.log_tail(40)));
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .unwrap_or_else(|e| panic!("{method} {url}: reading body: {e}"));
        (status, parse_body(&text))
    }

    /// GET that must succeed (2xx); returns the body.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.request(Method::GET, path, None);
        expect_status(&format!("GET {path}"), status, &body, &[200]);
        body
    }

    /// The API's maximum microversion from the root document (`"1.115"` for 39.0.0).
    pub fn api_max_version(&self) -> String {
        let (status, root) = self.request_with_version(Method::GET, "/", None, None);
        expect_status("GET /", status, &root, &[200]);
        root["default_version"]["version"]
            .as_str()
            .unwrap_or_else(|| panic!("GET / has no default_version.version: {root}"))
            .to_string()
    }

    /// Enrolls a `fake-hardware` node set up for the agent: boot/power/management fake,
    /// deploy direct, raid agent, network noop, `properties.cpu_arch=x86_64`. `extra` (an
    /// object, or `Null`) is merged over these fields recursively, e.g.
    /// `json!({"management_interface": "noop", "properties": {"root_device": {...}}})`.
    /// Returns the node (state `enroll`).
    pub fn create_node(&self, name: &str, extra: Value) -> Value {
        let mut body = json!({
            "name": name,
            "driver": "fake-hardware",
            "boot_interface": "fake",
            "power_interface": "fake",
            "management_interface": "fake",
            "deploy_interface": "direct",
            "raid_interface": "agent",
            "network_interface": "noop",
            "properties": {"cpu_arch": "x86_64"},
        });
        merge(&mut body, extra);
        let (status, node) = self.request(Method::POST, "/v1/nodes", Some(&body));
        expect_status(&format!("creating node {name}"), status, &node, &[201]);
        node
    }

    /// Creates a port with `mac` on the node (lookup finds the node by its ports' MACs).
    pub fn create_port(&self, node_uuid: &str, mac: &str) -> Value {
        let body = json!({"address": mac, "node_uuid": node_uuid});
        let (status, port) = self.request(Method::POST, "/v1/ports", Some(&body));
        expect_status(
            &format!("creating port {mac} on {node_uuid}"),
            status,
            &port,
            &[201],
        );
        port
    }

    /// Enrolls a node as [`NodeSpec`] says and makes it `manageable`: [`Ironic::create_node`],
    /// a port per MAC, the `target_raid_config` when given, `manage` (fake-hardware verifies
    /// without an agent). Panics when any of it fails.
    pub fn enroll(&self, spec: &NodeSpec) -> EnrolledNode {
        let created = self.create_node(&spec.name, spec.fields.clone());
        let uuid = created["uuid"]
            .as_str()
            .unwrap_or_else(|| panic!("node {} has no uuid: {created}", spec.name))
            .to_string();
        let ports = spec
            .macs
            .iter()
            .map(|mac| self.create_port(&uuid, mac))
            .collect();
        if let Some(config) = &spec.target_raid_config {
            self.set_target_raid_config(&uuid, config.clone());
        }
        self.provision(&uuid, "manage", Value::Null);
        let node = self
            .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
        EnrolledNode {
            uuid,
            created,
            ports,
            node,
        }
    }

    pub fn get_node(&self, node: &str) -> Value {
        self.get(&format!("/v1/nodes/{node}"))
    }

    /// JSON-patches the node (`[{"op": "add", "path": "/instance_info/x", "value": ...}]`) and
    /// returns it.
    pub fn patch_node(&self, node: &str, patch: Value) -> Value {
        let (status, body) =
            self.request(Method::PATCH, &format!("/v1/nodes/{node}"), Some(&patch));
        expect_status(&format!("patching node {node}"), status, &body, &[200]);
        body
    }

    /// Sets `target_raid_config` (`{"logical_disks": [...]}`, or `{}` to clear it).
    pub fn set_target_raid_config(&self, node: &str, config: Value) {
        let (status, body) = self.request(
            Method::PUT,
            &format!("/v1/nodes/{node}/states/raid"),
            Some(&config),
        );
        expect_status(
            &format!("setting target_raid_config of {node}"),
            status,
            &body,
            &[204],
        );
    }

    /// Requests a provision state change; panics unless Ironic accepts it (202). `target` is
    /// `manage`, `provide`, `clean`, `deploy`, `undeploy`/`deleted`, `abort`, ...; `body_extra`
    /// (an object or `Null`) adds fields such as `{"clean_steps": [...]}` or
    /// `{"deploy_steps": [...]}`.
    pub fn provision(&self, node: &str, target: &str, body_extra: Value) {
        if let Err(e) = self.try_provision(node, target, body_extra) {
            panic!("{e}");
        }
    }

    /// Like [`Ironic::provision`], returning Ironic's error instead of panicking.
    pub fn try_provision(&self, node: &str, target: &str, body_extra: Value) -> Result<(), String> {
        let mut body = json!({"target": target});
        merge(&mut body, body_extra);
        let (status, resp) = self.request(
            Method::PUT,
            &format!("/v1/nodes/{node}/states/provision"),
            Some(&body),
        );
        if status == 202 {
            Ok(())
        } else {
            Err(format!(
                "provision {target} of node {node} refused: HTTP {status}: {}",
                error_message(&resp)
            ))
        }
    }

    /// Polls the node (every 250 ms) until `provision_state == state` and it is not still
    /// moving on (`target_provision_state` is null, unless `state` is itself transient, such
    /// as `clean wait`). Returns the node. Fails at once, with `last_error`, when the node
    /// lands in another `... failed` state (or `error`), and after `timeout`.
    pub fn wait_for_provision_state(
        &self,
        node: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        let started = Instant::now();
        let transient = state.ends_with("wait") || state.ends_with("ing");
        loop {
            let n = self.get_node(node);
            let current = n["provision_state"].as_str().unwrap_or("");
            if current == state && (transient || n["target_provision_state"].is_null()) {
                return Ok(n);
            }
            if current != state && (current.ends_with("failed") || current == "error") {
                return Err(format!(
                    "node {node} went to '{current}' while waiting for '{state}' \
                     (after {:.1?}); last_error: {}",
                    started.elapsed(),
                    n["last_error"]
                ));
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "node {node} not in '{state}' after {timeout:?}: provision_state '{current}', \
                     target_provision_state {}, last_error: {}",
                    n["target_provision_state"], n["last_error"]
                ));
            }
            sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Ironic {
    fn drop(&mut self) {
        // Failing tests show what Ironic thought (the state dir is deleted right after).
        if std::thread::panicking() {
            eprintln!("{}", dump_logs(self.state_dir(), 80));
        }
        self.stop();
    }
}

/// The text of an Ironic error body. Ironic wraps errors as
/// `{"error_message": "<JSON string with faultcode/faultstring/debuginfo>"}`; this returns the
/// `faultstring` when it can, else the body as text.
pub fn error_message(body: &Value) -> String {
    if let Some(inner) = body["error_message"].as_str() {
        if let Ok(v) = serde_json::from_str::<Value>(inner) {
            if let Some(s) = v["faultstring"].as_str() {
                return s.to_string();
            }
        }
        return inner.to_string();
    }
    body.to_string()
}

/// Live (not zombie) processes whose process group is `pgid`, as `(pid, command line)`.
pub fn processes_in_group(pgid: i32) -> Vec<(i32, String)> {
    live_processes()
        .into_iter()
        .filter(|p| p.pgrp == pgid)
        .map(|p| (p.pid, p.cmdline))
        .collect()
}

/// Live (not zombie) processes whose working directory is `dir` (Ironic's processes run in
/// their state dir; their command lines are rewritten by setproctitle, so the cwd is the
/// reliable mark). A deleted directory still matches.
pub fn processes_in_dir(dir: &Path) -> Vec<(i32, String)> {
    let dir = dir.to_string_lossy().into_owned();
    live_processes()
        .into_iter()
        .filter(|p| {
            p.cwd
                .as_deref()
                .is_some_and(|c| c == dir || c == format!("{dir} (deleted)"))
        })
        .map(|p| (p.pid, p.cmdline))
        .collect()
}

struct ProcInfo {
    pid: i32,
    pgrp: i32,
    cwd: Option<String>,
    cmdline: String,
}

fn live_processes() -> Vec<ProcInfo> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        // The process may exit while being read: skip it then.
        let Ok(stat) = fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || matches!(fields[0], "Z" | "X") {
            continue;
        }
        let Ok(pgrp) = fields[2].parse::<i32>() else {
            continue;
        };
        let cmdline = fs::read(dir.join("cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        let cwd = fs::read_link(dir.join("cwd"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        out.push(ProcInfo {
            pid,
            pgrp,
            cwd,
            cmdline,
        });
    }
    out
}

/// Where the instance keeps its files: a temporary directory, removed on drop unless
/// `IRONIC_KEEP_STATE=1` is set (for looking at the logs after a run).
fn new_state_dir() -> ScratchDir {
    ScratchDir::new("ironic-state-", "IRONIC_KEEP_STATE", "Ironic state")
}

/// Starts `start.sh` in its own process group, so the whole tree (bash exec's into the
/// cotyledon master, which forks the worker) can be signalled at once.
fn spawn(venv: &Path, state: &Path, port: u16, host: &str, opts: &IronicOptions) -> Child {
    // Truncated per attempt: the port-conflict check reads it.
    let out = File::create(state.join("ironic.stdout")).expect("creating ironic.stdout");
    let err = out.try_clone().expect("duplicating ironic.stdout");
    let mut cmd = Command::new("bash");
    cmd.arg(scripts_dir().join("start.sh"))
        .arg(state)
        .arg(port.to_string())
        .current_dir(state)
        .env("IRONIC_VENV", venv)
        .env("IRONIC_HOST", host)
        .env("IRONIC_PARENT_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    // Every tunable is set or removed explicitly, so a stray IRONIC_* variable in the
    // developer's shell cannot change what a test runs against.
    let bool_str = |b: bool| if b { "true" } else { "false" }.to_string();
    let tunables = [
        ("IRONIC_REQUIRE_TLS", opts.require_tls.map(bool_str)),
        ("IRONIC_VERIFY_CA", opts.verify_ca.clone()),
        ("IRONIC_FAST_TRACK", Some(bool_str(opts.fast_track))),
        (
            "IRONIC_HEARTBEAT_TIMEOUT",
            Some(opts.heartbeat_timeout.to_string()),
        ),
        (
            "IRONIC_AUTOMATED_CLEAN",
            Some(bool_str(opts.automated_clean)),
        ),
        (
            "IRONIC_DEPLOY_LOGS_COLLECT",
            Some(opts.deploy_logs_collect.clone()),
        ),
        (
            "IRONIC_CALLBACK_TIMEOUT",
            Some(opts.callback_timeout.to_string()),
        ),
        (
            "IRONIC_ERASE_DEVICES_PRIORITY",
            opts.erase_devices_priority.map(|p| p.to_string()),
        ),
        (
            "IRONIC_ERASE_DEVICES_METADATA_PRIORITY",
            opts.erase_devices_metadata_priority.map(|p| p.to_string()),
        ),
        (
            "IRONIC_EXTRA_CONFIG",
            opts.extra_config.as_ref().map(|text| {
                let path = state.join("extra.conf");
                fs::write(&path, text).expect("writing extra.conf");
                path.to_string_lossy().into_owned()
            }),
        ),
    ];
    for (name, value) in tunables {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawning tests/ironic/start.sh: {e}"))
}

/// Waits until the API answers and lists `fake-hardware` on our conductor: the conductor
/// registers its hardware types after starting, and only then can nodes be enrolled.
fn wait_ready(
    http: &Client,
    url: &str,
    host: &str,
    child: &mut Child,
    state: &Path,
) -> Result<(), StartError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if port_taken(state) {
            return Err(StartError::PortTaken);
        }
        if let Some(status) = child.try_wait().expect("polling start.sh") {
            return Err(StartError::Failed(format!(
                "start.sh exited early ({status})"
            )));
        }
        let drivers = http
            .get(format!("{url}/v1/drivers"))
            .header("X-OpenStack-Ironic-API-Version", API_VERSION)
            .timeout(Duration::from_secs(2))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.json::<Value>().ok());
        let ready = drivers.is_some_and(|d| {
            d["drivers"].as_array().is_some_and(|list| {
                list.iter().any(|drv| {
                    drv["name"] == "fake-hardware"
                        && drv["hosts"]
                            .as_array()
                            .is_some_and(|hosts| hosts.iter().any(|h| h == host))
                })
            })
        });
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(StartError::Failed(format!(
                "API/conductor not ready after {START_TIMEOUT:?}"
            )));
        }
        sleep(Duration::from_millis(200));
    }
}

fn port_taken(state: &Path) -> bool {
    let out = fs::read_to_string(state.join("ironic.stdout")).unwrap_or_default();
    out.contains("Address already in use")
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid addresses the
    // process group. ESRCH (group already gone) is fine.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// SIGTERM lets cotyledon shut its worker down and reap it (about 2 s); anything left after
/// the grace period (a hung master, an orphaned worker) gets SIGKILL.
fn stop_group(child: &mut Child, pgid: i32) {
    signal_group(pgid, libc::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) => sleep(Duration::from_millis(50)),
        }
    }
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait();
    // Orphaned members are reaped by init, asynchronously.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_in_group(pgid).is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
}

fn tail(path: &Path, n: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    last_lines(&String::from_utf8_lossy(&bytes), n)
}

fn dump_logs(state: &Path, n: usize) -> String {
    format!(
        "---- {0}/ironic.stdout (last {n} lines) ----\n{1}\n\
         ---- {0}/ironic.log (last {n} lines) ----\n{2}\n---- end of Ironic logs ----",
        state.display(),
        tail(&state.join("ironic.stdout"), n),
        tail(&state.join("ironic.log"), n),
    )
}

fn parse_body(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
    }
}

fn expect_status(what: &str, status: u16, body: &Value, expected: &[u16]) {
    assert!(
        expected.contains(&status),
        "{what}: HTTP {status} (expected {expected:?}): {}",
        error_message(body)
    );
}

/// Merges `extra` into `base`: objects recursively, anything else replaces.
fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (_, Value::Null) => {}
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, e) => *b = e,
    }
}
